/**
 * Resolves CloudFormation intrinsic functions in a piece of a synthesized template (a policy
 * document, a resource's properties), the way CloudFormation would at deploy time, given what each
 * logical id resolves to. The local stack uses it to read the template `cdk deploy` deploys: role
 * policies, topic and queue policies, key policies.
 *
 * Supported: `Ref` (logical ids and the pseudo parameters AWS::AccountId, AWS::Region,
 * AWS::Partition, AWS::URLSuffix, AWS::StackName, AWS::StackId, AWS::NotificationARNs, AWS::NoValue),
 * `Fn::GetAtt` (list or `"Id.Attr"` form), `Fn::Join`, `Fn::Sub` (string or [string, variables], with
 * `${Id}`, `${Id.Attr}`, `${AWS::Region}` and `${!Literal}`), `Fn::Select`, `Fn::Split`, `Fn::Base64`,
 * `Fn::FindInMap`. Anything else (`Fn::If`, `Fn::ImportValue`, …), and any reference nobody resolves,
 * throws an IntrinsicError naming where it is: a value is never left half resolved.
 *
 * @example
 * const refs: IntrinsicReferences = {
 *   accountId: '000000000000', region: 'eu-west-1',
 *   ref: { AlarmTopic: 'arn:aws:sns:eu-west-1:000000000000:alarms' },          // what Ref returns
 *   getAtt: { 'TopicKey.Arn': 'arn:aws:kms:eu-west-1:000000000000:key/1' },     // `${logicalId}.${attribute}`
 * };
 * const policy = resolveIntrinsics<PolicyDocument>(template.Resources.AlarmTopicPolicy.Properties.PolicyDocument, refs);
 */

/** What a reference resolves to: most are strings; some attributes and parameters are lists. */
export type CfnValue = string | readonly string[];

export interface IntrinsicReferences {
  /** AWS::AccountId */
  readonly accountId: string;
  /** AWS::Region */
  readonly region: string;
  /** AWS::Partition. @default 'aws' */
  readonly partition?: string;
  /** AWS::URLSuffix. @default 'amazonaws.com' ('amazonaws.com.cn' in the aws-cn partition) */
  readonly urlSuffix?: string;
  /** AWS::StackName; a Ref to it without a value throws. */
  readonly stackName?: string;
  /** AWS::StackId; a Ref to it without a value throws. */
  readonly stackId?: string;
  /**
   * What `{ Ref: logicalId }` resolves to: a parameter's value, or a resource's Ref value (a queue's
   * URL, a topic's ARN, a function's name: see each resource type's "Return values"). A function may
   * answer undefined for an id it does not know.
   */
  readonly ref?: Readonly<Record<string, CfnValue>> | ((logicalId: string) => CfnValue | undefined);
  /** What `{ 'Fn::GetAtt': [logicalId, attribute] }` resolves to; a record is keyed `${logicalId}.${attribute}`. */
  readonly getAtt?: Readonly<Record<string, CfnValue>> | ((logicalId: string, attribute: string) => CfnValue | undefined);
  /** The template's `Mappings`, for Fn::FindInMap. */
  readonly mappings?: Readonly<Record<string, Readonly<Record<string, Readonly<Record<string, CfnValue>>>>>>;
}

/** An intrinsic that cannot be resolved: unknown reference, unsupported function, malformed arguments. */
export class IntrinsicError extends Error {
  constructor(
    /** Where in the value, e.g. `$.Statement[1].Resource`. */
    public readonly path: string,
    problem: string,
  ) {
    super(`${path}: ${problem}`);
    this.name = 'IntrinsicError';
  }
}

/** Removes the property or list element it is in, as CloudFormation does. */
const NO_VALUE = Symbol('AWS::NoValue');

/**
 * Returns a copy of `value` with every intrinsic function replaced by what it resolves to. Pure: the
 * input is not modified.
 *
 * @throws IntrinsicError for an unknown reference or an unsupported function, naming its path.
 */
export function resolveIntrinsics<T = unknown>(value: unknown, refs: IntrinsicReferences): T {
  const resolved = resolve(value, refs, '$');
  return (resolved === NO_VALUE ? undefined : resolved) as T;
}

function resolve(value: unknown, refs: IntrinsicReferences, path: string): unknown {
  if (Array.isArray(value)) {
    return value.map((item, i) => resolve(item, refs, `${path}[${i}]`)).filter((item) => item !== NO_VALUE);
  }
  if (typeof value !== 'object' || value === null) return value;
  const keys = Object.keys(value);
  const only = keys.length === 1 ? (keys[0] as string) : undefined;
  if (only === 'Ref' || only?.startsWith('Fn::')) return intrinsic(only, (value as Record<string, unknown>)[only], refs, `${path}.${only}`);
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const item = resolve((value as Record<string, unknown>)[key], refs, `${path}.${key}`);
    if (item !== NO_VALUE) out[key] = item;
  }
  return out;
}

function intrinsic(fn: string, args: unknown, refs: IntrinsicReferences, path: string): unknown {
  const fail = (problem: string): never => {
    throw new IntrinsicError(path, problem);
  };
  switch (fn) {
    case 'Ref':
      return typeof args === 'string' ? ref(args, refs, path) : fail('takes a logical id');
    case 'Fn::GetAtt': {
      const resolvedArgs = resolve(args, refs, path);
      const [id, attribute] = typeof resolvedArgs === 'string' ? splitOnce(resolvedArgs, '.') : Array.isArray(resolvedArgs) ? resolvedArgs : [];
      if (typeof id !== 'string' || typeof attribute !== 'string' || !id || !attribute) fail('takes [logicalId, attribute] or "logicalId.attribute"');
      return getAtt(id as string, attribute as string, refs, path);
    }
    case 'Fn::Join': {
      const resolvedArgs = resolve(args, refs, path);
      if (!Array.isArray(resolvedArgs) || resolvedArgs.length !== 2 || typeof resolvedArgs[0] !== 'string' || !Array.isArray(resolvedArgs[1])) fail('takes [delimiter, [values]]');
      const [delimiter, items] = resolvedArgs as [string, unknown[]];
      if (!items.every((i) => typeof i === 'string')) fail('can only join strings');
      return items.join(delimiter);
    }
    case 'Fn::Sub': {
      const [template, variables] = typeof args === 'string' ? [args, {}] : Array.isArray(args) && args.length === 2 ? args : [undefined, undefined];
      if (typeof template !== 'string' || typeof variables !== 'object' || variables === null) return fail('takes a string or [string, {variables}]');
      const resolvedVariables = resolve(variables, refs, `${path}[1]`) as Record<string, unknown>;
      return template.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
        if (name.startsWith('!')) return `\${${name.slice(1)}}`;
        const trimmed = name.trim();
        const replacement = trimmed in resolvedVariables ? resolvedVariables[trimmed] : trimmed.includes('.') ? getAtt(...splitOnce(trimmed, '.'), refs, path) : ref(trimmed, refs, path);
        return typeof replacement === 'string' ? replacement : fail(`\${${trimmed}} is not a string`);
      });
    }
    case 'Fn::Select': {
      const resolvedArgs = resolve(args, refs, path);
      if (!Array.isArray(resolvedArgs) || resolvedArgs.length !== 2 || !Array.isArray(resolvedArgs[1])) fail('takes [index, [values]]');
      const [index, items] = resolvedArgs as [unknown, unknown[]];
      const i = Number(index);
      if (!Number.isInteger(i) || i < 0 || i >= items.length) fail(`index ${String(index)} is outside a list of ${items.length}`);
      return items[i];
    }
    case 'Fn::Split': {
      const resolvedArgs = resolve(args, refs, path);
      if (!Array.isArray(resolvedArgs) || resolvedArgs.length !== 2 || typeof resolvedArgs[0] !== 'string' || typeof resolvedArgs[1] !== 'string') fail('takes [delimiter, string]');
      const [delimiter, source] = resolvedArgs as [string, string];
      return source.split(delimiter);
    }
    case 'Fn::Base64': {
      const resolvedArgs = resolve(args, refs, path);
      return typeof resolvedArgs === 'string' ? Buffer.from(resolvedArgs, 'utf8').toString('base64') : fail('takes a string');
    }
    case 'Fn::FindInMap': {
      const resolvedArgs = resolve(args, refs, path);
      if (!Array.isArray(resolvedArgs) || resolvedArgs.length !== 3 || !resolvedArgs.every((a) => typeof a === 'string')) fail('takes [map, topLevelKey, secondLevelKey]');
      const [map, top, second] = resolvedArgs as [string, string, string];
      const found = refs.mappings?.[map]?.[top]?.[second];
      return found !== undefined ? found : fail(`no mapping ${map}.${top}.${second}`);
    }
    default:
      return fail(`${fn} is not supported`);
  }
}

function ref(name: string, refs: IntrinsicReferences, path: string): unknown {
  const partition = refs.partition ?? 'aws';
  const pseudo: Record<string, unknown> = {
    'AWS::AccountId': refs.accountId,
    'AWS::Region': refs.region,
    'AWS::Partition': partition,
    'AWS::URLSuffix': refs.urlSuffix ?? (partition === 'aws-cn' ? 'amazonaws.com.cn' : 'amazonaws.com'),
    'AWS::StackName': refs.stackName,
    'AWS::StackId': refs.stackId,
    'AWS::NotificationARNs': [],
    'AWS::NoValue': NO_VALUE,
  };
  const value = name.startsWith('AWS::') ? pseudo[name] : typeof refs.ref === 'function' ? refs.ref(name) : refs.ref?.[name];
  if (value === undefined) throw new IntrinsicError(path, `nothing resolves Ref ${name}`);
  return value;
}

function getAtt(id: string, attribute: string, refs: IntrinsicReferences, path: string): CfnValue {
  const value = typeof refs.getAtt === 'function' ? refs.getAtt(id, attribute) : refs.getAtt?.[`${id}.${attribute}`];
  if (value === undefined) throw new IntrinsicError(path, `nothing resolves Fn::GetAtt ${id}.${attribute}`);
  return value;
}

function splitOnce(s: string, separator: string): [string, string] {
  const at = s.indexOf(separator);
  return at < 0 ? [s, ''] : [s.slice(0, at), s.slice(at + separator.length)];
}
