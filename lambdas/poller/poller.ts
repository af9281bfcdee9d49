/**
 * The poller: on a schedule, ask Makini about the connections that need it, and queue whatever the
 * webhooks missed as ordinary events (source `poll`), where dedup and ordering treat them exactly
 * like webhooks.
 *
 * Two ways to reach Makini (docs/makini-wire-format.md):
 * - **system** (Makini's client credentials in one secret): list every connection with its
 *   `status`, then per polled connection issue a short-lived connection token and read
 *   `/api/integrations/current`. Connections appear and leave by themselves.
 * - **per-connection** (one secret per connection with its OAuth pair): refresh pairs before they
 *   expire, write them back, and read `/api/integrations/current` with each.
 *
 * `pollRun` reads as one run: find the connections, load what we know, choose whom to poll (asked
 * for first, then least recently polled), poll them a few at a time until the time budget runs out,
 * record every outcome. What it does not reach this run comes first in the next.
 *
 * Fan-out (system mode, with a shard queue): a run with more due connections than `shardSize` polls
 * none itself. It puts them, in the chosen order, in shards on the poll shard queue, starts
 * `pollShardConcurrency` worker invocations of this same function (asynchronously), and keeps the
 * poll lease until its window ends (the poll interval). Each worker takes shards from the queue one
 * at a time until it is empty, polling each under its own time budget and starting no poll after the
 * window less the reserve, so every poll of the run has finished before the lease lets the next run
 * in. A shard that cannot be polled goes to the poll dead-letter queue (the queue's redrive policy).
 */
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { configFromEnv, pollRunReserveMs, requireEnv, RESOURCE_ENV, type MakiniWebhookConfig, type PollMode } from '../config/config';
import { BACKGROUND_CLIENT_CONFIG } from '../adapters/aws-client-config';
import { DynamoDbEventStore, eventStoreOptions } from '../adapters/dynamodb-event-store';
import { MakiniApiClient, type ClientCredentials, type CurrentIntegration, type MakiniConnection } from '../adapters/makini-api-client';
import { createLogger, withPowertools } from '../adapters/powertools';
import { connectionTokenStores } from '../adapters/connection-token-stores';
import { SecretsManagerClientCredentials, type StoredConnectionToken, type TokenDiscovery } from '../adapters/secrets-manager-connection-tokens';
import { invokeClientConfig, LambdaPollWorkers, type PollWorkers } from '../adapters/lambda-poll-workers';
import { SqsPollShardQueue, type PollShardQueue } from '../adapters/sqs-poll-shard-queue';
import { SqsWebhookQueue } from '../adapters/sqs-webhook-queue';
import { tokenDue, tokenFromResponse, type TokenResponse } from '../core/connection-secret';
import { encodeEnvelope } from '../core/envelope';
import { InvalidPollShardError, MakiniApiError, MakiniAuthError } from '../core/errors';
import {
  breakerState,
  isPollWorkerEvent,
  mapConnectionStatus,
  parsePollShard,
  recordDeleted,
  recordPoll,
  selectConnections,
  splitShards,
  synthesizeEvents,
  tokenExpiringEvent,
  type Candidate,
  type Observation,
  type PollOutcome,
  type PollRecord,
  type PollSettings,
  type PollShard,
  type PollWorkerEvent,
  type ShardConnection,
  type SynthesizedEvent,
} from '../core/poll';
import type { WebhookQueue } from '../core/receive';
import { within } from '../core/within';

export const POLLER_METRICS = {
  polled: 'ConnectionsPolled',
  failed: 'PollFailed',
  recovered: 'MissedEventRecovered',
  needingReauth: 'ConnectionsNeedingReauth',
  stale: 'StaleConnections',
  refreshed: 'TokensRefreshed',
  refreshFailed: 'TokenRefreshFailed',
  expiring: 'RefreshTokenExpiring',
  deleted: 'ConnectionsDeleted',
  unknownStatus: 'UnknownConnectionStatus',
} as const;

export interface PollerDeps {
  /** System mode: Makini's client credentials, or undefined when they are not configured. */
  readonly credentials: { read(): Promise<ClientCredentials | undefined>; forget?(): void };
  /** Per-connection mode: the token secrets. */
  readonly tokens: { discover(): Promise<TokenDiscovery>; writeBack(token: StoredConnectionToken, replacing: StoredConnectionToken): Promise<void>; forget(): void };
  readonly store: {
    loadCandidates(ids: readonly string[]): Promise<Candidate[]>;
    savePollRecord(record: PollRecord): Promise<void>;
    listPolledConnectionIds(): Promise<string[]>;
    acquirePollLease(owner: string, now: number, until: number): Promise<boolean>;
    releasePollLease(owner: string): Promise<void>;
  };
  readonly api: {
    listConnections(credentials: ClientCredentials): Promise<MakiniConnection[]>;
    issueConnectionToken(credentials: ClientCredentials, key: string, expiresInSeconds: number): Promise<{ token: string; expiresAt?: string }>;
    currentIntegration(token: string): Promise<CurrentIntegration>;
    refreshToken(refreshToken: string): Promise<TokenResponse>;
  };
  readonly queue: WebhookQueue;
  /** System mode fan-out: where shards go (the poll shard queue) and who polls them; absent, a run polls everything itself. */
  readonly fanOut?: { readonly shards: PollShardQueue; readonly workers: PollWorkers };
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** `budgetMs`: how long a run may start polls; `reserveMs`: kept free before the Lambda timeout. */
  readonly settings: PollerSettings;
  readonly now?: () => number;
}

export interface PollerSettings extends PollSettings {
  readonly mode: PollMode;
  readonly concurrency: number;
  readonly budgetMs: number;
  readonly reserveMs: number;
  /** More due connections than this are handed to workers, this many per shard (with a shard queue). */
  readonly shardSize: number;
  /** Worker invocations a fanned-out run starts (fewer when it has fewer shards). */
  readonly shardConcurrency: number;
  /** How long a fanned-out run holds the lease (the poll interval less a margin): its workers start no poll after it less `reserveMs`. */
  readonly windowMs: number;
  readonly statusMap: readonly string[];
  readonly connectionTokenSeconds: number;
  readonly refreshMarginMs: number;
  readonly warningMs: number;
  /** Named in errors when system mode is required but its secret is missing. */
  readonly credentialsSecret: string;
}

export interface PollRunSummary {
  readonly mode: 'system' | 'per-connection';
  readonly connections: number;
  readonly due: number;
  readonly polled: number;
  readonly failed: number;
  readonly unauthorized: number;
  readonly recovered: number;
  /** Due connections left for the next run because the time budget ran out. */
  readonly deferred: number;
  readonly peakConcurrency: number;
  /** Connections found gone this run (left Makini's list, or 404). */
  readonly deleted: number;
  readonly tokensRefreshed: number;
  readonly tokenRefreshFailed: number;
  readonly tokensExpiring: number;
  /** A run: shards handed to workers (their `due` connections are polled there, not counted here). A worker: shards it polled. */
  readonly shards?: number;
  /** A worker: shards it could not read or poll, sent to the poll dead-letter queue. */
  readonly failedShards?: number;
  /** A worker: its time ran out inside the run's window, so it started a successor. */
  readonly handedOn?: boolean;
  /** A worker: connections of a shard it ran out of time for, put back on the queue as a shard for its successor. */
  readonly requeued?: number;
  /** Set when another run held the lease, so this one polled nothing (its counts are zeros, and its mode is not read). */
  readonly skipped?: 'another poll run is in progress';
}

/** One connection to poll and how to reach it. */
interface Target {
  readonly connectionId: string;
  /** System mode: the connection as Makini lists it (absent: not in this run's list). */
  readonly listed?: MakiniConnection;
  /** Per-connection mode: its tokens. */
  readonly token?: StoredConnectionToken;
  /**
   * Per-connection mode, when `token` came from a cached list: the stored pair read again (once per
   * run for all connections), for a refresh after Makini refused the access token; undefined when it
   * could not be read by `until` (epoch ms).
   */
  readonly readAgain?: (until: number) => Promise<StoredConnectionToken | undefined>;
}

/** The connection token endpoint answered 404: the connection is gone. */
class ConnectionGone extends Error {}

/** `connection.token_expiring` reasons noted while polling one connection. */
type Notice = Parameters<typeof tokenExpiringEvent>[1];

/** Largest shard message body: within SQS's 256 KiB of old (the queue takes 1 MiB), and 4 of the 64-KB chunks SQS bills a message by. */
const SHARD_MAX_BYTES = 200_000;
/** Shard messages sent at the same time. */
const SHARD_SENDS_IN_FLIGHT = 8;

type Counts = ReturnType<typeof newCounts>;
const newCounts = () => ({ polled: 0, failed: 0, unauthorized: 0, recovered: 0, inFlight: 0, peak: 0, deleted: 0, refreshed: 0, refreshFailed: 0, expiring: 0, unknownStatus: 0 });

/**
 * One entry point for both invocations: the schedule's (or `poll now`'s) run, and a worker started
 * by a fanned-out run, which drains the poll shard queue.
 *
 * @example
 * const run = createPoller(deps);
 * const summary = await run({}, context);
 */
export function createPoller(deps: PollerDeps) {
  const now = deps.now ?? Date.now;
  const { settings } = deps;
  return async function pollRun(event: unknown, context?: Context): Promise<PollRunSummary> {
    const started = now();
    const budgetMs = Math.min(settings.budgetMs, context ? context.getRemainingTimeInMillis() - settings.reserveMs : Number.POSITIVE_INFINITY);
    if (isPollWorkerEvent(event)) return drainShards(deps.fanOut?.shards, event.pollWorker, started + budgetMs);
    const runId = `poll-${randomUUID()}`;
    // A run that may fan out holds the lease for its whole window: its workers poll until then.
    const leaseUntil = started + Math.max(budgetMs + settings.reserveMs, deps.fanOut ? settings.windowMs : 0);
    if (!(await deps.store.acquirePollLease(runId, started, leaseUntil))) {
      deps.logger.warn('another poll run is in progress; this one polls nothing', { runId });
      return { ...EMPTY_SUMMARY, skipped: 'another poll run is in progress' };
    }
    const fanOut = { started: false };
    try {
      return await run(started, started + budgetMs, runId, leaseUntil - settings.reserveMs, fanOut);
    } finally {
      // Once a shard may be out, the lease stays until the window ends: the workers are the run.
      if (!fanOut.started) await deps.store.releasePollLease(runId);
    }
  };

  async function run(started: number, deadline: number, runId: string, shardsNotAfter: number, fanOut: { started: boolean }): Promise<PollRunSummary> {
    const counts = newCounts();

    const credentials = settings.mode === 'per-connection' ? undefined : await deps.credentials.read();
    if (settings.mode === 'system' && !credentials) throw new Error(`pollMode is system, but the secret ${settings.credentialsSecret} does not exist`);
    const mode = credentials ? 'system' : 'per-connection';

    const targets = new Map<string, Target>();
    if (credentials) {
      let listed: MakiniConnection[];
      try {
        listed = await deps.api.listConnections(credentials);
      } catch (error) {
        // Refused credentials: read the secret again next run, so a corrected one is taken at once.
        if (error instanceof MakiniAuthError) deps.credentials.forget?.();
        throw error;
      }
      for (const connection of listed) targets.set(connection.key, { connectionId: connection.key, listed: connection });
      // Known before and not listed now: confirmed gone (404) below, or polled like the rest.
      for (const id of await deps.store.listPolledConnectionIds()) if (!targets.has(id)) targets.set(id, { connectionId: id });
    } else {
      let discovery = await deps.tokens.discover();
      // Another container may have refreshed a pair since this one cached the list; with Makini
      // rotating refresh tokens, the cached one would be refused (a false refresh failure and
      // page). So a cached list with a pair due for a refresh is read again first.
      if (discovery.cached && discovery.tokens.some((t) => tokenDue(t, started, settings).refresh)) {
        deps.tokens.forget();
        discovery = await deps.tokens.discover();
      }
      const { tokens, invalid } = discovery;
      // `location`: the secret's name, or the connection id of a table item; never the value.
      for (const bad of invalid) deps.logger.warn('connection token skipped', { location: bad.name, reason: bad.reason });
      // The same holds for a pair refreshed after a 401 (its expiry unknown, or revoked early): the
      // list is read again the first time one is refused, and only then.
      let again: Promise<ReadonlyMap<string, StoredConnectionToken>> | undefined;
      // Once read, the pairs are used whatever the time: that costs no call.
      let read: ReadonlyMap<string, StoredConnectionToken> | undefined;
      const readAgain = async (connectionId: string, until: number) => {
        if (read) return read.get(connectionId);
        if (now() >= until) return undefined;
        again ??= (async () => {
          deps.tokens.forget();
          try {
            read = new Map((await deps.tokens.discover()).tokens.map((t) => [t.connectionId, t]));
            return read;
          } catch (error) {
            // Not fatal: the refresh goes ahead with the cached pair, as it did before this re-read.
            deps.logger.warn('could not read the connection tokens again: refreshing with the cached pairs', { error: (error as Error).message });
            return new Map<string, StoredConnectionToken>();
          }
        })();
        // Bounded, so that a poll makes no more calls after the run's deadline than its reserve counts.
        return within(again, until - now()).then(
          (pairs) => pairs.get(connectionId),
          () => undefined,
        );
      };
      for (const token of tokens) {
        const { connectionId } = token;
        targets.set(connectionId, { connectionId, token, ...(discovery.cached && { readAgain: (until: number) => readAgain(connectionId, until) }) });
      }
    }
    const candidates = await loadLive(targets, mode);
    const known = new Map(candidates.map((c) => [c.connectionId, c]));
    const active = candidates.filter((c) => !c.poll?.deletedAt);
    const due = selectConnections(active, started, settings);
    // System mode lists every status for free: a connection whose listed status disagrees with its
    // state is polled now, due or not, as is one that left the list (to confirm it is gone).
    const dueIds = new Set(due.map((d) => d.connectionId));
    for (const c of active) {
      const target = targets.get(c.connectionId)!;
      if (dueIds.has(c.connectionId) || mode !== 'system' || breakerState(c.poll, started, settings) === 'open') continue;
      const mapped = target.listed && mapConnectionStatus(target.listed.status, settings.statusMap);
      if (!target.listed || (mapped && mapped !== (c.state?.status ?? 'unknown'))) due.push({ connectionId: c.connectionId, probe: false });
    }

    let shards = 0;
    if (deps.fanOut && credentials && due.length > settings.shardSize) {
      shards = await handOut(deps.fanOut, due.map((d) => shardEntry(targets.get(d.connectionId)!)), runId, shardsNotAfter, fanOut);
    }
    const findings = shards > 0 ? new Map<string, PollOutcome | 'deleted'>() : await pollTargets(due.map((d) => d.connectionId), targets, known, runId, credentials, deadline, counts);

    const live = candidates.filter((c) => (findings.get(c.connectionId) ?? (c.poll?.deletedAt ? 'deleted' : undefined)) !== 'deleted');
    const needingReauth = live.filter((c) => {
      const finding = findings.get(c.connectionId) ?? c.poll?.lastOutcome;
      return finding === 'unauthorized' || c.state?.status === 'reauthorization_required';
    }).length;
    const stale = live.filter((c) => !c.state?.lastWebhookAt || started - Date.parse(c.state.lastWebhookAt) > settings.expectedWindowMs).length;
    // Counts that are zero are not emitted: CloudWatch bills a custom metric for every hour it has
    // data, and a run every 5 minutes would give each one data every hour (10 metrics: $3 a month,
    // docs/cost.md). The alarms on them treat missing data as not breaching, so a count back at zero
    // ends its alarm as a zero would.
    const metric = (name: string, value: number) => value !== 0 && deps.metrics.addMetric(name, MetricUnit.Count, value);
    // A fanned-out run's gauges are read from the stored outcomes (its workers count their polls).
    emitCounts(counts);
    metric(POLLER_METRICS.needingReauth, needingReauth);
    metric(POLLER_METRICS.stale, stale);
    if (mode === 'per-connection') {
      metric(POLLER_METRICS.refreshed, counts.refreshed);
      metric(POLLER_METRICS.refreshFailed, counts.refreshFailed);
      metric(POLLER_METRICS.expiring, counts.expiring);
    }
    const summary: PollRunSummary = {
      mode,
      connections: live.length,
      due: due.length,
      polled: counts.polled,
      failed: counts.failed,
      unauthorized: counts.unauthorized,
      recovered: counts.recovered,
      deferred: due.length - counts.polled - counts.deleted,
      peakConcurrency: counts.peak,
      deleted: counts.deleted,
      tokensRefreshed: counts.refreshed,
      tokenRefreshFailed: counts.refreshFailed,
      tokensExpiring: counts.expiring,
      ...(shards > 0 && { shards, deferred: 0 }),
    };
    deps.logger.info(shards > 0 ? 'poll run handed its due connections to workers' : 'poll run finished', { runId, ...summary, ms: now() - started });
    return summary;
  }

  /** A deleted connection is live again when Makini lists it, or (per-connection mode) has a secret. */
  async function loadLive(targets: ReadonlyMap<string, Target>, mode: 'system' | 'per-connection'): Promise<Candidate[]> {
    return (await deps.store.loadCandidates([...targets.keys()])).map((c) =>
      c.poll?.deletedAt && (mode === 'per-connection' || targets.get(c.connectionId)?.listed) ? { ...c, poll: { ...c.poll, deletedAt: undefined } } : c,
    );
  }

  /** Counts every invocation emits for its own polls (zeros are not emitted, see `run`). */
  function emitCounts(counts: Counts) {
    const metric = (name: string, value: number) => value !== 0 && deps.metrics.addMetric(name, MetricUnit.Count, value);
    metric(POLLER_METRICS.polled, counts.polled);
    metric(POLLER_METRICS.failed, counts.failed);
    metric(POLLER_METRICS.recovered, counts.recovered);
    metric(POLLER_METRICS.deleted, counts.deleted);
    metric(POLLER_METRICS.unknownStatus, counts.unknownStatus);
  }

  /** Polls `due` in order, `concurrency` at a time, starting none after `deadline`; each one's outcome. */
  async function pollTargets(
    due: readonly string[],
    targets: ReadonlyMap<string, Target>,
    known: ReadonlyMap<string, Candidate>,
    runId: string,
    credentials: ClientCredentials | undefined,
    deadline: number,
    counts: Counts,
  ): Promise<Map<string, PollOutcome | 'deleted'>> {
    const findings = new Map<string, PollOutcome | 'deleted'>();
    let next = 0;
    let failure: { error: unknown } | undefined;
    const worker = async () => {
      while (!failure && next < due.length && now() < deadline) {
        const connectionId = due[next++];
        counts.inFlight++;
        counts.peak = Math.max(counts.peak, counts.inFlight);
        try {
          const result = await pollOne(targets.get(connectionId)!, known.get(connectionId)!, runId, credentials, counts, deadline);
          findings.set(connectionId, result.outcome);
          if (result.outcome !== 'deleted') counts.polled++;
          counts.recovered += result.recovered;
          if (result.outcome === 'failed') counts.failed++;
          if (result.outcome === 'unauthorized') counts.unauthorized++;
          if (result.outcome === 'deleted') counts.deleted++;
        } catch (error) {
          failure ??= { error };
        } finally {
          counts.inFlight--;
        }
      }
    };
    // A failure (the store refusing a write) stops every loop from taking another connection, and
    // fails the whole only once the polls in flight have ended: none outlives the call.
    await Promise.all(Array.from({ length: Math.min(settings.concurrency, due.length) }, worker));
    if (failure) throw failure.error;
    return findings;
  }

  /** Puts the due connections, in order, as shards on the shard queue, then starts the workers; how many shards there were. */
  async function handOut(to: NonNullable<PollerDeps['fanOut']>, due: readonly ShardConnection[], runId: string, notAfter: number, fanOut: { started: boolean }): Promise<number> {
    const shards = splitShards(due, settings.shardSize, SHARD_MAX_BYTES);
    let next = 0;
    const sender = async () => {
      while (next < shards.length) {
        const shard: PollShard = { runId, notAfter, connections: shards[next++] };
        await to.shards.send(JSON.stringify(shard));
      }
    };
    // Until a worker is started the run has nobody polling for it: if sending or starting fails it
    // fails as a run, and gives the lease back, so that Lambda's retry runs again rather than
    // finding the lease held and succeeding with nothing polled (the retry failing too lands in the
    // poll dead-letter queue, whose alarm says so). Shards already sent are taken by the retry's
    // workers; those past their window are deleted unpolled.
    await Promise.all(Array.from({ length: Math.min(SHARD_SENDS_IN_FLIGHT, shards.length) }, sender));
    // Every shard is on the queue before a worker starts, so a worker that finds it empty is done.
    const wanted = Math.min(settings.shardConcurrency, shards.length);
    const started = await to.workers.start(wanted, { pollWorker: { runId, notAfter } });
    fanOut.started = true;
    if (started < wanted) deps.logger.warn('fewer poll workers started than asked for; they hand on to successors until the window ends', { runId, started, wanted });
    deps.logger.info('due connections handed to poll workers', { runId, connections: due.length, shards: shards.length, workers: started, notAfter: new Date(notAfter).toISOString() });
    return shards.length;
  }

  /**
   * A worker: takes shards from the queue one at a time, polls each and deletes it, until the queue
   * is empty or this invocation's budget runs out (what it leaves, another worker takes). A shard it
   * cannot read or poll is made visible again at once, so the next receive moves it to the poll
   * dead-letter queue (the queue's redrive policy: one receive), whose alarm says so; its connections
   * stay least recently polled, so the next run polls them first.
   */
  async function drainShards(queue: PollShardQueue | undefined, worker: PollWorkerEvent['pollWorker'], budgetEnd: number): Promise<PollRunSummary> {
    if (!queue) throw new Error('a poll worker was started, but this function has no poll shard queue');
    const { runId, notAfter: windowEnd } = worker;
    const counts = newCounts();
    const totals = { shards: 0, connections: 0, due: 0, failedShards: 0, requeued: 0 };
    let drained = false;
    // A worker takes nothing after its run's window: one that starts late (Lambda's retry, or a
    // backlog of asynchronous invocations) must not add to the next run's workers.
    while (now() < Math.min(budgetEnd, windowEnd)) {
      const received = await queue.receive();
      if (!received) {
        drained = true;
        break;
      }
      try {
        const shard = parsePollShard(received.body);
        const polled = await pollShard(shard, budgetEnd, counts);
        totals.shards++;
        totals.connections += polled.connections;
        totals.due += polled.due;
        // Out of time inside the window with part of the shard left: that part goes back on the
        // queue as a shard of its own, for the successor (past the window it waits for the next run).
        if (polled.left.length > 0 && now() < shard.notAfter) {
          await queue.send(JSON.stringify({ ...shard, connections: polled.left } satisfies PollShard));
          totals.requeued += polled.left.length;
        }
      } catch (error) {
        totals.failedShards++;
        const reason = error instanceof InvalidPollShardError ? 'the shard message is invalid' : 'polling the shard failed';
        deps.logger.error(`${reason}: it goes to the poll dead-letter queue`, { runId, error: `${(error as Error).name}: ${(error as Error).message}` });
        await queue.release(received.receipt);
        continue;
      }
      await queue.remove(received.receipt);
    }
    // Out of time with the run's window still open: a successor takes over, so the run keeps its
    // workers until the window ends (each worker starts at most one, so they stay as many).
    const handOn = !drained && now() < windowEnd && deps.fanOut !== undefined;
    if (handOn && (await deps.fanOut!.workers.start(1, { pollWorker: worker })) === 0) deps.logger.error('a poll worker out of time could not start its successor: the shards left wait for the next run', { runId });
    emitCounts(counts);
    const summary: PollRunSummary = {
      ...EMPTY_SUMMARY,
      mode: 'system',
      connections: totals.connections,
      due: totals.due,
      polled: counts.polled,
      failed: counts.failed,
      unauthorized: counts.unauthorized,
      recovered: counts.recovered,
      deferred: totals.due - counts.polled - counts.deleted - totals.requeued,
      peakConcurrency: counts.peak,
      deleted: counts.deleted,
      shards: totals.shards,
      ...(totals.requeued > 0 && { requeued: totals.requeued }),
      ...(totals.failedShards > 0 && { failedShards: totals.failedShards }),
      ...(handOn && { handedOn: true }),
    };
    deps.logger.info('poll worker finished', { runId, ...summary });
    return summary;
  }

  /**
   * One shard: its connections polled in the run's order, under this invocation's budget and the
   * run's window, whichever ends first. What it does not reach is deferred like any run's remainder
   * (it stays least recently polled, so it comes first next run).
   */
  async function pollShard(shard: PollShard, budgetEnd: number, counts: Counts): Promise<{ connections: number; due: number; left: ShardConnection[] }> {
    const credentials = await deps.credentials.read();
    if (!credentials) throw new Error(`a poll shard needs system mode, but the secret ${settings.credentialsSecret} does not exist`);
    const targets = new Map(shard.connections.map((c): [string, Target] => [c.id, { connectionId: c.id, ...(c.listed && { listed: { key: c.id, ...(c.status !== undefined && { status: c.status }) } }) }]));
    const candidates = await loadLive(targets, 'system');
    const known = new Map(candidates.map((c) => [c.connectionId, c]));
    const live = shard.connections.filter((c) => known.has(c.id) && !known.get(c.id)!.poll?.deletedAt).map((c) => c.id);
    const deadline = Math.min(shard.notAfter, budgetEnd);
    if (now() >= deadline) deps.logger.warn("a poll shard arrived after its run's window: its connections wait for the next run", { runId: shard.runId, connections: live.length });
    const findings = await pollTargets(live, targets, known, shard.runId, credentials, deadline, counts);
    const reached = new Set(findings.keys());
    const liveIds = new Set(live);
    return { connections: shard.connections.length, due: live.length, left: shard.connections.filter((c) => liveIds.has(c.id) && !reached.has(c.id)) };
  }

  async function pollOne(
    target: Target,
    candidate: Candidate,
    runId: string,
    credentials: ClientCredentials | undefined,
    counts: { refreshed: number; refreshFailed: number; expiring: number; unknownStatus: number },
    deadline: number,
  ): Promise<{ outcome: PollOutcome | 'deleted'; recovered: number }> {
    const { connectionId } = target;
    const at = now();
    const nowIso = new Date(at).toISOString();
    const previous = candidate.poll?.pending ?? {};
    const notices: Notice[] = [];
    let observation: Observation | undefined;
    let failure: { outcome: PollOutcome; error: string } | undefined;
    try {
      observation = credentials ? await observeSystem(credentials, target, counts) : await observeWithToken(target, at, notices, counts, deadline);
    } catch (error) {
      // Only a connection that also left the list is gone; a listed one answering 404 is a fault.
      if (error instanceof ConnectionGone && !target.listed) {
        deps.logger.info('connection no longer exists in Makini: marked deleted, no longer polled; its history stays', { connectionId });
        await deps.store.savePollRecord(recordDeleted(candidate.poll, connectionId, at));
        return { outcome: 'deleted', recovered: 0 };
      }
      const unauthorized = error instanceof MakiniAuthError && !credentials;
      const message = `${(error as Error).name}: ${(error as Error).message}`;
      if (unauthorized) {
        deps.tokens.forget(); // the cached token is wrong: read the secrets again next time
        deps.logger.warn('Makini refused the connection token: reauthorization or a new token is needed', { connectionId, requestId: (error as MakiniAuthError).requestId });
      } else {
        deps.logger.warn('poll failed', { connectionId, error: message });
      }
      failure = { outcome: unauthorized ? 'unauthorized' : 'failed', error: message };
    }

    const events: SynthesizedEvent[] = [
      ...notices.map((notice) => tokenExpiringEvent(connectionId, notice, nowIso, previous)),
      ...(observation ? synthesizeEvents(connectionId, candidate.state, observation, nowIso, previous) : []),
    ];
    const pending = keepPending(previous, events);
    const reported = { reportedStatus: observation?.reportedStatus ?? target.listed?.status, reportedSyncStatus: observation?.reportedSyncStatus };
    // Remember the bodies before queueing them, so a crash in between re-sends the same bodies.
    await deps.store.savePollRecord(recordPoll(candidate.poll, connectionId, { ...(failure ?? { outcome: 'ok' }), pending, ...reported }, at, settings));
    try {
      for (const event of events) {
        await deps.queue.send(encodeEnvelope({ webhookId: event.id, receivedAt: nowIso, scheme: 'poll', requestId: runId }, Buffer.from(event.body)));
      }
    } catch (error) {
      deps.logger.warn('could not queue synthesized events; they are re-sent next run', { connectionId, error: (error as Error).message });
      await deps.store.savePollRecord(recordPoll(candidate.poll, connectionId, { outcome: 'failed', error: (error as Error).message, pending, ...reported }, at, settings));
      return { outcome: 'failed', recovered: 0 };
    }
    const recovered = events.filter((e) => !(e.id in previous)).length;
    if (recovered > 0) deps.logger.info('events synthesized by polling', { connectionId, types: events.map((e) => e.type) });
    return { outcome: failure?.outcome ?? 'ok', recovered };
  }

  /** System mode: the listed status, and the sync status read with a freshly issued connection token. */
  async function observeSystem(credentials: ClientCredentials, target: Target, counts: { unknownStatus: number }): Promise<Observation> {
    const reportedStatus = target.listed?.status;
    const mapped = mapConnectionStatus(reportedStatus, settings.statusMap);
    if (reportedStatus !== undefined && !mapped) {
      counts.unknownStatus++;
      deps.logger.warn('Makini reported a connection status the status table does not know: kept verbatim, state unchanged (see connectionStatusMap)', { connectionId: target.connectionId, status: reportedStatus });
    }
    const current = await withIssuedToken(credentials, target.connectionId);
    return { ...(mapped && { connection: { status: mapped } }), ...(reportedStatus !== undefined && { reportedStatus }), ...observedSync(current) };
  }

  /** Issues a connection token and reads the integration (a refused fresh token fails this poll; the next run issues another). */
  async function withIssuedToken(credentials: ClientCredentials, connectionId: string): Promise<CurrentIntegration> {
    let issued: { token: string };
    try {
      issued = await deps.api.issueConnectionToken(credentials, connectionId, settings.connectionTokenSeconds);
    } catch (error) {
      if (error instanceof MakiniApiError && error.status === 404) throw new ConnectionGone(`Makini has no connection ${connectionId} (404)`);
      throw error;
    }
    return deps.api.currentIntegration(issued.token);
  }

  /**
   * Per-connection mode: refresh the pair when it is due (writing it back), note what is about to
   * expire, then read the integration with the access token. A refused access token with a refresh
   * token beside it (its expiry unknown, or revoked early) is refreshed once and tried again.
   */
  async function observeWithToken(target: Target, at: number, notices: Notice[], counts: { refreshed: number; refreshFailed: number; expiring: number }, deadline: number): Promise<Observation> {
    let token = target.token!;
    let refreshed = false;
    if (tokenDue(token, at, settings).refresh) {
      token = (await refresh(token, at, notices, counts)) ?? token;
      refreshed = true;
    }
    if (tokenDue(token, at, settings).warn) {
      counts.expiring++;
      notices.push({ reason: token.refreshToken ? 'refresh_token_expiring' : 'access_token_expiring', expiresAt: token.expiresAt, refreshExpiresAt: token.refreshExpiresAt });
    }
    let current: CurrentIntegration;
    try {
      current = await deps.api.currentIntegration(token.token);
    } catch (error) {
      if (!(error instanceof MakiniAuthError) || refreshed || !token.refreshToken) throw error;
      // From a cached list, the pair may be one another container has refreshed since (and Makini
      // rotated its refresh token): the stored pair is read again, if that can be done before the
      // run's deadline, so that a poll still makes at most the three Makini calls its reserve
      // counts (pollRunReserveMs). Another access token is tried as it is, unless it is due for a
      // refresh itself: refused too, it is revoked, and the poll's finding is `unauthorized` (the next
      // run reads the pairs afresh). Otherwise the pair read again, if any, is the one refreshed.
      const stored = await target.readAgain?.(deadline);
      const other = stored && stored.token !== token.token ? stored : undefined;
      if (other && !(other.refreshToken && tokenDue(other, now(), settings).refresh)) {
        current = await deps.api.currentIntegration(other.token);
      } else {
        // A due pair whose refresh failed stays in use until it expires: another access token read
        // again is tried (the third call); the one refused is not.
        const usable = (await refresh(stored?.refreshToken ? stored : token, at, notices, counts)) ?? other;
        if (!usable) throw error;
        current = await deps.api.currentIntegration(usable.token);
      }
    }
    // The token worked: the connection is reachable, unless its sync says the credentials are invalid.
    return { connection: { status: 'online' }, ...observedSync(current) };
  }

  /** One refresh and its write-back; the new pair (saved or not), or undefined when Makini refused. */
  async function refresh(token: StoredConnectionToken, at: number, notices: Notice[], counts: { refreshed: number; refreshFailed: number }): Promise<StoredConnectionToken | undefined> {
    const { connectionId } = token;
    let answer: TokenResponse;
    try {
      answer = await deps.api.refreshToken(token.refreshToken!);
    } catch (error) {
      counts.refreshFailed++;
      deps.logger.warn('token refresh failed: the current pair stays in use until it expires', { connectionId, error: `${(error as Error).name}: ${(error as Error).message}` });
      notices.push({ reason: 'refresh_failed', expiresAt: token.expiresAt, refreshExpiresAt: token.refreshExpiresAt, error: (error as Error).message });
      return undefined;
    }
    const parsed = tokenFromResponse(connectionId, answer, at);
    if (!parsed.ok) return undefined; // refreshToken() already insists on an access token
    // A pair without a new refresh token keeps the old one (and its expiry).
    const renewed: StoredConnectionToken = { refreshToken: token.refreshToken, refreshExpiresAt: token.refreshExpiresAt, ...parsed.value, location: token.location };
    try {
      await deps.tokens.writeBack(renewed, token);
      counts.refreshed++;
      deps.logger.info('connection token refreshed and saved', { connectionId, expiresAt: renewed.expiresAt });
    } catch (error) {
      // The secret keeps the previous pair; the new one stays in this container's memory and is
      // written again next run (docs/makini-wire-format.md: what a crash here costs).
      counts.refreshFailed++;
      deps.logger.error('a refreshed token pair could not be saved; the secret keeps the previous pair', { connectionId, error: (error as Error).message });
      notices.push({ reason: 'refresh_failed', expiresAt: token.expiresAt, refreshExpiresAt: token.refreshExpiresAt, error: `the refreshed pair could not be saved: ${(error as Error).message}` });
    }
    return renewed;
  }
}

const EMPTY_SUMMARY: PollRunSummary = {
  mode: 'per-connection',
  connections: 0,
  due: 0,
  polled: 0,
  failed: 0,
  unauthorized: 0,
  recovered: 0,
  deferred: 0,
  peakConcurrency: 0,
  deleted: 0,
  tokensRefreshed: 0,
  tokenRefreshFailed: 0,
  tokensExpiring: 0,
};

/** What the integration said of its sync: the claim, if its value is documented, and the value as it was, whatever it is. */
function observedSync(current: CurrentIntegration): Pick<Observation, 'sync' | 'reportedSyncStatus'> {
  return { ...(current.sync && { sync: current.sync }), ...(current.reportedSyncStatus !== undefined && { reportedSyncStatus: current.reportedSyncStatus }) };
}

/** Pending bodies an id keeps across runs; older ones have long been consumed or deduplicated. */
const PENDING_KEPT = 32;

/**
 * Earlier bodies stay pending after they stop being wanted (a queued copy may still be in flight),
 * so an id wanted again later is re-sent with the same body; the newest {@link PENDING_KEPT} are kept.
 */
function keepPending(previous: Readonly<Record<string, string>>, events: readonly SynthesizedEvent[]): Record<string, string> {
  const now = new Set(events.map((e) => e.id));
  const entries = [...Object.entries(previous).filter(([id]) => !now.has(id)), ...events.map((e): [string, string] => [e.id, e.body])];
  return Object.fromEntries(entries.slice(-PENDING_KEPT));
}

/** A due connection as a shard carries it: its id, and what Makini's list said of it this run. */
function shardEntry(target: Target): ShardConnection {
  return { id: target.connectionId, listed: !!target.listed, ...(target.listed?.status !== undefined && { status: target.listed.status }) };
}

/**
 * A fanned-out run's lease ends this long before the next scheduled run is due: a run that started
 * late (a cold start, an asynchronous invocation waiting in Lambda's queue) must not make the next,
 * punctual one find the lease still held and skip.
 */
const SCHEDULE_MARGIN_MS = 30_000;

/** Settings of a poll run, from the one config. */
export function pollerSettings(config: MakiniWebhookConfig): PollerSettings {
  return {
    mode: config.pollMode,
    pollAll: config.pollAll,
    expectedWindowMs: config.pollExpectedWindowMinutes * 60_000,
    breakerFailureThreshold: config.breakerFailureThreshold,
    breakerCooldownMs: config.breakerCooldownMinutes * 60_000,
    concurrency: config.pollConcurrency,
    budgetMs: config.pollerTimeoutSeconds * 1000 - pollRunReserveMs(config),
    reserveMs: pollRunReserveMs(config),
    shardSize: config.pollShardSize,
    shardConcurrency: config.pollShardConcurrency,
    windowMs: config.pollIntervalMinutes * 60_000 - SCHEDULE_MARGIN_MS,
    statusMap: config.connectionStatusMap,
    connectionTokenSeconds: config.connectionTokenSeconds,
    refreshMarginMs: config.tokenRefreshMarginDays * 86_400_000,
    warningMs: config.refreshTokenWarningDays * 86_400_000,
    credentialsSecret: config.systemCredentialsSecret,
  };
}

/** Builds the production handler from `process.env`, as Lambda and the local stack do. */
export function createPollerHandlerFromEnv(env: Readonly<Record<string, string | undefined>> = process.env) {
  const config = configFromEnv(env);
  const logger = createLogger('poller', config.logLevel);
  const metrics = new Metrics({ namespace: config.metricsNamespace, serviceName: 'poller' });
  const sdk = BACKGROUND_CLIENT_CONFIG;
  const secrets = new SecretsManagerClient(sdk);
  const sqs = new SQSClient(sdk);
  const shardQueueUrl = env[RESOURCE_ENV.pollShardQueueUrl];
  const db = DynamoDBDocumentClient.from(new DynamoDBClient(sdk));
  const tableName = requireEnv(env, RESOURCE_ENV.eventTable);
  const tokenResources = config.tokenStore === 'table' ? { db, kms: new KMSClient(sdk), tableName, tokenKeyArn: requireEnv(env, RESOURCE_ENV.tokenKey) } : {};
  const run = createPoller({
    credentials: new SecretsManagerClientCredentials(secrets, { secretName: config.systemCredentialsSecret, cacheSeconds: config.tokenCacheSeconds }),
    tokens: connectionTokenStores(config, { secrets, ...tokenResources }, { cacheSeconds: config.tokenCacheSeconds }).tokens,
    store: new DynamoDbEventStore(db, eventStoreOptions(config, tableName)),
    api: new MakiniApiClient({
      baseUrl: config.makiniApiUrl,
      apiVersion: config.makiniApiVersion,
      pageSize: config.makiniPageSize,
      timeoutMs: config.makiniRequestTimeoutMs,
      maxAttempts: config.makiniMaxAttempts,
      onFailure: (failure) => logger.warn('Makini API call failed', failure),
    }),
    queue: new SqsWebhookQueue(sqs, requireEnv(env, RESOURCE_ENV.queueUrl)),
    // Workers are this same function, started asynchronously (Lambda names the function in the environment).
    ...(shardQueueUrl && { fanOut: { shards: new SqsPollShardQueue(sqs, shardQueueUrl), workers: new LambdaPollWorkers(new LambdaClient(invokeClientConfig()), requireEnv(env, 'AWS_LAMBDA_FUNCTION_NAME')) } }),
    logger,
    metrics,
    settings: pollerSettings(config),
  });
  return withPowertools(run, logger, metrics);
}
