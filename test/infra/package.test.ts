/**
 * The npm package as a user gets it: `npm pack` (which builds it through `prepack`), the tarball
 * installed into a fresh CDK app, and that app synthesized with non-default props.
 *
 * Offline: the app's aws-cdk-lib and constructs are this repo's copies (`file:` links), and the
 * package itself depends on nothing else, so `npm install --offline` needs no registry. Synthesis
 * runs where no esbuild can be found and with a Docker command that does not exist, so any attempt
 * to bundle would fail; the assets must be the package's prebuilt bundles, byte for byte.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';

const ROOT = path.join(__dirname, '..', '..');
const NAME = 'makini-webhook-ingestion';

interface PackResult {
  readonly filename: string;
  readonly files: readonly { readonly path: string }[];
}

describe('the npm package', () => {
  let work: string;
  let app: string;
  let packed: PackResult;
  let synthOutput: string;
  let template: Template;

  beforeAll(() => {
    work = mkdtempSync(path.join(tmpdir(), 'makini-package-'));
    // `npm pack` runs `prepack`, i.e. `npm run package`: what CI and a release publish.
    const packJson = execFileSync('npm', ['pack', '--json', '--pack-destination', work], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    packed = (JSON.parse(packJson.slice(packJson.indexOf('['))) as PackResult[])[0]!;

    app = path.join(work, 'app');
    execFileSync('mkdir', ['-p', app]);
    writeFileSync(
      path.join(app, 'package.json'),
      JSON.stringify({
        name: 'consumer-app',
        private: true,
        dependencies: {
          'aws-cdk-lib': `file:${path.join(ROOT, 'node_modules', 'aws-cdk-lib')}`,
          constructs: `file:${path.join(ROOT, 'node_modules', 'constructs')}`,
          [NAME]: `file:${path.join(work, packed.filename)}`,
        },
      }),
    );
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: app, stdio: 'pipe' });

    // A consumer's app, with settings other than the defaults.
    writeFileSync(
      path.join(app, 'app.js'),
      `const { App, Stack } = require('aws-cdk-lib');
const { MakiniWebhookIngestion } = require('${NAME}');
const app = new App({ outdir: 'cdk.out' });
const stack = new Stack(app, 'Consumer');
new MakiniWebhookIngestion(stack, 'Webhooks', {
  config: { receiverMemoryMB: 512, maxReceiveCount: 7, signatureScheme: 'standard-webhooks', pollIntervalMinutes: 30 },
});
app.synth();
`,
    );
    synthOutput = execFileSync(process.execPath, ['app.js'], {
      cwd: app,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      // No node_modules/.bin on the PATH, and a Docker that does not exist: bundling cannot happen.
      env: { PATH: path.dirname(process.execPath) + ':/usr/bin:/bin', HOME: process.env.HOME ?? tmpdir(), CDK_DOCKER: '/nonexistent/docker' },
    });
    template = Template.fromJSON(JSON.parse(readFileSync(path.join(app, 'cdk.out', 'Consumer.template.json'), 'utf8')));
  }, 600_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('ships compiled JS, type declarations and the prebuilt bundles, and no TypeScript sources', () => {
    const files = packed.files.map((f) => f.path);
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'dist/lib/index.js', 'dist/lib/index.d.ts', 'dist/lambdas/runtime.js', 'dist/lambdas/runtime.d.ts', 'dist/cli.cjs', 'bin/makini-webhooks.cjs', 'CHANGELOG.md', 'API.md', '.jsii', 'dist/lib/config.d.ts']));
    for (const name of ['receiver', 'consumer', 'poller']) expect(files).toContain(`dist/assets/${name}/index.mjs`);
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
  });

  it('depends on nothing but its peers, aws-cdk-lib and constructs', () => {
    const manifest = JSON.parse(readFileSync(path.join(app, 'node_modules', NAME, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.dependencies).toBeUndefined();
    expect(Object.keys(manifest.peerDependencies as object).sort()).toEqual(['aws-cdk-lib', 'constructs']);
    expect(readdirSync(path.join(app, 'node_modules')).sort()).toEqual(['.bin', '.package-lock.json', 'aws-cdk-lib', 'constructs', NAME]);
    expect(() => require.resolve('esbuild', { paths: [app] })).toThrow();
  });

  it('synthesizes the three functions, the API and the alarms, with the given settings', () => {
    template.resourceCountIs('AWS::Lambda::Function', 3);
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    expect(Object.keys(template.findResources('AWS::CloudWatch::Alarm')).length).toBeGreaterThanOrEqual(10);
    template.hasResourceProperties('AWS::Lambda::Function', { MemorySize: 512, Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: 'receiver' }) } });
    template.hasResourceProperties('AWS::SQS::Queue', { RedrivePolicy: Match.objectLike({ maxReceiveCount: 7 }) });
    template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(30 minutes)' });
    const receiverEnv = Object.values(template.findResources('AWS::Lambda::Function', { Properties: { MemorySize: 512 } }))[0]!.Properties.Environment.Variables as Record<string, unknown>;
    expect(Object.values(receiverEnv)).toContain('standard-webhooks');
  });

  it('bundles nothing: every function runs the package’s prebuilt bundle, byte for byte', () => {
    expect(synthOutput).not.toMatch(/Bundling asset|esbuild/i);
    const functions = template.findResources('AWS::Lambda::Function');
    const assets = JSON.parse(readFileSync(path.join(app, 'cdk.out', 'Consumer.assets.json'), 'utf8')) as { files: Record<string, { source: { path: string } }> };
    const served = Object.values(functions).map((fn) => {
      const key = (fn.Properties.Code.S3Key as string).replace(/\.zip$/, '');
      expect(fn.Properties.Handler).toBe('index.handler');
      return readFileSync(path.join(app, 'cdk.out', assets.files[key]!.source.path, 'index.mjs'));
    });
    const prebuilt = ['receiver', 'consumer', 'poller'].map((name) => readFileSync(path.join(app, 'node_modules', NAME, 'dist', 'assets', name, 'index.mjs')));
    expect(served.map((b) => b.toString('base64')).sort()).toEqual(prebuilt.map((b) => b.toString('base64')).sort());
  });

  it('runs the makini-webhooks bin from compiled JS', () => {
    const bin = path.join(app, 'node_modules', '.bin', 'makini-webhooks');
    const version = execFileSync(bin, ['--version'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir() } }).trim();
    expect(version).toBe((JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
    const signed = execFileSync(bin, ['sign', '--secret', 'S'], { input: '{"event":"assets.updated","body":["1"]}', encoding: 'utf8' });
    expect(signed).toContain(createHmac('sha256', 'S').update('{"event":"assets.updated","body":["1"]}').digest('base64'));
    expect(readFileSync(path.join(app, 'node_modules', NAME, 'dist', 'cli.cjs'), 'utf8')).not.toMatch(/require\(["']tsx/);
    // The package has no local stack: the installed CLI says where one comes from.
    const missing = spawnSync(bin, ['status', '--local-dir', path.join(work, 'none')], { encoding: 'utf8' });
    expect({ code: missing.status, stderr: missing.stderr }).toEqual({ code: 2, stderr: expect.stringContaining("start one with 'npm start' in a clone of makini-webhook-ingestion") });
  });

  it('serves the web console from the package (its page and preact/htm, without our node_modules)', async () => {
    const bin = path.join(app, 'node_modules', '.bin', 'makini-webhooks');
    // The console needs a local stack's stack.json to start; nothing is called until a view asks.
    const dir = mkdtempSync(path.join(tmpdir(), 'console-pkg-'));
    const unused = 'http://127.0.0.1:9';
    writeFileSync(path.join(dir, 'stack.json'), JSON.stringify({ webhookUrl: `${unused}/webhooks`, tableName: 't', queueUrl: `${unused}/000000000000/q`, deadLetterQueueUrl: `${unused}/000000000000/d`, eventBusName: 'b', alarmsFile: path.join(dir, 'alarms.json'), endpoints: { dynamodb: unused, sqs: unused, secretsManager: unused, eventBridge: unused } }));
    const child = spawn(bin, ['console', '--local-dir', dir, '--read-only'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const url = await new Promise<URL>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.includes('\n')) resolve(new URL(out.split('\n')[0]!.trim()));
        });
        child.on('exit', (code) => reject(new Error(`console exited ${code}`)));
      });
      const headers = { authorization: `Bearer ${url.searchParams.get('token')}` };
      for (const file of ['/', '/assets/app.js', '/vendor/preact.mjs', '/vendor/preact-hooks.mjs', '/vendor/htm.mjs']) {
        const response = await fetch(new URL(file, url.origin), { headers });
        expect([file, response.status]).toEqual([file, 200]);
        expect((await response.text()).length).toBeGreaterThan(100);
      }
    } finally {
      child.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives consumers’ own code signature verification through the runtime entry', () => {
    const body = '{"event":"assets.updated","body":["1"]}';
    const script = `const { verifyWebhook, BUS_SOURCE } = require('${NAME}/runtime');
const sig = process.argv[1];
const good = verifyWebhook({ body: ${JSON.stringify(body)}, headers: { 'X-Webhook-Signature': sig }, secrets: ['old', 'S'] });
const bad = verifyWebhook({ body: ${JSON.stringify(body)}, headers: { 'X-Webhook-Signature': sig }, secrets: 'other' });
console.log(JSON.stringify({ good: good.ok, bad: bad.ok, code: bad.code, BUS_SOURCE }));`;
    const out = execFileSync(process.execPath, ['-e', script, createHmac('sha256', 'S').update(body).digest('base64')], { cwd: app, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ good: true, bad: false, code: 'INVALID_SIGNATURE', BUS_SOURCE: 'makini.webhooks' });
  });

  it('type-checks a TypeScript consumer against the shipped declarations', () => {
    writeFileSync(
      path.join(app, 'typed.ts'),
      `import { App, Stack } from 'aws-cdk-lib';
import { MakiniWebhookIngestion, type MakiniWebhookIngestionProps, MakiniWebhookStack } from '${NAME}';
import { resolveConfig, settingsOf, type MakiniWebhookConfig } from '${NAME}/config';
import { verifyWebhook, type BusMessage } from '${NAME}/runtime';
const props: MakiniWebhookIngestionProps = { config: { receiverMemoryMB: 512 } };
const scheme: MakiniWebhookConfig['signatureScheme'] = 'makini';
const ingestion = new MakiniWebhookIngestion(new Stack(new App(), 'S'), 'W', props);
new MakiniWebhookStack(new App(), 'T', { config: settingsOf(resolveConfig({ signatureScheme: scheme })) });
const url: string = ingestion.webhookUrl;
const ok: boolean = verifyWebhook({ body: '', headers: {}, secrets: 's', settings: props.config }).ok;
const detail = (m: BusMessage): string => m.event.type;
export { scheme, url, ok, detail, MakiniWebhookStack };
`,
    );
    // node16 resolves the subpaths through `exports`; `cdk init`'s tsconfig (module commonjs, so the
    // node10 resolution) through `typesVersions`.
    for (const resolution of [{ module: 'node16', moduleResolution: 'node16' }, { module: 'commonjs' }]) {
      writeFileSync(
        path.join(app, 'tsconfig.json'),
        JSON.stringify({ compilerOptions: { strict: true, noEmit: true, ...resolution, target: 'ES2022', skipLibCheck: true, types: [] }, files: ['typed.ts'] }),
      );
      const tsc = spawnSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', app], { cwd: app, encoding: 'utf8' });
      expect({ resolution, output: tsc.stdout + tsc.stderr, status: tsc.status }).toEqual({ resolution, output: '', status: 0 });
    }
  });

  // jsii-pacmak's full Python build pip-installs its build tools, and PyPI cannot be reached here, so
  // this generates the code only (`--code-only`), from the jsii assembly the package ships, and has
  // Python compile it and check that the README's Python example uses names the binding has.
  it('generates the Python binding from the packed jsii assembly; it compiles and has every name the README example uses', () => {
    const out = mkdtempSync(path.join(tmpdir(), 'makini-python-'));
    try {
      const pkg = path.join(out, 'pkg');
      execFileSync('mkdir', ['-p', pkg]);
      execFileSync('tar', ['-xzf', path.join(work, packed.filename), '-C', pkg, '--strip-components', '1']);
      // jsii-pacmak runs `npm pack` on it again, and `prepack` builds from sources the package does not ship.
      const manifest = path.join(pkg, 'package.json');
      writeFileSync(manifest, JSON.stringify({ ...(JSON.parse(readFileSync(manifest, 'utf8')) as object), scripts: {} }));
      // Its jsii dependencies (aws-cdk-lib, constructs) resolve from this repository's node_modules.
      execFileSync('ln', ['-s', path.join(ROOT, 'node_modules'), path.join(pkg, 'node_modules')]);
      execFileSync(process.execPath, [require.resolve('jsii-pacmak/bin/jsii-pacmak'), '--targets', 'python', '--code-only', '-o', path.join(out, 'out'), pkg], { stdio: 'pipe' });
      const module = path.join(out, 'out', 'python', 'src', 'makini_webhook_ingestion', '__init__.py');
      execFileSync('python3', ['-m', 'py_compile', module]);

      const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
      const example = readme.slice(readme.indexOf('```python') + 9, readme.indexOf('```', readme.indexOf('```python') + 9));
      const generated = readFileSync(module, 'utf8');
      const imported = example.match(/from makini_webhook_ingestion import (.+)/)![1]!.split(',').map((s) => s.trim());
      const keywords = [...example.matchAll(/\b([a-z][a-z0-9_]*)=/g)].map((m) => m[1]!).filter((k) => k !== 'value');
      const attributes = [...example.matchAll(/webhooks\.([a-z_]+)/g)].map((m) => m[1]!);
      expect(imported.length + keywords.length + attributes.length).toBeGreaterThan(4);
      const missing = [
        ...imported.filter((name) => !new RegExp(`^class ${name}[(:]`, 'm').test(generated)),
        ...keywords.filter((name) => !new RegExp(`^\\s+${name}: `, 'm').test(generated)),
        ...attributes.filter((name) => !new RegExp(`def ${name}\\(self\\)`).test(generated)),
      ];
      expect(missing).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 600_000);
});
