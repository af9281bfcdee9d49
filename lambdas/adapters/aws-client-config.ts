import type { MakiniWebhookConfig } from '../../lib/config';

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
