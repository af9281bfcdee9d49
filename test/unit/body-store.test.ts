import { createHash } from 'node:crypto';
import { INLINE_BODY_MAX_BYTES } from '../../lambdas/config/config';
import { BodyIntegrityError, bodyPointer, isBodyPointer, readPointedBody, travelsAsPointer, type BodyStore } from '../../lambdas/core/body-store';
import { busDetail, type BusMessage } from '../../lambdas/core/consume';
import { decodeEnvelope, encodePointerEnvelope, InvalidEnvelopeError } from '../../lambdas/core/envelope';
import { createReceiver, type WebhookQueue } from '../../lambdas/core/receive';
import { makiniScheme } from '../../lambdas/core/signature';

const meta = { webhookId: 'evt_1', receivedAt: '2026-11-22T05:00:00.000Z', scheme: 'makini', requestId: 'req-1' } as const;

class MemoryBodies implements Pick<BodyStore, 'put' | 'get'> {
  readonly objects = new Map<string, Buffer>();
  fail = false;
  async put(key: string, body: Uint8Array) {
    if (this.fail) throw new Error('S3 is down');
    this.objects.set(key, Buffer.from(body));
  }
  async get(key: string) {
    return this.objects.get(key) ?? Buffer.alloc(0);
  }
}

describe('the inline threshold', () => {
  it('keeps bodies up to INLINE_BODY_MAX_BYTES inline and points to larger ones', () => {
    expect(travelsAsPointer(Buffer.alloc(INLINE_BODY_MAX_BYTES))).toBe(false);
    expect(travelsAsPointer(Buffer.alloc(INLINE_BODY_MAX_BYTES + 1))).toBe(true);
  });

  it('points to a body under the line whose ids, carried as strings on the bus, would take more than the line', () => {
    const numbers = (count: number, id = 7) => Buffer.from(JSON.stringify({ event: 'assets.updated', body: new Array<number>(count).fill(id) }));
    // `7,` is 2 bytes, `"7",` 4 on the bus: 60,000 ids are a 120 KB body and 240 KB of ids.
    expect(numbers(60_000).length).toBeLessThan(INLINE_BODY_MAX_BYTES);
    expect(travelsAsPointer(numbers(60_000))).toBe(true);
    // To the byte: the body written with its numbers as strings, against the line.
    const asStrings = (count: number) => Buffer.byteLength(JSON.stringify({ event: 'assets.updated', body: new Array<string>(count).fill('7') }));
    const atLine = Math.floor((INLINE_BODY_MAX_BYTES - asStrings(1) + 4) / 4);
    expect([asStrings(atLine), asStrings(atLine + 1)]).toEqual([INLINE_BODY_MAX_BYTES - 1, INLINE_BODY_MAX_BYTES + 3]);
    expect(travelsAsPointer(numbers(atLine))).toBe(false);
    expect(travelsAsPointer(numbers(atLine + 1))).toBe(true);
    // `9e15` (4 bytes) is an id of 18 bytes on the bus: `"9000000000000000"`.
    const grownIds = Buffer.from(`{"event":"assets.updated","body":[${new Array<string>(12_000).fill('9e15').join(',')}]}`);
    expect(grownIds.length).toBeLessThan(INLINE_BODY_MAX_BYTES / 3);
    expect(travelsAsPointer(grownIds)).toBe(true);
  });

  it('measures the numbers of data as the bus writes them: as numbers, written out', () => {
    // A lifecycle-style event whose data holds 60,000 numbers: 120 KB, and 120 KB on the bus (not 240 KB as strings).
    const readings = Buffer.from(JSON.stringify({ id: 'evt_1', type: 'report.generated', data: { readings: new Array<number>(60_000).fill(7) } }));
    expect(readings.length).toBeLessThan(INLINE_BODY_MAX_BYTES);
    expect(travelsAsPointer(readings)).toBe(false);
    // The same numbers in a top-level `body` list would be a notification's ids, as strings.
    expect(travelsAsPointer(Buffer.from(JSON.stringify({ id: 'evt_1', type: 'report.generated', body: new Array<number>(60_000).fill(7) })))).toBe(true);
    // `1e20` (4 bytes) grows most, to 21 bytes as JSON.stringify writes it: 10,000 of them are 50 KB in the body, 220 KB on the bus.
    const grown = Buffer.from(`{"type":"report.generated","data":{"v":[${new Array<string>(10_000).fill('1e20').join(',')}]}}`);
    expect(grown.length).toBeLessThan(INLINE_BODY_MAX_BYTES / 3);
    expect(travelsAsPointer(grown)).toBe(true);
    // A top-level `body` list that cannot be ids (one number is not an integer) stays numbers on the bus.
    expect(travelsAsPointer(Buffer.from(JSON.stringify({ id: 'evt_1', event: 'assets.updated', body: [...new Array<number>(60_000).fill(7), 7.5] })))).toBe(false);
    // A JSON value that is not an object makes no event: it stays inline whatever its numbers become.
    expect(travelsAsPointer(Buffer.from(`[${new Array<string>(10_000).fill('1e20').join(',')}]`))).toBe(false);
  });

  it('keeps inline a body of strings (Makini\'s ids are UUIDs), one that is not JSON, and one whose escapes only shrink', () => {
    const uuids = Buffer.from(JSON.stringify({ event: 'assets.updated', body: new Array<string>(5_000).fill('16c69269-8a4e-4d2b-9c3f-0a1b2c3d4e5f') }));
    expect(uuids.length).toBeGreaterThan(INLINE_BODY_MAX_BYTES * 0.9);
    expect(travelsAsPointer(uuids)).toBe(false);
    expect(travelsAsPointer(Buffer.from(`not json ${'7,'.repeat(90_000)}`))).toBe(false);
    expect(travelsAsPointer(Buffer.from(`["${'\\u00e9'.repeat(30_000)}"]`))).toBe(false);
  });

  it('leaves room in an EventBridge entry (256 KB) for the event and state around the body', () => {
    expect(INLINE_BODY_MAX_BYTES).toBeLessThanOrEqual(262_144 - 50_000);
  });
});

describe('body pointers', () => {
  it('address a body by its SHA-256, with its size', () => {
    const body = Buffer.from('{"a":1}');
    const sha256 = createHash('sha256').update(body).digest('hex');
    expect(bodyPointer(body)).toEqual({ key: `bodies/${sha256}`, bytes: 7, sha256 });
    expect(isBodyPointer(bodyPointer(body))).toBe(true);
    expect(isBodyPointer(bodyPointer(Buffer.alloc(0)))).toBe(true); // a size of 0 is a size
    for (const value of [null, undefined, 'bodies/x', 7]) expect(isBodyPointer(value)).toBe(false);
  });

  it.each([
    ['a key outside bodies/', { key: 'other/x', bytes: 1, sha256: 'a'.repeat(64) }],
    ['a key that is not its hash', { key: `bodies/${'b'.repeat(64)}`, bytes: 1, sha256: 'a'.repeat(64) }],
    ['a negative size', { key: `bodies/${'a'.repeat(64)}`, bytes: -1, sha256: 'a'.repeat(64) }],
    ['no hash', { key: 'bodies/', bytes: 1 }],
    ['a hash in a list (whose text is the same)', { key: `bodies/${'a'.repeat(64)}`, bytes: 1, sha256: ['a'.repeat(64)] }],
    ['a character before the hash', { key: `bodies/x${'a'.repeat(64)}`, bytes: 1, sha256: `x${'a'.repeat(64)}` }],
    ['a character after the hash', { key: `bodies/${'a'.repeat(64)}x`, bytes: 1, sha256: `${'a'.repeat(64)}x` }],
    ['a size in text', { key: `bodies/${'a'.repeat(64)}`, bytes: '1', sha256: 'a'.repeat(64) }],
  ])('are refused with %s', (_label, pointer) => {
    expect(isBodyPointer(pointer)).toBe(false);
    const message = JSON.stringify({ v: 1, ...meta, bodyEncoding: 'utf8', body: '', bodyRef: pointer });
    expect(() => decodeEnvelope(message)).toThrow(InvalidEnvelopeError);
  });

  it('travel in the envelope instead of the body', () => {
    const pointer = bodyPointer(Buffer.alloc(300_000, 'x'));
    const decoded = decodeEnvelope(encodePointerEnvelope(meta, pointer));
    expect(decoded.bodyRef).toEqual(pointer);
    expect(decoded.body).toHaveLength(0);
  });

  it('read back only the body they name', async () => {
    const bodies = new MemoryBodies();
    const body = Buffer.from('{"big":true}');
    const pointer = bodyPointer(body);
    await bodies.put(pointer.key, body);
    expect((await readPointedBody(bodies, pointer)).equals(body)).toBe(true);
    await bodies.put(pointer.key, Buffer.from('{"big":false}'));
    await expect(readPointedBody(bodies, pointer)).rejects.toBeInstanceOf(BodyIntegrityError);
    await bodies.put(pointer.key, Buffer.from('{"big":TRUE}'));
    await expect(readPointedBody(bodies, pointer)).rejects.toThrow(/has another SHA-256/);
  });
});

describe('the receiver with a body store', () => {
  const SECRET = 'unit-secret';
  const scheme = makiniScheme('x-makini-signature', 'sha256');
  const setup = (bodies?: MemoryBodies) => {
    const queue: WebhookQueue & { messages: string[] } = { messages: [], send: async (m) => void queue.messages.push(m) };
    const receive = createReceiver({
      scheme,
      secrets: { get: async () => [SECRET], refresh: async () => undefined },
      queue,
      ...(bodies && { bodies }),
      maxBodyBytes: 4_500_000,
      idFields: ['id'],
      now: () => Date.parse('2026-11-22T05:00:00Z'),
    });
    const post = (body: Buffer) => receive({ method: 'POST', headers: { 'content-type': 'application/json', ...scheme.sign(body, SECRET) }, body, requestId: 'r1', sourceIp: '127.0.0.1' });
    return { queue, post };
  };
  const big = Buffer.from(JSON.stringify({ id: 'evt_big', type: 'x', pad: 'p'.repeat(INLINE_BODY_MAX_BYTES) }));

  it('stores a large body before enqueuing its pointer', async () => {
    const bodies = new MemoryBodies();
    const { queue, post } = setup(bodies);
    expect(await post(big)).toMatchObject({ kind: 'accepted', webhookId: 'evt_big', bytes: big.length });
    const { bodyRef } = decodeEnvelope(queue.messages[0]!);
    expect(bodies.objects.get(bodyRef!.key)?.equals(big)).toBe(true);
  });

  it('answers unavailable (503) and enqueues nothing when the body store fails', async () => {
    const bodies = new MemoryBodies();
    bodies.fail = true;
    const { queue, post } = setup(bodies);
    expect(await post(big)).toMatchObject({ kind: 'unavailable', dependency: 'bodies', error: { status: 503 } });
    expect(queue.messages).toHaveLength(0);
  });

  it('stores nothing whose signature does not verify', async () => {
    const bodies = new MemoryBodies();
    const { queue } = setup(bodies);
    const receive = createReceiver({ scheme, secrets: { get: async () => ['another'], refresh: async () => undefined }, queue, bodies, maxBodyBytes: 4_500_000, idFields: ['id'], now: () => Date.parse('2026-11-22T05:00:00Z') });
    expect(await receive({ method: 'POST', headers: scheme.sign(big, SECRET), body: big, requestId: 'r', sourceIp: '127.0.0.1' })).toMatchObject({ kind: 'rejected' });
    expect(bodies.objects.size).toBe(0);
  });

  it('refuses a large body with 413 when it has no body store', async () => {
    const { post } = setup();
    expect(await post(big)).toMatchObject({ kind: 'rejected', error: { status: 413 } });
  });
});

describe('busDetail', () => {
  const event = { webhookId: 'w', type: 'assets.updated', occurredAt: 't', timeSource: 'body', entity: 'assets', action: 'updated', ids: ['1', '2'], data: { x: 1 }, source: 'webhook', receivedAt: 'r' } as const;
  it('carries the event whole when its body is inline', () => {
    expect(busDetail({ event, stale: false })).toEqual({ event, stale: false });
  });
  it('carries the pointer and size instead of what came from the body when it is in the body store', () => {
    const bodyRef = { bucket: 'b', ...bodyPointer(Buffer.from('x')) };
    const message: BusMessage = { event, stale: false, bodyRef };
    const detail = busDetail(message) as { event: Record<string, unknown>; bodyRef: unknown; dataOmitted: boolean };
    expect(detail.bodyRef).toEqual(bodyRef);
    expect(detail.dataOmitted).toBe(true);
    expect(detail.event).toEqual({ webhookId: 'w', type: 'assets.updated', occurredAt: 't', timeSource: 'body', entity: 'assets', action: 'updated', data: {}, source: 'webhook', receivedAt: 'r' });
  });
});
