/**
 * The unstable target's GraphQL server: a plain graphql-ws server with one subscription,
 * `ticks(after: Int): Tick!`, which emits `seq` after+1, after+2, … one every
 * `TICK_INTERVAL_MS`. The sequence does not depend on the clock, only on `after`: a client that
 * resumes with the last `seq` it received gets the rest of the sequence, exactly once.
 *
 * It misbehaves only when its supervisor (`index.ts`) tells it to, over IPC:
 * - `{ type: 'freeze', ms }` blocks the event loop with a busy loop for `ms` milliseconds. The
 *   process and its TCP connections stay up; nothing is read, written or answered (not even
 *   WebSocket pings), exactly like a server stuck in a long synchronous computation.
 * - `{ type: 'crash' }` exits at once with code 1 (no WebSocket close frame is sent).
 * - `{ type: 'drain' }` stops emitting and answers `{ type: 'drained', lastSeq }`: the highest
 *   `seq` it has emitted, which a checker expects the client to have received.
 *
 * Run on its own (`node server.js`), it simply serves. Environment:
 * - `PORT` (default 4000) and `HOST` (default 127.0.0.1)
 * - `TICK_INTERVAL_MS` (default 20): time between two ticks of one subscription
 * - `BOOT_MS` (default 0): how long after its start the process listens (slow start)
 *
 * @module
 */
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';

/** Messages this server sends its supervisor over IPC (when it has one). */
export type ServerEvent =
  | { type: 'listening'; port: number; pid: number; at: number }
  | { type: 'subscribed'; after: number | null; at: number }
  | { type: 'thawed'; frozeAt: number; at: number }
  | { type: 'drained'; lastSeq: number; at: number };

/** Commands the supervisor sends this server over IPC. */
export type ServerCommand = { type: 'freeze'; ms: number } | { type: 'crash' } | { type: 'drain' };

const env = process.env;
const port = Number(env['PORT'] ?? 4000);
const host = env['HOST'] ?? '127.0.0.1';
const tickInterval = Number(env['TICK_INTERVAL_MS'] ?? 20);
const bootMs = Number(env['BOOT_MS'] ?? 0);

/** Highest `seq` emitted by this process, over every subscription. */
let lastSeq = 0;
/** Set by `drain`: subscriptions stop emitting, so the client can catch up with `lastSeq`. */
let draining = false;

function report(event: ServerEvent): void {
  process.send?.(event);
}

function say(line: string): void {
  process.stdout.write(`target[${process.pid}] ${line}\n`);
}

async function* ticks(after: number): AsyncGenerator<{ ticks: { seq: number } }> {
  for (let seq = after + 1; ; seq++) {
    await sleep(tickInterval);
    while (draining) await sleep(1000);
    if (seq > lastSeq) lastSeq = seq;
    yield { ticks: { seq } };
  }
}

const schema = makeExecutableSchema({
  typeDefs: /* GraphQL */ `
    type Tick {
      "1, 2, 3, …: the position of this event in the stream"
      seq: Int!
    }
    type Query {
      hello: String!
    }
    type Subscription {
      "Emits seq after+1, after+2, … forever; resume with the last seq you received."
      ticks(after: Int): Tick!
    }
  `,
  resolvers: {
    Query: { hello: () => 'world' },
    Subscription: {
      ticks: {
        subscribe: (_: unknown, args: { after?: number | null }) => {
          const after = args.after ?? null;
          say(`ticks(after: ${after}) subscribed`);
          report({ type: 'subscribed', after, at: Date.now() });
          return ticks(after ?? 0);
        },
      },
    },
  },
});

/** Blocks the event loop: timers, sockets and pings all wait, the kernel keeps TCP up. */
function freeze(ms: number): void {
  const frozeAt = Date.now();
  say(`freezing the event loop for ${ms} ms`);
  while (Date.now() - frozeAt < ms) {
    // busy: this is the point
  }
  say('thawed');
  report({ type: 'thawed', frozeAt, at: Date.now() });
}

process.on('message', (message: ServerCommand) => {
  switch (message.type) {
    case 'freeze':
      freeze(message.ms);
      return;
    case 'crash':
      say('crashing (process.exit(1))');
      return process.exit(1);
    case 'drain':
      draining = true;
      report({ type: 'drained', lastSeq, at: Date.now() });
      return;
  }
});
// Never outlive the supervisor (when it has an IPC channel to us).
process.on('disconnect', () => process.exit(0));

// A slow start: listen `bootMs` after the process started (loading the modules counts).
const bootLeft = Math.round(bootMs - process.uptime() * 1000);
if (bootLeft > 0) {
  say(`booting: listening in ${bootLeft} ms`);
  await sleep(bootLeft);
}

const server = createServer((_request, response) => {
  response.writeHead(404).end();
});
const wss = new WebSocketServer({ server, path: '/graphql' });
useServer({ schema }, wss);

// A graceful restart (a deploy): every client is told 1001 (going away), then the process exits.
process.once('SIGTERM', () => {
  say('SIGTERM: closing every connection with 1001, then exiting');
  for (const ws of wss.clients) ws.close(1001, 'Going away');
  server.close();
  setTimeout(() => process.exit(0), 100).unref();
});

server.on('error', (error) => {
  say(`cannot listen: ${error.message}`);
  process.exit(1);
});
server.listen(port, host, () => {
  const address = server.address();
  const actual = typeof address === 'object' && address !== null ? address.port : port;
  say(`listening on ws://${host}:${actual}/graphql`);
  report({ type: 'listening', port: actual, pid: process.pid, at: Date.now() });
});
