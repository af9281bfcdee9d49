/**
 * Lambda's `Invoke` API on loopback, for functions of the local stack that invoke functions (the
 * poller starts its workers this way): `POST /2015-03-31/functions/{name}/invocations` with
 * `X-Amz-Invocation-Type` `Event` (answered 202 at once, the invocation run in the background with
 * the function's asynchronous settings) or `RequestResponse` (answered with the function's result,
 * or `X-Amz-Function-Error: Unhandled` and its error). A function is named by name or ARN; an
 * unknown one is 404 `ResourceNotFoundException`, any other operation 501.
 *
 * A development and test double: no versions, aliases, qualifiers, `DryRun` or log tails.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { listenOnLoopback } from '../loopback-server';
import { accessKeyOf, AwsError, type Fault } from './json-endpoint';

export interface LocalLambdaApi {
  readonly url: string;
  /** Calls per invocation type, for tests and benchmarks. */
  readonly calls: Record<string, number>;
  close(): Promise<void>;
}

/** What the endpoint needs of the stack's functions. */
export interface InvokableFunctions {
  /** The function's ARN, or undefined when there is none by that name or ARN. */
  arnOf(nameOrArn: string): string | undefined;
  /** Runs an invocation to its end: its result, or a thrown error for a failed one. */
  invoke(arn: string, event: unknown): Promise<unknown>;
  /** Queues an asynchronous invocation (retries and on-failure destination included) and returns at once. */
  invokeAsync(arn: string, event: unknown): void;
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;

/**
 * @example
 * const lambda = await startLocalLambdaApi({ functions });
 * process.env.AWS_ENDPOINT_URL_LAMBDA = lambda.url;
 */
export async function startLocalLambdaApi(options: {
  functions: InvokableFunctions;
  port?: number;
  fault?: () => Fault | undefined;
  /** Consulted on every call with the caller's access key, the IAM action and the function's ARN: throws AwsError to refuse it. */
  authorize?: (call: { accessKeyId: string | undefined; action: string; resource: string }) => void;
}): Promise<LocalLambdaApi> {
  const calls: Record<string, number> = {};
  const server = createServer((req, res) => void handle(req, res));

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    try {
      const match = INVOKE_PATH.exec(new URL(req.url ?? '/', 'http://localhost').pathname);
      if (req.method !== 'POST' || !match) throw new AwsError('NotImplemented', `${req.method} ${req.url} is not supported by this local Lambda endpoint`, 501);
      const fault = options.fault?.();
      if (fault === 'hang') return; // never answered: the caller's timeout, or close(), ends it
      if (fault === 'unavailable') throw new AwsError('ServiceException', 'Injected fault: the service is unavailable.', 500);
      if (fault === 'throttled') throw new AwsError('TooManyRequestsException', 'Injected fault: rate exceeded.', 429);
      const name = decodeURIComponent(match[1]!);
      const arn = options.functions.arnOf(name);
      if (!arn) throw new AwsError('ResourceNotFoundException', `Function not found: ${name}`, 404);
      options.authorize?.({ accessKeyId: accessKeyOf(req.headers.authorization), action: 'lambda:InvokeFunction', resource: arn });
      const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
      if (type !== 'Event' && type !== 'RequestResponse') throw new AwsError('InvalidParameterValueException', `invocation type ${type} is not supported here`);
      const raw = Buffer.concat(chunks).toString('utf8');
      let event: unknown;
      try {
        event = raw === '' ? {} : JSON.parse(raw);
      } catch {
        throw new AwsError('InvalidRequestContentException', 'Could not parse request body into json');
      }
      calls[type] = (calls[type] ?? 0) + 1;
      const headers = { 'x-amzn-requestid': randomUUID(), 'x-amz-executed-version': '$LATEST' };
      if (type === 'Event') {
        options.functions.invokeAsync(arn, event);
        res.writeHead(202, { ...headers, 'content-length': 0 });
        return void res.end();
      }
      try {
        const result = await options.functions.invoke(arn, event);
        const body = JSON.stringify(result ?? null);
        res.writeHead(200, { ...headers, 'content-type': 'application/json' });
        res.end(body);
      } catch (error) {
        res.writeHead(200, { ...headers, 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' });
        res.end(JSON.stringify({ errorType: (error as Error).name, errorMessage: (error as Error).message }));
      }
    } catch (error) {
      const e = error instanceof AwsError ? error : new AwsError('ServiceException', (error as Error).message, 500);
      // Lambda answers a refused call 403 (the local IAM's AwsError carries the JSON protocols' 400).
      const status = e.type === 'AccessDeniedException' ? 403 : e.status;
      res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': e.type, 'x-amzn-requestid': randomUUID() });
      res.end(JSON.stringify({ Type: status < 500 ? 'User' : 'Service', message: e.message }));
    }
  }

  const { url, close } = await listenOnLoopback(server, options.port);
  return { url, calls, close };
}
