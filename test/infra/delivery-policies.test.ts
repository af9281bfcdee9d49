/**
 * Every AWS service that delivers to one of our resources (CloudWatch alarms to the alarm topic,
 * EventBridge rules to topics, queues and functions) must be admitted by that resource's policy and,
 * for an encrypted target, by its key's policy. A template that synthesizes cleanly but denies the
 * delivery fails silently in an account: this walks every alarm action and rule target and checks.
 */
import { Template } from 'aws-cdk-lib/assertions';
import type { MakiniWebhookConfig } from '../../lambdas/config/config';
import { MakiniWebhookStack } from '../../lib/makini-webhook-stack';
import { cdkApp } from '../support/cdk-app';
import { settingsOf } from '../../lib/settings';

type Resources = Record<string, { Type: string; Properties?: Record<string, unknown> }>;
interface Statement {
  Effect: string;
  Principal?: { Service?: string | string[] };
  Action: string | string[];
  Resource?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

function resourcesOf(config: Partial<MakiniWebhookConfig> = {}): Resources {
  const stack = new MakiniWebhookStack(cdkApp({ bundle: false }), 'DeliveryStack', { config: settingsOf(config) });
  return Template.fromStack(stack).toJSON().Resources as Resources;
}

/** The logical id a `Ref` or `Fn::GetAtt` points at. */
function target(value: unknown): string | undefined {
  const v = value as { Ref?: string; 'Fn::GetAtt'?: [string, string] } | undefined;
  return v?.Ref ?? v?.['Fn::GetAtt']?.[0];
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const actionMatches = (statement: Statement, action: string) =>
  list(statement.Action).some((a) => a === action || a === '*' || (a.endsWith('*') && action.startsWith(a.slice(0, -1))));
const admits = (statements: Statement[], service: string, action: string) =>
  statements.some((s) => s.Effect === 'Allow' && list(s.Principal?.Service).includes(service) && actionMatches(s, action));
const denies = (statements: Statement[], service: string, action: string) =>
  // A Deny that applies to the service unconditionally (enforceSSL's Deny is conditioned on insecure transport).
  statements.some((s) => s.Effect === 'Deny' && !s.Condition && actionMatches(s, action) && (list(s.Principal?.Service).includes(service) || JSON.stringify(s.Principal) === '{"AWS":"*"}'));

function topicStatements(resources: Resources, topic: string): Statement[] {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::SNS::TopicPolicy' && list(r.Properties?.Topics as unknown[]).some((t) => target(t) === topic))
    .flatMap((r) => (r.Properties?.PolicyDocument as { Statement: Statement[] }).Statement);
}
function queueStatements(resources: Resources, queue: string): Statement[] {
  return Object.values(resources)
    .filter((r) => r.Type === 'AWS::SQS::QueuePolicy' && list(r.Properties?.Queues as unknown[]).some((q) => target(q) === queue))
    .flatMap((r) => (r.Properties?.PolicyDocument as { Statement: Statement[] }).Statement);
}
function keyStatements(resources: Resources, key: string): Statement[] {
  return (resources[key]?.Properties?.KeyPolicy as { Statement: Statement[] } | undefined)?.Statement ?? [];
}

/** Checks one delivery by `service` to the resource `id`; returns what is wrong, if anything. */
function checkDelivery(resources: Resources, service: string, id: string, from: string): string[] {
  const resource = resources[id];
  if (!resource) return [`${from}: target ${id} is not in the template`];
  const problems: string[] = [];
  if (resource.Type === 'AWS::SNS::Topic') {
    const statements = topicStatements(resources, id);
    // With no topic policy at all, SNS's default policy admits same-account services; a policy of our own replaces it.
    if (statements.length > 0 && !admits(statements, service, 'sns:Publish')) problems.push(`${from}: the policy of topic ${id} does not let ${service} sns:Publish`);
    if (denies(statements, service, 'sns:Publish')) problems.push(`${from}: the policy of topic ${id} denies ${service}`);
    const key = target(resource.Properties?.KmsMasterKeyId);
    if (key && !['kms:Decrypt', 'kms:GenerateDataKey'].every((a) => admits(keyStatements(resources, key), service, a))) problems.push(`${from}: key ${key} of topic ${id} does not admit ${service}`);
  } else if (resource.Type === 'AWS::SQS::Queue') {
    if (!admits(queueStatements(resources, id), service, 'sqs:SendMessage')) problems.push(`${from}: the policy of queue ${id} does not let ${service} sqs:SendMessage`);
    const key = target(resource.Properties?.KmsMasterKeyId);
    if (key && !admits(keyStatements(resources, key), service, 'kms:GenerateDataKey')) problems.push(`${from}: key ${key} of queue ${id} does not admit ${service}`);
  } else if (resource.Type === 'AWS::Lambda::Function') {
    const permitted = Object.values(resources).some(
      (r) => r.Type === 'AWS::Lambda::Permission' && r.Properties?.Principal === service && target(r.Properties?.FunctionName) === id && r.Properties?.Action === 'lambda:InvokeFunction',
    );
    if (!permitted) problems.push(`${from}: no lambda:InvokeFunction permission for ${service} on ${id}`);
  } else {
    problems.push(`${from}: delivery to a ${resource.Type} is not checked by this test; add it`);
  }
  return problems;
}

/** Every delivery in the template: alarm actions, rule targets and their dead-letter queues, SNS subscriptions. */
function deliveries(resources: Resources): { service: string; id: string; from: string }[] {
  const found: { service: string; id: string; from: string }[] = [];
  for (const [name, r] of Object.entries(resources)) {
    if (r.Type === 'AWS::CloudWatch::Alarm') {
      for (const action of [...list(r.Properties?.AlarmActions as unknown[]), ...list(r.Properties?.OKActions as unknown[]), ...list(r.Properties?.InsufficientDataActions as unknown[])]) {
        const id = target(action);
        if (id) found.push({ service: 'cloudwatch.amazonaws.com', id, from: `alarm ${name}` });
      }
    }
    if (r.Type === 'AWS::Events::Rule') {
      for (const t of list(r.Properties?.Targets as { Arn: unknown; DeadLetterConfig?: { Arn: unknown } }[])) {
        const id = target(t.Arn);
        if (id) found.push({ service: 'events.amazonaws.com', id, from: `rule ${name}` });
        const dlq = target(t.DeadLetterConfig?.Arn);
        if (dlq) found.push({ service: 'events.amazonaws.com', id: dlq, from: `rule ${name} (dead letters)` });
      }
    }
    if (r.Type === 'AWS::SNS::Subscription' && ['sqs', 'lambda'].includes(String(r.Properties?.Protocol))) {
      const id = target(r.Properties?.Endpoint);
      if (id) found.push({ service: 'sns.amazonaws.com', id, from: `subscription ${name}` });
    }
  }
  return found;
}

describe('every delivery is admitted by its target', () => {
  it.each([
    ['the default configuration', {}],
    ['an alarm email, a longer poll interval and no silence alarm', { alarmEmail: 'oncall@example.com', pollIntervalMinutes: 15, silenceAlarmHours: 0 }],
    ['tracing and an allowlist', { tracing: true, allowedSourceIps: ['makini'] }],
  ])('%s', (_name, config) => {
    const resources = resourcesOf(config as Partial<MakiniWebhookConfig>);
    const all = deliveries(resources);
    expect(all.filter((d) => d.from.startsWith('alarm')).length).toBeGreaterThanOrEqual(10 * 2);
    expect(all.some((d) => d.from.startsWith('rule'))).toBe(true);
    // The token notice rule publishes to the alarm topic (its key and its policy must admit EventBridge).
    expect(all.some((d) => d.from.startsWith('rule') && d.from.includes('TokenExpiringRule'))).toBe(true);
    expect(all.flatMap((d) => checkDelivery(resources, d.service, d.id, d.from))).toEqual([]);
  });

  it('would catch an alarm topic whose policy replaced SNS’s default one (the defect this guards)', () => {
    const resources = resourcesOf();
    const alarmTopic = Object.entries(resources).find(([, r]) => r.Type === 'AWS::SNS::Topic' && JSON.stringify(r.Properties).includes('alarms'))![0];
    for (const r of Object.values(resources)) {
      if (r.Type !== 'AWS::SNS::TopicPolicy' || !list(r.Properties?.Topics as unknown[]).some((t) => target(t) === alarmTopic)) continue;
      const doc = r.Properties!.PolicyDocument as { Statement: Statement[] };
      doc.Statement = doc.Statement.filter((s) => !list(s.Principal?.Service).includes('cloudwatch.amazonaws.com'));
    }
    expect(checkDelivery(resources, 'cloudwatch.amazonaws.com', alarmTopic, 'alarm X')).toEqual([expect.stringMatching(/does not let cloudwatch.amazonaws.com sns:Publish/)]);
  });
});
