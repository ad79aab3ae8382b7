/**
 * An example consumer for the JSON broker protocol: subscribes to a stream, records every
 * delivery as it arrives (no deduplication of its own: what it records is what subgate
 * delivered), and acknowledges cumulatively every `ackEvery` messages or after `ackDelay` ms of
 * quiet.
 *
 * Run it: `node dist/examples/broker/consumer.js --url ws://127.0.0.1:8080 --stream orders
 * --from first [--count 1000]`.
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
  type StartOffset,
} from '../../hooks/broker/codecs/json.js';

/** Options of {@link startConsumer}. */
export interface ConsumerOptions {
  readonly url: string;
  readonly stream: string;
  /** Where to start. @default 'first' */
  readonly from?: StartOffset;
  /** Deliveries unacknowledged at most. @default 200 */
  readonly prefetch?: number;
  /** Acknowledge after this many deliveries. @default 10 */
  readonly ackEvery?: number;
  /** Acknowledge after this much quiet, in ms. @default 50 */
  readonly ackDelay?: number;
  /** Called for every delivery, in arrival order. */
  readonly onDelivery?: (offset: number, payload: unknown) => void;
}

/** A running consumer. */
export interface Consumer {
  /** Offsets in arrival order, duplicates included. */
  readonly received: readonly number[];
  /** Payloads in arrival order. */
  readonly payloads: readonly unknown[];
  /** `resume-failed` signals received from subgate. */
  readonly failures: readonly ResumeFailedMessage[];
  /** Other `error` frames received. */
  readonly errors: readonly Record<string, unknown>[];
  /** Resolves once subscribed. */
  readonly subscribed: Promise<void>;
  /** Resolves with the close code when the connection ends. */
  readonly closed: Promise<{ code: number; reason: string }>;
  close(): void;
}

/** Connects, sends `connect` and `subscribe`, and consumes. */
export function startConsumer(options: ConsumerOptions): Consumer {
  const ackEvery = options.ackEvery ?? 10;
  const ackDelay = options.ackDelay ?? 50;
  const received: number[] = [];
  const payloads: unknown[] = [];
  const failures: ResumeFailedMessage[] = [];
  const errors: Record<string, unknown>[] = [];
  const ws = new WebSocket(options.url, { perMessageDeflate: false });
  let unacked = 0;
  let highest = -1;
  let timer: NodeJS.Timeout | undefined;

  const ack = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (unacked === 0 || ws.readyState !== WebSocket.OPEN) return;
    unacked = 0;
    ws.send(stringifyMessage({ type: 'ack', stream: options.stream, offset: highest }));
  };

  let resolveSubscribed!: () => void;
  const subscribed = new Promise<void>((resolve) => (resolveSubscribed = resolve));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
  ws.on('error', () => {});
  ws.on('open', () => {
    ws.send(stringifyMessage({ type: 'connect', client: 'example-consumer' }));
    ws.send(
      stringifyMessage({
        type: 'subscribe',
        stream: options.stream,
        from: options.from ?? 'first',
        prefetch: options.prefetch ?? 200,
      }),
    );
  });
  ws.on('message', (data: Buffer) => {
    const message = parseJsonFrame(data);
    if (message === undefined) return;
    switch (message.type) {
      case 'subscribed':
        resolveSubscribed();
        return;
      case 'deliver': {
        const offset = Number(message['offset']);
        received.push(offset);
        payloads.push(message['payload']);
        options.onDelivery?.(offset, message['payload']);
        if (offset > highest) highest = offset;
        if (++unacked >= ackEvery) ack();
        else timer ??= setTimeout(ack, ackDelay);
        return;
      }
      case 'resume-failed':
        failures.push(message as unknown as ResumeFailedMessage);
        return;
      case 'error':
        errors.push(message);
        return;
    }
  });

  return {
    received,
    payloads,
    failures,
    errors,
    subscribed,
    closed,
    close: () => ws.close(1000, 'consumer done'),
  };
}

const isMain =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;
if (isMain) {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'ws://127.0.0.1:8080' },
      stream: { type: 'string', default: 'orders' },
      from: { type: 'string', default: 'first' },
      count: { type: 'string' },
    },
  });
  const from: StartOffset =
    values.from === 'first' || values.from === 'next' ? values.from : Number(values.from);
  const count = values.count === undefined ? Infinity : Number(values.count);
  let seen = 0;
  const consumer = startConsumer({
    url: values.url,
    stream: values.stream,
    from,
    onDelivery: (offset, payload) => {
      process.stdout.write(`${offset} ${JSON.stringify(payload)}\n`);
      if (++seen >= count) consumer.close();
    },
  });
  const { code, reason } = await consumer.closed;
  for (const failure of consumer.failures) process.stderr.write(`${JSON.stringify(failure)}\n`);
  if (code !== 1000 && code !== 1005) {
    process.stderr.write(`connection closed: ${code} ${reason}\n`);
    process.exitCode = 1;
  }
}
