import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client, type S3ClientConfig } from '@aws-sdk/client-s3';
import { BodyNotFoundError, type BodyStore } from '../core/body-store';

/**
 * Large bodies in S3. `put` resolves once S3 acknowledged the object, which is what lets the
 * receiver enqueue the pointer and answer 200. The bucket's default encryption applies (SSE-S3,
 * set by the stack); identical bodies share their content-addressed key.
 *
 * @example
 * const bodies = new S3BodyStore(new S3Client(s3ClientConfig(process.env, clientConfig)), process.env.MAKINI_BODY_BUCKET!);
 */
export class S3BodyStore implements BodyStore {
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
  ) {}

  async put(key: string, body: Uint8Array): Promise<void> {
    await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: 'application/octet-stream' }));
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      const { Body } = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!Body) throw new Error('GetObject returned no body');
      return await Body.transformToByteArray();
    } catch (error) {
      if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') throw new BodyNotFoundError(key, { cause: error });
      throw error;
    }
  }
}

/**
 * The S3 client's settings: `base`, plus path-style addressing only when an endpoint override is
 * set (in `base` or the environment) (the local stack or LocalStack serve buckets as paths; real S3 gets virtual-hosted requests).
 *
 * @example
 * new S3Client(s3ClientConfig(process.env, awsClientConfig(config)));
 */
export function s3ClientConfig<T extends object>(env: Readonly<Record<string, string | undefined>>, base: T): T & Pick<S3ClientConfig, 'forcePathStyle'> {
  const overridden = Boolean((base as { endpoint?: unknown }).endpoint ?? env.AWS_ENDPOINT_URL_S3 ?? env.AWS_ENDPOINT_URL);
  return { ...base, ...(overridden && { forcePathStyle: true }) };
}
