import { CONFIG_KEYS, ConfigError, configFromContext, configFromEnv, configToEnv, DEFAULT_CONFIG, envName, INLINE_BODY_MAX_BYTES, MAX_BUS_GROWTH, resolveConfig } from '../../lambdas/config/config';
import { configReferenceTable } from '../../lib/config-docs';

describe('config', () => {
  it('applies the documented defaults', () => {
    expect(resolveConfig()).toEqual(DEFAULT_CONFIG);
    expect(DEFAULT_CONFIG).toMatchObject({
      signatureScheme: 'makini',
      signatureHeaders: ['x-webhook-signature', 'x-makini-signature'],
      signedBytes: 'both',
      signatureAlgorithm: 'sha256',
      allowedSourceIps: [],
      eventTypeFields: ['event', 'type', 'event_type', 'eventType'],
      contentDedupWindowMinutes: 15,
      timestampToleranceSeconds: 300,
    });
  });

  it('coerces strings from context and environment', () => {
    expect(resolveConfig({ maxBodyBytes: '65536', tracing: 'false' })).toMatchObject({ maxBodyBytes: 65536, tracing: false });
  });

  it('reports every problem at once, naming each setting', () => {
    expect.assertions(4);
    try {
      resolveConfig({ signatureScheme: 'hmac', maxBodyBytes: -1, tracing: 'yes', bogus: 1 });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const { problems } = error as ConfigError;
      expect(problems).toHaveLength(4);
      expect(problems.join('\n')).toMatch(/signatureScheme: must be one of makini, standard-webhooks/);
      expect(problems.join('\n')).toMatch(/bogus: unknown setting/);
    }
  });

  it('rejects a receiver timeout that cannot fit the worst case of its AWS calls', () => {
    expect(() => resolveConfig({ receiverTimeoutSeconds: 3, awsMaxAttempts: 3, awsRequestTimeoutMs: 1000 })).toThrow(/receiverTimeoutSeconds \(3\) must exceed/);
    // Bodies that may go through the body store add an S3 put to such a request: three calls, not two.
    // Above the inline limit, or (since 2026-12-03) a sixth of it, whose numeric ids may pass it as strings on the bus.
    const mayGrowPast = Math.floor(INLINE_BODY_MAX_BYTES / MAX_BUS_GROWTH);
    expect(() => resolveConfig({ receiverTimeoutSeconds: 8, awsMaxAttempts: 3, awsRequestTimeoutMs: 1000, maxBodyBytes: mayGrowPast })).not.toThrow();
    expect(() => resolveConfig({ receiverTimeoutSeconds: 8, awsMaxAttempts: 3, awsRequestTimeoutMs: 1000, maxBodyBytes: mayGrowPast + 1 })).toThrow(/\(3 calls x awsMaxAttempts 3/);
    expect(() => resolveConfig({ receiverTimeoutSeconds: 7, awsMaxAttempts: 2, awsRequestTimeoutMs: 1500, maxBodyBytes: INLINE_BODY_MAX_BYTES })).toThrow(/\(3 calls x awsMaxAttempts 2/);
  });

  it("keeps the receiver's timeout under Makini's 10 s deadline", () => {
    expect(() => resolveConfig({ receiverTimeoutSeconds: 10 })).toThrow(/receiverTimeoutSeconds: must be between 2 and 8/);
  });

  it('accepts only CloudWatch Logs retention values', () => {
    expect(() => resolveConfig({ logRetentionDays: 31 })).toThrow(/logRetentionDays: must be one of 1, 3, 5/);
  });

  it('accepts an existing secret by name or by ARN, and nothing else', () => {
    expect(resolveConfig({ signingSecret: 'prod/makini/webhook' }).signingSecret).toBe('prod/makini/webhook');
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/makini-AbCdEf';
    expect(resolveConfig({ signingSecret: arn }).signingSecret).toBe(arn);
    expect(() => resolveConfig({ signingSecret: 'has spaces' })).toThrow(/signingSecret/);
  });

  it('reads list settings as comma-separated text or arrays, and validates every item', () => {
    expect(resolveConfig({ signatureHeaders: ' X-Webhook-Signature , x-hub-signature-256 ' }).signatureHeaders).toEqual(['X-Webhook-Signature', 'x-hub-signature-256']);
    expect(resolveConfig({ allowedSourceIps: ['makini', '203.0.113.0/24', '2001:db8::/32', '198.51.100.7'] }).allowedSourceIps).toHaveLength(4);
    expect(resolveConfig({ allowedSourceIps: '' }).allowedSourceIps).toEqual([]);
    expect(() => resolveConfig({ allowedSourceIps: '10.0.0.0/33,example.com' })).toThrow(/allowedSourceIps: must be IP addresses, CIDR ranges, or makini; not: "10.0.0.0\/33", "example.com"/);
    expect(() => resolveConfig({ signatureHeaders: '' })).toThrow(/signatureHeaders: must list 1 to 8 items/);
    expect(() => resolveConfig({ signatureHeaders: 'bad header' })).toThrow(/signatureHeaders/);
    expect(() => resolveConfig({ eventTypeFields: ['a', 7] })).toThrow(/eventTypeFields/);
  });

  it('points a renamed setting to its new name', () => {
    expect(() => resolveConfig({ signatureHeader: 'x-makini-signature' })).toThrow(/signatureHeader: renamed to signatureHeaders/);
  });

  it('round-trips through MAKINI_* environment variables', () => {
    const config = resolveConfig({ signatureScheme: 'standard-webhooks', maxBodyBytes: 4096, tracing: false, allowedSourceIps: 'makini,10.0.0.0/8' });
    expect(envName('maxBodyBytes')).toBe('MAKINI_MAX_BODY_BYTES');
    expect(configFromEnv(configToEnv(config))).toEqual(config);
  });

  it('reads every key from CDK context', () => {
    const context: Record<string, unknown> = { signatureAlgorithm: 'sha512', throttleRateLimit: '50' };
    expect(configFromContext((key) => context[key])).toMatchObject({ signatureAlgorithm: 'sha512', throttleRateLimit: 50 });
  });

  it('documents every setting in the README config reference, exactly as generated from the spec', () => {
    const readme = require('node:fs').readFileSync(require('node:path').join(__dirname, '../../README.md'), 'utf8') as string;
    const table = configReferenceTable();
    for (const key of CONFIG_KEYS) expect(table).toContain(`| \`${key}\` |`);
    // On a mismatch, paste the output of: npx tsx -e "console.log(require('./lib/config-docs').configReferenceTable())"
    expect(readme).toContain(table);
  });
});

describe('poll run budget', () => {
  it('reserves the slowest in-flight poll before the poller timeout', () => {
    const { pollRunReserveMs } = jest.requireActual('../../lambdas/config/config') as typeof import('../../lambdas/config/config');
    expect(pollRunReserveMs(resolveConfig())).toBe(3 * (3 * 5_000 + 2 * 10_000) + 5_000);
    expect(() => resolveConfig({ pollerTimeoutSeconds: 45 })).toThrow(/leaves under 10 s to poll/);
    expect(() => resolveConfig({ pollerTimeoutSeconds: 45, makiniMaxAttempts: 1, makiniRequestTimeoutMs: 2_000 })).not.toThrow();
  });
});
