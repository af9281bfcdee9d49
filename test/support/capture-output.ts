/**
 * Captures everything written to the console and stdout/stderr while `fn` runs, so a test can
 * assert what logs and EMF metrics contain (and what they must never contain).
 */
export async function captureOutput<T>(fn: () => Promise<T>): Promise<{ result: T; output: string }> {
  const lines: string[] = [];
  const spies = [
    ...(['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((level) =>
      jest.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        lines.push(args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
      }),
    ),
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true)),
    jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (lines.push(String(chunk)), true)),
  ];
  try {
    const result = await fn();
    return { result, output: lines.join('\n') };
  } finally {
    for (const spy of spies) spy.mockRestore();
  }
}
