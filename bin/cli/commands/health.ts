/** `makini-webhooks health`: a one-screen summary of a stack, local or deployed. */
import { CloudWatchClient, DescribeAlarmsCommand, GetMetricStatisticsCommand } from '@aws-sdk/client-cloudwatch';
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { AlarmStatus } from '../../../local/aws/cloudwatch-alarms';
import { addJsonOption, addTargetOptions, json, noExtraArguments, resolveTarget, storeFor, subcommand, UsageError, type CommandContext, type TargetOptions } from '../shared';

export function register(program: Command, { io, exit }: CommandContext): void {
  addTargetOptions(
    addJsonOption(
      subcommand(program, 'health', 'a one-screen summary: queue, DLQ, connections, last webhook and poll, alarms')
        .usage('[--json] [--stack NAME | --local-dir D]')
        .description("Queue depth (and, on AWS, age), DLQ size, connections by status, the last webhook, the last poll, and the stack's alarms in ALARM (the local stack evaluates the template's alarms itself)."),
      'print the summary as one JSON object',
    ),
  ).action(async (values: TargetOptions & { json?: boolean }, cmd: Command) => {
    noExtraArguments(cmd.args);
    const target = await resolveTarget(values);
    const sqs = new SQSClient(target.client('sqs'));
    const { store, close } = storeFor(target);
    try {
      const attrs = async (url: string) => (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes ?? {};
      const [queue, dlq, connections] = await Promise.all([attrs(target.queueUrl), attrs(target.deadLetterQueueUrl), store.listConnections()]);
      const byStatus: Record<string, number> = {};
      for (const c of connections) byStatus[c.state?.status ?? 'unknown'] = (byStatus[c.state?.status ?? 'unknown'] ?? 0) + 1;
      const latest = (times: (string | undefined)[]) => times.filter((v): v is string => !!v).sort().at(-1) ?? null;
      const summary = {
        target: target.name,
        queue: { visible: Number(queue.ApproximateNumberOfMessages ?? 0), inFlight: Number(queue.ApproximateNumberOfMessagesNotVisible ?? 0), oldestAgeSeconds: target.aws ? await queueAge(target.queueUrl) : null },
        deadLetterQueue: Number(dlq.ApproximateNumberOfMessages ?? 0) + Number(dlq.ApproximateNumberOfMessagesNotVisible ?? 0),
        connections: { total: connections.length, ...byStatus },
        lastWebhookAt: latest(connections.map((c) => c.state?.lastWebhookAt)),
        lastPolledAt: latest(connections.map((c) => c.poll?.lastPolledAt)),
        alarmsInAlarm: target.aws ? await alarmsInAlarm(target.name) : localAlarmsInAlarm(target.localAlarmsFile),
      };
      if (values.json) io.stdout.write(json(summary));
      else {
        const q = summary.queue;
        io.stdout.write(
          [
            `health of ${target.name}`,
            `  queue           ${q.visible} waiting, ${q.inFlight} in flight${q.oldestAgeSeconds === null ? '' : `, oldest ${q.oldestAgeSeconds} s`}`,
            `  dead letters    ${summary.deadLetterQueue}`,
            `  connections     ${connections.length} (${Object.entries(byStatus).map(([s, n]) => `${n} ${s}`).join(', ') || 'none'})`,
            `  last webhook    ${summary.lastWebhookAt ?? '-'}`,
            `  last poll       ${summary.lastPolledAt ?? '-'}`,
            `  alarms          ${summary.alarmsInAlarm === null ? '(unknown: no alarm states yet)' : summary.alarmsInAlarm.length === 0 ? 'none in ALARM' : summary.alarmsInAlarm.join(', ')}`,
            '',
          ].join('\n'),
        );
      }
      exit(0);
    } finally {
      sqs.destroy();
      close();
    }
  });
}

/** The queue's ApproximateAgeOfOldestMessage over the last 5 minutes (a CloudWatch metric, not a queue attribute). */
export async function queueAge(queueUrl: string): Promise<number | null> {
  const cloudwatch = new CloudWatchClient({});
  try {
    const now = Date.now();
    const { Datapoints = [] } = await cloudwatch.send(
      new GetMetricStatisticsCommand({ Namespace: 'AWS/SQS', MetricName: 'ApproximateAgeOfOldestMessage', Dimensions: [{ Name: 'QueueName', Value: queueUrl.slice(queueUrl.lastIndexOf('/') + 1) }], StartTime: new Date(now - 600_000), EndTime: new Date(now), Period: 300, Statistics: ['Maximum'] }),
    );
    const latest = Datapoints.sort((a, b) => (b.Timestamp?.getTime() ?? 0) - (a.Timestamp?.getTime() ?? 0))[0];
    return latest?.Maximum ?? null;
  } finally {
    cloudwatch.destroy();
  }
}

/** The local stack's alarms in ALARM, from the states file it rewrites on each change (null before its first evaluation). */
function localAlarmsInAlarm(file: string | undefined): string[] | null {
  return localAlarmStates(file)?.filter((a) => a.state === 'ALARM').map((a) => a.alarmName) ?? null;
}

/** Every alarm's state as the local stack last wrote it (`health`, the console); null before its first evaluation. */
export function localAlarmStates(file: string | undefined): AlarmStatus[] | null {
  if (file === undefined || !existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as AlarmStatus[];
  } catch {
    throw new UsageError(`${file} is not valid JSON: is the local state directory corrupt?`);
  }
}

/** The stack's alarms in ALARM: CloudFormation names them after the stack. */
export async function alarmsInAlarm(stackName: string): Promise<string[]> {
  const cloudwatch = new CloudWatchClient({});
  try {
    const { MetricAlarms = [] } = await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNamePrefix: stackName, StateValue: 'ALARM' }));
    return MetricAlarms.map((a) => a.AlarmName ?? '?');
  } finally {
    cloudwatch.destroy();
  }
}
