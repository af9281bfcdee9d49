import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { computeStatistic, EmfFormatError, MetricStore, parseEmf, parseStatistic, type MetricDatum } from '../../local/aws/cloudwatch-metrics';
import { captureOutput } from '../support/capture-output';

const T = Date.parse('2026-12-01T10:00:00Z');
const emf = (root: Record<string, unknown>, directive: Record<string, unknown>, timestamp: unknown = T) => JSON.stringify({ _aws: { Timestamp: timestamp, CloudWatchMetrics: [directive] }, ...root });

describe('parseEmf', () => {
  it('reads what Powertools Metrics prints: one datum per metric, the service dimension, every sample of a repeated metric', async () => {
    const metrics = new Metrics({ namespace: 'MakiniWebhooks', serviceName: 'receiver' });
    const { output } = await captureOutput(async () => {
      metrics.addMetric('WebhookReceived', MetricUnit.Count, 1);
      metrics.addMetric('WebhookReceived', MetricUnit.Count, 1);
      metrics.addMetric('SignatureRejected', MetricUnit.Count, 0);
      metrics.publishStoredMetrics();
    });
    const data = output.split('\n').flatMap((line) => parseEmf(line));
    expect(data).toEqual([
      { namespace: 'MakiniWebhooks', name: 'WebhookReceived', dimensions: { service: 'receiver' }, timestamp: expect.any(Number), values: [1, 1], unit: 'Count' },
      { namespace: 'MakiniWebhooks', name: 'SignatureRejected', dimensions: { service: 'receiver' }, timestamp: expect.any(Number), values: [0], unit: 'Count' },
    ]);
  });

  it("reads Powertools' cold-start metric with both its dimensions, service and function_name", async () => {
    // Powertools counts a cold start only where Lambda says the environment started on demand.
    process.env.AWS_LAMBDA_INITIALIZATION_TYPE = 'on-demand';
    const metrics = new Metrics({ namespace: 'MakiniWebhooks', serviceName: 'poller' });
    delete process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
    const { output } = await captureOutput(async () => metrics.captureColdStartMetric('makini-poller'));
    const data = output.split('\n').flatMap((line) => parseEmf(line));
    expect(data).toEqual([expect.objectContaining({ name: 'ColdStart', dimensions: { service: 'poller', function_name: 'makini-poller' }, values: [1] })]);
  });

  it('gives one datum per dimension set, and none of the dimensions for an empty set', () => {
    const line = emf({ service: 'consumer', stage: 'local', M: [2, 3] }, { Namespace: 'N', Dimensions: [['service'], ['service', 'stage'], []], Metrics: [{ Name: 'M' }] });
    expect(parseEmf(line).map((d) => d.dimensions)).toEqual([{ service: 'consumer' }, { service: 'consumer', stage: 'local' }, {}]);
    expect(parseEmf(line)[0]).toMatchObject({ timestamp: T, values: [2, 3], unit: 'None' });
  });

  it('reads every directive of a line', () => {
    const line = JSON.stringify({
      _aws: { Timestamp: T, CloudWatchMetrics: [{ Namespace: 'A', Dimensions: [[]], Metrics: [{ Name: 'X', Unit: 'Count' }] }, { Namespace: 'B', Dimensions: [[]], Metrics: [{ Name: 'X', Unit: 'Count' }] }] },
      X: 4,
    });
    expect(parseEmf(line).map((d) => `${d.namespace}/${d.name}=${d.values}`)).toEqual(['A/X=4', 'B/X=4']);
  });

  it.each([
    ['a plain log line', 'START RequestId: 1f0e Version: $LATEST'],
    ['a JSON log line', JSON.stringify({ level: 'INFO', message: 'webhook accepted', service: 'receiver' })],
    ['broken JSON that mentions _aws', '{"_aws": {'],
    ['an _aws object without CloudWatchMetrics', JSON.stringify({ _aws: { Timestamp: T }, message: 'x' })],
    ['an empty line', ''],
  ])('gives no datum for %s', (_, line) => {
    expect(parseEmf(line)).toEqual([]);
  });

  it.each([
    ['no timestamp', JSON.stringify({ _aws: { CloudWatchMetrics: [{ Namespace: 'N', Dimensions: [[]], Metrics: [{ Name: 'M' }] }] }, M: 1 }), /Timestamp/],
    ['a timestamp that is not a number', emf({ M: 1 }, { Namespace: 'N', Dimensions: [[]], Metrics: [{ Name: 'M' }] }, '2026-12-01T10:00:00Z'), /Timestamp/],
    ['a dimension that is not in the object', emf({ M: 1 }, { Namespace: 'N', Dimensions: [['service']], Metrics: [{ Name: 'M' }] }), /dimension "service"/],
    ['a dimension that is not a string', emf({ M: 1, service: 3 }, { Namespace: 'N', Dimensions: [['service']], Metrics: [{ Name: 'M' }] }), /dimension "service"/],
    ['a value that is not a number', emf({ M: 'one' }, { Namespace: 'N', Dimensions: [[]], Metrics: [{ Name: 'M' }] }), /metric "M"/],
    ['a metric with no value', emf({}, { Namespace: 'N', Dimensions: [[]], Metrics: [{ Name: 'M' }] }), /metric "M"/],
    ['no namespace', emf({ M: 1 }, { Dimensions: [[]], Metrics: [{ Name: 'M' }] }), /Namespace/],
    ['dimensions that are not arrays of names', emf({ M: 1 }, { Namespace: 'N', Dimensions: ['service'], Metrics: [{ Name: 'M' }] }), /Dimensions/],
  ])('refuses EMF with %s, saying what is wrong', (_, line, message) => {
    expect(() => parseEmf(line)).toThrow(EmfFormatError);
    expect(() => parseEmf(line)).toThrow(message);
  });
});

describe('statistics', () => {
  const values = [4, 1, 3, 2, 10];
  it.each([
    ['Sum', 20],
    ['Average', 4],
    ['Minimum', 1],
    ['Maximum', 10],
    ['SampleCount', 5],
    ['p50', 3],
    ['p80', 4],
    ['p99', 10],
    ['p100', 10],
  ] as const)('%s of 4, 1, 3, 2, 10 is %d', (statistic, expected) => {
    expect(computeStatistic(values, parseStatistic(statistic)!)).toBe(expected);
  });

  it('has no value without samples (a missing datapoint, not 0)', () => {
    expect(computeStatistic([], 'Sum')).toBeUndefined();
  });

  it('knows the statistics CloudWatch alarms take, and refuses the others', () => {
    expect(['Sum', 'Average', 'Minimum', 'Maximum', 'SampleCount', 'p99', 'p99.9', 'p0.5'].map(parseStatistic)).not.toContain(undefined);
    expect(['sum', 'tm90', 'p0', 'p101', 'IQM', ''].map(parseStatistic)).toEqual([undefined, undefined, undefined, undefined, undefined, undefined]);
  });
});

describe('MetricStore', () => {
  const metric = { namespace: 'MakiniWebhooks', name: 'PollFailed', dimensions: { service: 'poller' } };
  const datum = (timestamp: number, values: number[], overrides: Partial<MetricDatum> = {}): MetricDatum => ({ ...metric, timestamp, values, ...overrides });

  it('answers a statistic over [start, end): the start is in, the end is out', () => {
    const store = new MetricStore();
    store.put([datum(T, [1]), datum(T + 30_000, [2, 3]), datum(T + 60_000, [100])]);
    expect(store.query(metric, 'Sum', T, T + 60_000)).toBe(6);
    expect(store.query(metric, 'SampleCount', T, T + 60_000)).toBe(3);
    expect(store.query(metric, 'Maximum', T + 1, T + 60_001)).toBe(100);
    expect(store.query(metric, 'Sum', T + 60_001, T + 120_000)).toBeUndefined();
  });

  it('finds a metric only by its exact dimension set, in any key order', () => {
    const store = new MetricStore();
    store.put(datum(T, [1], { dimensions: { service: 'poller', function_name: 'fn' } }));
    expect(store.query(metric, 'Sum', T, T + 1)).toBeUndefined();
    expect(store.query({ ...metric, dimensions: { function_name: 'fn', service: 'poller' } }, 'Sum', T, T + 1)).toBe(1);
    expect(store.query({ ...metric, namespace: 'Other' }, 'Sum', T, T + 1)).toBeUndefined();
  });

  it('keeps datapoints that arrive out of order in time order', () => {
    const store = new MetricStore();
    store.put([datum(T + 2000, [3]), datum(T, [1]), datum(T + 1000, [2])]);
    expect(store.samples(metric, T, T + 3000)).toEqual([1, 2, 3]);
    expect(store.query(metric, 'Sum', T + 500, T + 1500)).toBe(2);
  });

  it('counts only samples of the asked unit when a unit is given (no unit is None)', () => {
    const store = new MetricStore();
    store.put([datum(T, [1], { unit: 'Count' }), datum(T, [1000], { unit: 'Milliseconds' }), datum(T, [7])]);
    expect(store.query(metric, 'Sum', T, T + 1, 'Count')).toBe(1);
    expect(store.query(metric, 'Sum', T, T + 1, 'None')).toBe(7);
    expect(store.query(metric, 'Sum', T, T + 1)).toBe(1008);
  });

  it('forgets datapoints older than a time, so its memory stays bounded', () => {
    const store = new MetricStore();
    for (let i = 0; i < 100; i++) store.put(datum(T + i * 1000, [1, 1]));
    expect(store.size).toBe(200);
    store.dropBefore(T + 90_000);
    expect(store.size).toBe(20);
    expect(store.query(metric, 'SampleCount', 0, T + 1_000_000)).toBe(20);
    store.dropBefore(T + 1_000_000);
    expect(store.size).toBe(0);
    expect(store.metrics()).toEqual([]);
  });

  it('keeps samples at its resolution, 1 second by default as in CloudWatch: a sample counts at its bucket start', () => {
    const coarse = new MetricStore();
    const fine = new MetricStore({ resolutionMs: 1000 / 60 });
    for (const store of [coarse, fine]) store.put([datum(T + 999, [1]), datum(T + 10, [2]), datum(T + 999, [3])]);
    expect(coarse.query(metric, 'Sum', T, T + 1)).toBe(6);
    expect(coarse.query(metric, 'Sum', T + 1, T + 1000)).toBeUndefined();
    expect(fine.query(metric, 'Sum', T, T + 1)).toBe(2);
    expect(fine.query(metric, 'Sum', T + 500, T + 1000)).toBe(4);
    expect(() => new MetricStore({ resolutionMs: 0 })).toThrow(/resolutionMs/);
  });

  it('lists the metrics it holds', () => {
    const store = new MetricStore();
    store.put([datum(T, [1]), datum(T, [1], { name: 'ConnectionsPolled' }), datum(T + 1, [1])]);
    expect(store.metrics().map((m) => m.name)).toEqual(['PollFailed', 'ConnectionsPolled']);
  });

  it('refuses a datum without a usable time or value', () => {
    const store = new MetricStore();
    expect(() => store.put(datum(Number.NaN, [1]))).toThrow(/timestamp/);
    expect(() => store.put(datum(T, [Number.POSITIVE_INFINITY]))).toThrow(/finite/);
  });
});
