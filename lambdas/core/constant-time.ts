import { timingSafeEqual } from 'node:crypto';

/**
 * The only comparison of secret-derived bytes in the project. Every signature scheme calls it,
 * and the tests spy on it to prove that no scheme compares with `===`.
 *
 * The length check is not secret: a digest's length is public.
 *
 * @example
 * constantTime.equal(expectedDigest, receivedDigest);
 */
export const constantTime = {
  equal(a: Uint8Array, b: Uint8Array): boolean {
    return a.length === b.length && timingSafeEqual(a, b);
  },
};
