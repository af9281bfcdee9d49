/**
 * The polling fallback, free of AWS and HTTP: which connections to poll, what Makini's answers mean
 * for each, and a per-connection circuit breaker.
 *
 * What a poll finds is turned into ordinary Makini events (source `poll`) and queued like webhooks,
 * so deduplication and ordering apply to them exactly as to webhooks.
 */
import { createHash } from 'node:crypto';
import type { ConnectionState } from './connection-state';
import { parseEventTime } from './event-time';

/** What Makini's connection-status and sync-status endpoints said about one connection. */
export interface Observation {
  readonly connection: { readonly status: 'online' | 'offline'; readonly reauthorizationRequired: boolean };
  readonly sync?: {
    readonly status: 'in_progress' | 'completed' | 'failed';
    readonly lastSuccessfulSyncAt?: string;
    /** When the latest sync attempt (successful or not) happened. */
    readonly lastSyncAt?: string;
    readonly errors?: readonly unknown[];
    readonly nextScheduledSyncAt?: string;
  };
}

export type PollOutcome = 'ok' | 'unauthorized' | 'failed';

/** What the poller remembers about a connection, next to its state. */
export interface PollRecord {
  readonly connectionId: string;
  readonly lastPolledAt?: string;
  readonly lastOutcome?: PollOutcome;
  readonly lastError?: string;
  readonly consecutiveFailures: number;
  /** When the breaker last opened (ISO); set while consecutiveFailures ≥ the threshold. */
  readonly openedAt?: string;
  /**
   * Events synthesized by earlier polls, by id, whose effect the state does not show yet. Reusing
   * their bodies keeps one id bound to one body, so the consumer deduplicates repeats.
   */
  readonly pending: Readonly<Record<string, string>>;
  /**
   * When a `connections.*` notification named this connection (set by the consumer, never by the
   * poller). A request newer than `lastPolledAt` makes the connection due, ahead of the others.
   */
  readonly pollRequestedAt?: string;
}

export interface PollSettings {
  readonly pollAll: boolean;
  readonly expectedWindowMs: number;
  readonly breakerFailureThreshold: number;
  readonly breakerCooldownMs: number;
}

export interface Candidate {
  readonly connectionId: string;
  readonly state?: ConnectionState;
  readonly poll?: PollRecord;
}

/**
 * The connections to poll now: those a notification asked for first, then the least recently
 * polled (never polled before all others), so that runs cut short by their time budget still cover
 * every connection over successive runs.
 *
 * @example
 * const due = selectConnections(candidates, Date.now(), settings);
 */
export function selectConnections(candidates: readonly Candidate[], now: number, settings: PollSettings): { connectionId: string; probe: boolean }[] {
  return candidates
    .flatMap((c) => {
      const breaker = breakerState(c.poll, now, settings);
      if (breaker === 'open') return [];
      if (breaker === 'half-open' || settings.pollAll || isDue(c, now, settings)) return [{ c, probe: breaker === 'half-open' }];
      return [];
    })
    .sort(
      (a, b) =>
        Number(isRequested(b.c.poll)) - Number(isRequested(a.c.poll)) ||
        (a.c.poll?.lastPolledAt ?? '').localeCompare(b.c.poll?.lastPolledAt ?? '') ||
        a.c.connectionId.localeCompare(b.c.connectionId),
    )
    .map(({ c, probe }) => ({ connectionId: c.connectionId, probe }));
}

/** A poll was requested after the last one. */
const isRequested = (poll: PollRecord | undefined): boolean => !!poll?.pollRequestedAt && (!poll.lastPolledAt || poll.pollRequestedAt > poll.lastPolledAt);

function isDue({ state, poll }: Candidate, now: number, settings: PollSettings): boolean {
  if (!state || isRequested(poll)) return true; // never seen, or asked for
  if (state.status !== 'online' || state.lastSyncStatus === 'failed') return true; // unhealthy or unknown
  if (poll?.lastOutcome && poll.lastOutcome !== 'ok') return true;
  return !state.lastWebhookAt || now - Date.parse(state.lastWebhookAt) > settings.expectedWindowMs; // silent
}

/** `open` skips the connection; `half-open` allows one probe once the cool-down has passed. */
export function breakerState(poll: PollRecord | undefined, now: number, settings: PollSettings): 'closed' | 'open' | 'half-open' {
  if (!poll || poll.consecutiveFailures < settings.breakerFailureThreshold) return 'closed';
  return poll.openedAt && now - Date.parse(poll.openedAt) >= settings.breakerCooldownMs ? 'half-open' : 'open';
}

/**
 * The record after a poll. A failed half-open probe re-opens the breaker for another cool-down; a
 * definite answer (`ok`, or `unauthorized`, which is a finding, not a fault) closes it.
 */
export function recordPoll(
  previous: PollRecord | undefined,
  connectionId: string,
  result: { outcome: PollOutcome; error?: string; pending?: Readonly<Record<string, string>> },
  now: number,
  settings: PollSettings,
): PollRecord {
  const failures = result.outcome === 'failed' ? (previous?.consecutiveFailures ?? 0) + 1 : 0;
  const opens = failures >= settings.breakerFailureThreshold;
  return {
    connectionId,
    lastPolledAt: new Date(now).toISOString(),
    lastOutcome: result.outcome,
    ...(result.error && { lastError: result.error }),
    consecutiveFailures: failures,
    ...(opens && { openedAt: new Date(now).toISOString() }),
    pending: result.pending ?? previous?.pending ?? {},
  };
}

/** A Makini-format event body the poller queues, and its id. */
export interface SynthesizedEvent {
  readonly id: string;
  readonly type: string;
  readonly body: string;
}

/**
 * The events that make the stored state agree with what Makini reports: reauthorization required,
 * online/offline, a newer successful sync, a newer failed sync. Nothing when they already agree.
 *
 * An event's id depends only on the connection, what was observed and the state it corrects, so
 * polling an unchanged situation again yields the same ids, and (through `pending`) the same bodies.
 *
 * @example
 * const events = synthesizeEvents('conn_1', state, observation, new Date().toISOString(), record?.pending ?? {});
 */
export function synthesizeEvents(
  connectionId: string,
  state: ConnectionState | undefined,
  observation: Observation,
  nowIso: string,
  pending: Readonly<Record<string, string>>,
): SynthesizedEvent[] {
  const wanted: { type: string; basis: string; timestamp: string; data: Record<string, unknown> }[] = [];
  const status = state?.status ?? 'unknown';
  const { connection, sync } = observation;

  if (connection.reauthorizationRequired) {
    if (status !== 'reauthorization_required') {
      wanted.push({ type: 'connection.reauthorization_required', basis: `reauth|${state?.statusEventId ?? ''}`, timestamp: nowIso, data: { reason: 'reported_by_connection_status' } });
    }
  } else if (connection.status !== status) {
    wanted.push({ type: 'connection.status_changed', basis: `${connection.status}|${state?.statusEventId ?? ''}`, timestamp: nowIso, data: { status: connection.status, previous_status: status } });
  }
  const lastSync = state?.lastSyncAt;
  const success = sync?.lastSuccessfulSyncAt && normalise(sync.lastSuccessfulSyncAt);
  if (success && (!lastSync || success > lastSync)) {
    wanted.push({ type: 'sync.completed', basis: `completed|${success}`, timestamp: success, data: { status: 'completed', completed_at: success, ...(sync?.nextScheduledSyncAt && { next_scheduled_sync: sync.nextScheduledSyncAt }) } });
  }
  const attempt = sync?.status === 'failed' && sync.lastSyncAt ? normalise(sync.lastSyncAt) : undefined;
  if (attempt && (!lastSync || attempt > lastSync) && (!success || attempt > success)) {
    wanted.push({ type: 'sync.failed', basis: `failed|${attempt}`, timestamp: attempt, data: { status: 'failed', failed_at: attempt, errors: sync?.errors ?? [] } });
  }

  return wanted.map(({ type, basis, timestamp, data }) => {
    const id = `poll_${createHash('sha256').update(`${connectionId}|${type}|${basis}`).digest('hex').slice(0, 32)}`;
    const body = pending[id] ?? JSON.stringify({ id, type, timestamp, connection_id: connectionId, data: { ...data, observed_by: 'poll' } });
    return { id, type, body };
  });
}

/** Times in the event-time form, the one the connection state keeps, so they compare as strings. */
function normalise(time: string): string | undefined {
  return parseEventTime(time);
}
