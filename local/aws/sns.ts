/**
 * Local SNS topics, for the deliveries services make to them (CloudWatch alarms, EventBridge
 * rules): each publish is authorized as AWS would authorize it (the topic policy, and the key
 * policy of an encrypted topic, for the publishing service) and appended to `<dir>/topics.jsonl`,
 * where `makini-webhooks` and tests read what on-call or your customers would have received.
 * There is no SNS endpoint: nothing in the stack's own code publishes to SNS.
 */
import { randomUUID } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { readJsonLines } from '../json-lines';
import type { LocalIam } from './authorization';
import type { PolicyDocument } from './iam-policy';

export interface LocalTopic {
  readonly arn: string;
  readonly name: string;
  policy?: PolicyDocument;
  /** The topic's KMS key (`KmsMasterKeyId`) and its key policy. */
  key?: { readonly arn: string; readonly policy: PolicyDocument };
}

export interface TopicMessage {
  readonly messageId: string;
  readonly topicArn: string;
  readonly topic: string;
  readonly subject?: string;
  readonly message: string;
  /** The service that published it, e.g. `cloudwatch.amazonaws.com`. */
  readonly publishedBy: string;
  readonly at: string;
}

export class LocalTopics {
  private readonly topics = new Map<string, LocalTopic>();

  constructor(
    private readonly iam: LocalIam,
    private readonly log: string,
  ) {}

  add(topic: LocalTopic): void {
    this.topics.set(topic.arn, topic);
  }

  get(arn: string): LocalTopic | undefined {
    return this.topics.get(arn);
  }

  /** A service publishes: throws AccessDeniedException when the topic's or key's policy refuses it. */
  publish(service: string, topicArn: string, message: string, options: { subject?: string; sourceArn: string }): TopicMessage {
    const topic = this.topics.get(topicArn);
    if (!topic) throw new Error(`no topic ${topicArn}`);
    this.iam.authorizeService(service, {
      action: 'sns:Publish',
      resource: topic.arn,
      context: { 'aws:SourceArn': options.sourceArn, 'aws:SourceAccount': this.iam.accountId },
      ...(topic.policy && { resourcePolicy: topic.policy }),
      // An encrypted topic: the publisher needs the key to encrypt the message.
      ...(topic.key && { key: { ...topic.key, actions: ['kms:GenerateDataKey', 'kms:Decrypt'] } }),
    });
    const entry: TopicMessage = { messageId: randomUUID(), topicArn, topic: topic.name, ...(options.subject && { subject: options.subject }), message, publishedBy: service, at: new Date().toISOString() };
    appendFileSync(this.log, `${JSON.stringify(entry)}\n`);
    return entry;
  }
}

/**
 * The key policy of the AWS managed key `alias/aws/sns`, as AWS documents it: any principal of the
 * account, only through SNS. Services such as CloudWatch and EventBridge are not principals of the
 * account, so they cannot publish to a topic encrypted with it (a customer managed key is needed).
 */
export function awsManagedSnsKeyPolicy(accountId: string, region: string): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'Allow access through SNS for all principals in the account that are authorized to use SNS',
        Effect: 'Allow',
        Principal: { AWS: '*' },
        Action: ['kms:Encrypt', 'kms:Decrypt', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:CreateGrant', 'kms:DescribeKey'],
        Resource: '*',
        Condition: { StringEquals: { 'kms:CallerAccount': accountId, 'kms:ViaService': `sns.${region}.amazonaws.com` } },
      },
    ],
  };
}

/** What was published to the local topics (`<dir>/topics.jsonl`), oldest first. */
export function readTopicLog(file: string): TopicMessage[] {
  return readJsonLines<TopicMessage>(file);
}
