/**
 * The functions' log settings (issue 17: ≤ 200 B of logs per webhook): JSON logs, Lambda's own
 * START/END/REPORT lines at `platformLogLevel`, and Lambda's application filter never above INFO,
 * because EMF lines carry no level and Lambda reads them as INFO (a WARN filter would drop every metric).
 */
import { Template } from 'aws-cdk-lib/assertions';
import type { MakiniWebhookConfig } from '../../lambdas/config/config';
import { MakiniWebhookStack } from '../../lib/makini-webhook-stack';
import { settingsOf } from '../../lib/settings';
import { cdkApp } from '../support/cdk-app';

function loggingConfigs(input: Partial<MakiniWebhookConfig>): unknown[] {
  const stack = new MakiniWebhookStack(cdkApp({ bundle: false }), 'LoggingStack', { config: settingsOf(input) });
  const functions = Object.values(Template.fromStack(stack).findResources('AWS::Lambda::Function')).filter((f) => f.Properties.Handler === 'index.handler');
  expect(functions).toHaveLength(3);
  return functions.map((f) => f.Properties.LoggingConfig);
}

describe('function log settings', () => {
  it('by default: JSON, platform lines only for failures (WARN), application filter at INFO', () => {
    for (const logging of loggingConfigs({})) {
      expect(logging).toMatchObject({ LogFormat: 'JSON', SystemLogLevel: 'WARN', ApplicationLogLevel: 'INFO' });
    }
  });

  it('platformLogLevel INFO brings back the REPORT lines', () => {
    for (const logging of loggingConfigs({ platformLogLevel: 'INFO' })) expect(logging).toMatchObject({ SystemLogLevel: 'INFO' });
  });

  it.each([
    ['DEBUG', 'DEBUG'],
    ['INFO', 'INFO'],
    ['WARN', 'INFO'],
    ['ERROR', 'INFO'],
  ] as const)('logLevel %s: Lambda filters application lines at %s (Powertools filters the rest)', (logLevel, expected) => {
    for (const logging of loggingConfigs({ logLevel })) expect(logging).toMatchObject({ ApplicationLogLevel: expected });
  });
});
