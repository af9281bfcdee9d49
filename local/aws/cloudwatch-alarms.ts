/**
 * Local CloudWatch alarms: the `AWS::CloudWatch::Alarm` resources of the synthesized template,
 * evaluated on a {@link MetricStore} with CloudWatch's documented semantics, so that `npm start`
 * raises the alarms `cdk deploy` deploys. Pure: no I/O; time is an argument or an injected clock.
 *
 * - {@link alarmFromTemplate} turns a resource's Properties (intrinsics already resolved) into an
 *   {@link AlarmDefinition}, or throws one {@link AlarmDefinitionError} listing every problem.
 * - {@link AlarmEvaluator} evaluates every alarm: initial state INSUFFICIENT_DATA; each evaluation
 *   fetches the evaluation range (EvaluationPeriods + 2 periods, ending now), applies M out of N
 *   (DatapointsToAlarm / EvaluationPeriods), the comparison, TreatMissingData as the tables of
 *   "How alarm state is evaluated when data is missing" show, and returns the state changes with
 *   the actions of the new state. `periodScale` shortens every period (1/60: a 60 s period lasts 1 s).
 * - {@link alarmNotification} is the JSON message CloudWatch publishes to SNS on a state change.
 *
 * Metric math (`Metrics` with MetricStat and Expression entries): see cloudwatch-metric-math.ts.
 * Not supported (refused with a clear error): anomaly detection (ThresholdMetricId and the
 * LessThanLowerOrGreaterThanUpper family), extended statistics other than pNN, cross-account
 * metrics (AccountId), Metrics Insights queries.
 *
 * Docs: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
 */
import { isRecord, metricKey, parseStatistic, percentileOf, type MetricId, type MetricStore, type Statistic } from './cloudwatch-metrics';
import { evaluateExpression, ExpressionError, parseExpression, typeCheck, type Expr, type ExprType, type SeriesValue } from './cloudwatch-metric-math';

export const ALARM_STATE = { ok: 'OK', alarm: 'ALARM', insufficientData: 'INSUFFICIENT_DATA' } as const;
export type AlarmState = (typeof ALARM_STATE)[keyof typeof ALARM_STATE];

export const COMPARISON_OPERATORS = ['GreaterThanOrEqualToThreshold', 'GreaterThanThreshold', 'LessThanThreshold', 'LessThanOrEqualToThreshold'] as const;
export type ComparisonOperator = (typeof COMPARISON_OPERATORS)[number];

export const TREAT_MISSING_DATA = ['missing', 'notBreaching', 'breaching', 'ignore'] as const;
export type TreatMissingData = (typeof TREAT_MISSING_DATA)[number];

/** A metric and how one datapoint is computed from it. */
export interface MetricStat {
  readonly metric: MetricId;
  readonly periodSeconds: number;
  readonly stat: Statistic;
  readonly unit?: string;
}

/** One entry of an alarm's `Metrics`: a MetricStat or an expression over other entries' ids. */
export interface MetricQuery {
  readonly id: string;
  readonly label?: string;
  readonly returnData: boolean;
  readonly metricStat?: MetricStat;
  readonly expression?: string;
}

export interface AlarmDefinition {
  readonly logicalId: string;
  readonly alarmName: string;
  readonly description?: string;
  /** A single metric (Statistic or ExtendedStatistic), or metric math. */
  readonly metric: { readonly kind: 'metric'; readonly stat: MetricStat; readonly extended: boolean } | { readonly kind: 'math'; readonly queries: readonly MetricQuery[]; readonly returnId: string };
  readonly periodSeconds: number;
  readonly evaluationPeriods: number;
  readonly datapointsToAlarm: number;
  readonly threshold: number;
  readonly comparison: ComparisonOperator;
  readonly treatMissingData: TreatMissingData;
  /** For percentile alarms: `ignore` keeps the state while too few samples make the percentile meaningless. */
  readonly evaluateLowSampleCountPercentile?: 'evaluate' | 'ignore';
  readonly actionsEnabled: boolean;
  readonly alarmActions: readonly string[];
  readonly okActions: readonly string[];
  readonly insufficientDataActions: readonly string[];
}

/** An alarm resource this module cannot evaluate faithfully, with every problem found. */
export class AlarmDefinitionError extends Error {
  override readonly name = 'AlarmDefinitionError';
  constructor(
    readonly logicalId: string,
    readonly problems: readonly string[],
  ) {
    super(`alarm ${logicalId}: ${problems.join('; ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Template → definition

const isIntrinsic = (value: unknown) => isRecord(value) && Object.keys(value).length === 1 && /^(Ref|Fn::|Condition)/.test(Object.keys(value)[0]);

const SUPPORTED_PROPERTIES = new Set([
  'ActionsEnabled',
  'AlarmActions',
  'AlarmDescription',
  'AlarmName',
  'ComparisonOperator',
  'DatapointsToAlarm',
  'Dimensions',
  'EvaluateLowSampleCountPercentile',
  'EvaluationPeriods',
  'ExtendedStatistic',
  'InsufficientDataActions',
  'MetricName',
  'Metrics',
  'Namespace',
  'OKActions',
  'Period',
  'Statistic',
  'Tags',
  'Threshold',
  'TreatMissingData',
  'Unit',
]);

/** Reads typed values out of an untyped Properties object, collecting problems instead of stopping at the first. */
class Reader {
  readonly problems: string[] = [];
  constructor(private readonly props: Record<string, unknown>) {}

  private raw(path: string, value: unknown): unknown {
    if (isIntrinsic(value)) {
      this.problems.push(`${path} is an unresolved intrinsic (${Object.keys(value as object)[0]}): resolve intrinsics before alarmFromTemplate`);
      return undefined;
    }
    return value;
  }
  string(path: string, value: unknown = this.props[path], required = false): string | undefined {
    const v = this.raw(path, value);
    if (v === undefined) {
      if (required && !isIntrinsic(value)) this.problems.push(`${path} is required`);
      return undefined;
    }
    if (typeof v !== 'string' || v.length === 0) {
      this.problems.push(`${path} must be a non-empty string, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return v;
  }
  number(path: string, value: unknown = this.props[path], required = false): number | undefined {
    const v = this.raw(path, value);
    if (v === undefined) {
      if (required && !isIntrinsic(value)) this.problems.push(`${path} is required`);
      return undefined;
    }
    // CloudFormation accepts numbers as strings.
    const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) {
      this.problems.push(`${path} must be a number, got ${JSON.stringify(v)}`);
      return undefined;
    }
    return n;
  }
  integer(path: string, value: unknown = this.props[path], required = false, min = 1): number | undefined {
    const n = this.number(path, value, required);
    if (n === undefined) return undefined;
    if (!Number.isInteger(n) || n < min) {
      this.problems.push(`${path} must be an integer >= ${min}, got ${n}`);
      return undefined;
    }
    return n;
  }
  boolean(path: string, value: unknown = this.props[path]): boolean | undefined {
    const v = this.raw(path, value);
    if (v === undefined) return undefined;
    if (v === true || v === 'true') return true;
    if (v === false || v === 'false') return false;
    this.problems.push(`${path} must be true or false, got ${JSON.stringify(v)}`);
    return undefined;
  }
  oneOf<T extends string>(path: string, allowed: readonly T[], value: unknown = this.props[path], required = false): T | undefined {
    const v = this.string(path, value, required);
    if (v === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(v)) {
      this.problems.push(`${path} ${JSON.stringify(v)} is not supported (supported: ${allowed.join(', ')})`);
      return undefined;
    }
    return v as T;
  }
  strings(path: string, value: unknown = this.props[path]): string[] {
    const v = this.raw(path, value);
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      this.problems.push(`${path} must be a list of ARNs`);
      return [];
    }
    return v.map((item, i) => this.string(`${path}[${i}]`, item, true)).filter((s): s is string => s !== undefined);
  }
  dimensions(path: string, value: unknown): Record<string, string> {
    const v = this.raw(path, value);
    const dimensions: Record<string, string> = {};
    if (v === undefined) return dimensions;
    if (!Array.isArray(v)) {
      this.problems.push(`${path} must be a list of { Name, Value }`);
      return dimensions;
    }
    v.forEach((d, i) => {
      if (!isRecord(d)) return void this.problems.push(`${path}[${i}] must be { Name, Value }`);
      const name = this.string(`${path}[${i}].Name`, d.Name, true);
      const val = this.string(`${path}[${i}].Value`, d.Value, true);
      if (name === undefined || val === undefined) return;
      if (name in dimensions) this.problems.push(`${path} names dimension ${name} twice`);
      dimensions[name] = val;
    });
    return dimensions;
  }
  statistic(path: string, value: unknown, extended: boolean): Statistic | undefined {
    const v = this.string(path, value, true);
    if (v === undefined) return undefined;
    const stat = parseStatistic(v);
    if (!stat || (extended && !percentileOf(stat))) {
      this.problems.push(`${path} ${JSON.stringify(v)} is not supported (supported: ${extended ? 'pNN, pNN.NN' : 'SampleCount, Average, Sum, Minimum, Maximum, pNN'})`);
      return undefined;
    }
    if (!extended && percentileOf(stat) !== undefined && path === 'Statistic') {
      this.problems.push(`Statistic ${JSON.stringify(v)} is a percentile: use ExtendedStatistic`);
      return undefined;
    }
    return stat;
  }
  period(path: string, value: unknown, required = true): number | undefined {
    const p = this.integer(path, value, required);
    if (p === undefined) return undefined;
    if (![10, 20, 30].includes(p) && p % 60 !== 0) {
      this.problems.push(`${path} must be 10, 20, 30 or a multiple of 60 seconds, got ${p}`);
      return undefined;
    }
    return p;
  }
}

/**
 * The definition of one `AWS::CloudWatch::Alarm`, from its template Properties with intrinsics
 * already resolved to strings. Without an AlarmName, CloudFormation generates one; here it is
 * `${stackName}-${logicalId}` (or the logical id alone).
 *
 * @throws AlarmDefinitionError listing every unsupported or invalid property
 * @example
 * const alarms = Object.entries(template.Resources)
 *   .filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')
 *   .map(([id, r]) => alarmFromTemplate(id, resolve(r.Properties), { stackName }));
 */
export function alarmFromTemplate(logicalId: string, properties: unknown, options: { stackName?: string } = {}): AlarmDefinition {
  if (!isRecord(properties)) throw new AlarmDefinitionError(logicalId, ['Properties must be an object']);
  const r = new Reader(properties);
  for (const key of Object.keys(properties)) {
    if (key === 'ThresholdMetricId') r.problems.push('ThresholdMetricId (anomaly detection bands) is not supported locally');
    else if (!SUPPORTED_PROPERTIES.has(key)) r.problems.push(`unknown property ${key}`);
  }

  const alarmName = r.string('AlarmName') ?? (options.stackName ? `${options.stackName}-${logicalId}` : logicalId);
  const description = r.string('AlarmDescription');
  const comparisonText = r.string('ComparisonOperator', undefined, true);
  let comparison: ComparisonOperator | undefined;
  if (comparisonText !== undefined) {
    if ((COMPARISON_OPERATORS as readonly string[]).includes(comparisonText)) comparison = comparisonText as ComparisonOperator;
    else if (/Lower|Upper/.test(comparisonText)) r.problems.push(`ComparisonOperator ${comparisonText} (anomaly detection) is not supported locally`);
    else r.problems.push(`ComparisonOperator ${JSON.stringify(comparisonText)} is not a CloudWatch comparison operator`);
  }
  const threshold = r.number('Threshold', undefined, true);
  const evaluationPeriods = r.integer('EvaluationPeriods', undefined, true);
  const datapointsToAlarm = r.integer('DatapointsToAlarm') ?? evaluationPeriods;
  if (evaluationPeriods !== undefined && datapointsToAlarm !== undefined && datapointsToAlarm > evaluationPeriods) {
    r.problems.push(`DatapointsToAlarm (${datapointsToAlarm}) must not exceed EvaluationPeriods (${evaluationPeriods})`);
  }
  const treatMissingData = r.oneOf('TreatMissingData', TREAT_MISSING_DATA) ?? 'missing';
  const evaluateLowSampleCountPercentile = r.oneOf('EvaluateLowSampleCountPercentile', ['evaluate', 'ignore'] as const);
  const actionsEnabled = r.boolean('ActionsEnabled') ?? true;
  const alarmActions = r.strings('AlarmActions');
  const okActions = r.strings('OKActions');
  const insufficientDataActions = r.strings('InsufficientDataActions');

  let metric: AlarmDefinition['metric'] | undefined;
  let periodSeconds: number | undefined;
  const single = ['MetricName', 'Namespace', 'Dimensions', 'Statistic', 'ExtendedStatistic', 'Period', 'Unit'].filter((k) => properties[k] !== undefined);
  if (properties.Metrics !== undefined) {
    if (single.length > 0) r.problems.push(`Metrics excludes ${single.join(', ')}`);
    const math = readMetrics(r, properties.Metrics);
    if (math) {
      metric = { kind: 'math', queries: math.queries, returnId: math.returnId };
      periodSeconds = math.periodSeconds;
    }
    if (evaluateLowSampleCountPercentile !== undefined) r.problems.push('EvaluateLowSampleCountPercentile applies to ExtendedStatistic alarms only');
  } else {
    const name = r.string('MetricName', undefined, true);
    const namespace = r.string('Namespace', undefined, true);
    const dimensions = r.dimensions('Dimensions', properties.Dimensions);
    const extended = properties.ExtendedStatistic !== undefined;
    if (extended && properties.Statistic !== undefined) r.problems.push('give Statistic or ExtendedStatistic, not both');
    if (!extended && properties.Statistic === undefined) r.problems.push('Statistic or ExtendedStatistic is required');
    const stat = extended ? r.statistic('ExtendedStatistic', properties.ExtendedStatistic, true) : properties.Statistic !== undefined ? r.statistic('Statistic', properties.Statistic, false) : undefined;
    if (!extended && evaluateLowSampleCountPercentile !== undefined) r.problems.push('EvaluateLowSampleCountPercentile applies to ExtendedStatistic alarms only');
    periodSeconds = r.period('Period', properties.Period);
    const unit = r.string('Unit');
    if (name && namespace && stat && periodSeconds !== undefined) {
      metric = { kind: 'metric', stat: { metric: { namespace, name, dimensions }, periodSeconds, stat, ...(unit !== undefined && { unit }) }, extended };
    }
  }
  if (periodSeconds !== undefined && evaluationPeriods !== undefined) {
    const limit = periodSeconds >= 3600 ? 7 * 86_400 : 86_400;
    if (periodSeconds * evaluationPeriods > limit) r.problems.push(`Period × EvaluationPeriods (${periodSeconds * evaluationPeriods} s) exceeds ${limit === 86_400 ? 'one day' : 'seven days'}`);
  }

  if (r.problems.length > 0 || !metric || comparison === undefined || threshold === undefined || evaluationPeriods === undefined || datapointsToAlarm === undefined || periodSeconds === undefined) {
    throw new AlarmDefinitionError(logicalId, r.problems.length > 0 ? r.problems : ['incomplete definition']);
  }
  return {
    logicalId,
    alarmName,
    ...(description !== undefined && { description }),
    metric,
    periodSeconds,
    evaluationPeriods,
    datapointsToAlarm,
    threshold,
    comparison,
    treatMissingData,
    ...(evaluateLowSampleCountPercentile !== undefined && { evaluateLowSampleCountPercentile }),
    actionsEnabled,
    alarmActions,
    okActions,
    insufficientDataActions,
  };
}

const QUERY_ID = /^[a-z][a-zA-Z0-9_]*$/;

function readMetrics(r: Reader, value: unknown): { queries: MetricQuery[]; returnId: string; periodSeconds: number } | undefined {
  if (!Array.isArray(value) || value.length === 0) {
    r.problems.push('Metrics must be a non-empty list');
    return undefined;
  }
  const before = r.problems.length;
  const queries: MetricQuery[] = [];
  const periods = new Set<number>();
  value.forEach((q, i) => {
    const at = `Metrics[${i}]`;
    if (!isRecord(q)) return void r.problems.push(`${at} must be an object`);
    for (const key of Object.keys(q)) {
      if (key === 'AccountId') r.problems.push(`${at}.AccountId (cross-account metrics) is not supported locally`);
      else if (!['Id', 'Label', 'ReturnData', 'MetricStat', 'Expression', 'Period'].includes(key)) r.problems.push(`${at}: unknown property ${key}`);
    }
    const id = r.string(`${at}.Id`, q.Id, true);
    if (id !== undefined && !QUERY_ID.test(id)) r.problems.push(`${at}.Id ${JSON.stringify(id)} must start with a lowercase letter and hold only letters, digits and _`);
    const label = r.string(`${at}.Label`, q.Label);
    const returnData = r.boolean(`${at}.ReturnData`, q.ReturnData) ?? true;
    if ((q.MetricStat === undefined) === (q.Expression === undefined)) return void r.problems.push(`${at} needs exactly one of MetricStat and Expression`);
    if (q.Expression !== undefined) {
      const expression = r.string(`${at}.Expression`, q.Expression, true);
      if (q.Period !== undefined) r.period(`${at}.Period`, q.Period);
      if (id !== undefined && expression !== undefined) queries.push({ id, ...(label !== undefined && { label }), returnData, expression });
      return;
    }
    const ms = q.MetricStat;
    if (!isRecord(ms)) return void r.problems.push(`${at}.MetricStat must be an object`);
    const m = ms.Metric;
    if (!isRecord(m)) return void r.problems.push(`${at}.MetricStat.Metric must be an object`);
    const name = r.string(`${at}.MetricStat.Metric.MetricName`, m.MetricName, true);
    const namespace = r.string(`${at}.MetricStat.Metric.Namespace`, m.Namespace, true);
    const dimensions = r.dimensions(`${at}.MetricStat.Metric.Dimensions`, m.Dimensions);
    const stat = r.statistic(`${at}.MetricStat.Stat`, ms.Stat, false);
    const periodSeconds = r.period(`${at}.MetricStat.Period`, ms.Period);
    const unit = r.string(`${at}.MetricStat.Unit`, ms.Unit);
    if (periodSeconds !== undefined) periods.add(periodSeconds);
    if (id && name && namespace && stat && periodSeconds !== undefined) {
      queries.push({ id, ...(label !== undefined && { label }), returnData, metricStat: { metric: { namespace, name, dimensions }, periodSeconds, stat, ...(unit !== undefined && { unit }) } });
    }
  });
  const ids = queries.map((q) => q.id);
  for (const id of new Set(ids)) if (ids.filter((x) => x === id).length > 1) r.problems.push(`Metrics: Id ${id} is used twice`);
  if (periods.size === 0) r.problems.push('Metrics: at least one MetricStat is required');
  if (periods.size > 1) r.problems.push(`Metrics: every MetricStat must have the same Period (got ${[...periods].join(', ')})`);
  const returning = queries.filter((q) => q.returnData);
  if (returning.length !== 1) r.problems.push(`Metrics: exactly one entry must have ReturnData true (got ${returning.length})`);
  // Parse and type-check every expression now, so that an unsupported one fails at load, not at evaluation.
  const types = new Map<string, ExprType>();
  const byId = new Map(queries.map((q) => [q.id, q]));
  const typeOf = (id: string, stack: string[]): ExprType | undefined => {
    if (types.has(id)) return types.get(id);
    const q = byId.get(id);
    if (!q) return undefined;
    if (q.metricStat) return 'series';
    if (stack.includes(id)) throw new ExpressionError(`Id ${id} refers to itself (${[...stack, id].join(' -> ')})`);
    const type = typeCheck(parseExpression(q.expression!), (ref) => {
      const t = typeOf(ref, [...stack, id]);
      if (!t) throw new ExpressionError(`unknown Id ${ref}`);
      return t;
    });
    types.set(id, type);
    return type;
  };
  for (const q of queries) {
    if (!q.expression) continue;
    try {
      typeOf(q.id, []);
    } catch (error) {
      if (!(error instanceof ExpressionError)) throw error;
      r.problems.push(`Metrics: expression ${q.id} (${JSON.stringify(q.expression)}): ${error.message}`);
    }
  }
  if (returning.length === 1 && r.problems.length === before && types.get(returning[0].id) !== undefined && types.get(returning[0].id) !== 'series') {
    r.problems.push(`Metrics: the expression ${returning[0].id} returns ${types.get(returning[0].id) === 'scalar' ? 'a single number' : 'several time series'}; an alarm needs one time series`);
  }
  if (r.problems.length > before) return undefined;
  return { queries, returnId: returning[0].id, periodSeconds: [...periods][0] };
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/** A state change, with the actions (ARNs) of the new state when actions are enabled. */
export interface AlarmStateChange {
  readonly alarmName: string;
  readonly logicalId: string;
  readonly oldState: AlarmState;
  readonly newState: AlarmState;
  readonly reason: string;
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  readonly actions: readonly string[];
}

export interface AlarmStatus {
  readonly alarmName: string;
  readonly logicalId: string;
  readonly state: AlarmState;
  readonly reason: string;
  /** When the alarm entered this state (ms since the epoch). */
  readonly since: number;
}

export interface AlarmEvaluatorOptions {
  /**
   * Multiplies every period (and so every evaluation window): 1 is CloudWatch's time, 1/60 makes
   * a 60 s period last 1 s. Datapoint timestamps are unchanged.
   * @default 1
   */
  readonly periodScale?: number;
  /** The clock, in ms since the epoch. @default Date.now */
  readonly now?: () => number;
}

/** CloudWatch fetches more periods than EvaluationPeriods (the evaluation range); the documented examples use two more. */
const EXTRA_PERIODS = 2;

const COMPARE: Record<ComparisonOperator, (value: number, threshold: number) => boolean> = {
  GreaterThanOrEqualToThreshold: (v, t) => v >= t,
  GreaterThanThreshold: (v, t) => v > t,
  LessThanThreshold: (v, t) => v < t,
  LessThanOrEqualToThreshold: (v, t) => v <= t,
};
const COMPARISON_WORDS: Record<ComparisonOperator, string> = {
  GreaterThanOrEqualToThreshold: 'greater than or equal to',
  GreaterThanThreshold: 'greater than',
  LessThanThreshold: 'less than',
  LessThanOrEqualToThreshold: 'less than or equal to',
};

/** CloudWatch prints doubles Java-style: 1.0, 0.5. */
const formatNumber = (n: number) => (Number.isInteger(n) ? n.toFixed(1) : String(n));
const pad = (n: number) => String(n).padStart(2, '0');
/** dd/MM/yy HH:mm:ss in UTC, as CloudWatch's state reasons show a datapoint's period start. */
const reasonTime = (t: number) => {
  const d = new Date(t);
  return `${pad(d.getUTCDate())}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCFullYear() % 100)} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
};
const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

interface Datapoint {
  readonly start: number;
  readonly value: number | undefined;
}

/**
 * Evaluates alarm definitions on a metric store, as CloudWatch does each minute. Call
 * {@link AlarmEvaluator.evaluate} every {@link AlarmEvaluator.evaluationIntervalMs}.
 *
 * @example
 * const evaluator = new AlarmEvaluator(store, definitions, { periodScale: 1 / 60 });
 * setInterval(() => { for (const change of evaluator.evaluate()) publish(change); }, evaluator.evaluationIntervalMs);
 */
export class AlarmEvaluator {
  readonly #store: MetricStore;
  readonly #definitions: readonly AlarmDefinition[];
  readonly #scale: number;
  readonly #clock: () => number;
  readonly #states = new Map<string, { state: AlarmState; reason: string; since: number }>();
  readonly #expressions = new Map<string, Map<string, Expr>>();
  /** Per metric (by key), the longest evaluation range of the alarms reading it. */
  readonly #windows = new Map<string, number>();

  constructor(store: MetricStore, definitions: readonly AlarmDefinition[], options: AlarmEvaluatorOptions = {}) {
    const scale = options.periodScale ?? 1;
    if (!(scale > 0 && scale <= 1)) throw new RangeError(`periodScale must be > 0 and <= 1, got ${scale}`);
    const names = definitions.map((d) => d.alarmName);
    const duplicate = names.find((n, i) => names.indexOf(n) !== i);
    if (duplicate) throw new RangeError(`two alarms are named ${duplicate}`);
    this.#store = store;
    this.#definitions = definitions;
    this.#scale = scale;
    this.#clock = options.now ?? Date.now;
    const created = this.#clock();
    for (const d of definitions) {
      this.#states.set(d.logicalId, { state: ALARM_STATE.insufficientData, reason: 'Unchecked: Initial alarm creation', since: created });
      const window = (d.evaluationPeriods + EXTRA_PERIODS) * d.periodSeconds * 1000 * scale;
      for (const m of alarmMetrics(d)) this.#windows.set(metricKey(m), Math.max(window, this.#windows.get(metricKey(m)) ?? 0));
      if (d.metric.kind === 'math') this.#expressions.set(d.logicalId, new Map(d.metric.queries.filter((q) => q.expression).map((q) => [q.id, parseExpression(q.expression!)])));
    }
  }

  /** How often CloudWatch evaluates: every minute (10 s for high-resolution periods), scaled. */
  get evaluationIntervalMs(): number {
    const highResolution = this.#definitions.some((d) => d.periodSeconds < 60);
    return (highResolution ? 10_000 : 60_000) * this.#scale;
  }

  /** The longest evaluation range of any alarm, in ms. */
  get retentionMs(): number {
    return Math.max(0, ...this.#definitions.map((d) => (d.evaluationPeriods + EXTRA_PERIODS) * d.periodSeconds * 1000 * this.#scale));
  }

  /** Every alarm's current state. */
  states(): AlarmStatus[] {
    return this.#definitions.map((d) => {
      const s = this.#states.get(d.logicalId)!;
      return { alarmName: d.alarmName, logicalId: d.logicalId, state: s.state, reason: s.reason, since: s.since };
    });
  }

  /** Evaluates every alarm at `now` and returns the state changes (none when every state holds). */
  evaluate(now: number = this.#clock()): AlarmStateChange[] {
    const changes: AlarmStateChange[] = [];
    for (const d of this.#definitions) {
      const current = this.#states.get(d.logicalId)!;
      const next = this.#evaluateOne(d, now);
      if (!next || next.state === current.state) continue;
      this.#states.set(d.logicalId, { state: next.state, reason: next.reason, since: now });
      const actions = !d.actionsEnabled ? [] : next.state === 'ALARM' ? d.alarmActions : next.state === 'OK' ? d.okActions : d.insufficientDataActions;
      changes.push({ alarmName: d.alarmName, logicalId: d.logicalId, oldState: current.state, newState: next.state, reason: next.reason, timestamp: now, actions: [...actions] });
    }
    // Bounded memory: each metric is kept for the longest range of the alarms reading it; metrics
    // no alarm reads, for the longest range of all.
    this.#store.dropBefore((m) => now - (this.#windows.get(metricKey(m)) ?? this.retentionMs));
    return changes;
  }

  /** The datapoints of the evaluation range, oldest first. */
  #datapoints(d: AlarmDefinition, now: number): Datapoint[] {
    const period = d.periodSeconds * 1000 * this.#scale;
    const count = d.evaluationPeriods + EXTRA_PERIODS;
    const starts = Array.from({ length: count }, (_, k) => now - (count - k) * period);
    const fetch = (stat: MetricStat): SeriesValue => starts.map((start) => this.#store.query(stat.metric, stat.stat, start, start + period, stat.unit));
    if (d.metric.kind === 'metric') {
      const values = fetch(d.metric.stat);
      return starts.map((start, k) => ({ start, value: values[k] }));
    }
    const { queries, returnId } = d.metric;
    const expressions = this.#expressions.get(d.logicalId)!;
    const results = new Map<string, SeriesValue | number | undefined>();
    const ref = (id: string): SeriesValue | number | undefined => {
      if (results.has(id)) return results.get(id);
      const q = queries.find((x) => x.id === id)!;
      const value = q.metricStat ? fetch(q.metricStat) : (evaluateExpression(expressions.get(id)!, count, ref, d.periodSeconds) as SeriesValue | number | undefined);
      results.set(id, value);
      return value;
    };
    const values = ref(returnId) as SeriesValue;
    return starts.map((start, k) => ({ start, value: values[k] }));
  }

  #evaluateOne(d: AlarmDefinition, now: number): { state: AlarmState; reason: string } | undefined {
    const N = d.evaluationPeriods;
    const M = d.datapointsToAlarm;
    const range = this.#datapoints(d, now);
    // Alarms on AWS/DynamoDB metrics always ignore missing data.
    const treat = d.metric.kind === 'metric' && d.metric.stat.metric.namespace === 'AWS/DynamoDB' ? 'ignore' : d.treatMissingData;
    const breaches = (v: number) => COMPARE[d.comparison](v, d.threshold);

    if (d.metric.kind === 'metric' && d.evaluateLowSampleCountPercentile === 'ignore') {
      // Too few samples for a meaningful percentile: 10/(1-p) for p >= 0.5, 10/p below.
      const p = percentileOf(d.metric.stat.stat)! / 100;
      const needed = p >= 0.5 ? 10 / (1 - p) : 10 / p;
      const period = d.periodSeconds * 1000 * this.#scale;
      const samples = this.#store.samples(d.metric.stat.metric, now - N * period, now, d.metric.stat.unit).length;
      if (samples < needed) return undefined;
    }

    const real = range.map((p, age) => ({ ...p, age: range.length - age })).filter((p) => p.value !== undefined) as (Datapoint & { value: number; age: number })[];
    const describe = (points: readonly (Datapoint & { value: number })[]) =>
      `[${[...points]
        .reverse()
        .map((p) => `${formatNumber(p.value)} (${reasonTime(p.start)})`)
        .join(', ')}]`;
    const crossed = (points: readonly (Datapoint & { value: number })[], filled: number, fill: 'Breaching' | 'NonBreaching' | undefined): { state: AlarmState; reason: string } => {
      const breaching = points.filter((p) => breaches(p.value)).length + (fill === 'Breaching' ? filled : 0);
      const state = breaching >= M ? ALARM_STATE.alarm : ALARM_STATE.ok;
      const fills = filled > 0 && fill ? ` and ${plural(filled, 'missing datapoint')} ${filled === 1 ? 'was' : 'were'} treated as [${fill}]` : '';
      if (points.length === 0) return { state, reason: `Threshold Crossed: no datapoints were received for ${plural(filled, 'period')}${fills}.` };
      const words = COMPARISON_WORDS[d.comparison];
      const count = state === 'ALARM' ? breaching : points.length + filled - breaching;
      const verb = count === 1 ? 'was' : 'were';
      const minimum = state === 'ALARM' ? `minimum ${plural(M, 'datapoint')} for OK -> ALARM transition` : `minimum ${plural(N - M + 1, 'datapoint')} for ALARM -> OK transition`;
      return {
        state,
        reason: `Threshold Crossed: ${count} out of the last ${plural(points.length + filled, 'datapoint')} ${describe(points)} ${verb} ${state === 'ALARM' ? '' : 'not '}${words} the threshold (${formatNumber(d.threshold)})${fills} (${minimum}).`,
      };
    };

    // Enough real datapoints: the most recent N decide, missing data is not considered.
    if (real.length >= N) return crossed(real.slice(-N), 0, undefined);
    const missing = N - real.length;
    if (treat === 'breaching') return crossed(real, missing, 'Breaching');
    if (treat === 'notBreaching') return crossed(real, missing, 'NonBreaching');
    // missing / ignore: decide on the real datapoints when they suffice.
    if (real.length === 0) return treat === 'ignore' ? undefined : { state: ALARM_STATE.insufficientData, reason: `Insufficient Data: ${plural(N, 'datapoint')} ${N === 1 ? 'was' : 'were'} unknown.` };
    const breaching = real.filter((p) => breaches(p.value));
    if (breaching.length >= M) return crossed(real, 0, undefined);
    // Avoiding premature transitions: only breaching datapoints, the oldest at least M periods old.
    if (treat === 'missing' && breaching.length === real.length && real[0].age >= M) {
      return { state: ALARM_STATE.alarm, reason: `Threshold Crossed: ${breaching.length} out of the last ${plural(real.length, 'datapoint')} ${describe(real)} ${breaching.length === 1 ? 'was' : 'were'} ${COMPARISON_WORDS[d.comparison]} the threshold (${formatNumber(d.threshold)}) and no datapoint since ${plural(real[0].age, 'period')} ago was below it.` };
    }
    if (breaching.length < real.length) return crossed(real, 0, undefined);
    return treat === 'ignore' ? undefined : { state: ALARM_STATE.insufficientData, reason: `Insufficient Data: ${plural(missing, 'datapoint')} ${missing === 1 ? 'was' : 'were'} unknown.` };
  }
}

// ---------------------------------------------------------------------------------------------
// SNS notification

const REGION_NAMES: Record<string, string> = {
  'us-east-1': 'US East (N. Virginia)',
  'us-east-2': 'US East (Ohio)',
  'us-west-1': 'US West (N. California)',
  'us-west-2': 'US West (Oregon)',
  'ca-central-1': 'Canada (Central)',
  'eu-central-1': 'EU (Frankfurt)',
  'eu-west-1': 'EU (Ireland)',
  'eu-west-2': 'EU (London)',
  'eu-west-3': 'EU (Paris)',
  'eu-north-1': 'EU (Stockholm)',
  'ap-northeast-1': 'Asia Pacific (Tokyo)',
  'ap-southeast-1': 'Asia Pacific (Singapore)',
  'ap-southeast-2': 'Asia Pacific (Sydney)',
  'ap-south-1': 'Asia Pacific (Mumbai)',
  'sa-east-1': 'South America (Sao Paulo)',
};

const partitionOf = (region: string) => (region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws');

/** The alarm's ARN, as in the topic policy's `aws:SourceArn` condition. */
export function alarmArn(alarm: Pick<AlarmDefinition, 'alarmName'>, region: string, accountId: string): string {
  return `arn:${partitionOf(region)}:cloudwatch:${region}:${accountId}:alarm:${alarm.alarmName}`;
}

/** 2026-12-01T11:05:00.000+0000, CloudWatch's time format in alarm messages. */
const messageTime = (t: number) => new Date(t).toISOString().replace('Z', '+0000');

const dimensionList = (dimensions: Readonly<Record<string, string>>) => Object.entries(dimensions).map(([name, value]) => ({ value, name }));

/** The message CloudWatch publishes to an SNS action on a state change (`JSON.stringify` it as the SNS Message). */
export interface AlarmNotification {
  readonly AlarmName: string;
  readonly AlarmDescription: string | null;
  readonly AWSAccountId: string;
  readonly NewStateValue: AlarmState;
  readonly NewStateReason: string;
  readonly StateChangeTime: string;
  readonly Region: string;
  readonly AlarmArn: string;
  readonly OldStateValue: AlarmState;
  readonly OKActions: readonly string[];
  readonly AlarmActions: readonly string[];
  readonly InsufficientDataActions: readonly string[];
  readonly Trigger: Record<string, unknown>;
}

/**
 * The JSON message CloudWatch publishes to SNS when `alarm` changes state.
 *
 * @example
 * for (const change of evaluator.evaluate()) {
 *   const message = JSON.stringify(alarmNotification(change, byLogicalId[change.logicalId], 'us-east-1', '000000000000'));
 *   for (const topicArn of change.actions) publish(topicArn, message);
 * }
 */
export function alarmNotification(change: AlarmStateChange, alarm: AlarmDefinition, region: string, accountId: string): AlarmNotification {
  const common = {
    Period: alarm.periodSeconds,
    EvaluationPeriods: alarm.evaluationPeriods,
    DatapointsToAlarm: alarm.datapointsToAlarm,
    ComparisonOperator: alarm.comparison,
    Threshold: alarm.threshold,
    TreatMissingData: alarm.treatMissingData,
    EvaluateLowSampleCountPercentile: alarm.evaluateLowSampleCountPercentile ?? '',
  };
  let trigger: Record<string, unknown>;
  if (alarm.metric.kind === 'metric') {
    const { stat, extended } = alarm.metric;
    trigger = {
      MetricName: stat.metric.name,
      Namespace: stat.metric.namespace,
      StatisticType: extended ? 'ExtendedStatistic' : 'Statistic',
      ...(extended ? { ExtendedStatistic: stat.stat } : { Statistic: stat.stat.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase() }),
      Unit: stat.unit ?? null,
      Dimensions: dimensionList(stat.metric.dimensions),
      ...common,
    };
  } else {
    trigger = {
      Metrics: alarm.metric.queries.map((q) =>
        q.metricStat
          ? {
              Id: q.id,
              ...(q.label !== undefined && { Label: q.label }),
              MetricStat: {
                Metric: { Dimensions: dimensionList(q.metricStat.metric.dimensions), MetricName: q.metricStat.metric.name, Namespace: q.metricStat.metric.namespace },
                Period: q.metricStat.periodSeconds,
                Stat: q.metricStat.stat,
                ...(q.metricStat.unit !== undefined && { Unit: q.metricStat.unit }),
              },
              ReturnData: q.returnData,
            }
          : { Expression: q.expression, Id: q.id, ...(q.label !== undefined && { Label: q.label }), ReturnData: q.returnData },
      ),
      ...common,
    };
  }
  return {
    AlarmName: alarm.alarmName,
    AlarmDescription: alarm.description ?? null,
    AWSAccountId: accountId,
    NewStateValue: change.newState,
    NewStateReason: change.reason,
    StateChangeTime: messageTime(change.timestamp),
    Region: REGION_NAMES[region] ?? region,
    AlarmArn: alarmArn(alarm, region, accountId),
    OldStateValue: change.oldState,
    OKActions: alarm.okActions,
    AlarmActions: alarm.alarmActions,
    InsufficientDataActions: alarm.insufficientDataActions,
    Trigger: trigger,
  };
}

/** The metrics an alarm reads, e.g. to check that something emits them. */
export function alarmMetrics(alarm: AlarmDefinition): MetricId[] {
  const metrics = alarm.metric.kind === 'metric' ? [alarm.metric.stat.metric] : alarm.metric.queries.flatMap((q) => (q.metricStat ? [q.metricStat.metric] : []));
  return [...new Map(metrics.map((m) => [metricKey(m), m])).values()];
}
