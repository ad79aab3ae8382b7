/**
 * Benchmark target speaking plain WebSocket (the `ws` library), forked by the orchestrator with an
 * IPC channel. What a connection does is chosen by its query string, which every proxy forwards:
 *
 * - `?mode=stream`: sends one message, waits for one from the client (so that every connection of
 *   a measurement is set up before any streams), then sends 100-byte JSON messages as fast as
 *   backpressure allows (bursts of writes corked into one syscall; waits for `drain` above
 *   256 KiB buffered).
 * - `?mode=echo`: sends every message back.
 * - `?mode=sink`: counts what it receives (read with the `count` request).
 * - `?mode=hello`: sends one message on connect, then stays idle (set-up rate, idle sessions).
 * - `?mode=ticks&interval=10`: a message at once, then one every `interval` ms (recovery).
 *
 * Env: `PORT` (0 picks one), `BOOT` (a number put in every message: which process sent it).
 * Announces `{ type: 'listening', port, at }` over IPC.
 *
 * @module
 */
import type { Socket } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { nowMs, rawMessage, serveRequests, toParent } from './lib/shared.js';

const boot = Number(process.env['BOOT'] ?? 1);
const BURST = 256;
const HIGH_WATER = 256 * 1024;
let received = 0;
let receivedBytes = 0;

function socketOf(ws: WebSocket): Socket {
  return (ws as unknown as { _socket: Socket })._socket;
}

function stream(ws: WebSocket): void {
  const socket = socketOf(ws);
  let seq = 0;
  const pump = (): void => {
    if (ws.readyState !== WebSocket.OPEN) return;
    socket.cork();
    for (let i = 0; i < BURST; i++) ws.send(rawMessage(boot, ++seq));
    socket.uncork();
    if (socket.writableLength >= HIGH_WATER) socket.once('drain', pump);
    else setImmediate(pump);
  };
  pump();
}

function ticks(ws: WebSocket, interval: number): void {
  let seq = 0;
  const tick = (): void => {
    if (ws.readyState === WebSocket.OPEN) ws.send(rawMessage(boot, ++seq));
  };
  tick();
  const timer = setInterval(tick, interval);
  ws.on('close', () => clearInterval(timer));
}

const server = new WebSocketServer({
  port: Number(process.env['PORT'] ?? 0),
  host: '127.0.0.1',
  perMessageDeflate: false,
  clientTracking: true,
  backlog: 4096,
});

server.on('connection', (ws, request) => {
  ws.on('error', () => {});
  const query = new URL(request.url ?? '/', 'http://target').searchParams;
  switch (query.get('mode')) {
    case 'stream':
      ws.send(rawMessage(boot, 0));
      ws.once('message', () => stream(ws));
      break;
    case 'echo':
      ws.on('message', (data: Buffer, binary: boolean) => ws.send(data, { binary }));
      break;
    case 'sink':
      ws.on('message', (data: Buffer) => {
        received++;
        receivedBytes += data.length;
      });
      break;
    case 'hello':
      ws.send(rawMessage(boot, 0));
      break;
    case 'ticks':
      ticks(ws, Number(query.get('interval') ?? 10));
      break;
    default:
      break;
  }
});

server.on('listening', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  toParent({ type: 'listening', port, at: nowMs() });
});

serveRequests((op) => {
  switch (op) {
    case 'count':
      return { received, receivedBytes, at: nowMs() };
    case 'connections':
      return { connections: server.clients.size };
    default:
      throw new Error(`unknown op ${op}`);
  }
});

process.on('SIGTERM', () => process.exit(0));
