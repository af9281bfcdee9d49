import type { MakiniWebhookConfig } from '../config/config';

/**
 * SDK client settings that keep each AWS call inside the receiver's time budget. Endpoints are not
 * set here: the SDK reads `AWS_ENDPOINT_URL_<SERVICE>`, which is how the local stack and LocalStack
 * are reached.
 *
 * @example
 * new SQSClient(awsClientConfig(config));
 */
export function awsClientConfig(config: Pick<MakiniWebhookConfig, 'awsRequestTimeoutMs' | 'awsMaxAttempts'>) {
  return {
    maxAttempts: config.awsMaxAttempts,
    requestHandler: {
      connectionTimeout: config.awsRequestTimeoutMs,
      requestTimeout: config.awsRequestTimeoutMs,
      // Without this the SDK only logs a warning when requestTimeout passes, and keeps waiting.
      throwOnRequestTimeout: true,
    },
  };
}

/**
 * For Lambdas that are not answering a sender (consumer, poller): they have their whole timeout,
 * so each call gets 3 s per attempt and 3 attempts, still far inside a 30 s timeout.
 */
export const BACKGROUND_CLIENT_CONFIG = awsClientConfig({ awsRequestTimeoutMs: 3_000, awsMaxAttempts: 3 });
