/**
 * The two GraphQL-over-WebSocket protocols seen through one lens: each adapter turns the frames of
 * its protocol into a few normalised events and builds the frames the hook sends itself.
 *
 * - `graphql-transport-ws` (the `graphql-ws` library): its message types, close codes and
 *   validation are imported from `graphql-ws`, never redeclared.
 * - `graphql-ws`, the legacy subscriptions-transport-ws protocol: `graphql-ws` the library does not
 *   export it (only its name, `DEPRECATED_GRAPHQL_WS_PROTOCOL`), so its message types live in
 *   {@link LegacyMessageType}.
 *
 * @module
 */
import {
  DEPRECATED_GRAPHQL_WS_PROTOCOL,
  GRAPHQL_TRANSPORT_WS_PROTOCOL,
  MessageType,
  stringifyMessage,
  validateMessage,
  type SubscribePayload,
} from 'graphql-ws';
import type { GraphQLFormattedError } from 'graphql';

/** Message types of the legacy subscriptions-transport-ws protocol (subprotocol `graphql-ws`). */
export const LegacyMessageType = {
  /** Client → server: opens the session, with `payload` (connection params). */
  ConnectionInit: 'connection_init',
  /** Server → client: the session is accepted. */
  ConnectionAck: 'connection_ack',
  /** Server → client: the session is refused (`payload.message`); the server closes next. */
  ConnectionError: 'connection_error',
  /** Server → client: keep-alive, sent periodically once acknowledged. */
  KeepAlive: 'ka',
  /** Client → server: the client is leaving. */
  ConnectionTerminate: 'connection_terminate',
  /** Client → server: runs an operation `{ id, payload: { query, variables, operationName } }`. */
  Start: 'start',
  /** Server → client: one result `{ id, payload: { data, errors } }`. */
  Data: 'data',
  /** Server → client: the operation failed before it ran; it is over. */
  Error: 'error',
  /** Server → client: the operation is over. */
  Complete: 'complete',
  /** Client → server: cancels an operation. */
  Stop: 'stop',
} as const;

/** One of {@link LegacyMessageType}'s values. */
export type LegacyMessageType = (typeof LegacyMessageType)[keyof typeof LegacyMessageType];

/** The subprotocols the hook speaks. */
export type GraphqlWsProtocol =
  typeof GRAPHQL_TRANSPORT_WS_PROTOCOL | typeof DEPRECATED_GRAPHQL_WS_PROTOCOL;

/** Every subprotocol the hook speaks, modern first. */
export const PROTOCOLS: readonly GraphqlWsProtocol[] = [
  GRAPHQL_TRANSPORT_WS_PROTOCOL,
  DEPRECATED_GRAPHQL_WS_PROTOCOL,
];

type Payload = Record<string, unknown> | undefined;

/** A client frame, normalised. `other` covers everything the hook passes on untouched. */
export type ClientEvent =
  | { readonly kind: 'init'; readonly payload: Payload }
  | { readonly kind: 'subscribe'; readonly id: string; readonly payload: SubscribePayload }
  | { readonly kind: 'complete'; readonly id: string }
  | { readonly kind: 'ping'; readonly payload: Payload }
  | { readonly kind: 'pong' }
  | { readonly kind: 'terminate' }
  | { readonly kind: 'other' };

/** A frame from the target, normalised. */
export type UpstreamEvent =
  | { readonly kind: 'ack' }
  | { readonly kind: 'rejected'; readonly message: string }
  | { readonly kind: 'next'; readonly id: string; readonly payload: unknown }
  | { readonly kind: 'error'; readonly id: string }
  | { readonly kind: 'complete'; readonly id: string }
  | { readonly kind: 'ping'; readonly payload: Payload }
  | { readonly kind: 'pong'; readonly payload: Payload }
  | { readonly kind: 'keep-alive' }
  | { readonly kind: 'other' };

/** One protocol's reading and writing of frames. */
export interface ProtocolAdapter {
  readonly protocol: GraphqlWsProtocol;
  /**
   * Whether a `start`/`subscribe` with an id already in use replaces that operation (legacy)
   * rather than being a protocol error the target answers with 4409 (modern).
   */
  readonly replacesDuplicateIds: boolean;
  parseClient(message: unknown): ClientEvent;
  parseUpstream(message: unknown): UpstreamEvent;
  init(payload: Payload): string;
  subscribe(id: string, payload: SubscribePayload): string;
  /** A `complete` for the client. */
  complete(id: string): string;
  /** An operation `error` for the client. */
  error(id: string, errors: readonly GraphQLFormattedError[]): string;
  /** Protocol ping/pong (modern only). */
  readonly ping: ((payload: Payload) => string) | undefined;
  readonly pong: ((payload: Payload) => string) | undefined;
  /** Keep-alive for the client (legacy only). */
  readonly keepAlive: (() => string) | undefined;
}

/**
 * A frame's JSON, or `undefined` when it is not JSON (the adapters treat that as `other`). Pass
 * the frame's text when the caller needs it too, so it is decoded once.
 */
export function parseJson(data: Buffer | string): unknown {
  try {
    return JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    return undefined;
  }
}

const OTHER = { kind: 'other' } as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function payloadOf(message: Record<string, unknown>): Payload {
  return isRecord(message['payload']) ? message['payload'] : undefined;
}

function idOf(message: Record<string, unknown>): string | undefined {
  const id = message['id'];
  return typeof id === 'string' && id !== '' ? id : undefined;
}

/** `graphql-transport-ws`, the protocol of the `graphql-ws` library. */
export const modernProtocol: ProtocolAdapter = {
  protocol: GRAPHQL_TRANSPORT_WS_PROTOCOL,
  replacesDuplicateIds: false,
  parseClient(message) {
    let valid;
    try {
      valid = validateMessage(message);
    } catch {
      return OTHER; // the target closes with 4400; not ours to judge
    }
    switch (valid.type) {
      case MessageType.ConnectionInit:
        return { kind: 'init', payload: valid.payload };
      case MessageType.Subscribe:
        return { kind: 'subscribe', id: valid.id, payload: valid.payload };
      case MessageType.Complete:
        return { kind: 'complete', id: valid.id };
      case MessageType.Ping:
        return { kind: 'ping', payload: valid.payload };
      case MessageType.Pong:
        return { kind: 'pong' };
      default:
        return OTHER;
    }
  },
  // Lenient on purpose: a frame the client library would reject is still the target's to send.
  parseUpstream(message) {
    if (!isRecord(message)) return OTHER;
    const id = idOf(message);
    switch (message['type']) {
      case MessageType.ConnectionAck:
        return { kind: 'ack' };
      case MessageType.Next:
        return id === undefined ? OTHER : { kind: 'next', id, payload: message['payload'] };
      case MessageType.Error:
        return id === undefined ? OTHER : { kind: 'error', id };
      case MessageType.Complete:
        return id === undefined ? OTHER : { kind: 'complete', id };
      case MessageType.Ping:
        return { kind: 'ping', payload: payloadOf(message) };
      case MessageType.Pong:
        return { kind: 'pong', payload: payloadOf(message) };
      default:
        return OTHER;
    }
  },
  init: (payload) =>
    stringifyMessage<MessageType.ConnectionInit>(
      payload === undefined
        ? { type: MessageType.ConnectionInit }
        : { type: MessageType.ConnectionInit, payload },
    ),
  subscribe: (id, payload) =>
    stringifyMessage<MessageType.Subscribe>({ id, type: MessageType.Subscribe, payload }),
  complete: (id) => stringifyMessage<MessageType.Complete>({ id, type: MessageType.Complete }),
  error: (id, errors) =>
    stringifyMessage<MessageType.Error>({ id, type: MessageType.Error, payload: errors }),
  ping: (payload) =>
    stringifyMessage<MessageType.Ping>(
      payload === undefined ? { type: MessageType.Ping } : { type: MessageType.Ping, payload },
    ),
  pong: (payload) =>
    stringifyMessage<MessageType.Pong>(
      payload === undefined ? { type: MessageType.Pong } : { type: MessageType.Pong, payload },
    ),
  keepAlive: undefined,
};

function legacyPayload(value: unknown): SubscribePayload | undefined {
  if (!isRecord(value) || typeof value['query'] !== 'string') return undefined;
  return value as unknown as SubscribePayload;
}

/** `graphql-ws`, the legacy subscriptions-transport-ws protocol. */
export const legacyProtocol: ProtocolAdapter = {
  protocol: DEPRECATED_GRAPHQL_WS_PROTOCOL,
  replacesDuplicateIds: true,
  parseClient(message) {
    if (!isRecord(message)) return OTHER;
    const id = idOf(message);
    switch (message['type']) {
      case LegacyMessageType.ConnectionInit:
        return { kind: 'init', payload: payloadOf(message) };
      case LegacyMessageType.Start: {
        const payload = legacyPayload(message['payload']);
        return id === undefined || payload === undefined
          ? OTHER
          : { kind: 'subscribe', id, payload };
      }
      case LegacyMessageType.Stop:
        return id === undefined ? OTHER : { kind: 'complete', id };
      case LegacyMessageType.ConnectionTerminate:
        return { kind: 'terminate' };
      default:
        return OTHER;
    }
  },
  parseUpstream(message) {
    if (!isRecord(message)) return OTHER;
    const id = idOf(message);
    switch (message['type']) {
      case LegacyMessageType.ConnectionAck:
        return { kind: 'ack' };
      case LegacyMessageType.ConnectionError: {
        const text = payloadOf(message)?.['message'];
        return { kind: 'rejected', message: typeof text === 'string' ? text : 'connection_error' };
      }
      case LegacyMessageType.KeepAlive:
        return { kind: 'keep-alive' };
      case LegacyMessageType.Data:
        return id === undefined ? OTHER : { kind: 'next', id, payload: message['payload'] };
      case LegacyMessageType.Error:
        return id === undefined ? OTHER : { kind: 'error', id };
      case LegacyMessageType.Complete:
        return id === undefined ? OTHER : { kind: 'complete', id };
      default:
        return OTHER;
    }
  },
  init: (payload) =>
    JSON.stringify(
      payload === undefined
        ? { type: LegacyMessageType.ConnectionInit }
        : { type: LegacyMessageType.ConnectionInit, payload },
    ),
  subscribe: (id, payload) => JSON.stringify({ id, type: LegacyMessageType.Start, payload }),
  complete: (id) => JSON.stringify({ id, type: LegacyMessageType.Complete }),
  // subscriptions-transport-ws servers send one error object (`{ message }`), not an array.
  error: (id, errors) =>
    JSON.stringify({
      id,
      type: LegacyMessageType.Error,
      payload: errors[0] ?? { message: 'error' },
    }),
  ping: undefined,
  pong: undefined,
  keepAlive: () => JSON.stringify({ type: LegacyMessageType.KeepAlive }),
};

/** The adapter for a negotiated subprotocol; `undefined` for one the hook does not speak. */
export function adapterFor(protocol: string | undefined): ProtocolAdapter | undefined {
  if (protocol === GRAPHQL_TRANSPORT_WS_PROTOCOL) return modernProtocol;
  if (protocol === DEPRECATED_GRAPHQL_WS_PROTOCOL) return legacyProtocol;
  return undefined;
}
