/**
 * A small, pure IAM policy evaluator for the local stack (issue 15): every SDK call a function makes
 * locally is checked against its role's policies from the synthesized template, and every delivery by
 * a service (alarm → topic, rule → topic or queue, DLQ sends) against the target's resource policy
 * and key policy. It follows AWS's documented evaluation logic for one account ("Policy evaluation
 * logic", "Condition operators", "Resource", "Principal" in the IAM User Guide):
 *
 * 1. An explicit Deny in any applicable policy wins.
 * 2. Otherwise the request is allowed when an identity-based policy OR the resource-based policy
 *    allows it. A service principal has no identity policy: only the resource policy can allow it.
 * 3. A KMS key is different: its key policy must allow, either the principal directly, or the account
 *    (`arn:aws:iam::<acct>:root` or `<acct>`), which delegates to IAM: then an identity policy may grant.
 * 4. Cross-account (the role's account is not `accountId`): both sides must allow.
 * Anything not allowed is an implicit deny.
 *
 * Why not `@cloud-copilot/iam-simulate` 0.1.173 (evaluated first, as the issue asks; measured on
 * this 2-core shared machine): it works offline, accepted our template's policies and explains its
 * decisions, at 143 µs (role → sqs:SendMessage) and 201 µs (CloudWatch → sns:Publish through the
 * topic's conditions) per evaluation when the machine was quiet, after a 59 ms load (its IAM data is
 * 15 MB). It does not fit because:
 * - its licence is AGPL-3.0-or-later (so are its `iam-policy` and `iam-utils` dependencies), and this
 *   project is Apache-2.0: local/ is part of what users clone, run (`npm ci && npm start`) and
 *   redistribute, and would then load AGPL code;
 * - it is asynchronous only (`runSimulation` returns a Promise), where a pure check is synchronous;
 * - it answers an error instead of a decision for an action missing from its bundled data, so a
 *   newer SDK call would need a library upgrade before it could be denied with AccessDeniedException;
 * - it is ~50x slower: in the same run of bench/iam-policy.ts (a loaded machine) this file took
 *   4-13 µs per evaluation where iam-simulate took 260-910 µs.
 * It remains a dev-only oracle: test/unit/iam-policy.oracle.test.ts compares both on generated
 * policies and requests; they agree on every generated case except two documented iam-simulate
 * quirks (a short ARN pattern in NotResource; case-insensitive service and region segments of
 * resource ARNs), where this file follows AWS's documentation.
 *
 * Supported: Action/NotAction (case-insensitive, `*` and `?`), Resource/NotResource (case-sensitive,
 * wildcards within ARN segments; a `*` ending a segment may span colons, as AWS documents), Principal
 * (`"*"`, {AWS}, {Service}) and NotPrincipal, and the condition operators String*, Arn*, Bool, Null,
 * Numeric*, Date*, BinaryEquals, IpAddress/NotIpAddress, each with `...IfExists` and the
 * `ForAnyValue:`/`ForAllValues:` qualifiers. Not supported (refused with PolicyValidationError, never
 * ignored): policy variables (`${aws:username}`), other condition operators. Not modelled: SCPs, RCPs,
 * permission boundaries, session policies, SNS's default topic policy (a topic without a policy
 * admits no service here: pass the template's policy).
 *
 * @example
 * const decision = evaluateAccess(
 *   { principal: { kind: 'role', arn: 'arn:aws:iam::000000000000:role/ReceiverRole', sessionName: 'receiver' },
 *     action: 'sqs:SendMessage', resource: 'arn:aws:sqs:eu-west-1:000000000000:Queue' },
 *   { accountId: '000000000000', identity: [receiverRolePolicy], resource: queuePolicy },
 * );
 * if (!decision.allowed) throw new AwsError('AccessDeniedException', decision.message);
 */
import { BlockList, isIPv4, isIPv6 } from 'node:net';

export type PolicyValue = string | readonly string[];
/** Values as a template holds them: CloudFormation keeps `true` and `5` as JSON booleans and numbers. */
export type ConditionValue = string | number | boolean | readonly (string | number | boolean)[];
export type PrincipalElement = '*' | { readonly AWS?: PolicyValue; readonly Service?: PolicyValue; readonly Federated?: PolicyValue; readonly CanonicalUser?: PolicyValue };

export interface PolicyStatement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Principal?: PrincipalElement;
  readonly NotPrincipal?: PrincipalElement;
  readonly Action?: PolicyValue;
  readonly NotAction?: PolicyValue;
  readonly Resource?: PolicyValue;
  readonly NotResource?: PolicyValue;
  /** operator → condition key → value(s), e.g. `{ ArnLike: { 'aws:SourceArn': 'arn:aws:cloudwatch:…:alarm:*' } }` */
  readonly Condition?: Readonly<Record<string, Readonly<Record<string, ConditionValue>>>>;
}

export interface PolicyDocument {
  readonly Version?: string;
  readonly Id?: string;
  readonly Statement: PolicyStatement | readonly PolicyStatement[];
}

/**
 * Who makes the request. A role is named by its role ARN (`arn:aws:iam::<acct>:role/[path/]Name`,
 * matched by resource policies that name the role) with the session name Lambda uses (the function
 * name; default: the role name), or directly by its session ARN
 * (`arn:aws:sts::<acct>:assumed-role/Name/Session`, whose role ARN then has no path).
 */
export type RequestPrincipal = { readonly kind: 'role'; readonly arn: string; readonly sessionName?: string } | { readonly kind: 'service'; readonly service: string };

export interface AccessRequest {
  readonly principal: RequestPrincipal;
  /** `service:Operation`, e.g. `sqs:SendMessage`. */
  readonly action: string;
  /** The ARN of the resource, or `*` for actions that take none (e.g. `sqs:ListQueues`). */
  readonly resource: string;
  /**
   * The condition context, e.g. aws:SourceArn, aws:SourceAccount, aws:SecureTransport, kms:ViaService.
   * Keys are case-insensitive. A single-valued key is a string; a list is a multivalued key (e.g.
   * aws:CalledVia, aws:TagKeys), which only ForAnyValue:/ForAllValues: operators test. aws:PrincipalArn, aws:PrincipalAccount, aws:PrincipalType,
   * aws:PrincipalServiceName and aws:PrincipalIsAWSService are filled from the principal unless given.
   */
  readonly context?: Readonly<Record<string, string | readonly string[]>>;
}

export interface AccessPolicies {
  /** The account that owns the resource (and, for a same-account call, the role). */
  readonly accountId: string;
  /** The role's identity-based policies (inline and managed); none for a service principal. */
  readonly identity?: readonly PolicyDocument[];
  /** The resource's policy: a topic or queue policy, or a key policy. */
  readonly resource?: PolicyDocument;
  /** The resource is a KMS key: its key policy is `resource` and is required. */
  readonly kmsKey?: boolean;
}

/** The statement that decided: the first explicit Deny, or the first Allow that granted. */
export interface DecidingStatement {
  readonly policy: 'identity' | 'resource';
  /** Index of the identity policy in `AccessPolicies.identity`; 0 for the resource policy. */
  readonly policyIndex: number;
  /** Index of the statement within its policy. */
  readonly statementIndex: number;
  readonly sid?: string;
}

export interface AccessDecision {
  readonly allowed: boolean;
  readonly decision: 'allow' | 'explicit-deny' | 'implicit-deny';
  /**
   * AWS-style, e.g. "User: arn:aws:sts::000000000000:assumed-role/R/F is not authorized to perform:
   * sqs:SendMessage on resource: arn:… because no identity-based policy allows the sqs:SendMessage action"
   */
  readonly message: string;
  readonly decidedBy?: DecidingStatement;
}

/** A policy document AWS would refuse, or one using what this evaluator does not support. */
export class PolicyValidationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyValidationError';
  }
}

/** A request or policy set that cannot be evaluated (a malformed principal ARN, a KMS key without a key policy). */
export class AccessRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AccessRequestError';
  }
}

/**
 * Decides one request against the policies that apply to it. Pure and synchronous; policy documents
 * are validated on first use (and remembered, so treat them as immutable once evaluated).
 *
 * @throws PolicyValidationError for an invalid or unsupported policy, AccessRequestError for a bad request.
 */
export function evaluateAccess(request: AccessRequest, policies: AccessPolicies): AccessDecision {
  const caller = callerOf(request.principal);
  if (!/^[A-Za-z0-9-]+:[A-Za-z0-9*?-]+$/.test(request.action)) throw new AccessRequestError(`action "${request.action}" is not of the form service:Operation`);
  if (caller.kind === 'service' && (policies.identity?.length ?? 0) > 0) throw new AccessRequestError(`${caller.display} is a service principal: it has no identity-based policies`);
  if (policies.kmsKey && !policies.resource) throw new AccessRequestError(`${request.resource} is a KMS key: its key policy is required`);
  const identity = (policies.identity ?? []).map((doc) => statementsOf(doc, 'identity'));
  const resource = policies.resource ? statementsOf(policies.resource, 'resource') : [];
  const context = contextOf(request, caller);
  const crossAccount = caller.kind === 'role' && caller.account !== policies.accountId;

  let identityAllow: DecidingStatement | undefined;
  for (const [policyIndex, statements] of identity.entries()) {
    for (const [statementIndex, statement] of statements.entries()) {
      if (!appliesTo(statement, request, context)) continue;
      const at: DecidingStatement = { policy: 'identity', policyIndex, statementIndex, ...(statement.Sid === undefined ? {} : { sid: statement.Sid }) };
      if (statement.Effect === 'Deny') return explicitDeny(request, caller, at);
      identityAllow ??= at;
    }
  }
  let resourceDirect: DecidingStatement | undefined;
  let resourceAccount: DecidingStatement | undefined;
  for (const [statementIndex, statement] of resource.entries()) {
    const principal = principalMatch(statement, caller);
    if (principal === 'none' || !appliesTo(statement, request, context)) continue;
    const at: DecidingStatement = { policy: 'resource', policyIndex: 0, statementIndex, ...(statement.Sid === undefined ? {} : { sid: statement.Sid }) };
    // A Deny naming the account applies to every principal in it; an Allow naming it delegates to IAM.
    if (statement.Effect === 'Deny') return explicitDeny(request, caller, at);
    if (principal === 'direct') resourceDirect ??= at;
    else resourceAccount ??= at;
  }

  const resourceSide = resourceDirect ?? resourceAccount;
  if (caller.kind === 'service') return resourceDirect ? allow(request, caller, resourceDirect) : implicitDeny(request, caller, 'resource');
  if (crossAccount) {
    if (!identityAllow) return implicitDeny(request, caller, 'identity');
    return resourceSide ? allow(request, caller, identityAllow) : implicitDeny(request, caller, 'resource');
  }
  if (policies.kmsKey) {
    if (resourceDirect) return allow(request, caller, resourceDirect);
    if (!resourceAccount) return implicitDeny(request, caller, 'resource');
    return identityAllow ? allow(request, caller, identityAllow) : implicitDeny(request, caller, 'identity');
  }
  const granted = identityAllow ?? resourceDirect;
  return granted ? allow(request, caller, granted) : implicitDeny(request, caller, 'identity');
}

// ---------------------------------------------------------------------------------------------
// The caller

interface Caller {
  readonly kind: 'role' | 'service';
  /** What AWS names in its messages: the session ARN, or the service principal. */
  readonly display: string;
  readonly account?: string;
  readonly partition?: string;
  /** ARNs a resource policy's {AWS} may name to mean this caller directly. */
  readonly arns: readonly string[];
  readonly roleArn?: string;
  /** Lower case. */
  readonly service?: string;
}

const callerCache = new Map<string, Caller>();

function callerOf(principal: RequestPrincipal): Caller {
  const cacheKey = principal.kind === 'role' ? `role|${principal.arn}|${principal.sessionName ?? ''}` : `service|${principal.service}`;
  const cached = callerCache.get(cacheKey);
  if (cached) return cached;
  let caller: Caller;
  if (principal.kind === 'service') {
    if (!/^[a-z0-9.-]+\.amazonaws\.com(\.cn)?$/i.test(principal.service)) throw new AccessRequestError(`"${principal.service}" is not a service principal (e.g. cloudwatch.amazonaws.com)`);
    caller = { kind: 'service', display: principal.service, arns: [], service: principal.service.toLowerCase() };
  } else {
    const role = /^arn:([\w-]+):iam::(\d{12}):role\/(?:[^/]+\/)*([\w+=,.@-]+)$/.exec(principal.arn);
    const session = /^arn:([\w-]+):sts::(\d{12}):assumed-role\/([\w+=,.@-]+)\/([\w+=,.@-]+)$/.exec(principal.arn);
    if (role) {
      const [, partition = '', account = '', name = ''] = role;
      const sessionArn = `arn:${partition}:sts::${account}:assumed-role/${name}/${principal.sessionName ?? name}`;
      caller = { kind: 'role', display: sessionArn, account, partition, roleArn: principal.arn, arns: [principal.arn, sessionArn] };
    } else if (session) {
      const [, partition = '', account = '', name = ''] = session;
      const roleArn = `arn:${partition}:iam::${account}:role/${name}`;
      caller = { kind: 'role', display: principal.arn, account, partition, roleArn, arns: [roleArn, principal.arn] };
    } else {
      throw new AccessRequestError(`"${principal.arn}" is neither a role ARN (arn:aws:iam::<account>:role/Name) nor a role session ARN (arn:aws:sts::<account>:assumed-role/Name/Session)`);
    }
  }
  if (callerCache.size > 1000) callerCache.clear();
  callerCache.set(cacheKey, caller);
  return caller;
}

/** The request context by lower-cased key; a key given as a list is multivalued. */
type Context = Map<string, { readonly values: readonly string[]; readonly multivalued: boolean }>;

/** The request context, with the principal's global keys unless the request gave them. */
function contextOf(request: AccessRequest, caller: Caller): Context {
  const context: Context = new Map();
  const single = (value: string) => ({ values: [value], multivalued: false });
  if (caller.kind === 'role') {
    context.set('aws:principalarn', single(caller.roleArn ?? ''));
    context.set('aws:principalaccount', single(caller.account ?? ''));
    context.set('aws:principaltype', single('AssumedRole'));
    context.set('aws:principalisawsservice', single('false'));
  } else {
    context.set('aws:principalservicename', single(caller.service ?? ''));
    context.set('aws:principalisawsservice', single('true'));
  }
  for (const [key, value] of Object.entries(request.context ?? {})) context.set(key.toLowerCase(), typeof value === 'string' ? single(value) : { values: value, multivalued: true });
  return context;
}

/** 'direct': the statement names this caller (or everyone); 'account': it names the caller's account. */
function principalMatch(statement: PolicyStatement, caller: Caller): 'direct' | 'account' | 'none' {
  if (statement.NotPrincipal !== undefined) return principalNamed(statement.NotPrincipal, caller) === 'none' ? 'direct' : 'none';
  return principalNamed(statement.Principal as PrincipalElement, caller);
}

function principalNamed(element: PrincipalElement, caller: Caller): 'direct' | 'account' | 'none' {
  if (element === '*') return 'direct';
  let best: 'direct' | 'account' | 'none' = 'none';
  for (const value of list(element.AWS)) {
    if (value === '*' || caller.arns.includes(value)) return 'direct';
    if (caller.account !== undefined && (value === caller.account || value === `arn:${caller.partition}:iam::${caller.account}:root`)) best = 'account';
  }
  if (caller.service !== undefined && list(element.Service).some((s) => s.toLowerCase() === caller.service)) return 'direct';
  return best;
}

// ---------------------------------------------------------------------------------------------
// Statements

function appliesTo(statement: PolicyStatement, request: AccessRequest, context: Context): boolean {
  const action = statement.Action !== undefined ? list(statement.Action).some((p) => matchesAction(p, request.action)) : !list(statement.NotAction).some((p) => matchesAction(p, request.action));
  if (!action) return false;
  const resource =
    statement.Resource !== undefined ? list(statement.Resource).some((p) => matchesResource(p, request.resource)) : !list(statement.NotResource).some((p) => matchesResource(p, request.resource));
  return resource && (statement.Condition === undefined || conditionsHold(statement.Condition, context));
}

const validated = { identity: new WeakSet<PolicyDocument>(), resource: new WeakSet<PolicyDocument>() };

function statementsOf(doc: PolicyDocument, kind: 'identity' | 'resource'): readonly PolicyStatement[] {
  const statements = (Array.isArray(doc.Statement) ? doc.Statement : [doc.Statement]) as readonly PolicyStatement[];
  if (!validated[kind].has(doc)) {
    statements.forEach((statement, index) => validateStatement(statement, `${kind === 'identity' ? 'identity-based' : 'resource-based'} policy, statement ${index}${statement?.Sid ? ` (${statement.Sid})` : ''}`, kind));
    validated[kind].add(doc);
  }
  return statements;
}

function validateStatement(statement: PolicyStatement, where: string, kind: 'identity' | 'resource'): void {
  const fail = (problem: string): never => {
    throw new PolicyValidationError(`${where}: ${problem}`);
  };
  if (typeof statement !== 'object' || statement === null) fail('is not an object');
  if (statement.Effect !== 'Allow' && statement.Effect !== 'Deny') fail(`Effect must be "Allow" or "Deny", not ${JSON.stringify(statement.Effect)}`);
  const exactlyOne = (a: keyof PolicyStatement, b: keyof PolicyStatement) => {
    if ((statement[a] === undefined) === (statement[b] === undefined)) fail(`needs exactly one of ${a} and ${b}`);
  };
  exactlyOne('Action', 'NotAction');
  exactlyOne('Resource', 'NotResource');
  if (kind === 'identity' && (statement.Principal !== undefined || statement.NotPrincipal !== undefined)) fail('an identity-based policy cannot name a Principal');
  if (kind === 'resource') {
    exactlyOne('Principal', 'NotPrincipal');
    for (const element of [statement.Principal, statement.NotPrincipal]) {
      if (element === undefined || element === '*') continue;
      if (typeof element !== 'object' || element === null || Array.isArray(element)) fail(`Principal must be "*" or an object, not ${JSON.stringify(element)}`);
      for (const [type, values] of Object.entries(element)) {
        if (!['AWS', 'Service', 'Federated', 'CanonicalUser'].includes(type)) fail(`unknown principal type "${type}"`);
        if (!isStrings(values)) fail(`Principal ${type} must be a string or a list of strings`);
      }
    }
  }
  for (const element of ['Action', 'NotAction', 'Resource', 'NotResource'] as const) {
    const value = statement[element];
    if (value === undefined) continue;
    if (!isStrings(value) || list(value).length === 0) fail(`${element} must be a string or a non-empty list of strings`);
    // Unresolved CloudFormation intrinsics and policy variables would silently never match.
    for (const v of list(value)) if (v.includes('${')) fail(`${element} "${v}" uses a policy variable, which this evaluator does not support`);
  }
  if (statement.Condition === undefined) return;
  if (typeof statement.Condition !== 'object' || statement.Condition === null) fail('Condition must be an object');
  for (const [operator, block] of Object.entries(statement.Condition)) {
    const parsed = parseOperator(operator);
    if (!parsed) fail(`condition operator "${operator}" is not supported`);
    if (typeof block !== 'object' || block === null || Array.isArray(block)) fail(`condition ${operator} must map keys to values`);
    for (const [key, value] of Object.entries(block)) {
      const values = Array.isArray(value) ? value : [value];
      if (values.length === 0 || !values.every((v) => ['string', 'number', 'boolean'].includes(typeof v))) fail(`condition ${operator} ${key}: values must be strings, numbers or booleans`);
      if (values.some((v) => String(v).includes('${'))) fail(`condition ${operator} ${key} uses a policy variable, which this evaluator does not support`);
    }
  }
}

const isStrings = (value: unknown): value is PolicyValue => typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string'));
const list = (value: PolicyValue | undefined): readonly string[] => (value === undefined ? [] : typeof value === 'string' ? [value] : value);

// ---------------------------------------------------------------------------------------------
// Wildcards

const patterns = new Map<string, RegExp>();

/** A cached regular expression for a wildcard pattern; `kind` says how `*` and `?` may match. */
function wildcard(kind: 'action' | 'resource' | 'string' | 'arn-part', pattern: string): RegExp {
  const cacheKey = `${kind}\u0000${pattern}`;
  let regex = patterns.get(cacheKey);
  if (regex) return regex;
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '*') {
      // Resource ARNs: a wildcard stays within its colon-separated segment unless it ends the segment.
      const spans = kind !== 'resource' || i === pattern.length - 1 || pattern[i + 1] === ':';
      source += spans ? '.*' : '[^:]*';
    } else if (c === '?') {
      source += kind === 'resource' ? '[^:]' : '.';
    } else {
      source += c.replace(/[\\^$.|+()[\]{}]/g, '\\$&');
    }
  }
  regex = new RegExp(`^${source}$`, kind === 'action' ? 'is' : 's');
  if (patterns.size > 10_000) patterns.clear();
  patterns.set(cacheKey, regex);
  return regex;
}

const matchesAction = (pattern: string, action: string) => pattern === '*' || wildcard('action', pattern).test(action);
const matchesResource = (pattern: string, resource: string) => pattern === '*' || wildcard('resource', pattern).test(resource);

/** ArnEquals/ArnLike: each of the six colon-separated components is matched on its own (the last one keeps its colons). */
function matchesArn(value: string, pattern: string): boolean {
  const v = arnParts(value);
  const p = arnParts(pattern);
  return v !== undefined && p !== undefined && p.every((part, i) => wildcard('arn-part', part).test(v[i] as string));
}

function arnParts(arn: string): string[] | undefined {
  const parts = arn.split(':');
  if (parts.length < 6) return undefined;
  return [...parts.slice(0, 5), parts.slice(5).join(':')];
}

// ---------------------------------------------------------------------------------------------
// Conditions

type Matcher = (value: string, policyValue: string) => boolean;

interface Operator {
  readonly set?: 'ForAnyValue' | 'ForAllValues';
  readonly ifExists: boolean;
  /** Negated operators (StringNotEquals, ArnNotLike, …) hold when the value matches none of the policy values. */
  readonly negated: boolean;
  readonly match: Matcher | 'null';
}

const numeric = (test: (a: number, b: number) => boolean): Matcher => (value, policyValue) => {
  const a = Number(value);
  const b = Number(policyValue);
  return value.trim() !== '' && policyValue.trim() !== '' && !Number.isNaN(a) && !Number.isNaN(b) && test(a, b);
};
/** ISO 8601 dates and times, or epoch seconds. */
const toTime = (s: string) => (/^\d+$/.test(s) ? Number(s) * 1000 : Date.parse(s));
const date = (test: (a: number, b: number) => boolean): Matcher => (value, policyValue) => {
  const a = toTime(value);
  const b = toTime(policyValue);
  return !Number.isNaN(a) && !Number.isNaN(b) && test(a, b);
};
const blockLists = new Map<string, BlockList | null>();
const inCidr: Matcher = (value, cidr) => {
  let block = blockLists.get(cidr);
  if (block === undefined) {
    const [address = '', prefix] = cidr.split('/');
    const type = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined;
    block = null;
    if (type) {
      block = new BlockList();
      if (prefix === undefined) block.addAddress(address, type);
      else block.addSubnet(address, Number(prefix), type);
    }
    blockLists.set(cidr, block);
  }
  const type = isIPv4(value) ? 'ipv4' : isIPv6(value) ? 'ipv6' : undefined;
  return block !== null && type !== undefined && block.check(value, type);
};

const equals: Matcher = (v, p) => v === p;
const equalsIgnoreCase: Matcher = (v, p) => v.toLowerCase() === p.toLowerCase();
const like: Matcher = (v, p) => wildcard('string', p).test(v);

/** Each operator AWS documents that this evaluator supports, without IfExists or a set qualifier. */
const OPERATORS: Readonly<Record<string, { readonly negated: boolean; readonly match: Matcher | 'null' }>> = {
  StringEquals: { negated: false, match: equals },
  StringNotEquals: { negated: true, match: equals },
  StringEqualsIgnoreCase: { negated: false, match: equalsIgnoreCase },
  StringNotEqualsIgnoreCase: { negated: true, match: equalsIgnoreCase },
  StringLike: { negated: false, match: like },
  StringNotLike: { negated: true, match: like },
  NumericEquals: { negated: false, match: numeric((a, b) => a === b) },
  NumericNotEquals: { negated: true, match: numeric((a, b) => a === b) },
  NumericLessThan: { negated: false, match: numeric((a, b) => a < b) },
  NumericLessThanEquals: { negated: false, match: numeric((a, b) => a <= b) },
  NumericGreaterThan: { negated: false, match: numeric((a, b) => a > b) },
  NumericGreaterThanEquals: { negated: false, match: numeric((a, b) => a >= b) },
  DateEquals: { negated: false, match: date((a, b) => a === b) },
  DateNotEquals: { negated: true, match: date((a, b) => a === b) },
  DateLessThan: { negated: false, match: date((a, b) => a < b) },
  DateLessThanEquals: { negated: false, match: date((a, b) => a <= b) },
  DateGreaterThan: { negated: false, match: date((a, b) => a > b) },
  DateGreaterThanEquals: { negated: false, match: date((a, b) => a >= b) },
  Bool: { negated: false, match: equalsIgnoreCase },
  BinaryEquals: { negated: false, match: equals },
  IpAddress: { negated: false, match: inCidr },
  NotIpAddress: { negated: true, match: inCidr },
  ArnEquals: { negated: false, match: matchesArn },
  ArnLike: { negated: false, match: matchesArn },
  ArnNotEquals: { negated: true, match: matchesArn },
  ArnNotLike: { negated: true, match: matchesArn },
  Null: { negated: false, match: 'null' },
};

const operators = new Map<string, Operator | undefined>();

function parseOperator(name: string): Operator | undefined {
  if (operators.has(name)) return operators.get(name);
  const m = /^(?:(ForAnyValue|ForAllValues):)?(\w+?)(IfExists)?$/.exec(name);
  const base = m ? OPERATORS[m[2] as string] : undefined;
  let parsed: Operator | undefined;
  // Null tests presence itself: it takes neither IfExists nor a set qualifier.
  if (m && base && !(base.match === 'null' && (m[1] || m[3]))) {
    parsed = { ...(m[1] ? { set: m[1] as 'ForAnyValue' | 'ForAllValues' } : {}), ifExists: m[3] !== undefined, negated: base.negated, match: base.match };
  }
  operators.set(name, parsed);
  return parsed;
}

/** Operators AND'ed, keys AND'ed, a key's policy values OR'ed (NOR'ed for a negated operator). */
function conditionsHold(condition: NonNullable<PolicyStatement['Condition']>, context: Context): boolean {
  for (const [name, block] of Object.entries(condition)) {
    const operator = parseOperator(name) as Operator;
    for (const [key, raw] of Object.entries(block)) {
      const policyValues = (Array.isArray(raw) ? raw : [raw]).map(String);
      const entry = context.get(key.toLowerCase());
      if (!keyHolds(operator, entry?.values, entry?.multivalued ?? false, policyValues)) return false;
    }
  }
  return true;
}

function keyHolds(operator: Operator, values: readonly string[] | undefined, multivalued: boolean, policyValues: readonly string[]): boolean {
  const present = values !== undefined && values.length > 0;
  if (operator.match === 'null') return policyValues.some((p) => (p.toLowerCase() === 'true') === !present);
  if (!present) {
    // A missing key: IfExists holds; ForAllValues holds (no value fails); ForAnyValue does not;
    // otherwise the values do not match, so a negated operator holds.
    if (operator.ifExists || operator.set === 'ForAllValues') return true;
    if (operator.set === 'ForAnyValue') return false;
    return operator.negated;
  }
  const match = operator.match;
  const holdsFor = (value: string) => policyValues.some((p) => match(value, p)) !== operator.negated;
  if (operator.set === 'ForAllValues') return values.every(holdsFor);
  if (operator.set === 'ForAnyValue') return values.some(holdsFor);
  // AWS: "multivalued context keys require a condition set operator". Without one, a multivalued key
  // (given as a list, even of one) satisfies no operator, negated or not, as iam-simulate also decides.
  if (multivalued) return false;
  return holdsFor(values[0] as string);
}

// ---------------------------------------------------------------------------------------------
// Decisions

const what = (request: AccessRequest) => `perform: ${request.action} on resource: ${request.resource}`;
const policyKind = (policy: 'identity' | 'resource') => (policy === 'identity' ? 'an identity-based policy' : 'a resource-based policy');

function allow(request: AccessRequest, caller: Caller, at: DecidingStatement): AccessDecision {
  const sid = at.sid ? ` (statement ${at.sid})` : '';
  return { allowed: true, decision: 'allow', message: `User: ${caller.display} is allowed to ${what(request)} by ${policyKind(at.policy)}${sid}`, decidedBy: at };
}

function explicitDeny(request: AccessRequest, caller: Caller, at: DecidingStatement): AccessDecision {
  return { allowed: false, decision: 'explicit-deny', message: `User: ${caller.display} is not authorized to ${what(request)} with an explicit deny in ${policyKind(at.policy)}`, decidedBy: at };
}

function implicitDeny(request: AccessRequest, caller: Caller, missing: 'identity' | 'resource'): AccessDecision {
  return {
    allowed: false,
    decision: 'implicit-deny',
    message: `User: ${caller.display} is not authorized to ${what(request)} because no ${missing}-based policy allows the ${request.action} action`,
  };
}

// ---------------------------------------------------------------------------------------------
// Lambda permissions

/** The properties of an `AWS::Lambda::Permission`, intrinsics resolved. */
export interface LambdaPermission {
  readonly Action: string;
  readonly Principal: string;
  readonly SourceArn?: string;
  readonly SourceAccount?: string;
  readonly PrincipalOrgID?: string;
}

/**
 * A function's resource policy, as Lambda builds it from its permissions (`AWS::Lambda::Permission`
 * in the template): one Allow per permission, its SourceArn an ArnLike on aws:SourceArn, its
 * SourceAccount a StringEquals on aws:SourceAccount. Evaluate an invocation by a service (a schedule
 * invoking the poller, API Gateway invoking the receiver) against it.
 *
 * @example
 * const policy = lambdaPermissionsPolicy(pollerArn, [{ Action: 'lambda:InvokeFunction', Principal: 'events.amazonaws.com', SourceArn: scheduleArn }]);
 * evaluateAccess({ principal: { kind: 'service', service: 'events.amazonaws.com' }, action: 'lambda:InvokeFunction', resource: pollerArn, context: { 'aws:SourceArn': scheduleArn } }, { accountId, resource: policy });
 */
export function lambdaPermissionsPolicy(functionArn: string, permissions: readonly LambdaPermission[]): PolicyDocument {
  return {
    Version: '2012-10-17',
    Statement: permissions.map((permission, index): PolicyStatement => {
      const p = permission.Principal;
      const principal: PrincipalElement = p === '*' ? '*' : /^\d{12}$/.test(p) || p.startsWith('arn:') ? { AWS: p } : { Service: p };
      const condition: Record<string, Record<string, string>> = {};
      if (permission.SourceArn !== undefined) condition.ArnLike = { 'aws:SourceArn': permission.SourceArn };
      if (permission.SourceAccount !== undefined || permission.PrincipalOrgID !== undefined) {
        condition.StringEquals = {
          ...(permission.SourceAccount === undefined ? {} : { 'aws:SourceAccount': permission.SourceAccount }),
          ...(permission.PrincipalOrgID === undefined ? {} : { 'aws:PrincipalOrgID': permission.PrincipalOrgID }),
        };
      }
      return {
        Sid: `permission${index}`,
        Effect: 'Allow',
        Principal: principal,
        Action: permission.Action,
        Resource: functionArn,
        ...(Object.keys(condition).length > 0 ? { Condition: condition } : {}),
      };
    }),
  };
}
