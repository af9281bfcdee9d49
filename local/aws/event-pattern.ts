/**
 * EventBridge event patterns and input transformers, for the local bus's rules.
 *
 * Written here because no maintained npm package implements EventBridge's matching (AWS ships it
 * only as the Java library event-ruler, and the TestEventPattern API needs AWS). It follows the
 * documented content filtering: every field of the pattern must match; a list matches when any of
 * its values does; an array in the event matches when any element does; and the filters `prefix`,
 * `suffix`, `equals-ignore-case`, `anything-but`, `exists`, `numeric` and `wildcard`.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Whether `event` matches `pattern`. */
export function matchesEventPattern(pattern: Record<string, unknown>, event: unknown): boolean {
  return Object.entries(pattern).every(([key, expected]) => {
    // "$or": any of its sub-patterns (each together with the rest of this pattern, which `every` checks).
    if (key === '$or') {
      if (!Array.isArray(expected)) throw new Error('event pattern $or must be a list of patterns');
      return expected.some((sub) => matchesEventPattern(sub as Record<string, unknown>, event));
    }
    const actual = event !== null && typeof event === 'object' && !Array.isArray(event) ? (event as Record<string, unknown>)[key] : undefined;
    if (Array.isArray(expected)) return expected.some((filter) => matchesFilter(filter as Json, actual));
    if (expected !== null && typeof expected === 'object') {
      const values = Array.isArray(actual) ? actual : [actual];
      return values.some((v) => v !== null && typeof v === 'object' && matchesEventPattern(expected as Record<string, unknown>, v));
    }
    throw new Error(`event pattern field ${key} must be a list or an object`);
  });
}

function matchesFilter(filter: Json, actual: unknown): boolean {
  if (filter !== null && typeof filter === 'object' && !Array.isArray(filter)) {
    if ('exists' in filter) return (actual !== undefined) === filter.exists;
  }
  if (actual === undefined) return false;
  const values = Array.isArray(actual) ? (actual as unknown[]) : [actual];
  return values.some((value) => matchesValue(filter, value));
}

function matchesValue(filter: Json, value: unknown): boolean {
  if (filter === null || typeof filter !== 'object') return filter === value;
  if (Array.isArray(filter)) return filter.some((f) => matchesValue(f, value));
  const [operator, argument] = Object.entries(filter)[0] ?? [];
  switch (operator) {
    case 'prefix':
      return typeof value === 'string' && textMatches(argument as Json, (arg, ignoreCase) => (ignoreCase ? value.toLowerCase().startsWith(arg.toLowerCase()) : value.startsWith(arg)));
    case 'suffix':
      return typeof value === 'string' && textMatches(argument as Json, (arg, ignoreCase) => (ignoreCase ? value.toLowerCase().endsWith(arg.toLowerCase()) : value.endsWith(arg)));
    case 'equals-ignore-case':
      return typeof value === 'string' && (Array.isArray(argument) ? argument : [argument]).some((arg) => value.toLowerCase() === String(arg).toLowerCase());
    case 'wildcard':
      return typeof value === 'string' && new RegExp(`^${String(argument).split('*').map(escapeRegExp).join('.*')}$`, 's').test(value);
    case 'anything-but':
      return argument !== null && typeof argument === 'object' && !Array.isArray(argument) ? !matchesValue(argument, value) : !(Array.isArray(argument) ? argument : [argument]).includes(value as Json);
    case 'numeric':
      return typeof value === 'number' && numericMatches(argument as Json[], value);
    default:
      throw new Error(`event pattern filter ${operator ?? '{}'} is not supported locally`);
  }
}

/** A `prefix` or `suffix` argument: a string, a list of them (inside `anything-but`), or `{"equals-ignore-case": ...}`. */
function textMatches(argument: Json, test: (arg: string, ignoreCase: boolean) => boolean): boolean {
  if (Array.isArray(argument)) return argument.some((a) => textMatches(a, test));
  if (argument !== null && typeof argument === 'object' && 'equals-ignore-case' in argument) {
    const args = argument['equals-ignore-case'];
    return (Array.isArray(args) ? args : [args]).some((a) => test(String(a), true));
  }
  return test(String(argument), false);
}

function numericMatches(conditions: Json[], value: number): boolean {
  for (let i = 0; i < conditions.length; i += 2) {
    const [op, bound] = [conditions[i], Number(conditions[i + 1])];
    const ok = op === '<' ? value < bound : op === '<=' ? value <= bound : op === '>' ? value > bound : op === '>=' ? value >= bound : op === '=' ? value === bound : false;
    if (!ok) return false;
  }
  return true;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The value at a JSONPath of the form EventBridge input paths use (`$.detail.a.b`, `$.detail.ids[0]`, `$['a']`). */
export function valueAtPath(event: unknown, jsonPath: string): unknown {
  const steps = [...jsonPath.replace(/^\$/, '').matchAll(/\.([^.[\]]+)|\[(\d+)\]|\['([^']*)'\]/g)].map((m) => (m[2] !== undefined ? Number(m[2]) : (m[1] ?? m[3])!));
  return steps.reduce<unknown>((v, key) => (v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[key] : undefined), event);
}

/** The rule a transformer runs for, for the reserved variables `<aws.events.rule-arn>` and `<aws.events.rule-name>`. */
export interface TransformContext {
  readonly ruleArn?: string;
  readonly ruleName?: string;
}

/**
 * An input transformer's output: each `<name>` of the template replaced by its path's value (a
 * string inside a quoted template as its text, anything else as JSON), as EventBridge documents.
 */
export function transformInput(event: unknown, transformer: { InputPathsMap?: Record<string, string>; InputTemplate: string }, context: TransformContext = {}): string {
  const { detail: _detail, ...withoutDetail } = (event ?? {}) as Record<string, unknown>;
  // EventBridge's reserved variables, then the transformer's own.
  const values: Record<string, unknown> = {
    'aws.events.event': withoutDetail,
    'aws.events.event.json': event,
    'aws.events.event.ingestion-time': (event as { time?: string } | null)?.time,
    ...(context.ruleArn !== undefined && { 'aws.events.rule-arn': context.ruleArn }),
    ...(context.ruleName !== undefined && { 'aws.events.rule-name': context.ruleName }),
    ...Object.fromEntries(Object.entries(transformer.InputPathsMap ?? {}).map(([name, p]) => [name, valueAtPath(event, p)])),
  };
  let insideString = false;
  let out = '';
  const template = transformer.InputTemplate;
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === '"' && template[i - 1] !== '\\') insideString = !insideString;
    const placeholder = c === '<' ? /^<([A-Za-z0-9_.-]+)>/.exec(template.slice(i)) : null;
    if (placeholder && placeholder[1]! in values) {
      const v = values[placeholder[1]!];
      out += insideString ? (typeof v === 'string' ? JSON.stringify(v).slice(1, -1) : JSON.stringify(v ?? null)) : JSON.stringify(v ?? null);
      i += placeholder[0].length - 1;
      continue;
    }
    out += c;
  }
  return out;
}
