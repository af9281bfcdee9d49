import fc from 'fast-check';
import { contentEventId, contentGeneration } from '../../lambdas/core/content-dedup';

const WINDOW = 15 * 60_000;
const at = (minutes: number) => new Date(Date.UTC(2026, 11, 1, 10) + minutes * 60_000).toISOString();

describe('contentGeneration', () => {
  it('starts an event for the first copy seen', () => {
    expect(contentGeneration(at(0), undefined, WINDOW)).toEqual({ kind: 'start' });
  });

  it('joins copies received within the window of the latest event, on either side of its start', () => {
    expect(contentGeneration(at(14.99), at(0), WINDOW)).toEqual({ kind: 'join', start: at(0) });
    expect(contentGeneration(at(-14.99), at(0), WINDOW)).toEqual({ kind: 'join', start: at(0) });
  });

  it('starts a new event exactly at the end of the window, and keeps a copy a window older apart', () => {
    expect(contentGeneration(at(15), at(0), WINDOW)).toEqual({ kind: 'start' });
    expect(contentGeneration(at(-15), at(0), WINDOW)).toEqual({ kind: 'earlier' });
  });

  it('never joins copies more than a window apart, and always joins closer ones (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: -100_000, max: 100_000 }), fc.integer({ min: 1, max: 60 }), (offsetSeconds, windowMinutes) => {
        const decision = contentGeneration(new Date(Date.UTC(2026, 0, 1) + offsetSeconds * 1000).toISOString(), new Date(Date.UTC(2026, 0, 1)).toISOString(), windowMinutes * 60_000);
        expect(decision.kind === 'join').toBe(Math.abs(offsetSeconds) < windowMinutes * 60);
      }),
    );
  });
});

describe('contentEventId', () => {
  it('names an event by its content key and the time its first copy was received', () => {
    expect(contentEventId('sha256:ab', at(0))).toBe('sha256:ab@2026-12-01T10:00:00.000Z');
  });
});
