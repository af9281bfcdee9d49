/**
 * The poller as a shard worker invocation, for `npm run bench -- poller100k`: loaded by the local
 * Lambda runtime (local/lambda/runtime.ts) in a worker thread that stands for one execution
 * environment, so that concurrent worker invocations use CPUs of their own as Lambda's do.
 *
 * The production `createPoller` with `pollerSettings(config)` polls the shard against the Makini API
 * simulator (`MAKINI_API_URL`) with the invocation's real context (its remaining time). Poll
 * records live in memory, as in the bench's other runs: the event brings the shard's records, the
 * result takes back what the run saved.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context, SQSRecord } from 'aws-lambda';
import { MakiniApiClient } from '../lambdas/adapters/makini-api-client';
import { configFromEnv } from '../lambdas/config/config';
import type { PollRecord } from '../lambdas/core/poll';
import { createPoller, pollerSettings, type PollRunSummary } from '../lambdas/poller/poller';
import { memoryStore } from './poller-memory-store';

/** A shard message as the event source mapping delivers it, with the shard's poll records beside it. */
export interface ShardWorkerEvent {
  readonly Records: readonly Pick<SQSRecord, 'body'>[];
  readonly pollRecords: readonly PollRecord[];
}

export interface ShardWorkerResult {
  readonly summary: PollRunSummary;
  readonly saved: readonly PollRecord[];
  readonly queued: number;
  /** Milliseconds this invocation's thread was busy (its event loop's active time): its CPU, or more on a loaded machine. */
  readonly busyMs: number;
}

const config = configFromEnv(process.env);
const api = new MakiniApiClient({ baseUrl: config.makiniApiUrl, pageSize: config.makiniPageSize, timeoutMs: config.makiniRequestTimeoutMs, maxAttempts: config.makiniMaxAttempts });
const clientId = process.env.BENCH_MAKINI_CLIENT_ID!;
const clientSecret = process.env.BENCH_MAKINI_CLIENT_SECRET!;

export async function handler(event: ShardWorkerEvent, context: Context): Promise<ShardWorkerResult> {
  const { records, store } = memoryStore(event.pollRecords);
  const before = new Map(records);
  let queued = 0;
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
    logger: new Logger({ serviceName: 'poller', logLevel: 'ERROR' }),
    metrics: new Metrics({ namespace: 'Bench', serviceName: 'poller' }),
    settings: pollerSettings(config),
  });
  const idle = performance.eventLoopUtilization();
  const summary = await run({ Records: event.Records }, context);
  const busyMs = performance.eventLoopUtilization(idle).active;
  return { summary, saved: [...records.values()].filter((r) => before.get(r.connectionId) !== r), queued, busyMs };
}
