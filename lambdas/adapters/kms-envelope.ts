import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { DecryptCommand, GenerateDataKeyCommand, type KMSClient } from '@aws-sdk/client-kms';
import { TOKEN_ENCRYPTION_CONTEXT } from '../core/connection-secret';

/**
 * A value encrypted under a KMS data key (AES-256-GCM), stored beside the data key KMS encrypted.
 * `aad` binds it to where it is stored (a connection's id): moved to another item, it fails to open.
 */
export interface SealedValue {
  /** The data key, as KMS encrypted it (`CiphertextBlob`). */
  readonly key: Uint8Array;
  /** When the data key was generated (ISO 8601): part of its encryption context, so KMS vouches for it. */
  readonly keyCreatedAt: string;
  readonly iv: Uint8Array;
  readonly tag: Uint8Array;
  readonly data: Uint8Array;
}

export { TOKEN_ENCRYPTION_CONTEXT };

/** A data key seals new values for this long after it was generated; then a new one is generated. */
export const DATA_KEY_REUSE_MS = 30 * 86_400_000;
/** A decrypted data key stays in memory this long: a key disabled in KMS stops opening values within it. */
export const DATA_KEY_CACHE_MS = 3_600_000;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** Decrypted data keys kept at most (the oldest is dropped first). */
const MAX_CACHED_KEYS = 1_000;

interface DataKey {
  readonly plaintext: Buffer;
  readonly encrypted: Uint8Array;
  readonly createdAt: string;
  /** When this instance got it from KMS (generated or decrypted). */
  readonly at: number;
}

/**
 * Envelope encryption with KMS: a data key from `GenerateDataKey` encrypts values locally; KMS
 * `Decrypt` gives it back. One data key seals every value for 30 days, across instances: a seal
 * uses the youngest data key this instance generated or opened within the hour, as long as it is
 * under 30 days old, so a poller that read the stored pairs seals the refreshed ones under the key
 * they share. A cold reader therefore makes one `Decrypt` per data key in use (about two: this
 * month's and the last), not one per value, and the token store's KMS requests do not grow with its
 * connections (docs/cost.md). Decrypted keys stay in memory an hour at most.
 *
 * Written here rather than with the AWS Encryption SDK (`@aws-crypto/client-node`, which does the
 * same with its caching materials manager), measured on 2026-12-03: it adds 347 KB minified to a
 * bundle (the AWS SDK excluded) and 210 ms to a cold start's require, for the poller, against
 * node:crypto's AES-GCM here and the KMS client alone.
 *
 * @example
 * const envelope = new KmsEnvelope(kms, keyArn);
 * const sealed = await envelope.seal(Buffer.from('secret'), 'conn_1');
 * (await envelope.open(sealed, 'conn_1')).toString(); // 'secret'
 */
export class KmsEnvelope {
  private generating: Promise<DataKey> | undefined;
  private readonly keys = new Map<string, DataKey>();
  private readonly now: () => number;
  /** KMS calls made, for tests and the bench. */
  readonly calls = { generateDataKey: 0, decrypt: 0 };

  constructor(
    private readonly kms: KMSClient,
    private readonly keyId: string,
    options: { now?: () => number } = {},
  ) {
    this.now = options.now ?? Date.now;
  }

  async seal(value: Uint8Array, aad: string): Promise<SealedValue> {
    const { plaintext, encrypted, createdAt } = this.sealingKey() ?? (await this.generateOnce());
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', plaintext, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const data = Buffer.concat([cipher.update(value), cipher.final()]);
    return { key: encrypted, keyCreatedAt: createdAt, iv, tag: cipher.getAuthTag(), data };
  }

  /** Whether a seal now would need no KMS request (a young data key is in memory). */
  hasSealingKey(): boolean {
    return this.sealingKey() !== undefined;
  }

  /** The value, or an error naming what failed (never the value): a wrong `aad`, a tampered value, a key KMS refuses. */
  async open(sealed: SealedValue, aad: string): Promise<Buffer> {
    // A shorter tag would be accepted by setAuthTag (down to 4 bytes) and weaken the check to as few bits.
    if (sealed.tag.length !== TAG_BYTES || sealed.iv.length !== IV_BYTES) throw new Error('the sealed value does not open: its tag or nonce has the wrong length');
    if (Number.isNaN(Date.parse(sealed.keyCreatedAt))) throw new Error('the sealed value does not open: its data key has no creation time');
    const key = await this.decryptKey(sealed.key, sealed.keyCreatedAt);
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(Buffer.from(sealed.tag));
    try {
      return Buffer.concat([decipher.update(sealed.data), decipher.final()]);
    } catch {
      throw new Error('the sealed value does not open: it was changed, or belongs to another item');
    }
  }

  /** The youngest data key in memory that may still seal: obtained within the hour, generated within 30 days. */
  private sealingKey(): DataKey | undefined {
    const now = this.now();
    let best: DataKey | undefined;
    for (const key of this.keys.values()) {
      if (now - key.at >= DATA_KEY_CACHE_MS || now - Date.parse(key.createdAt) >= DATA_KEY_REUSE_MS) continue;
      if (!best || Date.parse(key.createdAt) > Date.parse(best.createdAt)) best = key;
    }
    return best;
  }

  /** A new data key: one request at a time, shared by concurrent seals; a failed one is not kept. */
  private generateOnce(): Promise<DataKey> {
    if (!this.generating) {
      const request = this.generate();
      this.generating = request;
      const clear = () => {
        if (this.generating === request) this.generating = undefined;
      };
      request.then(clear, clear);
    }
    return this.generating;
  }

  private async generate(): Promise<DataKey> {
    const createdAt = new Date(this.now()).toISOString();
    const { Plaintext, CiphertextBlob } = await this.kms.send(new GenerateDataKeyCommand({ KeyId: this.keyId, KeySpec: 'AES_256', EncryptionContext: contextOf(createdAt) }));
    this.calls.generateDataKey++;
    if (!Plaintext || !CiphertextBlob) throw new Error('KMS GenerateDataKey answered without a key');
    return this.remember(CiphertextBlob, Buffer.from(Plaintext), createdAt);
  }

  private async decryptKey(encrypted: Uint8Array, createdAt: string): Promise<Buffer> {
    const cached = this.keys.get(Buffer.from(encrypted).toString('base64'));
    if (cached && cached.createdAt === createdAt && this.now() - cached.at < DATA_KEY_CACHE_MS) return cached.plaintext;
    // KeyId pins the key: a value whose data key names another key is refused by KMS, not decrypted with it.
    const { Plaintext } = await this.kms.send(new DecryptCommand({ CiphertextBlob: encrypted, KeyId: this.keyId, EncryptionContext: contextOf(createdAt) }));
    this.calls.decrypt++;
    if (!Plaintext) throw new Error('KMS Decrypt answered without a key');
    return this.remember(encrypted, Buffer.from(Plaintext), createdAt).plaintext;
  }

  private remember(encrypted: Uint8Array, plaintext: Buffer, createdAt: string): DataKey {
    const id = Buffer.from(encrypted).toString('base64');
    const key = { plaintext, encrypted, createdAt, at: this.now() };
    this.keys.delete(id);
    this.keys.set(id, key);
    if (this.keys.size > MAX_CACHED_KEYS) this.keys.delete(this.keys.keys().next().value!);
    return key;
  }
}

/** The encryption context of a data key: the tokens' purpose, and when it was generated. */
const contextOf = (createdAt: string) => ({ ...TOKEN_ENCRYPTION_CONTEXT, 'data-key-created': createdAt });
