/**
 * Review of issue 12: `makini-webhooks send --lifecycle --timestamp` validates with parseEventTime
 * (ISO forms with a space or comma, epoch numbers…) but builds the body with `new Date(text)`.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { main } from '../../bin/cli';

let server: Server;
let url: string;
const bodies: string[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"received":true,"webhookId":"x"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks`;
});
afterAll(async () => new Promise<void>((resolve) => server.close(() => resolve())));

const io = () => ({ stdout: new PassThrough(), stderr: new PassThrough(), stdin: Object.assign(new PassThrough(), { isTTY: true }) });

describe('adversarial review: send --lifecycle --timestamp', () => {
  it.each([
    ['1764569456', '2025-12-01T06:10:56'], // epoch seconds: accepted by the validation
    ['2025-12-01 06:10:56,5', '2025-12-01T06:10:56'], // space and comma fraction: accepted by the validation
  ])('sends the event for an accepted --timestamp %s instead of crashing with RangeError: Invalid time value', async (timestamp, expected) => {
    bodies.length = 0;
    const code = await main(['send', '--lifecycle', '--url', url, '--secret', 'review-secret', '--timestamp', timestamp], io());
    expect(code).toBe(0);
    expect(JSON.parse(bodies[0]).timestamp).toContain(expected);
  });
});
