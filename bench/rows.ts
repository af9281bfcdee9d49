/** One row of the bench table: the figure, its target and the same-run baseline it is read against. */
export interface Row {
  readonly metric: string;
  readonly value: number;
  readonly unit: string;
  readonly target?: string;
  readonly baseline?: string;
  readonly met?: boolean;
}

export const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** The p-th (0..1) value of an ascending list, nearest rank. */
export const percentile = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];

export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;
