/**
 * The gateway end to end, in process: real `ws` targets and clients on 127.0.0.1:0, reconnects
 * observed through `diagnostics_channel`, assertions on the data delivered.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { test } from 'node:test';
import { WebSocketServer } from 'ws';
import { MAX_REASON_BYTES, type Hook } from '../../src/index.js';
import {
  closedWith,
  DEADLINE,
  FAST,
  harness,
  httpGet,
  pause,
  probeHook,
  QUIET,
  socketClosed,
  upgradeStatus,
  type Client,
  type Diagnostics,
  type TargetSocket,
} from '../fixtures/gw-harness.js';
import { waitFor } from '../helpers/wait.js';

/** A binary payload that is not valid UTF-8, numbered. */
const binaryFrame = (n: number): Buffer => {
  const b = Buffer.alloc(6);
  b[0] = 0xff;
  b[1] = 0xfe;
  b.writeUInt32BE(n, 2);
  return b;
};

/** Fails the test on any reconnect it did not expect (the "disconnect guard"). */
function assertSingleConnection(diag: Diagnostics, sessionId: string): void {
  const connecting = diag.of(sessionId).filter((e) => e.state === 'connecting');
  assert.equal(connecting.length, 1, 'exactly one upstream connection attempt');
  assert.equal(
    diag.of(sessionId).some((e) => e.state === 'waiting'),
    false,
    'no reconnect',
  );
}

test('frames flow both ways in order, text and binary preserved', async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  const N = 500;
  const target = await h.target({
    onSocket(s) {
      for (let i = 0; i < N; i++) {
        if (i % 2 === 0) s.ws.send(`up ${i}`);
        else s.ws.send(binaryFrame(i));
      }
    },
  });
  const probe = probeHook();
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [probe.hook] });
  const client = await h.connect(`${gateway.url}/?tag=both-ways`);
  for (let i = 0; i < N; i++) {
    if (i % 2 === 0) client.ws.send(`down ${i}`);
    else client.ws.send(binaryFrame(i));
  }
  const s = await target.socket(1);
  await waitFor(() => s.frames.length >= N && client.frames.length >= N, {
    timeout: DEADLINE,
    message: `${N} frames each way (target ${s.frames.length}, client ${client.frames.length})`,
  });
  for (const [side, frames, prefix] of [
    ['target', s.frames, 'down'],
    ['client', client.frames, 'up'],
  ] as const) {
    assert.equal(frames.length, N, `${side} got each frame once`);
    frames.forEach((f, i) => {
      if (i % 2 === 0) {
        assert.equal(f.binary, false, `${side} frame ${i} is text`);
        assert.equal(f.text, `${prefix} ${i}`, `${side} frame ${i} in order`);
      } else {
        assert.equal(f.binary, true, `${side} frame ${i} is binary`);
        assert.deepEqual(f.data, binaryFrame(i), `${side} frame ${i} in order, bytes intact`);
      }
    });
  }
  const session = await probe.session('both-ways');
  assertSingleConnection(diag, session.id);
});

test('subprotocol: the first offer passes through when no hook declares protocols', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0 });
  const client = await h.connect(gateway.url, ['p1', 'p2']);
  assert.equal(client.ws.protocol, 'p1');
  const s = await target.socket(1);
  assert.deepEqual(target.upgrades[0]?.protocols, ['p1'], 'the target is asked for p1 only');
  assert.equal(s.protocol, 'p1');

  const bare = await h.connect(gateway.url);
  assert.equal(bare.ws.protocol, '');
  await target.socket(2);
  assert.deepEqual(target.upgrades[1]?.protocols, [], 'no protocol asked of the target');
});

test('subprotocol: a hook declaring protocols picks the one the client offers', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const hook: Hook = { name: 'proto', protocols: ['a', 'b'], open: () => ({}) };
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [hook] });
  const client = await h.connect(gateway.url, ['x', 'b']);
  assert.equal(client.ws.protocol, 'b');
  const s = await target.socket(1);
  assert.deepEqual(target.upgrades[0]?.protocols, ['b']);
  assert.equal(s.protocol, 'b');
  client.ws.send('hello');
  await waitFor(() => s.frames.length === 1, { timeout: DEADLINE, message: 'frame over b' });

  const wrong = h.client(gateway.url, ['x', 'y']);
  await waitFor(() => wrong.refusedWith !== undefined, {
    timeout: DEADLINE,
    message: 'handshake of a client offering none of a, b to be refused',
  });
  assert.equal(wrong.refusedWith, 400, 'refused with 400 Bad Request');
  assert.notEqual(wrong.ws.protocol, 'x');
});

test(
  'subprotocol: a client offering none of the hook protocols is refused before any upstream attempt',
  {},
  async (t) => {
    const h = harness(t);
    const target = await h.target();
    const hook: Hook = { name: 'proto', protocols: ['a', 'b'], open: () => ({}) };
    const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [hook] });
    const wrong = await upgradeStatus(gateway.url, { 'sec-websocket-protocol': 'x, y' });
    const none = await upgradeStatus(gateway.url);
    // Let a wrongly started session reach the target, if one was started.
    await pause(QUIET);
    assert.notEqual(wrong.status, 101, 'offering x, y is refused');
    assert.notEqual(none.status, 101, 'offering nothing is refused (hooks.ts: "must offer one")');
    assert.equal(target.upgrades.length, 0, 'the target never hears of these clients');
  },
);

test('query string and selected headers are forwarded on every attempt', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const gateway = await h.gateway({ ...FAST, target: `${target.url}/graphql?fixed=1`, port: 0 });
  const client = await h.connect(`${gateway.url}/any/path?a=1&b=two`, [], {
    headers: { authorization: 'Bearer abc', cookie: 'sid=42', 'x-secret': 'hush' },
  });
  const first = await target.socket(1);
  first.ws.terminate();
  const second = await target.socket(2);
  assert.equal(target.upgrades.length, 2);
  for (const [i, upgrade] of target.upgrades.entries()) {
    assert.equal(upgrade.url, '/graphql?fixed=1&a=1&b=two', `attempt ${i + 1}: target query kept`);
    assert.equal(upgrade.headers.authorization, 'Bearer abc', `attempt ${i + 1}: authorization`);
    assert.equal(upgrade.headers.cookie, 'sid=42', `attempt ${i + 1}: cookie`);
    assert.equal(upgrade.headers['x-secret'], undefined, `attempt ${i + 1}: x-secret not sent`);
  }
  client.ws.send('after reconnect');
  await waitFor(() => second.frames.length === 1, { timeout: DEADLINE, message: 'frame' });
});

test('the query string is appended byte for byte', {}, async (t) => {
  const h = harness(t);
  const target = await h.target();
  const gateway = await h.gateway({ ...FAST, target: `${target.url}/t?own=a%20b`, port: 0 });
  await h.connect(`${gateway.url}/?sig=abc%2Fdef&name=x%20y&flag`);
  await target.socket(1);
  assert.equal(target.upgrades[0]?.url, '/t?own=a%20b&sig=abc%2Fdef&name=x%20y&flag');
});

test('forwardHeaders replaces the list of forwarded headers', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const gateway = await h.gateway({
    ...FAST,
    target: target.url,
    port: 0,
    forwardHeaders: ['X-Secret'],
  });
  await h.connect(`${gateway.url}/?q=1`, [], {
    headers: { authorization: 'Bearer abc', cookie: 'sid=42', 'x-secret': 'hush' },
  });
  (await target.socket(1)).ws.terminate();
  await target.socket(2);
  for (const upgrade of target.upgrades) {
    assert.equal(upgrade.url, '/?q=1');
    assert.equal(upgrade.headers['x-secret'], 'hush');
    assert.equal(upgrade.headers.authorization, undefined);
    assert.equal(upgrade.headers.cookie, undefined);
  }
});

test('path option: other paths get 404, plain HTTP gets 426', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, path: '/ws' });
  assert.equal((await upgradeStatus(`${gateway.url}/other`)).status, 404);
  assert.equal((await upgradeStatus(`${gateway.url}/`)).status, 404);
  assert.equal(await httpGet(`${gateway.url}/ws`), 426);
  assert.equal(await httpGet(`${gateway.url}/anything`), 426);
  const client = await h.connect(`${gateway.url}/ws?x=1`);
  client.ws.send('on path');
  const s = await target.socket(1);
  await waitFor(() => s.frames[0]?.text === 'on path', { timeout: DEADLINE, message: 'frame' });
  assert.equal(target.upgrades.length, 1, 'only the /ws client reached the target');
});

test('attach mode leaves upgrades for other paths to another listener', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const server = createServer();
  const other = new WebSocketServer({ noServer: true });
  other.on('connection', (ws) => ws.send('from other'));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (req.url?.startsWith('/other')) {
      other.handleUpgrade(req, socket, head, (ws) => other.emit('connection', ws, req));
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  h.cleanup(async () => {
    for (const ws of other.clients) ws.terminate();
    other.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const gateway = await h.gateway({ ...FAST, target: target.url, server, path: '/ws' });
  assert.equal(gateway.url, '');

  const mine = await h.connect(`${base}/ws`);
  mine.ws.send('through the gateway');
  const s = await target.socket(1);
  await waitFor(() => s.frames.length === 1, { timeout: DEADLINE, message: 'frame to target' });

  const theirs = await h.connect(`${base}/other`);
  await waitFor(() => theirs.texts().includes('from other'), {
    timeout: DEADLINE,
    message: 'the other listener answered /other',
  });
  assert.equal(target.upgrades.length, 1, 'the gateway did not touch /other');
  assert.equal(gateway.sessionCount, 1);
});

test('noServer mode: gateway.handleUpgrade serves upgrades from your own server', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const gateway = await h.gateway({ ...FAST, target: target.url, noServer: true });
  assert.equal(await gateway.ready, undefined);
  assert.equal(gateway.url, '');
  const server = createServer();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
    gateway.handleUpgrade(req, socket, head),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  h.cleanup(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const client = await h.connect(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  client.ws.send('via handleUpgrade');
  const s = await target.socket(1);
  s.ws.send('back');
  await waitFor(() => s.frames.length === 1 && client.texts().includes('back'), {
    timeout: DEADLINE,
    message: 'frames both ways',
  });
  assert.equal(s.frames[0]?.text, 'via handleUpgrade');
});

test('handshake 403 from the target closes the client with 4403 after one attempt', async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  const target = await h.target({ reject: () => 403 });
  const probe = probeHook();
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [probe.hook] });
  const client = h.client(`${gateway.url}/?tag=forbidden`);
  const closed = await closedWith(client, 'client closed after 403');
  assert.equal(closed.code, 4403);
  assert.match(closed.reason, /403/);
  const session = await probe.session('forbidden');
  const states = diag.of(session.id);
  const last = states.at(-1);
  assert.equal(last?.state, 'closed');
  assert.equal(last?.code, 4403);
  // A retry would come within retryMaxDelay (200 ms); watch for longer than that.
  await pause(QUIET);
  assert.deepEqual(
    diag.of(session.id).map((e) => e.state),
    ['connecting', 'closed'],
    'no later attempt',
  );
  assert.equal(target.upgrades.length, 1, 'the target saw exactly one attempt');
  assert.equal(target.sockets.length, 0);
});

test('handshake 503 twice, then success: the client stays open and frames flow', async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  const target = await h.target({ reject: (n) => (n < 2 ? 503 : undefined) });
  const probe = probeHook();
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [probe.hook] });
  const client = await h.connect(`${gateway.url}/?tag=unavailable`);
  client.ws.send('queued while unavailable');
  const s = await target.socket(1);
  s.ws.send('hello client');
  await waitFor(() => s.frames.length === 1 && client.texts().includes('hello client'), {
    timeout: DEADLINE,
    message: 'frames both ways after two 503s',
  });
  assert.equal(s.frames[0]?.text, 'queued while unavailable');
  assert.equal(client.closed, undefined);
  assert.equal(target.upgrades.length, 3);
  const session = await probe.session('unavailable');
  const waiting = diag.of(session.id).filter((e) => e.state === 'waiting');
  assert.equal(waiting.length, 2);
  for (const w of waiting) assert.match(w.reason ?? '', /503/);
});

/** Opens a session and lets the target close its socket with `code` and `reason`. */
async function targetCloses(
  t: Parameters<typeof harness>[0],
  code: number | undefined,
  reason?: string,
): Promise<Client> {
  const h = harness(t);
  const target = await h.target({
    onSocket: (s) => setImmediate(() => s.ws.close(code, reason)),
  });
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0 });
  const client = h.client(gateway.url);
  await closedWith(client, `client closed after the target closed with ${code}`);
  assert.equal(target.upgrades.length, 1, 'a terminal close is not retried');
  return client;
}

test('terminal close from the target is forwarded with its code and reason', async (t) => {
  await t.test('4409', async (t) => {
    const c = await targetCloses(t, 4409, 'Subscriber for 1 already exists');
    assert.deepEqual(c.closed, { code: 4409, reason: 'Subscriber for 1 already exists' });
  });
  await t.test('1000', async (t) => {
    const c = await targetCloses(t, 1000, 'done');
    assert.deepEqual(c.closed, { code: 1000, reason: 'done' });
  });
});

test('a session ended by a terminal status leaves no timer behind', {}, async (t) => {
  const timeouts = (): number =>
    process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const h = harness(t);
  const target = await h.target({ reject: () => 401 });
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, maxOutage: 4000 });
  const baseline = timeouts();
  const client = h.client(gateway.url);
  assert.equal((await closedWith(client, 'client closed after 401')).code, 4401);
  await waitFor(() => gateway.sessionCount === 0, { timeout: DEADLINE, message: 'no session' });
  await gateway.close();
  await waitFor(() => timeouts() <= baseline, {
    timeout: 2000,
    message: `timers back to ${baseline} after the session ended (the stale one lasts 4 s)`,
  });
});

test('a retryable close from the target (1012) is not forwarded: the link reconnects', async (t) => {
  const h = harness(t);
  const target = await h.target({
    onSocket: (s) => {
      if (s.index === 1) setImmediate(() => s.ws.close(1012, 'restarting'));
    },
  });
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0 });
  const client = await h.connect(gateway.url);
  const second = await target.socket(2);
  client.ws.send('still here');
  await waitFor(() => second.frames[0]?.text === 'still here', {
    timeout: DEADLINE,
    message: 'frame on the new upstream socket',
  });
  assert.equal(client.closed, undefined);
});

test('a close reason subgate builds is trimmed to 123 bytes of valid UTF-8', async (t) => {
  const h = harness(t);
  const longReason = 'é'.repeat(61); // 122 bytes: the most a target can send
  const target = await h.target({
    onSocket: (s) => setImmediate(() => s.ws.close(1011, longReason)),
  });
  // maxRetries 0: the retryable 1011 gives up at once, quoting the target's reason.
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, maxRetries: 0 });
  const client = h.client(gateway.url);
  const closed = await closedWith(client, 'client closed after giving up');
  assert.equal(client.error, undefined, 'the reason was valid UTF-8 (ws would fail with 1007)');
  assert.equal(closed.code, 1013);
  assert.match(closed.reason, /^gave up after 0 reconnect attempts \(maxRetries\); last: é+$/);
  assert.ok(Buffer.byteLength(closed.reason) <= MAX_REASON_BYTES, 'at most 123 bytes');
  assert.ok(Buffer.byteLength(closed.reason) >= MAX_REASON_BYTES - 1, 'trimmed, not dropped');
  assert.ok(!closed.reason.includes('\ufffd'), 'no character split');
});

test('give up after maxRetries: 1013, a reason naming maxRetries, exactly 3 attempts', async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  const target = await h.target();
  const probe = probeHook();
  const gateway = await h.gateway({
    ...FAST,
    target: target.url,
    port: 0,
    hooks: [probe.hook],
    maxRetries: 2,
  });
  const client = await h.connect(`${gateway.url}/?tag=retries`);
  const session = await probe.session('retries');
  await diag.live(session.id);
  await target.stop();
  const closed = await closedWith(client, 'client closed after maxRetries');
  assert.equal(closed.code, 1013);
  assert.match(closed.reason, /maxRetries/);
  assert.ok(Buffer.byteLength(closed.reason) <= MAX_REASON_BYTES);
  const states = diag.of(session.id);
  assert.equal(states.filter((e) => e.state === 'connecting').length, 3, 'first + 2 retries');
  assert.equal(states.at(-1)?.state, 'closed');
  assert.equal(states.at(-1)?.code, 1013);
});

test('give up after maxOutage: 1013 and a reason naming maxOutage, in time', async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  const target = await h.target();
  const probe = probeHook();
  const gateway = await h.gateway({
    ...FAST,
    target: target.url,
    port: 0,
    hooks: [probe.hook],
    maxOutage: 500,
  });
  const client = await h.connect(`${gateway.url}/?tag=outage`);
  const session = await probe.session('outage');
  await diag.live(session.id);
  const lostAt = performance.now();
  await target.stop();
  const closed = await closedWith(client, 'client closed after maxOutage');
  const elapsed = performance.now() - lostAt;
  assert.equal(closed.code, 1013);
  assert.match(closed.reason, /maxOutage/);
  assert.ok(Buffer.byteLength(closed.reason) <= MAX_REASON_BYTES);
  assert.ok(elapsed >= 450, `not before maxOutage (${Math.round(elapsed)} ms)`);
  assert.ok(elapsed <= 500 + 3000, `soon after maxOutage (${Math.round(elapsed)} ms)`);
  const attempts = diag.of(session.id).filter((e) => e.state === 'connecting').length;
  assert.ok(attempts >= 3, `kept retrying during the outage (${attempts} attempts)`);
});

test('heartbeat: a target that stops answering pings is declared dead in time', async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  let answering = true;
  let pongs = 0;
  let lastPongAt = 0;
  const target = await h.target({
    autoPong: false,
    onSocket(s) {
      s.ws.on('ping', (payload) => {
        if (!answering || s.index > 1) return;
        s.ws.pong(payload);
        pongs++;
        lastPongAt = performance.now();
      });
    },
  });
  const probe = probeHook();
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [probe.hook] });
  await h.connect(`${gateway.url}/?tag=heartbeat`);
  const session = await probe.session('heartbeat');
  const first = await target.socket(1);
  await waitFor(() => pongs >= 3, { timeout: DEADLINE, message: 'three answered heartbeats' });
  assert.equal(
    diag.of(session.id).some((e) => e.state === 'waiting'),
    false,
    'a live target is not declared dead',
  );
  answering = false;
  const from = diag.of(session.id).length;
  const waiting = await diag.next(session.id, (e) => e.state === 'waiting', 'declared dead', from);
  const bound = FAST.pingInterval + FAST.pongTimeout + 400;
  const took = waiting.at - lastPongAt;
  t.diagnostic(`declared dead ${Math.round(took)} ms after the last pong`);
  assert.ok(took <= bound, `dead ${Math.round(took)} ms after the last pong (bound ${bound})`);
  assert.match(waiting.reason ?? '', /pong/);
  await diag.next(session.id, (e) => e.state === 'connecting', 'reconnecting', from);
  const closed = await socketClosed(first, 'the dead socket is closed at the target');
  assert.equal(closed.code, 1006, 'terminated, not closed politely');
  await target.socket(2);
});

test('a client leaving closes the upstream with its code', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0 });
  const a = await h.connect(gateway.url);
  const sa = await target.socket(1);
  const b = await h.connect(gateway.url);
  const sb = await target.socket(2);
  assert.equal(gateway.sessionCount, 2);
  a.ws.close(4000, 'bye');
  assert.deepEqual(await socketClosed(sa, 'upstream of a'), { code: 4000, reason: 'bye' });
  b.ws.close();
  const closedB = await socketClosed(sb, 'upstream of b');
  assert.equal(closedB.code, 1000, 'no code from the client → 1000');
  await waitFor(() => gateway.sessionCount === 0, { timeout: DEADLINE, message: 'no session' });
});

test('gateway.close() closes clients with 1001 and resolves', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0 });
  const a = await h.connect(gateway.url);
  const sa = await target.socket(1);
  // A second client whose upstream is down: its session is waiting to reconnect.
  const down = await h.target();
  await down.stop();
  const gw2 = await h.gateway({ ...FAST, target: down.url, port: 0 });
  const b = await h.connect(gw2.url);
  await Promise.all([gateway.close(), gw2.close()]);
  assert.equal((await closedWith(a, 'a closed')).code, 1001);
  assert.equal((await closedWith(b, 'b closed')).code, 1001);
  assert.equal(gateway.sessionCount, 0);
  assert.equal(gw2.sessionCount, 0);
  await socketClosed(sa, 'upstream closed too');
  assert.equal(sa.closed?.code, 1001);
});

test('upgrades during gateway.close() get 503', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  h.cleanup(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const base = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // A long pongTimeout keeps the close pending while a client ignores the close frame.
  const gateway = await h.gateway({ ...FAST, target: target.url, server, pongTimeout: 1000 });
  const stuck = await h.connect(base);
  await target.socket(1);
  stuck.ws.pause();
  let done = false;
  const closing = gateway.close({ drainTimeout: 5000 }).then(() => (done = true));
  assert.equal((await upgradeStatus(base)).status, 503);
  assert.equal(done, false, 'the upgrade was answered while close() was pending');
  await closing;
  assert.equal(gateway.sessionCount, 0);
  assert.equal((await upgradeStatus(base)).status, 503, 'and after');
});

/** Streams `count` numbered binary frames of `size` bytes from a target socket. */
function stream(s: TargetSocket, count: number, size: number): void {
  for (let i = 0; i < count; i++) {
    const b = Buffer.alloc(size, i & 0xff);
    b.writeUInt32BE(i, 0);
    s.ws.send(b, { binary: true });
  }
}

/** Counts the numbered frames a client receives and checks each is the next one. */
function sequenceCounter(client: Client, size: number): { next: number; errors: string[] } {
  const state = { next: 0, errors: [] as string[] };
  client.ws.removeAllListeners('message');
  client.ws.on('message', (data: Buffer, binary: boolean) => {
    if (!binary || data.length !== size) state.errors.push(`frame ${state.next}: bad shape`);
    const n = data.readUInt32BE(0);
    if (n !== state.next) state.errors.push(`expected ${state.next}, got ${n}`);
    state.next = n + 1;
  });
  return state;
}

const FRAME = 64 * 1024;
const FRAMES = 640; // 40 MiB
const HIGH_WATER = 256 * 1024;

test('backpressure: a slow client stops the gateway reading the target', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const gateway = await h.gateway({
    ...FAST,
    target: target.url,
    port: 0,
    // The heartbeat cannot read pongs while the upstream is paused: see the next test.
    pingInterval: 60_000,
    maxBufferedBytes: HIGH_WATER,
  });
  const client = await h.connect(gateway.url);
  const seq = sequenceCounter(client, FRAME);
  const s = await target.socket(1);
  client.ws.pause();
  stream(s, FRAMES, FRAME);
  const total = FRAMES * FRAME;
  // Wait for the target's send buffer to settle: the gateway has stopped reading.
  let last = -1;
  let stableSince = performance.now();
  await waitFor(
    () => {
      const now = performance.now();
      if (s.ws.bufferedAmount !== last) {
        last = s.ws.bufferedAmount;
        stableSince = now;
      }
      return now - stableSince >= 500;
    },
    { timeout: DEADLINE, interval: 25, message: 'target send buffer settles' },
  );
  const stuck = s.ws.bufferedAmount;
  const inFlight = total - stuck - seq.next * FRAME;
  t.diagnostic(`target holds ${stuck} B; ${inFlight} B between target and client`);
  // Between the two sit four loopback socket buffers (measured ~4 MiB in all here) and what the
  // gateway holds (about maxBufferedBytes). Without backpressure the gateway would read (nearly)
  // all 40 MiB into memory and the target would hold ~0.
  assert.ok(inFlight <= 16 * 1024 * 1024, `at most 16 MiB in flight, got ${inFlight} B`);
  assert.ok(stuck >= total - 16 * 1024 * 1024, `the target still holds ${stuck} B`);
  client.ws.resume();
  await waitFor(() => seq.next === FRAMES || seq.errors.length > 0, {
    timeout: DEADLINE * 2,
    message: `all ${FRAMES} frames after resume (got ${seq.next})`,
  });
  assert.deepEqual(seq.errors, []);
  assert.equal(seq.next, FRAMES, 'every frame exactly once, in order');
  assert.equal(s.closed, undefined, 'the upstream stayed up');
});

test('backpressure does not make the heartbeat declare a healthy target dead', {}, async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  const target = await h.target();
  const probe = probeHook();
  const gateway = await h.gateway({
    ...FAST,
    target: target.url,
    port: 0,
    hooks: [probe.hook],
    maxBufferedBytes: HIGH_WATER,
  });
  const client = await h.connect(`${gateway.url}/?tag=slow-client`);
  const session = await probe.session('slow-client');
  const seq = sequenceCounter(client, FRAME);
  const s = await target.socket(1);
  await diag.live(session.id);
  client.ws.pause();
  stream(s, FRAMES, FRAME);
  // The scenario: the client stays slow for well over pingInterval + pongTimeout (400 ms).
  await pause(1500);
  client.ws.resume();
  await waitFor(() => seq.next === FRAMES || seq.errors.length > 0 || s.closed !== undefined, {
    timeout: DEADLINE * 2,
    message: `all ${FRAMES} frames after resume (got ${seq.next})`,
  });
  assert.equal(s.closed, undefined, 'the target socket was not terminated');
  assert.equal(
    diag.of(session.id).some((e) => e.state === 'waiting'),
    false,
    'no reconnect',
  );
  assert.deepEqual(seq.errors, []);
  assert.equal(seq.next, FRAMES);
});
