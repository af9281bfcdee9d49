import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { SQSClient, SendMessageCommand } from '@aws-sdk/client-sqs';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { createHash, createHmac } from 'node:crypto';
import { request, Agent } from 'node:http';
async function main() {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, '../bench/aws-endpoints.ts'), 's', 'v'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const ep = await new Promise<any>((res) => { let t = ''; child.stdout.on('data', (c) => { t += c; if (t.includes('\n')) res(JSON.parse(t)); }); });
  const body = 'x'.repeat(1400);
  const cpu = async (label: string, fn: () => Promise<unknown>, n = 1000) => { for (let i = 0; i < 100; i++) await fn(); const s = process.cpuUsage(); for (let i = 0; i < n; i++) await fn(); const u = process.cpuUsage(s); console.log(label, ((u.user + u.system) / n).toFixed(0), 'µs'); };
  for (const md5 of [true, false]) {
    const c = new SQSClient({ region: 'us-east-1', endpoint: ep.sqs, credentials: { accessKeyId: 'a', secretAccessKey: 'b' }, ...(md5 ? {} : { md5: false }) });
    await cpu(`sdk md5=${md5}`, () => c.send(new SendMessageCommand({ QueueUrl: ep.queueUrl, MessageBody: body })));
  }
  const agent = new Agent({ keepAlive: true });
  const url = new URL(ep.sqs);
  const raw = () => new Promise((resolve, reject) => {
    const payload = JSON.stringify({ QueueUrl: ep.queueUrl, MessageBody: body });
    const now = new Date().toISOString().replace(/[:-]|\.\d{3}/g, '');
    const hash = createHash('sha256').update(payload).digest('hex');
    const k = createHmac('sha256', 'AWS4b').update(now.slice(0, 8)).digest();
    const sig = createHmac('sha256', k).update(hash + now).digest('hex');
    const req = request({ host: url.hostname, port: url.port, method: 'POST', path: '/', agent, headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'AmazonSQS.SendMessage', 'x-amz-date': now, 'x-amz-content-sha256': hash, authorization: `AWS4-HMAC-SHA256 Credential=a/${now.slice(0,8)}/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=${sig}` } }, (res) => { let t = ''; res.on('data', (d) => (t += d)); res.on('end', () => resolve(JSON.parse(t))); });
    req.on('error', reject); req.end(payload);
  });
  await cpu('raw http + sigv4-ish', raw);
  child.stdin.end();
}
main();
