import { startMakiniApiSimulator, type MakiniApiSimulator, type MakiniApiSimulatorOptions } from '../../local/makini-api-simulator';

const DAY_MS = 86_400_000;
let api: MakiniApiSimulator;

async function start(options: MakiniApiSimulatorOptions = {}): Promise<MakiniApiSimulator> {
  await api?.close();
  api = await startMakiniApiSimulator(options);
  return api;
}
beforeEach(async () => {
  api = await startMakiniApiSimulator({ clientId: 'client_1', clientSecret: 'secret_1' });
});
afterEach(async () => api.close());

interface Answer {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

async function call(path: string, init: RequestInit & { token?: string; json?: unknown } = {}): Promise<Answer> {
  const headers = new Headers(init.headers);
  if (init.token) headers.set('authorization', `Bearer ${init.token}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('content-type', 'application/json');
    body = JSON.stringify(init.json);
  }
  const response = await fetch(`${api.url}${path}`, { ...init, headers, body });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    parsed = undefined;
  }
  return { status: response.status, headers: response.headers, body: parsed, text };
}

const grantToken = (fields: Record<string, string>) => call('/link/token', { method: 'POST', json: fields });
async function systemToken(): Promise<string> {
  const answer = await grantToken({ grant_type: 'client_credentials', client_id: api.clientId, client_secret: api.clientSecret });
  expect(answer.status).toBe(200);
  return answer.body.access_token;
}
async function connectionToken(key: string, expiresIn?: number): Promise<string> {
  const answer = await call(`/api/system/connections/${key}/token`, { method: 'POST', token: await systemToken(), json: expiresIn === undefined ? undefined : { expires_in: expiresIn } });
  expect(answer.status).toBe(200);
  return answer.body.data.token;
}
const current = (token: string) => call('/api/integrations/current', { token });

describe('Makini API simulator: POST /link/token', () => {
  it('grants a system token for the client credentials, as JSON or as a form', async () => {
    const json = await grantToken({ grant_type: 'client_credentials', client_id: 'client_1', client_secret: 'secret_1' });
    expect(json.status).toBe(200);
    expect(json.headers.get('content-type')).toBe('application/json');
    expect(json.headers.get('x-request-id')).toBeTruthy();
    expect(json.body).toEqual({ access_token: expect.any(String), token_type: 'bearer', expires_in: 3600 });

    const form = await call('/link/token', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'client_1', client_secret: 'secret_1' }).toString(),
    });
    expect(form.status).toBe(200);
    expect(form.body.access_token).not.toBe(json.body.access_token);
    expect(api.stats.grants.client_credentials).toBe(2);
  });

  it('generates client credentials when none are given', async () => {
    await start();
    expect(api.clientId).toMatch(/\S{8,}/);
    expect(api.clientSecret).toMatch(/\S{16,}/);
    expect(await systemToken()).toEqual(expect.any(String));
  });

  it('answers 401 invalid_client to a wrong secret or client id', async () => {
    for (const fields of [
      { grant_type: 'client_credentials', client_id: 'client_1', client_secret: 'wrong' },
      { grant_type: 'client_credentials', client_id: 'other', client_secret: 'secret_1' },
    ]) {
      const answer = await grantToken(fields);
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ error: 'invalid_client', message: expect.any(String) });
    }
    expect(api.stats.grants.client_credentials).toBe(0);
  });

  it('answers 400 invalid_request when fields are missing', async () => {
    for (const fields of [{}, { grant_type: 'client_credentials', client_id: 'client_1' }, { grant_type: 'refresh_token' }] as Record<string, string>[]) {
      const answer = await grantToken(fields);
      expect(answer.status).toBe(400);
      expect(answer.body.error).toBe('invalid_request');
    }
  });

  it('answers 400 unsupported_grant_type to any other grant', async () => {
    const answer = await grantToken({ grant_type: 'authorization_code', code: 'abc' });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('unsupported_grant_type');
  });

  it('answers 400 invalid_grant to an unknown refresh token', async () => {
    const answer = await grantToken({ grant_type: 'refresh_token', refresh_token: 'nope' });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('invalid_grant');
  });
});

describe('Makini API simulator: refresh grant', () => {
  beforeEach(() => void api.upsertConnection('conn_1'));

  it('returns a working new pair with an absolute expires_in, and the old access token still works', async () => {
    const pair = api.issuePair('conn_1');
    const answer = await grantToken({ grant_type: 'refresh_token', refresh_token: pair.refresh_token, client_id: 'ignored', client_secret: 'ignored' });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'bearer', expires_in: expect.stringMatching(/^\d{10}$/) });
    expect(Math.abs(Number(answer.body.expires_in) - (api.now() + 30 * DAY_MS) / 1000)).toBeLessThanOrEqual(1);
    expect(answer.body.access_token).not.toBe(pair.access_token);
    expect(answer.body.refresh_token).not.toBe(pair.refresh_token);

    expect((await current(answer.body.access_token)).body.data.id).toBe('conn_1');
    expect((await current(pair.access_token)).status).toBe(200);
    const again = await grantToken({ grant_type: 'refresh_token', refresh_token: answer.body.refresh_token });
    expect(again.status).toBe(200);
    expect(api.stats.grants.refresh_token).toBe(2);
  });

  it('keeps a used refresh token valid by default', async () => {
    const pair = api.issuePair('conn_1');
    expect((await grantToken({ grant_type: 'refresh_token', refresh_token: pair.refresh_token })).status).toBe(200);
    expect((await grantToken({ grant_type: 'refresh_token', refresh_token: pair.refresh_token })).status).toBe(200);
  });

  it('revokes a used refresh token when rotateRefreshTokens is on', async () => {
    await start({ rotateRefreshTokens: true });
    api.upsertConnection('conn_1');
    const pair = api.issuePair('conn_1');
    const first = await grantToken({ grant_type: 'refresh_token', refresh_token: pair.refresh_token });
    expect(first.status).toBe(200);
    const reuse = await grantToken({ grant_type: 'refresh_token', refresh_token: pair.refresh_token });
    expect(reuse.status).toBe(400);
    expect(reuse.body.error).toBe('invalid_grant');
    expect((await grantToken({ grant_type: 'refresh_token', refresh_token: first.body.refresh_token })).status).toBe(200);
  });

  it("gives expires_in as seconds from now with refreshExpiresIn 'duration'", async () => {
    await start({ refreshExpiresIn: 'duration', accessTokenTtlSeconds: 600 });
    api.upsertConnection('conn_1');
    const answer = await grantToken({ grant_type: 'refresh_token', refresh_token: api.issuePair('conn_1').refresh_token });
    expect(answer.body.expires_in).toBe(600);
  });

  it('refuses a refresh token after its expiry', async () => {
    const pair = api.issuePair('conn_1', { refreshTtlSeconds: 60 });
    api.advanceClock(61_000);
    const answer = await grantToken({ grant_type: 'refresh_token', refresh_token: pair.refresh_token });
    expect(answer.status).toBe(400);
    expect(answer.body.error).toBe('invalid_grant');
  });

  it('refuses a refresh token after the default 31 days but not before', async () => {
    const pair = api.issuePair('conn_1');
    api.advanceClock(31 * DAY_MS - 60_000);
    expect((await grantToken({ grant_type: 'refresh_token', refresh_token: pair.refresh_token })).status).toBe(200);
    api.advanceClock(120_000);
    expect((await grantToken({ grant_type: 'refresh_token', refresh_token: pair.refresh_token })).status).toBe(400);
  });

  it('does not take an access token as a refresh token', async () => {
    const answer = await grantToken({ grant_type: 'refresh_token', refresh_token: api.issuePair('conn_1').access_token });
    expect(answer.status).toBe(400);
  });
});

describe('Makini API simulator: GET /api/system/connections', () => {
  it('pages 25 connections 10 at a time into 3 Laravel-style pages', async () => {
    api.seedConnections(25);
    const token = await systemToken();
    const path = `${api.url}/api/system/connections`;
    const pages = [];
    for (const page of [1, 2, 3]) pages.push(await call(`/api/system/connections?page=${page}&per_page=10`, { token }));

    expect(pages.map((p) => p.status)).toEqual([200, 200, 200]);
    expect(pages.flatMap((p) => p.body.data.map((c: { key: string }) => c.key))).toEqual(Array.from({ length: 25 }, (_, i) => `conn_${i + 1}`));
    expect(pages[0].body.meta).toEqual({ current_page: 1, from: 1, last_page: 3, path, per_page: 10, to: 10, total: 25 });
    expect(pages[2].body.meta).toEqual({ current_page: 3, from: 21, last_page: 3, path, per_page: 10, to: 25, total: 25 });
    expect(pages[0].body.links).toEqual({ first: `${path}?page=1&per_page=10`, last: `${path}?page=3&per_page=10`, prev: null, next: `${path}?page=2&per_page=10` });
    expect(pages[1].body.links).toMatchObject({ prev: `${path}?page=1&per_page=10`, next: `${path}?page=3&per_page=10` });
    expect(pages[2].body.links.next).toBeNull();
    expect(api.stats.byRoute.connections).toBe(3);
    expect([...api.stats.perPageSeen]).toEqual([10]);
  });

  it('follows next links to the end', async () => {
    api.seedConnections(7, 'c');
    const token = await systemToken();
    const keys: string[] = [];
    let next: string | null = `${api.url}/api/system/connections?per_page=3`;
    while (next) {
      const answer: Answer = await call(next.slice(api.url.length), { token });
      keys.push(...answer.body.data.map((c: { key: string }) => c.key));
      next = answer.body.links.next;
    }
    expect(keys).toEqual(['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7']);
  });

  it('shows each connection with the documented fields', async () => {
    api.upsertConnection('conn_a', { name: 'Acme', email: 'ops@acme.test', status: 'disconnected', integration_name: 'SAP' });
    const answer = await call('/api/system/connections', { token: await systemToken() });
    expect(answer.body.data).toEqual([
      {
        key: 'conn_a',
        name: 'Acme',
        email: 'ops@acme.test',
        status: 'disconnected',
        integration_name: 'SAP',
        scopes: [],
        tags: [],
        client_id: 'client_1',
        updated_at: expect.any(String),
        created_at: expect.any(String),
        connected_at: expect.any(String),
      },
    ]);
  });

  it('uses 15 per page by default, clamps per_page to perPageMax and answers an empty page past the end', async () => {
    await start({ perPageMax: 20 });
    api.seedConnections(30);
    const token = await systemToken();
    const byDefault = await call('/api/system/connections', { token });
    expect(byDefault.body.meta).toMatchObject({ per_page: 15, last_page: 2, total: 30 });
    expect(byDefault.body.links.first).toBe(`${api.url}/api/system/connections?page=1`);
    const clamped = await call('/api/system/connections?per_page=5000', { token });
    expect(clamped.body.data).toHaveLength(20);
    expect(clamped.body.meta).toMatchObject({ per_page: 20, last_page: 2 });
    const past = await call('/api/system/connections?page=9&per_page=20', { token });
    expect(past.status).toBe(200);
    expect(past.body.data).toEqual([]);
    expect(past.body.meta).toMatchObject({ current_page: 9, from: null, to: null, total: 30 });
    expect(past.body.links.next).toBeNull();
    expect([...api.stats.perPageSeen].sort((a, b) => a - b)).toEqual([15, 20, 5000]);
  });

  it('answers a page with no connections', async () => {
    const answer = await call('/api/system/connections', { token: await systemToken() });
    expect(answer.body).toMatchObject({ data: [], meta: { total: 0, last_page: 1, from: null, to: null }, links: { prev: null, next: null } });
  });

  it('seeds 10,000 connections quickly enough to list them in one page of 1000', async () => {
    expect(api.seedConnections(10_000)).toHaveLength(10_000);
    const answer = await call('/api/system/connections?per_page=1000&page=10', { token: await systemToken() });
    expect(answer.body.data).toHaveLength(1000);
    expect(answer.body.data[999].key).toBe('conn_10000');
    expect(answer.body.meta).toMatchObject({ last_page: 10, total: 10_000 });
  });

  it('answers 401 without a token, with an unknown one, or with a connection token', async () => {
    api.upsertConnection('conn_1');
    const pair = api.issuePair('conn_1');
    for (const token of [undefined, 'unknown', pair.access_token, await connectionToken('conn_1')]) {
      const answer = await call('/api/system/connections', { token });
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ message: 'Unauthenticated.' });
    }
  });

  it('answers 401 once the system token has expired', async () => {
    const token = await systemToken();
    api.advanceClock(3_599_000);
    expect((await call('/api/system/connections', { token })).status).toBe(200);
    api.advanceClock(2_000);
    expect((await call('/api/system/connections', { token })).status).toBe(401);
  });
});

describe('Makini API simulator: POST /api/system/connections/{key}/token', () => {
  beforeEach(() => void api.upsertConnection('conn_1'));

  it('issues a 300-second connection token by default', async () => {
    const answer = await call('/api/system/connections/conn_1/token', { method: 'POST', token: await systemToken() });
    expect(answer.status).toBe(200);
    expect(answer.body).toEqual({ data: { token: expect.any(String), expires_in: 300 } });
    expect(api.stats.connectionTokensIssued).toBe(1);
  });

  it('honours expires_in up to connectionTokenMaxSeconds', async () => {
    const token = await systemToken();
    const short = await call('/api/system/connections/conn_1/token', { method: 'POST', token, json: { expires_in: 60 } });
    expect(short.body.data.expires_in).toBe(60);
    const long = await call('/api/system/connections/conn_1/token', { method: 'POST', token, json: { expires_in: 86_400 } });
    expect(long.body.data.expires_in).toBe(3600);
  });

  it('answers 404 for an unknown connection and 401 without a system token', async () => {
    const unknown = await call('/api/system/connections/conn_x/token', { method: 'POST', token: await systemToken() });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ message: 'Not found.' });
    expect((await call('/api/system/connections/conn_1/token', { method: 'POST' })).status).toBe(401);
    expect((await call('/api/system/connections/conn_1/token', { method: 'POST', token: api.issuePair('conn_1').access_token })).status).toBe(401);
  });
});

describe('Makini API simulator: GET /api/integrations/current', () => {
  it('describes the connection of a connection token', async () => {
    api.upsertConnection('conn_1', { name: 'Acme', email: 'ops@acme.test', provider: 'maximo', sync_status: 'fail', sync_updated_at: '2026-01-02T03:04:05.000Z' });
    const answer = await current(await connectionToken('conn_1'));
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-request-id')).toBeTruthy();
    expect(answer.body).toEqual({
      data: { id: 'conn_1', company_name: 'Acme', email: 'ops@acme.test', provider: 'maximo', updated_at: expect.any(String), sync_status: 'fail', sync_updated_at: '2026-01-02T03:04:05.000Z' },
    });
  });

  it('accepts the access token of a pair, and shows updates to the connection', async () => {
    api.upsertConnection('conn_1');
    const { access_token } = api.issuePair('conn_1');
    expect((await current(access_token)).body.data.sync_status).toBe('done');
    api.upsertConnection('conn_1', { sync_status: 'inprogress' });
    expect((await current(access_token)).body.data.sync_status).toBe('inprogress');
  });

  it('answers 401 to a system token, an unknown token or a refresh token', async () => {
    api.upsertConnection('conn_1');
    for (const token of [await systemToken(), 'unknown', api.issuePair('conn_1').refresh_token]) {
      const answer = await current(token);
      expect(answer.status).toBe(401);
      expect(answer.body).toEqual({ message: 'Unauthenticated.' });
    }
  });

  it('answers 401 once a connection token expires', async () => {
    api.upsertConnection('conn_1');
    const token = await connectionToken('conn_1', 60);
    api.advanceClock(59_000);
    expect((await current(token)).status).toBe(200);
    api.advanceClock(2_000);
    expect((await current(token)).status).toBe(401);
  });

  it('answers 401 once a pair access token expires', async () => {
    api.upsertConnection('conn_1');
    const before = api.now();
    const pair = api.issuePair('conn_1');
    const after = api.now();
    expect(Number(pair.expires_in) * 1000).toBeGreaterThan(before + 30 * DAY_MS - 1000);
    expect(Number(pair.expires_in) * 1000).toBeLessThanOrEqual(after + 30 * DAY_MS);
    expect(Date.parse(pair.refresh_expires_at)).toBeGreaterThanOrEqual(before + 31 * DAY_MS);
    expect(Date.parse(pair.refresh_expires_at)).toBeLessThanOrEqual(after + 31 * DAY_MS);
    api.advanceClock(30 * DAY_MS + 1000);
    expect((await current(pair.access_token)).status).toBe(401);
    expect((await grantToken({ grant_type: 'refresh_token', refresh_token: pair.refresh_token })).status).toBe(200);
  });
});

describe('Makini API simulator: deleted connections', () => {
  it('leave the list, 404 on the token endpoint and 401 on current with every earlier token', async () => {
    api.seedConnections(3);
    const pair = api.issuePair('conn_2');
    const connToken = await connectionToken('conn_2');
    expect(api.deleteConnection('conn_2')).toBe(true);
    expect(api.deleteConnection('conn_2')).toBe(false);

    const token = await systemToken();
    expect((await call('/api/system/connections', { token })).body.data.map((c: { key: string }) => c.key)).toEqual(['conn_1', 'conn_3']);
    expect(api.connections().map((c) => c.key)).toEqual(['conn_1', 'conn_3']);
    expect((await call('/api/system/connections/conn_2/token', { method: 'POST', token })).status).toBe(404);
    expect((await current(connToken)).status).toBe(401);
    expect((await current(pair.access_token)).status).toBe(401);
    expect((await grantToken({ grant_type: 'refresh_token', refresh_token: pair.refresh_token })).status).toBe(400);
  });

  it('stay revoked when a connection with the same key comes back', async () => {
    api.upsertConnection('conn_1');
    const pair = api.issuePair('conn_1');
    api.deleteConnection('conn_1');
    api.upsertConnection('conn_1');
    expect((await current(pair.access_token)).status).toBe(401);
    expect(() => api.issuePair('conn_9')).toThrow(/conn_9/);
  });
});

describe('Makini API simulator: other routes', () => {
  it('answers 404 JSON to an unknown path and 405 to a wrong method on a known one', async () => {
    const missing = await call('/api/v1/connection-status');
    expect(missing.status).toBe(404);
    expect(missing.body).toEqual({ message: expect.any(String) });
    const wrong = await call('/link/token');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect((await call('/api/system/connections', { method: 'POST' })).status).toBe(405);
    expect((await call('/api/system/connections/conn_1/token')).status).toBe(405);
  });

  it('records requests per route, the version headers and peak concurrency', async () => {
    api.upsertConnection('conn_1');
    const { access_token } = api.issuePair('conn_1');
    api.failNext('current', { kind: 'hang' }, { kind: 'hang' }, { kind: 'hang' });
    const abort = new AbortController();
    const hanging = Promise.allSettled([1, 2, 3].map(() => fetch(`${api.url}/api/integrations/current`, { headers: { authorization: `Bearer ${access_token}` }, signal: abort.signal })));
    while (api.stats.byRoute.current < 3) await new Promise((r) => setTimeout(r, 5));
    abort.abort();
    expect((await hanging).map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(api.stats.requests).toBe(3);
    expect(api.stats.byRoute).toEqual({ token: 0, connections: 0, 'connection-token': 0, current: 3 });
    expect(api.stats.peakConcurrency).toBe(3);
  });

  it('records the makini-version header, or its absence', async () => {
    await call('/api/integrations/current');
    await call('/api/integrations/current', { headers: { 'makini-version': '2025-08-29' } });
    expect([...api.stats.versionHeaders].sort()).toEqual(['', '2025-08-29']);
  });

  it('delays API answers by latencyMs and still answers correctly', async () => {
    await start({ latencyMs: 20, clientId: 'client_1', clientSecret: 'secret_1' });
    expect(await systemToken()).toEqual(expect.any(String));
    expect((await call('/_simulator/stats')).body.requests).toBe(1);
  });
});

describe('Makini API simulator: faults', () => {
  beforeEach(() => void api.upsertConnection('conn_1'));

  it('answers 429 with Retry-After, then normally', async () => {
    const { access_token } = api.issuePair('conn_1');
    api.failNext('current', { kind: 'rate-limited', retryAfterSeconds: 7 });
    const limited = await current(access_token);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect(limited.body).toEqual({ message: 'Too Many Attempts.' });
    expect((await current(access_token)).status).toBe(200);
  });

  it('consumes faults in order, one per request', async () => {
    api.failNext('token', { kind: 'server-error' }, { kind: 'unauthorized' }, { kind: 'not-found' });
    const fields = { grant_type: 'client_credentials', client_id: 'client_1', client_secret: 'secret_1' };
    const answers = [await grantToken(fields), await grantToken(fields), await grantToken(fields), await grantToken(fields)];
    expect(answers.map((a) => a.status)).toEqual([500, 401, 404, 200]);
    expect(answers[0].headers.get('content-type')).toBe('application/json');
    expect(answers[0].body).toEqual({ message: expect.any(String) });
  });

  it('answers 502 with an HTML body', async () => {
    api.failNext('connections', { kind: 'bad-gateway' });
    const answer = await call('/api/system/connections', { token: await systemToken() });
    expect(answer.status).toBe(502);
    expect(answer.headers.get('content-type')).toMatch(/text\/html/);
    expect(answer.text).toMatch(/<html>/);
    expect(answer.body).toBeUndefined();
  });

  it('answers 401 to a valid token when told to', async () => {
    api.failNext('connection-token', { kind: 'unauthorized' });
    const token = await systemToken();
    expect((await call('/api/system/connections/conn_1/token', { method: 'POST', token })).status).toBe(401);
    expect((await call('/api/system/connections/conn_1/token', { method: 'POST', token })).status).toBe(200);
  });

  it('restricts a fault to requests about one connection', async () => {
    api.upsertConnection('conn_2');
    const one = api.issuePair('conn_1');
    const two = api.issuePair('conn_2');
    api.failNext('current', { kind: 'server-error', connection: 'conn_2' });
    api.failNext('connection-token', { kind: 'not-found', connection: 'conn_2' });
    api.failNext('token', { kind: 'server-error', connection: 'conn_2' });
    expect((await current(one.access_token)).status).toBe(200);
    expect((await current(two.access_token)).status).toBe(500);
    expect((await current(two.access_token)).status).toBe(200);

    const token = await systemToken();
    expect((await call('/api/system/connections/conn_1/token', { method: 'POST', token })).status).toBe(200);
    expect((await call('/api/system/connections/conn_2/token', { method: 'POST', token })).status).toBe(404);
    expect((await grantToken({ grant_type: 'refresh_token', refresh_token: one.refresh_token })).status).toBe(200);
    expect((await grantToken({ grant_type: 'refresh_token', refresh_token: two.refresh_token })).status).toBe(500);
  });

  it('hangs until the client gives up, and close() still ends it', async () => {
    const { access_token } = api.issuePair('conn_1');
    api.failNext('current', { kind: 'hang' });
    await expect(fetch(`${api.url}/api/integrations/current`, { headers: { authorization: `Bearer ${access_token}` }, signal: AbortSignal.timeout(200) })).rejects.toThrow();
    expect((await current(access_token)).status).toBe(200);
    api.failNext('current', { kind: 'hang' });
    const pending = fetch(`${api.url}/api/integrations/current`, { headers: { authorization: `Bearer ${access_token}` } });
    pending.catch(() => undefined);
    while (api.stats.byRoute.current < 3) await new Promise((r) => setTimeout(r, 5));
    await api.close();
    await expect(pending).rejects.toThrow();
  });

  it('refuses an unknown route or fault kind', () => {
    expect(() => api.failNext('nope' as never, { kind: 'hang' })).toThrow(TypeError);
    expect(() => api.failNext('current', { kind: 'explode' } as never)).toThrow(TypeError);
  });
});

describe('Makini API simulator: control routes over HTTP', () => {
  it('upserts, pairs, deletes, seeds and lists connections', async () => {
    const created = await call('/_simulator/connections/conn_h', { method: 'POST', json: { name: 'Over HTTP', sync_status: 'inprogress' } });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ key: 'conn_h', name: 'Over HTTP', status: 'active', sync_status: 'inprogress', email: expect.stringContaining('conn_h') });
    expect(Date.parse(created.body.sync_updated_at)).not.toBeNaN();

    const pair = await call('/_simulator/connections/conn_h/pair', { method: 'POST', json: { accessTtlSeconds: 60 } });
    expect(pair.body).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'bearer', expires_in: expect.stringMatching(/^\d{10}$/), refresh_expires_at: expect.any(String) });
    expect(Math.abs(Number(pair.body.expires_in) - (api.now() / 1000 + 60))).toBeLessThanOrEqual(1);
    expect((await current(pair.body.access_token)).body.data.sync_status).toBe('inprogress');
    expect((await call('/_simulator/connections/conn_x/pair', { method: 'POST' })).status).toBe(404);

    expect((await call('/_simulator/seed', { method: 'POST', json: { count: 2, prefix: 's' } })).body.keys).toEqual(['s1', 's2']);
    expect((await call('/_simulator/connections')).body.data.map((c: { key: string }) => c.key)).toEqual(['conn_h', 's1', 's2']);

    expect((await call('/_simulator/connections/conn_h', { method: 'DELETE' })).status).toBe(200);
    expect((await call('/_simulator/connections/conn_h', { method: 'DELETE' })).status).toBe(404);
    expect((await current(pair.body.access_token)).status).toBe(401);
    expect(api.connections().map((c) => c.key)).toEqual(['s1', 's2']);
  });

  it('queues faults, advances the clock and reports stats', async () => {
    api.upsertConnection('conn_1');
    const token = await connectionToken('conn_1', 120);
    expect((await call('/_simulator/faults', { method: 'POST', json: { route: 'current', faults: [{ kind: 'rate-limited', retryAfterSeconds: 3 }] } })).status).toBe(204);
    expect((await call('/_simulator/faults', { method: 'POST', json: { route: 'elsewhere', faults: [] } })).status).toBe(400);
    expect((await current(token)).status).toBe(429);
    expect((await current(token)).status).toBe(200);

    const clock = await call('/_simulator/clock', { method: 'POST', json: { advanceMs: 121_000 } });
    expect(clock.status).toBe(200);
    expect(Date.parse(clock.body.now)).toBeGreaterThan(Date.now() + 120_000);
    expect((await current(token)).status).toBe(401);

    const stats = await call('/_simulator/stats');
    expect(stats.body).toEqual({
      requests: 5,
      byRoute: { token: 1, connections: 0, 'connection-token': 1, current: 3 },
      peakConcurrency: 1,
      grants: { client_credentials: 1, refresh_token: 0 },
      connectionTokensIssued: 1,
      versionHeaders: [''],
      perPageSeen: [],
    });
  });
});
