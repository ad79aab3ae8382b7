/**
 * Gateway options: their types, defaults, and validation with messages that name the option.
 *
 * @module
 */
import type { Server } from 'node:http';
import type { Hook } from './hooks.js';
import { LOG_LEVELS, type Logger, type LogLevel } from './log.js';
import type { SessionStore } from './session-store.js';

/** Everything `createGateway` accepts. Durations are milliseconds. */
export interface GatewayOptions {
  /** Full `ws://` or `wss://` URL of the target; the client's query string is appended. */
  target: string;
  /** Port of the standalone server; 0 picks a free one. @default 8080 */
  port?: number;
  /** Address of the standalone server. @default '127.0.0.1' */
  host?: string;
  /** Accept upgrades only on this path (e.g. `/graphql`); others get 404. @default any path */
  path?: string;
  /** Attach to this existing HTTP server's `upgrade` event instead of listening. */
  server?: Server;
  /** Neither listen nor attach: call `gateway.handleUpgrade` yourself. @default false */
  noServer?: boolean;
  /** Hooks, composed in order. @default [] (the CLI defaults to ping-replay) */
  hooks?: readonly Hook[];
  /** Interval between heartbeat pings to the target. @default 5000 */
  pingInterval?: number;
  /** How long a ping may wait for its pong before the target is declared dead. @default 2000 */
  pongTimeout?: number;
  /** How long one connection attempt (TCP + upgrade) may take. @default 5000 */
  connectTimeout?: number;
  /** Upper bound of the first reconnect delay. @default 100 */
  retryInitialDelay?: number;
  /** Cap on any reconnect delay. @default 10000 */
  retryMaxDelay?: number;
  /** Growth of the delay bound per failed attempt. @default 2 */
  retryFactor?: number;
  /** How long a connection must stay up before the attempt counter resets. @default 5000 */
  minUptime?: number;
  /** Consecutive failed attempts after which the client is closed with 1013. @default Infinity */
  maxRetries?: number;
  /** Longest outage after which the client is closed with 1013. @default 60000 */
  maxOutage?: number;
  /**
   * Interval between pings to each client; a client that has not answered the previous ping by
   * the next one is terminated (it vanished without closing, or stopped reading). 0 disables.
   * @default 30000
   */
  clientPingInterval?: number;
  /** Client request headers sent to the target on every attempt. @default ['authorization', 'cookie'] */
  forwardHeaders?: readonly string[];
  /** Client frames held while the upstream is not ready, in messages. @default 1000 */
  maxBufferedMessages?: number;
  /** Client frames held while the upstream is not ready, in bytes; also the high-water mark of each socket's send buffer. @default 1048576 */
  maxBufferedBytes?: number;
  /** Largest frame accepted from the client or the target, in bytes (bigger closes with 1009). @default 1048576 */
  maxPayload?: number;
  /** Port of the admin server (`/metrics`, `/healthz`, `/readyz`); 0 picks a free one. @default off */
  metricsPort?: number;
  /** Address of the admin server. @default the `host` option */
  metricsHost?: string;
  /** Client sessions at once; one more is closed with 1013 at once. @default Infinity */
  maxSessions?: number;
  /**
   * Origins (`https://app.example.com`) allowed to connect; an upgrade with another `Origin`
   * header gets HTTP 403. Requests without an Origin (non-browser clients) are allowed.
   * @default any origin
   */
  allowedOrigins?: readonly string[];
  /**
   * Where sessions are kept between a client's connections, so that a client presenting its
   * resume token continues where it left off: `'memory'` (this process only), a Redis URL
   * (`redis://host:6379`, shared by every instance pointing at it), your own {@link SessionStore},
   * or `'off'` (no tokens are issued).
   * @default 'memory'
   */
  sessionStore?: 'memory' | 'off' | `redis://${string}` | `rediss://${string}` | SessionStore;
  /** How long a session is kept after its client left (or its gateway died). @default 120000 */
  sessionTtl?: number;
  /**
   * Key of the hash that binds each token to its client's credentials, at least 32 characters;
   * every instance sharing a store must use the same one. Required with a shared store; a random
   * key per process otherwise. The CLI reads it from `SUBGATE_SESSION_SECRET`.
   */
  sessionSecret?: string;
  /** Interval between batched writes of changed sessions to the store. @default 100 */
  sessionWriteInterval?: number;
  /** Log level of the built-in logger (ignored when `logger` is given). @default 'info' */
  logLevel?: LogLevel;
  /** A pino logger to use instead of the built-in one. */
  logger?: Logger;
  /** Random source in [0, 1) for backoff jitter; injectable for tests. @default Math.random */
  random?: () => number;
  /** Clock in ms that `minUptime` is measured with; injectable for tests. @default performance.now */
  now?: () => number;
}

/** {@link GatewayOptions} after validation, with every default filled in. */
export interface ResolvedOptions {
  readonly target: URL;
  readonly port: number;
  readonly host: string;
  readonly path: string | undefined;
  readonly server: Server | undefined;
  readonly noServer: boolean;
  readonly hooks: readonly Hook[];
  readonly pingInterval: number;
  readonly pongTimeout: number;
  readonly connectTimeout: number;
  readonly retryInitialDelay: number;
  readonly retryMaxDelay: number;
  readonly retryFactor: number;
  readonly minUptime: number;
  readonly maxRetries: number;
  readonly maxOutage: number;
  readonly clientPingInterval: number;
  readonly forwardHeaders: readonly string[];
  readonly maxBufferedMessages: number;
  readonly maxBufferedBytes: number;
  readonly maxPayload: number;
  readonly metricsPort: number | undefined;
  readonly metricsHost: string;
  readonly maxSessions: number;
  readonly allowedOrigins: readonly string[] | undefined;
  readonly sessionStore:
    | { readonly kind: 'off' }
    | { readonly kind: 'memory' }
    | { readonly kind: 'redis'; readonly url: string }
    | { readonly kind: 'custom'; readonly store: SessionStore };
  readonly sessionTtl: number;
  /** `undefined`: a random key per process (memory store only). */
  readonly sessionSecret: string | undefined;
  readonly sessionWriteInterval: number;
  readonly logLevel: LogLevel;
  readonly logger: Logger | undefined;
  readonly random: () => number;
  readonly now: () => number;
}

/** The default of every optional setting that has one. */
export const DEFAULTS = {
  port: 8080,
  host: '127.0.0.1',
  pingInterval: 5000,
  pongTimeout: 2000,
  connectTimeout: 5000,
  retryInitialDelay: 100,
  retryMaxDelay: 10_000,
  retryFactor: 2,
  minUptime: 5000,
  maxRetries: Infinity,
  maxOutage: 60_000,
  clientPingInterval: 30_000,
  forwardHeaders: ['authorization', 'cookie'],
  maxBufferedMessages: 1000,
  maxBufferedBytes: 1024 * 1024,
  maxPayload: 1024 * 1024,
  maxSessions: Infinity,
  sessionStore: 'memory',
  sessionTtl: 120_000,
  sessionWriteInterval: 100,
  logLevel: 'info',
} as const;

/** Shortest accepted `sessionSecret`, in characters. */
export const MIN_SECRET_LENGTH = 32;

/** Thrown for an invalid option; the message starts with the option's name. */
export class OptionError extends Error {
  /** The option at fault, e.g. `retryMaxDelay`. */
  readonly option: string;
  constructor(option: string, message: string) {
    super(`${option} ${message}`);
    this.name = 'OptionError';
    this.option = option;
  }
}

function integer(
  name: string,
  value: unknown,
  fallback: number,
  min: number,
  max = Infinity,
): number {
  if (value === undefined) return fallback;
  const ok =
    typeof value === 'number' &&
    value >= min &&
    value <= max &&
    (Number.isInteger(value) || value === Infinity);
  if (!ok) {
    const range = max === Infinity ? `>= ${min}` : `between ${min} and ${max}`;
    throw new OptionError(name, `must be an integer ${range}, got ${JSON.stringify(value)}`);
  }
  return value;
}

function parseSessionStore(value: unknown): ResolvedOptions['sessionStore'] {
  if (value === undefined || value === 'memory') return { kind: 'memory' };
  if (value === 'off') return { kind: 'off' };
  if (typeof value === 'string' && /^rediss?:\/\/./.test(value)) {
    try {
      new URL(value);
      return { kind: 'redis', url: value };
    } catch {
      // reported below
    }
  }
  if (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as SessionStore).claim === 'function' &&
    typeof (value as SessionStore).save === 'function'
  ) {
    return { kind: 'custom', store: value as SessionStore };
  }
  throw new OptionError(
    'sessionStore',
    `must be 'memory', 'off', a redis:// URL or a SessionStore, got ${JSON.stringify(value)}`,
  );
}

function parseTarget(value: unknown): URL {
  if (typeof value !== 'string' || value === '') {
    throw new OptionError('target', 'is required: the ws:// or wss:// URL of the upstream server');
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new OptionError('target', `must be a ws:// or wss:// URL, got ${JSON.stringify(value)}`);
  }
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new OptionError('target', `must use ws:// or wss://, got ${JSON.stringify(value)}`);
  }
  return url;
}

/**
 * Validates options once, at construction, and fills in defaults.
 *
 * @throws {OptionError} naming the first invalid option, e.g.
 * `retryMaxDelay must be >= retryInitialDelay (100), got 50`.
 */
export function resolveOptions(options: GatewayOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new OptionError('options', 'must be an object');
  }
  const target = parseTarget(options.target);
  const retryInitialDelay = integer(
    'retryInitialDelay',
    options.retryInitialDelay,
    DEFAULTS.retryInitialDelay,
    0,
  );
  const retryMaxDelay = integer('retryMaxDelay', options.retryMaxDelay, DEFAULTS.retryMaxDelay, 0);
  if (retryMaxDelay < retryInitialDelay) {
    throw new OptionError(
      'retryMaxDelay',
      `must be >= retryInitialDelay (${retryInitialDelay}), got ${retryMaxDelay}`,
    );
  }
  const retryFactor = options.retryFactor ?? DEFAULTS.retryFactor;
  if (typeof retryFactor !== 'number' || !(retryFactor >= 1) || !Number.isFinite(retryFactor)) {
    throw new OptionError(
      'retryFactor',
      `must be a number >= 1, got ${JSON.stringify(retryFactor)}`,
    );
  }
  if (
    options.path !== undefined &&
    (typeof options.path !== 'string' || !options.path.startsWith('/'))
  ) {
    throw new OptionError('path', `must start with "/", got ${JSON.stringify(options.path)}`);
  }
  if (options.host !== undefined && (typeof options.host !== 'string' || options.host === '')) {
    throw new OptionError(
      'host',
      `must be a non-empty string, got ${JSON.stringify(options.host)}`,
    );
  }
  const hooks = options.hooks ?? [];
  hooks.forEach((hook, i) => {
    if (typeof hook !== 'object' || hook === null || typeof hook.open !== 'function') {
      throw new OptionError(`hooks[${i}]`, 'must be a hook: an object with an open(ctx) method');
    }
  });
  const forwardHeaders = options.forwardHeaders ?? DEFAULTS.forwardHeaders;
  if (!Array.isArray(forwardHeaders) || forwardHeaders.some((h) => typeof h !== 'string')) {
    throw new OptionError('forwardHeaders', 'must be an array of header names');
  }
  const logLevel = options.logLevel ?? DEFAULTS.logLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new OptionError(
      'logLevel',
      `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevel)}`,
    );
  }
  if (options.random !== undefined && typeof options.random !== 'function') {
    throw new OptionError('random', 'must be a function returning a number in [0, 1)');
  }
  if (options.now !== undefined && typeof options.now !== 'function') {
    throw new OptionError('now', 'must be a function returning milliseconds');
  }
  const allowedOrigins = options.allowedOrigins;
  if (
    allowedOrigins !== undefined &&
    (!Array.isArray(allowedOrigins) || allowedOrigins.some((o) => typeof o !== 'string'))
  ) {
    throw new OptionError(
      'allowedOrigins',
      'must be an array of origins such as "https://app.example.com"',
    );
  }
  const modes = [
    options.server !== undefined,
    options.noServer === true,
    options.port !== undefined,
  ];
  if (modes.filter(Boolean).length > 1) {
    throw new OptionError('server', 'port, server and noServer exclude each other: pick one');
  }
  const sessionStore = parseSessionStore(options.sessionStore);
  const sessionSecret = options.sessionSecret;
  if (
    sessionSecret !== undefined &&
    (typeof sessionSecret !== 'string' || sessionSecret.length < MIN_SECRET_LENGTH)
  ) {
    throw new OptionError(
      'sessionSecret',
      `must be a string of at least ${MIN_SECRET_LENGTH} characters (e.g. \`openssl rand -base64 33\`)`,
    );
  }
  const shared =
    sessionStore.kind === 'redis' ||
    (sessionStore.kind === 'custom' && sessionStore.store.kind === 'shared');
  if (shared && sessionSecret === undefined) {
    throw new OptionError(
      'sessionSecret',
      'is required with a shared session store: every instance must bind tokens with the same key',
    );
  }
  return {
    target,
    port: integer('port', options.port, DEFAULTS.port, 0, 65535),
    host: options.host ?? DEFAULTS.host,
    path: options.path,
    server: options.server,
    noServer: options.noServer === true,
    hooks,
    pingInterval: integer('pingInterval', options.pingInterval, DEFAULTS.pingInterval, 1),
    pongTimeout: integer('pongTimeout', options.pongTimeout, DEFAULTS.pongTimeout, 1),
    connectTimeout: integer('connectTimeout', options.connectTimeout, DEFAULTS.connectTimeout, 1),
    retryInitialDelay,
    retryMaxDelay,
    retryFactor,
    minUptime: integer('minUptime', options.minUptime, DEFAULTS.minUptime, 0),
    maxRetries: integer('maxRetries', options.maxRetries, DEFAULTS.maxRetries, 0),
    maxOutage: integer('maxOutage', options.maxOutage, DEFAULTS.maxOutage, 1),
    clientPingInterval: integer(
      'clientPingInterval',
      options.clientPingInterval,
      DEFAULTS.clientPingInterval,
      0,
    ),
    forwardHeaders: forwardHeaders.map((h) => h.toLowerCase()),
    maxBufferedMessages: integer(
      'maxBufferedMessages',
      options.maxBufferedMessages,
      DEFAULTS.maxBufferedMessages,
      1,
    ),
    maxBufferedBytes: integer(
      'maxBufferedBytes',
      options.maxBufferedBytes,
      DEFAULTS.maxBufferedBytes,
      1,
    ),
    maxPayload: integer('maxPayload', options.maxPayload, DEFAULTS.maxPayload, 1),
    metricsPort:
      options.metricsPort === undefined
        ? undefined
        : integer('metricsPort', options.metricsPort, 0, 0, 65535),
    metricsHost: options.metricsHost ?? options.host ?? DEFAULTS.host,
    maxSessions: integer('maxSessions', options.maxSessions, DEFAULTS.maxSessions, 1),
    allowedOrigins,
    sessionStore,
    sessionTtl: integer('sessionTtl', options.sessionTtl, DEFAULTS.sessionTtl, 1000),
    sessionSecret,
    sessionWriteInterval: integer(
      'sessionWriteInterval',
      options.sessionWriteInterval,
      DEFAULTS.sessionWriteInterval,
      1,
      60_000,
    ),
    logLevel,
    logger: options.logger,
    random: options.random ?? Math.random,
    now: options.now ?? (() => performance.now()),
  };
}
