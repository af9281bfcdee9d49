import { expiryFromExpiresIn, formatConnectionSecret, parseClientCredentials, parseConnectionSecret, tokenDue, tokenFromResponse } from '../../lambdas/core/connection-secret';

const NOW = Date.parse('2026-12-01T00:00:00Z');
const DAY = 86_400_000;
const iso = (ms: number) => new Date(ms).toISOString();

describe('connection secrets', () => {
  it('reads expires_in as an absolute epoch time (Makini’s sample), epoch milliseconds, or a duration', () => {
    expect(expiryFromExpiresIn('1715674414', NOW)).toBe('2024-05-14T08:13:34.000Z');
    expect(expiryFromExpiresIn(1_715_674_414_000, NOW)).toBe('2024-05-14T08:13:34.000Z');
    expect(expiryFromExpiresIn(300, NOW)).toBe(iso(NOW + 300_000));
    expect(expiryFromExpiresIn('300', NOW)).toBe(iso(NOW + 300_000));
    for (const bad of [0, -5, 'soon', null, undefined, {}, '1e3']) expect(expiryFromExpiresIn(bad, NOW)).toBeUndefined();
  });

  it('takes Makini’s token answer, with the refresh token’s 31 days from when it was stored', () => {
    const parsed = tokenFromResponse('c1', { access_token: 'a', refresh_token: 'r', expires_in: String(NOW / 1000 + 30 * 86_400) }, NOW);
    expect(parsed).toEqual({ ok: true, value: { connectionId: 'c1', token: 'a', refreshToken: 'r', expiresAt: iso(NOW + 30 * DAY), refreshExpiresAt: iso(NOW + 31 * DAY) } });
    expect(tokenFromResponse('c1', { refresh_token: 'r' }, NOW)).toEqual({ ok: false, reason: 'access_token is missing' });
  });

  it('round-trips our form, accepts Makini’s answer with a connectionId, and fills a pair’s missing expiry', () => {
    const value = { connectionId: 'c1', token: 'a', refreshToken: 'r', expiresAt: iso(NOW + DAY), refreshExpiresAt: iso(NOW + 2 * DAY) };
    expect(parseConnectionSecret(formatConnectionSecret(value), NOW)).toEqual({ ok: true, value });
    expect(parseConnectionSecret(JSON.stringify({ connectionId: 'c1', access_token: 'a', expires_in: 60 }), NOW)).toMatchObject({ ok: true, value: { token: 'a', expiresAt: iso(NOW + 60_000) } });
    expect(parseConnectionSecret(JSON.stringify({ connectionId: 'c1', token: 'a', refreshToken: 'r' }), NOW)).toMatchObject({ ok: true, value: { expiresAt: iso(NOW + 30 * DAY), refreshExpiresAt: iso(NOW + 31 * DAY) } });
    expect(parseConnectionSecret(JSON.stringify({ connectionId: 'c1', token: 'a' }), NOW)).toEqual({ ok: true, value: { connectionId: 'c1', token: 'a' } });
  });

  it('never echoes a value in a reason', () => {
    for (const bad of ['not json tok_secret', '["tok_secret"]', '{"connectionId":"c","token":""}', '{"connectionId":"c","token":"tok_secret","expiresAt":"tok_secret"}']) {
      const parsed = parseConnectionSecret(bad, NOW);
      expect(parsed.ok).toBe(false);
      expect(JSON.stringify(parsed)).not.toContain('tok_secret');
    }
    expect(parseClientCredentials('{"client_id":"id","client_secret":""}')).toEqual({ ok: false, reason: 'client_secret is missing' });
    expect(parseClientCredentials('{"clientId":"id","clientSecret":"s"}')).toEqual({ ok: true, value: { clientId: 'id', clientSecret: 's' } });
  });

  it('says when a pair needs a refresh and when to warn', () => {
    const settings = { refreshMarginMs: 7 * DAY, warningMs: 3 * DAY };
    const pair = (access: number, refresh: number) => ({ connectionId: 'c', token: 'a', refreshToken: 'r', expiresAt: iso(NOW + access), refreshExpiresAt: iso(NOW + refresh) });
    expect(tokenDue(pair(20 * DAY, 21 * DAY), NOW, settings)).toEqual({ refresh: false, warn: false });
    expect(tokenDue(pair(6 * DAY, 7 * DAY), NOW, settings)).toEqual({ refresh: true, warn: false });
    expect(tokenDue(pair(DAY, 2 * DAY), NOW, settings)).toEqual({ refresh: true, warn: true });
    expect(tokenDue(pair(-DAY, -1), NOW, settings)).toEqual({ refresh: false, warn: true }); // the refresh token itself is spent
    expect(tokenDue({ connectionId: 'c', token: 'a', expiresAt: iso(NOW + DAY) }, NOW, settings)).toEqual({ refresh: false, warn: true });
    expect(tokenDue({ connectionId: 'c', token: 'a' }, NOW, settings)).toEqual({ refresh: false, warn: false });
  });
});
