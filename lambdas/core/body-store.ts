/**
 * Bodies too large to travel inline (above `INLINE_BODY_MAX_BYTES`): the receiver stores the
 * signed bytes under a content-addressed key and the queue, the history item and the bus carry a
 * {@link BodyPointer} instead. Free of AWS: the S3 adapter implements {@link BodyStore}.
 */
import { createHash } from 'node:crypto';
import { bodiesMayTravelAsPointers, INLINE_BODY_MAX_BYTES } from '../config/config';
import { isIdList } from './event';
import { asJsonObject, parseJsonBody } from './json-body';

/** Where a large body is, and what it must be when read back. */
export interface BodyPointer {
  /** The object key, `bodies/<sha256>`: identical retries overwrite the same object. */
  readonly key: string;
  readonly bytes: number;
  /** Lower-case hex SHA-256 of the body. */
  readonly sha256: string;
}

/** Where large bodies are kept. Resolves only once the body is durably stored. */
export interface BodyStore {
  /** The bucket's name, which the bus event names with the key. */
  readonly bucket: string;
  put(key: string, body: Uint8Array): Promise<void>;
  /** The object's bytes; throws {@link BodyNotFoundError} when there is none. */
  get(key: string): Promise<Uint8Array>;
}

/** Prefix of every body's key; the functions' grants are limited to it. */
export const BODY_KEY_PREFIX = 'bodies/';

/** Thrown when a body that the queue or the history points to is not in the bucket (expired, or never written). */
export class BodyNotFoundError extends Error {
  constructor(key: string, options?: ErrorOptions) {
    super(`no stored body at ${key}`, options);
    this.name = 'BodyNotFoundError';
  }
}

/** Thrown when a stored body is not the one its pointer names (size or SHA-256 differ). */
export class BodyIntegrityError extends Error {
  constructor(key: string, reason: string) {
    super(`the stored body at ${key} ${reason}`);
    this.name = 'BodyIntegrityError';
  }
}

/**
 * Whether a body travels inline (`false`) or through the body store (`true`): above
 * `INLINE_BODY_MAX_BYTES`, or when its fields would grow past that on the bus (see {@link busBytes}).
 *
 * @example
 * travelsAsPointer(Buffer.alloc(250_000)); // true
 * travelsAsPointer(Buffer.from(JSON.stringify({ event: 'assets.updated', body: Array(60_000).fill(7) }))); // true: 120 KB, but 240 KB of ids as strings
 * travelsAsPointer(Buffer.from(JSON.stringify({ type: 'report', data: { v: Array(60_000).fill(7) } }))); // false: 120 KB on the bus too
 */
export function travelsAsPointer(body: Uint8Array): boolean {
  if (body.length > INLINE_BODY_MAX_BYTES) return true;
  // No body this short can grow past the line: only a larger one is parsed to be measured.
  if (!bodiesMayTravelAsPointers(body.length)) return false;
  return busBytes(body) > INLINE_BODY_MAX_BYTES;
}

/**
 * At most what a body's fields take on the bus: the body parsed and written again as the bus event
 * writes it (`1e20` becomes `100000000000000000000`), with the numbers of its top-level `body` list as
 * strings when that list can be a notification's ids, which travel that way (`7` → `"7"`, `9e15` →
 * `"9000000000000000"`). Numbers anywhere else stay numbers on the bus, so they are measured as
 * numbers. A string's escapes never grow. (Whether the type makes it a notification depends on the
 * configured type fields; a list of ids under another type is measured as strings all the same.)
 */
function busBytes(body: Uint8Array): number {
  const raw = asJsonObject(parseJsonBody(body));
  // Not a JSON object: it makes no event, only a history item that keeps it as it came.
  if (!raw) return body.length;
  const ids = isIdList(raw.body) ? raw.body : undefined;
  try {
    // JSON.stringify calls the replacer with the list itself as `this` for each of its elements.
    return Buffer.byteLength(JSON.stringify(raw, function (this: unknown, _key, value: unknown) {
      // Stryker disable next-line ConditionalExpression: equivalent because the list holds only strings and numbers (isIdList), and String() of a string is that string
      return this === ids && typeof value === 'number' ? String(value) : value;
    }));
  } catch {
    // Nested deeper than JSON.stringify recurses (canonicalJson has no form for it either): as it came.
    return body.length;
  }
}

/**
 * The pointer of a body: its content-addressed key, size and hash.
 *
 * @example
 * bodyPointer(Buffer.from('{}')); // { key: 'bodies/44136fa3…', bytes: 2, sha256: '44136fa3…' }
 */
export function bodyPointer(body: Uint8Array): BodyPointer {
  const sha256 = createHash('sha256').update(body).digest('hex');
  return { key: `${BODY_KEY_PREFIX}${sha256}`, bytes: body.length, sha256 };
}

/**
 * Reads a pointed-to body back and checks it is the one the pointer names.
 *
 * @example
 * const body = await readPointedBody(store, envelope.bodyRef);
 */
export async function readPointedBody(store: Pick<BodyStore, 'get'>, pointer: BodyPointer): Promise<Buffer> {
  const body = Buffer.from(await store.get(pointer.key));
  if (body.length !== pointer.bytes) throw new BodyIntegrityError(pointer.key, `has ${body.length} bytes, not ${pointer.bytes}`);
  if (createHash('sha256').update(body).digest('hex') !== pointer.sha256) throw new BodyIntegrityError(pointer.key, 'has another SHA-256');
  return body;
}

/** Whether a value read from a message or an item is a body pointer. */
export function isBodyPointer(value: unknown): value is BodyPointer {
  const p = value as Partial<BodyPointer> | null;
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof p.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(p.sha256) &&
    p.key === `${BODY_KEY_PREFIX}${p.sha256}` &&
    // Stryker disable next-line ConditionalExpression: equivalent because Number.isSafeInteger is false for anything but a number
    typeof p.bytes === 'number' &&
    Number.isSafeInteger(p.bytes) &&
    p.bytes >= 0
  );
}
