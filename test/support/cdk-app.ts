import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App, type AppProps } from 'aws-cdk-lib';

/** The context of cdk.json (feature flags included), so tests synthesize what `cdk deploy` does. */
export const CDK_JSON_CONTEXT: Record<string, unknown> = JSON.parse(readFileSync(path.join(__dirname, '../../cdk.json'), 'utf8')).context;

/** An App with cdk.json's context; `bundle: false` skips esbuild where only the template matters. */
export function cdkApp(options: { bundle?: boolean; context?: Record<string, unknown> } & Omit<AppProps, 'context'> = {}): App {
  const { bundle = true, context = {}, ...props } = options;
  return new App({ ...props, context: { ...CDK_JSON_CONTEXT, ...(bundle ? {} : { 'aws:cdk:bundling-stacks': [] }), ...context } });
}
