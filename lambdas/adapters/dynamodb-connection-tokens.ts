import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { paginateQuery, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { formatConnectionSecret, parseConnectionSecret, type ConnectionToken } from '../core/connection-secret';
import { CachedConnectionTokens, type StoredConnectionToken, type TokenDiscovery } from './connection-token-cache';
import { TABLE_KEYS } from './event-table-schema';
import { DATA_KEY_REUSE_MS, type KmsEnvelope, type SealedValue } from './kms-envelope';

/** The partition of the token items: one Query reads them all, without an index. */
const TOKENS_PARTITION = 'TOKENS';
const CONNECTION_PREFIX = 'CONNECTION#';
/** Written once the tokens of Secrets Manager were copied in: later discoveries do not look there again. */
const MIGRATED_SORT = 'MIGRATED';

/** Where the table store's tokens came from before: the Secrets Manager store, read once. */
export interface LegacyTokenSource {
  discover(): Promise<TokenDiscovery>;
}

/** What a copy from the Secrets Manager store did. */
export interface Migration {
  /** Connections whose pair was copied into the table. */
  readonly copied: readonly string[];
  /** Connections that already had a pair in the table (left as they were). */
  readonly present: readonly string[];
  /** Connections removed from the table (`connections remove`): their secrets' pairs not copied. */
  readonly removed: readonly string[];
  /** `replace` only: connections whose pair the table held but Secrets Manager no longer did, removed. */
  readonly dropped: readonly string[];
  /** Secrets that could not be read (name and reason, never the value). */
  readonly invalid: TokenDiscovery['invalid'];
}

/**
 * Per-connection tokens as KMS-encrypted items of the event table (`tokenStore: table`, the
 * default): pk `TOKENS`, sk `CONNECTION#<id>`, the pair sealed with a KMS data key (kms-envelope.ts)
 * and bound to its connection id, so the table's readers (the consumer, operators with only
 * DynamoDB access) see ciphertext. No charge per connection beyond its item (docs/cost.md); one
 * Query reads every pair. A token's `location` is its connection id.
 *
 * With `legacy`, the first discovery copies the pairs of the Secrets Manager store into the table
 * (those the table lacks), then notes that it did, so an upgrade from per-connection secrets loses
 * no connection. Until every secret could be read, each discovery looks again; and while Secrets
 * Manager does not answer, discovery fails rather than poll without the connections still there.
 *
 * @example
 * const { tokens } = await new DynamoDbConnectionTokens(db, new KmsEnvelope(kms, keyArn), { tableName, cacheSeconds: 300 }).discover();
 */
export class DynamoDbConnectionTokens extends CachedConnectionTokens {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly envelope: KmsEnvelope,
    private readonly options: {
      tableName: string;
      cacheSeconds: number;
      /** The Secrets Manager store, copied from at the first discoveries (the poller's). */
      legacy?: LegacyTokenSource;
      /** Seal again the pairs whose data key may seal nothing more, at each discovery (the poller's). */
      reseal?: boolean;
      now?: () => number;
    },
  ) {
    super(options);
  }

  protected async list(): Promise<TokenDiscovery> {
    const stored = await this.readItems();
    let { items } = stored;
    // Opened before any copy: the copy seals under the data key the stored pairs share.
    let opened = await this.openAll(items);
    const invalid: { name: string; reason: string }[] = [];
    if (!stored.migrated && this.options.legacy) {
      const migration = await this.copyFrom(this.options.legacy, stored, {});
      if (migration.copied.length > 0) opened = await this.openAll((items = (await this.readItems()).items));
      // A secret that could not be read is reported like a pair that does not open: by its name.
      invalid.push(...migration.invalid);
    }
    if (this.options.reseal) await this.resealExpired(items, opened.tokens);
    return { tokens: opened.tokens, invalid: [...opened.invalid, ...invalid] };
  }

  private async openAll(items: readonly Record<string, unknown>[]): Promise<TokenDiscovery> {
    const tokens: StoredConnectionToken[] = [];
    const invalid: { name: string; reason: string }[] = [];
    for (const item of items) {
      const connectionId = connectionIdOf(item);
      try {
        const value = await this.envelope.open(toSealed(item.sealed), aadOf(connectionId, 'current'));
        const parsed = parseConnectionSecret(value.toString('utf8'), Date.parse(String(item.updatedAt)) || this.now());
        if (parsed.ok && parsed.value.connectionId === connectionId) tokens.push({ ...parsed.value, location: connectionId });
        else invalid.push({ name: connectionId, reason: parsed.ok ? 'the pair names another connection' : parsed.reason });
      } catch (error) {
        invalid.push({ name: connectionId, reason: (error as Error).message });
      }
    }
    return { tokens, invalid };
  }

  /**
   * Seals again, under the current data key, the pairs whose data key may seal nothing more (a pair
   * never refreshed: a bare token), so the pairs keep sharing one or two data keys and a cold reader
   * one or two `Decrypt`s, however long they are kept. Each item is written only if unchanged
   * since it was read, and never over a tombstone; its `previous` pair is sealed again too.
   */
  private async resealExpired(items: readonly Record<string, unknown>[], tokens: readonly StoredConnectionToken[]): Promise<void> {
    const byId = new Map(tokens.map((t) => [t.connectionId, t]));
    for (const item of items) {
      const sealed = item.sealed as { keyCreatedAt?: unknown; iv?: unknown } | undefined;
      const connectionId = connectionIdOf(item);
      const token = byId.get(connectionId);
      if (!token || typeof sealed?.keyCreatedAt !== 'string' || this.now() - Date.parse(sealed.keyCreatedAt) < DATA_KEY_REUSE_MS) continue;
      try {
        const previous = item.previous === undefined ? undefined : await this.envelope.open(toSealed(item.previous), aadOf(connectionId, 'previous'));
        await this.db.send(
          new PutCommand({
            TableName: this.options.tableName,
            Item: {
              ...item,
              sealed: await this.sealPair(token, 'current'),
              ...(previous && { previous: await this.envelope.seal(previous, aadOf(connectionId, 'previous')) }),
            },
            // The seal's own nonce, not its data key (which every pair of the month shares): any write
            // since the read, even under the same data key, makes this one give way.
            ConditionExpression: 'sealed.iv = :iv AND attribute_not_exists(removedAt)',
            ExpressionAttributeValues: { ':iv': sealed.iv },
          }),
        );
      } catch {
        // Changed meanwhile, or KMS or DynamoDB refused: it stays as it is, and opens as before.
      }
    }
  }

  /** A pair sealed for the item of `connectionId` (its own, unless given), in `slot`. */
  private sealPair(pair: ConnectionToken, slot: 'current' | 'previous', connectionId = pair.connectionId): Promise<SealedValue> {
    return this.envelope.seal(Buffer.from(formatConnectionSecret(pair), 'utf8'), aadOf(connectionId, slot));
  }

  /** Opens the youngest stored pair's data key when no key in memory may seal, so a seal reuses it rather than generate another. */
  private async adoptDataKey(): Promise<void> {
    if (this.envelope.hasSealingKey()) return;
    const { items } = await this.readItems();
    let youngest: Record<string, unknown> | undefined;
    for (const item of items) {
      const at = (item.sealed as { keyCreatedAt?: unknown } | undefined)?.keyCreatedAt;
      if (typeof at === 'string' && (!youngest || at > String((youngest.sealed as { keyCreatedAt: string }).keyCreatedAt))) youngest = item;
    }
    if (!youngest) return;
    await this.openAll([youngest]);
  }

  /** The pairs, the connections removed (their tombstones), and whether the migration is done. */
  private async readItems(): Promise<{ items: Record<string, unknown>[]; removed: Set<string>; migrated: boolean }> {
    const items: Record<string, unknown>[] = [];
    const removed = new Set<string>();
    let migrated = false;
    const pages = paginateQuery(
      { client: this.db },
      { TableName: this.options.tableName, KeyConditionExpression: '#pk = :pk', ExpressionAttributeNames: { '#pk': TABLE_KEYS.partition }, ExpressionAttributeValues: { ':pk': TOKENS_PARTITION }, ConsistentRead: true },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        const sort = String(item[TABLE_KEYS.sort]);
        if (sort === MIGRATED_SORT) migrated = true;
        else if (sort.startsWith(CONNECTION_PREFIX) && item.removedAt !== undefined) removed.add(connectionIdOf(item));
        else if (sort.startsWith(CONNECTION_PREFIX)) items.push(item);
      }
    }
    return { items, removed, migrated };
  }

  /** Seals and writes a pair, keeping the one it replaces (sealed again) as `previous`, as Secrets Manager keeps AWSPREVIOUS. */
  protected async put(token: StoredConnectionToken, replacing: StoredConnectionToken | undefined): Promise<void> {
    // Not over a tombstone: a connection removed while its pair was being refreshed stays removed,
    // and the refreshed pair is dropped with it (not a failed write-back: nobody is to be paged).
    try {
      await this.write(token, replacing, 'not-removed');
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /** {@link put}, optionally only where the connection has no item yet, or was not removed; true when it replaced a pair. */
  private async write(token: ConnectionToken, replacing: ConnectionToken | undefined, condition?: 'absent' | 'not-removed'): Promise<boolean> {
    await this.adoptDataKey();
    const sealed = await this.sealPair(token, 'current');
    const previous = replacing && replacing.token !== token.token ? await this.sealPair(replacing, 'previous', token.connectionId) : undefined;
    const { Attributes } = await this.db.send(
      new PutCommand({
        TableName: this.options.tableName,
        Item: { ...tokenKey(token.connectionId), entity: 'connection-token', connectionId: token.connectionId, sealed, ...(previous && { previous }), updatedAt: new Date(this.now()).toISOString() },
        ...(condition === 'absent' && { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': TABLE_KEYS.partition } }),
        ...(condition === 'not-removed' && { ConditionExpression: 'attribute_not_exists(removedAt)' }),
        // The item it replaced (ALL_OLD costs no more): whether that held a pair, or was a tombstone or nothing.
        ReturnValues: 'ALL_OLD',
      }),
    );
    return Attributes?.sealed !== undefined;
  }

  /**
   * Stores a connection's pair (`connections add`), replacing any it had; true when it replaced one.
   * Unlike a write-back, a failed save is not retried. Like every write, it seals under the data key
   * of the youngest stored pair while that may still seal (a cold reader makes one KMS request per
   * data key in use).
   */
  async save(token: ConnectionToken): Promise<boolean> {
    const replaced = await this.write(token, undefined);
    this.forget();
    return replaced;
  }

  /**
   * Removes a connection's pair; false when it had none. A tombstone stays in its place, so that a
   * copy from Secrets Manager (an unfinished migration, `connections migrate`) does not bring back
   * the pair of its old secret; `save` replaces it.
   */
  async remove(connectionId: string): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.options.tableName,
          Item: { ...tokenKey(connectionId), entity: 'connection-token', connectionId, removedAt: new Date(this.now()).toISOString() },
          // Only over a pair: removing what is not there changes nothing (and blocks no later copy).
          ConditionExpression: 'attribute_exists(sealed)',
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return false;
    }
    this.forget();
    return true;
  }

  /**
   * Copies every pair of `source` whose connection has none in the table yet, then notes the
   * migration done (discoveries stop reading `source`). Safe to repeat: a pair already in the table
   * is never overwritten (nor sealed again for nothing), and a connection removed from it (`remove`)
   * is not brought back. With `replace` (moving back to the table after a time in Secrets Manager,
   * which was then the truth), the table is made to hold exactly the pairs of `source`: each is
   * written over what the table holds, and a pair whose connection has no secret any more is removed
   * (only when every secret could be read, an unreadable one might be its, and there is at least one).
   */
  async migrateFrom(source: LegacyTokenSource, options: { replace?: boolean } = {}): Promise<Migration> {
    return this.copyFrom(source, await this.readItems(), options);
  }

  /** {@link migrateFrom}, given the table's items as just read. */
  private async copyFrom(source: LegacyTokenSource, stored: { items: readonly Record<string, unknown>[]; removed: ReadonlySet<string> }, options: { replace?: boolean }): Promise<Migration> {
    const { tokens, invalid } = await source.discover();
    const storedIds = new Set(stored.items.map(connectionIdOf));
    const copied: string[] = [];
    const present: string[] = [];
    const removed: string[] = [];
    const dropped: string[] = [];
    for (const token of tokens) {
      if (!options.replace && stored.removed.has(token.connectionId)) removed.push(token.connectionId);
      else if (!options.replace && storedIds.has(token.connectionId)) present.push(token.connectionId);
      else {
        try {
          await this.write(token, undefined, options.replace ? undefined : 'absent');
          copied.push(token.connectionId);
        } catch (error) {
          // Stored meanwhile (another run, `connections add`): theirs stays.
          if (!(error instanceof ConditionalCheckFailedException)) throw error;
          present.push(token.connectionId);
        }
      }
    }
    // Not with no secret at all: a wrong prefix, or secrets just deleted, would empty the table.
    if (options.replace && invalid.length === 0 && tokens.length > 0) {
      const inSource = new Set(tokens.map((t) => t.connectionId));
      for (const id of storedIds) if (!inSource.has(id) && (await this.remove(id))) dropped.push(id);
    }
    // Only once every secret was read: one unreadable now (throttled, denied) is copied at a later run.
    if (invalid.length === 0) await this.db.send(
      new PutCommand({
        TableName: this.options.tableName,
        Item: { [TABLE_KEYS.partition]: TOKENS_PARTITION, [TABLE_KEYS.sort]: MIGRATED_SORT, entity: 'token-migration', at: new Date(this.now()).toISOString(), copied: copied.length },
      }),
    );
    this.forget();
    return { copied, present, removed, dropped, invalid };
  }
}

const tokenKey = (connectionId: string) => ({ [TABLE_KEYS.partition]: TOKENS_PARTITION, [TABLE_KEYS.sort]: `${CONNECTION_PREFIX}${connectionId}` });
/** The connection of a token item: its key, not an attribute beside it, so an item copied under another key does not open. */
const connectionIdOf = (item: Record<string, unknown>) => String(item[TABLE_KEYS.sort]).slice(CONNECTION_PREFIX.length);
/**
 * Binds a sealed pair to its connection and its slot: copied into another connection's item, or
 * `previous` copied over the current pair (a rollback to a replaced pair), it does not open.
 */
const aadOf = (connectionId: string, slot: 'current' | 'previous') => `makini-connection-token:${connectionId}:${slot}`;

function toSealed(value: unknown): SealedValue {
  const v = (value ?? {}) as Record<string, unknown>;
  const bytes = (name: string) => {
    const b = v[name];
    if (!(b instanceof Uint8Array)) throw new Error(`the item holds no sealed pair (${name} missing)`);
    return b;
  };
  if (typeof v.keyCreatedAt !== 'string') throw new Error('the item holds no sealed pair (keyCreatedAt missing)');
  return { key: bytes('key'), keyCreatedAt: v.keyCreatedAt, iv: bytes('iv'), tag: bytes('tag'), data: bytes('data') };
}
