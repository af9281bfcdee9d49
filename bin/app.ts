/**
 * CDK app: `npx cdk synth` / `npx cdk deploy`. Settings come from CDK context, e.g.
 * `npx cdk deploy -c signatureScheme=standard-webhooks -c stackName=MakiniWebhooksProd`.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import { configFromContext } from '../lambdas/config/config';
import { MakiniWebhookStack } from '../lib/makini-webhook-stack';
import { settingsOf } from '../lib/settings';

const app = new App();
const config = configFromContext((key) => app.node.tryGetContext(key));
new MakiniWebhookStack(app, app.node.tryGetContext('stackName') ?? 'MakiniWebhooks', {
  config: settingsOf(config),
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
// Synthesis fails on any finding that is not acknowledged with a reason next to its resource.
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new ServerlessChecks(app));
