/**
 * CloudWatch, locally: the metrics the functions print as EMF and the service metrics AWS would
 * record (AWS/SQS, AWS/Lambda, AWS/ApiGateway) go into one store; every alarm of the template is
 * evaluated on it as CloudWatch evaluates it; a state change is logged, written to
 * `<dir>/alarms.json` (what `makini-webhooks health` shows) and published to the alarm's actions as
 * cloudwatch.amazonaws.com, through the topic's policy and key policy, as on AWS.
 *
 * `periodScale` shortens every period (1/60: a one-minute period lasts a second) so that tests
 * and demos see alarms fire and clear in seconds.
 */
import { writeFileSync } from 'node:fs';
import { AlarmEvaluator, alarmArn, alarmFromTemplate, alarmNotification, type AlarmDefinition, type AlarmStatus } from './aws/cloudwatch-alarms';
import { MetricStore, parseEmf, type MetricDatum } from './aws/cloudwatch-metrics';
import type { LocalTopics } from './aws/sns';

export interface LocalCloudWatchOptions {
  /** The template's alarms: logical id and Properties with intrinsics resolved. */
  readonly alarms: readonly (readonly [string, unknown])[];
  readonly stackName: string;
  readonly region: string;
  readonly accountId: string;
  readonly topics: LocalTopics;
  /** Where the alarm states are written after every change. */
  readonly stateFile: string;
  /** Service metrics to record at each evaluation (queue depth and age, as SQS reports them each minute). */
  readonly sample: () => MetricDatum[];
  /** @default 1 */
  readonly periodScale?: number;
  readonly log: (line: string) => void;
}

export class LocalCloudWatch {
  readonly store = new MetricStore();
  private readonly definitions: Map<string, AlarmDefinition>;
  private readonly evaluator: AlarmEvaluator;
  private timer?: NodeJS.Timeout;
  private malformed = 0;

  constructor(private readonly options: LocalCloudWatchOptions) {
    const definitions = options.alarms.map(([id, properties]) => alarmFromTemplate(id, properties, { stackName: options.stackName }));
    this.definitions = new Map(definitions.map((d) => [d.logicalId, d]));
    this.evaluator = new AlarmEvaluator(this.store, definitions, { periodScale: options.periodScale ?? 1 });
  }

  /** A line a function printed: its EMF metrics, if any, are recorded. */
  putLogLine(line: string): void {
    try {
      this.store.put(parseEmf(line));
    } catch (error) {
      // CloudWatch drops an EMF line it cannot read (and counts it); so do we, and say so once.
      if (this.malformed++ === 0) this.options.log(`an EMF line could not be read and was dropped: ${(error as Error).message}`);
    }
  }

  put(data: MetricDatum | readonly MetricDatum[]): void {
    this.store.put(data);
  }

  /** Evaluates now, then every CloudWatch evaluation interval (scaled). */
  start(): void {
    this.tick();
    this.timer = setInterval(() => this.tick(), this.evaluator.evaluationIntervalMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  states(): AlarmStatus[] {
    return this.evaluator.states();
  }

  /** One evaluation: sample the service metrics, evaluate, act on the changes. */
  tick(now = Date.now()): void {
    this.store.put(this.options.sample());
    this.store.dropBefore(now - this.evaluator.retentionMs - 60_000);
    const changes = this.evaluator.evaluate(now);
    for (const change of changes) {
      const alarm = this.definitions.get(change.logicalId)!;
      // Into or out of ALARM is news; the first evaluations' INSUFFICIENT_DATA -> OK is not.
      if (change.newState === 'ALARM' || change.oldState === 'ALARM') this.options.log(`alarm ${alarm.alarmName}: ${change.oldState} -> ${change.newState} (${change.reason})`);
      const message = JSON.stringify(alarmNotification(change, alarm, this.options.region, this.options.accountId));
      for (const action of change.actions) {
        try {
          this.options.topics.publish('cloudwatch.amazonaws.com', action, message, { subject: `${change.newState}: "${alarm.alarmName}" in ${this.options.region}`, sourceArn: alarmArn(alarm, this.options.region, this.options.accountId) });
        } catch (error) {
          this.options.log(`alarm ${alarm.alarmName} could not notify ${action}: ${(error as Error).message}`);
        }
      }
    }
    if (changes.length > 0 || this.writes++ === 0) writeFileSync(this.options.stateFile, `${JSON.stringify(this.states(), null, 2)}\n`);
  }
  private writes = 0;
}
