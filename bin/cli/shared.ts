/**
 * What the `makini-webhooks` commands share: the streams they talk through, usage errors, option
 * helpers, the signing settings, where the operations act (the local stack or a deployed one) and
 * plain-text tables.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Command, Option } from 'commander';
import { configFromEnv, HMAC_ALGORITHMS, resolveConfig, SIGNATURE_SCHEMES, type MakiniWebhookConfig, type TokenStore } from '../../lambdas/config/config';
import { isKnownEventType, MAKINI_EVENT_TYPES, type MakiniEventType } from '../../lambdas/core/event-types';
import { DynamoDbEventStore, type StoredWebhook } from '../../lambdas/adapters/dynamodb-event-store';
import { S3BodyStore, s3ClientConfig } from '../../lambdas/adapters/s3-body-store';
import { connectionTokenStores, type ConnectionTokenStores } from '../../lambdas/adapters/connection-token-stores';
import { readPointedBody } from '../../lambdas/core/body-store';
import { normaliseEvent, POLL_EVENT_FIELDS, type EventFields, type MakiniEvent } from '../../lambdas/core/event';
import type { LocalStackInfo } from '../../local/stack';

/** An output stream; `isTTY` and `columns` as a terminal's have them. */
export type OutStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

/** The streams the CLI talks through; tests pass their own. */
export interface CliIo {
  readonly stdout: OutStream;
  readonly stderr: OutStream;
  readonly stdin: NodeJS.ReadableStream & { isTTY?: boolean };
}

/** The command line was wrong: one line on stderr and exit code 2. */
export class UsageError extends Error {}

/** Exit codes: 0 success, 1 a failure (a request, a run, AWS), 2 a usage error. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** What every command's action gets: the streams, and where to put its exit code. */
export interface CommandContext {
  readonly io: CliIo;
  /** Records the command's exit code (the last call wins). */
  exit(code: number): void;
}

/**
 * Adds a subcommand with the CLI's conventions: options only where declared, extra operands
 * checked by the action (so the message can leave them out when they might hold a secret).
 */
export function subcommand(parent: Command, name: string, summary: string): Command {
  return parent.command(name).summary(summary).allowExcessArguments(true);
}

/** Refuses operands a command does not take; `secret` leaves them out of the message. */
export function noExtraArguments(extra: readonly string[], options: { secret?: boolean } = {}): void {
  if (extra.length === 0) return;
  throw new UsageError(options.secret ? `unexpected arguments (${extra.length}, not shown: they may hold a secret or token)` : `unexpected arguments: ${extra.join(' ')}`);
}

/** The signing options of `sign`, `send` and `simulate`. */
export interface SigningOptions {
  secret?: string;
  scheme?: string;
  header?: string;
  algorithm?: string;
}

export function addSigningOptions(command: Command): Command {
  return command
    .option('--secret <S>', 'signing secret (or set MAKINI_WEBHOOK_SECRET, which keeps it out of shell history)')
    .option('--scheme <NAME>', `${SIGNATURE_SCHEMES.join(' | ')} (default: MAKINI_SIGNATURE_SCHEME or makini)`)
    .option('--header <NAME>', 'makini scheme: signature header (default: the first of MAKINI_SIGNATURE_HEADERS, x-webhook-signature)')
    .option('--algorithm <ALG>', `makini scheme: ${HMAC_ALGORITHMS.join(' | ')} (default: MAKINI_SIGNATURE_ALGORITHM or sha256)`);
}

/** Where an operation acts: `--stack NAME` (a deployed stack) or `--local-dir D` (the local stack). */
export interface TargetOptions {
  stack?: string;
  localDir?: string;
}

export function addTargetOptions(command: Command, options: { stack?: boolean } = {}): Command {
  if (options.stack !== false) command.option('--stack <NAME>', 'a deployed stack (its CloudFormation stack name), with your AWS credentials and region');
  return command.option('--local-dir <D>', "the local stack's state directory (default: MAKINI_LOCAL_DIR or .local)");
}

/** `--json` of a read command. */
export function addJsonOption(command: Command, description = 'print JSON instead of a table'): Command {
  return command.option('--json', description);
}

/** `--no-progress` of a long-running command (the bar shows only on a terminal anyway). */
export function addProgressOption(command: Command): Command {
  return command.addOption(new Option('--no-progress', 'no progress bar on standard error (it shows only when both outputs are a terminal)'));
}

/** Signing settings: the MAKINI_* environment, overridden by flags, validated by the one config. */
export function signingConfig(values: SigningOptions): MakiniWebhookConfig {
  return resolveConfig({
    ...configFromEnv(process.env),
    ...(values.scheme !== undefined && { signatureScheme: values.scheme }),
    ...(values.header !== undefined && { signatureHeaders: values.header }),
    ...(values.algorithm !== undefined && { signatureAlgorithm: values.algorithm }),
  });
}

export function requireSecret(flag: string | undefined): string {
  const secret = flag ?? process.env.MAKINI_WEBHOOK_SECRET;
  if (!secret) throw new UsageError('a signing secret is required: --secret S or MAKINI_WEBHOOK_SECRET');
  return secret;
}

export function eventTypes(type: string): MakiniEventType[] {
  if (type === 'all') return [...MAKINI_EVENT_TYPES];
  if (isKnownEventType(type)) return [type];
  throw new UsageError(`--type must be one of ${MAKINI_EVENT_TYPES.join(', ')} or all`);
}

export function parseUrl(text: string): URL {
  try {
    const url = new URL(text);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url;
  } catch {
    // fall through
  }
  throw new UsageError(`--url must be an http(s) URL, got '${text}'`);
}

/** A whole number option from `min` to `max`, or `fallback` when not given. */
export function wholeNumber(flag: string, text: string | undefined, fallback: number, min: number, max: number): number {
  const n = text === undefined ? fallback : Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${flag} must be a whole number from ${min} to ${max}`);
  return n;
}

export async function readStdin(stdin: CliIo['stdin']): Promise<Buffer> {
  if (stdin.isTTY) throw new UsageError('pipe the body on standard input, or pass --file F');
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** JSON as the read commands print it: indented, one trailing newline. */
export function json(value: unknown, indent = 2): string {
  return `${JSON.stringify(value, null, indent)}\n`;
}

/** A plain text table; null and undefined print as '-'. */
export function table(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return '(none)\n';
  const columns = Object.keys(rows[0]);
  const cells = rows.map((r) => columns.map((c) => (r[c] === null || r[c] === undefined ? '-' : String(r[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i])).join('  ').trimEnd();
  return `${[line(columns), ...cells.map(line)].join('\n')}\n`;
}

/** A list of ids for a table cell: the first two and how many more. */
export function abbreviate(ids: readonly string[]): string {
  return ids.length <= 2 ? ids.join(',') : `${ids.slice(0, 2).join(',')},… (${ids.length})`;
}

/** The local stack's state directory: `--local-dir`, else MAKINI_LOCAL_DIR, else `.local`. */
export function localDir(flag: string | undefined): string {
  return flag ?? process.env.MAKINI_LOCAL_DIR ?? '.local';
}

/**
 * How to start the local stack, for error messages. It lives in a clone of the repository: the npm
 * package (this file bundled into dist/cli.cjs) has the CLI but no local stack.
 */
export const START_LOCAL_STACK = path.basename(__filename) === 'cli.cjs' ? "'npm start' in a clone of makini-webhook-ingestion (the npm package has no local stack)" : "'npm start'";

/** The running local stack, from the stack.json that `npm start` writes. */
export function localStack(dir = localDir(undefined)): LocalStackInfo {
  const file = path.join(dir, 'stack.json');
  if (!existsSync(file)) throw new UsageError(`no local stack in ${dir}/ (start one with ${START_LOCAL_STACK}, or pass --local-dir)`);
  return JSON.parse(readFileSync(file, 'utf8')) as LocalStackInfo;
}

/** Where the operations act: the running local stack, or a deployed stack found by its outputs. */
export interface Target {
  readonly name: string;
  readonly tableName: string;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly eventBusName: string;
  /** The bucket of bodies above the inline limit (absent for a stack deployed before it had one). */
  readonly bodyBucket?: string;
  /** Where its per-connection tokens are kept: a deployed stack's is `table` when it has a `TokenKeyArn` output. */
  readonly tokenStore: TokenStore;
  /** The key that seals the tokens kept in the table. */
  readonly tokenKeyArn?: string;
  /** SDK settings per service: the local endpoints, or your AWS credentials and region. */
  readonly client: (service: 'dynamodb' | 'sqs' | 'eventBridge' | 's3' | 'kms' | 'secretsManager') => { endpoint?: string; region?: string; credentials?: { accessKeyId: string; secretAccessKey: string } };
  readonly aws: boolean;
  /** Where the local stack keeps its alarms' states (local targets only). */
  readonly localAlarmsFile?: string;
}

export function rejectBothTargets(values: TargetOptions): void {
  if (values.stack !== undefined && values.localDir !== undefined) throw new UsageError('give --stack or --local-dir, not both');
}

export async function resolveTarget(values: TargetOptions): Promise<Target> {
  rejectBothTargets(values);
  if (values.stack === undefined) {
    const info = localStack(values.localDir);
    const local = { region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } };
    return {
      name: 'local stack',
      tableName: info.tableName,
      queueUrl: info.queueUrl,
      deadLetterQueueUrl: info.deadLetterQueueUrl,
      eventBusName: info.eventBusName,
      ...(info.bodyBucket !== undefined && { bodyBucket: info.bodyBucket }),
      // A state directory written before the table store existed names neither.
      tokenStore: info.tokenStore ?? 'secrets-manager',
      ...(info.tokenKeyArn !== undefined && { tokenKeyArn: info.tokenKeyArn }),
      client: (service) => ({ ...local, endpoint: info.endpoints[service] }),
      aws: false,
      localAlarmsFile: info.alarmsFile,
    };
  }
  const outputs = await stackOutputs(values.stack);
  const need = (key: string) => {
    if (!outputs[key]) throw new UsageError(`stack ${values.stack} has no ${key} output: is it a makini-webhook-ingestion stack?`);
    return outputs[key];
  };
  return {
    name: values.stack,
    tableName: need('EventTableName'),
    queueUrl: need('QueueUrl'),
    deadLetterQueueUrl: need('DeadLetterQueueUrl'),
    eventBusName: need('EventBusName'),
    ...(outputs.BodyBucketName && { bodyBucket: outputs.BodyBucketName }),
    tokenStore: outputs.TokenKeyArn ? 'table' : 'secrets-manager',
    ...(outputs.TokenKeyArn && { tokenKeyArn: outputs.TokenKeyArn }),
    client: () => ({}),
    aws: true,
  };
}

export async function stackOutputs(stackName: string): Promise<Record<string, string>> {
  const cloudformation = new CloudFormationClient({});
  try {
    const { Stacks = [] } = await cloudformation.send(new DescribeStacksCommand({ StackName: stackName }));
    return Object.fromEntries((Stacks[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? '', o.OutputValue ?? '']));
  } finally {
    cloudformation.destroy();
  }
}

/**
 * The target's event store, and `withBodies`, which reads back the bodies of stored webhooks kept
 * in the body bucket (above the inline limit), so that commands see every body alike.
 *
 * @example
 * const { store, withBodies, close } = storeFor(target);
 * const events = await withBodies(await store.listAllEvents(50));
 */
export function storeFor(target: Target): { store: DynamoDbEventStore; bodies?: S3BodyStore; withBodies(stored: readonly StoredWebhook[]): Promise<StoredWebhook[]>; close(): void } {
  const client = new DynamoDBClient(target.client('dynamodb'));
  const s3 = target.bodyBucket !== undefined ? new S3Client(s3ClientConfig(process.env, target.client('s3'))) : undefined;
  const bodies = s3 && target.bodyBucket !== undefined ? new S3BodyStore(s3, target.bodyBucket) : undefined;
  const withBodies = (stored: readonly StoredWebhook[]) =>
    Promise.all(
      stored.map(async (w) => {
        if (!w.bodyRef) return w;
        if (!bodies) throw new UsageError(`webhook ${w.webhookId} has its body in the body bucket, and ${target.name} names none`);
        return { ...w, body: await readPointedBody(bodies, w.bodyRef) };
      }),
    );
  return {
    store: new DynamoDbEventStore(DynamoDBDocumentClient.from(client), { tableName: target.tableName, retentionSeconds: 0, leaseMs: 0 }),
    ...(bodies && { bodies }),
    withBodies,
    close: () => {
      client.destroy();
      s3?.destroy();
    },
  };
}

/**
 * The normalised event of a stored webhook, as the consumer saw it: its body read with `fields`
 * (the poller's own for poll events) and the connection the consumer recorded.
 */
export function storedEvent(w: StoredWebhook, fields: EventFields): MakiniEvent | undefined {
  const normalised = normaliseEvent(
    w.body,
    { webhookId: w.webhookId, receivedAt: w.receivedAt, source: w.source === 'poll' ? 'poll' : 'webhook', ...(w.connectionId !== undefined && { connectionId: w.connectionId }) },
    w.source === 'poll' ? POLL_EVENT_FIELDS : fields,
  );
  return normalised.ok ? normalised.event : undefined;
}

/**
 * The target's per-connection token stores, as its poller builds them (`tokenStore` and
 * `connectionSecretPrefix` from `config`), without the poller's upkeep (the copy from Secrets
 * Manager, sealing again under a new data key): a read here changes nothing (`connections migrate` copies).
 */
export function tokenStoresFor(target: Target, config: Pick<MakiniWebhookConfig, 'tokenStore' | 'connectionSecretPrefix'>): ConnectionTokenStores & { secretsClient: SecretsManagerClient; close(): void } {
  if (config.tokenStore === 'table' && target.tokenKeyArn === undefined) {
    throw new UsageError(`${target.name} keeps its connection tokens in Secrets Manager (no TokenKeyArn): pass --store secrets-manager`);
  }
  const secrets = new SecretsManagerClient(target.client('secretsManager'));
  const dynamo = new DynamoDBClient(target.client('dynamodb'));
  const kms = new KMSClient(target.client('kms'));
  const stores = connectionTokenStores(config, { secrets, db: DynamoDBDocumentClient.from(dynamo), kms, tableName: target.tableName, ...(target.tokenKeyArn !== undefined && { tokenKeyArn: target.tokenKeyArn }) }, { cacheSeconds: 0, maintain: false });
  return {
    ...stores,
    secretsClient: secrets,
    close: () => {
      secrets.destroy();
      dynamo.destroy();
      kms.destroy();
    },
  };
}
