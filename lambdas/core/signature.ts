/**
 * Signature schemes: how a webhook's signature is read from its headers, checked against the
 * signing secret(s), and produced (for the CLI and tests).
 *
 * A scheme works on the raw body bytes only; nothing is parsed or re-serialized before it.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { HmacAlgorithm, SignatureSchemeName } from '../../lib/config';
import { constantTime } from './constant-time';
import type { ErrorCode } from './errors';

/** Header names are lower-case here; the HTTP adapter normalises them. */
export type Headers = Readonly<Record<string, string | undefined>>;

export interface SignedRequest {
  readonly headers: Headers;
  readonly body: Uint8Array;
}

export type SignatureFailureCode = Extract<ErrorCode, 'MISSING_SIGNATURE' | 'INVALID_SIGNATURE' | 'TIMESTAMP_OUT_OF_TOLERANCE'>;

/** What a scheme read from a request before any secret is involved. */
export type ParsedSignature =
  | { readonly ok: true; matches(secret: string): boolean }
  | { readonly ok: false; readonly code: SignatureFailureCode; readonly reason: string };

export interface SignatureScheme {
  readonly name: SignatureSchemeName;
  /** Reads the signature headers. Cheap checks (presence, shape, timestamp) fail here, before the secret is fetched. */
  parse(request: SignedRequest, nowSeconds: number): ParsedSignature;
  /** Signs `body` and returns the headers a sender would add. */
  sign(body: Uint8Array, secret: string, options?: SignOptions): Record<string, string>;
}

export interface SignOptions {
  /** `standard-webhooks`: the message id (`webhook-id`). */
  readonly id?: string;
  /** `standard-webhooks`: Unix seconds (`webhook-timestamp`). */
  readonly timestamp?: number;
  /** `makini`: how the digest is written. @default 'hex' */
  readonly encoding?: 'hex' | 'base64';
}

export interface SchemeSettings {
  readonly signatureScheme: SignatureSchemeName;
  readonly signatureHeader: string;
  readonly signatureAlgorithm: HmacAlgorithm;
  readonly timestampToleranceSeconds: number;
}

/**
 * The scheme selected by configuration.
 *
 * @example
 * const scheme = createSignatureScheme(config);
 * const parsed = scheme.parse({ headers, body }, Date.now() / 1000);
 * const valid = parsed.ok && secrets.some((s) => parsed.matches(s));
 */
export function createSignatureScheme(settings: SchemeSettings): SignatureScheme {
  return settings.signatureScheme === 'standard-webhooks'
    ? standardWebhooksScheme(settings.timestampToleranceSeconds)
    : makiniScheme(settings.signatureHeader, settings.signatureAlgorithm);
}

const DIGEST_BYTES: Record<HmacAlgorithm, number> = { sha256: 32, sha512: 64 };
const HEX = /^[0-9a-fA-F]+$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const STRICT_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

const fail = (code: SignatureFailureCode, reason: string): ParsedSignature => ({ ok: false, code, reason });

/**
 * `makini`: HMAC of the raw body under the secret's UTF-8 bytes, in one header, as hex or base64,
 * optionally prefixed `sha256=` (or `sha512=`). GitHub's `X-Hub-Signature-256` is this scheme.
 */
export function makiniScheme(header: string, algorithm: HmacAlgorithm): SignatureScheme {
  const headerName = header.toLowerCase();
  const size = DIGEST_BYTES[algorithm];
  return {
    name: 'makini',
    parse(request) {
      const value = request.headers[headerName]?.trim();
      if (!value) return fail('MISSING_SIGNATURE', `The ${headerName} header is missing.`);
      const received = decodeDigest(stripAlgorithmPrefix(value, algorithm), size);
      if (!received) return fail('INVALID_SIGNATURE', `The ${headerName} header is not a ${algorithm} digest in hex or base64.`);
      return {
        ok: true,
        matches: (secret) => constantTime.equal(hmac(algorithm, Buffer.from(secret, 'utf8'), [request.body]), received),
      };
    },
    sign(body, secret, options = {}) {
      const digest = hmac(algorithm, Buffer.from(secret, 'utf8'), [body]);
      return { [headerName]: `${algorithm}=${digest.toString(options.encoding ?? 'hex')}` };
    },
  };
}

/** Removes an optional `sha256=` prefix. A prefix naming another algorithm is kept, so the value fails to decode. */
function stripAlgorithmPrefix(value: string, algorithm: HmacAlgorithm): string {
  const eq = value.indexOf('=');
  return eq > 0 && value.slice(0, eq).toLowerCase() === algorithm ? value.slice(eq + 1) : value;
}

/** Hex and base64 digests of one size never share a length, so the encoding is unambiguous. */
function decodeDigest(text: string, size: number): Buffer | undefined {
  if (text.length === size * 2 && HEX.test(text)) return Buffer.from(text, 'hex');
  return decodeBase64(text, size, true);
}

/** Strict base64 of exactly `size` bytes; Buffer.from alone would accept almost anything. */
function decodeBase64(text: string, size: number, allowUrlSafe: boolean): Buffer | undefined {
  if (!(allowUrlSafe ? BASE64 : STRICT_BASE64).test(text)) return undefined;
  if (text.replace(/=+$/, '').length !== Math.ceil((size * 4) / 3)) return undefined;
  const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  return bytes.length === size ? bytes : undefined;
}

/**
 * `standard-webhooks` (https://www.standardwebhooks.com): HMAC-SHA256 over `id.timestamp.body`
 * under the base64 key of a `whsec_` secret; `webhook-signature` holds space-separated `v1,<base64>`
 * signatures, any of which may match.
 */
export function standardWebhooksScheme(toleranceSeconds: number): SignatureScheme {
  return {
    name: 'standard-webhooks',
    parse(request, nowSeconds) {
      const id = request.headers['webhook-id'];
      const timestamp = request.headers['webhook-timestamp'];
      const signatures = request.headers['webhook-signature'];
      if (!id || !timestamp || !signatures) {
        return fail('MISSING_SIGNATURE', 'The webhook-id, webhook-timestamp and webhook-signature headers are required.');
      }
      if (!/^\d{1,12}$/.test(timestamp)) return fail('INVALID_SIGNATURE', 'webhook-timestamp is not Unix seconds.');
      if (Math.abs(nowSeconds - Number(timestamp)) > toleranceSeconds) {
        return fail('TIMESTAMP_OUT_OF_TOLERANCE', `webhook-timestamp is more than ${toleranceSeconds} s from now.`);
      }
      const candidates = signatures
        .split(' ')
        .filter((entry) => entry.startsWith('v1,'))
        .map((entry) => decodeBase64(entry.slice(3), DIGEST_BYTES.sha256, false))
        .filter((digest): digest is Buffer => digest !== undefined);
      if (candidates.length === 0) return fail('INVALID_SIGNATURE', 'webhook-signature holds no v1 signature.');
      const signed = [Buffer.from(`${id}.${timestamp}.`, 'utf8'), request.body];
      return {
        ok: true,
        matches(secret) {
          const expected = hmac('sha256', standardWebhooksKey(secret), signed);
          // Compare with every candidate, without stopping early, so timing does not tell which matched.
          return candidates.reduce((found, candidate) => constantTime.equal(expected, candidate) || found, false);
        },
      };
    },
    sign(body, secret, options = {}) {
      const id = options.id ?? `msg_${randomBytes(12).toString('hex')}`;
      const timestamp = String(options.timestamp ?? Math.floor(Date.now() / 1000));
      const digest = hmac('sha256', standardWebhooksKey(secret), [Buffer.from(`${id}.${timestamp}.`, 'utf8'), body]);
      return { 'webhook-id': id, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${digest.toString('base64')}` };
    },
  };
}

/** A Standard Webhooks secret is `whsec_` followed by the base64 key; the prefix is optional. */
function standardWebhooksKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
}

function hmac(algorithm: HmacAlgorithm, key: Uint8Array, parts: readonly Uint8Array[]): Buffer {
  const mac = createHmac(algorithm, key);
  for (const part of parts) mac.update(part);
  return mac.digest();
}
