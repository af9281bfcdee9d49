import { MAKINI_MAX_RETRY_AFTER_MS } from '../../lib/config';
import { MakiniApiError, MakiniAuthError, MakiniUnavailableError } from '../core/errors';
import type { Observation } from '../core/poll';

/** Makini documents v1 and asks clients to request it explicitly (docs/makini-wire-format.md). */
export const MAKINI_API_VERSION = 'v1';

export interface MakiniApiClientOptions {
  /** Base URL with the version, e.g. `https://api.makini.io/api/v1`. */
  readonly baseUrl: string;
  readonly statusPath: string;
  readonly syncStatusPath: string;
  readonly timeoutMs: number;
  readonly maxAttempts: number;
  /** Longest Retry-After honoured inside one run; longer waits give up until the next run. @default MAKINI_MAX_RETRY_AFTER_MS */
  readonly maxRetryAfterMs?: number;
  /** Called for every failed call, with Makini's request id. Never receives the token. */
  readonly onFailure?: (details: { path: string; status?: number; code?: string; requestId?: string; attempt: number; error?: string }) => void;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
}

const BACKOFF_BASE_MS = 200;
const BACKOFF_CAP_MS = 5_000;

/**
 * Asks Makini about one connection, with that connection's own bearer token.
 *
 * @example
 * const observation = await client.observe('conn_1', token);
 */
export class MakiniApiClient {
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;

  constructor(private readonly options: MakiniApiClientOptions) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.random = options.random ?? Math.random;
  }

  /** Both endpoints, in parallel. Throws MakiniAuthError (a finding), MakiniUnavailableError or MakiniApiError. */
  async observe(connectionId: string, token: string): Promise<Observation> {
    // Settle both before answering, so no retry of one endpoint outlives a failure of the other.
    const [status, sync] = await Promise.allSettled([this.get(this.options.statusPath, connectionId, token), this.get(this.options.syncStatusPath, connectionId, token)]);
    if (status.status === 'rejected') throw status.reason;
    if (sync.status === 'rejected') throw sync.reason;
    return { connection: parseConnectionStatus(status.value), sync: parseSyncStatus(sync.value) };
  }

  private async get(pathTemplate: string, connectionId: string, token: string): Promise<Record<string, unknown>> {
    const path = pathTemplate.replace('{connectionId}', encodeURIComponent(connectionId));
    let lastFailure = 'no attempt made';
    let lastRequestId: string | undefined;
    for (let attempt = 1; attempt <= this.options.maxAttempts; attempt++) {
      let response: Response;
      try {
        response = await fetch(`${this.options.baseUrl}${path}`, {
          headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'makini-version': MAKINI_API_VERSION },
          signal: AbortSignal.timeout(this.options.timeoutMs),
        });
      } catch (error) {
        lastFailure = (error as Error).name === 'TimeoutError' ? `timed out after ${this.options.timeoutMs} ms` : `network error: ${(error as Error).message}`;
        this.options.onFailure?.({ path, attempt, error: lastFailure });
        if (attempt < this.options.maxAttempts) await this.sleep(this.backoff(attempt));
        continue;
      }
      const requestId = response.headers.get('x-request-id') ?? undefined;
      if (response.ok) return (await response.json()) as Record<string, unknown>;

      const apiError = await readError(response, requestId);
      lastRequestId = apiError.requestId;
      this.options.onFailure?.({ path, attempt, status: response.status, code: apiError.code, ...(apiError.requestId && { requestId: apiError.requestId }) });
      if (response.status === 401 || response.status === 403) {
        throw new MakiniAuthError(apiError.status, apiError.code, apiError.type, apiError.message, apiError.requestId);
      }
      if (response.status !== 429 && response.status < 500) throw apiError;
      lastFailure = `HTTP ${response.status} ${apiError.code}`;
      if (attempt === this.options.maxAttempts) break;
      if (response.status === 429) {
        const wait = retryAfterMs(response.headers.get('retry-after')) ?? this.backoff(attempt);
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

async function readError(response: Response, headerRequestId: string | undefined): Promise<MakiniApiError> {
  let error: Record<string, unknown> = {};
  try {
    const body = (await response.json()) as { error?: Record<string, unknown> };
    error = body.error ?? {};
  } catch {
    // not JSON: keep the status alone
  }
  const requestId = typeof error.request_id === 'string' ? error.request_id : headerRequestId;
  return new MakiniApiError(response.status, String(error.code ?? `HTTP_${response.status}`), String(error.type ?? 'api_error'), String(error.message ?? response.statusText), requestId);
}

/** Retry-After in seconds or as an HTTP date. */
function retryAfterMs(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

const pick = (o: Record<string, unknown>, ...keys: string[]) => keys.map((k) => o[k]).find((v) => v !== undefined && v !== null);
const optionalString = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

function parseConnectionStatus(body: Record<string, unknown>): Observation['connection'] {
  const status = pick(body, 'status', 'connection_status', 'connectionStatus');
  const reauth = pick(body, 'reauthorization_required', 'requires_reauthorization', 'reauthorizationRequired', 'needs_reauthorization');
  if (status !== 'online' && status !== 'offline') throw new MakiniApiError(200, 'UNEXPECTED_RESPONSE', 'api_error', `connection status ${JSON.stringify(status)} is neither online nor offline`);
  return { status, reauthorizationRequired: reauth === true };
}

function parseSyncStatus(body: Record<string, unknown>): Observation['sync'] {
  const status = pick(body, 'status', 'sync_status', 'syncStatus');
  if (status !== 'in_progress' && status !== 'completed' && status !== 'failed') return undefined;
  const errors = pick(body, 'errors');
  return {
    status,
    lastSuccessfulSyncAt: optionalString(pick(body, 'last_successful_sync_at', 'lastSuccessfulSyncAt')),
    lastSyncAt: optionalString(pick(body, 'last_sync_at', 'lastSyncAt')),
    errors: Array.isArray(errors) ? errors : [],
    nextScheduledSyncAt: optionalString(pick(body, 'next_scheduled_sync_at', 'nextScheduledSyncAt')),
  };
}
