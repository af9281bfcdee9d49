/**
 * Makini's API as its docs publish it (docs/makini-wire-format.md): `POST /link/token` (client
 * credentials, refresh), `GET /api/system/connections` (paged), `POST /api/system/connections/{id}/token`
 * and `GET /api/integrations/current`, every answer in a `data` envelope. What the docs leave out
 * (error bodies, 429) is handled defensively: any error shape falls back to the HTTP status, and
 * `Retry-After` is honoured.
 */
import { MAKINI_MAX_RETRY_AFTER_MS } from '../config/config';
import { expiryFromExpiresIn, type TokenResponse } from '../core/connection-secret';
import { MakiniApiError, MakiniAuthError, MakiniUnavailableError } from '../core/errors';
import { mapSyncStatus, type Observation } from '../core/poll';

export interface MakiniApiClientOptions {
  /** e.g. `https://api.makini.io`; Makini documents no version in the path. */
  readonly baseUrl: string;
  /** Sent as `Makini-Version` when set; Makini documents no version header. */
  readonly apiVersion?: string;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  /** `per_page` of list calls. @default 100 */
  readonly pageSize?: number;
  /** Longest Retry-After honoured inside one run; longer waits give up until the next run. @default MAKINI_MAX_RETRY_AFTER_MS */
  readonly maxRetryAfterMs?: number;
  /** Called for every failed call, with Makini's request id. Never receives a token. */
  readonly onFailure?: (details: { path: string; status?: number; code?: string; requestId?: string; attempt: number; error?: string }) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly now?: () => number;
}

export interface ClientCredentials {
  readonly clientId: string;
  readonly clientSecret: string;
}

/** A connection as `GET /api/system/connections` lists it (oas3_system.json `Connection`). */
export interface MakiniConnection {
  readonly key: string;
  readonly status?: string;
  readonly name?: string;
  readonly integrationName?: string;
}

/** What `GET /api/integrations/current` says, mapped, with Makini's `sync_status` verbatim. */
export interface CurrentIntegration {
  readonly sync: Observation['sync'];
  readonly reportedSyncStatus?: string;
}

const BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 5_000;
/** A cached token is dropped this long before it expires, so no request carries an expiring one. */
const TOKEN_EXPIRY_MARGIN_MS = 60_000;
/** How long a system token answered without `expires_in` is reused. */
const UNSTATED_TOKEN_LIFETIME_MS = 5 * 60_000;
/** A list longer than this many pages is a paging loop, not a list. */
const MAX_PAGES = 10_000;
/** Pages of the connection list asked for at once, once the first page has said how many there are. */
const LIST_PAGES_IN_FLIGHT = 8;

interface RequestOptions {
  readonly token?: string;
  readonly query?: Record<string, string>;
  /** JSON request body (POST). */
  readonly json?: unknown;
  /** `application/x-www-form-urlencoded` request body (POST). */
  readonly form?: Record<string, string>;
}

/**
 * @example
 * const client = new MakiniApiClient({ baseUrl: 'https://api.makini.io', timeoutMs: 5000, maxAttempts: 3 });
 * const connections = await client.listConnections(credentials);
 */
export class MakiniApiClient {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly now: () => number;
  /** The system token, per client id, until shortly before it expires. */
  private readonly systemTokens = new Map<string, { token: string; until: number }>();
  /** A grant in flight, per client id: concurrent polls that find the token expired share one request. */
  private readonly granting = new Map<string, Promise<string>>();

  constructor(private readonly options: MakiniApiClientOptions) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  /** `POST /link/token` with `grant_type=client_credentials`, cached until shortly before it expires. */
  async systemToken(credentials: ClientCredentials): Promise<string> {
    const cached = this.systemTokens.get(credentials.clientId);
    if (cached && cached.until > this.now()) return cached.token;
    const inFlight = this.granting.get(credentials.clientId);
    if (inFlight) return inFlight;
    const grant = this.grantSystemToken(credentials).finally(() => this.granting.delete(credentials.clientId));
    this.granting.set(credentials.clientId, grant);
    return grant;
  }

  private async grantSystemToken(credentials: ClientCredentials): Promise<string> {
    const answer = (await this.request('POST', '/link/token', { json: { grant_type: 'client_credentials', client_id: credentials.clientId, client_secret: credentials.clientSecret } })) as TokenResponse;
    if (typeof answer.access_token !== 'string' || answer.access_token === '') throw unexpected('/link/token', 'no access_token in the client-credentials answer');
    // Without a stated lifetime, assume a short one; a refusal drops it sooner anyway.
    const expiresAt = expiryFromExpiresIn(answer.expires_in, this.now());
    this.systemTokens.set(credentials.clientId, { token: answer.access_token, until: expiresAt ? Date.parse(expiresAt) - TOKEN_EXPIRY_MARGIN_MS : this.now() + UNSTATED_TOKEN_LIFETIME_MS });
    return answer.access_token;
  }

  /** Drops the cached system token: Makini refused it. */
  forgetSystemToken(credentials: ClientCredentials): void {
    this.systemTokens.delete(credentials.clientId);
  }

  /**
   * Every connection, through every page of `GET /api/system/connections`. Throws unless the whole
   * list was read, so a partial list can never be mistaken for connections having left.
   */
  async listConnections(credentials: ClientCredentials): Promise<MakiniConnection[]> {
    const byKey = new Map<string, MakiniConnection>();
    const perPage = String(this.options.pageSize ?? 100);
    const fetchPage = (page: number) => this.withSystemToken(credentials, (token) => this.request('GET', '/api/system/connections', { token, query: { page: String(page), per_page: perPage } }));
    /** Adds one page's connections, in page order; whether another page follows. */
    const read = (body: unknown, page: number): boolean => {
      const data = (body as { data?: unknown }).data;
      if (!Array.isArray(data)) throw unexpected('/api/system/connections', 'the answer has no data list');
      const before = byKey.size;
      for (const item of data) {
        const connection = toConnection(item);
        if (connection) byKey.set(connection.key, connection);
      }
      // A server that ignores `page` (cursor paging) answers the same page again: stop, not loop.
      if (page > 1 && data.length > 0 && byKey.size === before) throw unexpected('/api/system/connections', `page ${page} repeats earlier connections: the server does not page by page number`);
      return hasNextPage(body as Record<string, unknown>, page, data.length);
    };
    const first = await fetchPage(1);
    let more = read(first, 1);
    let page = 1;
    // The first page says how many there are (`meta.last_page`): the others are asked for a few at
    // a time and read in page order, as one after another would (100,000 connections are 1,000 pages).
    const last = more ? announcedLastPage(first) : undefined;
    if (last !== undefined) {
      // Page 2 alone first: a server that ignores `page` is found out before it is asked for every page.
      more = read(await fetchPage(++page), page);
      const pages = more ? await inOrder(last - 2, LIST_PAGES_IN_FLIGHT, (i) => fetchPage(i + 3)) : [];
      for (let i = 0; i < pages.length && more; i++) {
        page = i + 3;
        more = read(pages[i], page);
      }
    }
    // Without a page count, or when the list grew meanwhile: one page after another.
    while (more) {
      if (++page > MAX_PAGES) throw unexpected('/api/system/connections', `more than ${MAX_PAGES} pages`);
      more = read(await fetchPage(page), page);
    }
    return [...byKey.values()];
  }

  /**
   * `POST /api/system/connections/{key}/token`: a short-lived token for one connection. A 404 (the
   * connection is gone) is thrown as a MakiniApiError with status 404.
   */
  async issueConnectionToken(credentials: ClientCredentials, key: string, expiresInSeconds: number): Promise<{ token: string; expiresAt?: string }> {
    const path = `/api/system/connections/${encodeURIComponent(key)}/token`;
    const body = await this.withSystemToken(credentials, (token) => this.request('POST', path, { token, json: { expires_in: expiresInSeconds } }));
    const data = envelope(body);
    // The answer's schema is not documented: `token` or `access_token`, and `expires_in`.
    const issued = data.token ?? data.access_token;
    if (typeof issued !== 'string' || issued === '') throw unexpected(path, 'no token in the answer');
    const expiresAt = expiryFromExpiresIn(data.expires_in, this.now()) ?? new Date(this.now() + expiresInSeconds * 1000).toISOString();
    return { token: issued, expiresAt };
  }

  /** `GET /api/integrations/current` with a connection token: the connection's sync status. */
  async currentIntegration(connectionToken: string): Promise<CurrentIntegration> {
    const data = envelope(await this.request('GET', '/api/integrations/current', { token: connectionToken }));
    const reported = typeof data.sync_status === 'string' ? data.sync_status : undefined;
    return { sync: mapSyncStatus(reported, data.sync_updated_at), ...(reported !== undefined && { reportedSyncStatus: reported }) };
  }

  /**
   * `POST /link/token` with `grant_type=refresh_token`: a new pair. Makini documents the grant, not
   * its request: we send OAuth's form fields, as its code-exchange sample does (and the client's id
   * and secret when given).
   */
  async refreshToken(refreshToken: string, client?: ClientCredentials): Promise<TokenResponse> {
    const answer = (await this.request('POST', '/link/token', {
      form: { grant_type: 'refresh_token', refresh_token: refreshToken, ...(client && { client_id: client.clientId, client_secret: client.clientSecret }) },
    })) as TokenResponse;
    if (typeof answer.access_token !== 'string' || answer.access_token === '') throw unexpected('/link/token', 'no access_token in the refresh answer');
    return answer;
  }

  /** Runs `call` with the system token; on a 401/403, drops it and tries once more with a new one. */
  private async withSystemToken<T>(credentials: ClientCredentials, call: (token: string) => Promise<T>): Promise<T> {
    try {
      return await call(await this.systemToken(credentials));
    } catch (error) {
      if (!(error instanceof MakiniAuthError)) throw error;
      this.forgetSystemToken(credentials);
      return call(await this.systemToken(credentials));
    }
  }

  private async request(method: 'GET' | 'POST', path: string, options: RequestOptions): Promise<unknown> {
    const url = new URL(`${this.options.baseUrl}${path}`);
    for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    if (options.json !== undefined) headers['content-type'] = 'application/json';
    if (options.form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const body = options.json !== undefined ? JSON.stringify(options.json) : options.form && new URLSearchParams(options.form).toString();
    if (this.options.apiVersion) headers['makini-version'] = this.options.apiVersion;
    let lastFailure = 'no attempt made';
    let lastRequestId: string | undefined;
    for (let attempt = 1; attempt <= this.options.maxAttempts; attempt++) {
      let response: Response;
      try {
        response = await fetch(url, { method, headers, ...(body !== undefined && { body }), signal: AbortSignal.timeout(this.options.timeoutMs) });
      } catch (error) {
        lastFailure = (error as Error).name === 'TimeoutError' ? `timed out after ${this.options.timeoutMs} ms` : `network error: ${(error as Error).message}`;
        this.options.onFailure?.({ path, attempt, error: lastFailure });
        if (attempt < this.options.maxAttempts) await this.sleep(this.backoff(attempt));
        continue;
      }
      const requestId = response.headers.get('x-request-id') ?? undefined;
      if (response.ok) {
        try {
          return await response.json();
        } catch {
          throw new MakiniApiError(response.status, 'UNEXPECTED_RESPONSE', 'api_error', `Makini ${path}: the answer is not JSON`, requestId);
        }
      }
      const apiError = await readError(response, requestId);
      lastRequestId = apiError.requestId;
      this.options.onFailure?.({ path, attempt, status: response.status, code: apiError.code, ...(apiError.requestId && { requestId: apiError.requestId }) });
      if (response.status === 401 || response.status === 403) throw new MakiniAuthError(apiError.status, apiError.code, apiError.type, apiError.message, apiError.requestId);
      if (response.status !== 429 && response.status < 500) throw apiError;
      lastFailure = `HTTP ${response.status} ${apiError.code}`;
      if (attempt === this.options.maxAttempts) break;
      if (response.status === 429) {
        const wait = retryAfterMs(response.headers.get('retry-after'), this.now()) ?? this.backoff(attempt);
        if (wait > (this.options.maxRetryAfterMs ?? MAKINI_MAX_RETRY_AFTER_MS)) break; // try again next run, not inside this one
        await this.sleep(wait);
      } else {
        await this.sleep(this.backoff(attempt));
      }
    }
    throw new MakiniUnavailableError(`Makini ${path}: ${lastFailure}`, lastRequestId);
  }

  /** Exponential backoff with full jitter. */
  private backoff(attempt: number): number {
    return Math.floor(this.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (attempt - 1)));
  }
}

const unexpected = (path: string, what: string) => new MakiniApiError(200, 'UNEXPECTED_RESPONSE', 'api_error', `Makini ${path}: ${what}`);

/** The documented `data` envelope; a bare object is accepted too. */
function envelope(body: unknown): Record<string, unknown> {
  const record = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const data = record.data;
  return typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as Record<string, unknown>) : record;
}

/**
 * Another page follows when `links.next` is set or `meta.current_page` is below `meta.last_page`;
 * without either, when the page came back full is not enough (a short last page ends the list).
 * The next page is always asked of our own base URL: `links.next` is never followed to another host.
 */
function hasNextPage(body: Record<string, unknown>, page: number, count: number): boolean {
  if (count === 0) return false;
  const links = body.links as { next?: unknown } | undefined;
  const meta = body.meta as { current_page?: unknown; last_page?: unknown } | undefined;
  if (links && 'next' in links) return typeof links.next === 'string' && links.next !== '';
  if (meta && typeof meta.last_page === 'number') return (typeof meta.current_page === 'number' ? meta.current_page : page) < meta.last_page;
  return false;
}

/** `meta.last_page` of a first page, when it is a page count this client would follow (2 to MAX_PAGES). */
function announcedLastPage(body: unknown): number | undefined {
  const last = ((body as { meta?: { last_page?: unknown } } | null)?.meta ?? {}).last_page;
  return typeof last === 'number' && Number.isInteger(last) && last >= 2 ? Math.min(last, MAX_PAGES) : undefined;
}

/**
 * `fetch(0)` … `fetch(count - 1)`, at most `inFlight` at a time, their results in index order. The
 * first failure fails the whole, and no further call is started after it.
 */
async function inOrder<T>(count: number, inFlight: number, fetch: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (next < count && !failed) {
      const i = next++;
      try {
        results[i] = await fetch(i);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
  return results;
}

function toConnection(item: unknown): MakiniConnection | undefined {
  if (typeof item !== 'object' || item === null) return undefined;
  const c = item as Record<string, unknown>;
  const key = typeof c.key === 'string' && c.key !== '' ? c.key : typeof c.id === 'string' || typeof c.id === 'number' ? String(c.id) : undefined;
  if (!key) return undefined;
  return {
    key,
    ...(typeof c.status === 'string' && { status: c.status }),
    ...(typeof c.name === 'string' && { name: c.name }),
    ...(typeof c.integration_name === 'string' && { integrationName: c.integration_name }),
  };
}

/**
 * Makini documents no error body. Read, in turn: `{"error": {code, type, message, request_id}}`,
 * OAuth's `{"error": "invalid_grant", "error_description"}`, Laravel's `{"message"}`; anything else
 * (HTML, empty) leaves the HTTP status alone.
 */
async function readError(response: Response, headerRequestId: string | undefined): Promise<MakiniApiError> {
  let body: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(await response.text());
    if (typeof parsed === 'object' && parsed !== null) body = parsed as Record<string, unknown>;
  } catch {
    // not JSON: keep the status alone
  }
  const nested = typeof body.error === 'object' && body.error !== null ? (body.error as Record<string, unknown>) : {};
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v.slice(0, 200) : undefined);
  const code = text(nested.code) ?? text(body.error) ?? `HTTP_${response.status}`;
  const message = text(nested.message) ?? text(body.error_description) ?? text(body.message) ?? (response.statusText || `HTTP ${response.status}`);
  const requestId = text(nested.request_id) ?? headerRequestId;
  return new MakiniApiError(response.status, code, text(nested.type) ?? 'api_error', message, requestId);
}

/** Retry-After in seconds or as an HTTP date. */
function retryAfterMs(header: string | null, now: number): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
