/**
 * The local stack: the deployed pipeline on one machine, with the same handlers and the same config.
 *
 * AWS is replaced by small local endpoints (dynalite on disk, and the SQS, Secrets Manager,
 * EventBridge, S3 and Lambda doubles in local/aws/), which the handlers reach only through the SDK's standard
 * AWS_ENDPOINT_URL_* variables. API Gateway, the SQS event-source mapping and the poll schedule are
 * emulated here. State lives under `dir` and survives restarts.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { CreateTableCommand, DynamoDBClient, ResourceInUseException, type CreateTableCommandInput } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, PutSecretValueCommand, ResourceExistsException, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient, type Message } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import dynalite from 'dynalite';
import { configFromEnv, type MakiniWebhookConfig, type TokenStore } from '../lambdas/config/config';
import { TABLE_KEYS } from '../lambdas/adapters/event-table-schema';
import type { PollRunSummary } from '../lambdas/poller/poller';
import { WEBHOOK_ROUTES } from '../lambdas/core/receive';
import { CALL_CHECKS, LocalIam } from './aws/authorization';
import { matchesEventPattern, transformInput, valueAtPath } from './aws/event-pattern';
import { busName, startLocalEventBridge, type BusEvent } from './aws/eventbridge';
import { lambdaPermissionsPolicy, type LambdaPermission, type PolicyDocument } from './aws/iam-policy';
import { accessKeyOf, AwsError, type Fault } from './aws/json-endpoint';
import { startLocalLambdaApi, type InvokableFunctions } from './aws/lambda';
import { startLocalSecretsManager } from './aws/secrets-manager';
import { startLocalS3 } from './aws/s3';
import { startLocalKms } from './aws/kms';
import { awsManagedSnsKeyPolicy, LocalTopics } from './aws/sns';
import { StateFileError } from './json-lines';
import { startLocalSqs } from './aws/sqs';
import { LocalCloudWatch } from './cloudwatch';
import { cloudAssemblyFor, LOCAL_STACK_NAME, type CfnResource, type CfnTemplate } from './cloud-assembly';
import { startHttpApi, type ApiHandler } from './http-api';
import { LambdaInvocationError, LocalFunction } from './lambda/runtime';
import { listenOnLoopback } from './loopback-server';
import { startMakiniApiSimulator, type MakiniApiSimulator } from './makini-api-simulator';
import { DEFAULT_SIMULATED_CONNECTIONS, simulatedConnectionId } from './simulator';
import { resolveIntrinsics } from './aws/cfn-intrinsics';
import { constructId, LOCAL_ACCOUNT, LOCAL_REGION, referencedId, resourcesOfType, TemplateError, type PhysicalResource } from './template';

/**
 * GET on the local API: the AWS calls made so far, per service and operation (successful calls
 * only), and per Lambda its invocations and their total milliseconds.
 */
export const LOCAL_CALLS_PATH = '/_local/calls';
/** GET: every metric local CloudWatch holds (EMF and service metrics), with its sum and sample count. */
export const LOCAL_METRICS_PATH = '/_local/metrics';
/** `POST` runs the poller now and answers its summary (what `makini-webhooks poll` calls). */
export const LOCAL_POLL_PATH = '/_local/poll';


/** What `makini-webhooks` reads to reach a running local stack (`<dir>/stack.json`). */
export interface LocalStackInfo {
  readonly webhookUrl: string;
  /** The per-connection URL, `{connection}` to be replaced by a connection id. */
  readonly webhookUrlTemplate: string;
  readonly secretFile: string;
  readonly busLog: string;
  /** The template's alarms and their current states (`AlarmStatus[]`), rewritten on each change. */
  readonly alarmsFile: string;
  readonly tableName: string;
  readonly eventBusName: string;
  /** The bucket of bodies above the inline limit (absent from a template without one). */
  readonly bodyBucket?: string;
  readonly queueUrl: string;
  readonly deadLetterQueueUrl: string;
  readonly makiniApiUrl: string;
  /** The bundled Makini API simulator answers at `makiniApiUrl` (else a server the user named). */
  readonly makiniSimulator: boolean;
  /** How the poller reaches Makini: `system` (client credentials) or `per-connection` (token secrets). */
  readonly pollMode: 'system' | 'per-connection';
  /** Where per-connection tokens are kept (the `tokenStore` setting). */
  readonly tokenStore: TokenStore;
  /** The key that seals the tokens kept in the table (the template's `TokenKeyArn` output). */
  readonly tokenKeyArn?: string;
  /** `POST` here runs the poller now. */
  readonly pollUrl: string;
  readonly endpoints: { readonly dynamodb: string; readonly sqs: string; readonly secretsManager: string; readonly eventBridge: string; readonly s3: string; readonly lambda: string; readonly kms?: string };
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
  /** Run the functions' TypeScript sources (through tsx) instead of their synthesized bundles: quick edits. */
  readonly fromSource?: boolean;
  /** Changes the synthesized template before the stack is built from it (tests re-introduce defects with it). */
  readonly editTemplate?: (template: CfnTemplate) => void;
  /**
   * Shortens every alarm period by this factor (60: a one-minute period lasts one second), so that
   * alarms fire and clear in seconds. @default 1 (CloudWatch's own periods)
   */
  readonly alarmTimeScale?: number;
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
  /** Local IAM: its denials so far. */
  readonly iam: LocalIam;
  /** Local CloudWatch: the metrics, and the alarms' states. */
  readonly cloudwatch: LocalCloudWatch;
  /** The template the stack was built from. */
  readonly template: CfnTemplate;
  close(): Promise<void>;
}

const DUMMY_AWS = { AWS_REGION: LOCAL_REGION, AWS_ACCESS_KEY_ID: 'local', AWS_SECRET_ACCESS_KEY: 'local' } as const;

/**
 * The only differences between a function's environment here and on AWS, in one place: where the
 * AWS endpoints are, the credentials Lambda would give its role, the Lambda runtime's own
 * variables, and the Makini API the local stack talks to (the bundled simulator, or the URL you
 * named) with the poll mode it chose.
 */
export function localOverrides(options: { endpoints: LocalStackInfo['endpoints']; accessKeyId: string; functionName: string; memoryMB: number; makiniApiUrl: string; pollMode: string }): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_DYNAMODB: options.endpoints.dynamodb,
    AWS_ENDPOINT_URL_SQS: options.endpoints.sqs,
    AWS_ENDPOINT_URL_SECRETS_MANAGER: options.endpoints.secretsManager,
    AWS_ENDPOINT_URL_EVENTBRIDGE: options.endpoints.eventBridge,
    AWS_ENDPOINT_URL_S3: options.endpoints.s3,
    AWS_ENDPOINT_URL_LAMBDA: options.endpoints.lambda,
    ...(options.endpoints.kms && { AWS_ENDPOINT_URL_KMS: options.endpoints.kms }),
    AWS_REGION: LOCAL_REGION,
    AWS_DEFAULT_REGION: LOCAL_REGION,
    // The role's credentials: the local endpoints evaluate each call against the role's policies.
    AWS_ACCESS_KEY_ID: options.accessKeyId,
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_LAMBDA_FUNCTION_NAME: options.functionName,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(options.memoryMB),
    AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    MAKINI_MAKINI_API_URL: options.makiniApiUrl,
    // A credentials secret kept from an earlier start must not switch the mode this stack chose.
    MAKINI_POLL_MODE: options.pollMode,
  };
}

/** The access key a role's calls are signed with locally: derived from the role's logical id, so it is stable across starts. */
export function roleAccessKey(roleLogicalId: string): string {
  return `LOCAL${createHash('sha256').update(roleLogicalId).digest('hex').slice(0, 16).toUpperCase()}`;
}

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
    // --- The cloud assembly: what `cdk deploy` would deploy -----------------------------------
    const assembly = cloudAssemblyFor(config);
    if (assembly.synthesized) log(`synthesized the stack (${assembly.hash}); later starts reuse it`);
    const template = structuredClone(assembly.template);
    options.editTemplate?.(template);
    const stackName = LOCAL_STACK_NAME;
    const nameOf = (logicalId: string) => `${stackName}-${logicalId}`;
    const arn = (service: string, resource: string) => `arn:aws:${service}:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${resource}`;
    const iam = new LocalIam(LOCAL_ACCOUNT);
    iam.onDenied = (message) => log(`AccessDenied: ${message}`);
    const props = (r: CfnResource) => r.Properties ?? {};

    // --- AWS-compatible endpoints ---------------------------------------------------------
    const faults = faultReader(path.join(options.dir, 'faults.json'));
    const tableArn = (table: string) => arn('dynamodb', `table/${table}`);
    // dynalite's own request handler, behind the same fault switch and IAM as the other local endpoints.
    const dynaliteHandler = dynalite({ path: path.join(options.dir, 'dynamodb'), createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 }).listeners('request')[0] as (req: IncomingMessage, res: ServerResponse) => void;
    const dynamoCalls: Record<string, number> = {};
    // The same calls by the kind of item they touch (`UpdateItem WEBHOOK`, `PutItem GENERATION`): what
    // `npm run bench` prices each call's write or read units by.
    const dynamoItemCalls: Record<string, number> = {};
    const dynamo = await listenOnLoopback(
      createServer((req, res) => {
        const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? '';
        const fault = faults()[`dynamodb.${operation}`] ?? faults().dynamodb;
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const body = Buffer.concat(chunks);
          const replyError = (status: number, type: string, message: string) => {
            res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
            res.end(JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message }));
          };
          if (fault === 'hang') return; // never answered: the caller's timeout, or close(), ends it
          if (fault) return fault === 'throttled' ? replyError(400, 'ProvisionedThroughputExceededException', 'Injected fault: throughput exceeded.') : replyError(503, 'ServiceUnavailable', 'Injected fault.');
          let input: Record<string, unknown> = {};
          try {
            input = body.length > 0 ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
            iam.authorizeCall(accessKeyOf(req.headers.authorization), CALL_CHECKS.dynamodb(operation, input, tableArn));
          } catch (error) {
            if (error instanceof AwsError) return replyError(400, error.type, error.message);
            // A policy the local evaluator cannot read (e.g. one with policy variables) never lets a call through.
            return replyError(500, 'InternalFailure', `the local IAM check failed: ${(error as Error).message}`);
          }
          dynamoCalls[operation] = (dynamoCalls[operation] ?? 0) + 1;
          const kind = itemKind(input);
          if (kind) dynamoItemCalls[`${operation} ${kind}`] = (dynamoItemCalls[`${operation} ${kind}`] ?? 0) + 1;
          // dynalite reads the request as a stream: hand it the buffered body as one.
          dynaliteHandler(Object.assign(Readable.from([body]), { headers: req.headers, method: req.method, url: req.url }) as unknown as IncomingMessage, res);
        });
      }),
    );
    closers.push(dynamo.close);

    const queues = resourcesOfType(template, 'AWS::SQS::Queue');
    let sqsQueueArn: (name: string) => string = () => '';
    const sqs = await startLocalSqs({
      releaseOnStart: true,
      fault: () => faults().sqs,
      dir: path.join(options.dir, 'sqs'),
      authorize: ({ accessKeyId, operation, input }) => iam.authorizeCall(accessKeyId, CALL_CHECKS.sqs(operation, input, (url) => sqsQueueArn(url.slice(url.lastIndexOf('/') + 1)))),
      queues: queues.map(([id, q]) => {
        const p = props(q) as { VisibilityTimeout?: number; MaximumMessageSize?: number; MessageRetentionPeriod?: number; RedrivePolicy?: { deadLetterTargetArn: unknown; maxReceiveCount: number } };
        return {
          name: nameOf(id),
          visibilityTimeoutSeconds: p.VisibilityTimeout ?? 30,
          ...(p.MaximumMessageSize && { maxMessageBytes: p.MaximumMessageSize }),
          ...(p.MessageRetentionPeriod && { retentionSeconds: p.MessageRetentionPeriod }),
          ...(p.RedrivePolicy && { redrive: { deadLetterQueue: nameOf(referencedId(p.RedrivePolicy.deadLetterTargetArn)!), maxReceiveCount: p.RedrivePolicy.maxReceiveCount } }),
        };
      }),
    });
    sqsQueueArn = (name) => sqs.queueArn(name);
    closers.push(sqs.close);
    let secretArnOf: (id: string) => string = (id) => id;
    const secrets = await startLocalSecretsManager({
      file: path.join(options.dir, 'secrets.json'),
      fault: (operation) => faults()[`secretsManager.${operation}`] ?? faults().secretsManager,
      authorize: ({ accessKeyId, operation, input }) => iam.authorizeCall(accessKeyId, CALL_CHECKS.secretsManager(operation, input, secretArnOf)),
    });
    secretArnOf = (id) => secrets.arnOf(id);
    closers.push(secrets.close);
    const busLog = path.join(options.dir, 'bus.jsonl');
    const busArn = (nameOrArn: string) => (nameOrArn.startsWith('arn:') ? nameOrArn : arn('events', `event-bus/${nameOrArn}`));
    const bus = await startLocalEventBridge({
      log: busLog,
      fault: () => faults().eventBridge,
      authorize: ({ accessKeyId, operation, input }) => iam.authorizeCall(accessKeyId, CALL_CHECKS.eventBridge(operation, input, busArn)),
    });
    closers.push(bus.close);
    // S3 bucket names are global and lower-case: the stack's, named like its other resources.
    const bucketName = (logicalId: string) => nameOf(logicalId).toLowerCase();
    const s3 = await startLocalS3({
      buckets: resourcesOfType(template, 'AWS::S3::Bucket').map(([id]) => bucketName(id)),
      fault: () => faults().s3,
      authorize: ({ accessKeyId, action, resource }) => iam.authorizeCall(accessKeyId, [{ action, resource }]),
    });
    closers.push(s3.close);
    // Lambda's Invoke API (the poller starts its workers with it): bound to the functions once they exist.
    let invokable: InvokableFunctions = { arnOf: () => undefined, invoke: async () => undefined, invokeAsync: () => undefined };
    const lambdaApi = await startLocalLambdaApi({
      functions: { arnOf: (name) => invokable.arnOf(name), invoke: (fnArn, event) => invokable.invoke(fnArn, event), invokeAsync: (fnArn, event) => invokable.invokeAsync(fnArn, event) },
      fault: () => faults().lambda,
      authorize: ({ accessKeyId, action, resource }) => iam.authorizeCall(accessKeyId, [{ action, resource }]),
    });
    closers.push(lambdaApi.close);
    // KMS: the template's keys (filled in once their ARNs are known, below), material kept on disk.
    const kmsKeys: string[] = [];
    const kms = await startLocalKms({
      keys: kmsKeys,
      file: path.join(options.dir, 'kms-keys.json'),
      fault: (operation) => faults()[`kms.${operation}`] ?? faults().kms,
      authorize: ({ accessKeyId, operation, input, keyArn }) => iam.authorizeCall(accessKeyId, CALL_CHECKS.kms(operation, input, keyArn)),
    });
    closers.push(kms.close);
    const endpoints = { dynamodb: dynamo.url, sqs: sqs.url, secretsManager: secrets.url, eventBridge: bus.url, s3: s3.url, lambda: lambdaApi.url, kms: kms.url };

    // This process's own SDK clients (and the CLI's, through stack.json) are the administrator.
    Object.assign(process.env, {
      ...Object.fromEntries(Object.entries(DUMMY_AWS).filter(([k]) => !process.env[k])),
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.url,
      AWS_ENDPOINT_URL_SQS: sqs.url,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: secrets.url,
      AWS_ENDPOINT_URL_EVENTBRIDGE: bus.url,
      AWS_ENDPOINT_URL_S3: s3.url,
      AWS_ENDPOINT_URL_LAMBDA: lambdaApi.url,
      AWS_ENDPOINT_URL_KMS: kms.url,
    });

    // --- Physical resources: what Ref and Fn::GetAtt resolve to ----------------------------------
    const physical: Record<string, PhysicalResource> = {};
    for (const [id, r] of Object.entries(template.Resources)) physical[id] = physicalOf(id, r);
    function physicalOf(id: string, r: CfnResource): PhysicalResource {
      const name = nameOf(id);
      const p = props(r);
      switch (r.Type) {
        case 'AWS::SQS::Queue':
          return { ref: sqs.queueUrl(name), attributes: { Arn: sqs.queueArn(name), QueueName: name, QueueUrl: sqs.queueUrl(name) } };
        case 'AWS::DynamoDB::Table':
          return { ref: name, attributes: { Arn: tableArn(name) } };
        case 'AWS::Lambda::Function':
          return { ref: name, attributes: { Arn: arn('lambda', `function:${name}`) } };
        case 'AWS::IAM::Role':
          return { ref: name, attributes: { Arn: `arn:aws:iam::${LOCAL_ACCOUNT}:role/${name}`, RoleId: `AROA${id.toUpperCase().slice(0, 16)}` } };
        case 'AWS::Logs::LogGroup':
          return { ref: name, attributes: { Arn: arn('logs', `log-group:${name}:*`) } };
        case 'AWS::Events::EventBus': {
          const busName = typeof p.Name === 'string' ? p.Name : name;
          return { ref: busName, attributes: { Arn: busArn(busName), Name: busName } };
        }
        case 'AWS::Events::Rule':
          return { ref: name, attributes: { Arn: arn('events', `rule/${name}`) } };
        case 'AWS::S3::Bucket': {
          const bucket = bucketName(id);
          return { ref: bucket, attributes: { Arn: `arn:aws:s3:::${bucket}`, DomainName: `${bucket}.s3.amazonaws.com`, RegionalDomainName: `${bucket}.s3.${LOCAL_REGION}.amazonaws.com` } };
        }
        case 'AWS::SNS::Topic':
          return { ref: arn('sns', name), attributes: { TopicArn: arn('sns', name), TopicName: name } };
        case 'AWS::KMS::Key':
          return { ref: id, attributes: { Arn: arn('kms', `key/${id}`), KeyId: id } };
        case 'AWS::CloudWatch::Alarm':
          return { ref: name, attributes: { Arn: arn('cloudwatch', `alarm:${name}`) } };
        case 'AWS::SecretsManager::Secret':
          return { ref: secrets.arnOf(typeof p.Name === 'string' ? p.Name : name), attributes: {} };
        case 'AWS::ApiGatewayV2::Api':
          return { ref: id.toLowerCase().slice(0, 10), attributes: { ApiId: id.toLowerCase().slice(0, 10), ApiEndpoint: 'http://127.0.0.1' } };
        default:
          return { ref: name, attributes: { Arn: arn('local', name) } };
      }
    }
    const resolve = <T>(value: unknown): T => resolveIntrinsics<T>(value, { accountId: LOCAL_ACCOUNT, region: LOCAL_REGION, stackName, ref: (id) => physical[id]?.ref, getAtt: (id, attribute) => physical[id]?.attributes[attribute] });

    // --- The table and the secrets, as the template defines them ------------------------------
    const [tableId, tableResource] = resourcesOfType(template, 'AWS::DynamoDB::Table')[0] ?? [];
    if (!tableId || !tableResource) throw new TemplateError('the template has no DynamoDB table');
    await createTable(physical[tableId]!.ref, props(tableResource));
    const { secret: webhookSecret, file: secretFile } = webhookSecretFor(options, config);
    for (const [id, r] of resourcesOfType(template, 'AWS::SecretsManager::Secret')) {
      // The signing secret holds Makini's secret as its generated template ({"current": …}) would.
      const p = props(r) as { Name?: string; GenerateSecretString?: { GenerateStringKey?: string } };
      const key = p.GenerateSecretString?.GenerateStringKey;
      await putSecret(p.Name ?? nameOf(id), key ? JSON.stringify({ [key]: webhookSecret }) : webhookSecret);
      physical[id] = physicalOf(id, r); // now with the ARN the secret was created with
    }

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
    const pollMode = systemMode ? 'system' : config.pollMode === 'auto' ? 'per-connection' : config.pollMode;

    // --- IAM: each role's policies, and the resource and key policies ---------------------------
    const rolePolicies = new Map<string, PolicyDocument[]>();
    for (const [id, r] of resourcesOfType(template, 'AWS::IAM::Role')) {
      const inline = ((props(r).Policies as { PolicyDocument: unknown }[] | undefined) ?? []).map((p) => resolve<PolicyDocument>(p.PolicyDocument));
      rolePolicies.set(id, inline);
    }
    for (const [, r] of resourcesOfType(template, 'AWS::IAM::Policy')) {
      const p = props(r) as { PolicyDocument: unknown; Roles?: unknown[] };
      for (const role of p.Roles ?? []) rolePolicies.get(referencedId(role)!)?.push(resolve<PolicyDocument>(p.PolicyDocument));
    }
    const resourcePolicies = new Map<string, PolicyDocument>(); // by resource ARN
    const addResourcePolicy = (targets: unknown[] | undefined, document: unknown) => {
      for (const target of resolve<string[]>(targets ?? [])) resourcePolicies.set(target.startsWith('http') ? sqs.queueArn(target.slice(target.lastIndexOf('/') + 1)) : target, resolve<PolicyDocument>(document));
    };
    for (const [, r] of resourcesOfType(template, 'AWS::SQS::QueuePolicy')) addResourcePolicy(props(r).Queues as unknown[], props(r).PolicyDocument);
    for (const [, r] of resourcesOfType(template, 'AWS::SNS::TopicPolicy')) addResourcePolicy(props(r).Topics as unknown[], props(r).PolicyDocument);
    // Lambda permissions are statements of the function's resource policy.
    const permissions = new Map<string, LambdaPermission[]>();
    for (const [, r] of resourcesOfType(template, 'AWS::Lambda::Permission')) {
      const p = resolve<LambdaPermission & { FunctionName: string }>(props(r));
      const fnArn = p.FunctionName.startsWith('arn:') ? p.FunctionName : arn('lambda', `function:${p.FunctionName}`);
      permissions.set(fnArn, [...(permissions.get(fnArn) ?? []), p]);
    }
    for (const [fnArn, list] of permissions) resourcePolicies.set(fnArn, lambdaPermissionsPolicy(fnArn, list));
    iam.resourcePolicyOf = (resourceArn) => resourcePolicies.get(resourceArn);
    const keys = new Map<string, PolicyDocument>(resourcesOfType(template, 'AWS::KMS::Key').map(([id, r]) => [physical[id]!.attributes.Arn!, resolve<PolicyDocument>(props(r).KeyPolicy)]));
    kmsKeys.push(...keys.keys());
    iam.keyPolicyOf = (keyArn) => (kmsKeys.includes(keyArn) ? keys.get(keyArn) : undefined);
    const topics = new LocalTopics(iam, path.join(options.dir, 'topics.jsonl'));
    for (const [id, r] of resourcesOfType(template, 'AWS::SNS::Topic')) {
      const keyId = resolve<string | undefined>(props(r).KmsMasterKeyId);
      const keyArn = keyId && (keyId.startsWith('arn:') ? keyId : arn('kms', keyId.startsWith('alias/') ? keyId : `key/${keyId}`));
      const topicArn = physical[id]!.ref;
      if (keyArn?.endsWith(':alias/aws/sns')) keys.set(keyArn, awsManagedSnsKeyPolicy(LOCAL_ACCOUNT, LOCAL_REGION));
      else if (keyArn && !keys.has(keyArn)) log(`topic ${physical[id]!.attributes.TopicName}: its key ${keyArn} is not in the template, so its key policy is not checked locally`);
      topics.add({ arn: topicArn, name: physical[id]!.attributes.TopicName!, policy: resourcePolicies.get(topicArn), ...(keyArn && keys.has(keyArn) && { key: { arn: keyArn, policy: keys.get(keyArn)! } }) });
    }
    const alarmsFile = path.join(options.dir, 'alarms.json');
    const cloudwatch = new LocalCloudWatch({
      alarms: resourcesOfType(template, 'AWS::CloudWatch::Alarm').map(([id, r]) => [id, resolve(props(r))] as const),
      stackName,
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT,
      topics,
      stateFile: alarmsFile,
      periodScale: 1 / (options.alarmTimeScale ?? 1),
      log,
      // What SQS reports to CloudWatch each minute, per queue.
      sample: () =>
        queues.flatMap(([id]) => {
          const m = sqs.metrics(nameOf(id));
          const [dimensions, timestamp] = [{ QueueName: nameOf(id) }, Date.now()];
          return [
            { namespace: 'AWS/SQS', name: 'ApproximateNumberOfMessagesVisible', dimensions, timestamp, values: [m.visible], unit: 'Count' },
            { namespace: 'AWS/SQS', name: 'ApproximateNumberOfMessagesNotVisible', dimensions, timestamp, values: [m.notVisible], unit: 'Count' },
            { namespace: 'AWS/SQS', name: 'ApproximateAgeOfOldestMessage', dimensions, timestamp, values: [m.oldestAgeSeconds], unit: 'Seconds' },
          ];
        }),
    });
    /** A service delivering to an SQS queue (a rule's DLQ, say): the queue policy decides. */
    const serviceSendMessage = async (service: string, queueArn: string, body: string, sourceArn: string) => {
      iam.authorizeService(service, { action: 'sqs:SendMessage', resource: queueArn, context: { 'aws:SourceArn': sourceArn, 'aws:SourceAccount': LOCAL_ACCOUNT }, resourcePolicy: resourcePolicies.get(queueArn) });
      const client = new SQSClient({});
      try {
        await client.send(new SendMessageCommand({ QueueUrl: sqs.queueUrl(queueArn.split(':').pop()!), MessageBody: body }));
      } finally {
        client.destroy();
      }
    };

    // --- The Lambdas: each runs its synthesized bundle with its environment from the template ----
    const functions = new Map<string, LocalFunction>(); // by logical id
    const functionsByArn = new Map<string, LocalFunction>();
    for (const [id, r] of resourcesOfType(template, 'AWS::Lambda::Function')) {
      const p = props(r) as { Handler: string; Timeout?: number; MemorySize?: number; Role: unknown; Environment?: { Variables?: Record<string, unknown> } };
      const name = physical[id]!.ref;
      const roleId = referencedId(p.Role)!;
      const accessKeyId = roleAccessKey(roleId);
      iam.addRole(accessKeyId, { arn: physical[roleId]!.attributes.Arn!, sessionName: name, policies: rolePolicies.get(roleId) ?? [] });
      const [fileBase, exportName] = splitHandler(p.Handler);
      const sourceName = constructId(r)?.toLowerCase() ?? id;
      const file = options.fromSource ? path.join(__dirname, '..', 'lambdas', sourceName, 'handler.ts') : bundleFile(path.join(assembly.dir, String(r.Metadata?.['aws:asset:path'] ?? '')), fileBase);
      if (!existsSync(file)) throw new TemplateError(`${id}: no code at ${file}${options.fromSource ? ' (--from-source expects lambdas/<function>/handler.ts)' : ''}`);
      const memoryMB = p.MemorySize ?? 128;
      const fn = new LocalFunction({
        name,
        file,
        exportName,
        fromSource: options.fromSource,
        environment: { ...resolve<Record<string, string>>(p.Environment?.Variables ?? {}), ...localOverrides({ endpoints, accessKeyId, functionName: name, memoryMB, makiniApiUrl, pollMode }) },
        timeoutSeconds: p.Timeout ?? 3,
        memoryMB,
        region: LOCAL_REGION,
        accountId: LOCAL_ACCOUNT,
        onOutput: (line) => onFunctionOutput(sourceName, line),
        onInvoked: ({ error, ms }) => {
          // As in the function's log group on AWS: the failure of an invocation, init failures included.
          if (error) log(`${sourceName}: ${error.name}: ${error.message}`);
          const dimensions = { FunctionName: name };
          const timestamp = Date.now();
          cloudwatch.put([
            { namespace: 'AWS/Lambda', name: 'Invocations', dimensions, timestamp, values: [1], unit: 'Count' },
            { namespace: 'AWS/Lambda', name: 'Errors', dimensions, timestamp, values: [error ? 1 : 0], unit: 'Count' },
            { namespace: 'AWS/Lambda', name: 'Duration', dimensions, timestamp, values: [ms], unit: 'Milliseconds' },
          ]);
        },
      });
      closers.push(() => fn.close());
      functions.set(id, fn);
      functionsByArn.set(fn.arn, fn);
    }
    /** A function's log line: EMF metrics are collected; warnings and errors are shown. */
    function onFunctionOutput(functionName: string, line: string): void {
      if (line.includes('"_aws"') && line.includes('CloudWatchMetrics')) return cloudwatch.putLogLine(line);
      const level = /"level": ?"(\w+)"/.exec(line)?.[1];
      if (level === undefined || level === 'WARN' || level === 'ERROR' || level === 'CRITICAL') log(`${functionName}: ${line}`);
    }
    const functionNamed = (construct: string): LocalFunction => {
      const found = [...functions.entries()].find(([id]) => constructId(template.Resources[id]!)?.toLowerCase() === construct);
      if (!found) throw new TemplateError(`the template has no ${construct} function`);
      return found[1];
    };
    /** A service invoking a function: the function's resource policy (its Lambda permissions) decides. */
    const serviceInvoke = (service: string, fn: LocalFunction, sourceArn: string) =>
      iam.authorizeService(service, { action: 'lambda:InvokeFunction', resource: fn.arn, context: { 'aws:SourceArn': sourceArn, 'aws:SourceAccount': LOCAL_ACCOUNT }, resourcePolicy: resourcePolicies.get(fn.arn) });

    // --- API Gateway: each route to its integration's function -------------------------------------
    const [apiId] = resourcesOfType(template, 'AWS::ApiGatewayV2::Api')[0] ?? [];
    const routes: Record<string, ApiHandler> = {};
    for (const [, r] of resourcesOfType(template, 'AWS::ApiGatewayV2::Route')) {
      const p = props(r) as { RouteKey: string; Target: unknown };
      const integrationId = resolve<string>(p.Target).split('/').pop()!;
      const integration = Object.entries(template.Resources).find(([id]) => physical[id]!.ref === integrationId)?.[1];
      const fn = integration && functionsByArn.get(resolve<string>(props(integration).IntegrationUri));
      if (!fn) throw new TemplateError(`route ${p.RouteKey} has no local function`);
      const [method, routePath] = p.RouteKey.split(' ') as [string, string];
      const sourceArn = arn('execute-api', `${physical[apiId!]!.ref}/$default/${method === 'ANY' ? '*' : method}${routePath}`);
      const previous = routes[routePath];
      routes[routePath] = async (event) => {
        // A more specific method route wins over ANY, as API Gateway matches them.
        if (previous && method === 'ANY' && event.requestContext.http.method === 'POST') return previous(event);
        const apiMetric = (status: number) => {
          const [dimensions, timestamp] = [{ ApiId: physical[apiId!]!.ref }, Date.now()];
          cloudwatch.put(['Count', '4xx', '5xx'].map((metric) => ({ namespace: 'AWS/ApiGateway', name: metric, dimensions, timestamp, values: [metric === 'Count' ? 1 : Math.floor(status / 100) === Number(metric[0]) ? 1 : 0], unit: 'Count' })));
        };
        try {
          serviceInvoke('apigateway.amazonaws.com', fn, sourceArn.replace(/\/\*\//, `/${event.requestContext.http.method}/`));
          const result = await fn.invoke<Awaited<ReturnType<ApiHandler>>>(event);
          apiMetric(result.statusCode ?? 200);
          return result;
        } catch (error) {
          apiMetric(500); // API Gateway answers 500 when its integration fails
          throw error;
        }
      };
    }
    const receiver = functionNamed('receiver');
    const api = await startHttpApi({
      port: options.port,
      timeoutMs: receiver.definition.timeoutSeconds * 1000,
      routes,
      // AWS calls per service and operation since start: what `npm run bench` divides by webhooks.
      diagnostics: {
        [LOCAL_CALLS_PATH]: () => ({ sqs: sqs.calls, dynamodb: dynamoCalls, dynamodbItems: dynamoItemCalls, secretsManager: secrets.calls, eventBridge: bus.calls, lambda: Object.fromEntries([...functions].map(([id, f]) => [constructId(template.Resources[id]!)!.toLowerCase(), { invocations: f.stats.invocations, ms: f.stats.ms }])) }),
        [LOCAL_METRICS_PATH]: () => cloudwatch.summary(),
      },
      actions: { [LOCAL_POLL_PATH]: () => pollNow() },
    });
    closers.push(api.close);

    // The consumer's queue is the webhook queue (the poller's, when it has one, is its shard queue).
    const consumer = functionNamed('consumer');
    const webhookQueueId = queueOfMapping(template, [...functions].find(([, fn]) => fn === consumer)![0]);

    // --- SQS event-source mappings, with the settings the template gives them ---------------------
    for (const [, r] of resourcesOfType(template, 'AWS::Lambda::EventSourceMapping')) {
      const p = props(r) as { BatchSize?: number; MaximumBatchingWindowInSeconds?: number; EventSourceArn: unknown; FunctionName: unknown; FunctionResponseTypes?: string[]; ScalingConfig?: { MaximumConcurrency?: number } };
      const queueArn = resolve<string>(p.EventSourceArn);
      const fn = functions.get(referencedId(p.FunctionName)!)!;
      const roleKey = fn.definition.environment.AWS_ACCESS_KEY_ID!;
      const mapping = startEventSourceMapping({
        queueUrl: sqs.queueUrl(queueArn.split(':').pop()!),
        queueArn,
        batchSize: p.BatchSize ?? 10,
        batchingWindowMs: (p.MaximumBatchingWindowInSeconds ?? 0) * 1000,
        reportBatchItemFailures: (p.FunctionResponseTypes ?? []).includes('ReportBatchItemFailures'),
        // Lambda polls with the function's role: it needs the queue permissions too.
        credentials: { accessKeyId: roleKey, secretAccessKey: 'local' },
        pollers: Math.min(p.ScalingConfig?.MaximumConcurrency ?? 2, 2),
        invoke: (records) => fn.invoke({ Records: records }),
        // An invocation's own failure is logged with the function's; these are the mapping's.
        onError: (error) => error instanceof LambdaInvocationError || log(`event source mapping: ${(error as Error).message}`),
      });
      closers.push(mapping.stop);
    }

    // --- Rules: schedules, and event patterns on the bus --------------------------------------------
    const poller = functionNamed('poller');
    const asyncConfig = new Map(resourcesOfType(template, 'AWS::Lambda::EventInvokeConfig').map(([, r]) => [referencedId(props(r).FunctionName), resolve<{ MaximumRetryAttempts?: number; DestinationConfig?: { OnFailure?: { Destination?: string } } }>(props(r))]));
    /** Lambda's asynchronous invocation: retries, then the on-failure destination (sent with the function's role). */
    const invokeAsync = async (fn: LocalFunction, event: unknown): Promise<void> => {
      const fnId = [...functions.entries()].find(([, f]) => f === fn)![0];
      const settings = asyncConfig.get(fnId);
      const attempts = 1 + (settings?.MaximumRetryAttempts ?? 2);
      let lastError: unknown;
      for (let attempt = 0; attempt < attempts; attempt++) {
        try {
          await fn.invoke(event);
          return;
        } catch (error) {
          lastError = error;
          log(`${fn.definition.name} failed (attempt ${attempt + 1} of ${attempts}): ${(error as Error).message}`);
        }
      }
      const destination = settings?.DestinationConfig?.OnFailure?.Destination;
      if (destination) {
        const client = new SQSClient({ credentials: { accessKeyId: fn.definition.environment.AWS_ACCESS_KEY_ID!, secretAccessKey: 'local' } });
        try {
          await client.send(new SendMessageCommand({ QueueUrl: sqs.queueUrl(destination.split(':').pop()!), MessageBody: JSON.stringify({ requestContext: { functionArn: fn.arn, condition: 'RetriesExhausted' }, requestPayload: event, responsePayload: { errorMessage: (lastError as Error).message } }) }));
        } catch (error) {
          log(`${fn.definition.name}: the on-failure destination refused the event: ${(error as Error).message}`);
        } finally {
          client.destroy();
        }
      }
    };
    invokable = {
      arnOf: (nameOrArn) => {
        const name = nameOrArn.startsWith('arn:') ? nameOrArn.split(':')[6] : nameOrArn;
        return [...functionsByArn.values()].find((f) => f.definition.name === name)?.arn;
      },
      invoke: (fnArn, event) => functionsByArn.get(fnArn)!.invoke(event),
      invokeAsync: (fnArn, event) => void invokeAsync(functionsByArn.get(fnArn)!, event),
    };
    const rules = resourcesOfType(template, 'AWS::Events::Rule').map(([id, r]) => ({ id, arn: physical[id]!.attributes.Arn!, name: physical[id]!.ref, p: resolve<RuleProperties>(props(r)) }));
    /** EventBridge delivers to a rule's target; a refused delivery goes to the target's DLQ. */
    const deliver = async (rule: (typeof rules)[number], target: RuleTarget, event: unknown) => {
      const input = target.InputTransformer
        ? transformInput(event, target.InputTransformer, { ruleArn: rule.arn, ruleName: rule.name })
        : target.Input ?? JSON.stringify(target.InputPath ? valueAtPath(event, target.InputPath) : event);
      try {
        if (target.Arn.startsWith('arn:aws:sns:')) topics.publish('events.amazonaws.com', target.Arn, input, { sourceArn: rule.arn });
        else if (target.Arn.startsWith('arn:aws:sqs:')) await serviceSendMessage('events.amazonaws.com', target.Arn, input, rule.arn);
        else if (functionsByArn.has(target.Arn)) {
          const fn = functionsByArn.get(target.Arn)!;
          serviceInvoke('events.amazonaws.com', fn, rule.arn);
          void invokeAsync(fn, JSON.parse(input));
        } else throw new Error(`target ${target.Arn} is not emulated locally`);
      } catch (error) {
        log(`rule ${rule.id}: delivery to ${target.Arn} failed: ${(error as Error).message}`);
        const dlq = target.DeadLetterConfig?.Arn;
        if (dlq) await serviceSendMessage('events.amazonaws.com', dlq, JSON.stringify(event), rule.arn).catch((e: unknown) => log(`rule ${rule.id}: its DLQ refused the event too: ${(e as Error).message}`));
      }
    };
    bus.onEvent = (event: BusEvent) => {
      log(describe(event));
      const full = { version: '0', account: LOCAL_ACCOUNT, region: LOCAL_REGION, resources: [], ...event };
      for (const rule of rules) {
        if (!rule.p.EventPattern || rule.p.State === 'DISABLED' || busName(rule.p.EventBusName ?? 'default') !== busName(event['event-bus-name'])) continue;
        if (matchesEventPattern(rule.p.EventPattern, full)) for (const target of rule.p.Targets ?? []) void deliver(rule, target, full);
      }
    };
    const pollNow = async () => {
      serviceInvoke('events.amazonaws.com', poller, rules.find((r) => r.p.ScheduleExpression && (r.p.Targets ?? []).some((t) => t.Arn === poller.arn))?.arn ?? arn('events', 'rule/manual'));
      return poller.invoke<PollRunSummary>({});
    };
    for (const rule of rules) {
      if (!rule.p.ScheduleExpression || rule.p.State === 'DISABLED') continue;
      const everyMs = scheduleMs(rule.p.ScheduleExpression);
      const timer = setInterval(() => {
        const event = { version: '0', id: randomUUID(), 'detail-type': 'Scheduled Event', source: 'aws.events', account: LOCAL_ACCOUNT, time: new Date().toISOString(), region: LOCAL_REGION, resources: [rule.arn], detail: {} };
        for (const target of rule.p.Targets ?? []) void deliver(rule, target, event);
      }, everyMs);
      closers.push(async () => clearInterval(timer));
    }

    cloudwatch.start();
    closers.push(async () => cloudwatch.stop());

    const outputs = template.Outputs ?? {};
    const info: LocalStackInfo = {
      webhookUrl: `${api.url}${WEBHOOK_ROUTES.shared}`,
      webhookUrlTemplate: `${api.url}${WEBHOOK_ROUTES.perConnection}`,
      secretFile,
      busLog,
      alarmsFile,
      tableName: physical[tableId]!.ref,
      eventBusName: resolve<string>({ Ref: resourcesOfType(template, 'AWS::Events::EventBus')[0]![0] }),
      ...(resourcesOfType(template, 'AWS::S3::Bucket')[0] && { bodyBucket: bucketName(resourcesOfType(template, 'AWS::S3::Bucket')[0]![0]) }),
      queueUrl: resolve<string>({ Ref: webhookQueueId }),
      deadLetterQueueUrl: resolve<string>({ Ref: deadLetterQueueOf(template, webhookQueueId) }),
      makiniApiUrl,
      makiniSimulator: makini !== undefined,
      pollMode: systemMode ? 'system' : 'per-connection',
      tokenStore: config.tokenStore,
      ...(outputs.TokenKeyArn !== undefined && { tokenKeyArn: resolve<string>(outputs.TokenKeyArn.Value) }),
      pollUrl: `${api.url}${LOCAL_POLL_PATH}`,
      endpoints,
      pid: process.pid,
    };
    writeFileSync(path.join(options.dir, 'stack.json'), `${JSON.stringify(info, null, 2)}\n`);
    return { info, config, webhookSecret, pollNow, close, iam, cloudwatch, template, ...(makini && { makini }) };
  } catch (error) {
    await close();
    // A state file that does not read back is a corrupt directory, not a bug.
    if (error instanceof StateFileError || error instanceof SyntaxError) throw new LocalStateError(options.dir, error);
    throw error;
  }
}

interface RuleTarget {
  Arn: string;
  Id: string;
  Input?: string;
  InputPath?: string;
  InputTransformer?: { InputPathsMap?: Record<string, string>; InputTemplate: string };
  DeadLetterConfig?: { Arn?: string };
}
interface RuleProperties {
  EventBusName?: string;
  EventPattern?: Record<string, unknown>;
  ScheduleExpression?: string;
  State?: string;
  Targets?: RuleTarget[];
}

/** `rate(5 minutes)` in milliseconds; cron schedules are not emulated. */
function scheduleMs(expression: string): number {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (!rate) throw new TemplateError(`schedule ${expression} is not supported locally (only rate(...))`);
  const unit = rate[2]!.startsWith('minute') ? 60_000 : rate[2]!.startsWith('hour') ? 3_600_000 : 86_400_000;
  return Number(rate[1]) * unit;
}

/** `index.handler` → [`index`, `handler`]. */
function splitHandler(handler: string): [string, string] {
  const dot = handler.lastIndexOf('.');
  return [handler.slice(0, dot), handler.slice(dot + 1)];
}

/** The bundle's entry file in an asset directory: `index.mjs`, `index.js` or `index.cjs`. */
function bundleFile(dir: string, base: string): string {
  for (const ext of ['.mjs', '.js', '.cjs']) if (existsSync(path.join(dir, base + ext))) return path.join(dir, base + ext);
  return path.join(dir, `${base}.mjs`);
}

/** The logical id of the queue `functionId`'s event-source mapping consumes (the consumer's: the webhook queue). */
function queueOfMapping(template: CfnTemplate, functionId: string): string {
  const mapping = resourcesOfType(template, 'AWS::Lambda::EventSourceMapping').find(([, r]) => referencedId(r.Properties?.FunctionName) === functionId);
  const id = mapping && referencedId(mapping[1].Properties?.EventSourceArn);
  if (!id) throw new TemplateError(`the template has no SQS event source mapping for ${functionId}`);
  return id;
}

/** The logical id of a queue's dead-letter queue. */
function deadLetterQueueOf(template: CfnTemplate, queueId: string): string {
  const id = referencedId((template.Resources[queueId]?.Properties?.RedrivePolicy as { deadLetterTargetArn?: unknown } | undefined)?.deadLetterTargetArn);
  if (!id) throw new TemplateError(`queue ${queueId} has no dead-letter queue`);
  return id;
}

async function createTable(name: string, p: Record<string, unknown>): Promise<void> {
  const client = new DynamoDBClient({});
  try {
    await client.send(
      new CreateTableCommand({
        TableName: name,
        AttributeDefinitions: p.AttributeDefinitions as CreateTableCommandInput['AttributeDefinitions'],
        KeySchema: p.KeySchema as CreateTableCommandInput['KeySchema'],
        BillingMode: 'PAY_PER_REQUEST',
        ...(p.GlobalSecondaryIndexes ? { GlobalSecondaryIndexes: p.GlobalSecondaryIndexes as CreateTableCommandInput['GlobalSecondaryIndexes'] } : {}),
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  } finally {
    client.destroy();
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
    // A parser's message quotes the text around the error, which may be a secret: only name the file.
    const what = cause instanceof StateFileError ? `${path.basename(cause.file)} is not what the local stack wrote` : 'a state file is not valid JSON';
    super(`the state directory ${dir}/ is unreadable (${what}); npm start -- --reset wipes it`);
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
 * Injected faults, from `<dir>/faults.json`, e.g. `{"sqs": "unavailable", "eventBridge": "throttled"}`
 * (`"hang"` leaves calls unanswered, so callers' timeouts are exercised):
 * write it to see how the pipeline (or your own code) behaves when AWS fails, delete it to recover.
 * One Secrets Manager, KMS or DynamoDB operation can fail alone, e.g.
 * `{"secretsManager.PutSecretValue": "unavailable"}` or `{"dynamodb.PutItem": "unavailable"}` (a
 * refreshed token pair that cannot be written back). Re-read only when the file changes.
 */
export type LocalFaults = Partial<Record<'sqs' | 'secretsManager' | 'eventBridge' | 'dynamodb' | 's3' | 'lambda' | 'kms' | `secretsManager.${string}` | `kms.${string}` | `dynamodb.${string}`, Fault>>;
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

/** The kind of item a single-item DynamoDB call touches: its sort key up to the first `#` (`WEBHOOK`, `STATE`, `MISMATCH`). */
function itemKind(input: Record<string, unknown>): string | undefined {
  const item = (input.Key ?? input.Item) as Record<string, { S?: unknown }> | undefined;
  const sort = item?.[TABLE_KEYS.sort]?.S;
  return typeof sort === 'string' ? sort.split('#')[0] : undefined;
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
  /**
   * The mapping has `FunctionResponseTypes: ["ReportBatchItemFailures"]`. Without it Lambda ignores
   * what the function returns: a normal return deletes the whole batch, a throw retries all of it.
   * @default true
   */
  reportBatchItemFailures?: boolean;
  /** The credentials Lambda polls with (the function's role). @default the process's */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}): { stop(): Promise<void> } {
  const client = new SQSClient(options.credentials ? { credentials: options.credentials } : {});
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
          const reported = (response?.batchItemFailures ?? []).map((f) => f?.itemIdentifier);
          const inBatch = new Set(records.map((r) => r.messageId));
          // Lambda: an empty, missing or unknown itemIdentifier fails the whole batch.
          if (options.reportBatchItemFailures === false) failed = new Set();
          else if (reported.some((id) => typeof id !== 'string' || !inBatch.has(id))) failed = inBatch;
          else failed = new Set(reported);
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
