import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { DEFAULT_CONFIG } from '../../lib/config';
import { finishProcessed, processMessage, WebhookBusyError, type RecordOutcome } from '../../lambdas/core/consume';
import { encodeEnvelope } from '../../lambdas/core/envelope';
import { startDynalite, type LocalDynamo } from '../support/dynalite';

let dynamo: LocalDynamo;
let clock: number;
let store: DynamoDbEventStore;

beforeEach(async () => {
  dynamo = await startDynalite();
  clock = Date.parse('2026-11-22T06:00:00Z');
  store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 7 * 86_400, leaseMs: 30_000, now: () => clock });
});
afterEach(async () => dynamo.close());

let deliveryCounter = 0;
/** One SQS delivery of a webhook, as the receiver enqueues it. */
function delivery(body: unknown, webhookId = (body as { id: string }).id) {
  const raw = Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return { deliveryId: `msg-${++deliveryCounter}`, body: encodeEnvelope({ webhookId, receivedAt: new Date(clock).toISOString(), scheme: 'makini', requestId: 'r' }, raw) };
}
const statusEvent = (id: string, status: 'online' | 'offline', at: string, connection = 'conn_1') => ({ id, type: 'connection.status_changed', timestamp: at, connection_id: connection, data: { status } });

/** Processes and completes, as the consumer does for a batch of one. */
async function consume(message: ReturnType<typeof delivery>): Promise<RecordOutcome> {
  const outcome = await processMessage(message, store, DEFAULT_CONFIG);
  if (outcome.kind === 'processed') await finishProcessed(outcome, store);
  return outcome;
}

describe('DynamoDbEventStore with processMessage, on dynalite', () => {
  it('applies a new webhook to its connection and records it in the history', async () => {
    const outcome = await consume(delivery(statusEvent('evt_1', 'offline', '2026-11-22T05:00:00Z')));
    expect(outcome).toMatchObject({ kind: 'processed', message: { stale: false, transition: { from: 'unknown', to: 'offline' } } });
    expect(await store.getConnection('conn_1')).toMatchObject({ status: 'offline', statusEventId: 'evt_1', lastEventAt: '2026-11-22T05:00:00.000Z' });
    expect(await store.listEvents('conn_1')).toEqual([expect.objectContaining({ webhookId: 'evt_1', status: 'DONE', deliveries: 1, stale: false, type: 'connection.status_changed' })]);
  });

  it('processes N sequential copies once, counting N deliveries', async () => {
    const body = statusEvent('evt_dup', 'online', '2026-11-22T05:00:00Z');
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await consume(delivery(body)));
    expect(outcomes.map((o) => o.kind)).toEqual(['processed', 'duplicate', 'duplicate', 'duplicate', 'duplicate']);
    expect((await store.getWebhook('evt_dup'))?.deliveries).toBe(5);
    expect(await store.listEvents('conn_1')).toHaveLength(1);
  });

  it('processes N concurrent copies once: the others wait, then count as duplicates', async () => {
    const body = statusEvent('evt_conc', 'online', '2026-11-22T05:00:00Z');
    const copies = Array.from({ length: 8 }, () => delivery(body));
    const first = await Promise.allSettled(copies.map((c) => processMessage(c, store, DEFAULT_CONFIG)));
    const processed = first.filter((r) => r.status === 'fulfilled' && r.value.kind === 'processed');
    const busy = first.filter((r) => r.status === 'rejected');
    expect(processed).toHaveLength(1);
    for (const r of busy) expect((r as PromiseRejectedResult).reason).toBeInstanceOf(WebhookBusyError);
    await finishProcessed((processed[0] as PromiseFulfilledResult<Extract<RecordOutcome, { kind: 'processed' }>>).value, store);

    // SQS redelivers what failed; by then the first copy has completed.
    const retried = await Promise.all(copies.filter((_, i) => first[i].status === 'rejected').map((c) => processMessage(c, store, DEFAULT_CONFIG)));
    expect(retried.every((o) => o.kind === 'duplicate')).toBe(true);
    expect((await store.getWebhook('evt_conc'))?.deliveries).toBe(8);
  });

  it('records a stale event, marked stale, without moving the state back', async () => {
    await consume(delivery(statusEvent('evt_new', 'online', '2026-11-22T05:10:00Z')));
    const outcome = await consume(delivery(statusEvent('evt_old', 'offline', '2026-11-22T05:00:00Z')));
    expect(outcome).toMatchObject({ kind: 'processed', message: { stale: true } });
    expect((await store.getConnection('conn_1'))?.status).toBe('online');
    expect((await store.listEvents('conn_1')).map((e) => [e.webhookId, e.stale])).toEqual([
      ['evt_new', false],
      ['evt_old', true],
    ]);
  });

  it('flags the same id with a different body, keeps that copy aside and leaves the original intact', async () => {
    await consume(delivery(statusEvent('evt_same', 'online', '2026-11-22T05:00:00Z')));
    const outcome = await consume(delivery(statusEvent('evt_same', 'offline', '2026-11-22T05:00:00Z')));
    expect(outcome.kind).toBe('mismatch');
    expect((await store.getConnection('conn_1'))?.status).toBe('online');
    expect((await store.getWebhook('evt_same'))?.deliveries).toBe(1);
    const [kept] = await store.listMismatches();
    expect(kept.webhookId).toBe('evt_same');
    expect(JSON.parse(Buffer.from(kept.body).toString()).data.status).toBe('offline');
  });

  it('stores an unprocessable body raw with its reason, once', async () => {
    const message = delivery('{"hello": "no type here"}', 'evt_bad');
    expect(await consume(message)).toMatchObject({ kind: 'unprocessable', reason: expect.stringMatching(/no event type/) });
    expect(await consume({ ...message, deliveryId: 'msg-again' })).toMatchObject({ kind: 'duplicate', deliveries: 2 });
    const stored = await store.getWebhook('evt_bad');
    expect(stored).toMatchObject({ status: 'DONE', unprocessableReason: expect.stringMatching(/no event type/) });
    expect(Buffer.from(stored!.body).toString()).toBe('{"hello": "no type here"}');
  });

  it('keeps a message that is not an envelope at all, keyed by its content', async () => {
    const outcome = await consume({ deliveryId: 'msg-junk', body: 'garbage from elsewhere' });
    expect(outcome).toMatchObject({ kind: 'unprocessable', webhookId: expect.stringMatching(/^sha256:/) });
  });

  it('repairs a crash between the state write and completion: the retry has no second effect', async () => {
    const message = delivery(statusEvent('evt_crash', 'offline', '2026-11-22T05:00:00Z'));
    const first = await processMessage(message, store, DEFAULT_CONFIG); // state written, then the Lambda "dies"
    expect(first.kind).toBe('processed');
    expect((await store.getWebhook('evt_crash'))?.status).toBe('PROCESSING');

    const retry = await consume(message); // SQS redelivers the same message
    expect(retry).toMatchObject({ kind: 'processed', message: { stale: false } });
    expect(retry.kind === 'processed' && retry.message.transition).toBeUndefined(); // the transition happened once
    expect(await store.getWebhook('evt_crash')).toMatchObject({ status: 'DONE', deliveries: 1 });
    expect((await store.getConnection('conn_1'))?.status).toBe('offline');
  });

  it('lets another copy take over once the crashed owner’s lease has expired', async () => {
    const body = statusEvent('evt_lease', 'online', '2026-11-22T05:00:00Z');
    await processMessage(delivery(body), store, DEFAULT_CONFIG); // owner crashes before completing
    await expect(processMessage(delivery(body), store, DEFAULT_CONFIG)).rejects.toBeInstanceOf(WebhookBusyError);
    clock += 31_000;
    expect((await consume(delivery(body))).kind).toBe('processed');
    expect(await store.getWebhook('evt_lease')).toMatchObject({ status: 'DONE', deliveries: 3 });
  });

  it('converges when many events of one connection are processed concurrently', async () => {
    const events = Array.from({ length: 12 }, (_, i) => statusEvent(`evt_c${String(i).padStart(2, '0')}`, i % 2 ? 'online' : 'offline', `2026-11-22T05:${String(i).padStart(2, '0')}:00Z`));
    await Promise.all(events.map((e) => consume(delivery(e))));
    expect(await store.getConnection('conn_1')).toMatchObject({ status: 'online', statusEventId: 'evt_c11', lastEventAt: '2026-11-22T05:11:00.000Z' });
    expect(await store.listEvents('conn_1', 100)).toHaveLength(12);
  });
});
