import * as fs from 'node:fs';
import * as path from 'node:path';
import { Stack, Validations } from 'aws-cdk-lib';
import { Key } from 'aws-cdk-lib/aws-kms';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Queue } from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks, ServerlessChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { ConfigError, RESOURCE_ENV, type MakiniWebhookConfig } from '../../lambdas/config/config';
import { MakiniWebhookIngestion } from '../../lib/makini-webhook-ingestion';
import { MakiniWebhookStack } from '../../lib/makini-webhook-stack';
import { cdkApp } from '../support/cdk-app';
import { settingsOf } from '../../lib/settings';

/** Bundling is proven once, in its own test; elsewhere the template is what is under test. */
function synth(config: Partial<MakiniWebhookConfig> = {}, bundle = false) {
  const app = cdkApp({ bundle });
  const stack = new MakiniWebhookStack(app, 'TestStack', { config: settingsOf(config) });
  return { app, stack, template: Template.fromStack(stack) };
}

const { stack, template } = synth();

describe('MakiniWebhookStack template', () => {
  it('exposes POST /webhooks (and a 405-answering catch-all) on an HTTP API with payload format 2.0', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /webhooks' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'ANY /webhooks' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /webhooks/{connection}' });
    template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'ANY /webhooks/{connection}' });
    template.resourceCountIs('AWS::ApiGatewayV2::Route', 4);
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', { IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
  });

  it('throttles the stage and writes JSON access logs to a log group with retention', () => {
    const stage = template.findResources('AWS::ApiGatewayV2::Stage');
    const [props] = Object.values(stage).map((r) => r.Properties);
    expect(props.StageName).toBe('$default');
    expect(props.DefaultRouteSettings).toEqual({ ThrottlingRateLimit: 200, ThrottlingBurstLimit: 400 });
    const format = JSON.parse(props.AccessLogSettings.Format);
    expect(format).toMatchObject({ requestId: '$context.requestId', status: '$context.status', sourceIp: '$context.identity.sourceIp' });
    expect(props.AccessLogSettings.DestinationArn).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/AccessLogs/), 'Arn'] });
  });

  it('takes throttling limits from configuration', () => {
    const custom = synth({ throttleRateLimit: 25, throttleBurstLimit: 50 }).template;
    custom.hasResourceProperties('AWS::ApiGatewayV2::Stage', { DefaultRouteSettings: { ThrottlingRateLimit: 25, ThrottlingBurstLimit: 50 } });
  });

  it('runs the receiver on nodejs22.x arm64, with a timeout well under 10 s and its resources (settings: only those changed) in the environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      Timeout: 8,
      MemorySize: 512,
      TracingConfig: Match.absent(),
      Environment: {
        Variables: {
          MAKINI_WEBHOOK_QUEUE_URL: { Ref: Match.stringLikeRegexp('Queue') },
          MAKINI_SIGNING_SECRET_ID: { Ref: Match.stringLikeRegexp('SigningSecret') },
          MAKINI_BODY_BUCKET: { Ref: Match.stringLikeRegexp('BodyBucket') },
          NODE_OPTIONS: '--enable-source-maps',
        },
      },
    });
    synth({ maxBodyBytes: 65_536, signedBytes: 'raw' }).template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 8,
      Environment: { Variables: Match.objectLike({ MAKINI_MAX_BODY_BYTES: '65536', MAKINI_SIGNED_BYTES: 'raw', MAKINI_SIGNATURE_SCHEME: Match.absent() }) },
    });
  });

  it("gives the consumer the event fields and the content dedup window it reads", () => {
    const custom = synth({ eventTypeFields: ['kind', 'event'], contentDedupWindowMinutes: 30 }).template;
    custom.hasResourceProperties('AWS::Lambda::Function', {
      Description: Match.stringLikeRegexp('Processes queued'),
      Environment: { Variables: Match.objectLike({ MAKINI_EVENT_TYPE_FIELDS: 'kind,event', MAKINI_CONTENT_DEDUP_WINDOW_MINUTES: '30' }) },
    });
  });

  it('gives every log group a retention period', () => {
    const groups = Object.values(template.findResources('AWS::Logs::LogGroup'));
    expect(groups).toHaveLength(4);
    for (const group of groups) expect(group.Properties.RetentionInDays).toBe(30);
  });

  it('creates an encrypted, TLS-only queue with 7-day retention, 1 MiB messages and a redrive to the DLQ', () => {
    template.resourceCountIs('AWS::SQS::Queue', 4); // webhooks, its DLQ, the poll shard queue, and the poll and notification DLQ
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 604_800,
      MaximumMessageSize: 1_048_576,
      VisibilityTimeout: 180,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('DeadLetterQueue'), 'Arn'] }, maxReceiveCount: 5 },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1_209_600, RedrivePolicy: Match.absent() });
    const policies = Object.values(template.findResources('AWS::SQS::QueuePolicy'));
    expect(policies).toHaveLength(4);
    for (const policy of policies) {
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
      );
    }
  });

  it("sizes the queue's visibility timeout at 6x the consumer timeout", () => {
    synth({ consumerTimeoutSeconds: 60 }).template.hasResourceProperties('AWS::SQS::Queue', { VisibilityTimeout: 360, RedrivePolicy: Match.anyValue() });
  });

  it('creates a signing secret that survives stack deletion', () => {
    template.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: { GenerateSecretString: Match.objectLike({ GenerateStringKey: 'current', SecretStringTemplate: '{}' }) },
    });
  });

  it('grants the receiver exactly sqs:SendMessage on its queue and read on its secret', () => {
    const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^WebhooksQueue/), 'Arn'] } }));
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: expect.arrayContaining(['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret']), Resource: { Ref: expect.stringMatching(/SigningSecret/) } }),
    );
    for (const statement of statements) {
      const actions = [statement.Action].flat() as string[];
      expect(actions.some((a) => a === '*' || a.endsWith(':*'))).toBe(false);
      // Only actions without resource-level permissions may name every resource.
      if (statement.Resource === '*') expect(actions.every((a) => a.startsWith('xray:') || a === 'secretsmanager:ListSecrets' || a === 'secretsmanager:BatchGetSecretValue')).toBe(true);
    }
  });

  it('uses no AWS managed policy: the receiver role holds only what the grants add', () => {
    template.hasResourceProperties('AWS::IAM::Role', { ManagedPolicyArns: Match.absent() });
  });

  it('restricts the invoke permission to this API', () => {
    const permissions = Object.values(template.findResources('AWS::Lambda::Permission')).map((p) => p.Properties);
    const fromApi = permissions.filter((p) => p.Principal === 'apigateway.amazonaws.com');
    expect(fromApi.length).toBeGreaterThan(0);
    for (const permission of fromApi) expect(JSON.stringify(permission.SourceArn)).toContain('/webhooks');
    // The only other invoker is the poll schedule, limited to its rule.
    for (const permission of permissions.filter((p) => p.Principal !== 'apigateway.amazonaws.com')) {
      expect(permission).toMatchObject({ Principal: 'events.amazonaws.com', SourceArn: { 'Fn::GetAtt': [expect.stringMatching(/^WebhooksPollSchedule/), 'Arn'] } });
    }
  });

  it('outputs WebhookUrl, SigningSecretArn, QueueUrl and DeadLetterQueueUrl', () => {
    template.hasOutput('WebhookUrl', { Value: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('/webhooks$')])] } });
    template.hasOutput('WebhookUrlTemplate', { Value: { 'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('/webhooks/\\{connection\\}$')])] } });
    template.hasOutput('SigningSecretArn', {});
    template.hasOutput('QueueUrl', {});
    template.hasOutput('DeadLetterQueueUrl', {});
  });
});

describe('queues', () => {
  it('keeps a dead letter longer than the webhook queue keeps a message (a moved message keeps its first enqueue time)', () => {
    const queues = template.findResources('AWS::SQS::Queue');
    const source = Object.values(queues).find((q) => q.Properties.RedrivePolicy)!;
    const dlq = queues[source.Properties.RedrivePolicy.deadLetterTargetArn['Fn::GetAtt'][0]];
    expect(dlq.Properties.MessageRetentionPeriod).toBe(14 * 86_400);
    expect(dlq.Properties.MessageRetentionPeriod - source.Properties.MessageRetentionPeriod).toBeGreaterThanOrEqual(7 * 86_400);
  });
});

describe('consumer infrastructure', () => {
  it('keeps events in an on-demand, encrypted, PITR-protected table that survives deletion, with TTL and a by-connection index', () => {
    template.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: {
        BillingMode: 'PAY_PER_REQUEST',
        SSESpecification: { SSEEnabled: true },
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
        DeletionProtectionEnabled: true,
        KeySchema: [
          { AttributeName: 'pk', KeyType: 'HASH' },
          { AttributeName: 'sk', KeyType: 'RANGE' },
        ],
        GlobalSecondaryIndexes: [
          Match.objectLike({ IndexName: 'byConnection', KeySchema: [{ AttributeName: 'gsi1pk', KeyType: 'HASH' }, { AttributeName: 'gsi1sk', KeyType: 'RANGE' }], Projection: { ProjectionType: 'KEYS_ONLY' } }),
        ],
      },
    });
  });

  it('creates the event bus with an archive of its events, retention configurable', () => {
    template.resourceCountIs('AWS::Events::EventBus', 1);
    template.hasResourceProperties('AWS::Events::Archive', { EventPattern: { source: ['makini.webhooks'] }, RetentionDays: 30 });
    // CloudFormation's RetentionDays 0 keeps events forever.
    synth({ eventArchiveRetentionDays: 0 }).template.hasResourceProperties('AWS::Events::Archive', { RetentionDays: 0 });
  });

  it('feeds the consumer from the queue with ReportBatchItemFailures and the configured batching', () => {
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^WebhooksQueue'), 'Arn'] },
      BatchSize: 10,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
    synth({ consumerBatchSize: 100, consumerBatchingWindowSeconds: 5 }).template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: 100,
      MaximumBatchingWindowInSeconds: 5,
    });
  });

  it("keeps the queue's visibility timeout at least 6x the consumer's timeout", () => {
    const fns = Object.values(template.findResources('AWS::Lambda::Function')).map((f) => f.Properties);
    const consumer = fns.find((f) => f.Environment.Variables.MAKINI_EVENT_TABLE);
    const queue = Object.values(template.findResources('AWS::SQS::Queue')).find((q) => q.Properties.RedrivePolicy);
    expect(queue?.Properties.VisibilityTimeout).toBeGreaterThanOrEqual(6 * consumer.Timeout);
  });

  it('grants the consumer item reads and writes on the table only, and PutEvents on its bus', () => {
    const policies = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([id]) => id.startsWith('WebhooksConsumerRole'));
    const statements = policies.flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    expect(statements).toContainEqual(
      expect.objectContaining({ Action: expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:PutItem', 'dynamodb:UpdateItem']), Resource: { 'Fn::GetAtt': [expect.stringMatching(/^WebhooksTable/), 'Arn'] } }),
    );
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'events:PutEvents', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^WebhooksEventBus/), 'Arn'] } }));
    expect(JSON.stringify(statements)).not.toContain('/index/');
    expect(JSON.stringify(statements)).not.toMatch(/dynamodb:(Scan|BatchWriteItem|DeleteItem)/);
  });

  it('outputs the bus and table names', () => {
    template.hasOutput('EventBusName', {});
    template.hasOutput('EventTableName', {});
  });
});

describe('body bucket (bodies above the inline limit)', () => {
  const policyStatements = (role: string) =>
    Object.entries(template.findResources('AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith(role))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
  const s3Statements = (role: string) => policyStatements(role).filter((st) => [st.Action].flat().some((a) => a.startsWith('s3:')));
  const underPrefix = { 'Fn::Join': ['', [{ 'Fn::GetAtt': [expect.stringMatching(/^WebhooksBodyBucket/), 'Arn'] }, '/bodies/*']] };

  it('is encrypted, private, TLS-only, kept on stack deletion, and expires bodies with the history (30 days by default)', () => {
    template.hasResource('AWS::S3::Bucket', {
      DeletionPolicy: 'Retain',
      Properties: {
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        LifecycleConfiguration: { Rules: [Match.objectLike({ Prefix: 'bodies/', ExpirationInDays: 30, Status: 'Enabled' })] },
      },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
    });
  });

  it('keeps bodies at least as long as the dead-letter queue keeps the messages pointing to them', () => {
    synth({ historyRetentionDays: 7, dedupWindowDays: 7 }).template.hasResourceProperties('AWS::S3::Bucket', { LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 14 })] } });
    synth({ historyRetentionDays: 90 }).template.hasResourceProperties('AWS::S3::Bucket', { LifecycleConfiguration: { Rules: [Match.objectLike({ ExpirationInDays: 90 })] } });
  });

  it('lets the receiver only put and the consumer only get, under bodies/ only; the poller not at all', () => {
    expect(s3Statements('WebhooksReceiverRole')).toEqual([expect.objectContaining({ Action: 's3:PutObject', Resource: underPrefix })]);
    expect(s3Statements('WebhooksConsumerRole')).toEqual([expect.objectContaining({ Action: 's3:GetObject', Resource: underPrefix })]);
    expect(s3Statements('WebhooksPollerRole')).toEqual([]);
  });

  it('names the bucket in the consumer environment', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ MAKINI_EVENT_BUS: Match.anyValue(), MAKINI_BODY_BUCKET: { Ref: Match.stringLikeRegexp('BodyBucket') } }) },
    });
  });
});

describe('poller infrastructure', () => {
  const pollerStatements = (t: Template) =>
    Object.entries(t.findResources('AWS::IAM::Policy'))
      .filter(([id]) => id.startsWith('WebhooksPollerRole'))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement);

  it('runs the poller on a schedule, with a retry policy and a dead-letter queue', () => {
    template.hasResourceProperties('AWS::Events::Rule', {
      ScheduleExpression: 'rate(5 minutes)',
      Targets: [Match.objectLike({ RetryPolicy: { MaximumRetryAttempts: 2, MaximumEventAgeInSeconds: 300 }, DeadLetterConfig: { Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^WebhooksPollDeadLetterQueue'), 'Arn'] } } })],
    });
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 1,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^WebhooksPollDeadLetterQueue'), 'Arn'] } } },
    });
    synth({ pollIntervalMinutes: 15 }).template.hasResourceProperties('AWS::Events::Rule', { ScheduleExpression: 'rate(15 minutes)' });
  });

  it('gives the poller its settings, the table and the queue', () => {
    template.hasResourceProperties('AWS::Lambda::Function', {
      Timeout: 180,
      Environment: { Variables: Match.objectLike({ MAKINI_EVENT_TABLE: Match.anyValue(), MAKINI_WEBHOOK_QUEUE_URL: Match.anyValue(), MAKINI_POLL_MODE: Match.absent() }) },
    });
  });

  it('gives the poller a shard queue it drains with workers it starts itself: no event-source mapping, a failed shard to the poll DLQ', () => {
    template.hasResourceProperties('AWS::SQS::Queue', {
      SqsManagedSseEnabled: true,
      VisibilityTimeout: 180,
      MessageRetentionPeriod: 3_600,
      RedrivePolicy: { deadLetterTargetArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^WebhooksPollDeadLetterQueue'), 'Arn'] }, maxReceiveCount: 1 },
    });
    // The webhook queue's mapping only: a mapping long-polls its queue all month, fan-out or not.
    template.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ MAKINI_POLL_SHARD_QUEUE_URL: { Ref: Match.stringLikeRegexp('^WebhooksPollShardQueue') } }) },
    });
    const shardQueue = Object.keys(template.findResources('AWS::SQS::Queue')).find((id) => id.startsWith('WebhooksPollShardQueue'))!;
    const onShards = pollerStatements(template).filter((st) => JSON.stringify(st.Resource).includes(shardQueue));
    expect(onShards.flatMap((st) => [st.Action].flat()).sort()).toEqual(['sqs:ChangeMessageVisibility', 'sqs:DeleteMessage', 'sqs:ReceiveMessage', 'sqs:SendMessage']);
    // Workers are the poller itself, invoked asynchronously: that one function only, in a policy of
    // its own (in the role's default policy, which the function depends on, it would be a cycle).
    const starts = Object.entries(template.findResources('AWS::IAM::Policy')).filter(([id]) => id.startsWith('WebhooksPollerStartsWorkers'));
    expect(starts).toHaveLength(1);
    const [[, policy]] = starts;
    expect(policy.Properties.PolicyDocument.Statement).toEqual([{ Action: 'lambda:InvokeFunction', Effect: 'Allow', Resource: { 'Fn::GetAtt': [expect.stringMatching(/^WebhooksPoller[0-9A-F]{8}$/), 'Arn'] } }]);
    expect(policy.Properties.Roles).toEqual([{ Ref: expect.stringMatching(/^WebhooksPollerRole/) }]);
    // A failed worker, like a failed run: retried once, then the poll DLQ.
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: Match.stringLikeRegexp('^WebhooksPoller') },
      MaximumRetryAttempts: 1,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^WebhooksPollDeadLetterQueue'), 'Arn'] } } },
    });
    // Per-connection mode never fans out (the tokens are not put in messages): no shard queue, no self-invocation.
    const perConnection = synth({ pollMode: 'per-connection' }).template;
    perConnection.resourceCountIs('AWS::SQS::Queue', 3);
    perConnection.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
    expect(Object.keys(perConnection.findResources('AWS::IAM::Policy')).filter((id) => id.startsWith('WebhooksPollerStartsWorkers'))).toEqual([]);
  });

  const secretArn = (name: string) => ({ 'Fn::Join': ['', ['arn:', { Ref: 'AWS::Partition' }, ':secretsmanager:', { Ref: 'AWS::Region' }, ':', { Ref: 'AWS::AccountId' }, `:secret:${name}`]] });
  const table = { 'Fn::GetAtt': [expect.stringMatching(/^WebhooksTable/), 'Arn'] };
  const wildcardsOf = (statements: ReturnType<typeof pollerStatements>) => statements.filter((st) => JSON.stringify(st.Resource).includes('*')).map((st) => [st.Action].flat().sort().join(',')).sort();

  it('table token store (the default): reads token secrets under the prefix only (to copy them in), seals with the stack key under the token context only, and no other wildcard', () => {
    const statements = pollerStatements(template);
    // Policy minimization merges the reads of the token prefix and of the credentials secret. The bare
    // name too: a secret that does not exist is authorized against it (ResourceNotFound, not AccessDenied).
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'secretsmanager:GetSecretValue', Resource: [secretArn('makini/connections/*'), secretArn('makini/system-credentials'), secretArn('makini/system-credentials-??????')] }));
    expect(JSON.stringify(statements)).not.toContain('secretsmanager:PutSecretValue');
    expect(statements).toContainEqual(expect.objectContaining({ Action: ['dynamodb:BatchGetItem', 'dynamodb:PutItem', 'dynamodb:Query', 'dynamodb:UpdateItem'], Resource: table }));
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'dynamodb:Query', Resource: { 'Fn::Join': ['', [table, '/index/byConnection']] } }));
    expect(statements).toContainEqual(expect.objectContaining({ Action: 'sqs:SendMessage' }));
    expect(statements).toContainEqual({
      Action: ['kms:Decrypt', 'kms:GenerateDataKey'],
      Condition: { StringEquals: { 'kms:EncryptionContext:purpose': 'makini-connection-token' } },
      Effect: 'Allow',
      Resource: { 'Fn::GetAtt': [expect.stringMatching(/^WebhooksMonitoringTopicKey/), 'Arn'] },
    });
    const fn = Object.values(template.findResources('AWS::Lambda::Function')).find((f) => f.Properties.Environment?.Variables?.[RESOURCE_ENV.tokenKey] !== undefined);
    expect(fn?.Properties.Environment.Variables[RESOURCE_ENV.tokenKey]).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^WebhooksMonitoringTopicKey/), 'Arn'] });
    expect(fn?.Properties.Handler).toBeDefined();
    template.hasOutput('TokenKeyArn', { Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^WebhooksMonitoringTopicKey'), 'Arn'] } });
    // Statements on '*' are merged by policy minimization.
    expect(wildcardsOf(statements)).toEqual(['secretsmanager:BatchGetSecretValue,secretsmanager:ListSecrets', 'secretsmanager:GetSecretValue']);
    // With tracing on, X-Ray's actions (which take no resource) join the '*' statement, and nothing else does.
    expect(wildcardsOf(pollerStatements(synth({ tracing: true }).template))).toEqual(['secretsmanager:BatchGetSecretValue,secretsmanager:ListSecrets,xray:PutTelemetryRecords,xray:PutTraceSegments', 'secretsmanager:GetSecretValue']);
    expect(JSON.stringify(synth({ connectionSecretPrefix: 'prod/tokens/' }).template.toJSON())).toContain(':secret:prod/tokens/*');
  });

  it('secrets-manager token store: token reads and write-backs under the prefix only, no token key, no token partition writes', () => {
    const t = synth({ tokenStore: 'secrets-manager' }).template;
    const statements = pollerStatements(t);
    expect(statements).toContainEqual(expect.objectContaining({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:PutSecretValue'], Resource: secretArn('makini/connections/*') }));
    expect(statements).toContainEqual(expect.objectContaining({ Action: ['dynamodb:BatchGetItem', 'dynamodb:UpdateItem'], Resource: table }));
    expect(JSON.stringify(statements)).not.toContain('kms:');
    expect(JSON.stringify(t.toJSON())).not.toContain(RESOURCE_ENV.tokenKey);
    expect(Object.keys(t.findOutputs('TokenKeyArn'))).toEqual([]);
    expect(wildcardsOf(statements)).toEqual(['secretsmanager:BatchGetSecretValue,secretsmanager:ListSecrets', 'secretsmanager:GetSecretValue,secretsmanager:PutSecretValue']);
  });
});

describe('customer-managed keys of the secrets', () => {
  const KEY = 'arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
  const statementsOf = (t: Template, fn: RegExp) =>
    Object.entries(t.findResources('AWS::IAM::Policy'))
      .filter(([, p]) => JSON.stringify(p.Properties.Roles).match(fn))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown; Condition?: unknown }[]);
  it('grants the receiver kms:Decrypt and the poller kms:Decrypt and GenerateDataKey on the key, through Secrets Manager only', () => {
    const t = synth({ secretsKmsKey: KEY }).template;
    const via = { StringEquals: { 'kms:ViaService': { 'Fn::Join': ['', ['secretsmanager.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } } };
    expect(statementsOf(t, /Receiver/)).toContainEqual(expect.objectContaining({ Action: 'kms:Decrypt', Resource: KEY, Condition: via }));
    expect(statementsOf(t, /Poller/)).toContainEqual(expect.objectContaining({ Action: ['kms:Decrypt', 'kms:GenerateDataKey'], Resource: KEY, Condition: via }));
    // The table store seals under the stack's own key whatever this setting is: a pair sealed before
    // it was set (or changed) must keep opening.
    expect(JSON.stringify(statementsOf(t, /Poller/).filter((st) => JSON.stringify(st.Condition ?? {}).includes('EncryptionContext')))).not.toContain(KEY);
    t.hasOutput('TokenKeyArn', { Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^WebhooksMonitoringTopicKey'), 'Arn'] } });
    // Without a key: the receiver none, the poller only the stack key's, for the tokens.
    expect(JSON.stringify(statementsOf(template, /Receiver/))).not.toContain('kms:');
    expect(statementsOf(template, /Poller/).filter((st) => JSON.stringify(st.Action).includes('kms:'))).toEqual([expect.objectContaining({ Resource: { 'Fn::GetAtt': [expect.stringMatching(/^WebhooksMonitoringTopicKey/), 'Arn'] } })]);
  });
  it('accepts the key as a construct prop', () => {
    const app = cdkApp({ bundle: false });
    const stack = new Stack(app, 'KeyStack');
    const key = Key.fromKeyArn(stack, 'K', KEY);
    new MakiniWebhookIngestion(stack, 'W', { secretsKey: key });
    expect(JSON.stringify(Template.fromStack(stack).toJSON())).toContain(`"Action":"kms:Decrypt","Condition"`);
  });
});

describe('MakiniWebhookIngestion signing secret', () => {
  it('uses an existing secret by name, granting read on that name only', () => {
    const { template: t } = synth({ signingSecret: 'prod/makini/webhook-secret' });
    t.resourceCountIs('AWS::SecretsManager::Secret', 0);
    const statements = Object.values(t.findResources('AWS::IAM::Policy')).flatMap((p) => p.Properties.PolicyDocument.Statement);
    expect(JSON.stringify(statements)).toContain(':secret:prod/makini/webhook-secret-??????');
  });

  it('uses an existing secret by complete ARN', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/makini-AbCdEf';
    const { template: t } = synth({ signingSecret: arn });
    t.resourceCountIs('AWS::SecretsManager::Secret', 0);
    t.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ MAKINI_SIGNING_SECRET_ID: arn }) } });
  });
});

describe('MakiniWebhookIngestion props validation', () => {
  it('reports every invalid setting in one error', () => {
    const app = cdkApp({ bundle: false });
    let n = 0;
    const build = () =>
      new MakiniWebhookStack(app, `Bad${n++}`, { config: { maxBodyBytes: 0, signatureScheme: 'hmac' as never, logRetentionDays: 31 } });
    expect(build).toThrow(ConfigError);
    expect(() => build()).toThrow(expect.objectContaining({ problems: [expect.stringMatching(/^signatureScheme/), expect.stringMatching(/^maxBodyBytes/), expect.stringMatching(/^logRetentionDays/)] }));
  });

  it('refuses a secret given both as a prop and in config', () => {
    const app = cdkApp({ bundle: false });
    const s = new MakiniWebhookStack(app, 'Both');
    expect(() => new MakiniWebhookIngestion(s, 'Twice', { signingSecret: Secret.fromSecretNameV2(s, 'S', 'x'), config: { signingSecret: 'y' } })).toThrow(
      /set either the signingSecret prop or config.signingSecret/,
    );
  });
});

describe('cdk-nag', () => {
  const findings = (scope: IConstruct) =>
    [new AwsSolutionsChecks(), new ServerlessChecks()].flatMap((pack) =>
      pack.validateScope(scope).violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} ${r.constructPath ?? r.resourceLogicalId}`)),
    );

  it('finds nothing in the stack (AwsSolutions and Serverless packs)', () => {
    expect(findings(stack)).toEqual([]);
  });

  it('finds nothing with tracing turned on, either', () => {
    expect(findings(synth({ tracing: true }).stack)).toEqual([]);
  });

  it('reports an unacknowledged problem: the check is live', () => {
    const { stack: s } = synth();
    new Queue(s, 'UnsafeQueue');
    expect(findings(s)).toEqual(expect.arrayContaining([expect.stringMatching(/^AwsSolutions-SQS4 TestStack\/UnsafeQueue/)]));
  });

  it('gives every acknowledgment a reason', () => {
    const acks = collectAcknowledgments(stack);
    expect(acks.length).toBeGreaterThan(0);
    for (const ack of acks) expect(ack.reason.length).toBeGreaterThan(20);
  });
});

describe('bundling', () => {
  it('bundles each Lambda with the local esbuild: minified, with a source map, its AWS SDK clients inside', () => {
    const { app, template: t } = synth({}, true);
    t.resourceCountIs('AWS::Lambda::Function', 3);
    const bundles = fs
      .readdirSync(app.outdir)
      .filter((name) => name.startsWith('asset.'))
      .map((asset) => path.join(app.outdir, asset));
    expect(bundles).toHaveLength(3);
    const clients = bundles.map((dir) => {
      const code = fs.readFileSync(path.join(dir, 'index.mjs'), 'utf8');
      expect(fs.existsSync(path.join(dir, 'index.mjs.map'))).toBe(true);
      // Minified: a few very long lines (template literals keep some newlines).
      expect(code.length / code.split('\n').length).toBeGreaterThan(1000);
      // The SDK clients are inside; at most the optional CRT signer (SigV4a, loaded in a try/catch) is not.
      const external = [...code.matchAll(/(?:require\(|from\s*|import\()"(@aws-sdk\/[^"]+)"/g)].map((m) => m[1]);
      expect(new Set(external)).toEqual(new Set(external.length ? ['@aws-sdk/signature-v4-crt'] : []));
      return ['SendMessage', 'GetSecretValue', 'BatchGetSecretValue', 'UpdateItem', 'PutEvents'].filter((marker) => code.includes(marker)).join('+');
    });
    expect(clients.sort()).toEqual(['SendMessage+GetSecretValue', 'SendMessage+GetSecretValue+BatchGetSecretValue+UpdateItem', 'UpdateItem+PutEvents'].sort());
  });
});

/** Acknowledgments are stored as construct metadata: `{ "Annotation::<rule id>": "<reason>" }`. */
function collectAcknowledgments(root: IConstruct): { id: string; reason: string }[] {
  return root.node
    .findAll()
    .flatMap((c) => c.node.metadata.filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY))
    .flatMap((m) => Object.entries(m.data as Record<string, string>).map(([id, reason]) => ({ id, reason })));
}
