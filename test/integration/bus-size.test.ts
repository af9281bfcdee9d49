/**
 * What the receiver measures (travelsAsPointer) against what the consumer publishes, through the
 * local EventBridge, which refuses entries over 256 KB as AWS does: a body kept inline is
 * published whole. An entity notification's type travels three times (`type`, `entity`, `action`),
 * so a type whose parts are longer than 64 characters is not read as a notification.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSRecord } from 'aws-lambda';
import { DEFAULT_CONFIG, INLINE_BODY_MAX_BYTES } from '../../lambdas/config/config';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { EventBridgePublisher } from '../../lambdas/adapters/eventbridge-publisher';
import { travelsAsPointer } from '../../lambdas/core/body-store';
import { encodeEnvelope } from '../../lambdas/core/envelope';
import { createConsumerHandler } from '../../lambdas/consumer/consumer';
import { startLocalEventBridge, type LocalEventBridge } from '../../local/aws/eventbridge';
import { startDynalite, type LocalDynamo } from '../support/dynalite';

let dynamo: LocalDynamo;
let bus: LocalEventBridge;
let store: DynamoDbEventStore;
beforeEach(async () => {
  dynamo = await startDynalite();
  bus = await startLocalEventBridge();
  store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 7 * 86_400, leaseMs: 30_000, now: () => Date.parse('2026-11-22T06:00:00Z') });
});
afterEach(async () => {
  await dynamo.close();
  await bus.close();
});

/** The consumer, given the body inline as the receiver queues one travelsAsPointer lets through. */
function consume(body: Buffer, webhookId: string) {
  const handle = createConsumerHandler({
    store,
    fields: DEFAULT_CONFIG,
    publisher: new EventBridgePublisher(new EventBridgeClient({ endpoint: bus.url, maxAttempts: 1 }), 'makini-bus'),
    logger: new Logger({ serviceName: 'consumer', logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'consumer' }),
  });
  const record = { messageId: 'msg-1', body: encodeEnvelope({ webhookId, receivedAt: '2026-11-22T06:00:00.000Z', scheme: 'makini', requestId: 'r' }, body), eventSource: 'aws:sqs' } as SQSRecord;
  return handle({ Records: [record] });
}

type Detail = { dataOmitted?: boolean; idsOmitted?: boolean; event: { type: string; entity?: string; ids?: string[]; data: { body?: unknown[] } } };

describe('a body kept inline is published whole', () => {
  it('a 135 KB body whose event name is 135,000 characters: one event, its name once (it is not read as a notification)', async () => {
    const type = `${'a'.repeat(135_000)}.updated`;
    const body = Buffer.from(JSON.stringify({ id: 'evt_long', event: type, body: ['16c69269'] }));
    expect(body.length).toBeLessThan(INLINE_BODY_MAX_BYTES);
    expect(travelsAsPointer(body)).toBe(false);
    expect((await consume(body, 'evt_long')).batchItemFailures).toEqual([]);
    const [published] = bus.events() as { detail: Detail }[];
    expect(published.detail.event.type).toBe(type);
    expect(published.detail.event.entity).toBeUndefined();
    expect(published.detail.event.data.body).toEqual(['16c69269']);
    expect(published.detail.dataOmitted).toBeUndefined();
  });

  it('a 191 KB body of 11,000 ids under a 70,000-character name: published with its list, nothing omitted', async () => {
    const ids = Array.from({ length: 11_000 }, (_, i) => `id-${String(i).padStart(5, '0')}`);
    const body = Buffer.from(JSON.stringify({ id: 'evt_ids', event: `${'a'.repeat(70_000)}.updated`, body: ids }));
    expect(body.length).toBeLessThan(INLINE_BODY_MAX_BYTES);
    expect(travelsAsPointer(body)).toBe(false);
    expect((await consume(body, 'evt_ids')).batchItemFailures).toEqual([]);
    const [published] = bus.events() as { detail: Detail }[];
    expect(published.detail).not.toHaveProperty('idsOmitted');
    expect(published.detail).not.toHaveProperty('dataOmitted');
    expect(published.detail.event.data.body).toHaveLength(11_000);
  });

  it('a notification of 11,000 ids under a name of 64-character parts: a notification, its ids on the bus', async () => {
    const ids = Array.from({ length: 11_000 }, (_, i) => `id-${String(i).padStart(5, '0')}`);
    const type = `${'a'.repeat(64)}.${'u'.repeat(64)}`;
    const body = Buffer.from(JSON.stringify({ id: 'evt_n', event: type, body: ids }));
    expect(travelsAsPointer(body)).toBe(false);
    expect((await consume(body, 'evt_n')).batchItemFailures).toEqual([]);
    const [published] = bus.events() as { detail: Detail }[];
    expect(published.detail.event).toMatchObject({ type, entity: 'a'.repeat(64) });
    expect(published.detail.event.ids).toHaveLength(11_000);
    expect(published.detail).not.toHaveProperty('idsOmitted');
  });
});
