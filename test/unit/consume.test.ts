import { createHash } from 'node:crypto';
import { DEFAULT_CONFIG, MAX_STORABLE_BODY_BYTES } from '../../lambdas/config/config';
import { busDetailType, decideClaim, parseMessage, UNREADABLE_KEPT_BYTES } from '../../lambdas/core/consume';
import { encodeEnvelope } from '../../lambdas/core/envelope';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('busDetailType', () => {
  it('keeps a type of up to 128 characters, and shortens a longer one to 119 characters, ~ and 8 hex digits of its hash', () => {
    const longest = 'a'.repeat(128);
    expect(busDetailType(longest)).toBe(longest);
    const longer = `${'b'.repeat(119)}${'c'.repeat(10)}`;
    expect(busDetailType(longer)).toBe(`${'b'.repeat(119)}~${sha256(longer).slice(0, 8)}`);
  });

  it('gives an empty type a detail-type EventBridge takes', () => {
    expect(busDetailType('')).toBe(`~${sha256('').slice(0, 8)}`);
  });
});

describe('parseMessage', () => {
  const envelope = (body: Buffer) => encodeEnvelope({ webhookId: 'evt_big', receivedAt: '2026-11-22T06:00:00.000Z', scheme: 'makini', requestId: 'r' }, body);

  it('keeps the start of an enveloped body larger than one history item, hashing the whole', () => {
    const body = Buffer.alloc(MAX_STORABLE_BODY_BYTES + 1, 'x');
    const parsed = parseMessage({ deliveryId: 'd1', body: envelope(body) }, DEFAULT_CONFIG);
    expect(parsed).toMatchObject({ webhookId: 'evt_big', bodyHash: createHash('sha256').update(body).digest('hex') });
    expect(parsed.body.length).toBe(UNREADABLE_KEPT_BYTES);
    expect(parsed.unprocessableReason).toBe(`the body is larger than one history item holds (body truncated: first ${UNREADABLE_KEPT_BYTES} of ${body.length} bytes kept)`);
  });

  it('reads an enveloped body of exactly the storable size as usual', () => {
    const parsed = parseMessage({ deliveryId: 'd1', body: envelope(Buffer.alloc(MAX_STORABLE_BODY_BYTES, 'x')) }, DEFAULT_CONFIG);
    expect(parsed.body.length).toBe(MAX_STORABLE_BODY_BYTES);
    expect(parsed.unprocessableReason).not.toMatch(/larger than one history item/);
  });

  it('keeps an unreadable message of exactly the kept size whole, without a truncation note', () => {
    const parsed = parseMessage({ deliveryId: 'd1', body: 'x'.repeat(UNREADABLE_KEPT_BYTES) }, DEFAULT_CONFIG);
    expect(parsed.body.length).toBe(UNREADABLE_KEPT_BYTES);
    expect(parsed.unprocessableReason).toBe('Not a webhook envelope: not JSON');
  });
});

describe('decideClaim', () => {
  const now = 1_000_000;
  it('renews the owner’s own claim once its lease has run out, and lets another delivery take it over', () => {
    const expired = { status: 'PROCESSING', owner: 'm1', leaseUntil: now - 1, deliveries: 1 } as const;
    expect(decideClaim(expired, 'm1', now, now + 30_000)).toBe('renew');
    expect(decideClaim(expired, 'm2', now, now + 30_000)).toBe('takeover');
  });

  it('counts a lease as run out at leaseUntil itself: busy one millisecond before, taken over or renewed at it', () => {
    const lease = (leaseUntil: number) => ({ status: 'PROCESSING', owner: 'm1', leaseUntil, deliveries: 1 }) as const;
    expect(decideClaim(lease(now + 1), 'm2', now, now + 30_000)).toBe('busy');
    expect(decideClaim(lease(now), 'm2', now, now + 30_000)).toBe('takeover');
    expect(decideClaim(lease(now), 'm1', now, now + 30_000)).toBe('renew');
  });
});
