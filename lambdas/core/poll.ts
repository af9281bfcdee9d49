/**
 * The polling fallback, free of AWS and HTTP: which connections to poll, what Makini's answers mean
 * for each, and a per-connection circuit breaker.
 *
 * What a poll finds is turned into ordinary Makini events (source `poll`) and queued like webhooks,
 * so deduplication and ordering apply to them exactly as to webhooks.
 */
import { createHash } from 'node:crypto';
import type { ConnectionState } from './connection-state';
import { InvalidPollShardError } from './errors';
import { parseEventTime } from './event-time';

/** A connection status the state understands, read from Makini's `status` through the configured table. */
export type ObservedStatus = 'online' | 'offline' | 'reauthorization_required';

/** What Makini said about one connection: its status (system mode's list) and its sync (`/api/integrations/current`). */
export interface Observation {
  /** Absent when nothing was said about the status, or Makini's value is not in the table. */
  readonly connection?: { readonly status: ObservedStatus };
  /** Makini's `status` as it was, mapped or not. */
  readonly reportedStatus?: string;
  readonly sync?: {
    /** `credentials_invalid` is Makini's `fail`: invalid platform credentials. */
    readonly status: 'in_progress' | 'completed' | 'failed' | 'credentials_invalid';
    /** Makini's `sync_updated_at`, in the event-time form. */
    readonly at?: string;
    /** Makini's `sync_status` as it was. */
    readonly reported: string;
  };
  /** Makini's `sync_status` as it was, documented or not (an undocumented one makes no `sync` claim). */
  readonly reportedSyncStatus?: string;
}

/**
 * Makini's documented `sync_status` values (oas3_system.json): `inprogress`, `done` and `fulldone`
 * (completed), `error` (failed), `fail` (invalid platform credentials). Others: no sync claim.
 *
 * @example
 * mapSyncStatus('fulldone', '2026-01-01T00:00:00Z'); // { status: 'completed', at: '2026-01-01T00:00:00.000000000Z', reported: 'fulldone' }
 */
export function mapSyncStatus(reported: unknown, updatedAt: unknown): Observation['sync'] {
  if (typeof reported !== 'string') return undefined;
  const status = ({ inprogress: 'in_progress', done: 'completed', fulldone: 'completed', error: 'failed', fail: 'credentials_invalid' } as const)[reported.trim().toLowerCase()];
  if (!status) return undefined;
  const at = parseEventTime(updatedAt);
  return { status, ...(at && { at }), reported };
}

/**
 * Makini's connection `status` through the `value=meaning` table (`connectionStatusMap`),
 * case-insensitively; undefined for a value not in it, which the caller keeps verbatim.
 */
export function mapConnectionStatus(reported: unknown, table: readonly string[]): ObservedStatus | undefined {
  if (typeof reported !== 'string') return undefined;
  const wanted = reported.trim().toLowerCase();
  for (const entry of table) {
    const at = entry.lastIndexOf('=');
    if (entry.slice(0, at).trim().toLowerCase() === wanted) return entry.slice(at + 1) as ObservedStatus;
  }
  return undefined;
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
  /** When the connection left Makini's list (or its token endpoint answered 404): no longer polled or alarmed on. */
  readonly deletedAt?: string;
  /** Makini's connection `status` and `sync_status` at the last poll, verbatim. */
  readonly reportedStatus?: string;
  readonly reportedSyncStatus?: string;
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
      if (c.poll?.deletedAt) return [];
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

/**
 * `open` skips the connection; `half-open` allows one probe once the cool-down has passed. A record
 * at or over the threshold without `openedAt` (written under a higher threshold, since lowered) is
 * timed from its last poll, or probed at once: no record stays open forever.
 */
export function breakerState(poll: PollRecord | undefined, now: number, settings: PollSettings): 'closed' | 'open' | 'half-open' {
  if (!poll || poll.consecutiveFailures < settings.breakerFailureThreshold) return 'closed';
  const opened = Date.parse(poll.openedAt ?? poll.lastPolledAt ?? '');
  return Number.isNaN(opened) || now - opened >= settings.breakerCooldownMs ? 'half-open' : 'open';
}

/**
 * The record after a poll. A failed half-open probe re-opens the breaker for another cool-down; a
 * definite answer (`ok`, or `unauthorized`, which is a finding, not a fault) closes it.
 */
export function recordPoll(
  previous: PollRecord | undefined,
  connectionId: string,
  result: { outcome: PollOutcome; error?: string; pending?: Readonly<Record<string, string>>; reportedStatus?: string; reportedSyncStatus?: string },
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
    ...((result.reportedStatus ?? previous?.reportedStatus) !== undefined && { reportedStatus: result.reportedStatus ?? previous?.reportedStatus }),
    ...((result.reportedSyncStatus ?? previous?.reportedSyncStatus) !== undefined && { reportedSyncStatus: result.reportedSyncStatus ?? previous?.reportedSyncStatus }),
  };
}

/** The record of a connection Makini no longer has: history and pending events stay, polling stops. */
export function recordDeleted(previous: PollRecord | undefined, connectionId: string, now: number): PollRecord {
  return { ...(previous ?? { pending: {}, consecutiveFailures: 0 }), connectionId, deletedAt: new Date(now).toISOString(), consecutiveFailures: 0, openedAt: undefined };
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
 * A status event is timed `nowIso`; none is made while the state's status is timed at or after it.
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
  const wanted: Wanted[] = [];
  const status = state?.status ?? 'unknown';
  const { connection, sync } = observation;
  // A status event is timed when it is observed. When the state's status was set by an event timed
  // at or after that (its sender's clock runs ahead of ours), the event would be stale; and since
  // its id depends only on what it corrects, every later run would send the same stale body again,
  // which the consumer deduplicates: the state would never catch up. So no status event is made
  // until our clock has passed the state's.
  const observedAt = parseEventTime(nowIso);
  const statusAhead = state?.statusAt !== undefined && observedAt !== undefined && state.statusAt >= observedAt;

  if (statusAhead) {
    // The status waits for a later run (the sync below does not: its events carry Makini's own time).
  } else if (connection?.status === 'reauthorization_required' || sync?.status === 'credentials_invalid') {
    if (status !== 'reauthorization_required') {
      const reason = sync?.status === 'credentials_invalid' ? 'sync_status_fail' : 'reported_by_connection_status';
      wanted.push({ type: 'connection.reauthorization_required', basis: `reauth|${state?.statusEventId ?? ''}`, timestamp: nowIso, after: state?.statusAt, data: { reason, ...(observation.reportedStatus && { makini_status: observation.reportedStatus }) } });
    }
  } else if (connection && connection.status !== status) {
    wanted.push({ type: 'connection.status_changed', basis: `${connection.status}|${state?.statusEventId ?? ''}`, timestamp: nowIso, after: state?.statusAt, data: { status: connection.status, previous_status: status, ...(observation.reportedStatus && { makini_status: observation.reportedStatus }) } });
  }
  const lastSync = state?.lastSyncAt;
  const at = sync?.at;
  if (at && (!lastSync || at > lastSync)) {
    if (sync.status === 'completed') wanted.push({ type: 'sync.completed', basis: `completed|${at}`, timestamp: at, data: { status: 'completed', completed_at: at, sync_status: sync.reported } });
    if (sync.status === 'failed') wanted.push({ type: 'sync.failed', basis: `failed|${at}`, timestamp: at, data: { status: 'failed', failed_at: at, sync_status: sync.reported } });
  }
  return wanted.map((w) => synthesize(connectionId, w, pending));
}

interface Wanted {
  readonly type: string;
  /** What the event's id depends on, besides the connection and type. */
  readonly basis: string;
  readonly timestamp: string;
  readonly data: Record<string, unknown>;
  /** A status event's: the state's `statusAt`, which its body must be timed after to change anything. */
  readonly after?: string;
}

/**
 * The event's id from what it depends on; its body from `pending` when an earlier run already made
 * one under that id (a re-observation merges into it rather than changing the body under the id).
 * A pending body timed at or before `after` would be stale (an earlier release made such bodies while
 * the state's status was timed ahead of our clock): the event then gets an id of its own, `after` in
 * its basis, and a body timed now.
 */
function synthesize(connectionId: string, { type, basis, timestamp, data, after }: Wanted, pending: Readonly<Record<string, string>>): SynthesizedEvent {
  const idOf = (b: string) => `poll_${createHash('sha256').update(`${connectionId}|${type}|${b}`).digest('hex').slice(0, 32)}`;
  const first = idOf(basis);
  const id = after !== undefined && pending[first] !== undefined && !timedAfter(pending[first], after) ? idOf(`${basis}|${after}`) : first;
  const body = pending[id] ?? JSON.stringify({ id, type, timestamp, connection_id: connectionId, data: { ...data, observed_by: 'poll' } });
  return { id, type, body };
}

/** Whether a synthesized body's `timestamp` is later than `after` (an event time). */
function timedAfter(body: string, after: string): boolean {
  let timestamp: unknown;
  try {
    timestamp = (JSON.parse(body) as { timestamp?: unknown }).timestamp;
  } catch {
    return false;
  }
  const at = parseEventTime(timestamp);
  return at !== undefined && at > after;
}

/**
 * `connection.token_expiring`: the proactive notice Makini recommends before a connection's tokens
 * run out, because a refresh failed or the refresh token itself is about to expire. One id per
 * reason and token, so repeated runs add nothing until the token changes.
 */
export function tokenExpiringEvent(
  connectionId: string,
  notice: { reason: 'refresh_failed' | 'refresh_token_expiring' | 'access_token_expiring'; expiresAt?: string; refreshExpiresAt?: string; error?: string },
  nowIso: string,
  pending: Readonly<Record<string, string>>,
): SynthesizedEvent {
  const { reason, expiresAt, refreshExpiresAt, error } = notice;
  return synthesize(
    connectionId,
    {
      type: 'connection.token_expiring',
      basis: `${reason}|${expiresAt ?? ''}|${refreshExpiresAt ?? ''}`,
      timestamp: nowIso,
      data: { reason, ...(expiresAt && { access_token_expires_at: expiresAt }), ...(refreshExpiresAt && { refresh_token_expires_at: refreshExpiresAt }), ...(error && { error }) },
    },
    pending,
  );
}

/**
 * One shard of a fanned-out run (system mode): due connections a worker invocation polls, in the
 * order `selectConnections` chose. `listed` says whether Makini listed the connection this run
 * (one that left the list is polled to confirm it is gone); `status` is the listed status.
 */
export interface PollShard {
  /** The run that listed and selected these connections (holding the poll lease until its window ends). */
  readonly runId: string;
  /** Epoch ms after which the worker starts no poll: the run's window, less the reserve for polls in flight. */
  readonly notAfter: number;
  readonly connections: readonly ShardConnection[];
}

export interface ShardConnection {
  readonly id: string;
  readonly listed: boolean;
  readonly status?: string;
}

/**
 * Splits due connections, in order, into shards of at most `size` entries whose JSON stays under
 * `maxBytes` (a shard travels as one queue message), so the least recently polled go out first.
 *
 * @example
 * splitShards(due, 2_000, 200_000); // [[…2,000], [… the rest]]
 */
export function splitShards(connections: readonly ShardConnection[], size: number, maxBytes: number): ShardConnection[][] {
  const shards: ShardConnection[][] = [];
  let current: ShardConnection[] = [];
  let bytes = 0;
  for (const connection of connections) {
    const entry = Buffer.byteLength(JSON.stringify(connection)) + 1;
    if (current.length > 0 && (current.length >= size || bytes + entry > maxBytes)) {
      shards.push(current);
      current = [];
      bytes = 0;
    }
    current.push(connection);
    bytes += entry;
  }
  if (current.length > 0) shards.push(current);
  return shards;
}

/**
 * Reads a shard message, refusing anything else (the queue is the poller's own, but a message is
 * input like any other).
 *
 * @example
 * const shard = parsePollShard(record.body);
 */
export function parsePollShard(body: string): PollShard {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    throw new InvalidPollShardError('not JSON');
  }
  const shard = value as Partial<PollShard> | null;
  if (!shard || typeof shard !== 'object') throw new InvalidPollShardError('not an object');
  if (typeof shard.runId !== 'string' || shard.runId === '') throw new InvalidPollShardError('runId must be a non-empty string');
  if (typeof shard.notAfter !== 'number' || !Number.isFinite(shard.notAfter)) throw new InvalidPollShardError('notAfter must be a number (epoch ms)');
  if (!Array.isArray(shard.connections)) throw new InvalidPollShardError('connections must be a list');
  const connections = shard.connections.map((c: Partial<ShardConnection> | null, i): ShardConnection => {
    if (!c || typeof c.id !== 'string' || c.id === '' || typeof c.listed !== 'boolean' || (c.status !== undefined && typeof c.status !== 'string')) {
      throw new InvalidPollShardError(`connections[${i}] must be {id, listed, status?}`);
    }
    return { id: c.id, listed: c.listed, ...(c.status !== undefined && { status: c.status }) };
  });
  return { runId: shard.runId, notAfter: shard.notAfter, connections };
}

/**
 * The event a fanned-out run starts each worker invocation with (asynchronously, itself): the
 * worker then takes shards from the poll shard queue, one at a time, until the queue is empty or its
 * time runs out. Workers pull rather than being pushed to by an SQS event-source mapping because a
 * mapping long-polls its queue all month whether or not a run ever fans out (about $0.26 a month
 * idle, docs/cost.md); a queue nobody polls costs nothing.
 */
export interface PollWorkerEvent {
  /** `notAfter`: the run's window less the reserve (epoch ms), after which the worker takes no shard and starts no successor. */
  readonly pollWorker: { readonly runId: string; readonly notAfter: number };
}

/**
 * Whether an invocation's event is a worker's (see {@link PollWorkerEvent}); anything else is a run.
 *
 * @example
 * isPollWorkerEvent({ pollWorker: { runId: 'poll-1', notAfter: 1_764_000_000_000 } }); // true
 * isPollWorkerEvent({}); // false (the schedule's event: a run)
 */
export function isPollWorkerEvent(event: unknown): event is PollWorkerEvent {
  if (typeof event !== 'object' || event === null) return false;
  const worker = (event as Partial<PollWorkerEvent>).pollWorker;
  return typeof worker === 'object' && worker !== null && typeof worker.runId === 'string' && typeof worker.notAfter === 'number' && Number.isFinite(worker.notAfter);
}
