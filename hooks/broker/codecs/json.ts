/**
 * The JSON broker protocol (codec `json`): one JSON object per WebSocket text frame, with a
 * `type`. The example broker in `examples/broker/` speaks it; so can yours.
 *
 * Client → broker:
 *
 * | frame | meaning |
 * |-------|---------|
 * | `{"type":"connect","client":"name"}` | handshake (optional `client`); answered by `connected` |
 * | `{"type":"publish","id":"p-1","stream":"orders","payload":…}` | append `payload` to `stream`; `id` unique per client while unconfirmed |
 * | `{"type":"subscribe","stream":"orders","from":0,"prefetch":100}` | deliver from offset `from` (or `"first"`, `"next"`; default `"next"`), at most `prefetch` unacknowledged (default 1000) |
 * | `{"type":"ack","stream":"orders","offset":41}` | cumulative: every delivery of `stream` up to offset 41 is processed |
 * | `{"type":"unsubscribe","stream":"orders"}` | stop delivering `stream` |
 *
 * Broker → client:
 *
 * | frame | meaning |
 * |-------|---------|
 * | `{"type":"connected","session":"…"}` | handshake answer |
 * | `{"type":"published","id":"p-1","stream":"orders","offset":42}` | the publish is durably stored at `offset` (the publish ack) |
 * | `{"type":"subscribed","stream":"orders","from":0}` | deliveries start at offset `from` |
 * | `{"type":"deliver","stream":"orders","offset":42,"payload":…}` | one message; offsets grow by one |
 * | `{"type":"error","code":"…","message":"…","id"?,"stream"?,"requested"?,"first"?}` | a refused publish (`id`) or subscribe (`stream`); code `offset-unavailable` carries the `first` offset still stored |
 *
 * Gateway → client, when resuming is impossible (see {@link ResumeFailedMessage}):
 * `{"type":"resume-failed","reason":"offset-unavailable","stream":"orders","expected":8,"available":90,"message":"…"}`.
 * The session goes on after it: the client knows exactly which offsets it misses.
 *
 * @module
 */
import type {
  BrokerCodec,
  ClientFrame,
  ResumeFailure,
  Signal,
  Subscription,
  UpstreamFrame,
} from '../codec.js';

/** Message types of the JSON protocol. */
export const JsonMessageType = {
  Connect: 'connect',
  Connected: 'connected',
  Publish: 'publish',
  Published: 'published',
  Subscribe: 'subscribe',
  Subscribed: 'subscribed',
  Unsubscribe: 'unsubscribe',
  Deliver: 'deliver',
  Ack: 'ack',
  Error: 'error',
  ResumeFailed: 'resume-failed',
} as const;

/** One of the values of {@link JsonMessageType}. */
export type JsonMessageType = (typeof JsonMessageType)[keyof typeof JsonMessageType];

/** Error codes of the JSON protocol. */
export const JsonErrorCode = {
  /** The subscribe asked for an offset below the first one the broker still stores. */
  OffsetUnavailable: 'offset-unavailable',
  /** The frame is not valid JSON or misses a field. */
  BadRequest: 'bad-request',
  /** The broker could not store the publish. */
  StoreFailed: 'store-failed',
} as const;

/** One of the values of {@link JsonErrorCode}. */
export type JsonErrorCode = (typeof JsonErrorCode)[keyof typeof JsonErrorCode];

/** Handshake. */
export interface ConnectMessage {
  readonly type: 'connect';
  readonly client?: string;
}
/** Handshake answer. */
export interface ConnectedMessage {
  readonly type: 'connected';
  readonly session: string;
}
/** Appends a payload to a stream. */
export interface PublishMessage {
  readonly type: 'publish';
  readonly id: string;
  readonly stream: string;
  readonly payload: unknown;
}
/** The publish ack: the payload is stored at `offset`. */
export interface PublishedMessage {
  readonly type: 'published';
  readonly id: string;
  readonly stream: string;
  readonly offset: number;
}
/** Where a subscription starts: an offset, the oldest stored message, or the next one appended. */
export type StartOffset = number | 'first' | 'next';
/** Starts deliveries of a stream. */
export interface SubscribeMessage {
  readonly type: 'subscribe';
  readonly stream: string;
  /** @default 'next' */
  readonly from?: StartOffset;
  /** Deliveries sent and not yet acknowledged, at most. @default 1000 */
  readonly prefetch?: number;
}
/** The subscription answer. */
export interface SubscribedMessage {
  readonly type: 'subscribed';
  readonly stream: string;
  /** The first offset that will be delivered. */
  readonly from: number;
}
/** Stops deliveries of a stream. */
export interface UnsubscribeMessage {
  readonly type: 'unsubscribe';
  readonly stream: string;
}
/** One message of a stream. */
export interface DeliverMessage {
  readonly type: 'deliver';
  readonly stream: string;
  readonly offset: number;
  readonly payload: unknown;
}
/** Cumulative consumer ack. */
export interface AckMessage {
  readonly type: 'ack';
  readonly stream: string;
  readonly offset: number;
}
/** A refused request. */
export interface ErrorMessage {
  readonly type: 'error';
  readonly code: JsonErrorCode;
  readonly message: string;
  /** The publish refused. */
  readonly id?: string;
  /** The stream whose subscribe was refused. */
  readonly stream?: string;
  /** `offset-unavailable`: the offset asked for. */
  readonly requested?: number;
  /** `offset-unavailable`: the first offset still stored. */
  readonly first?: number;
}

/**
 * The gateway's signal that a resume is impossible. `reason`:
 * - `offset-unavailable`: the client has every offset below `expected`, and the broker no longer
 *   stores `expected` (retention); `available` is the first offset it has, so the client misses
 *   exactly `expected` … `available - 1`. If the broker delivered from there instead, deliveries
 *   go on from `available`; if it refused (the example broker does), the stream is no longer
 *   subscribed and the client decides (subscribe again from `available`, or give up).
 * - `outage`: the gateway gave up on the broker (`maxOutage`/`maxRetries`); one frame per stream
 *   with `resumeFrom` (last acked + 1), and one with `unconfirmed`: the ids of publishes never
 *   confirmed, whose outcome is unknown. The client is closed with 1013 right after.
 * - `buffer-full`: a per-session bound of the gateway was exceeded; the client is closed with 1008.
 */
export interface ResumeFailedMessage extends ResumeFailure {
  readonly type: 'resume-failed';
}

/** Every frame a client sends. */
export type JsonClientMessage =
  ConnectMessage | PublishMessage | SubscribeMessage | UnsubscribeMessage | AckMessage;

/** Every frame a broker sends. */
export type JsonBrokerMessage =
  ConnectedMessage | PublishedMessage | SubscribedMessage | DeliverMessage | ErrorMessage;

type Json = Record<string, unknown>;

const isOffset = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
const isName = (value: unknown): value is string => typeof value === 'string' && value !== '';

/** Parses a frame into an object with a string `type`, or `undefined`. */
export function parseJsonFrame(data: Buffer | string): (Json & { type: string }) | undefined {
  let value: unknown;
  try {
    value = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const type = (value as Json)['type'];
  return typeof type === 'string' ? (value as Json & { type: string }) : undefined;
}

/**
 * Validates a client frame for a broker: the typed message, or an error text naming the field.
 *
 * @example `parseClientMessage('{"type":"ack","stream":"a","offset":-1}')` is
 * `'ack.offset must be an integer >= 0'`.
 */
export function parseClientMessage(data: Buffer | string): JsonClientMessage | string {
  const m = parseJsonFrame(data);
  if (m === undefined) return 'frame must be a JSON object with a string "type"';
  switch (m.type) {
    case 'connect':
      return m['client'] === undefined || typeof m['client'] === 'string'
        ? (m as unknown as ConnectMessage)
        : 'connect.client must be a string';
    case 'publish':
      if (!isName(m['id'])) return 'publish.id must be a non-empty string';
      if (!isName(m['stream'])) return 'publish.stream must be a non-empty string';
      return m as unknown as PublishMessage;
    case 'subscribe': {
      if (!isName(m['stream'])) return 'subscribe.stream must be a non-empty string';
      const from = m['from'];
      if (from !== undefined && from !== 'first' && from !== 'next' && !isOffset(from)) {
        return 'subscribe.from must be an offset (integer >= 0), "first" or "next"';
      }
      const prefetch = m['prefetch'];
      if (prefetch !== undefined && !(isOffset(prefetch) && prefetch >= 1)) {
        return 'subscribe.prefetch must be an integer >= 1';
      }
      return m as unknown as SubscribeMessage;
    }
    case 'unsubscribe':
      return isName(m['stream'])
        ? (m as unknown as UnsubscribeMessage)
        : 'unsubscribe.stream must be a non-empty string';
    case 'ack':
      if (!isName(m['stream'])) return 'ack.stream must be a non-empty string';
      if (!isOffset(m['offset'])) return 'ack.offset must be an integer >= 0';
      return m as unknown as AckMessage;
    default:
      return `unknown type ${JSON.stringify(m.type)}`;
  }
}

/** Serialises a protocol message. */
export function stringifyMessage(
  message: JsonClientMessage | JsonBrokerMessage | ResumeFailedMessage,
): string {
  return JSON.stringify(message);
}

/** The `resume-failed` frame for one failure. */
export function resumeFailedMessage(failure: ResumeFailure): ResumeFailedMessage {
  return { type: 'resume-failed', ...failure };
}

/** The `json` codec: see the module documentation for the protocol. */
export const jsonCodec: BrokerCodec = {
  name: 'json',

  classifyClient(data, binary): ClientFrame {
    if (binary) return { kind: 'other' };
    const m = parseJsonFrame(data);
    if (m === undefined) return { kind: 'other' };
    switch (m.type) {
      case 'connect':
        return { kind: 'connect' };
      case 'publish':
        if (!isName(m['id'])) return { kind: 'other' };
        return isName(m['stream'])
          ? { kind: 'publish', id: m['id'], target: m['stream'] }
          : { kind: 'publish', id: m['id'] };
      case 'subscribe': {
        if (!isName(m['stream'])) return { kind: 'other' };
        const from = m['from'];
        return isOffset(from)
          ? { kind: 'subscribe', stream: m['stream'], ack: 'cumulative', from }
          : { kind: 'subscribe', stream: m['stream'], ack: 'cumulative' };
      }
      case 'unsubscribe':
        return isName(m['stream'])
          ? { kind: 'unsubscribe', stream: m['stream'] }
          : { kind: 'other' };
      case 'ack':
        return isName(m['stream']) && isOffset(m['offset'])
          ? { kind: 'ack', stream: m['stream'], offset: m['offset'] }
          : { kind: 'other' };
      default:
        return { kind: 'other' };
    }
  },

  classifyUpstream(data, binary): UpstreamFrame {
    if (binary) return { kind: 'other' };
    const m = parseJsonFrame(data);
    if (m === undefined) return { kind: 'other' };
    switch (m.type) {
      case 'deliver':
        return isName(m['stream']) && isOffset(m['offset'])
          ? { kind: 'delivery', stream: m['stream'], offset: m['offset'] }
          : { kind: 'other' };
      case 'published':
        return isName(m['id']) ? { kind: 'receipt', id: m['id'] } : { kind: 'other' };
      case 'connected':
        return { kind: 'connected' };
      case 'subscribed':
        if (!isName(m['stream'])) return { kind: 'other' };
        return isOffset(m['from'])
          ? { kind: 'subscribed', stream: m['stream'], from: m['from'] }
          : { kind: 'subscribed', stream: m['stream'] };
      case 'error':
        if (isName(m['id'])) return { kind: 'receipt', id: m['id'] };
        if (m['code'] === JsonErrorCode.OffsetUnavailable && isName(m['stream'])) {
          return isOffset(m['first'])
            ? {
                kind: 'subscribe-failed',
                stream: m['stream'],
                reason: JsonErrorCode.OffsetUnavailable,
                available: m['first'],
              }
            : {
                kind: 'subscribe-failed',
                stream: m['stream'],
                reason: JsonErrorCode.OffsetUnavailable,
              };
        }
        return { kind: 'other' };
      default:
        return { kind: 'other' };
    }
  },

  answersSubscribe: true,

  resubscribe(subscription: Subscription, from) {
    const original = parseJsonFrame(subscription.frame) ?? {};
    return JSON.stringify(from === undefined ? original : { ...original, from });
  },

  ack: (stream, offset) => stringifyMessage({ type: 'ack', stream, offset }),

  signal(failures): Signal {
    return { frames: failures.map((failure) => stringifyMessage(resumeFailedMessage(failure))) };
  },
};
