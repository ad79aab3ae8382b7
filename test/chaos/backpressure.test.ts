/**
 * G9, bounded memory: a client that stops reading, or a target that stops reading, must not make
 * the gateway (the real `subgate` process) buffer what the other side keeps sending. The
 * gateway stops reading the fast side instead; once the slow side reads again, every message
 * arrives exactly once and in order.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { startCliWithConfig, type CliProcess } from '../helpers/cli-process.js';
import { checkSequence, formatReport } from '../helpers/sequence-checker.js';
import { once, waitFor } from '../helpers/wait.js';

const MESSAGES = 60_000;
const PAYLOAD = 'x'.repeat(1024); // ~60 MiB offered in all
const BOUND_KIB = 256;
/** What the gateway may grow by: its bound, kernel-side slack, V8 heap noise. Far below 60 MiB. */
const ALLOWED_GROWTH_KIB = 24 * 1024;

function gatewayFor(t: TestContext, targetPort: number): Promise<CliProcess> {
  return startCliWithConfig(
    t,
    // No hooks: ping-replay's ring would hold the client too, hiding the core's flow control.
    {
      hooks: [],
      maxBufferedBytes: BOUND_KIB * 1024,
      maxBufferedMessages: 1000,
      logLevel: 'silent',
    },
    ['--target', `ws://127.0.0.1:${targetPort}`, '--port', '0'],
  );
}

async function listen(t: TestContext): Promise<{ server: WebSocketServer; port: number }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  t.after(() => server.close());
  await once(server, 'listening', 5000);
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  return { server, port: address.port };
}

/** Sends numbered messages as fast as the socket takes them, whatever its buffer holds. */
function flood(ws: WebSocket, count: number): Promise<void> {
  return new Promise((resolve) => {
    let n = 0;
    const burst = (): void => {
      for (let i = 0; i < 500 && n < count; i++) ws.send(`${++n} ${PAYLOAD}`);
      if (n < count) setImmediate(burst);
      else resolve();
    };
    burst();
  });
}

/**
 * Waits until a sender's buffer holds more than `min` bytes and has not moved for a second: the
 * gateway stopped reading it (without backpressure it would drain the buffer into its own memory).
 */
function stalled(sender: WebSocket, min: number, who: string): Promise<void> {
  let last = -1;
  let since = performance.now();
  return waitFor(
    () => {
      const now = performance.now();
      if (sender.bufferedAmount !== last) {
        last = sender.bufferedAmount;
        since = now;
      }
      return last > min && now - since >= 1000;
    },
    {
      timeout: 30_000,
      interval: 50,
      message: `${who} feels the backpressure (its send buffer fills and stays full)`,
    },
  );
}

function numbers(received: string[]): number[] {
  return received.map((message) => Number(message.slice(0, message.indexOf(' '))));
}

test('a client that stops reading pauses the target, not the gateway memory', async (t) => {
  const { server, port } = await listen(t);
  const cli = await gatewayFor(t, port);
  const upstream = once<WebSocket>(server, 'connection', 10_000);
  const client = new WebSocket(`${cli.url}/`, { perMessageDeflate: false });
  t.after(() => client.terminate());
  const received: string[] = [];
  client.on('message', (data) => received.push(data.toString()));
  await once(client, 'open', 10_000);
  const target = await upstream;
  const baseline = cli.rssKiB();

  client.pause(); // stop reading: the gateway's send buffer to the client fills up
  await flood(target, MESSAGES);
  await stalled(target, 30 * 1024 * 1024, 'the target');
  const peak = cli.rssKiB();
  console.log(
    `slow client: gateway RSS ${baseline} KiB → ${peak} KiB; target holds ${target.bufferedAmount} bytes`,
  );
  assert.ok(peak - baseline < ALLOWED_GROWTH_KIB, `gateway grew ${peak - baseline} KiB`);

  client.resume();
  await waitFor(() => received.length >= MESSAGES, {
    timeout: 60_000,
    message: 'every message arrived',
  });
  const report = checkSequence(numbers(received), { from: 1, to: MESSAGES });
  console.log(formatReport('slow client', report));
  assert.equal(report.lost + report.duplicates + report.outOfOrder, 0);
});

test('a target that stops reading pauses the client, not the gateway memory', async (t) => {
  const { server, port } = await listen(t);
  const cli = await gatewayFor(t, port);
  const upstream = once<WebSocket>(server, 'connection', 10_000);
  const client = new WebSocket(`${cli.url}/`, { perMessageDeflate: false });
  t.after(() => client.terminate());
  await once(client, 'open', 10_000);
  const target = await upstream;
  const received: string[] = [];
  target.on('message', (data) => received.push(data.toString()));
  const baseline = cli.rssKiB();

  target.pause();
  await flood(client, MESSAGES);
  await stalled(client, 30 * 1024 * 1024, 'the client');
  const peak = cli.rssKiB();
  console.log(
    `slow target: gateway RSS ${baseline} KiB → ${peak} KiB; client holds ${client.bufferedAmount} bytes`,
  );
  assert.ok(peak - baseline < ALLOWED_GROWTH_KIB, `gateway grew ${peak - baseline} KiB`);

  target.resume();
  await waitFor(() => received.length >= MESSAGES, {
    timeout: 60_000,
    message: 'every message arrived',
  });
  const report = checkSequence(numbers(received), { from: 1, to: MESSAGES });
  console.log(formatReport('slow target', report));
  assert.equal(report.lost + report.duplicates + report.outOfOrder, 0);
});
