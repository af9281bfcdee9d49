/**
 * A progress bar for the long-running commands (`simulate`, `replay`, `dlq redrive`): one line on
 * standard error, redrawn in place, cleared when done. It shows only when both standard output and
 * standard error are a terminal: piped or redirected, the commands print exactly what they print
 * without it. (Twenty lines of our own rather than a dependency: all it needs is `\r` and "erase line".)
 */
import type { CliIo } from './shared';

export interface Progress {
  /** Whether the bar is drawn at all. */
  readonly enabled: boolean;
  /** Sets the count (and the total, once known) and redraws, at most ten times a second. */
  update(done: number, total?: number, note?: string): void;
  /** Writes a line to standard output without tearing the bar: cleared first, redrawn after. */
  print(text: string): void;
  /** Clears the bar for good. */
  finish(): void;
}

const ERASE_LINE = '\r\x1b[2K';
const REDRAW_MS = 100;

export function progressBar(io: Pick<CliIo, 'stdout' | 'stderr'>, label: string, options: { enabled?: boolean; now?: () => number } = {}): Progress {
  const enabled = options.enabled !== false && io.stdout.isTTY === true && io.stderr.isTTY === true;
  const now = options.now ?? Date.now;
  let done = 0;
  let total: number | undefined;
  let note = '';
  let drawnAt = -Infinity;
  let shown = false;

  const draw = () => {
    const width = Math.max(10, Math.min(40, (io.stderr.columns ?? 80) - label.length - 40));
    const share = total ? Math.min(1, done / total) : 0;
    const filled = Math.round(share * width);
    const bar = total ? `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${total}` : `${done}`;
    io.stderr.write(`${ERASE_LINE}${label} ${bar}${note ? ` ${note}` : ''}`);
    shown = true;
    drawnAt = now();
  };
  const clear = () => {
    if (shown) io.stderr.write(ERASE_LINE);
    shown = false;
  };

  return {
    enabled,
    update(count, newTotal, newNote) {
      done = count;
      if (newTotal !== undefined) total = newTotal;
      if (newNote !== undefined) note = newNote;
      if (!enabled) return;
      if (now() - drawnAt >= REDRAW_MS || (total !== undefined && done >= total)) draw();
    },
    print(text) {
      if (!enabled) {
        io.stdout.write(text);
        return;
      }
      const wasShown = shown;
      clear();
      io.stdout.write(text);
      if (wasShown) draw();
    },
    finish() {
      if (enabled) clear();
    },
  };
}
