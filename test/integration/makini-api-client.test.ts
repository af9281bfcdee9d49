import { createServer } from 'node:http';
import { MakiniApiClient } from '../../lambdas/adapters/makini-api-client';
import { MakiniApiError, MakiniAuthError, MakiniUnavailableError } from '../../lambdas/core/errors';
import { listenOnLoopback } from '../../local/loopback-server';
import { startMakiniApiSimulator, type MakiniApiSimulator } from '../../local/makini-api-simulator';

let makini: MakiniApiSimulator;
let sleeps: number[];
let failures: { path: string; status?: number; code?: string; requestId?: string }[];

function client(overrides: Partial<ConstructorParameters<typeof MakiniApiClient>[0]> = {}) {
  return new MakiniApiClient({
    baseUrl: makini.url,
    timeoutMs: 300,
    maxAttempts: 3,
    pageSize: 10,
    now: () => makini.now(),
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 1,
    onFailure: (f) => void failures.push(f),
    ...overrides,
  });
}
const credentials = () => ({ clientId: makini.clientId, clientSecret: makini.clientSecret });

beforeEach(async () => {
  makini = await startMakiniApiSimulator();
  sleeps = [];
  failures = [];
});
afterEach(async () => makini.close());

describe('MakiniApiClient against the Makini API simulator', () => {
  it('lists every connection across pages, with the documented base URL and no version header', async () => {
    makini.seedConnections(25);
    const listed = await client().listConnections(credentials());
    expect(listed.map((c) => c.key)).toEqual(Array.from({ length: 25 }, (_, i) => `conn_${i + 1}`));
    expect(listed[0]).toMatchObject({ status: expect.any(String) });
    expect(makini.stats.byRoute.connections).toBe(3);
    expect([...makini.stats.versionHeaders]).toEqual(['']);
    await client({ apiVersion: 'v1' }).listConnections(credentials());
    expect(makini.stats.versionHeaders.has('v1')).toBe(true);
  });

  it('caches the system token until shortly before it expires, and gets a new one after', async () => {
    makini.seedConnections(1);
    const api = client();
    await api.listConnections(credentials());
    await api.listConnections(credentials());
    expect(makini.stats.grants.client_credentials).toBe(1);
    makini.advanceClock(3_600_000 - 30_000); // inside the last minute of its hour
    await api.listConnections(credentials());
    expect(makini.stats.grants.client_credentials).toBe(2);
  });

  it('issues a connection token and reads the sync status in the data envelope', async () => {
    makini.upsertConnection('conn_1', { sync_status: 'fulldone', sync_updated_at: '2026-11-22T05:00:00Z' });
    const api = client();
    const { token, expiresAt } = await api.issueConnectionToken(credentials(), 'conn_1', 300);
    expect(Date.parse(expiresAt!) - makini.now()).toBeGreaterThan(290_000);
    expect(await api.currentIntegration(token)).toEqual({ sync: { status: 'completed', at: '2026-11-22T05:00:00.000000000Z', reported: 'fulldone' }, reportedSyncStatus: 'fulldone' });
  });

  it('answers 404 for a deleted connection as a MakiniApiError with status 404', async () => {
    makini.upsertConnection('conn_1');
    makini.deleteConnection('conn_1');
    await expect(client().issueConnectionToken(credentials(), 'conn_1', 300)).rejects.toMatchObject({ name: 'MakiniApiError', status: 404 });
  });

  it('refreshes a pair and reads an absolute expires_in', async () => {
    makini.upsertConnection('conn_1');
    const pair = makini.issuePair('conn_1');
    const answer = await client().refreshToken(pair.refresh_token);
    expect(answer.access_token).toEqual(expect.any(String));
    expect(answer.access_token).not.toBe(pair.access_token);
    await expect(client().refreshToken('not-a-refresh-token')).rejects.toMatchObject({ status: 400, code: 'invalid_grant' });
  });

  it('honours Retry-After on 429, backs off on 5xx, and falls back to the HTTP status for an undocumented error body', async () => {
    makini.seedConnections(1);
    makini.failNext('connections', { kind: 'rate-limited', retryAfterSeconds: 3 }, { kind: 'bad-gateway' });
    await client().listConnections(credentials());
    expect(sleeps).toEqual([3_000, 400]);
    expect(failures.map((f) => [f.status, f.code])).toEqual([
      [429, 'HTTP_429'],
      [502, 'HTTP_502'],
    ]);
  });

  it('honours Retry-After as an HTTP date: waits until then, and not at all for a date already past', async () => {
    makini.seedConnections(1);
    makini.failNext('connections', { kind: 'rate-limited', retryAfterSeconds: 8, httpDate: true }, { kind: 'rate-limited', retryAfterSeconds: -60, httpDate: true });
    await client().listConnections(credentials());
    // An HTTP date has whole seconds, and the clock moves between the answer and its reading.
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeGreaterThan(6_000);
    expect(sleeps[0]).toBeLessThanOrEqual(8_000);
    expect(sleeps[1]).toBe(0);
  });

  it('gives up within a run on a Retry-After longer than the cap, and after its attempts on timeouts', async () => {
    makini.seedConnections(1);
    makini.failNext('connections', { kind: 'rate-limited', retryAfterSeconds: 3_600 });
    await expect(client().listConnections(credentials())).rejects.toBeInstanceOf(MakiniUnavailableError);
    makini.failNext('current', { kind: 'hang' }, { kind: 'hang' }, { kind: 'hang' });
    await expect(client().currentIntegration('any')).rejects.toThrow(/timed out after 300 ms/);
  });

  it('does not retry a 401, and never puts a token in an error', async () => {
    const error = await client().currentIntegration('tok_secret_value').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MakiniAuthError);
    expect(makini.stats.byRoute.current).toBe(1);
    expect(JSON.stringify(error) + String(error)).not.toContain('tok_secret_value');
  });

  it('re-issues a refused system token once', async () => {
    makini.seedConnections(1);
    makini.failNext('connections', { kind: 'unauthorized' });
    expect(await client().listConnections(credentials())).toHaveLength(1);
    expect(makini.stats.grants.client_credentials).toBe(2);
  });
});

describe('MakiniApiClient paging edge cases', () => {
  async function serve(pages: (page: number) => unknown) {
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(url.pathname === '/link/token' ? { access_token: 't', expires_in: 3600 } : pages(Number(url.searchParams.get('page')))));
    });
    return listenOnLoopback(server);
  }

  it('follows meta.last_page when there are no links, and never follows links.next to another host', async () => {
    const byMeta = await serve((page) => ({ data: [{ key: `k${page}` }], meta: { current_page: page, last_page: 3 } }));
    const elsewhere = await serve((page) => ({ data: [{ key: `k${page}` }], links: { next: page < 2 ? 'http://169.254.169.254/steal?page=2' : null } }));
    try {
      expect((await new MakiniApiClient({ baseUrl: byMeta.url, timeoutMs: 500, maxAttempts: 1 }).listConnections({ clientId: 'a', clientSecret: 'b' })).map((c) => c.key)).toEqual(['k1', 'k2', 'k3']);
      // Page 2 is asked of our base URL, not of the host in links.next.
      expect((await new MakiniApiClient({ baseUrl: elsewhere.url, timeoutMs: 500, maxAttempts: 1 }).listConnections({ clientId: 'a', clientSecret: 'b' })).map((c) => c.key)).toEqual(['k1', 'k2']);
    } finally {
      await Promise.all([byMeta.close(), elsewhere.close()]);
    }
  });

  /** A list server that counts the pages asked for and how many were in flight at once (each answered after 20 ms). */
  async function counted(pages: (page: number) => unknown) {
    const asked: number[] = [];
    let inFlight = 0;
    let peak = 0;
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      res.writeHead(200, { 'content-type': 'application/json' });
      if (url.pathname === '/link/token') return void res.end(JSON.stringify({ access_token: 't', expires_in: 3600 }));
      const page = Number(url.searchParams.get('page'));
      asked.push(page);
      peak = Math.max(peak, ++inFlight);
      setTimeout(() => {
        inFlight--;
        res.end(JSON.stringify(pages(page)));
      }, 20);
    });
    const listening = await listenOnLoopback(server);
    const list = () => new MakiniApiClient({ baseUrl: listening.url, timeoutMs: 2_000, maxAttempts: 1 }).listConnections({ clientId: 'a', clientSecret: 'b' });
    return { asked, peak: () => peak, list, close: listening.close };
  }

  it('asks for the pages after the second a few at a time once meta.last_page says how many, and keeps them in page order', async () => {
    const server = await counted((page) => ({ data: [{ key: `k${page}` }], meta: { current_page: page, last_page: 30 }, links: { next: page < 30 ? `/api/system/connections?page=${page + 1}` : null } }));
    try {
      expect((await server.list()).map((c) => c.key)).toEqual(Array.from({ length: 30 }, (_, i) => `k${i + 1}`));
      expect([...server.asked].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
      expect(server.asked.slice(0, 2)).toEqual([1, 2]);
      expect(server.peak()).toBeGreaterThan(1);
      expect(server.peak()).toBeLessThanOrEqual(8);
    } finally {
      await server.close();
    }
  });

  it('stops at a page that says no more follow, and goes on one page at a time past a list that grew', async () => {
    // Announced 6 pages, but the list shrank to 3 by the time they were read.
    const shrunk = await counted((page) => ({ data: page <= 3 ? [{ key: `k${page}` }] : [], meta: { current_page: page, last_page: page === 1 ? 6 : 3 } }));
    // Announced 3 pages, but 5 by the time the third was read.
    const grown = await counted((page) => ({ data: page <= 5 ? [{ key: `k${page}` }] : [], meta: { current_page: page, last_page: page < 3 ? 3 : 5 } }));
    try {
      expect((await shrunk.list()).map((c) => c.key)).toEqual(['k1', 'k2', 'k3']);
      expect((await grown.list()).map((c) => c.key)).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
    } finally {
      await Promise.all([shrunk.close(), grown.close()]);
    }
  });

  it('finds a server that ignores page at the second page, before asking for the others it announced', async () => {
    const ignoring = await counted(() => ({ data: [{ key: 'same' }], meta: { current_page: 1, last_page: 100 } }));
    try {
      await expect(ignoring.list()).rejects.toThrow(/page 2 repeats earlier connections/);
      expect(ignoring.asked).toEqual([1, 2]);
    } finally {
      await ignoring.close();
    }
  });

  it('rejects an answer without a data list rather than reading it as no connections', async () => {
    const broken = await serve(() => ({ items: [] }));
    try {
      await expect(new MakiniApiClient({ baseUrl: broken.url, timeoutMs: 500, maxAttempts: 1 }).listConnections({ clientId: 'a', clientSecret: 'b' })).rejects.toBeInstanceOf(MakiniApiError);
    } finally {
      await broken.close();
    }
  });
});
