/**
 * Event times in one form: ISO 8601 in UTC with exactly nine fractional digits,
 * `2026-12-01T06:10:56.123456789Z`. The width never varies, so the strings sort by time (as the
 * connection state, the history index and `replay --since` compare them), and a sender's
 * sub-millisecond precision survives. Times before 1970 or after 9999 are not event times.
 */

/** Largest epoch second of a four-digit year (9999-12-31T23:59:59Z). */
const MAX_EPOCH_SECONDS = 253_402_300_799;
const ISO = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?\s*(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?$/;
const DECIMAL = /^(\d+)(?:\.(\d+))?$/;

/**
 * An event time from a body field: an ISO 8601 date-time (an offset is applied; none means UTC),
 * or an epoch time in seconds, milliseconds, microseconds or nanoseconds (told apart by magnitude),
 * as a number or a numeric string. `undefined` for anything else.
 *
 * @example
 * parseEventTime('2026-12-01T08:10:56.1234567+02:00'); // '2026-12-01T06:10:56.123456700Z'
 * parseEventTime(1764569456);                          // '2025-12-01T06:10:56.000000000Z'
 */
export function parseEventTime(value: unknown): string | undefined {
  // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent because the guard only saves work: a negative or non-finite number's text (`-5`, `NaN`, `Infinity`) fails DECIMAL in fromEpoch, which then answers undefined too (hidden with them: the killed `if` made `true` or `false` and the ternary made `false`)
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? fromEpoch(decimalText(value)) : undefined;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  return DECIMAL.test(text) ? fromEpoch(text) : fromIso(text);
}

/**
 * The event-time form of a JavaScript time (milliseconds since the epoch).
 *
 * @example
 * eventTimeFromMs(Date.UTC(2026, 0, 1)); // '2026-01-01T00:00:00.000000000Z'
 */
export function eventTimeFromMs(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 23)}000000Z`;
}

function fromIso(text: string): string | undefined {
  const m = ISO.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s = '0', fraction = '', , sign, oh = '0', om = '0'] = m;
  const [year, month, day, hour, minute, second] = [y, mo, d, h, mi, s].map(Number);
  if (year < 1970 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59 || Number(oh) > 23 || Number(om) > 59) return undefined;
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  if (new Date(ms).getUTCDate() !== day) return undefined; // 2026-02-30
  const offsetSeconds = (sign === '-' ? -1 : 1) * (Number(oh) * 3600 + Number(om) * 60);
  return format(ms / 1000 - (sign ? offsetSeconds : 0), fraction);
}

/** An epoch time as decimal text; the unit follows from the size of its integer part. */
function fromEpoch(text: string): string | undefined {
  const m = DECIMAL.exec(text);
  if (!m) return undefined;
  // Stryker disable next-line Regex: equivalent because the integer part is read only through Number() and its last unitDigits digits, which leading zeros change neither of (the unanchored variant, which drops inner zeros, is killed but hidden with them)
  const integer = m[1].replace(/^0+(?=\d)/, '');
  const value = Number(integer);
  const unitDigits = value < 1e11 ? 0 : value < 1e14 ? 3 : value < 1e17 ? 6 : 9;
  // Shift the decimal point left by unitDigits on the text, not in floating point, to keep every digit.
  // Stryker disable next-line ArithmeticOperator: equivalent because padStart never pads here: integer has at least one digit, and at least 12 when unitDigits is 3 or more (hidden with it: the killed `-` for `+` between the two strings)
  const digits = integer.padStart(unitDigits + 1, '0') + (m[2] ?? '');
  // Stryker disable next-line ArithmeticOperator: equivalent because padStart never pads here (see above) (hidden with it: the killed `+ unitDigits`)
  const split = integer.padStart(unitDigits + 1, '0').length - unitDigits;
  return format(Number(digits.slice(0, split)), digits.slice(split));
}

function format(epochSeconds: number, fraction: string): string | undefined {
  if (!Number.isSafeInteger(epochSeconds) || epochSeconds < 0 || epochSeconds > MAX_EPOCH_SECONDS) return undefined;
  return `${new Date(epochSeconds * 1000).toISOString().slice(0, 19)}.${fraction.slice(0, 9).padEnd(9, '0')}Z`;
}

/** A number's decimal digits without an exponent (1e21 and above have none to keep anyway). */
function decimalText(value: number): string {
  const text = String(value);
  return /e/i.test(text) ? value.toFixed(0) : text;
}
