import { createHash } from 'node:crypto';
import type { Headers } from './signature';

/** Ids longer than this, or with control characters, are not trusted as dedup keys. */
const MAX_ID_LENGTH = 256;
const USABLE_ID = /^[\x21-\x7e][\x20-\x7e]*$/;

/**
 * The id a webhook is deduplicated by, from the first source that has one:
 * 1. the `webhook-id` or `x-makini-webhook-id` header,
 * 2. the body's top-level `id` (string or number),
 * 3. `sha256:` + the SHA-256 of the raw body, so identical retries still share an id.
 *
 * Call it only after the signature is verified: it parses the body.
 *
 * @example
 * resolveWebhookId({ 'webhook-id': 'msg_1' }, body); // 'msg_1'
 */
export function resolveWebhookId(headers: Headers, body: Uint8Array): string {
  const fromHeader = usable(headers['webhook-id']) ?? usable(headers['x-makini-webhook-id']);
  if (fromHeader) return fromHeader;
  const fromBody = usable(bodyId(body));
  if (fromBody) return fromBody;
  return `sha256:${createHash('sha256').update(body).digest('hex')}`;
}

function bodyId(body: Uint8Array): string | undefined {
  // Only a JSON object can carry an id; skip the parse for anything else.
  if (body[0] !== 0x7b /* { */ && !/^\s*\{/.test(Buffer.from(body.subarray(0, 64)).toString('utf8'))) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(body).toString('utf8')) as { id?: unknown };
    return typeof parsed.id === 'string' || typeof parsed.id === 'number' ? String(parsed.id) : undefined;
  } catch {
    return undefined;
  }
}

function usable(id: string | undefined): string | undefined {
  const trimmed = id?.trim();
  return trimmed && trimmed.length <= MAX_ID_LENGTH && USABLE_ID.test(trimmed) ? trimmed : undefined;
}
