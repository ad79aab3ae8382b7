/**
 * The client side of the protocol, enforced by the gateway itself: a frame that breaks the rules
 * is answered the way a graphql-ws server would answer it and never reaches the target — whether
 * the target is up or not.
 *
 * `graphql-transport-ws` (PROTOCOL.md): an invalid message closes with 4400, a `subscribe` before
 * the client was acknowledged with 4401, a second `connection_init` with 4429, a duplicate active
 * id with 4409, and no `connection_init` within the wait timeout with 4408. The legacy protocol
 * keeps the connection and answers unparseable frames with `connection_error` and unknown types
 * with `error`, as subscriptions-transport-ws servers do.
 *
 * @module
 */
import { CloseCode, MessageType, validateMessage } from 'graphql-ws';
import type { SessionContext } from '../../src/index.js';
import { LegacyMessageType } from './protocol.js';

/** Longest operation id accepted, in characters; longer ones close with 4400. */
export const MAX_ID_LENGTH = 1024;

/** Checks each client frame once, when it arrives. */
export interface ClientGuard {
  /**
   * Whether a client frame (already JSON-parsed, `undefined` when it was not JSON) may go on; when
   * not, the client was already answered (or closed).
   */
  admit(message: unknown): boolean;
  /** The client received its `connection_ack`: subscribing is allowed from now on. */
  acknowledged(): void;
  /** The target ended operation `id` (complete or error): the client may reuse the id. */
  released(id: string): void;
  /** Stops the init timer. */
  dispose(): void;
}

const LEGACY_TYPES: ReadonlySet<string> = new Set([
  LegacyMessageType.ConnectionInit,
  LegacyMessageType.Start,
  LegacyMessageType.Stop,
  LegacyMessageType.ConnectionTerminate,
]);

/**
 * Creates the guard for one session. `initTimeout` (ms, 0 = none) applies to the modern protocol:
 * a client that does not send `connection_init` in time is closed with 4408.
 */
export function createClientGuard(
  ctx: SessionContext,
  legacy: boolean,
  initTimeout: number,
): ClientGuard {
  let initSeen = false;
  let acked = false;
  const active = new Set<string>();
  const timer =
    legacy || initTimeout === 0
      ? undefined
      : setTimeout(() => {
          if (!initSeen)
            ctx.closeClient(
              CloseCode.ConnectionInitialisationTimeout,
              'Connection initialisation timeout',
            );
        }, initTimeout);
  timer?.unref();

  const refuse = (code: number, reason: string): false => {
    ctx.count('client_protocol_errors');
    ctx.closeClient(code, reason);
    return false;
  };

  const admitLegacy = (parsed: unknown): boolean => {
    const message = parsed as { type?: unknown; id?: unknown } | undefined;
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      ctx.count('client_protocol_errors');
      ctx.sendClient(
        JSON.stringify({
          type: LegacyMessageType.ConnectionError,
          payload: { message: 'Message must be JSON-parseable' },
        }),
      );
      return false;
    }
    if (typeof message.type !== 'string' || !LEGACY_TYPES.has(message.type)) {
      ctx.count('client_protocol_errors');
      const id =
        typeof message.id === 'string' && message.id.length <= MAX_ID_LENGTH
          ? message.id
          : undefined;
      ctx.sendClient(
        JSON.stringify({
          type: LegacyMessageType.Error,
          id,
          payload: { message: 'Invalid message type!' },
        }),
      );
      return false;
    }
    if (typeof message.id === 'string' && message.id.length > MAX_ID_LENGTH) {
      ctx.count('client_protocol_errors');
      ctx.sendClient(
        JSON.stringify({
          type: LegacyMessageType.Error,
          payload: { message: 'Operation id too long' },
        }),
      );
      return false;
    }
    return true;
  };

  const admitModern = (parsed: unknown): boolean => {
    let message;
    try {
      message = validateMessage(parsed);
    } catch (error) {
      return refuse(CloseCode.BadRequest, `Invalid message received: ${(error as Error).message}`);
    }
    switch (message.type) {
      case MessageType.ConnectionInit:
        if (initSeen)
          return refuse(
            CloseCode.TooManyInitialisationRequests,
            'Too many initialisation requests',
          );
        initSeen = true;
        clearTimeout(timer);
        return true;
      case MessageType.Subscribe:
        if (!acked) return refuse(CloseCode.Unauthorized, 'Unauthorized');
        if (message.id.length > MAX_ID_LENGTH) {
          return refuse(
            CloseCode.BadRequest,
            `Invalid message received: id longer than ${MAX_ID_LENGTH}`,
          );
        }
        if (active.has(message.id)) {
          return refuse(
            CloseCode.SubscriberAlreadyExists,
            `Subscriber for ${message.id} already exists`,
          );
        }
        active.add(message.id);
        return true;
      case MessageType.Complete:
        active.delete(message.id);
        return true;
      case MessageType.Ping:
      case MessageType.Pong:
        return true;
      default:
        // Valid, but a server-to-client message.
        return refuse(
          CloseCode.BadRequest,
          `Invalid message received: unexpected type ${message.type}`,
        );
    }
  };

  return {
    admit: legacy ? admitLegacy : admitModern,
    acknowledged() {
      acked = true;
    },
    released(id) {
      active.delete(id);
    },
    dispose() {
      clearTimeout(timer);
    },
  };
}
