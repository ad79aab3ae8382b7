/**
 * An example message broker speaking subgate's JSON broker protocol (see
 * `hooks/broker/codecs/json.ts`) over WebSocket: streams of messages with offsets, kept on disk
 * (one append-only log per stream) so that a SIGKILL loses nothing it acknowledged.
 *
 * Run it: `node dist/examples/broker/broker.js --port 9000 --data ./broker-data [--retention N]
 * [--fsync]`. `PORT`, `BROKER_DATA`, `BROKER_RETENTION` and `BROKER_FSYNC=1` work too.
 *
 * Semantics: a client must `connect` first. A `publish` is answered by `published` once its line
 * is written; the same id published twice is stored twice (at-least-once: deduplication is the
 * consumer's job, by offset). A `subscribe` delivers from its `from` offset with at most
 * `prefetch` deliveries unacknowledged; an offset below the retained window is refused with
 * `offset-unavailable`. The broker keeps no consumer position: a reconnecting consumer says where
 * to start.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  parseClientMessage,
  stringifyMessage,
  type JsonBrokerMessage,
  type StartOffset,
} from '../../hooks/broker/codecs/json.js';
import { openStreamLog, type StreamLog } from './log.js';

/** Options of {@link startBroker}. */
export interface BrokerOptions {
  /** Port to listen on; 0 picks a free one. @default 9000 */
  readonly port?: number;
  /** Address to listen on. @default '127.0.0.1' */
  readonly host?: string;
  /** Directory of the stream logs. @default './broker-data' */
  readonly dir?: string;
  /** Messages kept per stream; older offsets become unavailable. @default Infinity */
  readonly retention?: number;
  /** `fsync` every append (survives power loss, not just a crash). @default false */
  readonly fsync?: boolean;
  /** Largest prefetch a subscription may ask for. @default 10000 */
  readonly maxPrefetch?: number;
}

/** A running broker. */
export interface Broker {
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

const DEFAULT_PREFETCH = 1000;

interface Sub {
  readonly stream: string;
  /** The next offset to deliver. */
  next: number;
  /** The highest offset acknowledged (cumulative); `next - 1 - acked` are in flight. */
  acked: number;
  readonly prefetch: number;
}

/** Starts the broker; resolves once it listens. */
export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const dir = options.dir ?? './broker-data';
  const maxPrefetch = options.maxPrefetch ?? 10_000;
  const logs = new Map<string, StreamLog>();
  /** Every connection's subscription per stream, to push new messages to. */
  const subscribers = new Map<string, Set<{ ws: WebSocket; sub: Sub }>>();

  const logOf = (stream: string): StreamLog => {
    let log = logs.get(stream);
    if (log === undefined) {
      log = openStreamLog(stream, {
        dir,
        ...(options.retention === undefined ? {} : { retention: options.retention }),
        ...(options.fsync === undefined ? {} : { fsync: options.fsync }),
      });
      logs.set(stream, log);
    }
    return log;
  };

  const send = (ws: WebSocket, message: JsonBrokerMessage): void => {
    if (ws.readyState === ws.OPEN) ws.send(stringifyMessage(message));
  };

  const pump = (ws: WebSocket, sub: Sub): void => {
    const log = logOf(sub.stream);
    while (sub.next < log.next && sub.next - sub.acked - 1 < sub.prefetch) {
      const message = log.get(sub.next);
      if (message === undefined) {
        // Retention overtook a slow consumer: skip nothing silently, tell it and stop.
        send(ws, {
          type: 'error',
          code: 'offset-unavailable',
          stream: sub.stream,
          requested: sub.next,
          first: log.first,
          message: `offset ${sub.next} of ${sub.stream} is no longer available (retention)`,
        });
        subscribers.get(sub.stream)?.forEach((entry) => {
          if (entry.sub === sub) subscribers.get(sub.stream)?.delete(entry);
        });
        return;
      }
      if (ws.readyState !== ws.OPEN) return;
      ws.send(
        `{"type":"deliver","stream":${JSON.stringify(sub.stream)},"offset":${message.offset},"payload":${message.payload}}`,
      );
      sub.next++;
    }
  };

  const startOf = (log: StreamLog, from: StartOffset | undefined): number | 'gone' => {
    if (from === 'first') return log.first;
    if (from === undefined || from === 'next') return log.next;
    return from < log.first ? 'gone' : from;
  };

  const server = new WebSocketServer({
    port: options.port ?? 9000,
    host: options.host ?? '127.0.0.1',
    perMessageDeflate: false,
  });

  server.on('connection', (ws) => {
    let connected = false;
    const subs = new Map<string, { ws: WebSocket; sub: Sub }>();
    const unsubscribe = (stream: string): void => {
      const entry = subs.get(stream);
      if (entry === undefined) return;
      subs.delete(stream);
      subscribers.get(stream)?.delete(entry);
    };
    ws.on('error', () => {});
    ws.on('close', () => {
      for (const stream of [...subs.keys()]) unsubscribe(stream);
    });
    ws.on('message', (data: Buffer, binary: boolean) => {
      const message = binary ? 'frames must be text' : parseClientMessage(data);
      if (typeof message === 'string') {
        send(ws, { type: 'error', code: 'bad-request', message });
        return;
      }
      if (message.type === 'connect') {
        connected = true;
        send(ws, { type: 'connected', session: randomUUID() });
        return;
      }
      if (!connected) {
        send(ws, { type: 'error', code: 'bad-request', message: 'send connect first' });
        return;
      }
      switch (message.type) {
        case 'publish': {
          const log = logOf(message.stream);
          let offset: number;
          try {
            offset = log.append(message.id, JSON.stringify(message.payload ?? null));
          } catch (error) {
            send(ws, {
              type: 'error',
              code: 'store-failed',
              id: message.id,
              message: (error as Error).message,
            });
            return;
          }
          send(ws, { type: 'published', id: message.id, stream: message.stream, offset });
          for (const entry of subscribers.get(message.stream) ?? []) pump(entry.ws, entry.sub);
          return;
        }
        case 'subscribe': {
          const log = logOf(message.stream);
          const start = startOf(log, message.from);
          if (start === 'gone') {
            send(ws, {
              type: 'error',
              code: 'offset-unavailable',
              stream: message.stream,
              requested: message.from as number,
              first: log.first,
              message: `offset ${String(message.from)} of ${message.stream} is no longer available; the first is ${log.first}`,
            });
            return;
          }
          unsubscribe(message.stream);
          const sub: Sub = {
            stream: message.stream,
            next: start,
            acked: start - 1,
            prefetch: Math.min(message.prefetch ?? DEFAULT_PREFETCH, maxPrefetch),
          };
          const entry = { ws, sub };
          subs.set(message.stream, entry);
          let set = subscribers.get(message.stream);
          if (set === undefined) subscribers.set(message.stream, (set = new Set()));
          set.add(entry);
          send(ws, { type: 'subscribed', stream: message.stream, from: start });
          pump(ws, sub);
          return;
        }
        case 'unsubscribe':
          unsubscribe(message.stream);
          return;
        case 'ack': {
          const entry = subs.get(message.stream);
          if (entry === undefined) return;
          const { sub } = entry;
          if (message.offset > sub.acked) sub.acked = Math.min(message.offset, sub.next - 1);
          pump(ws, sub);
          return;
        }
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `ws://${options.host ?? '127.0.0.1'}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of server.clients) client.terminate();
        server.close(() => {
          for (const log of logs.values()) log.close();
          resolve();
        });
      }),
  };
}

/** Options from the command line and the environment (flags win). */
export function brokerOptionsFromArgs(argv: readonly string[]): BrokerOptions {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      data: { type: 'string' },
      retention: { type: 'string' },
      fsync: { type: 'boolean' },
    },
  });
  const env = process.env;
  const number = (name: string, text: string | undefined): number | undefined => {
    if (text === undefined || text === '') return undefined;
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new Error(`${name} must be an integer >= 0, got ${JSON.stringify(text)}`);
    }
    return value;
  };
  const port = number('--port', values.port ?? env['PORT']);
  const retention = number('--retention', values.retention ?? env['BROKER_RETENTION']);
  const host = values.host ?? env['BROKER_HOST'];
  const dir = values.data ?? env['BROKER_DATA'];
  return {
    ...(port === undefined ? {} : { port }),
    ...(host === undefined ? {} : { host }),
    ...(dir === undefined ? {} : { dir }),
    ...(retention === undefined || retention === 0 ? {} : { retention }),
    fsync: values.fsync === true || env['BROKER_FSYNC'] === '1',
  };
}

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const broker = await startBroker(brokerOptionsFromArgs(process.argv.slice(2)));
  process.stdout.write(`example broker listening on ${broker.url}\n`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void broker.close().then(() => process.exit(0)));
  }
}
