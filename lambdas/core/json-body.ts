/**
 * Reading a webhook body as JSON, the one way every part of the pipeline does it: a leading UTF-8
 * byte-order mark is skipped (the signature still covers it), and the canonical form is the bytes
 * of `JSON.stringify(JSON.parse(body))`, which is what Makini's documented verifier signs.
 */

const BOM = [0xef, 0xbb, 0xbf] as const;

/** The body as text, without a leading UTF-8 byte-order mark. */
export function bodyText(body: Uint8Array): string {
  const start = body[0] === BOM[0] && body[1] === BOM[1] && body[2] === BOM[2] ? 3 : 0;
  return Buffer.from(body.buffer, body.byteOffset + start, body.byteLength - start).toString('utf8');
}

/**
 * The body parsed as JSON, or `undefined` when it is not JSON.
 *
 * @example
 * parseJsonBody(Buffer.from('\uFEFF{"event":"assets.updated"}')); // { event: 'assets.updated' }
 */
export function parseJsonBody(body: Uint8Array): unknown {
  // Only text that starts like JSON is parsed; anything else is not worth an exception.
  const text = bodyText(body);
  // Stryker disable next-line ConditionalExpression,Regex: the `false` condition and the unanchored pattern are equivalent because what the check turns away JSON.parse would refuse too, and the catch answers undefined: the check only spares the exception (hidden with them: the killed `^\s[`, `^\S*` and negated-class patterns, which refuse valid JSON)
  if (!/^\s*[{["\-0-9tfn]/.test(text)) return undefined;
  // Stryker disable BlockStatement: equivalent because a function that ends without a return also returns undefined (hidden with it: the killed empty try block)
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
  // Stryker restore BlockStatement
}

/** A parsed body that is a JSON object (not an array, a string or null). */
export function asJsonObject(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * `JSON.stringify(JSON.parse(body))` as UTF-8 bytes: spacing, escapes such as `\/` or `\u00e9`,
 * and duplicate keys (the last one wins, as in every JavaScript parser) all normalise away.
 * `undefined` when the body is not JSON.
 *
 * @example
 * canonicalJson(Buffer.from('{ "a" : "\\/" }'))?.toString(); // '{"a":"/"}'
 */
export function canonicalJson(body: Uint8Array): Buffer | undefined {
  const parsed = parseJsonBody(body);
  // Stryker disable next-line ConditionalExpression: equivalent because without it JSON.stringify(undefined) is undefined, Buffer.from throws, and the catch below answers undefined (hidden with it: the killed `true`)
  if (parsed === undefined) return undefined;
  // Stryker disable BlockStatement: equivalent because a function that ends without a return also returns undefined (hidden with it: the killed empty try block)
  try {
    return Buffer.from(JSON.stringify(parsed), 'utf8');
  } catch {
    // JSON.stringify recurses: nesting V8 parses can overflow its stack. No sender can have signed
    // what JavaScript cannot serialize, so there is no canonical form to check.
    return undefined;
  }
  // Stryker restore BlockStatement
}
