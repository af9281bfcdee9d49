import { BatchGetSecretValueCommand, ListSecretsCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { parseConnectionSecret, type ConnectionToken } from '../core/connection-secret';

/** BatchGetSecretValue takes at most 20 secret ids per call. */
const BATCH_SIZE = 20;

export interface TokenDiscovery {
  readonly tokens: readonly ConnectionToken[];
  /** Secret names whose value is unusable (never the value itself). */
  readonly invalid: readonly { name: string; reason: string }[];
}

/**
 * The per-connection tokens: discovered with ListSecrets (name prefix), fetched with
 * BatchGetSecretValue in batches of 20, and cached across invocations for `cacheSeconds`.
 *
 * @example
 * const { tokens } = await new SecretsManagerConnectionTokens(client, { prefix: 'makini/connections/', cacheSeconds: 300 }).discover();
 */
export class SecretsManagerConnectionTokens {
  private cached: { at: number; discovery: TokenDiscovery } | undefined;
  private readonly now: () => number;

  constructor(
    private readonly client: SecretsManagerClient,
    private readonly options: { prefix: string; cacheSeconds: number; now?: () => number },
  ) {
    this.now = options.now ?? Date.now;
  }

  async discover(): Promise<TokenDiscovery> {
    if (this.cached && this.now() - this.cached.at < this.options.cacheSeconds * 1000) return this.cached.discovery;
    const names = await this.listNames();
    const tokens: ConnectionToken[] = [];
    const invalid: { name: string; reason: string }[] = [];
    for (let i = 0; i < names.length; i += BATCH_SIZE) {
      const { SecretValues = [], Errors = [] } = await this.client.send(new BatchGetSecretValueCommand({ SecretIdList: names.slice(i, i + BATCH_SIZE) }));
      for (const secret of SecretValues) {
        const parsed = parseConnectionSecret(secret.SecretString ?? '');
        if (parsed.ok) tokens.push(parsed.value);
        else invalid.push({ name: secret.Name ?? '?', reason: parsed.reason });
      }
      for (const error of Errors) invalid.push({ name: error.SecretId ?? '?', reason: error.ErrorCode ?? 'unreadable' });
    }
    const discovery = { tokens, invalid };
    this.cached = { at: this.now(), discovery };
    return discovery;
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
