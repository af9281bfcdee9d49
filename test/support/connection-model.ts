/**
 * An independent model of a connection's state, for property tests: written from the definition
 * (docs/dynamodb-design.md, connection-state.ts's header), not from the code, so a bug the code
 * makes symmetrically (a flipped comparison) cannot hide in the expected value too.
 *
 * Each field is that of one event picked from the set of events seen, however they arrived:
 * - `status…`: the status event (status_changed online/offline, reauthorization_required) with the
 *   greatest (occurredAt, webhookId); `unknown` when there is none;
 * - `lastSync…`: the sync event (sync.completed / sync.failed) with the greatest (occurredAt, webhookId);
 * - `lastEvent…`: the event of any type with the greatest (occurredAt, webhookId);
 * - `lastWebhookAt`: the latest receivedAt of the events that came as webhooks (polls excluded).
 * Times are ISO strings of one width here, so string order is time order.
 */
export interface ModelEvent {
  readonly webhookId: string;
  readonly type: string;
  readonly occurredAt: string;
  readonly data: Readonly<Record<string, unknown>>;
  readonly source: 'webhook' | 'poll';
  readonly receivedAt: string;
}

export type ModelKind = { status: 'online' | 'offline' | 'reauthorization_required' } | { sync: 'completed' | 'failed' } | 'other';

export function kindOf(e: ModelEvent): ModelKind {
  if (e.type === 'connection.reauthorization_required') return { status: 'reauthorization_required' };
  if (e.type === 'connection.status_changed' && (e.data.status === 'online' || e.data.status === 'offline')) return { status: e.data.status };
  if (e.type === 'sync.completed') return { sync: 'completed' };
  if (e.type === 'sync.failed') return { sync: 'failed' };
  return 'other';
}

/** Whether `a` comes after `b` in (occurredAt, webhookId) order. */
export function after(a: ModelEvent, b: ModelEvent): boolean {
  if (a.occurredAt !== b.occurredAt) return a.occurredAt > b.occurredAt;
  return a.webhookId > b.webhookId;
}

/** The greatest element, by `after`. */
function greatest(events: readonly ModelEvent[]): ModelEvent | undefined {
  let best: ModelEvent | undefined;
  for (const e of events) if (best === undefined || after(e, best)) best = e;
  return best;
}

export function modelState(connectionId: string, seen: readonly ModelEvent[]): Record<string, unknown> {
  const statusEvent = greatest(seen.filter((e) => { const k = kindOf(e); return k !== 'other' && 'status' in k; }));
  const syncEvent = greatest(seen.filter((e) => { const k = kindOf(e); return k !== 'other' && 'sync' in k; }));
  const lastEvent = greatest(seen);
  const webhookTimes = seen.filter((e) => e.source === 'webhook').map((e) => e.receivedAt).sort();
  const state: Record<string, unknown> = { connectionId, status: 'unknown' };
  if (statusEvent) Object.assign(state, { status: (kindOf(statusEvent) as { status: string }).status, statusAt: statusEvent.occurredAt, statusEventId: statusEvent.webhookId });
  if (syncEvent) Object.assign(state, { lastSyncAt: syncEvent.occurredAt, lastSyncStatus: (kindOf(syncEvent) as { sync: string }).sync, syncEventId: syncEvent.webhookId });
  if (lastEvent) Object.assign(state, { lastEventAt: lastEvent.occurredAt, lastEventId: lastEvent.webhookId });
  if (webhookTimes.length > 0) state.lastWebhookAt = webhookTimes[webhookTimes.length - 1];
  return state;
}

/**
 * Whether applying `e` after `seen` is stale: an event of its kind (status, sync; for an event of
 * neither, any event) that comes strictly after it was already seen.
 */
export function modelStale(e: ModelEvent, seen: readonly ModelEvent[]): boolean {
  const k = kindOf(e);
  const sameKind = (x: ModelEvent) => {
    const kx = kindOf(x);
    if (k === 'other') return true;
    return kx !== 'other' && ('status' in k ? 'status' in kx : 'sync' in kx);
  };
  return seen.some((x) => sameKind(x) && after(x, e));
}
