/**
 * The hook API (src/hooks.ts) end to end, in process: what hooks see, what they may do, in which
 * order, how often, and that their failures stay contained.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { test } from 'node:test';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { pingReplayHook } from '../../hooks/ping-replay.js';
import type {
  Hook,
  HookSession,
  RestoreContext,
  SessionCloseEvent,
  SessionContext,
  UpstreamLostEvent,
} from '../../src/index.js';
import {
  closedWith,
  DEADLINE,
  FAST,
  harness,
  pause,
  QUIET,
  seededRandom,
  socketClosed,
  type TargetSocket,
} from '../fixtures/gw-harness.js';
import { waitFor } from '../helpers/wait.js';

/** A hook built from one function per session. */
const hook = (name: string, open: (ctx: SessionContext) => HookSession): Hook => ({ name, open });

const delay = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    });
  });

/** A pino logger whose lines are kept for assertions. */
function capturedLogger(): { logger: pino.Logger; lines: () => Record<string, unknown>[] } {
  const raw: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void raw.push(line) });
  return { logger, lines: () => raw.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

test('G5: restore frames reach the target before any live frame, on every connection', async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  const target = await h.target();
  let ctxRef: SessionContext | undefined;
  const restorer = hook('restorer', (ctx) => {
    ctxRef = ctx;
    return {
      async restore({ generation, signal }) {
        await delay(60, signal);
        if (signal.aborted) return;
        ctx.sendUpstream(`restore ${generation} 1`);
        await delay(20, signal);
        ctx.sendUpstream(`restore ${generation} 2`);
        ctx.sendUpstream(`restore ${generation} 3`);
      },
    };
  });
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [restorer] });
  const client = await h.connect(gateway.url);
  // Live frames all along: during the first connect, restores, outages and live periods.
  let n = 0;
  const sender = setInterval(() => {
    if (client.ws.readyState === WebSocket.OPEN) client.ws.send(`live ${n++}`);
  }, 5);
  h.cleanup(() => clearInterval(sender));

  const isRestore = (text: string): boolean => text.startsWith('restore ');
  const sockets: TargetSocket[] = [];
  for (let k = 1; k <= 4; k++) {
    const s = await target.socket(k);
    sockets.push(s);
    await waitFor(() => s.frames.filter((f) => !isRestore(f.text)).length >= 5, {
      timeout: DEADLINE,
      message: `live frames on connection ${k}`,
    });
    if (k < 4) s.ws.terminate();
  }
  clearInterval(sender);

  const sessionId = ctxRef!.id;
  const generations = diag
    .of(sessionId)
    .filter((e) => e.state === 'restoring')
    .map((e) => e.generation);
  assert.equal(generations.length, 4, 'one restore per connection');
  let lastLive = -1;
  sockets.forEach((s, i) => {
    const texts = s.frames.map((f) => f.text);
    const gen = generations[i]!;
    assert.deepEqual(
      texts.slice(0, 3),
      [`restore ${gen} 1`, `restore ${gen} 2`, `restore ${gen} 3`],
      `connection ${i + 1}: the restore frames come first`,
    );
    const rest = texts.slice(3);
    assert.equal(rest.filter(isRestore).length, 0, `connection ${i + 1}: one restore only`);
    for (const text of rest) {
      const seq = Number(text.split(' ')[1]);
      assert.ok(seq > lastLive, `live frames in order (${seq} after ${lastLive})`);
      lastLive = seq;
    }
  });
});

test('message hooks transform, drop and pass frames, composed in order', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const seenByB: { side: string; text: string; binary: boolean }[] = [];
  // A drops "drop", upper-cases "up:…" (as text), passes the rest.
  const a = hook('a', () => {
    const fn = (data: Buffer): string | false | void => {
      const text = data.toString();
      if (text === 'drop') return false;
      if (text.startsWith('up:')) return text.toUpperCase();
    };
    return { onClientMessage: fn, onUpstreamMessage: fn };
  });
  // B runs after A and marks what it forwards; it keeps binary frames binary.
  const b = hook('b', () => {
    const fn =
      (side: string) =>
      (data: Buffer, binary: boolean): string | Buffer => {
        seenByB.push({ side, text: data.toString(), binary });
        return binary ? Buffer.concat([data, Buffer.from([0xbb])]) : `${data.toString()}|B`;
      };
    return { onClientMessage: fn('client'), onUpstreamMessage: fn('upstream') };
  });
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [a, b] });
  const client = await h.connect(gateway.url);
  const s = await target.socket(1);
  const bin = Buffer.from([0xff, 0x01]);
  const send = (ws: WebSocket): void => {
    ws.send('up:x');
    ws.send('drop');
    ws.send('plain');
    ws.send(bin);
    ws.send(Buffer.from('up:bin'));
    ws.send('end');
  };
  send(client.ws);
  send(s.ws);
  await waitFor(() => s.frames.length >= 5 && client.frames.length >= 5, {
    timeout: DEADLINE,
    message: 'five frames each way',
  });
  const expected = [
    { text: 'UP:X|B', binary: false },
    { text: 'plain|B', binary: false },
    { hex: 'ff01bb', binary: true },
    { text: 'UP:BIN|B', binary: false },
    { text: 'end|B', binary: false },
  ];
  for (const [side, frames] of [
    ['target', s.frames],
    ['client', client.frames],
  ] as const) {
    const got = frames.map((f) =>
      f.binary ? { hex: f.data.toString('hex'), binary: true } : { text: f.text, binary: false },
    );
    assert.deepEqual(got, expected, `${side} got transformed frames, "drop" dropped`);
  }
  for (const side of ['client', 'upstream']) {
    assert.deepEqual(
      seenByB.filter((e) => e.side === side).map((e) => e.text),
      ['UP:X', 'plain', bin.toString(), 'UP:BIN', 'end'],
      `${side}: B sees A's output and never the dropped frame`,
    );
  }
});

test('each hook method runs exactly once per frame after 5 reconnects', async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  const target = await h.target();
  const calls = {
    open: 0,
    onClientMessage: new Map<string, number>(),
    onClientWait: new Map<string, number>(),
    onUpstreamMessage: new Map<string, number>(),
  };
  const bump = (m: Map<string, number>, key: string): void =>
    void m.set(key, (m.get(key) ?? 0) + 1);
  let sessionId = '';
  const counter = hook('counter', (ctx) => {
    calls.open++;
    sessionId = ctx.id;
    return {
      onClientMessage: (data) => bump(calls.onClientMessage, data.toString()),
      onClientWait: (data) => bump(calls.onClientWait, data.toString()),
      onUpstreamMessage: (data) => bump(calls.onUpstreamMessage, data.toString()),
    };
  });
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [counter] });
  const client = await h.connect(gateway.url);
  const sent: string[] = [];
  const upstreamSent: string[] = [];
  const send = (text: string): void => {
    sent.push(text);
    client.ws.send(text);
  };
  const ROUNDS = 6; // the first connection + 5 reconnects
  const PER_ROUND = 10;
  let mark = 0;
  for (let r = 0; r < ROUNDS; r++) {
    const s = await target.socket(r + 1);
    mark = await diag.live(sessionId, mark);
    for (let i = 0; i < PER_ROUND; i++) {
      send(`c ${r} ${i}`);
      const up = `u ${r} ${i}`;
      upstreamSent.push(up);
      s.ws.send(up);
    }
    const lastOfRound = `c ${r} ${PER_ROUND - 1}`;
    await waitFor(
      () =>
        s.frames.some((f) => f.text === lastOfRound) &&
        client.texts().includes(`u ${r} ${PER_ROUND - 1}`),
      { timeout: DEADLINE, message: `round ${r} delivered` },
    );
    if (r === ROUNDS - 1) break;
    s.ws.terminate();
    await diag.next(sessionId, (e) => e.state === 'waiting', `outage ${r + 1}`, mark);
    // Sent during the outage: held, then sent once (before the next round's frames).
    for (let i = 0; i < 3; i++) send(`w ${r} ${i}`);
  }
  assert.equal(calls.open, 1, 'open runs once per session');
  for (const text of sent) {
    assert.equal(calls.onClientMessage.get(text), 1, `onClientMessage once for "${text}"`);
  }
  assert.equal(calls.onClientMessage.size, sent.length, 'nothing else went through');
  for (const [text, count] of calls.onClientWait) {
    assert.equal(count, 1, `onClientWait once for "${text}"`);
    assert.ok(text.startsWith('w '), 'only frames sent during an outage wait');
  }
  assert.ok(calls.onClientWait.size > 0, 'some frames were sent during an outage');
  for (const text of upstreamSent) {
    assert.equal(calls.onUpstreamMessage.get(text), 1, `onUpstreamMessage once for "${text}"`);
  }
  const received = client.texts();
  assert.deepEqual(received, upstreamSent, 'the client got each upstream frame once, in order');
  const all = target.sockets.flatMap((s) => s.frames.map((f) => f.text));
  for (const text of sent) {
    assert.ok(all.filter((x) => x === text).length <= 1, `"${text}" reached the target once`);
  }
  for (const text of sent.filter((x) => x.startsWith('w '))) {
    assert.ok(all.includes(text), `"${text}", held during the outage, was delivered`);
  }
});

test('onClientWait consumes frames during an outage; the others follow in order', async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  let down = false;
  const target = await h.target({ reject: () => (down ? 503 : undefined) });
  let sessionId = '';
  const pinger = hook('pinger', (ctx) => {
    sessionId = ctx.id;
    return {
      onClientWait(data) {
        if (data.toString() !== 'ping') return;
        ctx.sendClient('pong');
        return false;
      },
    };
  });
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [pinger] });
  const client = await h.connect(gateway.url);
  const first = await target.socket(1);
  const mark = await diag.live(sessionId);
  down = true;
  first.ws.terminate();
  await diag.next(sessionId, (e) => e.state === 'waiting', 'outage', mark);
  for (const text of ['a1', 'ping', 'a2', 'ping', 'a3']) client.ws.send(text);
  await waitFor(() => client.texts().filter((x) => x === 'pong').length === 2, {
    timeout: DEADLINE,
    message: 'two pings answered locally',
  });
  assert.equal(target.sockets.length, 1, 'answered while the target was still down');
  down = false;
  const second = await target.socket(2);
  await waitFor(() => second.frames.length >= 3, { timeout: DEADLINE, message: 'held frames' });
  assert.deepEqual(
    second.frames.map((f) => f.text),
    ['a1', 'a2', 'a3'],
  );
  // Live again: onClientWait is not consulted, the target answers pings itself.
  await diag.live(sessionId, mark);
  client.ws.send('ping');
  await waitFor(() => second.frames.length === 4, { timeout: DEADLINE, message: 'live ping' });
  assert.equal(second.frames[3]?.text, 'ping');
});

test('a throwing message hook is logged and the frame still goes through', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const log = capturedLogger();
  const thrower = hook('thrower', () => ({
    onClientMessage() {
      throw new Error('boom client');
    },
    onUpstreamMessage() {
      throw new Error('boom upstream');
    },
    onClientWait() {
      throw new Error('boom wait');
    },
    onUpstreamOpen() {
      throw new Error('boom open');
    },
  }));
  const tagger = hook('tagger', () => ({
    onClientMessage: (data) => `${data.toString()}|t`,
  }));
  const gateway = await h.gateway({
    ...FAST,
    target: target.url,
    port: 0,
    hooks: [thrower, tagger],
    logger: log.logger,
  });
  const client = await h.connect(gateway.url);
  client.ws.send('early'); // probably while connecting: through onClientWait
  const s = await target.socket(1);
  client.ws.send('x');
  s.ws.send('y');
  await waitFor(() => s.frames.length === 2 && client.texts().includes('y'), {
    timeout: DEADLINE,
    message: 'frames both ways despite the throwing hook',
  });
  assert.deepEqual(
    s.frames.map((f) => f.text),
    ['early|t', 'x|t'],
    'the next hook still ran',
  );
  const errors = log.lines().filter((l) => l.hook === 'thrower');
  const messages = errors.map((l) => String(l.msg));
  assert.ok(
    messages.some((m) => m.includes('onClientMessage')),
    'onClientMessage error logged',
  );
  assert.ok(
    messages.some((m) => m.includes('onUpstreamMessage')),
    'upstream error logged',
  );
  assert.ok(
    messages.some((m) => m.includes('onUpstreamOpen')),
    'lifecycle error logged',
  );
  assert.ok(
    errors.some((l) => JSON.stringify(l.err).includes('boom client')),
    'the error itself is in the log',
  );
});

test('a restore that rejects closes the client with 1011 naming the hook', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  h.cleanup(() => process.off('unhandledRejection', onUnhandled));
  const failing = hook('failing', () => ({
    async restore() {
      await delay(10);
      throw new Error('cannot restore');
    },
  }));
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [failing] });
  const client = await h.connect(gateway.url);
  const closed = await closedWith(client, 'client closed after the failed restore');
  assert.equal(closed.code, 1011);
  assert.match(closed.reason, /failing/);
  assert.match(closed.reason, /cannot restore/);
  const s = await target.socket(1);
  await socketClosed(s, 'the upstream socket is closed too');
  await waitFor(() => gateway.sessionCount === 0, { timeout: DEADLINE, message: 'no session' });
  assert.deepEqual(unhandled, [], 'no unhandled rejection');
  assert.equal(target.upgrades.length, 1, 'no reconnect after a failed restore');
});

test('a hook whose open() throws does not take the gateway down', {}, async (t) => {
  const h = harness(t);
  const target = await h.target();
  const broken = hook('broken', () => {
    throw new Error('cannot open');
  });
  const gateway = await h.gateway({
    ...FAST,
    target: target.url,
    noServer: true,
    hooks: [broken],
  });
  const escaped: unknown[] = [];
  const server = createServer();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    try {
      gateway.handleUpgrade(req, socket, head);
    } catch (error) {
      escaped.push(error); // in standalone mode this would crash the process
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  h.cleanup(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });
  const client = h.client(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  await waitFor(() => client.closed !== undefined || escaped.length > 0, {
    timeout: DEADLINE,
    message: 'the client is closed or the error escaped',
  });
  assert.deepEqual(escaped, [], 'nothing escapes handleUpgrade');
  const closed = await closedWith(client, 'client closed');
  assert.equal(closed.code, 1011);
  assert.match(closed.reason, /broken/);
});

test('RestoreContext.retry() counts a failed attempt and reconnects', async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  const target = await h.target();
  let sessionId = '';
  const restores: number[] = [];
  const picky = hook('picky', (ctx) => {
    sessionId = ctx.id;
    return {
      restore({ generation, retry }: RestoreContext) {
        restores.push(generation);
        if (restores.length === 1) retry('no ack from target');
      },
    };
  });
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [picky] });
  const client = await h.connect(gateway.url);
  const waiting = await diag.next(sessionId, (e) => e.state === 'waiting', 'retry → waiting');
  assert.equal(waiting.reason, 'no ack from target');
  assert.equal(waiting.attempt, 1, 'one failed attempt counted');
  const first = await target.socket(1);
  assert.equal((await socketClosed(first, 'the retried socket is dropped')).code, 1006);
  const second = await target.socket(2);
  client.ws.send('after retry');
  await waitFor(() => second.frames[0]?.text === 'after retry', {
    timeout: DEADLINE,
    message: 'live traffic on the next connection',
  });
  assert.deepEqual(first.frames, [], 'no live frame went to the retried connection');
  assert.equal(restores.length, 2);
});

test('retry() in every restore runs into maxRetries', async (t) => {
  const h = harness(t);
  const target = await h.target();
  let restores = 0;
  const never = hook('never', () => ({
    restore({ retry }) {
      restores++;
      retry('never ready');
    },
  }));
  const gateway = await h.gateway({
    ...FAST,
    target: target.url,
    port: 0,
    hooks: [never],
    maxRetries: 2,
  });
  const client = await h.connect(gateway.url);
  const closed = await closedWith(client, 'client closed after maxRetries');
  assert.equal(closed.code, 1013);
  assert.match(closed.reason, /maxRetries/);
  assert.match(closed.reason, /never ready/);
  assert.equal(restores, 3, 'the first attempt and 2 retries');
  assert.equal(target.sockets.length, 3);
});

test('RestoreContext.signal aborts when the upstream is lost during restore', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const seen: { generation: number; aborted: boolean }[] = [];
  let restoring = false;
  const slow = hook('slow', () => ({
    async restore({ generation, signal }) {
      if (seen.length > 0) return;
      restoring = true;
      await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve()));
      seen.push({ generation, aborted: signal.aborted });
    },
  }));
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [slow] });
  const client = await h.connect(gateway.url);
  const first = await target.socket(1);
  await waitFor(() => restoring, { timeout: DEADLINE, message: 'restore started' });
  client.ws.send('held during restore');
  first.ws.terminate();
  await waitFor(() => seen.length === 1, { timeout: DEADLINE, message: 'signal aborted' });
  assert.equal(seen[0]?.aborted, true);
  const second = await target.socket(2);
  await waitFor(() => second.frames.length === 1, { timeout: DEADLINE, message: 'held frame' });
  assert.equal(second.frames[0]?.text, 'held during restore');
  assert.deepEqual(first.frames, [], 'nothing live went to the socket being restored');
});

test('retry() of an earlier connection does not kill a later one', {}, async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  const target = await h.target();
  let sessionId = '';
  const retries: ((reason: string) => void)[] = [];
  const keeper = hook('keeper', (ctx) => {
    sessionId = ctx.id;
    return {
      restore({ retry }) {
        retries.push(retry);
      },
    };
  });
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [keeper] });
  await h.connect(gateway.url);
  (await target.socket(1)).ws.terminate();
  const second = await target.socket(2);
  await waitFor(() => retries.length === 2, { timeout: DEADLINE, message: 'second restore' });
  const mark = await diag.live(sessionId, await diag.live(sessionId));
  retries[0]!('stale retry from generation 1');
  await pause(QUIET);
  assert.equal(second.closed, undefined, 'the live connection is untouched');
  assert.equal(
    diag
      .of(sessionId)
      .slice(mark)
      .some((e) => e.state === 'waiting'),
    false,
  );
});

test('onUpstreamClose turns a terminal close during restore into a retry', async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  const target = await h.target();
  let sessionId = '';
  let restores = 0;
  let release: (() => void) | undefined;
  const patient = hook('patient', (ctx) => {
    sessionId = ctx.id;
    return {
      restore: ({ signal }) =>
        new Promise<void>((resolve) => {
          restores++;
          // The first restore waits until its socket is gone; later ones until released.
          release = resolve;
          signal.addEventListener('abort', () => resolve());
        }),
      onUpstreamClose: ({ restoring }) => (restoring ? 'retry' : undefined),
    };
  });
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [patient] });
  const client = await h.connect(gateway.url);
  // Closed with 1000 while restoring: retried, and the client never knows.
  await waitFor(() => restores === 1, { timeout: DEADLINE, message: 'first restore' });
  (await target.socket(1)).ws.close(1000, 'not ready yet');
  await waitFor(() => restores === 2, { timeout: DEADLINE, message: 'restore on a second socket' });
  assert.equal(client.closed, undefined, 'the client stayed open');
  release!();
  await diag.live(sessionId);
  // Once live, a terminal close stays terminal.
  (await target.socket(2)).ws.close(1000, 'done');
  const closed = await closedWith(client, 'client closed with the target');
  assert.deepEqual(closed, { code: 1000, reason: 'done' });
});

test('pingPayload rides on the heartbeat ping and the pong reaches onPong', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const pongs: string[] = [];
  let n = 0;
  let ctxRef: SessionContext | undefined;
  const silent = hook('silent', () => ({ pingPayload: () => undefined }));
  const payload = hook('payload', (ctx) => {
    ctxRef = ctx;
    return {
      pingPayload: () => `pp:${++n}`,
      onPong: (data) => void pongs.push(data.toString()),
    };
  });
  const loser = hook('loser', () => ({ pingPayload: () => 'never' }));
  const gateway = await h.gateway({
    ...FAST,
    target: target.url,
    port: 0,
    hooks: [silent, payload, loser],
  });
  await h.connect(gateway.url);
  const s = await target.socket(1);
  await waitFor(() => s.pings.length >= 2 && pongs.length >= 2, {
    timeout: DEADLINE,
    message: 'two heartbeats answered',
  });
  const before = s.pings.length;
  ctxRef!.requestPing();
  await waitFor(() => s.pings.length > before, { timeout: DEADLINE, message: 'requested ping' });
  await waitFor(() => pongs.length >= s.pings.length, { timeout: DEADLINE, message: 'pongs' });
  const pings = s.pings.map((p) => p.toString());
  for (const p of pings) assert.match(p, /^pp:\d+$/, 'the first hook returning a payload wins');
  assert.deepEqual(pongs.slice(0, pings.length), pings, 'each pong echoes its ping, in order');
});

test('lifecycle hooks are called with the documented fields', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const events: { name: string; event: unknown; generation: number }[] = [];
  const lifecycle = hook('lifecycle', (ctx) => {
    const record = (name: string) => (event: unknown) =>
      void events.push({ name, event, generation: ctx.generation });
    return {
      onUpstreamOpen: record('open'),
      onUpstreamLost: record('lost'),
      onClientClose: record('clientClose'),
      onGiveUp: record('giveUp'),
    };
  });
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [lifecycle] });
  const client = await h.connect(gateway.url);
  const first = await target.socket(1);
  await waitFor(() => events.length === 1, { timeout: DEADLINE, message: 'open 1' });
  first.ws.close(1012, 'restarting');
  const second = await target.socket(2);
  await waitFor(() => events.length === 3, { timeout: DEADLINE, message: 'lost 1, open 2' });
  second.ws.terminate();
  await target.socket(3);
  await waitFor(() => events.length === 5, { timeout: DEADLINE, message: 'lost 2, open 3' });
  client.ws.close(4000, 'bye');
  await waitFor(() => events.length === 6, { timeout: DEADLINE, message: 'client close' });

  const [open1, lost1, open2, lost2, open3, clientClose] = events;
  assert.deepEqual(open1?.event, { generation: 1 });
  assert.equal(lost1?.name, 'lost');
  assert.deepEqual(lost1?.event, { generation: 1, code: 1012, reason: 'restarting' });
  const g2 = (open2?.event as { generation: number }).generation;
  assert.equal(open2?.name, 'open');
  assert.ok(g2 > 1);
  assert.equal(open2?.generation, g2, 'ctx.generation matches');
  const l2 = lost2?.event as UpstreamLostEvent;
  assert.equal(lost2?.name, 'lost');
  assert.equal(l2.generation, g2);
  assert.equal(l2.code, 1006, 'a dropped connection is 1006');
  assert.equal(typeof l2.reason, 'string');
  assert.equal(open3?.name, 'open');
  assert.equal(clientClose?.name, 'clientClose');
  assert.deepEqual(clientClose?.event as SessionCloseEvent, { code: 4000, reason: 'bye' });
  assert.equal(
    events.some((e) => e.name === 'giveUp'),
    false,
  );
});

test('onGiveUp is called before the client is closed with 1013', async (t) => {
  const h = harness(t);
  const target = await h.target();
  const events: { name: string; event: unknown }[] = [];
  const farewell = hook('farewell', (ctx) => ({
    onGiveUp(event) {
      events.push({ name: 'giveUp', event });
      ctx.sendClient(`gave up: ${event.reason}`);
    },
    onClientClose: (event) => void events.push({ name: 'clientClose', event }),
  }));
  const gateway = await h.gateway({
    ...FAST,
    target: target.url,
    port: 0,
    hooks: [farewell],
    maxRetries: 1,
  });
  const client = await h.connect(gateway.url);
  await target.socket(1);
  await target.stop();
  const closed = await closedWith(client, 'client closed after giving up');
  assert.equal(closed.code, 1013);
  assert.deepEqual(
    events.map((e) => e.name),
    ['giveUp', 'clientClose'],
  );
  const reason = (events[0]?.event as { reason: string }).reason;
  assert.match(reason, /maxRetries/);
  assert.deepEqual(client.texts(), [`gave up: ${reason}`], 'the last word reached the client');
  assert.equal((events[1]?.event as SessionCloseEvent).code, 1013);
});

test('ctx.pauseClient holds client frames until every key is released', async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  const target = await h.target();
  let ctxRef: SessionContext | undefined;
  const holder = hook('holder', (ctx) => {
    ctxRef = ctx;
    return {};
  });
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [holder] });
  const client = await h.connect(gateway.url);
  const s = await target.socket(1);
  await diag.live(ctxRef!.id);
  client.ws.send('before');
  await waitFor(() => s.frames.length === 1, { timeout: DEADLINE, message: 'first frame' });
  ctxRef!.pauseClient('test:a');
  ctxRef!.pauseClient('test:b');
  for (let i = 0; i < 20; i++) client.ws.send(`held ${i}`);
  await pause(QUIET);
  assert.equal(s.frames.length, 1, 'nothing is read while held');
  ctxRef!.resumeClient('test:a');
  await pause(QUIET);
  assert.equal(s.frames.length, 1, 'still held by the other key');
  ctxRef!.resumeClient('test:b');
  await waitFor(() => s.frames.length === 21, { timeout: DEADLINE, message: 'released frames' });
  assert.deepEqual(
    s.frames.slice(1).map((f) => f.text),
    Array.from({ length: 20 }, (_, i) => `held ${i}`),
  );
});

test('ctx.pauseClient stops client frames reaching the hooks at once', {}, async (t) => {
  const h = harness(t);
  const diag = h.diagnostics();
  const target = await h.target();
  let ctxRef: SessionContext | undefined;
  const seen: string[] = [];
  const gate = hook('gate', (ctx) => {
    ctxRef = ctx;
    return {
      onClientMessage(data) {
        seen.push(data.toString());
        if (seen.length === 10) ctx.pauseClient('gate');
      },
    };
  });
  const gateway = await h.gateway({ ...FAST, target: target.url, port: 0, hooks: [gate] });
  const client = await h.connect(gateway.url);
  const s = await target.socket(1);
  await diag.live(ctxRef!.id);
  for (let i = 0; i < 500; i++) client.ws.send(String(i));
  await waitFor(() => seen.length >= 10, { timeout: DEADLINE, message: 'ten frames' });
  await pause(QUIET);
  const whileHeld = seen.length;
  ctxRef!.resumeClient('gate');
  await waitFor(() => s.frames.length === 500, { timeout: DEADLINE, message: 'all frames' });
  assert.deepEqual(
    s.frames.map((f) => f.text),
    Array.from({ length: 500 }, (_, i) => String(i)),
  );
  assert.equal(whileHeld, 10, `frames that reached the hook while it held the client`);
});

/** What {@link pingReplayRun} observed. */
interface ReplayRun {
  readonly seed: number;
  readonly drops: number;
  /** seq → how many times the target read it. */
  readonly counts: Map<number, number>;
  /** What each target connection read, in order. */
  readonly perSocket: number[][];
  /** Per upstream loss: the highest frame sent and the highest acknowledged until then. */
  readonly windows: { acked: number; highest: number }[];
  readonly duplicates: number;
}

const REPLAY_FRAMES = 2000;
const REPLAY_RING = 100;

/**
 * The client streams 2,000 numbered frames through ping-replay (ring of 100) to a target that
 * terminates its socket after a random number of frames, up to 12 times.
 */
async function pingReplayRun(t: Parameters<typeof harness>[0]): Promise<ReplayRun> {
  const seed = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed} (rerun with SEED=${seed})`);
  const random = seededRandom(seed);
  const h = harness(t);
  const MAX_DROPS = 12;
  let drops = 0;
  const counts = new Map<number, number>();
  const perSocket: number[][] = [];
  const target = await h.target({
    onSocket(s) {
      const seqs: number[] = [];
      perSocket.push(seqs);
      const dropAfter = drops < MAX_DROPS ? 20 + Math.floor(random() * 300) : Infinity;
      let dead = false;
      s.ws.on('message', (data: Buffer) => {
        if (dead) return; // the "process" died: nothing after this point was read
        const seq = Number(data.toString());
        seqs.push(seq);
        counts.set(seq, (counts.get(seq) ?? 0) + 1);
        if (seqs.length >= dropAfter) {
          dead = true;
          drops++;
          s.ws.terminate();
        }
      });
    },
  });
  // Sees what ping-replay sees (it runs first): the highest frame sent and acknowledged.
  const windows: { acked: number; highest: number }[] = [];
  const spy = hook('spy', () => {
    let highest = 0;
    let acked = 0;
    return {
      onClientMessage(data) {
        highest = Math.max(highest, Number(data.toString()));
      },
      onPong(payload) {
        const seq = Number(payload.toString());
        if (Number.isSafeInteger(seq)) acked = Math.max(acked, seq);
      },
      onUpstreamLost: () => void windows.push({ acked, highest }),
    };
  });
  const gateway = await h.gateway({
    ...FAST,
    target: target.url,
    port: 0,
    hooks: [spy, pingReplayHook({ maxMessages: REPLAY_RING })],
  });
  const client = await h.connect(gateway.url);
  for (let seq = 1; seq <= REPLAY_FRAMES; seq++) client.ws.send(String(seq));
  await waitFor(() => counts.size === REPLAY_FRAMES, {
    timeout: DEADLINE * 2,
    message: `all ${REPLAY_FRAMES} frames at the target (has ${counts.size}, seed ${seed})`,
  });
  assert.equal(client.closed, undefined);
  const duplicates = [...counts.values()].reduce((sum, c) => sum + c - 1, 0);
  t.diagnostic(`${drops} drops, ${duplicates} duplicates, windows ${JSON.stringify(windows)}`);
  return { seed, drops, counts, perSocket, windows, duplicates };
}

test('G6 ping-replay: every frame at least once, duplicates only from unacked windows', async (t) => {
  const run = await pingReplayRun(t);
  for (let seq = 1; seq <= REPLAY_FRAMES; seq++) assert.ok(run.counts.has(seq), `frame ${seq}`);
  run.perSocket.forEach((seqs, i) => {
    for (let j = 1; j < seqs.length; j++) {
      assert.equal(seqs[j], seqs[j - 1]! + 1, `connection ${i + 1}: resent then live, in order`);
    }
  });
  assert.equal(run.windows.length, run.drops, 'every drop was one upstream loss');
  for (const [seq, c] of run.counts) {
    if (c < 2) continue;
    assert.ok(
      run.windows.some((w) => seq > w.acked && seq <= w.highest),
      `duplicate ${seq} was sent after the last acknowledged ping of some lost connection`,
    );
  }
  const allowed = run.windows.reduce((sum, w) => sum + w.highest - w.acked, 0);
  assert.ok(run.duplicates <= allowed, `${run.duplicates} duplicates ≤ ${allowed} unacked`);
});

test(
  'ping-replay holds at most maxMessages unacknowledged frames: duplicates ≤ reconnects × ring',
  {},
  async (t) => {
    const run = await pingReplayRun(t);
    assert.ok(
      run.duplicates <= run.drops * REPLAY_RING,
      `${run.duplicates} duplicates ≤ ${run.drops} reconnects × ring of ${REPLAY_RING}`,
    );
    for (const w of run.windows) {
      assert.ok(w.highest - w.acked <= REPLAY_RING, `unacked at a loss: ${w.highest - w.acked}`);
    }
  },
);
