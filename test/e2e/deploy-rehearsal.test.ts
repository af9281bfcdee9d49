/**
 * `npm start` as a deploy rehearsal: the local stack is built from the synthesized template, so a
 * defect in the template (a missing grant, a topic policy CloudWatch cannot publish through, a
 * variable missing from a function's environment) fails here, offline, as it would on AWS.
 *
 * Each test starts the stack in this process (the template hook only exists here) on a template
 * changed the way an earlier defect changed it, and shows the failure; the unchanged template is
 * the control.
 */
import * as path from 'node:path';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { DeleteMessageCommand, GetQueueUrlCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { createSignatureScheme } from '../../lambdas/core/signature';
import { readTopicLog } from '../../local/aws/sns';
import type { CfnTemplate } from '../../local/cloud-assembly';
import type { LocalStack } from '../../local/stack';
import { resourcesOfType } from '../../local/template';
import { waitFor } from '../support/local-stack-process';
import { templateStackPerTest } from '../support/template-stack';
import { cli } from '../support/run-cli';

jest.setTimeout(120_000);

const local = templateStackPerTest('makini-rehearsal-');
const { lines, start } = local;
let stack: LocalStack;

/** Posts a webhook in Makini's documented format, signed (or forged) with the stack's scheme. */
async function postWebhook(s: LocalStack, options: { forged?: boolean } = {}): Promise<number> {
  const body = JSON.stringify({ event: 'assets.updated', body: [`a-${Math.random()}`] });
  const headers = createSignatureScheme(s.config).sign(Buffer.from(body), options.forged ? 'not-the-secret' : s.webhookSecret);
  const response = await fetch(s.info.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  await response.text();
  return response.status;
}

/** The statements of the role policy of the function whose construct id is `fn`. */
function rolePolicyStatements(t: CfnTemplate, fn: string): { Action: string | string[]; Sid?: string }[] {
  const [, policy] = resourcesOfType(t, 'AWS::IAM::Policy').find(([id]) => id.startsWith(`Webhooks${fn}Role`))!;
  return (policy.Properties!.PolicyDocument as { Statement: { Action: string | string[] }[] }).Statement;
}

const alarmState = (s: LocalStack, logicalIdPrefix: string) => s.cloudwatch.states().find((a) => a.logicalId.startsWith(logicalIdPrefix))?.state;
const alarmMessages = (logicalIdPrefix: string, state: string) =>
  readTopicLog(path.join(local.dir, 'topics.jsonl')).filter((m) => m.publishedBy === 'cloudwatch.amazonaws.com' && (JSON.parse(m.message) as { AlarmName: string; NewStateValue: string }).AlarmName.includes(logicalIdPrefix) && (JSON.parse(m.message) as { NewStateValue: string }).NewStateValue === state);

describe('the poller fans out by invoking itself through the local Lambda API, with its own role', () => {
  it('control: a run with more due connections than a shard starts workers that poll every connection', async () => {
    stack = await start({ env: { MAKINI_POLL_SHARD_SIZE: '2', MAKINI_POLL_SHARD_CONCURRENCY: '2' } });
    stack.makini!.seedConnections(5);
    const run = await stack.pollNow();
    expect(run.due).toBeGreaterThanOrEqual(5); // the simulator's sample connections, and these
    expect(run).toMatchObject({ mode: 'system', polled: 0, shards: Math.ceil(run.due / 2) });
    // Two workers drain the shards; the run itself polled nobody.
    await waitFor(async () => stack.makini!.stats.connectionTokensIssued === run.due);
    expect(stack.iam.denials).toEqual([]);
  });

  it('without its PollerStartsWorkers policy the run is denied starting workers, fails, and polls nobody', async () => {
    stack = await start({
      env: { MAKINI_POLL_SHARD_SIZE: '2' },
      editTemplate: (t) => {
        for (const [id] of resourcesOfType(t, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('WebhooksPollerStartsWorkers'))) delete t.Resources[id];
      },
    });
    stack.makini!.seedConnections(5);
    await expect(stack.pollNow()).rejects.toThrow(/not authorized to perform: lambda:InvokeFunction/);
    // One denial per worker it tried to start (pollShardConcurrency, 4), nothing else.
    expect(stack.iam.denials).toEqual(Array.from({ length: 4 }, () => expect.stringMatching(/is not authorized to perform: lambda:InvokeFunction on resource: .*WebhooksPoller/)));
    expect(stack.makini!.stats.connectionTokensIssued).toBe(0);
  });

  it('without it, a scheduled (asynchronous) run fails, is retried, and lands in the poll dead-letter queue: the failure reaches the alarm', async () => {
    stack = await start({
      env: { MAKINI_POLL_SHARD_SIZE: '2' },
      editTemplate: (t) => {
        for (const [id] of resourcesOfType(t, 'AWS::IAM::Policy').filter(([id]) => id.startsWith('WebhooksPollerStartsWorkers'))) delete t.Resources[id];
      },
    });
    const lambda = new LambdaClient({ endpoint: stack.info.endpoints.lambda });
    const sqs = new SQSClient({ endpoint: stack.info.endpoints.sqs });
    try {
      const poller = resourcesOfType(stack.template, 'AWS::Lambda::Function').find(([id]) => /^WebhooksPoller[0-9A-F]{8}$/.test(id))![0];
      const pollDlq = resourcesOfType(stack.template, 'AWS::SQS::Queue').find(([id]) => id.startsWith('WebhooksPollDeadLetterQueue'))![0];
      expect((await lambda.send(new InvokeCommand({ FunctionName: `MakiniWebhooks-${poller}`, InvocationType: 'Event', Payload: new TextEncoder().encode('{}') }))).StatusCode).toBe(202);
      const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: `MakiniWebhooks-${pollDlq}` }));
      let failure: { requestContext?: { condition?: string }; requestPayload?: unknown; responsePayload?: { errorMessage?: string } } | undefined;
      await waitFor(async () => {
        const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));
        failure = Messages[0] && JSON.parse(Messages[0].Body!);
        return failure !== undefined;
      });
      // Both attempts ran (the first gave the lease back) and failed the same way.
      expect(failure).toMatchObject({ requestContext: { condition: 'RetriesExhausted' }, requestPayload: {}, responsePayload: { errorMessage: expect.stringMatching(/lambda:InvokeFunction/) } });
      expect(lines.filter((l) => l.includes('another poll run is in progress'))).toEqual([]);
      expect(stack.makini!.stats.connectionTokensIssued).toBe(0);
    } finally {
      lambda.destroy();
      sqs.destroy();
    }
  });
});

describe('IAM from the template is enforced locally', () => {
  it('control: the template as synthesized takes a webhook end to end', async () => {
    stack = await start();
    expect(await postWebhook(stack)).toBe(200);
    await waitFor(async () => lines.some((l) => l.startsWith('processed assets.updated')));
    expect(stack.iam.denials).toEqual([]);
  });

  it("without the receiver's sqs:SendMessage grant, the receiver is denied and answers a retryable 5xx, never 200", async () => {
    stack = await start({
      editTemplate: (t) => {
        const statements = rolePolicyStatements(t, 'Receiver');
        statements.splice(statements.findIndex((s) => s.Action === 'sqs:SendMessage'), 1);
      },
    });
    const status = await postWebhook(stack);
    expect(status).toBeGreaterThanOrEqual(500);
    expect(stack.iam.denials.join('\n')).toMatch(/assumed-role\/MakiniWebhooks-WebhooksReceiverRole[^/]*\/MakiniWebhooks-WebhooksReceiver\w* is not authorized to perform: sqs:SendMessage on resource: arn:aws:sqs:us-east-1:000000000000:MakiniWebhooks-WebhooksQueue/);
  });

  it("without the consumer's events:PutEvents grant, nothing reaches the bus and the message stays queued for a retry", async () => {
    stack = await start({
      editTemplate: (t) => {
        const statements = rolePolicyStatements(t, 'Consumer');
        statements.splice(statements.findIndex((s) => s.Action === 'events:PutEvents'), 1);
      },
    });
    expect(await postWebhook(stack)).toBe(200);
    await waitFor(async () => stack!.iam.denials.some((d) => d.includes('events:PutEvents')));
    expect(lines.some((l) => l.startsWith('processed '))).toBe(false);
  });

  it("a variable dropped from a function's environment fails that function at init, as Lambda would", async () => {
    stack = await start({
      editTemplate: (t) => {
        const [, receiver] = resourcesOfType(t, 'AWS::Lambda::Function').find(([id]) => id.startsWith('WebhooksReceiver'))!;
        delete (receiver.Properties!.Environment as { Variables: Record<string, unknown> }).Variables.MAKINI_WEBHOOK_QUEUE_URL;
      },
    });
    expect(await postWebhook(stack)).toBe(500);
    expect(lines.join('\n')).toMatch(/failed to initialize: [\s\S]*MAKINI_WEBHOOK_QUEUE_URL/);
  });
});

describe('alarms from the template are evaluated locally and notify through the alarm topic', () => {
  // 300 times faster: a 5-minute period lasts a second, a 1-minute period 200 ms.
  const alarmTimeScale = 300;

  it('signature rejections: more than 10 in a period raise the alarm, which notifies and clears', async () => {
    stack = await start({ alarmTimeScale });
    await waitFor(async () => alarmState(stack!, 'WebhooksMonitoringSignatureRejectedSpike') === 'OK');
    for (let i = 0; i < 15; i++) expect(await postWebhook(stack, { forged: true })).toBe(401);
    await waitFor(async () => alarmState(stack!, 'WebhooksMonitoringSignatureRejectedSpike') === 'ALARM');
    await waitFor(async () => alarmState(stack!, 'WebhooksMonitoringSignatureRejectedSpike') === 'OK');
    expect(alarmMessages('SignatureRejectedSpike', 'ALARM')).toHaveLength(1);
    expect(alarmMessages('SignatureRejectedSpike', 'OK').length).toBeGreaterThanOrEqual(1);
  });

  it('the dead-letter queue: a message in it raises the alarm; emptied, it clears', async () => {
    stack = await start({ alarmTimeScale });
    await waitFor(async () => alarmState(stack!, 'WebhooksMonitoringDeadLetterQueueNotEmpty') === 'OK');
    const sqs = new SQSClient({ endpoint: stack.info.endpoints.sqs });
    try {
      await sqs.send(new SendMessageCommand({ QueueUrl: stack.info.deadLetterQueueUrl, MessageBody: '{"poison":true}' }));
      await waitFor(async () => alarmState(stack!, 'WebhooksMonitoringDeadLetterQueueNotEmpty') === 'ALARM');
      // `health` shows what the local CloudWatch evaluated, as it shows a deployed stack's alarms.
      const health = await cli(['health', '--json', '--local-dir', local.dir]);
      // (WebhookSilence may be in ALARM too: no webhook has arrived, and periods are 300 times shorter.)
      expect(JSON.parse(health.stdout).alarmsInAlarm).toEqual(expect.arrayContaining([expect.stringMatching(/DeadLetterQueueNotEmpty/)]));
      const { Messages = [] } = await sqs.send(new ReceiveMessageCommand({ QueueUrl: stack.info.deadLetterQueueUrl, WaitTimeSeconds: 1 }));
      expect(Messages).toHaveLength(1);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: stack.info.deadLetterQueueUrl, ReceiptHandle: Messages[0]!.ReceiptHandle }));
      await waitFor(async () => alarmState(stack!, 'WebhooksMonitoringDeadLetterQueueNotEmpty') === 'OK');
    } finally {
      sqs.destroy();
    }
    expect(alarmMessages('DeadLetterQueueNotEmpty', 'ALARM')).toHaveLength(1);
  });

  it('poll failures: Makini failing three periods running raises the alarm; recovered, it clears', async () => {
    stack = await start({ alarmTimeScale });
    await waitFor(async () => alarmState(stack!, 'WebhooksMonitoringPollFailed') === 'OK');
    const ends = Date.now() + 60_000;
    while (alarmState(stack, 'WebhooksMonitoringPollFailed') !== 'ALARM' && Date.now() < ends) {
      stack.makini!.failNext('current', ...Array.from({ length: 40 }, () => ({ kind: 'server-error' as const })));
      await stack.pollNow();
    }
    expect(alarmState(stack, 'WebhooksMonitoringPollFailed')).toBe('ALARM');
    await waitFor(async () => alarmState(stack!, 'WebhooksMonitoringPollFailed') === 'OK');
    expect(alarmMessages('PollFailed', 'ALARM')).toHaveLength(1);
  });

  it('an alarm topic policy without its CloudWatch statement: the alarm fires but cannot notify, and says so', async () => {
    stack = await start({
      alarmTimeScale,
      editTemplate: (t) => {
        const [, policy] = resourcesOfType(t, 'AWS::SNS::TopicPolicy').find(([id]) => id.includes('AlarmTopic'))!;
        const document = policy.Properties!.PolicyDocument as { Statement: { Principal?: { Service?: string } }[] };
        document.Statement = document.Statement.filter((s) => s.Principal?.Service !== 'cloudwatch.amazonaws.com');
      },
    });
    for (let i = 0; i < 15; i++) await postWebhook(stack, { forged: true });
    await waitFor(async () => alarmState(stack!, 'WebhooksMonitoringSignatureRejectedSpike') === 'ALARM');
    expect(alarmMessages('SignatureRejectedSpike', 'ALARM')).toEqual([]);
    expect(lines.join('\n')).toMatch(/SignatureRejectedSpike\w* could not notify arn:aws:sns:us-east-1:000000000000:MakiniWebhooks-WebhooksMonitoringAlarmTopic\w*: (User: )?cloudwatch\.amazonaws\.com is not authorized to perform: sns:Publish/);
  });
});
