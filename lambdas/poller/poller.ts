/**
 * The poller: on a schedule, ask Makini about the connections that need it, and queue whatever the
 * webhooks missed as ordinary events (source `poll`), where dedup and ordering treat them exactly
 * like webhooks.
 *
 * `pollRun` reads as one run: find the tokens, load what we know, choose whom to poll (least
 * recently polled first), poll them a few at a time until the time budget runs out, record every
 * outcome. What it does not reach this run comes first in the next.
 */
import { randomUUID } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Context } from 'aws-lambda';
import { configFromEnv, pollRunReserveMs, requireEnv, RESOURCE_ENV, type MakiniWebhookConfig } from '../../lib/config';
import { BACKGROUND_CLIENT_CONFIG } from '../adapters/aws-client-config';
import { DynamoDbEventStore, eventStoreOptions } from '../adapters/dynamodb-event-store';
import { MakiniApiClient } from '../adapters/makini-api-client';
import { withPowertools } from '../adapters/powertools';
import { SecretsManagerConnectionTokens, type TokenDiscovery } from '../adapters/secrets-manager-connection-tokens';
import { SqsWebhookQueue } from '../adapters/sqs-webhook-queue';
import type { ConnectionToken } from '../core/connection-secret';
import { encodeEnvelope } from '../core/envelope';
import { MakiniAuthError } from '../core/errors';
import { recordPoll, selectConnections, synthesizeEvents, type Candidate, type Observation, type PollOutcome, type PollRecord, type PollSettings } from '../core/poll';
import type { WebhookQueue } from '../core/receive';

export const POLLER_METRICS = {
  polled: 'ConnectionsPolled',
  failed: 'PollFailed',
  recovered: 'MissedEventRecovered',
  needingReauth: 'ConnectionsNeedingReauth',
  stale: 'StaleConnections',
} as const;


export interface PollerDeps {
  readonly tokens: { discover(): Promise<TokenDiscovery> };
  readonly store: { loadCandidates(ids: readonly string[]): Promise<Candidate[]>; savePollRecord(record: PollRecord): Promise<void> };
  readonly api: { observe(connectionId: string, token: string): Promise<Observation> };
  readonly queue: WebhookQueue;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** `budgetMs`: how long a run may start polls; `reserveMs`: kept free before the Lambda timeout. */
  readonly settings: PollSettings & { readonly concurrency: number; readonly budgetMs: number; readonly reserveMs: number };
  readonly now?: () => number;
}

export interface PollRunSummary {
  readonly connections: number;
  readonly due: number;
  readonly polled: number;
  readonly failed: number;
  readonly unauthorized: number;
  readonly recovered: number;
  /** Due connections left for the next run because the time budget ran out. */
  readonly deferred: number;
  readonly peakConcurrency: number;
}

/**
 * @example
 * const run = createPoller(deps);
 * const summary = await run({}, context);
 */
export function createPoller(deps: PollerDeps) {
  const now = deps.now ?? Date.now;
  return async function pollRun(_event: unknown, context?: Context): Promise<PollRunSummary> {
    const started = now();
    const budgetMs = Math.min(deps.settings.budgetMs, context ? context.getRemainingTimeInMillis() - deps.settings.reserveMs : Number.POSITIVE_INFINITY);
    const deadline = started + budgetMs;
    const runId = `poll-${randomUUID()}`;

    const { tokens, invalid } = await deps.tokens.discover();
    for (const bad of invalid) deps.logger.warn('connection secret skipped', { secret: bad.name, reason: bad.reason });
    const byId = new Map(tokens.map((t) => [t.connectionId, t]));
    const candidates = await deps.store.loadCandidates([...byId.keys()]);
    const due = selectConnections(candidates, started, deps.settings);
    const known = new Map(candidates.map((c) => [c.connectionId, c]));

    const counts = { polled: 0, failed: 0, unauthorized: 0, recovered: 0, inFlight: 0, peak: 0 };
    const findings = new Map<string, PollOutcome>();
    let next = 0;
    const worker = async () => {
      while (next < due.length && now() < deadline) {
        const { connectionId } = due[next++];
        counts.inFlight++;
        counts.peak = Math.max(counts.peak, counts.inFlight);
        try {
          const result = await pollOne(byId.get(connectionId)!, known.get(connectionId)!, runId);
          findings.set(connectionId, result.outcome);
          counts.polled++;
          counts.recovered += result.recovered;
          if (result.outcome === 'failed') counts.failed++;
          if (result.outcome === 'unauthorized') counts.unauthorized++;
        } finally {
          counts.inFlight--;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(deps.settings.concurrency, due.length) }, worker));

    const needingReauth = candidates.filter((c) => {
      const finding = findings.get(c.connectionId) ?? c.poll?.lastOutcome;
      return finding === 'unauthorized' || c.state?.status === 'reauthorization_required';
    }).length;
    const stale = candidates.filter((c) => !c.state?.lastWebhookAt || started - Date.parse(c.state.lastWebhookAt) > deps.settings.expectedWindowMs).length;
    deps.metrics.addMetric(POLLER_METRICS.polled, MetricUnit.Count, counts.polled);
    deps.metrics.addMetric(POLLER_METRICS.failed, MetricUnit.Count, counts.failed);
    deps.metrics.addMetric(POLLER_METRICS.recovered, MetricUnit.Count, counts.recovered);
    deps.metrics.addMetric(POLLER_METRICS.needingReauth, MetricUnit.Count, needingReauth);
    deps.metrics.addMetric(POLLER_METRICS.stale, MetricUnit.Count, stale);
    const summary: PollRunSummary = {
      connections: tokens.length,
      due: due.length,
      polled: counts.polled,
      failed: counts.failed,
      unauthorized: counts.unauthorized,
      recovered: counts.recovered,
      deferred: due.length - counts.polled,
      peakConcurrency: counts.peak,
    };
    deps.logger.info('poll run finished', { runId, ...summary, ms: now() - started });
    return summary;
  };

  async function pollOne(connection: ConnectionToken, candidate: Candidate, runId: string): Promise<{ outcome: PollOutcome; recovered: number }> {
    const { connectionId } = connection;
    const at = now();
    let observation: Observation;
    try {
      observation = await deps.api.observe(connectionId, connection.token);
    } catch (error) {
      const outcome: PollOutcome = error instanceof MakiniAuthError ? 'unauthorized' : 'failed';
      const message = `${(error as Error).name}: ${(error as Error).message}`;
      if (outcome === 'unauthorized') deps.logger.warn('Makini refused the connection token: reauthorization or a new token is needed', { connectionId, requestId: (error as MakiniAuthError).requestId });
      else deps.logger.warn('poll failed', { connectionId, error: message });
      await deps.store.savePollRecord(recordPoll(candidate.poll, connectionId, { outcome, error: message }, at, deps.settings));
      return { outcome, recovered: 0 };
    }

    const previous = candidate.poll?.pending ?? {};
    const events = synthesizeEvents(connectionId, candidate.state, observation, new Date(at).toISOString(), previous);
    const pending = Object.fromEntries(events.map((e) => [e.id, e.body]));
    // Remember the bodies before queueing them, so a crash in between re-sends the same bodies.
    await deps.store.savePollRecord(recordPoll(candidate.poll, connectionId, { outcome: 'ok', pending }, at, deps.settings));
    try {
      for (const event of events) {
        await deps.queue.send(encodeEnvelope({ webhookId: event.id, receivedAt: new Date(at).toISOString(), scheme: 'poll', requestId: runId }, Buffer.from(event.body)));
      }
    } catch (error) {
      deps.logger.warn('could not queue synthesized events; they are re-sent next run', { connectionId, error: (error as Error).message });
      await deps.store.savePollRecord(recordPoll(candidate.poll, connectionId, { outcome: 'failed', error: (error as Error).message, pending }, at, deps.settings));
      return { outcome: 'failed', recovered: 0 };
    }
    const recovered = events.filter((e) => !(e.id in previous)).length;
    if (recovered > 0) deps.logger.info('missed events recovered by polling', { connectionId, types: events.map((e) => e.type) });
    return { outcome: 'ok', recovered };
  }
}

/** Settings of a poll run, from the one config. */
export function pollerSettings(config: MakiniWebhookConfig): PollerDeps['settings'] {
  return {
    pollAll: config.pollAll,
    expectedWindowMs: config.pollExpectedWindowMinutes * 60_000,
    breakerFailureThreshold: config.breakerFailureThreshold,
    breakerCooldownMs: config.breakerCooldownMinutes * 60_000,
    concurrency: config.pollConcurrency,
    budgetMs: config.pollerTimeoutSeconds * 1000 - pollRunReserveMs(config),
    reserveMs: pollRunReserveMs(config),
  };
}

/** Builds the production handler from `process.env`, as Lambda and the local stack do. */
export function createPollerHandlerFromEnv(env: Readonly<Record<string, string | undefined>> = process.env) {
  const config = configFromEnv(env);
  const logger = new Logger({ serviceName: 'poller', logLevel: config.logLevel });
  const metrics = new Metrics({ namespace: config.metricsNamespace, serviceName: 'poller' });
  const sdk = BACKGROUND_CLIENT_CONFIG;
  const run = createPoller({
    tokens: new SecretsManagerConnectionTokens(new SecretsManagerClient(sdk), { prefix: config.connectionSecretPrefix, cacheSeconds: config.tokenCacheSeconds }),
    store: new DynamoDbEventStore(DynamoDBDocumentClient.from(new DynamoDBClient(sdk)), eventStoreOptions(config, requireEnv(env, RESOURCE_ENV.eventTable))),
    api: new MakiniApiClient({
      baseUrl: config.makiniApiUrl,
      statusPath: config.makiniStatusPath,
      syncStatusPath: config.makiniSyncStatusPath,
      timeoutMs: config.makiniRequestTimeoutMs,
      maxAttempts: config.makiniMaxAttempts,
      onFailure: (failure) => logger.warn('Makini API call failed', failure),
    }),
    queue: new SqsWebhookQueue(new SQSClient(sdk), requireEnv(env, RESOURCE_ENV.queueUrl)),
    logger,
    metrics,
    settings: pollerSettings(config),
  });
  return withPowertools(run, logger, metrics);
}
