import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import type { Metrics } from '@aws-lambda-powertools/metrics';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { LogLevel } from '../config/config';
import { COLD_START_MESSAGE } from '../core/log-lines';

/**
 * Wraps a handler so every log line carries the Lambda context and EMF metrics are flushed after
 * each invocation.
 *
 * @example
 * export const handler = withPowertools(createConsumerHandler(deps), logger, metrics);
 */
export function withPowertools<E, R>(handler: (event: E, context: Context) => Promise<R>, logger: Logger, metrics: Metrics) {
  return middy(handler).use(injectLambdaContext(logger)).use(logColdStart(logger)).use(flushMetrics(metrics));
}

/**
 * Writes the invocation's EMF metrics when it stored any, after it returns or throws. Not Powertools'
 * `logMetrics` middleware: its flush warns `No application metrics to publish` on every invocation
 * without metrics, and the receiver deliberately writes none for a webhook that goes well; that
 * warning would be a 230-byte line per webhook, more than the whole log budget (docs/cost.md).
 */
export function flushMetrics(metrics: Metrics): middy.MiddlewareObj {
  const flush = () => {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  };
  return { after: flush, onError: flush };
}

/**
 * One `cold start` line per execution environment, at its first invocation, with the milliseconds
 * since its process started (the runtime's and our module's initialisation). The dashboard counts
 * cold starts from these lines: not a Powertools ColdStart metric (a custom metric per function,
 * $0.30 a month each), and not Lambda's REPORT lines, which `platformLogLevel: WARN` drops.
 */
export function logColdStart(logger: Logger): middy.MiddlewareObj {
  let first = true;
  return {
    before: () => {
      if (!first) return;
      first = false;
      logger.info(COLD_START_MESSAGE, { initMs: Math.round(performance.now()) });
    },
  };
}

/**
 * The function's Logger, filtering at the config's `logLevel`. The stack keeps Lambda's own
 * application-log filter at INFO (DEBUG when `logLevel` is): EMF lines carry no level, so Lambda
 * reads them as INFO and would drop them under a WARN filter. Powertools lets that filter's level
 * (AWS_LAMBDA_LOG_LEVEL) win over the one it is given, which would turn `logLevel: WARN` back into
 * INFO; so the Logger is built without seeing it. Lambda still applies its filter.
 */
export function createLogger(serviceName: string, logLevel: LogLevel): Logger {
  const lambdaLevel = process.env.AWS_LAMBDA_LOG_LEVEL;
  delete process.env.AWS_LAMBDA_LOG_LEVEL;
  try {
    return new Logger({ serviceName, logLevel });
  } finally {
    if (lambdaLevel !== undefined) process.env.AWS_LAMBDA_LOG_LEVEL = lambdaLevel;
  }
}
