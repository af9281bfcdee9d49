import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import { HttpApi, HttpMethod, HttpStage, LogGroupLogDestination, PayloadFormatVersion } from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { ApplicationLogLevel, Architecture, Code, Function as LambdaFunction, LoggingFormat, Runtime, SystemLogLevel, Tracing, type FunctionProps } from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { NodejsFunction, OutputFormat, type BundlingOptions } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as s3 from 'aws-cdk-lib/aws-s3';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { TABLE_KEYS } from '../lambdas/adapters/event-table-schema';
import { BODY_KEY_PREFIX } from '../lambdas/core/body-store';
import { TOKEN_ENCRYPTION_CONTEXT } from '../lambdas/core/connection-secret';
import { BUS_SOURCE } from '../lambdas/core/consume';
import { WEBHOOK_ROUTES } from '../lambdas/core/receive';
import { MakiniWebhookMonitoring } from './monitoring';
import { configOf, settingsOf, type MakiniWebhookSettings } from './settings';
import { bodyRetentionDays, ConfigError, DLQ_RETENTION_SECONDS, functionEnvironment, QUEUE_RETENTION_SECONDS, RESOURCE_ENV, SQS_MAX_MESSAGE_BYTES, type MakiniWebhookConfig } from '../lambdas/config/config';

export interface MakiniWebhookIngestionProps {
  /**
   * Settings over the defaults. Every key, its default and its bounds are in `lambdas/config/config.ts` and
   * the README's config reference. A resolved `MakiniWebhookConfig` (from `makini-webhook-ingestion/config`)
   * works too, through `settingsOf`.
   *
   * @default - the defaults of `lambdas/config/config.ts`
   */
  readonly config?: MakiniWebhookSettings;
  /**
   * A signing secret managed elsewhere. Alternatively name one with `config.signingSecret`.
   *
   * @default - `config.signingSecret` if set, else a new secret, retained on stack deletion
   */
  readonly signingSecret?: secretsmanager.ISecret;
  /**
   * The customer-managed KMS key the signing secret, the system credentials secret or the connection
   * token secrets are encrypted with, when they are not under Secrets Manager's AWS-managed key.
   * Alternatively give its ARN as `config.secretsKmsKey`.
   *
   * @default - `config.secretsKmsKey` if set, else none (the AWS-managed key needs no grant)
   */
  readonly secretsKey?: kms.IKey;
}

const LAMBDAS_DIR = path.join(__dirname, '..', 'lambdas');
/**
 * The prebuilt bundles of the installed package (`npm run package` writes them): `dist/assets/<name>/`
 * beside `dist/lib/`. A source checkout has none and bundles with esbuild at synthesis instead.
 */
export const PREBUILT_ASSETS_DIR = path.join(__dirname, '..', 'assets');
const LAMBDA_CREDENTIALS = path.join(LAMBDAS_DIR, 'adapters', 'lambda-credentials.ts');
/**
 * Dead-letter queues keep messages for SQS's longest, 14 days. A message keeps its first enqueue time
 * when it is moved to a DLQ, so the webhook queue keeps them for less (7 days): whatever fails there
 * still has at least a week in the DLQ, whose alarm fires at once.
 */
const DLQ_RETENTION = Duration.seconds(DLQ_RETENTION_SECONDS);
const QUEUE_RETENTION = Duration.seconds(QUEUE_RETENTION_SECONDS);

/** The runtime the project targets and tests for; newer runtimes are adopted deliberately, not by lint. */
const LAMBDA_RUNTIME_ACKNOWLEDGMENTS = [
  { id: 'AwsSolutions-L1', reason: 'Pinned to nodejs22.x, the runtime this release is built and tested for; a newer runtime is adopted in a release that tests it.' },
  { id: 'Serverless-LambdaLatestVersion', reason: 'Pinned to nodejs22.x, the runtime this release is built and tested for; a newer runtime is adopted in a release that tests it.' },
];


/**
 * The Makini webhook receiver: an HTTP API whose `POST /webhooks` verifies each webhook's signature
 * against a secret in Secrets Manager and answers 200 only once the webhook is in SQS.
 *
 * @example
 * const ingestion = new MakiniWebhookIngestion(this, 'Webhooks', { config: { signatureScheme: 'standard-webhooks' } });
 * new CfnOutput(this, 'WebhookUrl', { value: ingestion.webhookUrl });
 */
export class MakiniWebhookIngestion extends Construct {
  /** The resolved, validated settings: every key, defaults filled in. */
  public readonly settings: MakiniWebhookSettings;
  /** The URL to paste into the Makini dashboard. */
  public readonly webhookUrl: string;
  /** The per-connection URL: `{connection}` replaced by a connection id, for one Makini webhook per connection. */
  public readonly webhookUrlTemplate: string;
  public readonly api: HttpApi;
  public readonly stage: HttpStage;
  public readonly accessLogGroup: logs.LogGroup;
  public readonly receiver: LambdaFunction;
  public readonly receiverLogGroup: logs.LogGroup;
  /** Verified webhooks, waiting for the consumer. */
  public readonly queue: sqs.Queue;
  /** Messages the consumer failed `maxReceiveCount` times. */
  public readonly deadLetterQueue: sqs.Queue;
  public readonly signingSecret: secretsmanager.ISecret;
  /**
   * Bodies larger than fit inline (200,000 bytes), under `bodies/<sha256>`: the queue, the history
   * and the bus event carry a pointer to them. Grant your bus subscribers `s3:GetObject` on
   * `bodies/*` to read them.
   */
  public readonly bodyBucket: s3.Bucket;
  /** Webhooks (dedup and history) and connection state; docs/dynamodb-design.md. */
  public readonly table: dynamodb.Table;
  /** Every newly processed event, for customer rules: `source` is `makini.webhooks`. */
  public readonly eventBus: events.EventBus;
  public readonly eventArchive: events.Archive;
  public readonly consumer: LambdaFunction;
  public readonly consumerLogGroup: logs.LogGroup;
  /** Polls Makini for what webhooks missed, on `pollSchedule`. */
  public readonly poller: LambdaFunction;
  public readonly pollerLogGroup: logs.LogGroup;
  public readonly pollSchedule: events.Rule;
  /** Poll runs that could not be delivered or failed after retries, and poll shards that failed. */
  public readonly pollDeadLetterQueue: sqs.Queue;
  /**
   * System mode fan-out: a run with more than `pollShardSize` due connections hands them here in
   * shards; the poller's event source mapping polls them, `pollShardConcurrency` invocations at a
   * time. Absent when `pollMode` is `per-connection`.
   */
  public readonly pollShardQueue?: sqs.Queue;
  /** Alarms, dashboard and reauthorization notifications. */
  public readonly monitoring: MakiniWebhookMonitoring;
  /**
   * The key that seals per-connection tokens kept in the table: the monitoring's key (the stack's
   * own, whatever `secretsKey` is, so that a stored pair keeps opening when that changes).
   *
   * @default - none when `tokenStore` is `secrets-manager`
   */
  public readonly tokenKey?: kms.IKey;

  constructor(scope: Construct, id: string, props: MakiniWebhookIngestionProps = {}) {
    super(scope, id);
    const config = validateProps(props);
    this.settings = settingsOf(config);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', secureQueueProps());
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'Serverless-SQSRedrivePolicy',
      reason: 'This queue is the dead-letter queue of the webhook queue; a DLQ of its own would only move the problem.',
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      ...secureQueueProps(),
      retentionPeriod: QUEUE_RETENTION,
      // The consumer's timeout times six, as AWS advises for Lambda event sources, so a message is
      // not redelivered while a batch is still being processed.
      visibilityTimeout: Duration.seconds(config.consumerTimeoutSeconds * 6),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: config.maxReceiveCount },
    });

    this.signingSecret = props.signingSecret ?? importOrCreateSecret(this, config);

    this.bodyBucket = new s3.Bucket(this, 'BodyBucket', {
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      // As long as the history items and dead-letter messages that point to a body (bodyRetentionDays).
      lifecycleRules: [{ id: 'ExpireBodies', prefix: BODY_KEY_PREFIX, expiration: Duration.days(bodyRetentionDays(config)), abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(this.bodyBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason: 'Only the receiver (put) and the consumer (get) touch the bucket, through their roles; CloudTrail data events can be enabled where object-level audit is required. Server access logs would need a second bucket per deployment.',
    });
    const bodyObjects = this.bodyBucket.arnForObjects(`${BODY_KEY_PREFIX}*`);

    ({ fn: this.receiver, logGroup: this.receiverLogGroup } = lambdaFunction(this, 'Receiver', config, {
      entry: 'receiver',
      memoryMB: config.receiverMemoryMB,
      timeoutSeconds: config.receiverTimeoutSeconds,
      description: 'Verifies Makini webhook signatures and enqueues verified webhooks.',
      environment: {
        ...functionEnvironment(config),
        [RESOURCE_ENV.queueUrl]: this.queue.queueUrl,
        [RESOURCE_ENV.signingSecretId]: this.signingSecret.secretArn,
        [RESOURCE_ENV.bodyBucket]: this.bodyBucket.bucketName,
      },
    }));
    // Least privilege: the receiver writes bodies, the consumer reads them, both under the prefix only.
    iam.Grant.addToPrincipal({ grantee: this.receiver, actions: ['s3:PutObject'], resourceArns: [bodyObjects] });
    this.signingSecret.grantRead(this.receiver);
    const secretsKey = props.secretsKey ?? (config.secretsKmsKey ? kms.Key.fromKeyArn(this, 'SecretsKey', config.secretsKmsKey) : undefined);
    // Through Secrets Manager only: the functions never call KMS themselves.
    const viaSecretsManager = { StringEquals: { 'kms:ViaService': `secretsmanager.${Aws.REGION}.amazonaws.com` } };
    if (secretsKey) iam.Grant.addToPrincipal({ grantee: this.receiver, actions: ['kms:Decrypt'], resourceArns: [secretsKey.keyArn], conditions: viaSecretsManager });
    this.queue.grant(this.receiver, 'sqs:SendMessage');
    Validations.of(this.receiver).acknowledge(
      { id: 'Serverless-LambdaDLQ', reason: 'API Gateway invokes the receiver synchronously; a failed request is answered with a retryable status and Makini retries it.' },
    );

    this.table = new dynamodb.Table(this, 'Table', {
      partitionKey: { name: TABLE_KEYS.partition, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.sort, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      timeToLiveAttribute: TABLE_KEYS.ttl,
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table.addGlobalSecondaryIndex({
      indexName: TABLE_KEYS.byConnectionIndex,
      partitionKey: { name: TABLE_KEYS.indexPartition, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE_KEYS.indexSort, type: dynamodb.AttributeType.STRING },
      // Keys only: a claim writes the index once; completions and duplicate deliveries, which leave
      // the keys alone, do not write it at all (an ALL projection doubled every write's cost).
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });

    this.eventBus = new events.EventBus(this, 'EventBus', { description: 'Processed Makini webhook events (source makini.webhooks).' });
    this.eventArchive = this.eventBus.archive('Archive', {
      description: 'Every event on the Makini bus, for replay.',
      eventPattern: { source: [BUS_SOURCE] },
      ...(config.eventArchiveRetentionDays > 0 && { retention: Duration.days(config.eventArchiveRetentionDays) }),
    });

    ({ fn: this.consumer, logGroup: this.consumerLogGroup } = lambdaFunction(this, 'Consumer', config, {
      entry: 'consumer',
      memoryMB: config.consumerMemoryMB,
      timeoutSeconds: config.consumerTimeoutSeconds,
      description: 'Processes queued Makini webhooks once each, in event-time order, and publishes them to the bus.',
      environment: {
        ...functionEnvironment(config),
        [RESOURCE_ENV.eventTable]: this.table.tableName,
        [RESOURCE_ENV.eventBus]: this.eventBus.eventBusName,
        [RESOURCE_ENV.bodyBucket]: this.bodyBucket.bucketName,
      },
    }));
    iam.Grant.addToPrincipal({ grantee: this.consumer, actions: ['s3:GetObject'], resourceArns: [bodyObjects] });
    const bodyObjectsFinding = `AwsSolutions-IAM5[Resource::<${Stack.of(this).getLogicalId(this.bodyBucket.node.defaultChild as s3.CfnBucket)}.Arn>/${BODY_KEY_PREFIX}*]`;
    for (const fn of [this.receiver, this.consumer]) {
      Validations.of(fn.role!).acknowledge({ id: bodyObjectsFinding, reason: 'Bodies are content-addressed objects (bodies/<sha256>), unknown until they arrive; the wildcard is exactly that prefix of the one body bucket.' });
    }
    this.consumer.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: config.consumerBatchSize,
        ...(config.consumerBatchingWindowSeconds > 0 && { maxBatchingWindow: Duration.seconds(config.consumerBatchingWindowSeconds) }),
        reportBatchItemFailures: true,
      }),
    );
    // The table only: the consumer never reads the index (Table.grant would add index/*).
    iam.Grant.addToPrincipal({ grantee: this.consumer, actions: ['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem'], resourceArns: [this.table.tableArn] });
    this.eventBus.grantPutEventsTo(this.consumer);
    Validations.of(this.consumer).acknowledge(
      { id: 'Serverless-LambdaDLQ', reason: "The consumer is invoked by an SQS event source; failed messages go to the queue's dead-letter queue after maxReceiveCount." },
      { id: 'Serverless-LambdaEventSourceMappingDestination', reason: "SQS event sources take no on-failure destination; the queue's redrive policy moves failed messages to the dead-letter queue." },
    );

    this.pollDeadLetterQueue = new sqs.Queue(this, 'PollDeadLetterQueue', secureQueueProps());
    Validations.of(this.pollDeadLetterQueue).acknowledge(
      { id: 'AwsSolutions-SQS3', reason: 'This queue is the dead-letter queue of the poll schedule, of the poller and of the notification rules.' },
      { id: 'Serverless-SQSRedrivePolicy', reason: 'This queue is the dead-letter queue of the poll schedule, of the poller and of the notification rules.' },
    );
    if (config.pollMode !== 'per-connection') {
      this.pollShardQueue = new sqs.Queue(this, 'PollShardQueue', {
        ...secureQueueProps(),
        // A worker holds the shard it took for at most its own timeout.
        visibilityTimeout: Duration.seconds(config.pollerTimeoutSeconds),
        // A shard is worthless after its run's window (the poll interval): the worker polls nothing then.
        retentionPeriod: Duration.hours(1),
        // No second attempt: a worker makes a shard it cannot poll visible again at once, and the next
        // receive moves it to the dead-letter queue, whose alarm says so (its connections come first
        // in the next run anyway). One a worker never finished does the same after the timeout.
        deadLetterQueue: { queue: this.pollDeadLetterQueue, maxReceiveCount: 1 },
      });
    }
    ({ fn: this.poller, logGroup: this.pollerLogGroup } = lambdaFunction(this, 'Poller', config, {
      entry: 'poller',
      memoryMB: config.pollerMemoryMB,
      timeoutSeconds: config.pollerTimeoutSeconds,
      description: 'Polls Makini connection and sync status, and queues what webhooks missed.',
      environment: {
        ...functionEnvironment(config),
        [RESOURCE_ENV.eventTable]: this.table.tableName,
        [RESOURCE_ENV.queueUrl]: this.queue.queueUrl,
        ...(this.pollShardQueue && { [RESOURCE_ENV.pollShardQueueUrl]: this.pollShardQueue.queueUrl }),
      },
      // A failed run is retried once, then kept here; the next scheduled run polls again anyway.
      extra: { retryAttempts: 1, onFailure: new SqsDestination(this.pollDeadLetterQueue) },
    }));
    this.pollSchedule = new events.Rule(this, 'PollSchedule', {
      description: 'Runs the Makini poller.',
      schedule: events.Schedule.rate(Duration.minutes(config.pollIntervalMinutes)),
      targets: [new targets.LambdaFunction(this.poller, { retryAttempts: 2, maxEventAge: Duration.minutes(config.pollIntervalMinutes), deadLetterQueue: this.pollDeadLetterQueue })],
    });
    // Built from pseudo-parameters (not Stack.formatArn, which resolves them when the env is known)
    // so the ARN, and the cdk-nag finding acknowledged below, read the same in every environment.
    const tokenSecrets = `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${config.connectionSecretPrefix}*`;
    // Reads the token secrets (per-connection mode), and writes refreshed pairs back when they are
    // the store; the table store only reads them, to copy them in once.
    const tokenSecretActions = config.tokenStore === 'secrets-manager' ? ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'] : ['secretsmanager:GetSecretValue'];
    iam.Grant.addToPrincipal({ grantee: this.poller, actions: tokenSecretActions, resourceArns: [tokenSecrets] });
    // System mode's client credentials: the secret (Secrets Manager appends a random suffix to its
    // name) and the bare name, against which a secret that does not exist is authorized, so that
    // auto mode gets ResourceNotFoundException ("not configured") rather than AccessDenied.
    const credentialsSecret = `arn:${Aws.PARTITION}:secretsmanager:${Aws.REGION}:${Aws.ACCOUNT_ID}:secret:${config.systemCredentialsSecret}`;
    iam.Grant.addToPrincipal({ grantee: this.poller, actions: ['secretsmanager:GetSecretValue'], resourceArns: [credentialsSecret, `${credentialsSecret}-??????`] });
    // Neither action supports resource-level permissions; BatchGetSecretValue still needs
    // GetSecretValue on each secret, which the statement above limits to the token prefix.
    iam.Grant.addToPrincipal({ grantee: this.poller, actions: ['secretsmanager:ListSecrets', 'secretsmanager:BatchGetSecretValue'], resourceArns: ['*'] });
    iam.Grant.addToPrincipal({ grantee: this.poller, actions: ['dynamodb:BatchGetItem', 'dynamodb:UpdateItem'], resourceArns: [this.table.tableArn] });
    // The poll records' index partition: connections the poller knew that Makini may no longer list.
    iam.Grant.addToPrincipal({ grantee: this.poller, actions: ['dynamodb:Query'], resourceArns: [`${this.table.tableArn}/index/${TABLE_KEYS.byConnectionIndex}`] });
    this.queue.grant(this.poller, 'sqs:SendMessage');
    if (this.pollShardQueue) {
      // The run sends shards and starts workers (this function, asynchronously); the workers take them.
      // No event-source mapping: one long-polls its queue all month, fan-out or not (docs/cost.md).
      this.pollShardQueue.grant(this.poller, 'sqs:SendMessage', 'sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:ChangeMessageVisibility');
      // Its own policy, not the role's default one: the function depends on that one, and this
      // statement names the function, so it would be a dependency cycle.
      new iam.Policy(this, 'PollerStartsWorkers', {
        roles: [this.poller.role!],
        statements: [new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [this.poller.functionArn] })],
      });
    }
    // Reading secrets, and writing refreshed pairs back (PutSecretValue encrypts with a data key).
    if (secretsKey) iam.Grant.addToPrincipal({ grantee: this.poller, actions: ['kms:Decrypt', 'kms:GenerateDataKey'], resourceArns: [secretsKey.keyArn], conditions: viaSecretsManager });
    Validations.of(this.poller.role!).acknowledge(
      { id: 'AwsSolutions-IAM5[Resource::*]', reason: 'secretsmanager:ListSecrets and BatchGetSecretValue support no resource-level permissions; secret values stay limited to the token prefix.' },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${config.connectionSecretPrefix}*]`,
        reason: 'One secret per connection under the configured prefix; the wildcard is exactly that prefix.',
      },
      {
        id: `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:secretsmanager:<AWS::Region>:<AWS::AccountId>:secret:${config.systemCredentialsSecret}-??????]`,
        reason: 'The one system credentials secret; the six ? stand for the random suffix Secrets Manager appends to its name.',
      },
    );
    Validations.of(this.poller).acknowledge(
      { id: 'Serverless-LambdaDLQ', reason: 'Failed asynchronous runs and workers go to the on-failure destination, the poll dead-letter queue.' },
    );

    this.accessLogGroup = new logs.LogGroup(this, 'AccessLogs', { retention: config.logRetentionDays });
    this.api = new HttpApi(this, 'Api', {
      description: 'Receives Makini webhooks.',
      createDefaultStage: false,
    });
    this.stage = new HttpStage(this, 'Stage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: config.throttleRateLimit, burstLimit: config.throttleBurstLimit },
      accessLogSettings: { destination: new LogGroupLogDestination(this.accessLogGroup), format: accessLogFormat() },
    });
    const integration = new HttpLambdaIntegration('Receiver', this.receiver, { payloadFormatVersion: PayloadFormatVersion.VERSION_2_0 });
    // POST is the webhook; every other method reaches the receiver too, so it can answer a
    // structured 405 instead of API Gateway's bare 404.
    // `/webhooks/{connection}` attributes a webhook to a connection, for one Makini webhook per connection.
    const routes = [WEBHOOK_ROUTES.shared, WEBHOOK_ROUTES.perConnection].flatMap((routePath) => [
      ...this.api.addRoutes({ path: routePath, methods: [HttpMethod.POST], integration }),
      ...this.api.addRoutes({ path: routePath, methods: [HttpMethod.ANY], integration }),
    ]);
    for (const route of routes) {
      Validations.of(route).acknowledge({
        id: 'AwsSolutions-APIG4',
        reason: "Makini cannot send credentials; every request is authenticated by its HMAC signature, verified by the receiver before anything is stored.",
      });
    }
    this.webhookUrl = `${this.api.apiEndpoint}${WEBHOOK_ROUTES.shared}`;
    this.webhookUrlTemplate = `${this.api.apiEndpoint}${WEBHOOK_ROUTES.perConnection}`;

    this.monitoring = new MakiniWebhookMonitoring(this, 'Monitoring', {
      config: this.settings,
      api: this.api,
      receiver: this.receiver,
      consumer: this.consumer,
      poller: this.poller,
      queue: this.queue,
      deadLetterQueue: this.deadLetterQueue,
      pollDeadLetterQueue: this.pollDeadLetterQueue,
      eventBus: this.eventBus,
      functionLogGroups: [this.receiverLogGroup, this.consumerLogGroup, this.pollerLogGroup],
    });

    if (config.tokenStore === 'table') {
      // Per-connection tokens as sealed items of the table, under the stack's own key, never
      // `secretsKmsKey`: the pairs must keep opening when that setting changes. Only under the tokens'
      // encryption context, so this grant opens nothing else sealed with the key.
      this.tokenKey = this.monitoring.key;
      this.poller.addEnvironment(RESOURCE_ENV.tokenKey, this.tokenKey.keyArn);
      iam.Grant.addToPrincipal({
        grantee: this.poller,
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resourceArns: [this.tokenKey.keyArn],
        conditions: { StringEquals: Object.fromEntries(Object.entries(TOKEN_ENCRYPTION_CONTEXT).map(([k, v]) => [`kms:EncryptionContext:${k}`, v])) },
      });
      // The tokens' partition: one Query reads every pair; PutItem writes a refreshed pair and the migration's marker.
      iam.Grant.addToPrincipal({ grantee: this.poller, actions: ['dynamodb:Query', 'dynamodb:PutItem'], resourceArns: [this.table.tableArn] });
    }
  }
}

interface LambdaOptions {
  /** Folder under lambdas/ holding handler.ts. */
  readonly entry: string;
  readonly memoryMB: number;
  readonly timeoutSeconds: number;
  readonly description: string;
  readonly environment: Record<string, string>;
  /** Further function props, e.g. asynchronous-invocation settings. */
  readonly extra?: Partial<FunctionProps>;
}

/** How every Lambda is bundled (exported so `npm run bench` can build variants the same way). */
export const LAMBDA_BUNDLING: BundlingOptions = {
  minify: true,
  sourceMap: true,
  sourcesContent: false,
  target: 'node22',
  // ES module output: esbuild tree-shakes the SDK's and Powertools' ES builds better, and
  // Node loads it without the CommonJS wrapper. The banner gives the few CommonJS files in
  // the bundle the `require` they expect.
  format: OutputFormat.ESM,
  banner: "import { createRequire as __cjsRequire } from 'node:module';const require = __cjsRequire(import.meta.url);",
  // Bundle the AWS SDK instead of using the runtime's copy: the code runs with the exact
  // versions it was tested with, and esbuild keeps only the clients it uses.
  externalModules: [],
  // Prefer ES module entry points so esbuild can tree-shake the SDK and Powertools.
  mainFields: ['module', 'main'],
  // Only the environment credentials Lambda provides: see lambda-credentials.ts for the measurement.
  // Comments esbuild keeps as "legal" go to index.mjs.LEGAL.txt beside the bundle, not into the code
  // Lambda parses at cold start: today they are only Powertools' `v8 ignore … @preserve` coverage
  // markers, 458 bytes of the receiver (esbuild metafile, 2026-12-02).
  esbuildArgs: { '--alias:@aws-sdk/credential-provider-node': LAMBDA_CREDENTIALS, '--legal-comments': 'external' },
};

/**
 * A bundled Node.js Lambda with the project's secure defaults: arm64, nodejs22.x, its own log group
 * with retention, and a role that starts with nothing but the right to write that log group.
 *
 * From a source checkout (`lambdas/<entry>/handler.ts` exists) esbuild bundles the handler at
 * synthesis; from the installed package, whose bundles were built the same way by `npm run package`,
 * the prebuilt bundle is the asset and nothing is bundled.
 */
function lambdaFunction(scope: Construct, id: string, config: MakiniWebhookConfig, options: LambdaOptions): { fn: LambdaFunction; logGroup: logs.LogGroup } {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, { retention: config.logRetentionDays });
  const role = new iam.Role(scope, `${id}Role`, { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'), description: options.description });
  logGroup.grantWrite(role);
  const props = {
    ...options.extra,
    runtime: Runtime.NODEJS_22_X,
    architecture: Architecture.ARM_64,
    memorySize: options.memoryMB,
    timeout: Duration.seconds(options.timeoutSeconds),
    role,
    logGroup,
    // JSON logs let Lambda drop its own START/END/REPORT lines below `platformLogLevel` (330 B per
    // invocation, docs/cost.md). Application lines are filtered by Powertools at `logLevel`; Lambda's
    // filter stays at INFO (DEBUG when asked for), because EMF lines carry no level and Lambda reads
    // a line without one as INFO.
    loggingFormat: LoggingFormat.JSON,
    systemLogLevelV2: SystemLogLevel[config.platformLogLevel],
    applicationLogLevelV2: config.logLevel === 'DEBUG' ? ApplicationLogLevel.DEBUG : ApplicationLogLevel.INFO,
    tracing: config.tracing ? Tracing.ACTIVE : Tracing.DISABLED,
    description: options.description,
    environment: { ...options.environment, POWERTOOLS_SERVICE_NAME: options.entry, NODE_OPTIONS: '--enable-source-maps' },
  };
  const source = path.join(LAMBDAS_DIR, options.entry, 'handler.ts');
  const fn = existsSync(source)
    ? new NodejsFunction(scope, id, { ...props, entry: source, handler: 'handler', bundling: LAMBDA_BUNDLING })
    : new LambdaFunction(scope, id, { ...props, code: Code.fromAsset(prebuiltAsset(options.entry)), handler: 'index.handler' });
  if (config.tracing) {
    Validations.of(role).acknowledge({ id: 'AwsSolutions-IAM5[Resource::*]', reason: 'X-Ray PutTraceSegments/PutTelemetryRecords do not support resource-level permissions.' });
  } else {
    Validations.of(fn).acknowledge({ id: 'Serverless-LambdaTracing', reason: 'Tracing is off unless the `tracing` setting turns it on: X-Ray would double the cost per webhook at low volume (docs/cost.md), and logs and metrics carry the webhook id end to end.' });
  }
  Validations.of(fn).acknowledge(...LAMBDA_RUNTIME_ACKNOWLEDGMENTS);
  return { fn, logGroup };
}

/** The prebuilt bundle directory of one Lambda, or a clear error when the package was built without it. */
function prebuiltAsset(entry: string): string {
  const dir = path.join(PREBUILT_ASSETS_DIR, entry);
  if (!existsSync(path.join(dir, 'index.mjs'))) {
    throw new Error(`makini-webhook-ingestion: neither lambdas/${entry}/handler.ts nor the prebuilt bundle ${dir}/index.mjs exists; build the package with \`npm run package\``);
  }
  return dir;
}

/** Validates everything up front and reports every problem in one error. */
function validateProps(props: MakiniWebhookIngestionProps): MakiniWebhookConfig {
  const problems: string[] = [];
  let config: MakiniWebhookConfig | undefined;
  try {
    config = configOf(props.config);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (props.signingSecret && props.config?.signingSecret) {
    problems.push('signingSecret: set either the signingSecret prop or config.signingSecret, not both');
  }
  if (problems.length > 0 || !config) throw new ConfigError(problems);
  return config;
}

function secureQueueProps(): sqs.QueueProps {
  return {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    retentionPeriod: DLQ_RETENTION,
    maxMessageSizeBytes: SQS_MAX_MESSAGE_BYTES,
  };
}

function importOrCreateSecret(scope: Construct, config: MakiniWebhookConfig): secretsmanager.ISecret {
  const given = config.signingSecret;
  if (given.startsWith('arn:')) {
    // A complete ARN ends in the 6-character suffix Secrets Manager appends to the name.
    return /-[A-Za-z0-9]{6}$/.test(given)
      ? secretsmanager.Secret.fromSecretCompleteArn(scope, 'SigningSecret', given)
      : secretsmanager.Secret.fromSecretPartialArn(scope, 'SigningSecret', given);
  }
  if (given !== '') return secretsmanager.Secret.fromSecretNameV2(scope, 'SigningSecret', given);

  const secret = new secretsmanager.Secret(scope, 'SigningSecret', {
    description: 'Makini webhook signing secret. Put the secret from the Makini dashboard here: a string, ["new","old"], or {"current":…,"previous":…}.',
    // A random placeholder in the {"current": …} shape, so the receiver works (and rejects) until
    // the real secret is put in.
    generateSecretString: { secretStringTemplate: '{}', generateStringKey: 'current', excludePunctuation: true, passwordLength: 48 },
    removalPolicy: RemovalPolicy.RETAIN,
  });
  Validations.of(secret).acknowledge({
    id: 'AwsSolutions-SMG4',
    reason: "Makini issues the signing secret; it is rotated in Makini's dashboard and then put here (old and new both accepted), which a rotation Lambda cannot do.",
  });
  return secret;
}

/**
 * The API's JSON access log line (exported for the cost model in `npm run bench`): one object per
 * request with what an on-call engineer filters by, and nothing else, because every webhook pays for
 * its bytes (about 145 of the 200 a webhook may log, docs/cost.md). The event's own timestamp is the
 * request time; `requestId` is also the receiver's `x-request-id` and the `requestId` of its error
 * bodies; `lambdaError` is the integration's error (a timeout, a throttle), `error` API Gateway's.
 */
export function accessLogFormat(): AccessLogFormat {
  return AccessLogFormat.custom(
    JSON.stringify({
      requestId: '$context.requestId',
      sourceIp: '$context.identity.sourceIp',
      route: '$context.routeKey',
      status: '$context.status',
      latencyMs: '$context.responseLatency',
      error: '$context.error.message',
      lambdaError: '$context.integration.error',
    }),
  );
}
