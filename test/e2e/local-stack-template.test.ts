/**
 * `npm start` does what `cdk deploy` deploys, in the places an adversarial review found it did not. Each test
 * starts the local stack in this process on the synthesized template (changed the way a plausible
 * edit would change it) and expects what AWS does.
 */
import * as path from 'node:path';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { createSignatureScheme } from '../../lambdas/core/signature';
import { readTopicLog } from '../../local/aws/sns';
import type { CfnTemplate } from '../../local/cloud-assembly';
import { roleAccessKey, type LocalStack } from '../../local/stack';
import { LOCAL_ACCOUNT, resourcesOfType } from '../../local/template';
import { waitFor } from '../support/local-stack-process';
import { templateStackPerTest } from '../support/template-stack';

jest.setTimeout(120_000);

const local = templateStackPerTest('makini-review-');
const { start } = local;
let stack: LocalStack;

/** The access key the local stack signs a role's calls with (local/stack.ts). */
const roleKey = (t: CfnTemplate, roleIdPrefix: string) => {
  const [roleId] = resourcesOfType(t, 'AWS::IAM::Role').find(([id]) => id.startsWith(roleIdPrefix))!;
  return roleAccessKey(roleId);
};

/** The receiver's role writes an item to the table (it has no DynamoDB grant). */
async function receiverPutItem(s: LocalStack): Promise<void> {
  const dynamo = new DynamoDBClient({ endpoint: s.info.endpoints.dynamodb, region: 'us-east-1', credentials: { accessKeyId: roleKey(s.template, 'WebhooksReceiverRole'), secretAccessKey: 'local' }, maxAttempts: 1 });
  try {
    await dynamo.send(new PutItemCommand({ TableName: s.info.tableName, Item: { pk: { S: 'review' }, sk: { S: 'review' } } }));
  } finally {
    dynamo.destroy();
  }
}

describe('local IAM fails closed', () => {
  it('control: the receiver role is denied a DynamoDB write (passes)', async () => {
    stack = await start();
    await expect(receiverPutItem(stack)).rejects.toThrow(/not authorized to perform: dynamodb:PutItem/);
  });

  // A statement with a policy variable is valid IAM (CloudFormation deploys it) that the local
  // evaluator refuses with PolicyValidationError. The local DynamoDB endpoint swallows every
  // non-AwsError thrown while authorizing (local/stack.ts, the dynamo server's catch) and serves the
  // request: the role may then write to a table it has no grant for. On AWS: AccessDeniedException.
  it('a role whose policy the evaluator cannot read is not let through to DynamoDB', async () => {
    stack = await start({
      editTemplate: (t) => {
        const [, policy] = resourcesOfType(t, 'AWS::IAM::Policy').find(([id]) => id.startsWith('WebhooksReceiverRole'))!;
        const document = policy.Properties!.PolicyDocument as { Statement: unknown[] };
        document.Statement.push({ Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::uploads/${aws:username}/*' });
      },
    });
    // The receiver's role has no DynamoDB grant at all.
    await expect(receiverPutItem(stack)).rejects.toThrow();
  });
});

describe('KMS keys as the template defines them', () => {
  it("the stack's keys answer GenerateDataKey and Decrypt, for the account and as each key policy and role allow", async () => {
    stack = await start();
    const [keyId] = resourcesOfType(stack.template, 'AWS::KMS::Key')[0]!;
    const keyArn = `arn:aws:kms:us-east-1:${LOCAL_ACCOUNT}:key/${keyId}`;
    const client = (accessKeyId: string) => new KMSClient({ endpoint: stack.info.endpoints.kms, region: 'us-east-1', credentials: { accessKeyId, secretAccessKey: 'local' }, maxAttempts: 1 });
    const admin = client('local');
    const receiver = client(roleKey(stack.template, 'WebhooksReceiverRole'));
    try {
      const context = { purpose: 'makini-connection-token' };
      const { CiphertextBlob, Plaintext } = await admin.send(new GenerateDataKeyCommand({ KeyId: keyArn, KeySpec: 'AES_256', EncryptionContext: context }));
      expect(Buffer.from((await admin.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: context }))).Plaintext!)).toEqual(Buffer.from(Plaintext!));
      // The receiver's role has no KMS grant on this key.
      await expect(receiver.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: context }))).rejects.toThrow(/not authorized to perform: kms:Decrypt/);
      await expect(admin.send(new DecryptCommand({ CiphertextBlob, EncryptionContext: { purpose: 'other' } }))).rejects.toMatchObject({ name: 'InvalidCiphertextException' });
    } finally {
      admin.destroy();
      receiver.destroy();
    }
  });
});

describe('EventBridge targets as the template defines them', () => {
  // EventBridge User Guide / AWS::Events::Rule Target.InputPath: "The value of the JSONPath that is
  // used for extracting part of the matched event when passing it to the target." The local bus
  // ignores InputPath and delivers the whole event.
  it('a target with InputPath gets only that part of the event', async () => {
    stack = await start({
      editTemplate: (t) => {
        const [, rule] = resourcesOfType(t, 'AWS::Events::Rule').find(([id]) => id.includes('ReauthorizationRule'))!;
        const target = (rule.Properties!.Targets as Record<string, unknown>[])[0]!;
        delete target.InputTransformer;
        target.InputPath = '$.detail';
      },
    });
    const bus = new EventBridgeClient({ endpoint: stack.info.endpoints.eventBridge, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const detail = { transition: { from: 'active', to: 'reauthorization_required' }, event: { connectionId: 'c-1' } };
    try {
      await bus.send(new PutEventsCommand({ Entries: [{ EventBusName: stack.info.eventBusName, Source: 'makini.webhooks', DetailType: 'connection.changed', Detail: JSON.stringify(detail) }] }));
    } finally {
      bus.destroy();
    }
    const topicLog = path.join(local.dir, 'topics.jsonl');
    await waitFor(async () => readTopicLog(topicLog).some((m) => m.publishedBy === 'events.amazonaws.com'), 10_000, () => 'the rule to publish');
    const message = readTopicLog(topicLog).find((m) => m.publishedBy === 'events.amazonaws.com')!.message;
    expect(JSON.parse(message)).toEqual(detail);
  });
});

describe('a bus named by its ARN', () => {
  // PutEvents takes EventBusName as "the name or ARN of the event bus" (EventBridge API Reference,
  // PutEventsRequestEntry); the event lands on that bus and its rules match it. Locally the event
  // carries the ARN as its bus name and no rule (EventBusName: the bus's name) matches: silent loss.
  it('an event put with the bus ARN reaches the rules of that bus', async () => {
    stack = await start();
    const busArn = `arn:aws:events:us-east-1:000000000000:event-bus/${stack.info.eventBusName}`;
    const bus = new EventBridgeClient({ endpoint: stack.info.endpoints.eventBridge, region: 'us-east-1', credentials: { accessKeyId: 'local', secretAccessKey: 'local' } });
    const detail = { transition: { from: 'active', to: 'reauthorization_required' }, event: { connectionId: 'c-arn', receivedAt: '2026-12-02T00:00:00Z' } };
    try {
      const result = await bus.send(new PutEventsCommand({ Entries: [{ EventBusName: busArn, Source: 'makini.webhooks', DetailType: 'connection.changed', Detail: JSON.stringify(detail) }] }));
      expect(result.FailedEntryCount).toBe(0);
    } finally {
      bus.destroy();
    }
    const topicLog = path.join(local.dir, 'topics.jsonl');
    await waitFor(async () => readTopicLog(topicLog).some((m) => m.message.includes('c-arn')), 10_000, () => 'the reauthorization rule to notify');
  });
});

describe('alarm topics encrypted with a key CloudWatch cannot use', () => {
  // CloudWatch can publish to an encrypted topic only through a customer managed key whose policy
  // allows cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*. The AWS managed key
  // alias/aws/sns allows only SNS on behalf of the account's principals: an alarm action on a
  // topic encrypted with it never arrives (Amazon SNS Developer Guide, "Configure KMS permissions
  // for AWS services"; CloudWatch alarms "can't publish to topics encrypted with the AWS managed key").
  // Locally a KmsMasterKeyId that is not a key of the template is dropped (local/stack.ts, the
  // topics loop) and the topic is treated as unencrypted.
  it('an alarm topic on alias/aws/sns: the alarm fires but cannot notify', async () => {
    stack = await start({
      alarmTimeScale: 300,
      editTemplate: (t) => {
        const [, topic] = resourcesOfType(t, 'AWS::SNS::Topic').find(([id]) => id.includes('AlarmTopic'))!;
        (topic.Properties as Record<string, unknown>).KmsMasterKeyId = 'alias/aws/sns';
      },
    });
    const body = JSON.stringify({ event: 'assets.updated', body: ['a1'] });
    for (let i = 0; i < 15; i++) {
      const headers = createSignatureScheme(stack.config).sign(Buffer.from(body), 'not-the-secret');
      await (await fetch(stack.info.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body })).text();
    }
    await waitFor(async () => stack!.cloudwatch.states().find((a) => a.logicalId.startsWith('WebhooksMonitoringSignatureRejectedSpike'))?.state === 'ALARM');
    const published = readTopicLog(path.join(local.dir, 'topics.jsonl')).filter((m) => m.publishedBy === 'cloudwatch.amazonaws.com' && m.message.includes('SignatureRejectedSpike'));
    expect(published).toEqual([]);
  });
});
