/**
 * One typed event from a raw Makini message, whatever its source (webhook or poll).
 *
 * Makini adds fields and types without notice: unknown fields are kept in `data`-adjacent form and
 * never fail parsing, and unknown types are kept and forwarded unchanged.
 */
export type EventSource = 'webhook' | 'poll';

export interface MakiniEvent {
  readonly webhookId: string;
  /** Makini's event type, known or not. */
  readonly type: string;
  /** ISO-8601 (UTC, milliseconds) time the event happened at Makini. */
  readonly occurredAt: string;
  readonly connectionId: string;
  /** Event-specific details, as Makini sent them. */
  readonly data: Readonly<Record<string, unknown>>;
  readonly source: EventSource;
  /** ISO-8601 time our receiver (or poller) accepted it. */
  readonly receivedAt: string;
}

export type Normalised = { readonly ok: true; readonly event: MakiniEvent } | { readonly ok: false; readonly reason: string };

const TYPE_FIELDS = ['type', 'eventType', 'event_type'] as const;
const CONNECTION_FIELDS = ['connection_id', 'connectionId'] as const;
const TIME_FIELDS = ['timestamp', 'occurredAt', 'occurred_at', 'createdAt', 'created_at'] as const;
const RESERVED = new Set<string>(['id', 'data', ...TYPE_FIELDS, ...CONNECTION_FIELDS, ...TIME_FIELDS]);

/**
 * Normalises a raw body with the default Makini mapping: `id`, `type`, `timestamp` (ISO-8601) and
 * `connection_id`, accepting the aliases `eventType`, `connectionId`, `occurredAt` and `createdAt`.
 * Top-level fields beyond these are kept inside `data`, so nothing Makini adds is lost.
 *
 * @example
 * const result = normaliseEvent(body, { webhookId: 'evt_1', receivedAt, source: 'webhook' });
 * if (!result.ok) storeUnprocessable(result.reason);
 */
export function normaliseEvent(body: Uint8Array, meta: { webhookId: string; receivedAt: string; source: EventSource }): Normalised {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body).toString('utf8'));
  } catch {
    return { ok: false, reason: 'the body is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, reason: 'the body is not a JSON object' };
  const raw = parsed as Record<string, unknown>;

  const type = firstString(raw, TYPE_FIELDS);
  if (!type) return { ok: false, reason: 'no event type (type, eventType)' };
  const connectionId = firstString(raw, CONNECTION_FIELDS);
  if (!connectionId) return { ok: false, reason: 'no connection id (connection_id, connectionId)' };
  if (connectionId.length > 256) return { ok: false, reason: 'the connection id is longer than 256 characters' };
  const time = firstString(raw, TIME_FIELDS);
  if (!time) return { ok: false, reason: 'no timestamp (timestamp, occurredAt, createdAt)' };
  const occurredAt = toIsoTime(time);
  if (!occurredAt) return { ok: false, reason: `the timestamp is not ISO-8601: ${JSON.stringify(time.slice(0, 40))}` };

  const data = typeof raw.data === 'object' && raw.data !== null && !Array.isArray(raw.data) ? (raw.data as Record<string, unknown>) : {};
  const extra = Object.fromEntries(Object.entries(raw).filter(([key]) => !RESERVED.has(key)));
  if (type === 'connection.status_changed' && data.status !== 'online' && data.status !== 'offline') {
    return { ok: false, reason: 'connection.status_changed needs data.status online or offline' };
  }
  return {
    ok: true,
    event: { webhookId: meta.webhookId, type, occurredAt, connectionId, data: { ...extra, ...data }, source: meta.source, receivedAt: meta.receivedAt },
  };
}

function firstString(raw: Record<string, unknown>, fields: readonly string[]): string | undefined {
  for (const field of fields) {
    const value = raw[field];
    if (typeof value === 'string' && value.trim() !== '') return value.trim();
  }
  return undefined;
}

/** ISO-8601 with a date and time, normalised to UTC milliseconds so strings sort by time. */
function toIsoTime(text: string): string | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}
