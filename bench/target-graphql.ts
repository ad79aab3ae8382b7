/**
 * Benchmark target speaking `graphql-transport-ws`, forked by the orchestrator with an IPC
 * channel. Two servers share its port:
 *
 * - by default, `graphql-ws`'s `useServer` (the reference server) with `graphql` executing every
 *   event: what a real GraphQL service costs;
 * - with `?fast=1` in the query string, a hand-written graphql-transport-ws endpoint (ack, pong,
 *   and `next` frames for any `subscribe`, as fast as backpressure allows, in corked bursts like
 *   `target-raw`'s stream): cheap enough that a proxy in front of it is the bottleneck.
 *
 * Schema: `subscription { ticks(after: Int, interval: Int): Tick! }` with
 * `Tick { boot seq pad }`: `seq` runs from `after + 1`, so the subscription can be resumed.
 * `interval: 0` (the default) emits as fast as graphql-ws's own backpressure allows (it awaits
 * each send's write callback), yielding to I/O every 64 events; otherwise the first event comes
 * at once and then one every `interval` ms. `pad` makes each `next` frame 100 bytes with the
 * client's 1-character operation ids. Pings are answered with pongs echoing their payload
 * (graphql-ws does it); pongs are counted (client→server throughput, the `count` request).
 *
 * Env: `PORT` (0 picks one), `BOOT`. Announces `{ type: 'listening', port, at }` over IPC.
 *
 * @module
 */
import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { setImmediate as yieldToIo, setTimeout as sleep } from 'node:timers/promises';
import { buildSchema } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocket, WebSocketServer } from 'ws';
import { MESSAGE_BYTES, nowMs, padTo, serveRequests, toParent } from './lib/shared.js';

const boot = Number(process.env['BOOT'] ?? 1);
let received = 0;

/** A `next` frame without pad: `{"id":"1","type":"next","payload":{"data":{"ticks":{"boot":1,"seq":123456,"pad":""}}}}`. */
const FRAME_WITHOUT_PAD = `{"id":"1","type":"next","payload":{"data":{"ticks":{"boot":${boot},"seq":123456,"pad":""}}}}`;
const PAD = 'x'.repeat(Math.max(0, MESSAGE_BYTES - FRAME_WITHOUT_PAD.length));

const schema = buildSchema(/* GraphQL */ `
  type Tick {
    boot: Int!
    seq: Int!
    pad: String!
  }
  type Query {
    hello: String!
  }
  type Subscription {
    ticks(after: Int, interval: Int): Tick!
  }
`);

async function* ticks(args: {
  after?: number | null;
  interval?: number | null;
}): AsyncGenerator<{ ticks: { boot: number; seq: number; pad: string } }> {
  const interval = args.interval ?? 0;
  for (let seq = (args.after ?? 0) + 1; ; seq++) {
    yield { ticks: { boot, seq, pad: PAD } };
    if (interval > 0) await sleep(interval);
    else if (seq % 64 === 0) await yieldToIo();
  }
}

const server = createServer((_request, response) => {
  response.writeHead(426);
  response.end();
});
const reference = new WebSocketServer({ noServer: true, perMessageDeflate: false });
const fast = new WebSocketServer({
  noServer: true,
  perMessageDeflate: false,
  handleProtocols: (offered) =>
    offered.has('graphql-transport-ws') ? 'graphql-transport-ws' : false,
});
server.on('upgrade', (request, socket, head) => {
  const query = new URL(request.url ?? '/', 'http://target').searchParams;
  const wss = query.get('fast') === '1' ? fast : reference;
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit('connection', ws, request));
});
reference.on('connection', (ws: WebSocket) => ws.on('error', () => {}));

const BURST = 256;
const HIGH_WATER = 256 * 1024;

/** Streams `next` frames for operation `id` from `after + 1`, as fast as the socket drains. */
function fastStream(ws: WebSocket, id: string, after: number, running: Set<string>): void {
  const socket = (ws as unknown as { _socket: Socket })._socket;
  let seq = after;
  const frame = (n: number): string =>
    padTo(
      `{"id":${JSON.stringify(id)},"type":"next","payload":{"data":{"ticks":{"boot":${boot},"seq":${n},"pad":"`,
      '"}}}}',
    );
  const pump = (): void => {
    if (ws.readyState !== WebSocket.OPEN || !running.has(id)) return;
    socket.cork();
    for (let i = 0; i < BURST; i++) ws.send(frame(++seq));
    socket.uncork();
    if (socket.writableLength >= HIGH_WATER) socket.once('drain', pump);
    else setImmediate(pump);
  };
  pump();
}

fast.on('connection', (ws: WebSocket) => {
  ws.on('error', () => {});
  const running = new Set<string>();
  ws.on('message', (data: Buffer) => {
    const message = JSON.parse(data.toString()) as {
      type?: string;
      id?: string;
      payload?: { query?: string; variables?: { after?: number } };
    };
    switch (message.type) {
      case 'connection_init':
        ws.send('{"type":"connection_ack"}');
        break;
      case 'ping':
        ws.send(
          JSON.stringify({ type: 'pong', payload: (message as { payload?: unknown }).payload }),
        );
        break;
      case 'pong':
        received++;
        break;
      case 'subscribe': {
        const id = String(message.id);
        const after =
          message.payload?.variables?.after ??
          Number(/\bafter:\s*(\d+)/.exec(message.payload?.query ?? '')?.[1] ?? 0);
        running.add(id);
        fastStream(ws, id, after, running);
        break;
      }
      case 'complete':
        running.delete(String(message.id));
        break;
      default:
        break;
    }
  });
  ws.on('close', () => running.clear());
});

useServer(
  {
    schema,
    roots: { query: { hello: () => 'world' }, subscription: { ticks } },
    onPong: () => {
      received++;
    },
  },
  reference,
  // graphql-ws' own keep-alive pings (12 s by default) stay out of the measurements.
  0,
);

server.listen({ port: Number(process.env['PORT'] ?? 0), host: '127.0.0.1', backlog: 4096 }, () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  toParent({ type: 'listening', port, at: nowMs() });
});

serveRequests((op) => {
  switch (op) {
    case 'count':
      return { received, at: nowMs() };
    case 'connections':
      return { connections: reference.clients.size + fast.clients.size };
    default:
      throw new Error(`unknown op ${op}`);
  }
});

process.on('SIGTERM', () => process.exit(0));
