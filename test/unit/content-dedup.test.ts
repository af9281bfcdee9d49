import fc from 'fast-check';
import { contentEventId, contentGeneration, MAX_GENERATIONS, nextGenerations, type Generation } from '../../lambdas/core/content-dedup';

const WINDOW = 15 * 60_000;
const at = (minutes: number) => new Date(Date.UTC(2026, 11, 1, 10) + minutes * 60_000).toISOString();
const gen = (start: number, from = start): Generation => ({ start: at(start), from: at(from) });

describe('contentGeneration', () => {
  it('starts an event for the first copy seen', () => {
    expect(contentGeneration(at(0), [], WINDOW)).toEqual({ kind: 'start' });
  });

  it('joins a copy received within the window of an event’s earliest copy, and starts a new one exactly at its end', () => {
    expect(contentGeneration(at(14.99), [gen(0)], WINDOW)).toEqual({ kind: 'join', start: at(0), extendFrom: false });
    expect(contentGeneration(at(15), [gen(0)], WINDOW)).toEqual({ kind: 'start' });
  });

  it('joins a first copy processed after its retry, moving the window back to it', () => {
    expect(contentGeneration(at(-4), [gen(0)], WINDOW)).toEqual({ kind: 'join', start: at(0), extendFrom: true });
    expect(contentGeneration(at(-15), [gen(0)], WINDOW)).toEqual({ kind: 'start' });
  });

  it('measures the window from the earliest copy, so a genuine update after it is a new event however the copies were ordered', () => {
    // A retry received at +5 was processed first; the first copy (0) joined it later.
    expect(contentGeneration(at(19), [gen(5, 0)], WINDOW)).toEqual({ kind: 'start' });
    expect(contentGeneration(at(14), [gen(5, 0)], WINDOW)).toEqual({ kind: 'join', start: at(5), extendFrom: false });
  });

  it('keeps older events apart: a late copy of one joins it, not the newest', () => {
    expect(contentGeneration(at(-29), [gen(-30), gen(5)], WINDOW)).toEqual({ kind: 'join', start: at(-30), extendFrom: false });
  });

  it('joins exactly the copies within a window of the earliest one (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -100_000, max: 100_000 }), fc.integer({ min: 1, max: 60 }), (offsetSeconds, windowMinutes) => {
        const decision = contentGeneration(new Date(Date.UTC(2026, 0, 1) + offsetSeconds * 1000).toISOString(), [{ start: '2026-01-01T00:00:00.000Z', from: '2026-01-01T00:00:00.000Z' }], windowMinutes * 60_000);
        expect(decision.kind === 'join').toBe(Math.abs(offsetSeconds) < windowMinutes * 60);
      }),
    );
  });
});

describe('nextGenerations', () => {
  it('adds a new event, moves an event’s window back, and changes nothing for an ordinary retry', () => {
    expect(nextGenerations([gen(0)], { kind: 'start' }, at(20))).toEqual([gen(0), gen(20)]);
    expect(nextGenerations([gen(0)], { kind: 'join', start: at(0), extendFrom: true }, at(-3))).toEqual([gen(0, -3)]);
    expect(nextGenerations([gen(0)], { kind: 'join', start: at(0), extendFrom: false }, at(3))).toBeUndefined();
  });

  it(`keeps the newest ${MAX_GENERATIONS} events`, () => {
    const many = Array.from({ length: MAX_GENERATIONS }, (_, i) => gen(i * 20));
    const next = nextGenerations(many, { kind: 'start' }, at(MAX_GENERATIONS * 20))!;
    expect(next).toHaveLength(MAX_GENERATIONS);
    expect(next[0]).toEqual(gen(20));
  });
});

describe('contentEventId', () => {
  it('names an event by its content key and the time the copy that started it was received', () => {
    expect(contentEventId('sha256:ab', at(0))).toBe('sha256:ab@2026-12-01T10:00:00.000Z');
  });
});

describe('content generations at their edges', () => {
  it('joins a copy received at the very start of a window', () => {
    expect(contentGeneration(at(0), [gen(0)], WINDOW)).toEqual({ kind: 'join', start: at(0), extendFrom: false });
  });

  it('joins the latest of several windows holding a copy, whatever order they are stored in', () => {
    for (const generations of [[gen(0), gen(10)], [gen(10), gen(0)]]) expect(contentGeneration(at(12), generations, WINDOW)).toEqual({ kind: 'join', start: at(10), extendFrom: false });
  });

  it('joins the earliest of several later events a copy precedes, whatever order they are stored in', () => {
    for (const generations of [[gen(5), gen(10)], [gen(10), gen(5)]]) expect(contentGeneration(at(0), generations, WINDOW)).toEqual({ kind: 'join', start: at(5), extendFrom: true });
  });

  it('moves back only the window of the event joined, and keeps events in start order', () => {
    expect(nextGenerations([gen(20), gen(0)], { kind: 'join', start: at(20), extendFrom: true }, at(18))).toEqual([gen(0), gen(20, 18)]);
    expect(nextGenerations([gen(20), gen(0)], { kind: 'start' }, at(40))).toEqual([gen(0), gen(20), gen(40)]);
  });
});
