import { createHash } from 'node:crypto';
import { resolveDedupKey } from '../../lambdas/core/webhook-id';

const body = (value: unknown) => Buffer.from(JSON.stringify(value));
const key = (b: Buffer, options: { scheme?: 'makini' | 'standard-webhooks'; headers?: Record<string, string>; idFields?: string[]; connectionId?: string } = {}) =>
  resolveDedupKey({
    scheme: options.scheme ?? 'makini',
    headers: options.headers ?? {},
    body: b,
    parsed: (() => {
      try {
        return JSON.parse(b.toString());
      } catch {
        return undefined;
      }
    })(),
    idFields: options.idFields ?? ['id'],
    ...(options.connectionId !== undefined && { connectionId: options.connectionId }),
  });
const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

describe('resolveDedupKey', () => {
  it('takes the id the signed body carries', () => {
    expect(key(body({ id: 'evt_body' }))).toEqual({ webhookId: 'evt_body', dedup: 'id' });
    expect(key(body({ id: 42 }))).toEqual({ webhookId: '42', dedup: 'id' });
    expect(key(body({ event_id: 'e1', id: 'x' }), { idFields: ['event_id', 'id'] })).toEqual({ webhookId: 'e1', dedup: 'id' });
  });

  it('never lets an unsigned header choose the key under the makini scheme', () => {
    const notification = body({ event: 'assets.updated', body: ['a'] });
    const plain = key(notification);
    expect(key(notification, { headers: { 'webhook-id': 'replayed-1', 'x-makini-webhook-id': 'replayed-2' } })).toEqual(plain);
    expect(key(body({ id: 'evt_1' }), { headers: { 'webhook-id': 'msg_new' } }).webhookId).toBe('evt_1');
  });

  it('takes the signed webhook-id header under standard-webhooks', () => {
    expect(key(body({ id: 'evt_body' }), { scheme: 'standard-webhooks', headers: { 'webhook-id': 'msg_1' } })).toEqual({ webhookId: 'msg_1', dedup: 'id' });
  });

  it('keys a body without an id by its content, and the connection of its URL', () => {
    const notification = body({ event: 'assets.updated', body: ['a'] });
    expect(key(notification)).toEqual({ webhookId: `sha256:${sha256(notification)}`, dedup: 'content' });
    expect(key(notification, { connectionId: 'conn_1' }).webhookId).toBe(`sha256:${sha256(Buffer.concat([Buffer.from('connection:conn_1\n'), notification]))}`);
    expect(key(notification, { connectionId: 'conn_1' })).not.toEqual(key(notification, { connectionId: 'conn_2' }));
    expect(key(Buffer.from('plain text')).dedup).toBe('content');
    expect(key(body({ id: { nested: true } })).dedup).toBe('content');
    expect(key(body({ id: 'evt_1' }), { idFields: [] }).dedup).toBe('content');
  });

  it('ignores ids that are empty, too long or contain control characters', () => {
    for (const id of ['', ' ', 'x'.repeat(257), 'a\u0000b']) expect(key(body({ id })).dedup).toBe('content');
    expect(key(body({ id: 'x'.repeat(256) })).dedup).toBe('id');
  });
});

describe('resolveDedupKey with white space around an id', () => {
  it('takes the id without it', () => {
    expect(key(body({ id: ' evt_1 ' }))).toEqual({ webhookId: 'evt_1', dedup: 'id' });
  });
});
