import { createHash } from 'node:crypto';
import { MAX_BODY_BYTES } from '../../lambdas/config/config';
import { makiniScheme } from '../../lambdas/core/signature';
import { readBusLog } from '../../local/aws/eventbridge';
import { largeNotification } from '../../local/sample-events';
import { startStackProcess, waitFor, type StackProcess } from '../support/local-stack-process';
import { cli } from '../support/run-cli';

jest.setTimeout(180_000);

let stack: StackProcess | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

const makini = makiniScheme('x-makini-signature', 'sha256');

async function cliJson(s: StackProcess, ...args: string[]) {
  const { code, stdout, stderr } = await cli([...args, '--json', '--local-dir', s.dir]);
  if (code !== 0) throw new Error(stderr);
  return JSON.parse(stdout) as Record<string, unknown>[] & Record<string, unknown>;
}

describe('a body at maxBodyBytes (4.5 MB), through the local stack', () => {
  it('is accepted, stored in the body bucket, processed, published as pointer + size, and read back by events and replay', async () => {
    stack = await startStackProcess({ env: { MAKINI_MAX_BODY_BYTES: String(MAX_BODY_BYTES) } });
    const body = largeNotification(MAX_BODY_BYTES, 'evt_huge_1');
    expect(body.length).toBe(MAX_BODY_BYTES);
    const sha256 = createHash('sha256').update(body).digest('hex');

    const response = await fetch(stack.info.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...makini.sign(body, stack.secret) }, body });
    expect(response.status).toBe(200);
    const { webhookId } = (await response.json()) as { webhookId: string };

    await waitFor(() => readBusLog(stack!.info.busLog).length === 1, 60_000, () => stack!.output());
    const [published] = readBusLog(stack.info.busLog) as { 'detail-type': string; detail: { bodyRef: unknown; dataOmitted: boolean; event: Record<string, unknown> } }[];
    expect(published!['detail-type']).toBe('assets.updated');
    expect(published!.detail.bodyRef).toEqual({ bucket: stack.info.bodyBucket, key: `bodies/${sha256}`, bytes: MAX_BODY_BYTES, sha256 });
    expect(published!.detail).toMatchObject({ dataOmitted: true, event: { webhookId, entity: 'assets', action: 'updated', connectionId: 'conn_big', data: {} } });

    // `events` reads the body back from the bucket: the event holds every one of its ids.
    const [listed] = await cliJson(stack, 'events');
    const event = (listed as { event: { ids: string[] } }).event;
    expect(event.ids).toHaveLength(JSON.parse(body.toString()).body.length);
    expect(event.ids[0]).toBe('a000000000');

    // `replay` publishes it again as the consumer did: pointer and size, not the fields.
    expect(await cliJson(stack, 'replay', webhookId)).toMatchObject({ replayed: 1, rejected: 0 });
    const replayed = readBusLog(stack.info.busLog) as { detail: { bodyRef: unknown; event: { ids?: unknown } } }[];
    expect(replayed).toHaveLength(2);
    expect(replayed[1]!.detail.bodyRef).toEqual(published!.detail.bodyRef);
    expect(replayed[1]!.detail.event.ids).toBeUndefined();
    expect(stack.output()).not.toMatch(/AccessDenied/);
  });

  it('answers 413 above maxBodyBytes, and stores nothing', async () => {
    stack = await startStackProcess();
    const body = largeNotification(4_194_305, 'evt_too_big');
    const response = await fetch(stack.info.webhookUrl, { method: 'POST', headers: { 'content-type': 'application/json', ...makini.sign(body, stack.secret) }, body });
    expect(response.status).toBe(413);
    expect(await cliJson(stack, 'events')).toEqual([]);
  });
});
