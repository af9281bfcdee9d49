/**
 * Row 6 of `npm run bench`: what one million webhooks cost in us-east-1, from the figures the other
 * rows measured and AWS's public list prices. docs/cost.md explains every line.
 *
 * Prices: us-east-1 list prices, without free tiers, savings plans or volume tiers. No network here:
 * each was recorded from the AWS pricing page named beside it; `since` is the date from which that
 * price applies (the last price change we know of). Check them before quoting the result.
 */
import type { Row } from './rows';

export const PRICES = {
  apiGatewayHttpPerMillion: { usd: 1.0, since: '2020-03-12', page: 'aws.amazon.com/api-gateway/pricing (HTTP APIs, first 300 M requests/month, per 512 KB)' },
  lambdaRequestsPerMillion: { usd: 0.2, since: '2021-09-29', page: 'aws.amazon.com/lambda/pricing (requests)' },
  lambdaArmGbSecond: { usd: 0.0000133334, since: '2021-09-29', page: 'aws.amazon.com/lambda/pricing (Arm, first 7.5 B GB-s/month)' },
  sqsStandardPerMillion: { usd: 0.4, since: '2020-01-01', page: 'aws.amazon.com/sqs/pricing (standard queue, per 64 KB chunk)' },
  dynamoWruPerMillion: { usd: 0.625, since: '2024-11-01', page: 'aws.amazon.com/dynamodb/pricing/on-demand (write request units)' },
  dynamoRruPerMillion: { usd: 0.125, since: '2024-11-01', page: 'aws.amazon.com/dynamodb/pricing/on-demand (read request units)' },
  dynamoStorageGbMonth: { usd: 0.25, since: '2018-11-28', page: 'aws.amazon.com/dynamodb/pricing/on-demand (storage, standard table class)' },
  dynamoPitrGbMonth: { usd: 0.2, since: '2018-11-28', page: 'aws.amazon.com/dynamodb/pricing/on-demand (continuous backups)' },
  eventBridgeEventsPerMillion: { usd: 1.0, since: '2019-07-11', page: 'aws.amazon.com/eventbridge/pricing (custom events, per 64 KB)' },
  eventBridgeArchiveGb: { usd: 0.1, since: '2020-11-05', page: 'aws.amazon.com/eventbridge/pricing (archive, events processed)' },
  eventBridgeArchiveGbMonth: { usd: 0.023, since: '2020-11-05', page: 'aws.amazon.com/eventbridge/pricing (archive storage)' },
  logsIngestGb: { usd: 0.5, since: '2017-01-01', page: 'aws.amazon.com/cloudwatch/pricing (Logs, standard class ingestion)' },
  logsStorageGbMonth: { usd: 0.03, since: '2017-01-01', page: 'aws.amazon.com/cloudwatch/pricing (Logs storage, compressed)' },
  xrayTracesPerMillion: { usd: 5.0, since: '2017-04-19', page: 'aws.amazon.com/xray/pricing (traces recorded)' },
} as const;

/** Published prices of the two hosted alternatives, as transcribed from their pricing pages on 2026-09-20. */
export const ALTERNATIVES = {
  hookdeck: { perMillion: 10.0, floorPerMillion: 3.3, plan: 'Team $39/month', note: 'hookdeck.com/pricing: $1.00 per additional 100k events, "as low as $0.33 per 100k" at volume' },
  svix: { perMillion: 100.0, plan: 'Professional $490/month', note: 'svix.com/pricing: $0.0001 per message beyond the plan' },
} as const;

/** Assumptions that are not measured here; docs/cost.md says why each is what it is. */
export const ASSUMPTIONS = {
  /** Lambda's START, END and REPORT lines per invocation (text format), bytes. */
  lambdaPlatformLogBytes: 330,
  /** Memory of the receiver and consumer (the config defaults), GB. */
  receiverGb: 0.5,
  consumerGb: 0.5,
  /** Days items and logs are kept: the config defaults (history 30 days, logs 30 days, archive 30 days). */
  retentionDays: 30,
  /** Bytes of one archived bus event (the event with the state it led to). */
  busEventBytes: 1_200,
} as const;

export interface CostInputs {
  /** SQS requests per webhook (send, receive and delete shares). */
  readonly sqsRequests: number;
  readonly busEvents: number;
  readonly wru: number;
  readonly rru: number;
  readonly receiverMs: number;
  readonly consumerInvocations: number;
  readonly consumerMs: number;
  /** Log bytes per webhook: receiver and consumer lines and EMF, and the API access log line. */
  readonly receiverLogBytes: number;
  readonly consumerLogBytes: number;
  readonly accessLogBytes: number;
  readonly webhookItemBytes: number;
}

export interface CostLine {
  readonly item: string;
  readonly usdPerMillion: number;
  readonly basis: string;
}

/** Dollars per million webhooks, line by line. Lambda bills whole milliseconds: durations are rounded up. */
export function costPerMillion(inputs: CostInputs, options: { tracing: boolean }): CostLine[] {
  const M = 1_000_000;
  const GB = 1024 ** 3;
  const receiverBilledMs = Math.ceil(inputs.receiverMs);
  const consumerBilledMsPerInvocation = Math.ceil(inputs.consumerMs / inputs.consumerInvocations);
  const logBytes = inputs.receiverLogBytes + inputs.consumerLogBytes + inputs.accessLogBytes + ASSUMPTIONS.lambdaPlatformLogBytes * (1 + inputs.consumerInvocations);
  const storedMonths = ASSUMPTIONS.retentionDays / 30;
  const lines: CostLine[] = [
    { item: 'API Gateway HTTP API', usdPerMillion: PRICES.apiGatewayHttpPerMillion.usd, basis: '1 request per webhook' },
    { item: 'Lambda requests', usdPerMillion: PRICES.lambdaRequestsPerMillion.usd * (1 + inputs.consumerInvocations), basis: `1 receiver + ${round3(inputs.consumerInvocations)} consumer invocations` },
    {
      item: 'Lambda duration (arm64)',
      usdPerMillion: (M * (receiverBilledMs * ASSUMPTIONS.receiverGb + inputs.consumerInvocations * consumerBilledMsPerInvocation * ASSUMPTIONS.consumerGb) * PRICES.lambdaArmGbSecond.usd) / 1000,
      basis: `receiver ${receiverBilledMs} ms, consumer ${consumerBilledMsPerInvocation} ms per batch, 512 MB each`,
    },
    { item: 'SQS', usdPerMillion: PRICES.sqsStandardPerMillion.usd * inputs.sqsRequests, basis: `${round3(inputs.sqsRequests)} requests per webhook` },
    { item: 'DynamoDB writes', usdPerMillion: PRICES.dynamoWruPerMillion.usd * inputs.wru, basis: `${round3(inputs.wru)} WRU per webhook` },
    { item: 'DynamoDB reads', usdPerMillion: PRICES.dynamoRruPerMillion.usd * inputs.rru, basis: `${round3(inputs.rru)} RRU per webhook` },
    {
      item: 'DynamoDB storage + PITR',
      usdPerMillion: ((M * inputs.webhookItemBytes) / GB) * (PRICES.dynamoStorageGbMonth.usd + PRICES.dynamoPitrGbMonth.usd) * storedMonths,
      basis: `${Math.round(inputs.webhookItemBytes)} B per item, kept ${ASSUMPTIONS.retentionDays} days`,
    },
    { item: 'EventBridge events', usdPerMillion: PRICES.eventBridgeEventsPerMillion.usd * inputs.busEvents, basis: `${inputs.busEvents} event per webhook` },
    {
      item: 'EventBridge archive',
      usdPerMillion: ((M * ASSUMPTIONS.busEventBytes) / GB) * (PRICES.eventBridgeArchiveGb.usd + PRICES.eventBridgeArchiveGbMonth.usd * storedMonths),
      basis: `${ASSUMPTIONS.busEventBytes} B per event, kept ${ASSUMPTIONS.retentionDays} days`,
    },
    {
      item: 'CloudWatch Logs',
      usdPerMillion: ((M * logBytes) / GB) * (PRICES.logsIngestGb.usd + PRICES.logsStorageGbMonth.usd * storedMonths),
      basis: `${Math.round(logBytes)} B per webhook at INFO (receiver ${Math.round(inputs.receiverLogBytes)}, consumer ${Math.round(inputs.consumerLogBytes)}, access log ${Math.round(inputs.accessLogBytes)}, platform lines)`,
    },
  ];
  if (options.tracing) {
    lines.push({ item: 'X-Ray (tracing on, upper bound)', usdPerMillion: PRICES.xrayTracesPerMillion.usd * (1 + inputs.consumerInvocations), basis: 'every invocation sampled: true below ~1 webhook/s, where the 1/s reservoir covers all' });
  }
  return lines;
}

const round3 = (n: number) => Math.round(n * 1000) / 1000;
const dollars = (n: number) => `$${n.toFixed(n < 0.1 ? 3 : 2)}`;

/** The cost rows: each line, then the total as deployed by default (tracing off), and with tracing on. */
export function costRows(rows: Row[], inputs: CostInputs): void {
  const lines = costPerMillion(inputs, { tracing: false });
  for (const line of lines) rows.push({ metric: `cost per million: ${line.item}`, value: round3(line.usdPerMillion), unit: 'USD', baseline: line.basis });
  const total = lines.reduce((n, l) => n + l.usdPerMillion, 0);
  const xray = costPerMillion(inputs, { tracing: true }).reduce((n, l) => n + l.usdPerMillion, 0);
  rows.push({
    metric: 'cost per million webhooks, us-east-1, all-in (default configuration: tracing off)',
    value: round3(total),
    unit: 'USD',
    target: '≤ $3.50',
    baseline: `with X-Ray on every invocation ${dollars(xray)}; Hookdeck ${dollars(ALTERNATIVES.hookdeck.perMillion)} (${dollars(ALTERNATIVES.hookdeck.floorPerMillion)} at volume) + ${ALTERNATIVES.hookdeck.plan}; Svix ${dollars(ALTERNATIVES.svix.perMillion)} + ${ALTERNATIVES.svix.plan}`,
    met: total <= 3.5,
  });
}

/** Bytes of one API Gateway access log line in our format, with typical values filled in. */
export function accessLogLineBytes(format: string): number {
  const typical: Record<string, string> = {
    '$context.requestId': 'Kx9ZqgQ0IAMEbXw=',
    '$context.requestTime': '22/Nov/2026:08:00:00 +0000',
    '$context.identity.sourceIp': '203.0.113.10',
    '$context.identity.userAgent': 'Makini-Webhooks/1.0',
    '$context.httpMethod': 'POST',
    '$context.routeKey': 'POST /webhooks',
    '$context.status': '200',
    '$context.protocol': 'HTTP/1.1',
    '$context.responseLength': '51',
    '$context.responseLatency': '12',
    '$context.integration.status': '200',
    '$context.integration.latency': '11',
    '$context.integration.error': '-',
    '$context.error.message': '-',
  };
  return Buffer.byteLength(format.replace(/\$context\.[A-Za-z.]+/g, (v) => typical[v] ?? '-'));
}

