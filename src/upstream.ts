/**
 * The reconnecting link from one session to the target: connect timeout, heartbeat, backoff,
 * give-up rules, and generations that fence off every socket once it is declared dead.
 *
 * @module
 */
import WebSocket from 'ws';
import type { IncomingMessage } from 'node:http';
import { backoffDelay } from './backoff.js';
import {
  CloseCode,
  closeCodeForStatus,
  isRetryableClose,
  isRetryableStatus,
  sendableCloseCode,
  trimReason,
} from './close-codes.js';
import type { Sink } from './flow-control.js';
import type { UpstreamLostEvent } from './hooks.js';
import type { ResolvedOptions } from './options.js';
import { writeBatcher } from './write-batch.js';

/** The link's own states (the session adds `restoring` between `open` and live traffic). */
export type LinkState = 'connecting' | 'open' | 'waiting' | 'closed';

/** Details of a state change, for logs and diagnostics. */
export interface LinkStateChange {
  readonly state: LinkState;
  readonly generation: number;
  readonly attempt: number;
  readonly delay?: number;
  readonly code?: number;
  readonly reason?: string;
}

/** What the link tells its session. Only the current generation's events are delivered. */
export interface LinkHandlers {
  state(change: LinkStateChange): void;
  open(generation: number): void;
  message(data: Buffer, binary: boolean): void;
  pong(payload: Buffer): void;
  pingPayload(): string | Buffer | undefined;
  /** The target closed a socket with a terminal code: whether to reconnect anyway. */
  retryClose(generation: number, code: number, reason: string): boolean;
  /** An open socket was lost; the link reconnects on its own. */
  lost(event: UpstreamLostEvent): void;
  /** The target ended the session (terminal code or status); the link is closed. */
  terminal(code: number, reason: string): void;
  /** `maxRetries` or `maxOutage` ran out; the link is closed. */
  giveUp(reason: string): void;
}

/** Where and how to connect. */
export interface LinkConfig {
  readonly url: string;
  readonly protocol: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  readonly options: ResolvedOptions;
}

/** One session's reconnecting upstream link. */
export interface UpstreamLink extends Sink {
  readonly state: LinkState;
  readonly generation: number;
  /** Starts the first connection attempt (retried like any other). */
  start(): void;
  /** Sends a WebSocket ping now (no-op unless open). */
  ping(): void;
  /**
   * Declares the socket of generation `gen` dead and reconnects, counting a failed attempt.
   * Does nothing when that socket is already gone (a newer generation is never affected).
   */
  fail(gen: number, reason: string): void;
  /** Marks the outage over (state restored); stops the `maxOutage` clock. */
  restored(): void;
  /** Stops reading from the target (backpressure); applies to later sockets too. */
  pause(): void;
  /** Whether reading from the target is paused. */
  readonly paused: boolean;
  resume(): void;
  /** Closes the link for good. */
  close(code: number, reason: string): void;
}

const noop = (): void => {};

/** Creates a link; nothing happens until {@link UpstreamLink.start}. */
export function createUpstreamLink(config: LinkConfig, handlers: LinkHandlers): UpstreamLink {
  const { options } = config;
  let state: LinkState = 'connecting';
  let generation = 0;
  let socket: WebSocket | undefined;
  let batchWrites: () => void = noop;
  let retries = 0;
  let openedAt = 0;
  let paused = false;
  let heardSincePing = false;
  let connectTimer: NodeJS.Timeout | undefined;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let pongTimer: NodeJS.Timeout | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let outageTimer: NodeJS.Timeout | undefined;

  const setState = (
    next: LinkState,
    extra: Omit<LinkStateChange, 'state' | 'generation' | 'attempt'> = {},
  ): void => {
    state = next;
    handlers.state({ state: next, generation, attempt: retries, ...extra });
  };

  const clearSocketTimers = (): void => {
    clearTimeout(connectTimer);
    clearInterval(heartbeatTimer);
    clearTimeout(pongTimer);
    connectTimer = heartbeatTimer = pongTimer = undefined;
  };

  /** Forgets the current socket: from now on nothing it delivers gets through. */
  const dropSocket = (): void => {
    clearSocketTimers();
    const dead = socket;
    socket = undefined;
    if (dead && dead.readyState !== WebSocket.CLOSED) dead.terminate();
  };

  const startOutageClock = (): void => {
    if (outageTimer !== undefined || options.maxOutage === Infinity) return;
    outageTimer = setTimeout(() => {
      outageTimer = undefined;
      giveUp(`upstream unavailable for ${options.maxOutage} ms (maxOutage)`);
    }, options.maxOutage);
  };

  /** Ends the link for good: no timer of it may outlive it. */
  const shutDown = (code: number, reason: string): void => {
    clearTimeout(retryTimer);
    clearTimeout(outageTimer);
    retryTimer = outageTimer = undefined;
    clearSocketTimers();
    setState('closed', { code, reason });
  };

  const giveUp = (reason: string): void => {
    if (state === 'closed') return;
    dropSocket();
    shutDown(CloseCode.TryAgainLater, reason);
    handlers.giveUp(reason);
  };

  /** The socket of generation `gen` ended (or was declared dead) with this code. */
  const ended = (gen: number, code: number, reason: string, retryable: boolean): void => {
    if (gen !== generation || state === 'closed' || socket === undefined) return;
    const wasOpen = state === 'open';
    dropSocket();
    if (wasOpen) {
      if (options.now() - openedAt >= options.minUptime) retries = 0;
      startOutageClock();
      handlers.lost({ generation: gen, code, reason });
    }
    if (!retryable) {
      shutDown(code, reason);
      handlers.terminal(code, reason);
      return;
    }
    if (retries >= options.maxRetries) {
      giveUp(`gave up after ${retries} reconnect attempts (maxRetries); last: ${reason}`);
      return;
    }
    const delay = backoffDelay(
      retries,
      {
        initialDelay: options.retryInitialDelay,
        maxDelay: options.retryMaxDelay,
        factor: options.retryFactor,
      },
      options.random,
    );
    retries++;
    setState('waiting', { delay, code, reason });
    retryTimer = setTimeout(connect, delay);
  };

  const heartbeat = (gen: number): void => {
    if (gen !== generation || socket === undefined) return;
    sendPing(socket);
    if (pongTimer !== undefined) return; // the earlier ping's deadline still runs
    heardSincePing = false;
    pongTimer = setTimeout(() => {
      pongTimer = undefined;
      // While paused for backpressure nothing is read, pongs included: not a sign of death.
      if (!heardSincePing && !paused) {
        ended(gen, 1006, `no pong within ${options.pongTimeout} ms`, true);
      }
    }, options.pongTimeout);
  };

  const sendPing = (target: WebSocket): void => {
    const payload = handlers.pingPayload();
    target.ping(payload ?? '', undefined, noop);
  };

  const connect = (): void => {
    retryTimer = undefined;
    const gen = ++generation;
    setState('connecting');
    const ws = new WebSocket(config.url, config.protocol === undefined ? [] : [config.protocol], {
      headers: config.headers,
      perMessageDeflate: false,
      maxPayload: options.maxPayload,
      followRedirects: false,
    });
    socket = ws;
    batchWrites = noop;
    let failure: string | undefined;
    ws.on('error', (error: Error) => {
      failure = error.message;
    });
    connectTimer = setTimeout(() => {
      ended(gen, 1006, `connect timeout after ${options.connectTimeout} ms`, true);
    }, options.connectTimeout);
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      res.resume();
      const reason = `target answered the upgrade with HTTP ${status}`;
      if (isRetryableStatus(status)) ended(gen, 1006, reason, true);
      else ended(gen, closeCodeForStatus(status), reason, false);
    });
    ws.on('upgrade', (response: IncomingMessage) => {
      if (gen === generation) batchWrites = writeBatcher(response.socket);
    });
    ws.on('open', () => {
      if (gen !== generation) return;
      clearTimeout(connectTimer);
      connectTimer = undefined;
      openedAt = options.now();
      if (paused) ws.pause();
      setState('open');
      heartbeatTimer = setInterval(heartbeat, options.pingInterval, gen);
      handlers.open(gen);
    });
    ws.on('message', (data: Buffer, binary: boolean) => {
      if (gen !== generation || socket !== ws) return;
      heardSincePing = true;
      handlers.message(data, binary);
    });
    ws.on('ping', () => {
      heardSincePing = true;
    });
    ws.on('pong', (payload: Buffer) => {
      if (gen !== generation || socket !== ws) return;
      heardSincePing = true;
      handlers.pong(payload);
    });
    ws.on('close', (code: number, reason: Buffer) => {
      if (failure !== undefined && code === 1006) {
        ended(gen, 1006, failure, true);
        return;
      }
      const text = reason.toString() || `closed with ${code}`;
      const retry =
        isRetryableClose(code) || (gen === generation && handlers.retryClose(gen, code, text));
      ended(gen, code, text, retry);
    });
  };

  return {
    get state() {
      return state;
    },
    get generation() {
      return generation;
    },
    get paused() {
      return paused;
    },
    get bufferedAmount() {
      return socket?.bufferedAmount ?? 0;
    },
    start() {
      startOutageClock();
      connect();
    },
    send(data, binary, flushed) {
      if (state !== 'open' || socket === undefined) {
        flushed?.();
        return;
      }
      batchWrites();
      socket.send(data, { binary }, flushed);
    },
    ping() {
      if (state === 'open' && socket !== undefined) sendPing(socket);
    },
    fail(gen, reason) {
      ended(gen, 1006, reason, true);
    },
    restored() {
      clearTimeout(outageTimer);
      outageTimer = undefined;
    },
    pause() {
      paused = true;
      socket?.pause();
    },
    resume() {
      paused = false;
      socket?.resume();
    },
    close(code, reason) {
      if (state === 'closed') return;
      const last = socket;
      socket = undefined;
      shutDown(code, reason);
      if (last === undefined) return;
      if (last.readyState === WebSocket.OPEN) {
        last.close(sendableCloseCode(code), trimReason(reason));
        // A target that never answers the close frame is not allowed to hold the socket.
        setTimeout(() => last.terminate(), options.pongTimeout).unref();
      } else {
        last.terminate();
      }
    },
  };
}
