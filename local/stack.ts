/**
 * The local stack: the deployed pipeline on one machine, with the same handlers and the same config.
 *
 * AWS is replaced by small local endpoints (dynalite on disk, and the SQS, Secrets Manager and
 * EventBridge doubles in local/aws/), which the handlers reach only through the SDK's standard
 * AWS_ENDPOINT_URL_* variables. API Gateway, the SQS event-source mapping and the poll schedule are
 * emulated here. State lives under `dir` and survives restarts.
 */
import { secretsManagerProvider } from '../lambdas/adapters/secrets-manager-provider';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import * as path from 'node:path';
import { CreateTableCommand, DynamoDBClient, ResourceInUseException } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, PutSecretValueCommand, ResourceExistsException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import type { APIGatewayProxyEventV2, Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import dynalite from 'dynalite';
import { configFromEnv, configToEnv, RESOURCE_ENV, type MakiniWebhookConfig } from '../lambdas/config/config';
import { eventTableDefinition } from '../lambdas/adapters/event-table-schema';
import { createConsumerHandlerFromEnv } from '../lambdas/consumer/consumer';
import { createPollerHandlerFromEnv, type PollRunSummary } from '../lambdas/poller/poller';
import { WEBHOOK_ROUTES } from '../lambdas/core/receive';
import { createReceiverHandlerFromEnv } from '../lambdas/receiver/receiver';
import { startLocalEventBridge, type BusEvent } from './aws/eventbridge';
import type { Fault } from './aws/json-endpoint';
import { startLocalSecretsManager } from './aws/secrets-manager';
import { startLocalSqs } from './aws/sqs';
import { startHttpApi } from './http-api';
import { listenOnLoopback } from './loopback-server';
import { startMakiniApiSimulator, type MakiniApiSimulator } from './makini-api-simulator';
import { DEFAULT_SIMULATED_CONNECTIONS, simulatedConnectionId } from './simulator';

/**
 * GET on the local API: the AWS calls made so far, per service and operation (successful calls
 * only), and per Lambda its invocations and their total milliseconds.
 */
export const LOCAL_CALLS_PATH = '/_local/calls';
/** `POST` runs the poller now and answers its summary (what `makini-webhooks poll` calls). */
export const LOCAL_POLL_PATH = '/_local/poll';

export const LOCAL_NAMES = {
  table: 'makini-events',
  queue: 'makini-webhooks',
  deadLetterQueue: 'makini-webhooks-dlq',
  signingSecret: 'makini/webhook-signing-secret',
  systemCredentials: 'makini/system-credentials',
  eventBus: 'makini-events',
} as const;

/** What `makini-webhooks` reads to reach a running local stack (`<dir>/stack.json`). */
export interface LocalStackInfo {
  readonly webhookUrl: string;
  /** The per-connection URL, `{connection}` to be replaced by a connection id. */
  readonly webhookUrlTemplate: string;
  readonly secretFile: string;
  readonly busLog: string;
  readonly tableName: string;
  readonly eventBusName: string;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly makiniApiUrl: string;
  /** The bundled Makini API simulator answers at `makiniApiUrl` (else a server the user named). */
  readonly makiniSimulator: boolean;
  /** How the poller reaches Makini: `system` (client credentials) or `per-connection` (token secrets). */
  readonly pollMode: 'system' | 'per-connection';
  /** `POST` here runs the poller now. */
  readonly pollUrl: string;
  readonly endpoints: { readonly dynamodb: string; readonly sqs: string; readonly secretsManager: string; readonly eventBridge: string };
  readonly pid: number;
}

export interface LocalStackOptions {
  /** State directory, e.g. `.local`. */
  readonly dir: string;
  /** Port of the webhook endpoint; 0 picks a free one. */
  readonly port: number;
  /** MAKINI_* settings and the local overrides (MAKINI_WEBHOOK_SECRET, MAKINI_API_URL, MAKINI_CLIENT_ID, MAKINI_CLIENT_SECRET). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Wipe `dir` first. */
  readonly reset?: boolean;
  /** One line per processed webhook, and notices. */
  readonly log?: (line: string) => void;
}

export interface LocalStack {
  readonly info: LocalStackInfo;
  readonly config: MakiniWebhookConfig;
  /** The signing secret the receiver verifies with. */
  readonly webhookSecret: string;
  /** Runs the poller now (it also runs on its schedule). */
  pollNow(): Promise<PollRunSummary>;
  /** The bundled Makini API simulator, when it runs. */
  readonly makini?: MakiniApiSimulator;
  close(): Promise<void>;
}

const DUMMY_AWS = { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' } as const;

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const log = options.log ?? (() => undefined);
  const config = configFromEnv({
    ...options.env,
    // MAKINI_API_URL is the local stack's shorthand for the makiniApiUrl setting.
    ...(options.env.MAKINI_API_URL && { MAKINI_MAKINI_API_URL: options.env.MAKINI_API_URL }),
  });
  // One stack per state directory: taken before --reset may wipe it.
  const unlock = lockStateDir(options.dir);
  if (options.reset) for (const entry of readdirSync(options.dir)) if (entry !== LOCK_FILE) rmSync(path.join(options.dir, entry), { recursive: true, force: true });
  const closers: (() => Promise<void>)[] = [async () => unlock()];
  const close = async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
  };

  try {
    // --- AWS-compatible endpoints ---------------------------------------------------------
    const faults = faultReader(path.join(options.dir, 'faults.json'));
    // dynalite's own request handler, behind the same fault switch as the other local endpoints.
    const dynaliteHandler = dynalite({ path: path.join(options.dir, 'dynamodb'), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }).listeners('request')[0] as (req: IncomingMessage, res: ServerResponse) => void;
    const dynamoCalls: Record<string, number> = {};
    const dynamo = await listenOnLoopback(
      createServer((req, res) => {
        const fault = faults().dynamodb;
        if (!fault) {
          const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
          dynamoCalls[operation] = (dynamoCalls[operation] ?? 0) + 1;
          return dynaliteHandler(req, res);
        }
        req.resume();
        res.writeHead(fault === 'throttled' ? 400 : 503, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify(fault === 'throttled' ? { __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', message: 'Injected fault: throughput exceeded.' } : { __type: 'com.amazonaws.dynamodb.v20120810#ServiceUnavailable', message: 'Injected fault.' }));
      }),
    );
    closers.push(dynamo.close);
    const sqs = await startLocalSqs({
      releaseOnStart: true,
      fault: () => faults().sqs,
      dir: path.join(options.dir, 'sqs'),
      queues: [
        { name: LOCAL_NAMES.queue, visibilityTimeoutSeconds: config.consumerTimeoutSeconds * 6, redrive: { deadLetterQueue: LOCAL_NAMES.deadLetterQueue, maxReceiveCount: config.maxReceiveCount } },
        { name: LOCAL_NAMES.deadLetterQueue, visibilityTimeoutSeconds: 30 },
      ],
    });
    closers.push(sqs.close);
    const secrets = await startLocalSecretsManager({ file: path.join(options.dir, 'secrets.json'), fault: (operation) => faults()[`secretsManager.${operation}`] ?? faults().secretsManager });
    closers.push(secrets.close);
    const busLog = path.join(options.dir, 'bus.jsonl');
    const bus = await startLocalEventBridge({ log: busLog, fault: () => faults().eventBridge });
    closers.push(bus.close);

    // The handlers, like every SDK client in this process, find the endpoints here and only here.
    Object.assign(process.env, {
      ...Object.fromEntries(Object.entries(DUMMY_AWS).filter(([k]) => !process.env[k])),
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.url,
      AWS_ENDPOINT_URL_SQS: sqs.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: bus.url,
    });
    const dynamoClient = new DynamoDBClient({});
    try {
      await dynamoClient.send(new CreateTableCommand(eventTableDefinition(LOCAL_NAMES.table)));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    } finally {
      dynamoClient.destroy();
    }
    const { secret: webhookSecret, file: secretFile } = webhookSecretFor(options, config);
    await putSecret(LOCAL_NAMES.signingSecret, webhookSecret);

    // --- Makini: the bundled simulator in system mode, or the server the user named ------------
    let makiniApiUrl = config.makiniApiUrl;
    let makini: MakiniApiSimulator | undefined;
    let credentials = options.env.MAKINI_CLIENT_ID && options.env.MAKINI_CLIENT_SECRET ? { client_id: options.env.MAKINI_CLIENT_ID, client_secret: options.env.MAKINI_CLIENT_SECRET } : undefined;
    if (!options.env.MAKINI_API_URL && !options.env.MAKINI_MAKINI_API_URL) {
      makini = await startMakiniApiSimulator(credentials && { clientId: credentials.client_id, clientSecret: credentials.client_secret });
      closers.push(makini.close);
      makiniApiUrl = makini.url;
      credentials = { client_id: makini.clientId, client_secret: makini.clientSecret };
      // The connections the webhook simulator sends for, so polls and webhooks meet.
      for (let c = 0; c < DEFAULT_SIMULATED_CONNECTIONS; c++) makini.upsertConnection(simulatedConnectionId(c), {});
    }
    const systemMode = config.pollMode === 'system' || (config.pollMode === 'auto' && credentials !== undefined);
    if (credentials && config.pollMode !== 'per-connection') await putSecret(config.systemCredentialsSecret, JSON.stringify(credentials));

    // --- The Lambdas, exactly as deployed: built from their environment ---------------------
    const lambdaEnv = {
      ...process.env,
      // The mode this stack chose: a credentials secret kept from an earlier start must not switch it.
      ...configToEnv({ ...config, makiniApiUrl, pollMode: systemMode ? 'system' : config.pollMode === 'auto' ? 'per-connection' : config.pollMode }),
      [RESOURCE_ENV.queueUrl]: sqs.queueUrl(LOCAL_NAMES.queue),
      [RESOURCE_ENV.signingSecretId]: LOCAL_NAMES.signingSecret,
      [RESOURCE_ENV.eventTable]: LOCAL_NAMES.table,
      [RESOURCE_ENV.eventBus]: LOCAL_NAMES.eventBus,
    };
    const invocations = new InvocationStats();
    const receiver = invocations.track('receiver', createReceiverHandlerFromEnv(lambdaEnv, secretsManagerProvider));
    // One consumer per concurrent poller, as Lambda runs each concurrent batch in its own
    // execution environment (a shared one would mix the batches' metrics into one flush).
    const consumers: ((event: SQSEvent, context: Context) => Promise<SQSBatchResponse>)[] = [];
    const consumerFor = (poller: number) => (consumers[poller] ??= invocations.track('consumer', createConsumerHandlerFromEnv(lambdaEnv)));
    const poller = createPollerHandlerFromEnv(lambdaEnv);

    // --- API Gateway ------------------------------------------------------------------------
    const receive = (event: APIGatewayProxyEventV2) => receiver(event, lambdaContext('receiver', config.receiverTimeoutSeconds));
    const api = await startHttpApi({
      port: options.port,
      timeoutMs: config.receiverTimeoutSeconds * 1000,
      routes: { [WEBHOOK_ROUTES.shared]: receive, [WEBHOOK_ROUTES.perConnection]: receive },
      // AWS calls per service and operation since start: what `npm run bench` divides by webhooks.
      diagnostics: { [LOCAL_CALLS_PATH]: () => ({ sqs: sqs.calls, dynamodb: dynamoCalls, secretsManager: secrets.calls, eventBridge: bus.calls, lambda: invocations.snapshot() }) },
      actions: { [LOCAL_POLL_PATH]: () => pollNow() },
    });
    closers.push(api.close);

    // --- SQS event-source mapping -------------------------------------------------------------
    const mapping = startEventSourceMapping({
      queueUrl: sqs.queueUrl(LOCAL_NAMES.queue),
      queueArn: sqs.queueArn(LOCAL_NAMES.queue),
      batchSize: config.consumerBatchSize,
      batchingWindowMs: config.consumerBatchingWindowSeconds * 1000,
      invoke: (records, poller) => consumerFor(poller)({ Records: records }, lambdaContext('consumer', config.consumerTimeoutSeconds)),
      onError: (error) => log(`consumer invocation failed: ${(error as Error).message}`),
    });
    closers.push(mapping.stop);

    // --- Poll schedule --------------------------------------------------------------------------
    const pollNow = () => poller({}, lambdaContext('poller', config.pollerTimeoutSeconds)) as Promise<PollRunSummary>;
    const timer = setInterval(() => void pollNow().catch((e: unknown) => log(`poll run failed: ${(e as Error).message}`)), config.pollIntervalMinutes * 60_000);
    closers.push(async () => clearInterval(timer));

    bus.onEvent = (event: BusEvent) => log(describe(event));

    const info: LocalStackInfo = {
      webhookUrl: `${api.url}${WEBHOOK_ROUTES.shared}`,
      webhookUrlTemplate: `${api.url}${WEBHOOK_ROUTES.perConnection}`,
      secretFile,
      busLog,
      tableName: LOCAL_NAMES.table,
      eventBusName: LOCAL_NAMES.eventBus,
      queueUrl: sqs.queueUrl(LOCAL_NAMES.queue),
      deadLetterQueueUrl: sqs.queueUrl(LOCAL_NAMES.deadLetterQueue),
      makiniApiUrl,
      makiniSimulator: makini !== undefined,
      pollMode: systemMode ? 'system' : 'per-connection',
      pollUrl: `${api.url}${LOCAL_POLL_PATH}`,
      endpoints: { dynamodb: dynamo.url, sqs: sqs.url, secretsManager: secrets.url, eventBridge: bus.url },
      pid: process.pid,
    };
    writeFileSync(path.join(options.dir, 'stack.json'), `${JSON.stringify(info, null, 2)}\n`);
    return { info, config, webhookSecret, pollNow, close, ...(makini && { makini }) };
  } catch (error) {
    await close();
    // A state file that does not parse (secrets, stack info) is a corrupt directory, not a bug.
    if (error instanceof SyntaxError) throw new LocalStateError(options.dir, error);
    throw error;
  }
}

/** Another local stack already runs on the state directory. */
export class LocalStackRunningError extends Error {
  constructor(
    readonly dir: string,
    readonly pid: number,
    readonly url: string | undefined,
  ) {
    super(`a local stack is already running on ${dir}/ (pid ${pid}${url ? `, ${url}` : ''}); stop it, or use another MAKINI_LOCAL_DIR`);
    this.name = 'LocalStackRunningError';
  }
}

/** The state directory holds something the local stack cannot read. */
export class LocalStateError extends Error {
  constructor(dir: string, cause: unknown) {
    super(`the state directory ${dir}/ is unreadable (${(cause as Error).message.split('\n')[0]}); npm start -- --reset wipes it`);
    this.name = 'LocalStateError';
  }
}

const LOCK_FILE = 'lock';

/**
 * Takes `<dir>/lock` (created exclusively, holding our pid), or throws LocalStackRunningError when
 * a live process holds it. A lock whose process is gone (a `kill -9`) is taken over.
 */
function lockStateDir(dir: string): () => void {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, LOCK_FILE);
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' });
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
      let url: string | undefined;
      try {
        url = (JSON.parse(readFileSync(path.join(dir, 'stack.json'), 'utf8')) as LocalStackInfo).webhookUrl;
      } catch {
        // still starting: no URL yet
      }
      throw new LocalStackRunningError(dir, pid, url);
    }
    rmSync(file, { force: true }); // stale: its process is gone
  }
  throw new Error(`could not take ${file}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Injected faults, from `<dir>/faults.json`, e.g. `{"sqs": "unavailable", "eventBridge": "throttled"}`:
 * write it to see how the pipeline (or your own code) behaves when AWS fails, delete it to recover.
 * One Secrets Manager operation can fail alone, e.g. `{"secretsManager.PutSecretValue": "unavailable"}`
 * (a refreshed token pair that cannot be written back). Re-read only when the file changes.
 */
export type LocalFaults = Partial<Record<'sqs' | 'secretsManager' | 'eventBridge' | 'dynamodb' | `secretsManager.${string}`, Fault>>;
function faultReader(file: string): () => LocalFaults {
  let cached: { mtimeMs: number; faults: LocalFaults } = { mtimeMs: -1, faults: {} };
  return () => {
    const mtimeMs = existsSync(file) ? statSync(file).mtimeMs : 0;
    if (mtimeMs !== cached.mtimeMs) {
      let faults: LocalFaults = {};
      try {
        faults = mtimeMs ? (JSON.parse(readFileSync(file, 'utf8')) as LocalFaults) : {};
      } catch {
        // a half-written file: no faults until it parses
      }
      cached = { mtimeMs, faults };
    }
    return cached.faults;
  };
}

/** The signing secret: MAKINI_WEBHOOK_SECRET, else one generated on first start and kept in `dir`. */
function webhookSecretFor(options: LocalStackOptions, config: MakiniWebhookConfig): { secret: string; file: string } {
  const file = path.join(options.dir, 'webhook-secret');
  if (options.env.MAKINI_WEBHOOK_SECRET) return { secret: options.env.MAKINI_WEBHOOK_SECRET, file: '(MAKINI_WEBHOOK_SECRET)' };
  if (existsSync(file)) return { secret: readFileSync(file, 'utf8').trim(), file };
  const random = randomBytes(24).toString('base64');
  const secret = config.signatureScheme === 'standard-webhooks' ? `whsec_${random}` : random.replace(/[+/=]/g, '');
  writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return { secret, file };
}

async function putSecret(name: string, value: string): Promise<void> {
  const client = new SecretsManagerClient({});
  try {
    await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  } catch (error) {
    if (!(error instanceof ResourceExistsException)) throw error;
    await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
  } finally {
    client.destroy();
  }
}

/** Invocations and wall-clock milliseconds per function, as Lambda would bill them (before rounding up). */
class InvocationStats {
  private readonly stats: Record<string, { invocations: number; ms: number }> = {};

  track<E, R>(name: string, handler: (event: E, context: Context) => Promise<R>): (event: E, context: Context) => Promise<R> {
    const entry = (this.stats[name] ??= { invocations: 0, ms: 0 });
    return async (event, context) => {
      const started = performance.now();
      try {
        return await handler(event, context);
      } finally {
        entry.invocations++;
        entry.ms += performance.now() - started;
      }
    };
  }

  snapshot(): Record<string, { invocations: number; ms: number }> {
    return structuredClone(this.stats);
  }
}

function lambdaContext(functionName: string, timeoutSeconds: number): Context {
  const deadline = Date.now() + timeoutSeconds * 1000;
  return {
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: `local-${randomBytes(8).toString('hex')}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/**
 * The SQS event-source mapping, as Lambda runs it: long-poll the queue, fill a batch up to the batch
 * size (or the batching window), invoke the consumer, delete only the records it did not report in
 * `batchItemFailures`. Failed records stay invisible for the visibility timeout, then come back.
 */
export function startEventSourceMapping(options: {
  queueUrl: string;
  queueArn: string;
  batchSize: number;
  batchingWindowMs: number;
  /** Called with the batch and the index of the poller that received it. */
  invoke: (records: SQSRecord[], poller: number) => Promise<{ batchItemFailures: { itemIdentifier: string }[] } | void>;
  onError?: (error: unknown) => void;
  /** Concurrent pollers, as Lambda scales them. @default 2 */
  pollers?: number;
}): { stop(): Promise<void> } {
  const client = new SQSClient({});
  let running = true;
  const loop = async (poller: number) => {
    while (running) {
      try {
        const messages = await receiveBatch();
        if (messages.length === 0) continue;
        const records = messages.map((m) => toRecord(m, options.queueArn));
        let failed: Set<string>;
        try {
          const response = await options.invoke(records, poller);
          failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
        } catch (error) {
          options.onError?.(error);
          failed = new Set(records.map((r) => r.messageId)); // a failed invocation retries the whole batch
        }
        const done = messages.filter((m) => !failed.has(m.MessageId!));
        for (let i = 0; i < done.length; i += 10) {
          await client.send(new DeleteMessageBatchCommand({ QueueUrl: options.queueUrl, Entries: done.slice(i, i + 10).map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle })) }));
        }
      } catch (error) {
        if (running) {
          options.onError?.(error);
          await new Promise((r) => setTimeout(r, 500));
        }
      }
    }
  };
  async function receiveBatch(): Promise<Message[]> {
    const batch: Message[] = [];
    const windowEnds = Date.now() + options.batchingWindowMs;
    do {
      const { Messages = [] } = await client.send(
        new ReceiveMessageCommand({
          QueueUrl: options.queueUrl,
          MaxNumberOfMessages: Math.min(10, options.batchSize - batch.length),
          WaitTimeSeconds: batch.length === 0 ? 1 : 0,
          MessageSystemAttributeNames: ['All'],
        }),
      );
      batch.push(...Messages);
      if (Messages.length === 0 && batch.length > 0 && Date.now() >= windowEnds) break;
    } while (running && batch.length < options.batchSize && Date.now() < windowEnds);
    return batch;
  }
  const loops = Array.from({ length: options.pollers ?? 2 }, (_, poller) => loop(poller));
  return {
    stop: async () => {
      running = false;
      await Promise.all(loops);
      client.destroy();
    },
  };
}

/** A received SQS message as the Lambda event source hands it to the function. */
export function toRecord(m: Message, queueArn: string): SQSRecord {
  return {
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body ?? '',
    attributes: {
      ApproximateReceiveCount: m.Attributes?.ApproximateReceiveCount ?? '1',
      SentTimestamp: m.Attributes?.SentTimestamp ?? '0',
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: m.Attributes?.ApproximateFirstReceiveTimestamp ?? '0',
    },
    messageAttributes: {},
    md5OfBody: m.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: 'us-east-1',
  };
}

/** One concise line per processed webhook, from the event the consumer put on the bus. */
function describe(event: BusEvent): string {
  const detail = event.detail as { event?: { webhookId?: string; connectionId?: string; source?: string; ids?: string[] }; state?: { status?: string }; stale?: boolean; transition?: { from: string; to: string } };
  const parts = [`processed ${event['detail-type']}`, detail.event?.webhookId];
  if (detail.event?.ids) parts.push(`${detail.event.ids.length} id(s)`);
  parts.push(detail.event?.connectionId === undefined ? 'no connection' : `connection ${detail.event.connectionId} status ${detail.state?.status}`);
  if (detail.transition) parts.push(`(${detail.transition.from} -> ${detail.transition.to})`);
  if (detail.stale) parts.push('(stale)');
  if (detail.event?.source === 'poll') parts.push('[from poll]');
  return parts.join(' ');
}
