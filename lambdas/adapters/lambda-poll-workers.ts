import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { PollWorkerEvent } from '../core/poll';

/** Starts worker invocations of the poller. */
export interface PollWorkers {
  /** Starts `count` workers with `event`, without waiting for them; resolves once Lambda has queued each. */
  start(count: number, event: PollWorkerEvent): Promise<void>;
}

/**
 * Starts workers as asynchronous invocations of this same function (`functionName`: Lambda's own
 * `AWS_LAMBDA_FUNCTION_NAME`). Lambda queues each and answers 202 at once; a worker that fails is
 * retried and then lands in the function's on-failure destination (the poll dead-letter queue), as
 * a failed scheduled run does.
 *
 * @example
 * await new LambdaPollWorkers(new LambdaClient({}), process.env.AWS_LAMBDA_FUNCTION_NAME!).start(4, { pollWorker: { runId } });
 */
export class LambdaPollWorkers implements PollWorkers {
  constructor(
    private readonly client: LambdaClient,
    private readonly functionName: string,
  ) {}

  async start(count: number, event: PollWorkerEvent): Promise<void> {
    const payload = new TextEncoder().encode(JSON.stringify(event));
    await Promise.all(
      Array.from({ length: count }, async () => {
        const { StatusCode } = await this.client.send(new InvokeCommand({ FunctionName: this.functionName, InvocationType: 'Event', Payload: payload }));
        if (StatusCode !== 202) throw new Error(`Lambda did not queue a poll worker (status ${StatusCode ?? 'none'})`);
      }),
    );
  }
}
