/**
 * The value of a per-connection token secret: `{"connectionId": "…", "token": "…"}`.
 * Parsing never echoes the value, so a token cannot leak through an error message.
 */
export interface ConnectionToken {
  readonly connectionId: string;
  readonly token: string;
}

/**
 * @example
 * parseConnectionSecret('{"connectionId":"conn_1","token":"…"}'); // { ok: true, value: { connectionId: 'conn_1', token: '…' } }
 */
export function parseConnectionSecret(value: string): { ok: true; value: ConnectionToken } | { ok: false; reason: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return { ok: false, reason: 'the value is not JSON' };
  }
  const { connectionId, token } = (parsed ?? {}) as Record<string, unknown>;
  if (typeof connectionId !== 'string' || connectionId.trim() === '') return { ok: false, reason: 'connectionId is missing' };
  if (typeof token !== 'string' || token.trim() === '') return { ok: false, reason: 'token is missing' };
  return { ok: true, value: { connectionId: connectionId.trim(), token: token.trim() } };
}

export function formatConnectionSecret(value: ConnectionToken): string {
  return JSON.stringify({ connectionId: value.connectionId, token: value.token });
}
