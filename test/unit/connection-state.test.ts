import fc from 'fast-check';
import { applyEvent, initialState, withoutTransition, type ConnectionState } from '../../lambdas/core/connection-state';
import type { MakiniEvent } from '../../lambdas/core/event';

let n = 0;
function event(type: string, at: string, overrides: Partial<MakiniEvent> = {}): MakiniEvent {
  return { webhookId: `evt_${String(++n).padStart(4, '0')}`, type, occurredAt: at, timeSource: 'body', connectionId: 'conn_1', data: {}, source: 'webhook', receivedAt: '2026-11-22T05:00:00.000Z', ...overrides };
}
const status = (s: 'online' | 'offline', at: string, o: Partial<MakiniEvent> = {}) => event('connection.status_changed', at, { data: { status: s }, ...o });
const fold = (events: readonly MakiniEvent[]) => events.reduce((state, e) => applyEvent(state, e).state, initialState('conn_1'));

describe('a transition whose publish failed', () => {
  it('is written with the state, and handed back when its event is applied again (the retry), so it is published after all', () => {
    const reauth = event('connection.reauthorization_required', '2026-01-01T00:00:00.000Z');
    const first = applyEvent(fold([status('online', '2025-12-31T00:00:00.000Z')]), reauth);
    expect(first.transition).toEqual({ from: 'online', to: 'reauthorization_required' });
    expect(first.state.lastTransition).toEqual({ eventId: reauth.webhookId, from: 'online', to: 'reauthorization_required' });
    // PutEvents failed; the message is retried and finds the state already moved.
    const retry = applyEvent(first.state, reauth);
    expect(retry).toMatchObject({ changed: false, transition: { from: 'online', to: 'reauthorization_required' } });
  });

  it('is not published again once a later event moved the status on (no stale notification)', () => {
    const reauth = event('connection.reauthorization_required', '2026-01-01T00:00:00.000Z');
    const back = status('online', '2026-01-01T00:05:00.000Z');
    const written = fold([status('online', '2025-12-31T00:00:00.000Z'), reauth, back]);
    expect(applyEvent(written, reauth).transition).toBeUndefined();
    expect(applyEvent(written, back).transition).toEqual({ from: 'reauthorization_required', to: 'online' });
  });
});

describe('applyEvent', () => {
  it('moves status with status events and sync fields with sync events', () => {
    const state = fold([status('offline', '2026-01-01T00:00:00.000Z'), event('sync.failed', '2026-01-01T00:01:00.000Z')]);
    expect(state).toMatchObject({ status: 'offline', lastSyncStatus: 'failed', lastSyncAt: '2026-01-01T00:01:00.000Z', lastEventAt: '2026-01-01T00:01:00.000Z' });
  });

  it('sets reauthorization_required and reports the transition', () => {
    const online = fold([status('online', '2026-01-01T00:00:00.000Z')]);
    const applied = applyEvent(online, event('connection.reauthorization_required', '2026-01-01T00:05:00.000Z'));
    expect(applied.state.status).toBe('reauthorization_required');
    expect(applied.transition).toEqual({ from: 'online', to: 'reauthorization_required' });
    expect(applied.stale).toBe(false);
  });

  it('marks an older event stale and changes nothing it governs', () => {
    const newer = fold([status('online', '2026-01-01T00:10:00.000Z'), event('sync.completed', '2026-01-01T00:10:00.000Z')]);
    const oldStatus = applyEvent(newer, status('offline', '2026-01-01T00:00:00.000Z'));
    expect(oldStatus.stale).toBe(true);
    expect(oldStatus.state.status).toBe('online');
    expect(oldStatus.transition).toBeUndefined();
    const oldSync = applyEvent(newer, event('sync.failed', '2026-01-01T00:00:00.000Z'));
    expect(oldSync.stale).toBe(true);
    expect(oldSync.state.lastSyncStatus).toBe('completed');
  });

  it('keeps a status event that is older than a sync event current for status', () => {
    const state = fold([event('sync.completed', '2026-01-01T00:10:00.000Z')]);
    const applied = applyEvent(state, status('offline', '2026-01-01T00:00:00.000Z'));
    expect(applied.stale).toBe(false);
    expect(applied.state.status).toBe('offline');
    expect(applied.state.lastEventAt).toBe('2026-01-01T00:10:00.000Z');
  });

  it('breaks equal times by webhook id, whatever the order', () => {
    const a = status('online', '2026-01-01T00:00:00.000Z', { webhookId: 'evt_a' });
    const b = status('offline', '2026-01-01T00:00:00.000Z', { webhookId: 'evt_b' });
    expect(fold([a, b]).status).toBe('offline');
    expect(fold([b, a]).status).toBe('offline');
  });

  it('counts only webhooks, not polls, in lastWebhookAt', () => {
    const state = fold([
      status('online', '2026-01-01T00:00:00.000Z', { receivedAt: '2026-01-01T00:00:01.000Z' }),
      status('offline', '2026-01-01T00:01:00.000Z', { source: 'poll', receivedAt: '2026-01-01T00:09:00.000Z' }),
    ]);
    expect(state.lastWebhookAt).toBe('2026-01-01T00:00:01.000Z');
    expect(state.status).toBe('offline');
  });

  it('forwards unknown types without touching status or sync', () => {
    const applied = applyEvent(initialState('conn_1'), event('billing.updated', '2026-01-01T00:00:00.000Z'));
    expect(applied.state).toMatchObject({ status: 'unknown', lastEventAt: '2026-01-01T00:00:00.000Z' });
    expect(applied.state.lastSyncAt).toBeUndefined();
  });
});

describe('connection state properties', () => {
  const types = ['connection.status_changed:online', 'connection.status_changed:offline', 'connection.reauthorization_required', 'sync.completed', 'sync.failed', 'system.error'];
  const arbEvent = fc.record({
    kind: fc.constantFrom(...types),
    minute: fc.integer({ min: 0, max: 5 }), // few distinct times: many ties
    id: fc.integer({ min: 0, max: 30 }),
    poll: fc.boolean(),
    receivedSecond: fc.integer({ min: 0, max: 59 }),
  }).map(({ kind, minute, id, poll, receivedSecond }): MakiniEvent => {
    const [type, s] = kind.split(':');
    return {
      webhookId: `evt_${id}`,
      type,
      occurredAt: `2026-01-01T00:0${minute}:00.000Z`,
      timeSource: 'body',
      connectionId: 'conn_1',
      data: s ? { status: s } : {},
      source: poll ? 'poll' : 'webhook',
      receivedAt: `2026-01-01T01:00:${String(receivedSecond).padStart(2, '0')}.000Z`,
    };
  });
  // One webhook id always means one event: deliveries of it are copies.
  const arbHistory = fc.uniqueArray(arbEvent, { selector: (e) => e.webhookId, minLength: 1, maxLength: 12 });
  const inOrder = (events: readonly MakiniEvent[]) => [...events].sort((a, b) => (a.occurredAt === b.occurredAt ? (a.webhookId < b.webhookId ? -1 : 1) : a.occurredAt < b.occurredAt ? -1 : 1));

  it('reaches the in-order state from any order of deliveries, with any duplicates', () => {
    fc.assert(
      fc.property(arbHistory, fc.array(fc.nat(), { maxLength: 12 }), fc.nat(), (events, dupIdx, seed) => {
        const deliveries = [...events, ...dupIdx.map((i) => events[i % events.length])];
        const shuffled = fc.sample(fc.shuffledSubarray(deliveries, { minLength: deliveries.length, maxLength: deliveries.length }), { seed, numRuns: 1 })[0];
        expect(withoutTransition(fold(shuffled))).toEqual(withoutTransition(fold(inOrder(events))));
      }),
      { numRuns: 500, seed: 20261122 },
    );
  });

  it('ignores a second application of the same event, but for the transition it made, which it hands back to be published again', () => {
    fc.assert(
      fc.property(arbHistory, fc.nat(), (events, i) => {
        const state: ConnectionState = fold(events);
        const event = events[i % events.length];
        const again = applyEvent(state, event);
        expect(again.state).toEqual(state);
        expect(again.changed).toBe(false);
        const made = state.lastTransition?.eventId === event.webhookId ? state.lastTransition : undefined;
        if (made) expect(again.transition).toEqual({ from: made.from, to: made.to });
        else expect(again.transition).toBeUndefined();
      }),
      { numRuns: 300, seed: 20261122 },
    );
  });
});

describe('a key written only in part (a time without its event id, or an id without its time)', () => {
  const half: ConnectionState[] = [
    { connectionId: 'conn_1', status: 'offline', statusAt: '2026-11-22T06:00:00.000000000Z', lastEventAt: '2026-11-22T06:00:00.000000000Z' },
    { connectionId: 'conn_1', status: 'offline', statusEventId: 'evt_zzzz', lastEventId: 'evt_zzzz' },
  ];

  it.each(half)('counts as no key: an earlier event is applied, is not stale, and leaves the key whole (%#)', (state) => {
    const earlier = status('online', '2026-11-22T05:00:00.000000000Z');
    const applied = applyEvent(state, earlier);
    expect(applied.stale).toBe(false);
    expect(applied.state).toMatchObject({ status: 'online', statusAt: earlier.occurredAt, statusEventId: earlier.webhookId, lastEventAt: earlier.occurredAt, lastEventId: earlier.webhookId });
  });
});
