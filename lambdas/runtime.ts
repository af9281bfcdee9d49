/**
 * The package's runtime entry, `makini-webhook-ingestion/runtime`: what your own code needs to check
 * a Makini webhook's signature and to read the events this project puts on the EventBridge bus.
 * Pure Node.js (no AWS SDK, no CDK), so it fits in any Lambda or server.
 *
 * @example
 * import { verifyWebhook, BUS_SOURCE, type BusMessage } from 'makini-webhook-ingestion/runtime';
 * const result = verifyWebhook({ body: rawBody, headers: req.headers, secrets: [process.env.MAKINI_SECRET!] });
 * if (!result.ok) return res.status(401).send(result.reason);
 */
import { resolveConfig } from './config/config';
import { createSignatureScheme, type SignatureFailureCode, type SignatureMatch } from './core/signature';

export { createSignatureScheme, makiniScheme, standardWebhooksScheme } from './core/signature';
export type { Headers, ParsedSignature, SchemeSettings, SignatureFailureCode, SignatureMatch, SignatureScheme, SignedForm, SignedRequest, SignOptions } from './core/signature';
export { isKnownEventType, MAKINI_EVENT_TYPES, type MakiniEventType } from './core/event-types';
export type { EventSource, MakiniEvent } from './core/event';
export { BUS_SOURCE, busDetailType, type BusMessage, type StoredBodyRef } from './core/consume';
// A bus event whose body is in the body bucket carries `bodyRef`: fetch the object with your own S3 client, then check it.
export { BodyIntegrityError, BodyNotFoundError, readPointedBody, type BodyPointer, type BodyStore } from './core/body-store';
export { CONNECTION_STATUSES, type ConnectionState, type ConnectionStatus } from './core/connection-state';
export type { HmacAlgorithm, SignatureSchemeName, SignedBytes } from './config/config';

/** The signature keys of the construct's settings, as the construct takes them (values are checked at run time). */
const SIGNATURE_KEYS = ['signatureScheme', 'signatureHeaders', 'signatureAlgorithm', 'signedBytes', 'timestampToleranceSeconds'] as const satisfies readonly (keyof VerifySettings)[];

/**
 * The signature settings {@link verifyWebhook} reads. Either form of the construct's settings fits: the
 * `config` given to `MakiniWebhookIngestion` (`MakiniWebhookSettings`) or a resolved `MakiniWebhookConfig`;
 * their other keys are ignored.
 */
export interface VerifySettings {
  readonly signatureScheme?: string;
  readonly signatureHeaders?: readonly string[];
  readonly signatureAlgorithm?: string;
  readonly signedBytes?: string;
  readonly timestampToleranceSeconds?: number;
}

/** Settings of {@link verifyWebhook}: the secrets, and the signature settings when they differ from the defaults. */
export interface VerifyWebhookOptions {
  /** The request body exactly as received. */
  readonly body: string | Uint8Array;
  /** The request headers, in any letter case (Node's `req.headers` works as is). */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The signing secret, or several during a rotation: any one of them may have signed the webhook. */
  readonly secrets: string | readonly string[];
  /**
   * The signature settings of the deployed construct, when not its defaults (Makini's own scheme).
   *
   * @default - the construct's defaults: `makini`, `X-Webhook-Signature`, sha256, raw body or `JSON.stringify` of it
   */
  readonly settings?: VerifySettings;
  /** The time to check `standard-webhooks` timestamps against, in Unix seconds. @default - now */
  readonly nowSeconds?: number;
}

export type VerifyWebhookResult = ({ readonly ok: true } & SignatureMatch) | { readonly ok: false; readonly code: SignatureFailureCode; readonly reason: string };

/**
 * Checks a webhook's signature as the receiver does, comparing in constant time. Invalid settings
 * throw the construct's `ConfigError`.
 *
 * @example
 * verifyWebhook({ body: '{"event":"assets.updated","body":["1"]}', headers: { 'x-webhook-signature': sig }, secrets: 'S' });
 * // { ok: true, form: 'raw', body: Uint8Array } or { ok: false, code: 'INVALID_SIGNATURE', reason: '…' }
 */
export function verifyWebhook(options: VerifyWebhookOptions): VerifyWebhookResult {
  const settings = options.settings ?? {};
  const scheme = createSignatureScheme(resolveConfig(Object.fromEntries(SIGNATURE_KEYS.filter((k) => settings[k] !== undefined).map((k) => [k, settings[k]]))));
  // As the receiver: at least one secret, none blank (anyone can sign with an empty key).
  const secrets = (typeof options.secrets === 'string' ? [options.secrets] : Array.isArray(options.secrets) ? options.secrets : []).filter((s): s is string => typeof s === 'string').map((s) => s.trim());
  if (secrets.length === 0 || secrets.some((s) => s === '')) return { ok: false, code: 'INVALID_SIGNATURE', reason: 'No usable signing secret: give at least one, and no empty one (an empty key signs for anyone).' };
  if (typeof options.body !== 'string' && !(options.body instanceof Uint8Array)) {
    return { ok: false, code: 'INVALID_SIGNATURE', reason: 'The body must be the raw request body (a string or bytes) exactly as received, not parsed JSON.' };
  }
  const headers: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(options.headers)) headers[name.toLowerCase()] = typeof value === 'string' ? value : value?.join(', ');
  const body = typeof options.body === 'string' ? new TextEncoder().encode(options.body) : options.body;
  const parsed = scheme.parse({ headers, body }, options.nowSeconds ?? Date.now() / 1000);
  if (!parsed.ok) return parsed;
  const match = parsed.match(secrets);
  return match ? { ok: true, ...match } : { ok: false, code: 'INVALID_SIGNATURE', reason: 'The signature matches none of the secrets.' };
}
