import fc from 'fast-check';
import { DEFAULT_CONFIG } from '../../lambdas/config/config';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { initialState, withoutTransition } from '../../lambdas/core/connection-state';
import { finishProcessed, processMessage, WebhookBusyError } from '../../lambdas/core/consume';
import { encodeEnvelope } from '../../lambdas/core/envelope';
import { modelState, type ModelEvent } from '../support/connection-model';
import { startDynalite, type LocalDynamo } from '../support/dynalite';

let dynamo: LocalDynamo;
let store: DynamoDbEventStore;
beforeAll(async () => {
  dynamo = await startDynalite();
  store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 86_400, leaseMs: 60_000 });
});
afterAll(async () => dynamo.close());

const KINDS = ['online', 'offline', 'reauth', 'sync.completed', 'sync.failed'] as const;
let run = 0;

describe('consumer on DynamoDB, property-based', () => {
  it('ends, for any order and duplication of deliveries, in the in-order state, with each webhook applied once', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.record({ id: fc.integer({ min: 0, max: 40 }), kind: fc.constantFrom(...KINDS), minute: fc.integer({ min: 0, max: 4 }), conn: fc.constantFrom('a', 'b') }), {
          selector: (e) => e.id,
          minLength: 1,
          maxLength: 8,
        }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.nat(),
        fc.integer({ min: 1, max: 4 }),
        async (specs, dupIdx, seed, wave) => {
          const prefix = `r${++run}`;
          const bodies = specs.map((s) => {
            const type = s.kind === 'reauth' ? 'connection.reauthorization_required' : s.kind.startsWith('sync') ? s.kind : 'connection.status_changed';
            return JSON.stringify({ id: `${prefix}_evt_${s.id}`, type, timestamp: `2026-11-22T05:0${s.minute}:00Z`, connection_id: `${prefix}_${s.conn}`, data: s.kind === 'online' || s.kind === 'offline' ? { status: s.kind } : {} });
          });
          // Each webhook is received at its own time (its copies share it), so lastWebhookAt has a maximum to find.
          const receivedAt = (body: string) => `2026-11-22T06:00:${String(bodies.indexOf(body)).padStart(2, '0')}.000Z`;
          const copies = [...bodies, ...dupIdx.map((i) => bodies[i % bodies.length])].map((body, i) => ({
            deliveryId: `${prefix}_msg_${i}`,
            body: encodeEnvelope({ webhookId: JSON.parse(body).id, receivedAt: receivedAt(body), scheme: 'makini', requestId: 'r' }, Buffer.from(body)),
          }));
          let pending = fc.sample(fc.shuffledSubarray(copies, { minLength: copies.length, maxLength: copies.length }), { seed, numRuns: 1 })[0];

          // Deliveries arrive in concurrent waves; a busy one is redelivered in a later wave, as SQS does.
          while (pending.length > 0) {
            const current = pending.slice(0, wave);
            const results = await Promise.allSettled(
              current.map(async (m) => {
                const outcome = await processMessage(m, store, DEFAULT_CONFIG);
                if (outcome.kind === 'processed') await finishProcessed(outcome, store);
              }),
            );
            const retry = current.filter((_, i) => results[i].status === 'rejected');
            for (const r of results) if (r.status === 'rejected' && !(r.reason instanceof WebhookBusyError)) throw r.reason;
            pending = [...pending.slice(wave), ...retry];
          }

          // The expected state comes from the independent model (test/support/connection-model.ts),
          // never from applyEvent: the greatest (time, id) of each kind, the latest webhook receipt.
          for (const conn of ['a', 'b']) {
            const connectionId = `${prefix}_${conn}`;
            const events: ModelEvent[] = specs.flatMap((s, i) => {
              if (s.conn !== conn) return [];
              const body = JSON.parse(bodies[i]) as { id: string; type: string; data: Record<string, unknown> };
              return [{ webhookId: body.id, type: body.type, occurredAt: `2026-11-22T05:0${s.minute}:00.000000000Z`, data: body.data, source: 'webhook' as const, receivedAt: receivedAt(bodies[i]) }];
            });
            const stored = await store.getConnection(connectionId);
            expect(withoutTransition(stored ?? initialState(connectionId))).toEqual(events.length > 0 ? modelState(connectionId, events) : initialState(connectionId));
            expect((await store.listEvents(connectionId, 100)).length).toBe(events.length);
          }
          for (const body of new Set(copies.map((c) => c.body))) {
            const webhookId = JSON.parse(body).webhookId as string;
            const stored = await store.getWebhook(webhookId);
            expect(stored?.status).toBe('DONE');
            expect(stored?.deliveries).toBe(copies.filter((c) => c.body === body).length);
          }
        },
      ),
      { numRuns: 25, seed: 20261122 },
    );
  });
});
