import { ChangeMessageVisibilityCommand, DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** A shard message taken from the queue: its body, and the handle that deletes it. */
export interface ReceivedShard {
  readonly body: string;
  readonly receipt: string;
}

/** The poll shard queue, as a fanned-out run fills it and its workers drain it. */
export interface PollShardQueue {
  send(body: string): Promise<void>;
  /** The next shard, or undefined when the queue has none visible. */
  receive(): Promise<ReceivedShard | undefined>;
  /** Deletes a shard once its worker is done with it. */
  remove(receipt: string): Promise<void>;
  /** Makes a shard visible again at once; its next receive moves it to the dead-letter queue (one receive allowed). */
  release(receipt: string): Promise<void>;
}

/**
 * Long-poll wait of a worker's receive, in seconds. Any wait above 0 makes SQS ask all its servers
 * (a 0 s short poll samples some of them, and can answer empty while messages remain), and the run
 * has sent every shard before it starts a worker, so an empty answer after 1 s means the queue is
 * drained.
 */
const RECEIVE_WAIT_SECONDS = 1;

/**
 * The poll shard queue in SQS.
 *
 * @example
 * const shards = new SqsPollShardQueue(new SQSClient({}), process.env.MAKINI_POLL_SHARD_QUEUE_URL!);
 */
export class SqsPollShardQueue implements PollShardQueue {
  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
  ) {}

  async send(body: string): Promise<void> {
    await this.client.send(new SendMessageCommand({ QueueUrl: this.queueUrl, MessageBody: body }));
  }

  async receive(): Promise<ReceivedShard | undefined> {
    const { Messages } = await this.client.send(new ReceiveMessageCommand({ QueueUrl: this.queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: RECEIVE_WAIT_SECONDS }));
    const message = Messages?.[0];
    if (!message) return undefined;
    if (message.Body === undefined || message.ReceiptHandle === undefined) throw new Error('SQS returned a message without a body or receipt handle');
    return { body: message.Body, receipt: message.ReceiptHandle };
  }

  async remove(receipt: string): Promise<void> {
    await this.client.send(new DeleteMessageCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receipt }));
  }

  async release(receipt: string): Promise<void> {
    await this.client.send(new ChangeMessageVisibilityCommand({ QueueUrl: this.queueUrl, ReceiptHandle: receipt, VisibilityTimeout: 0 }));
  }
}
