import { Writable } from 'node:stream';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { startLocalSqs } from '../../local/aws/sqs';
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
