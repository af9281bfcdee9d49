import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateSecretCommand, GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DEFAULT_CONFIG } from '../../lambdas/config/config';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { MakiniApiClient } from '../../lambdas/adapters/makini-api-client';
import { SecretsManagerClientCredentials, SecretsManagerConnectionTokens } from '../../lambdas/adapters/secrets-manager-connection-tokens';
import { formatConnectionSecret, parseConnectionSecret, tokenFromResponse } from '../../lambdas/core/connection-secret';
import { finishProcessed, processMessage } from '../../lambdas/core/consume';
import { decodeEnvelope, encodeEnvelope } from '../../lambdas/core/envelope';
import { createPoller, pollerSettings, POLLER_METRICS, type PollerDeps } from '../../lambdas/poller/poller';
import { SqsPollShardQueue } from '../../lambdas/adapters/sqs-poll-shard-queue';
import type { PollWorkers } from '../../lambdas/adapters/lambda-poll-workers';
import { parsePollShard, type PollShard } from '../../lambdas/core/poll';
import { startLocalSqs, type LocalSqs } from '../../local/aws/sqs';
import { startLocalSecretsManager, type LocalSecretsManager } from '../../local/aws/secrets-manager';
import { type MakiniApiSimulator, type MakiniApiSimulatorOptions } from '../../local/makini-api-simulator';
import { captureOutput } from '../support/capture-output';
import { CREDENTIALS_SECRET, startPollerBackends, TOKEN_PREFIX, type PollerBackends } from '../support/poller-backends';
import type { LocalDynamo } from '../support/dynalite';

const PREFIX = TOKEN_PREFIX;
const DAY = 86_400_000;
let backends: PollerBackends;
let sm: LocalSecretsManager;
let smClient: SecretsManagerClient;
let dynamo: LocalDynamo;
let makini: MakiniApiSimulator;
let store: DynamoDbEventStore;
let queued: string[];
/** The poller's clock is the simulator's, so token lifetimes agree on both sides. */
let clock: () => number;

async function setUp(options: MakiniApiSimulatorOptions = {}) {
  backends = await startPollerBackends({ makini: options, clock: () => clock() });
  ({ sm, smClient, dynamo, makini, store } = backends);
  clock = () => makini.now();
  queued = [];
}
afterEach(async () => backends.close());

const systemCredentials = () => backends.systemCredentials();

function poller(settings: Partial<PollerDeps['settings']> = {}, hooks: { writeBack?: () => void; sleep?: (ms: number) => void; current?: () => void; discover?: () => void; fanOut?: PollerDeps['fanOut']; tokenCacheSeconds?: number } = {}) {
  const metrics = new Metrics({ namespace: 'Test', serviceName: 'poller' });
  const addMetric = jest.spyOn(metrics, 'addMetric');
  const api = new MakiniApiClient({ baseUrl: makini.url, pageSize: 2, timeoutMs: 1_000, maxAttempts: 2, now: () => clock(), sleep: async (ms) => void hooks.sleep?.(ms) });
  const tokens = new SecretsManagerConnectionTokens(smClient, { prefix: PREFIX, cacheSeconds: hooks.tokenCacheSeconds ?? 0, now: () => clock() });
  const run = createPoller({
    credentials: new SecretsManagerClientCredentials(smClient, { secretName: CREDENTIALS_SECRET, cacheSeconds: 0 }),
    tokens: {
      discover: async () => {
        hooks.discover?.();
        return tokens.discover();
      },
      forget: () => tokens.forget(),
      writeBack: async (token) => {
        hooks.writeBack?.();
        await tokens.writeBack(token);
      },
    },
    store,
    api: {
      listConnections: (c) => api.listConnections(c),
      issueConnectionToken: (c, key, seconds) => api.issueConnectionToken(c, key, seconds),
      refreshToken: (token) => api.refreshToken(token),
      currentIntegration: (token) => {
        hooks.current?.();
        return api.currentIntegration(token);
      },
    },
    queue: { send: async (m) => void queued.push(m) },
    ...(hooks.fanOut && { fanOut: hooks.fanOut }),
    logger: new Logger({ serviceName: 'poller' }),
    metrics,
    settings: { ...pollerSettings(DEFAULT_CONFIG), breakerFailureThreshold: 2, breakerCooldownMs: 10 * 60_000, concurrency: 4, budgetMs: 60_000, reserveMs: 40_000, ...settings },
    now: () => clock(),
  });
  // A run emits only the counts that are not zero (a metric costs for each hour it has data), so a
  // count the last run did not emit is 0.
  let lastRunStart = 0;
  const gauge = (name: string) => addMetric.mock.calls.slice(lastRunStart).filter(([n]) => n === name).map(([, , v]) => v).at(-1) ?? 0;
  return {
    run: () => {
      lastRunStart = addMetric.mock.calls.length;
      return captureOutput(() => run({}));
    },
    /** A worker invocation, as a fanned-out run starts it. */
    work: (event: unknown = { pollWorker: { runId: 'poll-test', notAfter: clock() + 5 * 60_000 } }) => {
      lastRunStart = addMetric.mock.calls.length;
      return captureOutput(() => run(event));
    },
    /** Workers running at the same time. */
    workTogether: async (count: number, event: unknown) => (await captureOutput(() => Promise.all(Array.from({ length: count }, () => run(event))))).result,
    gauge,
  };
}

/** Feeds everything the poller queued through the consumer, as the event source would. */
async function drain(): Promise<void> {
  for (const [i, body] of queued.splice(0).entries()) {
    const outcome = await processMessage({ deliveryId: `poll-msg-${clock()}-${i}`, body }, store, DEFAULT_CONFIG);
    if (outcome.kind === 'processed') await finishProcessed(outcome, store);
  }
}
const types = () => queued.map((q) => JSON.parse(decodeEnvelope(q).body.toString()) as { type: string; connection_id: string; data: Record<string, unknown> });

describe('system mode against the Makini simulator (client credentials, connection list, issued tokens)', () => {
  beforeEach(async () => {
    await setUp();
    await systemCredentials();
  });

  it('lists every connection through every page, reads each sync status with an issued token, and recovers what webhooks missed once', async () => {
    for (const key of ['conn_a', 'conn_b', 'conn_c', 'conn_d', 'conn_e']) makini.upsertConnection(key, { status: 'active', sync_status: 'done', sync_updated_at: '2026-11-22T05:00:00Z' });
    const { run } = poller();
    const first = await run();
    expect(first.result).toMatchObject({ mode: 'system', connections: 5, polled: 5, failed: 0, recovered: 10 });
    expect(makini.stats.byRoute.connections).toBe(3); // 5 connections, 2 per page
    expect([...makini.stats.perPageSeen]).toEqual([2]);
    expect(makini.stats.connectionTokensIssued).toBe(5);
    expect([...makini.stats.versionHeaders]).toEqual(['']); // no version header by default
    expect(types().filter((e) => e.connection_id === 'conn_a').map((e) => e.type).sort()).toEqual(['connection.status_changed', 'sync.completed']);
    await drain();
    expect(await store.getConnection('conn_a')).toMatchObject({ status: 'online', lastSyncStatus: 'completed', lastSyncAt: '2026-11-22T05:00:00.000000000Z' });

    makini.advanceClock(60_000);
    const second = await run();
    expect(second.result.recovered).toBe(0);
    expect(queued).toEqual([]);
    expect(makini.stats.grants.client_credentials).toBe(1); // the system token is cached until shortly before it expires
    expect(first.output + second.output).not.toContain(makini.clientSecret);
  });

  it('maps fulldone to a completed sync, error to a failed one, and fail to one reauthorization notice', async () => {
    makini.upsertConnection('conn_full', { sync_status: 'fulldone', sync_updated_at: '2026-11-22T05:10:00Z' });
    makini.upsertConnection('conn_err', { sync_status: 'error', sync_updated_at: '2026-11-22T05:20:00Z' });
    makini.upsertConnection('conn_fail', { sync_status: 'fail', sync_updated_at: '2026-11-22T05:30:00Z' });
    const { run, gauge } = poller();
    await run();
    const byConnection = (id: string) => types().filter((e) => e.connection_id === id).map((e) => e.type).sort();
    expect(byConnection('conn_full')).toEqual(['connection.status_changed', 'sync.completed']);
    expect(byConnection('conn_err')).toEqual(['connection.status_changed', 'sync.failed']);
    expect(byConnection('conn_fail')).toEqual(['connection.reauthorization_required']);
    expect(types().find((e) => e.type === 'connection.reauthorization_required')?.data).toMatchObject({ reason: 'sync_status_fail' });
    await drain();
    expect(await store.getConnection('conn_fail')).toMatchObject({ status: 'reauthorization_required' });
    expect(await store.getConnection('conn_err')).toMatchObject({ lastSyncStatus: 'failed' });

    for (let i = 0; i < 2; i++) {
      makini.advanceClock(5 * 60_000);
      await run();
      expect(types().filter((e) => e.type === 'connection.reauthorization_required')).toEqual([]); // raised once
      await drain();
    }
    expect(gauge(POLLER_METRICS.needingReauth)).toBe(1);
  });

  it('marks a connection that left the list deleted: no longer polled or alarmed on, history kept; it returns if listed again', async () => {
    makini.upsertConnection('conn_keep');
    makini.upsertConnection('conn_gone', { sync_status: 'fail' });
    const { run, gauge } = poller({ pollAll: true });
    await run();
    await drain();
    await run();
    expect(gauge(POLLER_METRICS.needingReauth)).toBe(1);

    makini.deleteConnection('conn_gone');
    makini.advanceClock(60_000);
    const after = await run();
    expect(after.result).toMatchObject({ deleted: 1, connections: 1 });
    expect((await store.loadCandidates(['conn_gone']))[0].poll).toMatchObject({ deletedAt: expect.any(String) });
    expect(gauge(POLLER_METRICS.needingReauth)).toBe(0); // nothing alarms on it
    expect(await store.listEvents('conn_gone')).not.toEqual([]); // its history stays

    makini.advanceClock(60_000);
    const issued = makini.stats.connectionTokensIssued;
    const later = await run();
    expect(later.result).toMatchObject({ deleted: 0, connections: 1, polled: 1 });
    expect(makini.stats.connectionTokensIssued).toBe(issued + 1); // conn_keep only

    makini.upsertConnection('conn_gone', { sync_status: 'done' });
    makini.advanceClock(60_000);
    expect((await run()).result).toMatchObject({ connections: 2, polled: 2 });
    expect((await store.loadCandidates(['conn_gone']))[0].poll?.deletedAt).toBeUndefined();
  });

  it('keeps an unknown connection status verbatim, counts it, and changes no state for it', async () => {
    makini.upsertConnection('conn_odd', { status: 'Quarantined', sync_status: 'inprogress' });
    const { run, gauge } = poller();
    const { output } = await run();
    expect(queued).toEqual([]);
    expect((await store.loadCandidates(['conn_odd']))[0].poll).toMatchObject({ reportedStatus: 'Quarantined', reportedSyncStatus: 'inprogress', lastOutcome: 'ok' });
    expect(gauge(POLLER_METRICS.unknownStatus)).toBe(1);
    expect(output).toMatch(/connectionStatusMap/);
  });

  it('honours Retry-After on 429, falls back to the HTTP status for an undocumented error body, and re-issues a refused system token', async () => {
    makini.upsertConnection('conn_x');
    makini.upsertConnection('conn_y');
    const waits: number[] = [];
    const { run } = poller({}, { sleep: (ms) => waits.push(ms) });
    makini.failNext('connections', { kind: 'rate-limited', retryAfterSeconds: 2 });
    makini.failNext('current', { kind: 'bad-gateway', connection: 'conn_y' }, { kind: 'bad-gateway', connection: 'conn_y' });
    const { result } = await run();
    expect(waits).toContain(2_000);
    expect(result).toMatchObject({ polled: 2, failed: 1 });
    expect((await store.loadCandidates(['conn_y']))[0].poll).toMatchObject({ lastOutcome: 'failed', lastError: expect.stringMatching(/HTTP 502/) });

    makini.failNext('connections', { kind: 'unauthorized' }); // e.g. the system token was revoked
    makini.advanceClock(60_000);
    expect((await run()).result).toMatchObject({ connections: 2 });
    expect(makini.stats.grants.client_credentials).toBe(2);
  });

  it('opens the breaker after repeated failures, and closes it after a good probe', async () => {
    makini.upsertConnection('conn_f');
    const { run } = poller();
    makini.failNext('current', ...Array.from({ length: 4 }, () => ({ kind: 'server-error' as const })));
    expect((await run()).result).toMatchObject({ polled: 1, failed: 1 });
    makini.advanceClock(60_000);
    expect((await run()).result).toMatchObject({ polled: 1, failed: 1 });
    makini.advanceClock(60_000);
    expect((await run()).result).toMatchObject({ polled: 0 }); // open: skipped
    makini.advanceClock(10 * 60_000);
    expect((await run()).result).toMatchObject({ polled: 1, failed: 0 }); // half-open probe succeeds
    expect((await store.loadCandidates(['conn_f']))[0].poll).toMatchObject({ consecutiveFailures: 0, lastOutcome: 'ok' });
  });

  it('stops at its time budget and resumes with the least recently polled next run', async () => {
    for (let i = 0; i < 6; i++) makini.upsertConnection(`conn_${i}`);
    let offset = 0;
    clock = () => makini.now() + offset;
    // Each poll "takes" a second of the poller's clock.
    const { run } = poller({ concurrency: 1, budgetMs: 2_500 }, { current: () => (offset += 1_000) });
    const first = await run();
    expect(first.result).toMatchObject({ due: 6, polled: 3, deferred: 3 });
    offset += 60_000;
    expect((await run()).result.polled).toBe(3);
    const polledAt = (await store.loadCandidates(Array.from({ length: 6 }, (_, i) => `conn_${i}`))).map((c) => c.poll?.lastPolledAt);
    expect(polledAt.every(Boolean)).toBe(true); // every connection covered over two runs
  });

  it('pollMode system without its secret fails the run with one clear error', async () => {
    const empty = await startLocalSecretsManager();
    const client = new SecretsManagerClient({ endpoint: empty.url, maxAttempts: 1 });
    try {
      const run = createPoller({
        credentials: new SecretsManagerClientCredentials(client, { secretName: CREDENTIALS_SECRET, cacheSeconds: 0 }),
        tokens: new SecretsManagerConnectionTokens(client, { prefix: PREFIX, cacheSeconds: 0 }),
        store,
        api: new MakiniApiClient({ baseUrl: makini.url, timeoutMs: 1_000, maxAttempts: 1 }),
        queue: { send: async () => undefined },
        logger: new Logger({ serviceName: 'poller', logLevel: 'ERROR' }),
        metrics: new Metrics({ namespace: 'Test', serviceName: 'poller' }),
        settings: { ...pollerSettings(DEFAULT_CONFIG), mode: 'system' },
      });
      await expect(run({})).rejects.toThrow('pollMode is system, but the secret makini/system-credentials does not exist');
    } finally {
      client.destroy();
      await empty.close();
    }
  });

  it('keeps a sync_status Makini does not document verbatim in the poll record, in place of the earlier one', async () => {
    makini.upsertConnection('conn_u', { status: 'active', sync_status: 'done', sync_updated_at: '2026-11-22T05:00:00Z' });
    const { run } = poller({ pollAll: true });
    await run();
    expect((await store.loadCandidates(['conn_u']))[0].poll?.reportedSyncStatus).toBe('done');
    makini.upsertConnection('conn_u', { sync_status: 'queued' });
    makini.advanceClock(5 * 60_000);
    expect((await run()).result).toMatchObject({ polled: 1, failed: 0 });
    expect((await store.loadCandidates(['conn_u']))[0].poll?.reportedSyncStatus).toBe('queued');
  });

  it('corrects a status set by an event timed ahead of our clock once the clock has passed it (not with a stale event re-sent under one id)', async () => {
    makini.upsertConnection('conn_s', { status: 'active', sync_status: 'inprogress' });
    // A webhook says offline, timed 60 s ahead of our clock (its sender's clock runs fast).
    const ahead = new Date(clock() + 60_000).toISOString();
    const body = JSON.stringify({ id: 'wh_offline', type: 'connection.status_changed', timestamp: ahead, connection_id: 'conn_s', data: { status: 'offline' } });
    queued.push(encodeEnvelope({ webhookId: 'wh_offline', receivedAt: new Date(clock()).toISOString(), scheme: 'makini', requestId: 'r1' }, Buffer.from(body)));
    await drain();
    expect(await store.getConnection('conn_s')).toMatchObject({ status: 'offline' });

    const { run } = poller();
    await run(); // Makini says active, but the state's offline is timed after this observation
    expect(types().filter((e) => e.type === 'connection.status_changed')).toEqual([]);
    await drain();
    makini.advanceClock(10 * 60_000);
    await run();
    expect(types().filter((e) => e.type === 'connection.status_changed').map((e) => e.data.status)).toEqual(['online']);
    await drain();
    expect(await store.getConnection('conn_s')).toMatchObject({ status: 'online' });
  });
});

describe('per-connection mode against the Makini simulator (OAuth pairs in one secret each)', () => {
  /** Stores the pair the dashboard issued, as `connections add` does. */
  async function addPair(key: string, ttl: { accessTtlSeconds?: number; refreshTtlSeconds?: number } = {}) {
    makini.upsertConnection(key, { sync_status: 'done', sync_updated_at: '2026-11-22T05:00:00Z' });
    const pair = makini.issuePair(key, ttl);
    const parsed = tokenFromResponse(key, pair, clock());
    if (!parsed.ok) throw new Error(parsed.reason);
    const value = { ...parsed.value, ...(ttl.refreshTtlSeconds && { refreshExpiresAt: new Date(clock() + ttl.refreshTtlSeconds * 1000).toISOString() }) };
    await smClient.send(new CreateSecretCommand({ Name: `${PREFIX}${key}`, SecretString: formatConnectionSecret(value) }));
    return pair;
  }
  const stored = async (key: string, stage = 'AWSCURRENT') => {
    const { SecretString } = await smClient.send(new GetSecretValueCommand({ SecretId: `${PREFIX}${key}`, VersionStage: stage }));
    const parsed = parseConnectionSecret(SecretString ?? '');
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.value;
  };

  it('refreshes a pair within the margin, writes it back (the old pair kept as AWSPREVIOUS), and polls with it', async () => {
    await setUp();
    const pair = await addPair('conn_p', { accessTtlSeconds: 3 * 86_400 });
    const { run, gauge } = poller();
    const { result, output } = await run();
    expect(result).toMatchObject({ mode: 'per-connection', polled: 1, failed: 0, tokensRefreshed: 1 });
    expect(gauge(POLLER_METRICS.refreshed)).toBe(1);
    const now = await stored('conn_p');
    expect(now.token).not.toBe(pair.access_token);
    expect(Date.parse(now.expiresAt!) - clock()).toBeGreaterThan(29 * DAY);
    expect((await stored('conn_p', 'AWSPREVIOUS')).token).toBe(pair.access_token);
    expect(types().map((e) => e.type).sort()).toEqual(['connection.status_changed', 'sync.completed']);
    expect(output).not.toContain(pair.access_token);
    expect(output).not.toContain(now.refreshToken!);

    makini.advanceClock(60_000);
    expect((await run()).result).toMatchObject({ tokensRefreshed: 0 }); // not due any more
    expect(makini.stats.grants.refresh_token).toBe(1);
  });

  it('reads the pairs again before refreshing from a cached list, so a pair another container refreshed meanwhile is not refreshed with its rotated-out refresh token', async () => {
    await setUp({ rotateRefreshTokens: true });
    // Expires 7 days and 30 s from now: just outside the refresh margin.
    await addPair('conn_r', { accessTtlSeconds: 7 * 86_400 + 30 });
    const containerA = poller({ pollAll: true }, { tokenCacheSeconds: 300 });
    const containerB = poller({ pollAll: true }, { tokenCacheSeconds: 300 });
    expect((await containerB.run()).result).toMatchObject({ tokensRefreshed: 0 }); // B caches the pair
    makini.advanceClock(60_000); // now within the margin
    expect((await containerA.run()).result).toMatchObject({ tokensRefreshed: 1, tokenRefreshFailed: 0 }); // A refreshes; Makini rotates the refresh token
    queued.length = 0;
    makini.advanceClock(60_000);
    expect((await containerB.run()).result).toMatchObject({ polled: 1, failed: 0, tokensRefreshed: 0, tokenRefreshFailed: 0 });
    expect(types().filter((e) => e.type === 'connection.token_expiring')).toEqual([]);
    expect(makini.stats.grants.refresh_token).toBe(1);
  });

  it('reads the pairs again before refreshing after a 401 from a cached list, so a pair another container refreshed on its own 401 is used, not refreshed with its rotated-out refresh token', async () => {
    await setUp({ rotateRefreshTokens: true });
    // Makini's access token lives 120 s, but the stored pair says 20 days (revoked early, say): never
    // due by time, so the poller learns of it from a 401.
    makini.upsertConnection('conn_e', { sync_status: 'done', sync_updated_at: '2026-11-22T05:00:00Z' });
    const parsed = tokenFromResponse('conn_e', makini.issuePair('conn_e', { accessTtlSeconds: 120 }), clock());
    if (!parsed.ok) throw new Error(parsed.reason);
    await smClient.send(new CreateSecretCommand({ Name: `${PREFIX}conn_e`, SecretString: formatConnectionSecret({ ...parsed.value, expiresAt: new Date(clock() + 20 * DAY).toISOString() }) }));
    const containerA = poller({ pollAll: true }, { tokenCacheSeconds: 300 });
    const containerB = poller({ pollAll: true }, { tokenCacheSeconds: 300 });
    expect((await containerB.run()).result).toMatchObject({ polled: 1, tokensRefreshed: 0 }); // B caches the pair
    makini.advanceClock(150_000); // the access token is refused from now on
    expect((await containerA.run()).result).toMatchObject({ polled: 1, failed: 0, tokensRefreshed: 1, tokenRefreshFailed: 0 }); // A: 401, refresh, rotation
    queued.length = 0;
    makini.advanceClock(60_000); // within B's cache
    expect((await containerB.run()).result).toMatchObject({ polled: 1, failed: 0, unauthorized: 0, tokensRefreshed: 0, tokenRefreshFailed: 0 });
    expect(types().filter((e) => e.type === 'connection.token_expiring')).toEqual([]);
    expect(makini.stats.grants.refresh_token).toBe(1);
  });

  it('refreshes with the cached pair after a 401 when the pairs cannot be read again (a warning, not a failed poll)', async () => {
    await setUp();
    makini.upsertConnection('conn_f', { sync_status: 'done', sync_updated_at: '2026-11-22T05:00:00Z' });
    const parsed = tokenFromResponse('conn_f', makini.issuePair('conn_f', { accessTtlSeconds: 120 }), clock());
    if (!parsed.ok) throw new Error(parsed.reason);
    await smClient.send(new CreateSecretCommand({ Name: `${PREFIX}conn_f`, SecretString: formatConnectionSecret({ ...parsed.value, expiresAt: new Date(clock() + 20 * DAY).toISOString() }) }));
    let discoveries = 0;
    let failFrom = Infinity;
    const container = poller({ pollAll: true }, { tokenCacheSeconds: 300, discover: () => { if (++discoveries >= failFrom) throw new Error('Secrets Manager is unavailable'); } });
    expect((await container.run()).result).toMatchObject({ polled: 1, tokensRefreshed: 0 }); // caches the pair
    makini.advanceClock(150_000);
    failFrom = discoveries + 2; // the run's first discovery is served from the cache; reading the pairs again fails
    const { result, output } = await container.run();
    expect(result).toMatchObject({ polled: 1, failed: 0, unauthorized: 0, tokensRefreshed: 1, tokenRefreshFailed: 0 });
    expect(output).toContain('could not read the connection tokens again: refreshing with the cached pairs');
    expect(output).not.toContain(parsed.value.refreshToken!);
  });

  it('survives a crash between Makini’s answer and the write-back: the previous pair stays usable and the next run refreshes again', async () => {
    await setUp();
    const pair = await addPair('conn_c', { accessTtlSeconds: 2 * 86_400 });
    let crash = true;
    const { run, gauge } = poller({}, {
      writeBack: () => {
        if (crash) throw new Error('Injected: the process died before the write');
      },
    });
    const first = await run();
    expect(first.result).toMatchObject({ polled: 1, failed: 0, tokensRefreshed: 0, tokenRefreshFailed: 1 });
    expect(gauge(POLLER_METRICS.refreshFailed)).toBe(1);
    expect((await stored('conn_c')).token).toBe(pair.access_token); // untouched
    expect(types().find((e) => e.type === 'connection.token_expiring')?.data).toMatchObject({ reason: 'refresh_failed' });

    crash = false;
    makini.advanceClock(5 * 60_000);
    queued = [];
    const second = await run();
    expect(second.result).toMatchObject({ polled: 1, failed: 0, tokensRefreshed: 1 });
    expect((await stored('conn_c')).token).not.toBe(pair.access_token);
    // The old access token was never revoked by the refresh: the pair stayed usable throughout.
    expect(makini.stats.grants.refresh_token).toBe(2);
  });

  it('a failed refresh and a refresh token about to expire each raise a metric and a connection.token_expiring event, once per token', async () => {
    await setUp({ rotateRefreshTokens: true });
    await addPair('conn_e', { accessTtlSeconds: 86_400, refreshTtlSeconds: 2 * 86_400 });
    makini.failNext('token', { kind: 'server-error' }, { kind: 'server-error' }, { kind: 'server-error' }, { kind: 'server-error' });
    const { run, gauge } = poller();
    const first = await run();
    expect(first.result).toMatchObject({ polled: 1, tokenRefreshFailed: 1, tokensExpiring: 1 });
    expect(gauge(POLLER_METRICS.refreshFailed)).toBe(1);
    expect(gauge(POLLER_METRICS.expiring)).toBe(1);
    const notices = types().filter((e) => e.type === 'connection.token_expiring');
    expect(notices.map((e) => e.data.reason).sort()).toEqual(['refresh_failed', 'refresh_token_expiring']);
    const ids = queued.map((q) => decodeEnvelope(q).envelope.webhookId).sort();
    await drain();

    // Same tokens, same notices: the consumer sees duplicates, nothing new reaches the bus.
    makini.failNext('token', { kind: 'server-error' }, { kind: 'server-error' });
    makini.advanceClock(60_000);
    await run();
    const again = queued.filter((q) => JSON.parse(decodeEnvelope(q).body.toString()).type === 'connection.token_expiring').map((q) => decodeEnvelope(q).envelope.webhookId).sort();
    expect(again).toHaveLength(2); // both notices re-sent (still pending), under their first ids
    expect(again.every((id) => ids.includes(id))).toBe(true);
  });

  it('treats a refused token as a finding, drops the cached tokens at once, and never logs a token', async () => {
    await setUp();
    const pair = await addPair('conn_u');
    makini.deleteConnection('conn_u'); // Makini no longer accepts the token
    const { run } = poller();
    const { result, output } = await run();
    expect(result).toMatchObject({ polled: 1, unauthorized: 1, failed: 0 });
    expect(output).toMatch(/Makini refused the connection token/);
    expect(output).not.toContain(pair.access_token);
  });

  it('discovers more than 20 token secrets, over several BatchGetSecretValue calls', async () => {
    await setUp();
    for (let i = 0; i < 45; i++) await addPair(`conn_${String(i).padStart(2, '0')}`);
    const { run } = poller({ concurrency: 8 });
    const { result } = await run();
    expect(result).toMatchObject({ connections: 45, polled: 45 });
    expect(sm.calls.BatchGetSecretValue).toBe(3);
    expect(result.peakConcurrency).toBeLessThanOrEqual(8);
  });
});

describe('poller handler built from the environment', () => {
  const savedEnv = { ...process.env };
  afterEach(() => {
    process.env = { ...savedEnv };
  });

  it('reaches Secrets Manager, DynamoDB, SQS and Makini through configuration only, and emits EMF', async () => {
    await setUp();
    await systemCredentials();
    makini.upsertConnection('conn_env', { status: 'inactive', sync_status: 'done' });
    // The project's local SQS (local/aws/sqs.ts), as `npm start` runs it.
    const { startLocalSqs } = await import('../../local/aws/sqs');
    const { SQSClient, ReceiveMessageCommand } = await import('@aws-sdk/client-sqs');
    const sqs = await startLocalSqs({ queues: [{ name: 'webhooks', visibilityTimeoutSeconds: 30 }] });
    try {
      process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = sm.url;
      process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
      process.env.AWS_ENDPOINT_URL_SQS = sqs.url;
      const { createPollerHandlerFromEnv } = await import('../../lambdas/poller/poller');
      const handler = createPollerHandlerFromEnv({
        ...process.env,
        MAKINI_EVENT_TABLE: dynamo.tableName,
        MAKINI_WEBHOOK_QUEUE_URL: sqs.queueUrl('webhooks'),
        // The stack hands it to every poller (tokenStore=table); system mode never calls KMS.
        MAKINI_TOKEN_KEY_ARN: 'arn:aws:kms:us-east-1:000000000000:key/poller-env-test',
        MAKINI_MAKINI_API_URL: makini.url,
        MAKINI_METRICS_NAMESPACE: 'PollerEnvTest',
      });
      const context = { functionName: 'poller', awsRequestId: 'req', getRemainingTimeInMillis: () => 120_000 } as never;
      const { result, output } = await captureOutput(() => handler({}, context));
      expect(result).toMatchObject({ mode: 'system', connections: 1, polled: 1, recovered: 2 });
      const client = new SQSClient({ endpoint: sqs.url });
      const { Messages = [] } = await client.send(new ReceiveMessageCommand({ QueueUrl: sqs.queueUrl('webhooks'), MaxNumberOfMessages: 10 }));
      client.destroy();
      expect(Messages.map((m) => JSON.parse(decodeEnvelope(m.Body ?? '').body.toString()).type).sort()).toEqual(['connection.status_changed', 'sync.completed']);
      expect(output).toContain('"Namespace":"PollerEnvTest"');
      expect(output).toContain('"MissedEventRecovered"');
      expect(output).not.toContain(makini.clientSecret);
    } finally {
      await sqs.close();
    }
  });
});

describe('one poll run at a time', () => {
  it('a run started while another holds the lease polls nothing; the lease is given back at the end, and expires if a run dies', async () => {
    await setUp();
    await systemCredentials();
    makini.upsertConnection('conn_l');
    expect(await store.acquirePollLease('a-crashed-run', clock(), clock() + 60_000)).toBe(true);
    const { run } = poller();
    const blocked = await run();
    expect(blocked.result).toMatchObject({ skipped: 'another poll run is in progress', polled: 0 });
    expect(makini.stats.byRoute.connections).toBe(0);

    makini.advanceClock(61_000); // the dead run's lease has expired
    expect((await run()).result).toMatchObject({ polled: 1 });
    makini.advanceClock(1_000);
    const next = (await run()).result;
    expect(next.skipped).toBeUndefined(); // released: the next run is not blocked
    expect(next.polled).toBe(1);
  });
});

describe('fan-out in system mode: a run puts its due connections in shards on a queue and starts workers that drain it', () => {
  let sqs: LocalSqs;
  let sqsClient: SQSClient;
  let fanOut: NonNullable<PollerDeps['fanOut']>;
  let started: Parameters<PollWorkers['start']>[];
  const SHARDS = 'poll-shards';
  const DEAD = 'poll-dlq';
  beforeEach(async () => {
    await setUp();
    await systemCredentials();
    // As deployed: one receive, then the dead-letter queue.
    sqs = await startLocalSqs({ now: () => clock(), queues: [{ name: DEAD, visibilityTimeoutSeconds: 30 }, { name: SHARDS, visibilityTimeoutSeconds: 180, redrive: { deadLetterQueue: DEAD, maxReceiveCount: 1 } }] });
    sqsClient = new SQSClient({ endpoint: sqs.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' }, maxAttempts: 1 });
    started = [];
    fanOut = { shards: new SqsPollShardQueue(sqsClient, sqs.queueUrl(SHARDS)), workers: { start: async (...args) => (started.push(args), args[0]) } };
  });
  afterEach(async () => {
    sqsClient.destroy();
    await sqs.close();
  });

  /** The shards on the queue, read from the local queue's own state (a receive would use up the one allowed). */
  const peekShards = () => sqs.peek(SHARDS).map((body) => parsePollShard(body));
  const ids = (shard: PollShard) => shard.connections.map((c) => c.id);
  const keys = Array.from({ length: 7 }, (_, i) => `conn_${i + 1}`);

  it('puts the due connections in order on the real queue, starts the workers, keeps the lease for the window, and the workers poll each once', async () => {
    for (const key of keys) makini.upsertConnection(key, { status: 'active', sync_status: 'done', sync_updated_at: '2026-11-22T05:00:00Z' });
    const { run, work, gauge } = poller({ shardSize: 3, shardConcurrency: 2, windowMs: 5 * 60_000 }, { fanOut });
    const begun = clock();
    const coordinator = (await run()).result;
    expect(coordinator).toMatchObject({ mode: 'system', connections: 7, due: 7, polled: 0, deferred: 0, shards: 3 });
    expect(makini.stats.connectionTokensIssued).toBe(0); // the run itself polled nobody
    // Two workers (shardConcurrency), started once, after every shard was on the queue.
    expect(started).toEqual([[2, { pollWorker: { runId: expect.stringMatching(/^poll-/), notAfter: expect.any(Number) } }]]);
    const [[, worker]] = started;
    const shards = peekShards();
    // Never seen: all due, ordered by id; the last shard takes the rest. Listed, with their status.
    expect(shards.map(ids)).toEqual([keys.slice(0, 3), keys.slice(3, 6), keys.slice(6)]);
    expect(shards[0].connections[0]).toEqual({ id: 'conn_1', listed: true, status: 'active' });
    // Polls start no later than the window less the reserve, so they end before the lease does.
    for (const shard of shards) {
      expect(shard.notAfter).toBeGreaterThanOrEqual(begun + 5 * 60_000 - 40_000);
      expect(shard.notAfter).toBeLessThanOrEqual(clock() + 5 * 60_000 - 40_000);
      expect(shard.notAfter).toBe(worker.pollWorker.notAfter); // the workers' window is the shards'
    }

    // The lease is the run's until its window ends: a run started meanwhile polls nothing.
    makini.advanceClock(60_000);
    expect((await run()).result).toMatchObject({ skipped: 'another poll run is in progress' });

    // One worker drains the queue: every shard, each deleted once polled.
    const worked = (await work(worker)).result;
    expect(worked).toMatchObject({ mode: 'system', shards: 3, connections: 7, due: 7, polled: 7, deferred: 0 });
    expect(gauge(POLLER_METRICS.polled)).toBe(7);
    expect(sqs.peek(SHARDS)).toEqual([]);
    // The other finds nothing left.
    expect((await work(worker)).result).toMatchObject({ shards: 0, polled: 0 });
    expect(makini.stats.connectionTokensIssued).toBe(7); // each connection polled once
    expect(new Set(types().map((e) => e.connection_id))).toEqual(new Set(keys));
    await drain();
    expect(await store.getConnection('conn_7')).toMatchObject({ status: 'online', lastSyncStatus: 'completed' });

    // The next run, after the window: still all due (no webhook yet), the least recently polled
    // first, cut into shards in that order.
    makini.advanceClock(5 * 60_000);
    expect((await run()).result).toMatchObject({ due: 7, shards: 3 });
    expect(peekShards().map((s) => ids(s).join(' '))).toEqual(['conn_1 conn_2 conn_3', 'conn_4 conn_5 conn_6', 'conn_7']);
  });

  it('workers running at the same time share the shards: each connection is polled once', async () => {
    const many = Array.from({ length: 20 }, (_, i) => `conn_${String(i + 1).padStart(2, '0')}`);
    for (const key of many) makini.upsertConnection(key);
    const { run, workTogether } = poller({ shardSize: 3, shardConcurrency: 3, windowMs: 5 * 60_000 }, { fanOut });
    expect((await run()).result).toMatchObject({ due: 20, shards: 7 });
    const workers = await workTogether(3, started[0][1]);
    expect(workers.reduce((n, w) => n + (w.shards ?? 0), 0)).toBe(7);
    expect(workers.reduce((n, w) => n + w.polled, 0)).toBe(20);
    expect(makini.stats.connectionTokensIssued).toBe(20);
    expect(sqs.peek(SHARDS)).toEqual([]);
  });

  it('a worker out of time inside the window starts one successor, which takes the shards it left', async () => {
    for (const key of keys) makini.upsertConnection(key);
    // Each poll takes 10 s of the clock; a worker may start polls for 25 s.
    const slow = poller({ shardSize: 3, concurrency: 1, budgetMs: 25_000, windowMs: 5 * 60_000 }, { fanOut, current: () => makini.advanceClock(10_000) });
    await slow.run();
    const [[, worker]] = started.splice(0);
    const first = (await slow.work(worker)).result;
    expect(first).toMatchObject({ shards: 1, polled: 3, handedOn: true });
    expect(started).toEqual([[1, worker]]); // the same event: the same window
    expect(sqs.peek(SHARDS).map((body) => ids(parsePollShard(body)))).toEqual([keys.slice(3, 6), keys.slice(6)]);
    // Each successor has a budget of its own: one shard more, until the queue is empty.
    started.length = 0;
    const second = (await slow.work(worker)).result;
    expect(second).toMatchObject({ shards: 1, polled: 3, handedOn: true });
    started.length = 0;
    const third = (await slow.work(worker)).result;
    expect(third).toMatchObject({ shards: 1, polled: 1 });
    expect(third.handedOn).toBeUndefined(); // it found the queue empty
    expect(started).toEqual([]);
    expect(makini.stats.connectionTokensIssued).toBe(7);
  });

  it('a worker out of time in the middle of a shard puts the rest back for its successor: every connection polled once', async () => {
    for (const key of keys) makini.upsertConnection(key);
    // 10 s per poll, 15 s of budget: two polls per worker, so every shard of three is cut.
    const slow = poller({ shardSize: 3, concurrency: 1, budgetMs: 15_000, windowMs: 5 * 60_000 }, { fanOut, current: () => makini.advanceClock(10_000) });
    await slow.run();
    const [[, worker]] = started.splice(0);
    const first = (await slow.work(worker)).result;
    expect(first).toMatchObject({ shards: 1, polled: 2, requeued: 1, deferred: 0, handedOn: true });
    expect(sqs.peek(SHARDS).map((body) => ids(parsePollShard(body)))).toEqual([keys.slice(3, 6), keys.slice(6), ['conn_3']]);
    let invocations = 1;
    for (let last = first; last.handedOn; invocations++) last = (await slow.work(worker)).result;
    expect(makini.stats.connectionTokensIssued).toBe(7);
    const polled = await store.loadCandidates(keys);
    expect(polled.filter((c) => !c.poll?.lastPolledAt).map((c) => c.connectionId)).toEqual([]);
    expect(sqs.peek(SHARDS)).toEqual([]);
    expect(invocations).toBe(4); // 7 polls, two per worker
  });

  it('a worker past the window takes no shard and starts no successor: the shards wait for the next run', async () => {
    for (const key of keys) makini.upsertConnection(key);
    const slow = poller({ shardSize: 3, concurrency: 1, budgetMs: 25_000, windowMs: 5 * 60_000 }, { fanOut, current: () => makini.advanceClock(10_000) });
    await slow.run();
    const [[, worker]] = started.splice(0);
    makini.advanceClock(5 * 60_000 - 40_000 - 15_000); // the window (less the reserve) ends 15 s in: within the first shard
    const { result } = await slow.work(worker);
    // Two polls started before the window ended; the third waits for the next run, as do the other shards.
    expect(result).toMatchObject({ shards: 1, polled: 2, deferred: 1 });
    expect(result.requeued).toBeUndefined();
    expect(result.handedOn).toBeUndefined();
    expect(started).toEqual([]);
    expect(sqs.peek(SHARDS)).toHaveLength(2);
  });

  it("a worker started after its run's window (Lambda's retry, a backlog) takes nothing: it never adds to the next run's workers", async () => {
    for (const key of keys) makini.upsertConnection(key);
    const { run, work } = poller({ shardSize: 3, windowMs: 5 * 60_000 }, { fanOut });
    await run();
    const { result } = await work({ pollWorker: { runId: 'poll-previous', notAfter: clock() - 1 } });
    expect(result).toMatchObject({ shards: 0, polled: 0 });
    expect(sqs.peek(SHARDS)).toHaveLength(3);
    expect(makini.stats.connectionTokensIssued).toBe(0);
  });

  it('a run that cannot start its workers fails and gives the lease back, so that its retry runs (and fails too, to the dead-letter queue)', async () => {
    for (const key of keys) makini.upsertConnection(key);
    const denied = { shards: fanOut.shards, workers: { start: async () => Promise.reject(new Error('AccessDeniedException: not authorized to perform: lambda:InvokeFunction')) } };
    const { run } = poller({ shardSize: 3, windowMs: 5 * 60_000 }, { fanOut: denied });
    await expect(run()).rejects.toThrow(/lambda:InvokeFunction/);
    makini.advanceClock(60_000); // Lambda's retry of the asynchronous invocation
    await expect(run()).rejects.toThrow(/lambda:InvokeFunction/);
    expect(makini.stats.connectionTokensIssued).toBe(0);
    // Fewer workers than asked for is not a failure: they hand on to successors.
    const { run: partly } = poller({ shardSize: 3, shardConcurrency: 3, windowMs: 5 * 60_000 }, { fanOut: { shards: fanOut.shards, workers: { start: async () => 1 } } });
    const { result, output } = await partly();
    expect(result).toMatchObject({ shards: 3 });
    expect(output).toContain('fewer poll workers started than asked for');
  });

  it('a shard that reaches a worker after its window polls nothing: its connections wait for the next run', async () => {
    for (const key of keys) makini.upsertConnection(key);
    const { run, work } = poller({ shardSize: 3, windowMs: 5 * 60_000 }, { fanOut });
    await run();
    const [late] = peekShards();
    makini.advanceClock(5 * 60_000 - 40_000); // the window less the reserve: no poll may start now
    // A worker of the next run (its own window open) finds this run's shards still there.
    const { result, output } = await work({ pollWorker: { runId: 'poll-next', notAfter: clock() + 5 * 60_000 } });
    expect(result).toMatchObject({ shards: 3, due: 7, polled: 0, deferred: 7 });
    expect(makini.stats.connectionTokensIssued).toBe(0);
    expect(output).toContain("arrived after its run's window");
    expect((await store.loadCandidates(ids(late))).every((c) => !c.poll?.lastPolledAt)).toBe(true);
    expect(sqs.peek(SHARDS)).toEqual([]); // nothing left to take: the next run selects them again
  });

  it('a run with no more due connections than a shard polls them itself, starts no worker, and gives the lease back', async () => {
    for (const key of keys.slice(0, 3)) makini.upsertConnection(key);
    const { run } = poller({ shardSize: 3, windowMs: 5 * 60_000 }, { fanOut });
    expect((await run()).result).toMatchObject({ due: 3, polled: 3 });
    expect((await run()).result.skipped).toBeUndefined();
    expect(sqs.peek(SHARDS)).toEqual([]);
    expect(started).toEqual([]);
  });

  it('a message that is not a shard goes to the dead-letter queue; the worker polls the shards after it', async () => {
    const bad = JSON.stringify({ runId: 'poll-x', notAfter: clock() + 60_000, connections: [{ id: 'conn_1' }] });
    await fanOut.shards.send(bad);
    await fanOut.shards.send(JSON.stringify({ runId: 'poll-y', notAfter: clock() + 60_000, connections: [{ id: 'conn_2', listed: true }] }));
    makini.upsertConnection('conn_2');
    const { work } = poller({ shardSize: 3 }, { fanOut });
    const { result, output } = await work();
    expect(result).toMatchObject({ shards: 1, failedShards: 1, polled: 1 });
    expect(output).toContain('the shard message is invalid: it goes to the poll dead-letter queue');
    expect(makini.stats.connectionTokensIssued).toBe(1);
    expect(sqs.peek(SHARDS)).toEqual([]);
    expect(sqs.peek(DEAD)).toEqual([bad]);
  });

  it('a shard whose polling fails goes to the dead-letter queue, and the worker goes on', async () => {
    for (const key of keys) makini.upsertConnection(key);
    const { run } = poller({ shardSize: 3, windowMs: 5 * 60_000 }, { fanOut });
    await run();
    const first = peekShards()[0];
    // The table refuses the first shard's candidates once.
    const load = store.loadCandidates.bind(store);
    let refused = false;
    const spy = jest.spyOn(store, 'loadCandidates').mockImplementation(async (ids) => {
      if (!refused && ids.includes('conn_1')) {
        refused = true;
        throw new Error('ProvisionedThroughputExceededException');
      }
      return load(ids);
    });
    try {
      const { result, output } = await poller({ shardSize: 3, windowMs: 5 * 60_000 }, { fanOut }).work();
      expect(result).toMatchObject({ shards: 2, failedShards: 1, polled: 4 });
      expect(output).toContain('polling the shard failed: it goes to the poll dead-letter queue');
    } finally {
      spy.mockRestore();
    }
    expect(sqs.peek(DEAD).map((body) => ids(parsePollShard(body)))).toEqual([ids(first)]);
  });

  it('a poll that fails stops the shard: no other poll of it starts, and none outlives the worker', async () => {
    for (const key of keys) makini.upsertConnection(key);
    const { run } = poller({ shardSize: 3, concurrency: 2, windowMs: 5 * 60_000 }, { fanOut });
    await run();
    const save = store.savePollRecord.bind(store);
    const spy = jest.spyOn(store, 'savePollRecord').mockImplementation(async (record) => {
      if (record.connectionId === 'conn_1') throw new Error('ProvisionedThroughputExceededException');
      await new Promise((r) => setTimeout(r, 50));
      return save(record);
    });
    try {
      const { result } = await poller({ shardSize: 3, concurrency: 2, windowMs: 5 * 60_000 }, { fanOut }).work();
      expect(result).toMatchObject({ failedShards: 1 });
      await new Promise((r) => setTimeout(r, 300));
    } finally {
      spy.mockRestore();
    }
    // conn_1 failed while conn_2 was in flight: conn_3, the shard's last, was never started.
    const [third] = await store.loadCandidates(['conn_3']);
    expect(third.poll?.lastPolledAt).toBeUndefined();
    expect(sqs.peek(DEAD).map((body) => ids(parsePollShard(body)))).toEqual([['conn_1', 'conn_2', 'conn_3']]);
  });

  it('a worker in a function without a shard queue fails loudly', async () => {
    const { work } = poller();
    await expect(work()).rejects.toThrow('a poll worker was started, but this function has no poll shard queue');
  });
});
