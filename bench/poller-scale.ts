/**
 * `npm run bench -- poller100k` (issue 17, "100,000 connections in system mode"): the production
 * poller against the Makini API simulator at 50 ms per request, listing 100,000 connections with
 * Makini's page-number paging (`page`, `per_page`; the config's default 100 per page).
 *
 * - default settings: what one scheduled run polls of 100,000 due connections (a first run: none
 *   has a state yet), how long the run takes, what it defers; then a second run, to see that it
 *   starts with what the first deferred (the least recently polled first: a cursor across runs);
 * - the largest settings the config allows at the default 5-minute interval (timeout = interval,
 *   concurrency 256), to see whether one run can reach every connection;
 * - the store: dynalite measured on a sample of the same work (the records the first run wrote),
 *   extrapolated to 100,000; the runs themselves keep poll records in memory (a Map that does the
 *   same reads and writes), because dynalite on this machine is far slower than DynamoDB.
 *
 * Figures, never assertions.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { DynamoDbEventStore } from '../lambdas/adapters/dynamodb-event-store';
import { MakiniApiClient } from '../lambdas/adapters/makini-api-client';
import * as os from 'node:os';
import * as path from 'node:path';
import { functionEnvironment, resolveConfig, type MakiniWebhookConfig } from '../lambdas/config/config';
import type { PollRecord } from '../lambdas/core/poll';
import { createPoller, pollerSettings, type PollerDeps, type PollRunSummary } from '../lambdas/poller/poller';
import { SQSClient } from '@aws-sdk/client-sqs';
import { SqsPollShardQueue } from '../lambdas/adapters/sqs-poll-shard-queue';
import { startLocalSqs } from '../local/aws/sqs';
import { LocalFunction } from '../local/lambda/runtime';
import { memoryStore } from './poller-memory-store';
import type { ShardWorkerEvent, ShardWorkerResult } from './poller-shard-worker';
import { startMakiniApiSimulator, type MakiniApiSimulator } from '../local/makini-api-simulator';
import { startDynalite } from '../test/support/dynalite';
import { round, type Row } from './rows';

const CONNECTIONS = 100_000;
const LATENCY_MS = 50;
/** Connections of the dynalite sample. */
const SAMPLE = 5_000;


interface Measured {
  readonly summary: PollRunSummary;
  readonly seconds: number;
  readonly requests: number;
  readonly pages: number;
  /** Seconds from the run's start to its first connection-token request: the listing and the store's loads. */
  readonly listingSeconds: number;
  readonly queued: number;
}

async function measureRun(makini: MakiniApiSimulator, config: MakiniWebhookConfig, store: PollerDeps['store'], fanOut?: PollerDeps['fanOut']): Promise<Measured> {
  let queued = 0;
  const api = new MakiniApiClient({ baseUrl: makini.url, pageSize: config.makiniPageSize, timeoutMs: config.makiniRequestTimeoutMs, maxAttempts: config.makiniMaxAttempts });
  let firstToken = 0;
  const run = createPoller({
    credentials: { read: async () => ({ clientId: makini.clientId, clientSecret: makini.clientSecret }) },
    tokens: { discover: async () => ({ tokens: [], invalid: [] }), writeBack: async () => undefined, forget: () => undefined },
    store,
    api: {
      listConnections: (c) => api.listConnections(c),
      issueConnectionToken: (c, key, seconds) => ((firstToken ||= performance.now()), api.issueConnectionToken(c, key, seconds)),
      currentIntegration: (token) => api.currentIntegration(token),
      refreshToken: (token) => api.refreshToken(token),
    },
    queue: { send: async () => void queued++ },
    ...(fanOut && { fanOut }),
    logger: new Logger({ serviceName: 'poller', logLevel: 'ERROR' }),
    metrics: new Metrics({ namespace: 'Bench', serviceName: 'poller' }),
    settings: pollerSettings(config),
  });
  const requestsBefore = makini.stats.requests;
  const pagesBefore = makini.stats.byRoute.connections;
  const started = performance.now();
  // The Lambda context: the run's budget is the timeout less the reserve, as in Lambda.
  const context = { getRemainingTimeInMillis: () => config.pollerTimeoutSeconds * 1000 - (performance.now() - started) } as Parameters<ReturnType<typeof createPoller>>[1];
  const summary = await silenced(() => run({}, context));
  const seconds = (performance.now() - started) / 1000;
  return { summary, seconds, requests: makini.stats.requests - requestsBefore, pages: makini.stats.byRoute.connections - pagesBefore, listingSeconds: ((firstToken || performance.now()) - started) / 1000, queued };
}

/** The poller's EMF lines go to stdout; the table does too, so they are swallowed while it runs. */
async function silenced<T>(fn: () => Promise<T>): Promise<T> {
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return await fn();
  } finally {
    process.stdout.write = write;
  }
}

/** Median ms per item of `work` on dynalite, over `SAMPLE` items, three times. */
async function dynaliteSample(records: readonly PollRecord[]): Promise<{ saveMs: number; loadMs: number; listMs: number }> {
  const dynamo = await startDynalite();
  try {
    const store = new DynamoDbEventStore(dynamo.doc, { tableName: dynamo.tableName, retentionSeconds: 86_400, leaseMs: 30_000 });
    const sample = records.slice(0, SAMPLE);
    let t = performance.now();
    let next = 0;
    // As the poller writes them: one per poll, 64 polls in flight.
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < sample.length) await store.savePollRecord(sample[next++]);
    }));
    const saveMs = performance.now() - t;
    t = performance.now();
    await store.listPolledConnectionIds();
    const listMs = performance.now() - t;
    t = performance.now();
    await store.loadCandidates(sample.map((r) => r.connectionId));
    const loadMs = performance.now() - t;
    return { saveMs, loadMs, listMs };
  } finally {
    await dynamo.close();
  }
}

/**
 * The default deployment: the scheduled run lists and selects, puts shards on the shard queue (a
 * local SQS endpoint) and starts `pollShardConcurrency` workers; each worker is the poller in an
 * execution environment of the local Lambda runtime (a thread) draining the queue, and a worker
 * whose time runs out inside the window starts a successor, which the bench invokes as Lambda would.
 */
async function measureFanOut(makini: MakiniApiSimulator, config: MakiniWebhookConfig) {
  const { records, store } = memoryStore();
  const sqs = await startLocalSqs({ queues: [{ name: 'poll-shards', visibilityTimeoutSeconds: config.pollerTimeoutSeconds }] });
  const sqsClient = new SQSClient({ endpoint: sqs.url, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
  const queueUrl = sqs.queueUrl('poll-shards');
  let toStart = 0;
  let worker: ShardWorkerEvent['pollWorker'] = { runId: '', notAfter: 0 };
  const started = performance.now();
  const coordinator = await measureRun(makini, config, store, {
    shards: new SqsPollShardQueue(sqsClient, queueUrl),
    workers: { start: async (count, event) => ((toStart += count), (worker = event.pollWorker), count) },
  });
  const handedOutS = (performance.now() - started) / 1000;
  const shardCount = sqs.depth('poll-shards');
  const requestsBefore = makini.stats.requests;
  const workers = new LocalFunction({
    name: 'bench-poller-shards',
    file: path.join(__dirname, 'poller-shard-worker.ts'),
    exportName: 'handler',
    fromSource: true,
    environment: { ...functionEnvironment(config), BENCH_MAKINI_CLIENT_ID: makini.clientId, BENCH_MAKINI_CLIENT_SECRET: makini.clientSecret, BENCH_SHARD_QUEUE_URL: queueUrl },
    timeoutSeconds: config.pollerTimeoutSeconds,
    memoryMB: config.pollerMemoryMB,
    concurrency: config.pollShardConcurrency,
    region: 'us-east-1',
    accountId: '000000000000',
    onOutput: () => undefined, // EMF lines and the like: the table goes to stdout
  });
  const results: ShardWorkerResult[] = [];
  const invocationSeconds: number[] = [];
  const cpuBefore = process.cpuUsage();
  const mainIdle = performance.eventLoopUtilization();
  const workersStarted = performance.now();
  try {
    // As Lambda's asynchronous invocations: each worker started, and each successor a worker starts.
    const invoke = async (): Promise<void> => {
      const t = performance.now();
      const result = await workers.invoke<ShardWorkerResult>({ pollWorker: worker, pollRecords: [...records.values()] } satisfies ShardWorkerEvent);
      invocationSeconds.push((performance.now() - t) / 1000);
      for (const record of result.saved) records.set(record.connectionId, record);
      results.push(result);
      await Promise.all(Array.from({ length: result.started }, invoke));
    };
    await Promise.all(Array.from({ length: toStart }, invoke));
  } finally {
    await workers.close();
    sqsClient.destroy();
    await sqs.close();
  }
  const seconds = (performance.now() - started) / 1000;
  const workersSeconds = (performance.now() - workersStarted) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const mainBusy = performance.eventLoopUtilization(mainIdle).utilization;
  const sum = (f: (s: PollRunSummary) => number) => results.reduce((n, s) => n + f(s.summary), 0);
  const polled = sum((s) => s.polled);
  return {
    workersSeconds,
    /** CPU of every thread of this process (workers, the simulator, the mapping) per poll. */
    cpuMsPerPoll: (cpu.user + cpu.system) / 1000 / Math.max(1, polled),
    /** The workers' threads' busy time per poll: what one poll costs a Lambda, at most. */
    workerBusyMsPerPoll: results.reduce((n, s) => n + s.busyMs, 0) / Math.max(1, polled),
    /** Share of the time the main thread (the Makini simulator and the mapping) was busy. */
    mainBusy,
    coordinator,
    handedOutS,
    seconds,
    shards: shardCount,
    invocations: results.length,
    polled,
    failed: sum((s) => s.failed),
    deferred: sum((s) => s.deferred),
    queued: results.reduce((n, s) => n + s.queued, 0),
    requests: makini.stats.requests - requestsBefore,
    slowestInvocationS: Math.max(0, ...invocationSeconds),
    coldStarts: workers.stats.coldStarts,
  };
}

export async function pollerHundredThousand(rows: Row[]): Promise<void> {
  const makini = await startMakiniApiSimulator({ latencyMs: LATENCY_MS });
  try {
    makini.seedConnections(CONNECTIONS);
    const fanOutConfig = resolveConfig({ pollMode: 'system', makiniApiUrl: makini.url });
    const interval = fanOutConfig.pollIntervalMinutes;
    const fanned = await measureFanOut(makini, fanOutConfig);
    progress(`fan-out: ${fanned.polled} polled in ${fanned.shards} shards, ${fanned.deferred} deferred, in ${round(fanned.seconds)} s`);
    const windowS = (pollerSettings(fanOutConfig).windowMs - pollerSettings(fanOutConfig).reserveMs) / 1000;
    rows.push({
      metric: `poller, system mode: ${CONNECTIONS.toLocaleString('en')} connections, all due, ${LATENCY_MS} ms API latency, default settings (fan-out: pollShardSize ${fanOutConfig.pollShardSize}, pollShardConcurrency ${fanOutConfig.pollShardConcurrency} worker invocations, each pollConcurrency ${fanOutConfig.pollConcurrency} and timeout ${fanOutConfig.pollerTimeoutSeconds} s): connections polled in one run`,
      value: fanned.polled,
      unit: 'connections',
      target: `all ${CONNECTIONS.toLocaleString('en')} within the ${interval}-min interval; each invocation < 15 min`,
      baseline:
        `the scheduled run listed ${fanned.coordinator.pages} pages, selected ${fanned.coordinator.summary.due.toLocaleString('en')} due and handed out ${fanned.shards} shards in ${round(fanned.handedOutS)} s (polled none itself); ` +
        `${fanned.invocations} worker invocations (${fanned.coldStarts} execution environments, threads of the local Lambda runtime) drained the shard queue and polled ${fanned.polled.toLocaleString('en')} (${fanned.failed} failed, ${fanned.deferred.toLocaleString('en')} deferred, ${fanned.queued.toLocaleString('en')} events queued, ${fanned.requests.toLocaleString('en')} requests); ` +
        `the run ended ${round(fanned.seconds)} s after it started (polls may start until ${round(windowS)} s), its slowest invocation took ${round(fanned.slowestInvocationS)} s; ` +
        `${round(fanned.polled / fanned.workersSeconds)} polls/s; CPU-bound on this machine: ${round(fanned.cpuMsPerPoll, 2)} ms of CPU per poll in all threads (load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} cores), the workers' threads busy ${round(fanned.workerBusyMsPerPoll, 2)} ms per poll, the simulator's thread busy ${Math.round(fanned.mainBusy * 100)} % of the time; same run, one invocation: see the next row`,
      met: fanned.polled === CONNECTIONS && fanned.seconds < interval * 60 && fanned.slowestInvocationS < 900,
    });

    const defaults = resolveConfig({ pollMode: 'system' });
    const budgetS = pollerSettings(defaults).budgetMs / 1000;
    const { records, store } = memoryStore();

    const first = await measureRun(makini, defaults, store);
    progress(`default settings, run 1: ${first.summary.polled} polled, ${first.summary.deferred} deferred in ${round(first.seconds)} s`);
    const polledFirst = new Set(records.keys());
    const lastPolled = new Map([...records].map(([id, r]) => [id, r.lastPolledAt]));
    const second = await measureRun(makini, defaults, store);
    const repolled = [...records].filter(([id, r]) => polledFirst.has(id) && r.lastPolledAt !== lastPolled.get(id)).length;
    progress(`default settings, run 2: ${second.summary.polled} polled (${repolled} of them polled in run 1 too) in ${round(second.seconds)} s`);

    const perRun = Math.max(1, Math.min(first.summary.polled, second.summary.polled));
    const runsToCover = Math.ceil(CONNECTIONS / perRun);
    rows.push({
      metric: `poller, system mode: ${CONNECTIONS.toLocaleString('en')} connections, all due, ${LATENCY_MS} ms API latency, one invocation, no fan-out (no shard queue; timeout ${defaults.pollerTimeoutSeconds} s, polls started for ${budgetS} s, concurrency ${defaults.pollConcurrency}, ${defaults.makiniPageSize} per page): connections polled per run`,
      value: first.summary.polled,
      unit: 'connections',
      target: `all ${CONNECTIONS.toLocaleString('en')} within the ${interval}-min interval; a run < 15 min`,
      baseline:
        `run 1 took ${round(first.seconds)} s (${round(first.listingSeconds)} s listing ${first.pages} pages and loading before the first poll), deferred ${first.summary.deferred.toLocaleString('en')}, ${first.requests.toLocaleString('en')} requests, ${first.queued.toLocaleString('en')} events queued; ` +
        `run 2 took ${round(second.seconds)} s, polled ${second.summary.polled.toLocaleString('en')}, ${repolled} of them already polled in run 1 (the least recently polled go first); ` +
        `every connection polled once in ${runsToCover} runs = ${runsToCover * interval} min; poll records in memory (see the dynalite row)`,
      met: first.summary.deferred === 0 && first.seconds < 900,
    });

    const sample = await dynaliteSample([...records.values()]);
    const scale = CONNECTIONS / SAMPLE;
    const projected = ((sample.saveMs + sample.loadMs + sample.listMs) * scale) / 1000;
    rows.push({
      metric: `poller store on dynalite: one run's store work for ${CONNECTIONS.toLocaleString('en')} connections, extrapolated from ${SAMPLE.toLocaleString('en')}`,
      value: round(projected),
      unit: 's',
      baseline: `${SAMPLE.toLocaleString('en')} poll records written (64 at a time) in ${round(sample.saveMs / 1000)} s, listed in ${round(sample.listMs / 1000)} s, loaded with their states in ${round(sample.loadMs / 1000)} s; the runs keep poll records in memory, since this alone ${projected > budgetS ? 'exceeds' : 'is within'} the default ${budgetS} s budget`,
    });

    const widest = resolveConfig({ pollMode: 'system', pollerTimeoutSeconds: interval * 60, pollConcurrency: 256 });
    const fresh = memoryStore();
    const wide = await measureRun(makini, widest, fresh.store);
    progress(`timeout ${widest.pollerTimeoutSeconds} s, concurrency ${widest.pollConcurrency}: ${wide.summary.polled} polled, ${wide.summary.deferred} deferred in ${round(wide.seconds)} s`);
    rows.push({
      metric: `poller, system mode: ${CONNECTIONS.toLocaleString('en')} connections, all due, ${LATENCY_MS} ms API latency, pollerTimeoutSeconds ${widest.pollerTimeoutSeconds} (= the interval), pollConcurrency ${widest.pollConcurrency}: connections polled in one run`,
      value: wide.summary.polled,
      unit: 'connections',
      target: `all ${CONNECTIONS.toLocaleString('en')} within the ${interval}-min interval; a run < 15 min`,
      baseline: `run took ${round(wide.seconds)} s (${round(wide.listingSeconds)} s before the first poll, polls started for ${pollerSettings(widest).budgetMs / 1000} s), deferred ${wide.summary.deferred.toLocaleString('en')}, peak ${wide.summary.peakConcurrency} polls in flight; floor ${round((CONNECTIONS * 2 * LATENCY_MS) / 1000 / widest.pollConcurrency + (2 + Math.ceil((wide.pages - 2) / 8)) * (LATENCY_MS / 1000))} s (2 calls per connection; pages 1 and 2, then 8 at a time)`,
      met: wide.summary.deferred === 0 && wide.seconds < widest.pollIntervalMinutes * 60,
    });
  } finally {
    await makini.close();
  }
}

/** Where the bench is, on stderr (the table goes to stdout). */
const progress = (message: string) => process.stderr.write(`bench poller100k: ${message}\n`);
