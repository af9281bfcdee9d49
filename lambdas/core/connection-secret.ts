/**
 * The value of a per-connection token secret (per-connection poll mode):
 *
 * `{"connectionId": "…", "token": "…", "refreshToken": "…", "expiresAt": "…", "refreshExpiresAt": "…"}`
 *
 * Only `connectionId` and `token` are required; a secret with the OAuth pair Makini issues lets the
 * poller refresh it before it expires. Parsing never echoes a value, so a token cannot leak through
 * an error message.
 */

/** Makini's access tokens last 30 days and refresh tokens 31 (docs/authentication.md). */
/**
 * The KMS encryption context of every data key that seals a stored token pair (`tokenStore=table`):
 * the stack's grant requires it, so the poller's key permission serves nothing else.
 */
export const TOKEN_ENCRYPTION_CONTEXT = { purpose: 'makini-connection-token' } as const;

export const ACCESS_TOKEN_DAYS = 30;
export const REFRESH_TOKEN_DAYS = 31;
const DAY_MS = 86_400_000;

export interface ConnectionToken {
  readonly connectionId: string;
  /** The access token, sent as `Authorization: Bearer`. */
  readonly token: string;
  readonly refreshToken?: string;
  /** When the access token expires (ISO 8601). */
  readonly expiresAt?: string;
  /** When the refresh token expires (ISO 8601). */
  readonly refreshExpiresAt?: string;
}

/** A token pair as Makini's `POST /link/token` answers it. */
export interface TokenResponse {
  readonly access_token?: unknown;
  readonly refresh_token?: unknown;
  readonly expires_in?: unknown;
  /** Not in Makini's documented answer; read when present (as Makini's dashboard may give it). */
  readonly refresh_expires_at?: unknown;
  readonly refresh_token_expires_in?: unknown;
}

/**
 * When a token expires, from an OAuth `expires_in`. Makini's sample answer holds an absolute epoch
 * time (`"1715674414"`), OAuth a duration in seconds: a value past 10^9 (2001) is read as the former.
 *
 * @example
 * expiryFromExpiresIn('1715674414', Date.now()); // '2024-05-14T08:13:34.000Z'
 * expiryFromExpiresIn(300, Date.parse('2026-01-01T00:00:00Z')); // '2026-01-01T00:05:00.000Z'
 */
export function expiryFromExpiresIn(expiresIn: unknown, now: number): string | undefined {
  const seconds = typeof expiresIn === 'number' ? expiresIn : typeof expiresIn === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(expiresIn) ? Number(expiresIn) : NaN;
  if (!Number.isFinite(seconds) || seconds <= 0) return undefined;
  // Past 10^12 it can only be epoch milliseconds (10^12 seconds is 33,000 years).
  const at = seconds > 1e12 ? seconds : seconds > 1e9 ? seconds * 1000 : now + seconds * 1000;
  return at > 8.64e15 ? undefined : new Date(at).toISOString();
}

/**
 * A connection token from Makini's token answer. The refresh token's expiry is not in the answer:
 * it is taken as {@link REFRESH_TOKEN_DAYS} after `now`, the time the pair was issued or received.
 */
export function tokenFromResponse(connectionId: string, response: TokenResponse, now: number): { ok: true; value: ConnectionToken } | { ok: false; reason: string } {
  if (typeof response.access_token !== 'string' || response.access_token.trim() === '') return { ok: false, reason: 'access_token is missing' };
  if (/\s/.test(response.access_token.trim())) return { ok: false, reason: 'access_token contains whitespace' };
  const refresh = typeof response.refresh_token === 'string' && response.refresh_token.trim() !== '' ? response.refresh_token.trim() : undefined;
  const expiresAt = expiryFromExpiresIn(response.expires_in, now) ?? new Date(now + ACCESS_TOKEN_DAYS * DAY_MS).toISOString();
  return {
    ok: true,
    value: {
      connectionId,
      token: response.access_token.trim(),
      expiresAt,
      ...(refresh && { refreshToken: refresh, refreshExpiresAt: refreshExpiry(response, now) }),
    },
  };
}

function refreshExpiry(response: TokenResponse, now: number): string {
  const stated = typeof response.refresh_expires_at === 'string' && !Number.isNaN(Date.parse(response.refresh_expires_at)) ? new Date(response.refresh_expires_at).toISOString() : undefined;
  return stated ?? expiryFromExpiresIn(response.refresh_token_expires_in, now) ?? new Date(now + REFRESH_TOKEN_DAYS * DAY_MS).toISOString();
}

/**
 * Reads a secret in our form, or Makini's token answer with a `connectionId` beside it.
 *
 * @example
 * parseConnectionSecret('{"connectionId":"conn_1","token":"…"}'); // { ok: true, value: { connectionId: 'conn_1', token: '…' } }
 */
export function parseConnectionSecret(value: string, now = Date.now()): { ok: true; value: ConnectionToken } | { ok: false; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return { ok: false, reason: 'the value is not JSON' };
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return { ok: false, reason: 'the value is not a JSON object' };
  const fields = parsed as Record<string, unknown>;
  const { connectionId } = fields;
  if (typeof connectionId !== 'string' || connectionId.trim() === '') return { ok: false, reason: 'connectionId is missing' };
  const id = connectionId.trim();
  if (fields.token === undefined && fields.access_token !== undefined) return tokenFromResponse(id, fields, now);
  const { token, refreshToken, expiresAt, refreshExpiresAt } = fields;
  if (typeof token !== 'string' || token.trim() === '') return { ok: false, reason: 'token is missing' };
  if (/\s/.test(token.trim()) || (typeof refreshToken === 'string' && /\s/.test(refreshToken.trim()))) return { ok: false, reason: 'a token contains whitespace (store the token alone, without "Bearer")' };
  for (const [name, time] of [['expiresAt', expiresAt], ['refreshExpiresAt', refreshExpiresAt]] as const) {
    if (time !== undefined && (typeof time !== 'string' || Number.isNaN(Date.parse(time)))) return { ok: false, reason: `${name} is not a date` };
  }
  if (refreshToken !== undefined && (typeof refreshToken !== 'string' || refreshToken.trim() === '')) return { ok: false, reason: 'refreshToken is empty' };
  return {
    ok: true,
    value: {
      connectionId: id,
      token: token.trim(),
      ...(typeof refreshToken === 'string' && { refreshToken: refreshToken.trim() }),
      ...(typeof expiresAt === 'string' && { expiresAt: new Date(expiresAt).toISOString() }),
      ...(typeof refreshExpiresAt === 'string' && { refreshExpiresAt: new Date(refreshExpiresAt).toISOString() }),
      // A pair stored without its expiry is given Makini's lifetimes from when it was stored (`now`),
      // so it is still refreshed in time.
      ...(typeof refreshToken === 'string' && expiresAt === undefined && { expiresAt: new Date(now + ACCESS_TOKEN_DAYS * DAY_MS).toISOString() }),
      ...(typeof refreshToken === 'string' && refreshExpiresAt === undefined && { refreshExpiresAt: new Date(now + REFRESH_TOKEN_DAYS * DAY_MS).toISOString() }),
    },
  };
}

export function formatConnectionSecret(value: ConnectionToken): string {
  const { connectionId, token, refreshToken, expiresAt, refreshExpiresAt } = value;
  return JSON.stringify({ connectionId, token, ...(refreshToken && { refreshToken }), ...(expiresAt && { expiresAt }), ...(refreshExpiresAt && { refreshExpiresAt }) });
}

/**
 * What a connection's tokens need this run: a refresh (access token within `refreshMarginMs` of
 * expiry, and a refresh token to do it with), a warning (refresh token within `warningMs` of expiry,
 * or an access token about to expire with no way to refresh it), both, or nothing.
 */
export function tokenDue(token: ConnectionToken, now: number, settings: { refreshMarginMs: number; warningMs: number }): { refresh: boolean; warn: boolean } {
  const left = (at: string | undefined) => (at === undefined ? Number.POSITIVE_INFINITY : Date.parse(at) - now);
  const accessLeft = left(token.expiresAt);
  const refresh = !!token.refreshToken && accessLeft <= settings.refreshMarginMs && left(token.refreshExpiresAt) > 0;
  const warn = token.refreshToken ? left(token.refreshExpiresAt) <= settings.warningMs : accessLeft <= settings.warningMs;
  return { refresh, warn };
}

/**
 * The system mode secret: Makini's client credentials, `{"client_id": "…", "client_secret": "…"}`
 * (camelCase accepted too). Never echoes a value.
 */
export function parseClientCredentials(value: string): { ok: true; value: { clientId: string; clientSecret: string } } | { ok: false; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return { ok: false, reason: 'the value is not JSON' };
  }
  const fields = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const clientId = fields.client_id ?? fields.clientId;
  const clientSecret = fields.client_secret ?? fields.clientSecret;
  if (typeof clientId !== 'string' || clientId.trim() === '') return { ok: false, reason: 'client_id is missing' };
  if (typeof clientSecret !== 'string' || clientSecret.trim() === '') return { ok: false, reason: 'client_secret is missing' };
  return { ok: true, value: { clientId: clientId.trim(), clientSecret: clientSecret.trim() } };
}
