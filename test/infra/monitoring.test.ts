import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { MakiniWebhookStack } from '../../lib/makini-webhook-stack';
import type { MakiniWebhookConfig } from '../../lambdas/config/config';
import { cdkApp } from '../support/cdk-app';
import { settingsOf } from '../../lib/settings';

function synth(config: Partial<MakiniWebhookConfig> = {}) {
  const stack = new MakiniWebhookStack(cdkApp({ bundle: false }), 'MonitoredStack', { config: settingsOf(config) });
  return { stack, template: Template.fromStack(stack) };
}
const { stack, template } = synth();
const alarms = () => Object.values(template.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties);
const alarmOn = (metricName: string, t = template) => Object.values(t.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties).find((a) => a.MetricName === metricName);

describe('alarms', () => {
  it('raises every alarm of the runbook, each with alarm and OK actions on the one alarm topic', () => {
    const topic = { Ref: expect.stringMatching(/AlarmTopic/) };
    expect(alarms().length).toBe(20);
    for (const alarm of alarms()) {
      expect(alarm.AlarmActions).toEqual([topic]);
      expect(alarm.OKActions).toEqual([topic]);
    }
  });

  it.each([
    ['ApproximateNumberOfMessagesVisible', 'GreaterThanThreshold', 0, 60, 'notBreaching'],
    ['ApproximateAgeOfOldestMessage', 'GreaterThanThreshold', 900, 60, 'notBreaching'],
    ['EnqueueFailed', 'GreaterThanThreshold', 0, 300, 'notBreaching'],
    ['SignatureRejected', 'GreaterThanThreshold', 10, 300, 'notBreaching'],
    ['ProcessingFailed', 'GreaterThanThreshold', 0, 300, 'notBreaching'],
    ['Unprocessable', 'GreaterThanThreshold', 0, 300, 'notBreaching'],
    ['PayloadMismatch', 'GreaterThanThreshold', 0, 300, 'notBreaching'],
    ['ConnectionsNeedingReauth', 'GreaterThanThreshold', 0, 300, 'notBreaching'],
    ['WebhookReceived', 'LessThanThreshold', 1, 86_400, 'breaching'],
    ['5xx', 'GreaterThanThreshold', 0, 300, 'notBreaching'],
  ])('alarms on %s (%s %d over %d s, missing data %s)', (metricName, comparison, threshold, period, missing) => {
    expect(alarmOn(metricName)).toMatchObject({ ComparisonOperator: comparison, Threshold: threshold, Period: period, TreatMissingData: missing });
  });

  it('gives every alarm a metric, a threshold, a period, a missing-data treatment and a description', () => {
    for (const alarm of alarms()) {
      expect(alarm).toMatchObject({ MetricName: expect.any(String), Namespace: expect.any(String), Threshold: expect.any(Number), Period: expect.any(Number), EvaluationPeriods: expect.any(Number), TreatMissingData: expect.stringMatching(/^(breaching|notBreaching)$/) });
      expect(alarm.AlarmDescription).toMatch(/Runbook: /);
    }
  });

  it('alarms on refused sources only when the source allowlist is on, with its runbook section', () => {
    expect(alarmOn('SourceForbidden')).toBeUndefined();
    const withAllowlist = synth({ allowedSourceIps: ['makini'] }).template;
    const alarm = alarmOn('SourceForbidden', withAllowlist);
    expect(alarm).toMatchObject({ Namespace: 'MakiniWebhooks', Dimensions: [{ Name: 'service', Value: 'receiver' }], ComparisonOperator: 'GreaterThanThreshold', Threshold: 0, TreatMissingData: 'notBreaching' });
    expect(alarm.AlarmDescription).toMatch(/runbooks\.md#forbidden-source$/);
    expect(readFileSync(path.join(__dirname, '../../docs/runbooks.md'), 'utf8')).toContain('<a id="forbidden-source"></a>');
  });

  it('alarms on sustained poll failures, and on Lambda errors and throttles', () => {
    expect(alarmOn('PollFailed')).toMatchObject({ EvaluationPeriods: 3, DatapointsToAlarm: 3, Threshold: 0 });
    const lambdaAlarms = alarms().filter((a) => a.Namespace === 'AWS/Lambda');
    expect(lambdaAlarms.map((a) => a.MetricName).sort()).toEqual(['Errors', 'Errors', 'Errors', 'Throttles']);
    for (const a of lambdaAlarms) expect(a).toMatchObject({ Threshold: 0, Period: 300, ComparisonOperator: 'GreaterThanThreshold', TreatMissingData: 'notBreaching' });
  });

  it('takes thresholds from configuration, and can turn the silence alarm off', () => {
    const custom = synth({ queueAgeAlarmMinutes: 5, signatureRejectedAlarmThreshold: 100, pollFailedAlarmPeriods: 6, silenceAlarmHours: 6 }).template;
    expect(alarmOn('ApproximateAgeOfOldestMessage', custom)?.Threshold).toBe(300);
    expect(alarmOn('SignatureRejected', custom)?.Threshold).toBe(100);
    expect(alarmOn('PollFailed', custom)?.EvaluationPeriods).toBe(6);
    expect(alarmOn('WebhookReceived', custom)?.Period).toBe(21_600);
    expect(alarmOn('WebhookReceived', synth({ silenceAlarmHours: 0 }).template)).toBeUndefined();
  });

  it('subscribes alarmEmail to the alarm topic only when given', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    synth({ alarmEmail: 'oncall@example.com' }).template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'oncall@example.com' });
  });

  it('names, in every description, a runbook section that exists', () => {
    const runbook = readFileSync(path.join(__dirname, '../../docs/runbooks.md'), 'utf8');
    const anchors = new Set([...runbook.matchAll(/^## .*?<a id="([a-z0-9-]+)"><\/a>/gm)].map((m) => m[1]));
    for (const alarm of alarms()) {
      const anchor = /Runbook: docs\/runbooks\.md#([a-z0-9-]+)/.exec(alarm.AlarmDescription)?.[1];
      expect(anchor && anchors.has(anchor) ? anchor : `missing section for: ${alarm.AlarmDescription}`).toBe(anchor);
    }
  });

  it('encrypts both topics with a rotated customer-managed key and enforces TLS', () => {
    template.resourceCountIs('AWS::SNS::Topic', 2);
    template.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    for (const topic of Object.values(template.findResources('AWS::SNS::Topic'))) expect(topic.Properties.KmsMasterKeyId).toBeDefined();
  });
});

describe('dashboard and outputs', () => {
  it('creates one dashboard covering ingress, queue, processing, polling and Lambda, with its URL as an output', () => {
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const body = JSON.stringify(stack.resolve(Object.values(template.findResources('AWS::CloudWatch::Dashboard'))[0].Properties.DashboardBody));
    for (const title of ['Ingress: received and rejected', 'Ingress: API latency', 'Ingress: 4xx / 5xx', 'Queue: depth', 'Queue: age of oldest', 'Dead-letter queues', 'Processing', 'Processing failures', 'Consumer duration', 'Polling', 'Connections needing reauthorization', 'Lambda cold starts', 'Lambda durations']) {
      expect(body).toContain(title);
    }
    // Cold starts come from Lambda's REPORT lines in the three functions' log groups, not from a metric.
    const dashboard = JSON.parse(body) as { 'Fn::Join': [string, unknown[]] };
    const widgets = dashboard['Fn::Join'][1].map((part) => (typeof part === 'string' ? part : JSON.stringify(part))).join('');
    expect(widgets).not.toContain('ColdStart');
    expect(widgets).toMatch(/filter message = \\"cold start\\" and ispresent\(initMs\)/);
    for (const fn of ['Receiver', 'Consumer', 'Poller']) expect(widgets).toMatch(new RegExp(`SOURCE '\\{"Ref":"Webhooks${fn}Logs[0-9A-F]{8}"\\}'`));
    template.hasOutput('DashboardUrl', { Value: Match.anyValue() });
    template.hasOutput('AlarmTopicArn', {});
    template.hasOutput('NotificationsTopicArn', {});
  });
});

describe('reauthorization notifications', () => {
  it('routes transitions into reauthorization_required on the bus to the notifications topic, with the template filled in', () => {
    const rule = Object.values(template.findResources('AWS::Events::Rule')).find((r) => r.Properties.EventPattern?.detail);
    expect(rule?.Properties.EventPattern).toEqual({ source: ['makini.webhooks'], detail: { transition: { to: ['reauthorization_required'] } } });
    const [target] = rule?.Properties.Targets;
    expect(target).toMatchObject({ Arn: { Ref: expect.stringMatching(/NotificationsTopic/) }, DeadLetterConfig: { Arn: expect.anything() }, RetryPolicy: expect.anything() });
    expect(target.InputTransformer.InputPathsMap).toEqual({ 'detail-event-connectionId': '$.detail.event.connectionId', 'detail-event-receivedAt': '$.detail.event.receivedAt' });
    expect(target.InputTransformer.InputTemplate).toBe('"Makini connection <detail-event-connectionId> needs reauthorization (detected <detail-event-receivedAt>). Ask the customer to reconnect it in the Makini dashboard."');
  });
});
