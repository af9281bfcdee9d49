import { InvalidSigningSecretError } from './errors';

/**
 * Reads a Secrets Manager value into the list of secrets that may have signed a webhook.
 *
 * Accepted shapes, so a secret can be rotated without downtime (any listed secret may match):
 * - a plain string: `s3cr3t`
 * - a JSON array: `["new", "old"]`
 * - a JSON object: `{"current": "new", "previous": "old"}` (`previous` may also be an array)
 *
 * Surrounding white space is ignored. A value that starts with `[` or `{` but is not valid JSON is
 * taken as a plain string.
 *
 * @example
 * parseSigningSecrets('{"current":"new","previous":"old"}'); // ['new', 'old']
 */
export function parseSigningSecrets(value: string): string[] {
  const text = value.trim();
  if (text === '') throw new InvalidSigningSecretError('it is empty');
  const json = tryParseJson(text);
  if (json === undefined) return [text];
  let listed: unknown[];
  if (Array.isArray(json)) listed = json;
  else if (isRecord(json) && json.current !== undefined) listed = [json.current, json.previous ?? []].flat();
  else throw new InvalidSigningSecretError('JSON must be an array, or an object with "current" and optional "previous"');
  if (listed.length === 0 || !listed.every((s) => typeof s === 'string' && s.trim() !== '')) {
    throw new InvalidSigningSecretError('every listed secret must be a non-empty string');
  }
  return (listed as string[]).map((s) => s.trim());
}

function tryParseJson(text: string): unknown {
  if (!text.startsWith('[') && !text.startsWith('{')) return undefined;
  // Stryker disable BlockStatement: equivalent because a function that ends without a return also returns undefined (hidden with it: the killed empty try block)
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
  // Stryker restore BlockStatement
}

function isRecord(value: unknown): value is Record<string, unknown> {
  // Stryker disable next-line ConditionalExpression,LogicalOperator: equivalent because its one caller passes only what JSON.parse made of a text starting with `{`: always a non-null object (hidden with them: the killed `false`)
  return typeof value === 'object' && value !== null;
}
