import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, paginateQuery, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { formatConnectionSecret, parseConnectionSecret, type ConnectionToken } from '../core/connection-secret';
import { CachedConnectionTokens, type StoredConnectionToken, type TokenDiscovery } from './connection-token-cache';
import { TABLE_KEYS } from './event-table-schema';
import type { KmsEnvelope, SealedValue } from './kms-envelope';

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
    private readonly options: { tableName: string; cacheSeconds: number; legacy?: LegacyTokenSource; now?: () => number },
  ) {
    super(options);
  }

  protected async list(): Promise<TokenDiscovery> {
    let { items, migrated } = await this.readItems();
    if (!migrated && this.options.legacy) {
      const migration = await this.migrateFrom(this.options.legacy);
      if (migration.copied.length > 0) items = (await this.readItems()).items;
    }
    const tokens: StoredConnectionToken[] = [];
    const invalid: { name: string; reason: string }[] = [];
    for (const item of items) {
      // The id is the item's key, not an attribute beside it: an item copied under another key does not open.
      const connectionId = String(item[TABLE_KEYS.sort]).slice(CONNECTION_PREFIX.length);
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

  private async readItems(): Promise<{ items: Record<string, unknown>[]; migrated: boolean }> {
    const items: Record<string, unknown>[] = [];
    let migrated = false;
    const pages = paginateQuery(
      { client: this.db },
      { TableName: this.options.tableName, KeyConditionExpression: '#pk = :pk', ExpressionAttributeNames: { '#pk': TABLE_KEYS.partition }, ExpressionAttributeValues: { ':pk': TOKENS_PARTITION }, ConsistentRead: true },
    );
    for await (const page of pages) {
      for (const item of page.Items ?? []) {
        if (item[TABLE_KEYS.sort] === MIGRATED_SORT) migrated = true;
        else if (String(item[TABLE_KEYS.sort]).startsWith(CONNECTION_PREFIX)) items.push(item);
      }
    }
    return { items, migrated };
  }

  /** Seals and writes a pair, keeping the one it replaces (sealed again) as `previous`, as Secrets Manager keeps AWSPREVIOUS. */
  protected async put(token: StoredConnectionToken, replacing: StoredConnectionToken | undefined): Promise<void> {
    await this.write(token, replacing);
  }

  /** {@link put}, optionally only where the connection has no pair yet; true when it replaced one. */
  private async write(token: StoredConnectionToken, replacing: StoredConnectionToken | undefined, condition?: 'absent'): Promise<boolean> {
    const { location: _location, ...value } = token;
    const sealed = await this.envelope.seal(Buffer.from(formatConnectionSecret(value), 'utf8'), aadOf(token.connectionId, 'current'));
    const previous = replacing && replacing.token !== token.token ? await this.envelope.seal(Buffer.from(formatConnectionSecret(replacing), 'utf8'), aadOf(token.connectionId, 'previous')) : undefined;
    const { Attributes } = await this.db.send(
      new PutCommand({
        TableName: this.options.tableName,
        Item: { ...tokenKey(token.connectionId), entity: 'connection-token', connectionId: token.connectionId, sealed, ...(previous && { previous }), updatedAt: new Date(this.now()).toISOString() },
        ...(condition === 'absent' && { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': TABLE_KEYS.partition } }),
        // Only its key comes back (ALL_OLD costs no more): whether a pair was replaced.
        ReturnValues: 'ALL_OLD',
      }),
    );
    return Attributes !== undefined;
  }

  /**
   * Stores a connection's pair (`connections add`), replacing any it had; true when it replaced one.
   * Unlike a write-back, a failed save is not retried.
   */
  async save(token: ConnectionToken): Promise<boolean> {
    const replaced = await this.write({ ...token, location: token.connectionId }, undefined);
    this.forget();
    return replaced;
  }

  /** Deletes a connection's pair; false when it had none. */
  async remove(connectionId: string): Promise<boolean> {
    const { Attributes } = await this.db.send(new DeleteCommand({ TableName: this.options.tableName, Key: tokenKey(connectionId), ReturnValues: 'ALL_OLD' }));
    this.forget();
    return Attributes !== undefined;
  }

  /**
   * Copies every pair of `source` whose connection has none in the table yet, then notes the
   * migration done (discoveries stop reading `source`). Safe to repeat: a pair already in the table
   * is never overwritten.
   */
  async migrateFrom(source: LegacyTokenSource): Promise<Migration> {
    const { tokens, invalid } = await source.discover();
    const copied: string[] = [];
    const present: string[] = [];
    for (const token of tokens) {
      try {
        await this.write({ ...token, location: token.connectionId }, undefined, 'absent');
        copied.push(token.connectionId);
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
        present.push(token.connectionId);
      }
    }
    // Only once every secret was read: one unreadable now (throttled, denied) is copied at a later run.
    if (invalid.length === 0) await this.db.send(
      new PutCommand({
        TableName: this.options.tableName,
        Item: { [TABLE_KEYS.partition]: TOKENS_PARTITION, [TABLE_KEYS.sort]: MIGRATED_SORT, entity: 'token-migration', at: new Date(this.now()).toISOString(), copied: copied.length },
      }),
    );
    this.forget();
    return { copied, present, invalid };
  }
}

const tokenKey = (connectionId: string) => ({ [TABLE_KEYS.partition]: TOKENS_PARTITION, [TABLE_KEYS.sort]: `${CONNECTION_PREFIX}${connectionId}` });
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
  return { key: bytes('key'), iv: bytes('iv'), tag: bytes('tag'), data: bytes('data') };
}
