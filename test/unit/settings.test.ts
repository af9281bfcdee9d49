import { readFileSync } from 'node:fs';
import { resolveConfig } from '../../lambdas/config/config';
import { configOf, settingsOf } from '../../lib/settings';
import { SETTINGS_FILE, settingsSource } from '../../scripts/generate-settings';

describe('MakiniWebhookSettings (lib/settings.ts)', () => {
  it('is what scripts/generate-settings.ts generates from the config and its docs (run it after changing either)', () => {
    expect(readFileSync(SETTINGS_FILE, 'utf8')).toBe(settingsSource());
  });

  it('round-trips a resolved config unchanged', () => {
    const config = resolveConfig({ signatureScheme: 'standard-webhooks', maxReceiveCount: 7 });
    expect(configOf(settingsOf(config))).toEqual(config);
  });

  it('reports every invalid setting in one ConfigError', () => {
    expect(() => configOf({ signatureScheme: 'nope', maxReceiveCount: -1 })).toThrow(/signatureScheme[\s\S]*maxReceiveCount|maxReceiveCount[\s\S]*signatureScheme/);
  });
});
