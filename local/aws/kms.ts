/**
 * A local KMS endpoint (AWS JSON 1.1, `TrentService`): the symmetric-key operations this project
 * calls, GenerateDataKey, Decrypt and Encrypt. Each key's material is random, kept in `file` (so
 * data sealed locally still opens after a restart), and never leaves this endpoint; a ciphertext
 * blob names its key and is bound to its encryption context, as KMS's are: Decrypt with another
 * context fails with InvalidCiphertextException, with another KeyId with IncorrectKeyException.
 *
 * Not KMS: no grants, aliases, rotation or asymmetric keys. Key policies are checked by local IAM
 * (the `authorize` hook), with the encryption context as `kms:EncryptionContext:<key>`.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { AwsError, startJsonEndpoint, type Fault, type JsonEndpoint } from './json-endpoint';

const BLOB_VERSION = 1;

/** The key ARN a ciphertext blob names (`[version, length, arn, iv, tag, data]`), or '' for a blob that is not ours. */
function blobKeyArn(blob: Buffer): string {
  return blob.length > 2 && blob[0] === BLOB_VERSION ? blob.subarray(2, 2 + blob[1]!).toString('utf8') : '';
}

export async function startLocalKms(options: {
  /** ARNs of the keys that exist (the template's AWS::KMS::Key resources). */
  keys: readonly string[];
  /** Where key material is kept; in memory only without it. */
  file?: string;
  port?: number;
  fault?: (operation: string) => Fault | undefined;
  authorize?: (call: { accessKeyId: string | undefined; operation: string; input: Record<string, unknown>; keyArn: string }) => void;
}): Promise<JsonEndpoint> {
  const material = new Map<string, Buffer>(options.file && existsSync(options.file) ? Object.entries(JSON.parse(readFileSync(options.file, 'utf8')) as Record<string, string>).map(([arn, b64]) => [arn, Buffer.from(b64, 'base64')]) : []);
  const keyArnOf = (keyId: string) => options.keys.find((arn) => arn === keyId || arn.endsWith(`:key/${keyId}`));
  const materialOf = (arn: string) => {
    let key = material.get(arn);
    if (!key) {
      key = randomBytes(32);
      material.set(arn, key);
      if (options.file) writeFileSync(options.file, JSON.stringify(Object.fromEntries([...material].map(([a, k]) => [a, k.toString('base64')]))), { mode: 0o600 });
    }
    return key;
  };
  const keyOf = (input: Record<string, unknown>) => {
    const id = typeof input.KeyId === 'string' ? input.KeyId : '';
    const arn = keyArnOf(id);
    if (!arn) throw new AwsError('NotFoundException', `Key '${id}' does not exist`);
    return arn;
  };
  /** Canonical form of an encryption context: the same pairs in any order give the same bytes. */
  const contextBytes = (input: Record<string, unknown>) => {
    const context = (input.EncryptionContext ?? {}) as Record<string, string>;
    return Buffer.from(JSON.stringify(Object.keys(context).sort().map((k) => [k, context[k]])), 'utf8');
  };
  const bytesOf = (value: unknown, name: string) => {
    if (typeof value !== 'string') throw new AwsError('ValidationException', `${name} is required`);
    return Buffer.from(value, 'base64');
  };

  function encrypt(arn: string, plaintext: Buffer, input: Record<string, unknown>): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', materialOf(arn), iv);
    cipher.setAAD(contextBytes(input));
    const data = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    const name = Buffer.from(arn, 'utf8');
    return Buffer.concat([Buffer.from([BLOB_VERSION, name.length]), name, iv, cipher.getAuthTag(), data]).toString('base64');
  }

  function decrypt(input: Record<string, unknown>): { arn: string; plaintext: Buffer } {
    const blob = bytesOf(input.CiphertextBlob, 'CiphertextBlob');
    const invalid = () => new AwsError('InvalidCiphertextException', 'The ciphertext is invalid, or its encryption context does not match.');
    const arn = blobKeyArn(blob);
    if (!options.keys.includes(arn)) throw invalid();
    if (typeof input.KeyId === 'string' && keyOf(input) !== arn) throw new AwsError('IncorrectKeyException', 'The key ID in the request does not identify the key that encrypted the ciphertext.');
    const at = 2 + blob[1]!;
    if (blob.length < at + 28) throw invalid();
    try {
      const decipher = createDecipheriv('aes-256-gcm', materialOf(arn), blob.subarray(at, at + 12), { authTagLength: 16 });
      decipher.setAAD(contextBytes(input));
      decipher.setAuthTag(blob.subarray(at + 12, at + 28));
      return { arn, plaintext: Buffer.concat([decipher.update(blob.subarray(at + 28)), decipher.final()]) };
    } catch {
      throw invalid();
    }
  }

  /** The key a call acts on: the one it names, or for Decrypt the one its blob names (as KMS authorizes it). */
  const targetOf = (operation: string, input: Record<string, unknown>) => {
    if (operation !== 'Decrypt') return typeof input.KeyId === 'string' ? keyArnOf(input.KeyId) : undefined;
    const named = typeof input.CiphertextBlob === 'string' ? blobKeyArn(Buffer.from(input.CiphertextBlob, 'base64')) : '';
    return options.keys.includes(named) ? named : undefined;
  };
  const endpoint = await startJsonEndpoint({
    service: 'TrentService',
    protocol: '1.1',
    fault: options.fault,
    authorize: ({ accessKeyId, operation, input }) => {
      const keyArn = targetOf(operation, input);
      // A call on no known key is answered by the operation itself (NotFoundException, InvalidCiphertextException).
      if (keyArn) options.authorize?.({ accessKeyId, operation, input, keyArn });
    },
    operations: {
      GenerateDataKey: (input) => {
        const arn = keyOf(input);
        const bytes = input.KeySpec === 'AES_256' ? 32 : input.KeySpec === 'AES_128' ? 16 : Number(input.NumberOfBytes);
        if (!Number.isInteger(bytes) || bytes < 1 || bytes > 1024) throw new AwsError('ValidationException', 'KeySpec or NumberOfBytes (1 to 1024) is required');
        const plaintext = randomBytes(bytes);
        return { KeyId: arn, Plaintext: plaintext.toString('base64'), CiphertextBlob: encrypt(arn, plaintext, input) };
      },
      Encrypt: (input) => {
        const arn = keyOf(input);
        return { KeyId: arn, CiphertextBlob: encrypt(arn, bytesOf(input.Plaintext, 'Plaintext'), input), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      },
      Decrypt: (input) => {
        const { arn, plaintext } = decrypt(input);
        return { KeyId: arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
      },
    },
  });
  return endpoint;
}
