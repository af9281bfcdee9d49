import { isUtf8 } from 'node:buffer';
import type { SignatureSchemeName } from '../config/config';
import { isBodyPointer, type BodyPointer } from './body-store';
import type { DedupBy } from './webhook-id';

/**
 * The SQS message the receiver writes for every verified webhook: the signed bytes, untouched (the
 * raw body, or its canonical JSON when only that was signed), with what the receiver knew about it. The consumer reads it back with {@link decodeEnvelope}.
 */
export interface WebhookEnvelope {
  /** Envelope format version. */
  readonly v: 1;
  readonly webhookId: string;
  /** How `webhookId` was found; absent (older messages) means `id`. */
  readonly dedup?: DedupBy;
  /** The connection named by the URL path (`/webhooks/{connection}`), which wins over the body's. */
  readonly connectionId?: string;
  /** ISO-8601 time the receiver accepted the request. */
  readonly receivedAt: string;
  /** How the body was authenticated: a signature scheme, or `poll` for an event the poller synthesized. */
  readonly scheme: SignatureSchemeName | 'poll';
  /** API Gateway request id (also returned to the sender as `x-request-id`), or the poller's run id. */
  readonly requestId: string;
  readonly contentType?: string;
  /** `utf8` when the body is text SQS can carry as is, else `base64`. */
  readonly bodyEncoding: 'utf8' | 'base64';
  /** The body; empty when it is in the body store (see `bodyRef`). */
  readonly body: string;
  /** Set for a body larger than `INLINE_BODY_MAX_BYTES`: where the receiver stored it. */
  readonly bodyRef?: BodyPointer;
}

export type EnvelopeMetadata = Omit<WebhookEnvelope, 'v' | 'bodyEncoding' | 'body' | 'bodyRef'>;

/** U+FFFE and U+FFFF are valid UTF-8 but outside the characters an SQS message may hold. */
const NOT_SQS_SAFE = /[\uFFFE\uFFFF]/;

/**
 * @example
 * const message = encodeEnvelope({ webhookId, receivedAt, scheme, requestId }, rawBody);
 */
export function encodeEnvelope(metadata: EnvelopeMetadata, body: Uint8Array): string {
  const text = isUtf8(body) ? Buffer.from(body).toString('utf8') : undefined;
  // JSON escapes `"` and `\` in two bytes and control characters in six; the size limits assume
  // at most base64's 4/3, so text that would grow more travels as base64.
  const envelope: WebhookEnvelope =
    text !== undefined && !NOT_SQS_SAFE.test(text) && Buffer.byteLength(JSON.stringify(text)) <= Math.ceil(body.length / 3) * 4 + 2
      ? { v: 1, ...metadata, bodyEncoding: 'utf8', body: text }
      : { v: 1, ...metadata, bodyEncoding: 'base64', body: Buffer.from(body).toString('base64') };
  return JSON.stringify(envelope);
}

/**
 * The envelope of a body kept in the body store: the pointer travels, not the body.
 *
 * @example
 * const message = encodePointerEnvelope({ webhookId, receivedAt, scheme, requestId }, bodyPointer(rawBody));
 */
export function encodePointerEnvelope(metadata: EnvelopeMetadata, bodyRef: BodyPointer): string {
  const envelope: WebhookEnvelope = { v: 1, ...metadata, bodyEncoding: 'utf8', body: '', bodyRef: { key: bodyRef.key, bytes: bodyRef.bytes, sha256: bodyRef.sha256 } };
  return JSON.stringify(envelope);
}

/** Thrown when a queue message is not an envelope this version understands. */
export class InvalidEnvelopeError extends Error {
  constructor(reason: string) {
    super(`Not a webhook envelope: ${reason}`);
    this.name = 'InvalidEnvelopeError';
  }
}

/**
 * The envelope and its inline body. For a body in the body store, `body` is empty and `bodyRef`
 * says where it is (read it with `readPointedBody`).
 *
 * @example
 * const { envelope, body, bodyRef } = decodeEnvelope(record.body);
 */
export function decodeEnvelope(message: string): { envelope: WebhookEnvelope; body: Buffer; bodyRef?: BodyPointer } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    throw new InvalidEnvelopeError('not JSON');
  }
  const e = parsed as Partial<WebhookEnvelope> | null;
  // Stryker disable next-line ConditionalExpression: equivalent because JSON.parse gives an object, null or a primitive, and a primitive has no `v` (the `typeof` check only says so first) (hidden with it: the killed mutants of `e === null`, `e.v !== 1` and the whole condition)
  if (typeof e !== 'object' || e === null || e.v !== 1) throw new InvalidEnvelopeError('unknown version');
  for (const field of ['webhookId', 'receivedAt', 'scheme', 'requestId', 'body'] as const) {
    if (typeof e[field] !== 'string') throw new InvalidEnvelopeError(`${field} is missing`);
  }
  if (e.bodyEncoding !== 'utf8' && e.bodyEncoding !== 'base64') throw new InvalidEnvelopeError('unknown bodyEncoding');
  if (Number.isNaN(Date.parse(e.receivedAt as string))) throw new InvalidEnvelopeError('receivedAt is not a time');
  if (e.dedup !== undefined && e.dedup !== 'id' && e.dedup !== 'content') throw new InvalidEnvelopeError('unknown dedup');
  if (e.connectionId !== undefined && typeof e.connectionId !== 'string') throw new InvalidEnvelopeError('connectionId is not a string');
  if (e.bodyRef !== undefined && (!isBodyPointer(e.bodyRef) || e.body !== '')) throw new InvalidEnvelopeError('bodyRef is not a body pointer');
  const envelope = e as WebhookEnvelope;
  return { envelope, body: Buffer.from(envelope.body, envelope.bodyEncoding), ...(envelope.bodyRef && { bodyRef: envelope.bodyRef }) };
}
