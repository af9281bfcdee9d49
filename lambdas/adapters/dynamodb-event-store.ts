import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { initialState, type Applied, type ConnectionState } from '../core/connection-state';
import { isBodyPointer, type BodyPointer } from '../core/body-store';
import { decideClaim, type Claim, type ClaimedItem, type ClaimRequest, type EventStore } from '../core/consume';
import { contentEventId, contentGeneration, nextGenerations, type Generation } from '../core/content-dedup';
import { parseEventTime } from '../core/event-time';
import type { Candidate, PollRecord } from '../core/poll';
import { DEFAULT_CONFIG, type MakiniWebhookConfig } from '../config/config';
import { TABLE_KEYS } from './event-table-schema';

/**
 * The event store in one DynamoDB table (docs/dynamodb-design.md has the access patterns):
 *
 * | item | pk | sk | gsi1pk / gsi1sk |
 * |---|---|---|---|
 * | webhook (dedup claim + history) | `WEBHOOK#<id>` | `WEBHOOK` | `CONNECTION#<c>` (or `NO_CONNECTION`) / `<occurredAt>#<id>`, or `UNPROCESSABLE` / `<receivedAt>#<id>` |
 * | its body, when it would make the webhook item pass one write unit (`bodyApart`) | `WEBHOOK#<id>` | `BODY` | — |
 * | recent generations of a content key (content-dedup.ts) | `CONTENT#<sha256:…>` | `GENERATION` | — |
 * | copy with a different body | `WEBHOOK#<id>` | `MISMATCH#<sha256>` | `MISMATCH` / `<receivedAt>#<id>` |
 * | connection state | `CONNECTION#<c>` | `STATE` | — |
 * | what the poller knows of a connection | `CONNECTION#<c>` | `POLL` | — |
 *
 * Costs: a new webhook takes 3 writes (claim, state, complete) and 1 read (state); a duplicate
 * takes 1 write (the claim, which also counts it). A body that would take the webhook item past
 * 1 KB is kept apart, compressed, in a fourth write (once), so each of the others costs 1 write unit
 * instead of one per KB of the body. A webhook deduplicated by content reads its
 * generations first (1 read), and a new generation writes them (1 write). Nothing relies on
 * ReturnValuesOnConditionCheckFailure or transactions, which dynalite lacks.
 */

export interface DynamoDbEventStoreOptions {
  readonly tableName: string;
  /** How long webhook items (dedup and history) are kept, in seconds. */
  readonly retentionSeconds: number;
  /** How long a claim protects its processing from concurrent copies, in ms. */
  readonly leaseMs: number;
  /** Copies of a webhook without an id are one event when received within this many ms of its first copy. @default the config's `contentDedupWindowMinutes` */
  readonly contentDedupWindowMs?: number;
  /** Attempts at the state's optimistic-concurrency write before the record is retried by SQS. @default 8 */
  readonly maxStateAttempts?: number;
  readonly now?: () => number;
}

/**
 * The store's options from the one config: webhook items live the longer of the dedup window and
 * the history retention; a claim's lease is the consumer's timeout.
 */
export function eventStoreOptions(
  config: Pick<MakiniWebhookConfig, 'dedupWindowDays' | 'historyRetentionDays' | 'consumerTimeoutSeconds' | 'contentDedupWindowMinutes'>,
  tableName: string,
): DynamoDbEventStoreOptions {
  return {
    tableName,
    retentionSeconds: Math.max(config.dedupWindowDays, config.historyRetentionDays) * 86_400,
    leaseMs: config.consumerTimeoutSeconds * 1000,
    contentDedupWindowMs: config.contentDedupWindowMinutes * 60_000,
  };
}

/** Index partition of the events that name no connection. */
export const NO_CONNECTION_PARTITION = 'NO_CONNECTION';

/** A stored webhook, as `events` and tests read it. */
export interface StoredWebhook {
  readonly webhookId: string;
  readonly status: 'PROCESSING' | 'DONE';
  readonly deliveries: number;
  readonly receivedAt: string;
  /** The body; empty when it is in the body store (`bodyRef`: read it with `readPointedBody`). */
  readonly body: Uint8Array;
  readonly bodyRef?: BodyPointer;
  readonly type?: string;
  readonly occurredAt?: string;
  readonly connectionId?: string;
  readonly source?: string;
  readonly stale?: boolean;
  readonly unprocessableReason?: string;
  /** Why the last attempt failed, while it has not completed. */
  readonly lastError?: string;
  /**
   * Its body was kept apart and that item is gone: expired (DynamoDB's TTL deletes the two items
   * separately), or not yet written by the delivery that claimed it. `body` is then empty.
   */
  readonly bodyMissing?: true;
}

export class DynamoDbEventStore implements EventStore {
  private readonly now: () => number;
  private readonly contentDedupWindowMs: number;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly options: DynamoDbEventStoreOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.contentDedupWindowMs = options.contentDedupWindowMs ?? DEFAULT_CONFIG.contentDedupWindowMinutes * 60_000;
  }

  async resolveContentId(contentKey: string, receivedAt: string): Promise<string> {
    for (let attempt = 1; ; attempt++) {
      const { decision, generations, version, expiresAt } = await this.contentDecision(contentKey, receivedAt);
      const start = decision.kind === 'join' ? decision.start : receivedAt;
      const now = this.now();
      // A copy that changes nothing writes nothing, unless the item would expire before the webhook
      // item its claim writes now (a copy redriven days later, whose first attempt wrote the item and
      // failed before its claim): then the same generations are written again, to last as long.
      // Copies processed within their window never write here: a duplicate stays 1 write unit.
      const next = nextGenerations(generations, decision, receivedAt) ?? (expiresAt < Math.floor(now / 1000) + this.options.retentionSeconds ? generations : undefined);
      if (!next) return contentEventId(contentKey, start);
      const newest = Math.max(...next.map((g) => Date.parse(g.start)));
      try {
        await this.db.send(
          new PutCommand({
            TableName: this.options.tableName,
            // It lives as long after its newest window closes as a webhook item does after its claim:
            // a copy redriven from the dead-letter queue (kept 14 days) must still join the event it
            // repeats while that event's item is kept. Expiring a day after the window, as it did,
            // made such a copy a new event, published a second time. Counted from now when this copy
            // is processed after it was received (a first copy redriven days later), since its claim
            // is: never from a time before the item it names was written.
            Item: withGenerations({ ...contentKeyItem(contentKey), entity: 'generations', version: version + 1, [TABLE_KEYS.ttl]: Math.floor((Math.max(newest, now) + this.contentDedupWindowMs) / 1000) + this.options.retentionSeconds }, next),
            // Another copy may have changed the generations meanwhile: then decide again.
            // Version 0: no item, or one without a version (an early development build wrote those).
            ConditionExpression: version === 0 ? 'attribute_not_exists(#version)' : '#version = :version',
            ExpressionAttributeNames: { '#version': 'version' },
            ...(version !== 0 && { ExpressionAttributeValues: { ':version': version } }),
          }),
        );
        return contentEventId(contentKey, start);
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || attempt >= (this.options.maxStateAttempts ?? 8)) throw error;
      }
    }
  }

  /**
   * The event id a copy deduplicated by content has, or would get, without writing anything: for
   * `dlq list` and failure notes, which know a message only by its content key.
   */
  async findContentId(contentKey: string, receivedAt: string): Promise<string> {
    const { decision } = await this.contentDecision(contentKey, receivedAt);
    return contentEventId(contentKey, decision.kind === 'join' ? decision.start : receivedAt);
  }

  private async contentDecision(contentKey: string, receivedAt: string) {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.options.tableName, Key: contentKeyItem(contentKey), ConsistentRead: true }));
    const generations = Item ? readGenerations(Item) : [];
    const version = typeof Item?.version === 'number' ? Item.version : 0;
    // No item: nothing to keep (a decision on no generations always writes).
    const expiresAt = typeof Item?.[TABLE_KEYS.ttl] === 'number' ? (Item[TABLE_KEYS.ttl] as number) : Infinity;
    return { generations, version, expiresAt, decision: contentGeneration(receivedAt, generations, this.contentDedupWindowMs) };
  }

  async claim(request: ClaimRequest): Promise<Claim> {
    const now = this.now();
    const event = request.event;
    // Written only by the first delivery; later ones leave them as they are.
    const fields: Record<string, unknown> = {
      entity: 'webhook',
      webhookId: request.webhookId,
      bodyHash: request.bodyHash,
      receivedAt: request.receivedAt,
      owner: request.deliveryId,
      leaseUntil: now + this.options.leaseMs,
      status: 'PROCESSING',
      expiresAt: Math.floor(now / 1000) + this.options.retentionSeconds,
      ...(event
        ? {
            type: event.type,
            occurredAt: event.occurredAt,
            ...(event.connectionId !== undefined && { connectionId: event.connectionId }),
            source: event.source,
            gsi1pk: event.connectionId !== undefined ? `CONNECTION#${event.connectionId}` : NO_CONNECTION_PARTITION,
            gsi1sk: `${event.occurredAt}#${event.webhookId}`,
          }
        : { unprocessableReason: request.unprocessableReason, gsi1pk: 'UNPROCESSABLE', gsi1sk: `${request.receivedAt}#${request.webhookId}` }),
    };
    // A body in the body store stays there: the item keeps its pointer. A body that would make the
    // item cost more than one write unit goes to an item of its own, written once (see putBody).
    const inline = request.bodyRef ? { bodyRef: pointerItem(request.bodyRef) } : { body: request.body };
    // Stryker disable next-line EqualityOperator: equivalent in effect because an item of exactly 1,024 bytes costs 1 unit kept either way (`>=` only moves one size's body apart)
    const apart = !request.bodyRef && approximateItemBytes({ ...webhookKey(request.webhookId), ...fields, ...inline, deliveryIds: new Set([request.deliveryId]) }) + LATER_FIELDS_BYTES > ONE_WRITE_UNIT_BYTES;
    const firstOnly: Record<string, unknown> = { ...fields, ...(apart ? { bodyApart: true } : inline) };
    const names = Object.fromEntries(Object.keys(firstOnly).map((k) => [`#${k}`, k]));
    const values = Object.fromEntries(Object.entries(firstOnly).map(([k, v]) => [`:${k}`, v]));
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: webhookKey(request.webhookId),
          UpdateExpression: `ADD #deliveries :delivery SET ${Object.keys(firstOnly).map((k) => `#${k} = if_not_exists(#${k}, :${k})`).join(', ')}`,
          // The same id with another body must not be counted as a delivery of this one.
          ConditionExpression: 'attribute_not_exists(#bodyHash) OR #bodyHash = :bodyHash',
          ExpressionAttributeNames: { ...names, '#deliveries': 'deliveryIds' },
          ExpressionAttributeValues: { ...values, ':delivery': new Set([request.deliveryId]) },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const item = toClaimedItem(Attributes ?? {});
      const decision = decideClaim(item, request.deliveryId, now, firstOnly.leaseUntil as number);
      if (decision === 'duplicate') return { kind: 'duplicate', deliveries: item.deliveries };
      if ((decision === 'takeover' || decision === 'renew') && !(await this.takeOver(request, item, now))) return { kind: 'busy' };
      if (decision === 'busy') return { kind: 'busy' };
      // The owner stores the body the first delivery chose to keep apart, before anything else is
      // done with the webhook; a crash before or during this write leaves it to the next owner.
      if (Attributes && isBodyApart(Attributes)) await this.putBody(request, Number(Attributes.expiresAt));
      return { kind: 'process' };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      await this.keepMismatch(request);
      return { kind: 'mismatch' };
    }
  }

  /** Writes a webhook's body in its own item, compressed when that makes it smaller. Idempotent. */
  private async putBody(request: ClaimRequest, expiresAt: number): Promise<void> {
    await this.db.send(
      new PutCommand({
        TableName: this.options.tableName,
        Item: { ...bodyKey(request.webhookId), entity: 'body', ...encodeBody(request.body), expiresAt },
      }),
    );
  }

  /**
   * The owner's lease ran out (it crashed): take the claim, unless another delivery just did. Also
   * how the owner renews its own lease on a redelivery (`:previous` is then itself).
   */
  private async takeOver(request: ClaimRequest, item: ClaimedItem, now: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: webhookKey(request.webhookId),
          UpdateExpression: 'SET #owner = :me, leaseUntil = :lease',
          ConditionExpression: '#owner = :previous AND leaseUntil = :previousLease',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':me': request.deliveryId, ':lease': now + this.options.leaseMs, ':previous': item.owner, ':previousLease': item.leaseUntil },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Keeps a copy whose body differs from the first one seen with its id, for inspection. */
  private async keepMismatch(request: ClaimRequest): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.options.tableName,
        Key: { [TABLE_KEYS.partition]: `WEBHOOK#${request.webhookId}`, [TABLE_KEYS.sort]: `MISMATCH#${request.bodyHash}` },
        UpdateExpression:
          `ADD deliveryIds :delivery SET entity = :entity, webhookId = :id, ${request.bodyRef ? 'bodyRef = if_not_exists(bodyRef, :body)' : 'body = if_not_exists(body, :body)'}, receivedAt = if_not_exists(receivedAt, :receivedAt), expiresAt = if_not_exists(expiresAt, :expiresAt), gsi1pk = :index, gsi1sk = :sort`,
        ExpressionAttributeValues: {
          ':delivery': new Set([request.deliveryId]),
          ':entity': 'mismatch',
          ':id': request.webhookId,
          ':body': request.bodyRef ? pointerItem(request.bodyRef) : request.body,
          ':receivedAt': request.receivedAt,
          ':expiresAt': Math.floor(this.now() / 1000) + this.options.retentionSeconds,
          ':index': 'MISMATCH',
          ':sort': `${request.receivedAt}#${request.webhookId}`,
        },
      }),
    );
  }

  async updateConnection(connectionId: string, update: (state: ConnectionState) => Applied): Promise<Applied> {
    const attempts = this.options.maxStateAttempts ?? 8;
    for (let attempt = 1; ; attempt++) {
      const { Item } = await this.db.send(new GetCommand({ TableName: this.options.tableName, Key: connectionKey(connectionId), ConsistentRead: true }));
      const version = typeof Item?.version === 'number' ? Item.version : 0;
      const applied = update(Item ? toState(Item) : initialState(connectionId));
      if (!applied.changed) return applied;
      try {
        await this.db.send(
          new PutCommand({
            TableName: this.options.tableName,
            Item: { ...connectionKey(connectionId), entity: 'connection', ...applied.state, version: version + 1 },
            // Optimistic concurrency: another event of this connection may have been applied meanwhile.
            ConditionExpression: version === 0 ? 'attribute_not_exists(pk)' : 'version = :version',
            ...(version === 0 ? {} : { ExpressionAttributeValues: { ':version': version } }),
          }),
        );
        return applied;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || attempt >= attempts) throw error;
      }
    }
  }

  async complete(webhookId: string, outcome: { readonly stale: boolean }): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.options.tableName,
        Key: webhookKey(webhookId),
        UpdateExpression: 'SET #status = :done, stale = :stale, completedAt = if_not_exists(completedAt, :now)',
        ExpressionAttributeNames: { '#status': 'status' },
        ExpressionAttributeValues: { ':done': 'DONE', ':stale': outcome.stale, ':now': new Date(this.now()).toISOString() },
      }),
    );
  }

  async noteFailure(webhookId: string, error: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: webhookKey(webhookId),
          UpdateExpression: 'SET lastError = :error, lastErrorAt = :at',
          ConditionExpression: 'attribute_exists(pk)', // never create an item just to hold an error
          ExpressionAttributeValues: { ':error': error.slice(0, 1000), ':at': new Date(this.now()).toISOString() },
        }),
      );
    } catch {
      // best effort: the failure itself is what SQS retries
    }
  }

  async requestPolls(connectionIds: readonly string[], requestedAt: string): Promise<void> {
    // One small write per connection; a notification names a handful, so 25 at a time is plenty.
    // Stryker disable next-line EqualityOperator: equivalent because `<=` only adds a last pass at i === length, whose slice is empty and writes nothing (hidden with it: the killed `>=`)
    for (let i = 0; i < connectionIds.length; i += 25) {
      await Promise.all(
        connectionIds.slice(i, i + 25).map(async (connectionId) => {
          try {
            await this.db.send(
              new UpdateCommand({
                TableName: this.options.tableName,
                Key: pollKey(connectionId),
                UpdateExpression: 'SET entity = :entity, connectionId = :id, pollRequestedAt = :at',
                // A notification processed late must not replace a newer request with an older one.
                ConditionExpression: 'attribute_not_exists(pollRequestedAt) OR pollRequestedAt < :at',
                ExpressionAttributeValues: { ':entity': 'poll', ':id': connectionId, ':at': requestedAt },
              }),
            );
          } catch (error) {
            if (!(error instanceof ConditionalCheckFailedException)) throw error;
          }
        }),
      );
    }
  }

  async getConnection(connectionId: string): Promise<ConnectionState | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.options.tableName, Key: connectionKey(connectionId), ConsistentRead: true }));
    return Item ? toState(Item) : undefined;
  }

  async getWebhook(webhookId: string): Promise<StoredWebhook | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.options.tableName, Key: webhookKey(webhookId), ConsistentRead: true }));
    if (!Item) return undefined;
    if (!isBodyApart(Item)) return toStoredWebhook(Item);
    // Stryker disable next-line BooleanLiteral: dynalite has no consistency model to tell a consistent read from another (DynamoDB does: the body item is written before its webhook is processed)
    const { Item: body } = await this.db.send(new GetCommand({ TableName: this.options.tableName, Key: bodyKey(webhookId), ConsistentRead: true }));
    return toStoredWebhook(Item, body);
  }

  /**
   * State and poll record of each connection, in BatchGetItem pages of 100 keys (50 connections),
   * retrying what DynamoDB leaves unprocessed.
   */
  async loadCandidates(connectionIds: readonly string[]): Promise<Candidate[]> {
    const found = await this.batchGet(connectionIds.flatMap((id) => [connectionKey(id), pollKey(id)]));
    return connectionIds.map((connectionId) => {
      const state = found.get(`CONNECTION#${connectionId}|STATE`);
      const poll = found.get(`CONNECTION#${connectionId}|POLL`);
      return { connectionId, ...(state && { state: toState(state) }), ...(poll && { poll: toPollRecord(poll) }) };
    });
  }

  /** Items by key (`pk|sk` → item), in BatchGetItem pages of 100 keys, retrying what DynamoDB leaves unprocessed. */
  private async batchGet(keys: readonly Record<string, unknown>[]): Promise<Map<string, Record<string, unknown>>> {
    const found = new Map<string, Record<string, unknown>>();
    // Stryker disable next-line EqualityOperator: equivalent because `<=` only adds a last pass at i === length, whose slice is empty and reads nothing (hidden with it: the `>=`, which timed out)
    for (let i = 0; i < keys.length; i += 100) {
      let pending: Record<string, unknown>[] = keys.slice(i, i + 100);
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** attempt)));
        const { Responses, UnprocessedKeys } = await this.db.send(new BatchGetCommand({ RequestItems: { [this.options.tableName]: { Keys: pending } } }));
        for (const item of Responses?.[this.options.tableName] ?? []) found.set(keyString(item), item);
        pending = (UnprocessedKeys?.[this.options.tableName]?.Keys as Record<string, unknown>[] | undefined) ?? [];
        if (attempt >= 8 && pending.length > 0) throw new Error(`DynamoDB left ${pending.length} keys unprocessed after ${attempt + 1} attempts`);
      }
    }
    return found;
  }

  /**
   * Writes the poller's record, leaving `pollRequestedAt` to the consumer, which may set it meanwhile.
   * The record is indexed under `POLLED` (keys unchanged by later writes, so they cost the index
   * nothing), which is how the poller finds connections it knew that Makini no longer lists.
   */
  async savePollRecord(record: PollRecord): Promise<void> {
    const { pollRequestedAt: _requested, ...fields } = record;
    const values: Record<string, unknown> = { entity: 'poll', ...fields, [TABLE_KEYS.indexPartition]: POLLED_PARTITION, [TABLE_KEYS.indexSort]: record.connectionId };
    const absent = POLL_RECORD_OPTIONAL.filter((name) => values[name] === undefined);
    for (const name of absent) delete values[name];
    await this.db.send(
      new UpdateCommand({
        TableName: this.options.tableName,
        Key: pollKey(record.connectionId),
        UpdateExpression: `SET ${Object.keys(values).map((k) => `#${k} = :${k}`).join(', ')}${absent.length > 0 ? ` REMOVE ${absent.map((k) => `#${k}`).join(', ')}` : ''}`,
        ExpressionAttributeNames: Object.fromEntries([...Object.keys(values), ...absent].map((k) => [`#${k}`, k])),
        ExpressionAttributeValues: Object.fromEntries(Object.entries(values).map(([k, v]) => [`:${k}`, v])),
      }),
    );
  }

  /**
   * Takes the poller's run lease until `until` (ms), unless another run holds an unexpired one: two
   * runs at once (a manual poll during a scheduled one) would refresh the same token pairs twice.
   */
  async acquirePollLease(owner: string, now: number, until: number): Promise<boolean> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: POLL_LEASE_KEY,
          UpdateExpression: 'SET entity = :entity, #owner = :owner, leaseUntil = :until',
          ConditionExpression: 'attribute_not_exists(leaseUntil) OR leaseUntil < :now',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':entity': 'poll-lease', ':owner': owner, ':until': until, ':now': now },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** Gives the lease back, if this run still holds it. */
  async releasePollLease(owner: string): Promise<void> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: POLL_LEASE_KEY,
          UpdateExpression: 'SET leaseUntil = :zero',
          ConditionExpression: '#owner = :owner',
          ExpressionAttributeNames: { '#owner': 'owner' },
          ExpressionAttributeValues: { ':owner': owner, ':zero': 0 },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /** Every connection the poller has a record of (deleted ones included), from the `POLLED` index partition. */
  async listPolledConnectionIds(): Promise<string[]> {
    return (await this.indexEntries(POLLED_PARTITION, Number.POSITIVE_INFINITY, true)).map((item) => String(item[TABLE_KEYS.indexSort]));
  }

  /**
   * Every connection with its state and poll record, for `makini-webhooks status`. A Scan: meant for
   * operators (the Lambdas are not granted it), fine for thousands of connections.
   */
  async listConnections(): Promise<Candidate[]> {
    const byId = new Map<string, { connectionId: string; state?: ConnectionState; poll?: PollRecord }>();
    for (const item of await this.scan('entity IN (:connection, :poll)', { ':connection': 'connection', ':poll': 'poll' })) {
      const connectionId = String(item.pk).slice('CONNECTION#'.length);
      const entry = byId.get(connectionId) ?? { connectionId };
      if (item.entity === 'connection') entry.state = toState(item);
      else entry.poll = toPollRecord(item);
      byId.set(connectionId, entry);
    }
    return [...byId.values()].sort((a, b) => a.connectionId.localeCompare(b.connectionId));
  }

  /** Processed events of every connection, and those of none, newest first by event time (a Scan, for operators). */
  async listAllEvents(limit = 50): Promise<StoredWebhook[]> {
    const items = await this.scan('entity = :webhook AND attribute_exists(occurredAt)', { ':webhook': 'webhook' });
    const newest = items
      .sort((a, b) => String(b.occurredAt).localeCompare(String(a.occurredAt)) || String(b.webhookId).localeCompare(String(a.webhookId)))
      .slice(0, limit);
    return this.withBodies(newest);
  }

  /** Stored webhooks from their items, with the bodies kept apart read back (BatchGetItem, 100 keys a page). */
  private async withBodies(items: readonly Record<string, unknown>[]): Promise<StoredWebhook[]> {
    // Stryker disable next-line MethodExpression: equivalent in result because a body is looked up only for items kept apart; reading every item's body key costs reads, not correctness
    const bodies = await this.batchGet(items.filter(isBodyApart).map((item) => bodyKey(String(item.webhookId))));
    return items.map((item) => toStoredWebhook(item, bodies.get(keyString(bodyKey(String(item.webhookId))))));
  }

  private async scan(filter: string, values: Record<string, unknown>): Promise<Record<string, unknown>[]> {
    const items: Record<string, unknown>[] = [];
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(new ScanCommand({ TableName: this.options.tableName, FilterExpression: filter, ExpressionAttributeValues: values, ExclusiveStartKey }));
      // Stryker disable next-line ArrayDeclaration: equivalent because DynamoDB's Scan always answers Items (absent only with Select: COUNT, never used here)
      items.push(...(page.Items ?? []));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
    return items;
  }

  /**
   * A connection's processed events (with `undefined`: those of no connection), newest first by event
   * time; with `range`, only those that happened from `since` to `until` (event times, both included),
   * read by the index's sort key, so a range is complete however many newer events there are.
   */
  async listEvents(connectionId: string | undefined, limit = 50, range?: { readonly since: string; readonly until?: string }): Promise<StoredWebhook[]> {
    // A range that ends before it starts holds nothing (and DynamoDB refuses a BETWEEN the wrong way round).
    if (range?.until !== undefined && range.until < range.since) return [];
    // The sort key is `<occurredAt>#<id>`: `$` sorts right after `#`, so `<until>$` bounds every id of `until`.
    const keys = range && { from: range.since, ...(range.until !== undefined && { to: `${range.until}$` }) };
    return this.withBodies(await this.queryIndex(connectionId === undefined ? NO_CONNECTION_PARTITION : `CONNECTION#${connectionId}`, limit, keys));
  }

  /** Copies that arrived with a known id but a different body, newest first. */
  async listMismatches(limit = 50): Promise<{ webhookId: string; receivedAt: string; body: Uint8Array; bodyRef?: BodyPointer; deliveries: number }[]> {
    return (await this.queryIndex('MISMATCH', limit)).map((i) => ({ webhookId: String(i.webhookId), receivedAt: String(i.receivedAt), ...storedBody(i), deliveries: deliveryCount(i) }));
  }

  /** Up to `limit` index entries (keys only) of one partition, in sort-key order or reversed; with `keys`, only sort keys from `from` (to `to`). */
  private async indexEntries(partition: string, limit: number, forward: boolean, keys?: SortKeyRange): Promise<Record<string, unknown>[]> {
    const entries: Record<string, unknown>[] = [];
    const sortCondition = keys === undefined ? '' : keys.to === undefined ? ` AND ${TABLE_KEYS.indexSort} >= :from` : ` AND ${TABLE_KEYS.indexSort} BETWEEN :from AND :to`;
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.options.tableName,
          IndexName: TABLE_KEYS.byConnectionIndex,
          KeyConditionExpression: `${TABLE_KEYS.indexPartition} = :pk${sortCondition}`,
          ExpressionAttributeValues: { ':pk': partition, ...(keys && { ':from': keys.from }), ...(keys?.to !== undefined && { ':to': keys.to }) },
          ScanIndexForward: forward,
          ...(Number.isFinite(limit) && { Limit: limit - entries.length }),
          ExclusiveStartKey,
        }),
      );
      // Stryker disable next-line ArrayDeclaration: equivalent because DynamoDB's Query always answers Items (absent only with Select: COUNT, never used here)
      entries.push(...(page.Items ?? []));
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey && entries.length < limit);
    return entries;
  }

  /**
   * Items of one index partition, newest first. The index holds keys only (a write that leaves the
   * keys alone then costs the index nothing), so the items are read from the table by key.
   */
  private async queryIndex(partition: string, limit: number, range?: SortKeyRange): Promise<Record<string, unknown>[]> {
    const keys = (await this.indexEntries(partition, limit, false, range)).map((item) => ({ [TABLE_KEYS.partition]: item[TABLE_KEYS.partition], [TABLE_KEYS.sort]: item[TABLE_KEYS.sort] }));
    const found = await this.batchGet(keys);
    return keys.flatMap((key): Record<string, unknown>[] => {
      const item = found.get(keyString(key));
      return item ? [item] : [];
    });
  }
}

/** Index sort keys from `from`, and up to `to` when it is given (both included). */
interface SortKeyRange {
  readonly from: string;
  readonly to?: string;
}

/** Optional fields of a poll record, removed from the item when a new record lacks them. */
const POLL_RECORD_OPTIONAL = ['lastPolledAt', 'lastOutcome', 'lastError', 'openedAt', 'deletedAt', 'reportedStatus', 'reportedSyncStatus'] as const;

/** The poller's run lease: one run at a time. */
const POLL_LEASE_KEY = { [TABLE_KEYS.partition]: 'POLLER', [TABLE_KEYS.sort]: 'LEASE' };

/** Index partition of poll records: the connections the poller knows. */
const POLLED_PARTITION = 'POLLED';

const deliveryCount = (item: Record<string, unknown>) => (item.deliveryIds as Set<string> | undefined)?.size ?? 0;
const contentKeyItem = (contentKey: string) => ({ [TABLE_KEYS.partition]: `CONTENT#${contentKey}`, [TABLE_KEYS.sort]: 'GENERATION' });

/**
 * A generations item with its generations. As a list of maps a generation takes 63 bytes, so a
 * record notified again and again, more than a window apart each time, would take its item past 1 KB
 * at its 14th generation and to 2.2 KB at the 32 kept (`MAX_GENERATIONS`): 2, then 3 write units for
 * each new one. Past one unit they are kept as numbers instead, two a generation (`start` in ms since
 * the epoch, then how many ms before it `from` is), so 32 fit in about 500 bytes: 1 unit. An item
 * that fits one unit keeps the maps, which is all earlier versions read (CHANGELOG: rolling back). So do starts
 * that would not read back as the same string: a generation's `start` is part of its event's id
 * (a `from` is only ever read as a time, so any form of it may go).
 */
export function withGenerations(item: Record<string, unknown>, generations: readonly Generation[]): Record<string, unknown> {
  const asMaps = { ...item, generations };
  // Stryker disable next-line EqualityOperator: equivalent in cost because an item of exactly 1,024 bytes is 1 unit in either form (`<` only moves that one size to numbers)
  if (approximateItemBytes(asMaps) <= ONE_WRITE_UNIT_BYTES || !generations.every((g) => isCanonicalTime(g.start))) return asMaps;
  return { ...item, generationTimes: generations.flatMap((g) => [Date.parse(g.start), Date.parse(g.start) - Date.parse(g.from)]) };
}

/** A generations item's generations, in whichever form {@link withGenerations} wrote them. */
export function readGenerations(item: Record<string, unknown>): Generation[] {
  if (Array.isArray(item.generationTimes)) {
    const times = item.generationTimes as number[];
    return Array.from({ length: times.length / 2 }, (_, i) => ({ start: new Date(times[2 * i]).toISOString(), from: new Date(times[2 * i] - times[2 * i + 1]).toISOString() }));
  }
  return Array.isArray(item.generations) ? (item.generations as Generation[]) : [];
}

const isCanonicalTime = (time: string): boolean => {
  const ms = Date.parse(time);
  return Number.isFinite(ms) && new Date(ms).toISOString() === time;
};
/** An item's key as one string: how `batchGet` indexes what it found. */
const keyString = (key: Record<string, unknown>) => `${String(key[TABLE_KEYS.partition])}|${String(key[TABLE_KEYS.sort])}`;
const webhookKey = (webhookId: string) => ({ [TABLE_KEYS.partition]: `WEBHOOK#${webhookId}`, [TABLE_KEYS.sort]: 'WEBHOOK' });
const bodyKey = (webhookId: string) => ({ [TABLE_KEYS.partition]: `WEBHOOK#${webhookId}`, [TABLE_KEYS.sort]: 'BODY' });
const connectionKey = (connectionId: string) => ({ [TABLE_KEYS.partition]: `CONNECTION#${connectionId}`, [TABLE_KEYS.sort]: 'STATE' });
const pollKey = (connectionId: string) => ({ [TABLE_KEYS.partition]: `CONNECTION#${connectionId}`, [TABLE_KEYS.sort]: 'POLL' });

function toPollRecord(item: Record<string, unknown>): PollRecord {
  const { pk: _pk, sk: _sk, entity: _entity, [TABLE_KEYS.indexPartition]: _index, [TABLE_KEYS.indexSort]: _sort, ...record } = item;
  return { pending: {}, consecutiveFailures: 0, ...record } as unknown as PollRecord;
}

function toClaimedItem(item: Record<string, unknown>): ClaimedItem {
  return {
    status: item.status === 'DONE' ? 'DONE' : 'PROCESSING',
    owner: String(item.owner),
    leaseUntil: Number(item.leaseUntil),
    deliveries: deliveryCount(item),
  };
}

function toState(item: Record<string, unknown>): ConnectionState {
  const { pk: _pk, sk: _sk, entity: _entity, version: _version, ...state } = item;
  // State written before event times had nine fractional digits holds `…00.123Z`, which would sort
  // after `…00.123000000Z`: read it in today's form so every comparison is between equals.
  for (const field of EVENT_TIME_FIELDS) {
    if (typeof state[field] === 'string') state[field] = parseEventTime(state[field]) ?? state[field];
  }
  return state as unknown as ConnectionState;
}

/** The fields of a connection's state that hold event times (`lastWebhookAt` is a receive time). */
const EVENT_TIME_FIELDS = ['statusAt', 'lastSyncAt', 'lastEventAt'] as const;

/** A stored webhook from its item and, for one whose body is kept apart, the body's item (absent until its owner wrote it). */
function toStoredWebhook(item: Record<string, unknown>, bodyItem?: Record<string, unknown>): StoredWebhook {
  return {
    webhookId: String(item.webhookId),
    status: item.status === 'DONE' ? 'DONE' : 'PROCESSING',
    deliveries: deliveryCount(item),
    receivedAt: String(item.receivedAt),
    ...(isBodyApart(item) ? (bodyItem ? { body: decodeBody(bodyItem) } : { body: new Uint8Array(), bodyMissing: true as const }) : storedBody(item)),
    ...(['type', 'occurredAt', 'connectionId', 'source', 'unprocessableReason', 'lastError'] as const).reduce(
      (acc, key) => (typeof item[key] === 'string' ? { ...acc, [key]: item[key] } : acc),
      {},
    ),
    ...(typeof item.stale === 'boolean' && { stale: item.stale }),
  };
}

/** The body of an item, or, for one in the body store, an empty body and its pointer. */
function storedBody(item: Record<string, unknown>): { body: Uint8Array; bodyRef?: BodyPointer } {
  if (isBodyPointer(item.bodyRef)) return { body: new Uint8Array(), bodyRef: pointerItem(item.bodyRef) };
  return { body: item.body as Uint8Array };
}

const pointerItem = ({ key, bytes, sha256 }: BodyPointer): BodyPointer => ({ key, bytes, sha256 });

/**
 * DynamoDB bills each write of an item by the item's whole size, per KB, and an update by the larger
 * of before and after: a webhook item over 1 KB costs 2 or more units at its claim, its completion
 * and every duplicate's claim. Its body is kept apart when it would take the item past this.
 */
const ONE_WRITE_UNIT_BYTES = 1024;

/**
 * What later writes add to a webhook item: the completion's fields (its status shrinks to `DONE`),
 * and one more delivery (an SQS message id). An item that would pass 1 KB only later keeps its body:
 * a third delivery, or the failure note a copy that found it busy writes (`lastError`, up to about
 * 150 bytes), then costs 2 units, where keeping bodies apart further from the line would cost every
 * webhook near it a write.
 */
const LATER_FIELDS_BYTES = 'stale'.length + 1 + 'completedAt'.length + 24 + 36 - ('PROCESSING'.length - 'DONE'.length);

/**
 * The size DynamoDB gives an item, or slightly more: each attribute's name plus its value's bytes
 * (a number: 2 bytes plus one per two significant digits; a list or a map: 3 bytes plus its
 * elements, each with 1 byte more). Only where a body or generations are kept, and in which form,
 * depends on it, never correctness.
 */
export function approximateItemBytes(item: Record<string, unknown>): number {
  const valueBytes = (value: unknown): number => {
    if (typeof value === 'string') return Buffer.byteLength(value);
    if (typeof value === 'number') return 2 + Math.ceil((String(Math.abs(value)).replace('.', '').replace(/^0+|0+$/g, '').length || 1) / 2) + (value < 0 ? 1 : 0);
    if (typeof value === 'boolean') return 1;
    if (value instanceof Uint8Array) return value.length;
    if (value instanceof Set) return [...value].reduce((n: number, v) => n + valueBytes(v), 0);
    // A list or a map: 3 bytes, and 1 more per element (a map's element: its name and value).
    if (Array.isArray(value)) return value.reduce((n: number, v) => n + 1 + valueBytes(v), 3);
    if (typeof value === 'object' && value !== null) return Object.entries(value).reduce((n, [name, v]) => n + 1 + Buffer.byteLength(name) + valueBytes(v), 3);
    return value === null ? 1 : 0;
  };
  return Object.entries(item).reduce((n, [name, value]) => n + Buffer.byteLength(name) + valueBytes(value), 0);
}

/**
 * Whether a webhook item's body is in its body item. An item another version wrote may carry both
 * marks (a claim's `if_not_exists` adds `bodyApart` to an item written with its body inline, and the
 * other way round): a body in the item itself wins.
 */
function isBodyApart(item: Record<string, unknown>): boolean {
  // Stryker disable next-line ConditionalExpression: `item.bodyApart === true` made `true` is equivalent because every webhook item holds one of `body`, `bodyRef` or `bodyApart` (the claim writes one)
  return item.bodyApart === true && item.body === undefined && item.bodyRef === undefined;
}

/** A body item's fields: the body compressed (raw DEFLATE) when that makes it smaller, else as it is. */
function encodeBody(body: Uint8Array): { body: Uint8Array; encoding?: 'deflate-raw' } {
  const deflated = deflateRawSync(body);
  // Stryker disable next-line EqualityOperator: equivalent because a compressed body of the same length costs the same, and reads back the same
  return deflated.length < body.length ? { body: deflated, encoding: 'deflate-raw' } : { body };
}

function decodeBody(item: Record<string, unknown>): Uint8Array {
  const body = item.body as Uint8Array;
  return item.encoding === 'deflate-raw' ? new Uint8Array(inflateRawSync(body)) : body;
}
