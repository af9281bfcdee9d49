import type { KMSClient } from '@aws-sdk/client-kms';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConfigError, type MakiniWebhookConfig } from '../config/config';
import type { CachedConnectionTokens } from './connection-token-cache';
import { DynamoDbConnectionTokens } from './dynamodb-connection-tokens';
import { KmsEnvelope } from './kms-envelope';
import { SecretsManagerConnectionTokens } from './secrets-manager-connection-tokens';

/** The clients and resources a token store may need; which ones depends on `tokenStore`. */
export interface TokenStoreResources {
  readonly secrets: SecretsManagerClient;
  readonly db?: DynamoDBDocumentClient;
  readonly kms?: KMSClient;
  readonly tableName?: string;
  /** The key that seals the table's pairs (`MAKINI_TOKEN_KEY_ARN`, the stack's `TokenKeyArn` output). */
  readonly tokenKeyArn?: string;
}

/** The configured per-connection token store, and the Secrets Manager one (what `table` migrates from). */
export interface ConnectionTokenStores {
  readonly tokens: CachedConnectionTokens;
  /** Present when `tokenStore` is `table`. */
  readonly table?: DynamoDbConnectionTokens;
  readonly secrets: SecretsManagerConnectionTokens;
}

/**
 * The one place that turns `tokenStore` into a store, for the poller, the CLI and the console alike.
 * `table`, unless `maintain` is false (the CLI: a read changes nothing), copies the pairs still in
 * Secrets Manager at its first discoveries (`legacy`) and seals again the pairs whose data key
 * expired (`reseal`), as the poller does.
 *
 * @example
 * const { tokens } = connectionTokenStores(config, { secrets, db, kms, tableName, tokenKeyArn });
 */
export function connectionTokenStores(
  config: Pick<MakiniWebhookConfig, 'tokenStore' | 'connectionSecretPrefix'>,
  resources: TokenStoreResources,
  options: { cacheSeconds: number; maintain?: boolean },
): ConnectionTokenStores {
  const secrets = new SecretsManagerConnectionTokens(resources.secrets, { prefix: config.connectionSecretPrefix, cacheSeconds: options.cacheSeconds });
  if (config.tokenStore === 'secrets-manager') return { tokens: secrets, secrets };
  const { db, kms, tableName, tokenKeyArn } = resources;
  if (!db || !kms || !tableName || !tokenKeyArn) {
    throw new ConfigError(['tokenStore: table needs the event table and the token key (MAKINI_EVENT_TABLE and MAKINI_TOKEN_KEY_ARN, or the stack outputs EventTableName and TokenKeyArn)']);
  }
  const maintain = options.maintain !== false;
  const table = new DynamoDbConnectionTokens(db, new KmsEnvelope(kms, tokenKeyArn), { tableName, cacheSeconds: options.cacheSeconds, reseal: maintain, ...(maintain && { legacy: secrets }) });
  return { tokens: table, secrets, table };
}
