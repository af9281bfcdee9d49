/**
 * Each function rebuilds its configuration from the environment the template gives it: for a set of
 * non-default configurations, synthesize, then boot every function's config from its template
 * environment. A setting a function reads but the template leaves out would validate a different
 * configuration at init than `cdk synth` did (e.g. a cross-check failing in the Lambda only).
 */
import { Template } from 'aws-cdk-lib/assertions';
import { CONFIG_KEYS, CONFIG_SPEC, configFromEnv, ConfigError, INLINE_BODY_MAX_BYTES, MAX_BUS_GROWTH, resolveConfig, type MakiniWebhookConfig } from '../../lambdas/config/config';
import { MakiniWebhookStack } from '../../lib/makini-webhook-stack';
import { cdkApp } from '../support/cdk-app';
import { settingsOf } from '../../lib/settings';

const CONFIGS: [string, Partial<MakiniWebhookConfig>][] = [
  ['the defaults', {}],
  // Inline only: no body up to a sixth of the inline line can grow past it on the bus (travelsAsPointer).
  ['a slower receiver (issue 14: threw at init), with inline bodies only', { receiverTimeoutSeconds: 8, awsRequestTimeoutMs: 1_500, maxBodyBytes: Math.floor(INLINE_BODY_MAX_BYTES / MAX_BUS_GROWTH) }],
  ['a 15-minute poll with a 10-minute poller (issue 14: threw at init)', { pollIntervalMinutes: 15, pollerTimeoutSeconds: 600 }],
  ['a 2-minute poll (the poller timeout follows it)', { pollIntervalMinutes: 2 }],
  [
    'many settings at once',
    {
      signatureScheme: 'standard-webhooks',
      signatureHeaders: ['x-sig'],
      allowedSourceIps: ['makini', '10.0.0.0/8'],
      maxBodyBytes: 65_536,
      consumerBatchSize: 50,
      consumerBatchingWindowSeconds: 2,
      dedupWindowDays: 14,
      pollMode: 'per-connection',
      connectionStatusMap: ['live=online', 'dead=offline'],
      tokenRefreshMarginDays: 10,
      refreshTokenWarningDays: 5,
      makiniMaxAttempts: 2,
      makiniRequestTimeoutMs: 2_000,
      logLevel: 'DEBUG',
      metricsNamespace: 'Other',
    },
  ],
];

describe('function environments', () => {
  it.each(CONFIGS)('%s: every function boots the synthesized configuration', (_name, input) => {
    const config = resolveConfig(input);
    const stack = new MakiniWebhookStack(cdkApp({ bundle: false }), 'EnvStack', { config: settingsOf(input) });
    const functions = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function')).filter((f) => f.Properties.Handler === 'index.handler');
    expect(functions.length).toBe(3);
    for (const fn of functions) {
      const variables = fn.Properties.Environment.Variables as Record<string, unknown>;
      // Resource ids are CloudFormation references here; they are not settings.
      const env = Object.fromEntries(Object.entries(variables).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
      const booted = configFromEnv(env);
      // Every setting but those only the CDK reads (the alarm email, the notification text).
      for (const key of CONFIG_KEYS) if (!CONFIG_SPEC[key].deployOnly) expect([key, booted[key]]).toEqual([key, config[key]]);
      // As Lambda counts: JSON, UTF-8; a CloudFormation reference counted as a 200-byte value.
      const bytes = Buffer.byteLength(JSON.stringify(Object.fromEntries(Object.entries(variables).map(([k, v]) => [k, typeof v === 'string' ? v : 'r'.repeat(200)]))), 'utf8');
      expect(bytes).toBeLessThan(4_096);
    }
  });

  it('refuses, at synth, settings that would not fit in a Lambda environment', () => {
    const huge = Array.from({ length: 64 }, (_, i) => `status_value_number_${String(i).padStart(2, '0')}_${'x'.repeat(20)}=online`);
    expect(() => new MakiniWebhookStack(cdkApp({ bundle: false }), 'HugeStack', { config: { connectionStatusMap: huge } })).toThrow(ConfigError);
  });
});
