/**
 * A path-style S3 REST endpoint on loopback: PutObject, GetObject and HeadObject on the buckets it
 * is given (the template's), objects kept in memory. What the SDK sends with PutObject is accepted
 * as S3 accepts it: its checksum headers, and `aws-chunked` bodies with trailing checksums (which
 * are decoded and checked against `x-amz-decoded-content-length`). A missing key is 404
 * `NoSuchKey`, an unknown bucket 404 `NoSuchBucket`, anything else 501 `NotImplemented`.
 *
 * A development and test double, not an emulator of S3: no listing, versions, multipart uploads
 * or bucket policies (the local IAM checks the callers' identity policies only). Why not an npm
 * emulator: s3rver, the offline one, has had no release since 2024-12 (3.7.1), and none offers the
 * per-call hook local IAM needs; this file is the three operations the project calls.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from '../loopback-server';
import { accessKeyOf, AwsError, type Fault } from './json-endpoint';

export interface LocalS3 {
  readonly url: string;
  /** Calls per operation name, for tests and benchmarks. */
  readonly calls: Record<string, number>;
  /** An object's bytes, for tests. */
  object(bucket: string, key: string): Buffer | undefined;
  close(): Promise<void>;
}

/** S3's IAM action of each operation this endpoint serves. */
const ACTIONS = { PutObject: 's3:PutObject', GetObject: 's3:GetObject', HeadObject: 's3:GetObject' } as const;
type S3Operation = keyof typeof ACTIONS;

/**
 * @example
 * const s3 = await startLocalS3({ buckets: ['bodies'] });
 * process.env.AWS_ENDPOINT_URL_S3 = s3.url; // and forcePathStyle: true in the client
 */
export async function startLocalS3(options: {
  buckets: readonly string[];
  port?: number;
  fault?: () => Fault | undefined;
  /** Consulted on every call with the caller's access key, the IAM action and the object's ARN: throws AwsError to refuse it. */
  authorize?: (call: { accessKeyId: string | undefined; action: string; resource: string }) => void;
}): Promise<LocalS3> {
  const buckets = new Map(options.buckets.map((b) => [b, new Map<string, Buffer>()]));
  const calls: Record<string, number> = {};
  const server = createServer((req, res) => void handle(req, res));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const [, bucket = '', ...rest] = url.pathname.split('/');
    const key = rest.map((p) => decodeURIComponent(p)).join('/');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      // The SDK names the operation in `x-id`; any other parameter is a subresource (?acl, ?tagging, …).
      const subresource = [...url.searchParams.keys()].some((k) => k !== 'x-id');
      const operation: S3Operation | undefined = !key || subresource ? undefined : req.method === 'PUT' ? 'PutObject' : req.method === 'GET' ? 'GetObject' : req.method === 'HEAD' ? 'HeadObject' : undefined;
      if (!operation) throw new AwsError('NotImplemented', `${req.method} ${url.pathname}${url.search} is not supported by this local S3 endpoint`, 501);
      const fault = options.fault?.();
      if (fault === 'hang') return; // never answered: the caller's timeout, or close(), ends it
      if (fault === 'unavailable') throw new AwsError('ServiceUnavailable', 'Injected fault: the service is unavailable.', 503);
      if (fault === 'throttled') throw new AwsError('SlowDown', 'Injected fault: please reduce your request rate.', 503);
      const objects = buckets.get(bucket);
      if (!objects) throw new AwsError('NoSuchBucket', 'The specified bucket does not exist.', 404);
      options.authorize?.({ accessKeyId: accessKeyOf(req.headers.authorization), action: ACTIONS[operation], resource: `arn:aws:s3:::${bucket}/${key}` });
      calls[operation] = (calls[operation] ?? 0) + 1;
      if (operation === 'PutObject') {
        const body = decodedBody(req, Buffer.concat(chunks));
        objects.set(key, body);
        res.writeHead(200, { etag: etag(body), 'x-amz-request-id': randomUUID(), 'content-length': 0 });
        return void res.end();
      }
      const body = objects.get(key);
      if (!body) throw new AwsError('NoSuchKey', 'The specified key does not exist.', 404);
      res.writeHead(200, { etag: etag(body), 'content-type': 'application/octet-stream', 'content-length': body.length, 'x-amz-request-id': randomUUID() });
      res.end(operation === 'GetObject' ? body : undefined);
    } catch (error) {
      const e = error instanceof AwsError ? error : new AwsError('InternalError', (error as Error).message, 500);
      const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${e.type}</Code><Message>${escapeXml(e.message)}</Message>${key ? `<Key>${escapeXml(key)}</Key>` : ''}<RequestId>${randomUUID()}</RequestId></Error>`;
      // A HEAD response has no body: the SDK reads the error from the status alone.
      res.writeHead(e.status, { 'content-type': 'application/xml', 'x-amz-request-id': randomUUID() });
      res.end(req.method === 'HEAD' ? undefined : xml);
    }
  }

  const { url, close } = await listenOnLoopback(server, options.port);
  return { url, calls, object: (bucket, key) => buckets.get(bucket)?.get(key), close };
}

/** The object's bytes: the body as sent, or an `aws-chunked` body decoded (its trailer dropped). */
function decodedBody(req: IncomingMessage, raw: Buffer): Buffer {
  const chunked = String(req.headers['content-encoding'] ?? '').includes('aws-chunked') || String(req.headers['x-amz-content-sha256'] ?? '').startsWith('STREAMING-');
  if (!chunked) return raw;
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = raw.indexOf('\r\n', at);
    if (lineEnd < 0) throw new AwsError('IncompleteBody', 'the aws-chunked body ends inside a chunk header');
    const size = Number.parseInt(raw.subarray(at, lineEnd).toString('latin1').split(';')[0]!, 16);
    if (!Number.isFinite(size)) throw new AwsError('InvalidRequest', 'an aws-chunked chunk header has no size');
    if (size === 0) break; // then the trailer (x-amz-checksum-…), which S3 checks and we drop
    parts.push(raw.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  const body = Buffer.concat(parts);
  const declared = req.headers['x-amz-decoded-content-length'];
  if (declared !== undefined && Number(declared) !== body.length) throw new AwsError('IncompleteBody', `the decoded body has ${body.length} bytes, not ${String(declared)}`);
  return body;
}

const etag = (body: Buffer) => `"${createHash('md5').update(body).digest('hex')}"`;
const escapeXml = (s: string) => s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
