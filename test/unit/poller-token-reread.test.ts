/**
 * Per-connection mode: a pair whose access token Makini refuses (401) and that came from a cached
 * token list is read again before it is refreshed, since another container may have refreshed it
 * (Makini rotating refresh tokens). The re-read is bounded by the run's deadline, so that a poll
 * still makes at most the three Makini calls `pollRunReserveMs` counts after it. Fakes on a virtual
 * clock: each Makini call takes exactly the worst case the reserve assumes for one request.
 * (test/integration/poller.test.ts runs the same path against the Makini simulator and Secrets Manager.)
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import type { StoredConnectionToken } from '../../lambdas/adapters/connection-token-cache';
import { DEFAULT_CONFIG, MAKINI_MAX_RETRY_AFTER_MS } from '../../lambdas/config/config';
import { MakiniAuthError } from '../../lambdas/core/errors';
import { createPoller, pollerSettings } from '../../lambdas/poller/poller';

const T0 = Date.parse('2026-11-22T06:00:00.000Z');
const FAR = new Date(T0 + 20 * 86_400_000).toISOString();
const config = { ...DEFAULT_CONFIG, pollMode: 'per-connection' as const };
const REQUEST_MS = config.makiniMaxAttempts * config.makiniRequestTimeoutMs + (config.makiniMaxAttempts - 1) * MAKINI_MAX_RETRY_AFTER_MS;
const pair = (connectionId: string, token: string, refreshToken = `rt_${token}`, over: Partial<StoredConnectionToken> = {}): StoredConnectionToken => ({ connectionId, token, refreshToken, expiresAt: FAR, refreshExpiresAt: FAR, location: connectionId, ...over });
const BUDGET_MS = pollerSettings(config).budgetMs;

/**
 * A run from a cached list `cachedList`; read again, the store holds `storedList`. Each Makini call
 * takes `ms[token]` (a refresh: `ms['refresh:<refresh token>']`), by default the worst case one
 * request may take. Access tokens in `accepted` are served, others refused; a refresh succeeds only
 * with a refresh token in `refreshable` (Makini rotates refresh tokens: the old one is refused).
 */
async function runLists(options: { cachedList: StoredConnectionToken[]; storedList: StoredConnectionToken[]; accepted: string[]; refreshable: string[]; ms?: Record<string, number> }) {
  let t = T0;
  const lambdaEnd = T0 + config.pollerTimeoutSeconds * 1000;
  let cached = true;
  const calls: string[] = [];
  const saved: Record<string, number> = {};
  const run = createPoller({
    credentials: { read: async () => undefined },
    tokens: {
      discover: async () => ({ tokens: cached ? options.cachedList : options.storedList, invalid: [], ...(cached && { cached: true }) }),
      forget: () => void (cached = false),
      writeBack: async () => undefined,
    },
    store: {
      loadCandidates: async (ids) => ids.map((connectionId) => ({ connectionId })),
      savePollRecord: async (record) => void (saved[record.connectionId] = t),
      listPolledConnectionIds: async () => [],
      acquirePollLease: async () => true,
      releasePollLease: async () => undefined,
    },
    api: {
      listConnections: async () => [],
      issueConnectionToken: async () => ({ token: 'x' }),
      currentIntegration: async (token) => {
        calls.push(token);
        t += options.ms?.[token] ?? REQUEST_MS;
        if (options.accepted.includes(token)) return { sync: undefined };
        throw new MakiniAuthError(401, 'unauthorized', 'auth', 'token refused');
      },
      refreshToken: async (refreshToken) => {
        calls.push(`refresh:${refreshToken}`);
        t += options.ms?.[`refresh:${refreshToken}`] ?? REQUEST_MS;
        if (!options.refreshable.includes(refreshToken)) throw new MakiniAuthError(400, 'invalid_grant', 'auth', 'refresh token revoked');
        return { access_token: `${refreshToken}_renewed`, refresh_token: `${refreshToken}_rt2`, expires_in: 30 * 86_400 };
      },
    },
    queue: { send: async () => undefined },
    logger: new Logger({ serviceName: 'poller', logLevel: 'SILENT' }),
    metrics: new Metrics({ namespace: 'Test', serviceName: 'poller' }),
    settings: { ...pollerSettings(config), pollAll: true, concurrency: 1 },
    now: () => t,
  });
  const summary = await run({}, { getRemainingTimeInMillis: () => lambdaEnd - t } as Context);
  return { summary, calls, saved, lambdaEnd, reread: !cached };
}

it('a poll in flight at the deadline ends before the Lambda times out: past the deadline, no re-read, and the cached pair is refreshed', async () => {
  // a1 and a2 fill the budget; b starts just before the deadline, and its 401 comes after it.
  const { summary, calls, saved, lambdaEnd, reread } = await runLists({
    cachedList: [pair('a1', 'a1'), pair('a2', 'a2'), pair('b', 'b_old')],
    storedList: [pair('a1', 'a1'), pair('a2', 'a2'), pair('b', 'b_new')],
    accepted: ['a1', 'a2', 'b_new', 'rt_b_old_renewed'],
    refreshable: ['rt_b_old', 'rt_b_new'],
    ms: { a1: 34_900, a2: 34_900 },
  });
  expect(summary).toMatchObject({ polled: 3, failed: 0, unauthorized: 0, tokensRefreshed: 1 });
  expect(reread).toBe(false);
  expect(calls.slice(2)).toEqual(['b_old', 'refresh:rt_b_old', 'rt_b_old_renewed']);
  expect(saved.b).toBeLessThanOrEqual(lambdaEnd);
});

/** Connection b alone, cached as b_old; read again, `stored`. */
const onlyB = (stored: StoredConnectionToken, accepted: string[], refreshable: string[] = []) => runLists({ cachedList: [pair('b', 'b_old')], storedList: [stored], accepted, refreshable });

it('before the deadline, a pair another container refreshed is read again and its access token used: no refresh', async () => {
  const { summary, calls, reread } = await onlyB(pair('b', 'b_new'), ['b_new']);
  expect(reread).toBe(true);
  expect(summary).toMatchObject({ polled: 1, failed: 0, unauthorized: 0, tokensRefreshed: 0, tokenRefreshFailed: 0 });
  expect(calls).toEqual(['b_old', 'b_new']);
});

it('a re-read access token refused too is revoked: the finding is unauthorized, with no refresh (at most three Makini calls a poll)', async () => {
  const { summary, calls } = await onlyB(pair('b', 'b_new'), [], ['rt_b_new']);
  expect(summary).toMatchObject({ polled: 1, unauthorized: 1, tokensRefreshed: 0, tokenRefreshFailed: 0 });
  expect(calls).toEqual(['b_old', 'b_new']);
});

it('the same access token read again with another refresh token is refreshed with the one read again', async () => {
  const { summary, calls } = await onlyB(pair('b', 'b_old', 'rt_rotated'), ['rt_rotated_renewed'], ['rt_rotated']);
  expect(summary).toMatchObject({ polled: 1, unauthorized: 0, tokensRefreshed: 1, tokenRefreshFailed: 0 });
  expect(calls).toEqual(['b_old', 'refresh:rt_rotated', 'rt_rotated_renewed']);
});

it('a 401 past the deadline still uses the stored pairs this run has already read again (memoised): no false refresh failure', async () => {
  // Another container refreshed both pairs (rotating their refresh tokens) since this one cached the list.
  // `a` is refused before the deadline: the list is read again (a_new works). Its poll ends 1 ms
  // before the deadline, so `b` starts in time; b_old's 401 comes after the deadline.
  const { summary, calls } = await runLists({
    cachedList: [pair('a', 'a_old'), pair('b', 'b_old')],
    storedList: [pair('a', 'a_new'), pair('b', 'b_new')],
    accepted: ['a_new', 'b_new'],
    refreshable: ['rt_a_new', 'rt_b_new'],
    ms: { a_old: 1_000, a_new: BUDGET_MS - 1_000 - 1 },
  });
  expect(calls.slice(0, 3)).toEqual(['a_old', 'a_new', 'b_old']);
  // The list read again (in memory: no further call) names b_new, and b is polled with it, within the
  // three calls the reserve counts (it was refreshed with the rotated rt_b_old: a false refresh failure).
  expect({ summary, after: calls.slice(3) }).toMatchObject({ summary: { polled: 2, unauthorized: 0, failed: 0, tokenRefreshFailed: 0 }, after: ['b_new'] });
});

it('a re-read pair whose access token has already expired is refreshed (as a fresh discovery would), not tried and reported unauthorized', async () => {
  // The pair stored since (e.g. an operator stored Makini's answer with its absolute expires_in) is
  // past its access token's expiry, its refresh token valid: tokenDue says refresh.
  const expired = new Date(T0 - 60_000).toISOString();
  const { summary, calls } = await onlyB(pair('b', 'b_new', 'rt_b_new', { expiresAt: expired }), ['rt_b_new_renewed'], ['rt_b_new']);
  expect(summary).toMatchObject({ polled: 1, unauthorized: 0, tokensRefreshed: 1 });
  expect(calls).toEqual(['b_old', 'refresh:rt_b_new', 'rt_b_new_renewed']);
});

it('a re-read pair due for a refresh whose refresh fails is still used: its access token is valid, so not unauthorized', async () => {
  // Another container refreshed b; the stored access token has 6 days left (within the 7-day margin: due).
  const dueSoon = new Date(T0 + 6 * 86_400_000).toISOString();
  const { summary, calls } = await onlyB(pair('b', 'b_new', 'rt_b_new', { expiresAt: dueSoon }), ['b_new'], []);
  expect(summary).toMatchObject({ polled: 1, failed: 0, unauthorized: 0, tokensRefreshed: 0, tokenRefreshFailed: 1 });
  expect(calls).toEqual(['b_old', 'refresh:rt_b_new', 'b_new']);
});

it('the cached pair whose refresh fails, with nothing else read again, is unauthorized: its access token was refused', async () => {
  const { summary, calls } = await onlyB(pair('b', 'b_old'), [], []);
  expect(summary).toMatchObject({ polled: 1, unauthorized: 1, tokensRefreshed: 0, tokenRefreshFailed: 1 });
  expect(calls).toEqual(['b_old', 'refresh:rt_b_old']);
});
