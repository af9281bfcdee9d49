/**
 * One typed event from a raw Makini message, whatever its source (webhook or poll).
 *
 * Every verified JSON object is an event. Makini adds fields and types without notice: unknown
 * fields are kept in `data` and never fail parsing, unknown types are kept and forwarded unchanged.
 * Makini's documented notification, `{"event": "assets.updated", "body": [ids]}`, becomes an
 * entity notification: `{type, entity, action, ids}`.
 */
import { parseEventTime, eventTimeFromMs } from './event-time';
import { asJsonObject, parseJsonBody } from './json-body';

export type EventSource = 'webhook' | 'poll';

export interface MakiniEvent {
  readonly webhookId: string;
  /** Makini's event type, known or not (`unknown` when the body names none). */
  readonly type: string;
  /** When the event happened, in the event-time form (UTC, nine fractional digits: event-time.ts). */
  readonly occurredAt: string;
  /** Where `occurredAt` came from: a field of the body, or the receive time when it has none. */
  readonly timeSource: 'body' | 'received';
  /** The connection the event belongs to: from the URL path, else the body; absent when neither says. */
  readonly connectionId?: string;
  /** Entity notifications (`assets.updated` with a list of ids): the entity, e.g. `assets`. */
  readonly entity?: string;
  /** Entity notifications: the action, e.g. `updated`. */
  readonly action?: string;
  /** Entity notifications: the ids of the records that changed (fetch them from Makini's API). */
  readonly ids?: readonly string[];
  /** Event-specific details, as Makini sent them. */
  readonly data: Readonly<Record<string, unknown>>;
  readonly source: EventSource;
  /** ISO-8601 time our receiver (or poller) accepted it. */
  readonly receivedAt: string;
}

export type Normalised = { readonly ok: true; readonly event: MakiniEvent } | { readonly ok: false; readonly reason: string };

/** Which body fields carry what; the first usable one of each list wins. */
export interface EventFields {
  readonly eventTypeFields: readonly string[];
  readonly eventTimeFields: readonly string[];
  readonly eventConnectionFields: readonly string[];
}

/**
 * The fields the poller writes its synthesized events with. Poll events are always read with
 * these, whatever the webhook settings say.
 */
export const POLL_EVENT_FIELDS: EventFields = { eventTypeFields: ['type'], eventTimeFields: ['timestamp'], eventConnectionFields: ['connection_id'] };

/**
 * `<entity>.<action>`, e.g. `assets.updated` or `purchase-orders.inserted`, each part at most 64
 * characters. The bus event carries a notification's type three times (`type`, `entity`, `action`),
 * so an unbounded one could take it past EventBridge's 256 KB whatever its body's size.
 */
const ENTITY_EVENT = /^([A-Za-z][A-Za-z0-9_-]{0,63})\.([A-Za-z][A-Za-z0-9_-]{0,63})$/;
/**
 * Whether a type names an entity notification, `<entity>.<action>` with parts of at most 64
 * characters (what `send --type` accepts).
 *
 * @example
 * isEntityEventType('assets.updated'); // true
 * isEntityEventType('sync.completed.v2'); // false
 */
export function isEntityEventType(type: string): boolean {
  return ENTITY_EVENT.test(type);
}
/** Body connection ids longer than this are not used as connection ids. */
const MAX_CONNECTION_ID_LENGTH = 256;

export interface EventMeta {
  readonly webhookId: string;
  readonly receivedAt: string;
  readonly source: EventSource;
  /** The connection named by the URL path; wins over the body's fields. */
  readonly connectionId?: string;
}

/**
 * Normalises a raw body: the type, time and connection come from the first usable field of each
 * list in `fields` (the config's `eventTypeFields`, `eventTimeFields`, `eventConnectionFields`).
 * Top-level fields beyond those are kept inside `data`, so nothing Makini adds is lost. Only a
 * body that is not a JSON object is unprocessable.
 *
 * @example
 * const result = normaliseEvent(body, { webhookId: 'evt_1', receivedAt, source: 'webhook' }, config);
 * if (result.ok) result.event.ids; // ['16c69269-…'] for {"event":"assets.updated","body":["16c69269-…"]}
 */
export function normaliseEvent(body: Uint8Array, meta: EventMeta, fields: EventFields): Normalised {
  const parsed = parseJsonBody(body);
  if (parsed === undefined) return { ok: false, reason: 'the body is not JSON' };
  const raw = asJsonObject(parsed);
  if (!raw) return { ok: false, reason: 'the body is not a JSON object' };

  const type = first(raw, fields.eventTypeFields, readString);
  const connection = first(raw, fields.eventConnectionFields, readConnectionId);
  const time = first(raw, fields.eventTimeFields, parseEventTime);
  const connectionId = meta.connectionId ?? connection?.value;
  const notification = entityNotification(type?.value ?? '', raw.body);

  // Fields read into the event leave the top level; every other one is kept in `data`.
  const data = asJsonObject(raw.data);
  const consumed = new Set<string | undefined>([type?.field, connection?.field, time?.field]);
  if (data) consumed.add('data');
  if (notification) consumed.add('body');
  if (String(raw.id) === meta.webhookId) consumed.add('id');
  const extra = Object.fromEntries(Object.entries(raw).filter(([key]) => !consumed.has(key)));
  return {
    ok: true,
    event: {
      webhookId: meta.webhookId,
      type: type?.value ?? 'unknown',
      occurredAt: time?.value ?? eventTimeFromMs(Date.parse(meta.receivedAt)),
      timeSource: time ? 'body' : 'received',
      ...(connectionId !== undefined && { connectionId }),
      ...notification,
      data: { ...extra, ...data },
      source: meta.source,
      receivedAt: meta.receivedAt,
    },
  };
}

/** `{entity, action, ids}` when `type` is `<entity>.<action>` and `body` is a list of ids. */
function entityNotification(type: string, body: unknown): { entity: string; action: string; ids: string[] } | undefined {
  const m = ENTITY_EVENT.exec(type);
  if (!m || !isIdList(body)) return undefined;
  return { entity: m[1], action: m[2], ids: body.map(String) };
}

/**
 * Whether a notification's `body` can be its list of ids: strings, and numbers that JSON.parse read
 * exactly (a number beyond 2^53 has already lost digits: it would name another record).
 *
 * @example
 * isIdList(['16c69269-…', 42]); // true
 * isIdList([1.5]); // false
 */
export function isIdList(body: unknown): body is (string | number)[] {
  return Array.isArray(body) && body.every((id) => typeof id === 'string' || Number.isSafeInteger(id));
}

/** The first of `fields` whose value `read` accepts, with the field's name. */
function first(raw: Record<string, unknown>, fields: readonly string[], read: (value: unknown) => string | undefined): { field: string; value: string } | undefined {
  for (const field of fields) {
    const value = read(raw[field]);
    if (value !== undefined) return { field, value };
  }
  return undefined;
}

const readString = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);

function readConnectionId(value: unknown): string | undefined {
  const id = typeof value === 'number' && Number.isFinite(value) ? String(value) : readString(value);
  return id !== undefined && id.length <= MAX_CONNECTION_ID_LENGTH ? id : undefined;
}
