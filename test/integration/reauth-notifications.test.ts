import { Logger } from '@aws-lambda-powertools/logger';
import { DEFAULT_CONFIG } from '../../lambdas/config/config';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSRecord } from 'aws-lambda';
import { REAUTH_TRANSITION_PATTERN, TOKEN_EXPIRING_PATTERN } from '../../lib/monitoring';
import { tokenExpiringEvent } from '../../lambdas/core/poll';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { EventBridgePublisher } from '../../lambdas/adapters/eventbridge-publisher';
import { encodeEnvelope } from '../../lambdas/core/envelope';
import { createConsumerHandler } from '../../lambdas/consumer/consumer';
import { startDynalite, type LocalDynamo } from '../support/dynalite';
import { startLocalEventBridge, type LocalEventBridge } from '../../local/aws/eventbridge';
import { matchesEventPattern } from '../../local/aws/event-pattern';

let dynamo: LocalDynamo;
// The project's local EventBridge (local/aws/eventbridge.ts), as `npm start` runs it.
let bus: LocalEventBridge;
beforeEach(async () => {
  [dynamo, bus] = await Promise.all([startDynalite(), startLocalEventBridge()]);
});
afterEach(async () => {
  await Promise.all([dynamo.close(), bus.close()]);
});

let n = 0;
const record = (body: object, scheme: 'makini' | 'poll' = 'makini'): SQSRecord =>
  ({ messageId: `m${++n}`, body: encodeEnvelope({ webhookId: (body as { id: string }).id, receivedAt: '2026-11-22T06:00:00.000Z', scheme, requestId: 'r' }, Buffer.from(JSON.stringify(body))) }) as SQSRecord;
const status = (id: string, s: string, at: string) => ({ id, type: 'connection.status_changed', timestamp: at, connection_id: 'conn_n', data: { status: s } });
const reauth = (id: string, at: string) => ({ id, type: 'connection.reauthorization_required', timestamp: at, connection_id: 'conn_n', data: {} });

/** The consumer over dynalite and the local EventBridge, as both rules' tests deliver to it. */
const consumer = () =>
  createConsumerHandler({
    fields: DEFAULT_CONFIG,
    store: new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 3600, leaseMs: 30_000 }),
    publisher: new EventBridgePublisher(new EventBridgeClient({ endpoint: bus.url, maxAttempts: 1 }), 'bus'),
    logger: new Logger({ serviceName: 'consumer', logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'consumer' }),
  });

describe('reauthorization notification rule', () => {
  it('matches the bus event of each transition into reauthorization_required, and no other event', async () => {
    const consume = consumer();
    const deliver = async (...records: SQSRecord[]) => expect((await consume({ Records: records })).batchItemFailures).toEqual([]);

    await deliver(record(status('e1', 'online', '2026-11-22T05:00:00Z'))); // unknown -> online
    const lost = record(reauth('e2', '2026-11-22T05:10:00Z'));
    await deliver(lost); // online -> reauthorization_required: notify
    await deliver({ ...lost, messageId: 'copy-of-e2' }); // a duplicate: nothing published
    await deliver(record(reauth('e0', '2026-11-22T04:00:00Z'))); // stale: published, no transition
    await deliver(record(reauth('poll_same', '2026-11-22T05:20:00Z'), 'poll')); // a poll saying the same: no transition
    await deliver(record(status('e3', 'online', '2026-11-22T05:30:00Z'))); // reconnected
    await deliver(record(reauth('e4', '2026-11-22T05:40:00Z'))); // needs it again: notify

    // As EventBridge hands them to a rule: source, detail-type, detail.
    const published = bus.events() as unknown as { source: string; 'detail-type': string; 'event-bus-name': string; detail: { event: { webhookId: string } } }[];
    expect(new Set(published.map((e) => e['event-bus-name']))).toEqual(new Set(['bus']));
    expect(published).toHaveLength(6);
    const notified = published.filter((e) => matchesEventPattern(REAUTH_TRANSITION_PATTERN as unknown as Record<string, unknown>, e));
    expect(notified.map((e) => e.detail.event.webhookId)).toEqual(['e2', 'e4']);
    expect(notified[0].detail).toMatchObject({ event: { connectionId: 'conn_n', receivedAt: '2026-11-22T06:00:00.000Z' }, transition: { from: 'online', to: 'reauthorization_required' } });
  });
});

describe('token notice rule', () => {
  it("matches the bus event of each connection.token_expiring notice the poller queues, and no other event", async () => {
    const consume = consumer();
    // As the poller queues them (lambdas/core/poll.ts), beside an ordinary status change.
    const notices = [
      tokenExpiringEvent('conn_t', { reason: 'refresh_failed', expiresAt: '2026-11-29T00:00:00Z', error: 'invalid_grant' }, '2026-11-22T05:00:00.000Z', {}),
      tokenExpiringEvent('conn_t', { reason: 'refresh_token_expiring', refreshExpiresAt: '2026-11-24T00:00:00Z' }, '2026-11-22T05:05:00.000Z', {}),
    ];
    const records = notices.map((notice) => record(JSON.parse(notice.body) as object, 'poll'));
    expect((await consume({ Records: [...records, record(status('e9', 'online', '2026-11-22T05:10:00Z'))] })).batchItemFailures).toEqual([]);

    const published = bus.events() as unknown as { detail: { event: { webhookId: string; connectionId: string; data: { reason: string } } } }[];
    expect(published).toHaveLength(3);
    const matched = published.filter((e) => matchesEventPattern(TOKEN_EXPIRING_PATTERN as unknown as Record<string, unknown>, e));
    expect(matched.map((e) => [e.detail.event.webhookId, e.detail.event.connectionId, e.detail.event.data.reason])).toEqual([
      [notices[0].id, 'conn_t', 'refresh_failed'],
      [notices[1].id, 'conn_t', 'refresh_token_expiring'],
    ]);
  });
});
