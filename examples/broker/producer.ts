/**
 * An example producer for the JSON broker protocol: publishes `count` numbered messages to a
 * stream, at most `window` unconfirmed at a time, and finishes when the broker confirmed them all.
 * Point it at subgate (which keeps the connection while the broker restarts) or at the broker.
 *
 * Run it: `node dist/examples/broker/producer.js --url ws://127.0.0.1:8080 --stream orders
 * --count 1000`.
 *
 * @module
 */
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import {
  parseJsonFrame,
  stringifyMessage,
  type ResumeFailedMessage,
} from '../../hooks/broker/codecs/json.js';

/** Options of {@link startProducer}. */
export interface ProducerOptions {
  /** subgate's (or the broker's) URL. */
  readonly url: string;
  readonly stream: string;
  /** Messages to publish. */
  readonly count: number;
  /** Unconfirmed publishes at most. @default 100 */
  readonly window?: number;
  /** Publish ids are `<prefix><n>`, n from 1. @default 'p-' */
  readonly prefix?: string;
  /** Called with the number of confirmed publishes after each confirm. */
  readonly onProgress?: (confirmed: number) => void;
}

/** A running producer. */
export interface Producer {
  /** Ids published (sent on the socket), in order. */
  readonly sent: readonly string[];
  /** Ids the broker confirmed, with the offset it stored them at. */
  readonly confirmed: ReadonlyMap<string, number>;
  /** `resume-failed` signals received from subgate. */
  readonly failures: readonly ResumeFailedMessage[];
  /** Resolves when every publish is confirmed; rejects if the connection ends first. */
  readonly done: Promise<void>;
  /** Closes the connection. */
  close(): void;
}

/** Connects, sends `connect`, then publishes. */
export function startProducer(options: ProducerOptions): Producer {
  const window = options.window ?? 100;
  const prefix = options.prefix ?? 'p-';
  const sent: string[] = [];
  const confirmed = new Map<string, number>();
  const failures: ResumeFailedMessage[] = [];
  const ws = new WebSocket(options.url, { perMessageDeflate: false });
  let next = 1;
  let finished = false;

  const fill = (): void => {
    while (next <= options.count && sent.length - confirmed.size < window) {
      const id = `${prefix}${next}`;
      ws.send(
        stringifyMessage({ type: 'publish', id, stream: options.stream, payload: { n: next } }),
      );
      sent.push(id);
      next++;
    }
  };

  const done = new Promise<void>((resolve, reject) => {
    ws.on('open', () => ws.send(stringifyMessage({ type: 'connect', client: 'example-producer' })));
    ws.on('message', (data: Buffer) => {
      const message = parseJsonFrame(data);
      if (message === undefined) return;
      switch (message.type) {
        case 'connected':
          fill();
          return;
        case 'published':
          confirmed.set(String(message['id']), Number(message['offset']));
          options.onProgress?.(confirmed.size);
          if (confirmed.size === options.count) {
            finished = true;
            resolve();
            return;
          }
          fill();
          return;
        case 'resume-failed':
          failures.push(message as unknown as ResumeFailedMessage);
          return;
        case 'error':
          reject(new Error(`broker error: ${String(message['message'])}`));
          return;
      }
    });
    ws.on('error', (error) => {
      if (!finished) reject(error);
    });
    ws.on('close', (code, reason) => {
      if (!finished) reject(new Error(`connection closed (${code} ${reason.toString()})`));
    });
  });
  done.catch(() => {});

  return {
    sent,
    confirmed,
    failures,
    done,
    close: () => ws.close(1000, 'producer done'),
  };
}

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'ws://127.0.0.1:8080' },
      stream: { type: 'string', default: 'orders' },
      count: { type: 'string', default: '1000' },
      window: { type: 'string', default: '100' },
    },
  });
  const count = Number(values.count);
  const started = Date.now();
  const producer = startProducer({
    url: values.url,
    stream: values.stream,
    count,
    window: Number(values.window),
    onProgress: (n) => {
      if (n % 100 === 0 || n === count) process.stdout.write(`confirmed ${n}/${count}\n`);
    },
  });
  try {
    await producer.done;
    process.stdout.write(`all ${count} publishes confirmed in ${Date.now() - started} ms\n`);
    producer.close();
  } catch (error) {
    const unconfirmed = producer.sent.filter((id) => !producer.confirmed.has(id));
    process.stderr.write(
      `producer stopped: ${(error as Error).message}; unconfirmed: ${unconfirmed.length}\n`,
    );
    for (const failure of producer.failures) process.stderr.write(`${JSON.stringify(failure)}\n`);
    process.exitCode = 1;
  }
}
