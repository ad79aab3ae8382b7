/**
 * `subgate/client`: a helper for graphql-ws clients whose sessions outlive a gateway instance.
 *
 * The gateway hands out an opaque resume token in `connection_ack` and, once asked, stamps every
 * event of a resumable subscription with a cursor. This helper remembers the token and the last
 * cursor of each active subscription and presents both in the `connection_init` payload of the
 * next connection, so a gateway instance that never saw this client can pick the session up
 * where the previous one left it.
 *
 * The wire contract (graphql-transport-ws; the gateway does the same for the legacy
 * subscriptions-transport-ws protocol):
 *
 * - `connection_init`: `payload[SUBGATE_KEY]` is a {@link SubgateInitParams},
 *   `{ token?, cursors }`. `cursors` is always present (possibly `{}`): that is how the gateway
 *   knows to stamp cursors. The gateway removes the key before the target sees the payload.
 * - `connection_ack`: `payload[SUBGATE_KEY]` is a {@link SubgateAckPayload}, `{ token }`.
 * - `next`: `payload.extensions[SUBGATE_KEY]` is a {@link SubgateNextExtensions}, `{ cursor }`.
 * - Refusals: the gateway closes the socket with {@link SESSION_UNKNOWN} (4410) or
 *   {@link SESSION_FORBIDDEN} (4403). 1013 (try again later) keeps the session.
 *
 * This module imports nothing but the graphql-ws client, so it runs in browsers as well as in
 * Node; the gateway imports its constants from here to stay in sync.
 *
 * @module
 */

import {
  createClient,
  type Client,
  type ClientOptions,
  type ConnectionInitMessage,
  type JSONMessageReplacer,
  type Message,
} from 'graphql-ws/client';

/**
 * The key under which subgate's part of the contract travels: in the `connection_init` payload,
 * in the `connection_ack` payload and in the `extensions` of `next` payloads.
 *
 * @example
 * ```ts
 * const token = (ackPayload?.[SUBGATE_KEY] as SubgateAckPayload | undefined)?.token;
 * ```
 */
export const SUBGATE_KEY = 'subgate';

/**
 * Close code of a refused resume: the presented token is unknown or has expired. The client
 * forgets the token and its cursors and starts a fresh session on its next attempt.
 *
 * @example
 * ```ts
 * socket.close(SESSION_UNKNOWN, 'session expired');
 * ```
 */
export const SESSION_UNKNOWN = 4410;

/**
 * Close code of a refused `connection_init`: a token was presented together with other
 * credentials, or the target refused the init. The client forgets the token and its cursors and
 * starts a fresh session on its next attempt.
 *
 * @example
 * ```ts
 * socket.close(SESSION_FORBIDDEN, 'Forbidden');
 * ```
 */
export const SESSION_FORBIDDEN = 4403;

/**
 * What the client sends under {@link SUBGATE_KEY} in the `connection_init` payload.
 *
 * @example
 * ```ts
 * const first: SubgateInitParams = { cursors: {} };
 * const resume: SubgateInitParams = { token: 't1', cursors: { 'sub-1': 41 } };
 * ```
 */
export interface SubgateInitParams {
  /** The resume token of the session to continue; absent when starting a fresh session. */
  token?: string;
  /**
   * The last cursor received for each active subscription, by subscription id. Always present,
   * possibly empty: its presence asks the gateway to stamp cursors on events.
   */
  cursors: Record<string, unknown>;
}

/**
 * What the gateway adds under {@link SUBGATE_KEY} to the `connection_ack` payload.
 *
 * @example
 * ```ts
 * const ack = { type: 'connection_ack', payload: { [SUBGATE_KEY]: { token: 't1' } } };
 * ```
 */
export interface SubgateAckPayload {
  /** Opaque resume token; present it in the next `connection_init` to resume the session. */
  token: string;
}

/**
 * What the gateway adds under {@link SUBGATE_KEY} to `payload.extensions` of a `next` message of a
 * resumable subscription, when the client asked for cursors.
 *
 * @example
 * ```ts
 * const extensions = { [SUBGATE_KEY]: { cursor: 42 } satisfies SubgateNextExtensions };
 * const next = { id: 'sub-1', type: 'next', payload: { data: { tick: 42 }, extensions } };
 * ```
 */
export interface SubgateNextExtensions {
  /** The event's position in its stream: any JSON value, opaque to the client. */
  cursor: unknown;
}

/**
 * The argument of {@link SubgateHooks.onSessionLost}: the close that refused the session.
 *
 * @example
 * ```ts
 * const lost: SessionLostEvent = { code: SESSION_UNKNOWN, reason: 'session expired' };
 * ```
 */
export interface SessionLostEvent {
  /** {@link SESSION_UNKNOWN} or {@link SESSION_FORBIDDEN}. */
  code: number;
  /** The close reason the gateway gave (possibly empty). */
  reason: string;
}

/**
 * Callbacks of {@link withSubgate} and {@link createSubgateClient}.
 *
 * @example
 * ```ts
 * const hooks: SubgateHooks = { onSessionLost: ({ code }) => console.warn('session lost', code) };
 * ```
 */
export interface SubgateHooks {
  /**
   * Called once for every close with {@link SESSION_UNKNOWN} or {@link SESSION_FORBIDDEN}, after
   * the token and all cursors have been forgotten. graphql-ws retries on its own (neither code is
   * fatal to it), so active subscriptions are subscribed again in a fresh session: events
   * published while the client was away may be missing, which is what this callback is for
   * (e.g. refetch state). Also called for a 4403 that refused an init without a token.
   */
  onSessionLost?: (event: SessionLostEvent) => void;
}

/** `WebSocket.OPEN`, the same in browsers and in `ws`. */
const OPEN = 1;

/** 1000: the session ended on purpose (a lazy client released its last subscription, or …). */
const NORMAL_CLOSURE = 1000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Code and reason of a close event (a DOM/`ws` `CloseEvent` or graphql-ws's synthetic ones). */
function closeInfo(event: unknown): SessionLostEvent | undefined {
  if (typeof event !== 'object' || event === null) return undefined;
  const { code, reason } = event as { code?: unknown; reason?: unknown };
  if (typeof code !== 'number') return undefined;
  return { code, reason: typeof reason === 'string' ? reason : '' };
}

/**
 * Returns new graphql-ws client options that keep a subgate session across reconnections:
 *
 * - `connectionParams` calls yours (an object, or a function, possibly async, called on every
 *   connection attempt) and adds `subgate: { token?, cursors }` ({@link SubgateInitParams}). A
 *   `subgate` key of your own is replaced.
 * - `on.connected` remembers the token of the `connection_ack` (an ack without one forgets it).
 * - `on.message` records `payload.extensions.subgate.cursor` of every `next` per subscription id,
 *   and drops the id on `complete` or `error`. The extension is left in the payload your sinks
 *   receive.
 * - `on.closed`: {@link SESSION_UNKNOWN} or {@link SESSION_FORBIDDEN} forget the token and all
 *   cursors, then call `hooks.onSessionLost`; 1000 (normal closure, e.g. a lazy client released
 *   its last subscription) forgets them silently; any other code (1012, 1013, 1006 …) keeps them
 *   for the retry.
 * - `jsonMessageReplacer` (yours is still applied) watches outgoing messages: a `complete` sent
 *   by the client drops that id's cursor, and after each connection the ids that were not
 *   subscribed again are dropped, so cursors are only kept for active subscriptions.
 *
 * - `shouldRetry`, unless you set one, retries after connection errors too (graphql-ws retries
 *   only close events by default), so that a load balancer's 502 or 503 while an instance
 *   restarts does not end the subscriptions. `retryAttempts` stays yours: raise it from
 *   graphql-ws's 5 for a client that should ride out a long outage.
 *
 * Your `on.connected`, `on.message` and `on.closed` listeners are still called (after the
 * helper's bookkeeping). The input options are not modified. The returned options hold the
 * session state: pass them to one `createClient` only.
 *
 * @example
 * ```ts
 * import { createClient } from 'graphql-ws';
 * import { withSubgate } from 'subgate/client';
 *
 * const client = createClient(
 *   withSubgate(
 *     {
 *       url: 'wss://gateway.example/graphql',
 *       connectionParams: async () => ({ auth: await getToken() }),
 *     },
 *     { onSessionLost: () => refetchEverything() },
 *   ),
 * );
 * ```
 */
export function withSubgate<
  P extends ConnectionInitMessage['payload'] = ConnectionInitMessage['payload'],
>(options: ClientOptions<P>, hooks: SubgateHooks = {}): ClientOptions<P> {
  const { connectionParams: userParams, jsonMessageReplacer: userReplacer, on = {} } = options;
  const { connected: userConnected, message: userMessage, closed: userClosed } = on;

  let token: string | undefined;
  /** Last cursor per subscription id; only ids with a cursor are kept. */
  const cursors = new Map<string, unknown>();
  /**
   * While a sweep is due for the current connection: the ids sent in a `subscribe` on it since
   * the ack. `undefined` once the sweep is done, or while no connection is up.
   */
  let pending: Set<string> | undefined;

  const forget = (): void => {
    token = undefined;
    cursors.clear();
  };

  /**
   * Drops the cursors of subscriptions released while the client was disconnected (graphql-ws
   * sends no `complete` for those). graphql-ws subscribes every active subscription again right
   * after the ack, all in the microtasks of the ack's macrotask, unless the socket is closing by
   * then. So the ids not subscribed again are known to be released once a later macrotask finds
   * the socket still open, or once the socket closes if at least one id was subscribed again
   * (then the socket was open during those microtasks). Otherwise the cursors are kept: better a
   * cursor too many for one more connection than one lost for an active subscription.
   */
  const sweep = (seen: Set<string>): void => {
    pending = undefined;
    for (const id of cursors.keys()) if (!seen.has(id)) cursors.delete(id);
  };

  const connectionParams = async (): Promise<P> => {
    const user = typeof userParams === 'function' ? await userParams() : userParams;
    const subgate: SubgateInitParams = { cursors: Object.fromEntries(cursors) };
    if (token !== undefined) subgate.token = token;
    // P plus the subgate key: graphql-ws only serialises it.
    return { ...user, [SUBGATE_KEY]: subgate } as unknown as P;
  };

  const jsonMessageReplacer: JSONMessageReplacer = function (this: unknown, key, value) {
    // The first call of a JSON.stringify is for the whole message, held under the key ''.
    if (key === '' && isRecord(this) && this[''] === value && isRecord(value)) {
      const { id, type } = value;
      if (typeof id === 'string') {
        if (type === 'subscribe') pending?.add(id);
        else if (type === 'complete') cursors.delete(id);
      }
    }
    return userReplacer ? userReplacer.call(this, key, value) : value;
  };

  const connected: NonNullable<typeof on.connected> = (ws, payload, wasRetry) => {
    const subgate = payload?.[SUBGATE_KEY];
    token = isRecord(subgate) && typeof subgate.token === 'string' ? subgate.token : undefined;
    const seen = new Set<string>();
    pending = seen;
    setTimeout(() => {
      if (pending === seen && (ws as { readyState?: unknown }).readyState === OPEN) sweep(seen);
    }, 0);
    userConnected?.(ws, payload, wasRetry);
  };

  const message: NonNullable<typeof on.message> = (msg: Message) => {
    if (msg.type === 'next') {
      const extensions: unknown = msg.payload.extensions;
      const subgate = isRecord(extensions) ? extensions[SUBGATE_KEY] : undefined;
      if (isRecord(subgate) && subgate.cursor !== undefined) cursors.set(msg.id, subgate.cursor);
    } else if (msg.type === 'complete' || msg.type === 'error') {
      cursors.delete(msg.id);
    }
    userMessage?.(msg);
  };

  const closed: NonNullable<typeof on.closed> = (event) => {
    if (pending && pending.size > 0) sweep(pending);
    pending = undefined;
    const info = closeInfo(event);
    const refused = info?.code === SESSION_UNKNOWN || info?.code === SESSION_FORBIDDEN;
    if (refused || info?.code === NORMAL_CLOSURE) forget();
    try {
      if (refused && info) hooks.onSessionLost?.(info);
    } finally {
      userClosed?.(event);
    }
  };

  return {
    ...options,
    // graphql-ws retries only close events by default: an error event, such as a load balancer
    // answering 502 or 503 while an instance restarts, would end every subscription for good.
    shouldRetry: options.shouldRetry ?? (() => true),
    connectionParams,
    jsonMessageReplacer,
    on: { ...on, connected, message, closed },
  };
}

/**
 * `createClient(withSubgate(options, hooks))`: a graphql-ws client that resumes its subgate
 * session across reconnections. See {@link withSubgate}.
 *
 * @example
 * ```ts
 * import WebSocket from 'ws';
 * import { createSubgateClient } from 'subgate/client';
 *
 * const client = createSubgateClient(
 *   { url: 'ws://localhost:4000/graphql', webSocketImpl: WebSocket, retryAttempts: Infinity },
 *   { onSessionLost: ({ code, reason }) => console.warn(`session lost (${code} ${reason})`) },
 * );
 * for await (const event of client.iterate({ query: 'subscription { ticks { seq } }' })) {
 *   console.log(event.data); // event.extensions?.subgate?.cursor is left in place
 * }
 * ```
 */
export function createSubgateClient<
  P extends ConnectionInitMessage['payload'] = ConnectionInitMessage['payload'],
>(options: ClientOptions<P>, hooks?: SubgateHooks): Client {
  return createClient(withSubgate(options, hooks));
}
