/**
 * A mock Makini API on loopback for tests, benchmarks and the local stack: the connection-status
 * and sync-status endpoints, one connection per bearer token, with controllable state, latency and
 * faults (401, 429 with Retry-After, 5xx, hangs). Wire format: docs/makini-wire-format.md.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from './loopback-server';

export interface MockConnection {
  connectionId: string;
  status: 'online' | 'offline';
  reauthorizationRequired: boolean;
  sync: {
    status: 'in_progress' | 'completed' | 'failed';
    lastSuccessfulSyncAt?: string;
    lastSyncAt?: string;
    errors?: unknown[];
    nextScheduledSyncAt?: string;
  };
}

export type MockFault = ({ kind: 'unauthorized' } | { kind: 'rate-limited'; retryAfterSeconds: number } | { kind: 'server-error' } | { kind: 'hang' }) & {
  /** Only requests to this endpoint take the fault. @default either */
  on?: 'status' | 'sync';
};

export interface MockMakiniApi {
  /** Base URL, including `/api/v1`. */
  readonly url: string;
  /** Registers (or replaces) the connection a token belongs to. */
  setConnection(token: string, connection: MockConnection): void;
  /** Faults for a token's next requests, in order; then it answers normally. */
  failNext(token: string, ...faults: MockFault[]): void;
  /** Requests received, per token and in all. */
  readonly stats: { requests: number; byToken: Record<string, number>; peakConcurrency: number; authorizationHeaders: Set<string>; versionHeaders: Set<string> };
  close(): Promise<void>;
}

export async function startMockMakiniApi(options: { latencyMs?: number; statusPath?: string; syncStatusPath?: string } = {}): Promise<MockMakiniApi> {
  const base = '/api/v1';
  const statusPath = options.statusPath ?? '/connection-status';
  const syncPath = options.syncStatusPath ?? '/sync-status';
  const connections = new Map<string, MockConnection>();
  const faults = new Map<string, MockFault[]>();
  const stats = { requests: 0, byToken: {} as Record<string, number>, peakConcurrency: 0, authorizationHeaders: new Set<string>(), versionHeaders: new Set<string>() };
  let inFlight = 0;
  const server = createServer((req, res) => void serve(req, res));

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    inFlight++;
    stats.peakConcurrency = Math.max(stats.peakConcurrency, inFlight);
    try {
      stats.requests++;
      if (options.latencyMs) await new Promise((r) => setTimeout(r, options.latencyMs));
      const requestId = `req_${randomUUID()}`;
      const token = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
      stats.authorizationHeaders.add(req.headers.authorization ? 'bearer' : 'none');
      stats.versionHeaders.add(String(req.headers['makini-version'] ?? ''));
      stats.byToken[token] = (stats.byToken[token] ?? 0) + 1;
      const error = (status: number, code: string, type: string, message: string, headers: Record<string, string> = {}) => {
        res.writeHead(status, { 'content-type': 'application/json', 'x-request-id': requestId, ...headers });
        res.end(JSON.stringify({ error: { code, type, message, request_id: requestId } }));
      };
      const endpoint = new URL(req.url ?? '/', 'http://x').pathname.endsWith(syncPath.replace('{connectionId}', '')) ? 'sync' : 'status';
      const queue = faults.get(token) ?? [];
      const index = queue.findIndex((f) => !f.on || f.on === endpoint);
      const fault = index >= 0 ? queue.splice(index, 1)[0] : undefined;
      if (fault?.kind === 'hang') return; // never answers; the client's timeout must end it
      if (fault?.kind === 'server-error') return error(500, 'INTERNAL_ERROR', 'api_error', 'Injected failure.');
      if (fault?.kind === 'rate-limited') return error(429, 'RATE_LIMIT_EXCEEDED', 'rate_limit_error', 'Too many requests.', { 'retry-after': String(fault.retryAfterSeconds) });
      const connection = connections.get(token);
      if (!connection || fault?.kind === 'unauthorized') return error(401, 'AUTHENTICATION_FAILED', 'authentication_error', 'The API token is invalid or expired.');

      const path = new URL(req.url ?? '/', 'http://x').pathname.replace(connection.connectionId, '{connectionId}');
      let body: unknown;
      if (path === base + statusPath) {
        body = { connection_id: connection.connectionId, status: connection.status, reauthorization_required: connection.reauthorizationRequired, checked_at: new Date().toISOString() };
      } else if (path === base + syncPath) {
        const s = connection.sync;
        body = { connection_id: connection.connectionId, status: s.status, last_successful_sync_at: s.lastSuccessfulSyncAt ?? null, last_sync_at: s.lastSyncAt ?? null, errors: s.errors ?? [], next_scheduled_sync_at: s.nextScheduledSyncAt ?? null };
      } else {
        return error(404, 'NOT_FOUND', 'invalid_request_error', `No route ${req.method} ${path}.`);
      }
      res.writeHead(200, { 'content-type': 'application/json', 'x-request-id': requestId });
      res.end(JSON.stringify(body));
    } finally {
      inFlight--;
    }
  }

  const { url, close } = await listenOnLoopback(server);
  return {
    url: `${url}${base}`,
    setConnection: (token, connection) => void connections.set(token, connection),
    failNext: (token, ...more) => void faults.set(token, [...(faults.get(token) ?? []), ...more]),
    stats,
    close,
  };
}
