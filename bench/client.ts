/**
 * Benchmark clients, forked by the orchestrator (one process per measurement) and driven over
 * IPC with requests: `start` (open the connections of a task; replies once they are set up),
 * then `mark` (a counter and a time stamp, and the first `connection_ack` and stream message
 * seen), `grow`, `status` or `result`, and `stop`.
 *
 * Protocols: `raw` talks to `target-raw` (the mode goes in the query string); `graphql` talks
 * `graphql-transport-ws` to `target-graphql` — the `graphql-ws` library's `createClient` for
 * subscriptions, and hand-written frames (`connection_init`, `ping`, `pong`) where the library
 * offers no handle (echo latency, client→server stream, idle sessions, the session-store
 * streams and idle sessions with subscriptions).
 *
 * @module
 */
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { createClient, type Client } from 'graphql-ws/client';
import { WebSocket, type ClientOptions } from 'ws';
import { nowMs, padTo, percentile, serveRequests, toParent } from './lib/shared.js';

type Protocol = 'raw' | 'graphql';
const GRAPHQL_PROTOCOL = 'graphql-transport-ws';
const SOCKET_OPTIONS: ClientOptions = { perMessageDeflate: false };
const BURST = 256;
const HIGH_WATER = 256 * 1024;

/** `ws` without permessage-deflate, for `graphql-ws`'s `createClient`. */
class PlainWebSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols, SOCKET_OPTIONS);
  }
}

function withQuery(url: string, query: Record<string, string>): string {
  const u = new URL(url);
  for (const [key, value] of Object.entries(query)) u.searchParams.set(key, value);
  return u.toString();
}

function socketOf(ws: WebSocket): Socket {
  return (ws as unknown as { _socket: Socket })._socket;
}

/** Resolves when `promise` does, rejects after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const sockets = new Set<WebSocket>();
const graphqlClients = new Set<Client>();
let received = 0;

/** The first `connection_ack` a graphql connection got, as text (to check a path's set-up). */
let firstAck: string | undefined;

/**
 * Opens one connection and resolves once it is set up: the target's first message (raw), or
 * `connection_ack` (graphql). `onMessage` then sees every later message. `initPayload`: the
 * payload of the graphql `connection_init` (none by default).
 */
function open(
  url: string,
  protocol: Protocol,
  onMessage?: (data: Buffer) => void,
  initPayload?: Record<string, unknown>,
): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws =
      protocol === 'graphql'
        ? new WebSocket(url, GRAPHQL_PROTOCOL, SOCKET_OPTIONS)
        : new WebSocket(url, SOCKET_OPTIONS);
    sockets.add(ws);
    let ready = false;
    ws.on('error', (error) => {
      if (!ready) reject(error);
    });
    ws.on('close', () => {
      sockets.delete(ws);
      if (!ready) reject(new Error('closed before set-up'));
    });
    if (protocol === 'graphql') {
      const init =
        initPayload === undefined
          ? '{"type":"connection_init"}'
          : JSON.stringify({ type: 'connection_init', payload: initPayload });
      ws.on('open', () => ws.send(init));
    }
    ws.on('message', (data: Buffer) => {
      if (ready) {
        onMessage?.(data);
        return;
      }
      if (protocol === 'graphql') {
        const text = data.toString();
        if (!text.includes('"connection_ack"')) return;
        firstAck ??= text;
      }
      ready = true;
      resolve(ws);
    });
  });
}

/** Opens `total` connections, `concurrency` at a time; resolves with the time it took. */
async function openMany(
  total: number,
  concurrency: number,
  connect: () => Promise<unknown>,
): Promise<number> {
  const started = nowMs();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      next++;
      await within(connect(), 30_000, 'connection set-up');
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  return nowMs() - started;
}

/** Writes `frame` as fast as the socket drains: corked bursts, waiting for `drain` when full. */
function pump(ws: WebSocket, frame: string): void {
  const socket = socketOf(ws);
  const loop = (): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    socket.cork();
    for (let i = 0; i < BURST; i++) ws.send(frame);
    socket.uncork();
    if (socket.writableLength >= HIGH_WATER) socket.once('drain', loop);
    else setImmediate(loop);
  };
  loop();
}

/** The first message of a stream after set-up, as text (to check a path's set-up). */
let firstFrame: string | undefined;

/**
 * Server→client stream: counts messages on `connections` connections. `fast` (graphql only):
 * the target's hand-written endpoint, subscribed with a hand-written `subscribe` frame, and
 * frames counted unparsed — so the client is not the bottleneck. `initPayload` (fast graphql
 * only): the `connection_init` payload, e.g. `{ subgate: { cursors: {} } }` to ask subgate for
 * a cursor on every event, as `subgate/client` does.
 */
async function startStream(
  url: string,
  protocol: Protocol,
  connections: number,
  fast: boolean,
  initPayload?: Record<string, unknown>,
): Promise<void> {
  const count = (data: Buffer): void => {
    received++;
    if (firstFrame === undefined) firstFrame = data.toString();
  };
  // Every connection is set up before any streams: a proxy busy streaming to the first ones
  // would otherwise slow down the set-up of the others.
  if (protocol === 'graphql' && fast) {
    const target = withQuery(url, { fast: '1' });
    const subscribe = JSON.stringify({
      id: '1',
      type: 'subscribe',
      payload: { query: 'subscription { ticks { boot seq pad } }' },
    });
    await openMany(connections, 50, () => open(target, 'graphql', count, initPayload));
    for (const ws of sockets) ws.send(subscribe);
    return;
  }
  if (protocol === 'raw') {
    const target = withQuery(url, { mode: 'stream' });
    await openMany(connections, 50, () => open(target, 'raw', count));
    for (const ws of sockets) ws.send('go');
    return;
  }
  const connected: Promise<void>[] = [];
  for (let i = 0; i < connections; i++) {
    const client = createClient({
      url,
      webSocketImpl: PlainWebSocket,
      generateID: () => '1',
      retryAttempts: 0,
      lazy: false,
    });
    graphqlClients.add(client);
    connected.push(new Promise((resolve) => client.on('connected', () => resolve())));
  }
  await within(Promise.all(connected), 30_000, 'connection_ack');
  const subscriptions: Promise<void>[] = [];
  for (const client of graphqlClients) {
    subscriptions.push(
      new Promise((resolve, reject) => {
        let first = true;
        client.subscribe(
          { query: 'subscription { ticks { boot seq pad } }' },
          {
            next: () => {
              received++;
              if (first) {
                first = false;
                resolve();
              }
            },
            error: (error) => reject(error instanceof Error ? error : new Error(String(error))),
            complete: () => {},
          },
        );
      }),
    );
  }
  await within(Promise.all(subscriptions), 30_000, 'first events');
}

/** Client→server stream on one connection; the target counts. */
async function startUpload(url: string, protocol: Protocol): Promise<void> {
  if (protocol === 'raw') {
    // Through a proxy, frames sent before the upstream is up wait there: the warm-up covers it.
    const sink = new WebSocket(withQuery(url, { mode: 'sink' }), SOCKET_OPTIONS);
    sockets.add(sink);
    sink.on('error', () => {});
    await within(new Promise((resolve) => sink.once('open', resolve)), 10_000, 'connect');
    pump(sink, padTo('{"type":"upload","pad":"', '"}'));
    return;
  }
  const ws = await within(open(url, 'graphql'), 10_000, 'connection_ack');
  pump(ws, padTo('{"type":"pong","payload":{"pad":"', '"}}'));
}

interface LatencyTask {
  readonly url: string;
  readonly protocol: Protocol;
  readonly connections: number;
  readonly rate: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/** Echo round trips at a fixed rate over several connections; returns percentiles in ms. */
async function runLatency(task: LatencyTask): Promise<Record<string, unknown>> {
  const sentAt = new Map<number, number>();
  const samples: number[] = [];
  const measureFrom = { at: Infinity };
  const onReply = (data: Buffer): void => {
    const at = nowMs();
    const message = JSON.parse(data.toString()) as { id?: number; payload?: { id?: number } };
    const id = task.protocol === 'raw' ? message.id : message.payload?.id;
    if (id === undefined) return;
    const sent = sentAt.get(id);
    if (sent === undefined) return;
    sentAt.delete(id);
    if (sent >= measureFrom.at) samples.push(at - sent);
  };
  const url = task.protocol === 'raw' ? withQuery(task.url, { mode: 'echo' }) : task.url;
  const connections: WebSocket[] = [];
  for (let i = 0; i < task.connections; i++) {
    if (task.protocol === 'raw') {
      // The echo target says nothing first: a hello connection proves the path, then echo.
      connections.push(
        await within(
          new Promise<WebSocket>((resolve, reject) => {
            const ws = new WebSocket(url, SOCKET_OPTIONS);
            sockets.add(ws);
            ws.on('error', reject);
            ws.on('message', (data: Buffer) => onReply(data));
            ws.once('open', () => resolve(ws));
          }),
          10_000,
          'connect',
        ),
      );
    } else {
      connections.push(await within(open(url, 'graphql', onReply), 10_000, 'connection_ack'));
    }
  }
  const frame = (id: number): string =>
    task.protocol === 'raw'
      ? padTo(`{"id":${id},"pad":"`, '"}')
      : padTo(`{"type":"ping","payload":{"id":${id},"pad":"`, '"}}');
  const total = Math.round((task.rate * (task.warmupMs + task.durationMs)) / 1000);
  const started = nowMs();
  measureFrom.at = started + task.warmupMs;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((nowMs() - started) * task.rate) / 1000));
      for (; sent < due; sent++) {
        const ws = connections[sent % connections.length]!;
        sentAt.set(sent, nowMs());
        ws.send(frame(sent));
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  // Wait (bounded) for the last replies.
  for (let i = 0; i < 100 && sentAt.size > 0; i++) await sleep(10);
  const sorted = samples.sort((a, b) => a - b);
  return {
    samples: sorted.length,
    lost: sentAt.size,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted[sorted.length - 1] ?? NaN,
    mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
    elapsedMs: nowMs() - started,
  };
}

/** Opens idle sessions (set up end to end) until `count` are open; reports the time it took. */
async function growIdle(
  url: string,
  protocol: Protocol,
  count: number,
  concurrency: number,
): Promise<Record<string, unknown>> {
  const target = protocol === 'raw' ? withQuery(url, { mode: 'hello' }) : url;
  const missing = count - sockets.size;
  const elapsedMs =
    missing > 0 ? await openMany(missing, concurrency, () => open(target, protocol)) : 0;
  return { open: sockets.size, opened: Math.max(0, missing), elapsedMs };
}

/**
 * Opens graphql sessions until `count` are open, each with `subscriptions` subscriptions to
 * ticks every `interval` ms (the first at once); a session counts once every subscription has
 * had its first event. With a long interval they are then idle.
 */
async function growSessions(
  url: string,
  count: number,
  concurrency: number,
  subscriptions: number,
  interval: number,
): Promise<Record<string, unknown>> {
  const query = `subscription { ticks(interval: ${interval}) { boot seq pad } }`;
  const openSession = async (): Promise<void> => {
    const waiting = new Set(Array.from({ length: subscriptions }, (_, i) => String(i + 1)));
    let settle: (error?: Error) => void = () => {};
    const firstEvents = new Promise<void>((resolve, reject) => {
      settle = (error) => (error === undefined ? resolve() : reject(error));
    });
    const ws = await open(url, 'graphql', (data) => {
      if (waiting.size === 0) return;
      const message = JSON.parse(data.toString()) as { id?: string; type?: string };
      if (message.type === 'next' && message.id !== undefined) waiting.delete(message.id);
      else if (message.type === 'error') settle(new Error(`subscription error: ${String(data)}`));
      if (waiting.size === 0) settle();
    });
    ws.once('close', () => settle(new Error('closed before the first events')));
    for (const id of waiting) {
      ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query } }));
    }
    await firstEvents;
  };
  const missing = count - sockets.size;
  const elapsedMs = missing > 0 ? await openMany(missing, concurrency, openSession) : 0;
  return { open: sockets.size, opened: Math.max(0, missing), elapsedMs };
}

/** One subscription to slow ticks; reports the first event of every new target process. */
async function startTicks(url: string, protocol: Protocol, intervalMs: number): Promise<void> {
  let boot = 0;
  let lastAt = 0;
  let events = 0;
  const onEvent = (eventBoot: number): void => {
    const at = nowMs();
    events++;
    lastAt = at;
    if (eventBoot !== boot) {
      boot = eventBoot;
      toParent({ type: 'event', name: 'boot', at, data: { boot } });
    }
  };
  status = () => ({ boot, lastAt, events });
  if (protocol === 'raw') {
    await within(
      open(withQuery(url, { mode: 'ticks', interval: String(intervalMs) }), 'raw', (data) => {
        onEvent((JSON.parse(data.toString()) as { boot: number }).boot);
      }),
      10_000,
      'connect',
    );
    return;
  }
  const client = createClient({
    url,
    webSocketImpl: PlainWebSocket,
    generateID: () => '1',
    retryAttempts: 0,
    lazy: false,
  });
  graphqlClients.add(client);
  await within(
    new Promise<void>((resolve, reject) => {
      client.subscribe<{ ticks: { boot: number } }>(
        { query: `subscription { ticks(interval: ${intervalMs}) { boot seq } }` },
        {
          next: (result) => {
            onEvent(result.data?.ticks.boot ?? -1);
            resolve();
          },
          error: (error) => reject(error instanceof Error ? error : new Error(String(error))),
          complete: () => {},
        },
      );
    }),
    10_000,
    'first tick',
  );
}

let status = (): Record<string, unknown> => ({});

/** Ends every connection at once (terminate: no close handshake behind megabytes of stream). */
async function closeAll(): Promise<void> {
  for (const client of graphqlClients) void client.dispose();
  graphqlClients.clear();
  for (const ws of sockets) ws.terminate();
  sockets.clear();
  // Let the resets leave before the process exits.
  await sleep(50);
}

let task: Record<string, unknown> = {};
let latencyResult: Promise<Record<string, unknown>> | undefined;

serveRequests(async (op, args) => {
  switch (op) {
    case 'start': {
      task = args;
      const url = String(args['url']);
      const protocol = args['protocol'] as Protocol;
      switch (args['kind']) {
        case 'stream':
          await startStream(
            url,
            protocol,
            Number(args['connections']),
            args['fast'] === true,
            args['initPayload'] as Record<string, unknown> | undefined,
          );
          return { at: nowMs() };
        case 'upload':
          await startUpload(url, protocol);
          return { at: nowMs() };
        case 'latency':
          latencyResult = runLatency(args as unknown as LatencyTask);
          return { at: nowMs() };
        case 'idle':
          return growIdle(url, protocol, Number(args['count']), Number(args['concurrency'] ?? 50));
        case 'ticks':
          await startTicks(url, protocol, Number(args['interval'] ?? 10));
          return { at: nowMs() };
        case 'sessions':
          return growSessions(
            url,
            Number(args['count']),
            Number(args['concurrency'] ?? 50),
            Number(args['subscriptions'] ?? 2),
            Number(args['interval'] ?? 3_600_000),
          );
        default:
          throw new Error(`unknown task ${String(args['kind'])}`);
      }
    }
    case 'mark':
      return {
        count: received,
        at: nowMs(),
        ...(firstAck === undefined ? {} : { firstAck }),
        ...(firstFrame === undefined ? {} : { firstFrame }),
      };
    case 'grow':
      return growIdle(
        String(task['url']),
        task['protocol'] as Protocol,
        Number(args['count']),
        Number(args['concurrency'] ?? 50),
      );
    case 'status':
      return status();
    case 'reset':
      await closeAll();
      return {};
    case 'result':
      if (latencyResult === undefined) throw new Error('no latency run');
      return latencyResult;
    case 'stop':
      await closeAll();
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown op ${op}`);
  }
});

process.on('uncaughtException', (error) => {
  toParent({ type: 'error', message: error.stack ?? error.message });
  process.exit(1);
});
