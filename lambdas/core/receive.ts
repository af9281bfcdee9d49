/**
 * The receiver's story of one request, free of AWS: check it, verify it, enqueue it, answer.
 * The handler supplies the ports (where secrets come from, where messages go) and maps the outcome
 * to HTTP with {@link toHttpResponse}.
 */
import type { SignatureSchemeName } from '../config/config';
import { bodyPointer, travelsAsPointer, type BodyStore } from './body-store';
import { encodeEnvelope, encodePointerEnvelope, type EnvelopeMetadata } from './envelope';
import { WebhookRejectedError, ERROR_CODES } from './errors';
import { parseJsonBody } from './json-body';
import type { Headers, SignatureScheme, SignedForm } from './signature';
import { resolveDedupKey, type DedupBy } from './webhook-id';

/**
 * A connection id in a per-connection URL (`/webhooks/{connection}`): letters, digits and `._:@-`,
 * up to 128 characters, starting with a letter or digit. Makini's connection keys fit it.
 */
export const PATH_CONNECTION_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;

/** The receiver's routes: one URL for every connection, and one per connection (its `{connection}` path parameter). */
export const WEBHOOK_ROUTES = { shared: '/webhooks', perConnection: '/webhooks/{connection}' } as const;

/** Where the signing secrets come from. Implementations cache; see the Secrets Manager adapter. */
export interface SigningSecretSource {
  /** The current secrets, cached or fetched. Throws when none can be had. */
  get(): Promise<readonly string[]>;
  /**
   * Fetches again, bypassing the cache, unless that happened recently: then `undefined`. Throws when
   * unreachable, or when the fetch outlasts `budgetMs` (asked just before fetching; none: no fetch).
   */
  refresh(budgetMs?: () => number): Promise<readonly string[] | undefined>;
}

/** Where verified webhooks go. Resolves only once the message is durably stored. */
export interface WebhookQueue {
  send(message: string): Promise<void>;
}

export interface IncomingWebhook {
  readonly method: string;
  /** Lower-case header names. */
  readonly headers: Headers;
  readonly body: Uint8Array;
  readonly requestId: string;
  /** The caller's address as API Gateway saw it (`requestContext.http.sourceIp`). */
  readonly sourceIp: string;
  /** The `{connection}` path segment of a per-connection URL, not yet validated. */
  readonly connectionId?: string;
}

export type ReceiveOutcome =
  | { readonly kind: 'accepted'; readonly webhookId: string; readonly dedup: DedupBy; readonly bytes: number; readonly signedForm: SignedForm }
  | { readonly kind: 'rejected'; readonly error: WebhookRejectedError; readonly reason: string }
  | { readonly kind: 'unavailable'; readonly error: WebhookRejectedError; readonly dependency: ReceiverDependency; readonly cause: unknown };

/** What a 503 was for: the signing secrets, the body store (large bodies) or the queue. */
export type ReceiverDependency = 'secrets' | 'bodies' | 'queue';

export interface ReceiverDeps {
  readonly scheme: SignatureScheme;
  readonly secrets: SigningSecretSource;
  readonly queue: WebhookQueue;
  /** Where bodies above `INLINE_BODY_MAX_BYTES` go; without one such a body gets 413. */
  readonly bodies?: Pick<BodyStore, 'put'>;
  readonly maxBodyBytes: number;
  /** Body fields that may carry the webhook's own id. */
  readonly idFields: readonly string[];
  /** Whether a source address may post; `undefined` allows every source. */
  readonly allowSource?: (sourceIp: string) => boolean;
  /** Milliseconds since the epoch. */
  readonly now: () => number;
  /**
   * The time a request keeps for its writes (`receiverWritesReserveMs`): a look for a rotated secret
   * gets only what is left beyond it, and answers 503 past that. Without it, the look is not bounded.
   */
  readonly writesReserveMs?: number;
}

/**
 * @example
 * const receive = createReceiver({ scheme, secrets, queue, maxBodyBytes: 262144, idFields: ['id'], now: Date.now });
 * const outcome = await receive({ method: 'POST', headers, body, requestId, sourceIp, connectionId });
 */
export function createReceiver(deps: ReceiverDeps): (request: IncomingWebhook, remainingMs?: () => number) => Promise<ReceiveOutcome> {
  const schemeName: SignatureSchemeName = deps.scheme.name;
  return async function receive(request, remainingMs) {
    if (deps.allowSource && !deps.allowSource(request.sourceIp)) return reject('FORBIDDEN_SOURCE', `source ${request.sourceIp}`);
    if (request.method.toUpperCase() !== 'POST') return reject('METHOD_NOT_ALLOWED', `method ${request.method}`);
    // Stryker disable next-line ConditionalExpression: equivalent because RegExp.test(undefined) tests the string "undefined", which the pattern accepts (hidden with it: the killed `false` of the whole condition and `true` of the pattern test)
    if (request.connectionId !== undefined && !PATH_CONNECTION_ID.test(request.connectionId)) return reject('INVALID_CONNECTION_ID', 'invalid connection in the URL path');
    if (request.body.length === 0) return reject('EMPTY_BODY', 'empty body');
    if (request.body.length > deps.maxBodyBytes) {
      return reject('PAYLOAD_TOO_LARGE', `${request.body.length} bytes`, `The request body exceeds ${deps.maxBodyBytes} bytes.`);
    }

    const receivedAt = deps.now();
    const parsed = deps.scheme.parse(request, receivedAt / 1000);
    if (!parsed.ok) return reject(parsed.code, parsed.reason, parsed.reason);

    let secrets: readonly string[];
    try {
      secrets = await deps.secrets.get();
    } catch (cause) {
      return unavailable('secrets', cause);
    }
    let match = parsed.match(secrets);
    if (!match) {
      // The secret may have been rotated since we cached it: look once more (rate-limited), within
      // the time the writes after it leave. (The first look may have spent it: every attempt timing
      // out, answered from the cache.)
      const budgetMs = () => (remainingMs && deps.writesReserveMs !== undefined ? remainingMs() - deps.writesReserveMs : Number.POSITIVE_INFINITY);
      let fresh: readonly string[] | undefined;
      try {
        fresh = await deps.secrets.refresh(budgetMs);
      } catch (cause) {
        // We cannot tell a forgery from a rotation we cannot see; let the sender retry.
        return unavailable('secrets', cause);
      }
      match = fresh && parsed.match(fresh);
      if (!match) return reject('INVALID_SIGNATURE', 'no secret matches');
    }

    // From here on only the signed bytes count: when only their canonical JSON was signed, that
    // is what is stored, so no parser downstream reads a value the signature did not cover.
    const body = match.body;
    if (body.length > deps.maxBodyBytes) {
      // Re-serializing can lengthen a body (`1e9` becomes `1000000000`); the limit keeps it storable.
      return reject('PAYLOAD_TOO_LARGE', `${body.length} bytes signed`, `The signed body exceeds ${deps.maxBodyBytes} bytes.`);
    }
    const { webhookId, dedup } = resolveDedupKey({
      scheme: schemeName,
      headers: request.headers,
      body,
      parsed: parseJsonBody(body),
      idFields: deps.idFields,
      ...(request.connectionId !== undefined && { connectionId: request.connectionId }),
    });
    const metadata: EnvelopeMetadata = {
      webhookId,
      ...(dedup === 'content' && { dedup }),
      ...(request.connectionId !== undefined && { connectionId: request.connectionId }),
      receivedAt: new Date(receivedAt).toISOString(),
      scheme: schemeName,
      requestId: request.requestId,
      ...(request.headers['content-type'] ? { contentType: request.headers['content-type'] } : {}),
    };
    let message: string;
    if (travelsAsPointer(body)) {
      // Too large to travel inline: the verified bytes go to the body store first, the pointer to the queue.
      if (!deps.bodies) return reject('PAYLOAD_TOO_LARGE', `${body.length} bytes, no body store`, 'The request body is too large.');
      const pointer = bodyPointer(body);
      try {
        await deps.bodies.put(pointer.key, body);
      } catch (cause) {
        return unavailable('bodies', cause);
      }
      message = encodePointerEnvelope(metadata, pointer);
    } else {
      message = encodeEnvelope(metadata, body);
    }
    try {
      await deps.queue.send(message);
    } catch (cause) {
      return unavailable('queue', cause);
    }
    return { kind: 'accepted', webhookId, dedup, bytes: body.length, signedForm: match.form };
  };
}

function reject(code: keyof typeof ERROR_CODES, reason: string, message?: string): ReceiveOutcome {
  return { kind: 'rejected', error: new WebhookRejectedError(code, message), reason };
}

function unavailable(dependency: ReceiverDependency, cause: unknown): ReceiveOutcome {
  return { kind: 'unavailable', error: new WebhookRejectedError('SERVICE_UNAVAILABLE'), dependency, cause };
}

export interface HttpResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
}

/** Seconds a sender is asked to wait before retrying a 503. */
export const RETRY_AFTER_SECONDS = 30;

/**
 * @example
 * toHttpResponse({ kind: 'accepted', webhookId: 'msg_1', bytes: 12 }, 'req-1');
 * // { statusCode: 200, body: '{"received":true,"webhookId":"msg_1"}', headers: { 'x-request-id': 'req-1', … } }
 */
export function toHttpResponse(outcome: ReceiveOutcome, requestId: string): HttpResponse {
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'cache-control': 'no-store',
    'x-request-id': requestId,
  };
  if (outcome.kind === 'accepted') {
    return { statusCode: 200, headers, body: JSON.stringify({ received: true, webhookId: outcome.webhookId }) };
  }
  const { error } = outcome;
  if (error.code === 'METHOD_NOT_ALLOWED') headers.allow = 'POST';
  if (error.code === 'SERVICE_UNAVAILABLE') headers['retry-after'] = String(RETRY_AFTER_SECONDS);
  return {
    statusCode: error.status,
    headers,
    body: JSON.stringify({ error: { code: error.code, type: error.type, message: error.message, requestId } }),
  };
}
