/**
 * The package's main entry, `makini-webhook-ingestion`: the construct, its props and settings, the
 * deployable stack and the monitoring construct. This surface is jsii-compatible (TypeScript and
 * Python, API.md); the TypeScript-only config helpers are in `makini-webhook-ingestion/config`, and
 * code for your own Lambdas in `makini-webhook-ingestion/runtime`.
 */
export { MakiniWebhookIngestion, type MakiniWebhookIngestionProps } from './makini-webhook-ingestion';
export { MakiniWebhookStack, type MakiniWebhookStackProps } from './makini-webhook-stack';
export { MakiniWebhookMonitoring, type MakiniWebhookMonitoringProps } from './monitoring';
export type { MakiniWebhookSettings } from './settings';
