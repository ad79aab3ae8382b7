/**
 * The `stomp` codec: STOMP 1.2 over WebSocket (one STOMP frame per WebSocket message, as
 * stomp.js and RabbitMQ Web-STOMP send them), aimed at RabbitMQ streams.
 *
 * | STOMP | broker hook |
 * |-------|-------------|
 * | `CONNECT` / `STOMP` | the handshake, replayed on every new upstream socket; its `CONNECTED` is awaited and not shown twice |
 * | `SEND` with a `receipt` header | a publish whose id is the receipt id; resent with the same headers until its `RECEIPT` arrives (`SEND` without `receipt`, or inside a transaction, is fire-and-forget) |
 * | `RECEIPT` | the publish ack (`receipt-id`) |
 * | `SUBSCRIBE` | a stream keyed by its `id`; `ack:client` is cumulative, `client-individual` per message, `auto` (the default) acks on delivery; `x-stream-offset:offset=N` is its start |
 * | `MESSAGE` with `x-stream-offset` | a delivery of subscription `subscription` at that offset |
 * | `ACK` / `NACK` | the consumer ack of a delivery (a `NACK` counts as an ack: a stream never redelivers) |
 *
 * Resume = re-`CONNECT` (await `CONNECTED`); for each stream the session published to, a probe
 * (`SUBSCRIBE` to `/amq/queue/<name>` with `x-stream-offset:next`, await its `RECEIPT`, then
 * `UNSUBSCRIBE`): RabbitMQ confirms — and drops — publishes to a stream that is still recovering
 * after a broker restart, and a consumer it accepts proves the stream is back; then per
 * subscription a `SUBSCRIBE` with the same headers but `x-stream-offset:offset=<last acked + 1>`
 * and a `receipt` (the client's own if it never got its `RECEIPT`, else one the client does not
 * see), awaited; then the unreceipted `SEND`s. A `SEND` counts as going to a stream when its
 * destination is `/queue/<name>` or `/amq/queue/<name>` and it carries `x-queue-type:stream`
 * (required anyway by `/queue/` destinations; add it to `/amq/queue/` ones to get the probe).
 * A broker `ERROR` during all this fails the attempt: the gateway reconnects with backoff.
 *
 * The ack ids the client sees are the gateway's: `MESSAGE` frames carry
 * `ack:subgate@<offset>@<subscription>` (and the same `message-id`), so they stay valid across
 * reconnects; the gateway translates an `ACK` to the broker's id of the current connection.
 *
 * When a resume is impossible the client gets one `ERROR` frame with the header
 * `subgate-resume-failed:<reason>` (`offset-unavailable`, `outage` or `buffer-full`), plus for one
 * subscription `subscription`, `subgate-expected-offset`, `subgate-available-offset` and
 * `subgate-resume-from`, a `message` header for humans and a JSON body
 * `{"type":"resume-failed","failures":[…]}` (each failure as in the JSON codec). As STOMP requires
 * after an `ERROR`, the connection is then closed (1011; 1013 for `outage`, 1008 for
 * `buffer-full`).
 *
 * @module
 */
import type {
  BrokerCodec,
  ClientFrame,
  OutFrame,
  ResumeFailure,
  Signal,
  Subscription,
  UpstreamFrame,
} from '../codec.js';

/** The WebSocket subprotocols of STOMP, newest first. */
export const STOMP_PROTOCOLS = ['v12.stomp', 'v11.stomp', 'v10.stomp'] as const;

/** The header of the `ERROR` frame that signals a failed resume; its value is the reason. */
export const RESUME_FAILED_HEADER = 'subgate-resume-failed';

/**
 * Prefix of the ack ids the gateway gives the client: `subgate@<offset>@<subscription>` (no
 * character STOMP escapes in header values).
 */
export const ACK_ID_PREFIX = 'subgate@';

/** Subscription id prefix of the engine's probes (their `MESSAGE`s never reach the client). */
export const PROBE_PREFIX = 'subgate-probe-';

/** Close code after a `offset-unavailable` `ERROR` signal: 1011. */
export const RESUME_FAILED_CLOSE_CODE = 1011;

/** One parsed STOMP frame. */
export interface StompFrame {
  readonly command: string;
  /** Headers in order, decoded; a repeated name keeps every entry (the first one counts). */
  readonly headers: readonly (readonly [string, string])[];
  readonly body: Buffer;
}

const LF = 0x0a;
const CR = 0x0d;
const NUL = 0x00;
/** Frames whose headers are not escaped (STOMP 1.2, "Value Encoding"). */
const RAW_HEADERS = new Set(['CONNECT', 'CONNECTED', 'STOMP']);

/** The first value of header `name`, or `undefined`. */
export function headerOf(frame: StompFrame, name: string): string | undefined {
  for (const [key, value] of frame.headers) if (key === name) return value;
  return undefined;
}

function decodeHeader(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(/\\(.)/g, (whole, c: string) =>
    c === 'n' ? '\n' : c === 'r' ? '\r' : c === 'c' ? ':' : c === '\\' ? '\\' : whole,
  );
}

function encodeHeader(text: string): string {
  return text.replace(/[\\\r\n:]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\r' ? '\\r' : c === '\n' ? '\\n' : '\\c',
  );
}

function skipEols(data: Buffer, from: number): number {
  let i = from;
  for (;;) {
    if (data[i] === LF) i++;
    else if (data[i] === CR && data[i + 1] === LF) i += 2;
    else return i;
  }
}

/**
 * Parses one WebSocket message holding one STOMP frame (leading and trailing end-of-lines are
 * allowed). Returns `'heartbeat'` for a message of end-of-lines only, and `undefined` for
 * anything else: malformed, truncated, or several frames.
 */
export function parseStompFrame(data: Buffer): StompFrame | 'heartbeat' | undefined {
  const start = skipEols(data, 0);
  if (start === data.length) return 'heartbeat';
  const commandEnd = data.indexOf(LF, start);
  if (commandEnd < 0) return undefined;
  const command = data.toString('latin1', start, commandEnd).replace(/\r$/, '');
  if (!/^[A-Z]+$/.test(command)) return undefined;
  const raw = RAW_HEADERS.has(command);
  const headers: (readonly [string, string])[] = [];
  let pos = commandEnd + 1;
  for (;;) {
    const end = data.indexOf(LF, pos);
    if (end < 0) return undefined;
    const line = data.toString('utf8', pos, end).replace(/\r$/, '');
    pos = end + 1;
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1);
    headers.push(raw ? [name, value] : [decodeHeader(name), decodeHeader(value)]);
  }
  let body: Buffer;
  let after: number;
  const length = headers.find(([name]) => name === 'content-length')?.[1];
  if (length !== undefined) {
    const n = Number(length);
    if (!/^\d+$/.test(length) || !Number.isSafeInteger(n)) return undefined;
    if (pos + n >= data.length || data[pos + n] !== NUL) return undefined;
    body = data.subarray(pos, pos + n);
    after = pos + n + 1;
  } else {
    const nul = data.indexOf(NUL, pos);
    if (nul < 0) return undefined;
    body = data.subarray(pos, nul);
    after = nul + 1;
  }
  if (skipEols(data, after) !== data.length) return undefined;
  return { command, headers, body };
}

/** Serialises a frame (headers escaped except on `CONNECT`/`CONNECTED`/`STOMP`), NUL-terminated. */
export function serializeStompFrame(frame: StompFrame): Buffer {
  const raw = RAW_HEADERS.has(frame.command);
  let head = `${frame.command}\n`;
  for (const [name, value] of frame.headers) {
    head += raw ? `${name}:${value}\n` : `${encodeHeader(name)}:${encodeHeader(value)}\n`;
  }
  head += '\n';
  return Buffer.concat([Buffer.from(head, 'utf8'), frame.body, Buffer.from([NUL])]);
}

/** A copy of `frame` with header `name` set to `value` (replacing every entry, or appended). */
export function withHeader(frame: StompFrame, name: string, value: string | undefined): StompFrame {
  const headers: (readonly [string, string])[] = [];
  let done = false;
  for (const entry of frame.headers) {
    if (entry[0] !== name) headers.push(entry);
    else if (!done && value !== undefined) {
      headers.push([name, value]);
      done = true;
    }
  }
  if (!done && value !== undefined) headers.push([name, value]);
  return { ...frame, headers };
}

/** Builds the client-facing ack id of a delivery. */
export function clientAckId(subscription: string, offset: number): string {
  return `${ACK_ID_PREFIX}${offset}@${subscription}`;
}

/** Reads a client-facing ack id back, or `undefined` when it is not one of ours. */
export function parseClientAckId(
  id: string,
): { readonly subscription: string; readonly offset: number } | undefined {
  if (!id.startsWith(ACK_ID_PREFIX)) return undefined;
  const at = id.indexOf('@', ACK_ID_PREFIX.length);
  if (at < 0) return undefined;
  const digits = id.slice(ACK_ID_PREFIX.length, at);
  const offset = Number(digits);
  if (!/^\d+$/.test(digits) || !Number.isSafeInteger(offset)) return undefined;
  return { subscription: id.slice(at + 1), offset };
}

/**
 * The queue a `SEND` goes to when it says it is a stream: destination `/queue/<name>` or
 * `/amq/queue/<name>` with the header `x-queue-type:stream`.
 */
function streamQueue(frame: StompFrame): string | undefined {
  if (headerOf(frame, 'x-queue-type') !== 'stream') return undefined;
  const destination = headerOf(frame, 'destination') ?? '';
  const match = /^\/(?:amq\/)?queue\/(.+)$/.exec(destination);
  return match?.[1];
}

function parseOffsetHeader(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  const offset = Number(value);
  return Number.isSafeInteger(offset) ? offset : undefined;
}

/** The receiving side of a `heart-beat:x,y` header: `y` (`[1]`), or the sending side `x` (`[0]`). */
function heartBeat(frame: StompFrame, side: 0 | 1): number {
  const value = headerOf(frame, 'heart-beat')?.split(',')[side]?.trim();
  const ms = Number(value);
  return value !== undefined && Number.isSafeInteger(ms) && ms > 0 ? ms : 0;
}

function classifyClient(data: Buffer): ClientFrame {
  const frame = parseStompFrame(data);
  if (frame === 'heartbeat') return { kind: 'heartbeat' };
  if (frame === undefined) return { kind: 'other' };
  switch (frame.command) {
    case 'CONNECT':
    case 'STOMP':
      return { kind: 'connect', heartbeat: heartBeat(frame, 1) };
    case 'SEND': {
      const receipt = headerOf(frame, 'receipt');
      if (receipt === undefined || headerOf(frame, 'transaction') !== undefined) {
        return { kind: 'other' };
      }
      const stream = streamQueue(frame);
      return stream === undefined
        ? { kind: 'publish', id: receipt }
        : { kind: 'publish', id: receipt, target: stream };
    }
    case 'SUBSCRIBE': {
      const id = headerOf(frame, 'id') ?? headerOf(frame, 'destination');
      if (id === undefined) return { kind: 'other' };
      const mode = headerOf(frame, 'ack');
      const ack =
        mode === 'client' ? 'cumulative' : mode === 'client-individual' ? 'individual' : 'auto';
      const start = headerOf(frame, 'x-stream-offset');
      const from = start?.startsWith('offset=') ? parseOffsetHeader(start.slice(7)) : undefined;
      const receipt = headerOf(frame, 'receipt');
      return {
        kind: 'subscribe',
        stream: id,
        ack,
        ...(from === undefined ? {} : { from }),
        ...(receipt === undefined ? {} : { receipt }),
      };
    }
    case 'UNSUBSCRIBE': {
      const id = headerOf(frame, 'id') ?? headerOf(frame, 'destination');
      return id === undefined ? { kind: 'other' } : { kind: 'unsubscribe', stream: id };
    }
    case 'ACK':
    case 'NACK': {
      const id = headerOf(frame, 'id') ?? headerOf(frame, 'message-id');
      const parsed = id === undefined ? undefined : parseClientAckId(id);
      if (parsed === undefined) return { kind: 'other' };
      return { kind: 'ack', stream: parsed.subscription, offset: parsed.offset };
    }
    default:
      return { kind: 'other' };
  }
}

function classifyUpstream(data: Buffer): UpstreamFrame {
  // The hot path: look at the command before parsing everything.
  const start = skipEols(data, 0);
  if (start === data.length) return { kind: 'other' };
  const first = data[start];
  // MESSAGE, RECEIPT, CONNECTED, ERROR
  if (first !== 0x4d && first !== 0x52 && first !== 0x43 && first !== 0x45) {
    return { kind: 'other' };
  }
  const frame = parseStompFrame(data);
  if (frame === undefined || frame === 'heartbeat') return { kind: 'other' };
  switch (frame.command) {
    case 'MESSAGE': {
      const subscription = headerOf(frame, 'subscription');
      if (subscription?.startsWith(PROBE_PREFIX) === true) return { kind: 'internal' };
      const offset = parseOffsetHeader(headerOf(frame, 'x-stream-offset'));
      if (subscription === undefined || offset === undefined) return { kind: 'other' };
      const ack = headerOf(frame, 'ack');
      const messageId = headerOf(frame, 'message-id');
      const token = ack ?? messageId;
      const forClient = (): OutFrame => {
        const id = clientAckId(subscription, offset);
        let rewritten = frame;
        if (ack !== undefined) rewritten = withHeader(rewritten, 'ack', id);
        if (messageId !== undefined) rewritten = withHeader(rewritten, 'message-id', id);
        return serializeStompFrame(rewritten);
      };
      return token === undefined
        ? { kind: 'delivery', stream: subscription, offset }
        : { kind: 'delivery', stream: subscription, offset, token, forClient };
    }
    case 'RECEIPT': {
      const id = headerOf(frame, 'receipt-id');
      return id === undefined ? { kind: 'other' } : { kind: 'receipt', id };
    }
    case 'CONNECTED':
      return { kind: 'connected', heartbeat: heartBeat(frame, 0) };
    case 'ERROR':
      return { kind: 'error', message: headerOf(frame, 'message') ?? frame.body.toString('utf8') };
    default:
      return { kind: 'other' };
  }
}

function errorSignal(failures: readonly ResumeFailure[]): Signal {
  const first = failures[0];
  const reason = first?.reason ?? 'outage';
  const headers: [string, string][] = [
    ['message', `subgate: ${first?.message ?? 'resume failed'}`],
    [RESUME_FAILED_HEADER, reason],
  ];
  if (failures.length === 1 && first !== undefined) {
    if (first.stream !== undefined) headers.push(['subscription', first.stream]);
    if (first.expected !== undefined) {
      headers.push(['subgate-expected-offset', String(first.expected)]);
    }
    if (first.available !== undefined) {
      headers.push(['subgate-available-offset', String(first.available)]);
    }
    if (first.resumeFrom !== undefined) {
      headers.push(['subgate-resume-from', String(first.resumeFrom)]);
    }
  }
  const body = Buffer.from(JSON.stringify({ type: 'resume-failed', failures }), 'utf8');
  headers.push(['content-type', 'application/json'], ['content-length', String(body.length)]);
  const frame = serializeStompFrame({ command: 'ERROR', headers, body });
  return {
    frames: [frame.toString('utf8')],
    close: { code: RESUME_FAILED_CLOSE_CODE, reason: `broker resume failed: ${reason}` },
  };
}

/** The `stomp` codec: see the module documentation. */
export const stompCodec: BrokerCodec = {
  name: 'stomp',
  protocols: STOMP_PROTOCOLS,
  translatesAcks: true,
  // One offset per segment start is an offset tracking snapshot, not a message.
  maxOffsetHole: 1,
  classifyClient: (data) => classifyClient(data),
  classifyUpstream: (data) => classifyUpstream(data),

  answersSubscribe: true,

  resubscribe(subscription: Subscription, from, receipt) {
    const parsed = parseStompFrame(subscription.frame);
    if (parsed === undefined || parsed === 'heartbeat') return subscription.frame;
    let frame = withHeader(parsed, 'receipt', receipt);
    if (from !== undefined) frame = withHeader(frame, 'x-stream-offset', `offset=${from}`);
    return serializeStompFrame(frame).toString('utf8');
  },

  probe(queue, receipt) {
    const id = `${PROBE_PREFIX}${receipt}`;
    const subscribe: StompFrame = {
      command: 'SUBSCRIBE',
      headers: [
        ['id', id],
        ['destination', `/amq/queue/${queue}`],
        ['ack', 'client'],
        ['prefetch-count', '1'],
        ['x-stream-offset', 'next'],
        ['receipt', receipt],
      ],
      body: Buffer.alloc(0),
    };
    const unsubscribe: StompFrame = {
      command: 'UNSUBSCRIBE',
      headers: [['id', id]],
      body: Buffer.alloc(0),
    };
    return [subscribe, unsubscribe].map((frame) => serializeStompFrame(frame).toString('utf8'));
  },

  ack(stream, _offset, token) {
    const id = token ?? '';
    const headers: [string, string][] = [
      ['id', id],
      ['message-id', id],
      ['subscription', stream],
    ];
    return serializeStompFrame({ command: 'ACK', headers, body: Buffer.alloc(0) }).toString('utf8');
  },

  signal: errorSignal,

  heartbeat: () => '\n',
};
