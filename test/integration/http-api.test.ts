/**
 * The local API Gateway's payload limits, as a deployed HTTP API with a Lambda integration has them:
 * 10 MB for a request, and Lambda's 6 MB for the invoke event, which the function then never sees.
 */
import { startHttpApi, type HttpApi } from '../../local/http-api';

let api: HttpApi;
let invoked: number;
beforeEach(async () => {
  invoked = 0;
  api = await startHttpApi({
    routes: {
      '/webhooks': async () => {
        invoked++;
        return { statusCode: 200, body: '{"received":true}' };
      },
    },
  });
});
afterEach(async () => api.close());

const post = (bytes: number) => fetch(`${api.url}/webhooks`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.alloc(bytes, 0x61) });

describe('local HTTP API payload limits', () => {
  it('answers 413, never a 5xx, for a body between Lambda’s 6 MB and API Gateway’s 10 MB, without invoking the function', async () => {
    const response = await post(7 * 1024 * 1024);
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({ message: 'Request Too Long' });
    expect(invoked).toBe(0);
  });

  it('counts the event, not just the body: a 4.8 MB body is 6.4 MB once base64-encoded in the event', async () => {
    expect((await post(4_800_000)).status).toBe(413);
    expect((await post(4_000_000)).status).toBe(200);
    expect(invoked).toBe(1);
  });

  it('answers 413 above 10 MB', async () => {
    expect((await post(11 * 1024 * 1024)).status).toBe(413);
    expect(invoked).toBe(0);
  });
});
