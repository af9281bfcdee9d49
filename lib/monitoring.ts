import { Aws, Duration } from 'aws-cdk-lib';
import type { HttpApi } from 'aws-cdk-lib/aws-apigatewayv2';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { BUS_SOURCE, busDetailType } from '../lambdas/core/consume';
import { COLD_START_MESSAGE } from '../lambdas/core/log-lines';
import { configOf, type MakiniWebhookSettings } from './settings';

export interface MakiniWebhookMonitoringProps {
  /**
   * The settings the alarms and notifications follow (thresholds, alarm email, metrics namespace).
   *
   * @default - the defaults of `lambdas/config/config.ts`
   */
  readonly config?: MakiniWebhookSettings;
  readonly api: HttpApi;
  readonly receiver: IFunction;
  readonly consumer: IFunction;
  readonly poller: IFunction;
  readonly queue: IQueue;
  readonly deadLetterQueue: IQueue;
  /** The poll schedule's and the poller's dead-letter queue; the notification rules dead-letter into it too (one alarm watches it). */
  readonly pollDeadLetterQueue: IQueue;
  readonly eventBus: events.IEventBus;
  /**
   * The functions' log groups, for the dashboard's cold starts (read from each environment's `cold start` line).
   *
   * @default - no cold-start widget
   */
  readonly functionLogGroups?: logs.ILogGroup[];
}

/** A handler's EMF metric (dimension `service`), over 5 minutes. */
function emfMetric(namespace: string, service: string, metricName: string, statistic = 'Sum'): cloudwatch.Metric {
  return new cloudwatch.Metric({ namespace, metricName, dimensionsMap: { service }, statistic, period: Duration.minutes(5) });
}

/** Where each alarm's runbook section lives. */
const RUNBOOK = 'docs/runbooks.md';

/**
 * The event pattern of the poller's `connection.token_expiring` notices (a failed refresh, a refresh
 * token about to expire): one event per reason and token pair, sent to the alarm topic.
 */
export const TOKEN_EXPIRING_PATTERN = { source: [BUS_SOURCE], 'detail-type': [busDetailType('connection.token_expiring')] } as const;

/** The event pattern of a transition into reauthorization_required, whatever found it (webhook or poll). */
export const REAUTH_TRANSITION_PATTERN = { source: [BUS_SOURCE], detail: { transition: { to: ['reauthorization_required'] } } } as const;

/**
 * Alarms (to one SNS topic, with OK actions), connection token notices to the same topic, customer
 * notifications when a connection needs reauthorization (EventBridge rules on the bus, not consumer
 * code), and a dashboard when the `dashboard` setting asks for one.
 *
 * @example
 * const monitoring = new MakiniWebhookMonitoring(this, 'Monitoring', { config, api, receiver, consumer, poller, queue, deadLetterQueue, pollDeadLetterQueue, eventBus });
 */
export class MakiniWebhookMonitoring extends Construct {
  /**
   * The stack's customer-managed key: it encrypts the alarm and notification topics, and seals the
   * per-connection tokens kept in the table (`tokenStore=table`). One key, not two: each is $1 a
   * month (docs/cost.md); the IAM conditions on the encryption context keep the uses apart.
   */
  public readonly key: kms.Key;
  public readonly alarmTopic: sns.Topic;
  public readonly notificationsTopic: sns.Topic;
  /**
   * The dashboard, when the `dashboard` setting asks for one.
   *
   * @default - none: a dashboard costs $3 a month beyond an account's first three (docs/cost.md)
   */
  public readonly dashboard?: cloudwatch.Dashboard;
  public readonly reauthorizationRule: events.Rule;
  /** Sends each `connection.token_expiring` event to the alarm topic, naming the connection and the reason. */
  public readonly tokenExpiringRule: events.Rule;
  /** Where notifications EventBridge could not deliver to a topic go: the poll dead-letter queue, so that one alarm watches both. */
  public readonly notificationDeadLetterQueue: IQueue;
  /** Every alarm, by a stable name. */
  public readonly alarms: { [name: string]: cloudwatch.Alarm } = {};
  /**
   * The dashboard's console URL, when there is a dashboard.
   *
   * @default - none
   */
  public readonly dashboardUrl?: string;

  constructor(scope: Construct, id: string, props: MakiniWebhookMonitoringProps) {
    super(scope, id);
    const config = configOf(props.config);

    // A customer-managed key: CloudWatch and EventBridge cannot publish to topics encrypted with the
    // AWS-managed SNS key.
    const key = new kms.Key(this, 'TopicKey', { enableKeyRotation: true, description: 'Encrypts the Makini webhook alarm and notification topics, and seals per-connection tokens.' });
    this.key = key;
    for (const service of ['cloudwatch.amazonaws.com', 'events.amazonaws.com']) key.grant(new iam.ServicePrincipal(service), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.alarmTopic = new sns.Topic(this, 'AlarmTopic', { displayName: 'Makini webhook alarms', masterKey: key, enforceSSL: true });
    // enforceSSL gives the topic a policy of its own, which replaces SNS's default one: without this
    // statement CloudWatch is denied sns:Publish and no alarm notifies anyone.
    this.alarmTopic.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'AllowCloudWatchAlarms',
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['sns:Publish'],
        resources: [this.alarmTopic.topicArn],
        conditions: {
          StringEquals: { 'aws:SourceAccount': Aws.ACCOUNT_ID },
          ArnLike: { 'aws:SourceArn': `arn:${Aws.PARTITION}:cloudwatch:${Aws.REGION}:${Aws.ACCOUNT_ID}:alarm:*` },
        },
      }),
    );
    this.notificationsTopic = new sns.Topic(this, 'NotificationsTopic', { displayName: 'Makini connection notifications', masterKey: key, enforceSSL: true });
    if (config.alarmEmail) this.alarmTopic.addSubscription(new subscriptions.EmailSubscription(config.alarmEmail));

    const emf = (service: string, metricName: string, statistic?: string) => emfMetric(config.metricsNamespace, service, metricName, statistic);
    const alarm = (
      name: string,
      metric: cloudwatch.IMetric,
      options: { threshold: number; what: string; section: string; comparison?: cloudwatch.ComparisonOperator; periods?: number; missing?: cloudwatch.TreatMissingData },
    ) => {
      const created = new cloudwatch.Alarm(this, name, {
        metric,
        threshold: options.threshold,
        comparisonOperator: options.comparison ?? cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: options.periods ?? 1,
        datapointsToAlarm: options.periods ?? 1,
        treatMissingData: options.missing ?? cloudwatch.TreatMissingData.NOT_BREACHING,
        alarmDescription: `${options.what} Runbook: ${RUNBOOK}#${options.section}`,
      });
      created.addAlarmAction(new SnsAction(this.alarmTopic));
      created.addOkAction(new SnsAction(this.alarmTopic));
      this.alarms[name] = created;
      return created;
    };
    const oneMinute = { period: Duration.minutes(1), statistic: 'Maximum' };

    alarm('DeadLetterQueueNotEmpty', props.deadLetterQueue.metricApproximateNumberOfMessagesVisible(oneMinute), {
      threshold: 0,
      what: 'Webhooks failed processing maxReceiveCount times and wait in the dead-letter queue.',
      section: 'dead-letter-queue-not-empty',
    });
    alarm('QueueBacklog', props.queue.metricApproximateAgeOfOldestMessage(oneMinute), {
      threshold: config.queueAgeAlarmMinutes * 60,
      what: `The oldest queued webhook is older than ${config.queueAgeAlarmMinutes} minutes: the consumer is failing or falling behind.`,
      section: 'queue-backlog',
    });
    // One alarm for every way a delivery can fail at the receiver: the API counts each answer that
    // Makini saw as a 5xx, whether the receiver threw or timed out, Lambda throttled it (API Gateway
    // turns Lambda's 429 into a 500), or SQS, S3 or Secrets Manager refused it (the receiver's 503). Alarms
    // on the receiver's Lambda Errors and Throttles, EnqueueFailed or BodyStoreFailed would watch the same failures.
    alarm('Api5xx', props.api.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }), {
      threshold: 0,
      what: 'The webhook API answered 5xx: the receiver failed, timed out or was throttled, or SQS, S3 or Secrets Manager refused it (503). Makini will retry.',
      section: 'receiver-errors',
    });
    alarm('SignatureRejectedSpike', emf('receiver', 'SignatureRejected'), {
      threshold: config.signatureRejectedAlarmThreshold,
      what: `More than ${config.signatureRejectedAlarmThreshold} signatures rejected in 5 minutes: a rotated secret not updated here, or an attack.`,
      section: 'signature-rejected-spike',
    });
    if (config.allowedSourceIps.length > 0) {
      alarm('ForbiddenSource', emf('receiver', 'SourceForbidden'), {
        threshold: 0,
        what: 'Requests came from addresses outside allowedSourceIps and got 403: Makini may send from a new address, or someone else is posting.',
        section: 'forbidden-source',
      });
    }
    // A consumer invocation that fails as a whole (a crash, a timeout) leaves its batch on the queue:
    // QueueBacklog and DeadLetterQueueNotEmpty reach a person, so there is no alarm on the consumer's
    // Lambda Errors. ProcessingFailed counts the records that fail inside an invocation.
    alarm('ProcessingFailed', emf('consumer', 'ProcessingFailed'), { threshold: 0, what: 'Queued webhooks failed processing and will be retried.', section: 'processing-failed' });
    alarm('Unprocessable', emf('consumer', 'Unprocessable'), { threshold: 0, what: 'Verified webhooks could not be read as Makini events; they are stored raw.', section: 'unprocessable' });
    alarm('PayloadMismatch', emf('consumer', 'PayloadMismatch'), { threshold: 0, what: 'A webhook id arrived again with a different body; the copy was kept aside, not applied.', section: 'payload-mismatch' });
    alarm('PollFailed', emf('poller', 'PollFailed'), {
      threshold: 0,
      periods: config.pollFailedAlarmPeriods,
      what: `Polls of the Makini API failed in ${config.pollFailedAlarmPeriods} consecutive 5-minute periods.`,
      section: 'poll-failed',
    });
    // A failed poller invocation (an error or a timeout) is retried once, then lands in the poll
    // dead-letter queue: this alarm, not one on the poller's Lambda Errors, reaches a person (a run
    // whose retry succeeds has polled). The notification rules below dead-letter into the same queue.
    alarm('PollScheduleDeadLetters', props.pollDeadLetterQueue.metricApproximateNumberOfMessagesVisible(oneMinute), {
      threshold: 0,
      what: 'Poll runs could not be delivered, or the poller failed (an error or a timeout) on a run and on its retry, or a reauthorization or token notice could not be delivered to its topic.',
      section: 'poll-failed',
    });
    // Poller metrics come once per run: alarms on them look at one poll interval (at least 5 minutes),
    // or they would flip to OK between runs.
    const perRun = { period: Duration.minutes(Math.max(5, config.pollIntervalMinutes)) };
    alarm('ConnectionsNeedingReauth', emf('poller', 'ConnectionsNeedingReauth', 'Maximum').with(perRun), {
      threshold: 0,
      what: 'At least one connection needs reauthorization, or its token was refused.',
      section: 'connections-needing-reauthorization',
    });
    if (config.silenceAlarmHours > 0) {
      alarm('WebhookSilence', emf('consumer', 'WebhookReceived').with({ period: Duration.hours(config.silenceAlarmHours) }), {
        threshold: 1,
        comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
        missing: cloudwatch.TreatMissingData.BREACHING,
        what: `No webhook arrived for ${config.silenceAlarmHours} h: Makini may have stopped sending, or the URL or secret changed.`,
        section: 'webhook-silence',
      });
    }

    // Customer notifications: one message per transition into reauthorization_required. The consumer
    // sets `transition` only when the status changes, so duplicates, stale events and repeated polls
    // never match.
    const message = config.reauthNotificationTemplate
      .split('{connectionId}')
      .join(events.EventField.fromPath('$.detail.event.connectionId'))
      .split('{detectedAt}')
      .join(events.EventField.fromPath('$.detail.event.receivedAt'));
    this.notificationDeadLetterQueue = props.pollDeadLetterQueue;
    this.reauthorizationRule = new events.Rule(this, 'ReauthorizationRule', {
      description: 'Notifies when a Makini connection needs reauthorization.',
      eventBus: props.eventBus,
      eventPattern: { source: [...REAUTH_TRANSITION_PATTERN.source], detail: { transition: { to: [...REAUTH_TRANSITION_PATTERN.detail.transition.to] } } },
      targets: [new targets.SnsTopic(this.notificationsTopic, { message: events.RuleTargetInput.fromText(message), deadLetterQueue: this.notificationDeadLetterQueue, retryAttempts: 8 })],
    });

    // Per-connection tokens: a failed refresh (or write-back) and a refresh token about to expire each
    // put one connection.token_expiring event per reason and pair on the bus. Sent to the alarm topic,
    // they reach on-call naming the connection, at no monthly cost: two alarms on TokenRefreshFailed
    // and RefreshTokenExpiring would watch the same notices for $0.20 a month (docs/cost.md).
    const field = (path: string) => events.EventField.fromPath(path);
    this.tokenExpiringRule = new events.Rule(this, 'TokenExpiringRule', {
      description: "Tells on-call when a Makini connection's tokens need a person (a failed refresh, or a refresh token about to expire).",
      eventBus: props.eventBus,
      eventPattern: { source: [...TOKEN_EXPIRING_PATTERN.source], detailType: [...TOKEN_EXPIRING_PATTERN['detail-type']] },
      targets: [
        new targets.SnsTopic(this.alarmTopic, {
          message: events.RuleTargetInput.fromText(
            `Makini connection ${field('$.detail.event.connectionId')}: its tokens need a person (connection.token_expiring, reason ${field('$.detail.event.data.reason')}, detected ${field('$.detail.event.receivedAt')}). ` +
              `Runbook: ${RUNBOOK}#token-refresh-failed (refresh_failed) or ${RUNBOOK}#refresh-token-expiring.`,
          ),
          deadLetterQueue: this.notificationDeadLetterQueue,
          retryAttempts: 8,
        }),
      ],
    });

    if (config.dashboard) {
      this.dashboard = this.createDashboard(props, config.metricsNamespace, config.allowedSourceIps.length > 0);
      this.dashboardUrl = `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${this.dashboard.dashboardName}`;
    }
  }

  /** Ingress, queue, processing, polling and Lambda graphs, cold starts, and every alarm's state. */
  private createDashboard(props: MakiniWebhookMonitoringProps, namespace: string, sourceAllowlist: boolean): cloudwatch.Dashboard {
    const emf = (service: string, metricName: string, statistic?: string) => emfMetric(namespace, service, metricName, statistic);
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', { defaultInterval: Duration.hours(24) });
    const graph = (title: string, metrics: cloudwatch.IMetric[]) => new cloudwatch.GraphWidget({ title, left: metrics, width: 8, height: 6 });
    const fns = { receiver: props.receiver, consumer: props.consumer, poller: props.poller };
    dashboard.addWidgets(new cloudwatch.TextWidget({ markdown: `# Makini webhooks\nAlarms and what to do: \`${RUNBOOK}\``, width: 24, height: 1 }));
    dashboard.addWidgets(
      graph('Ingress: received and rejected', [
        emf('consumer', 'WebhookReceived'),
        emf('receiver', 'SignatureRejected'),
        emf('receiver', 'EnqueueFailed'),
        ...(sourceAllowlist ? [emf('receiver', 'SourceForbidden')] : []),
      ]),
      // Which bytes Makini's signatures cover in this account: the raw body, or only JSON.stringify of it.
      // (The receiver counts only the canonical matches: the raw ones are the rest of those received,
      // which the consumer counts.)
      graph('Ingress: signed form', [
        new cloudwatch.MathExpression({
          label: 'raw body',
          expression: 'FILL(received, 0) - FILL(canonical, 0)',
          usingMetrics: { received: emf('consumer', 'WebhookReceived'), canonical: emf('receiver', 'SignatureMatchedCanonicalJson') },
          period: Duration.minutes(5),
        }),
        emf('receiver', 'SignatureMatchedCanonicalJson').with({ label: 'canonical JSON only' }),
      ]),
      graph('Ingress: API latency', [props.api.metricLatency({ statistic: 'p50' }), props.api.metricLatency({ statistic: 'p99' })]),
      graph('Ingress: 4xx / 5xx', [props.api.metricClientError({ statistic: 'Sum' }), props.api.metricServerError({ statistic: 'Sum' })]),
    );
    dashboard.addWidgets(
      graph('Queue: depth', [props.queue.metricApproximateNumberOfMessagesVisible(), props.queue.metricApproximateNumberOfMessagesNotVisible()]),
      graph('Queue: age of oldest (s)', [props.queue.metricApproximateAgeOfOldestMessage()]),
      graph('Dead-letter queues', [props.deadLetterQueue.metricApproximateNumberOfMessagesVisible(), props.pollDeadLetterQueue.metricApproximateNumberOfMessagesVisible()]),
    );
    dashboard.addWidgets(
      graph('Processing', ['WebhookProcessed', 'DuplicateSkipped', 'StaleEvent'].map((m) => emf('consumer', m))),
      graph('Processing failures', ['ProcessingFailed', 'Unprocessable', 'PayloadMismatch'].map((m) => emf('consumer', m))),
      graph('Consumer duration', [props.consumer.metricDuration({ statistic: 'p50' }), props.consumer.metricDuration({ statistic: 'p99' })]),
    );
    dashboard.addWidgets(
      graph('Polling', ['ConnectionsPolled', 'MissedEventRecovered', 'PollFailed'].map((m) => emf('poller', m))),
      graph('Connections needing reauthorization', [emf('poller', 'ConnectionsNeedingReauth', 'Maximum'), emf('poller', 'StaleConnections', 'Maximum')]),
    );
    // Cold starts from the one `cold start` line each execution environment writes (withPowertools),
    // not Powertools' ColdStart metric: three custom metrics with data nearly every hour would cost
    // $0.90 a month (docs/cost.md), and a Logs Insights query costs only when the dashboard is looked
    // at. Not Lambda's REPORT lines either: `platformLogLevel: WARN`, the default, drops them.
    if (props.functionLogGroups && props.functionLogGroups.length > 0) {
      dashboard.addWidgets(
        new cloudwatch.LogQueryWidget({
          title: 'Lambda cold starts',
          logGroupNames: props.functionLogGroups.map((g) => g.logGroupName),
          view: cloudwatch.LogQueryVisualizationType.TABLE,
          queryLines: [`filter message = "${COLD_START_MESSAGE}" and ispresent(initMs)`, 'stats count(*) as coldStarts, avg(initMs) as avgInitMs, max(initMs) as maxInitMs by @log'],
          width: 24,
          height: 4,
        }),
      );
    }
    dashboard.addWidgets(graph('Lambda durations (p99)', Object.values(fns).map((fn) => fn.metricDuration({ statistic: 'p99' }))));
    dashboard.addWidgets(new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: Object.values(this.alarms), width: 24 }));
    return dashboard;
  }
}
