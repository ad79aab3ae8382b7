/**
 * The core under real faults: the target runs as a child process that is SIGKILLed, SIGSTOPped,
 * started late, closed gracefully and closed for good, while a client streams numbered frames
 * through an in-process gateway with ping-replay. Every test checks the data: each frame reached
 * the target (from the target's own synchronous record), hooks ran once per frame, the target
 * never had two live sockets for the session, and the client stayed open where it should.
 */
import assert from 'node:assert/strict';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import WebSocket from 'ws';
import { pingReplayHook } from '../../hooks/ping-replay.js';
import {
  createGateway,
  DiagnosticsChannel,
  type Gateway,
  type GatewayOptions,
  type Hook,
  type UpstreamStateMessage,
} from '../../src/index.js';
import { reservePort, startChildTarget, type ChildTarget } from '../helpers/child-target.js';
import { checkSequence, formatReport } from '../helpers/sequence-checker.js';
import { once, waitFor } from '../helpers/wait.js';

const FIXTURE = new URL('../fixtures/recording-target.js', import.meta.url);
const RING = 200;
const TIMING = {
  pingInterval: 300,
  pongTimeout: 300,
  connectTimeout: 800,
  retryInitialDelay: 50,
  retryMaxDelay: 400,
  maxOutage: 30_000,
} satisfies Partial<GatewayOptions>;

/** Counts how often the hooks saw each client frame. */
function countingHook(calls: Map<string, number>): Hook {
  return {
    name: 'counting',
    open: () => ({
      onClientMessage(data) {
        const key = data.toString();
        calls.set(key, (calls.get(key) ?? 0) + 1);
      },
    }),
  };
}

interface Record {
  /** Frame numbers the target received, in order, duplicates included. */
  frames: number[];
  /** Connection ids in the order they received their first frame, with each frame's connection. */
  frameConns: string[];
  opens: string[];
  /** Connections of the newest target process that are open now. */
  openNow: string[];
}

function readRecord(file: string, client: string): Record {
  const record: Record = { frames: [], frameConns: [], opens: [], openNow: [] };
  const open = new Set<string>();
  let pid = '';
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const [kind, who, conn, value] = line.split(' ');
    if (who !== client || conn === undefined) continue;
    const connPid = conn.split('.')[0]!;
    if (connPid !== pid) {
      // A new target process: the old one's sockets died with it.
      pid = connPid;
      open.clear();
    }
    if (kind === 'open') {
      record.opens.push(conn);
      open.add(conn);
    } else if (kind === 'close') {
      open.delete(conn);
    } else if (kind === 'frame' && value !== undefined) {
      record.frames.push(Number(value));
      record.frameConns.push(conn);
    }
  }
  record.openNow = [...open];
  return record;
}

/** Once a connection has delivered a frame, no earlier connection may deliver one (G3/G4). */
function assertNoOverlap(frameConns: readonly string[]): void {
  const retired = new Set<string>();
  let current: string | undefined;
  for (const conn of frameConns) {
    if (conn === current) continue;
    assert.ok(
      !retired.has(conn),
      `connection ${conn} delivered a frame after a newer one took over`,
    );
    if (current !== undefined) retired.add(current);
    current = conn;
  }
}

interface Harness {
  target: ChildTarget;
  gateway: Gateway;
  recordFile: string;
  calls: Map<string, number>;
  states: UpstreamStateMessage[];
  client: WebSocket;
  /** Set when the client closed; tests that expect it open assert it stayed undefined. */
  clientClose: { code: number; reason: string } | undefined;
  ticks: { conn: string; late: boolean }[];
  sent: number;
}

async function setUp(
  t: TestContext,
  options: {
    gateway?: Partial<GatewayOptions>;
    tickInterval?: number;
    targetStartDelay?: number;
  } = {},
): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'subgate-chaos-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const recordFile = join(dir, 'record.log');
  const env: { [key: string]: string } = { RECORD_FILE: recordFile };
  if (options.tickInterval) env.TICK_INTERVAL = String(options.tickInterval);

  const port = await reservePort();
  const target = await startChildTarget(FIXTURE, {
    port,
    env,
    ...(options.targetStartDelay === undefined ? {} : { startDelayMs: options.targetStartDelay }),
  });
  t.after(() => target.stop());

  const calls = new Map<string, number>();
  const gateway = createGateway({
    target: `ws://127.0.0.1:${port}/`,
    port: 0,
    logLevel: 'silent',
    hooks: [countingHook(calls), pingReplayHook({ maxMessages: RING })],
    ...TIMING,
    ...options.gateway,
  });
  t.after(() => gateway.close({ drainTimeout: 1000 }));
  await gateway.ready;

  const states: UpstreamStateMessage[] = [];
  const onState = (message: unknown): void => {
    states.push(message as UpstreamStateMessage);
  };
  subscribe(DiagnosticsChannel.UpstreamState, onState);
  t.after(() => unsubscribe(DiagnosticsChannel.UpstreamState, onState));

  const client = new WebSocket(`${gateway.url}/?client=c1`);
  t.after(() => client.terminate());
  const harness: Harness = {
    target,
    gateway,
    recordFile,
    calls,
    states,
    client,
    clientClose: undefined,
    ticks: [],
    sent: 0,
  };
  client.on('close', (code, reason) => {
    harness.clientClose = { code, reason: reason.toString() };
  });
  client.on('message', (data) => {
    const [kind, conn, , tag] = data.toString().split(' ');
    if (kind === 'tick' && conn !== undefined) harness.ticks.push({ conn, late: tag === 'late' });
  });
  await once(client, 'open', 10_000);
  return harness;
}

/** Streams frames 1..count, one every `interval` ms, while the client is open. */
function stream(h: Harness, count: number, interval: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setInterval(() => {
      if (h.client.readyState !== WebSocket.OPEN) {
        clearInterval(timer);
        reject(new Error(`client closed after ${h.sent} frames: ${JSON.stringify(h.clientClose)}`));
        return;
      }
      h.client.send(String(++h.sent));
      if (h.sent === count) {
        clearInterval(timer);
        resolve();
      }
    }, interval);
  });
}

/** Waits until the target recorded every frame, then checks the at-least-once guarantees. */
async function assertDelivered(
  h: Harness,
  count: number,
  outages: number,
  label: string,
): Promise<void> {
  await waitFor(() => new Set(readRecord(h.recordFile, 'c1').frames).size >= count, {
    timeout: 20_000,
    message: `${label}: target received all ${count} frames`,
  });
  const record = readRecord(h.recordFile, 'c1');
  const report = checkSequence(record.frames, { from: 1, to: count });
  console.log(
    `${formatReport(label, report)} sent=${h.sent} outages=${outages} connections=${record.opens.length}`,
  );
  assert.equal(report.lost, 0, 'every frame reached the target');
  assert.equal(report.unexpected, 0);
  // ping-replay resends at most the unacknowledged ring on each outage (G6).
  assert.ok(
    report.duplicates <= outages * RING,
    `duplicates ${report.duplicates} > ${outages} × ${RING}`,
  );
  for (let i = 1; i <= count; i++) {
    assert.equal(h.calls.get(String(i)), 1, `hooks ran exactly once for frame ${i}`);
  }
  assertNoOverlap(record.frameConns);
  await waitFor(() => readRecord(h.recordFile, 'c1').openNow.length === 1, {
    timeout: 10_000,
    message: `${label}: the target holds exactly one socket for the session`,
  });
  assert.equal(h.clientClose, undefined, 'the client stayed open');
}

const reconnects = (h: Harness): number => h.states.filter((s) => s.state === 'restoring').length;

test('(a) SIGKILL and restart 3 times while the client streams', async (t) => {
  const h = await setUp(t);
  const count = 600;
  const streaming = stream(h, count, 5);
  for (let kill = 1; kill <= 3; kill++) {
    await waitFor(() => h.sent >= (count * kill) / 4, {
      timeout: 20_000,
      message: `streamed ${kill}/4`,
    });
    const before = reconnects(h);
    await h.target.kill('SIGKILL');
    await h.target.restart({ delayMs: 100 * kill });
    await waitFor(() => reconnects(h) > before, {
      timeout: 10_000,
      message: `reconnected after kill ${kill}`,
    });
  }
  await streaming;
  await assertDelivered(h, count, 3, '(a) sigkill x3');
});

test('(b) SIGSTOP past the heartbeat deadline, then SIGCONT', async (t) => {
  const h = await setUp(t, { tickInterval: 20 });
  const count = 500;
  const streaming = stream(h, count, 5);
  await waitFor(() => h.sent >= 150 && h.ticks.length > 5, {
    timeout: 20_000,
    message: 'streaming',
  });
  const frozenConn = h.ticks.at(-1)!.conn;
  const deadline = TIMING.pingInterval + TIMING.pongTimeout;
  const frozenAt = performance.now();
  h.target.freeze();
  await waitFor(
    () => h.states.some((s) => s.state === 'waiting' && /no pong/.test(s.reason ?? '')),
    {
      timeout: 10_000,
      message: 'freeze detected',
    },
  );
  const detection = performance.now() - frozenAt;
  // Stay frozen long enough for at least one attempt against the frozen process to time out.
  await waitFor(
    () => h.states.some((s) => s.state === 'waiting' && /connect timeout/.test(s.reason ?? '')),
    {
      timeout: 10_000,
      message: 'an attempt against the frozen target timed out',
    },
  );
  h.target.thaw();
  await streaming;
  await assertDelivered(h, count, 1, '(b) sigstop');
  console.log(
    `(b) freeze detected after ${Math.round(detection)} ms (pingInterval + pongTimeout = ${deadline})`,
  );
  // Detection is bounded by pingInterval + pongTimeout; allow scheduling slack on a loaded machine.
  assert.ok(
    detection <= deadline + 700,
    `detected within ${deadline} ms (+ slack), took ${detection}`,
  );
  // G4: nothing the frozen process sent after it woke reached the client through the dead socket.
  await waitFor(() => h.ticks.some((tick) => tick.conn !== frozenConn), {
    timeout: 10_000,
    message: 'ticks resumed',
  });
  const firstNew = h.ticks.findIndex((tick) => tick.conn !== frozenConn);
  assert.ok(
    !h.ticks.some((tick) => tick.conn === frozenConn && tick.late),
    'no late tick from the frozen socket',
  );
  assert.ok(
    !h.ticks.slice(firstNew).some((tick) => tick.conn === frozenConn),
    'no frame from the dead socket later',
  );
});

test('(c) the target starts 2 s after the client connected', async (t) => {
  const h = await setUp(t, { targetStartDelay: 2000 });
  const count = 100;
  await stream(h, count, 2);
  assert.equal(h.target.running, false, 'the frames were sent before the target existed');
  await h.target.ready;
  await assertDelivered(h, count, 0, '(c) slow start');
  const report = checkSequence(readRecord(h.recordFile, 'c1').frames, { from: 1, to: count });
  assert.equal(
    report.duplicates,
    0,
    'nothing was sent twice: the first connection was the only one',
  );
  assert.equal(report.outOfOrder, 0, 'queued frames kept their order');
});

test('(d) the target closes with 1001 and comes back', async (t) => {
  const h = await setUp(t);
  const count = 300;
  const streaming = stream(h, count, 5);
  await waitFor(() => h.sent >= 100, { timeout: 20_000, message: 'streaming' });
  const before = reconnects(h);
  h.target.send({ type: 'close-all', code: 1001, reason: 'deploying' });
  await waitFor(() => h.states.some((s) => s.state === 'waiting' && s.code === 1001), {
    timeout: 10_000,
    message: 'the 1001 close was seen as retryable',
  });
  await h.target.restart({ delayMs: 200 });
  await waitFor(() => reconnects(h) > before, { timeout: 10_000, message: 'reconnected' });
  await streaming;
  await assertDelivered(h, count, 1, '(d) graceful 1001');
});

test('(e) the target closes with 4403: the client gets 4403, no reconnect loop', async (t) => {
  const h = await setUp(t);
  h.client.send('1');
  await waitFor(() => readRecord(h.recordFile, 'c1').frames.length === 1, {
    timeout: 10_000,
    message: 'frame 1',
  });
  h.target.send({ type: 'close-all', code: 4403, reason: 'Forbidden' });
  await waitFor(() => h.clientClose !== undefined, { timeout: 10_000, message: 'client closed' });
  assert.deepEqual(h.clientClose, { code: 4403, reason: 'Forbidden' });
  const mine = h.states.filter((s) => s.sessionId === h.states[0]!.sessionId);
  assert.equal(mine.at(-1)!.state, 'closed', 'the link is closed for good');
  assert.equal(
    mine.filter((s) => s.state === 'connecting').length,
    1,
    'exactly one connection attempt',
  );
  assert.equal(readRecord(h.recordFile, 'c1').opens.length, 1, 'the target saw one connection');
});

test('(f) the target never comes back: 1013 after maxRetries', async (t) => {
  const h = await setUp(t, { gateway: { maxRetries: 3, retryMaxDelay: 100 } });
  await h.target.kill('SIGKILL');
  await waitFor(() => h.clientClose !== undefined, { timeout: 15_000, message: 'client closed' });
  assert.equal(h.clientClose!.code, 1013);
  assert.match(h.clientClose!.reason, /maxRetries/);
  assert.ok(Buffer.byteLength(h.clientClose!.reason) <= 123);
  const attempts = h.states.filter((s) => s.state === 'connecting').length;
  assert.equal(attempts, 1 + 3, 'the first connection and 3 retries');
});

test('(f) the target never comes back: 1013 after maxOutage', async (t) => {
  const h = await setUp(t, { gateway: { maxOutage: 1500 } });
  const lostAt = performance.now();
  await h.target.kill('SIGKILL');
  await waitFor(() => h.clientClose !== undefined, { timeout: 15_000, message: 'client closed' });
  const waited = performance.now() - lostAt;
  assert.equal(h.clientClose!.code, 1013);
  assert.match(h.clientClose!.reason, /maxOutage/);
  assert.ok(
    waited >= 1400,
    `held the client for the whole outage allowance, closed after ${waited} ms`,
  );
});
