/**
 * CloudWatch metric math, as much of it as alarms here need: numbers, query ids, + - * / ^,
 * comparisons (== != < <= > >=, giving 1 or 0), AND/&&, OR/||, ABS, CEIL, FLOOR, FILL (a number,
 * a time series or REPEAT), IF(condition, a[, b]), MAX/MIN/SUM/AVG (of a time series: one number
 * over the range; of an array [a, b]: a time series) and PERIOD. Anything else is refused by name
 * when the alarm is loaded, never at evaluation.
 *
 * A time series is one value per period of the evaluation range (oldest first); `undefined` is a
 * missing datapoint, and an operation on a missing datapoint gives a missing datapoint.
 *
 * Docs: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html
 */

/** An expression this module cannot parse or type-check, or one CloudWatch would refuse. */
export class ExpressionError extends Error {
  override readonly name = 'ExpressionError';
}

export type Expr =
  | { readonly kind: 'number'; readonly value: number }
  | { readonly kind: 'ref'; readonly id: string }
  | { readonly kind: 'keyword'; readonly name: 'REPEAT' }
  | { readonly kind: 'array'; readonly items: readonly Expr[] }
  | { readonly kind: 'unary'; readonly operand: Expr }
  | { readonly kind: 'binary'; readonly op: string; readonly left: Expr; readonly right: Expr }
  | { readonly kind: 'call'; readonly fn: string; readonly args: readonly Expr[] };

export type ExprType = 'scalar' | 'series' | 'array';

export const FUNCTIONS = ['ABS', 'CEIL', 'FLOOR', 'FILL', 'IF', 'MAX', 'MIN', 'SUM', 'AVG', 'PERIOD'] as const;

function tokenize(text: string): string[] {
  const tokens: string[] = [];
  const pattern = /\s*(\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+|[A-Za-z_][A-Za-z0-9_]*|==|!=|<=|>=|&&|\|\||[-+*/^()<>,[\]])/y;
  let at = 0;
  while (at < text.length) {
    if (/^\s*$/.test(text.slice(at))) break;
    pattern.lastIndex = at;
    const match = pattern.exec(text);
    if (!match) throw new ExpressionError(`unexpected ${JSON.stringify(text.slice(at).trim().slice(0, 10))}`);
    tokens.push(match[1]);
    at = pattern.lastIndex;
  }
  return tokens;
}

/**
 * The syntax tree of a metric math expression.
 *
 * @throws ExpressionError naming what is not supported or not valid
 * @example
 * parseExpression('IF(m1 > 0, m1, 0)');
 */
export function parseExpression(text: string): Expr {
  const tokens = tokenize(text);
  let i = 0;
  const peek = () => tokens[i];
  const take = (expected?: string) => {
    const t = tokens[i];
    if (t === undefined) throw new ExpressionError(expected ? `expected ${expected} at the end` : 'unexpected end');
    if (expected !== undefined && t !== expected) throw new ExpressionError(`expected ${expected}, got ${t}`);
    i++;
    return t;
  };
  const binary = (next: () => Expr, ops: readonly string[], normalize: (op: string) => string = (op) => op) => (): Expr => {
    let left = next();
    while (peek() !== undefined && ops.includes(peek().toUpperCase())) {
      const op = normalize(take().toUpperCase());
      left = { kind: 'binary', op, left, right: next() };
    }
    return left;
  };
  const primary = (): Expr => {
    const t = take();
    if (/^(\d|\.\d)/.test(t)) return { kind: 'number', value: Number(t) };
    if (t === '(') {
      const e = or();
      take(')');
      return e;
    }
    if (t === '[') {
      const items = [or()];
      while (peek() === ',') {
        take(',');
        items.push(or());
      }
      take(']');
      return { kind: 'array', items };
    }
    if (/^[A-Za-z_]/.test(t)) {
      if (peek() === '(') {
        const fn = t.toUpperCase();
        if (!(FUNCTIONS as readonly string[]).includes(fn)) throw new ExpressionError(`function ${t} is not supported locally (supported: ${FUNCTIONS.join(', ')})`);
        take('(');
        const args: Expr[] = [];
        if (peek() !== ')') {
          args.push(or());
          while (peek() === ',') {
            take(',');
            args.push(or());
          }
        }
        take(')');
        return { kind: 'call', fn, args };
      }
      if (t.toUpperCase() === 'REPEAT') return { kind: 'keyword', name: 'REPEAT' };
      if (t.toUpperCase() === 'LINEAR') throw new ExpressionError('FILL(…, LINEAR) is not supported locally');
      return { kind: 'ref', id: t };
    }
    throw new ExpressionError(`unexpected ${t}`);
  };
  const unary = (): Expr => {
    if (peek() === '-') {
      take();
      return { kind: 'unary', operand: unary() };
    }
    if (peek() === '+') take();
    return primary();
  };
  const power = (): Expr => {
    const base = unary();
    if (peek() === '^') {
      take();
      return { kind: 'binary', op: '^', left: base, right: power() };
    }
    return base;
  };
  const mul = binary(power, ['*', '/']);
  const add = binary(mul, ['+', '-']);
  const cmp = binary(add, ['==', '!=', '<=', '>=', '<', '>']);
  const and = binary(cmp, ['AND', '&&'], () => 'AND');
  const or: () => Expr = binary(and, ['OR', '||'], () => 'OR');
  const expr = or();
  if (i < tokens.length) throw new ExpressionError(`unexpected ${tokens[i]}`);
  return expr;
}

/**
 * What an expression returns (a number, a time series or an array of them), given the type of each
 * id it refers to; throws {@link ExpressionError} for a function applied to what it does not take.
 */
export function typeCheck(e: Expr, refType: (id: string) => ExprType): ExprType {
  const widest = (...types: ExprType[]): ExprType => (types.includes('array') ? 'array' : types.includes('series') ? 'series' : 'scalar');
  switch (e.kind) {
    case 'number':
      return 'scalar';
    case 'ref':
      return refType(e.id);
    case 'keyword':
      throw new ExpressionError('REPEAT is only allowed as the second argument of FILL');
    case 'array':
      for (const item of e.items) if (typeCheck(item, refType) !== 'series') throw new ExpressionError('an array [ … ] holds time series only');
      return 'array';
    case 'unary':
      return typeCheck(e.operand, refType);
    case 'binary': {
      const l = typeCheck(e.left, refType);
      const r = typeCheck(e.right, refType);
      if (l === 'array' && r === 'array') throw new ExpressionError(`${e.op} between two arrays is not supported`);
      return widest(l, r);
    }
    case 'call': {
      const arity = (min: number, max = min) => {
        if (e.args.length < min || e.args.length > max) throw new ExpressionError(`${e.fn} takes ${min === max ? min : `${min} or ${max}`} arguments, got ${e.args.length}`);
      };
      switch (e.fn) {
        case 'ABS':
        case 'CEIL':
        case 'FLOOR':
          arity(1);
          return typeCheck(e.args[0], refType);
        case 'PERIOD':
          arity(1);
          if (typeCheck(e.args[0], refType) !== 'series') throw new ExpressionError('PERIOD takes a time series');
          return 'scalar';
        case 'FILL': {
          arity(2);
          const t = typeCheck(e.args[0], refType);
          if (t === 'scalar') throw new ExpressionError('FILL takes a time series or an array');
          if (e.args[1].kind !== 'keyword' && typeCheck(e.args[1], refType) === 'array') throw new ExpressionError('FILL fills with a number, a time series or REPEAT');
          return t;
        }
        case 'IF': {
          arity(2, 3);
          const types = e.args.map((a) => typeCheck(a, refType));
          if (types.includes('array')) throw new ExpressionError('IF does not take arrays');
          if (types[0] !== 'series') throw new ExpressionError('the condition of IF must be a time series');
          return 'series';
        }
        default: {
          // MAX, MIN, SUM, AVG
          arity(1);
          const t = typeCheck(e.args[0], refType);
          if (t === 'scalar') throw new ExpressionError(`${e.fn} takes a time series or an array`);
          return t === 'series' ? 'scalar' : 'series';
        }
      }
    }
  }
}

/** A series over the evaluation range: index 0 is the oldest period; undefined is a missing datapoint. */
export type SeriesValue = (number | undefined)[];
export type Value = number | undefined | SeriesValue | SeriesValue[];

/**
 * The value of a type-checked expression over a range of `length` periods; `ref` gives a query id's
 * value, `periodSeconds` is what PERIOD returns (the alarm's period, unscaled).
 *
 * @example
 * evaluateExpression(parseExpression('FILL(m1, 0) * 2'), 3, () => [1, undefined, 3], 60); // [2, 0, 6]
 */
export function evaluateExpression(e: Expr, length: number, ref: (id: string) => SeriesValue | number | undefined, periodSeconds: number): Value {
  const ev = (x: Expr) => evaluateExpression(x, length, ref, periodSeconds);
  // A series always has `length` (>= 3) entries, so an array of series is told apart by its first item.
  const isArray = (v: Value): v is SeriesValue[] => Array.isArray(v) && Array.isArray(v[0]);
  const isSeries = (v: Value): v is SeriesValue => Array.isArray(v) && !isArray(v);
  const at = (v: Value, k: number): number | undefined => (Array.isArray(v) ? (v as SeriesValue)[k] : v);
  const map = (v: Value, f: (x: number) => number): Value => {
    if (isArray(v)) return v.map((s) => s.map((x) => (x === undefined ? undefined : f(x))));
    if (Array.isArray(v)) return (v as SeriesValue).map((x) => (x === undefined ? undefined : f(x)));
    return v === undefined ? undefined : f(v);
  };
  const zip = (a: Value, b: Value, f: (x: number, y: number) => number): Value => {
    if (isArray(a)) return a.map((s) => zip(s, b, f) as SeriesValue);
    if (isArray(b)) return b.map((s) => zip(a, s, f) as SeriesValue);
    if (!Array.isArray(a) && !Array.isArray(b)) return a === undefined || b === undefined ? undefined : f(a, b);
    return Array.from({ length }, (_, k) => {
      const x = at(a, k);
      const y = at(b, k);
      return x === undefined || y === undefined ? undefined : f(x, y);
    });
  };
  const aggregate = (fn: string, values: number[]): number | undefined => {
    if (values.length === 0) return undefined;
    if (fn === 'MAX') return Math.max(...values);
    if (fn === 'MIN') return Math.min(...values);
    const sum = values.reduce((s, x) => s + x, 0);
    return fn === 'SUM' ? sum : sum / values.length;
  };
  switch (e.kind) {
    case 'number':
      return e.value;
    case 'ref':
      return ref(e.id);
    case 'keyword':
      throw new ExpressionError('REPEAT outside FILL');
    case 'array':
      return e.items.map((item) => ev(item) as SeriesValue);
    case 'unary':
      return map(ev(e.operand), (x) => -x);
    case 'binary': {
      const ops: Record<string, (x: number, y: number) => number> = {
        '+': (x, y) => x + y,
        '-': (x, y) => x - y,
        '*': (x, y) => x * y,
        '/': (x, y) => x / y,
        '^': (x, y) => x ** y,
        '==': (x, y) => Number(x === y),
        '!=': (x, y) => Number(x !== y),
        '<': (x, y) => Number(x < y),
        '<=': (x, y) => Number(x <= y),
        '>': (x, y) => Number(x > y),
        '>=': (x, y) => Number(x >= y),
        AND: (x, y) => Number(x !== 0 && y !== 0),
        OR: (x, y) => Number(x !== 0 || y !== 0),
      };
      // Division by zero gives no datapoint, as in CloudWatch (no Infinity or NaN).
      return finite(zip(ev(e.left), ev(e.right), ops[e.op]));
    }
    case 'call': {
      const args = e.args;
      switch (e.fn) {
        case 'ABS':
          return map(ev(args[0]), Math.abs);
        case 'CEIL':
          return map(ev(args[0]), Math.ceil);
        case 'FLOOR':
          return map(ev(args[0]), Math.floor);
        case 'PERIOD':
          return periodSeconds;
        case 'FILL': {
          const target = ev(args[0]);
          const fillSeries = (s: SeriesValue): SeriesValue => {
            if (args[1].kind === 'keyword') {
              // REPEAT: the most recent real value before; leading gaps stay missing.
              let last: number | undefined;
              return s.map((x) => (x === undefined ? last : (last = x)));
            }
            const by = ev(args[1]);
            return s.map((x, k) => x ?? at(by, k));
          };
          return isArray(target) ? target.map(fillSeries) : fillSeries(target as SeriesValue);
        }
        case 'IF': {
          const [cond, yes, no] = args.map(ev);
          return Array.from({ length }, (_, k) => {
            const c = at(cond, k);
            if (c === undefined) return undefined;
            // Without a false value, a false condition gives no datapoint.
            return c !== 0 ? at(yes, k) : at(no, k);
          });
        }
        default: {
          const v = ev(args[0]);
          if (isArray(v)) return Array.from({ length }, (_, k) => aggregate(e.fn, v.map((s) => s[k]).filter((x): x is number => x !== undefined)));
          if (isSeries(v)) return aggregate(e.fn, v.filter((x): x is number => x !== undefined));
          return undefined;
        }
      }
    }
  }
}

function finite(v: Value): Value {
  const f = (x: number | undefined) => (x === undefined || Number.isFinite(x) ? x : undefined);
  if (!Array.isArray(v)) return f(v);
  return (v as unknown[]).map((s) => (Array.isArray(s) ? s.map(f) : f(s as number | undefined))) as Value;
}
