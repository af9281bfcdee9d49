import { Logger } from '@aws-lambda-powertools/logger';
import { DEFAULT_CONFIG } from '../../lambdas/config/config';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { EventBridgePublisher } from '../../lambdas/adapters/eventbridge-publisher';
import { BUS_SOURCE, messageEventId, processMessage, type EventStore } from '../../lambdas/core/consume';
import { encodeEnvelope } from '../../lambdas/core/envelope';
import { CONSUMER_METRICS, createConsumerHandler } from '../../lambdas/consumer/consumer';
import { startDynalite, type LocalDynamo } from '../support/dynalite';
import { startLocalEventBridge, type LocalEventBridge, type PutEventsEntry } from '../../local/aws/eventbridge';

let dynamo: LocalDynamo;
let bus: LocalEventBridge;
/** PutEvents entries for which this returns true are refused on their own (the others are put). */
let rejectEntry: (entry: PutEventsEntry) => boolean;
/** While true, every PutEvents call fails as a whole (503). */
let busDown: boolean;
let store: DynamoDbEventStore;

beforeEach(async () => {
  dynamo = await startDynalite();
  rejectEntry = () => false;
  busDown = false;
  bus = await startLocalEventBridge({ rejectEntry: (entry) => rejectEntry(entry), fault: () => (busDown ? 'unavailable' : undefined) });
  clock = Date.parse('2026-11-22T06:00:00Z');
  store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 7 * 86_400, leaseMs: 30_000, now: () => clock });
});
/** The store's clock: SQS redelivers a failed message after its visibility timeout (6 x the lease here). */
let clock: number;
const afterVisibilityTimeout = () => (clock += 6 * 30_000);
afterEach(async () => {
  await dynamo.close();
  await bus.close();
});

function consumer(storeOverride: EventStore = store) {
  const metrics = new Metrics({ namespace: 'Test', serviceName: 'consumer' });
  const addMetric = jest.spyOn(metrics, 'addMetric');
  const publisher = new EventBridgePublisher(new EventBridgeClient({ endpoint: bus.url, maxAttempts: 1 }), 'makini-bus');
  const handle = createConsumerHandler({ store: storeOverride, fields: DEFAULT_CONFIG, publisher, logger: new Logger({ serviceName: 'consumer', logLevel: 'SILENT' }), metrics });
  const counts = () => addMetric.mock.calls.reduce<Record<string, number>>((acc, [name, , value]) => ({ ...acc, [name]: (acc[name] ?? 0) + Number(value) }), {});
  return { handle, counts };
}

let n = 0;
function record(body: unknown, webhookId = (body as { id: string }).id): SQSRecord {
  const raw = typeof body === 'string' ? body : JSON.stringify(body);
  return {
    messageId: `msg-${++n}`,
    body: encodeEnvelope({ webhookId, receivedAt: '2026-11-22T06:00:00.000Z', scheme: 'makini', requestId: 'r' }, Buffer.from(raw)),
    eventSource: 'aws:sqs',
  } as SQSRecord;
}
const batch = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
const status = (id: string, s: 'online' | 'offline', at: string, connection = 'conn_1') => ({ id, type: 'connection.status_changed', timestamp: at, connection_id: connection, data: { status: s } });

describe('WebhookReceived, counted by the consumer (the receiver writes no metric for a webhook that goes well)', () => {
  const withReceiveCount = (r: SQSRecord, count: string): SQSRecord => ({ ...r, attributes: { ...r.attributes, ApproximateReceiveCount: count } });
  const poll = (id: string): SQSRecord =>
    ({
      messageId: `msg-${++n}`,
      body: encodeEnvelope({ webhookId: id, receivedAt: '2026-11-22T06:00:00.000Z', scheme: 'poll', requestId: 'r' }, Buffer.from(JSON.stringify({ id, type: 'sync.completed', timestamp: '2026-11-22T05:00:00Z', connection_id: 'conn_1' }))),
      attributes: { ApproximateReceiveCount: '1' },
    }) as unknown as SQSRecord;

  it('counts each webhook at its first receive: not redeliveries, not poll events, not messages none of ours wrote', async () => {
    const { handle, counts } = consumer();
    const response = await handle(
      batch(
        withReceiveCount(record(status('evt_r1', 'online', '2026-11-22T05:10:00Z')), '1'),
        withReceiveCount(record(status('evt_r2', 'online', '2026-11-22T05:11:00Z')), '1'),
        withReceiveCount(record(status('evt_r3', 'online', '2026-11-22T05:12:00Z')), '2'),
        poll('poll_1'),
        withReceiveCount({ ...record(status('evt_r4', 'online', '2026-11-22T05:13:00Z')), body: '{"not":"an envelope"}' }, '1'),
      ),
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(counts()[CONSUMER_METRICS.received]).toBe(2);
  });

  it('writes no count for a batch without a first receive of a webhook', async () => {
    const { handle, counts } = consumer();
    await handle(batch(poll('poll_2'), withReceiveCount(record(status('evt_r5', 'online', '2026-11-22T05:10:00Z')), '3')));
    expect(counts()).not.toHaveProperty(CONSUMER_METRICS.received);
  });
});

describe('consumer handler (Powertools batch, dynalite, EventBridge over loopback)', () => {
  it('processes a mixed batch and publishes new events in one PutEvents call', async () => {
    const { handle, counts } = consumer();
    const first = record(status('evt_1', 'online', '2026-11-22T05:10:00Z'));
    const response = await handle(
      batch(
        first,
        record({ id: 'evt_2', type: 'sync.completed', timestamp: '2026-11-22T05:11:00Z', connection_id: 'conn_1', data: {} }),
        record({ id: 'evt_3', type: 'billing.updated', timestamp: '2026-11-22T05:12:00Z', connection_id: 'conn_2' }),
        record('not json', 'evt_bad'),
      ),
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(bus.calls.PutEvents).toBe(1);
    expect(bus.events().map((e) => [e.source, e['detail-type'], e['event-bus-name']])).toEqual([
      [BUS_SOURCE, 'connection.status_changed', 'makini-bus'],
      [BUS_SOURCE, 'sync.completed', 'makini-bus'],
      [BUS_SOURCE, 'billing.updated', 'makini-bus'],
    ]);
    const detail = bus.events()[0].detail;
    expect(detail).toMatchObject({ event: { webhookId: 'evt_1', connectionId: 'conn_1', data: { status: 'online' } }, state: { status: 'online' }, transition: { from: 'unknown', to: 'online' } });
    expect(counts()).toMatchObject({ [CONSUMER_METRICS.processed]: 3, [CONSUMER_METRICS.unprocessable]: 1 });

    // A redelivery is skipped and publishes nothing.
    const again = await handle(batch({ ...first, messageId: 'msg-redelivered' }));
    expect(again.batchItemFailures).toEqual([]);
    expect(bus.events()).toHaveLength(3);
    expect(counts()[CONSUMER_METRICS.duplicate]).toBe(1);
  });

  it('publishes stale events marked stale, and counts them', async () => {
    const { handle, counts } = consumer();
    await handle(batch(record(status('evt_new', 'online', '2026-11-22T05:10:00Z'))));
    await handle(batch(record(status('evt_old', 'offline', '2026-11-22T05:00:00Z'))));
    expect((bus.events()[1].detail as Record<string, unknown>)).toMatchObject({ stale: true, state: { status: 'online' } });
    expect((bus.events()[1].detail as Record<string, unknown>).transition).toBeUndefined();
    expect(counts()[CONSUMER_METRICS.stale]).toBe(1);
  });

  it('reports only the record whose DynamoDB call failed transiently; its retry processes it once', async () => {
    let throttle = true;
    const flaky: EventStore = {
      claim: (r) => {
        if (r.webhookId === 'evt_b' && throttle) {
          throttle = false;
          return Promise.reject(Object.assign(new Error('Rate of requests exceeds the allowed throughput.'), { name: 'ProvisionedThroughputExceededException' }));
        }
        return store.claim(r);
      },
      updateConnection: (c, u) => store.updateConnection(c, u),
      complete: (id, o) => store.complete(id, o),
      resolveContentId: (k, at) => store.resolveContentId(k, at),
      requestPolls: (ids, at) => store.requestPolls(ids, at),
    };
    const { handle, counts } = consumer(flaky);
    const a = record(status('evt_a', 'online', '2026-11-22T05:00:00Z', 'conn_a'));
    const b = record(status('evt_b', 'online', '2026-11-22T05:00:00Z', 'conn_b'));
    const response = await handle(batch(a, b));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: b.messageId }]);
    expect(counts()[CONSUMER_METRICS.failed]).toBe(1);

    expect((await handle(batch(b))).batchItemFailures).toEqual([]);
    expect(await store.getWebhook('evt_b')).toMatchObject({ status: 'DONE', deliveries: 1 });
    expect(bus.events().map((e) => (e.detail as { event: { webhookId: string } }).event.webhookId)).toEqual(['evt_a', 'evt_b']);
  });

  it('reports a record the bus rejected; its retry publishes it without applying it twice', async () => {
    rejectEntry = (entry) => JSON.parse(entry.Detail).event.webhookId === 'evt_x';
    const { handle } = consumer();
    const x = record(status('evt_x', 'offline', '2026-11-22T05:00:00Z'));
    expect((await handle(batch(x))).batchItemFailures).toEqual([{ itemIdentifier: x.messageId }]);
    expect((await store.getWebhook('evt_x'))?.status).toBe('PROCESSING');

    rejectEntry = () => false;
    afterVisibilityTimeout();
    expect((await handle(batch(x))).batchItemFailures).toEqual([]);
    expect(await store.getWebhook('evt_x')).toMatchObject({ status: 'DONE', deliveries: 1 });
    expect((await store.getConnection('conn_1'))?.status).toBe('offline');
    expect(bus.events()).toHaveLength(1);
    // The state moved on the first attempt; the retry still publishes the transition (rules key on it).
    expect((bus.events()[0].detail as { transition: unknown }).transition).toEqual({ from: 'unknown', to: 'offline' });
  });

  it('reports every processed record when the bus is down, and completes none of them', async () => {
    busDown = true;
    const { handle } = consumer();
    const records = [record(status('evt_p', 'online', '2026-11-22T05:00:00Z')), record(status('evt_q', 'offline', '2026-11-22T05:01:00Z'))];
    const response = await handle(batch(...records));
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(records.map((r) => r.messageId).sort());
    expect((await store.getWebhook('evt_p'))?.status).toBe('PROCESSING');
  });

  it('flags a reused id with a different body without failing the batch', async () => {
    const { handle, counts } = consumer();
    await handle(batch(record(status('evt_m', 'online', '2026-11-22T05:00:00Z'))));
    const response = await handle(batch(record(status('evt_m', 'offline', '2026-11-22T05:00:00Z'))));
    expect(response.batchItemFailures).toEqual([]);
    expect(counts()[CONSUMER_METRICS.mismatch]).toBe(1);
    expect(bus.events()).toHaveLength(1);
  });

  it('reads and writes a connection\'s state once for the events of that connection in one batch', async () => {
    const calls: Record<string, number> = {};
    dynamo.doc.middlewareStack.add(
      (next, context) => async (args) => {
        calls[context.commandName ?? '?'] = (calls[context.commandName ?? '?'] ?? 0) + 1;
        return next(args);
      },
      { step: 'initialize', name: 'countCalls' },
    );
    const { handle } = consumer();
    const events = ['online', 'offline', 'online', 'offline', 'online'].map((s, i) => record(status(`evt_c${i}`, s as 'online' | 'offline', `2026-11-22T05:1${i}:00Z`)));
    const response = await handle(batch(...events, record(status('evt_other', 'online', '2026-11-22T05:10:00Z', 'conn_2'))));
    expect(response.batchItemFailures).toEqual([]);
    // Claims and completions stay per webhook; the state is read and written once per connection.
    expect(calls).toEqual({ UpdateItemCommand: 12, GetItemCommand: 2, PutItemCommand: 2 });
    expect(await store.getConnection('conn_1')).toMatchObject({ status: 'online', statusEventId: 'evt_c4' });
    expect((await Promise.all(events.map((e) => store.getWebhook(JSON.parse(Buffer.from(JSON.parse(e.body).body).toString()).id)))).map((w) => w?.status)).toEqual(Array(5).fill('DONE'));
  });

  it('batches a large batch into PutEvents calls of at most 10 entries', async () => {
    const { handle } = consumer();
    const records = Array.from({ length: 25 }, (_, i) => record(status(`evt_big_${i}`, 'online', `2026-11-22T05:00:${String(i).padStart(2, '0')}Z`, `conn_${i}`)));
    expect((await handle(batch(...records))).batchItemFailures).toEqual([]);
    expect(bus.calls.PutEvents).toBe(3);
    expect(bus.events()).toHaveLength(25);
  });
});

describe('consumer handler built from the environment', () => {
  const savedEnv = { ...process.env };
  afterEach(() => {
    process.env = { ...savedEnv };
  });

  it('reaches DynamoDB and EventBridge through AWS_ENDPOINT_URL_* only, and emits EMF metrics', async () => {
    process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
    process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = bus.url;
    const { createConsumerHandlerFromEnv } = await import('../../lambdas/consumer/consumer');
    const { captureOutput } = await import('../support/capture-output');
    const handler = createConsumerHandlerFromEnv({ ...process.env, MAKINI_EVENT_TABLE: dynamo.tableName, MAKINI_EVENT_BUS: 'makini-bus', MAKINI_METRICS_NAMESPACE: 'ConsumerEnvTest' });
    const context = { functionName: 'consumer', awsRequestId: 'req', getRemainingTimeInMillis: () => 30_000 } as never;
    const { result, output } = await captureOutput(() => handler(batch(record(status('evt_env', 'offline', '2026-11-22T05:00:00Z', 'conn_env'))), context));
    expect(result.batchItemFailures).toEqual([]);
    expect(await store.getConnection('conn_env')).toMatchObject({ status: 'offline' });
    expect(bus.events()).toHaveLength(1);
    expect(output).toContain('"Namespace":"ConsumerEnvTest"');
    expect(output).toContain('"WebhookProcessed"');
    expect(output).toMatch(/"connectionId": ?"conn_env"/);
  });
});

describe('consumer handler, webhooks deduplicated by content', () => {
  it('records why a copy failed on the event it belongs to, where dlq list finds it', async () => {
    const notification = Buffer.from(JSON.stringify({ event: 'assets.updated', body: ['a1'] }));
    const copy = (): SQSRecord =>
      ({ messageId: `msg-${++n}`, body: encodeEnvelope({ webhookId: 'sha256:k', dedup: 'content', receivedAt: '2026-11-22T06:00:00.000Z', scheme: 'makini', requestId: 'r' }, notification), eventSource: 'aws:sqs' }) as SQSRecord;
    const owner = copy();
    await processMessage({ deliveryId: owner.messageId, body: owner.body }, store, DEFAULT_CONFIG); // claimed, then the owner "dies"
    const { handle } = consumer();
    const second = copy();
    expect(await handle(batch(second))).toEqual({ batchItemFailures: [{ itemIdentifier: second.messageId }] });
    const id = 'sha256:k@2026-11-22T06:00:00.000Z';
    expect(await store.getWebhook(id)).toMatchObject({ status: 'PROCESSING', lastError: expect.stringMatching(/WebhookBusyError/) });
    expect(await messageEventId({ deliveryId: second.messageId, body: second.body }, store)).toBe(id);
  });
});
