/**
 * One client ↔ one upstream link: the frame pump, the bounded live queue, backpressure both
 * ways, and the hook chain.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import WebSocket from 'ws';
import { CloseCode, sendableCloseCode, trimReason } from './close-codes.js';
import { channels, type UpstreamStateMessage } from './diagnostics.js';
import { createFlowControl, type Sink } from './flow-control.js';
import { createHookChain, type Frame } from './hook-chain.js';
import type { SessionContext, UpstreamState } from './hooks.js';
import type { Logger } from './log.js';
import type { GatewayMetrics } from './metrics.js';
import type { Timeline } from './timeline.js';
import type { ResolvedOptions } from './options.js';
import type { Persistence } from './session-persistence.js';
import { createUpstreamLink, type LinkConfig } from './upstream.js';
import { writeBatcher } from './write-batch.js';

/** A running session, as the gateway sees it. */
export interface Session {
  readonly id: string;
  readonly upstreamState: UpstreamState;
  readonly generation: number;
  /** When the session started, ms since the epoch. */
  readonly startedAt: number;
  /** Client frames (and their bytes) waiting for the upstream. */
  readonly queued: { readonly frames: number; readonly bytes: number };
  /** Resolves once the session has fully ended. */
  readonly closed: Promise<void>;
  /** Closes the client and the upstream with this code and reason. */
  close(code: number, reason: string): void;
}

/** What a session is made from. */
export interface SessionParams {
  readonly client: WebSocket;
  /** The TCP socket the client upgraded, which its WebSocket runs over. */
  readonly clientSocket: Duplex;
  readonly request: IncomingMessage;
  readonly link: Omit<LinkConfig, 'options'>;
  readonly options: ResolvedOptions;
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
  readonly timeline: Timeline;
  /** The gateway's session store, unless it runs without one. */
  readonly persistence: Persistence | undefined;
}

const QUEUE_FULL = 'session:queue-full';
const CLIENT_SLOW = 'session:client-not-reading';
const UPSTREAM_SLOW = 'session:upstream-backpressure';

/** Starts a session for a client that just completed its handshake. */
export function createSession(params: SessionParams): Session {
  const { client, options, metrics, timeline } = params;
  const startedAt = Date.now();
  const { traffic } = metrics;
  const id = randomUUID();
  const log = params.log.child({ session: id });
  let upstreamState: UpstreamState = 'connecting';
  let ended = false;
  let restoreAbort: AbortController | undefined;
  let attempting = false;
  let lostAt: number | undefined;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));

  // Live client frames waiting for the upstream: a FIFO with a moving head, bounded below.
  let queue: Frame[] = [];
  let head = 0;
  let queuedBytes = 0;

  // Holds on the client (backpressure). Any hold stops reading the client socket; a hold other
  // than the session's own full-queue hold also stops dispatching, so frames ws had already read
  // wait in the queue instead of reaching the hooks.
  const holds = new Set<string>();
  const dispatchHeld = (): boolean => holds.size > (holds.has(QUEUE_FULL) ? 1 : 0);
  const pauseClient = (key: string): void => {
    if (holds.size === 0) client.pause();
    holds.add(key);
  };
  const resumeClient = (key: string): void => {
    if (!holds.delete(key) || ended) return;
    if (holds.size === 0) client.resume();
    if (!dispatchHeld()) flush();
  };

  const batchClientWrites = writeBatcher(params.clientSocket);
  const clientSink: Sink = {
    get bufferedAmount() {
      return client.bufferedAmount;
    },
    send(data, binary, flushed) {
      if (client.readyState !== WebSocket.OPEN) {
        flushed?.();
        return;
      }
      batchClientWrites();
      client.send(data, { binary }, flushed);
    },
  };

  const link = createUpstreamLink(
    { ...params.link, options },
    {
      state(change) {
        if (attempting && change.state !== 'connecting') {
          attempting = false;
          metrics.reconnectAttempt(change.state === 'open' ? 'success' : 'failure');
        }
        if (change.state === 'connecting' && change.generation > 1) attempting = true;
        // The link's `open` is the session's `restoring`, entered by the open handler.
        if (change.state !== 'open') enter(change.state, change);
      },
      open(generation) {
        const openedAt = performance.now();
        enter('restoring');
        chain.upstreamOpen(generation);
        const abort = new AbortController();
        restoreAbort = abort;
        chain
          .restore({
            generation,
            signal: abort.signal,
            retry: (reason) => link.fail(generation, reason),
          })
          .then(
            () => {
              if (abort.signal.aborted || ended) return;
              restoreAbort = undefined;
              link.restored();
              const now = performance.now();
              metrics.restored(now - openedAt);
              if (lostAt !== undefined) {
                metrics.outageEnded(now - lostAt);
                timeline.outage(id, Date.now() - (now - lostAt), now - lostAt);
              }
              lostAt = undefined;
              enter('open');
              flush();
            },
            (error: Error) => {
              if (abort.signal.aborted || ended) return;
              log.error({ err: error }, 'restore failed');
              close(CloseCode.InternalError, error.message);
            },
          );
      },
      message(data, binary) {
        traffic.upstreamFrames++;
        traffic.upstreamBytes += data.length;
        // A client that is closing gets nothing more: hooks must not count as delivered (and
        // persist) what will never reach it.
        if (client.readyState !== WebSocket.OPEN) return;
        const frame = chain.upstreamMessage(data, binary);
        if (frame !== undefined) toClient.send(clientSink, frame.data, frame.binary);
      },
      retryClose: (generation, code, reason) =>
        chain.retryClose({ generation, code, reason, restoring: upstreamState === 'restoring' }),
      pong: (payload) => chain.pong(payload),
      pingPayload: () => chain.pingPayload(),
      lost(event) {
        lostAt = performance.now();
        restoreAbort?.abort();
        restoreAbort = undefined;
        toUpstream.reset();
        chain.upstreamLost(event);
      },
      terminal(code, reason) {
        close(code, reason);
      },
      giveUp(reason) {
        timeline.gaveUp(id, reason);
        chain.giveUp(reason);
        close(CloseCode.TryAgainLater, reason);
      },
    },
  );

  // Upstream → client: a slow client pauses the upstream. Client → upstream: the reverse.
  const toClient = createFlowControl(
    options.maxBufferedBytes,
    () => link.pause(),
    () => link.resume(),
  );
  // Frames hooks send the client themselves (answers to its pings …): a client that floods
  // requests without reading the answers is paused, instead of its answers piling up here.
  const localToClient = createFlowControl(
    options.maxBufferedBytes,
    () => pauseClient(CLIENT_SLOW),
    () => resumeClient(CLIENT_SLOW),
  );
  const toUpstream = createFlowControl(
    options.maxBufferedBytes,
    () => pauseClient(UPSTREAM_SLOW),
    () => resumeClient(UPSTREAM_SLOW),
  );

  /** The one place the session's upstream state changes: metrics, log line, diagnostics. */
  function enter(next: UpstreamState, change?: Omit<UpstreamStateMessage, 'sessionId'>): void {
    metrics.upstreamState(upstreamState, next);
    upstreamState = next;
    const message: UpstreamStateMessage = change
      ? { sessionId: id, ...change, state: next }
      : { sessionId: id, state: next, generation: link.generation, attempt: 0 };
    log.info(message, `upstream ${next}`);
    if (channels.upstreamState.hasSubscribers) channels.upstreamState.publish(message);
  }

  const ctx: SessionContext = {
    id,
    protocol: params.link.protocol,
    request: { url: params.request.url ?? '/', headers: params.request.headers },
    log,
    get generation() {
      return link.generation;
    },
    get upstreamState() {
      return upstreamState;
    },
    get upstreamPaused() {
      return link.paused;
    },
    sendClient(data, binary = typeof data !== 'string') {
      if (!ended) localToClient.send(clientSink, data, binary);
    },
    sendUpstream(data, binary = typeof data !== 'string') {
      if (ended || link.state !== 'open') return false;
      link.send(data, binary);
      return true;
    },
    requestPing: () => link.ping(),
    count: (event, n = 1) => metrics.hookEvent('session', event, n),
    pauseClient,
    resumeClient,
    closeClient: (code, reason) => close(code, reason),
    persistence: undefined,
  };
  const persisted = params.persistence?.open(log, () => chain.snapshot());

  // Each hook sees the session's context plus a `count` that labels its events with its name.
  // A hook that cannot open ends this session with 1011, never the process.
  let openFailure: string | undefined;
  const opened = [];
  for (const hook of options.hooks) {
    const count = (event: string, n = 1): void => metrics.hookEvent(hook.name, event, n);
    const own = Object.create(ctx, {
      count: { value: count },
      persistence: { value: persisted?.forHook(hook.name) },
    }) as SessionContext;
    try {
      opened.push({ name: hook.name, session: hook.open(own) });
    } catch (error) {
      log.error({ hook: hook.name, err: error }, 'hook failed to open');
      openFailure = `hook ${hook.name} failed to open: ${(error as Error)?.message ?? String(error)}`;
      break;
    }
  }
  const chain = createHookChain(openFailure === undefined ? opened : [], log);

  const dispatch = (data: Buffer, binary: boolean): void => {
    const frame = chain.clientMessage(data, binary);
    if (frame !== undefined) toUpstream.send(link, frame.data, frame.binary);
  };

  let flushing = false;
  function flush(): void {
    if (flushing) return; // a hook released a hold from inside dispatch: the loop below goes on
    flushing = true;
    while (head < queue.length && upstreamState === 'open' && !dispatchHeld() && !ended) {
      const frame = queue[head]!;
      queue[head++] = undefined as unknown as Frame;
      queuedBytes -= frame.data.length;
      dispatch(frame.data as Buffer, frame.binary);
    }
    flushing = false;
    if (head === queue.length) {
      queue = [];
      head = 0;
    } else if (head > 1024 && head * 2 > queue.length) {
      queue = queue.slice(head); // a flush stopped part-way: drop the consumed slots
      head = 0;
    }
    if (
      queue.length - head < options.maxBufferedMessages &&
      queuedBytes < options.maxBufferedBytes
    ) {
      resumeClient(QUEUE_FULL);
    }
  }

  client.on('message', (data: Buffer, binary: boolean) => {
    if (ended) return;
    traffic.clientFrames++;
    traffic.clientBytes += data.length;
    if (upstreamState === 'open' && head === queue.length && !dispatchHeld()) {
      dispatch(data, binary);
      return;
    }
    if (upstreamState !== 'open' && !chain.clientWait(data, binary)) return;
    queue.push({ data, binary });
    queuedBytes += data.length;
    if (
      queue.length - head >= options.maxBufferedMessages ||
      queuedBytes >= options.maxBufferedBytes
    ) {
      pauseClient(QUEUE_FULL);
    }
  });

  const close = (code: number, reason: string): void => {
    if (ended) return;
    ended = true;
    restoreAbort?.abort();
    link.close(code, reason);
    if (client.readyState === WebSocket.OPEN || client.readyState === WebSocket.CONNECTING) {
      client.close(sendableCloseCode(code), trimReason(reason));
      setTimeout(() => client.terminate(), options.pongTimeout).unref();
    }
    finish(code, reason);
  };

  let finished = false;
  const finish = (code: number, reason: string): void => {
    if (finished) return;
    finished = true;
    queue = [];
    head = queuedBytes = 0;
    persisted?.close(); // before the hooks let go of their state
    chain.clientClose({ code, reason });
    metrics.sessionClosed(code);
    log.info({ code, reason }, 'session closed');
    if (channels.sessionClose.hasSubscribers)
      channels.sessionClose.publish({ sessionId: id, code, reason });
  };

  // A client that did not answer the previous ping by the next one is gone: terminate it, which
  // ends the session and releases its upstream socket.
  let clientAnswered = true;
  const clientHeartbeat =
    options.clientPingInterval > 0
      ? setInterval(() => {
          if (!clientAnswered) {
            log.info('client did not answer a ping; terminating it');
            client.terminate();
            return;
          }
          clientAnswered = false;
          client.ping();
        }, options.clientPingInterval)
      : undefined;
  client.on('pong', () => {
    clientAnswered = true;
  });
  client.on('error', (error) => log.warn({ err: error }, 'client socket error'));
  client.on('close', (code: number, reasonBuffer: Buffer) => {
    const reason = reasonBuffer.toString();
    if (!ended) {
      ended = true;
      restoreAbort?.abort();
      // The client left: tell the target the same, with a code it may receive.
      const upstreamCode = code === 1005 || code === 1006 ? CloseCode.Normal : code;
      link.close(upstreamCode, reason || 'client closed');
      finish(code, reason || 'client closed');
    }
    clearInterval(clientHeartbeat);
    resolveClosed();
  });

  if (channels.sessionOpen.hasSubscribers) {
    channels.sessionOpen.publish({ sessionId: id, protocol: params.link.protocol });
  }
  metrics.sessionOpened();
  metrics.upstreamState(undefined, upstreamState);
  log.info({ protocol: params.link.protocol, url: params.request.url }, 'session open');
  if (openFailure === undefined) link.start();
  else close(CloseCode.InternalError, openFailure);

  return {
    id,
    closed,
    get upstreamState() {
      return upstreamState;
    },
    get generation() {
      return link.generation;
    },
    startedAt,
    get queued() {
      return { frames: queue.length - head, bytes: queuedBytes };
    },
    close,
  };
}
