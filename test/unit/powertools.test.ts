/** withPowertools: the one `cold start` line per execution environment, which the dashboard counts. */
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import { createLogger, withPowertools } from '../../lambdas/adapters/powertools';
import { COLD_START_MESSAGE } from '../../lambdas/core/log-lines';
import { captureOutput } from '../support/capture-output';

const context = { functionName: 'fn', functionVersion: '$LATEST', invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:fn', memoryLimitInMB: '512', awsRequestId: 'req', getRemainingTimeInMillis: () => 1000 } as unknown as Context;
/** The cold start lines in some output (Powertools may indent its JSON in tests: POWERTOOLS_DEV). */
const coldStarts = (output: string) => [...output.matchAll(/"message":\s*"cold start"[^}]*?"initMs":\s*(\d+)/g)].map((m) => Number(m[1]));

describe('withPowertools', () => {
  it('writes one cold start line, at the first invocation only, with the milliseconds since the process started', async () => {
    const logger = new Logger({ serviceName: 'test', logLevel: 'INFO' });
    const handler = withPowertools(async (event: { n: number }) => event.n * 2, logger, new Metrics({ namespace: 'Test', serviceName: 'test' }));
    const first = await captureOutput(() => handler({ n: 1 }, context));
    const second = await captureOutput(() => handler({ n: 2 }, context));
    expect([first.result, second.result]).toEqual([2, 4]);
    expect(COLD_START_MESSAGE).toBe('cold start');
    const cold = coldStarts(first.output);
    expect(cold).toHaveLength(1);
    expect(cold[0]).toBeGreaterThan(0);
    expect(first.output).toMatch(/"level":\s*"INFO"/);
    expect(first.output).toMatch(/"function_request_id":\s*"req"/);
    expect(coldStarts(second.output)).toEqual([]);
    expect(second.output).not.toContain('cold start');
  });

  it('writes no line at all for an invocation at WARN', async () => {
    const logger = new Logger({ serviceName: 'test', logLevel: 'WARN' });
    const handler = withPowertools(async () => 'ok', logger, new Metrics({ namespace: 'Test', serviceName: 'test' }));
    const { output } = await captureOutput(() => handler({}, context));
    expect(output).not.toContain('cold start');
    expect(output).not.toMatch(/"level"/);
  });
});

describe('flushMetrics (through withPowertools)', () => {
  it('writes the stored metrics after the invocation, and nothing at all (no warning) when there are none', async () => {
    const metrics = new Metrics({ namespace: 'Test', serviceName: 'test' });
    const logger = new Logger({ serviceName: 'test', logLevel: 'WARN' });
    const handler = withPowertools(async (event: { count: number }) => {
      if (event.count > 0) metrics.addMetric('Things', 'Count', event.count);
      return 'ok';
    }, logger, metrics);
    const withMetric = await captureOutput(() => handler({ count: 2 }, context));
    expect(withMetric.output).toContain('"Things":2');
    const without = await captureOutput(() => handler({ count: 0 }, context));
    expect(without.output).toBe('');
  });

  it('writes them when the handler throws, too', async () => {
    const metrics = new Metrics({ namespace: 'Test', serviceName: 'test' });
    const handler = withPowertools(async () => {
      metrics.addMetric('Failed', 'Count', 1);
      throw new Error('boom');
    }, new Logger({ serviceName: 'test', logLevel: 'WARN' }), metrics);
    let output = '';
    await captureOutput(async () => {
      await expect(handler({}, context)).rejects.toThrow('boom');
    }).then((r) => (output = r.output));
    expect(output).toContain('"Failed":1');
  });
});

describe('createLogger', () => {
  afterEach(() => delete process.env.AWS_LAMBDA_LOG_LEVEL);

  // Lambda's filter stays at INFO for the EMF lines (or is absent: the local stack, tests); the Logger filters at the config's level.
  it.each([
    ['INFO', 'WARN', 'info', 'warn'],
    [undefined, 'ERROR', 'warn', 'error'],
  ] as const)("with AWS_LAMBDA_LOG_LEVEL %s, logLevel %s drops %s lines and keeps %s lines", async (lambdaLevel, logLevel, dropped, kept) => {
    if (lambdaLevel) process.env.AWS_LAMBDA_LOG_LEVEL = lambdaLevel;
    const logger = createLogger('test', logLevel);
    const { output } = await captureOutput(async () => {
      logger[dropped](`a ${dropped} line`);
      logger[kept](`a ${kept} line`);
    });
    expect(output).not.toContain(`a ${dropped} line`);
    expect(output).toContain(`a ${kept} line`);
    expect(output).not.toContain('Advanced Logging Controls');
    expect(process.env.AWS_LAMBDA_LOG_LEVEL).toBe(lambdaLevel); // left as Lambda set it
  });

  it('logs DEBUG lines when the config asks for them (Lambda is then set to DEBUG too)', async () => {
    process.env.AWS_LAMBDA_LOG_LEVEL = 'DEBUG';
    const logger = createLogger('test', 'DEBUG');
    const { output } = await captureOutput(async () => logger.debug('a debug line'));
    expect(output).toContain('a debug line');
  });
});
