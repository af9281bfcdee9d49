import { within } from '../../lambdas/core/within';

describe('within', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('answers with the work when it settles in time, and clears its timer', async () => {
    await expect(within(Promise.resolve('done'), 1_000)).resolves.toBe('done');
    expect(jest.getTimerCount()).toBe(0);
    await expect(within(Promise.reject(new Error('refused')), 1_000)).rejects.toThrow('refused');
    expect(jest.getTimerCount()).toBe(0);
  });

  it('rejects once the time has passed, naming it, while the work goes on', async () => {
    let settle: (value: string) => void = () => undefined;
    const work = new Promise<string>((resolve) => (settle = resolve));
    let failure: Error | undefined;
    const bounded = within(work, 120.4).catch((error: Error) => void (failure = error));
    await jest.advanceTimersByTimeAsync(119);
    expect(failure).toBeUndefined();
    await jest.advanceTimersByTimeAsync(2);
    await bounded;
    expect(failure?.message).toBe('no answer within the 120 ms left');
    settle('late');
    await expect(work).resolves.toBe('late');
  });

  it('waits for the work itself when there is no bound: no timer at all', async () => {
    let settle: (value: number) => void = () => undefined;
    const bounded = within(new Promise<number>((resolve) => (settle = resolve)), Infinity);
    expect(jest.getTimerCount()).toBe(0);
    await jest.advanceTimersByTimeAsync(60_000);
    settle(7);
    await expect(bounded).resolves.toBe(7);
  });
});
