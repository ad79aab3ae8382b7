import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { WebSocket, WebSocketServer } from 'ws';
import { reservePort, startChildTarget, type ChildTarget } from '../helpers/child-target.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { checkSequence, formatReport } from '../helpers/sequence-checker.js';
import { once, waitFor } from '../helpers/wait.js';

const HELLO = fileURLToPath(new URL('../fixtures/hello-target.js', import.meta.url));
/** Generous: the machines running this are 2-core and loaded. */
const DEADLINE = 10_000;
/** How long "nothing arrives" is watched for. */
const QUIET = 300;

interface Client {
  readonly ws: WebSocket;
  /** Every text message received since the socket was built. */
  readonly messages: string[];
  /** Close code once closed. */
  closeCode: number | undefined;
}

/** A client that records every message from the moment it is built; not awaited to open. */
function client(url: string, t: { after(fn: () => void): void }): Client {
  const ws = new WebSocket(url);
  const c: Client = { ws, messages: [], closeCode: undefined };
  ws.on('message', (data) => c.messages.push(String(data)));
  ws.on('close', (code) => (c.closeCode = code));
  ws.on('error', () => {}); // outcomes are asserted through closeCode / readyState
  t.after(() => ws.terminate());
  return c;
}

async function connect(url: string, t: { after(fn: () => void): void }): Promise<Client> {
  const c = client(url, t);
  await once(c.ws, 'open', DEADLINE, `connect to ${url}`);
  return c;
}

async function echo(c: Client, text: string): Promise<void> {
  const n = c.messages.length;
  c.ws.send(text);
  await waitFor(() => c.messages.length > n, { timeout: DEADLINE, message: `echo of ${text}` });
  assert.equal(c.messages[n], text);
}

async function waitClosed(c: Client, what: string): Promise<void> {
  await waitFor(() => c.ws.readyState === WebSocket.CLOSED, { timeout: DEADLINE, message: what });
}

async function hello(
  t: { after(fn: () => Promise<void>): void },
  opts: Parameters<typeof startChildTarget>[1] = {},
): Promise<ChildTarget> {
  const target = await startChildTarget(HELLO, opts);
  t.after(() => target.stop());
  return target;
}

test('child target: echo, SIGKILL, restart on the same port, echo again', async (t) => {
  const target = await hello(t);
  assert.ok(target.port > 0);
  assert.equal(target.url, `ws://127.0.0.1:${target.port}`);
  assert.equal(target.running, true);
  assert.equal(target.starts, 1);
  const firstPid = target.pid;
  assert.equal(typeof firstPid, 'number');

  const before = await connect(target.url, t);
  await echo(before, 'hello #1');

  await target.kill();
  assert.equal(target.running, false);
  assert.equal(target.pid, undefined);
  await waitClosed(before, 'client sees the killed target go away');
  assert.equal(before.closeCode, 1006);

  const port = target.port;
  await target.restart();
  assert.equal(target.port, port);
  assert.equal(target.starts, 2);
  assert.equal(target.running, true);
  assert.notEqual(target.pid, firstPid);
  await echo(await connect(target.url, t), 'hello #2');

  await target.restart({ delayMs: 50 });
  assert.equal(target.starts, 3);
  await echo(await connect(target.url, t), 'hello #3');

  await target.stop();
  await target.stop(); // idempotent
  assert.equal(target.running, false);
});

test('child target: a frozen target answers no ping until thawed', async (t) => {
  const target = await hello(t);
  const c = await connect(target.url, t);
  c.ws.ping();
  await once(c.ws, 'pong', DEADLINE, 'pong while running');

  target.freeze();
  assert.equal(target.frozen, true);
  assert.equal(target.running, true, 'a frozen process counts as running');
  c.ws.ping();
  await assert.rejects(once(c.ws, 'pong', QUIET), /timed out after 300 ms waiting for 'pong'/);

  const pong = once(c.ws, 'pong', DEADLINE, 'pong after thaw');
  target.thaw();
  assert.equal(target.frozen, false);
  await pong;
  await echo(c, 'thawed');
});

test('child target: stop() kills a frozen target', async (t) => {
  const target = await hello(t);
  target.freeze();
  await target.stop();
  assert.equal(target.running, false);
  assert.equal(target.frozen, false);
});

test('child target: IPC both ways, exit events, kill(SIGTERM)', async (t) => {
  const target = await hello(t);
  const exits: (string | null)[] = [];
  target.on('exit', (_code, signal) => exits.push(signal));
  const reply = once<{ type: string; payload: unknown; pid: number }>(
    target,
    'message',
    DEADLINE,
    'IPC echo',
  );
  target.send({ type: 'echo', payload: { n: 42 } });
  assert.deepEqual(await reply, { type: 'echo', payload: { n: 42 }, pid: target.pid });

  await target.kill('SIGTERM');
  assert.deepEqual(exits, ['SIGTERM']);
  assert.throws(() => target.send({ type: 'echo' }), /not running/);
  assert.throws(() => target.freeze(), /not running/);
  await target.kill(); // not running: resolves at once
});

test('child target: slow start on a reserved port, and with startDelayMs', async (t) => {
  const port = await reservePort();
  const early = client(`ws://127.0.0.1:${port}`, t);
  await waitClosed(early, 'connecting before the target exists fails');
  assert.equal(early.closeCode, 1006);

  const target = await hello(t, { port });
  assert.equal(target.port, port);
  await echo(await connect(target.url, t), 'reserved');

  const delayed = await hello(t, { startDelayMs: 200 });
  assert.ok(delayed.port > 0, 'the port is fixed before the process starts');
  assert.equal(delayed.running, false);
  assert.equal(delayed.starts, 0);
  await delayed.ready;
  assert.equal(delayed.running, true);
  assert.equal(delayed.starts, 1);
  await echo(await connect(delayed.url, t), 'delayed');

  const cancelled = await hello(t, { startDelayMs: 60_000 });
  await cancelled.stop();
  await assert.rejects(cancelled.ready, /delayed start cancelled/);
  assert.equal(cancelled.starts, 0);
});

test('child target: PORT in opts.env is overridden by the protocol', async (t) => {
  const target = await hello(t, { env: { PORT: '1' } });
  assert.ok(target.port > 1024);
  await echo(await connect(target.url, t), 'env');
});

test('child target: failed starts reject with a clear error', async (t) => {
  await assert.rejects(
    hello(t, { env: { HELLO_SILENT: '1' }, readyTimeout: 500 }),
    /was not listening within 500 ms \(killed\)/,
  );
  await assert.rejects(
    hello(t, { env: { HELLO_EXIT: '3' } }),
    /exited before it was listening \(code 3, signal null\)/,
  );
});

test('fault proxy: forwards, black-holes, passes again, resets', async (t) => {
  const target = await hello(t);
  const proxy = await startFaultProxy(target.port);
  t.after(() => proxy.close());
  assert.equal(proxy.url, `ws://127.0.0.1:${proxy.port}`);

  const a = await connect(proxy.url, t);
  await echo(a, 'through the proxy');
  assert.equal(proxy.connections, 1);

  proxy.blackhole();
  a.ws.send('into the void');
  await assert.rejects(
    waitFor(() => a.messages.length > 1, { timeout: QUIET, message: 'echo through a black hole' }),
    /echo through a black hole \(not true after \d+ ms, timeout 300 ms\)/,
  );
  assert.equal(a.ws.readyState, WebSocket.OPEN, 'a black-holed connection stays open');

  const b = client(proxy.url, t);
  await assert.rejects(once(b.ws, 'open', QUIET), /timed out/);
  assert.equal(b.ws.readyState, WebSocket.CONNECTING, 'the handshake is black-holed');
  await waitFor(() => proxy.connections === 2, { timeout: DEADLINE, message: 'b accepted' });

  proxy.pass();
  const c = await connect(proxy.url, t);
  await echo(c, 'passing again');
  assert.equal(a.messages.length, 1, 'a stays dead after pass()');
  assert.equal(proxy.connections, 3);

  proxy.reset();
  await waitClosed(a, 'a sees the reset');
  await waitClosed(b, 'b sees the reset');
  await waitClosed(c, 'c sees the reset');
  assert.equal(a.closeCode, 1006);
  assert.equal(c.closeCode, 1006);
  await waitFor(() => proxy.connections === 0, { timeout: DEADLINE, message: 'all closed' });

  const d = await connect(proxy.url, t);
  await echo(d, 'after the reset');
  d.ws.close();
  await waitClosed(d, 'clean close through the proxy');
  assert.equal(d.closeCode, 1005);
  await waitFor(() => proxy.connections === 0, { timeout: DEADLINE, message: 'd released' });

  await proxy.close();
  await proxy.close(); // idempotent
});

test('fault proxy: the target dying closes the client side, unless black-holed', async (t) => {
  const target = await hello(t);
  const proxy = await startFaultProxy(target.port);
  t.after(() => proxy.close());
  const c = await connect(proxy.url, t);
  await echo(c, 'alive');
  await target.kill();
  await waitClosed(c, 'client sees the target die through the proxy');
  assert.equal(c.closeCode, 1006);

  const refused = client(proxy.url, t);
  await waitClosed(refused, 'a connection to a dead target is dropped');

  // Black-holed, the target's death does not reach the client: the network is "dead".
  await target.restart();
  const held = await connect(proxy.url, t);
  await echo(held, 'alive again');
  proxy.blackhole();
  await target.kill();
  await assert.rejects(
    waitFor(() => held.ws.readyState !== WebSocket.OPEN, {
      timeout: QUIET,
      message: 'black-holed client closed',
    }),
    /black-holed client closed/,
  );
  assert.equal(proxy.connections, 1);
});

test('fault proxy: delay adds latency both ways and never reorders', async (t) => {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await once(wss, 'listening', DEADLINE);
  t.after(() => {
    for (const ws of wss.clients) ws.terminate(); // close() alone waits for them
    return new Promise<void>((resolve) => wss.close(() => resolve()));
  });
  const atServer: string[] = [];
  wss.on('connection', (ws) =>
    ws.on('message', (data) => {
      atServer.push(String(data));
      ws.send(String(data));
    }),
  );
  const address = wss.address();
  assert.ok(address !== null && typeof address === 'object');
  const proxy = await startFaultProxy(address.port);
  t.after(() => proxy.close());
  const c = await connect(proxy.url, t);

  proxy.delay(150);
  const started = performance.now();
  await echo(c, 'slow');
  const rtt = performance.now() - started;
  assert.ok(rtt >= 2 * 150 - 5, `round trip took ${rtt.toFixed(0)} ms, expected >= 295`);

  // Echoes of 1..10 wait in the proxy for 1 s; 11..20 are sent with no delay meanwhile and
  // must queue behind them instead of overtaking.
  c.messages.length = 0;
  atServer.length = 0;
  proxy.delay(1000);
  for (let i = 1; i <= 10; i++) c.ws.send(String(i));
  await waitFor(() => atServer.length === 10, { timeout: DEADLINE, message: '1..10 at server' });
  proxy.delay(0);
  for (let i = 11; i <= 20; i++) c.ws.send(String(i));
  await waitFor(() => c.messages.length === 20, { timeout: DEADLINE, message: '20 echoes' });
  const report = checkSequence(c.messages.map(Number), { from: 1, to: 20 });
  assert.deepEqual(
    [report.lost, report.duplicates, report.outOfOrder],
    [0, 0, 0],
    formatReport('delayed echoes', report),
  );
});

test('waitFor and once are bounded and say what they waited for', async () => {
  let n = 0;
  await waitFor(() => ++n >= 3, { timeout: DEADLINE, interval: 1, message: 'three polls' });
  assert.equal(n, 3);
  await waitFor(async () => true, { timeout: DEADLINE, message: 'async predicate' });
  await assert.rejects(
    waitFor(() => false, { timeout: 50, message: 'never true' }),
    /^Error: never true \(not true after \d+ ms, timeout 50 ms\)$/,
  );
  await assert.rejects(
    waitFor(() => new Promise<boolean>(() => {}), { timeout: 50, message: 'hung predicate' }),
    /hung predicate/,
  );

  const { EventEmitter } = await import('node:events');
  const emitter = new EventEmitter();
  const got = once<number>(emitter, 'tick', DEADLINE);
  emitter.emit('tick', 7, 'ignored');
  assert.equal(await got, 7);
  await assert.rejects(once(emitter, 'tick', 20, 'tick'), /^Error: tick: timed out after 20 ms/);
  const failing = once(emitter, 'tick', DEADLINE);
  emitter.emit('error', new Error('boom'));
  await assert.rejects(failing, /boom/);
  assert.equal(emitter.listenerCount('tick') + emitter.listenerCount('error'), 0);
});
