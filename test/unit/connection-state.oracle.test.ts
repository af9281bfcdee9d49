import fc from 'fast-check';
import { applyEvent, initialState, withoutTransition, type ConnectionState } from '../../lambdas/core/connection-state';
import type { MakiniEvent } from '../../lambdas/core/event';
import { modelStale, modelState } from '../support/connection-model';

/**
 * connection-state.ts against the independent model of test/support/connection-model.ts: the
 * expected state is never computed with `applyEvent`, so a comparison flipped in the code (the
 * issue-19 mutant that made lastWebhookAt the oldest webhook) shows as a difference.
 */
const TYPES = ['connection.status_changed:online', 'connection.status_changed:offline', 'connection.status_changed:degraded', 'connection.reauthorization_required', 'sync.completed', 'sync.failed', 'system.error'];
const arbEvent = fc
  .record({
    kind: fc.constantFrom(...TYPES),
    minute: fc.integer({ min: 0, max: 5 }), // few distinct times: many ties, broken by id
    id: fc.integer({ min: 0, max: 40 }),
    poll: fc.boolean(),
    receivedSecond: fc.integer({ min: 0, max: 59 }),
  })
  .map(({ kind, minute, id, poll, receivedSecond }): MakiniEvent => {
    const [type, status] = kind.split(':');
    return {
      webhookId: `evt_${String(id).padStart(2, '0')}`,
      type,
      occurredAt: `2026-01-01T00:0${minute}:00.000000000Z`,
      timeSource: 'body',
      connectionId: 'conn_1',
      data: status ? { status } : {},
      source: poll ? 'poll' : 'webhook',
      receivedAt: `2026-01-01T01:00:${String(receivedSecond).padStart(2, '0')}.000Z`,
    };
  });
const arbHistory = fc.uniqueArray(arbEvent, { selector: (e) => e.webhookId, minLength: 1, maxLength: 12 });
const arbDeliveries = fc
  .tuple(arbHistory, fc.array(fc.nat(), { maxLength: 12 }), fc.nat())
  .map(([events, dupIdx, seed]) => {
    const deliveries = [...events, ...dupIdx.map((i) => events[i % events.length])];
    return fc.sample(fc.shuffledSubarray(deliveries, { minLength: deliveries.length, maxLength: deliveries.length }), { seed, numRuns: 1 })[0];
  });

describe('connection state against an independent model', () => {
  it('ends, for any order and duplication of deliveries, in the state the model picks: the greatest (time, id) of each kind, the latest webhook receipt', () => {
    fc.assert(
      fc.property(arbDeliveries, (deliveries) => {
        const state = deliveries.reduce((s, e) => applyEvent(s, e).state, initialState('conn_1'));
        expect(withoutTransition(state)).toEqual(modelState('conn_1', deliveries));
      }),
      { numRuns: 500, seed: 20261202 },
    );
  });

  it('marks each application stale exactly when a later event of its kind was seen, and reports a transition exactly when the status moved', () => {
    fc.assert(
      fc.property(arbDeliveries, (deliveries) => {
        let state: ConnectionState = initialState('conn_1');
        deliveries.forEach((e, i) => {
          const seen = deliveries.slice(0, i);
          const before = modelState('conn_1', seen).status;
          const after = modelState('conn_1', [...seen, e]).status;
          const applied = applyEvent(state, e);
          expect(applied.stale).toBe(modelStale(e, seen));
          if (before !== after) expect(applied.transition).toEqual({ from: before, to: after });
          else if (applied.transition) expect(applied.state.lastTransition?.eventId).toBe(e.webhookId); // a retry handing back its own transition
          expect(applied.changed).toBe(JSON.stringify(modelState('conn_1', seen)) !== JSON.stringify(modelState('conn_1', [...seen, e])));
          state = applied.state;
        });
      }),
      { numRuns: 300, seed: 20261202 },
    );
  });

  it('keeps the latest webhook receipt, not the first nor the last to arrive', () => {
    const at = (receivedAt: string, webhookId: string): MakiniEvent => ({ webhookId, type: 'system.error', occurredAt: '2026-01-01T00:00:00.000000000Z', timeSource: 'body', connectionId: 'conn_1', data: {}, source: 'webhook', receivedAt });
    const events = [at('2026-01-01T01:00:05.000Z', 'evt_a'), at('2026-01-01T01:00:09.000Z', 'evt_b'), at('2026-01-01T01:00:01.000Z', 'evt_c')];
    const state = events.reduce((s, e) => applyEvent(s, e).state, initialState('conn_1'));
    expect(state.lastWebhookAt).toBe('2026-01-01T01:00:09.000Z');
  });
});
