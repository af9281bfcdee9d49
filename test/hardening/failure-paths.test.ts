/**
 * Failure paths that hand-made mutants showed no test held (issue 19): each test here fails against
 * its mutant. Real components where they exist: dynalite, the local EventBridge, loopback HTTP.
 */
import { createServer } from 'node:http';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SQSEvent, SQSRecord } from 'aws-lambda';
import fc from 'fast-check';
import { DEFAULT_CONFIG } from '../../lambdas/config/config';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { EventBridgePublisher } from '../../lambdas/adapters/eventbridge-publisher';
import { MakiniApiClient } from '../../lambdas/adapters/makini-api-client';
import { applyEvent, initialState, type ConnectionState } from '../../lambdas/core/connection-state';
import { decideClaim, type EventStore } from '../../lambdas/core/consume';
import { encodeEnvelope } from '../../lambdas/core/envelope';
import type { MakiniEvent } from '../../lambdas/core/event';
import { standardWebhooksScheme } from '../../lambdas/core/signature';
import { constantTime } from '../../lambdas/core/constant-time';
import { createConsumerHandler } from '../../lambdas/consumer/consumer';
import { readBusLog, startLocalEventBridge, type LocalEventBridge } from '../../local/aws/eventbridge';
import { listenOnLoopback } from '../../local/loopback-server';
import { startDynalite, type LocalDynamo } from '../support/dynalite';

describe('consumer: a state write that fails', () => {
  let dynamo: LocalDynamo;
  let bus: LocalEventBridge;
  let log: string;
  beforeEach(async () => {
    dynamo = await startDynalite();
    log = path.join(mkdtempSync(path.join(tmpdir(), 'fp-bus-')), 'bus.jsonl');
    bus = await startLocalEventBridge({ log });
  });
  afterEach(async () => {
    await dynamo.close();
    await bus.close();
  });

  const record = (messageId: string, id: string, status: 'online' | 'offline', at: string): SQSRecord =>
    ({
      messageId,
      body: encodeEnvelope({ webhookId: id, receivedAt: '2026-11-22T06:00:00.000Z', scheme: 'makini', requestId: 'r' }, Buffer.from(JSON.stringify({ id, type: 'connection.status_changed', timestamp: at, connection_id: 'conn_1', data: { status } }))),
      eventSource: 'aws:sqs',
    }) as SQSRecord;

  it('reports the record (so SQS keeps it), completes nothing, and its retry processes it once', async () => {
    let clock = Date.parse('2026-11-22T06:00:00Z');
    const store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 86_400, leaseMs: 30_000, now: () => clock });
    let failWrites = true;
    // The real store, with its state write failing (a throttled or unavailable table).
    const flaky: EventStore = Object.assign(Object.create(store) as EventStore, {
      updateConnection: (...args: Parameters<EventStore['updateConnection']>) => (failWrites ? Promise.reject(new Error('ProvisionedThroughputExceededException')) : store.updateConnection(...args)),
    });
    const handle = createConsumerHandler({
      store: flaky,
      fields: DEFAULT_CONFIG,
      publisher: new EventBridgePublisher(new EventBridgeClient({ endpoint: bus.url, region: 'us-east-1', credentials: { accessKeyId: 'l', secretAccessKey: 'l' }, maxAttempts: 1 }), 'makini'),
      logger: new Logger({ serviceName: 'consumer', logLevel: 'SILENT' }),
      metrics: new Metrics({ namespace: 'Test', serviceName: 'consumer' }),
    });
    const x = record('m1', 'evt_w', 'offline', '2026-11-22T05:00:00Z');
    const batch: SQSEvent = { Records: [x] };
    expect((await handle(batch)).batchItemFailures).toEqual([{ itemIdentifier: 'm1' }]);
    expect((await store.getWebhook('evt_w'))?.status).toBe('PROCESSING');
    expect(readBusLog(log)).toEqual([]);

    failWrites = false;
    clock += 6 * 30_000; // SQS redelivers after the visibility timeout
    expect((await handle(batch)).batchItemFailures).toEqual([]);
    expect(await store.getWebhook('evt_w')).toMatchObject({ status: 'DONE' });
    expect((await store.getConnection('conn_1'))?.status).toBe('offline');
    expect(readBusLog(log)).toHaveLength(1);
  });
});

describe('claims after a lease expired', () => {
  let dynamo: LocalDynamo;
  beforeEach(async () => {
    dynamo = await startDynalite();
  });
  afterEach(async () => dynamo.close());

  it('lets exactly one of several racing copies take over', async () => {
    let clock = Date.parse('2026-11-22T06:00:00Z');
    const store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 86_400, leaseMs: 30_000, now: () => clock });
    const request = (deliveryId: string) => ({ webhookId: 'evt_race', deliveryId, bodyHash: 'h', body: Buffer.from('{}'), receivedAt: '2026-11-22T06:00:00.000Z', unprocessableReason: 'test' });
    expect(await store.claim(request('owner'))).toEqual({ kind: 'process' });
    clock += 31_000; // the owner crashed; its lease ran out
    const claims = await Promise.all(['c1', 'c2', 'c3', 'c4'].map((id) => store.claim(request(id))));
    expect(claims.filter((c) => c.kind === 'process')).toHaveLength(1);
    expect(claims.filter((c) => c.kind === 'busy')).toHaveLength(3);
  });

  it('treats a lease as running until its last millisecond, and expired from then on', () => {
    const item = { status: 'PROCESSING' as const, owner: 'm1', leaseUntil: 1_000, deliveries: 1 };
    expect(decideClaim(item, 'm2', 999, 0)).toBe('busy');
    expect(decideClaim(item, 'm2', 1_000, 0)).toBe('takeover');
  });
});

describe('connection state against an independent model', () => {
  // The model, written apart from the code: the newest time wins, whatever the order.
  const model = (events: readonly MakiniEvent[]) => ({
    lastWebhookAt: events.filter((e) => e.source === 'webhook').map((e) => e.receivedAt).sort().at(-1),
    lastEventId: [...events].sort((a, b) => (a.occurredAt === b.occurredAt ? a.webhookId.localeCompare(b.webhookId) : a.occurredAt.localeCompare(b.occurredAt))).at(-1)?.webhookId,
  });
  const arbEvent = fc.record({
    webhookId: fc.stringMatching(/^evt_[a-z0-9]{1,6}$/),
    occurredAt: fc.integer({ min: 0, max: 1_000 }).map((s) => `2026-11-22T05:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}.000000000Z`),
    receivedAt: fc.integer({ min: 0, max: 1_000 }).map((s) => new Date(Date.parse('2026-11-22T06:00:00Z') + s * 1000).toISOString()),
    source: fc.constantFrom('webhook' as const, 'poll' as const),
  });

  it('keeps the newest receive time of any webhook and the newest event, in any order', () => {
    fc.assert(
      fc.property(fc.uniqueArray(arbEvent, { minLength: 1, maxLength: 12, selector: (e) => e.webhookId }), (raw) => {
        const events = raw.map((e): MakiniEvent => ({ ...e, type: 'assets.updated', timeSource: 'body', connectionId: 'c', data: {} }));
        const state: ConnectionState = events.reduce((s, e) => applyEvent(s, e).state, initialState('c'));
        expect({ lastWebhookAt: state.lastWebhookAt, lastEventId: state.lastEventId }).toEqual(model(events));
      }),
      { numRuns: 300, seed: 20261201 },
    );
  });
});

describe('signature comparison', () => {
  afterEach(() => jest.restoreAllMocks());

  it('compares every candidate signature even when the first one matches (no early exit)', () => {
    const scheme = standardWebhooksScheme(300);
    const body = Buffer.from('{"id":"evt_1"}');
    const signed = scheme.sign(body, 'whsec_' + Buffer.from('k'.repeat(32)).toString('base64'), { id: 'msg_1', timestamp: 1_000 });
    const headers = { ...signed, 'webhook-signature': `${signed['webhook-signature']} v1,${Buffer.alloc(32).toString('base64')} v1,${Buffer.alloc(32, 1).toString('base64')}` };
    const equal = jest.spyOn(constantTime, 'equal');
    const parsed = scheme.parse({ headers, body }, 1_000);
    if (!parsed.ok) throw new Error('the test request should parse');
    expect(parsed.match(['whsec_' + Buffer.from('k'.repeat(32)).toString('base64')])).toMatchObject({ form: 'raw' });
    expect(equal).toHaveBeenCalledTimes(3); // the first candidate matched; the other two were compared all the same
  });
});

describe('Makini API: Retry-After as an HTTP date', () => {
  it('waits until that date', async () => {
    const now = Date.parse('2026-12-01T08:00:00Z');
    let calls = 0;
    const server = createServer((_req, res) => {
      calls++;
      if (calls === 1) {
        res.writeHead(429, { 'retry-after': new Date(now + 4_000).toUTCString(), 'content-type': 'application/json' });
        return void res.end('{"message":"Too Many Attempts."}');
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ data: { sync_status: 'done', sync_updated_at: '2026-11-22T05:00:00Z' } }));
    });
    const listening = await listenOnLoopback(server, 0);
    try {
      const waits: number[] = [];
      const client = new MakiniApiClient({ baseUrl: listening.url, timeoutMs: 1_000, maxAttempts: 2, now: () => now, sleep: async (ms) => void waits.push(ms), random: () => 0 });
      expect((await client.currentIntegration('t')).reportedSyncStatus).toBe('done');
      expect(waits).toEqual([4_000]);
    } finally {
      await listening.close();
    }
  });
});
