/**
 * The poller as a worker invocation, for `npm run bench -- poller100k`: loaded by the local Lambda
 * runtime (local/lambda/runtime.ts) in a worker thread that stands for one execution environment,
 * so that concurrent workers use CPUs of their own as Lambda's do.
 *
 * The production `createPoller` with `pollerSettings(config)` drains the shard queue (a local SQS
 * endpoint, `BENCH_SHARD_QUEUE_URL`) and polls against the Makini API simulator (`MAKINI_API_URL`)
 * with the invocation's real context (its remaining time). A successor the worker starts is
 * returned for the bench to invoke, as Lambda would. Poll records live in memory, as in the bench's
 * other runs: the event brings the records, the result takes back what the run saved.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Context } from 'aws-lambda';
import { MakiniApiClient } from '../lambdas/adapters/makini-api-client';
import { SqsPollShardQueue } from '../lambdas/adapters/sqs-poll-shard-queue';
import { configFromEnv } from '../lambdas/config/config';
import type { PollRecord, PollWorkerEvent } from '../lambdas/core/poll';
import { createPoller, pollerSettings, type PollRunSummary } from '../lambdas/poller/poller';
import { memoryStore } from './poller-memory-store';

/** A worker's event as a run starts it, with the poll records beside it. */
export interface ShardWorkerEvent extends PollWorkerEvent {
  readonly pollRecords: readonly PollRecord[];
}

export interface ShardWorkerResult {
  readonly summary: PollRunSummary;
  readonly saved: readonly PollRecord[];
  readonly queued: number;
  /** Workers it started (a successor when its time ran out inside the window). */
  readonly started: number;
  /** Milliseconds this invocation's thread was busy (its event loop's active time): its CPU, or more on a loaded machine. */
  readonly busyMs: number;
}

const config = configFromEnv(process.env);
const api = new MakiniApiClient({ baseUrl: config.makiniApiUrl, pageSize: config.makiniPageSize, timeoutMs: config.makiniRequestTimeoutMs, maxAttempts: config.makiniMaxAttempts });
const clientId = process.env.BENCH_MAKINI_CLIENT_ID!;
const clientSecret = process.env.BENCH_MAKINI_CLIENT_SECRET!;
const shards = new SqsPollShardQueue(new SQSClient({ endpoint: process.env.BENCH_SHARD_QUEUE_URL!.replace(/\/[^/]*\/[^/]*$/, ''), region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } }), process.env.BENCH_SHARD_QUEUE_URL!);

export async function handler(event: ShardWorkerEvent, context: Context): Promise<ShardWorkerResult> {
  const { records, store } = memoryStore(event.pollRecords);
  const before = new Map(records);
  let queued = 0;
  let started = 0;
  const run = createPoller({
    credentials: { read: async () => ({ clientId, clientSecret }) },
    tokens: { discover: async () => ({ tokens: [], invalid: [] }), writeBack: async () => undefined, forget: () => undefined },
    store,
    api: {
      listConnections: (c) => api.listConnections(c),
      issueConnectionToken: (c, key, seconds) => api.issueConnectionToken(c, key, seconds),
      currentIntegration: (token) => api.currentIntegration(token),
      refreshToken: (token) => api.refreshToken(token),
    },
    queue: { send: async () => void queued++ },
    fanOut: { shards, workers: { start: async (count) => ((started += count), count) } },
    logger: new Logger({ serviceName: 'poller', logLevel: 'ERROR' }),
    metrics: new Metrics({ namespace: 'Bench', serviceName: 'poller' }),
    settings: pollerSettings(config),
  });
  const idle = performance.eventLoopUtilization();
  const summary = await run({ pollWorker: event.pollWorker }, context);
  const busyMs = performance.eventLoopUtilization(idle).active;
  return { summary, saved: [...records.values()].filter((r) => before.get(r.connectionId) !== r), queued, started, busyMs };
}
