/**
 * The consumer's story of one queued webhook, free of AWS: claim its id, apply it to its
 * connection, record it, and hand it to the bus. Every step is idempotent, so a crash between any
 * two steps is repaired by the retry SQS makes anyway.
 *
 * Why not Powertools idempotency: it would keep a second record per webhook next to the history
 * item, cost a read plus a write per duplicate where this design costs one write (the claim below
 * also counts the delivery), and cannot keep a copy whose body differs for inspection.
 */
import { createHash } from 'node:crypto';
import { MAX_STORABLE_BODY_BYTES } from '../config/config';
import { readPointedBody, type BodyPointer, type BodyStore } from './body-store';
import { applyEvent, type Applied, type ConnectionState } from './connection-state';
import { decodeEnvelope, InvalidEnvelopeError, type WebhookEnvelope } from './envelope';
import { normaliseEvent, POLL_EVENT_FIELDS, type EventFields, type MakiniEvent } from './event';
import type { DedupBy } from './webhook-id';

/** What the store found when a delivery claimed its webhook id. */
export type Claim =
  /** Process it: the first delivery, a retry of the delivery that owns it, or a takeover after a crash. */
  | { readonly kind: 'process' }
  /** Already fully processed; this delivery was counted. */
  | { readonly kind: 'duplicate'; readonly deliveries: number }
  /** Another delivery of the same id is being processed right now; retry later. */
  | { readonly kind: 'busy' }
  /** The same id arrived earlier with a different body; this copy was kept aside. */
  | { readonly kind: 'mismatch' };

export interface ClaimRequest {
  readonly webhookId: string;
  /** The SQS message id: deliveries are counted as distinct message ids. */
  readonly deliveryId: string;
  readonly bodyHash: string;
  /** The body; empty when it is in the body store (`bodyRef`), where the history item points. */
  readonly body: Uint8Array;
  readonly bodyRef?: BodyPointer;
  readonly receivedAt: string;
  /** Absent for an unprocessable message. */
  readonly event?: MakiniEvent;
  readonly unprocessableReason?: string;
}

export interface EventStore {
  /**
   * The id of the event a copy deduplicated by content belongs to: the copy joins the event whose
   * earliest copy was received within the retry window of it, or starts a new one (see
   * content-dedup.ts).
   */
  resolveContentId(contentKey: string, receivedAt: string): Promise<string>;
  claim(request: ClaimRequest): Promise<Claim>;
  /** Reads, applies and writes the connection's state, retrying on concurrent writers. */
  updateConnection(connectionId: string, update: (state: ConnectionState) => Applied): Promise<Applied>;
  /** Marks the webhook processed, with what processing found. Idempotent. */
  complete(webhookId: string, outcome: { readonly stale: boolean }): Promise<void>;
  /** Remembers why processing a known webhook failed, for `dlq list`. Best effort. */
  noteFailure?(webhookId: string, error: string): Promise<void>;
  /** The id {@link resolveContentId} gives, or would give, a copy, without writing anything. */
  findContentId?(contentKey: string, receivedAt: string): Promise<string>;
  /** Asks the poller to poll these connections at its next run. Idempotent. */
  requestPolls(connectionIds: readonly string[], requestedAt: string): Promise<void>;
}

/** `source` of every event this project puts on the bus; customer rules match on it. */
export const BUS_SOURCE = 'makini.webhooks';

/** EventBridge's longest `detail-type`; a longer one fails the whole PutEvents call it is in. */
const MAX_DETAIL_TYPE = 128;

/**
 * The bus `detail-type` of an event type: the type itself, or for one longer than EventBridge takes,
 * its first 119 characters, `~` and 8 hex digits of its hash (the full type stays in the detail).
 *
 * @example
 * busDetailType('assets.updated'); // 'assets.updated'
 */
export function busDetailType(type: string): string {
  if (type.length > 0 && type.length <= MAX_DETAIL_TYPE) return type;
  return `${type.slice(0, MAX_DETAIL_TYPE - 9)}~${createHash('sha256').update(type).digest('hex').slice(0, 8)}`;
}

/** Where a body in the body store is: its bucket, key, size and hash. */
export interface StoredBodyRef extends BodyPointer {
  readonly bucket: string;
}

/** What the bus receives for every newly processed event: the event and the state it led to (none without a connection). */
export interface BusMessage {
  readonly event: MakiniEvent;
  readonly state?: ConnectionState;
  readonly stale: boolean;
  readonly transition?: Applied['transition'];
  /** Set when the body is in the body store: the bus event then carries this instead of the body's fields. */
  readonly bodyRef?: StoredBodyRef;
}

/**
 * The bus `detail` of a message. An event whose body is in the body store carries the pointer
 * (`bodyRef`: bucket, key, bytes, sha256) instead of what came from the body (`data` is empty,
 * `ids` absent, `dataOmitted: true`), so it fits EventBridge's 256 KB whatever the body's size.
 *
 * @example
 * busDetail({ event, stale: false, bodyRef: { bucket, key, bytes: 5_000_000, sha256 } }).bodyRef.bytes; // 5000000
 */
export function busDetail(message: BusMessage): Record<string, unknown> {
  if (!message.bodyRef) return { ...message };
  const { ids: _ids, ...event } = message.event;
  return { ...message, event: { ...event, data: {} }, dataOmitted: true };
}

export type RecordOutcome =
  | { readonly kind: 'processed'; readonly webhookId: string; readonly connectionId?: string; readonly message: BusMessage }
  | { readonly kind: 'duplicate'; readonly webhookId: string; readonly deliveries: number }
  | { readonly kind: 'unprocessable'; readonly webhookId: string; readonly reason: string }
  | { readonly kind: 'mismatch'; readonly webhookId: string };

/** Thrown when another delivery of the same webhook holds it; the record is retried later. */
export class WebhookBusyError extends Error {
  constructor(webhookId: string) {
    super(`webhook ${webhookId} is being processed by another delivery`);
    this.name = 'WebhookBusyError';
  }
}

export interface QueuedMessage {
  /** The SQS message id. */
  readonly deliveryId: string;
  readonly body: string;
}

/** A webhook this delivery now owns: next, its event is applied to its connection. */
export interface ClaimedMessage {
  readonly kind: 'claimed';
  readonly webhookId: string;
  readonly event: MakiniEvent;
  /** Where its body is, when it is in the body store. */
  readonly bodyRef?: StoredBodyRef;
}

/**
 * Processes one queue message up to, not including, publishing and completion: those happen per
 * batch (see {@link finishProcessed}) so the bus gets one call per batch, not per webhook.
 *
 * @example
 * const outcome = await processMessage({ deliveryId: record.messageId, body: record.body }, store, config);
 */
export async function processMessage(message: QueuedMessage, store: EventStore, fields: EventFields, bodies?: Pick<BodyStore, 'get' | 'bucket'>): Promise<RecordOutcome> {
  const claimed = await claimMessage(message, store, fields, bodies);
  return claimed.kind === 'claimed' ? applyClaimed(claimed, store) : claimed;
}

/**
 * The first half of {@link processMessage}: claims the webhook. Duplicates, mismatches and
 * unprocessable messages end here; a claimed one goes on to {@link applyClaimed}. A batch claims
 * all its records first, then applies them together, so one connection's events share one state
 * write (see coalesce.ts).
 */
export async function claimMessage(
  message: QueuedMessage,
  store: Pick<EventStore, 'claim' | 'complete' | 'resolveContentId'>,
  fields: EventFields,
  bodies?: Pick<BodyStore, 'get' | 'bucket'>,
): Promise<Exclude<RecordOutcome, { kind: 'processed' }> | ClaimedMessage> {
  const pointed = await readQueuedBody(message, bodies);
  const parsed = await withContentId(parseMessage(message, fields, pointed), store);
  const claim = await store.claim({ ...parsed, deliveryId: message.deliveryId });
  switch (claim.kind) {
    case 'busy':
      throw new WebhookBusyError(parsed.webhookId);
    case 'mismatch':
      return { kind: 'mismatch', webhookId: parsed.webhookId };
    case 'duplicate':
      return { kind: 'duplicate', webhookId: parsed.webhookId, deliveries: claim.deliveries };
    // Stryker disable next-line ConditionalExpression: equivalent because the case only ends the switch, as falling out of it does
    case 'process':
      break;
  }
  if (!parsed.event) {
    await store.complete(parsed.webhookId, { stale: false });
    return { kind: 'unprocessable', webhookId: parsed.webhookId, reason: parsed.unprocessableReason ?? 'unknown' };
  }
  return { kind: 'claimed', webhookId: parsed.webhookId, event: parsed.event, ...(parsed.bodyRef && bodies && { bodyRef: { bucket: bodies.bucket, ...parsed.bodyRef } }) };
}

/**
 * The body of a message whose envelope points to the body store, read back and checked; `undefined`
 * for an inline body. Throws (and SQS retries) when the store cannot give it.
 */
async function readQueuedBody(message: QueuedMessage, bodies: Pick<BodyStore, 'get'> | undefined): Promise<Buffer | undefined> {
  const { bodyRef } = readEnvelope(message);
  if (!bodyRef) return undefined;
  if (!bodies) throw new Error(`webhook body at ${bodyRef.key} is in the body store, and no body store is configured`);
  return readPointedBody(bodies, bodyRef);
}

/**
 * The second half of {@link processMessage}: applies a claimed webhook's event to its connection
 * (an event without one changes no state), and marks the connections a `connections.*`
 * notification names for a status poll.
 */
export async function applyClaimed(claimed: ClaimedMessage, store: Pick<EventStore, 'updateConnection' | 'requestPolls'>): Promise<Extract<RecordOutcome, { kind: 'processed' }>> {
  const { event } = claimed;
  const pointer = claimed.bodyRef && { bodyRef: claimed.bodyRef };
  if (event.entity === CONNECTIONS_ENTITY && event.ids && event.ids.length > 0) await store.requestPolls(event.ids, event.receivedAt);
  const { connectionId } = event;
  if (connectionId === undefined) return { kind: 'processed', webhookId: event.webhookId, message: { event, stale: false, ...pointer } };
  const applied = await store.updateConnection(connectionId, (state) => applyEvent(state, event));
  return {
    kind: 'processed',
    webhookId: event.webhookId,
    connectionId,
    message: { event, state: applied.state, stale: applied.stale, ...(applied.transition && { transition: applied.transition }), ...pointer },
  };
}

/** Makini's connection-status notifications (`connections.updated`, …) name connection keys. */
export const CONNECTIONS_ENTITY = 'connections';

/** Marks a processed webhook complete once the bus accepted it. */
export async function finishProcessed(outcome: Extract<RecordOutcome, { kind: 'processed' }>, store: EventStore): Promise<void> {
  await store.complete(outcome.webhookId, { stale: outcome.message.stale });
}

type ParsedMessage = Omit<ClaimRequest, 'deliveryId'> & { readonly dedup: DedupBy };

/**
 * A copy deduplicated by content carries its content key; the event it belongs to has its own id
 * (the key and the time its first copy was received), so one body can be many events over time.
 */
async function withContentId(parsed: ParsedMessage, store: Pick<EventStore, 'resolveContentId'>): Promise<ParsedMessage> {
  if (parsed.dedup !== 'content') return parsed;
  const webhookId = await store.resolveContentId(parsed.webhookId, parsed.receivedAt);
  return { ...parsed, webhookId, ...(parsed.event && { event: { ...parsed.event, webhookId } }) };
}

/**
 * The event id a queued message stands for, without claiming it: its webhook id, or for a copy
 * deduplicated by content the id of the event it belongs to (falling back to the content key).
 */
export async function messageEventId(message: QueuedMessage, store: Pick<EventStore, 'findContentId'>): Promise<string> {
  const { webhookId, dedup, receivedAt } = readEnvelope(message);
  if (dedup !== 'content' || !store.findContentId) return webhookId;
  return store.findContentId(webhookId, receivedAt).catch(() => webhookId);
}

/**
 * Whether a queued message is a webhook our receiver accepted (`webhook`), an event the poller
 * synthesized (`poll`), or neither (a message none of ours wrote).
 */
export function messageOrigin(message: Pick<QueuedMessage, 'body'>): 'webhook' | 'poll' | undefined {
  const { envelope } = readEnvelope({ deliveryId: '', body: message.body });
  if (!envelope) return undefined;
  return envelope.scheme === 'poll' ? 'poll' : 'webhook';
}

/**
 * Decodes the envelope and normalises the body (poll events with the poller's own fields). Never
 * throws: what it cannot read is unprocessable. `pointed`: the body read back from the body store,
 * for an envelope that points there (the parsed message then keeps the pointer, not the body).
 */
export function parseMessage(message: QueuedMessage, fields: EventFields, pointed?: Buffer): ParsedMessage {
  const read = readEnvelope(message);
  if (!read.envelope) return { ...read, bodyHash: sha256(read.body), unprocessableReason: read.invalid };
  const { envelope, bodyRef } = read;
  if (bodyRef && !pointed) return { ...read, bodyHash: bodyRef.sha256, unprocessableReason: 'the body in the body store was not read' };
  const body = pointed ?? read.body;
  if (!bodyRef && body.length > MAX_STORABLE_BODY_BYTES) {
    // Not one of ours (the receiver caps bodies below this): keep its start, as for unreadable messages.
    const { kept, note } = keepStart(body);
    return { ...read, body: kept, bodyHash: sha256(body), unprocessableReason: `the body is larger than one history item holds${note}` };
  }
  const poll = envelope.scheme === 'poll';
  const normalised = normaliseEvent(
    body,
    { webhookId: envelope.webhookId, receivedAt: envelope.receivedAt, source: poll ? 'poll' : 'webhook', ...(envelope.connectionId !== undefined && { connectionId: envelope.connectionId }) },
    poll ? POLL_EVENT_FIELDS : fields,
  );
  return {
    webhookId: read.webhookId,
    dedup: read.dedup,
    bodyHash: sha256(body),
    ...(bodyRef ? { body: Buffer.alloc(0), bodyRef } : { body }),
    receivedAt: read.receivedAt,
    ...(normalised.ok ? { event: normalised.event } : { unprocessableReason: normalised.reason }),
  };
}

/**
 * A queued message's key fields. A message our receiver or poller did not write is kept whole,
 * keyed by its content, with why it could not be read.
 */
function readEnvelope(message: QueuedMessage):
  | { webhookId: string; dedup: DedupBy; receivedAt: string; body: Buffer; bodyRef?: BodyPointer; envelope: WebhookEnvelope; invalid?: undefined }
  | { webhookId: string; dedup: DedupBy; receivedAt: string; body: Buffer; bodyRef?: undefined; envelope?: undefined; invalid: string } {
  try {
    const { envelope, body, bodyRef } = decodeEnvelope(message.body);
    return { webhookId: envelope.webhookId, dedup: envelope.dedup ?? 'id', receivedAt: envelope.receivedAt, body, ...(bodyRef && { bodyRef }), envelope };
  } catch (error) {
    // Stryker disable next-line ConditionalExpression: equivalent because decodeEnvelope throws nothing but InvalidEnvelopeError (hidden with it: the killed `true`)
    if (!(error instanceof InvalidEnvelopeError)) throw error;
    const raw = Buffer.from(message.body, 'utf8');
    const { kept, note } = keepStart(raw);
    return { webhookId: `sha256:${sha256(raw)}`, dedup: 'id', receivedAt: new Date(0).toISOString(), body: kept, invalid: `${error.message}${note}` };
  }
}

/** Bytes of an unreadable queue message kept in its history item (which holds 400 KB in all). */
export const UNREADABLE_KEPT_BYTES = 262_144;

/**
 * SQS carries up to 1 MiB, a DynamoDB item 400 KB: the start of a larger body, and a note saying so
 * (empty when it fits).
 */
function keepStart(body: Buffer): { kept: Buffer; note: string } {
  const kept = body.subarray(0, UNREADABLE_KEPT_BYTES);
  return { kept, note: kept.length < body.length ? ` (body truncated: first ${kept.length} of ${body.length} bytes kept)` : '' };
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The claim-relevant fields of a stored webhook, as the claim write returned them. */
export interface ClaimedItem {
  readonly status: 'PROCESSING' | 'DONE';
  /** The delivery that created the claim, or took it over. */
  readonly owner: string;
  /** Epoch ms until which the owner's processing is presumed alive. */
  readonly leaseUntil: number;
  readonly deliveries: number;
}

/**
 * What a delivery does with the webhook item its claim returned.
 *
 * @example
 * decideClaim({ status: 'PROCESSING', owner: 'm1', leaseUntil: now + 30_000, deliveries: 2 }, 'm2', now, now + 30_000); // 'busy'
 *
 * `ownLease`: the lease this claim would have written; the item holds it only if this claim created it.
 * `renew`: the owner's own delivery again after its lease ran out (SQS redelivers after 6x the
 * consumer timeout): it processes only after renewing its lease, so that a copy arriving meanwhile
 * cannot take the claim over and process the webhook a second time. While the lease runs, another
 * copy of the same SQS message (at-least-once delivery keeps its message id) waits like any copy.
 */
export function decideClaim(item: ClaimedItem, deliveryId: string, now: number, ownLease: number): 'process' | 'duplicate' | 'busy' | 'takeover' | 'renew' {
  if (item.status === 'DONE') return 'duplicate';
  if (item.owner === deliveryId && item.leaseUntil === ownLease) return 'process';
  if (item.leaseUntil > now) return 'busy';
  return item.owner === deliveryId ? 'renew' : 'takeover';
}
