/**
 * Hostile and malformed client input against the real `subgate` binary with the graphql-ws hook:
 * every violation is answered as graphql-ws's PROTOCOL.md says, nothing invalid reaches the
 * target, no session leaks, and a seeded fuzz run of thousands of frames leaves the process
 * healthy with bounded memory.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { MessageType, validateMessage } from 'graphql-ws';
import WebSocket, { WebSocketServer } from 'ws';
import { reservePort } from '../helpers/child-target.js';
import { startCliWithConfig, type CliProcess } from '../helpers/cli-process.js';
import { once, waitFor } from '../helpers/wait.js';

const PROTOCOL = 'graphql-transport-ws';

/** A minimal graphql-transport-ws target that checks every frame it receives. */
async function strictTarget(
  t: TestContext,
): Promise<{ port: number; received: number; invalid: string[] }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.after(() => {
    for (const ws of server.clients) ws.terminate();
    server.close();
  });
  const stats = { port: 0, received: 0, invalid: [] as string[] };
  server.on('connection', (ws) => {
    ws.on('message', (data) => {
      stats.received++;
      let message;
      try {
        message = validateMessage(JSON.parse(data.toString()));
      } catch {
        if (stats.invalid.length < 20) stats.invalid.push(data.toString().slice(0, 200));
        return;
      }
      if (message.type === MessageType.ConnectionInit)
        ws.send(JSON.stringify({ type: 'connection_ack' }));
      if (message.type === MessageType.Ping) ws.send(JSON.stringify({ type: 'pong' }));
      if (message.type === MessageType.Subscribe) {
        ws.send(
          JSON.stringify({ id: message.id, type: 'next', payload: { data: { hello: 'world' } } }),
        );
      }
    });
  });
  await once(server, 'listening', 5000);
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  stats.port = address.port;
  return stats;
}

async function gateway(
  t: TestContext,
  targetPort: number,
  clientPingInterval = 1000,
): Promise<{ cli: CliProcess; admin: string }> {
  const cli = await startCliWithConfig(
    t,
    {
      hooks: [['graphql-ws', { connectionInitTimeout: 1000 }]],
      metricsPort: 0,
      clientPingInterval,
      logLevel: 'silent',
    },
    ['--target', `ws://127.0.0.1:${targetPort}`, '--port', '0', '--log-level', 'info'],
  );
  // The admin port is in the log line 'metrics, health and readiness served'.
  let port: number | undefined;
  await waitFor(
    () => {
      const line = cli
        .stderr()
        .split('\n')
        .find((l) => l.includes('metrics, health and readiness served'));
      port = line === undefined ? undefined : (JSON.parse(line) as { port: number }).port;
      return port !== undefined;
    },
    { timeout: 10_000, message: 'admin port logged' },
  );
  return { cli, admin: `http://127.0.0.1:${port}` };
}

async function sessions(admin: string): Promise<number> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  return Number(/^subgate_client_sessions (\d+)/m.exec(text)?.[1]);
}

/** Connects, sends `frames` in order (waiting for the ack after an init), returns how it closed. */
async function run(
  url: string,
  frames: (string | Buffer)[],
): Promise<{ code: number; reason: string }> {
  const ws = new WebSocket(url, PROTOCOL);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  await once(ws, 'open', 5000);
  const acked = new Promise<void>((resolve) =>
    ws.on('message', (data) => {
      if (JSON.parse(data.toString()).type === 'connection_ack') resolve();
    }),
  );
  for (const frame of frames) {
    ws.send(frame);
    if (typeof frame === 'string' && frame.includes('"connection_init"')) await acked;
  }
  const timer = setTimeout(() => ws.terminate(), 10_000);
  const result = await closed;
  clearTimeout(timer);
  return result;
}

const init = JSON.stringify({ type: 'connection_init' });
const subscribe = (id: unknown): string =>
  JSON.stringify({ id, type: 'subscribe', payload: { query: '{ hello }' } });

test('protocol violations are answered as graphql-ws says and never reach the target', async (t) => {
  const target = await strictTarget(t);
  const { cli, admin } = await gateway(t, target.port);
  const cases: [string, (string | Buffer)[], number, RegExp][] = [
    ['malformed JSON', [init, '{"type": "subscribe", '], 4400, /Invalid message received/],
    ['unknown message type', [init, '{"type":"shout"}'], 4400, /Invalid message received/],
    [
      'wrong field types',
      [init, JSON.stringify({ id: 42, type: 'subscribe', payload: { query: '{ hello }' } })],
      4400,
      /Invalid message received/,
    ],
    [
      'a server message from the client',
      [init, JSON.stringify({ id: '1', type: 'next', payload: {} })],
      4400,
      /Invalid message received/,
    ],
    ['a huge id', [init, subscribe('x'.repeat(5000))], 4400, /id longer than 1024/],
    [
      'binary garbage',
      [init, Buffer.from([0xff, 0x00, 0x13, 0x37])],
      4400,
      /Invalid message received/,
    ],
    ['subscribe before init', [subscribe('1')], 4401, /Unauthorized/],
    [
      'a duplicate id',
      [init, subscribe('1'), subscribe('1')],
      4409,
      /Subscriber for 1 already exists/,
    ],
    ['a second init', [init, init], 4429, /Too many initialisation requests/],
    ['no init at all', [], 4408, /Connection initialisation timeout/],
  ];
  for (const [name, frames, code, reason] of cases) {
    const closed = await run(cli.url, frames);
    assert.equal(closed.code, code, `${name}: close code`);
    assert.match(closed.reason, reason, `${name}: close reason`);
  }
  assert.deepEqual(target.invalid, [], 'the target never received an invalid frame');
  await waitFor(async () => (await sessions(admin)) === 0, {
    timeout: 10_000,
    message: 'no session left',
  });
  assert.equal((await fetch(`${admin}/healthz`)).status, 200);
});

test('a ping flood from a client that never reads pauses that client, not the gateway memory', async (t) => {
  // The target is down, so the hook answers every ping itself: 50 MB of pings, 50 MB of pongs.
  const { cli, admin } = await gateway(t, await reservePort(), 60_000);
  const ws = new WebSocket(cli.url, PROTOCOL, { perMessageDeflate: false });
  t.after(() => ws.terminate());
  await once(ws, 'open', 5000);
  ws.send(init);
  ws.pause(); // never read the pongs
  const baseline = cli.rssKiB();
  const ping = JSON.stringify({ type: 'ping', payload: { pad: 'x'.repeat(1000) } });
  for (let i = 0; i < 50_000; i++) {
    ws.send(ping);
    if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  // The gateway stopped reading: our send buffer stays full instead of draining into its memory.
  let last = -1;
  let since = performance.now();
  await waitFor(
    () => {
      if (ws.bufferedAmount !== last) [last, since] = [ws.bufferedAmount, performance.now()];
      return last > 20 * 1024 * 1024 && performance.now() - since >= 1000;
    },
    { timeout: 30_000, interval: 50, message: 'the gateway holds the flooding client back' },
  );
  const growth = cli.rssKiB() - baseline;
  console.log(
    `ping flood: gateway RSS grew ${growth} KiB; the client still holds ${ws.bufferedAmount} bytes`,
  );
  assert.ok(growth < 24 * 1024, `memory bounded, grew ${growth} KiB`);
  assert.equal(await sessions(admin), 1);
  assert.equal((await fetch(`${admin}/healthz`)).status, 200);
});

/** A small seeded PRNG (mulberry32), so a failing fuzz run can be replayed with SEED=. */
function prng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function fuzzFrame(random: () => number): string | Buffer {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const types = [
    'connection_init',
    'subscribe',
    'complete',
    'ping',
    'pong',
    'next',
    'error',
    'bogus',
    '',
  ];
  const values = [
    null,
    1,
    -1,
    1e308,
    'x',
    '',
    [],
    {},
    { query: '{ hello }' },
    'x'.repeat(2000),
    true,
  ];
  switch (Math.floor(random() * 6)) {
    case 0:
      return Buffer.from(
        Array.from({ length: Math.floor(random() * 64) }, () => Math.floor(random() * 256)),
      );
    case 1:
      return JSON.stringify({ type: pick(types), id: pick(values), payload: pick(values) }).slice(
        0,
        Math.floor(random() * 80),
      );
    case 2:
      return JSON.stringify({ type: pick(types), id: pick(values), payload: pick(values) });
    case 3:
      return subscribe(String(Math.floor(random() * 5)));
    case 4:
      return JSON.stringify({ id: String(Math.floor(random() * 5)), type: 'complete' });
    default:
      return JSON.stringify({ type: pick(['ping', 'pong']) });
  }
}

test('fuzz: thousands of seeded frames leave the gateway healthy and bounded', async (t) => {
  const seed = Number(process.env.SEED ?? Date.now() % 100_000);
  console.log(`fuzz seed ${seed} (rerun with SEED=${seed})`);
  const random = prng(seed);
  const target = await strictTarget(t);
  const { cli, admin } = await gateway(t, target.port);
  const baseline = cli.rssKiB();
  let frames = 0;
  let connections = 0;
  const deadline = performance.now() + 15_000;
  while (frames < 5000 && performance.now() < deadline) {
    const ws = new WebSocket(cli.url, PROTOCOL);
    ws.on('error', () => {});
    await once(ws, 'open', 5000);
    connections++;
    if (random() < 0.8) {
      ws.send(init);
      await Promise.race([once(ws, 'message', 5000), once(ws, 'close', 5000)]);
    }
    for (let i = 0; i < 50 && ws.readyState === WebSocket.OPEN; i++) {
      ws.send(fuzzFrame(random));
      frames++;
    }
    ws.close();
  }
  console.log(`fuzz: ${frames} frames over ${connections} connections`);
  assert.ok(frames >= 1000, `enough frames thrown (${frames})`);
  await waitFor(async () => (await sessions(admin)) === 0, {
    timeout: 15_000,
    message: 'every session ended',
  });
  assert.deepEqual(target.invalid, [], 'nothing invalid was forwarded to the target');
  assert.equal((await fetch(`${admin}/healthz`)).status, 200);
  assert.equal(cli.child.exitCode, null, 'the gateway is still running');
  const growth = cli.rssKiB() - baseline;
  assert.ok(growth < 48 * 1024, `memory bounded, grew ${growth} KiB`);
});
