import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import type { HttpResponse, IncomingWebhook } from '../core/receive';

/**
 * An API Gateway HTTP API (payload format 2.0) request as the receiver sees it: the raw body bytes
 * (base64 decoded when API Gateway encoded them), lower-case header names, the source address API
 * Gateway saw, and the `{connection}` path parameter of `/webhooks/{connection}`.
 *
 * @example
 * const request = fromApiGatewayEvent(event);
 */
export function fromApiGatewayEvent(event: APIGatewayProxyEventV2): IncomingWebhook {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  const raw = event.body ?? '';
  return {
    method: event.requestContext.http.method,
    headers,
    body: Buffer.from(raw, event.isBase64Encoded ? 'base64' : 'utf8'),
    requestId: event.requestContext.requestId,
    sourceIp: event.requestContext.http.sourceIp,
    ...(event.pathParameters?.connection !== undefined && { connectionId: event.pathParameters.connection }),
  };
}

export function toApiGatewayResult(response: HttpResponse): APIGatewayProxyStructuredResultV2 {
  return { statusCode: response.statusCode, headers: response.headers, body: response.body, isBase64Encoded: false };
}
