/**
 * The scale-out test infrastructure itself (issue 8), before any subgate runs behind it: a
 * private Redis that can be SIGKILLed and restarted on the same port, and nginx running
 * `examples/scale-out/nginx.conf` in front of two WebSocket backends — WebSockets pass through,
 * an idle one is not closed, and once one backend is down new connections land on the other.
 * Each part is skipped, saying so, only when its binary (`redis-server`, `nginx`) is not
 * installed.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IncomingHttpHeaders } from 'node:http';
import { WebSocket, WebSocketServer } from 'ws';
import { findNginx, startNginx } from '../helpers/nginx.js';
import { findRedisServer, pingRedis, startRedis } from '../helpers/redis-server.js';
import { once, waitFor } from '../helpers/wait.js';

const REDIS_SKIP =
  findRedisServer() === undefined
    ? 'redis-server is not installed: run .ci/install-packages.sh redis-server (Debian: apt-get install redis-server)'
    : false;
const NGINX_SKIP =
  findNginx() === undefined
    ? 'nginx is not installed: run .ci/install-packages.sh nginx (Debian: apt-get install nginx)'
    : false;

/** Generous: the machines running this are 2-core and loaded. */
const DEADLINE = 10_000;
/** How long a WebSocket through nginx stays idle, well past any short proxy timeout. */
const IDLE_MS = 2_000;
/** Consecutive new connections that must all land on the surviving backend. */
const FAILOVER_CONNECTIONS = 6;

test(
  'redis: answers PING, refuses connections once SIGKILLed, answers again after a restart on the same port',
  { skip: REDIS_SKIP, timeout: 60_000 },
  async (t) => {
    const redis = await startRedis();
    t.after(() => redis.stop());
    assert.equal(redis.url, `redis://127.0.0.1:${redis.port}`);
    assert.equal(await pingRedis(redis.port), '+PONG', redis.logTail());

    await redis.kill();
    assert.equal(redis.running, false);
    await assert.rejects(pingRedis(redis.port), { code: 'ECONNREFUSED' });

    await redis.restart();
    assert.equal(redis.running, true);
    assert.equal(await pingRedis(redis.port), '+PONG', redis.logTail());

    await redis.stop();
    await redis.stop(); // idempotent
    await assert.rejects(pingRedis(redis.port), { code: 'ECONNREFUSED' });
  },
);

/** An in-process WebSocket backend that answers each message with `<name>:<message>`. */
interface EchoBackend {
  readonly port: number;
  /** Headers of the latest upgrade request it accepted. */
  readonly lastHeaders: IncomingHttpHeaders | undefined;
  /** Terminates its clients and closes its listener; resolves once the port is closed. */
  close(): Promise<void>;
}

async function echoBackend(name: string, t: TestContext): Promise<EchoBackend> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  let lastHeaders: IncomingHttpHeaders | undefined;
  wss.on('connection', (ws, request) => {
    lastHeaders = request.headers;
    ws.on('message', (data) => ws.send(`${name}:${String(data)}`));
  });
  await once(wss, 'listening', DEADLINE, `backend ${name} listening`);
  const address = wss.address();
  assert.ok(typeof address === 'object' && address !== null);
  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= new Promise<void>((resolve) => {
      for (const client of wss.clients) client.terminate();
      wss.close(() => resolve());
    });
    return closed;
  };
  t.after(close);
  return {
    port: address.port,
    get lastHeaders() {
      return lastHeaders;
    },
    close,
  };
}

/** A client connected to `url` (bounded), terminated after the test. */
async function connect(url: string, t: TestContext): Promise<WebSocket> {
  const ws = new WebSocket(url);
  t.after(() => ws.terminate());
  await once(ws, 'open', DEADLINE, `connect to ${url}`);
  return ws;
}

/** Sends `text` and resolves with the next message (bounded). */
async function roundTrip(ws: WebSocket, text: string): Promise<string> {
  const reply = once<Buffer>(ws, 'message', DEADLINE, `reply to ${text}`);
  ws.send(text);
  return String(await reply);
}

/** Whether 127.0.0.1:`port` accepts a TCP connection. */
function accepts(port: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => done(false), 1000);
    const done = (open: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(open);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

test(
  'nginx (examples/scale-out/nginx.conf) in front of two WebSocket backends',
  { skip: NGINX_SKIP, timeout: 60_000 },
  async (t) => {
    const a = await echoBackend('A', t);
    const b = await echoBackend('B', t);
    const nginx = await startNginx({ backends: [a.port, b.port] });
    t.after(() => nginx.stop());
    assert.equal(nginx.url, `ws://127.0.0.1:${nginx.port}`);
    assert.match(nginx.config, new RegExp(`server 127\\.0\\.0\\.1:${a.port} max_fails=0`));
    assert.match(nginx.config, new RegExp(`server 127\\.0\\.0\\.1:${b.port} max_fails=0`));

    await t.test('a WebSocket passes through, with X-Forwarded-For', async (t) => {
      const ws = await connect(`${nginx.url}/some/path?x=1`, t);
      assert.match(await roundTrip(ws, 'hello'), /^[AB]:hello$/, nginx.logTail());
      const headers = a.lastHeaders ?? b.lastHeaders;
      assert.equal(headers?.['x-forwarded-for'], '127.0.0.1');
      assert.equal(headers?.['upgrade'], 'websocket');
    });

    await t.test(`a WebSocket idle for ${IDLE_MS} ms is not closed`, async (t) => {
      const ws = await connect(nginx.url, t);
      let closedWith: number | undefined;
      ws.on('close', (code) => (closedWith = code));
      await sleep(IDLE_MS); // the idle period itself: nothing is sent either way
      assert.equal(closedWith, undefined, 'closed while idle');
      assert.equal(ws.readyState, WebSocket.OPEN);
      assert.match(await roundTrip(ws, 'still there'), /^[AB]:still there$/);
    });

    await t.test('with backend A down, new connections land on B', async (t) => {
      await a.close();
      await waitFor(async () => !(await accepts(a.port)), {
        timeout: DEADLINE,
        interval: 50,
        message: `backend A's port ${a.port} closed`,
      });
      for (let i = 0; i < FAILOVER_CONNECTIONS; i++) {
        const ws = await connect(nginx.url, t);
        assert.equal(await roundTrip(ws, `probe ${i}`), `B:probe ${i}`, nginx.logTail());
        ws.terminate();
      }
    });
  },
);
