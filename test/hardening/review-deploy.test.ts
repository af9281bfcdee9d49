/**
 * Adversarial review of the issue-14 fixes (deploy and consumer defects). Each test here failed on
 * the code as reviewed; see the report for file:line.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { Template } from 'aws-cdk-lib/assertions';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import { ConfigError, DEFAULT_CONFIG, resolveConfig, type MakiniWebhookConfig } from '../../lambdas/config/config';
import { MakiniWebhookStack } from '../../lib/makini-webhook-stack';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import type { EventPublisher } from '../../lambdas/adapters/eventbridge-publisher';
import type { BusMessage } from '../../lambdas/core/consume';
import { createConsumerHandler } from '../../lambdas/consumer/consumer';
import { cdkApp } from '../support/cdk-app';
import { startDynalite, type LocalDynamo } from '../support/dynalite';
import { settingsOf } from '../../lib/settings';

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;
const resourcesOf = (config: Partial<MakiniWebhookConfig>, id = 'ReviewDeploy'): Resources =>
  Template.fromStack(new MakiniWebhookStack(cdkApp({ bundle: false }), id, { config: settingsOf(config) })).toJSON().Resources as Resources;

// ---------------------------------------------------------------------------------------------
// Deployment
// ---------------------------------------------------------------------------------------------

describe('review: function environment size (lambdas/config/config.ts functionEnvironment)', () => {
  /**
   * Lambda measures the Variables map as serialized (JSON, UTF-8): keys, values and encoding all
   * count. The synth-time guard counts UTF-16 `.length` of names and values, and ships even settings
   * no function reads (reauthNotificationTemplate is only the EventBridge input template).
   */
  it('a non-ASCII reauthorization template that synthesizes must fit in each function’s 4 KB environment', () => {
    const template = `接続 {connectionId} の再認証が必要です（{detectedAt} に検出）。` + 'お客様に Makini のダッシュボードで接続し直すよう依頼してください。'.repeat(52);
    expect(template.length).toBeLessThanOrEqual(2000);
    const config: Partial<MakiniWebhookConfig> = { reauthNotificationTemplate: template };
    expect(() => resolveConfig(config)).not.toThrow();
    let resources: Resources;
    try {
      resources = resourcesOf(config, 'EnvSize');
    } catch (error) {
      // Refusing the configuration at synth is an acceptable answer.
      expect(error).toBeInstanceOf(ConfigError);
      return;
    }
    // References (queue URL, table, bus, secret ARN) are counted as empty strings: a lower bound.
    const resolved = (v: unknown) => (typeof v === 'string' ? v : '');
    const sizes = Object.values(resources)
      .filter((r) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.handler')
      .map((fn) => {
        const vars = Object.fromEntries(Object.entries(fn.Properties.Environment.Variables as Record<string, unknown>).map(([k, v]) => [k, resolved(v)]));
        return Buffer.byteLength(JSON.stringify(vars), 'utf8');
      });
    expect(sizes).toHaveLength(3);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(4_096);
  });
});

describe('review: settings that the 7-day queue retention makes unsafe (lib/makini-webhook-ingestion.ts QUEUE_RETENTION)', () => {
  const queueOf = (resources: Resources) =>
    Object.values(resources).find((r) => r.Type === 'AWS::SQS::Queue' && r.Properties.RedrivePolicy !== undefined)!.Properties;

  it('a queue-age alarm threshold longer than the queue keeps messages is refused (it could never fire)', () => {
    // 8.3 days: accepted (the bound is still 20,160 min, the old 14-day retention).
    const config: Partial<MakiniWebhookConfig> = { queueAgeAlarmMinutes: 12_000 };
    let resources: Resources;
    try {
      resources = resourcesOf(config, 'AgeAlarm');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return;
    }
    const retention = Number(queueOf(resources).MessageRetentionPeriod);
    const alarm = Object.values(resources).find((r) => r.Type === 'AWS::CloudWatch::Alarm' && r.Properties.MetricName === 'ApproximateAgeOfOldestMessage')!;
    expect(Number(alarm.Properties.Threshold)).toBeLessThan(retention);
  });

  it('a message that fails every receive reaches the DLQ before the source queue expires it', () => {
    // 150 receives x 6 x 900 s visibility = 9.4 days of retries: the message expires from the
    // queue (7 days) before its 150th receive, never reaching the DLQ, and no alarm says so.
    const config: Partial<MakiniWebhookConfig> = { maxReceiveCount: 150, consumerTimeoutSeconds: 900 };
    let resources: Resources;
    try {
      resources = resourcesOf(config, 'Redrive');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return;
    }
    const queue = queueOf(resources);
    expect(queue.RedrivePolicy.maxReceiveCount * queue.VisibilityTimeout).toBeLessThan(Number(queue.MessageRetentionPeriod));
  });
});

// ---------------------------------------------------------------------------------------------
// Consumer
// ---------------------------------------------------------------------------------------------

let dynamo: LocalDynamo;
let store: DynamoDbEventStore;
beforeEach(async () => {
  dynamo = await startDynalite();
  clock = Date.parse('2026-11-22T06:00:00Z');
  store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 7 * 86_400, leaseMs: 30_000, now: () => clock });
});
/** The store's clock: SQS redelivers a failed message after its visibility timeout (6 x the lease here). */
let clock: number;
const afterVisibilityTimeout = () => (clock += 6 * 30_000);
afterEach(async () => {
  await dynamo.close();
});

/** A bus that records what it accepted, and rejects the webhook ids in `reject`. */
function recordingBus() {
  const accepted: BusMessage[] = [];
  const reject = new Set<string>();
  const publisher: EventPublisher = {
    async publish(messages) {
      return messages.map((m) => {
        if (reject.has(m.event.webhookId)) return false;
        accepted.push(m);
        return true;
      });
    },
  };
  return { accepted, reject, publisher };
}

function consumer(publisher: EventPublisher) {
  return createConsumerHandler({
    store,
    fields: DEFAULT_CONFIG,
    publisher,
    logger: new Logger({ serviceName: 'consumer', logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'consumer' }),
  });
}

const envelope = (webhookId: string, body: unknown) =>
  JSON.stringify({ v: 1, webhookId, receivedAt: '2026-11-22T06:00:00.000Z', scheme: 'makini', requestId: 'r', bodyEncoding: 'utf8', body: JSON.stringify(body) });
const record = (messageId: string, webhookId: string, body: unknown): SQSRecord => ({ messageId, body: envelope(webhookId, body), eventSource: 'aws:sqs' }) as SQSRecord;
const batch = (...records: SQSRecord[]): SQSEvent => ({ Records: records });
const online = (id: string, at: string) => ({ id, type: 'connection.status_changed', timestamp: at, connection_id: 'conn_1', data: { status: 'online' } });
const reauth = (id: string, at: string) => ({ id, type: 'connection.reauthorization_required', timestamp: at, connection_id: 'conn_1', data: {} });
const reauthTransitions = (messages: BusMessage[]) => messages.filter((m) => m.transition?.to === 'reauthorization_required');

describe('review: lastTransition republish (lambdas/core/connection-state.ts applyEvent)', () => {
  it('a failed publish of a reauthorization transition is still notified after a newer same-status event arrived before the retry', async () => {
    const bus = recordingBus();
    const handle = consumer(bus.publisher);
    expect((await handle(batch(record('m0', 'evt_0', online('evt_0', '2026-11-22T05:00:00Z'))))).batchItemFailures).toEqual([]);

    // evt_A moves conn_1 online -> reauthorization_required; its state is written, its publish is rejected.
    bus.reject.add('evt_A');
    const first = await handle(batch(record('mA', 'evt_A', reauth('evt_A', '2026-11-22T05:10:00Z'))));
    expect(first.batchItemFailures).toEqual([{ itemIdentifier: 'mA' }]);
    bus.reject.clear();

    // Makini says it again (a newer reauthorization event): no transition of its own (reauth -> reauth).
    expect((await handle(batch(record('mB', 'evt_B', reauth('evt_B', '2026-11-22T05:20:00Z'))))).batchItemFailures).toEqual([]);

    // SQS retries evt_A: the connection still needs reauthorization, and nobody was ever told.
    afterVisibilityTimeout();
    expect((await handle(batch(record('mA', 'evt_A', reauth('evt_A', '2026-11-22T05:10:00Z'))))).batchItemFailures).toEqual([]);
    expect((await store.getConnection('conn_1'))?.status).toBe('reauthorization_required');
    expect(reauthTransitions(bus.accepted)).toHaveLength(1);
  });
});

describe('review: lease renewal (lambdas/core/consume.ts decideClaim)', () => {
  it('a second copy of the same SQS message (same message id) while the owner’s lease is live does not process the webhook again', async () => {
    // SQS standard queues deliver at least once: a duplicate copy keeps its MessageId. The owner is
    // still inside its lease, so this is not a redelivery after a crash: it must wait ('busy').
    const request = { webhookId: 'evt_dup', deliveryId: 'm-same', bodyHash: 'h', body: Buffer.from('{}'), receivedAt: '2026-11-22T06:00:00.000Z', unprocessableReason: 'test' };
    let now = 1_000_000;
    store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 86_400, leaseMs: 30_000, now: () => now });
    expect(await store.claim(request)).toEqual({ kind: 'process' });
    now += 1_000; // one second later, lease still 29 s long
    expect(await store.claim(request)).toEqual({ kind: 'busy' });
  });
});

describe('review: unknown-origin queue messages larger than a DynamoDB item (lambdas/core/consume.ts readEnvelope)', () => {
  it('an envelope-shaped message whose body is over 400 KB is recorded (truncated), not retried until the DLQ', async () => {
    // Not written by our receiver (maxBodyBytes caps it at 390,000) nor the poller: a foreign
    // producer, a hand-edited redrive. decodeEnvelope accepts it, so the truncation never applies.
    const big = 'x'.repeat(600_000);
    const message = { messageId: 'm-big', body: JSON.stringify({ v: 1, webhookId: 'foreign-1', receivedAt: '2026-11-22T06:00:00.000Z', scheme: 'makini', requestId: 'r', bodyEncoding: 'utf8', body: big }), eventSource: 'aws:sqs' } as SQSRecord;
    expect(Buffer.byteLength(message.body)).toBeLessThan(1_048_576);
    const bus = recordingBus();
    const response = await consumer(bus.publisher)(batch(message));
    expect(response.batchItemFailures).toEqual([]);
  });
});
