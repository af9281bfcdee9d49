import { AlarmDefinitionError, AlarmEvaluator, alarmFromTemplate, alarmNotification, type AlarmDefinition, type AlarmState } from '../../local/aws/cloudwatch-alarms';
import { MetricStore, type MetricId } from '../../local/aws/cloudwatch-metrics';

const TOPIC = 'arn:aws:sns:us-east-1:000000000000:alarms';
const T = Date.parse('2026-12-01T10:00:00Z');
const POLL_FAILED: MetricId = { namespace: 'MakiniWebhooks', name: 'PollFailed', dimensions: { service: 'poller' } };

/** Properties as CDK synthesizes them for `new cloudwatch.Alarm(…)` on an EMF metric. */
const props = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  AlarmActions: [TOPIC],
  OKActions: [TOPIC],
  AlarmDescription: 'Polls failed. Runbook: docs/runbooks.md#poll-failed',
  ComparisonOperator: 'GreaterThanThreshold',
  DatapointsToAlarm: 1,
  Dimensions: [{ Name: 'service', Value: 'poller' }],
  EvaluationPeriods: 1,
  MetricName: 'PollFailed',
  Namespace: 'MakiniWebhooks',
  Period: 300,
  Statistic: 'Sum',
  Threshold: 0,
  TreatMissingData: 'notBreaching',
  ...overrides,
});
const alarm = (overrides: Record<string, unknown> = {}) => alarmFromTemplate('PollFailedAlarm', props(overrides));
const problemsOf = (properties: unknown) => {
  try {
    alarmFromTemplate('Broken', properties);
  } catch (error) {
    expect(error).toBeInstanceOf(AlarmDefinitionError);
    return (error as AlarmDefinitionError).problems;
  }
  throw new Error('expected an AlarmDefinitionError');
};

/** Puts one datapoint per character of `pattern` (oldest first) in the periods ending at `now`: X breaches (1), 0 does not (0), - is missing. */
function putPattern(store: MetricStore, pattern: string, now: number, periodMs: number, metric: MetricId = POLL_FAILED, values = { X: 1, '0': 0 }) {
  const points = pattern.split(' ');
  points.forEach((p, k) => {
    if (p === '-') return;
    store.put({ ...metric, timestamp: now - (points.length - k) * periodMs + periodMs / 2, values: [values[p as 'X' | '0']] });
  });
}

describe('alarmFromTemplate', () => {
  it('reads what CDK synthesizes for an alarm on one metric', () => {
    expect(alarm()).toEqual({
      logicalId: 'PollFailedAlarm',
      alarmName: 'PollFailedAlarm',
      description: 'Polls failed. Runbook: docs/runbooks.md#poll-failed',
      metric: { kind: 'metric', stat: { metric: POLL_FAILED, periodSeconds: 300, stat: 'Sum' }, extended: false },
      periodSeconds: 300,
      evaluationPeriods: 1,
      datapointsToAlarm: 1,
      threshold: 0,
      comparison: 'GreaterThanThreshold',
      treatMissingData: 'notBreaching',
      actionsEnabled: true,
      alarmActions: [TOPIC],
      okActions: [TOPIC],
      insufficientDataActions: [],
    });
  });

  it("applies CloudWatch's defaults: DatapointsToAlarm is EvaluationPeriods, missing data is 'missing', actions are enabled", () => {
    const definition = alarmFromTemplate('A', props({ DatapointsToAlarm: undefined, TreatMissingData: undefined, EvaluationPeriods: 3 }), { stackName: 'Makini' });
    expect(definition).toMatchObject({ alarmName: 'Makini-A', datapointsToAlarm: 3, treatMissingData: 'missing', actionsEnabled: true });
    expect(alarmFromTemplate('A', props({ AlarmName: 'poll-failed' }), { stackName: 'Makini' }).alarmName).toBe('poll-failed');
  });

  it('accepts numbers and booleans written as strings, as CloudFormation does', () => {
    expect(alarm({ Period: '60', Threshold: '2.5', EvaluationPeriods: '3', DatapointsToAlarm: '2', ActionsEnabled: 'false' })).toMatchObject({ periodSeconds: 60, threshold: 2.5, evaluationPeriods: 3, datapointsToAlarm: 2, actionsEnabled: false });
  });

  it('reads an ExtendedStatistic percentile and the low-sample-count setting', () => {
    expect(alarm({ Statistic: undefined, ExtendedStatistic: 'p99', EvaluateLowSampleCountPercentile: 'ignore' })).toMatchObject({ metric: { stat: { stat: 'p99' }, extended: true }, evaluateLowSampleCountPercentile: 'ignore' });
  });

  it('lists every problem of an alarm in one error', () => {
    const problems = problemsOf(props({ Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['Queue', 'QueueName'] } }], Period: 45, DatapointsToAlarm: 3, Color: 'red' }));
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^Dimensions\[0\]\.Value is an unresolved intrinsic \(Fn::GetAtt\)/),
        expect.stringMatching(/^Period must be 10, 20, 30 or a multiple of 60 seconds, got 45/),
        expect.stringMatching(/^DatapointsToAlarm \(3\) must not exceed EvaluationPeriods \(1\)/),
        'unknown property Color',
      ]),
    );
    expect(() => alarmFromTemplate('Broken', props({ Color: 'red' }))).toThrow('alarm Broken: unknown property Color');
  });

  it.each([
    ['anomaly detection', { ThresholdMetricId: 'ad1', ComparisonOperator: 'LessThanLowerOrGreaterThanUpperThreshold' }, /ThresholdMetricId .* not supported/],
    ['an anomaly band comparison', { ComparisonOperator: 'GreaterThanUpperThreshold' }, /GreaterThanUpperThreshold \(anomaly detection\) is not supported/],
    ['a comparison CloudWatch does not have', { ComparisonOperator: 'Above' }, /not a CloudWatch comparison operator/],
    ['a trimmed mean', { Statistic: undefined, ExtendedStatistic: 'tm90' }, /ExtendedStatistic "tm90" is not supported/],
    ['a percentile given as Statistic', { Statistic: 'p99' }, /use ExtendedStatistic/],
    ['both Statistic and ExtendedStatistic', { ExtendedStatistic: 'p99' }, /not both/],
    ['no statistic', { Statistic: undefined }, /Statistic or ExtendedStatistic is required/],
    ['no threshold', { Threshold: undefined }, /Threshold is required/],
    ['an unknown missing-data treatment', { TreatMissingData: 'zero' }, /TreatMissingData "zero" is not supported/],
    ['an evaluation range over one day', { Period: 600, EvaluationPeriods: 200, DatapointsToAlarm: 1 }, /exceeds one day/],
    ['an unresolved Ref among the actions', { AlarmActions: [{ Ref: 'AlarmTopic' }] }, /AlarmActions\[0\] is an unresolved intrinsic \(Ref\)/],
  ])('refuses %s, saying so', (_, overrides, message) => {
    expect(problemsOf(props(overrides)).join('\n')).toMatch(message);
  });

  describe('metric math', () => {
    const stat = (id: string, name: string, extra: Record<string, unknown> = {}) => ({ Id: id, MetricStat: { Metric: { Namespace: 'AWS/Lambda', MetricName: name, Dimensions: [{ Name: 'FunctionName', Value: 'receiver' }] }, Period: 300, Stat: 'Sum' }, ReturnData: false, ...extra });
    const math = (expression: string, overrides: Record<string, unknown> = {}) =>
      props({ MetricName: undefined, Namespace: undefined, Dimensions: undefined, Statistic: undefined, Period: undefined, Metrics: [stat('errors', 'Errors'), stat('calls', 'Invocations'), { Id: 'rate', Expression: expression, Label: 'Error rate', ReturnData: true }], ...overrides });

    it('reads MetricStat entries and the one expression that returns data', () => {
      expect(alarmFromTemplate('ErrorRate', math('100 * errors / calls'))).toMatchObject({
        periodSeconds: 300,
        metric: { kind: 'math', returnId: 'rate', queries: [{ id: 'errors', returnData: false, metricStat: { periodSeconds: 300, stat: 'Sum' } }, { id: 'calls' }, { id: 'rate', expression: '100 * errors / calls', label: 'Error rate', returnData: true }] },
      });
    });

    it.each([
      ['a function not supported here', 'RATE(errors)', /function RATE is not supported locally/],
      ['an expression giving one number', 'SUM(errors)', /returns a single number; an alarm needs one time series/],
      ['an expression giving several series', '[errors, calls]', /returns several time series/],
      ['an unknown id', 'errors / invocations', /unknown Id invocations/],
      ['a syntax error', 'errors / (calls', /expected \)/],
      ['FILL with LINEAR', 'FILL(errors, LINEAR)', /LINEAR\) is not supported/],
    ])('refuses %s', (_, expression, message) => {
      expect(problemsOf(math(expression)).join('\n')).toMatch(message);
    });

    it('refuses expressions that refer to themselves, two results, mixed periods and cross-account metrics', () => {
      expect(problemsOf(math('rate + 1')).join('\n')).toMatch(/refers to itself/);
      expect(problemsOf(math('errors', { Metrics: [stat('errors', 'Errors', { ReturnData: true }), { Id: 'rate', Expression: 'errors', ReturnData: true }] })).join('\n')).toMatch(/exactly one entry must have ReturnData true \(got 2\)/);
      const mixed = [stat('errors', 'Errors'), { ...stat('calls', 'Invocations'), MetricStat: { ...stat('calls', 'Invocations').MetricStat, Period: 60 } }, { Id: 'rate', Expression: 'errors / calls' }];
      expect(problemsOf(math('', { Metrics: mixed })).join('\n')).toMatch(/same Period \(got 300, 60\)/);
      expect(problemsOf(math('', { Metrics: [stat('errors', 'Errors', { ReturnData: true, AccountId: '111122223333' })] })).join('\n')).toMatch(/AccountId .* not supported/);
      expect(problemsOf(math('errors', { Statistic: 'Sum' })).join('\n')).toMatch(/Metrics excludes Statistic/);
    });
  });
});

describe('AlarmEvaluator', () => {
  const PERIOD = 300_000;

  it('starts every alarm in INSUFFICIENT_DATA, then moves to OK and to ALARM with the actions of the new state, reporting nothing while a state holds', () => {
    const store = new MetricStore();
    const definition = alarm({ InsufficientDataActions: ['arn:aws:sns:us-east-1:000000000000:insufficient'] });
    const evaluator = new AlarmEvaluator(store, [definition], { now: () => T });
    expect(evaluator.states()).toEqual([{ alarmName: 'PollFailedAlarm', logicalId: 'PollFailedAlarm', state: 'INSUFFICIENT_DATA', reason: 'Unchecked: Initial alarm creation', since: T }]);

    const [toOk] = evaluator.evaluate(T);
    expect(toOk).toEqual({
      alarmName: 'PollFailedAlarm',
      logicalId: 'PollFailedAlarm',
      oldState: 'INSUFFICIENT_DATA',
      newState: 'OK',
      reason: 'Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching].',
      timestamp: T,
      actions: [TOPIC],
    });
    expect(evaluator.evaluate(T + 60_000)).toEqual([]);

    store.put({ ...POLL_FAILED, timestamp: T + 100_000, values: [2] });
    const [toAlarm] = evaluator.evaluate(T + 120_000);
    expect(toAlarm).toMatchObject({ oldState: 'OK', newState: 'ALARM', actions: [TOPIC], timestamp: T + 120_000 });
    expect(toAlarm.reason).toBe('Threshold Crossed: 1 out of the last 1 datapoint [2.0 (01/12/26 09:57:00)] was greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).');
    expect(evaluator.states()[0]).toMatchObject({ state: 'ALARM', since: T + 120_000 });

    // With no newer datapoint, CloudWatch keeps evaluating the most recent real one while it is in
    // the evaluation range (EvaluationPeriods + 2 periods): the alarm stays in ALARM...
    expect(evaluator.evaluate(T + 100_001 + PERIOD)).toEqual([]);
    // ...until it leaves the range, or a healthy datapoint is newer.
    const [back] = evaluator.evaluate(T + 100_001 + 3 * PERIOD);
    expect(back).toMatchObject({ oldState: 'ALARM', newState: 'OK', actions: [TOPIC] });
    store.put({ ...POLL_FAILED, timestamp: T + 100_002 + 3 * PERIOD, values: [5] });
    expect(evaluator.evaluate(T + 100_003 + 3 * PERIOD)).toMatchObject([{ newState: 'ALARM' }]);
    store.put({ ...POLL_FAILED, timestamp: T + 100_002 + 4 * PERIOD, values: [0] });
    expect(evaluator.evaluate(T + 100_003 + 4 * PERIOD)).toMatchObject([{ newState: 'OK', reason: expect.stringMatching(/^Threshold Crossed: 1 out of the last 1 datapoint \[0\.0 \(.*\)\] was not greater than the threshold \(0\.0\) \(minimum 1 datapoint for ALARM -> OK transition\)\.$/) }]);
  });

  it('gives the INSUFFICIENT_DATA actions on a transition to INSUFFICIENT_DATA, and no actions at all when ActionsEnabled is false', () => {
    const store = new MetricStore();
    const insufficient = ['arn:aws:sns:us-east-1:000000000000:insufficient'];
    const evaluator = new AlarmEvaluator(store, [alarm({ TreatMissingData: 'missing', InsufficientDataActions: insufficient }), alarmFromTemplate('Silent', props({ ActionsEnabled: false }))]);
    store.put({ ...POLL_FAILED, timestamp: T - 1000, values: [1] });
    expect(evaluator.evaluate(T).map((c) => [c.logicalId, c.newState, c.actions])).toEqual([
      ['PollFailedAlarm', 'ALARM', [TOPIC]],
      ['Silent', 'ALARM', []],
    ]);
    const [gone] = evaluator.evaluate(T + 10 * PERIOD);
    expect(gone).toMatchObject({ newState: 'INSUFFICIENT_DATA', actions: insufficient, reason: 'Insufficient Data: 1 datapoint was unknown.' });
  });

  // "How alarm state is evaluated when data is missing", CloudWatch User Guide: the evaluation
  // range is 5 periods; 0 is not breaching, X is breaching, - is missing; oldest first.
  const columns = ['missing', 'ignore', 'breaching', 'notBreaching'] as const;
  const tables: Record<string, [string, ...(AlarmState | 'retain')[]][]> = {
    '3 out of 3': [
      ['0 - X - X', 'OK', 'OK', 'OK', 'OK'],
      ['0 - - - -', 'OK', 'OK', 'OK', 'OK'],
      ['- - - - -', 'INSUFFICIENT_DATA', 'retain', 'ALARM', 'OK'],
      ['0 X X - X', 'ALARM', 'ALARM', 'ALARM', 'ALARM'],
      ['- - - - X', 'INSUFFICIENT_DATA', 'retain', 'ALARM', 'OK'],
      ['X - - - -', 'ALARM', 'retain', 'ALARM', 'OK'],
    ],
    '2 out of 3': [
      ['0 - X - X', 'ALARM', 'ALARM', 'ALARM', 'ALARM'],
      ['0 0 X 0 X', 'ALARM', 'ALARM', 'ALARM', 'ALARM'],
      ['0 - X - -', 'OK', 'OK', 'ALARM', 'OK'],
      ['- - - - 0', 'OK', 'OK', 'ALARM', 'OK'],
      ['- - - - X', 'INSUFFICIENT_DATA', 'retain', 'ALARM', 'OK'],
    ],
  };
  const cases = Object.entries(tables).flatMap(([mOfN, rows]) => rows.flatMap(([pattern, ...expected]) => columns.map((treat, i) => [mOfN, pattern, treat, expected[i]] as const)));

  it.each(cases)('%s, datapoints %s, missing data %s: %s', (mOfN, pattern, treat, expected) => {
    const datapointsToAlarm = Number(mOfN[0]);
    for (const prior of ['INSUFFICIENT_DATA', 'OK', 'ALARM'] as const) {
      const store = new MetricStore();
      const evaluator = new AlarmEvaluator(store, [alarm({ EvaluationPeriods: 3, DatapointsToAlarm: datapointsToAlarm, TreatMissingData: treat })]);
      // Establish the prior state long before, with 5 real datapoints (missing data plays no part).
      if (prior !== 'INSUFFICIENT_DATA') {
        const before = T - 100 * PERIOD;
        putPattern(store, prior === 'ALARM' ? 'X X X X X' : '0 0 0 0 0', before, PERIOD);
        evaluator.evaluate(before);
      }
      expect(evaluator.states()[0].state).toBe(prior);

      putPattern(store, pattern, T, PERIOD);
      evaluator.evaluate(T);
      expect({ prior, state: evaluator.states()[0].state }).toEqual({ prior, state: expected === 'retain' ? prior : expected });
    }
  });

  it.each([
    ['GreaterThanThreshold', 5, 5, 'OK'],
    ['GreaterThanThreshold', 5.5, 5, 'ALARM'],
    ['GreaterThanOrEqualToThreshold', 5, 5, 'ALARM'],
    ['GreaterThanOrEqualToThreshold', 4.9, 5, 'OK'],
    ['LessThanThreshold', 5, 5, 'OK'],
    ['LessThanThreshold', 4, 5, 'ALARM'],
    ['LessThanOrEqualToThreshold', 5, 5, 'ALARM'],
    ['LessThanOrEqualToThreshold', 6, 5, 'OK'],
  ] as const)('%s: %d against %d is %s', (operator, value, threshold, expected) => {
    const store = new MetricStore();
    const evaluator = new AlarmEvaluator(store, [alarm({ ComparisonOperator: operator, Threshold: threshold })]);
    store.put({ ...POLL_FAILED, timestamp: T - 1000, values: [value] });
    expect(evaluator.evaluate(T)[0].newState).toBe(expected);
  });

  it.each([
    ['Sum', 'ALARM'],
    ['Maximum', 'OK'],
    ['Average', 'OK'],
    ['Minimum', 'OK'],
    ['SampleCount', 'OK'],
  ] as const)('computes each datapoint with the alarm statistic: %s of 1, 1, 5 against > 5 is %s', (statistic, expected) => {
    const store = new MetricStore();
    const evaluator = new AlarmEvaluator(store, [alarm({ Statistic: statistic, Threshold: 5 })]);
    store.put({ ...POLL_FAILED, timestamp: T - 2000, values: [1, 1] });
    store.put({ ...POLL_FAILED, timestamp: T - 1000, values: [5] });
    expect(evaluator.evaluate(T)[0].newState).toBe(expected);
  });

  it('evaluates a percentile, and with EvaluateLowSampleCountPercentile ignore keeps its state until there are enough samples (1000 for p99)', () => {
    const store = new MetricStore();
    const p90 = alarmFromTemplate('P90', props({ Statistic: undefined, ExtendedStatistic: 'p90', Threshold: 100 }));
    const p99 = alarmFromTemplate('P99', props({ Statistic: undefined, ExtendedStatistic: 'p99', Threshold: 100, EvaluateLowSampleCountPercentile: 'ignore' }));
    const evaluator = new AlarmEvaluator(store, [p90, p99]);
    store.put({ ...POLL_FAILED, timestamp: T - 1000, values: [...Array(8).fill(10), 500, 500] });
    expect(evaluator.evaluate(T).map((c) => [c.logicalId, c.newState])).toEqual([['P90', 'ALARM']]);
    store.put({ ...POLL_FAILED, timestamp: T - 500, values: Array(990).fill(500) });
    expect(evaluator.evaluate(T).map((c) => [c.logicalId, c.newState])).toEqual([['P99', 'ALARM']]);
  });

  it('always ignores missing data on AWS/DynamoDB metrics, as CloudWatch does', () => {
    const store = new MetricStore();
    const evaluator = new AlarmEvaluator(store, [alarm({ Namespace: 'AWS/DynamoDB', MetricName: 'ThrottledRequests', Dimensions: [{ Name: 'TableName', Value: 't' }], TreatMissingData: 'notBreaching' })]);
    expect(evaluator.evaluate(T)).toEqual([]);
    expect(evaluator.states()[0].state).toBe('INSUFFICIENT_DATA');
  });

  it('shortens every period by periodScale: with 1/60 a 60-second period lasts one second', () => {
    const definition = alarm({ Period: 60, EvaluationPeriods: 2, DatapointsToAlarm: 2, TreatMissingData: 'missing' });
    const store = new MetricStore();
    const evaluator = new AlarmEvaluator(store, [definition], { periodScale: 1 / 60 });
    expect(evaluator.evaluationIntervalMs).toBe(1000);
    expect(evaluator.retentionMs).toBe(4000);
    store.put({ ...POLL_FAILED, timestamp: T - 1500, values: [1] });
    store.put({ ...POLL_FAILED, timestamp: T - 500, values: [1] });
    expect(evaluator.evaluate(T)[0]).toMatchObject({ newState: 'ALARM' });
    // In CloudWatch's time the same two datapoints fall in one 60-second period.
    const unscaled = new AlarmEvaluator(store, [definition]);
    expect(unscaled.evaluate(T)).toEqual([]);
    expect(unscaled.states()[0].state).toBe('INSUFFICIENT_DATA');
    expect(unscaled.evaluationIntervalMs).toBe(60_000);
  });

  it('reads time from the injected clock when evaluate is given none', () => {
    let now = T;
    const store = new MetricStore();
    const evaluator = new AlarmEvaluator(store, [alarm()], { now: () => now });
    now = T + 42_000;
    expect(evaluator.evaluate()[0]).toMatchObject({ timestamp: T + 42_000 });
    expect(evaluator.states()[0].since).toBe(T + 42_000);
  });

  it('drops datapoints older than the longest evaluation range of the alarms reading them, keeping memory bounded', () => {
    const store = new MetricStore();
    const polled: MetricId = { ...POLL_FAILED, name: 'ConnectionsPolled' };
    const unwatched: MetricId = { ...POLL_FAILED, name: 'StaleConnections' };
    const definitions = [alarm({ EvaluationPeriods: 3, DatapointsToAlarm: 3 }), alarmFromTemplate('Polled', props({ MetricName: 'ConnectionsPolled', Period: 60 }))];
    const evaluator = new AlarmEvaluator(store, definitions);
    expect(evaluator.retentionMs).toBe(5 * PERIOD);
    for (const metric of [POLL_FAILED, polled, unwatched]) for (let i = 0; i < 100; i++) store.put({ ...metric, timestamp: T - i * 60_000, values: [0] });
    evaluator.evaluate(T);
    // PollFailed: 25 minutes (5 periods of 5 minutes) back from T, both ends in: 26 datapoints.
    expect(store.samples(POLL_FAILED, 0, T + 1)).toHaveLength(26);
    // ConnectionsPolled: 3 periods of 1 minute: 4 datapoints.
    expect(store.samples(polled, 0, T + 1)).toHaveLength(4);
    // A metric no alarm reads: the longest range of all.
    expect(store.samples(unwatched, 0, T + 1)).toHaveLength(26);
    expect(store.size).toBe(56);
  });

  it('refuses a periodScale outside (0, 1] and two alarms of the same name', () => {
    expect(() => new AlarmEvaluator(new MetricStore(), [], { periodScale: 0 })).toThrow(/periodScale/);
    expect(() => new AlarmEvaluator(new MetricStore(), [], { periodScale: 60 })).toThrow(/periodScale/);
    expect(() => new AlarmEvaluator(new MetricStore(), [alarm(), alarm()])).toThrow(/two alarms are named PollFailedAlarm/);
  });

  describe('on metric math', () => {
    const errors: MetricId = { namespace: 'AWS/Lambda', name: 'Errors', dimensions: { FunctionName: 'receiver' } };
    const calls: MetricId = { namespace: 'AWS/Lambda', name: 'Invocations', dimensions: { FunctionName: 'receiver' } };
    const stat = (id: string, m: MetricId, extra: Record<string, unknown> = {}) => ({ Id: id, MetricStat: { Metric: { Namespace: m.namespace, MetricName: m.name, Dimensions: Object.entries(m.dimensions).map(([Name, Value]) => ({ Name, Value })) }, Period: 300, Stat: 'Sum' }, ReturnData: false, ...extra });
    const mathAlarm = (expression: string, overrides: Record<string, unknown> = {}) =>
      alarmFromTemplate('Math', props({ MetricName: undefined, Namespace: undefined, Dimensions: undefined, Statistic: undefined, Period: undefined, TreatMissingData: 'missing', Metrics: [stat('errors', errors), stat('calls', calls), { Id: 'e', Expression: expression, ReturnData: true }], ...overrides }));
    const run = (definition: AlarmDefinition, data: [MetricId, string][]) => {
      const store = new MetricStore();
      for (const [metric, pattern] of data) {
        const points = pattern.split(' ');
        points.forEach((p, k) => p !== '-' && store.put({ ...metric, timestamp: T - (points.length - k) * PERIOD + 1, values: [Number(p)] }));
      }
      const evaluator = new AlarmEvaluator(store, [definition]);
      evaluator.evaluate(T);
      return evaluator.states()[0];
    };

    it('alarms on an error rate computed per period', () => {
      const rate = mathAlarm('100 * errors / calls', { Threshold: 5 });
      expect(run(rate, [[errors, '0 0 0 0 1'], [calls, '10 10 10 10 100']]).state).toBe('OK');
      expect(run(rate, [[errors, '0 0 0 0 6'], [calls, '10 10 10 10 100']]).state).toBe('ALARM');
    });

    it('gives no datapoint where an operand is missing or a division is by zero', () => {
      const rate = mathAlarm('errors / calls');
      expect(run(rate, [[errors, '- - - - 1'], [calls, '- - - - 0']]).state).toBe('INSUFFICIENT_DATA');
      expect(run(rate, [[errors, '- - - - 1']]).state).toBe('INSUFFICIENT_DATA');
    });

    it('FILL turns missing datapoints into real ones, so no data reads as healthy rather than unknown', () => {
      expect(run(mathAlarm('errors'), []).state).toBe('INSUFFICIENT_DATA');
      expect(run(mathAlarm('FILL(errors, 0)'), []).state).toBe('OK');
      expect(run(mathAlarm('FILL(errors, 1)'), []).state).toBe('ALARM');
      expect(run(mathAlarm('FILL(errors, calls)', { EvaluationPeriods: 3 }), [[calls, '- - 1 1 1']]).state).toBe('ALARM');
      expect(run(mathAlarm('FILL(errors, REPEAT)', { EvaluationPeriods: 3 }), [[errors, '- - 1 - -']]).state).toBe('ALARM');
    });

    it('supports IF, comparisons, AND/OR, MAX over an array, and a series against its own average', () => {
      expect(run(mathAlarm('IF(errors > 10, 1, 0)'), [[errors, '0 0 0 0 11']]).state).toBe('ALARM');
      expect(run(mathAlarm('IF(errors > 10, 1, 0)'), [[errors, '0 0 0 0 10']]).state).toBe('OK');
      expect(run(mathAlarm('IF(errors > 10, 1)'), [[errors, '0 0 0 0 10']]).state).toBe('INSUFFICIENT_DATA');
      expect(run(mathAlarm('errors > 0 AND calls < 5'), [[errors, '0 0 0 0 1'], [calls, '0 0 0 0 4']]).state).toBe('ALARM');
      expect(run(mathAlarm('errors > 0 && calls < 5'), [[errors, '0 0 0 0 1'], [calls, '0 0 0 0 5']]).state).toBe('OK');
      expect(run(mathAlarm('errors > 0 || calls > 0'), [[errors, '0 0 0 0 0'], [calls, '0 0 0 0 1']]).state).toBe('ALARM');
      expect(run(mathAlarm('MAX([errors, calls])', { Threshold: 5 }), [[errors, '0 0 0 0 1'], [calls, '0 0 0 0 6']]).state).toBe('ALARM');
      expect(run(mathAlarm('SUM([errors, calls])', { Threshold: 5 }), [[errors, '0 0 0 0 3'], [calls, '0 0 0 0 3']]).state).toBe('ALARM');
      expect(run(mathAlarm('errors - AVG(errors)', { Threshold: 5 }), [[errors, '1 1 1 1 10']]).state).toBe('ALARM');
      expect(run(mathAlarm('-ABS(errors) + 2 ^ 3', { ComparisonOperator: 'LessThanThreshold', Threshold: 0 }), [[errors, '0 0 0 0 -9']]).state).toBe('ALARM');
    });

    it('gives PERIOD in CloudWatch seconds, whatever the period scale', () => {
      const definition = mathAlarm('errors / PERIOD(errors)', { Threshold: 0.5 });
      const store = new MetricStore();
      // 100 errors in a 300-second period (lasting 1 s here) is 0.33 per second; 200 is 0.67.
      store.put({ ...errors, timestamp: T - 100, values: [100] });
      const evaluator = new AlarmEvaluator(store, [definition], { periodScale: 1 / 300 });
      expect(evaluator.evaluate(T)[0].newState).toBe('OK');
      store.put({ ...errors, timestamp: T - 50, values: [100] });
      expect(evaluator.evaluate(T)[0].newState).toBe('ALARM');
    });
  });
});

describe('alarmNotification', () => {
  it('is the message CloudWatch publishes to SNS for an alarm on one metric', () => {
    const definition = alarmFromTemplate('PollFailedAlarm', props({ AlarmName: 'makini-poll-failed', EvaluationPeriods: 3, DatapointsToAlarm: 3 }));
    const change = { alarmName: 'makini-poll-failed', logicalId: 'PollFailedAlarm', oldState: 'OK', newState: 'ALARM', reason: 'Threshold Crossed: …', timestamp: Date.parse('2026-12-01T10:05:00.123Z'), actions: [TOPIC] } as const;
    expect(alarmNotification(change, definition, 'us-east-1', '123456789012')).toEqual({
      AlarmName: 'makini-poll-failed',
      AlarmDescription: 'Polls failed. Runbook: docs/runbooks.md#poll-failed',
      AWSAccountId: '123456789012',
      NewStateValue: 'ALARM',
      NewStateReason: 'Threshold Crossed: …',
      StateChangeTime: '2026-12-01T10:05:00.123+0000',
      Region: 'US East (N. Virginia)',
      AlarmArn: 'arn:aws:cloudwatch:us-east-1:123456789012:alarm:makini-poll-failed',
      OldStateValue: 'OK',
      OKActions: [TOPIC],
      AlarmActions: [TOPIC],
      InsufficientDataActions: [],
      Trigger: {
        MetricName: 'PollFailed',
        Namespace: 'MakiniWebhooks',
        StatisticType: 'Statistic',
        Statistic: 'SUM',
        Unit: null,
        Dimensions: [{ value: 'poller', name: 'service' }],
        Period: 300,
        EvaluationPeriods: 3,
        DatapointsToAlarm: 3,
        ComparisonOperator: 'GreaterThanThreshold',
        Threshold: 0,
        TreatMissingData: 'notBreaching',
        EvaluateLowSampleCountPercentile: '',
      },
    });
  });

  it('names the statistic as CloudWatch does, percentiles as ExtendedStatistic', () => {
    const change = { alarmName: 'A', logicalId: 'A', oldState: 'INSUFFICIENT_DATA', newState: 'OK', reason: 'r', timestamp: T, actions: [] } as const;
    expect(alarmNotification(change, alarm({ Statistic: 'SampleCount' }), 'eu-west-1', '1').Trigger).toMatchObject({ StatisticType: 'Statistic', Statistic: 'SAMPLE_COUNT' });
    expect(alarmNotification(change, alarm({ Statistic: undefined, ExtendedStatistic: 'p99' }), 'eu-west-1', '1').Trigger).toMatchObject({ StatisticType: 'ExtendedStatistic', ExtendedStatistic: 'p99' });
    expect(alarmNotification(change, alarm(), 'eu-west-1', '1')).toMatchObject({ Region: 'EU (Ireland)', AlarmDescription: expect.any(String) });
    expect(alarmNotification(change, alarm(), 'cn-north-1', '1')).toMatchObject({ Region: 'cn-north-1', AlarmArn: 'arn:aws-cn:cloudwatch:cn-north-1:1:alarm:PollFailedAlarm' });
    expect(alarmNotification(change, alarm({ AlarmDescription: undefined }), 'us-east-1', '1').AlarmDescription).toBeNull();
  });

  it('lists the queries of a metric-math alarm in its Trigger', () => {
    const definition = alarmFromTemplate(
      'Math',
      props({
        MetricName: undefined,
        Namespace: undefined,
        Dimensions: undefined,
        Statistic: undefined,
        Period: undefined,
        Metrics: [{ Id: 'm1', MetricStat: { Metric: { Namespace: 'N', MetricName: 'M', Dimensions: [{ Name: 'service', Value: 'x' }] }, Period: 60, Stat: 'Sum' }, ReturnData: false }, { Id: 'e1', Expression: 'FILL(m1, 0)', Label: 'filled', ReturnData: true }],
      }),
    );
    const change = { alarmName: 'Math', logicalId: 'Math', oldState: 'OK', newState: 'ALARM', reason: 'r', timestamp: T, actions: [] } as const;
    expect(alarmNotification(change, definition, 'us-east-1', '1').Trigger).toEqual(
      expect.objectContaining({
        Period: 60,
        Metrics: [
          { Id: 'm1', MetricStat: { Metric: { Dimensions: [{ value: 'x', name: 'service' }], MetricName: 'M', Namespace: 'N' }, Period: 60, Stat: 'Sum' }, ReturnData: false },
          { Expression: 'FILL(m1, 0)', Id: 'e1', Label: 'filled', ReturnData: true },
        ],
      }),
    );
  });
});
