import { asJsonObject, bodyText, canonicalJson, parseJsonBody } from '../../lambdas/core/json-body';

describe('bodyText', () => {
  it('skips a whole UTF-8 byte-order mark', () => {
    expect(bodyText(Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]))).toBe('{}');
  });

  it.each([
    ['first', [0x41, 0xbb, 0xbf, 0x42]],
    ['second', [0xef, 0x41, 0xbf, 0x42]],
    ['third', [0xef, 0xbb, 0x41, 0x42]],
  ])('keeps bytes that only look like a byte-order mark (the %s byte differs)', (_label, bytes) => {
    expect(bodyText(Buffer.from(bytes))).toBe(Buffer.from(bytes).toString('utf8'));
  });
});

describe('canonicalJson', () => {
  it('is the bytes of JSON.stringify(JSON.parse(body)), after a byte-order mark', () => {
    expect(canonicalJson(Buffer.from('\uFEFF{ "a" : "\\/" }'))?.toString()).toBe('{"a":"/"}');
  });
});

describe('parseJsonBody and asJsonObject', () => {
  it.each([
    [' \n\t{"a":1}', { a: 1 }],
    ['[1]', [1]],
    ['"text"', 'text'],
    ['-1.5', -1.5],
    ['true', true],
    ['false', false],
    ['null', null],
  ])('parses %j, whatever whitespace leads it', (text, value) => {
    expect(parseJsonBody(Buffer.from(text))).toEqual(value);
  });

  it.each([['not json'], ['{"a":'], ['']])('answers undefined for %j', (text) => {
    expect(parseJsonBody(Buffer.from(text))).toBeUndefined();
  });

  it('takes only an object as an object: not null, a list or a string', () => {
    expect(asJsonObject({ a: 1 })).toEqual({ a: 1 });
    for (const value of [null, [1], 'x', 1, undefined]) expect(asJsonObject(value)).toBeUndefined();
  });
});
