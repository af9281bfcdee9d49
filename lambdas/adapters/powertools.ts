import type { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';

/**
 * Wraps a handler so every log line carries the Lambda context and EMF metrics are flushed after
 * each invocation.
 *
 * @example
 * export const handler = withPowertools(createConsumerHandler(deps), logger, metrics);
 */
export function withPowertools<E, R>(handler: (event: E, context: Context) => Promise<R>, logger: Logger, metrics: Metrics) {
  // No ColdStart metric: the dashboard counts cold starts from Lambda's REPORT lines (lib/monitoring.ts).
  return middy(handler).use(injectLambdaContext(logger)).use(logMetrics(metrics));
}
