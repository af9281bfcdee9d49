/**
 * `makini-webhook-ingestion/config` (TypeScript only): the typed configuration behind
 * `MakiniWebhookSettings`, with its literal types, defaults and validation.
 *
 * @example
 * import { configFromContext, settingsOf } from 'makini-webhook-ingestion/config';
 * new MakiniWebhookStack(app, 'Webhooks', { config: settingsOf(configFromContext((k) => app.node.tryGetContext(k))) });
 */
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
export { configOf, settingsOf, type MakiniWebhookSettings } from './settings';
