import { createHash } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { DEFAULT_CONFIG } from '../../lambdas/config/config';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { EventBridgePublisher } from '../../lambdas/adapters/eventbridge-publisher';
import type { EventStore } from '../../lambdas/core/consume';
import { encodeEnvelope } from '../../lambdas/core/envelope';
import { withoutTransition } from '../../lambdas/core/connection-state';
import { createConsumerHandler } from '../../lambdas/consumer/consumer';
import { startLocalEventBridge, type LocalEventBridge } from '../../local/aws/eventbridge';
import { modelState } from '../support/connection-model';
import { startDynalite, type LocalDynamo } from '../support/dynalite';

/**
 * The consumer on dynalite and the local EventBridge, with each event-store call failing in turn:
 * every call the batch makes (claim, content id, state update, poll request, complete) fails once,
 * either before it reaches DynamoDB or after (the write landed, its answer was lost). SQS is played
 * by redelivering what the handler reports failed, after the visibility timeout. Whatever failed,
 * the end is the same as without faults: nothing lost (every webhook DONE, the connection state the
 * model expects, every event on the bus), nothing doubled (each webhook stored once with its one
 * delivery, applied once; an event is published twice only when the call that failed came after
 * its publish, i.e. `complete`, which is at-least-once delivery and carries the same event id).
 *
 * Not asserted: that every intermediate transition is published. A state write that landed while
 * its answer was lost leaves only the last transition it made to be handed back on the retry (see
 * `lastTransition` in connection-state.ts); the final status is always published.
 */
const METHODS = ['resolveContentId', 'claim', 'updateConnection', 'requestPolls', 'complete'] as const;
type Method = (typeof METHODS)[number];
const LEASE_MS = 30_000;

let dynamo: LocalDynamo;
let bus: LocalEventBridge;
let clock: number;
let store: DynamoDbEventStore;
beforeAll(async () => {
  dynamo = await startDynalite();
  bus = await startLocalEventBridge();
  clock = Date.parse('2026-11-22T06:00:00Z');
  store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 86_400, leaseMs: LEASE_MS, now: () => clock });
});
afterAll(async () => {
  await bus.close();
  await dynamo.close();
});

/** The store, with the `nth` call (1-based) of `method` failing once, before or after the real call. */
function faultyStore(fault?: { method: Method; nth: number; when: 'before' | 'after' }) {
  const calls: Record<string, number> = {};
  let fired = false;
  const wrapped = new Proxy(store, {
    get(target, name, receiver) {
      const value = Reflect.get(target, name, receiver) as unknown;
      if (typeof value !== 'function' || !(METHODS as readonly (string | symbol)[]).includes(name)) return typeof value === 'function' ? value.bind(target) : value;
      return async (...args: unknown[]) => {
        const n = (calls[name as string] = (calls[name as string] ?? 0) + 1);
        const hit = !fired && fault?.method === name && fault.nth === n;
        if (hit) fired = true;
        if (hit && fault.when === 'before') throw new Error(`injected ${String(name)} failure`);
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (hit) throw new Error(`injected ${String(name)} failure after the write`);
        return result;
      };
    },
  }) as EventStore;
  return { wrapped, calls, fired: () => fired };
}

/** One scenario's batch: its own ids and connections, so scenarios share the table and the bus. */
function scenario(prefix: string) {
  const a = `${prefix}_conn_a`;
  const b = `${prefix}_conn_b`;
  const updates = [
    { id: `${prefix}_evt_1`, type: 'connection.status_changed', timestamp: '2026-11-22T05:10:00Z', connection_id: a, data: { status: 'online' } },
    { id: `${prefix}_evt_2`, type: 'connection.status_changed', timestamp: '2026-11-22T05:12:00Z', connection_id: a, data: { status: 'offline' } },
    { id: `${prefix}_evt_3`, type: 'sync.completed', timestamp: '2026-11-22T05:11:00Z', connection_id: b, data: {} },
    { id: `${prefix}_evt_4`, type: 'sync.failed', timestamp: '2026-11-22T05:13:00Z', connection_id: a, data: {} },
  ];
  // Makini's entity notification: no id, so deduplicated by content; it asks for a poll of conn a.
  const notification = { event: 'connections.updated', body: [a] };
  const receivedAt = (i: number) => `2026-11-22T06:00:0${i}.000Z`;
  const records: SQSRecord[] = [...updates, notification].map((body, i) => {
    const raw = Buffer.from(JSON.stringify(body));
    const webhookId = 'id' in body ? body.id : `sha256:${createHash('sha256').update(raw).digest('hex')}`;
    return {
      messageId: `${prefix}_msg_${i}`,
      body: encodeEnvelope({ webhookId, ...(!('id' in body) && { dedup: 'content' as const }), receivedAt: receivedAt(i), scheme: 'makini', requestId: 'r' }, raw),
      eventSource: 'aws:sqs',
    } as SQSRecord;
  });
  const events = updates.map((u, i) => ({ connectionId: u.connection_id, webhookId: u.id, type: u.type, occurredAt: u.timestamp.replace('Z', '.000000000Z'), data: u.data, source: 'webhook' as const, receivedAt: receivedAt(i) }));
  return { a, b, records, events, ids: updates.map((u) => u.id) };
}

const busEventsOf = (prefix: string) => bus.events().filter((e) => JSON.stringify(e.detail).includes(`${prefix}_`));
const webhookIdOf = (detail: unknown) => (detail as { event: { webhookId: string } }).event.webhookId;

/** Delivers the batch, then redelivers what failed after each visibility timeout, as SQS does. */
async function deliver(storeUnderTest: EventStore, records: SQSRecord[]): Promise<number> {
  const metrics = new Metrics({ namespace: 'Test', serviceName: 'consumer' });
  const publisher = new EventBridgePublisher(new EventBridgeClient({ endpoint: bus.url, maxAttempts: 1 }), 'makini-bus');
  const handle = createConsumerHandler({ store: storeUnderTest, fields: DEFAULT_CONFIG, publisher, logger: new Logger({ serviceName: 'consumer', logLevel: 'SILENT' }), metrics });
  let pending = records;
  let rounds = 0;
  while (pending.length > 0) {
    if (++rounds > 4) throw new Error(`still failing after ${rounds - 1} deliveries: ${pending.map((r) => r.messageId).join(', ')}`);
    const { batchItemFailures } = await handle({ Records: pending } as SQSEvent);
    const failed = new Set(batchItemFailures.map((f) => f.itemIdentifier));
    pending = pending.filter((r) => failed.has(r.messageId));
    clock += 6 * LEASE_MS; // the visibility timeout: the lease of a crashed delivery has run out
  }
  return rounds;
}

async function expectNothingLostNothingDoubled(prefix: string, s: ReturnType<typeof scenario>, mayRepublish: boolean) {
  for (const id of s.ids) expect(await store.getWebhook(id)).toMatchObject({ status: 'DONE', deliveries: 1 });
  const notifications = (await store.listEvents(undefined, 1000)).filter((w) => w.type === 'connections.updated' && Buffer.from(w.body).toString().includes(`${prefix}_`));
  expect(notifications).toMatchObject([{ status: 'DONE', deliveries: 1 }]);
  for (const connectionId of [s.a, s.b]) {
    const stored = await store.getConnection(connectionId);
    expect(stored && withoutTransition(stored)).toEqual(modelState(connectionId, s.events.filter((e) => e.connectionId === connectionId)));
  }
  expect((await store.loadCandidates([s.a]))[0].poll?.pollRequestedAt).toBe('2026-11-22T06:00:04.000Z');

  const published = busEventsOf(prefix).map((e) => webhookIdOf(e.detail));
  const distinct = new Set(published);
  expect(distinct.size).toBe(s.ids.length + 1); // every event, the notification too
  if (!mayRepublish) expect(published).toHaveLength(distinct.size);
  // The status transitions: which event made which one depends on the order deliveries arrived in
  // (a redelivered evt_1 comes after evt_2 and is stale), but the last one published ends in the
  // final status, and none is published twice unless its complete failed.
  const transitions = busEventsOf(prefix).flatMap((e) => {
    const t = (e.detail as { transition?: { from: string; to: string } }).transition;
    return t ? [{ id: webhookIdOf(e.detail), ...t }] : [];
  });
  expect(transitions.at(-1)?.to).toBe('offline');
  if (!mayRepublish) expect(new Set(transitions.map((t) => t.id)).size).toBe(transitions.length);
}

let run = 0;
describe('consumer with each event-store call failing in turn', () => {
  // How many times a clean batch calls each method: every one of those calls gets its turn to fail.
  let cleanCalls: Record<string, number>;
  beforeAll(async () => {
    const prefix = `clean${++run}`;
    const s = scenario(prefix);
    const counting = faultyStore();
    expect(await deliver(counting.wrapped, s.records)).toBe(1);
    await expectNothingLostNothingDoubled(prefix, s, false);
    cleanCalls = { ...counting.calls };
  });

  it('a clean batch calls every method the faults below target', () => {
    for (const method of METHODS) expect(cleanCalls[method]).toBeGreaterThan(0);
  });

  for (const method of METHODS) {
    for (const when of ['before', 'after'] as const) {
      it(`loses and doubles nothing when a ${method} call fails ${when} its write`, async () => {
        for (let nth = 1; nth <= cleanCalls[method]; nth++) {
          const prefix = `${method}_${when}_${nth}_${++run}`;
          const s = scenario(prefix);
          const faulty = faultyStore({ method, nth, when });
          const rounds = await deliver(faulty.wrapped, s.records);
          expect(faulty.fired()).toBe(true);
          expect(rounds).toBeGreaterThan(1); // the failure was reported to SQS, which redelivered
          await expectNothingLostNothingDoubled(prefix, s, method === 'complete');
        }
      });
    }
  }
});
