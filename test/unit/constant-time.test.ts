/**
 * The one comparison of secret-derived bytes goes through crypto.timingSafeEqual (a `Buffer.equals`
 * or `===` would return at the first differing byte). The module is wrapped, not replaced: the real
 * function still answers.
 */
jest.mock('node:crypto', () => {
  const actual = jest.requireActual<typeof import('node:crypto')>('node:crypto');
  return { ...actual, timingSafeEqual: jest.fn(actual.timingSafeEqual) };
});
import { timingSafeEqual } from 'node:crypto';
import { constantTime } from '../../lambdas/core/constant-time';

describe('constantTime.equal', () => {
  it('compares equal-length digests with crypto.timingSafeEqual, and answers what it answers', () => {
    expect(constantTime.equal(Buffer.from('abc'), Buffer.from('abc'))).toBe(true);
    expect(constantTime.equal(Buffer.from('abc'), Buffer.from('abd'))).toBe(false);
    expect(timingSafeEqual).toHaveBeenCalledTimes(2);
  });

  it('answers false for different lengths without comparing (a digest length is public)', () => {
    (timingSafeEqual as jest.Mock).mockClear();
    expect(constantTime.equal(Buffer.from('abc'), Buffer.from('abcd'))).toBe(false);
    expect(timingSafeEqual).not.toHaveBeenCalled();
  });
});
