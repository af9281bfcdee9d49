/**
 * `npm run package` (and `npm pack`, through `prepack`): builds what the npm package ships into dist/.
 *
 *   dist/lib/, dist/lambdas/   compiled JS and type declarations of the entries (lib/index.ts,
 *                              lib/config.ts, lambdas/runtime.ts) and what they import, by jsii;
 *                              .jsii, the assembly for Construct Hub and jsii-pacmak
 *   dist/assets/<name>/        each Lambda's bundle, exactly as `cdk synth` bundles it from source, so
 *                              an installed package synthesizes without esbuild
 *   dist/cli.cjs               the `makini-webhooks` CLI, one file with its dependencies
 *
 * Prints what it built and how long each step took.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { buildSync } from 'esbuild';
import { synthLambdaBundles } from '../test/support/lambda-bundles';
import { consoleFilesToPackage } from '../bin/cli/console/server';

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');

function step(name: string, run: () => string): void {
  const started = process.hrtime.bigint();
  const what = run();
  console.log(`${name.padEnd(16)} ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1).padStart(5)} s  ${what}`);
}

const kib = (file: string) => `${Math.round(statSync(file).size / 1024)} KiB`;

rmSync(DIST, { recursive: true, force: true });
rmSync(path.join(ROOT, '.jsii'), { force: true });

step('jsii', () => {
  // jsii compiles the entries (tsconfig.jsii.json) and checks the public API works in every jsii language.
  execFileSync(process.execPath, [require.resolve('jsii/bin/jsii')], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  return 'dist/lib, dist/lambdas (JS + .d.ts), .jsii';
});

step('lambda bundles', () => {
  const bundles = synthLambdaBundles();
  return Object.entries(bundles)
    .map(([name, bundle]) => {
      const target = path.join(DIST, 'assets', name);
      mkdirSync(target, { recursive: true });
      cpSync(path.dirname(bundle.file), target, { recursive: true });
      return `${name} ${kib(path.join(target, 'index.mjs'))}`;
    })
    .join(', ');
});

step('cli bundle', () => {
  const outfile = path.join(DIST, 'cli.cjs');
  buildSync({
    entryPoints: [path.join(ROOT, 'bin', 'cli.ts')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // Ships the version it was built as: the bundle has no package.json at a fixed path to read.
    define: { MAKINI_PACKAGE_VERSION: JSON.stringify((JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version) },
    legalComments: 'external',
    logLevel: 'warning',
  });
  return `dist/cli.cjs ${kib(outfile)}`;
});

step('console files', () => {
  // The web console's page and its libraries (preact, htm): the bundled CLI serves them from here.
  const files = consoleFilesToPackage();
  for (const [to, from] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(DIST, 'console', to)), { recursive: true });
    copyFileSync(from, path.join(DIST, 'console', to));
  }
  return `dist/console/ (${Object.keys(files).length} files)`;
});
