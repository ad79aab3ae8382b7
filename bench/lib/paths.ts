/**
 * The paths a client's traffic can take to the target, and how to start the proxy of each.
 *
 * @module
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnListening, type Proc } from './proc.js';

/** Workload family: plain WebSocket messages, or graphql-transport-ws frames. */
export type Family = 'raw' | 'graphql';

/** Where a subgate path keeps its sessions (the gateway's `sessionStore`). */
export type SessionStoreKind = 'off' | 'memory' | 'redis';

/** One way from the clients to a target. */
export interface PathDef {
  readonly id: string;
  readonly label: string;
  readonly family: Family;
  readonly kind: 'direct' | 'subgate' | 'fastify';
  /** The path this one is a variant of (same workload, another build of subgate). */
  readonly variantOf?: string;
  /** subgate CLI script of this path, when not the run's. */
  readonly cli?: string;
  /**
   * The session store the proxy is configured with (`sessionStore` in its config file; `redis`
   * is the run's private redis-server). Absent: the CLI's default (`memory`), nothing written to
   * the config — the paths every scenario runs on.
   */
  readonly sessionStore?: SessionStoreKind;
  /**
   * The client asks for a cursor on every event, as `subgate/client` does: its
   * `connection_init` payload carries `{ subgate: { cursors: {} } }`.
   */
  readonly clientCursors?: boolean;
}

export const PATHS: readonly PathDef[] = [
  { id: 'direct', label: 'direct (ws)', family: 'raw', kind: 'direct' },
  { id: 'ping-replay', label: 'subgate ping-replay', family: 'raw', kind: 'subgate' },
  { id: 'fastify', label: 'fastify wsReconnect', family: 'raw', kind: 'fastify' },
  { id: 'gql-direct', label: 'direct (graphql-ws)', family: 'graphql', kind: 'direct' },
  { id: 'graphql-ws', label: 'subgate graphql-ws', family: 'graphql', kind: 'subgate' },
  {
    id: 'gql-fastify',
    label: 'fastify wsReconnect (graphql-ws)',
    family: 'graphql',
    kind: 'fastify',
  },
  // The cost of the session store (issue 8): the graphql-ws path above runs with the default
  // store (`memory`); these run the full-speed streams only.
  {
    id: 'graphql-ws-off',
    label: 'subgate graphql-ws, store off',
    family: 'graphql',
    kind: 'subgate',
    sessionStore: 'off',
  },
  {
    id: 'graphql-ws-cursors',
    label: 'subgate graphql-ws, cursors stamped',
    family: 'graphql',
    kind: 'subgate',
    sessionStore: 'memory',
    clientCursors: true,
  },
  {
    id: 'graphql-ws-redis',
    label: 'subgate graphql-ws, Redis',
    family: 'graphql',
    kind: 'subgate',
    sessionStore: 'redis',
  },
  {
    id: 'graphql-ws-redis-cursors',
    label: 'subgate graphql-ws, Redis + cursors',
    family: 'graphql',
    kind: 'subgate',
    sessionStore: 'redis',
    clientCursors: true,
  },
];

/** Whether a path needs the run's private Redis. */
export function needsRedis(path: PathDef): boolean {
  return path.sessionStore === 'redis';
}

/**
 * `sessionSecret` of every subgate the benchmark starts with a session store (required for
 * Redis, ≥ 32 characters). A benchmark's fixed key: nothing it binds outlives the run.
 */
export const BENCH_SESSION_SECRET = 'subgate-bench-session-secret-0123456789';

/** Heartbeat and retry settings, the same for every proxy. */
export interface ProxySettings {
  /** subgate `pingInterval`, fastify `wsReconnect.pingInterval`. */
  readonly pingInterval: number;
  /** subgate `pongTimeout` (fastify has none: its pong timeout is the ping interval). */
  readonly pongTimeout: number;
  /** subgate `retryInitialDelay`, fastify `wsReconnect.reconnectInterval`. */
  readonly retryInitialDelay: number;
  /** subgate `--log-level`. */
  readonly logLevel: string;
}

const here = fileURLToPath(new URL('.', import.meta.url));
/** `dist/` of this build. */
export const DIST = join(here, '..', '..');
export const SUBGATE_CLI = join(DIST, 'src', 'cli.js');
export const FASTIFY_PROXY = join(DIST, 'bench', 'fastify-proxy.js');
export const TARGET_RAW = join(DIST, 'bench', 'target-raw.js');
export const TARGET_GRAPHQL = join(DIST, 'bench', 'target-graphql.js');
export const CLIENT = join(DIST, 'bench', 'client.js');

const configDir = mkdtempSync(join(tmpdir(), 'subgate-bench-'));
process.on('exit', () => rmSync(configDir, { recursive: true, force: true }));

/**
 * Starts the proxy of a path (not for `direct`) in front of `targetUrl`.
 *
 * @param cli subgate's CLI script (a patched copy for experiments)
 * @param execArgv node flags, e.g. `--cpu-prof`
 * @param redisUrl the Redis of paths with `sessionStore: 'redis'`
 */
export async function startProxy(
  path: PathDef,
  targetUrl: string,
  settings: ProxySettings,
  cli: string = SUBGATE_CLI,
  execArgv: readonly string[] = [],
  redisUrl?: string,
): Promise<Proc & { url: string }> {
  cli = path.cli ?? cli;
  if (path.kind === 'fastify') {
    return spawnListening(
      path.id,
      FASTIFY_PROXY,
      [
        '--target',
        targetUrl,
        '--ping-interval',
        String(settings.pingInterval),
        '--reconnect-interval',
        String(settings.retryInitialDelay),
      ],
      execArgv,
    );
  }
  if (path.kind !== 'subgate') throw new Error(`${path.id} has no proxy`);
  const hooks =
    path.family === 'graphql'
      ? [
          [
            'graphql-ws',
            {
              resume: { argument: 'after', cursor: 'seq' },
              heartbeat: { interval: settings.pingInterval, timeout: settings.pongTimeout },
            },
          ],
        ]
      : ['ping-replay'];
  const config = join(configDir, `${path.id.replace(/\W/g, '_')}.json`);
  const sessions: Record<string, string> = {};
  if (path.sessionStore === 'redis') {
    if (redisUrl === undefined) throw new Error(`${path.id} needs a Redis`);
    sessions['sessionStore'] = redisUrl;
    sessions['sessionSecret'] = BENCH_SESSION_SECRET;
  } else if (path.sessionStore !== undefined) {
    sessions['sessionStore'] = path.sessionStore;
  }
  writeFileSync(config, JSON.stringify({ hooks, ...sessions }));
  return spawnListening(
    path.id,
    cli,
    [
      '--target',
      targetUrl,
      '--port',
      '0',
      '--config',
      config,
      '--ping-interval',
      String(settings.pingInterval),
      '--pong-timeout',
      String(settings.pongTimeout),
      '--retry-initial-delay',
      String(settings.retryInitialDelay),
      '--log-level',
      settings.logLevel,
    ],
    execArgv,
  );
}
