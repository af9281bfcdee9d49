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

describe('expiryFromExpiresIn at its edges', () => {
  it('reads a decimal duration string and refuses anything that only stringifies to a number', () => {
    expect(expiryFromExpiresIn('300.25', NOW)).toBe(iso(NOW + 300_250));
    expect(expiryFromExpiresIn(' 300 ', NOW)).toBe(iso(NOW + 300_000));
    expect(expiryFromExpiresIn(['300'], NOW)).toBeUndefined();
    expect(expiryFromExpiresIn('300.x', NOW)).toBeUndefined();
  });

  it('reads exactly 10^9 as a duration and exactly 10^12 as epoch seconds', () => {
    expect(expiryFromExpiresIn(1e9, NOW)).toBe(iso(NOW + 1e12));
    expect(expiryFromExpiresIn(1e12, 0)).toBe(iso(1e15));
  });

  it('keeps the latest representable time and refuses anything past it', () => {
    expect(expiryFromExpiresIn(8.64e15, NOW)).toBe('+275760-09-13T00:00:00.000Z');
    expect(expiryFromExpiresIn(8.64e15 + 1, NOW)).toBeUndefined();
  });
});

describe('tokenFromResponse, field by field', () => {
  it('refuses a blank access token and one with whitespace inside, and trims one around it', () => {
    expect(tokenFromResponse('c1', { access_token: '   ' }, NOW)).toEqual({ ok: false, reason: 'access_token is missing' });
    expect(tokenFromResponse('c1', { access_token: 'a b' }, NOW)).toEqual({ ok: false, reason: 'access_token contains whitespace' });
    expect(tokenFromResponse('c1', { access_token: ' a ' }, NOW)).toEqual({ ok: true, value: { connectionId: 'c1', token: 'a', expiresAt: iso(NOW + 30 * DAY) } });
  });

  it('drops a blank refresh token and trims a real one', () => {
    expect(tokenFromResponse('c1', { access_token: 'a', refresh_token: '  ' }, NOW)).toEqual({ ok: true, value: { connectionId: 'c1', token: 'a', expiresAt: iso(NOW + 30 * DAY) } });
    expect(tokenFromResponse('c1', { access_token: 'a', refresh_token: ' r ' }, NOW)).toMatchObject({ ok: true, value: { refreshToken: 'r' } });
  });

  it('takes the refresh token’s expiry from refresh_expires_at when it is a date, else refresh_token_expires_in, else 31 days', () => {
    const answer = (extra: object) => tokenFromResponse('c1', { access_token: 'a', refresh_token: 'r', ...extra }, NOW);
    const refreshExpiresAt = (extra: object) => {
      const parsed = answer(extra);
      return parsed.ok ? parsed.value.refreshExpiresAt : parsed.reason;
    };
    expect(refreshExpiresAt({ refresh_expires_at: '2027-01-01T00:00:00+01:00', refresh_token_expires_in: 60 })).toBe('2026-12-31T23:00:00.000Z');
    expect(refreshExpiresAt({ refresh_expires_at: 'not a date', refresh_token_expires_in: 60 })).toBe(iso(NOW + 60_000));
    expect(refreshExpiresAt({ refresh_expires_at: 1234 })).toBe(iso(NOW + 31 * DAY));
    expect(refreshExpiresAt({ refresh_token_expires_in: 86_400 })).toBe(iso(NOW + DAY));
    expect(refreshExpiresAt({})).toBe(iso(NOW + 31 * DAY));
  });
});

describe('parseConnectionSecret, reason by reason', () => {
  const parse = (value: unknown) => parseConnectionSecret(typeof value === 'string' ? value : JSON.stringify(value), NOW);

  it('says whether the value is not JSON or not a JSON object', () => {
    expect(parse('not json')).toEqual({ ok: false, reason: 'the value is not JSON' });
    for (const bad of ['"text"', 'null', '[]', '42']) expect(parse(bad)).toEqual({ ok: false, reason: 'the value is not a JSON object' });
  });

  it('requires a non-blank string connectionId, and trims it', () => {
    for (const connectionId of [undefined, '', '   ', 5]) expect(parse({ connectionId, token: 'a' })).toEqual({ ok: false, reason: 'connectionId is missing' });
    expect(parse({ connectionId: ' c1 ', token: 'a' })).toEqual({ ok: true, value: { connectionId: 'c1', token: 'a' } });
  });

  it('reads Makini’s answer only when there is an access_token and no token', () => {
    expect(parse({ connectionId: 'c1' })).toEqual({ ok: false, reason: 'token is missing' });
    expect(parse({ connectionId: 'c1', token: 'a', access_token: 'b' })).toEqual({ ok: true, value: { connectionId: 'c1', token: 'a' } });
    expect(parse({ connectionId: ' c1 ', access_token: 'b' })).toEqual({ ok: true, value: { connectionId: 'c1', token: 'b', expiresAt: iso(NOW + 30 * DAY) } });
  });

  it('requires a non-blank token without whitespace inside, and trims it', () => {
    for (const token of ['', '   ', 5]) expect(parse({ connectionId: 'c1', token })).toEqual({ ok: false, reason: 'token is missing' });
    const whitespace = { ok: false, reason: 'a token contains whitespace (store the token alone, without "Bearer")' };
    expect(parse({ connectionId: 'c1', token: 'Bearer a' })).toEqual(whitespace);
    expect(parse({ connectionId: 'c1', token: 'a', refreshToken: 'r s' })).toEqual(whitespace);
    expect(parse({ connectionId: 'c1', token: ' a ', refreshToken: ' r ', expiresAt: iso(NOW), refreshExpiresAt: iso(NOW + DAY) })).toEqual({
      ok: true,
      value: { connectionId: 'c1', token: 'a', refreshToken: 'r', expiresAt: iso(NOW), refreshExpiresAt: iso(NOW + DAY) },
    });
  });

  it('refuses an expiry that is not a date string, and a refresh token that is blank or not a string', () => {
    expect(parse({ connectionId: 'c1', token: 'a', expiresAt: 5 })).toEqual({ ok: false, reason: 'expiresAt is not a date' });
    expect(parse({ connectionId: 'c1', token: 'a', refreshExpiresAt: 'soon' })).toEqual({ ok: false, reason: 'refreshExpiresAt is not a date' });
    for (const refreshToken of ['', '   ', 5]) expect(parse({ connectionId: 'c1', token: 'a', refreshToken })).toEqual({ ok: false, reason: 'refreshToken is empty' });
  });
});

describe('tokenDue at its boundaries', () => {
  const settings = { refreshMarginMs: 7 * DAY, warningMs: 3 * DAY };

  it('refreshes an access token exactly at the margin, and one whose refresh token has no stated expiry', () => {
    expect(tokenDue({ connectionId: 'c', token: 'a', refreshToken: 'r', expiresAt: iso(NOW + 7 * DAY), refreshExpiresAt: iso(NOW + 20 * DAY) }, NOW, settings)).toEqual({ refresh: true, warn: false });
    expect(tokenDue({ connectionId: 'c', token: 'a', refreshToken: 'r', expiresAt: iso(NOW + DAY) }, NOW, settings)).toEqual({ refresh: true, warn: false });
  });

  it('does not refresh with a refresh token expiring right now', () => {
    expect(tokenDue({ connectionId: 'c', token: 'a', refreshToken: 'r', expiresAt: iso(NOW + DAY), refreshExpiresAt: iso(NOW) }, NOW, settings)).toEqual({ refresh: false, warn: true });
  });

  it('warns exactly at the warning time, for a refresh token and for an access token without one', () => {
    expect(tokenDue({ connectionId: 'c', token: 'a', refreshToken: 'r', expiresAt: iso(NOW + 20 * DAY), refreshExpiresAt: iso(NOW + 3 * DAY) }, NOW, settings)).toEqual({ refresh: false, warn: true });
    expect(tokenDue({ connectionId: 'c', token: 'a', expiresAt: iso(NOW + 3 * DAY) }, NOW, settings)).toEqual({ refresh: false, warn: true });
  });
});

describe('parseClientCredentials, reason by reason', () => {
  it('says when the value is not JSON, and which field is missing', () => {
    expect(parseClientCredentials('not json')).toEqual({ ok: false, reason: 'the value is not JSON' });
    for (const value of ['null', '{}', '{"client_id":"   ","client_secret":"s"}', '{"client_id":5,"client_secret":"s"}']) expect(parseClientCredentials(value)).toEqual({ ok: false, reason: 'client_id is missing' });
    for (const value of ['{"client_id":"id"}', '{"client_id":"id","client_secret":"  "}']) expect(parseClientCredentials(value)).toEqual({ ok: false, reason: 'client_secret is missing' });
  });

  it('trims both values', () => {
    expect(parseClientCredentials('{"client_id":" id ","client_secret":" s "}')).toEqual({ ok: true, value: { clientId: 'id', clientSecret: 's' } });
  });
});
