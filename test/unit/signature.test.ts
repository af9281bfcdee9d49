import { createHmac } from 'node:crypto';
import { constantTime } from '../../lambdas/core/constant-time';
import { createSignatureScheme, makiniScheme, standardWebhooksScheme, type SignedRequest } from '../../lambdas/core/signature';

const body = Buffer.from('{"id":"evt_1","type":"sync.completed","connection_id":"conn_1"}');
const secret = 'test-signing-secret';
const hexSig = (s: string, b: Uint8Array, alg = 'sha256') => createHmac(alg, s).update(b).digest('hex');

function verifies(request: SignedRequest, secrets: string[], scheme = makiniScheme('x-makini-signature', 'sha256'), now = 0) {
  const parsed = scheme.parse(request, now);
  return parsed.ok ? parsed.match(secrets) !== undefined : parsed.code;
}

describe('makini scheme', () => {
  const scheme = makiniScheme('x-makini-signature', 'sha256');
  const withSig = (value: string, b: Uint8Array = body): SignedRequest => ({ headers: { 'x-makini-signature': value }, body: b });

  it('accepts a hex signature with the sha256= prefix', () => {
    expect(verifies(withSig(`sha256=${hexSig(secret, body)}`), [secret])).toBe(true);
  });

  it('accepts a bare hex signature, upper or lower case', () => {
    expect(verifies(withSig(hexSig(secret, body)), [secret])).toBe(true);
    expect(verifies(withSig(hexSig(secret, body).toUpperCase()), [secret])).toBe(true);
  });

  it('accepts base64 and base64url signatures, with or without padding', () => {
    const digest = createHmac('sha256', secret).update(body).digest();
    expect(verifies(withSig(digest.toString('base64')), [secret])).toBe(true);
    expect(verifies(withSig(`sha256=${digest.toString('base64')}`), [secret])).toBe(true);
    expect(verifies(withSig(digest.toString('base64url')), [secret])).toBe(true);
  });

  it('rejects a tampered body', () => {
    const tampered = Buffer.from(body.toString().replace('completed', 'failed'));
    expect(verifies(withSig(`sha256=${hexSig(secret, body)}`, tampered), [secret])).toBe(false);
  });

  it('rejects a single flipped byte at the end of the body', () => {
    const tampered = Buffer.from(body);
    tampered[tampered.length - 1] ^= 1;
    expect(verifies(withSig(hexSig(secret, body), tampered), [secret])).toBe(false);
  });

  it('rejects the wrong secret', () => {
    expect(verifies(withSig(hexSig('another-secret', body)), [secret])).toBe(false);
  });

  it('accepts when any of several rotated secrets matches', () => {
    expect(verifies(withSig(hexSig('old-secret', body)), ['new-secret', 'old-secret'])).toBe(true);
    expect(verifies(withSig(hexSig('new-secret', body)), ['new-secret', 'old-secret'])).toBe(true);
    expect(verifies(withSig(hexSig('retired', body)), ['new-secret', 'old-secret'])).toBe(false);
  });

  it('reports a truncated signature as INVALID_SIGNATURE', () => {
    expect(verifies(withSig(hexSig(secret, body).slice(0, 63)), [secret])).toBe('INVALID_SIGNATURE');
    expect(verifies(withSig(hexSig(secret, body).slice(0, 32)), [secret])).toBe('INVALID_SIGNATURE');
  });

  it('reports a wrong encoding as INVALID_SIGNATURE', () => {
    const hex = hexSig(secret, body);
    expect(verifies(withSig(Buffer.from(hex).toString('base64')), [secret])).toBe('INVALID_SIGNATURE');
    expect(verifies(withSig(`${hex.slice(0, 62)}zz`), [secret])).toBe('INVALID_SIGNATURE');
  });

  it('reports a prefix naming another algorithm as INVALID_SIGNATURE', () => {
    expect(verifies(withSig(`sha1=${hexSig(secret, body)}`), [secret])).toBe('INVALID_SIGNATURE');
  });

  it('reports a missing or blank header as MISSING_SIGNATURE', () => {
    expect(verifies({ headers: {}, body }, [secret])).toBe('MISSING_SIGNATURE');
    expect(verifies(withSig('   '), [secret])).toBe('MISSING_SIGNATURE');
  });

  it('reads a configured header name case-insensitively', () => {
    const custom = makiniScheme('X-Hub-Signature-256', 'sha256');
    expect(verifies({ headers: { 'x-hub-signature-256': hexSig(secret, body) }, body }, [secret], custom)).toBe(true);
  });

  it('supports sha512 and its prefix', () => {
    const sha512 = makiniScheme('x-makini-signature', 'sha512');
    const sig = hexSig(secret, body, 'sha512');
    expect(verifies(withSig(`sha512=${sig}`), [secret], sha512)).toBe(true);
    expect(verifies(withSig(`sha256=${hexSig(secret, body)}`), [secret], sha512)).toBe('INVALID_SIGNATURE');
  });

  it('signs what it verifies, in hex and in base64', () => {
    for (const encoding of ['hex', 'base64'] as const) {
      const headers = scheme.sign(body, secret, { encoding });
      expect(verifies({ headers, body }, [secret])).toBe(true);
    }
  });

  it('accepts a sha512 digest in padded base64, which ends in two `=`', () => {
    const sha512 = makiniScheme('x-makini-signature', 'sha512');
    const digest = createHmac('sha512', secret).update(body).digest('base64');
    expect(digest).toMatch(/[^=]==$/);
    expect(verifies(withSig(digest), [secret], sha512)).toBe(true);
    expect(verifies(withSig(digest.replace(/=+$/, '')), [secret], sha512)).toBe(true);
  });

  it('matches nothing with a blank secret: a signature made with the empty key is refused, whatever else is listed', () => {
    const emptyKeySignature = createHmac('sha256', '').update(body).digest('base64');
    expect(verifies(withSig(emptyKeySignature), ['', '   ', '\n'])).toBe(false);
    expect(verifies(withSig(emptyKeySignature), ['', secret])).toBe(false);
    expect(verifies(withSig(hexSig(secret, body)), ['', secret])).toBe(true);
  });

  it('uses a secret without the whitespace around it (a secret pasted with its newline)', () => {
    expect(verifies(withSig(hexSig(secret, body)), [` ${secret}\n`])).toBe(true);
  });

  it("reproduces GitHub's published X-Hub-Signature-256 example", () => {
    const github = makiniScheme('X-Hub-Signature-256', 'sha256');
    expect(github.sign(Buffer.from('Hello, World!'), "It's a Secret to Everybody", { encoding: 'hex', prefix: true })).toEqual({
      'x-hub-signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
    });
  });
});

describe("makini scheme, as Makini's docs describe it", () => {
  // eqcentric/api-docs docs/webhook/Webhook.md: HMAC-SHA256 under the secret of JSON.stringify(parsed
  // body), base64 on master (hex on an unmerged branch), in X-Webhook-Signature.
  const scheme = makiniScheme(['x-webhook-signature', 'x-makini-signature'], 'sha256', 'both');
  const makiniSign = (parsed: unknown, encoding: 'base64' | 'hex' = 'base64', key = secret) => createHmac('sha256', key).update(JSON.stringify(parsed)).digest(encoding);
  const notification = { event: 'assets.updated', body: ['16c69269-0432-4382-b48f-eb3538b4b3d7', '418e84a7-9ae4-4ab7-ad0f-43c4edba9098'] };
  const matchOf = (headers: Record<string, string>, b: Uint8Array, s: typeof scheme = scheme) => {
    const parsed = s.parse({ headers, body: b }, 0);
    if (!parsed.ok) throw new Error(parsed.reason);
    return parsed.match([secret]);
  };

  it('verifies the documented form: base64 of JSON.stringify, in X-Webhook-Signature, raw bytes first', () => {
    const raw = Buffer.from(JSON.stringify(notification));
    expect(matchOf({ 'x-webhook-signature': makiniSign(notification) }, raw)).toEqual({ form: 'raw', body: raw });
  });

  it('accepts the hex digest of the unmerged branch page', () => {
    const raw = Buffer.from(JSON.stringify(notification));
    expect(matchOf({ 'x-webhook-signature': makiniSign(notification, 'hex') }, raw)?.form).toBe('raw');
  });

  it.each([
    ['spacing and newlines of another serializer', JSON.stringify(notification, null, 2)],
    ['escaped slashes', '{"event":"assets.updated","body":["a\\/b"]}'],
    ['unicode escapes', '{"event":"sites.updated","body":["caf\\u00e9"]}'],
    ['a leading byte-order mark', `\uFEFF${JSON.stringify(notification)}`],
  ])('verifies a body sent with %s against JSON.stringify of its parsed value, and keeps those bytes', (_what, text) => {
    const raw = Buffer.from(text, 'utf8');
    const parsed = JSON.parse(text.replace(/^\uFEFF/, ''));
    expect(raw.equals(Buffer.from(JSON.stringify(parsed)))).toBe(false);
    const match = matchOf({ 'x-webhook-signature': makiniSign(parsed) }, raw);
    expect(match?.form).toBe('canonical-json');
    expect(Buffer.from(match!.body).toString('utf8')).toBe(JSON.stringify(parsed));
  });

  it('covers the raw bytes, byte-order mark included, when the sender signed them', () => {
    const raw = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(notification))]);
    const signature = createHmac('sha256', secret).update(raw).digest('base64');
    expect(matchOf({ 'x-webhook-signature': signature }, raw)).toEqual({ form: 'raw', body: raw });
  });

  it('forwards the value the signature covered when a body repeats a key', () => {
    // JSON.parse keeps the last value; a parser that kept the first would see a different event.
    const raw = Buffer.from('{"event":"assets.deleted","event":"assets.updated","body":["x"]}');
    const match = matchOf({ 'x-webhook-signature': makiniSign(JSON.parse(raw.toString())) }, raw);
    expect(match?.form).toBe('canonical-json');
    expect(Buffer.from(match!.body).toString()).toBe('{"event":"assets.updated","body":["x"]}');
    expect(Buffer.from(match!.body).toString()).not.toContain('assets.deleted');
  });

  it('rejects a tampered id, a wrong secret and a body that is not JSON under the canonical form', () => {
    const tampered = { ...notification, body: [...notification.body, 'e5d5809d-a2f0-44be-aca2-aa6059b5206d'] };
    expect(matchOf({ 'x-webhook-signature': makiniSign(notification) }, Buffer.from(JSON.stringify(tampered, null, 1)))).toBeUndefined();
    expect(matchOf({ 'x-webhook-signature': makiniSign(notification, 'base64', 'not-the-secret') }, Buffer.from(JSON.stringify(notification, null, 1)))).toBeUndefined();
    expect(matchOf({ 'x-webhook-signature': createHmac('sha256', secret).update('"x"').digest('base64') }, Buffer.from(' not json'))).toBeUndefined();
  });

  it('checks only the configured form', () => {
    const spaced = Buffer.from(JSON.stringify(notification, null, 2));
    const canonicalSignature = { 'x-webhook-signature': makiniSign(notification) };
    const rawSignature = { 'x-webhook-signature': createHmac('sha256', secret).update(spaced).digest('base64') };
    const rawOnly = makiniScheme(['x-webhook-signature'], 'sha256', 'raw');
    const canonicalOnly = makiniScheme(['x-webhook-signature'], 'sha256', 'canonical-json');
    expect(matchOf(canonicalSignature, spaced, rawOnly)).toBeUndefined();
    expect(matchOf(rawSignature, spaced, rawOnly)?.form).toBe('raw');
    expect(matchOf(rawSignature, spaced, canonicalOnly)).toBeUndefined();
    expect(matchOf(canonicalSignature, spaced, canonicalOnly)?.form).toBe('canonical-json');
  });

  it('reads the headers case-insensitively in their order of precedence', () => {
    const raw = Buffer.from(JSON.stringify(notification));
    // The adapter lower-cases names; the first header present is the one read.
    expect(matchOf({ 'x-makini-signature': makiniSign(notification) }, raw)?.form).toBe('raw');
    expect(matchOf({ 'x-webhook-signature': makiniSign(notification), 'x-makini-signature': 'garbage' }, raw)?.form).toBe('raw');
    expect(matchOf({ 'x-webhook-signature': makiniSign(notification, 'base64', 'wrong'), 'x-makini-signature': makiniSign(notification) }, raw)).toBeUndefined();
    expect(makiniScheme(['X-Webhook-Signature'], 'sha256').parse({ headers: { 'x-webhook-signature': makiniSign(notification) }, body: raw }, 0).ok).toBe(true);
    const missing = scheme.parse({ headers: { 'x-hub-signature-256': 'x' }, body: raw }, 0);
    expect(missing.ok || missing.code).toBe('MISSING_SIGNATURE');
  });

  it('signs by default as Makini sends: the bare base64 digest in the first header', () => {
    const raw = Buffer.from(JSON.stringify(notification));
    expect(scheme.sign(raw, secret)).toEqual({ 'x-webhook-signature': makiniSign(notification) });
  });

  it('compares the canonical form in constant time too', () => {
    const equal = jest.spyOn(constantTime, 'equal');
    try {
      const spaced = Buffer.from(JSON.stringify(notification, null, 2));
      expect(matchOf({ 'x-webhook-signature': makiniSign(notification) }, spaced)?.form).toBe('canonical-json');
      expect(equal).toHaveBeenCalledTimes(2); // raw, then canonical: never ===
    } finally {
      equal.mockRestore();
    }
  });
});

/** The Standard Webhooks specification's published test vector (`digest`: the signature without its `v1,`). */
const STANDARD_WEBHOOKS_VECTOR = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: Buffer.from('{"test": 2432232314}'),
  digest: 'g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

describe('standard-webhooks scheme', () => {
  const vector = { ...STANDARD_WEBHOOKS_VECTOR, signature: `v1,${STANDARD_WEBHOOKS_VECTOR.digest}` };
  const scheme = standardWebhooksScheme(300);
  const request = (overrides: Record<string, string | undefined> = {}, b = vector.body): SignedRequest => ({
    headers: { 'webhook-id': vector.id, 'webhook-timestamp': String(vector.timestamp), 'webhook-signature': vector.signature, ...overrides },
    body: b,
  });
  const at = (offset: number) => vector.timestamp + offset;

  it('reproduces the published test vector when signing', () => {
    expect(scheme.sign(vector.body, vector.secret, { id: vector.id, timestamp: vector.timestamp })).toEqual({
      'webhook-id': vector.id,
      'webhook-timestamp': String(vector.timestamp),
      'webhook-signature': vector.signature,
    });
  });

  it('verifies the published test vector, with or without the whsec_ prefix', () => {
    expect(verifies(request(), [vector.secret], scheme, at(0))).toBe(true);
    expect(verifies(request(), [vector.secret.slice('whsec_'.length)], scheme, at(0))).toBe(true);
  });

  it('rejects a tampered body, id or timestamp', () => {
    expect(verifies(request({}, Buffer.from('{"test": 2432232315}')), [vector.secret], scheme, at(0))).toBe(false);
    expect(verifies(request({ 'webhook-id': 'msg_other' }), [vector.secret], scheme, at(0))).toBe(false);
    expect(verifies(request({ 'webhook-timestamp': String(vector.timestamp + 1) }), [vector.secret], scheme, at(0))).toBe(false);
  });

  it('rejects the wrong secret', () => {
    expect(verifies(request(), ['whsec_' + Buffer.from('another key of 24 bytes!').toString('base64')], scheme, at(0))).toBe(false);
  });

  it('accepts any one of several space-separated signatures, and ignores other versions', () => {
    const other = 'v1,' + Buffer.alloc(32, 7).toString('base64');
    expect(verifies(request({ 'webhook-signature': `v1a,abc ${other} ${vector.signature}` }), [vector.secret], scheme, at(0))).toBe(true);
    expect(verifies(request({ 'webhook-signature': other }), [vector.secret], scheme, at(0))).toBe(false);
  });

  it('matches nothing with a secret whose key decodes to no bytes: a signature under the empty key is refused', () => {
    const signed = Buffer.concat([Buffer.from(`${vector.id}.${vector.timestamp}.`), vector.body]);
    const emptyKeySignature = `v1,${createHmac('sha256', Buffer.alloc(0)).update(signed).digest('base64')}`;
    expect(verifies(request({ 'webhook-signature': emptyKeySignature }), ['whsec_'], scheme, at(0))).toBe(false);
    expect(verifies(request({ 'webhook-signature': emptyKeySignature }), ['whsec_', vector.secret], scheme, at(0))).toBe(false);
    expect(verifies(request(), ['whsec_', vector.secret], scheme, at(0))).toBe(true);
  });

  it('accepts when any of several rotated secrets matches', () => {
    expect(verifies(request(), ['whsec_bmV3LXNlY3JldA==', vector.secret], scheme, at(0))).toBe(true);
  });

  it('accepts timestamps exactly at the tolerance, in the past and the future', () => {
    expect(verifies(request(), [vector.secret], scheme, at(300))).toBe(true);
    expect(verifies(request(), [vector.secret], scheme, at(-300))).toBe(true);
  });

  it('rejects timestamps beyond the tolerance with TIMESTAMP_OUT_OF_TOLERANCE', () => {
    expect(verifies(request(), [vector.secret], scheme, at(301))).toBe('TIMESTAMP_OUT_OF_TOLERANCE');
    expect(verifies(request(), [vector.secret], scheme, at(-301))).toBe('TIMESTAMP_OUT_OF_TOLERANCE');
  });

  it('honours a configured tolerance', () => {
    const strict = standardWebhooksScheme(10);
    expect(verifies(request(), [vector.secret], strict, at(10))).toBe(true);
    expect(verifies(request(), [vector.secret], strict, at(11))).toBe('TIMESTAMP_OUT_OF_TOLERANCE');
  });

  it('reports a timestamp that is not Unix seconds as INVALID_SIGNATURE', () => {
    expect(verifies(request({ 'webhook-timestamp': '2021-02-25T15:02:10Z' }), [vector.secret], scheme, at(0))).toBe('INVALID_SIGNATURE');
  });

  it('reports any missing header as MISSING_SIGNATURE', () => {
    for (const header of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      expect(verifies(request({ [header]: undefined }), [vector.secret], scheme, at(0))).toBe('MISSING_SIGNATURE');
    }
  });

  it('reports truncated or wrongly encoded signatures as INVALID_SIGNATURE', () => {
    expect(verifies(request({ 'webhook-signature': vector.signature.slice(0, 20) }), [vector.secret], scheme, at(0))).toBe('INVALID_SIGNATURE');
    const hex = Buffer.from(vector.signature.slice(3), 'base64').toString('hex');
    expect(verifies(request({ 'webhook-signature': `v1,${hex}` }), [vector.secret], scheme, at(0))).toBe('INVALID_SIGNATURE');
  });
});

describe('createSignatureScheme', () => {
  it('selects the scheme named by the configuration', () => {
    const base = { signatureHeaders: ['x-webhook-signature'], signedBytes: 'both', signatureAlgorithm: 'sha256', timestampToleranceSeconds: 300 } as const;
    expect(createSignatureScheme({ ...base, signatureScheme: 'makini' }).name).toBe('makini');
    expect(createSignatureScheme({ ...base, signatureScheme: 'standard-webhooks' }).name).toBe('standard-webhooks');
  });
});

describe('constant-time comparison', () => {
  afterEach(() => jest.restoreAllMocks());

  it.each([
    ['makini', makiniScheme('x-makini-signature', 'sha256'), { 'x-makini-signature': 'sha256=' + '0'.repeat(64) }],
    ['standard-webhooks', standardWebhooksScheme(300), { 'webhook-id': 'a', 'webhook-timestamp': '0', 'webhook-signature': 'v1,' + Buffer.alloc(32).toString('base64') }],
  ])('is the only way the %s scheme compares digests', (_name, scheme, headers) => {
    const equal = jest.spyOn(constantTime, 'equal');
    const parsed = scheme.parse({ headers, body }, 0);
    expect(parsed.ok && parsed.match([secret])).toBe(undefined);
    expect(equal).toHaveBeenCalledTimes(1);
  });

  it('compares with every secret and every signature, even after one has matched (timing does not tell which)', () => {
    const equal = jest.spyOn(constantTime, 'equal');
    const makini = makiniScheme('x-makini-signature', 'sha256').parse({ headers: { 'x-makini-signature': `sha256=${hexSig(secret, body)}` }, body }, 0);
    expect(makini.ok && makini.match([secret, 'the-previous-secret'])?.form).toBe('raw');
    expect(equal).toHaveBeenCalledTimes(2);

    equal.mockClear();
    const v = STANDARD_WEBHOOKS_VECTOR; // defined below; read when the test runs
    const headers = { 'webhook-id': v.id, 'webhook-timestamp': String(v.timestamp), 'webhook-signature': `v1,${v.digest} v1,${Buffer.alloc(32).toString('base64')}` };
    const standard = standardWebhooksScheme(300).parse({ headers, body: v.body }, v.timestamp);
    expect(standard.ok && standard.match([v.secret])?.form).toBe('raw');
    expect(equal).toHaveBeenCalledTimes(2);
  });
});

describe('signature header values at their edges', () => {
  const scheme = makiniScheme('x-makini-signature', 'sha256');
  const withSig = (value: string, b: Uint8Array = body): SignedRequest => ({ headers: { 'x-makini-signature': value }, body: b });

  it('ignores whitespace around a prefixed makini signature', () => {
    expect(verifies(withSig(`  sha256=${hexSig(secret, body)}  `), [secret], scheme)).toBe(true);
  });

  it('accepts a makini base64url signature that uses the url-safe characters', () => {
    // The first of these bodies whose digest has a `+` or `/` in base64, so its base64url differs.
    const signedBody = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map((i) => Buffer.from(`{"id":"evt_${i}"}`)).find((b) => /[+/]/.test(createHmac('sha256', secret).update(b).digest('base64')))!;
    const url = createHmac('sha256', secret).update(signedBody).digest('base64url');
    expect(url).toMatch(/[-_]/);
    expect(verifies(withSig(url, signedBody), [secret], scheme)).toBe(true);
  });

  const vector = { ...STANDARD_WEBHOOKS_VECTOR, signature: STANDARD_WEBHOOKS_VECTOR.digest };
  const standard = standardWebhooksScheme(300);
  const request = (signature: string, timestamp = String(vector.timestamp)): SignedRequest => ({ headers: { 'webhook-id': vector.id, 'webhook-timestamp': timestamp, 'webhook-signature': signature }, body: vector.body });

  it('takes a standard-webhooks signature in standard base64 only, not base64url', () => {
    expect(verifies(request(`v1,${vector.signature}`), [vector.secret], standard, vector.timestamp)).toBe(true);
    expect(verifies(request(`v1,${vector.signature.replace('+', '-').replace('/', '_')}`), [vector.secret], standard, vector.timestamp)).toBe('INVALID_SIGNATURE');
  });

  it('takes only v1 signatures, even one whose digest would match', () => {
    expect(verifies(request(`v2,${vector.signature}`), [vector.secret], standard, vector.timestamp)).toBe('INVALID_SIGNATURE');
  });

  it('refuses a webhook-timestamp with anything before its digits as not Unix seconds', () => {
    expect(verifies(request(`v1,${vector.signature}`, `t${vector.timestamp}`), [vector.secret], standard, vector.timestamp)).toBe('INVALID_SIGNATURE');
  });

  it('signs with the current time and a fresh msg_ id when none is given', () => {
    const before = Math.floor(Date.now() / 1000);
    const headers = standard.sign(vector.body, vector.secret);
    const after = Math.floor(Date.now() / 1000);
    expect(Number(headers['webhook-timestamp'])).toBeGreaterThanOrEqual(before);
    expect(Number(headers['webhook-timestamp'])).toBeLessThanOrEqual(after);
    expect(headers['webhook-id']).toMatch(/^msg_[0-9a-f]{24}$/);
    expect(verifies({ headers, body: vector.body }, [vector.secret], standard, after)).toBe(true);
  });
});
