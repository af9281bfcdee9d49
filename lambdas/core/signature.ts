/**
 * Signature schemes: how a webhook's signature is read from its headers, checked against the
 * signing secret(s), and produced (for the CLI and tests).
 *
 * Makini signs `JSON.stringify` of the parsed body (docs/makini-wire-format.md), so the `makini`
 * scheme can check a second form of the body besides the raw bytes; see {@link SignedBytes}.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { HmacAlgorithm, SignatureSchemeName, SignedBytes } from '../config/config';
import { constantTime } from './constant-time';
import type { ErrorCode } from './errors';
import { canonicalJson } from './json-body';

/** Header names are lower-case here; the HTTP adapter normalises them. */
export type Headers = Readonly<Record<string, string | undefined>>;

export interface SignedRequest {
  readonly headers: Headers;
  readonly body: Uint8Array;
}

export type SignatureFailureCode = Extract<ErrorCode, 'MISSING_SIGNATURE' | 'INVALID_SIGNATURE' | 'TIMESTAMP_OUT_OF_TOLERANCE'>;

/** Which bytes a valid signature covered. */
export type SignedForm = 'raw' | 'canonical-json';

/** A signature that matched: which form of the body it covered, and those bytes. */
export interface SignatureMatch {
  readonly form: SignedForm;
  /** The bytes the signature covers: what is stored and forwarded. */
  readonly body: Uint8Array;
}

/** What a scheme read from a request before any secret is involved. */
export type ParsedSignature =
  | {
      readonly ok: true;
      /** The form of the body that one of `secrets` signed, or `undefined` when none did. */
      match(secrets: readonly string[]): SignatureMatch | undefined;
    }
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
  /** `makini`: how the digest is written. @default 'base64' (as Makini sends it) */
  readonly encoding?: 'hex' | 'base64';
  /** `makini`: write `sha256=` before the digest, as GitHub does. @default false (as Makini sends it) */
  readonly prefix?: boolean;
}

export interface SchemeSettings {
  readonly signatureScheme: SignatureSchemeName;
  readonly signatureHeaders: readonly string[];
  readonly signatureAlgorithm: HmacAlgorithm;
  readonly signedBytes: SignedBytes;
  readonly timestampToleranceSeconds: number;
}

/**
 * The scheme selected by configuration.
 *
 * @example
 * const scheme = createSignatureScheme(config);
 * const parsed = scheme.parse({ headers, body }, Date.now() / 1000);
 * const match = parsed.ok ? parsed.match(secrets) : undefined; // { form: 'raw', body } when valid
 */
export function createSignatureScheme(settings: SchemeSettings): SignatureScheme {
  return settings.signatureScheme === 'standard-webhooks'
    ? standardWebhooksScheme(settings.timestampToleranceSeconds)
    : makiniScheme(settings.signatureHeaders, settings.signatureAlgorithm, settings.signedBytes);
}

const DIGEST_BYTES: Record<HmacAlgorithm, number> = { sha256: 32, sha512: 64 };
const HEX = /^[0-9a-fA-F]+$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
const STRICT_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

const fail = (code: SignatureFailureCode, reason: string): ParsedSignature => ({ ok: false, code, reason });

/**
 * Whether `expected` equals any of `candidates`, comparing with every one in constant time and
 * never stopping early, so timing tells neither whether nor which one matched.
 */
function matchesAny(expected: readonly Uint8Array[], candidates: readonly Uint8Array[]): boolean {
  let found = false;
  for (const e of expected) for (const c of candidates) found = constantTime.equal(e, c) || found;
  return found;
}

/**
 * `makini`: HMAC of the body under the secret's UTF-8 bytes, in the first of `headers` the request
 * carries, as hex or base64, optionally prefixed `sha256=` (or `sha512=`). Makini sends base64 in
 * `X-Webhook-Signature`; GitHub's `X-Hub-Signature-256` is this scheme too.
 *
 * `signedBytes` says which bytes are checked: the raw body, `JSON.stringify(JSON.parse(body))`
 * (Makini's own verifier), or both, raw first. The canonical form is computed only when the raw
 * body did not match.
 */
export function makiniScheme(headers: string | readonly string[], algorithm: HmacAlgorithm, signedBytes: SignedBytes = 'both'): SignatureScheme {
  const headerNames = (typeof headers === 'string' ? [headers] : headers).map((h) => h.toLowerCase());
  const size = DIGEST_BYTES[algorithm];
  const checkRaw = signedBytes !== 'canonical-json';
  const checkCanonical = signedBytes !== 'raw';
  return {
    name: 'makini',
    parse(request) {
      const headerName = headerNames.find((name) => request.headers[name]?.trim());
      if (!headerName) return fail('MISSING_SIGNATURE', `None of the signature headers (${headerNames.join(', ')}) is present.`);
      const received = decodeDigest(stripAlgorithmPrefix(request.headers[headerName]!.trim(), algorithm), size);
      if (!received) return fail('INVALID_SIGNATURE', `The ${headerName} header is not a ${algorithm} digest in hex or base64.`);
      const digests = (secrets: readonly string[], body: Uint8Array) => usableKeys(secrets, (secret) => Buffer.from(secret, 'utf8')).map((key) => hmac(algorithm, key, [body]));
      return {
        ok: true,
        match(secrets) {
          if (checkRaw && matchesAny(digests(secrets, request.body), [received])) return { form: 'raw', body: request.body };
          if (!checkCanonical) return undefined;
          const canonical = canonicalJson(request.body);
          if (!canonical || (checkRaw && canonical.equals(request.body))) return undefined;
          return matchesAny(digests(secrets, canonical), [received]) ? { form: 'canonical-json', body: canonical } : undefined;
        },
      };
    },
    sign(body, secret, options = {}) {
      const digest = hmac(algorithm, Buffer.from(secret, 'utf8'), [body]).toString(options.encoding ?? 'base64');
      return { [headerNames[0]]: options.prefix ? `${algorithm}=${digest}` : digest };
    },
  };
}

/** Removes an optional `sha256=` prefix. A prefix naming another algorithm is kept, so the value fails to decode. */
function stripAlgorithmPrefix(value: string, algorithm: HmacAlgorithm): string {
  const eq = value.indexOf('=');
  // Stryker disable next-line ConditionalExpression,EqualityOperator: `eq > 0` made `true` or `>= 0` is equivalent because without it (no `=`: eq -1; a leading `=`: eq 0) the slice cannot leave the value changed: slice(eq + 1) is then the whole value, or the empty prefix never equals the algorithm (hidden with them: the killed mutants of the whole condition and of the algorithm comparison)
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
  // Stryker disable next-line ConditionalExpression: equivalent because the byte count is checked again below: of the texts the pattern above admits, only those of this length (padding aside) decode to `size` bytes (hidden with it: the killed `true`, which refuses every digest)
  if (text.replace(/=+$/, '').length !== Math.ceil((size * 4) / 3)) return undefined;
  const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  // Stryker disable next-line ConditionalExpression: equivalent because the length check above already admits only texts that decode to `size` bytes (hidden with it: the killed `false`)
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
      // `!(… <= …)` so that an unusable clock (NaN) refuses rather than accepts.
      if (!(Math.abs(nowSeconds - Number(timestamp)) <= toleranceSeconds)) {
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
        match(secrets) {
          const expected = usableKeys(secrets, standardWebhooksKey).map((key) => hmac('sha256', key, signed));
          return matchesAny(expected, candidates) ? { form: 'raw', body: request.body } : undefined;
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

/**
 * The HMAC keys of the secrets, without any that is empty: anyone can sign with an empty key, so a
 * blank secret (or a Standard Webhooks secret whose base64 decodes to nothing) must match nothing.
 */
function usableKeys(secrets: readonly string[], keyOf: (secret: string) => Buffer): Buffer[] {
  return secrets.map((secret) => keyOf(secret.trim())).filter((key) => key.length > 0);
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
