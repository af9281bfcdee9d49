import { createHash } from 'node:crypto';
import { BatchGetSecretValueCommand, GetSecretValueCommand, ListSecretsCommand, PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { formatConnectionSecret, parseClientCredentials, parseConnectionSecret } from '../core/connection-secret';
import { CachedConnectionTokens, type StoredConnectionToken, type TokenDiscovery } from './connection-token-cache';
import type { ClientCredentials } from './makini-api-client';

/** BatchGetSecretValue takes at most 20 secret ids per call. */
const BATCH_SIZE = 20;

export type { StoredConnectionToken, TokenDiscovery };

/**
 * Per-connection tokens in Secrets Manager (`tokenStore: secrets-manager`, and what the table store
 * migrates from): discovered with ListSecrets (name prefix), fetched with BatchGetSecretValue in
 * batches of 20, cached across invocations for `cacheSeconds`. A refreshed pair is written back with
 * PutSecretValue, which stages it AWSCURRENT and keeps the pair it replaces as AWSPREVIOUS. A
 * token's `location` is its secret's name.
 *
 * @example
 * const { tokens } = await new SecretsManagerConnectionTokens(client, { prefix: 'makini/connections/', cacheSeconds: 300 }).discover();
 */
export class SecretsManagerConnectionTokens extends CachedConnectionTokens {
  constructor(
    private readonly client: SecretsManagerClient,
    private readonly options: { prefix: string; cacheSeconds: number; now?: () => number },
  ) {
    super(options);
  }

  protected async list(): Promise<TokenDiscovery> {
    const names = await this.listNames();
    const tokens: StoredConnectionToken[] = [];
    const invalid: { name: string; reason: string }[] = [];
    for (let i = 0; i < names.length; i += BATCH_SIZE) {
      const { SecretValues = [], Errors = [] } = await this.client.send(new BatchGetSecretValueCommand({ SecretIdList: names.slice(i, i + BATCH_SIZE) }));
      for (const secret of SecretValues) {
        const parsed = parseConnectionSecret(secret.SecretString ?? '', secret.CreatedDate?.getTime() ?? this.now());
        if (parsed.ok) tokens.push({ ...parsed.value, location: secret.Name ?? '' });
        else invalid.push({ name: secret.Name ?? '?', reason: parsed.reason });
      }
      for (const error of Errors) invalid.push({ name: error.SecretId ?? '?', reason: error.ErrorCode ?? 'unreadable' });
    }
    return { tokens, invalid };
  }

  /**
   * The request token is derived from the pair, so a retried write of the same pair is one version,
   * not two; AWS moves AWSPREVIOUS to the pair it replaces.
   */
  protected async put(token: StoredConnectionToken): Promise<void> {
    const { location, ...value } = token;
    const SecretString = formatConnectionSecret(value);
    const ClientRequestToken = createHash('sha256').update(SecretString).digest('hex').slice(0, 64);
    await this.client.send(new PutSecretValueCommand({ SecretId: location, SecretString, ClientRequestToken }));
  }

  private async listNames(): Promise<string[]> {
    const names: string[] = [];
    let NextToken: string | undefined;
    do {
      const page = await this.client.send(new ListSecretsCommand({ Filters: [{ Key: 'name', Values: [this.options.prefix] }], MaxResults: 100, NextToken }));
      for (const secret of page.SecretList ?? []) if (secret.Name?.startsWith(this.options.prefix)) names.push(secret.Name);
      NextToken = page.NextToken;
    } while (NextToken);
    return names;
  }
}

/**
 * The system client credentials `{"client_id", "client_secret"}`, read with GetSecretValue and cached
 * for `cacheSeconds`. `undefined` when the secret does not exist: system mode is not configured.
 * The SDK directly, not Powertools' SecretsProvider, because "absent" must be told apart from
 * "unreadable" (ResourceNotFoundException), which the provider's wrapped errors do not expose.
 */
export class SecretsManagerClientCredentials {
  private cached: { at: number; value: ClientCredentials | undefined } | undefined;
  private readonly now: () => number;

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly options: { secretName: string; cacheSeconds: number; now?: () => number },
  ) {
    this.now = options.now ?? Date.now;
  }

  async read(): Promise<ClientCredentials | undefined> {
    if (this.cached && this.now() - this.cached.at < this.options.cacheSeconds * 1000) return this.cached.value;
    let value: ClientCredentials | undefined;
    try {
      const { SecretString } = await this.client.send(new GetSecretValueCommand({ SecretId: this.options.secretName }));
      const parsed = parseClientCredentials(SecretString ?? '');
      if (!parsed.ok) throw new Error(`the system credentials secret ${this.options.secretName} is unusable: ${parsed.reason}`);
      value = parsed.value;
    } catch (error) {
      if ((error as { name?: string }).name !== 'ResourceNotFoundException') throw error;
    }
    this.cached = { at: this.now(), value };
    return value;
  }

  forget(): void {
    this.cached = undefined;
  }
}
