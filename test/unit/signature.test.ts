import { createHmac } from 'node:crypto';
import { constantTime } from '../../lambdas/core/constant-time';
import { createSignatureScheme, makiniScheme, standardWebhooksScheme, type SignedRequest } from '../../lambdas/core/signature';

const body = Buffer.from('{"id":"evt_1","type":"sync.completed","connection_id":"conn_1"}');
const secret = 'test-signing-secret';
const hexSig = (s: string, b: Uint8Array, alg = 'sha256') => createHmac(alg, s).update(b).digest('hex');

function verifies(request: SignedRequest, secrets: string[], scheme = makiniScheme('x-makini-signature', 'sha256'), now = 0) {
  const parsed = scheme.parse(request, now);
  return parsed.ok ? secrets.some((s) => parsed.matches(s)) : parsed.code;
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

  it("reproduces GitHub's published X-Hub-Signature-256 example", () => {
    const github = makiniScheme('X-Hub-Signature-256', 'sha256');
    expect(github.sign(Buffer.from('Hello, World!'), "It's a Secret to Everybody")).toEqual({
      'x-hub-signature-256': 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
    });
  });
});

describe('standard-webhooks scheme', () => {
  // The Standard Webhooks specification's published test vector.
  const vector = {
    secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
    timestamp: 1614265330,
    body: Buffer.from('{"test": 2432232314}'),
    signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
  };
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
    const base = { signatureHeader: 'x-makini-signature', signatureAlgorithm: 'sha256', timestampToleranceSeconds: 300 } as const;
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
    expect(parsed.ok && parsed.matches(secret)).toBe(false);
    expect(equal).toHaveBeenCalledTimes(1);
  });
});
