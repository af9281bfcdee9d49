import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { MakiniWebhookIngestion } from './makini-webhook-ingestion';
import type { MakiniWebhookSettings } from './settings';

export interface MakiniWebhookStackProps extends StackProps {
  /** @default - the defaults of `lambdas/config/config.ts` */
  readonly config?: MakiniWebhookSettings;
}

/**
 * The deployable stack: the ingestion construct and the outputs a user needs after `cdk deploy`.
 *
 * @example
 * // configFromContext and settingsOf come from 'makini-webhook-ingestion/config'.
 * new MakiniWebhookStack(app, 'MakiniWebhooks', { config: settingsOf(configFromContext((k) => app.node.tryGetContext(k))) });
 */
export class MakiniWebhookStack extends Stack {
  public readonly ingestion: MakiniWebhookIngestion;

  constructor(scope: Construct, id: string, props: MakiniWebhookStackProps = {}) {
    super(scope, id, { description: 'Makini webhook ingestion (makini-webhook-ingestion)', ...props });
    this.ingestion = new MakiniWebhookIngestion(this, 'Webhooks', { config: props.config });

    new CfnOutput(this, 'WebhookUrl', { value: this.ingestion.webhookUrl, description: 'Paste this URL into the Makini Developer Portal (Developers > Webhooks).' });
    new CfnOutput(this, 'WebhookUrlTemplate', {
      value: this.ingestion.webhookUrlTemplate,
      description: 'One Makini webhook per connection: replace {connection} with its connection key, so every event is attributed to it.',
    });
    new CfnOutput(this, 'SigningSecretArn', { value: this.ingestion.signingSecret.secretArn, description: 'Put the signing secret from the Makini dashboard in this secret.' });
    new CfnOutput(this, 'QueueUrl', { value: this.ingestion.queue.queueUrl, description: 'Verified webhooks waiting to be processed.' });
    new CfnOutput(this, 'EventBusName', { value: this.ingestion.eventBus.eventBusName, description: 'Add rules on this bus (source makini.webhooks) to act on events.' });
    new CfnOutput(this, 'PollerFunctionName', { value: this.ingestion.poller.functionName, description: 'The poller; `makini-webhooks poll --stack <stack>` invokes it now.' });
    new CfnOutput(this, 'BodyBucketName', { value: this.ingestion.bodyBucket.bucketName, description: 'Bodies above 200,000 bytes, or above that on the bus; bus events point to them (bodyRef).' });
    if (this.ingestion.tokenKey) new CfnOutput(this, 'TokenKeyArn', { value: this.ingestion.tokenKey.keyArn, description: 'Seals the per-connection tokens kept in the table; `makini-webhooks connections` uses it.' });
    new CfnOutput(this, 'EventTableName', { value: this.ingestion.table.tableName, description: 'Connection state and event history.' });
    const dashboardUrl = this.ingestion.monitoring.dashboardUrl;
    if (dashboardUrl) new CfnOutput(this, 'DashboardUrl', { value: dashboardUrl, description: 'The CloudWatch dashboard (the dashboard setting).' });
    new CfnOutput(this, 'AlarmTopicArn', { value: this.ingestion.monitoring.alarmTopic.topicArn, description: 'Subscribe on-call here (or set alarmEmail).' });
    new CfnOutput(this, 'NotificationsTopicArn', { value: this.ingestion.monitoring.notificationsTopic.topicArn, description: 'Reauthorization notifications for your customers.' });
    new CfnOutput(this, 'DeadLetterQueueUrl', { value: this.ingestion.deadLetterQueue.queueUrl, description: 'Webhooks that failed processing repeatedly.' });
  }
}
