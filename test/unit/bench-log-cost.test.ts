/** The log part of the per-million cost model (bench/cost.ts): Lambda's own lines by level, and the ≤ 200 B row. */
import { accessLogLineBytes, ASSUMPTIONS, costPerMillion, costRows, phaseUnits, platformLogBytes, PRICES, type CostInputs } from '../../bench/cost';
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

describe('write and read units of a bench phase', () => {
  const units = new Map([
    ['WEBHOOK', { wru: 2, rru: 1 }],
    ['STATE', { wru: 1, rru: 1 }],
  ]);

  it('prices each single-item call at its kind of item, GetItem as a read, and adds one index entry per new webhook item', () => {
    const phase = phaseUnits({ 'UpdateItem WEBHOOK': 20, 'PutItem STATE': 9, 'GetItem STATE': 9 }, units, 10);
    expect(phase.wru).toBe(20 * 2 + 9 + 10);
    expect(phase.rru).toBe(9);
    expect(phase.byCall).toEqual(['UpdateItem WEBHOOK 20 × 2 WRU', 'PutItem STATE 9 × 1 WRU', 'GetItem STATE 9 × 1 RRU']);
  });

  it('prices a kind of item it has no size for at 1 unit, and duplicates without index entries', () => {
    expect(phaseUnits({ 'PutItem GENERATION': 3, 'GetItem GENERATION': 4 }, units, 0)).toMatchObject({ wru: 3, rru: 4 });
  });
});

describe('the cost of other traffic', () => {
  it('adds a total for comparison, naming only the lines that differ from the priced traffic', () => {
    const rows: Row[] = [];
    costRows(rows, inputs, 'Makini notifications of 1000 B', [
      { label: 'events with an id', inputs: { ...inputs, wru: 2 } },
      { label: 'the same', inputs },
    ]);
    const total = rows.find((r) => r.metric.startsWith('cost per million Makini notifications of 1000 B'))!;
    const other = rows.find((r) => r.metric.startsWith('cost per million events with an id'))!;
    expect(total).toMatchObject({ target: '≤ $4.50' });
    expect(other.target).toBeUndefined();
    expect(Number(total.value) - Number(other.value)).toBeCloseTo(2 * PRICES.dynamoWruPerMillion.usd, 3);
    expect(other.baseline).toBe('DynamoDB writes $1.25 (2 WRU per webhook)');
    expect(rows.find((r) => r.metric.startsWith('cost per million the same'))!.baseline).toBe('every line as above');
  });
});

describe('the archive line', () => {
  it('prices the measured size of a bus event, and says when the size is the assumed one', () => {
    const archive = (over: Partial<CostInputs>) => costPerMillion({ ...inputs, ...over }, { tracing: false }).find((l) => l.item === 'EventBridge archive')!;
    expect(archive({}).basis).toBe(`${ASSUMPTIONS.busEventBytes} B per event (assumed), kept 30 days`);
    expect(archive({ busEventBytes: 2_400 }).basis).toBe('2400 B per event (measured), kept 30 days');
    expect(archive({ busEventBytes: 2_400 }).usd).toBeCloseTo(2 * archive({ busEventBytes: 1_200 }).usd, 9);
  });
});
