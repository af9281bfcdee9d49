/**
 * Each Lambda's bundle exactly as `cdk synth` produces it, for the bundle tests and `npm run bench`.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import { LAMBDA_BUNDLING } from '../../lib/makini-webhook-ingestion';
import { MakiniWebhookStack } from '../../lib/makini-webhook-stack';
import { cdkApp } from './cdk-app';

export type LambdaName = 'receiver' | 'consumer' | 'poller';

export interface LambdaBundle {
  /** The bundle's entry file (`index.mjs`, or `index.js` for a CommonJS baseline). */
  readonly file: string;
  /** The function's `Handler` setting, e.g. `index.handler`. */
  readonly handler: string;
}

/** Synthesizes the stack with bundling and maps each function to its asset, via the template's asset metadata. */
export function synthLambdaBundles(): Record<LambdaName, LambdaBundle> {
  const found = synthAndFind((app) => new MakiniWebhookStack(app, 'Bundles'), (logicalId) => (['receiver', 'consumer', 'poller'] as const).find((n) => logicalId.toLowerCase().startsWith(`webhooks${n}`)));
  for (const name of ['receiver', 'consumer', 'poller'] as const) if (!found[name]) throw new Error(`no ${name} function in the synthesized template`);
  return found as Record<LambdaName, LambdaBundle>;
}

/** Bundles any handler file as the stack bundles its Lambdas, or with other settings (for bench variants and baselines). */
export function synthBundleOf(entry: string, bundling: BundlingOptions = LAMBDA_BUNDLING): LambdaBundle {
  const found = synthAndFind(
    (app) => {
      const stack = new Stack(app, 'Variant');
      new NodejsFunction(stack, 'Variant', { entry, handler: 'handler', runtime: Runtime.NODEJS_22_X, architecture: Architecture.ARM_64, bundling });
      return stack;
    },
    () => 'variant',
  );
  if (!found.variant) throw new Error(`no bundle for ${entry}`);
  return found.variant;
}

/**
 * What the bundles were before issue 7: CommonJS, with the SDK's whole credential chain. The bench's
 * same-run baseline for bundle size and init time.
 */
export const BASELINE_BUNDLING: BundlingOptions = { ...LAMBDA_BUNDLING, format: OutputFormat.CJS, banner: undefined, esbuildArgs: undefined };

function synthAndFind<K extends string>(build: (app: App) => Stack, nameOf: (logicalId: string) => K | undefined): Partial<Record<K, LambdaBundle>> {
  const outdir = mkdtempSync(path.join(tmpdir(), 'makini-bundles-'));
  // Asset metadata (which the CLI turns on) names each function's asset directory.
  const app = cdkApp({ outdir, context: { 'aws:cdk:enable-asset-metadata': true } });
  const stack = build(app);
  app.synth();
  const template = JSON.parse(readFileSync(path.join(outdir, `${stack.artifactId}.template.json`), 'utf8')) as {
    Resources: Record<string, { Type: string; Metadata?: Record<string, string>; Properties: { Handler?: string } }>;
  };
  const found: Partial<Record<K, LambdaBundle>> = {};
  for (const [logicalId, resource] of Object.entries(template.Resources)) {
    if (resource.Type !== 'AWS::Lambda::Function') continue;
    const name = nameOf(logicalId);
    const asset = resource.Metadata?.['aws:asset:path'];
    if (!name || !asset || !resource.Properties.Handler) continue;
    const [module] = resource.Properties.Handler.split('.');
    const file = [`${module}.mjs`, `${module}.js`].map((f) => path.join(outdir, asset, f)).find((f) => existsSync(f));
    if (file) found[name] = { file, handler: resource.Properties.Handler };
  }
  return found;
}

/**
 * Node code for `node --input-type=module -e`: imports a bundle as Lambda does, calls its handler
 * with the JSON event in `process.env.BUNDLE_EVENT`, prints the result as JSON.
 */
export function invokeBundleScript(bundle: LambdaBundle): string {
  const exported = bundle.handler.split('.')[1];
  return [
    `const mod = await import(${JSON.stringify(pathToFileURL(bundle.file).href)});`,
    `const ctx = { functionName: 'bundle-test', awsRequestId: 'bundle-test', getRemainingTimeInMillis: () => 5000 };`,
    `const result = await mod[${JSON.stringify(exported)}](JSON.parse(process.env.BUNDLE_EVENT), ctx);`,
    `process.stdout.write('\\n@@RESULT@@' + JSON.stringify(result ?? null));`,
  ].join('\n');
}

/** The handler's result out of the child's stdout (which also carries its log lines). */
export function bundleResult(stdout: string): unknown {
  const at = stdout.lastIndexOf('@@RESULT@@');
  if (at < 0) throw new Error(`the bundle printed no result:\n${stdout}`);
  return JSON.parse(stdout.slice(at + '@@RESULT@@'.length)) as unknown;
}
