import { createHash } from 'node:crypto';
import { resolveWebhookId } from '../../lambdas/core/webhook-id';

const body = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('resolveWebhookId', () => {
  it('prefers webhook-id, then x-makini-webhook-id, then the body id', () => {
    const b = body({ id: 'evt_body' });
    expect(resolveWebhookId({ 'webhook-id': 'msg_1', 'x-makini-webhook-id': 'mk_1' }, b)).toBe('msg_1');
    expect(resolveWebhookId({ 'x-makini-webhook-id': 'mk_1' }, b)).toBe('mk_1');
    expect(resolveWebhookId({}, b)).toBe('evt_body');
  });

  it('accepts a numeric body id', () => {
    expect(resolveWebhookId({}, body({ id: 42 }))).toBe('42');
  });

  it('falls back to the SHA-256 of the raw body, so identical retries share an id', () => {
    const raw = Buffer.from('plain text');
    expect(resolveWebhookId({}, raw)).toBe(`sha256:${createHash('sha256').update(raw).digest('hex')}`);
    expect(resolveWebhookId({}, body({ type: 'x' }))).toBe(resolveWebhookId({}, body({ type: 'x' })));
    expect(resolveWebhookId({}, body({ id: { nested: true } }))).toMatch(/^sha256:/);
  });

  it('ignores ids that are empty, too long or contain control characters', () => {
    const b = body({ id: 'evt_ok' });
    expect(resolveWebhookId({ 'webhook-id': '' }, b)).toBe('evt_ok');
    expect(resolveWebhookId({ 'webhook-id': 'x'.repeat(257) }, b)).toBe('evt_ok');
    expect(resolveWebhookId({ 'webhook-id': 'a\u0000b' }, b)).toBe('evt_ok');
  });

  it('finds the id after leading white space', () => {
    expect(resolveWebhookId({}, Buffer.from('  \n {"id":"evt_ws"}'))).toBe('evt_ws');
  });
});
