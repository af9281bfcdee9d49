/**
 * API Gateway HTTP API emulation on loopback: turns a real HTTP request into a payload-format-2.0
 * event, invokes a handler with it, and writes the handler's result back. It enforces the body
 * limit API Gateway would (10 MB) and nothing else: the handler decides everything else.
 *
 * Used by tests now and by the local stack (`npm start`).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { LAMBDA_SYNC_PAYLOAD_BYTES } from '../lambdas/config/config';
import { listenOnLoopback } from './loopback-server';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

/** API Gateway HTTP APIs reject larger payloads with 413 before any integration runs. */
export const API_GATEWAY_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

export type ApiHandler = (event: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>;

export interface HttpApi {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * @example
 * const api = await startHttpApi({ routes: { '/webhooks': handler, '/webhooks/{connection}': handler }, port: 0 });
 * console.log(`${api.url}/webhooks`);
 */
/**
 * @param options.timeoutMs the receiver Lambda's timeout: past it the client gets what API Gateway
 *   answers when its Lambda times out (HTTP 500), as with the deployed stack.
 */
export async function startHttpApi(options: {
  routes: Record<string, ApiHandler>;
  /** Local-only GET routes answering JSON (no Lambda behind them), e.g. call counters. */
  diagnostics?: Record<string, () => unknown>;
  /** POST routes of the local stack itself (e.g. run the poller now), answered with their result as JSON. */
  actions?: Record<string, () => Promise<unknown>>;
  port?: number;
  timeoutMs?: number;
}): Promise<HttpApi> {
  const server: Server = createServer((req, res) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    const diagnostic = req.method === 'GET' ? options.diagnostics?.[pathname] : undefined;
    if (diagnostic) return reply(res, 200, diagnostic());
    const action = req.method === 'POST' ? options.actions?.[pathname] : undefined;
    if (action) {
      req.resume();
      return void action().then(
        (result) => reply(res, 200, result),
        (error: unknown) => reply(res, 500, { error: { code: 'ACTION_FAILED', message: (error as Error).message } }),
      );
    }
    void serve(req, res, options.routes, options.timeoutMs);
  });
  const { url, close } = await listenOnLoopback(server, options.port);
  return { url, close };
}

async function serve(req: IncomingMessage, res: ServerResponse, routes: Record<string, ApiHandler>, timeoutMs?: number): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const route = matchRoute(routes, url.pathname);
  if (!route) return reply(res, 404, { message: 'Not Found' });
  const body = await readBody(req, API_GATEWAY_MAX_PAYLOAD_BYTES);
  if (body === undefined) return reply(res, 413, { message: 'Request Entity Too Large' });
  const event = toApiGatewayEvent(req, url, body, route);
  // Lambda takes at most 6 MB per synchronous invoke; API Gateway has been seen to answer a larger
  // event with 413 `{"message": "Request Too Long"}` (docs/security.md): the function never runs.
  if (Buffer.byteLength(JSON.stringify(event)) > LAMBDA_SYNC_PAYLOAD_BYTES) return reply(res, 413, { message: 'Request Too Long' });
  try {
    const invocation = route.handler(event);
    const result = timeoutMs ? await Promise.race([invocation, timeout(timeoutMs)]) : await invocation;
    if (result === TIMED_OUT) return reply(res, 500, { message: 'Internal Server Error' });
    res.writeHead(result.statusCode ?? 200, result.headers as Record<string, string>);
    res.end(result.isBase64Encoded ? Buffer.from(result.body ?? '', 'base64') : (result.body ?? ''));
  } catch {
    // What API Gateway answers when the integration fails.
    reply(res, 500, { message: 'Internal Server Error' });
  }
}

interface MatchedRoute {
  readonly handler: ApiHandler;
  /** The route as declared, e.g. `/webhooks/{connection}`. */
  readonly template: string;
  readonly pathParameters?: Record<string, string>;
}

/**
 * The route a path matches, as API Gateway matches HTTP API routes: exact paths first, then
 * templates whose `{name}` stands for one non-empty path segment (URL-decoded, as API Gateway
 * passes path parameters).
 */
function matchRoute(routes: Record<string, ApiHandler>, pathname: string): MatchedRoute | undefined {
  if (routes[pathname]) return { handler: routes[pathname], template: pathname };
  const segments = pathname.split('/');
  for (const [template, handler] of Object.entries(routes)) {
    const parts = template.split('/');
    if (parts.length !== segments.length) continue;
    const pathParameters: Record<string, string> = {};
    const matches = parts.every((part, i) => {
      const param = /^\{(\w+)\}$/.exec(part)?.[1];
      if (!param) return part === segments[i];
      if (segments[i] === '') return false;
      try {
        pathParameters[param] = decodeURIComponent(segments[i]);
        return true;
      } catch {
        return false;
      }
    });
    if (matches) return { handler, template, pathParameters };
  }
  return undefined;
}

/** A payload-format-2.0 event with the raw body base64-encoded, as API Gateway sends binary bodies. */
export function toApiGatewayEvent(req: IncomingMessage, url: URL, body: Buffer, route?: Pick<MatchedRoute, 'template' | 'pathParameters'>): APIGatewayProxyEventV2 {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  const method = req.method ?? 'GET';
  const now = new Date();
  const routeKey = `${method} ${route?.template ?? url.pathname}`;
  return {
    version: '2.0',
    routeKey,
    rawPath: url.pathname,
    rawQueryString: url.search.slice(1),
    headers,
    requestContext: {
      accountId: '000000000000',
      apiId: 'local',
      domainName: req.headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: { method, path: url.pathname, protocol: `HTTP/${req.httpVersion}`, sourceIp: req.socket.remoteAddress ?? '', userAgent: req.headers['user-agent'] ?? '' },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
    },
    ...(route?.pathParameters && { pathParameters: route.pathParameters }),
    body: body.length > 0 ? body.toString('base64') : undefined,
    isBase64Encoded: body.length > 0,
  };
}

const TIMED_OUT = Symbol('timed out');
const timeout = (ms: number) => new Promise<typeof TIMED_OUT>((resolve) => setTimeout(resolve, ms, TIMED_OUT).unref());

function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size > limit ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
