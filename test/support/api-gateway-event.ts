import type { APIGatewayProxyEventV2 } from 'aws-lambda';

let counter = 0;

/** An API Gateway HTTP API payload-format-2.0 event, as API Gateway would send it. */
export function apiGatewayEvent(options: {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  base64?: boolean;
  requestId?: string;
}): APIGatewayProxyEventV2 {
  const method = options.method ?? 'POST';
  const raw = options.body ?? '';
  const base64 = options.base64 ?? Buffer.isBuffer(raw);
  const body = base64 ? Buffer.from(raw).toString('base64') : raw.toString();
  const requestId = options.requestId ?? `req-${++counter}`;
  return {
    version: '2.0',
    routeKey: `${method} /webhooks`,
    rawPath: '/webhooks',
    rawQueryString: '',
    headers: { 'content-type': 'application/json', ...options.headers },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'api.example.test',
      domainPrefix: 'api',
      http: { method, path: '/webhooks', protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: 'test' },
      requestId,
      routeKey: `${method} /webhooks`,
      stage: '$default',
      time: '22/Nov/2026:05:00:00 +0000',
      timeEpoch: 1_795_330_800_000,
    },
    body: body === '' ? undefined : body,
    isBase64Encoded: base64,
  } as APIGatewayProxyEventV2;
}
