/**
 * Issue 17, item 3: a body at `maxBodyBytes`' maximum (4.5 MB) through the local stack (a child
 * process, the local S3 endpoint included): accepted, stored in the body bucket, processed, and
 * published as pointer + size. Against the same stack's small webhook (about 200 bytes), in the same run.
 *
 * `largeBodies` is a bench section (rows, figures) => Promise<void>, like those of bench/run.ts.
 * Figures, never assertions.
 */
import { MAX_BODY_BYTES } from '../lambdas/config/config';
import { makiniScheme } from '../lambdas/core/signature';
import { readBusLog } from '../local/aws/eventbridge';
import { largeNotification } from '../local/sample-events';
import { startStackProcess, waitFor } from '../test/support/local-stack-process';
import { median, round, type Row } from './rows';

const RUNS = 3;
const makini = makiniScheme('x-makini-signature', 'sha256');

export async function largeBodies(rows: Row[]): Promise<void> {
  const stack = await startStackProcess({ env: { MAKINI_MAX_BODY_BYTES: String(MAX_BODY_BYTES), MAKINI_LOG_LEVEL: 'WARN' } });
  try {
    /** POST → 200, then POST → its event on the bus (the bus log), in ms; and what the bus got. */
    const send = async (body: Buffer) => {
      const before = readBusLog(stack.info.busLog).length;
      const started = performance.now();
      const response = await fetch(stack.info.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...makini.sign(body, stack.secret) }, body });
      const acceptedMs = performance.now() - started;
      if (response.status !== 200) throw new Error(`a ${body.length}-byte body got ${response.status}: ${await response.text()}`);
      await waitFor(() => readBusLog(stack.info.busLog).length > before, 60_000, () => stack.output());
      const publishedMs = performance.now() - started;
      const entry = readBusLog(stack.info.busLog).at(-1) as { detail: { bodyRef?: { bytes?: number; key?: string } } };
      return { acceptedMs, publishedMs, detailBytes: Buffer.byteLength(JSON.stringify(entry.detail)), bodyRef: entry.detail.bodyRef };
    };
    const small = [];
    const large = [];
    for (let i = 0; i < RUNS; i++) {
      small.push(await send(largeNotification(200, `evt_small_${i}`)));
      large.push(await send(largeNotification(MAX_BODY_BYTES, `evt_large_${i}`, `conn_large_${i}`)));
    }
    const pointed = large.every((r) => r.bodyRef?.bytes === MAX_BODY_BYTES && r.bodyRef.key?.startsWith('bodies/'));
    const ms = (xs: number[]) => round(median(xs));
    rows.push({
      metric: `large body: ${MAX_BODY_BYTES.toLocaleString('en-US')} bytes accepted, POST → 200 (median of ${RUNS}, local stack)`,
      value: ms(large.map((r) => r.acceptedMs)),
      unit: 'ms',
      target: "200 within Makini's 10 s; the receiver's own timeout 8 s",
      baseline: `a 200-byte webhook: ${ms(small.map((r) => r.acceptedMs))} ms`,
      met: large.every((r) => r.acceptedMs < 8_000),
    });
    rows.push({
      metric: `large body: POST → its bus event, carrying pointer + size (median of ${RUNS})`,
      value: ms(large.map((r) => r.publishedMs)),
      unit: 'ms',
      target: 'processed; bus event with bodyRef (bucket, key) and bytes',
      baseline: `a 200-byte webhook: ${ms(small.map((r) => r.publishedMs))} ms; bus detail ${Math.max(...large.map((r) => r.detailBytes))} bytes for the large body (EventBridge takes 256 KB)`,
      met: pointed && large.every((r) => r.detailBytes < 262_144),
    });
  } finally {
    await stack.stop();
  }
}
