/**
 * Local CloudWatch metrics: what the functions print in the Embedded Metric Format (EMF), parsed
 * into datapoints, and a store that answers statistics over a time range, as CloudWatch does for
 * an alarm. Pure: no I/O, no clock (every time is an argument).
 *
 * - {@link parseEmf} reads one log line. Powertools prints one EMF object per flush:
 *   `{"_aws":{"Timestamp":…,"CloudWatchMetrics":[{"Namespace":…,"Dimensions":[["service"]],"Metrics":[{"Name":…,"Unit":…}]}]},"service":"receiver","WebhookReceived":[1,1]}`
 * - {@link MetricStore} keeps datapoints per metric (namespace, name and exact dimension set, as
 *   CloudWatch identifies a metric) and computes Sum, Average, Minimum, Maximum, SampleCount and
 *   percentiles (pNN, pNN.NN) over [start, end). Service metrics (AWS/SQS, AWS/Lambda,
 *   AWS/ApiGateway) are put with the same {@link MetricStore.put}.
 *
 * Spec: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
 */

/** One EMF metric value set, or one service datapoint. */
export interface MetricDatum {
  readonly namespace: string;
  readonly name: string;
  /** The exact dimension set; a metric with other dimensions is another metric. */
  readonly dimensions: Readonly<Record<string, string>>;
  /** Milliseconds since the epoch. */
  readonly timestamp: number;
  /** Each value is one sample (EMF arrays give several). */
  readonly values: readonly number[];
  /** CloudWatch's unit; `None` when the datum gives none. */
  readonly unit?: string;
}

/** A metric as alarms name it. */
export interface MetricId {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Readonly<Record<string, string>>;
}

/** `Sum`, `Average`, `Minimum`, `Maximum`, `SampleCount`, or a percentile such as `p99` or `p99.9`. */
export type Statistic = 'Sum' | 'Average' | 'Minimum' | 'Maximum' | 'SampleCount' | `p${number}`;

export const STATISTICS = ['Sum', 'Average', 'Minimum', 'Maximum', 'SampleCount'] as const;

const PERCENTILE = /^p(100|\d{1,2}(\.\d{1,10})?)$/;

/**
 * The statistic named by `text`, or undefined when CloudWatch has none of that name here (trimmed
 * means and the other extended statistics are not supported).
 *
 * @example
 * parseStatistic('p99'); // 'p99'
 * parseStatistic('tm90'); // undefined
 */
export function parseStatistic(text: string): Statistic | undefined {
  if ((STATISTICS as readonly string[]).includes(text)) return text as Statistic;
  const match = PERCENTILE.exec(text);
  if (match && Number(match[1]) > 0) return text as Statistic;
  return undefined;
}

/** The percentile of `p99.9` as 99.9, or undefined for the simple statistics. */
export function percentileOf(statistic: Statistic): number | undefined {
  return statistic.startsWith('p') ? Number(statistic.slice(1)) : undefined;
}

/** A line that claims to be EMF (it has `_aws.CloudWatchMetrics`) but breaks the specification. CloudWatch would extract no metric from it. */
export class EmfFormatError extends Error {
  override readonly name = 'EmfFormatError';
  constructor(readonly problem: string) {
    super(`invalid EMF: ${problem}`);
  }
}

/** A JSON object (not an array, not null). */
export const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The datapoints in one log line of the Embedded Metric Format: one per metric and dimension set of
 * each `_aws.CloudWatchMetrics` directive. A line that is not EMF (not JSON, or no
 * `_aws.CloudWatchMetrics`) gives `[]`; an EMF line that breaks the specification throws
 * {@link EmfFormatError} (log it: CloudWatch would drop its metrics).
 *
 * @example
 * parseEmf('{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["service"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]},"service":"receiver","M":[1,1]}');
 * // [{ namespace: 'N', name: 'M', dimensions: { service: 'receiver' }, timestamp: 1, values: [1, 1], unit: 'Count' }]
 */
export function parseEmf(line: string): MetricDatum[] {
  const text = line.trim();
  if (!text.startsWith('{') || !text.includes('"_aws"')) return [];
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    return [];
  }
  if (!isRecord(root) || !isRecord(root._aws) || root._aws.CloudWatchMetrics === undefined) return [];
  const doc: Record<string, unknown> = root;
  const { Timestamp: timestamp, CloudWatchMetrics: directives } = root._aws;
  if (typeof timestamp !== 'number' || !Number.isFinite(timestamp) || timestamp < 0) throw new EmfFormatError('_aws.Timestamp must be milliseconds since the epoch');
  if (!Array.isArray(directives)) throw new EmfFormatError('_aws.CloudWatchMetrics must be an array');
  const data: MetricDatum[] = [];
  directives.forEach((directive, d) => {
    const at = `_aws.CloudWatchMetrics[${d}]`;
    if (!isRecord(directive)) throw new EmfFormatError(`${at} must be an object`);
    const { Namespace: namespace, Dimensions: dimensionSets, Metrics: metrics } = directive;
    if (typeof namespace !== 'string' || namespace.length === 0 || namespace.length > 255) throw new EmfFormatError(`${at}.Namespace must be a string of 1 to 255 characters`);
    if (!Array.isArray(dimensionSets) || !dimensionSets.every((set) => Array.isArray(set) && set.every((key) => typeof key === 'string'))) {
      throw new EmfFormatError(`${at}.Dimensions must be an array of arrays of dimension names`);
    }
    if (!Array.isArray(metrics)) throw new EmfFormatError(`${at}.Metrics must be an array`);
    // An empty Dimensions array publishes the metrics without dimensions, as an empty set does.
    const sets: readonly (readonly string[])[] = dimensionSets.length === 0 ? [[]] : (dimensionSets as string[][]);
    const resolvedSets = sets.map((set, s) => {
      if (set.length > 30) throw new EmfFormatError(`${at}.Dimensions[${s}] has more than 30 dimensions`);
      const dimensions: Record<string, string> = {};
      for (const key of set) {
        const value = doc[key];
        if (typeof value !== 'string') throw new EmfFormatError(`dimension ${JSON.stringify(key)} must be a string member of the root object`);
        dimensions[key] = value;
      }
      return dimensions;
    });
    const seen = new Set<string>();
    metrics.forEach((metric, m) => {
      if (!isRecord(metric) || typeof metric.Name !== 'string' || metric.Name.length === 0) throw new EmfFormatError(`${at}.Metrics[${m}].Name must be a non-empty string`);
      if (metric.Unit !== undefined && typeof metric.Unit !== 'string') throw new EmfFormatError(`${at}.Metrics[${m}].Unit must be a string`);
      if (seen.has(metric.Name)) return;
      seen.add(metric.Name);
      const raw = doc[metric.Name];
      const values = Array.isArray(raw) ? raw : [raw];
      if (values.length === 0 || !values.every((v) => typeof v === 'number' && Number.isFinite(v))) {
        throw new EmfFormatError(`metric ${JSON.stringify(metric.Name)} must be a number or an array of numbers in the root object`);
      }
      for (const dimensions of resolvedSets) {
        data.push({ namespace, name: metric.Name, dimensions, timestamp, values: values as number[], unit: (metric.Unit as string | undefined) ?? 'None' });
      }
    });
  });
  return data;
}

/** The key CloudWatch identifies a metric by: namespace, name and the exact dimension set (order does not matter). */
export function metricKey(metric: MetricId): string {
  const dimensions = Object.keys(metric.dimensions)
    .sort()
    .map((k) => [k, metric.dimensions[k]]);
  return JSON.stringify([metric.namespace, metric.name, dimensions]);
}

/** The samples of one metric and unit whose timestamps fall in one bucket of the store's resolution. */
interface Bucket {
  readonly start: number;
  readonly values: number[];
}

interface Series {
  readonly metric: MetricId;
  /** Per unit, buckets in ascending time. */
  readonly units: Map<string, Bucket[]>;
}

/** The first index whose bucket starts at or after t. */
function lowerBound(buckets: readonly Bucket[], t: number): number {
  let lo = 0;
  let hi = buckets.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (buckets[mid].start < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** A statistic of samples (nearest-rank percentiles), or undefined when there are none. */
export function computeStatistic(values: readonly number[], statistic: Statistic): number | undefined {
  if (values.length === 0) return undefined;
  switch (statistic) {
    case 'SampleCount':
      return values.length;
    case 'Sum':
      return values.reduce((a, b) => a + b, 0);
    case 'Average':
      return values.reduce((a, b) => a + b, 0) / values.length;
    case 'Minimum':
      return values.reduce((a, b) => Math.min(a, b));
    case 'Maximum':
      return values.reduce((a, b) => Math.max(a, b));
    default: {
      const p = percentileOf(statistic)!;
      const sorted = [...values].sort((a, b) => a - b);
      return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)];
    }
  }
}

export interface MetricStoreOptions {
  /**
   * Samples are kept per bucket of this many milliseconds (a datapoint's time is its bucket's
   * start): CloudWatch stores data at 1-second resolution at best. With scaled periods, scale
   * this too (1000 × periodScale).
   * @default 1000
   */
  readonly resolutionMs?: number;
}

/**
 * Datapoints by metric, queried as CloudWatch answers an alarm. Memory is about 8 bytes a sample,
 * bounded by {@link MetricStore.dropBefore}, which the alarm evaluator calls with each metric's
 * longest evaluation range.
 *
 * @example
 * const store = new MetricStore();
 * for (const line of output.split('\n')) store.put(parseEmf(line));
 * store.query({ namespace: 'MakiniWebhooks', name: 'SignatureRejected', dimensions: { service: 'receiver' } }, 'Sum', start, end);
 */
export class MetricStore {
  readonly #series = new Map<string, Series>();
  readonly #resolution: number;
  #size = 0;

  constructor(options: MetricStoreOptions = {}) {
    this.#resolution = options.resolutionMs ?? 1000;
    if (!(this.#resolution > 0)) throw new RangeError(`resolutionMs must be > 0, got ${this.#resolution}`);
  }

  /** Adds datapoints (one or many). */
  put(data: MetricDatum | readonly MetricDatum[]): void {
    for (const datum of Array.isArray(data) ? (data as readonly MetricDatum[]) : [data as MetricDatum]) {
      if (!Number.isFinite(datum.timestamp)) throw new RangeError(`metric ${datum.name}: timestamp must be a number of milliseconds`);
      if (datum.values.length === 0) continue;
      if (!datum.values.every((v) => Number.isFinite(v))) throw new RangeError(`metric ${datum.name}: values must be finite numbers`);
      const key = metricKey(datum);
      let series = this.#series.get(key);
      if (!series) {
        series = { metric: { namespace: datum.namespace, name: datum.name, dimensions: { ...datum.dimensions } }, units: new Map() };
        this.#series.set(key, series);
      }
      const unit = datum.unit ?? 'None';
      let buckets = series.units.get(unit);
      if (!buckets) series.units.set(unit, (buckets = []));
      const start = Math.floor(datum.timestamp / this.#resolution) * this.#resolution;
      // Datapoints arrive almost always in order: the last bucket, else a search.
      const last = buckets[buckets.length - 1];
      const at = !last || last.start <= start ? buckets.length - (last?.start === start ? 1 : 0) : lowerBound(buckets, start);
      if (buckets[at]?.start === start) buckets[at].values.push(...datum.values);
      else buckets.splice(at, 0, { start, values: [...datum.values] });
      this.#size += datum.values.length;
    }
  }

  /**
   * The statistic of the metric's samples with start <= time < end (a sample's time is its
   * bucket's start), or undefined when there is none (a missing datapoint). With `unit`, only
   * samples published with that unit count.
   */
  query(metric: MetricId, statistic: Statistic, start: number, end: number, unit?: string): number | undefined {
    return computeStatistic(this.samples(metric, start, end, unit), statistic);
  }

  /** The raw samples of the metric with start <= time < end. */
  samples(metric: MetricId, start: number, end: number, unit?: string): number[] {
    const series = this.#series.get(metricKey(metric));
    if (!series) return [];
    const values: number[] = [];
    for (const [u, buckets] of series.units) {
      if (unit !== undefined && u !== unit) continue;
      for (let i = lowerBound(buckets, start); i < buckets.length && buckets[i].start < end; i++) values.push(...buckets[i].values);
    }
    return values;
  }

  /**
   * Forgets every sample older than `timestamp`, or, given a function, older than what it returns
   * for each metric (e.g. the longest window of the alarms reading it).
   */
  dropBefore(timestamp: number | ((metric: MetricId) => number)): void {
    for (const [key, series] of this.#series) {
      const cutoff = typeof timestamp === 'number' ? timestamp : timestamp(series.metric);
      for (const [unit, buckets] of series.units) {
        const cut = lowerBound(buckets, cutoff);
        if (cut === 0) continue;
        for (let i = 0; i < cut; i++) this.#size -= buckets[i].values.length;
        buckets.splice(0, cut);
        if (buckets.length === 0) series.units.delete(unit);
      }
      if (series.units.size === 0) this.#series.delete(key);
    }
  }

  /** The metrics that have datapoints, e.g. for `health`. */
  metrics(): MetricId[] {
    return [...this.#series.values()].map((s) => s.metric);
  }

  /** How many samples are held. */
  get size(): number {
    return this.#size;
  }
}
