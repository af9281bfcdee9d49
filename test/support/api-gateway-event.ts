import type { APIGatewayProxyEventV2 } from 'aws-lambda';

let counter = 0;

/** An API Gateway HTTP API payload-format-2.0 event, as API Gateway would send it. */
export function apiGatewayEvent(options: {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  base64?: boolean;
  requestId?: string;
  /** The caller's address as API Gateway saw it. @default '127.0.0.1' */
  sourceIp?: string;
  /** Posts to `/webhooks/{connection}` with this path parameter. */
  connection?: string;
}): APIGatewayProxyEventV2 {
  const method = options.method ?? 'POST';
  const raw = options.body ?? '';
  const base64 = options.base64 ?? Buffer.isBuffer(raw);
  const body = base64 ? Buffer.from(raw).toString('base64') : raw.toString();
  const requestId = options.requestId ?? `req-${++counter}`;
  const route = options.connection === undefined ? '/webhooks' : '/webhooks/{connection}';
  const path = options.connection === undefined ? '/webhooks' : `/webhooks/${encodeURIComponent(options.connection)}`;
  return {
    version: '2.0',
    routeKey: `${method} ${route}`,
    rawPath: path,
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...options.headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.test',
      domainPrefix: 'api',
      http: { method, path, protocol: 'HTTP/1.1', sourceIp: options.sourceIp ?? '127.0.0.1', userAgent: 'test' },
      requestId,
      routeKey: `${method} ${route}`,
      stage: '$default',
      time: '22/Nov/2026:05:00:00 +0000',
      timeEpoch: 1_795_330_800_000,
    },
    ...(options.connection !== undefined && { pathParameters: { connection: options.connection } }),
    body: body === '' ? undefined : body,
    isBase64Encoded: base64,
  } as APIGatewayProxyEventV2;
}
