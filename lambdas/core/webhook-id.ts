import { createHash } from 'node:crypto';
import type { SignatureSchemeName } from '../config/config';
import { asJsonObject } from './json-body';
import type { Headers } from './signature';

/** Ids longer than this, or with control characters, are not trusted as dedup keys. */
const MAX_ID_LENGTH = 256;
const USABLE_ID = /^[\x21-\x7e][\x20-\x7e]*$/;

/**
 * How a webhook is deduplicated:
 * - `id`: by an id its signature covers; copies with that id are one event for `dedupWindowDays`.
 * - `content`: by the hash of what was signed (and the connection of its URL). Two genuine updates
 *   of one record have identical bodies, so a copy is a retry only within `contentDedupWindowMinutes`.
 */
export type DedupBy = 'id' | 'content';

export interface DedupKey {
  readonly webhookId: string;
  readonly dedup: DedupBy;
}

/**
 * The key a verified webhook is deduplicated by, from signed content only:
 * 1. `standard-webhooks`: the `webhook-id` header, which its signature covers;
 * 2. the first usable id among `idFields` of the body (`id` by default);
 * 3. else `sha256:` + the SHA-256 of the URL's connection (if any) and the signed body.
 *
 * Under the `makini` scheme the signature covers the body alone, so no header can choose the key:
 * a captured request replayed with a new id header is still the same webhook.
 *
 * @example
 * resolveDedupKey({ scheme: 'makini', headers, body, parsed: JSON.parse(text), idFields: ['id'] });
 * // { webhookId: 'evt_1', dedup: 'id' }, or { webhookId: 'sha256:…', dedup: 'content' }
 */
export function resolveDedupKey(input: {
  readonly scheme: SignatureSchemeName;
  readonly headers: Headers;
  /** The signed bytes. */
  readonly body: Uint8Array;
  /** The body parsed as JSON, when it is. */
  readonly parsed: unknown;
  readonly idFields: readonly string[];
  /** The connection named by the URL path. */
  readonly connectionId?: string;
}): DedupKey {
  const signedHeaderId = input.scheme === 'standard-webhooks' ? usable(input.headers['webhook-id']) : undefined;
  if (signedHeaderId) return { webhookId: signedHeaderId, dedup: 'id' };
  const object = asJsonObject(input.parsed);
  for (const field of object ? input.idFields : []) {
    const value = object![field];
    // A number beyond 2^53 has already lost digits in JSON.parse: two ids could collide.
    const id = usable(typeof value === 'string' || Number.isSafeInteger(value) ? String(value) : undefined);
    if (id) return { webhookId: id, dedup: 'id' };
  }
  const hash = createHash('sha256');
  if (input.connectionId !== undefined) hash.update(`connection:${input.connectionId}\n`);
  return { webhookId: `sha256:${hash.update(input.body).digest('hex')}`, dedup: 'content' };
}

function usable(id: string | undefined): string | undefined {
  const trimmed = id?.trim();
  return trimmed && trimmed.length <= MAX_ID_LENGTH && USABLE_ID.test(trimmed) ? trimmed : undefined;
}
