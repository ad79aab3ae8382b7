/**
 * A client that vanished without closing (or never reads, so never answers pings) must not hold
 * a session and an upstream socket forever.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { createGateway } from '../../src/index.js';
import { once, waitFor } from '../helpers/wait.js';

test('a client that stops answering pings is terminated and its upstream socket closed', async (t) => {
  const target = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.after(() => target.close());
  await once(target, 'listening', 5000);
  const address = target.address();
  assert.ok(typeof address === 'object' && address !== null);
  const upstreamClosed: number[] = [];
  target.on('connection', (ws) => ws.on('close', (code) => upstreamClosed.push(code)));

  const gateway = createGateway({
    target: `ws://127.0.0.1:${address.port}`,
    port: 0,
    logLevel: 'silent',
    clientPingInterval: 200,
  });
  t.after(() => gateway.close({ drainTimeout: 500 }));
  await gateway.ready;

  const healthy = new WebSocket(gateway.url);
  const silent = new WebSocket(gateway.url, { autoPong: false });
  t.after(() => {
    healthy.terminate();
    silent.terminate();
  });
  await Promise.all([once(healthy, 'open', 5000), once(silent, 'open', 5000)]);
  await waitFor(() => target.clients.size === 2, {
    timeout: 5000,
    message: 'both sessions upstream',
  });

  const code = await once<number>(silent, 'close', 5000);
  assert.equal(code, 1006, 'terminated, not closed politely: it would not read a close frame');
  await waitFor(() => upstreamClosed.length === 1 && gateway.sessionCount === 1, {
    timeout: 5000,
    message: 'its session and upstream socket are gone',
  });
  assert.equal(healthy.readyState, WebSocket.OPEN, 'a client that answers pings stays');
});
