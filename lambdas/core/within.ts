/**
 * `work`, or a rejection once `ms` have passed. The work itself is not cancelled: it is left to its
 * own timeouts (neither the Parameters provider nor the token stores take an abort signal).
 *
 * @example
 * await within(provider.get(name), remainingMs - reserveMs); // rejects with "no answer within the 120 ms left"
 */
export async function within<T>(work: Promise<T>, ms: number): Promise<T> {
  if (!Number.isFinite(ms)) return work;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within the ${Math.round(ms)} ms left`)), ms)));
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
