/**
 * The package's main entry, `makini-webhook-ingestion`: the construct, its props, the deployable
 * stack and the typed configuration. Code for your own Lambdas is in `makini-webhook-ingestion/runtime`.
 */
export { MakiniWebhookIngestion, type MakiniWebhookIngestionProps } from './makini-webhook-ingestion';
export { MakiniWebhookStack, type MakiniWebhookStackProps } from './makini-webhook-stack';
export { MakiniWebhookMonitoring, type MakiniWebhookMonitoringProps } from './monitoring';
export {
  ConfigError,
  configFromContext,
  CONFIG_KEYS,
  DEFAULT_CONFIG,
  resolveConfig,
  type HmacAlgorithm,
  type LogLevel,
  type MakiniWebhookConfig,
  type PollMode,
  type SignatureSchemeName,
  type SignedBytes,
} from '../lambdas/config/config';
