import { MakiniApiClient } from '../../lambdas/adapters/makini-api-client';
import { MakiniApiError, MakiniAuthError, MakiniUnavailableError } from '../../lambdas/core/errors';
import { startMockMakiniApi, type MockConnection, type MockMakiniApi } from '../../local/mock-makini-api';

const TOKEN = 'tok_test_7f3a91';
let api: MockMakiniApi;
let sleeps: number[];
let failures: { path: string; status?: number; requestId?: string }[];

const connection = (overrides: Partial<MockConnection> = {}): MockConnection => ({
  connectionId: 'conn_1',
  status: 'online',
  reauthorizationRequired: false,
  sync: { status: 'completed', lastSuccessfulSyncAt: '2026-11-22T05:00:00.000Z', lastSyncAt: '2026-11-22T05:00:00.000Z', nextScheduledSyncAt: '2026-11-22T06:00:00.000Z' },
  ...overrides,
});

function client(overrides: Partial<ConstructorParameters<typeof MakiniApiClient>[0]> = {}) {
  return new MakiniApiClient({
    baseUrl: api.url,
    statusPath: '/connection-status',
    syncStatusPath: '/sync-status',
    timeoutMs: 300,
    maxAttempts: 3,
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 1,
    onFailure: (f) => void failures.push(f),
    ...overrides,
  });
}

beforeEach(async () => {
  api = await startMockMakiniApi();
  api.setConnection(TOKEN, connection());
  sleeps = [];
  failures = [];
});
afterEach(async () => api.close());

describe('MakiniApiClient against the mock Makini API', () => {
  it('reads both endpoints with the bearer token and an explicit API version', async () => {
    expect(await client().observe('conn_1', TOKEN)).toEqual({
      connection: { status: 'online', reauthorizationRequired: false },
      sync: { status: 'completed', lastSuccessfulSyncAt: '2026-11-22T05:00:00.000Z', lastSyncAt: '2026-11-22T05:00:00.000Z', errors: [], nextScheduledSyncAt: '2026-11-22T06:00:00.000Z' },
    });
    expect(api.stats.requests).toBe(2);
    expect([...api.stats.authorizationHeaders]).toEqual(['bearer']);
    expect([...api.stats.versionHeaders]).toEqual(['v1']);
  });

  it('honours Retry-After on 429, then succeeds', async () => {
    api.failNext(TOKEN, { kind: 'rate-limited', retryAfterSeconds: 2, on: 'status' });
    await client().observe('conn_1', TOKEN);
    expect(sleeps).toEqual([2000]);
    expect(failures[0]).toMatchObject({ status: 429, requestId: expect.stringMatching(/^req_/) });
  });

  it('gives up within the run when Retry-After is longer than it may wait', async () => {
    api.failNext(TOKEN, { kind: 'rate-limited', retryAfterSeconds: 60, on: 'status' });
    await expect(client().observe('conn_1', TOKEN)).rejects.toBeInstanceOf(MakiniUnavailableError);
    expect(sleeps).toEqual([]);
  });

  it('retries 5xx with exponential, jittered backoff', async () => {
    api.failNext(TOKEN, { kind: 'server-error', on: 'sync' }, { kind: 'server-error', on: 'sync' });
    await client().observe('conn_1', TOKEN);
    expect(sleeps).toEqual([200, 400]);
  });

  it('times out a hanging request and retries it', async () => {
    api.failNext(TOKEN, { kind: 'hang', on: 'status' });
    await client().observe('conn_1', TOKEN);
    expect(failures[0]).toMatchObject({ error: expect.stringMatching(/timed out after 300 ms/) });
  });

  it('reports Makini unavailable after the last attempt, with the request id', async () => {
    api.failNext(TOKEN, ...Array.from({ length: 6 }, () => ({ kind: 'server-error' as const })));
    const error = await client().observe('conn_1', TOKEN).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MakiniUnavailableError);
    expect((error as MakiniUnavailableError).requestId).toMatch(/^req_/);
  });

  it('turns 401 into a typed finding at once, with the structured error and without the token', async () => {
    const error = await client().observe('conn_1', 'tok_unknown_1234').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MakiniAuthError);
    expect(error).toMatchObject({ status: 401, code: 'AUTHENTICATION_FAILED', type: 'authentication_error', requestId: expect.stringMatching(/^req_/) });
    expect(JSON.stringify({ ...(error as object), message: (error as Error).message })).not.toContain('tok_unknown_1234');
    expect(sleeps).toEqual([]);
  });

  it('does not retry other 4xx', async () => {
    const error = await client({ statusPath: '/nowhere' }).observe('conn_1', TOKEN).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MakiniApiError);
    expect(error).toMatchObject({ status: 404, code: 'NOT_FOUND' });
  });

  it('reports reauthorization required and failed syncs as Makini states them', async () => {
    api.setConnection(TOKEN, connection({ reauthorizationRequired: true, sync: { status: 'failed', lastSyncAt: '2026-11-22T05:30:00Z', errors: [{ code: 'X' }] } }));
    expect(await client().observe('conn_1', TOKEN)).toMatchObject({ connection: { reauthorizationRequired: true }, sync: { status: 'failed', lastSyncAt: '2026-11-22T05:30:00Z', errors: [{ code: 'X' }] } });
  });

  it('puts the connection id into path templates', async () => {
    await expect(client({ statusPath: '/connections/{connectionId}/status' }).observe('conn_1', TOKEN)).rejects.toMatchObject({ status: 404 });
    expect(failures[0].path).toBe('/connections/conn_1/status');
  });
});
