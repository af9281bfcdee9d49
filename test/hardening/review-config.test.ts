/**
 * Review of issue 12: `signatureHeader` was renamed to `signatureHeaders`. resolveConfig points an
 * old name at the new one (RENAMED), but configFromContext / configFromEnv only ever pass the
 * current keys, so a deployment's old setting is silently dropped and the default headers apply.
 */
import { ConfigError, configFromContext, configFromEnv } from '../../lambdas/config/config';

describe('adversarial review: the renamed signatureHeader setting', () => {
  it('rejects the old context key (cdk.json / -c signatureHeader=…) with a pointer instead of silently using the default headers', () => {
    const context: Record<string, unknown> = { signatureHeader: 'x-acme-signature' };
    expect(() => configFromContext((key) => context[key])).toThrow(ConfigError);
  });

  it('rejects the old environment variable MAKINI_SIGNATURE_HEADER instead of silently using the default headers', () => {
    expect(() => configFromEnv({ MAKINI_SIGNATURE_HEADER: 'x-acme-signature' })).toThrow(/signatureHeaders/);
  });
});
