// One Lambda execution environment: loads the function's code once (its init phase), then runs
// one invocation at a time for the parent (local/lambda/runtime.ts). Plain JavaScript so that it
// loads the same under tsx, jest and node alike.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';

const { file, exportName, fromSource } = workerData;
let handler;
try {
  const mod = fromSource ? await (await import('tsx/esm/api')).tsImport(file, import.meta.url) : await import(pathToFileURL(file).href);
  handler = mod[exportName] ?? mod.default?.[exportName];
  if (typeof handler !== 'function') throw Object.assign(new Error(`${file} does not export ${exportName}`), { name: 'Runtime.HandlerNotFound' });
  parentPort.postMessage({ type: 'ready' });
} catch (error) {
  parentPort.postMessage({ type: 'init-error', error: { name: error?.name ?? 'Error', message: error?.message ?? String(error) } });
}

parentPort.on('message', async ({ id, event, context }) => {
  const ctx = { ...context, getRemainingTimeInMillis: () => Math.max(0, context.deadline - Date.now()), done() {}, fail() {}, succeed() {} };
  try {
    const result = await handler(event, ctx);
    parentPort.postMessage({ type: 'result', id, result });
  } catch (error) {
    parentPort.postMessage({ type: 'error', id, error: { name: error?.name ?? 'Error', message: error?.message ?? String(error) } });
  }
});
