/**
 * The local policy evaluator against AWS's documented rules (IAM User Guide: "Policy evaluation
 * logic", "Condition operators", "Resource", "Principal"; KMS Developer Guide: "Key policies"), then
 * against the policies of the real synthesized stack.
 */
import { Template } from 'aws-cdk-lib/assertions';
import { MakiniWebhookStack } from '../../lib/makini-webhook-stack';
import { resolveIntrinsics, type CfnValue, type IntrinsicReferences } from '../../local/aws/cfn-intrinsics';
import {
  AccessRequestError,
  evaluateAccess,
  lambdaPermissionsPolicy,
  PolicyValidationError,
  type LambdaPermission,
  type AccessPolicies,
  type AccessRequest,
  type PolicyDocument,
  type PolicyStatement,
  type RequestPrincipal,
} from '../../local/aws/iam-policy';
import { cdkApp } from '../support/cdk-app';

const ACCOUNT = '000000000000';
const OTHER_ACCOUNT = '111111111111';
const REGION = 'eu-west-1';
const ROLE: RequestPrincipal = { kind: 'role', arn: `arn:aws:iam::${ACCOUNT}:role/ReceiverRole`, sessionName: 'receiver-fn' };
const SESSION_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/ReceiverRole/receiver-fn`;
const QUEUE = `arn:aws:sqs:${REGION}:${ACCOUNT}:Queue`;
const OTHER_QUEUE = `arn:aws:sqs:${REGION}:${ACCOUNT}:OtherQueue`;
const TOPIC = `arn:aws:sns:${REGION}:${ACCOUNT}:AlarmTopic`;
const KEY = `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`;
const CLOUDWATCH: RequestPrincipal = { kind: 'service', service: 'cloudwatch.amazonaws.com' };

const policy = (...statements: PolicyStatement[]): PolicyDocument => ({ Version: '2012-10-17', Statement: statements });
const allow = (Action: string | string[], Resource: string | string[], extra: Partial<PolicyStatement> = {}): PolicyStatement => ({ Effect: 'Allow', Action, Resource, ...extra });
const deny = (Action: string | string[], Resource: string | string[], extra: Partial<PolicyStatement> = {}): PolicyStatement => ({ Effect: 'Deny', Action, Resource, ...extra });
const send = (overrides: Partial<AccessRequest> = {}): AccessRequest => ({ principal: ROLE, action: 'sqs:SendMessage', resource: QUEUE, ...overrides });
const decide = (request: AccessRequest, policies: Partial<AccessPolicies>) => evaluateAccess(request, { accountId: ACCOUNT, ...policies });
/** A statement whose only condition is `operator: { key: values }`, in an identity policy allowing sqs:SendMessage. */
const withCondition = (operator: string, key: string, values: string | string[] | boolean | number) =>
  policy(allow('sqs:SendMessage', QUEUE, { Condition: { [operator]: { [key]: values } } }));
const allowedWith = (operator: string, key: string, values: string | string[] | boolean | number, context: Record<string, string | string[]> = {}) =>
  decide(send({ context }), { identity: [withCondition(operator, key, values)] }).allowed;

describe('evaluateAccess: the decision', () => {
  it('denies implicitly what no policy allows, with the message AWS returns', () => {
    const decision = decide(send(), { identity: [policy(allow('sqs:ReceiveMessage', QUEUE))] });
    expect(decision).toEqual({
      allowed: false,
      decision: 'implicit-deny',
      message: `User: ${SESSION_ARN} is not authorized to perform: sqs:SendMessage on resource: ${QUEUE} because no identity-based policy allows the sqs:SendMessage action`,
    });
  });

  it('denies implicitly a role with no policies at all', () => {
    expect(decide(send(), {}).decision).toBe('implicit-deny');
  });

  it('allows what an identity-based policy allows, and says which statement did', () => {
    const decision = decide(send(), { identity: [policy(allow('sqs:ReceiveMessage', QUEUE)), policy(allow('sqs:SendMessage', QUEUE, { Sid: 'Send' }))] });
    expect(decision).toMatchObject({ allowed: true, decision: 'allow', decidedBy: { policy: 'identity', policyIndex: 1, statementIndex: 0, sid: 'Send' } });
  });

  it('lets an explicit deny in one policy win over an allow in another', () => {
    const decision = decide(send(), { identity: [policy(allow('sqs:*', '*')), policy(deny('sqs:SendMessage', QUEUE))] });
    expect(decision.decision).toBe('explicit-deny');
    expect(decision.message).toBe(`User: ${SESSION_ARN} is not authorized to perform: sqs:SendMessage on resource: ${QUEUE} with an explicit deny in an identity-based policy`);
  });

  it('lets an explicit deny in the resource policy win over an identity allow', () => {
    const resource = policy(deny('sqs:*', QUEUE, { Principal: '*' }));
    const decision = decide(send(), { identity: [policy(allow('sqs:SendMessage', QUEUE))], resource });
    expect(decision).toMatchObject({ decision: 'explicit-deny', decidedBy: { policy: 'resource', statementIndex: 0 } });
    expect(decision.message).toMatch(/with an explicit deny in a resource-based policy$/);
  });

  it('lets the same statement order not matter: a deny after an allow in one policy still wins', () => {
    expect(decide(send(), { identity: [policy(allow('sqs:SendMessage', QUEUE), deny('sqs:SendMessage', QUEUE))] }).decision).toBe('explicit-deny');
  });

  it('allows, within one account, what the resource policy alone grants to the role', () => {
    const resource = policy(allow('sqs:SendMessage', QUEUE, { Principal: { AWS: ROLE.kind === 'role' ? ROLE.arn : '' } }));
    expect(decide(send(), { resource })).toMatchObject({ allowed: true, decidedBy: { policy: 'resource' } });
  });

  it('allows what the resource policy grants to the role session ARN', () => {
    expect(decide(send(), { resource: policy(allow('sqs:SendMessage', QUEUE, { Principal: { AWS: [SESSION_ARN] } })) }).allowed).toBe(true);
  });

  it('does not let a resource policy naming the account grant by itself: the account delegates to IAM', () => {
    const resource = policy(allow('sqs:SendMessage', QUEUE, { Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` } }));
    expect(decide(send(), { resource }).decision).toBe('implicit-deny');
    expect(decide(send(), { resource, identity: [policy(allow('sqs:SendMessage', QUEUE))] }).allowed).toBe(true);
  });

  it('applies a resource policy deny that names the account to every principal in it', () => {
    const resource = policy(deny('sqs:SendMessage', QUEUE, { Principal: { AWS: ACCOUNT } }));
    expect(decide(send(), { resource, identity: [policy(allow('sqs:*', '*'))] }).decision).toBe('explicit-deny');
  });

  it('ignores resource policy statements for other principals', () => {
    const resource = policy(
      allow('sqs:SendMessage', QUEUE, { Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/SomeoneElse` } }),
      deny('sqs:SendMessage', QUEUE, { Principal: { Service: 'events.amazonaws.com' } }),
    );
    expect(decide(send(), { resource }).decision).toBe('implicit-deny');
    expect(decide(send(), { resource, identity: [policy(allow('sqs:SendMessage', QUEUE))] }).allowed).toBe(true);
  });

  it('requires both sides to allow a call from another account', () => {
    const foreign: RequestPrincipal = { kind: 'role', arn: `arn:aws:iam::${OTHER_ACCOUNT}:role/Partner` };
    const identity = [policy(allow('sqs:SendMessage', QUEUE))];
    const resource = policy(allow('sqs:SendMessage', QUEUE, { Principal: { AWS: OTHER_ACCOUNT } }));
    expect(decide(send({ principal: foreign }), { identity }).message).toMatch(/because no resource-based policy allows the sqs:SendMessage action$/);
    expect(decide(send({ principal: foreign }), { resource }).message).toMatch(/because no identity-based policy allows/);
    expect(decide(send({ principal: foreign }), { identity, resource }).allowed).toBe(true);
  });
});

describe('evaluateAccess: service principals', () => {
  const publish = (context: Record<string, string> = {}): AccessRequest => ({ principal: CLOUDWATCH, action: 'sns:Publish', resource: TOPIC, context });

  it('need the resource policy: a service has no identity-based policy', () => {
    const decision = decide(publish(), {});
    expect(decision.decision).toBe('implicit-deny');
    expect(decision.message).toBe(`User: cloudwatch.amazonaws.com is not authorized to perform: sns:Publish on resource: ${TOPIC} because no resource-based policy allows the sns:Publish action`);
    expect(() => decide(publish(), { identity: [policy(allow('sns:Publish', TOPIC))] })).toThrow(AccessRequestError);
  });

  it('are allowed by a statement naming the service (case-insensitively), and not by one naming another service', () => {
    expect(decide(publish(), { resource: policy(allow('sns:Publish', TOPIC, { Principal: { Service: ['events.amazonaws.com', 'CloudWatch.amazonaws.com'] } })) }).allowed).toBe(true);
    expect(decide(publish(), { resource: policy(allow('sns:Publish', TOPIC, { Principal: { Service: 'events.amazonaws.com' } })) }).allowed).toBe(false);
  });

  it('are matched by Principal "*" and {"AWS": "*"}, but not by an account principal', () => {
    expect(decide(publish(), { resource: policy(allow('sns:Publish', TOPIC, { Principal: '*' })) }).allowed).toBe(true);
    expect(decide(publish(), { resource: policy(allow('sns:Publish', TOPIC, { Principal: { AWS: '*' } })) }).allowed).toBe(true);
    expect(decide(publish(), { resource: policy(allow('sns:Publish', TOPIC, { Principal: { AWS: ACCOUNT } })) }).allowed).toBe(false);
  });

  it('are matched by NotPrincipal naming someone else, and not by NotPrincipal naming them', () => {
    expect(decide(publish(), { resource: policy(allow('sns:Publish', TOPIC, { NotPrincipal: { Service: 'events.amazonaws.com' } })) }).allowed).toBe(true);
    expect(decide(publish(), { resource: policy(allow('sns:Publish', TOPIC, { NotPrincipal: { Service: 'cloudwatch.amazonaws.com' } })) }).allowed).toBe(false);
    const denyAllButRole = policy(allow('sqs:SendMessage', QUEUE, { Principal: '*' }), deny('sqs:SendMessage', QUEUE, { NotPrincipal: { AWS: ROLE.kind === 'role' ? ROLE.arn : '' } }));
    expect(decide(send(), { resource: denyAllButRole }).allowed).toBe(true);
    expect(decide(send({ principal: { kind: 'service', service: 'events.amazonaws.com' } }), { resource: denyAllButRole }).decision).toBe('explicit-deny');
  });
});

describe('evaluateAccess: KMS key policies', () => {
  const encrypt = (principal: RequestPrincipal = ROLE, action = 'kms:GenerateDataKey'): AccessRequest => ({ principal, action, resource: KEY });
  const identityAllowsKms = [policy(allow(['kms:Decrypt', 'kms:GenerateDataKey*'], KEY))];

  it('requires the key policy: an identity allow alone is not enough', () => {
    const keyPolicy = policy(allow('kms:*', '*', { Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/Admin` } }));
    const decision = decide(encrypt(), { identity: identityAllowsKms, resource: keyPolicy, kmsKey: true });
    expect(decision.decision).toBe('implicit-deny');
    expect(decision.message).toMatch(/because no resource-based policy allows the kms:GenerateDataKey action$/);
    expect(() => decide(encrypt(), { identity: identityAllowsKms, kmsKey: true })).toThrow(/key policy is required/);
  });

  it('lets identity policies grant when the key policy allows the account (arn root or bare account id)', () => {
    for (const account of [`arn:aws:iam::${ACCOUNT}:root`, ACCOUNT]) {
      const keyPolicy = policy(allow('kms:*', '*', { Principal: { AWS: account } }));
      expect(decide(encrypt(), { identity: identityAllowsKms, resource: keyPolicy, kmsKey: true })).toMatchObject({ allowed: true, decidedBy: { policy: 'identity' } });
      expect(decide(encrypt(), { resource: keyPolicy, kmsKey: true }).message).toMatch(/because no identity-based policy allows/);
    }
  });

  it('allows a principal the key policy names directly, without an identity policy', () => {
    const keyPolicy = policy(allow(['kms:Decrypt', 'kms:GenerateDataKey*'], '*', { Principal: { Service: 'cloudwatch.amazonaws.com' } }));
    expect(decide(encrypt(CLOUDWATCH), { resource: keyPolicy, kmsKey: true }).allowed).toBe(true);
    expect(decide(encrypt(CLOUDWATCH, 'kms:Encrypt'), { resource: keyPolicy, kmsKey: true }).allowed).toBe(false);
  });

  it('does not let an account delegation admit a service principal', () => {
    const keyPolicy = policy(allow('kms:*', '*', { Principal: { AWS: `arn:aws:iam::${ACCOUNT}:root` } }));
    expect(decide(encrypt(CLOUDWATCH), { resource: keyPolicy, kmsKey: true }).allowed).toBe(false);
  });
});

describe('evaluateAccess: actions and resources', () => {
  it('matches actions case-insensitively, with * and ? wildcards', () => {
    expect(decide(send(), { identity: [policy(allow('SQS:sendmessage', QUEUE))] }).allowed).toBe(true);
    expect(decide(send(), { identity: [policy(allow('sqs:Send*', QUEUE))] }).allowed).toBe(true);
    expect(decide(send(), { identity: [policy(allow('sqs:?endMessage', QUEUE))] }).allowed).toBe(true);
    expect(decide(send(), { identity: [policy(allow('*', QUEUE))] }).allowed).toBe(true);
    expect(decide(send(), { identity: [policy(allow('sqs:Send', QUEUE))] }).allowed).toBe(false);
    expect(decide(send(), { identity: [policy(allow('sns:*', QUEUE))] }).allowed).toBe(false);
  });

  it('applies NotAction to every action except those listed', () => {
    expect(decide(send(), { identity: [policy({ Effect: 'Allow', NotAction: 'sqs:DeleteQueue', Resource: '*' })] }).allowed).toBe(true);
    expect(decide(send(), { identity: [policy({ Effect: 'Allow', NotAction: ['sqs:Send*'], Resource: '*' })] }).allowed).toBe(false);
    const denyAllButSqs = policy(allow('*', '*'), { Effect: 'Deny', NotAction: 'sqs:*', Resource: '*' });
    expect(decide(send(), { identity: [denyAllButSqs] }).allowed).toBe(true);
    expect(decide(send({ action: 'dynamodb:PutItem' }), { identity: [denyAllButSqs] }).decision).toBe('explicit-deny');
  });

  it('matches resources case-sensitively, with wildcards', () => {
    expect(decide(send(), { identity: [policy(allow('sqs:SendMessage', QUEUE.toLowerCase()))] }).allowed).toBe(false);
    expect(decide(send(), { identity: [policy(allow('sqs:SendMessage', `arn:aws:sqs:${REGION}:${ACCOUNT}:Q*`))] }).allowed).toBe(true);
    expect(decide(send(), { identity: [policy(allow('sqs:SendMessage', `arn:aws:sqs:*:${ACCOUNT}:Queu?`))] }).allowed).toBe(true);
    expect(decide(send(), { identity: [policy(allow('sqs:SendMessage', `arn:aws:sqs:${REGION}:${ACCOUNT}:Other*`))] }).allowed).toBe(false);
  });

  it('keeps a wildcard inside its ARN segment unless it ends the segment (AWS: "Using wildcards in resource ARNs")', () => {
    const secret = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:makini/system-credentials-AbC123`;
    const read = (pattern: string) => decide(send({ action: 'secretsmanager:GetSecretValue', resource: secret }), { identity: [policy(allow('secretsmanager:GetSecretValue', pattern))] }).allowed;
    expect(read(`arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:makini/system-credentials-??????`)).toBe(true);
    expect(read(`arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:makini/system-credentials`)).toBe(false);
    expect(read(`arn:aws:secretsmanager:*`)).toBe(true); // a trailing * spans the remaining segments
    expect(read(`arn:aws:secretsmanager:${REGION}:${ACCOUNT}:*credentials-AbC123`)).toBe(false); // a * before text stays within "secret"
  });

  it('applies NotResource to every resource except those listed', () => {
    expect(decide(send(), { identity: [policy({ Effect: 'Allow', Action: 'sqs:SendMessage', NotResource: OTHER_QUEUE })] }).allowed).toBe(true);
    expect(decide(send(), { identity: [policy({ Effect: 'Allow', Action: 'sqs:SendMessage', NotResource: [`arn:aws:sqs:*:*:Queue`] })] }).allowed).toBe(false);
  });

  it('accepts a role session ARN as the principal', () => {
    const decision = decide(send({ principal: { kind: 'role', arn: SESSION_ARN } }), { resource: policy(allow('sqs:SendMessage', QUEUE, { Principal: { AWS: `arn:aws:iam::${ACCOUNT}:role/ReceiverRole` } })) });
    expect(decision.allowed).toBe(true);
    expect(decision.message).toContain(`User: ${SESSION_ARN} is allowed`);
  });
});

describe('evaluateAccess: conditions', () => {
  it('String operators: exact, negated, ignoring case, and with wildcards', () => {
    expect(allowedWith('StringEquals', 'aws:SourceAccount', ACCOUNT, { 'aws:SourceAccount': ACCOUNT })).toBe(true);
    expect(allowedWith('StringEquals', 'aws:SourceAccount', ACCOUNT, { 'aws:SourceAccount': OTHER_ACCOUNT })).toBe(false);
    expect(allowedWith('StringNotEquals', 'aws:SourceAccount', ACCOUNT, { 'aws:SourceAccount': OTHER_ACCOUNT })).toBe(true);
    expect(allowedWith('StringNotEquals', 'aws:SourceAccount', ACCOUNT, { 'aws:SourceAccount': ACCOUNT })).toBe(false);
    expect(allowedWith('StringEquals', 'kms:ViaService', 'SQS.eu-west-1.amazonaws.com', { 'kms:ViaService': 'sqs.eu-west-1.amazonaws.com' })).toBe(false);
    expect(allowedWith('StringEqualsIgnoreCase', 'kms:ViaService', 'SQS.eu-west-1.amazonaws.com', { 'kms:ViaService': 'sqs.eu-west-1.amazonaws.com' })).toBe(true);
    expect(allowedWith('StringNotEqualsIgnoreCase', 'kms:ViaService', 'SQS.eu-west-1.amazonaws.com', { 'kms:ViaService': 'sqs.eu-west-1.amazonaws.com' })).toBe(false);
    expect(allowedWith('StringLike', 'kms:ViaService', 'sqs.*.amazonaws.com', { 'kms:ViaService': 'sqs.eu-west-1.amazonaws.com' })).toBe(true);
    expect(allowedWith('StringLike', 'kms:ViaService', 'sns.*', { 'kms:ViaService': 'sqs.eu-west-1.amazonaws.com' })).toBe(false);
    expect(allowedWith('StringNotLike', 'kms:ViaService', 'sns.*', { 'kms:ViaService': 'sqs.eu-west-1.amazonaws.com' })).toBe(true);
  });

  it('Arn operators: each ARN component matched on its own, with wildcards', () => {
    const alarmArn = `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:QueueBacklog`;
    expect(allowedWith('ArnLike', 'aws:SourceArn', `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:*`, { 'aws:SourceArn': alarmArn })).toBe(true);
    expect(allowedWith('ArnLike', 'aws:SourceArn', `arn:aws:cloudwatch:${REGION}:${OTHER_ACCOUNT}:alarm:*`, { 'aws:SourceArn': alarmArn })).toBe(false);
    expect(allowedWith('ArnEquals', 'aws:SourceArn', alarmArn, { 'aws:SourceArn': alarmArn })).toBe(true);
    expect(allowedWith('ArnEquals', 'aws:SourceArn', `${alarmArn}2`, { 'aws:SourceArn': alarmArn })).toBe(false);
    expect(allowedWith('ArnNotEquals', 'aws:SourceArn', `${alarmArn}2`, { 'aws:SourceArn': alarmArn })).toBe(true);
    expect(allowedWith('ArnNotLike', 'aws:SourceArn', `arn:aws:cloudwatch:*:*:alarm:*`, { 'aws:SourceArn': alarmArn })).toBe(false);
    // A component's wildcard does not reach into the next component.
    expect(allowedWith('ArnLike', 'aws:SourceArn', `arn:aws:cloudwatch:*:alarm:*`, { 'aws:SourceArn': alarmArn })).toBe(false);
    expect(allowedWith('ArnLike', 'aws:SourceArn', `arn:aws:cloudwatch:*:*:alarm:*`, { 'aws:SourceArn': 'not-an-arn' })).toBe(false);
  });

  it('Bool, with the policy value as a JSON boolean or a string', () => {
    expect(allowedWith('Bool', 'aws:SecureTransport', 'true', { 'aws:SecureTransport': 'true' })).toBe(true);
    expect(allowedWith('Bool', 'aws:SecureTransport', true, { 'aws:SecureTransport': 'true' })).toBe(true);
    expect(allowedWith('Bool', 'aws:SecureTransport', 'false', { 'aws:SecureTransport': 'true' })).toBe(false);
  });

  it('Null: "true" holds when the key is absent, "false" when it is present', () => {
    expect(allowedWith('Null', 'aws:SourceArn', 'true', {})).toBe(true);
    expect(allowedWith('Null', 'aws:SourceArn', 'true', { 'aws:SourceArn': 'x' })).toBe(false);
    expect(allowedWith('Null', 'aws:SourceArn', 'false', { 'aws:SourceArn': 'x' })).toBe(true);
    expect(allowedWith('Null', 'aws:SourceArn', false, {})).toBe(false);
  });

  it('a missing key fails a positive operator and satisfies a negated one (AWS: "the values do not match")', () => {
    expect(allowedWith('StringEquals', 'aws:SourceAccount', ACCOUNT)).toBe(false);
    expect(allowedWith('ArnLike', 'aws:SourceArn', 'arn:*:*:*:*:*')).toBe(false);
    expect(allowedWith('Bool', 'aws:SecureTransport', 'false')).toBe(false);
    expect(allowedWith('StringNotEquals', 'aws:SourceAccount', ACCOUNT)).toBe(true);
    expect(allowedWith('ArnNotLike', 'aws:SourceArn', 'arn:*:*:*:*:*')).toBe(true);
  });

  it('...IfExists holds when the key is missing, and tests the value when it is present', () => {
    expect(allowedWith('StringEqualsIfExists', 'aws:SourceAccount', ACCOUNT)).toBe(true);
    expect(allowedWith('StringEqualsIfExists', 'aws:SourceAccount', ACCOUNT, { 'aws:SourceAccount': OTHER_ACCOUNT })).toBe(false);
    expect(allowedWith('ArnLikeIfExists', 'aws:SourceArn', `arn:aws:events:*:${ACCOUNT}:rule/*`, { 'aws:SourceArn': `arn:aws:events:${REGION}:${ACCOUNT}:rule/R` })).toBe(true);
    expect(allowedWith('BoolIfExists', 'aws:SecureTransport', 'true')).toBe(true);
    // A Deny on BoolIfExists aws:SecureTransport=false also denies a request that does not say: the missing key holds.
    const enforceSsl = policy(allow('sqs:*', '*'), deny('sqs:*', '*', { Condition: { BoolIfExists: { 'aws:SecureTransport': 'false' } } }));
    expect(decide(send(), { identity: [enforceSsl] }).decision).toBe('explicit-deny');
    expect(decide(send({ context: { 'aws:SecureTransport': 'true' } }), { identity: [enforceSsl] }).allowed).toBe(true);
  });

  it('Numeric and Date operators compare numbers and times, and refuse to match what is neither', () => {
    expect(allowedWith('NumericLessThan', 'sqs:MaxMessages', '10', { 'sqs:MaxMessages': '9' })).toBe(true);
    expect(allowedWith('NumericLessThan', 'sqs:MaxMessages', 10, { 'sqs:MaxMessages': '10' })).toBe(false);
    expect(allowedWith('NumericLessThanEquals', 'sqs:MaxMessages', '10', { 'sqs:MaxMessages': '10' })).toBe(true);
    expect(allowedWith('NumericGreaterThan', 'sqs:MaxMessages', '10', { 'sqs:MaxMessages': '11' })).toBe(true);
    expect(allowedWith('NumericGreaterThanEquals', 'sqs:MaxMessages', '10', { 'sqs:MaxMessages': '9' })).toBe(false);
    expect(allowedWith('NumericEquals', 'sqs:MaxMessages', '10', { 'sqs:MaxMessages': '10.0' })).toBe(true);
    expect(allowedWith('NumericNotEquals', 'sqs:MaxMessages', '10', { 'sqs:MaxMessages': '10' })).toBe(false);
    expect(allowedWith('NumericEquals', 'sqs:MaxMessages', '10', { 'sqs:MaxMessages': 'ten' })).toBe(false);
    expect(allowedWith('DateLessThan', 'aws:CurrentTime', '2027-01-01T00:00:00Z', { 'aws:CurrentTime': '2026-12-01T11:00:00Z' })).toBe(true);
    expect(allowedWith('DateGreaterThan', 'aws:CurrentTime', '2027-01-01T00:00:00Z', { 'aws:CurrentTime': '2026-12-01T11:00:00Z' })).toBe(false);
    expect(allowedWith('DateEquals', 'aws:EpochTime', '2026-12-01T00:00:00Z', { 'aws:EpochTime': String(Date.UTC(2026, 11, 1) / 1000) })).toBe(true);
    expect(allowedWith('DateLessThanEquals', 'aws:CurrentTime', '2026-12-01T11:00:00Z', { 'aws:CurrentTime': 'yesterday' })).toBe(false);
  });

  it('IpAddress and NotIpAddress test CIDR ranges', () => {
    expect(allowedWith('IpAddress', 'aws:SourceIp', ['203.0.113.0/24', '2001:db8::/32'], { 'aws:SourceIp': '203.0.113.7' })).toBe(true);
    expect(allowedWith('IpAddress', 'aws:SourceIp', ['203.0.113.0/24', '2001:db8::/32'], { 'aws:SourceIp': '2001:db8::1' })).toBe(true);
    expect(allowedWith('IpAddress', 'aws:SourceIp', '203.0.113.0/24', { 'aws:SourceIp': '198.51.100.1' })).toBe(false);
    expect(allowedWith('NotIpAddress', 'aws:SourceIp', '203.0.113.0/24', { 'aws:SourceIp': '198.51.100.1' })).toBe(true);
  });

  it('ORs a key’s values, but NORs them for a negated operator', () => {
    expect(allowedWith('StringEquals', 'aws:SourceAccount', [OTHER_ACCOUNT, ACCOUNT], { 'aws:SourceAccount': ACCOUNT })).toBe(true);
    expect(allowedWith('StringNotEquals', 'aws:SourceAccount', [OTHER_ACCOUNT, ACCOUNT], { 'aws:SourceAccount': ACCOUNT })).toBe(false);
    expect(allowedWith('StringNotEquals', 'aws:SourceAccount', [OTHER_ACCOUNT, '222222222222'], { 'aws:SourceAccount': ACCOUNT })).toBe(true);
  });

  it('tests a multivalued key (a list) only with ForAnyValue/ForAllValues: no other operator matches it, negated or not', () => {
    const calledVia = { 'aws:CalledVia': ['athena.amazonaws.com'] };
    expect(allowedWith('StringEquals', 'aws:CalledVia', 'athena.amazonaws.com', calledVia)).toBe(false);
    expect(allowedWith('StringNotEquals', 'aws:CalledVia', 'dynamodb.amazonaws.com', calledVia)).toBe(false);
    expect(allowedWith('StringEqualsIfExists', 'aws:CalledVia', 'athena.amazonaws.com', calledVia)).toBe(false);
    expect(allowedWith('ForAnyValue:StringEquals', 'aws:CalledVia', 'athena.amazonaws.com', calledVia)).toBe(true);
    expect(allowedWith('Null', 'aws:CalledVia', 'false', calledVia)).toBe(true);
  });

  it('ANDs keys within an operator and operators within a statement', () => {
    const both = policy(allow('sqs:SendMessage', QUEUE, { Condition: { StringEquals: { 'aws:SourceAccount': ACCOUNT, 'aws:SourceOwner': ACCOUNT }, Bool: { 'aws:SecureTransport': 'true' } } }));
    const ctx = { 'aws:SourceAccount': ACCOUNT, 'aws:SourceOwner': ACCOUNT, 'aws:SecureTransport': 'true' };
    expect(decide(send({ context: ctx }), { identity: [both] }).allowed).toBe(true);
    expect(decide(send({ context: { ...ctx, 'aws:SourceOwner': OTHER_ACCOUNT } }), { identity: [both] }).allowed).toBe(false);
    expect(decide(send({ context: { ...ctx, 'aws:SecureTransport': 'false' } }), { identity: [both] }).allowed).toBe(false);
  });

  it('reads condition keys case-insensitively, in the policy and in the context', () => {
    expect(allowedWith('StringEquals', 'AWS:SourceAccount', ACCOUNT, { 'aws:sourceaccount': ACCOUNT })).toBe(true);
  });

  it('ForAnyValue needs one value to match; ForAllValues needs every value to, and holds for a missing key', () => {
    const tags = { 'aws:TagKeys': ['team', 'cost-centre'] };
    expect(allowedWith('ForAnyValue:StringEquals', 'aws:TagKeys', ['team'], tags)).toBe(true);
    expect(allowedWith('ForAnyValue:StringEquals', 'aws:TagKeys', ['owner'], tags)).toBe(false);
    expect(allowedWith('ForAnyValue:StringEquals', 'aws:TagKeys', ['team'])).toBe(false);
    expect(allowedWith('ForAllValues:StringEquals', 'aws:TagKeys', ['team', 'cost-centre', 'owner'], tags)).toBe(true);
    expect(allowedWith('ForAllValues:StringEquals', 'aws:TagKeys', ['team'], tags)).toBe(false);
    expect(allowedWith('ForAllValues:StringEquals', 'aws:TagKeys', ['team'])).toBe(true);
    expect(allowedWith('ForAllValues:StringNotLike', 'aws:TagKeys', ['aws:*'], tags)).toBe(true);
    expect(allowedWith('ForAnyValue:StringLikeIfExists', 'aws:TagKeys', ['x*'])).toBe(true);
  });

  it('fills aws:PrincipalArn and aws:PrincipalAccount from the role, and aws:PrincipalServiceName from a service', () => {
    const resource = policy(
      allow('sqs:SendMessage', QUEUE, { Principal: '*', Condition: { ArnLike: { 'aws:PrincipalArn': `arn:aws:iam::${ACCOUNT}:role/Receiver*` }, StringEquals: { 'aws:PrincipalAccount': ACCOUNT } } }),
      allow('sqs:SendMessage', QUEUE, { Principal: '*', Condition: { StringEquals: { 'aws:PrincipalServiceName': 'events.amazonaws.com' } } }),
    );
    expect(decide(send(), { resource }).allowed).toBe(true);
    expect(decide(send({ principal: { kind: 'service', service: 'events.amazonaws.com' } }), { resource }).allowed).toBe(true);
    expect(decide(send({ principal: CLOUDWATCH }), { resource }).allowed).toBe(false);
  });
});

describe('evaluateAccess: bad input', () => {
  it.each<[string, PolicyDocument, RegExp]>([
    ['an Effect other than Allow or Deny', { Statement: [{ Effect: 'allow' as 'Allow', Action: '*', Resource: '*' }] }, /statement 0: Effect must be "Allow" or "Deny"/],
    ['both Action and NotAction', { Statement: { Effect: 'Allow', Action: '*', NotAction: 'sqs:*', Resource: '*' } }, /exactly one of Action and NotAction/],
    ['no Resource', { Statement: [{ Effect: 'Allow', Action: '*' }] }, /exactly one of Resource and NotResource/],
    ['a Principal', { Statement: [{ Effect: 'Allow', Principal: '*', Action: '*', Resource: '*' }] }, /identity-based policy cannot name a Principal/],
    ['an unknown condition operator', { Statement: [{ Sid: 'S', Effect: 'Allow', Action: '*', Resource: '*', Condition: { StringSorta: { k: 'v' } } }] }, /statement 0 \(S\): condition operator "StringSorta" is not supported/],
    ['Null with IfExists', { Statement: [{ Effect: 'Allow', Action: '*', Resource: '*', Condition: { NullIfExists: { k: 'true' } } }] }, /"NullIfExists" is not supported/],
    ['a policy variable', { Statement: [{ Effect: 'Allow', Action: '*', Resource: 'arn:aws:s3:::b/${aws:username}/*' }] }, /policy variable/],
    ['an unresolved CloudFormation intrinsic', { Statement: [{ Effect: 'Allow', Action: '*', Resource: { Ref: 'Queue' } as unknown as string }] }, /Resource must be a string or a non-empty list of strings/],
  ])('refuses an identity policy with %s, saying where', (_, doc, message) => {
    expect(() => decide(send(), { identity: [doc] })).toThrow(PolicyValidationError);
    expect(() => decide(send(), { identity: [doc] })).toThrow(message);
  });

  it('refuses a resource policy without a Principal, or with an unknown principal type', () => {
    expect(() => decide(send(), { resource: policy(allow('*', '*')) })).toThrow(/resource-based policy, statement 0: needs exactly one of Principal and NotPrincipal/);
    expect(() => decide(send(), { resource: policy(allow('*', '*', { Principal: { Users: 'x' } as never })) })).toThrow(/unknown principal type "Users"/);
  });

  it('refuses a malformed principal or action', () => {
    expect(() => decide(send({ principal: { kind: 'role', arn: 'ReceiverRole' } }), {})).toThrow(AccessRequestError);
    expect(() => decide(send({ principal: { kind: 'service', service: 'cloudwatch' } }), {})).toThrow(/not a service principal/);
    expect(() => decide(send({ action: 'SendMessage' }), {})).toThrow(/service:Operation/);
  });
});

/**
 * The stack's own policies, as `cdk deploy` deploys them: every intrinsic replaced by the sample ARN
 * CloudFormation would produce for this account and region.
 */
describe('evaluateAccess over the synthesized stack', () => {
  type Resource = { Type: string; Properties?: Record<string, unknown> };
  const stack = new MakiniWebhookStack(cdkApp({ bundle: false }), 'PolicyStack', { config: {} });
  const resources = Template.fromStack(stack).toJSON().Resources as Record<string, Resource>;
  const arnOf = (id: string): CfnValue => {
    const type = resources[id]?.Type;
    const arns: Record<string, string> = {
      'AWS::SNS::Topic': `arn:aws:sns:${REGION}:${ACCOUNT}:${id}`,
      'AWS::SQS::Queue': `arn:aws:sqs:${REGION}:${ACCOUNT}:${id}`,
      'AWS::KMS::Key': `arn:aws:kms:${REGION}:${ACCOUNT}:key/${id}`,
      'AWS::CloudWatch::Alarm': `arn:aws:cloudwatch:${REGION}:${ACCOUNT}:alarm:${id}`,
      'AWS::Events::Rule': `arn:aws:events:${REGION}:${ACCOUNT}:rule/${id}`,
      'AWS::Events::EventBus': `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/${id}`,
      'AWS::DynamoDB::Table': `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/${id}`,
      'AWS::SecretsManager::Secret': `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:${id}-AbCdEf`,
      'AWS::Logs::LogGroup': `arn:aws:logs:${REGION}:${ACCOUNT}:log-group:${id}:*`,
      'AWS::IAM::Role': `arn:aws:iam::${ACCOUNT}:role/${id}`,
      'AWS::Lambda::Function': `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${id}`,
      'AWS::S3::Bucket': `arn:aws:s3:::${id.toLowerCase()}`,
    };
    const arn = type ? arns[type] : undefined;
    if (!arn) throw new Error(`no sample ARN for ${id} (${type})`);
    return arn;
  };
  const refs: IntrinsicReferences = {
    accountId: ACCOUNT,
    region: REGION,
    // What Ref returns: a topic's and a secret's ARN, a queue's URL, a role's or a table's name.
    ref: (id) => {
      const type = resources[id]?.Type;
      if (type === 'AWS::SQS::Queue') return `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${id}`;
      if (type === 'AWS::IAM::Role' || type === 'AWS::DynamoDB::Table' || type === 'AWS::Lambda::Function') return id;
      if (type === 'AWS::ApiGatewayV2::Api') return 'a1b2c3d4e5';
      return type ? arnOf(id) : undefined;
    },
    getAtt: (id, attribute) => (attribute === 'Arn' ? arnOf(id) : undefined),
  };
  const idOf = (value: unknown) => (value as { Ref?: string; 'Fn::GetAtt'?: [string, string] }).Ref ?? (value as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
  const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);

  // The alarm topic is where the alarms send; its policy is the TopicPolicy naming it; its key is its KmsMasterKeyId.
  const [alarmId, alarm] = ofType('AWS::CloudWatch::Alarm')[0] as [string, Resource];
  const alarmTopicId = idOf((alarm.Properties?.AlarmActions as unknown[])[0]);
  const [, topicPolicy] = ofType('AWS::SNS::TopicPolicy').find(([, r]) => (r.Properties?.Topics as unknown[]).some((t) => idOf(t) === alarmTopicId)) as [string, Resource];
  const keyId = idOf(resources[alarmTopicId]?.Properties?.KmsMasterKeyId);
  const topicArn = arnOf(alarmTopicId) as string;
  const keyArn = arnOf(keyId) as string;
  const alarmTopicPolicy = resolveIntrinsics<PolicyDocument>(topicPolicy.Properties?.PolicyDocument, refs);
  const keyPolicy = resolveIntrinsics<PolicyDocument>(resources[keyId]?.Properties?.KeyPolicy, refs);
  const alarmContext = (sourceArn: string) => ({ 'aws:SourceArn': sourceArn, 'aws:SourceAccount': ACCOUNT, 'aws:SecureTransport': 'true' });
  const publish = (policyDoc: PolicyDocument, context: Record<string, string>) => decide({ principal: CLOUDWATCH, action: 'sns:Publish', resource: topicArn, context }, { resource: policyDoc });

  it('lets CloudWatch publish an alarm of this stack to the alarm topic, and encrypt with the topic key', () => {
    expect(publish(alarmTopicPolicy, alarmContext(arnOf(alarmId) as string))).toMatchObject({ allowed: true, decidedBy: { sid: 'AllowCloudWatchAlarms' } });
    for (const action of ['kms:GenerateDataKey', 'kms:Decrypt']) {
      expect(decide({ principal: CLOUDWATCH, action, resource: keyArn, context: { 'kms:ViaService': `sns.${REGION}.amazonaws.com` } }, { resource: keyPolicy, kmsKey: true }).allowed).toBe(true);
    }
  });

  it('denies CloudWatch once the topic policy loses its CloudWatch statement (the policy replaces SNS’s default one)', () => {
    const statements = alarmTopicPolicy.Statement as PolicyStatement[];
    const withoutCloudWatch = { ...alarmTopicPolicy, Statement: statements.filter((s) => JSON.stringify(s.Principal ?? '').indexOf('cloudwatch.amazonaws.com') < 0) };
    expect(withoutCloudWatch.Statement.length).toBe(statements.length - 1);
    expect(publish(withoutCloudWatch, alarmContext(arnOf(alarmId) as string))).toMatchObject({ allowed: false, decision: 'implicit-deny' });
  });

  it('denies an alarm of another account, and any publish over plain HTTP', () => {
    expect(publish(alarmTopicPolicy, { ...alarmContext(`arn:aws:cloudwatch:${REGION}:${OTHER_ACCOUNT}:alarm:X`), 'aws:SourceAccount': OTHER_ACCOUNT }).decision).toBe('implicit-deny');
    expect(publish(alarmTopicPolicy, { ...alarmContext(arnOf(alarmId) as string), 'aws:SecureTransport': 'false' }).decision).toBe('explicit-deny');
  });

  it('resolves and accepts every policy of the stack: role policies, topic and queue policies, key policies', () => {
    const documents: [string, 'identity' | 'resource', unknown][] = Object.entries(resources).flatMap(([id, r]): [string, 'identity' | 'resource', unknown][] => {
      if (r.Type === 'AWS::IAM::Policy') return [[id, 'identity', r.Properties?.PolicyDocument]];
      if (r.Type === 'AWS::SNS::TopicPolicy' || r.Type === 'AWS::SQS::QueuePolicy') return [[id, 'resource', r.Properties?.PolicyDocument]];
      if (r.Type === 'AWS::KMS::Key') return [[id, 'resource', r.Properties?.KeyPolicy]];
      return [];
    });
    expect(documents.length).toBe(3 + 1 + 2 + 4 + 1); // 3 roles, and the poller's policy to start its workers; 2 topics; 4 queues (webhooks, its DLQ, poll shards, poll DLQ); 1 key
    for (const [, kind, raw] of documents) {
      const doc = resolveIntrinsics<PolicyDocument>(raw, refs);
      const policies: AccessPolicies = kind === 'identity' ? { accountId: ACCOUNT, identity: [doc] } : { accountId: ACCOUNT, resource: doc };
      expect(() => evaluateAccess(send(), policies)).not.toThrow();
    }
  });

  it('lets the poll schedule, and only it, invoke the poller through the function’s permissions', () => {
    const pollerId = ofType('AWS::Lambda::Function').find(([id]) => id.includes('Poller'))?.[0] as string;
    const pollerArn = arnOf(pollerId) as string;
    const permissions = ofType('AWS::Lambda::Permission')
      .map(([, r]) => resolveIntrinsics<LambdaPermission & { FunctionName: string }>(r.Properties, refs))
      .filter((p) => p.FunctionName === pollerArn);
    expect(permissions.length).toBe(1);
    const policyDoc = lambdaPermissionsPolicy(pollerArn, permissions);
    const schedule = ofType('AWS::Events::Rule').find(([id]) => id.includes('PollSchedule'))?.[0] as string;
    const invoke = (service: string, sourceArn: string) =>
      decide({ principal: { kind: 'service', service }, action: 'lambda:InvokeFunction', resource: pollerArn, context: { 'aws:SourceArn': sourceArn } }, { resource: policyDoc });
    expect(invoke('events.amazonaws.com', arnOf(schedule) as string).allowed).toBe(true);
    expect(invoke('events.amazonaws.com', `arn:aws:events:${REGION}:${ACCOUNT}:rule/SomeoneElsesRule`).decision).toBe('implicit-deny');
    expect(invoke('apigateway.amazonaws.com', arnOf(schedule) as string).decision).toBe('implicit-deny');
  });

  it('lets the receiver role send to the webhook queue and nowhere else', () => {
    const receiverPolicy = ofType('AWS::IAM::Policy').find(([id]) => id.includes('Receiver')) as [string, Resource];
    const roleId = idOf((receiverPolicy[1].Properties?.Roles as unknown[])[0]);
    const identity = [resolveIntrinsics<PolicyDocument>(receiverPolicy[1].Properties?.PolicyDocument, refs)];
    const queueId = ofType('AWS::SQS::Queue').find(([id]) => /^WebhooksQueue/.test(id))?.[0] as string;
    const principal: RequestPrincipal = { kind: 'role', arn: arnOf(roleId) as string, sessionName: 'receiver' };
    expect(decide({ principal, action: 'sqs:SendMessage', resource: arnOf(queueId) as string }, { identity }).allowed).toBe(true);
    const deleting = decide({ principal, action: 'sqs:DeleteMessage', resource: arnOf(queueId) as string }, { identity });
    expect(deleting.message).toBe(`User: arn:aws:sts::${ACCOUNT}:assumed-role/${roleId}/receiver is not authorized to perform: sqs:DeleteMessage on resource: ${arnOf(queueId)} because no identity-based policy allows the sqs:DeleteMessage action`);
  });
});
