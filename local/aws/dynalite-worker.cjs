// dynalite in a worker thread of the local stack, so DynamoDB's work runs on another core than the
// Lambdas and the other local endpoints (one thread for everything stalled the receiver while the
// consumer drained). Plain JavaScript: a worker loads its file natively, under tsx and jest alike.
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const dynalite = require('dynalite');

const server = dynalite({ path: workerData.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
// dynalite closes its database with its server, which frees the LevelDB lock for a restart.
parentPort.on('message', (message) => {
  if (message === 'close') server.close(() => parentPort.postMessage({ closed: true }));
});
