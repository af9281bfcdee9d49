/**
 * A simulator of Makini's documented API on loopback, for tests, the bench and `npm start`:
 * `POST /link/token` (client credentials and refresh grants), `GET /api/system/connections`
 * (Laravel-style pages), `POST /api/system/connections/{key}/token` and
 * `GET /api/integrations/current`. Facts and their sources: /work/shared/makini-public-api.md.
 *
 * Makini documents only 200 answers; the error shapes here (Laravel's `{"message": …}` and OAuth's
 * `{"error": …}`) are plausible guesses, and faults add the undocumented ones (429, 5xx, an HTML
 * 502 from a proxy, hangs). It has its own clock so tests can expire tokens without waiting.
 * Control: methods on the returned object, or the same over HTTP under `/_simulator/`.
 * Token values are never logged (nothing is logged at all).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback-server';

/** The documented routes a fault can target; also the keys of `stats.byRoute`. */
export const SIM_ROUTES = ['token', 'connections', 'connection-token', 'current'] as const;
export type SimRoute = (typeof SIM_ROUTES)[number];

/** A connection as the simulator keeps it; the API shows parts of it on two endpoints. */
export interface SimConnection {
  key: string;
  name: string;
  email: string;
  /** Not enumerated by Makini: a free string, e.g. 'active'. */
  status: string;
  integration_name: string;
  provider: string;
  /** Documented: 'inprogress' | 'done' | 'fulldone' | 'error' | 'fail'. */
  sync_status: 'inprogress' | 'done' | 'fulldone' | 'error' | 'fail' | (string & {});
  /** ISO time or null. */
  sync_updated_at: string | null;
  created_at: string;
  updated_at: string;
  connected_at: string | null;
}

/** An injected failure; `connection` restricts it to requests about that connection key. */
export type SimFault = (
  | { kind: 'unauthorized' }
  /** `httpDate`: Retry-After as an HTTP date (that many seconds from the simulator's clock) instead of seconds. */
  | { kind: 'rate-limited'; retryAfterSeconds: number; httpDate?: boolean }
  | { kind: 'server-error' }
  | { kind: 'bad-gateway' }
  | { kind: 'not-found' }
  | { kind: 'hang' }
) & { connection?: string };

/** What the dashboard's Connections page gives a customer. */
export interface SimTokenPair {
  access_token: string;
  refresh_token: string;
  token_type: 'bearer';
  /** Absolute epoch seconds of the access token's expiry, as a string (as in Makini's doc sample). */
  expires_in: string;
  /** ISO time the refresh token expires. */
  refresh_expires_at: string;
}

export interface MakiniApiSimulatorOptions {
  /** Delay before every API answer (not control routes). @default 0 */
  latencyMs?: number;
  /** @default random */
  clientId?: string;
  /** @default random */
  clientSecret?: string;
  /** Larger `per_page` values are clamped to this. @default 1000 */
  perPageMax?: number;
  /** @default 15 */
  defaultPerPage?: number;
  /** @default 3600 */
  systemTokenTtlSeconds?: number;
  /** Access token of a pair. @default 30 days */
  accessTokenTtlSeconds?: number;
  /** Refresh token of a pair. @default 31 days */
  refreshTokenTtlSeconds?: number;
  /** Cap on a requested connection-token lifetime. @default 3600 */
  connectionTokenMaxSeconds?: number;
  /** true: a refresh token is revoked when used; false: it stays valid until its expiry. @default false */
  rotateRefreshTokens?: boolean;
  /** `expires_in` of a refresh-grant answer: absolute epoch seconds as a string, or seconds from now. @default 'absolute' */
  refreshExpiresIn?: 'absolute' | 'duration';
  /** @default 0 (any free port) */
  port?: number;
}

export interface MakiniApiSimulatorStats {
  /** API requests (control routes not counted). */
  requests: number;
  byRoute: Record<SimRoute, number>;
  peakConcurrency: number;
  /** Grants issued (successful answers), per grant type. */
  grants: { client_credentials: number; refresh_token: number };
  connectionTokensIssued: number;
  /** Values of the `makini-version` request header; '' when absent. */
  versionHeaders: Set<string>;
  /** `per_page` values asked for on the connections list (the default when absent). */
  perPageSeen: Set<number>;
}

export interface MakiniApiSimulator {
  /** Base URL, e.g. `http://127.0.0.1:PORT` (no trailing slash, no path). */
  readonly url: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly stats: MakiniApiSimulatorStats;
  /** The simulator's clock (epoch ms): Date.now() plus every `advanceClock`. */
  now(): number;
  /** Creates or updates a connection; defaults: status 'active', sync_status 'done', sync_updated_at now. */
  upsertConnection(key: string, partial?: Partial<Omit<SimConnection, 'key'>>): SimConnection;
  /** Adds connections `${prefix}1` … `${prefix}${count}`; returns their keys. */
  seedConnections(count: number, prefix?: string): string[];
  /** Removes a connection and revokes its tokens; false when it did not exist. */
  deleteConnection(key: string): boolean;
  /** A new access/refresh pair for a connection, as the dashboard issues it. Throws for an unknown key. */
  issuePair(key: string, options?: { accessTtlSeconds?: number; refreshTtlSeconds?: number }): SimTokenPair;
  /** Faults for the route's next matching requests, each consumed once, in order. */
  failNext(route: SimRoute, ...faults: SimFault[]): void;
  /** Moves the simulator's clock forward (tokens expire by it). */
  advanceClock(ms: number): void;
  /** A snapshot of the connections, in insertion order. */
  connections(): SimConnection[];
  /** Stops listening and ends open connections, hanging requests included. */
  close(): Promise<void>;
}

type TokenKind = 'system' | 'connection' | 'access' | 'refresh';
interface TokenRecord {
  kind: TokenKind;
  expiresAt: number;
  revoked: boolean;
  connection?: string;
}

const DAY = 86_400;
const FAULT_KINDS = new Set(['unauthorized', 'rate-limited', 'server-error', 'bad-gateway', 'not-found', 'hang']);
const CONNECTIONS_PATH = '/api/system/connections';
const CONNECTION_TOKEN_PATH = /^\/api\/system\/connections\/([^/]+)\/token$/;
const MAX_BODY_BYTES = 1_048_576;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`HTTP ${status}`);
  }
}

/**
 * Starts the simulator on 127.0.0.1.
 *
 * @example
 * const api = await startMakiniApiSimulator({ perPageMax: 100 });
 * api.seedConnections(25);
 * const pair = api.issuePair('conn_1');
 * // … point the code under test at api.url …
 * await api.close();
 */
export async function startMakiniApiSimulator(options: MakiniApiSimulatorOptions = {}): Promise<MakiniApiSimulator> {
  const o = {
    latencyMs: options.latencyMs ?? 0,
    clientId: options.clientId ?? `sim_client_${randomBytes(8).toString('hex')}`,
    clientSecret: options.clientSecret ?? randomBytes(24).toString('base64url'),
    perPageMax: options.perPageMax ?? 1000,
    defaultPerPage: options.defaultPerPage ?? 15,
    systemTokenTtlSeconds: options.systemTokenTtlSeconds ?? 3600,
    accessTokenTtlSeconds: options.accessTokenTtlSeconds ?? 30 * DAY,
    refreshTokenTtlSeconds: options.refreshTokenTtlSeconds ?? 31 * DAY,
    connectionTokenMaxSeconds: options.connectionTokenMaxSeconds ?? 3600,
    rotateRefreshTokens: options.rotateRefreshTokens ?? false,
    refreshExpiresIn: options.refreshExpiresIn ?? 'absolute',
  };
  let clockOffset = 0;
  const now = () => Date.now() + clockOffset;
  const iso = (ms = now()) => new Date(ms).toISOString();

  const connections = new Map<string, SimConnection>();
  const tokens = new Map<string, TokenRecord>();
  const faults = new Map<SimRoute, SimFault[]>(SIM_ROUTES.map((r) => [r, []]));
  const stats: MakiniApiSimulatorStats = {
    requests: 0,
    byRoute: { token: 0, connections: 0, 'connection-token': 0, current: 0 },
    peakConcurrency: 0,
    grants: { client_credentials: 0, refresh_token: 0 },
    connectionTokensIssued: 0,
    versionHeaders: new Set(),
    perPageSeen: new Set(),
  };
  let inFlight = 0;
  let baseUrl = '';

  function newToken(kind: TokenKind, ttlSeconds: number, connection?: string): string {
    const token = randomBytes(30).toString('base64url');
    tokens.set(token, { kind, expiresAt: now() + ttlSeconds * 1000, revoked: false, connection });
    return token;
  }

  /** The token's record when it is of one of `kinds`, unexpired, unrevoked and its connection exists. */
  function validToken(token: string | undefined, kinds: TokenKind[]): TokenRecord | undefined {
    const record = token === undefined ? undefined : tokens.get(token);
    if (!record || record.revoked || record.expiresAt <= now() || !kinds.includes(record.kind)) return undefined;
    if (record.connection !== undefined && !connections.has(record.connection)) return undefined;
    return record;
  }

  function upsertConnection(key: string, partial: Partial<Omit<SimConnection, 'key'>> = {}): SimConnection {
    if (typeof key !== 'string' || key === '') throw new TypeError('A connection key is a non-empty string.');
    const existing = connections.get(key);
    const at = iso();
    const merged: SimConnection = existing
      ? { ...existing, updated_at: at, ...partial, key }
      : {
          name: `Connection ${key}`,
          email: `${key}@example.com`,
          status: 'active',
          integration_name: 'IBM Maximo',
          provider: 'maximo',
          sync_status: 'done',
          sync_updated_at: at,
          created_at: at,
          updated_at: at,
          connected_at: at,
          ...partial,
          key,
        };
    connections.set(key, merged);
    return { ...merged };
  }

  function deleteConnection(key: string): boolean {
    if (!connections.delete(key)) return false;
    for (const record of tokens.values()) if (record.connection === key) record.revoked = true;
    return true;
  }

  function issuePair(key: string, ttl: { accessTtlSeconds?: number; refreshTtlSeconds?: number } = {}) {
    if (!connections.has(key)) throw new Error(`No connection ${key}.`);
    const accessTtl = ttl.accessTtlSeconds ?? o.accessTokenTtlSeconds;
    const refreshTtl = ttl.refreshTtlSeconds ?? o.refreshTokenTtlSeconds;
    const pair: SimTokenPair = {
      access_token: newToken('access', accessTtl, key),
      refresh_token: newToken('refresh', refreshTtl, key),
      token_type: 'bearer',
      expires_in: String(Math.floor((now() + accessTtl * 1000) / 1000)),
      refresh_expires_at: iso(now() + refreshTtl * 1000),
    };
    return pair;
  }

  function failNext(route: SimRoute, ...more: SimFault[]): void {
    if (!SIM_ROUTES.includes(route)) throw new TypeError(`Unknown route ${String(route)}; one of ${SIM_ROUTES.join(', ')}.`);
    for (const f of more) if (!f || !FAULT_KINDS.has(f.kind)) throw new TypeError(`Unknown fault kind ${String(f?.kind)}.`);
    faults.get(route)!.push(...more);
  }

  function takeFault(route: SimRoute, connection: string | undefined): SimFault | undefined {
    const queue = faults.get(route)!;
    const index = queue.findIndex((f) => f.connection === undefined || f.connection === connection);
    return index >= 0 ? queue.splice(index, 1)[0] : undefined;
  }

  function advanceClock(ms: number): void {
    if (!Number.isFinite(ms)) throw new TypeError('advanceClock takes a finite number of milliseconds.');
    clockOffset += ms;
  }

  const server = createServer((req, res) => void serve(req, res));

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://simulator');
    try {
      if (url.pathname.startsWith('/_simulator/')) return await control(req, res, url);
      await api(req, res, url);
    } catch (error) {
      if (res.headersSent || res.destroyed) return;
      if (error instanceof HttpError) return send(res, error.status, error.body);
      send(res, 500, { message: 'Simulator error.' });
    }
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': randomUUID(), ...headers });
    res.end(body === undefined ? undefined : JSON.stringify(body));
  }

  async function readBody(req: IncomingMessage): Promise<string> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) throw new HttpError(413, { message: 'Payload too large.' });
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  /** JSON object body; `{}` when empty. */
  async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
    const text = await readBody(req);
    if (text.trim() === '') return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new HttpError(400, { message: 'The body is not valid JSON.' });
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new HttpError(400, { message: 'The body must be a JSON object.' });
    return parsed as Record<string, unknown>;
  }

  /** `/link/token` body: form-encoded or JSON, by content type (JSON first when unstated). */
  async function readTokenForm(req: IncomingMessage): Promise<Record<string, string>> {
    const text = await readBody(req);
    const type = String(req.headers['content-type'] ?? '');
    const asForm = () => Object.fromEntries(new URLSearchParams(text));
    if (type.includes('application/x-www-form-urlencoded')) return asForm();
    try {
      const parsed: unknown = text.trim() === '' ? {} : JSON.parse(text);
      if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not an object');
      return Object.fromEntries(Object.entries(parsed).filter(([, v]) => typeof v === 'string' || typeof v === 'number').map(([k, v]) => [k, String(v)]));
    } catch {
      if (type.includes('json')) throw new HttpError(400, { error: 'invalid_request', message: 'The body is not valid JSON.' });
      return asForm();
    }
  }

  function bearer(req: IncomingMessage): string | undefined {
    return /^Bearer\s+(\S+)\s*$/i.exec(String(req.headers.authorization ?? ''))?.[1];
  }

  function routeOf(method: string, path: string): { route: SimRoute; key?: string } | { status: 404 | 405; allow?: string } {
    const known = (route: SimRoute, allow: string, key?: string) => (method === allow ? { route, key } : { status: 405 as const, allow });
    if (path === '/link/token') return known('token', 'POST');
    if (path === CONNECTIONS_PATH) return known('connections', 'GET');
    if (path === '/api/integrations/current') return known('current', 'GET');
    const match = CONNECTION_TOKEN_PATH.exec(path);
    if (match) {
      let key: string;
      try {
        key = decodeURIComponent(match[1]);
      } catch {
        return { status: 404 };
      }
      return known('connection-token', 'POST', key);
    }
    return { status: 404 };
  }

  async function api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    inFlight++;
    stats.peakConcurrency = Math.max(stats.peakConcurrency, inFlight);
    res.once('close', () => inFlight--);
    stats.requests++;
    stats.versionHeaders.add(String(req.headers['makini-version'] ?? ''));
    const method = req.method ?? 'GET';
    const matched = routeOf(method, url.pathname);
    if (!('route' in matched)) {
      if (o.latencyMs) await delay(o.latencyMs);
      if (matched.status === 405) return send(res, 405, { message: `The ${method} method is not supported for route ${url.pathname}. Supported methods: ${matched.allow}.` }, { allow: matched.allow! });
      return send(res, 404, { message: `The route ${url.pathname} could not be found.` });
    }
    const { route } = matched;
    stats.byRoute[route]++;

    // Read the request first: a fault may be restricted to the connection it is about.
    const form = route === 'token' ? await readTokenForm(req) : undefined;
    const body = route === 'connection-token' ? await readJson(req).catch(() => ({}) as Record<string, unknown>) : undefined;
    const token = bearer(req);
    const about =
      route === 'connection-token' ? matched.key : route === 'current' ? tokens.get(token ?? '')?.connection : route === 'token' ? tokens.get(form?.refresh_token ?? '')?.connection : undefined;

    if (o.latencyMs) await delay(o.latencyMs);
    const fault = takeFault(route, about);
    if (fault) {
      switch (fault.kind) {
        case 'hang':
          return; // never answers; the client's timeout (or close()) ends it
        case 'unauthorized':
          return send(res, 401, route === 'token' ? { error: 'invalid_client', message: 'Client authentication failed.' } : { message: 'Unauthenticated.' });
        case 'rate-limited':
          return send(res, 429, { message: 'Too Many Attempts.' }, {
            'retry-after': fault.httpDate ? new Date(now() + fault.retryAfterSeconds * 1000).toUTCString() : String(fault.retryAfterSeconds),
          });
        case 'server-error':
          return send(res, 500, { message: 'Server Error' });
        case 'not-found':
          return send(res, 404, { message: 'Not found.' });
        case 'bad-gateway':
          if (res.destroyed) return;
          res.writeHead(502, { 'content-type': 'text/html' });
          return void res.end('<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n');
      }
    }

    switch (route) {
      case 'token':
        return grant(res, form!);
      case 'connections':
        if (!validToken(token, ['system'])) return send(res, 401, { message: 'Unauthenticated.' });
        return send(res, 200, listConnections(url));
      case 'connection-token': {
        if (!validToken(token, ['system'])) return send(res, 401, { message: 'Unauthenticated.' });
        const key = matched.key!;
        if (!connections.has(key)) return send(res, 404, { message: 'Not found.' });
        const requested = body!.expires_in;
        if (requested !== undefined && (typeof requested !== 'number' || !Number.isInteger(requested) || requested < 1)) {
          return send(res, 422, { message: 'The expires in field must be a positive integer.', errors: { expires_in: ['The expires in field must be a positive integer.'] } });
        }
        const seconds = Math.min(requested ?? 300, o.connectionTokenMaxSeconds);
        stats.connectionTokensIssued++;
        return send(res, 200, { data: { token: newToken('connection', seconds, key), expires_in: seconds } });
      }
      case 'current': {
        const record = validToken(token, ['connection', 'access']);
        if (!record) return send(res, 401, { message: 'Unauthenticated.' });
        const c = connections.get(record.connection!)!;
        return send(res, 200, {
          data: { id: c.key, company_name: c.name, email: c.email, provider: c.provider, updated_at: c.updated_at, sync_status: c.sync_status, sync_updated_at: c.sync_updated_at },
        });
      }
    }
  }

  function grant(res: ServerResponse, form: Record<string, string>): void {
    const type = form.grant_type;
    if (!type) return send(res, 400, { error: 'invalid_request', message: 'The grant_type field is required.' });
    if (type === 'client_credentials') {
      if (!form.client_id || !form.client_secret) return send(res, 400, { error: 'invalid_request', message: 'The client_id and client_secret fields are required.' });
      if (form.client_id !== o.clientId || form.client_secret !== o.clientSecret) return send(res, 401, { error: 'invalid_client', message: 'Client authentication failed.' });
      stats.grants.client_credentials++;
      return send(res, 200, { access_token: newToken('system', o.systemTokenTtlSeconds), token_type: 'bearer', expires_in: o.systemTokenTtlSeconds });
    }
    if (type === 'refresh_token') {
      if (!form.refresh_token) return send(res, 400, { error: 'invalid_request', message: 'The refresh_token field is required.' });
      const record = validToken(form.refresh_token, ['refresh']);
      if (!record) return send(res, 400, { error: 'invalid_grant', message: 'The refresh token is invalid.' });
      if (o.rotateRefreshTokens) record.revoked = true;
      const pair = issuePair(record.connection!);
      stats.grants.refresh_token++;
      return send(res, 200, {
        access_token: pair.access_token,
        refresh_token: pair.refresh_token,
        token_type: 'bearer',
        expires_in: o.refreshExpiresIn === 'absolute' ? pair.expires_in : o.accessTokenTtlSeconds,
      });
    }
    return send(res, 400, { error: 'unsupported_grant_type', message: `The grant type ${type} is not supported.` });
  }

  /** One Laravel-style page; links keep `per_page` when the request gave it. */
  function listConnections(url: URL) {
    const rawPerPage = url.searchParams.get('per_page');
    const asked = rawPerPage === null ? NaN : Number(rawPerPage);
    stats.perPageSeen.add(Number.isFinite(asked) ? asked : o.defaultPerPage);
    const perPage = Number.isInteger(asked) && asked >= 1 ? Math.min(asked, o.perPageMax) : o.defaultPerPage;
    const askedPage = Number(url.searchParams.get('page') ?? '1');
    const page = Number.isInteger(askedPage) && askedPage >= 1 ? askedPage : 1;
    const all = [...connections.values()];
    const total = all.length;
    const lastPage = Math.max(1, Math.ceil(total / perPage));
    const start = (page - 1) * perPage;
    const data = all.slice(start, start + perPage).map((c) => ({
      key: c.key,
      name: c.name,
      email: c.email,
      status: c.status,
      integration_name: c.integration_name,
      scopes: [],
      tags: [],
      client_id: o.clientId,
      updated_at: c.updated_at,
      created_at: c.created_at,
      connected_at: c.connected_at,
    }));
    const path = `${baseUrl}${CONNECTIONS_PATH}`;
    const link = (n: number) => `${path}?page=${n}${rawPerPage === null ? '' : `&per_page=${perPage}`}`;
    return {
      data,
      links: { first: link(1), last: link(lastPage), prev: page > 1 ? link(page - 1) : null, next: page < lastPage ? link(page + 1) : null },
      meta: {
        current_page: page,
        from: data.length ? start + 1 : null,
        last_page: lastPage,
        path,
        per_page: perPage,
        to: data.length ? start + data.length : null,
        total,
      },
    };
  }

  async function control(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const method = req.method ?? 'GET';
    const path = url.pathname.slice('/_simulator'.length);
    const keyed = /^\/connections\/([^/]+)(\/pair)?$/.exec(path);
    const key = keyed ? decodeURIComponent(keyed[1]) : undefined;
    if (keyed && !keyed[2] && method === 'POST') return send(res, 200, upsertConnection(key!, (await readJson(req)) as Partial<SimConnection>));
    if (keyed && !keyed[2] && method === 'DELETE') return deleteConnection(key!) ? send(res, 200, { deleted: key }) : send(res, 404, { message: 'Not found.' });
    if (keyed && keyed[2] && method === 'POST') {
      if (!connections.has(key!)) return send(res, 404, { message: 'Not found.' });
      return send(res, 200, issuePair(key!, (await readJson(req)) as { accessTtlSeconds?: number; refreshTtlSeconds?: number }));
    }
    if (path === '/connections' && method === 'GET') return send(res, 200, { data: [...connections.values()] });
    if (path === '/seed' && method === 'POST') {
      const body = await readJson(req);
      if (typeof body.count !== 'number') throw new HttpError(400, { message: 'count is a number.' });
      return send(res, 200, { keys: seedConnections(body.count, typeof body.prefix === 'string' ? body.prefix : undefined) });
    }
    if (path === '/faults' && method === 'POST') {
      const body = await readJson(req);
      try {
        failNext(body.route as SimRoute, ...((Array.isArray(body.faults) ? body.faults : []) as SimFault[]));
      } catch (error) {
        throw new HttpError(400, { message: (error as Error).message });
      }
      return send(res, 204, undefined);
    }
    if (path === '/clock' && method === 'POST') {
      const body = await readJson(req);
      try {
        advanceClock(body.advanceMs as number);
      } catch (error) {
        throw new HttpError(400, { message: (error as Error).message });
      }
      return send(res, 200, { now: iso() });
    }
    if (path === '/stats' && method === 'GET') return send(res, 200, { ...stats, versionHeaders: [...stats.versionHeaders], perPageSeen: [...stats.perPageSeen] });
    return send(res, 404, { message: `No control route ${method} ${url.pathname}.` });
  }

  function seedConnections(count: number, prefix = 'conn_'): string[] {
    const keys: string[] = [];
    for (let i = 1; i <= count; i++) {
      const key = `${prefix}${i}`;
      upsertConnection(key);
      keys.push(key);
    }
    return keys;
  }

  const listening = await listenOnLoopback(server, options.port ?? 0);
  baseUrl = listening.url;
  return {
    url: listening.url,
    clientId: o.clientId,
    clientSecret: o.clientSecret,
    stats,
    now,
    upsertConnection,
    seedConnections,
    deleteConnection,
    issuePair,
    failNext,
    advanceClock,
    connections: () => [...connections.values()].map((c) => ({ ...c })),
    close: listening.close,
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
