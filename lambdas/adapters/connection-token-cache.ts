import type { ConnectionToken } from '../core/connection-secret';

/** A connection's tokens and where they are stored (a secret's name, a table item's key). */
export type StoredConnectionToken = ConnectionToken & { readonly location: string };

export interface TokenDiscovery {
  readonly tokens: readonly StoredConnectionToken[];
  /** Locations whose value is unusable (never the value itself). */
  readonly invalid: readonly { name: string; reason: string }[];
  /** Served from this container's cache (read up to `cacheSeconds` ago), not from the store just now. */
  readonly cached?: boolean;
}

/**
 * What the poller does with per-connection tokens, whichever store holds them: discover them
 * (cached for `cacheSeconds`), write a refreshed pair back, forget the cache after a refused token.
 *
 * A store supplies `list` (every stored pair) and `put` (one pair); this class keeps the cache and
 * the refreshed pairs whose write failed: Makini may already have revoked the pair the store still
 * holds, so until a write succeeds the unsaved pair is the one to use (and to write again).
 */
export abstract class CachedConnectionTokens {
  private cached: { at: number; discovery: TokenDiscovery } | undefined;
  private readonly unsaved = new Map<string, { token: StoredConnectionToken; replacing: string | undefined }>();
  protected readonly now: () => number;

  constructor(private readonly cache: { cacheSeconds: number; now?: () => number }) {
    this.now = cache.now ?? Date.now;
  }

  /** Every stored pair, and the locations whose value is unusable. */
  protected abstract list(): Promise<TokenDiscovery>;
  /** Stores a refreshed pair (`replacing`: the pair it was refreshed from, if known). */
  protected abstract put(token: StoredConnectionToken, replacing: StoredConnectionToken | undefined): Promise<void>;

  async discover(): Promise<TokenDiscovery> {
    const discovery = await this.read();
    if (this.unsaved.size === 0) return discovery;
    const tokens = await Promise.all(discovery.tokens.map((t) => this.retryUnsaved(t)));
    return { ...discovery, tokens };
  }

  /**
   * The unsaved newer pair for this location, written again (kept for next time if it fails again);
   * dropped once the store holds something other than the pair it was refreshed from, which means
   * someone stored a newer pair meanwhile.
   */
  private async retryUnsaved(stored: StoredConnectionToken): Promise<StoredConnectionToken> {
    const unsaved = this.unsaved.get(stored.location);
    if (!unsaved) return stored;
    if (unsaved.token.connectionId !== stored.connectionId || unsaved.replacing !== stored.token) {
      this.unsaved.delete(stored.location);
      return stored;
    }
    await this.writeBack(unsaved.token, stored).catch(() => undefined);
    return unsaved.token;
  }

  private async read(): Promise<TokenDiscovery> {
    if (this.cached && this.now() - this.cached.at < this.cache.cacheSeconds * 1000) return { ...this.cached.discovery, cached: true };
    const discovery = await this.list();
    this.cached = { at: this.now(), discovery };
    return discovery;
  }

  /** Drops the cache: the next discovery reads every pair again (after a 401, or a write). */
  forget(): void {
    this.cached = undefined;
  }

  /** Writes a refreshed pair (`replacing`: the pair it was refreshed from). */
  async writeBack(token: StoredConnectionToken, replacing?: StoredConnectionToken): Promise<void> {
    const previous = replacing ?? this.cached?.discovery.tokens.find((t) => t.location === token.location);
    try {
      await this.put(token, previous);
    } catch (error) {
      this.unsaved.set(token.location, { token, replacing: previous?.token });
      throw error;
    }
    this.unsaved.delete(token.location);
    this.forget();
  }
}
