import { decodeEnvelope, encodeEnvelope, InvalidEnvelopeError } from '../../lambdas/core/envelope';

const meta = { webhookId: 'evt_1', receivedAt: '2026-11-22T05:00:00.000Z', scheme: 'makini', requestId: 'req-1' } as const;

describe('webhook envelope', () => {
  it('carries UTF-8 text as is', () => {
    const body = Buffer.from('{"note":"héllo ✓"}');
    const message = encodeEnvelope(meta, body);
    expect(JSON.parse(message)).toMatchObject({ v: 1, bodyEncoding: 'utf8', body: '{"note":"héllo ✓"}' });
    expect(decodeEnvelope(message).body.equals(body)).toBe(true);
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
});
