import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { EnqueueFailedError } from '../core/errors';
import type { WebhookQueue } from '../core/receive';

/**
 * Sends verified webhooks to the SQS queue. `send` resolves only after SQS acknowledged the
 * message (SendMessage returned its MessageId), which is what lets the receiver answer 200.
 *
 * @example
 * const queue = new SqsWebhookQueue(new SQSClient(awsClientConfig(config)), process.env.WEBHOOK_QUEUE_URL!);
 */
export class SqsWebhookQueue implements WebhookQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(message: string): Promise<void> {
    try {
      const result = await this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: message }));
      if (!result.MessageId) throw new Error('SendMessage returned no MessageId');
    } catch (cause) {
      throw new EnqueueFailedError({ cause });
    }
  }
}
