/**
 * Realistic Makini webhook payloads (docs/makini-wire-format.md). Used by `makini-webhooks send`,
 * `simulate`, the local stack's examples and tests.
 *
 * Makini's documented webhook is a notification: `{"event": "assets.updated", "body": [ids]}`
 * ({@link sampleNotification}). The richer lifecycle events ({@link sampleEvent}: sync,
 * reauthorization, status, system error, with id, time and connection) are what Makini's
 * integration pages describe; the receiver handles both.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { MakiniEventType } from '../lambdas/core/event-types';

/**
 * Notification names. Makini's docs list sites, assets, purchase orders and work orders (inserted,
 * updated), and on an unmerged branch connection statuses (also deleted), materials and locations.
 * Only `assets.updated` is spelled out; the others follow it, with the API's plural path names.
 */
export const NOTIFICATION_EVENTS = [
  'assets.updated',
  'assets.inserted',
  'sites.updated',
  'sites.inserted',
  'work-orders.updated',
  'work-orders.inserted',
  'purchase-orders.updated',
  'purchase-orders.inserted',
  'materials.updated',
  'locations.updated',
  'connections.updated',
  'connections.inserted',
  'connections.deleted',
] as const;

export interface MakiniNotification {
  readonly event: string;
  readonly body: readonly string[];
}

/**
 * A notification as Makini sends it: an event name and the ids of the changed records.
 *
 * @example
 * JSON.stringify(sampleNotification('assets.updated')); // {"event":"assets.updated","body":["16c6…","418e…"]}
 */
export function sampleNotification(event: string, ids: readonly string[] = [randomUUID(), randomUUID()]): MakiniNotification {
  return { event, body: [...ids] };
}

export interface SampleOptions {
  /** @default `evt_<uuid>` */
  readonly id?: string;
  /** @default 'conn_demo' */
  readonly connectionId?: string;
  /** ISO-8601 time the event happened. @default now */
  readonly timestamp?: string;
}

export interface MakiniEventPayload {
  readonly id: string;
  readonly type: string;
  readonly timestamp: string;
  readonly connection_id: string;
  readonly data: Record<string, unknown>;
}

/**
 * @example
 * JSON.stringify(sampleEvent('connection.status_changed', { connectionId: 'conn_42' }));
 */
export function sampleEvent(type: MakiniEventType, options: SampleOptions = {}): MakiniEventPayload {
  const timestamp = options.timestamp ?? new Date().toISOString();
  const at = Date.parse(timestamp);
  const minutes = (n: number) => new Date(at + n * 60_000).toISOString();
  const id = options.id ?? `evt_${randomUUID()}`;
  // Ids inside the payload derive from the event id: one event id always means one body.
  const derived = (prefix: string) => `${prefix}_${createHash('sha256').update(id).digest('hex').slice(0, 20)}`;
  return { id, type, timestamp, connection_id: options.connectionId ?? 'conn_demo', data: sampleData(type, minutes, derived) };
}

function sampleData(type: MakiniEventType, minutes: (n: number) => string, derived: (prefix: string) => string): Record<string, unknown> {
  switch (type) {
    case 'sync.completed':
      return { sync_id: derived('sync'), status: 'completed', started_at: minutes(-4), completed_at: minutes(0), records_synced: 1284, next_scheduled_sync: minutes(60) };
    case 'sync.failed':
      return {
        sync_id: derived('sync'),
        status: 'failed',
        started_at: minutes(-2),
        failed_at: minutes(0),
        errors: [{ code: 'UPSTREAM_TIMEOUT', type: 'integration_error', message: 'The connected system did not answer within 60 s.' }],
        next_scheduled_sync: minutes(15),
      };
    case 'connection.reauthorization_required':
      return { reason: 'token_expired', message: 'The connection token expired; the customer must reconnect.' };
    case 'connection.status_changed':
      return { status: 'offline', previous_status: 'online', reason: 'upstream_unreachable' };
    case 'system.error':
      return { code: 'INTERNAL_ERROR', type: 'api_error', severity: 'high', message: 'Makini could not process a scheduled job for this connection.', request_id: derived('req') };
  }
}

/**
 * A notification exactly `bytes` long (from about 150 bytes), naming as many record ids as fit:
 * Makini's largest bodies are lists of ids. Trailing whitespace pads it, which changes nothing JSON reads.
 *
 * @example
 * largeNotification(4_500_000, 'evt_big').length; // 4500000
 */
export function largeNotification(bytes: number, id: string, connectionId = 'conn_big'): Buffer {
  // `{…,"body":` + `[` + n ids of 12 bytes and n-1 commas + `]` + padding + `}`.
  const head = JSON.stringify({ id, event: 'assets.updated', connection_id: connectionId, timestamp: '2026-11-22T05:00:00Z', body: [] }).slice(0, -3);
  const count = Math.max(0, Math.floor((bytes - head.length - 3 + 1) / 13) - 1);
  const ids = Array.from({ length: count }, (_, i) => `"a${String(i).padStart(9, '0')}"`);
  const json = `${head}[${ids.join(',')}]`;
  return Buffer.from(`${json}${' '.repeat(Math.max(0, bytes - json.length - 1))}}`);
}
