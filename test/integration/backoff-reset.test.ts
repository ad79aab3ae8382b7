/**
 * The reconnect attempt counter resets only after a connection stayed up `minUptime`: a target
 * that accepts and drops at once is retried with growing delays, one that stayed up long enough
 * starts over from the first delay. The clock is injected, so nothing waits for minUptime.
 */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { test } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { createGateway, DiagnosticsChannel, type UpstreamStateMessage } from '../../src/index.js';
import { once, waitFor } from '../helpers/wait.js';

test('attempts grow while connections are short-lived and reset after minUptime', async (t) => {
  const target = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.after(() => {
    for (const ws of target.clients) ws.terminate();
    target.close();
  });
  await once(target, 'listening', 5000);
  const address = target.address();
  assert.ok(typeof address === 'object' && address !== null);

  let clock = 0;
  const gateway = createGateway({
    target: `ws://127.0.0.1:${address.port}`,
    port: 0,
    logLevel: 'silent',
    minUptime: 10_000,
    retryInitialDelay: 10,
    retryMaxDelay: 80,
    random: () => 0.999, // the top of each jitter range, so delays show the attempt
    now: () => clock,
  });
  t.after(() => gateway.close({ drainTimeout: 500 }));
  await gateway.ready;

  const waits: UpstreamStateMessage[] = [];
  let opened = 0;
  const onState = (message: unknown): void => {
    const m = message as UpstreamStateMessage;
    if (m.state === 'waiting') waits.push(m);
    if (m.state === 'open') opened++;
  };
  subscribe(DiagnosticsChannel.UpstreamState, onState);
  t.after(() => unsubscribe(DiagnosticsChannel.UpstreamState, onState));

  const client = new WebSocket(gateway.url);
  t.after(() => client.terminate());
  await once(client, 'open', 5000);

  // Four short-lived connections: dropped before the clock moves.
  for (let drop = 1; drop <= 4; drop++) {
    const socket = await once<WebSocket>(target, 'connection', 5000);
    socket.terminate();
    await waitFor(() => waits.length === drop, { timeout: 5000, message: `drop ${drop} seen` });
  }
  assert.deepEqual(
    waits.map((w) => w.delay),
    [9, 19, 39, 79],
    'delays double per attempt: 10, 20, 40, 80 (capped) times 0.999',
  );

  // The fifth connection stays up past minUptime (by the injected clock), then drops.
  const socket = await once<WebSocket>(target, 'connection', 5000);
  await waitFor(() => opened === 5, { timeout: 5000, message: 'the fifth link is open' });
  clock += 10_000;
  socket.terminate();
  await waitFor(() => waits.length === 5, { timeout: 5000, message: 'drop 5 seen' });
  assert.equal(waits[4]!.delay, 9, 'after minUptime the first delay again');
  assert.equal(waits[4]!.attempt, 1);
});
