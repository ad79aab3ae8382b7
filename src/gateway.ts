/**
 * `createGateway`: accepts clients (standalone, attached to an HTTP server, or through
 * `handleUpgrade`) and gives each one a session with its own reconnecting upstream link.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import { startAdminServer, type AdminServer } from './admin-server.js';
import { CloseCode } from './close-codes.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics } from './metrics.js';
import { createTimeline, type TimelineEvent } from './timeline.js';
import { resolveOptions, type GatewayOptions, type ResolvedOptions } from './options.js';
import { createSession, type Session } from './session.js';
import { createPersistence, type Persistence } from './session-persistence.js';
import { createMemorySessionStore, type SessionStore } from './session-store.js';
import { createRedisSessionStore } from './redis-session-store.js';

/** A running gateway. */
export interface Gateway {
  /**
   * Resolves with the listening address once the standalone server accepts connections
   * (immediately with `undefined` when attached or with `noServer`); rejects if it cannot listen.
   */
  readonly ready: Promise<AddressInfo | undefined>;
  /** `ws://host:port` of the standalone server once ready (empty string otherwise). */
  readonly url: string;
  /** Number of live client sessions. */
  readonly sessionCount: number;
  /** A snapshot for dashboards: every session's upstream state and the recent outages. */
  status(): GatewayStatus;
  /** The logger the gateway writes to. */
  readonly log: Logger;
  /** The Prometheus registry with every `subgate_*` metric (`await gateway.metrics.metrics()`). */
  readonly metrics: Registry;
  /**
   * Resolves with the admin server's address (`/metrics`, `/healthz`, `/readyz`) once it listens,
   * or `undefined` when `metricsPort` is not set.
   */
  readonly admin: Promise<AddressInfo | undefined>;
  /**
   * Handles an HTTP upgrade request: use it with `noServer: true` from your own `upgrade` listener.
   *
   * @example
   * ```ts
   * server.on('upgrade', (req, socket, head) => gateway.handleUpgrade(req, socket, head));
   * ```
   */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /**
   * Stops accepting clients, closes every session and resolves when they have ended, terminating
   * stragglers after `drainTimeout` ms (default 5000), and the last session writes are in the
   * store. Clients get `code`: by default 1012 (service restart) with a shared session store, so
   * they reconnect to another instance and resume there, else 1001 (going away).
   */
  close(options?: { code?: number; reason?: string; drainTimeout?: number }): Promise<void>;
}

/** What {@link Gateway.status} returns (and `/status.json` serves). */
export interface GatewayStatus {
  /** When the snapshot was taken, ms since the epoch. */
  readonly now: number;
  readonly target: string;
  readonly sessions: readonly {
    readonly id: string;
    readonly upstreamState: string;
    readonly generation: number;
    readonly startedAt: number;
    readonly queuedFrames: number;
  }[];
  /** Outages and give-ups of the last 10 minutes, oldest first. */
  readonly events: readonly TimelineEvent[];
}

/** Picks the subprotocol for a client: one the hooks speak, or the client's first offer. */
function chooseProtocol(offered: Set<string>, supported: readonly string[]): string | false {
  if (supported.length === 0) return offered.values().next().value ?? false;
  for (const protocol of offered) if (supported.includes(protocol)) return protocol;
  return false;
}

/**
 * The target URL for one client: the configured target with the client's query string appended
 * as it was sent (not re-encoded: signed URLs and `%20` must survive).
 */
function upstreamUrl(target: URL, requestUrl: string | undefined): string {
  const start = requestUrl?.indexOf('?') ?? -1;
  const query = start === -1 ? '' : requestUrl!.slice(start + 1).split('#')[0]!;
  if (query === '') return target.toString();
  const url = new URL(target);
  url.search = url.search === '' ? `?${query}` : `${url.search}&${query}`;
  return url.toString();
}

/** The subprotocols a client offers in its upgrade request, in its order. */
function offeredProtocols(request: IncomingMessage): Set<string> {
  const header = request.headers['sec-websocket-protocol'];
  if (header === undefined) return new Set();
  return new Set(
    header
      .split(',')
      .map((protocol) => protocol.trim())
      .filter(Boolean),
  );
}

function forwardedHeaders(
  request: IncomingMessage,
  names: readonly string[],
): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of names) {
    const value = request.headers[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function rejectUpgrade(socket: Duplex, status: number, message: string): void {
  socket.end(`HTTP/1.1 ${status} ${message}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

/** The session store of the options, with its batched writer; `undefined` when it is off. */
function openPersistence(
  opts: ResolvedOptions,
  log: Logger,
  metrics: ReturnType<typeof createMetrics>,
): Persistence | undefined {
  const config = opts.sessionStore;
  if (config.kind === 'off') return undefined;
  let store: SessionStore;
  if (config.kind === 'memory') store = createMemorySessionStore();
  else if (config.kind === 'redis') store = createRedisSessionStore(config.url, log);
  else store = config.store;
  return createPersistence({
    store,
    ttl: opts.sessionTtl,
    secret: opts.sessionSecret ?? randomBytes(32).toString('base64url'),
    writeInterval: opts.sessionWriteInterval,
    log,
    metrics,
  });
}

/**
 * Creates a gateway. Options are validated here; an invalid one throws an `OptionError` naming it.
 *
 * @example
 * ```ts
 * import { createGateway } from 'subgate';
 * import { pingReplayHook } from 'subgate/hooks/ping-replay';
 *
 * const gateway = createGateway({ target: 'ws://127.0.0.1:4000/graphql', port: 8080, hooks: [pingReplayHook()] });
 * await gateway.ready;
 * ```
 */
export function createGateway(options: GatewayOptions): Gateway {
  const opts: ResolvedOptions = resolveOptions(options);
  const log = opts.logger ?? createLogger(opts.logLevel);
  const supported = [...new Set(opts.hooks.flatMap((hook) => hook.protocols ?? []))];
  const sessions = new Set<Session>();
  let closing = false;
  const metrics = createMetrics();
  const timeline = createTimeline();
  const status = (): GatewayStatus => ({
    now: Date.now(),
    target: opts.target.toString(),
    sessions: [...sessions].map((session) => ({
      id: session.id,
      upstreamState: session.upstreamState,
      generation: session.generation,
      startedAt: session.startedAt,
      queuedFrames: session.queued.frames,
    })),
    events: timeline.recent(),
  });
  metrics.setQueueProbe(() => {
    let frames = 0;
    let bytes = 0;
    for (const session of sessions) {
      frames += session.queued.frames;
      bytes += session.queued.bytes;
    }
    return { frames, bytes };
  });
  const adminServer: Promise<AdminServer | undefined> =
    opts.metricsPort === undefined
      ? Promise.resolve(undefined)
      : startAdminServer(
          { registry: metrics.registry, accepting: () => !closing, status },
          opts.metricsPort,
          opts.metricsHost,
        );
  // A failure to listen surfaces through `gateway.admin`; keep it from being unhandled meanwhile.
  adminServer.catch(() => {});

  const persistence = openPersistence(opts, log, metrics);
  const drainCode =
    persistence?.store.kind === 'shared' ? CloseCode.ServiceRestart : CloseCode.GoingAway;

  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload: opts.maxPayload,
    handleProtocols: (offered) => chooseProtocol(offered, supported),
  });

  const matchesPath = (request: IncomingMessage): boolean =>
    opts.path === undefined || new URL(request.url ?? '/', 'http://client').pathname === opts.path;

  const handleUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', (error) => log.debug({ err: error }, 'client socket error during upgrade'));
    if (closing) return rejectUpgrade(socket, 503, 'Service Unavailable');
    if (!matchesPath(request)) return rejectUpgrade(socket, 404, 'Not Found');
    // A client that speaks none of the hooks' protocols is refused before a session exists.
    if (supported.length > 0 && chooseProtocol(offeredProtocols(request), supported) === false) {
      return rejectUpgrade(socket, 400, 'Bad Request');
    }
    const origin = request.headers.origin;
    if (
      origin !== undefined &&
      opts.allowedOrigins !== undefined &&
      !opts.allowedOrigins.includes(origin)
    ) {
      return rejectUpgrade(socket, 403, 'Forbidden');
    }
    wss.handleUpgrade(request, socket, head, (client) => {
      if (closing) {
        client.close(CloseCode.GoingAway, 'gateway shutting down');
        return;
      }
      if (sessions.size >= opts.maxSessions) {
        client.close(CloseCode.TryAgainLater, `maxSessions (${opts.maxSessions}) reached`);
        return;
      }
      const session = createSession({
        client,
        clientSocket: socket,
        request,
        options: opts,
        log,
        metrics,
        timeline,
        persistence,
        link: {
          url: upstreamUrl(opts.target, request.url),
          protocol: client.protocol === '' ? undefined : client.protocol,
          headers: forwardedHeaders(request, opts.forwardHeaders),
        },
      });
      sessions.add(session);
      void session.closed.then(() => sessions.delete(session));
    });
  };

  let server: Server | undefined;
  let ready: Promise<AddressInfo | undefined>;
  let url = '';
  if (opts.server !== undefined) {
    // Attached: leave upgrades for other paths to the server's other listeners.
    opts.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => {
      if (matchesPath(request)) handleUpgrade(request, socket, head);
    });
    ready = Promise.resolve(undefined);
  } else if (opts.noServer) {
    ready = Promise.resolve(undefined);
  } else {
    const own = createServer((_request, response) => {
      response.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
      response.end('subgate: connect with WebSocket\n');
    });
    server = own;
    own.on('upgrade', handleUpgrade);
    ready = new Promise((resolve, reject) => {
      own.once('error', reject);
      own.listen(opts.port, opts.host, () => {
        own.off('error', reject);
        const address = own.address() as AddressInfo;
        const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
        url = `ws://${host}:${address.port}`;
        log.info({ url, target: opts.target.toString() }, 'listening');
        resolve(address);
      });
    });
  }

  return {
    ready,
    get url() {
      return url;
    },
    get sessionCount() {
      return sessions.size;
    },
    status,
    log,
    metrics: metrics.registry,
    admin: adminServer.then((admin) => admin?.address),
    handleUpgrade,
    async close({ code = drainCode, reason = 'gateway shutting down', drainTimeout = 5000 } = {}) {
      closing = true;
      const stopped = server
        ? new Promise<void>((resolve) => server.close(() => resolve()))
        : Promise.resolve();
      for (const session of sessions) session.close(code, reason);
      let timer: NodeJS.Timeout | undefined;
      const drained = Promise.all([...sessions].map((s) => s.closed));
      const deadline = new Promise<void>((resolve) => {
        timer = setTimeout(resolve, drainTimeout);
      });
      await Promise.race([drained, deadline]);
      if (persistence !== undefined) {
        // The sessions' last state, so that their clients resume exactly on another instance.
        await Promise.race([persistence.flush().then(() => persistence.close()), deadline]);
      }
      clearTimeout(timer);
      server?.closeAllConnections();
      await stopped;
      wss.close();
      await (await adminServer.catch(() => undefined))?.close();
    },
  };
}
