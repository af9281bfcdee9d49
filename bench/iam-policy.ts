/**
 * Speed of the local policy evaluator (local/aws/iam-policy.ts), which the local stack runs on every
 * SDK call and every delivery, against @cloud-copilot/iam-simulate on the same requests and policies
 * (the stack's own shapes: a role policy, the alarm topic's policy with its conditions, the topic key's
 * policy). Figures, never assertions.
 *
 * `iamPolicy` is a bench section (rows, figures) => Promise<void>, like those of bench/run.ts;
 * `npx tsx bench/iam-policy.ts` prints its rows alone.
 */
import { runSimulation, type Simulation } from '@cloud-copilot/iam-simulate';
import { evaluateAccess, type AccessPolicies, type AccessRequest, type PolicyDocument } from '../local/aws/iam-policy';
import { median, round, type Row } from './rows';

const A = '000000000000';
const R = 'eu-west-1';
const QUEUE = `arn:aws:sqs:${R}:${A}:WebhooksQueue`;
const TOPIC = `arn:aws:sns:${R}:${A}:AlarmTopic`;
const KEY = `arn:aws:kms:${R}:${A}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const ROLE = `arn:aws:iam::${A}:role/ReceiverRole`;

const receiverPolicy: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: `arn:aws:logs:${R}:${A}:log-group:ReceiverLogs:*` },
    { Effect: 'Allow', Action: ['secretsmanager:DescribeSecret', 'secretsmanager:GetSecretValue'], Resource: `arn:aws:secretsmanager:${R}:${A}:secret:SigningSecret-AbCdEf` },
    { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: QUEUE },
  ],
};
const alarmTopicPolicy: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    { Sid: 'AllowPublishThroughSSLOnly', Effect: 'Deny', Principal: '*', Action: 'sns:Publish', Resource: TOPIC, Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
    {
      Sid: 'AllowCloudWatchAlarms',
      Effect: 'Allow',
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: 'sns:Publish',
      Resource: TOPIC,
      Condition: { StringEquals: { 'aws:SourceAccount': A }, ArnLike: { 'aws:SourceArn': `arn:aws:cloudwatch:${R}:${A}:alarm:*` } },
    },
  ],
};
const keyPolicy: PolicyDocument = {
  Version: '2012-10-17',
  Statement: [
    { Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${A}:root` }, Action: 'kms:*', Resource: '*' },
    { Effect: 'Allow', Principal: { Service: ['cloudwatch.amazonaws.com', 'events.amazonaws.com'] }, Action: ['kms:Decrypt', 'kms:GenerateDataKey*'], Resource: '*' },
  ],
};

const cases: { name: string; request: AccessRequest; policies: AccessPolicies; simPrincipal: string }[] = [
  {
    name: 'role → sqs:SendMessage (role policy)',
    request: { principal: { kind: 'role', arn: ROLE, sessionName: 'receiver' }, action: 'sqs:SendMessage', resource: QUEUE },
    policies: { accountId: A, identity: [receiverPolicy] },
    simPrincipal: `arn:aws:sts::${A}:assumed-role/ReceiverRole/receiver`,
  },
  {
    name: 'CloudWatch → sns:Publish (topic policy, 3 conditions)',
    request: {
      principal: { kind: 'service', service: 'cloudwatch.amazonaws.com' },
      action: 'sns:Publish',
      resource: TOPIC,
      context: { 'aws:SourceArn': `arn:aws:cloudwatch:${R}:${A}:alarm:QueueBacklog`, 'aws:SourceAccount': A, 'aws:SecureTransport': 'true' },
    },
    policies: { accountId: A, resource: alarmTopicPolicy },
    simPrincipal: 'cloudwatch.amazonaws.com',
  },
  {
    name: 'CloudWatch → kms:GenerateDataKey (key policy)',
    request: { principal: { kind: 'service', service: 'cloudwatch.amazonaws.com' }, action: 'kms:GenerateDataKey', resource: KEY },
    policies: { accountId: A, resource: keyPolicy, kmsKey: true },
    simPrincipal: 'cloudwatch.amazonaws.com',
  },
];

/** Median microseconds per call over `reps` rounds of `iterations` calls. */
async function microsPerCall(fn: () => unknown, iterations: number, reps = 5): Promise<number> {
  const samples: number[] = [];
  for (let r = 0; r < reps; r++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) {
      const result = fn();
      if (result instanceof Promise) await result;
    }
    samples.push(Number(process.hrtime.bigint() - start) / 1000 / iterations);
  }
  return median(samples);
}

export async function iamPolicy(rows: Row[]): Promise<void> {
  for (const c of cases) {
    const simulation: Simulation = {
      request: { principal: c.simPrincipal, action: c.request.action, resource: { resource: c.request.resource, accountId: A }, contextVariables: { ...(c.request.context ?? {}) } as Record<string, string | string[]> },
      identityPolicies: (c.policies.identity ?? []).map((policy, i) => ({ name: `p${i}`, policy })),
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      ...(c.policies.resource ? { resourcePolicy: c.policies.resource } : {}),
    };
    // Both must allow, or the figures compare different work.
    const ours = evaluateAccess(c.request, c.policies);
    const theirs = await runSimulation(simulation, {});
    if (!ours.allowed || theirs.resultType !== 'single' || theirs.overallResult !== 'Allowed') throw new Error(`bench case "${c.name}" is not allowed by both evaluators`);
    const oursUs = await microsPerCall(() => evaluateAccess(c.request, c.policies), 20_000);
    const theirsUs = await microsPerCall(() => runSimulation(simulation, {}), 500);
    rows.push({ metric: `IAM evaluation: ${c.name}`, value: round(oursUs, 2), unit: 'µs', baseline: `iam-simulate ${round(theirsUs, 0)} µs` });
  }
}

if (require.main === module) {
  const rows: Row[] = [];
  iamPolicy(rows)
    .then(() => {
      console.log('| metric | value | same-run baseline |');
      console.log('|---|---|---|');
      for (const r of rows) console.log(`| ${r.metric} | ${r.value} ${r.unit} | ${r.baseline ?? ''} |`);
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
}
