import { decodeEnvelope, encodeEnvelope, InvalidEnvelopeError } from '../../lambdas/core/envelope';

const meta = { webhookId: 'evt_1', receivedAt: '2026-11-22T05:00:00.000Z', scheme: 'makini', requestId: 'req-1' } as const;

describe('webhook envelope', () => {
  it('carries UTF-8 text as is', () => {
    const body = Buffer.from('{"note":"héllo ✓"}');
    const message = encodeEnvelope(meta, body);
    expect(JSON.parse(message)).toMatchObject({ v: 1, bodyEncoding: 'utf8', body: '{"note":"héllo ✓"}' });
    expect(decodeEnvelope(message).body.equals(body)).toBe(true);
    expect(decodeEnvelope(message)).not.toHaveProperty('bodyRef');
  });

  it('carries text as base64 once JSON escaping would grow it beyond base64 (4/3), and as text up to that bound', () => {
    const quotes = Buffer.from('"'.repeat(300)); // 602 bytes escaped against 400 in base64
    expect(JSON.parse(encodeEnvelope(meta, quotes))).toMatchObject({ bodyEncoding: 'base64', body: quotes.toString('base64') });
    const atBound = Buffer.from('a"b'); // escaped "a\"b": 6 bytes, as many as base64's 4 plus its quotes
    expect(JSON.parse(encodeEnvelope(meta, atBound))).toMatchObject({ bodyEncoding: 'utf8', body: 'a"b' });
    for (const body of [quotes, atBound]) expect(decodeEnvelope(encodeEnvelope(meta, body)).body.equals(body)).toBe(true);
  });

  it.each([
    ['invalid UTF-8', Buffer.from([0xc3, 0x28, 0xff])],
    ['U+FFFF, which SQS rejects', Buffer.from('a\uffffb', 'utf8')],
  ])('carries %s as base64, byte for byte', (_label, body) => {
    const message = encodeEnvelope(meta, body);
    expect(JSON.parse(message).bodyEncoding).toBe('base64');
    expect(decodeEnvelope(message).body.equals(body)).toBe(true);
  });

  it('escapes control characters so the message stays valid for SQS', () => {
    const message = encodeEnvelope(meta, Buffer.from('a\u0001\u0008b'));
    expect(message).not.toMatch(/[\u0000-\u0008]/);
    expect(decodeEnvelope(message).body.toString()).toBe('a\u0001\u0008b');
  });

  it.each(['not json', '{"v":2}', '{"v":1,"webhookId":"x"}', JSON.stringify({ v: 1, ...meta, body: 'x', bodyEncoding: 'hex' })])(
    'rejects %s',
    (message) => {
      expect(() => decodeEnvelope(message)).toThrow(InvalidEnvelopeError);
    },
  );

  it('reads an envelope deduplicated by id or by content', () => {
    for (const dedup of ['id', 'content'] as const) expect(decodeEnvelope(encodeEnvelope({ ...meta, dedup }, Buffer.from('{}'))).envelope.dedup).toBe(dedup);
  });

  it.each([
    ['not JSON', 'not json', 'not JSON'],
    ['another version', JSON.stringify({ v: 2, ...meta, body: 'x', bodyEncoding: 'utf8' }), 'unknown version'],
    ['null', 'null', 'unknown version'],
    ['no requestId', JSON.stringify({ v: 1, ...meta, requestId: undefined, body: 'x', bodyEncoding: 'utf8' }), 'requestId is missing'],
    ['an unknown dedup', JSON.stringify({ v: 1, ...meta, dedup: 'hash', body: 'x', bodyEncoding: 'utf8' }), 'unknown dedup'],
    ['a body beside its pointer', JSON.stringify({ v: 1, ...meta, body: 'x', bodyEncoding: 'utf8', bodyRef: { key: `bodies/${'a'.repeat(64)}`, bytes: 1, sha256: 'a'.repeat(64) } }), 'bodyRef is not a body pointer'],
    ['a connectionId that is not a string', JSON.stringify({ v: 1, ...meta, connectionId: 5, body: 'x', bodyEncoding: 'utf8' }), 'connectionId is not a string'],
  ])('says why it rejects a message with %s', (_label, message, reason) => {
    expect(() => decodeEnvelope(message)).toThrow(new InvalidEnvelopeError(reason));
  });
});
