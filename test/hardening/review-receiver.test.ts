/**
 * Review of issue 12 (receiver side). Each test fails against the current code for the reason in
 * its name; see the report.
 */
import { createHmac } from 'node:crypto';
import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics } from '@aws-lambda-powertools/metrics';
import { resolveConfig } from '../../lambdas/config/config';
import type { SigningSecretSource, WebhookQueue } from '../../lambdas/core/receive';
import { makiniScheme } from '../../lambdas/core/signature';
import { createReceiverHandler } from '../../lambdas/receiver/receiver';
import { apiGatewayEvent } from '../support/api-gateway-event';
import { captureOutput } from '../support/capture-output';

const SECRET = 'review-signing-secret';
const NOW = Date.parse('2026-11-22T05:00:00Z');

const secrets: SigningSecretSource = { get: async () => [SECRET], refresh: async () => undefined };

function setup() {
  const messages: string[] = [];
  const queue: WebhookQueue = { send: async (m) => void messages.push(m) };
  // Bodies above INLINE_BODY_MAX_BYTES go to the body store (S3 in the stack) and travel as a pointer.
  const stored = new Map<string, Uint8Array>();
  const handle = createReceiverHandler({
    config: resolveConfig({}),
    secrets,
    queue,
    bodies: { put: async (key, bytes) => void stored.set(key, bytes) },
    logger: new Logger({ serviceName: 'receiver' }),
    metrics: new Metrics({ namespace: 'Review', serviceName: 'receiver' }),
    now: () => NOW,
  });
  return { handle, messages, stored };
}

describe('adversarial review: unauthenticated input that crashes the receiver', () => {
  // 100 000 levels of nesting: 200 KB, under the default 256 KB limit. JSON.parse handles it
  // (V8's parser is iterative), JSON.stringify does not (it recurses), so the canonical-JSON
  // check throws a RangeError before any secret is compared.
  const depth = 100_000;
  const deep = '['.repeat(depth) + ']'.repeat(depth);
  const forged = createHmac('sha256', 'not-the-secret').update(deep).digest('base64');

  it('scheme.match() with a forged signature over a deeply nested JSON body returns undefined instead of throwing', () => {
    const parsed = makiniScheme(['x-webhook-signature'], 'sha256', 'both').parse({ headers: { 'x-webhook-signature': forged }, body: Buffer.from(deep) }, NOW / 1000);
    expect(parsed.ok).toBe(true);
    expect(() => parsed.ok && parsed.match([SECRET])).not.toThrow();
  });

  it('answers 401 INVALID_SIGNATURE (not an unhandled RangeError / API Gateway 500) to a forged deeply nested body', async () => {
    const { handle, messages } = setup();
    const { result } = await captureOutput(() => handle(apiGatewayEvent({ body: deep, headers: { 'x-webhook-signature': forged } })));
    expect(result.statusCode).toBe(401);
    expect(JSON.parse(result.body ?? '{}')).toMatchObject({ error: { code: 'INVALID_SIGNATURE' } });
    expect(messages).toHaveLength(0);
  });
});

describe('adversarial review: every accepted body fits one SQS message (config-docs: "The maximum keeps every body storable: in one SQS message")', () => {
  it('enqueues a signed 256 KB body of control characters in a message SQS accepts (≤ 1 MiB), instead of a 1.5 MB one that SQS rejects (503 forever)', async () => {
    const { handle, messages, stored } = setup();
    const body = Buffer.alloc(262_144, 0x01); // valid UTF-8, so the envelope keeps it as text: each byte becomes "\u0001"
    const signature = createHmac('sha256', SECRET).update(body).digest('base64');
    const { result } = await captureOutput(() => handle(apiGatewayEvent({ body, headers: { 'x-webhook-signature': signature, 'content-type': 'application/octet-stream' } })));
    expect(result.statusCode).toBe(200);
    expect(Buffer.byteLength(messages[0], 'utf8')).toBeLessThanOrEqual(1_048_576);
    // Above the inline limit since issue 17: the bytes are in the body store, the message carries a pointer.
    expect([...stored.values()].map((b) => Buffer.from(b).equals(body))).toEqual([true]);
  });
});
