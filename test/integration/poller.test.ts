import { Logger } from '@aws-lambda-powertools/logger';
import { DEFAULT_CONFIG } from '../../lib/config';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateSecretCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { MakiniApiClient } from '../../lambdas/adapters/makini-api-client';
import { SecretsManagerConnectionTokens } from '../../lambdas/adapters/secrets-manager-connection-tokens';
import { formatConnectionSecret } from '../../lambdas/core/connection-secret';
import { finishProcessed, processMessage } from '../../lambdas/core/consume';
import { decodeEnvelope } from '../../lambdas/core/envelope';
import { createPoller, POLLER_METRICS, type PollerDeps } from '../../lambdas/poller/poller';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { startMockMakiniApi, type MockConnection, type MockMakiniApi } from '../../local/mock-makini-api';
import { captureOutput } from '../support/capture-output';
import { startDynalite, type LocalDynamo } from '../support/dynalite';

const PREFIX = 'makini/connections/';
let sm: LocalSecretsManager;
let smClient: SecretsManagerClient;
let dynamo: LocalDynamo;
let api: MockMakiniApi;
let store: DynamoDbEventStore;
let queued: string[];
let clock: number;

beforeEach(async () => {
  [sm, dynamo, api] = await Promise.all([startLocalSecretsManager(), startDynalite(), startMockMakiniApi()]);
  smClient = new SecretsManagerClient({ endpoint: sm.url, maxAttempts: 1 });
  clock = Date.parse('2026-11-22T06:00:00Z');
  store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 86_400, leaseMs: 30_000, now: () => clock });
  queued = [];
});
afterEach(async () => {
  smClient.destroy();
  await Promise.all([sm.close(), dynamo.close(), api.close()]);
});

const healthy = (connectionId: string, overrides: Partial<MockConnection> = {}): MockConnection => ({
  connectionId,
  status: 'online',
  reauthorizationRequired: false,
  sync: { status: 'completed', lastSuccessfulSyncAt: '2026-11-22T05:00:00.000Z', lastSyncAt: '2026-11-22T05:00:00.000Z' },
  ...overrides,
});

async function addConnection(connectionId: string, mock: MockConnection = healthy(connectionId)): Promise<string> {
  const token = `tok_${connectionId}_secret`;
  await smClient.send(new CreateSecretCommand({ Name: `${PREFIX}${connectionId}`, SecretString: formatConnectionSecret({ connectionId, token }) }));
  api.setConnection(token, mock);
  return token;
}

function poller(settings: Partial<PollerDeps['settings']> = {}, observeHook?: () => void) {
  const metrics = new Metrics({ namespace: 'Test', serviceName: 'poller' });
  const addMetric = jest.spyOn(metrics, 'addMetric');
  const client = new MakiniApiClient({ baseUrl: api.url, statusPath: '/connection-status', syncStatusPath: '/sync-status', timeoutMs: 500, maxAttempts: 2, sleep: async () => undefined });
  const run = createPoller({
    tokens: new SecretsManagerConnectionTokens(smClient, { prefix: PREFIX, cacheSeconds: 0 }),
    store,
    api: {
      observe: (id, token) => {
        observeHook?.();
        return client.observe(id, token);
      },
    },
    queue: { send: async (m) => void queued.push(m) },
    logger: new Logger({ serviceName: 'poller' }),
    metrics,
    settings: { pollAll: false, expectedWindowMs: 30 * 60_000, breakerFailureThreshold: 2, breakerCooldownMs: 10 * 60_000, concurrency: 4, budgetMs: 60_000, reserveMs: 40_000, ...settings },
    now: () => clock,
  });
  const gauge = (name: string) => addMetric.mock.calls.filter(([n]) => n === name).map(([, , v]) => v).at(-1);
  return { run: () => captureOutput(() => run({})), gauge };
}

/** Feeds everything the poller queued through the consumer, as the event source would. */
async function drain(): Promise<void> {
  for (const [i, body] of queued.splice(0).entries()) {
    const outcome = await processMessage({ deliveryId: `poll-msg-${clock}-${i}`, body }, store, DEFAULT_CONFIG);
    if (outcome.kind === 'processed') await finishProcessed(outcome, store);
  }
}

describe('poller against local Secrets Manager, dynalite and the mock Makini API', () => {
  it('recovers a lost reauthorization webhook exactly once across repeated polls', async () => {
    await addConnection('conn_r', healthy('conn_r', { reauthorizationRequired: true, sync: { status: 'in_progress' } }));
    const { run, gauge } = poller();

    const first = await run();
    expect(first.result).toMatchObject({ polled: 1, recovered: 1 });
    expect(queued).toHaveLength(1);
    const { envelope, body } = decodeEnvelope(queued[0]);
    expect(envelope.scheme).toBe('poll');
    expect(JSON.parse(body.toString())).toMatchObject({ type: 'connection.reauthorization_required', connection_id: 'conn_r' });

    // Before the consumer catches up, the next poll re-sends the identical body: a duplicate, not a new event.
    clock += 5 * 60_000;
    const second = await run();
    expect(second.result.recovered).toBe(0);
    expect(queued[1]).toBeDefined();
    expect(decodeEnvelope(queued[1]).body.equals(body)).toBe(true);

    await drain();
    expect(await store.getConnection('conn_r')).toMatchObject({ status: 'reauthorization_required' });
    expect(await store.listEvents('conn_r')).toEqual([expect.objectContaining({ type: 'connection.reauthorization_required', deliveries: 2, source: 'poll' })]);

    clock += 5 * 60_000;
    await run();
    expect(queued).toEqual([]); // the state now agrees with Makini
    expect(gauge(POLLER_METRICS.needingReauth)).toBe(1);
  });

  it('recovers a newer successful sync, and synthesizes nothing once the state matches', async () => {
    await addConnection('conn_s');
    const { run } = poller();
    await run();
    expect(queued.map((q) => JSON.parse(decodeEnvelope(q).body.toString()).type).sort()).toEqual(['connection.status_changed', 'sync.completed']);
    await drain();
    expect(await store.getConnection('conn_s')).toMatchObject({ status: 'online', lastSyncStatus: 'completed', lastSyncAt: '2026-11-22T05:00:00.000000000Z' });

    api.setConnection('tok_conn_s_secret', healthy('conn_s', { sync: { status: 'completed', lastSuccessfulSyncAt: '2026-11-22T05:55:00Z' } }));
    clock += 60_000;
    await run();
    expect(queued.map((q) => JSON.parse(decodeEnvelope(q).body.toString()))).toEqual([expect.objectContaining({ type: 'sync.completed', timestamp: '2026-11-22T05:55:00.000000000Z' })]);
    await drain();

    clock += 60_000;
    const { result } = await run();
    expect(result.polled).toBe(1); // polled (no webhook seen yet) ...
    expect(queued).toEqual([]); // ... but nothing to recover
  });

  it('records failures, opens the breaker after repeated ones, and closes it after a good probe', async () => {
    const token = await addConnection('conn_f');
    const { run } = poller();
    api.failNext(token, ...Array.from({ length: 8 }, () => ({ kind: 'server-error' as const })));
    expect((await run()).result).toMatchObject({ polled: 1, failed: 1 });
    clock += 60_000;
    expect((await run()).result).toMatchObject({ polled: 1, failed: 1 });
    expect((await store.loadCandidates(['conn_f']))[0].poll).toMatchObject({ consecutiveFailures: 2, lastOutcome: 'failed', lastError: expect.stringMatching(/HTTP 500/) });

    clock += 60_000;
    expect((await run()).result).toMatchObject({ due: 0, polled: 0 }); // open: skipped

    clock += 10 * 60_000;
    expect((await run()).result).toMatchObject({ polled: 1, failed: 0 }); // half-open probe succeeds
    expect((await store.loadCandidates(['conn_f']))[0].poll).toMatchObject({ consecutiveFailures: 0, lastOutcome: 'ok' });
  });

  it('treats a rejected token as a finding, logging Makini’s request id and never the token', async () => {
    await addConnection('conn_u');
    api.setConnection('tok_conn_u_secret', undefined as never); // Makini no longer knows the token
    const { run } = poller();
    const { result, output } = await run();
    expect(result).toMatchObject({ polled: 1, unauthorized: 1, failed: 0 });
    expect(output).toMatch(/Makini refused the connection token/);
    expect(output).toMatch(/req_/);
    expect(output).not.toContain('tok_conn_u_secret');
  });

  it('stops at its time budget and resumes with the least recently polled next run', async () => {
    for (let i = 0; i < 6; i++) await addConnection(`conn_${i}`);
    const { run } = poller({ concurrency: 1, budgetMs: 2_500 }, () => (clock += 1_000));
    const first = await run();
    expect(first.result).toMatchObject({ due: 6, polled: 3, deferred: 3 });

    clock += 60_000;
    const second = await run();
    expect(second.result.polled).toBe(3);
    const polledAt = (await store.loadCandidates(Array.from({ length: 6 }, (_, i) => `conn_${i}`))).map((c) => c.poll?.lastPolledAt);
    expect(polledAt.every(Boolean)).toBe(true); // every connection covered over two runs
  });

  it('discovers more than 20 tokens, over several BatchGetSecretValue calls', async () => {
    for (let i = 0; i < 45; i++) await addConnection(`conn_${String(i).padStart(2, '0')}`);
    const { run } = poller({ concurrency: 8 });
    const { result } = await run();
    expect(result).toMatchObject({ connections: 45, polled: 45 });
    expect(sm.calls.BatchGetSecretValue).toBe(3);
    expect(result.peakConcurrency).toBeLessThanOrEqual(8);
  });
});

describe('poller to bus', () => {
  it('turns a lost reauthorization webhook into reauthorization_required after one poll, with an event on the bus', async () => {
    const { startFakeAws } = await import('../support/fake-aws');
    const { EventBridgeClient } = await import('@aws-sdk/client-eventbridge');
    const { EventBridgePublisher } = await import('../../lambdas/adapters/eventbridge-publisher');
    const { createConsumerHandler } = await import('../../lambdas/consumer/consumer');
    const aws = await startFakeAws();
    try {
      // The connection was online; its reauthorization webhook never arrived.
      await addConnection('conn_lost', healthy('conn_lost', { reauthorizationRequired: true, sync: { status: 'in_progress' } }));
      await store.updateConnection('conn_lost', (s) => ({ state: { ...s, status: 'online', statusAt: '2026-11-22T05:00:00.000000000Z', statusEventId: 'evt_old' }, stale: false, changed: true }));

      await poller().run();
      const consume = createConsumerHandler({
        fields: DEFAULT_CONFIG,
        store,
        publisher: new EventBridgePublisher(new EventBridgeClient({ endpoint: aws.url, maxAttempts: 1 }), 'makini-bus'),
        logger: new Logger({ serviceName: 'consumer', logLevel: 'ERROR' }),
        metrics: new Metrics({ namespace: 'Test', serviceName: 'consumer' }),
      });
      const response = await consume({ Records: queued.splice(0).map((body, i) => ({ messageId: `m${i}`, body }) as never) });

      expect(response.batchItemFailures).toEqual([]);
      expect((await store.getConnection('conn_lost'))?.status).toBe('reauthorization_required');
      expect(aws.busEvents).toHaveLength(1);
      expect(aws.busEvents[0].DetailType).toBe('connection.reauthorization_required');
      expect(JSON.parse(aws.busEvents[0].Detail)).toMatchObject({ event: { source: 'poll', connectionId: 'conn_lost' }, transition: { from: 'online', to: 'reauthorization_required' } });
    } finally {
      await aws.close();
    }
  });
});

describe('poller handler built from the environment', () => {
  const savedEnv = { ...process.env };
  afterEach(() => {
    process.env = { ...savedEnv };
  });

  it('reaches Secrets Manager, DynamoDB, SQS and Makini through configuration only, and emits EMF', async () => {
    const { startFakeAws } = await import('../support/fake-aws');
    const aws = await startFakeAws();
    try {
      await addConnection('conn_env', healthy('conn_env', { status: 'offline' }));
      process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = sm.url;
      process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
      process.env.AWS_ENDPOINT_URL_SQS = aws.url;
      const { createPollerHandlerFromEnv } = await import('../../lambdas/poller/poller');
      const handler = createPollerHandlerFromEnv({
        ...process.env,
        MAKINI_EVENT_TABLE: dynamo.tableName,
        MAKINI_WEBHOOK_QUEUE_URL: `${aws.url}/000000000000/webhooks`,
        MAKINI_MAKINI_API_URL: api.url,
        MAKINI_METRICS_NAMESPACE: 'PollerEnvTest',
      });
      const context = { functionName: 'poller', awsRequestId: 'req', getRemainingTimeInMillis: () => 120_000 } as never;
      const { result, output } = await captureOutput(() => handler({}, context));
      expect(result).toMatchObject({ connections: 1, polled: 1, recovered: 2 });
      expect(aws.messages.map((m) => JSON.parse(decodeEnvelope(m).body.toString()).type).sort()).toEqual(['connection.status_changed', 'sync.completed']);
      expect(output).toContain('"Namespace":"PollerEnvTest"');
      expect(output).toContain('"MissedEventRecovered"');
      expect(output).not.toContain('tok_conn_env_secret');
    } finally {
      await aws.close();
    }
  });
});
