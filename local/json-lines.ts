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
