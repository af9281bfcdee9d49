import type { BaseProvider } from '@aws-lambda-powertools/parameters/base';
import { SigningSecretUnavailableError } from '../core/errors';
import type { SigningSecretSource } from '../core/receive';
import { parseSigningSecrets } from '../core/signing-secrets';
import { within } from '../core/within';

/** A Powertools Parameters provider: its cache serves `get`, `forceFetch` bypasses it. */
export type SigningSecretsProvider = Pick<BaseProvider, 'get'>;

export interface SecretsManagerSigningSecretsOptions {
  /** Secret name or ARN. */
  readonly secretId: string;
  /** Seconds a fetched value is served from memory. */
  readonly cacheSeconds: number;
  /** Least number of seconds between two forced re-fetches. */
  readonly refreshIntervalSeconds: number;
  /** Milliseconds since the epoch. @default Date.now */
  readonly now?: () => number;
}

/**
 * The signing secrets, from Secrets Manager through Powertools Parameters, which caches them.
 *
 * Two additions to the Powertools cache:
 * - {@link refresh} re-fetches on demand, at most once per interval, so a rotated secret is picked
 *   up on the first mismatch without letting forged requests hammer Secrets Manager;
 * - the last good value is kept, so an expired cache during a Secrets Manager outage keeps
 *   verifying instead of failing every request.
 *
 * @example
 * const secrets = new SecretsManagerSigningSecrets(new SecretsProvider({ clientConfig }), { secretId, cacheSeconds: 300, refreshIntervalSeconds: 30 });
 */
export class SecretsManagerSigningSecrets implements SigningSecretSource {
  private lastGood: { raw: string; secrets: readonly string[] } | undefined;
  private lastForcedFetchAt = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;

  constructor(
    private readonly provider: SigningSecretsProvider,
    private readonly options: SecretsManagerSigningSecretsOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async get(): Promise<readonly string[]> {
    try {
      return this.remember(await this.fetch(false));
    } catch (cause) {
      if (this.lastGood) return this.lastGood.secrets;
      throw new SigningSecretUnavailableError({ cause });
    }
  }

  async refresh(budgetMs: () => number = () => Number.POSITIVE_INFINITY): Promise<readonly string[] | undefined> {
    const now = this.now();
    if (now - this.lastForcedFetchAt < this.options.refreshIntervalSeconds * 1000) return undefined;
    const budget = budgetMs();
    if (budget <= 0) throw new SigningSecretUnavailableError({ cause: new Error('no time is left to look for a rotated secret') });
    this.lastForcedFetchAt = now;
    try {
      return this.remember(await within(this.fetch(true), budget));
    } catch (cause) {
      throw new SigningSecretUnavailableError({ cause });
    }
  }

  private async fetch(forceFetch: boolean): Promise<string> {
    const value = await this.provider.get(this.options.secretId, { maxAge: this.options.cacheSeconds, forceFetch });
    if (typeof value !== 'string') throw new Error('the secret has no SecretString');
    return value;
  }

  /** Parses only when the value changed: the warm path serves the cached, parsed list. */
  private remember(raw: string): readonly string[] {
    if (this.lastGood?.raw !== raw) this.lastGood = { raw, secrets: Object.freeze(parseSigningSecrets(raw)) };
    return this.lastGood.secrets;
  }
}
