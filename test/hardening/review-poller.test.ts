/**
 * Adversarial review of the poller's Makini API support (system mode, per-connection mode, deleted
 * connections, paging, token lifetimes). Real HTTP on 127.0.0.1 against the Makini simulator, the
 * local Secrets Manager and dynalite, wired as in test/integration/poller.test.ts. Each `it` names
 * what should hold; the ones failing today demonstrate a bug.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { CreateSecretCommand, GetSecretValueCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DEFAULT_CONFIG, pollRunReserveMs } from '../../lambdas/config/config';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { MakiniApiClient } from '../../lambdas/adapters/makini-api-client';
import { SecretsManagerClientCredentials, SecretsManagerConnectionTokens } from '../../lambdas/adapters/secrets-manager-connection-tokens';
import { expiryFromExpiresIn, formatConnectionSecret, tokenFromResponse } from '../../lambdas/core/connection-secret';
import { decodeEnvelope } from '../../lambdas/core/envelope';
import { createPoller, pollerSettings, type PollerDeps } from '../../lambdas/poller/poller';
import { listenOnLoopback } from '../../local/loopback-server';
import { type MakiniApiSimulator, type MakiniApiSimulatorOptions } from '../../local/makini-api-simulator';
import { captureOutput } from '../support/capture-output';
import { CREDENTIALS_SECRET, startPollerBackends, TOKEN_PREFIX, type PollerBackends } from '../support/poller-backends';

jest.setTimeout(60_000);

const PREFIX = TOKEN_PREFIX;
const CREDENTIALS = CREDENTIALS_SECRET;
const DAY = 86_400_000;

let backends: PollerBackends | undefined;
let smClient: SecretsManagerClient;
let makini: MakiniApiSimulator;
let store: DynamoDbEventStore;
let queued: string[];
let clock: () => number;
/** A Secrets Manager operation that fails while set (the write-back of a refreshed pair, say). */
let smFault: string | undefined;
const closers: (() => Promise<void>)[] = [];

async function setUp(options: MakiniApiSimulatorOptions = {}) {
  smFault = undefined;
  backends = await startPollerBackends({ makini: options, clock: () => clock(), smFault: (operation) => (operation === smFault ? 'unavailable' : undefined) });
  ({ smClient, makini, store } = backends);
  clock = () => makini.now();
  queued = [];
}
afterEach(async () => {
  await Promise.all([backends?.close(), ...closers.splice(0).map((c) => c())]);
  backends = undefined;
});

const systemCredentials = (secret?: string) => backends!.systemCredentials(secret);

/**
 * A loopback proxy in front of the simulator; `rewrite` may change a JSON answer (by path).
 * Real HTTP both ways.
 */
async function startProxy(target: string, rewrite: (path: string, body: Record<string, unknown>) => Record<string, unknown>) {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'content-length', 'connection'].includes(k)) as [string, string][]);
      const upstream = await fetch(`${target}${req.url}`, { method: req.method, headers, ...(chunks.length && { body: Buffer.concat(chunks) }) });
      let text = await upstream.text();
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (upstream.ok) text = JSON.stringify(rewrite(path, JSON.parse(text) as Record<string, unknown>));
      res.writeHead(upstream.status, { 'content-type': upstream.headers.get('content-type') ?? 'application/json' });
      res.end(text);
    })();
  });
  const listening = await listenOnLoopback(server, 0);
  closers.push(listening.close);
  return listening.url;
}

interface Options {
  settings?: Partial<PollerDeps['settings']>;
  baseUrl?: string;
  credentialsCacheSeconds?: number;
  maxAttempts?: number;
  timeoutMs?: number;
  writeBack?: () => void;
  /** Called around every Makini call the poller makes (e.g. to move a virtual clock). */
  onCall?: (name: string) => void;
}

function poller(o: Options = {}) {
  const metrics = new Metrics({ namespace: 'Test', serviceName: 'poller' });
  const api = new MakiniApiClient({ baseUrl: o.baseUrl ?? makini.url, pageSize: 2, timeoutMs: o.timeoutMs ?? 1_000, maxAttempts: o.maxAttempts ?? 2, now: () => clock(), sleep: async () => undefined });
  const tokens = new SecretsManagerConnectionTokens(smClient, { prefix: PREFIX, cacheSeconds: 0, now: () => clock() });
  const call = <T>(name: string, f: () => Promise<T>) => {
    o.onCall?.(name);
    return f();
  };
  const run = createPoller({
    credentials: new SecretsManagerClientCredentials(smClient, { secretName: CREDENTIALS, cacheSeconds: o.credentialsCacheSeconds ?? 0, now: () => clock() }),
    tokens: {
      discover: () => tokens.discover(),
      forget: () => tokens.forget(),
      writeBack: async (token) => {
        o.writeBack?.();
        await tokens.writeBack(token);
      },
    },
    store,
    api: {
      listConnections: (c) => call('list', () => api.listConnections(c)),
      issueConnectionToken: (c, key, seconds) => call('issue', () => api.issueConnectionToken(c, key, seconds)),
      refreshToken: (token) => call('refresh', () => api.refreshToken(token)),
      currentIntegration: (token) => call('current', () => api.currentIntegration(token)),
    },
    queue: { send: async (m) => void queued.push(m) },
    logger: new Logger({ serviceName: 'poller' }),
    metrics,
    settings: { ...pollerSettings(DEFAULT_CONFIG), breakerFailureThreshold: 2, breakerCooldownMs: 10 * 60_000, concurrency: 4, budgetMs: 60_000, reserveMs: 40_000, ...o.settings },
    now: () => clock(),
  });
  return (context?: { getRemainingTimeInMillis(): number }) => captureOutput(() => run({}, context as never));
}

const bodies = () => queued.map((q) => ({ id: decodeEnvelope(q).envelope.webhookId, body: decodeEnvelope(q).body.toString() }));

describe('system mode', () => {
  it('a connection Makini still lists is not marked deleted because its token endpoint answered 404 once', async () => {
    await setUp();
    await systemCredentials();
    makini.upsertConnection('conn_listed');
    const run = poller();
    await run();
    makini.advanceClock(60_000);
    makini.failNext('connection-token', { kind: 'not-found', connection: 'conn_listed' });
    const { result } = await run();
    expect(makini.connections().map((c) => c.key)).toContain('conn_listed'); // Makini lists it
    expect(result.deleted).toBe(0);
    expect((await store.loadCandidates(['conn_listed']))[0].poll?.deletedAt).toBeUndefined();
  });

  it('a connection list that fails on a later page marks nothing deleted and polls nothing (regression guard)', async () => {
    await setUp();
    await systemCredentials();
    for (const key of ['conn_1', 'conn_2', 'conn_3', 'conn_4']) makini.upsertConnection(key);
    const run = poller();
    await run();
    makini.advanceClock(60_000);
    const issued = makini.stats.connectionTokensIssued;
    // Page 1 answers, page 2 fails on every attempt.
    const realFetch = global.fetch;
    const spy = jest.spyOn(global, 'fetch').mockImplementation((input, init) => {
      const url = new URL(String(input instanceof Request ? input.url : input));
      if (url.pathname === '/api/system/connections' && url.searchParams.get('page') === '2') return Promise.resolve(new Response('{"message":"Server Error"}', { status: 500 }));
      return realFetch(input, init);
    });
    try {
      await expect(run()).rejects.toThrow(/connections/);
    } finally {
      spy.mockRestore();
    }
    expect(makini.stats.connectionTokensIssued).toBe(issued);
    const records = await store.loadCandidates(['conn_1', 'conn_2', 'conn_3', 'conn_4']);
    expect(records.map((c) => c.poll?.deletedAt)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('a connection list whose links.next is a cursor (the page number ignored) is not fetched thousands of times', async () => {
    // Makini-like server: the same page whatever `page` says, with a cursor link to "more".
    let listCalls = 0;
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      res.setHeader('content-type', 'application/json');
      if (url.pathname === '/link/token') return void res.end(JSON.stringify({ access_token: 'system-token', expires_in: 3600 }));
      listCalls++;
      if (listCalls > 40) return void ((res.statusCode = 500), res.end('{"message":"enough"}'));
      res.end(JSON.stringify({ data: [{ key: 'conn_a', status: 'active' }], links: { next: `http://${req.headers.host}/api/system/connections?cursor=eyJpZCI6MX0` }, meta: { path: '/api/system/connections', per_page: 1 } }));
    });
    const listening = await listenOnLoopback(server, 0);
    closers.push(listening.close);
    const api = new MakiniApiClient({ baseUrl: listening.url, timeoutMs: 1_000, maxAttempts: 1 });
    await api.listConnections({ clientId: 'id', clientSecret: 'secret' }).catch(() => undefined);
    expect(listCalls).toBeLessThanOrEqual(3);
  });

  it('a system token answered without expires_in is reused within the run, not re-granted for every call', async () => {
    await setUp();
    await systemCredentials();
    for (const key of ['conn_1', 'conn_2', 'conn_3']) makini.upsertConnection(key);
    const proxy = await startProxy(makini.url, (path, body) => {
      if (path !== '/link/token') return body;
      const { expires_in: _dropped, ...rest } = body;
      return rest;
    });
    const run = poller({ baseUrl: proxy });
    const { result } = await run();
    expect(result).toMatchObject({ polled: 3, failed: 0 });
    // 2 list pages + 3 issued tokens: the code's own comment says "used for this run only".
    expect(makini.stats.grants.client_credentials).toBe(1);
  });

  it('a corrected client secret is picked up once Makini refuses the cached one', async () => {
    await setUp();
    await systemCredentials('a-wrong-secret');
    makini.upsertConnection('conn_1');
    const run = poller({ credentialsCacheSeconds: DEFAULT_CONFIG.tokenCacheSeconds });
    await expect(run()).rejects.toThrow();
    // The operator fixes the secret.
    await smClient.send(new PutSecretValueCommand({ SecretId: CREDENTIALS, SecretString: JSON.stringify({ client_id: makini.clientId, client_secret: makini.clientSecret }) }));
    makini.advanceClock(60_000);
    const second = await run().catch((error: Error) => ({ result: { error: error.message } }));
    expect(second.result).toMatchObject({ mode: 'system', polled: 1 });
  });

  it('one id keeps one body: an event dropped from pending and wanted again is not re-made with a new body', async () => {
    await setUp();
    await systemCredentials();
    makini.upsertConnection('conn_b', { status: 'active', sync_status: 'done', sync_updated_at: '2026-11-22T05:00:00Z' });
    const run = poller();
    await run(); // connection.status_changed E queued; the consumer has not applied it yet (backlog)
    const first = bodies().find((b) => JSON.parse(b.body).type === 'connection.status_changed')!;
    makini.advanceClock(5 * 60_000);
    makini.upsertConnection('conn_b', { status: 'Maintenance' }); // a value not in the table, for one run
    await run();
    makini.advanceClock(5 * 60_000);
    makini.upsertConnection('conn_b', { status: 'active' });
    queued = [];
    await run();
    const again = bodies().find((b) => b.id === first.id);
    expect(again).toBeDefined(); // same id …
    expect(again!.body).toBe(first.body); // … must carry the same body, or the consumer keeps it aside as a mismatch
  });

  it('a poll started just before the deadline ends before the Lambda timeout (the reserve covers a whole poll, not one request)', async () => {
    await setUp();
    await systemCredentials();
    makini.upsertConnection('conn_slow');
    const timeoutMs = 10_000;
    const reserveMs = pollRunReserveMs({ makiniMaxAttempts: 1, makiniRequestTimeoutMs: timeoutMs });
    let offset = 0;
    const frozen = makini.now();
    clock = () => frozen + offset; // virtual time: only the Makini calls below move it
    // Every per-connection call answers just inside the request timeout (virtual time, no waiting).
    const run = poller({ settings: { reserveMs, budgetMs: 600_000 }, maxAttempts: 1, timeoutMs, onCall: (name) => name !== 'list' && (offset += timeoutMs - 1) });
    const started = clock();
    const remaining = reserveMs + 1; // one millisecond of budget: the poll may start, and must still fit
    const { result } = await run({ getRemainingTimeInMillis: () => remaining - (clock() - started) });
    expect(result.polled).toBe(1);
    expect(clock() - started).toBeLessThanOrEqual(remaining);
  });
});

describe('per-connection mode', () => {
  async function storePair(key: string, value: Record<string, unknown>) {
    await smClient.send(new CreateSecretCommand({ Name: `${PREFIX}${key}`, SecretString: JSON.stringify({ connectionId: key, ...value }) }));
  }

  it('a pair stored without expiresAt is refreshed when Makini refuses the expired access token, not reported unauthorized', async () => {
    await setUp();
    makini.upsertConnection('conn_n');
    const pair = makini.issuePair('conn_n', { accessTtlSeconds: 86_400 });
    await storePair('conn_n', { token: pair.access_token, refreshToken: pair.refresh_token }); // expiresAt is optional
    const run = poller();
    makini.advanceClock(DAY + 60_000); // the access token expired; the refresh token has 30 days left
    const { result } = await run();
    expect(result).toMatchObject({ polled: 1, unauthorized: 0, tokensRefreshed: 1 });
  });

  it('with rotating refresh tokens, a refreshed pair that could not be saved is not lost (the next run can still refresh)', async () => {
    await setUp({ rotateRefreshTokens: true });
    makini.upsertConnection('conn_r', { sync_status: 'done', sync_updated_at: '2026-11-22T05:00:00Z' });
    const parsed = tokenFromResponse('conn_r', makini.issuePair('conn_r', { accessTtlSeconds: 2 * 86_400 }), clock());
    if (!parsed.ok) throw new Error(parsed.reason);
    await smClient.send(new CreateSecretCommand({ Name: `${PREFIX}conn_r`, SecretString: formatConnectionSecret(parsed.value) }));
    const run = poller();
    smFault = 'PutSecretValue'; // Makini answered the refresh (and revoked the old refresh token); the write fails
    expect((await run()).result).toMatchObject({ tokenRefreshFailed: 1 });
    smFault = undefined;
    makini.advanceClock(5 * 60_000);
    // The next run writes the pair it kept, rather than refreshing with the revoked refresh token.
    expect((await run()).result).toMatchObject({ polled: 1, unauthorized: 0, tokenRefreshFailed: 0 });
    const { SecretString } = await smClient.send(new GetSecretValueCommand({ SecretId: `${PREFIX}conn_r` }));
    const saved = JSON.parse(SecretString ?? '{}') as { token: string; refreshToken: string };
    expect(saved.token).not.toBe(parsed.value.token);
    // And that saved pair refreshes when due.
    makini.advanceClock(24 * DAY);
    expect((await run()).result).toMatchObject({ tokensRefreshed: 1, tokenRefreshFailed: 0 });
  });
});

describe('token lifetimes', () => {
  it('an expires_in in epoch milliseconds is not read as a date ~50,000 years away (which would never refresh)', () => {
    const now = Date.parse('2026-12-01T00:00:00Z');
    const at = expiryFromExpiresIn('1796083200000', now); // 2026-12-01T00:00:00Z + 30 days, in ms
    expect(at === undefined || Date.parse(at) < Date.parse('2100-01-01T00:00:00Z')).toBe(true);
  });

  it('Makini’s sample absolute expires_in and an OAuth duration both parse (regression guard)', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(expiryFromExpiresIn('1715674414', now)).toBe('2024-05-14T08:13:34.000Z');
    expect(expiryFromExpiresIn(' 300 ', now)).toBe('2026-01-01T00:05:00.000Z');
  });
});
