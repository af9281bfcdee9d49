/**
 * `npm run bench`: every figure of issue 7 (cold start, warm path, pipeline, AWS calls, poller, cost),
 * each against a baseline measured in the same run (the machine is shared and noisy, so only same-run
 * ratios and medians mean anything).
 * Prints one markdown table and writes the same figures to bench/results/latest.json.
 *
 * Figures, never assertions: tests do not time anything.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { RESOURCE_ENV, resolveConfig } from '../lambdas/config/config';
import type { Context } from 'aws-lambda';
import { secretsManagerProvider } from '../lambdas/adapters/secrets-manager-provider';
import { MakiniApiClient } from '../lambdas/adapters/makini-api-client';
import { createPoller, pollerSettings } from '../lambdas/poller/poller';
import { createReceiverHandlerFromEnv } from '../lambdas/receiver/receiver';
import { awsClientConfig } from '../lambdas/adapters/aws-client-config';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { startMakiniApiSimulator } from '../local/makini-api-simulator';
import { apiGatewayEvent } from '../test/support/api-gateway-event';
import { BASELINE_BUNDLING, synthBundleOf, synthLambdaBundles } from '../test/support/lambda-bundles';
import { endToEnd, type PipelineFigures } from './end-to-end';
import { accessLogLineBytes, costRows, emfMetrics, fixedRows, platformLogBytes, type TokenTableFigures } from './cost';
import { KMSClient } from '@aws-sdk/client-kms';
import { QueryCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { KmsEnvelope } from '../lambdas/adapters/kms-envelope';
import { DynamoDbConnectionTokens } from '../lambdas/adapters/dynamodb-connection-tokens';
import { ACCESS_TOKEN_DAYS } from '../lambdas/core/connection-secret';
import { startLocalKms } from '../local/aws/kms';
import { accessLogFormat } from '../lib/makini-webhook-ingestion';
import { createConsumerHandlerFromEnv } from '../lambdas/consumer/consumer';
import { encodeEnvelope } from '../lambdas/core/envelope';
import { startLocalEventBridge } from '../local/aws/eventbridge';
import { sampleEvent } from '../local/sample-events';
import { toRecord } from '../local/stack';
import { startDynalite } from '../test/support/dynalite';
import { hotConnection } from './hot-connection';
import { iamPolicy } from './iam-policy';
import { cdkApp } from '../test/support/cdk-app';
import { MakiniWebhookStack } from '../lib/makini-webhook-stack';
import { pollerHundredThousand } from './poller-scale';
import { largeBodies } from './large-bodies';
import { recurringNotifications } from './recurring-notifications';
import { median, round, type Row } from './rows';


/** Region and dummy credentials: nothing here reaches AWS. */
const BENCH_AWS = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
  // As Lambda sets it for an on-demand environment: Powertools would emit a ColdStart metric (if we
  // asked for one) only then, and the fixed-cost rows count every metric the handlers emit.
  AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
} as const;

/**
 * Median init overhead (ms) of each file: a fresh node process loading it and building its handler,
 * minus the same for an empty handler. The files are measured in turn within each of `runs` rounds,
 * so a slow spell of this shared machine hits them all alike.
 */
function initOverheads(files: readonly string[], runs: number): { baselineMs: number; overheadMs: number[] } {
  const env = {
    ...process.env,
    ...BENCH_AWS,
    // Local Node 20 only; Lambda runs nodejs22.x.
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    [RESOURCE_ENV.queueUrl]: 'http://127.0.0.1:9/000000000000/bench',
    [RESOURCE_ENV.signingSecretId]: 'bench',
    [RESOURCE_ENV.eventTable]: 'bench',
    [RESOURCE_ENV.eventBus]: 'bench',
  };
  const empty = path.join(mkdtempSync(path.join(tmpdir(), 'makini-bench-')), 'empty.mjs');
  writeFileSync(empty, 'export const handler = async () => ({ statusCode: 200 });');
  const once = (file: string) => {
    // An ES module is imported, a CommonJS bundle required, as the Lambda runtime loads each.
    const load = file.endsWith('.mjs') ? `await import(${JSON.stringify(pathToFileURL(file).href)})` : `createRequire(import.meta.url)(${JSON.stringify(file)})`;
    const script = `import { createRequire } from 'node:module';const t=process.hrtime.bigint();${load};process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))`;
    return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { env }).toString());
  };
  const samples = [empty, ...files].map(() => [] as number[]);
  for (let r = 0; r < runs; r++) [empty, ...files].forEach((file, i) => samples[i].push(once(file)));
  const [baselineMs, ...medians] = samples.map(median);
  return { baselineMs, overheadMs: medians.map((m) => m - baselineMs) };
}

/** Median CPU microseconds per call of `fn` over `reps` repetitions of `iterations` calls. */
async function cpuMicros(fn: () => unknown, iterations: number, reps = 5): Promise<number> {
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const start = process.cpuUsage();
    for (let i = 0; i < iterations; i++) await fn();
    const used = process.cpuUsage(start);
    samples.push((used.user + used.system) / iterations);
  }
  return median(samples);
}

/**
 * The production receiver, built from its environment as Lambda builds it, against local SQS and
 * Secrets Manager endpoints running in a child process.
 */
async function warmHandler(secret: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'aws-endpoints.ts'), 'bench-signing-secret', secret], { stdio: ['pipe', 'pipe', 'inherit'] });
  const endpoints = await new Promise<{ sqs: string; secretsManager: string; queueUrl: string }>((resolve, reject) => {
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('\n')) resolve(JSON.parse(text.slice(0, text.indexOf('\n'))));
    });
    child.once('exit', (code) => reject(new Error(`the endpoint process exited with ${code}`)));
  });
  // The SDK reads region, credentials and endpoints from process.env, as in Lambda.
  const restoreEnv = withEnv({
    ...BENCH_AWS,
    AWS_ENDPOINT_URL_SQS: endpoints.sqs,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: endpoints.secretsManager,
    [RESOURCE_ENV.queueUrl]: endpoints.queueUrl,
    [RESOURCE_ENV.signingSecretId]: 'bench-signing-secret',
  });
  const handler = createReceiverHandlerFromEnv(process.env, secretsManagerProvider);
  const context = { functionName: 'receiver', awsRequestId: 'bench', getRemainingTimeInMillis: () => 5000 } as unknown as Context;
  // The same send the receiver makes, alone: what the SDK's SendMessage costs without our code.
  const sqs = new SQSClient(awsClientConfig(resolveConfig()));
  return {
    invoke: (event: ReturnType<typeof apiGatewayEvent>) => handler(event, context),
    sendOnly: (body: string) => sqs.send(new SendMessageCommand({ QueueUrl: endpoints.queueUrl, MessageBody: body })),
    close: async () => {
      sqs.destroy();
      restoreEnv();
      child.stdin.end();
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

/**
 * Runs `fn` with stdout swallowed (log lines and EMF still formatted and written), counting bytes.
 * With `metrics`, it also keeps the output and lists the custom metrics its EMF lines name, after
 * `fn` (never while a timed loop writes).
 */
async function countingStdout<T>(fn: () => Promise<T>, options: { metrics?: boolean } = {}): Promise<{ result: T; bytes: number; metrics: string[] }> {
  const write = process.stdout.write.bind(process.stdout);
  let bytes = 0;
  const kept: string[] = [];
  process.stdout.write = ((chunk: string | Uint8Array) => {
    bytes += Buffer.byteLength(chunk);
    if (options.metrics) kept.push(chunk.toString());
    return true;
  }) as typeof process.stdout.write;
  try {
    const result = await fn();
    return { result, bytes, metrics: options.metrics ? emfMetrics(kept.join('')) : [] };
  } finally {
    process.stdout.write = write;
  }
}

/** Sets environment variables until the returned function puts the previous values back. */
function withEnv(vars: Record<string, string>): () => void {
  const previous = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  return () => {
    for (const [k, v] of Object.entries(previous)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
}

/** Figures one section measures and the cost section prices. */
interface Figures {
  receiverLogBytes?: number;
  consumerLogBytes?: number;
  pipeline?: PipelineFigures;
  /** Custom metrics (EMF) a new webhook makes the receiver and the consumer emit, on their first invocation and after. */
  receiverMetrics?: string[];
  consumerMetrics?: string[];
  /** Custom metrics every system-mode poll run emits, and its time per connection (s). */
  pollRunMetrics?: string[];
  pollerSecondsPerConnection?: number;
  /** Per-connection mode's token items, measured in the poller section. */
  tokenTable?: TokenTableFigures;
}


async function warmPath(rows: Row[], figures: Figures): Promise<void> {
  const secret = 'bench-signing-secret-value';
  const receiver = await warmHandler(secret);
  try {
    for (const kb of [1, 10, 100]) {
      const body = JSON.stringify({ id: 'evt_bench', type: 'sync.completed', connection_id: 'conn_1', data: { pad: 'x'.repeat(kb * 1024 - 80) } });
      const event = apiGatewayEvent({ body, headers: { 'x-makini-signature': `sha256=${createHmac('sha256', secret).update(body).digest('hex')}` } });
      const { result: first, metrics: coldMetrics } = await countingStdout(() => receiver.invoke(event), { metrics: true });
      if (first.statusCode !== 200) throw new Error(`the receiver answered ${first.statusCode}: ${first.body}`);
      if (kb === 1) figures.receiverMetrics = [...new Set([...coldMetrics, ...(await countingStdout(() => receiver.invoke(event), { metrics: true })).metrics])];
      const iterations = kb === 100 ? 300 : 1000;
      const floor = await cpuMicros(() => createHmac('sha256', secret).update(Buffer.from(body)).digest(), iterations);
      const { result: measured } = await countingStdout(() => cpuMicros(() => receiver.invoke(event), iterations));
      const sdkSend = await cpuMicros(() => receiver.sendOnly(body), iterations);
      const { bytes } = await countingStdout(() => receiver.invoke(event));
      if (kb === 1) {
        rows.push({ metric: 'receiver log + EMF bytes per webhook', value: bytes, unit: 'B' });
        figures.receiverLogBytes = bytes;
      }
      rows.push({
        metric: `receiver warm path, ${kb} KB body (SQS send answered by the local endpoint)`,
        value: round(measured),
        unit: 'µs CPU',
        target: kb === 1 ? '≤ 300 µs' : undefined,
        baseline: `HMAC + copy ${round(floor)} µs (×${round(measured / floor)}); the SDK's SendMessage alone ${round(sdkSend)} µs`,
        met: kb === 1 ? measured <= 300 : undefined,
      });
    }
  } finally {
    await receiver.close();
  }
}

/**
 * Poller scale, against the Makini API simulator at 50 ms per request and the default concurrency.
 * State and queue are in memory: these rows measure the polling, not DynamoDB or Secrets Manager.
 * - system mode: 10,000 connections listed in 10 pages of 1,000, then per connection an issued token
 *   and `/api/integrations/current` (two calls each), pollAll;
 * - per-connection mode: 1,000 connections whose access tokens expire in 3 days, so every one is
 *   refreshed (and written back) before its poll.
 */
async function pollerScale(rows: Row[], figures: Figures): Promise<void> {
  const config = resolveConfig({ pollAll: true, makiniPageSize: 1_000 });
  const makini = await startMakiniApiSimulator({ latencyMs: 50 });
  const common = {
    store: { loadCandidates: async (ids: readonly string[]) => ids.map((connectionId) => ({ connectionId })), savePollRecord: async () => undefined, listPolledConnectionIds: async () => [], acquirePollLease: async () => true, releasePollLease: async () => undefined },
    api: new MakiniApiClient({ baseUrl: makini.url, pageSize: config.makiniPageSize, timeoutMs: config.makiniRequestTimeoutMs, maxAttempts: config.makiniMaxAttempts }),
    queue: { send: async () => undefined },
    logger: new Logger({ serviceName: 'poller', logLevel: 'ERROR' }),
    metrics: new Metrics({ namespace: 'Bench', serviceName: 'poller' }),
  };
  try {
    const connections = 10_000;
    makini.seedConnections(connections);
    const system = createPoller({
      ...common,
      credentials: { read: async () => ({ clientId: makini.clientId, clientSecret: makini.clientSecret }) },
      tokens: { discover: async () => ({ tokens: [], invalid: [] }), writeBack: async () => undefined, forget: () => undefined },
      settings: { ...pollerSettings(config), budgetMs: 10 * 60_000 },
    });
    let started = performance.now();
    let seconds = 0;
    // The handler's middleware flushes the metrics after each run; createPoller alone does not.
    const { result: summary, metrics: pollRunMetrics } = await countingStdout(
      async () => {
        const result = await system({});
        seconds = (performance.now() - started) / 1000;
        common.metrics.publishStoredMetrics();
        return result;
      },
      { metrics: true },
    );
    figures.pollRunMetrics = pollRunMetrics;
    figures.pollerSecondsPerConnection = seconds / connections;
    rows.push({
      metric: `poller, system mode: ${connections.toLocaleString('en')} connections (${makini.stats.byRoute.connections} pages), 50 ms API latency, concurrency ${config.pollConcurrency}`,
      value: round(seconds),
      unit: 's',
      target: '< 30 s',
      baseline: `floor ${round((connections * 2 * 0.05) / config.pollConcurrency + makini.stats.byRoute.connections * 0.05)} s (2 calls per connection); ${makini.stats.requests.toLocaleString('en')} requests, peak ${makini.stats.peakConcurrency} in flight; ${summary.polled} polled, ${summary.failed} failed`,
      met: seconds < 30 && summary.polled === connections && summary.failed === 0,
    });

    // Per-connection mode with the default token store, the table (dynalite and the local KMS). The
    // pairs are written as a month of operation would: each day a new instance (nothing cached)
    // stores a thirtieth of them, as `connections add` and the poller's write-backs do. Then a poller
    // of its own reads and writes back every one, as a cold Lambda instance would.
    const due = 1_000;
    const tokenKey = 'arn:aws:kms:us-east-1:000000000000:key/bench-token-key';
    const [dynamo, kms] = await Promise.all([startDynalite(), startLocalKms({ keys: [tokenKey] })]);
    const kmsClient = new KMSClient({ endpoint: kms.url, region: 'us-east-1', credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' } });
    try {
      const month = Date.now();
      const tableStore = (day: number) => {
        const envelope = new KmsEnvelope(kmsClient, tokenKey, { now: () => month + day * 86_400_000 });
        return { envelope, store: new DynamoDbConnectionTokens(dynamo.doc, envelope, { tableName: dynamo.tableName, cacheSeconds: config.tokenCacheSeconds, reseal: true }) };
      };
      let writerKms = 0;
      for (let day = 0; day < 30; day++) {
        const { envelope, store: writer } = tableStore(day);
        for (let i = Math.floor((day * due) / 30); i < Math.floor(((day + 1) * due) / 30); i++) {
          const key = `conn_${i + 1}`;
          const pair = makini.issuePair(key, { accessTtlSeconds: 3 * 86_400 });
          await writer.save({ connectionId: key, token: pair.access_token, refreshToken: pair.refresh_token, expiresAt: new Date(Number(pair.expires_in) * 1000).toISOString(), refreshExpiresAt: pair.refresh_expires_at });
        }
        writerKms += envelope.calls.generateDataKey + envelope.calls.decrypt;
      }
      const before = await tokenItems(dynamo);
      // The month's last day: every pair still under the month's one data key.
      const { envelope, store } = tableStore(29.5);
      const perConnection = createPoller({
        ...common,
        credentials: { read: async () => undefined },
        tokens: store,
        settings: { ...pollerSettings(config), mode: 'per-connection', budgetMs: 10 * 60_000 },
      });
      started = performance.now();
      const { result: refreshed } = await countingStdout(() => perConnection({}));
      seconds = (performance.now() - started) / 1000;
      const after = await tokenItems(dynamo);
      const kmsCalls = envelope.calls.generateDataKey + envelope.calls.decrypt;
      rows.push({
        metric: `poller, per-connection mode: ${due.toLocaleString('en')} connections, every token due for refresh, 50 ms API latency (tokens in the table, sealed under a KMS data key)`,
        value: round(seconds),
        unit: 's',
        target: '< 30 s',
        baseline: `floor ${round((due * 2 * 0.05) / config.pollConcurrency)} s (refresh + poll); ${refreshed.tokensRefreshed} refreshed, ${after.refreshed(before)} written back, ${refreshed.polled} polled, ${refreshed.failed} failed; KMS: ${envelope.calls.decrypt} Decrypt, ${envelope.calls.generateDataKey} GenerateDataKey (the pairs written by 30 daily instances, ${writerKms} KMS requests in all)`,
        met: seconds < 30 && refreshed.tokensRefreshed === due && refreshed.polled === due && after.refreshed(before) === due,
      });
      figures.tokenTable = {
        itemBytes: after.meanBytes,
        rruPerConnectionRun: after.queryRru / due,
        wruPerWrite: Math.ceil(after.meanBytes / 1024),
        connections: due,
        kmsCalls,
      };
    } finally {
      kmsClient.destroy();
      await Promise.all([dynamo.close(), kms.close()]);
    }
  } finally {
    await makini.close();
  }
}

/**
 * The token items of the table: their mean size, the read units of the one strongly consistent
 * Query that reads them all (as the store does; dynalite bills it as DynamoDB does), and which
 * pairs changed since an earlier reading.
 */
async function tokenItems(dynamo: Awaited<ReturnType<typeof startDynalite>>) {
  const { itemSize } = await import('dynalite/db');
  const items = new Map<string, string>();
  let bytes = 0;
  let queryRru = 0;
  let ExclusiveStartKey: Record<string, AttributeValue> | undefined;
  do {
    const page = await dynamo.client.send(
      new QueryCommand({ TableName: dynamo.tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': { S: 'TOKENS' } }, ConsistentRead: true, ReturnConsumedCapacity: 'TOTAL', ExclusiveStartKey }),
    );
    for (const item of page.Items ?? []) {
      if (!item.sk?.S?.startsWith('CONNECTION#')) continue;
      items.set(item.sk.S, JSON.stringify(item.sealed));
      bytes += itemSize(item);
    }
    queryRru += page.ConsumedCapacity?.CapacityUnits ?? 0;
    ExclusiveStartKey = page.LastEvaluatedKey;
  } while (ExclusiveStartKey);
  return {
    items,
    meanBytes: bytes / Math.max(1, items.size),
    queryRru,
    refreshed: (earlier: { items: Map<string, string> }) => [...items].filter(([key, sealed]) => earlier.items.get(key) !== sealed).length,
  };
}

/** Cold start (row 1): each bundle's size and init overhead. */
async function coldStart(rows: Row[]): Promise<void> {
  const bundles = synthLambdaBundles();
  const names = ['receiver', 'consumer', 'poller'] as const;
  const before = Object.fromEntries(names.map((name) => [name, synthBundleOf(path.join(__dirname, '..', 'lambdas', name, 'handler.ts'), BASELINE_BUNDLING)]));
  // Issue 7's suggestion, measured against what ships: the signing secret through the Parameters
  // and Secrets Lambda Extension instead of the Secrets Manager client (bench/variants).
  const variant = synthBundleOf(path.join(__dirname, 'variants', 'receiver-parameters-extension.ts'));
  const files = [...names.flatMap((name) => [bundles[name].file, before[name].file]), variant.file];
  const { baselineMs, overheadMs } = initOverheads(files, 11);
  const initOf = (file: string) => overheadMs[files.indexOf(file)];
  for (const name of names) {
    const kb = statSync(bundles[name].file).size / 1024;
    const receiver = name === 'receiver';
    const beforeKb = statSync(before[name].file).size / 1024;
    rows.push({ metric: `${name} bundle size`, value: round(kb), unit: 'KB', target: receiver ? '≤ 256 KB' : undefined, baseline: `CommonJS with the SDK's full credential chain ${round(beforeKb)} KB (×${round(kb / beforeKb, 2)})`, met: receiver ? kb <= 256 : undefined });
    const init = initOf(bundles[name].file);
    rows.push({ metric: `${name} init overhead (fresh process)`, value: round(init), unit: 'ms', target: receiver ? '≤ 50 ms' : undefined, baseline: `empty handler ${round(baselineMs)} ms; the CommonJS bundle ${round(initOf(before[name].file))} ms`, met: receiver ? init <= 50 : undefined });
  }
  const shipped = statSync(bundles.receiver.file).size / 1024;
  const variantKb = statSync(variant.file).size / 1024;
  rows.push({
    metric: 'receiver with the Parameters and Secrets extension instead of the SDK client (experiment, not shipped)',
    value: round(variantKb),
    unit: 'KB',
    baseline: `${round(variantKb - shipped)} KB against the shipped receiver; init overhead ${round(initOf(variant.file))} ms, not counting the extension's own process`,
  });
}

/**
 * The consumer's log lines and EMF per webhook, at the default INFO level: the production handler
 * on batches of 10 new webhooks, against dynalite and a local EventBridge in this process.
 */
async function consumerLogs(rows: Row[], figures: Figures): Promise<void> {
  const [dynamo, bus] = await Promise.all([startDynalite(), startLocalEventBridge()]);
  const restoreEnv = withEnv({
    ...BENCH_AWS,
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: bus.url,
    [RESOURCE_ENV.eventTable]: dynamo.tableName,
    [RESOURCE_ENV.eventBus]: 'bench',
  });
  try {
    const consumer = createConsumerHandlerFromEnv(process.env);
    const context = { functionName: 'consumer', awsRequestId: 'bench', getRemainingTimeInMillis: () => 30_000 } as unknown as Context;
    let n = 0;
    const batch = () => ({
      Records: Array.from({ length: 10 }, () => {
        const i = n++;
        const body = Buffer.from(JSON.stringify(sampleEvent('sync.completed', { id: `evt_bench_${i}`, connectionId: `conn_${i % 7}`, timestamp: new Date(Date.UTC(2026, 10, 22) + i * 1000).toISOString() })));
        const message = { MessageId: `msg-${i}`, ReceiptHandle: `rh-${i}`, Body: encodeEnvelope({ webhookId: `evt_bench_${i}`, receivedAt: new Date().toISOString(), scheme: 'makini', requestId: `req-${i}` }, body), MD5OfBody: '', Attributes: {} };
        return toRecord(message, 'arn:aws:sqs:us-east-1:000000000000:bench');
      }),
    });
    const { metrics: coldMetrics } = await countingStdout(() => consumer(batch(), context), { metrics: true });
    const batches = 20;
    const { bytes, metrics } = await countingStdout(
      async () => {
        for (let b = 0; b < batches; b++) await consumer(batch(), context);
      },
      { metrics: true },
    );
    figures.consumerLogBytes = bytes / (batches * 10);
    figures.consumerMetrics = [...new Set([...coldMetrics, ...metrics])];
    rows.push({ metric: 'consumer log + EMF bytes per webhook (batches of 10 new webhooks)', value: round(bytes / (batches * 10)), unit: 'B' });
  } finally {
    restoreEnv();
    await Promise.all([dynamo.close(), bus.close()]);
  }
}

async function pipeline(rows: Row[], figures: Figures): Promise<void> {
  figures.pipeline = await endToEnd(rows);
}

/** Row 6: needs the log bytes and the pipeline figures, so it runs after those sections. */
async function cost(rows: Row[], figures: Figures): Promise<void> {
  const { pipeline: p, receiverLogBytes, consumerLogBytes } = figures;
  if (!p || receiverLogBytes === undefined || consumerLogBytes === undefined) throw new Error('the cost section needs the warm, consumer and e2e sections');
  const measured = {
    sqsRequests: p.sqsRequestsPerWebhook,
    busEvents: p.busEventsPerWebhook,
    receiverMs: p.receiverMsPerInvocation,
    consumerInvocations: p.consumerInvocationsPerWebhook,
    consumerMs: p.consumerMsPerWebhook,
    receiverLogBytes,
    consumerLogBytes,
    accessLogBytes: accessLogLineBytes(accessLogFormat().toString()),
    platformLogBytes: platformLogBytes(resolveConfig().platformLogLevel),
  };
  // Priced: Makini's own notifications of about 1 KB, what a deployment receives. The pipeline's
  // other figures (SQS, Lambda, logs) come from the id-bearing events of the e2e bursts, the same
  // for both: what differs is DynamoDB, by item size and by deduplication by content.
  const n = p.notifications;
  costRows(rows, { ...measured, wru: n.wruPerNew, rru: n.rruPerNew, webhookItemBytes: n.webhookItemBytes, busEventBytes: n.busEventBytes }, `Makini notifications of ${Math.round(n.bodyBytes)} B`, [
    { label: `events with an id in the body (${Math.round(p.bodyBytes)} B, deduplicated by id)`, inputs: { ...measured, wru: p.wruPerNew, rru: p.rruPerNew, webhookItemBytes: p.webhookItemBytes, busEventBytes: p.busEventBytes } },
  ]);
}

/**
 * Fixed monthly costs and the cost of one more connection: the alarms, dashboards, keys and secrets
 * of the synthesized default stack, and the custom metrics the other sections saw emitted.
 */
async function fixed(rows: Row[], figures: Figures): Promise<void> {
  const { receiverMetrics, consumerMetrics, pollRunMetrics, pollerSecondsPerConnection, tokenTable } = figures;
  if (!receiverMetrics || !consumerMetrics || !pollRunMetrics || pollerSecondsPerConnection === undefined || !tokenTable) throw new Error('the fixed section needs the warm, consumer and poller sections');
  const config = resolveConfig();
  const app = cdkApp({ bundle: false });
  const stack = new MakiniWebhookStack(app, 'BenchFixed');
  const resources = Object.values(app.synth().getStackByName(stack.stackName).template.Resources as Record<string, { Type: string; Properties?: Record<string, unknown> }>);
  const ofType = (type: string) => resources.filter((r) => r.Type === type);
  const alarms = ofType('AWS::CloudWatch::Alarm');
  // A metric-math alarm is billed for each metric it reads; a plain alarm reads one.
  const alarmMetrics = alarms.reduce((n, a) => n + (Array.isArray(a.Properties?.Metrics) ? (a.Properties.Metrics as { MetricStat?: unknown }[]).filter((m) => m.MetricStat).length : 1), 0);
  fixedRows(rows, {
    alarms: alarms.length,
    alarmMetrics,
    dashboards: ofType('AWS::CloudWatch::Dashboard').length,
    kmsKeys: ofType('AWS::KMS::Key').length,
    stackSecrets: ofType('AWS::SecretsManager::Secret').length,
    sqsEventSourceMappings: ofType('AWS::Lambda::EventSourceMapping').length,
    pollRunMetrics,
    webhookMetrics: [...new Set([...receiverMetrics, ...consumerMetrics])],
    pollIntervalMinutes: config.pollIntervalMinutes,
    pollerMemoryGb: config.pollerMemoryMB / 1024,
    pollerSecondsPerConnection,
    tokenTable,
    tokenRefreshDays: ACCESS_TOKEN_DAYS - config.tokenRefreshMarginDays,
  });
}

/**
 * `npm start`'s start-up: the first start on a fresh state directory and an empty assembly cache
 * (synthesizing the stack and bundling its functions, then creating the table, the queues, the
 * secrets), then later starts on the same directory, each until the banner is printed.
 */
async function startUp(rows: Row[]): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), 'makini-bench-start-'));
  const cache = mkdtempSync(path.join(tmpdir(), 'makini-bench-assembly-'));
  const once = () =>
    new Promise<number>((resolve, reject) => {
      const started = performance.now();
      const child = spawn(process.execPath, ['--import', 'tsx', 'bin/local.ts'], { cwd: path.join(__dirname, '..'), env: { ...process.env, PORT: '0', MAKINI_LOCAL_DIR: dir, MAKINI_LOCAL_ASSEMBLY_CACHE: cache }, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      let ms = 0;
      child.stdout.on('data', (d: Buffer) => {
        output += d.toString();
        if (!ms && output.includes('local stack running')) {
          ms = performance.now() - started;
          child.kill('SIGINT');
        }
      });
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.once('exit', () => (ms ? resolve(ms) : reject(new Error(`npm start did not start:\n${output}`))));
    });
  const first = await once();
  const later = [await once(), await once(), await once()];
  rows.push({ metric: 'npm start, first start (fresh state directory, synthesis included)', value: round(first / 1000), unit: 's', target: '≤ 60 s', met: first <= 60_000 });
  rows.push({ metric: 'npm start, later starts (median of 3)', value: round(median(later) / 1000), unit: 's', target: '≤ 10 s', baseline: `${later.map((ms) => round(ms / 1000)).join(', ')} s`, met: median(later) <= 10_000 });
}

const SECTIONS: Record<string, (rows: Row[], figures: Figures) => Promise<void>> = { cold: coldStart, warm: warmPath, consumer: consumerLogs, poller: pollerScale, e2e: pipeline, cost, fixed, start: startUp, iam: iamPolicy, hot: hotConnection, poller100k: pollerHundredThousand, bodies: largeBodies, recurring: recurringNotifications };
/** Sections whose figures a section needs. */
const NEEDS: Record<string, readonly string[]> = { cost: ['warm', 'consumer', 'e2e'], fixed: ['warm', 'consumer', 'poller'] };

/** `npm run bench` runs every section; `npm run bench -- e2e warm` only those (the JSON then holds only them). */
async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const unknown = wanted.filter((name) => !(name in SECTIONS));
  if (unknown.length > 0) throw new Error(`unknown bench section(s) ${unknown.join(', ')}; choose from ${Object.keys(SECTIONS).join(', ')}`);
  const selected = new Set(wanted.flatMap((name) => [name, ...(NEEDS[name] ?? [])]));
  const rows: Row[] = [];
  const figures: Figures = {};
  for (const [name, section] of Object.entries(SECTIONS)) if (wanted.length === 0 || selected.has(name)) await section(rows, figures);

  const mark = (r: Row) => (r.met === undefined ? '' : r.met ? 'met' : 'missed');
  console.log('| metric | value | target | same-run baseline | |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.metric} | ${r.value} ${r.unit} | ${r.target ?? ''} | ${r.baseline ?? ''} | ${mark(r)} |`);

  const dir = path.join(__dirname, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'latest.json'), `${JSON.stringify({ at: new Date().toISOString(), node: process.version, rows }, null, 2)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
