/**
 * The hook API: how a strategy (ping-replay, graphql-ws, broker, or your own module) sees and
 * shapes the traffic of one session, and restores state on every new upstream connection.
 *
 * A {@link Hook} is created once per gateway by a factory (`graphqlWsHook(options)`); its
 * {@link Hook.open} is called once per client session and returns a {@link HookSession} holding
 * that session's state in its closure — never in module globals.
 *
 * @module
 */
import type { Logger } from './log.js';

/** What a message hook returns: `false` drops the frame, a string or Buffer replaces it, nothing passes it on unchanged. */
export type FrameResult = string | Buffer | false | void;

/** Where the session's link to the target stands. */
export type UpstreamState = 'connecting' | 'restoring' | 'open' | 'waiting' | 'closed';

/** What a hook may do with the session it belongs to. Handed to {@link Hook.open}. */
export interface SessionContext {
  /** Unique id of this client session (also in every log line and diagnostics event). */
  readonly id: string;
  /** The subprotocol negotiated with the client and asked of the target, if any. */
  readonly protocol: string | undefined;
  /** The client's upgrade request: its URL (path and query) and headers. */
  readonly request: {
    readonly url: string;
    readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  };
  /** A logger bound to this session. */
  readonly log: Logger;
  /** Generation of the current (or last) upstream socket; 0 before the first one opened. */
  readonly generation: number;
  /** The current state of the upstream link. */
  readonly upstreamState: UpstreamState;
  /**
   * Whether reading from the target is paused because the client is slow (backpressure). Nothing
   * arrives from the target meanwhile, so an application-level heartbeat should not count the
   * silence against it.
   */
  readonly upstreamPaused: boolean;
  /**
   * Sends a frame to the client directly, bypassing the message hooks.
   *
   * @example Answer a protocol ping locally while the target is down:
   * ```ts
   * ctx.sendClient(JSON.stringify({ type: 'pong' }));
   * ```
   */
  sendClient(data: string | Buffer, binary?: boolean): void;
  /**
   * Sends a frame on the current upstream socket directly, bypassing the message hooks and the
   * live queue. Returns `false` (and sends nothing) when no upstream socket is open.
   *
   * @example Re-issue a subscription during {@link HookSession.restore}:
   * ```ts
   * ctx.sendUpstream(JSON.stringify({ id, type: 'subscribe', payload }));
   * ```
   */
  sendUpstream(data: string | Buffer, binary?: boolean): boolean;
  /**
   * Sends a WebSocket ping carrying the current {@link HookSession.pingPayload} now, in addition
   * to the heartbeat. Use it to get an acknowledgement sooner (ping-replay does when its ring
   * fills up). Does nothing when no upstream socket is open.
   */
  requestPing(): void;
  /**
   * Stops reading frames from the client until {@link SessionContext.resumeClient} is called with
   * the same key (backpressure). Keys let several hooks hold the client independently.
   *
   * @example `ctx.pauseClient('ping-replay:ring-full')`
   */
  pauseClient(key: string): void;
  /** Releases a hold taken with {@link SessionContext.pauseClient}. */
  resumeClient(key: string): void;
  /**
   * Counts an event in the metric `subgate_hook_events_total{hook, event}` (the hook's name is
   * added for you).
   *
   * @example `ctx.count('subscriptions_restored', active.size)`
   */
  count(event: string, n?: number): void;
  /**
   * Closes the client with a code and reason (trimmed to 123 bytes), and ends the session.
   *
   * @example `ctx.closeClient(4400, 'Invalid message received')`
   */
  closeClient(code: number, reason: string): void;
  /**
   * Resume tokens and the session store, so that a client can take this session's state to its
   * next connection, on this gateway instance or another one sharing the store. `undefined` when
   * the gateway runs without a session store (`sessionStore: 'off'`).
   */
  readonly persistence: SessionPersistence | undefined;
}

/** What came of a token a client presented; see {@link SessionPersistence.resume}. */
export type ResumeOutcome =
  | {
      readonly status: 'resumed';
      /** This hook's {@link HookSession.snapshot} as last written (`undefined` if none was). */
      readonly state: unknown;
    }
  | {
      /**
       * `unknown`: never issued, or expired; `forbidden`: bound to other credentials;
       * `unavailable`: the store cannot be reached now (try again later).
       */
      readonly status: 'unknown' | 'forbidden' | 'unavailable';
    };

/**
 * A session's link to the session store. Once the session has a token (issued or resumed), the
 * gateway writes every hook's {@link HookSession.snapshot} in batches: call
 * {@link SessionPersistence.changed} whenever yours changed.
 */
export interface SessionPersistence {
  /** The session's token, once issued or resumed. */
  readonly token: string | undefined;
  /**
   * Issues a new token for this session, bound to `credentials` (any string that identifies the
   * client's authentication, e.g. its `connection_init` payload): a later {@link resume} must
   * present the same credentials. Returns the existing token when there is one.
   *
   * @example `const token = ctx.persistence?.issue(JSON.stringify(initPayload))`
   */
  issue(credentials: string): string;
  /**
   * Takes over the stored session of a token a client presented, when it is bound to the same
   * `credentials`: this session continues it (same token), and this hook gets back its state.
   *
   * @example
   * ```ts
   * const outcome = await ctx.persistence.resume(token, credentials);
   * if (outcome.status === 'resumed') cursors = outcome.state as Cursors;
   * else ctx.closeClient(4410, 'session unknown or expired');
   * ```
   */
  resume(token: string, credentials: string): Promise<ResumeOutcome>;
  /** Flags this hook's state as changed; it is written with the next batch. Cheap: call it per event. */
  changed(): void;
}

/** Handed to {@link HookSession.restore} for one new upstream socket. */
export interface RestoreContext {
  /** Generation of the socket being restored. */
  readonly generation: number;
  /** Aborted when this socket is lost before restore finished; stop waiting then. */
  readonly signal: AbortSignal;
  /**
   * Declares this socket dead (for example the target never acknowledged the re-init, or later
   * stopped answering an application-level ping): it is terminated and the link reconnects with
   * backoff, counting one failed attempt. Valid for the socket's whole lifetime, not only during
   * restore; once this socket is gone, calling it does nothing (a newer socket is never affected).
   *
   * @example `ctx.retry('no connection_ack within 3000 ms')`
   */
  retry(reason: string): void;
}

/** Why an upstream socket was lost. */
export interface UpstreamLostEvent {
  readonly generation: number;
  /** The close code (1006 for network errors and timeouts). */
  readonly code: number;
  readonly reason: string;
}

/** The target closed an upstream socket; see {@link HookSession.onUpstreamClose}. */
export interface UpstreamCloseEvent {
  readonly generation: number;
  readonly code: number;
  readonly reason: string;
  /** Whether the socket closed before restore finished (live traffic had not resumed on it). */
  readonly restoring: boolean;
}

/** Why the client's session ended. */
export interface SessionCloseEvent {
  readonly code: number;
  readonly reason: string;
}

/**
 * One session's view of a hook: every member is optional. Message hooks are synchronous and run
 * exactly once per frame; an exception in one is logged and the frame passes on unchanged.
 */
export interface HookSession {
  /**
   * A client frame is about to be sent upstream (live traffic, in order, once). Runs only while
   * the link is open, so the hook's state always matches what the target has been sent.
   *
   * @example Drop a client heartbeat the target does not understand:
   * ```ts
   * onClientMessage: (data) => (data.toString() === 'hb' ? false : undefined)
   * ```
   */
  onClientMessage?(data: Buffer, binary: boolean): FrameResult;
  /**
   * A client frame arrived while the upstream is not ready (connecting, restoring or waiting to
   * reconnect). It waits in the session's bounded queue unless this returns `false`, which
   * consumes it (the hook answered it itself).
   *
   * @example Answer a graphql-ws ping locally during an outage:
   * ```ts
   * onClientWait(data) {
   *   if (JSON.parse(data.toString()).type !== 'ping') return;
   *   ctx.sendClient('{"type":"pong"}');
   *   return false;
   * }
   * ```
   */
  onClientWait?(data: Buffer, binary: boolean): false | void;
  /**
   * A frame from the current upstream socket is about to reach the client. Never called for a
   * socket already declared dead (fencing).
   *
   * @example Drop an event the client already has:
   * ```ts
   * onUpstreamMessage: (data) => (seen.has(cursorOf(data)) ? false : undefined)
   * ```
   */
  onUpstreamMessage?(data: Buffer, binary: boolean): FrameResult;
  /**
   * Restores state on a new upstream socket, before any live client frame of that generation is
   * sent. Send with {@link SessionContext.sendUpstream}; wait for answers in
   * {@link HookSession.onUpstreamMessage}. Rejecting closes the client with 1011.
   *
   * @example
   * ```ts
   * async restore({ signal }) {
   *   if (!initPayload) return;
   *   ctx.sendUpstream(JSON.stringify({ type: 'connection_init', payload: initPayload }));
   *   await ackReceived(signal);
   * }
   * ```
   */
  restore?(restore: RestoreContext): void | Promise<void>;
  /**
   * The payload (at most 125 bytes) for the next WebSocket ping to the target; the first hook
   * that returns one wins. The pong echoes it back to {@link HookSession.onPong}.
   *
   * @example `pingPayload: () => String(highestSeqSent)`
   */
  pingPayload?(): string | Buffer | undefined;
  /**
   * A pong arrived from the current upstream socket.
   *
   * @example `onPong: (payload) => ring.ackThrough(Number(payload.toString()))`
   */
  onPong?(payload: Buffer): void;
  /**
   * The target closed the current socket with a code the core treats as terminal (1000, 1008,
   * 4403 …). Return `'retry'` to reconnect instead of ending the session — for targets that close
   * with such a code for a passing reason, e.g. a broker whose streams are not back yet while the
   * hook restores. Retryable codes (1001, 1006, 1011, 1012 …) never reach this.
   *
   * @example `onUpstreamClose: ({ code, restoring }) => (restoring && code === 1000 ? 'retry' : undefined)`
   */
  onUpstreamClose?(event: UpstreamCloseEvent): 'retry' | void;
  /**
   * This hook's state to persist, as a JSON-serialisable value; called when the gateway writes
   * the session (after {@link SessionPersistence.changed}, and when the client leaves). Only
   * sessions with a token are written.
   *
   * @example `snapshot: () => ({ cursors: Object.fromEntries(cursors) })`
   */
  snapshot?(): unknown;
  /** @example `onUpstreamOpen: ({ generation }) => ctx.log.info({ generation }, 'up')` */
  onUpstreamOpen?(event: { readonly generation: number }): void;
  /** @example `onUpstreamLost: ({ code }) => metrics.outages.inc({ code })` */
  onUpstreamLost?(event: UpstreamLostEvent): void;
  /** @example `onClientClose: () => store.delete(ctx.id)` */
  onClientClose?(event: SessionCloseEvent): void;
  /**
   * The gateway gave up on the target (`maxRetries` or `maxOutage`); the client is closed with
   * 1013 right after this returns, so this is the last chance to tell it something.
   *
   * @example `onGiveUp: ({ reason }) => ctx.sendClient(JSON.stringify({ type: 'gave-up', reason }))`
   */
  onGiveUp?(event: { readonly reason: string }): void;
}

/**
 * A resend strategy, created once per gateway by a factory and opened once per client session.
 *
 * @example A hook that counts frames per session:
 * ```ts
 * export default function countingHook(): Hook {
 *   return {
 *     name: 'counting',
 *     open(ctx) {
 *       let frames = 0;
 *       return {
 *         onClientMessage() { frames++; },
 *         onClientClose() { ctx.log.info({ frames }, 'session done'); },
 *       };
 *     },
 *   };
 * }
 * ```
 */
export interface Hook {
  /** Short name used in logs. */
  readonly name: string;
  /**
   * Subprotocols this hook speaks, in order of preference. When any hook of a gateway declares
   * some, a client must offer one of them; otherwise the client's first offer is passed through.
   */
  readonly protocols?: readonly string[];
  /** Creates the per-session state. */
  open(ctx: SessionContext): HookSession;
}

/**
 * A hook module's export: a function that takes the hook's options (from the config file's
 * `hooks: [[nameOrPath, options]]`) and returns a {@link Hook}.
 */
export type HookFactory = (options?: Record<string, unknown>) => Hook;
