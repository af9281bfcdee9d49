import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { PollWorkerEvent } from '../core/poll';
import { awsClientConfig } from './aws-client-config';

/**
 * The Lambda client settings for starting workers: one attempt (an `Invoke` that timed out may have
 * been queued, and a retry would start one worker more than asked for), with time to answer.
 */
export function invokeClientConfig(requestTimeoutMs = 10_000) {
  return awsClientConfig({ awsRequestTimeoutMs: requestTimeoutMs, awsMaxAttempts: 1 });
}

/** Starts worker invocations of the poller. */
export interface PollWorkers {
  /**
   * Starts `count` workers with `event`, without waiting for them: how many Lambda queued. Throws
   * only when it queued none.
   */
  start(count: number, event: PollWorkerEvent): Promise<number>;
}

/**
 * Starts workers as asynchronous invocations of this same function (`functionName`: Lambda's own
 * `AWS_LAMBDA_FUNCTION_NAME`). Lambda queues each and answers 202 at once; a worker that fails is
 * retried and then lands in the function's on-failure destination (the poll dead-letter queue), as
 * a failed scheduled run does. Give it a client built with {@link invokeClientConfig}.
 *
 * @example
 * await new LambdaPollWorkers(new LambdaClient({}), process.env.AWS_LAMBDA_FUNCTION_NAME!).start(4, { pollWorker: { runId } });
 */
export class LambdaPollWorkers implements PollWorkers {
  constructor(
    private readonly client: LambdaClient,
    private readonly functionName: string,
  ) {}

  async start(count: number, event: PollWorkerEvent): Promise<number> {
    const payload = new TextEncoder().encode(JSON.stringify(event));
    const results = await Promise.allSettled(
      Array.from({ length: count }, async () => {
        const { StatusCode } = await this.client.send(new InvokeCommand({ FunctionName: this.functionName, InvocationType: 'Event', Payload: payload }));
        if (StatusCode !== 202) throw new Error(`Lambda did not queue a poll worker (status ${StatusCode ?? 'none'})`);
      }),
    );
    const started = results.filter((r) => r.status === 'fulfilled').length;
    if (started === 0 && count > 0) throw (results.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason;
    return started;
  }
}
