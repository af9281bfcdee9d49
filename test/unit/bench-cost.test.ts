/** The fixed-cost model of `npm run bench -- fixed` (bench/cost.ts): its inputs are counted, its arithmetic is checked here. */
import { emfMetrics, FIXED_BUDGET_USD, FIXED_TARGET_USD, fixedMonthly, fixedRows, perConnectionMonthly, PRICES, tokenKmsMonthly, type FixedInputs } from '../../bench/cost';
import type { Row } from '../../bench/rows';

const emfLine = (metrics: Record<string, number>, dimensions: Record<string, string>) =>
  JSON.stringify({ _aws: { Timestamp: 1, CloudWatchMetrics: [{ Namespace: 'MakiniWebhooks', Dimensions: [Object.keys(dimensions)], Metrics: Object.keys(metrics).map((Name) => ({ Name, Unit: 'Count' })) }] }, ...dimensions, ...metrics });

const inputs: FixedInputs = {
  alarms: 19,
  alarmMetrics: 21,
  dashboards: 1,
  kmsKeys: 1,
  stackSecrets: 1,
  sqsEventSourceMappings: 2,
  pollRunMetrics: ['MakiniWebhooks/ConnectionsPolled{service=poller}'],
  webhookMetrics: ['MakiniWebhooks/WebhookReceived{service=receiver}', 'MakiniWebhooks/WebhookProcessed{service=consumer}'],
  pollIntervalMinutes: 5,
  pollerMemoryGb: 0.5,
  pollerSecondsPerConnection: 0.003,
  tokenTable: { itemBytes: 1_200, rruPerConnectionRun: 0.3, wruPerWrite: 2, connections: 1_000, kmsCalls: 2 },
  tokenRefreshDays: 23,
};

const rowsWith = (overrides: Partial<FixedInputs>) => {
  const rows: Row[] = [];
  fixedRows(rows, { ...inputs, ...overrides });
  return Object.fromEntries(rows.map((r) => [r.metric, r]));
};

describe('the fixed-cost model', () => {
  it('counts each metric name and dimension set once, however often it is emitted, and ignores lines that are not EMF', () => {
    const output = [emfLine({ WebhookReceived: 1 }, { service: 'receiver' }), 'a log line', emfLine({ WebhookReceived: 1 }, { service: 'receiver' }), emfLine({ WebhookProcessed: 3, StaleEvent: 1 }, { service: 'consumer' })].join('\n');
    expect(emfMetrics(output)).toEqual(['MakiniWebhooks/StaleEvent{service=consumer}', 'MakiniWebhooks/WebhookProcessed{service=consumer}', 'MakiniWebhooks/WebhookReceived{service=receiver}']);
  });

  it('prices alarms per metric they evaluate, metrics per name, secrets with the system credentials', () => {
    const lines = Object.fromEntries(fixedMonthly(inputs).map((l) => [l.item, l.usd]));
    expect(lines.alarms).toBeCloseTo(21 * PRICES.alarmMetricMonth.usd);
    expect(lines['custom metrics']).toBeCloseTo(3 * PRICES.customMetricMonth.usd);
    expect(lines.secrets).toBeCloseTo(2 * PRICES.secretMonth.usd);
    expect(lines.dashboard).toBe(PRICES.dashboardMonth.usd);
    expect(lines['KMS key (alarm and notification topics)']).toBe(PRICES.kmsKeyMonth.usd);
    expect(lines['event archive']).toBe(0);
  });

  it('adds the token item (reads, storage, write-backs, KMS) per connection in per-connection mode, and the secret with tokenStore=secrets-manager', () => {
    const { system, perConnection, perConnectionSecrets } = perConnectionMonthly(inputs);
    const sum = (lines: { usd: number }[]) => lines.reduce((n, l) => n + l.usd, 0);
    // 8,640 runs a month: 1 RRU and 1 WRU per run, and 3 ms at 512 MB.
    expect(sum(system)).toBeCloseTo(8_640 * (0.125 + 0.625) / 1e6 + 8_640 * 0.003 * 0.5 * PRICES.lambdaArmGbSecond.usd, 6);
    const table = Object.fromEntries(perConnection.slice(system.length).map((l) => [l.item, l.usd]));
    expect(table['token item reads']).toBeCloseTo((8_640 * 0.3 * 0.125) / 1e6, 9);
    expect(table['token item storage + PITR']).toBeCloseTo((1_200 / 1024 ** 3) * (0.25 + 0.2), 9);
    expect(table['token write-backs']).toBeCloseTo(((30 / 23) * 2 * 0.625) / 1e6, 12);
    // KMS requests do not grow with the connections: a fixed cost of the mode, its own row.
    expect(table['KMS requests']).toBe(0);
    expect(tokenKmsMonthly(inputs)).toBeCloseTo(8_640 * 2 * (0.03 / 10_000), 9);
    expect(sum(perConnection) - sum(system)).toBeLessThan(0.002);
    expect(sum(perConnectionSecrets) - sum(system)).toBeCloseTo(PRICES.secretMonth.usd + (8_640 / 20) * (PRICES.secretsApiPer10k.usd / 10_000), 6);
  });

  it('puts per-connection mode (the table) beside the $0.01 target, and the secrets store beside none', () => {
    const rows: Row[] = [];
    fixedRows(rows, inputs);
    const byMetric = Object.fromEntries(rows.map((r) => [r.metric, r]));
    expect(byMetric['cost per connection per month, per-connection mode (tokens in the table, the default)']).toMatchObject({ target: '≤ $0.01', met: true });
    expect(byMetric['cost per connection per month, per-connection mode with tokenStore=secrets-manager (for comparison, no target)']).toMatchObject({ target: undefined, met: undefined });
    const kms = byMetric['fixed per month in per-connection mode (tokens in the table), whatever its connections: KMS requests'];
    expect([kms?.value, kms?.target]).toEqual([0.052, undefined]);
    expect(rowsWith({ tokenTable: { ...inputs.tokenTable, rruPerConnectionRun: 10 } })['cost per connection per month, per-connection mode (tokens in the table, the default)'].met).toBe(false);
  });

  it('gives every fixed line a budget, and the budgets add up to no more than the $5 target', () => {
    expect(fixedMonthly(inputs).map((l) => l.item).sort()).toEqual(Object.keys(FIXED_BUDGET_USD).sort());
    expect(Object.values(FIXED_BUDGET_USD).reduce((n, b) => n + b, 0)).toBeLessThanOrEqual(FIXED_TARGET_USD + 1e-9);
  });

  it('shows each fixed line beside its budget, and the total beside $5', () => {
    const rowsOf = (overrides: Partial<FixedInputs>) => {
      const rows: Row[] = [];
      fixedRows(rows, { ...inputs, ...overrides });
      return Object.fromEntries(rows.map((r) => [r.metric, r]));
    };
    const withDashboard = rowsOf({ dashboards: 1, alarmMetrics: 11 });
    expect(withDashboard['fixed per month: dashboard']).toMatchObject({ value: 3, target: '≤ $0.00', met: false });
    expect(withDashboard['fixed per month: alarms']).toMatchObject({ value: 1.1, target: '≤ $1.10', met: true });
    const lean = rowsOf({ dashboards: 0, alarmMetrics: 11, sqsEventSourceMappings: 1, webhookMetrics: [...inputs.webhookMetrics, 'a', 'b', 'c'] });
    expect(lean['fixed per month: dashboard']).toMatchObject({ value: 0, met: true, baseline: expect.stringContaining('opt-in') });
    expect(lean['fixed per month: alarms']).toMatchObject({ met: true });
    expect(lean['fixed per month: custom metrics']).toMatchObject({ value: 1.8, target: '≤ $1.80', met: true });
    const total = lean['fixed cost per month, us-east-1 (default configuration, system mode, no connection)'];
    expect(total).toMatchObject({ target: '≤ $5', met: true });
    expect(total.value).toBeCloseTo(1 + 1.1 + 0.8 + 1.8 + 0.02 + 0.26, 2);
    expect(rowsOf({ dashboards: 0, alarmMetrics: 12 })['fixed per month: alarms']).toMatchObject({ value: 1.2, met: false });
    // Each SQS event-source mapping long-polls its queue all month: a second one (as the poll shard queue had until 2026-12-02) costs its own.
    const twoQueues = rowsOf({ dashboards: 0, alarmMetrics: 11, sqsEventSourceMappings: 2, webhookMetrics: [...inputs.webhookMetrics, 'a', 'b', 'c'] });
    expect(twoQueues['fixed per month: idle queue polling'].value).toBeCloseTo(2 * lean['fixed per month: idle queue polling'].value, 3);
    expect(twoQueues['fixed cost per month, us-east-1 (default configuration, system mode, no connection)']).toMatchObject({ met: false });
  });
});
