import { InvalidSigningSecretError } from '../../lambdas/core/errors';
import { parseSigningSecrets } from '../../lambdas/core/signing-secrets';

describe('parseSigningSecrets', () => {
  it('takes a plain string as one secret, ignoring surrounding white space', () => {
    expect(parseSigningSecrets('  s3cret\n')).toEqual(['s3cret']);
  });

  it('takes a JSON array as several secrets', () => {
    expect(parseSigningSecrets('["new", "old"]')).toEqual(['new', 'old']);
  });

  it('takes {"current", "previous"} as several secrets, current first', () => {
    expect(parseSigningSecrets('{"current":"new","previous":"old"}')).toEqual(['new', 'old']);
    expect(parseSigningSecrets('{"current":"new","previous":["old","older"]}')).toEqual(['new', 'old', 'older']);
    expect(parseSigningSecrets('{"current":"only"}')).toEqual(['only']);
  });

  it('takes a value that only looks like JSON as a plain string', () => {
    expect(parseSigningSecrets('{not json')).toEqual(['{not json']);
  });

  it.each(['', '   ', '[]', '[""]', '[1]', '{"previous":"x"}', '{"current":""}', '{"current":"a","previous":[2]}'])(
    'rejects %j without echoing it',
    (value) => {
      expect(() => parseSigningSecrets(value)).toThrow(InvalidSigningSecretError);
    },
  );
});
