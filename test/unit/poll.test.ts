import type { ConnectionState } from '../../lambdas/core/connection-state';
import { DEFAULT_CONNECTION_STATUS_MAP } from '../../lambdas/config/config';
import { breakerState, mapConnectionStatus, mapSyncStatus, recordDeleted, recordPoll, selectConnections, synthesizeEvents, tokenExpiringEvent, type Observation, type PollRecord, type PollSettings } from '../../lambdas/core/poll';
import { eventTimeFromMs } from '../../lambdas/core/event-time';

const NOW = Date.parse('2026-11-22T06:00:00Z');
const iso = (msAgo: number) => new Date(NOW - msAgo).toISOString();
const settings: PollSettings = { pollAll: false, expectedWindowMs: 30 * 60_000, breakerFailureThreshold: 3, breakerCooldownMs: 10 * 60_000 };
const healthy = (id: string, webhookAgoMs = 60_000): ConnectionState => ({ connectionId: id, status: 'online', lastWebhookAt: iso(webhookAgoMs), lastSyncStatus: 'completed', lastSyncAt: iso(3_600_000) });
const record = (id: string, overrides: Partial<PollRecord> = {}): PollRecord => ({ connectionId: id, consecutiveFailures: 0, pending: {}, ...overrides });

describe('selectConnections', () => {
  it('polls the never seen, the unhealthy and the silent, not the healthy and recently heard', () => {
    const due = selectConnections(
      [
        { connectionId: 'fresh', state: healthy('fresh') },
        { connectionId: 'unseen' },
        { connectionId: 'offline', state: { ...healthy('offline'), status: 'offline' } },
        { connectionId: 'reauth', state: { ...healthy('reauth'), status: 'reauthorization_required' } },
        { connectionId: 'syncfail', state: { ...healthy('syncfail'), lastSyncStatus: 'failed' } },
        { connectionId: 'silent', state: healthy('silent', 31 * 60_000) },
      ],
      NOW,
      settings,
    );
    expect(due.map((d) => d.connectionId).sort()).toEqual(['offline', 'reauth', 'silent', 'syncfail', 'unseen']);
  });

  it('polls first a healthy connection a connections.* notification asked for, until a poll follows the request', () => {
    const asked = { connectionId: 'asked', state: healthy('asked'), poll: record('asked', { lastPolledAt: iso(60_000), pollRequestedAt: iso(30_000) }) };
    const answered = { connectionId: 'answered', state: healthy('answered'), poll: record('answered', { lastPolledAt: iso(10_000), pollRequestedAt: iso(30_000) }) };
    const due = selectConnections([{ connectionId: 'unseen' }, asked, answered], NOW, settings);
    expect(due.map((d) => d.connectionId)).toEqual(['asked', 'unseen']);
  });

  it('polls everything with pollAll', () => {
    expect(selectConnections([{ connectionId: 'fresh', state: healthy('fresh') }], NOW, { ...settings, pollAll: true })).toHaveLength(1);
  });

  it('takes the least recently polled first, never-polled before all', () => {
    const due = selectConnections(
      [
        { connectionId: 'b', poll: record('b', { lastPolledAt: iso(60_000) }) },
        { connectionId: 'c' },
        { connectionId: 'a', poll: record('a', { lastPolledAt: iso(600_000) }) },
      ],
      NOW,
      settings,
    );
    expect(due.map((d) => d.connectionId)).toEqual(['c', 'a', 'b']);
  });

  it('skips a connection whose breaker is open, and probes it once the cool-down has passed', () => {
    const open = record('x', { consecutiveFailures: 3, openedAt: iso(5 * 60_000), lastOutcome: 'failed' });
    expect(selectConnections([{ connectionId: 'x', poll: open }], NOW, settings)).toEqual([]);
    const cooled = { ...open, openedAt: iso(10 * 60_000) };
    expect(selectConnections([{ connectionId: 'x', poll: cooled }], NOW, settings)).toEqual([{ connectionId: 'x', probe: true }]);
  });
});

describe('circuit breaker', () => {
  it('opens after N consecutive failures, re-opens after a failed probe, closes on an answer', () => {
    let r: PollRecord | undefined;
    for (let i = 0; i < 3; i++) r = recordPoll(r, 'x', { outcome: 'failed', error: 'HTTP 503' }, NOW, settings);
    expect(r).toMatchObject({ consecutiveFailures: 3, openedAt: iso(0) });
    expect(breakerState(r, NOW + 60_000, settings)).toBe('open');
    expect(breakerState(r, NOW + 10 * 60_000, settings)).toBe('half-open');

    const reopened = recordPoll(r, 'x', { outcome: 'failed' }, NOW + 10 * 60_000, settings);
    expect(breakerState(reopened, NOW + 11 * 60_000, settings)).toBe('open');

    const closed = recordPoll(reopened, 'x', { outcome: 'ok' }, NOW + 21 * 60_000, settings);
    expect(closed).toMatchObject({ consecutiveFailures: 0, lastOutcome: 'ok' });
    expect(closed.openedAt).toBeUndefined();
    expect(breakerState(closed, NOW + 21 * 60_000, settings)).toBe('closed');
  });

  it('treats 401/403 as a finding that resets the failure count', () => {
    const r = recordPoll(record('x', { consecutiveFailures: 2 }), 'x', { outcome: 'unauthorized' }, NOW, settings);
    expect(r.consecutiveFailures).toBe(0);
  });
});

describe('synthesizeEvents', () => {
  const online: Observation = { connection: { status: 'online' } };
  const parse = (e: { body: string }) => JSON.parse(e.body);
  const sync = (reported: string, at: string) => mapSyncStatus(reported, at);

  it('synthesizes nothing when the state already matches', () => {
    const state = { ...healthy('c'), lastSyncAt: '2026-11-22T05:00:00.000000000Z' };
    expect(synthesizeEvents('c', state, { ...online, sync: sync('done', '2026-11-22T05:00:00Z') }, iso(0), {})).toEqual([]);
  });

  it('recovers a missed reauthorization with one deterministic id, and a re-observation keeps the pending body', () => {
    const obs: Observation = { connection: { status: 'reauthorization_required' }, reportedStatus: 'expired' };
    const [first] = synthesizeEvents('c', healthy('c'), obs, iso(0), {});
    expect(parse(first)).toMatchObject({ type: 'connection.reauthorization_required', connection_id: 'c', timestamp: iso(0), data: { observed_by: 'poll', makini_status: 'expired' } });
    const [again] = synthesizeEvents('c', healthy('c'), { ...obs, reportedStatus: 'reconnect' }, iso(-300_000), {});
    expect(again.id).toBe(first.id);
    // With the earlier body pending, the repeat is byte-identical, so the consumer sees a duplicate.
    expect(synthesizeEvents('c', healthy('c'), { ...obs, reportedStatus: 'reconnect' }, iso(-300_000), { [first.id]: first.body })[0].body).toBe(first.body);
  });

  it('makes no status event while the state\'s status is timed at or after the observation (it would be stale, and re-sent stale under the same id), but still reports a newer sync', () => {
    const offlineAt = (msAgo: number): ConnectionState => ({ ...healthy('c'), status: 'offline', statusAt: eventTimeFromMs(NOW - msAgo), statusEventId: 'wh_off' });
    const synced = { ...online, sync: sync('done', iso(-1)) };
    // Ahead of our clock by a minute, or to the nanosecond: nothing about the status yet.
    for (const state of [offlineAt(-60_000), offlineAt(0)]) {
      expect(synthesizeEvents('c', state, synced, iso(0), {}).map((e) => e.type)).toEqual(['sync.completed']);
      expect(synthesizeEvents('c', state, { connection: { status: 'reauthorization_required' } }, iso(0), {})).toEqual([]);
    }
    // A millisecond later than the state's status: the correction is made, timed now.
    const [event] = synthesizeEvents('c', offlineAt(1), online, iso(0), {});
    expect(parse(event)).toMatchObject({ type: 'connection.status_changed', timestamp: iso(0), data: { status: 'online', previous_status: 'offline' } });
    expect(parse(synthesizeEvents('c', offlineAt(1), { connection: { status: 'reauthorization_required' } }, iso(0), {})[0])).toMatchObject({ type: 'connection.reauthorization_required' });
  });

  it('gives a correction an id of its own when the body pending under its id would be stale (made by an earlier release while the state was ahead)', () => {
    const ahead: ConnectionState = { ...healthy('c'), status: 'offline', statusAt: eventTimeFromMs(NOW + 60_000), statusEventId: 'wh_off' };
    // What an earlier release made at NOW: timed before the state's status, under the id the basis gives.
    const [old] = synthesizeEvents('c', { ...ahead, statusAt: undefined }, online, iso(0), {});
    const later = iso(-10 * 60_000);
    const [fresh] = synthesizeEvents('c', ahead, online, later, { [old.id]: old.body });
    expect(fresh.id).not.toBe(old.id);
    expect(parse(fresh)).toMatchObject({ type: 'connection.status_changed', timestamp: later });
    // Stable: the next run, with both pending, makes the same event again.
    expect(synthesizeEvents('c', ahead, online, iso(-15 * 60_000), { [old.id]: old.body, [fresh.id]: fresh.body })).toEqual([fresh]);
    // A pending body timed after the state's status is kept under its id, as always.
    const timely = { ...ahead, statusAt: eventTimeFromMs(NOW - 60_000) };
    const [made] = synthesizeEvents('c', timely, online, iso(0), {});
    expect(synthesizeEvents('c', timely, online, later, { [made.id]: made.body })).toEqual([made]);
    // An unreadable pending body is not taken for a timely one.
    expect(synthesizeEvents('c', ahead, online, later, { [old.id]: 'not json' })[0].id).toBe(fresh.id);
  });

  it("reads Makini's fail sync status as reauthorization required", () => {
    const [event] = synthesizeEvents('c', healthy('c'), { ...online, sync: sync('fail', '2026-11-22T05:59:00Z') }, iso(0), {});
    expect(parse(event)).toMatchObject({ type: 'connection.reauthorization_required', data: { reason: 'sync_status_fail' } });
    expect(synthesizeEvents('c', { ...healthy('c'), status: 'reauthorization_required' }, { ...online, sync: sync('fail', '2026-11-22T05:59:00Z') }, iso(0), {})).toEqual([]);
  });

  it('recovers online/offline changes, including recovery from reauthorization', () => {
    const [offline] = synthesizeEvents('c', healthy('c'), { connection: { status: 'offline' } }, iso(0), {});
    expect(parse(offline)).toMatchObject({ type: 'connection.status_changed', data: { status: 'offline', previous_status: 'online' } });
    const [back] = synthesizeEvents('c', { ...healthy('c'), status: 'reauthorization_required' }, online, iso(0), {});
    expect(parse(back)).toMatchObject({ type: 'connection.status_changed', data: { status: 'online' } });
  });

  it('recovers a newer completed (done, fulldone) or failed (error) sync, timed at sync_updated_at; inprogress says nothing', () => {
    for (const reported of ['done', 'fulldone']) {
      const [event] = synthesizeEvents('c', healthy('c'), { ...online, sync: sync(reported, '2026-11-22T05:59:00Z') }, iso(0), {});
      expect(parse(event)).toMatchObject({ type: 'sync.completed', timestamp: '2026-11-22T05:59:00.000000000Z', data: { sync_status: reported } });
    }
    const [failed] = synthesizeEvents('c', healthy('c'), { ...online, sync: sync('error', '2026-11-22T05:59:00Z') }, iso(0), {});
    expect(parse(failed)).toMatchObject({ type: 'sync.failed', data: { failed_at: '2026-11-22T05:59:00.000000000Z' } });
    expect(synthesizeEvents('c', healthy('c'), { ...online, sync: sync('inprogress', '2026-11-22T05:59:00Z') }, iso(0), {})).toEqual([]);
    expect(synthesizeEvents('c', healthy('c'), { ...online, sync: sync('done', iso(7_200_000)) }, iso(0), {})).toEqual([]); // older than the state's
  });

  it('treats a never-seen connection as unknown, and an unmapped status as no status claim', () => {
    expect(synthesizeEvents('c', undefined, online, iso(0), {}).map((e) => e.type)).toEqual(['connection.status_changed']);
    expect(synthesizeEvents('c', undefined, { reportedStatus: 'quarantined' }, iso(0), {})).toEqual([]);
  });

  it('gives connection.token_expiring one id per reason and token', () => {
    const a = tokenExpiringEvent('c', { reason: 'refresh_failed', expiresAt: 'A', refreshExpiresAt: 'R' }, iso(0), {});
    expect(tokenExpiringEvent('c', { reason: 'refresh_failed', expiresAt: 'A', refreshExpiresAt: 'R', error: 'other' }, iso(-60_000), {}).id).toBe(a.id);
    expect(tokenExpiringEvent('c', { reason: 'refresh_token_expiring', expiresAt: 'A', refreshExpiresAt: 'R' }, iso(0), {}).id).not.toBe(a.id);
    expect(tokenExpiringEvent('c', { reason: 'refresh_failed', expiresAt: 'B', refreshExpiresAt: 'R' }, iso(0), {}).id).not.toBe(a.id);
    expect(parse(a)).toMatchObject({ type: 'connection.token_expiring', data: { reason: 'refresh_failed', access_token_expires_at: 'A', refresh_token_expires_at: 'R' } });
  });
});

describe('mapping Makini values', () => {
  it('maps the documented sync_status values, case-insensitively, and nothing else', () => {
    expect(['inprogress', 'done', 'fulldone', 'error', 'fail', 'DONE', 'weird'].map((v) => mapSyncStatus(v, '2026-11-22T05:00:00Z')?.status)).toEqual([
      'in_progress',
      'completed',
      'completed',
      'failed',
      'credentials_invalid',
      'completed',
      undefined,
    ]);
  });

  it('maps connection status through the table; unknown values map to nothing', () => {
    expect(mapConnectionStatus('Active', DEFAULT_CONNECTION_STATUS_MAP)).toBe('online');
    expect(mapConnectionStatus('expired', DEFAULT_CONNECTION_STATUS_MAP)).toBe('reauthorization_required');
    expect(mapConnectionStatus('paused', ['paused=online'])).toBe('online');
    expect(mapConnectionStatus('quarantined', DEFAULT_CONNECTION_STATUS_MAP)).toBeUndefined();
    expect(mapConnectionStatus(undefined, DEFAULT_CONNECTION_STATUS_MAP)).toBeUndefined();
  });
});

describe('breaker without openedAt (threshold lowered after the record was written)', () => {
  it('is timed from the last poll, and probed at once without one: never open forever', () => {
    const over = record('x', { consecutiveFailures: 7, lastPolledAt: iso(60_000) });
    expect(breakerState(over, NOW, settings)).toBe('open');
    expect(breakerState(over, NOW + 10 * 60_000, settings)).toBe('half-open');
    expect(breakerState(record('x', { consecutiveFailures: 7 }), NOW, settings)).toBe('half-open');
  });

  it('skips deleted connections', () => {
    expect(selectConnections([{ connectionId: 'gone', poll: record('gone', { deletedAt: iso(0) }) }], NOW, { ...settings, pollAll: true })).toEqual([]);
  });
});

describe('selectConnections at its boundaries', () => {
  const ids = (candidates: Parameters<typeof selectConnections>[0]) => selectConnections(candidates, NOW, settings);

  it('polls a healthy connection only once it has been silent for longer than the expected window', () => {
    expect(ids([{ connectionId: 'edge', state: healthy('edge', 30 * 60_000) }])).toEqual([]);
    expect(ids([{ connectionId: 'past', state: healthy('past', 30 * 60_000 + 1) }])).toEqual([{ connectionId: 'past', probe: false }]);
  });

  it('polls a healthy connection whose last poll was not ok, and not one whose last poll was', () => {
    expect(ids([{ connectionId: 'ok', state: healthy('ok'), poll: record('ok', { lastPolledAt: iso(60_000), lastOutcome: 'ok' }) }])).toEqual([]);
    for (const lastOutcome of ['failed', 'unauthorized'] as const) {
      expect(ids([{ connectionId: 'c', state: healthy('c'), poll: record('c', { lastPolledAt: iso(60_000), lastOutcome }) }])).toEqual([{ connectionId: 'c', probe: false }]);
    }
  });

  it('does not count a request made at the very time of the last poll', () => {
    expect(ids([{ connectionId: 'same', state: healthy('same'), poll: record('same', { lastPolledAt: iso(60_000), pollRequestedAt: iso(60_000) }) }])).toEqual([]);
  });

  it('probes a half-open connection even when it is otherwise not due', () => {
    const halfOpen = record('h', { lastPolledAt: iso(11 * 60_000), openedAt: iso(11 * 60_000), consecutiveFailures: 3 });
    expect(ids([{ connectionId: 'h', state: healthy('h'), poll: halfOpen }])).toEqual([{ connectionId: 'h', probe: true }]);
  });
});

describe('recordPoll, field by field', () => {
  it('keeps lastError only when the poll had one', () => {
    expect(recordPoll(undefined, 'c', { outcome: 'failed', error: 'boom' }, NOW, settings)).toStrictEqual({ connectionId: 'c', lastPolledAt: iso(0), lastOutcome: 'failed', lastError: 'boom', consecutiveFailures: 1, pending: {} });
    expect(recordPoll(record('c', { lastError: 'boom' }), 'c', { outcome: 'ok' }, NOW, settings)).toStrictEqual({ connectionId: 'c', lastPolledAt: iso(0), lastOutcome: 'ok', consecutiveFailures: 0, pending: {} });
  });

  it('takes pending events from the poll, else from the previous record', () => {
    const previous = record('c', { pending: { old: 'body' } });
    expect(recordPoll(previous, 'c', { outcome: 'ok', pending: { fresh: 'body' } }, NOW, settings).pending).toEqual({ fresh: 'body' });
    expect(recordPoll(previous, 'c', { outcome: 'ok' }, NOW, settings).pending).toEqual({ old: 'body' });
  });

  it('takes the reported statuses from the poll, else keeps the previous ones, else has none', () => {
    const previous = record('c', { reportedStatus: 'active', reportedSyncStatus: 'done' });
    expect(recordPoll(previous, 'c', { outcome: 'ok', reportedStatus: 'inactive', reportedSyncStatus: 'error' }, NOW, settings)).toMatchObject({ reportedStatus: 'inactive', reportedSyncStatus: 'error' });
    expect(recordPoll(previous, 'c', { outcome: 'ok' }, NOW, settings)).toMatchObject({ reportedStatus: 'active', reportedSyncStatus: 'done' });
    expect(recordPoll(undefined, 'c', { outcome: 'ok', reportedStatus: 'active', reportedSyncStatus: 'done' }, NOW, settings)).toMatchObject({ reportedStatus: 'active', reportedSyncStatus: 'done' });
    for (const previous of [record('c'), undefined]) {
      const none = recordPoll(previous, 'c', { outcome: 'ok' }, NOW, settings);
      expect(Object.keys(none)).not.toContain('reportedStatus');
      expect(Object.keys(none)).not.toContain('reportedSyncStatus');
    }
  });
});

describe('recordDeleted', () => {
  it('marks a connection never polled as deleted, with an empty record', () => {
    expect(recordDeleted(undefined, 'c', NOW)).toStrictEqual({ pending: {}, consecutiveFailures: 0, connectionId: 'c', deletedAt: iso(0), openedAt: undefined });
  });

  it('keeps the history and pending events of a polled one, and closes its breaker', () => {
    const previous = record('c', { lastPolledAt: iso(60_000), lastOutcome: 'failed', consecutiveFailures: 4, openedAt: iso(60_000), pending: { p: 'body' } });
    expect(recordDeleted(previous, 'c', NOW)).toStrictEqual({ ...previous, deletedAt: iso(0), consecutiveFailures: 0, openedAt: undefined });
  });
});

describe('Makini’s answers, mapped', () => {
  it('maps a sync status only from a string it knows, trimmed', () => {
    expect(mapSyncStatus(5, '2026-11-22T05:00:00Z')).toBeUndefined();
    expect(mapSyncStatus('unheard_of', '2026-11-22T05:00:00Z')).toBeUndefined();
    expect(mapSyncStatus(' Done ', '2026-11-22T05:00:00Z')).toEqual({ status: 'completed', at: '2026-11-22T05:00:00.000000000Z', reported: ' Done ' });
  });

  it('matches a connection status and the table’s values with the spaces around them ignored', () => {
    expect(mapConnectionStatus(' Active ', [' active =online', 'inactive=offline'])).toBe('online');
  });
});

describe('synthesized events, field by field', () => {
  const parse = (e: { body: string }) => JSON.parse(e.body);
  const reauth: Observation = { connection: { status: 'reauthorization_required' } };

  it('names the reason a reauthorization was found, with Makini’s status only when it gave one', () => {
    const [event] = synthesizeEvents('c', undefined, reauth, iso(0), {});
    expect(parse(event).data).toStrictEqual({ reason: 'reported_by_connection_status', observed_by: 'poll' });
    const [withStatus] = synthesizeEvents('c', undefined, { ...reauth, reportedStatus: 'expired' }, iso(0), {});
    expect(parse(withStatus).data).toStrictEqual({ reason: 'reported_by_connection_status', makini_status: 'expired', observed_by: 'poll' });
  });

  it('gives a status change Makini’s status only when it gave one', () => {
    const offline: Observation = { connection: { status: 'offline' } };
    expect(parse(synthesizeEvents('c', healthy('c'), offline, iso(0), {})[0]).data).toStrictEqual({ status: 'offline', previous_status: 'online', observed_by: 'poll' });
    expect(parse(synthesizeEvents('c', healthy('c'), { ...offline, reportedStatus: 'inactive' }, iso(0), {})[0]).data).toStrictEqual({ status: 'offline', previous_status: 'online', makini_status: 'inactive', observed_by: 'poll' });
  });

  it('bases an id on the state event it corrects, as a 32-digit hash', () => {
    for (const observation of [reauth, { connection: { status: 'offline' } } as Observation]) {
      const [a] = synthesizeEvents('c', { ...healthy('c'), statusEventId: 'evt_1' }, observation, iso(0), {});
      const [b] = synthesizeEvents('c', { ...healthy('c'), statusEventId: 'evt_2' }, observation, iso(0), {});
      expect(a.id).toMatch(/^poll_[0-9a-f]{32}$/);
      expect(a.id).not.toBe(b.id);
    }
  });

  it('gives connection.token_expiring another id per refresh token expiry, and the error only when there was one', () => {
    const a = tokenExpiringEvent('c', { reason: 'refresh_token_expiring', refreshExpiresAt: 'R1' }, iso(0), {});
    expect(tokenExpiringEvent('c', { reason: 'refresh_token_expiring', refreshExpiresAt: 'R2' }, iso(0), {}).id).not.toBe(a.id);
    expect(parse(a).data).toStrictEqual({ reason: 'refresh_token_expiring', refresh_token_expires_at: 'R1', observed_by: 'poll' });
    expect(parse(tokenExpiringEvent('c', { reason: 'refresh_failed', error: 'HTTP 500' }, iso(0), {})).data).toStrictEqual({ reason: 'refresh_failed', error: 'HTTP 500', observed_by: 'poll' });
  });
});
