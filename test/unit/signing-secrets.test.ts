import { SecretsManagerSigningSecrets, type SigningSecretsProvider } from '../../lambdas/adapters/secrets-manager-signing-secrets';
import { InvalidSigningSecretError, SigningSecretUnavailableError } from '../../lambdas/core/errors';
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

  it('says why a JSON value is refused: the wrong shape, or a listed secret that is not a non-blank string', () => {
    for (const value of ['{}', '{"previous":"x"}']) expect(() => parseSigningSecrets(value)).toThrow(/JSON must be an array, or an object with "current"/);
    for (const value of ['["  "]', '{"current":" "}']) expect(() => parseSigningSecrets(value)).toThrow(/every listed secret must be a non-empty string/);
  });

  it('trims each listed secret', () => {
    expect(parseSigningSecrets('[" new ", "old\\n"]')).toEqual(['new', 'old']);
  });

  it('takes JSON that is neither an array nor an object as a plain string', () => {
    expect(parseSigningSecrets('"quoted"')).toEqual(['"quoted"']);
    expect(parseSigningSecrets('12345')).toEqual(['12345']);
  });
});

describe('SecretsManagerSigningSecrets.refresh', () => {
  /** A provider that counts its fetches and answers the secret in `value`. */
  const provider = () => {
    const calls: boolean[] = [];
    return { calls, get: async (_name: string, options?: { forceFetch?: boolean }) => (calls.push(options?.forceFetch === true), 'secret-2') };
  };

  it('asks budgetMs just before fetching: none left throws without a fetch and leaves the interval unspent', async () => {
    let now = 1_000_000;
    const p = provider();
    const secrets = new SecretsManagerSigningSecrets(p as unknown as SigningSecretsProvider, { secretId: 's', cacheSeconds: 300, refreshIntervalSeconds: 30, now: () => now });
    await expect(secrets.refresh(() => 0)).rejects.toBeInstanceOf(SigningSecretUnavailableError);
    expect(p.calls).toEqual([]);
    // Not rate-limited by it: the next refresh with time fetches.
    await expect(secrets.refresh(() => 50)).resolves.toEqual(['secret-2']);
    expect(p.calls).toEqual([true]);
    // Within the interval nothing is fetched and budgetMs is not asked.
    const asked = jest.fn(() => 0);
    now += 29_999;
    await expect(secrets.refresh(asked)).resolves.toBeUndefined();
    expect(asked).not.toHaveBeenCalled();
    now += 1;
    await expect(secrets.refresh()).resolves.toEqual(['secret-2']);
    expect(p.calls).toEqual([true, true]);
  });

  it('gives up a fetch that outlasts its budget (503 for the sender), and keeps a fetch within it', async () => {
    let answer!: (value: string) => void;
    const slow = { get: () => new Promise<string>((resolve) => (answer = resolve)) };
    const secrets = new SecretsManagerSigningSecrets(slow as unknown as SigningSecretsProvider, { secretId: 's', cacheSeconds: 300, refreshIntervalSeconds: 0 });
    await expect(secrets.refresh(() => 20)).rejects.toMatchObject({ name: 'SigningSecretUnavailableError', cause: { message: 'no answer within the 20 ms left' } });
    answer('too-late');
    const pending = secrets.refresh(() => 5_000);
    answer('secret-3');
    await expect(pending).resolves.toEqual(['secret-3']);
  });
});
