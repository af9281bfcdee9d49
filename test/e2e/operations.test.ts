import { rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { readBusLog } from '../../local/aws/eventbridge';
import { makiniScheme } from '../../lambdas/core/signature';
import { startStackProcess, waitFor, type StackProcess } from '../support/local-stack-process';
import { cli } from '../support/run-cli';

jest.setTimeout(180_000);

const makini = makiniScheme('x-makini-signature', 'sha256');
let stack: StackProcess | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});
const run = async (s: StackProcess, ...args: string[]) => cli([...args, '--local-dir', s.dir]);
const json = async (s: StackProcess, ...args: string[]) => JSON.parse((await run(s, ...args, '--json')).stdout);
const post = (s: StackProcess, body: object) => {
  const raw = JSON.stringify(body);
  return fetch(s.info.webhookUrl, { method: 'POST', headers: makini.sign(Buffer.from(raw), s.secret), body: raw });
};

describe('CLI operations against the local stack', () => {
  it('dlq list shows a poison message and why; after the fix, dlq redrive brings it back and it is processed', async () => {
    stack = await startStackProcess({ env: { MAKINI_CONSUMER_TIMEOUT_SECONDS: '1', MAKINI_MAX_RECEIVE_COUNT: '2' } });
    writeFileSync(path.join(stack.dir, 'faults.json'), JSON.stringify({ eventBridge: 'unavailable' }));
    expect((await post(stack, { id: 'evt_dlq', type: 'sync.failed', timestamp: '2026-11-22T05:00:00Z', connection_id: 'conn_d', data: {} })).status).toBe(200);

    await waitFor(async () => (await json(stack!, 'health')).deadLetterQueue === 1, 90_000, () => 'the message to reach the DLQ');
    const listed = await json(stack, 'dlq', 'list');
    expect(listed).toEqual([expect.objectContaining({ webhookId: 'evt_dlq', type: 'sync.failed', connectionId: 'conn_d', lastError: expect.stringMatching(/event bus did not accept/) })]);
    expect((await run(stack, 'dlq', 'list')).stdout).toMatch(/evt_dlq/);

    rmSync(path.join(stack.dir, 'faults.json'));
    const redrive = await run(stack, 'dlq', 'redrive');
    expect(redrive).toMatchObject({ code: 0, stdout: expect.stringMatching(/COMPLETED: 1 of 1 moved/) });
    await waitFor(() => readBusLog(stack!.info.busLog).length === 1, 60_000, () => 'the redriven webhook to be processed');
    expect((await json(stack, 'health')).deadLetterQueue).toBe(0);
  });

  it('replay publishes stored events again, and the state does not change', async () => {
    stack = await startStackProcess();
    expect((await post(stack, { id: 'evt_r1', type: 'connection.status_changed', timestamp: '2026-11-22T05:00:00Z', connection_id: 'conn_r', data: { status: 'offline' } })).status).toBe(200);
    expect((await post(stack, { id: 'evt_r2', type: 'connection.reauthorization_required', timestamp: '2026-11-22T05:05:00Z', connection_id: 'conn_r', data: {} })).status).toBe(200);
    await waitFor(() => readBusLog(stack!.info.busLog).length === 2);
    const before = await json(stack, 'status');

    expect((await run(stack, 'replay', 'evt_r1')).stdout).toBe(`replayed 1 event(s) to ${stack.info.eventBusName}\n`);
    expect((await run(stack, 'replay', '--connection', 'conn_r', '--since', '2026-11-22T00:00:00Z')).stdout).toBe(`replayed 2 event(s) to ${stack.info.eventBusName}\n`);
    const bus = readBusLog(stack.info.busLog);
    const ids = bus.map((e) => (e.detail as { event: { webhookId: string } }).event.webhookId);
    // The two deliveries may be processed in either order (two consumer environments, as on AWS); the replays in order.
    expect([...ids.slice(0, 2)].sort()).toEqual(['evt_r1', 'evt_r2']);
    expect(ids.slice(2)).toEqual(['evt_r1', 'evt_r1', 'evt_r2']);
    // Replays carry the current state and no transition, so notification rules do not fire again.
    for (const e of bus.slice(2)) expect(e.detail).toMatchObject({ state: { status: 'reauthorization_required' } });
    expect(bus.slice(2).some((e) => 'transition' in (e.detail as object))).toBe(false);
    expect(await json(stack, 'status')).toEqual(before);
    expect(await run(stack, 'replay', 'evt_nope')).toMatchObject({ code: 2, stderr: expect.stringMatching(/no stored webhook evt_nope/) });
  });

  it('health summarises queue, dead letters, connections, last webhook and last poll', async () => {
    stack = await startStackProcess();
    expect((await post(stack, { id: 'evt_h', type: 'connection.status_changed', timestamp: '2026-11-22T05:00:00Z', connection_id: 'conn_h', data: { status: 'online' } })).status).toBe(200);
    await waitFor(async () => (await json(stack!, 'health')).connections.total === 1);
    expect(await json(stack, 'health')).toMatchObject({ target: 'local stack', queue: { visible: 0, inFlight: 0, oldestAgeSeconds: null }, deadLetterQueue: 0, connections: { total: 1, online: 1 }, lastWebhookAt: expect.any(String), lastPolledAt: null, alarmsInAlarm: expect.any(Array) });
    expect((await run(stack, 'health')).stdout).toMatch(/connections {5}1 \(1 online\)/);
  });
});
