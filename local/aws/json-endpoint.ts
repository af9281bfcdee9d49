/**
 * A loopback HTTP server for the AWS JSON protocols (1.0 and 1.1): requests name their operation in
 * `X-Amz-Target: <Service>.<Operation>`, carry a JSON body, and get a JSON body or an AWS-style error
 * (`{"__type": "...", "message": "..."}`). Each local endpoint (Secrets Manager now; SQS and
 * EventBridge in the local stack) supplies its operations; anything else is refused as AWS would.
 *
 * A development and test double, not an emulator of all of AWS: it implements what this project
 * calls, and says so when asked for more.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from '../loopback-server';

/** An error an operation answers with, in the shape AWS SDKs parse. */
export class AwsError extends Error {
  constructor(
    public readonly type: string,
    message: string,
    public readonly status = 400,
  ) {
    super(message);
    this.name = type;
  }
}

export type Operation = (input: Record<string, unknown>) => unknown;

export interface JsonEndpoint {
  readonly url: string;
  /** Calls per operation name, for tests and benchmarks. */
  readonly calls: Record<string, number>;
  close(): Promise<void>;
}

/** The access key id a SigV4 `Authorization` header names (local IAM tells callers apart by it). */
export function accessKeyOf(authorization: string | string[] | undefined): string | undefined {
  const match = /Credential=([^/,\s]+)\//.exec(String(authorization ?? ''));
  return match?.[1];
}

/**
 * A failure to inject: every call is answered with it while it is in force.
 * - `unavailable`: a 5xx error the SDK retries (503 ServiceUnavailable here);
 * - `throttled`: the service's throttling error;
 * - `hang`: the request is read and never answered, so only the caller's timeout ends it (closing
 *   the endpoint still ends such connections: see local/loopback-server.ts).
 */
export type Fault = 'unavailable' | 'throttled' | 'hang';

export async function startJsonEndpoint(options: {
  service: string;
  protocol: '1.0' | '1.1';
  operations: Record<string, Operation>;
  port?: number;
  /** Consulted on every call, with its operation: the fault in force, if any (the local stack reads `.local/faults.json`). */
  fault?: (operation: string) => Fault | undefined;
  /**
   * Consulted on every call before it runs, with the caller's access key id (from the SigV4
   * `Authorization` header): throws an AwsError (AccessDeniedException) to refuse it.
   */
  authorize?: (call: { accessKeyId: string | undefined; operation: string; input: Record<string, unknown> }) => void;
}): Promise<JsonEndpoint> {
  const calls: Record<string, number> = {};
  const server = createServer((req, res) => void handle(req, res));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const target = String(req.headers['x-amz-target'] ?? '');
    const [service, operation = ''] = target.split('.');
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': `application/x-amz-json-${options.protocol}`, 'x-amzn-requestid': randomUUID() });
      res.end(JSON.stringify(body));
    };
    try {
      const op = service === options.service ? options.operations[operation] : undefined;
      if (!op) throw new AwsError('UnknownOperationException', `${target || 'the request'} is not supported by this local ${options.service} endpoint`);
      const fault = options.fault?.(operation);
      if (fault === 'hang') return; // never answered: the caller's timeout, or close(), ends it
      if (fault === 'unavailable') throw new AwsError('ServiceUnavailable', 'Injected fault: the service is unavailable.', 503);
      if (fault === 'throttled') throw new AwsError('ThrottlingException', 'Injected fault: rate exceeded.', 400);
      const input = chunks.length > 0 ? (JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>) : {};
      options.authorize?.({ accessKeyId: accessKeyOf(req.headers.authorization), operation, input });
      calls[operation] = (calls[operation] ?? 0) + 1;
      reply(200, (await op(input)) ?? {});
    } catch (error) {
      if (error instanceof AwsError) return reply(error.status, { __type: error.type, message: error.message });
      if (error instanceof SyntaxError) return reply(400, { __type: 'SerializationException', message: 'the request body is not JSON' });
      reply(500, { __type: 'InternalFailure', message: (error as Error).message });
    }
  }

  const { url, close } = await listenOnLoopback(server, options.port);
  return { url, calls, close };
}
