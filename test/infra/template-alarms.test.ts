/**
 * The alarms of the REAL synthesized template, evaluated locally: every AWS::CloudWatch::Alarm
 * loads with alarmFromTemplate, breaching datapoints raise it and healthy ones clear it, its SNS
 * message passes the alarm topic's policy, and the EMF metrics it watches are the ones the
 * functions print.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { Template } from 'aws-cdk-lib/assertions';
import { resolveConfig } from '../../lambdas/config/config';
import { withPowertools } from '../../lambdas/adapters/powertools';
import { CONSUMER_METRICS } from '../../lambdas/consumer/consumer';
import { POLLER_METRICS } from '../../lambdas/poller/poller';
import { createReceiverHandler, METRICS as RECEIVER_METRICS } from '../../lambdas/receiver/receiver';
import { MakiniWebhookStack } from '../../lib/makini-webhook-stack';
import { resolveIntrinsics } from '../../local/aws/cfn-intrinsics';
import { AlarmEvaluator, alarmFromTemplate, alarmMetrics, alarmNotification, type AlarmDefinition } from '../../local/aws/cloudwatch-alarms';
import { MetricStore, parseEmf, type MetricId } from '../../local/aws/cloudwatch-metrics';
import { apiGatewayEvent } from '../support/api-gateway-event';
import { captureOutput } from '../support/capture-output';
import { cdkApp } from '../support/cdk-app';

const STACK = 'AlarmStack';
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';

// The source allowlist on, so that the template holds every alarm the construct can create.
const config = { allowedSourceIps: ['makini'] };
const template = Template.fromStack(new MakiniWebhookStack(cdkApp({ bundle: false }), STACK, { config })).toJSON() as { Resources: Record<string, { Type: string; Properties?: Record<string, unknown> }> };
const resources = template.Resources;

/** The template's intrinsics resolved as CloudFormation would, with sample names for the resources. */
const resolve = (value: unknown): unknown =>
  resolveIntrinsics(value, {
    accountId: ACCOUNT,
    region: REGION,
    stackName: STACK,
    ref: (id) => (resources[id]?.Type === 'AWS::SNS::Topic' ? `arn:aws:sns:${REGION}:${ACCOUNT}:${id}` : resources[id] ? `${id}-name` : undefined),
    getAtt: (id, attribute) => (resources[id] ? `${id}-${attribute}` : undefined),
  });

const alarmIds = Object.keys(resources).filter((id) => resources[id].Type === 'AWS::CloudWatch::Alarm');
const definitions = new Map(alarmIds.map((id) => [id, alarmFromTemplate(id, resolve(resources[id].Properties), { stackName: STACK })]));
const topicPolicy = Object.values(resources).find((r) => r.Type === 'AWS::SNS::TopicPolicy' && JSON.stringify(r.Properties).includes('cloudwatch.amazonaws.com'));

/** A value on each side of the threshold. */
function values(d: AlarmDefinition): { breaching: number; healthy: number } {
  const t = d.threshold;
  switch (d.comparison) {
    case 'GreaterThanThreshold':
      return { breaching: t + 1, healthy: t };
    case 'GreaterThanOrEqualToThreshold':
      return { breaching: t, healthy: t - 1 };
    case 'LessThanThreshold':
      return { breaching: t - 1, healthy: t };
    case 'LessThanOrEqualToThreshold':
      return { breaching: t, healthy: t + 1 };
  }
}

describe('the alarms of the synthesized template, evaluated locally', () => {
  it('loads every alarm of the template', () => {
    expect(alarmIds.length).toBe(21);
    expect([...definitions.values()].every((d) => d.alarmName.startsWith(`${STACK}-`))).toBe(true);
  });

  it.each(alarmIds)('%s: healthy datapoints give OK, breaching ones ALARM, healthy ones OK again, each change with the alarm topic as its action', (id) => {
    const definition = definitions.get(id)!;
    const scale = 1 / 60;
    const store = new MetricStore();
    const evaluator = new AlarmEvaluator(store, [definition], { periodScale: scale });
    const period = definition.periodSeconds * 1000 * scale;
    const { breaching, healthy } = values(definition);
    const [metric] = alarmMetrics(definition);
    let now = Date.parse('2026-12-01T10:00:00Z');
    const phase = (value: number) => {
      for (let k = 0; k < definition.evaluationPeriods; k++) store.put({ ...metric, timestamp: now + k * period + period / 2, values: [value] });
      now += definition.evaluationPeriods * period;
      return evaluator.evaluate(now);
    };
    const topic = `arn:aws:sns:${REGION}:${ACCOUNT}:${(resources[id].Properties!.AlarmActions as { Ref: string }[])[0].Ref}`;

    expect(phase(healthy)).toEqual([expect.objectContaining({ oldState: 'INSUFFICIENT_DATA', newState: 'OK', actions: [topic] })]);
    expect(phase(breaching)).toEqual([expect.objectContaining({ oldState: 'OK', newState: 'ALARM', actions: [topic] })]);
    expect(phase(healthy)).toEqual([expect.objectContaining({ oldState: 'ALARM', newState: 'OK', actions: [topic] })]);
  });

  it('on a fresh stack with no datapoint yet, goes OK everywhere but WebhookSilence, which treats missing data as breaching', () => {
    const evaluator = new AlarmEvaluator(new MetricStore(), [...definitions.values()]);
    const changes = evaluator.evaluate(Date.parse('2026-12-01T10:00:00Z'));
    expect(changes.filter((c) => c.newState === 'ALARM').map((c) => c.logicalId)).toEqual([expect.stringContaining('WebhookSilence')]);
    expect(changes.filter((c) => c.newState === 'OK')).toHaveLength(alarmIds.length - 1);
  });

  it("publishes from an alarm ARN the alarm topic's policy lets CloudWatch publish from, to that topic", () => {
    const statement = (topicPolicy!.Properties!.PolicyDocument as { Statement: Record<string, unknown>[] }).Statement.find((s) => JSON.stringify(s.Principal).includes('cloudwatch.amazonaws.com'))!;
    const resolved = resolve(statement) as { Action: string; Resource: string; Condition: { StringEquals: Record<string, string>; ArnLike: Record<string, string> } };
    const arnPattern = new RegExp(`^${resolved.Condition.ArnLike['aws:SourceArn'].split('*').map((part) => part.replace(/[.?+^$()[\]{}|\\]/g, '\\$&')).join('.*')}$`);
    const policyTopics = (resolve(topicPolicy!.Properties!.Topics) as string[]).sort();
    expect(resolved.Action).toBe('sns:Publish');
    for (const definition of definitions.values()) {
      const change = { alarmName: definition.alarmName, logicalId: definition.logicalId, oldState: 'OK', newState: 'ALARM', reason: 'r', timestamp: 0, actions: definition.alarmActions } as const;
      const message = alarmNotification(change, definition, REGION, ACCOUNT);
      expect(message.AlarmArn).toMatch(arnPattern);
      expect(message.AWSAccountId).toBe(resolved.Condition.StringEquals['aws:SourceAccount']);
      expect([...definition.alarmActions, ...definition.okActions].every((arn) => policyTopics.includes(arn) && arn === resolved.Resource)).toBe(true);
    }
  });

  it('watches, in the EMF namespace, only metrics the function named by the service dimension emits', () => {
    const emitted: Record<string, readonly string[]> = { receiver: Object.values(RECEIVER_METRICS), consumer: Object.values(CONSUMER_METRICS), poller: Object.values(POLLER_METRICS) };
    const namespace = resolveConfig(config).metricsNamespace;
    const emf = [...definitions.values()].flatMap(alarmMetrics).filter((m) => m.namespace === namespace);
    expect(emf.length).toBe(12);
    for (const metric of emf) {
      // Powertools publishes every metric with exactly one dimension, service.
      expect(Object.keys(metric.dimensions)).toEqual(['service']);
      expect({ metric: metric.name, service: metric.dimensions.service, emitted: emitted[metric.dimensions.service]?.includes(metric.name) }).toEqual({ metric: metric.name, service: metric.dimensions.service, emitted: true });
    }
  });

  it('raises SignatureRejectedSpike from the EMF the real receiver prints for forged webhooks', async () => {
    const receiverConfig = resolveConfig(config);
    // As createReceiverHandlerFromEnv builds them in Lambda.
    const logger = new Logger({ serviceName: 'receiver', logLevel: 'ERROR' });
    const metrics = new Metrics({ namespace: receiverConfig.metricsNamespace, serviceName: 'receiver' });
    const handler = withPowertools(
      createReceiverHandler({ config: { ...receiverConfig, allowedSourceIps: [] }, secrets: { get: async () => ['a-signing-secret-of-enough-length'], refresh: async () => undefined }, queue: { send: async () => undefined }, logger, metrics }),
      logger,
      metrics,
    );
    const context = { functionName: 'receiver', awsRequestId: 'req', getRemainingTimeInMillis: () => 5000 } as unknown as Context;
    const forged = () => handler(apiGatewayEvent({ body: JSON.stringify({ event: 'assets.updated', body: ['1'] }), headers: { 'x-webhook-signature': 'AAAA' } }), context);

    const spike = [...definitions.values()].find((d) => d.logicalId.includes('SignatureRejectedSpike'))!;
    const store = new MetricStore();
    const evaluator = new AlarmEvaluator(store, [spike]);
    const send = async (count: number) => {
      const { output } = await captureOutput(async () => {
        for (let i = 0; i < count; i++) expect((await forged()).statusCode).toBe(401);
      });
      for (const line of output.split('\n')) store.put(parseEmf(line));
    };

    await send(spike.threshold);
    expect(evaluator.evaluate(Date.now() + 1)).toEqual([expect.objectContaining({ newState: 'OK' })]);
    await send(1);
    const [change] = evaluator.evaluate(Date.now() + 1);
    expect(change).toMatchObject({ newState: 'ALARM', reason: expect.stringContaining(`[${spike.threshold + 1}.0 (`) });
    const rejected: MetricId = { namespace: receiverConfig.metricsNamespace, name: RECEIVER_METRICS.signatureRejected, dimensions: { service: 'receiver' } };
    expect(store.query(rejected, 'SampleCount', 0, Date.now() + 1)).toBe(spike.threshold + 1);
  });
});
