import { createServer } from 'node:http';
import { Writable } from 'node:stream';
import { CloudFormationClient, DescribeStacksCommand, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { startLocalSqs } from '../../local/aws/sqs';
import { listenOnLoopback } from '../../local/loopback-server';
import { mockClient } from 'aws-sdk-client-mock';
import { main } from '../../bin/cli';
import { DynamoDbEventStore } from '../../lambdas/adapters/dynamodb-event-store';
import { startDynalite, type LocalDynamo } from '../support/dynalite';

// CloudFormation speaks the Query (XML) protocol and has no local endpoint here: this is where a
// client mock fits. The table itself is real (dynalite), reached through AWS_ENDPOINT_URL_DYNAMODB.
const cloudformation = mockClient(CloudFormationClient);
let dynamo: LocalDynamo;
const savedEnv = { ...process.env };

beforeEach(async () => {
  dynamo = await startDynalite('deployed-events-table');
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
  cloudformation.reset();
  cloudformation.on(DescribeStacksCommand, { StackName: 'MakiniWebhooksProd' }).resolves({
    Stacks: [{ StackName: 'MakiniWebhooksProd', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [
      { OutputKey: 'EventTableName', OutputValue: 'deployed-events-table' },
      { OutputKey: 'QueueUrl', OutputValue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/q' },
      { OutputKey: 'DeadLetterQueueUrl', OutputValue: 'https://sqs.eu-west-1.amazonaws.com/123456789012/dlq' },
      { OutputKey: 'EventBusName', OutputValue: 'bus' },
    ] }],
  });
  cloudformation.on(DescribeStacksCommand, { StackName: 'SomethingElse' }).resolves({ Stacks: [{ StackName: 'SomethingElse', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [] }] });
});
afterEach(async () => {
  process.env = { ...savedEnv };
  await dynamo.close();
});

async function run(args: string[]) {
  let stdout = '';
  let stderr = '';
  const sink = (append: (s: string) => void) => new Writable({ write: (chunk, _enc, done) => (append(String(chunk)), done()) });
  const code = await main(args, { stdout: sink((s) => (stdout += s)), stderr: sink((s) => (stderr += s)), stdin: process.stdin });
  return { code, stdout, stderr };
}

describe('makini-webhooks status/events --stack', () => {
  it('reads the deployed table named by the stack’s EventTableName output', async () => {
    const store = new DynamoDbEventStore(dynamo.doc, { tableName: 'deployed-events-table', retentionSeconds: 3600, leaseMs: 1000 });
    await store.updateConnection('conn_aws', (s) => ({ state: { ...s, status: 'online', statusAt: '2026-11-22T05:00:00.000Z', statusEventId: 'evt_1' }, stale: false, changed: true }));

    const { code, stdout } = await run(['status', '--stack', 'MakiniWebhooksProd', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([expect.objectContaining({ connectionId: 'conn_aws', status: 'online', needsReauthorization: false })]);
    expect(cloudformation.commandCalls(DescribeStacksCommand)).toHaveLength(1);
    expect((await run(['events', '--stack', 'MakiniWebhooksProd', '--json'])).stdout).toBe('[]\n');
  });

  it('says so when the stack is not one of ours, and refuses --stack for the local-only bus', async () => {
    expect(await run(['status', '--stack', 'SomethingElse'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/has no EventTableName output/) });
    expect(await run(['bus', '--stack', 'MakiniWebhooksProd'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/bus reads the local stack's log/) });
  });
});

describe('makini-webhooks health --stack', () => {
  it('adds the queue age and the stack’s alarms in ALARM from CloudWatch', async () => {
    const sqs = await startLocalSqs({ queues: [{ name: 'q', visibilityTimeoutSeconds: 30 }, { name: 'dlq', visibilityTimeoutSeconds: 30 }] });
    const cloudwatch = mockClient(CloudWatchClient);
    try {
      process.env.AWS_ENDPOINT_URL_SQS = sqs.url;
      cloudformation.on(DescribeStacksCommand, { StackName: 'Prod' }).resolves({
        Stacks: [{ StackName: 'Prod', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [
          { OutputKey: 'EventTableName', OutputValue: 'deployed-events-table' },
          { OutputKey: 'QueueUrl', OutputValue: sqs.queueUrl('q') },
          { OutputKey: 'DeadLetterQueueUrl', OutputValue: sqs.queueUrl('dlq') },
          { OutputKey: 'EventBusName', OutputValue: 'bus' },
        ] }],
      });
      cloudwatch.on(GetMetricStatisticsCommand).resolves({ Datapoints: [{ Timestamp: new Date(), Maximum: 42 }] });
      cloudwatch.on(DescribeAlarmsCommand, { AlarmNamePrefix: 'Prod', StateValue: 'ALARM' }).resolves({ MetricAlarms: [{ AlarmName: 'Prod-WebhooksMonitoringDeadLetterQueueNotEmpty-ABC' }] });
      const { code, stdout } = await run(['health', '--stack', 'Prod', '--json']);
      expect(code).toBe(0);
      expect(JSON.parse(stdout)).toMatchObject({ target: 'Prod', queue: { visible: 0, oldestAgeSeconds: 42 }, deadLetterQueue: 0, alarmsInAlarm: ['Prod-WebhooksMonitoringDeadLetterQueueNotEmpty-ABC'] });
      expect(cloudwatch.commandCalls(GetMetricStatisticsCommand)[0].args[0].input).toMatchObject({ Namespace: 'AWS/SQS', MetricName: 'ApproximateAgeOfOldestMessage', Dimensions: [{ Name: 'QueueName', Value: 'q' }] });
    } finally {
      cloudwatch.restore();
      await sqs.close();
    }
  });
});

describe('makini-webhooks poll --stack', () => {
  // Lambda's Invoke is a REST call (POST /2015-03-31/functions/{name}/invocations): a loopback server
  // answers it as Lambda does, reached through AWS_ENDPOINT_URL_LAMBDA. CloudFormation is mocked above.
  const SUMMARY = { mode: 'system', connections: 12, due: 5, polled: 5, failed: 1, unauthorized: 1, recovered: 3, deferred: 0, peakConcurrency: 5, deleted: 1, tokensRefreshed: 0, tokenRefreshFailed: 0, tokensExpiring: 0 };
  const POLLER = 'MakiniWebhooksProd-WebhooksPoller7CBF9AEA-Xy12Ab34Cd56';
  let invocations: { path: string; invocationType?: string; body: string }[];
  let answer: { headers?: Record<string, string>; body: string };
  let lambda: { url: string; close(): Promise<void> };

  beforeEach(async () => {
    invocations = [];
    answer = { body: JSON.stringify(SUMMARY) };
    lambda = await listenOnLoopback(
      createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          invocations.push({ path: decodeURIComponent(req.url ?? ''), invocationType: req.headers['x-amz-invocation-type'] as string | undefined, body: Buffer.concat(chunks).toString() });
          res.writeHead(200, { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST', ...answer.headers });
          res.end(answer.body);
        });
      }),
    );
    process.env.AWS_ENDPOINT_URL_LAMBDA = lambda.url;
    // As the synthesized stack names them: the poller's log group and role share its prefix, and
    // the log-retention helper is a function too. Two pages, as ListStackResources paginates.
    cloudformation.on(ListStackResourcesCommand, { StackName: 'MakiniWebhooksProd' })
      .resolvesOnce({ NextToken: 'page-2', StackResourceSummaries: [
        summary('WebhooksPollerLogs571308F0', 'AWS::Logs::LogGroup', '/aws/lambda/poller'),
        summary('WebhooksPollerRoleF281769D', 'AWS::IAM::Role', 'MakiniWebhooksProd-WebhooksPollerRole-1'),
        summary('WebhooksReceiverB422211E', 'AWS::Lambda::Function', 'MakiniWebhooksProd-WebhooksReceiverB422211E-1'),
        summary('WebhooksPollScheduleAllowEventRuleMakiniWebhooksPollerB33BB5A439F3297F', 'AWS::Lambda::Permission', 'perm'),
      ] })
      .resolvesOnce({ StackResourceSummaries: [
        summary('LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a', 'AWS::Lambda::Function', 'MakiniWebhooksProd-LogRetention-1'),
        summary('WebhooksConsumer72BAC5AF', 'AWS::Lambda::Function', 'MakiniWebhooksProd-WebhooksConsumer72BAC5AF-1'),
        summary('WebhooksPoller7CBF9AEA', 'AWS::Lambda::Function', POLLER),
        summary('WebhooksPollerEventInvokeConfigE5342396', 'AWS::Lambda::EventInvokeConfig', 'cfg'),
      ] });
  });
  afterEach(async () => lambda.close());

  function summary(LogicalResourceId: string, ResourceType: string, PhysicalResourceId: string) {
    return { LogicalResourceId, ResourceType, PhysicalResourceId, ResourceStatus: 'CREATE_COMPLETE' as const, LastUpdatedTimestamp: new Date() };
  }

  it('finds the poller function through CloudFormation, invokes it synchronously and prints its summary', async () => {
    const { code, stdout, stderr } = await run(['poll', '--stack', 'MakiniWebhooksProd']);
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
    expect(invocations).toEqual([{ path: `/2015-03-31/functions/${POLLER}/invocations`, invocationType: 'RequestResponse', body: '{}' }]);
    expect(stdout).toBe(
      [
        `poll run on MakiniWebhooksProd (${POLLER}), system mode`,
        '  connections       12 (5 due)',
        '  polled            5',
        '  failed            1 (1 unauthorized)',
        '  recovered         3 missed event(s)',
        '  deleted           1',
        '  tokens refreshed  0',
        '  refresh failed    0',
        '  deferred          0',
        '',
      ].join('\n'),
    );
    expect(cloudformation.commandCalls(ListStackResourcesCommand).map((c) => c.args[0].input.NextToken)).toEqual([undefined, 'page-2']);
  });

  it('prints the summary as JSON with --json', async () => {
    const { code, stdout } = await run(['poll', '--stack', 'MakiniWebhooksProd', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual(SUMMARY);
  });

  it('exits 1 with the error message line when the function fails', async () => {
    answer = {
      headers: { 'x-amz-function-error': 'Unhandled' },
      body: JSON.stringify({ errorType: 'Error', errorMessage: 'pollMode is system, but the secret makini/system-credentials does not exist', trace: ['Error: pollMode is system…', '    at pollRun (/var/task/index.js:1:2)'] }),
    };
    const { code, stdout, stderr } = await run(['poll', '--stack', 'MakiniWebhooksProd']);
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toBe(`makini-webhooks: poll run of ${POLLER} failed: Error: pollMode is system, but the secret makini/system-credentials does not exist\n`);
  });

  it('uses a PollerFunctionName output when the stack has one', async () => {
    cloudformation.on(DescribeStacksCommand, { StackName: 'WithOutput' }).resolves({
      Stacks: [{ StackName: 'WithOutput', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [{ OutputKey: 'PollerFunctionName', OutputValue: 'my-poller' }] }],
    });
    expect((await run(['poll', '--stack', 'WithOutput'])).code).toBe(0);
    expect(invocations.map((i) => i.path)).toEqual(['/2015-03-31/functions/my-poller/invocations']);
    expect(cloudformation.commandCalls(ListStackResourcesCommand)).toHaveLength(0);
  });

  it('says so when the stack has no poller function, or several', async () => {
    cloudformation.on(ListStackResourcesCommand, { StackName: 'SomethingElse' }).resolves({ StackResourceSummaries: [summary('LogRetentionaae0aa3c5b4d4f87b02d85b201efdd8a', 'AWS::Lambda::Function', 'x')] });
    expect(await run(['poll', '--stack', 'SomethingElse'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/^makini-webhooks: stack SomethingElse has no poller function: is it a makini-webhook-ingestion stack\?\n$/) });

    // Two ingestion constructs in one stack: ambiguous. A "Poller" of yours beside ours is not.
    cloudformation.on(DescribeStacksCommand, { StackName: 'Two' }).resolves({ Stacks: [{ StackName: 'Two', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [] }] });
    cloudformation.on(ListStackResourcesCommand, { StackName: 'Two' }).resolves({ StackResourceSummaries: [
      summary('EuPoller0A1B2C3D', 'AWS::Lambda::Function', 'eu'), summary('EuReceiver0A1B2C3D', 'AWS::Lambda::Function', 'eu-r'),
      summary('UsPoller0A1B2C3D', 'AWS::Lambda::Function', 'us'), summary('UsReceiver0A1B2C3D', 'AWS::Lambda::Function', 'us-r'),
    ] });
    expect(await run(['poll', '--stack', 'Two'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/several poller functions \(EuPoller0A1B2C3D, UsPoller0A1B2C3D\); give it a PollerFunctionName output/) });
    cloudformation.on(DescribeStacksCommand, { StackName: 'Mixed' }).resolves({ Stacks: [{ StackName: 'Mixed', CreationTime: new Date(), StackStatus: 'CREATE_COMPLETE', Outputs: [] }] });
    cloudformation.on(ListStackResourcesCommand, { StackName: 'Mixed' }).resolves({ StackResourceSummaries: [
      summary('BillingPoller0A1B2C3D', 'AWS::Lambda::Function', 'billing'),
      summary('WebhooksPoller7CBF9AEA', 'AWS::Lambda::Function', 'ours'), summary('WebhooksReceiverB422211E', 'AWS::Lambda::Function', 'ours-r'),
    ] });
    expect((await run(['poll', '--stack', 'Mixed'])).code).toBe(0);
    expect(invocations.map((i) => i.path)).toEqual(['/2015-03-31/functions/ours/invocations']);
  });
});
