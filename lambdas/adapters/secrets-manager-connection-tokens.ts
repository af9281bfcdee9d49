import { createHash } from 'node:crypto';
import { BatchGetSecretValueCommand, GetSecretValueCommand, ListSecretsCommand, PutSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { formatConnectionSecret, parseClientCredentials, parseConnectionSecret, type ConnectionToken } from '../core/connection-secret';
import type { ClientCredentials } from './makini-api-client';

/** BatchGetSecretValue takes at most 20 secret ids per call. */
const BATCH_SIZE = 20;

/** A connection's tokens and the secret they live in. */
export type StoredConnectionToken = ConnectionToken & { readonly secretName: string };

export interface TokenDiscovery {
  readonly tokens: readonly StoredConnectionToken[];
  /** Secret names whose value is unusable (never the value itself). */
  readonly invalid: readonly { name: string; reason: string }[];
}

/**
 * The per-connection tokens: discovered with ListSecrets (name prefix), fetched with
 * BatchGetSecretValue in batches of 20, and cached across invocations for `cacheSeconds`. A
 * refreshed pair is written back with PutSecretValue, which stages it AWSCURRENT and keeps the pair
 * it replaces as AWSPREVIOUS.
 *
 * @example
 * const { tokens } = await new SecretsManagerConnectionTokens(client, { prefix: 'makini/connections/', cacheSeconds: 300 }).discover();
 */
export class SecretsManagerConnectionTokens {
  private cached: { at: number; discovery: TokenDiscovery } | undefined;
  /**
   * Refreshed pairs whose write-back failed, by secret name: Makini may have revoked the pair in the
   * secret, so until a write succeeds these are the ones to use (and to write again).
   */
  private readonly unsaved = new Map<string, { token: StoredConnectionToken; replacing: string | undefined }>();
  private readonly now: () => number;

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly options: { prefix: string; cacheSeconds: number; now?: () => number },
  ) {
    this.now = options.now ?? Date.now;
  }

  async discover(): Promise<TokenDiscovery> {
    const discovery = await this.read();
    if (this.unsaved.size === 0) return discovery;
    const tokens = await Promise.all(discovery.tokens.map((t) => this.retryUnsaved(t)));
    return { ...discovery, tokens };
  }

  /**
   * The unsaved newer pair for this secret, written again (kept for next time if it fails again);
   * dropped once the secret holds something other than the pair it was refreshed from, which means
   * someone stored a newer pair meanwhile.
   */
  private async retryUnsaved(stored: StoredConnectionToken): Promise<StoredConnectionToken> {
    const unsaved = this.unsaved.get(stored.secretName);
    if (!unsaved) return stored;
    if (unsaved.token.connectionId !== stored.connectionId || unsaved.replacing !== stored.token) {
      this.unsaved.delete(stored.secretName);
      return stored;
    }
    await this.writeBack(unsaved.token, stored).catch(() => undefined);
    return unsaved.token;
  }

  private async read(): Promise<TokenDiscovery> {
    if (this.cached && this.now() - this.cached.at < this.options.cacheSeconds * 1000) return this.cached.discovery;
    const names = await this.listNames();
    const tokens: StoredConnectionToken[] = [];
    const invalid: { name: string; reason: string }[] = [];
    for (let i = 0; i < names.length; i += BATCH_SIZE) {
      const { SecretValues = [], Errors = [] } = await this.client.send(new BatchGetSecretValueCommand({ SecretIdList: names.slice(i, i + BATCH_SIZE) }));
      for (const secret of SecretValues) {
        const parsed = parseConnectionSecret(secret.SecretString ?? '', secret.CreatedDate?.getTime() ?? this.now());
        if (parsed.ok) tokens.push({ ...parsed.value, secretName: secret.Name ?? '' });
        else invalid.push({ name: secret.Name ?? '?', reason: parsed.reason });
      }
      for (const error of Errors) invalid.push({ name: error.SecretId ?? '?', reason: error.ErrorCode ?? 'unreadable' });
    }
    const discovery = { tokens, invalid };
    this.cached = { at: this.now(), discovery };
    return discovery;
  }

  /** Drops the cache: the next discovery reads every secret again (after a 401, or a write). */
  forget(): void {
    this.cached = undefined;
  }

  /**
   * Writes a refreshed pair (`replacing`: the pair it was refreshed from). The request token is
   * derived from the pair, so a retried write of the same pair is one version, not two; AWS moves
   * AWSPREVIOUS to the pair it replaces.
   */
  async writeBack(token: StoredConnectionToken, replacing?: StoredConnectionToken): Promise<void> {
    const { secretName, ...value } = token;
    const previous = replacing ?? this.cached?.discovery.tokens.find((t) => t.secretName === secretName);
    const SecretString = formatConnectionSecret(value);
    const ClientRequestToken = createHash('sha256').update(SecretString).digest('hex').slice(0, 64);
    try {
      await this.client.send(new PutSecretValueCommand({ SecretId: secretName, SecretString, ClientRequestToken }));
    } catch (error) {
      this.unsaved.set(secretName, { token, replacing: previous?.token });
      throw error;
    }
    this.unsaved.delete(secretName);
    this.forget();
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
