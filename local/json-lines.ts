import { existsSync, readFileSync } from 'node:fs';

/** The records of a JSON-lines log written by the local stack, oldest first; a torn last line is skipped. */
export function readJsonLines<T>(file: string): T[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as T];
      } catch {
        return []; // a torn last line
      }
    });
}

/** A state file the local stack wrote that no longer reads back. Its message names the file, never its content (it may hold secrets). */
export class StateFileError extends Error {
  constructor(readonly file: string) {
    super(`${file} is not what the local stack wrote`);
    this.name = 'StateFileError';
  }
}
