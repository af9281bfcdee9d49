/** The log part of the per-million cost model (bench/cost.ts): Lambda's own lines by level, and the ≤ 200 B row. */
import { accessLogLineBytes, ASSUMPTIONS, costPerMillion, costRows, platformLogBytes, PRICES, type CostInputs } from '../../bench/cost';
import type { Row } from '../../bench/rows';
import { accessLogFormat } from '../../lib/makini-webhook-ingestion';

const inputs: CostInputs = {
  sqsRequests: 1.2,
  busEvents: 1,
  wru: 4,
  rru: 1,
  receiverMs: 5,
  consumerInvocations: 0.1,
  consumerMs: 5,
  receiverLogBytes: 10,
  consumerLogBytes: 20,
  accessLogBytes: 120,
  platformLogBytes: 0,
  webhookItemBytes: 800,
};

describe('log bytes in the cost model', () => {
  it("counts Lambda's START/END/REPORT lines only at platformLogLevel INFO or DEBUG", () => {
    expect(platformLogBytes('WARN')).toBe(0);
    expect(platformLogBytes('INFO')).toBe(ASSUMPTIONS.lambdaPlatformLogBytes);
    expect(platformLogBytes('DEBUG')).toBe(ASSUMPTIONS.lambdaPlatformLogBytes);
  });

  it('charges the platform lines per invocation: one receiver and a share of a consumer batch per webhook', () => {
    const logs = (platform: number) => costPerMillion({ ...inputs, platformLogBytes: platform }, { tracing: false }).find((l) => l.item === 'CloudWatch Logs')!.usd;
    const perByte = (1e6 / 1024 ** 3) * (PRICES.logsIngestGb.usd + PRICES.logsStorageGbMonth.usd);
    expect(logs(0)).toBeCloseTo(150 * perByte, 9);
    expect(logs(330) - logs(0)).toBeCloseTo(330 * 1.1 * perByte, 9);
  });

  it('reports the bytes per webhook beside the 200 B target, and misses it when a line per webhook comes back', () => {
    const row = (over: Partial<CostInputs>) => {
      const rows: Row[] = [];
      costRows(rows, { ...inputs, ...over });
      return rows.find((r) => r.metric.startsWith('log bytes per webhook'))!;
    };
    expect(row({})).toMatchObject({ value: 150, met: true });
    expect(row({ receiverLogBytes: 60 })).toMatchObject({ value: 200, met: true });
    expect(row({ receiverLogBytes: 61 })).toMatchObject({ value: 201, met: false });
    expect(row({ platformLogBytes: 330 })).toMatchObject({ value: 513, met: false });
  });

  it("prices the stack's own access log format, which stays within its share of the budget", () => {
    const bytes = accessLogLineBytes(accessLogFormat().toString());
    expect(bytes).toBeGreaterThan(80);
    expect(bytes).toBeLessThanOrEqual(150);
  });
});
