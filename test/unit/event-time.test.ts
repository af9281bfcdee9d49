import { eventTimeFromMs, parseEventTime } from '../../lambdas/core/event-time';

describe('parseEventTime', () => {
  it.each([
    ['2026-12-01T06:10:56Z', '2026-12-01T06:10:56.000000000Z'],
    ['2026-12-01T08:10:56.1234567+02:00', '2026-12-01T06:10:56.123456700Z'],
    ['2026-12-01T06:10:56.123-0530', '2026-12-01T11:40:56.123000000Z'],
    ['2026-12-01 06:10', '2026-12-01T06:10:00.000000000Z'],
    ['2026-12-01T06:10:56.1234567891234Z', '2026-12-01T06:10:56.123456789Z'],
    [1764569456, '2025-12-01T06:10:56.000000000Z'],
    [1764569456.5, '2025-12-01T06:10:56.500000000Z'],
    [1764569456123, '2025-12-01T06:10:56.123000000Z'],
    ['1764569456123456', '2025-12-01T06:10:56.123456000Z'],
    ['1764569456123456789', '2025-12-01T06:10:56.123456789Z'],
  ])('reads %j as %s', (input, expected) => {
    expect(parseEventTime(input)).toBe(expected);
  });

  it.each([['yesterday'], ['2026-02-30T00:00:00Z'], ['2026-13-01T00:00:00Z'], ['0099-01-01T00:00:00Z'], [-5], [Number.NaN], [null], [{}], ['']])('rejects %j', (input) => {
    expect(parseEventTime(input)).toBeUndefined();
  });

  it('writes a JavaScript time in the same fixed-width form', () => {
    expect(eventTimeFromMs(Date.UTC(2026, 0, 1, 0, 0, 0, 7))).toBe('2026-01-01T00:00:00.007000000Z');
    expect(eventTimeFromMs(Date.UTC(2026, 0, 1))).toBe(parseEventTime('2026-01-01T00:00:00Z'));
  });

  it('tells epoch units apart at exactly 10^11, 10^14 and 10^17 (the same instant in ms, µs and ns)', () => {
    expect(parseEventTime(99_999_999_999)).toBe('5138-11-16T09:46:39.000000000Z');
    for (const input of [1e11, 1e14, '100000000000000000']) expect(parseEventTime(input)).toBe('1973-03-03T09:46:40.000000000Z');
  });

  it('reads the epoch itself, with or without leading zeros', () => {
    expect(parseEventTime(0)).toBe('1970-01-01T00:00:00.000000000Z');
    expect(parseEventTime('0001764569456')).toBe('2025-12-01T06:10:56.000000000Z');
  });

  it('takes every field at its largest and smallest valid value, and refuses one past it', () => {
    expect(parseEventTime('1970-01-01T00:00:00Z')).toBe('1970-01-01T00:00:00.000000000Z');
    expect(parseEventTime('2026-12-01T23:59:59Z')).toBe('2026-12-01T23:59:59.000000000Z');
    expect(parseEventTime('2026-12-01T12:00:00+23:59')).toBe('2026-11-30T12:01:00.000000000Z');
    expect(parseEventTime(' 2026-12-01T06:10:56Z\n')).toBe('2026-12-01T06:10:56.000000000Z');
    expect(parseEventTime(' 1764569456 ')).toBe('2025-12-01T06:10:56.000000000Z');
    // Date.UTC would roll each of these over into a valid neighbour (month 0 is the December before, minute 60 the next hour).
    for (const input of ['2026-00-10T00:00:00Z', '2026-12-01T06:60:00Z', '2026-12-01T06:10:60Z', '2026-12-01T12:00:00+24:00', '2026-12-01T12:00:00+05:60']) {
      expect(parseEventTime(input)).toBeUndefined();
    }
  });

  it('reads times up to 9999-12-31T23:59:59Z, and none before the epoch', () => {
    expect(parseEventTime('9999-12-31T23:59:59Z')).toBe('9999-12-31T23:59:59.000000000Z');
    expect(parseEventTime('9999-12-31T23:59:59-00:01')).toBeUndefined();
    expect(parseEventTime('1970-01-01T00:00:00+00:01')).toBeUndefined();
  });

  it('rejects a number too large to have decimal digits', () => {
    expect(parseEventTime(1e21)).toBeUndefined();
  });
});
