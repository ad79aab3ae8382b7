/**
 * `npm run bench`: subgate against a direct connection and `@fastify/http-proxy` with
 * `wsReconnect`, every path interleaved in the same run and repeated; medians are reported in
 * `bench/results/latest.md` (table), `latest.svg` (chart) and `latest.json` (every sample).
 *
 * Flags: `--reps N` (3), `--quick` (short windows, for debugging the harness), `--only a,b`
 * (scenarios: stream1, stream100, fast1, fast100, upload, latency, memory, recovery,
 * session-memory), `--paths a,b` (direct, ping-replay, fastify, gql-direct, graphql-ws,
 * gql-fastify, and the session-store paths graphql-ws-off, graphql-ws-cursors, graphql-ws-redis,
 * graphql-ws-redis-cursors), `--subgate-cli PATH` (a patched build, for experiments),
 * `--compare-cli PATH` (adds the two subgate paths again with that build, interleaved with the
 * others), `--out DIR`, `--name NAME` (file names: `NAME.{md,svg,json}`, default `latest`),
 * `--wait-load X` (wait, up to 30 min, for the 1-minute load average to drop below X).
 *
 * The Redis paths and `session-memory` run against a private `redis-server` started by the run
 * (one per repetition, and a fresh one per `session-memory` measurement); without
 * `redis-server` they are skipped with a message, and the report says so.
 *
 * @module
 */
import { mkdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { environment } from './lib/environment.js';
import {
  CLIENT,
  DIST,
  PATHS,
  SUBGATE_CLI,
  TARGET_GRAPHQL,
  TARGET_RAW,
  needsRedis,
  startProxy,
  type PathDef,
  type ProxySettings,
} from './lib/paths.js';
import {
  cpuMicros,
  forkIpc,
  killAll,
  rssKiB,
  socketInodes,
  type IpcProc,
  type Proc,
} from './lib/proc.js';
import {
  parseInfo,
  redisDelta,
  redisServerBinary,
  startBenchRedis,
  type BenchRedis,
  type RedisCounters,
} from './lib/redis.js';
import { writeReport, type Results, type Sample } from './lib/report.js';
import { Redis } from 'ioredis';
import { nowMs } from './lib/shared.js';

const { values: flags } = parseArgs({
  options: {
    reps: { type: 'string' },
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    paths: { type: 'string' },
    'subgate-cli': { type: 'string' },
    'compare-cli': { type: 'string' },
    out: { type: 'string' },
    name: { type: 'string' },
    'wait-load': { type: 'string' },
  },
});

const quick = flags.quick === true;
/**
 * Heartbeat and retry settings, the same for subgate and fastify. Throughput, latency and idle
 * sessions run with subgate's defaults (a ping every 5 s); recovery with a 1 s heartbeat so that a
 * freeze is detected within the run's time budget.
 */
const perfSettings: ProxySettings = {
  pingInterval: 5000,
  pongTimeout: 2000,
  retryInitialDelay: 100,
  logLevel: 'warn',
};
const settings: ProxySettings = { ...perfSettings, pingInterval: 1000, pongTimeout: 500 };
const plan = {
  reps: Number(flags.reps ?? (quick ? 1 : 3)),
  warmupMs: 300,
  windowMs: quick ? 700 : 800,
  latency: {
    connections: 10,
    rate: 1000,
    warmupMs: 200,
    durationMs: quick ? 1000 : 2000,
  },
  /** Idle sessions: set-up rate is measured while opening the first batch. */
  idle: quick ? [200, 500] : [1000, 5000],
  setupConcurrency: 50,
  idleSettleMs: 300,
  recovery: { tickMs: 10, kills: 2, eventTimeoutMs: 3000 },
  /**
   * Sessions in Redis: idle graphql-ws sessions, each with `subscriptions` subscriptions to ticks
   * every `interval` ms (one event each, then idle), written within `deadlineMs`.
   */
  sessionMemory: {
    sessions: quick ? 200 : 1000,
    subscriptions: 2,
    interval: 3_600_000,
    deadlineMs: 30_000,
    settleMs: 2500,
  },
};
const ALL_SCENARIOS =
  'stream1,stream100,fast1,fast100,upload,latency,memory,recovery,session-memory';
const scenarios = new Set((flags.only ?? ALL_SCENARIOS).split(','));
/** The `connection_init` payload with which `subgate/client` asks for a cursor on every event. */
const CURSORS_INIT = { subgate: { cursors: {} } };

/**
 * Which paths a scenario runs on. The full-speed graphql-ws stream exists only for the graphql
 * paths; fastify's graphql-ws path is there for like-for-like stream throughput and recovery
 * (its per-frame costs elsewhere are those of its plain path, which is measured).
 */
function applies(scenario: string, path: PathDef): boolean {
  // The session-store variants of the graphql-ws path: the full-speed streams (the cost per
  // event), and Redis memory per session on the Redis path.
  if (scenario === 'session-memory') return path.sessionStore === 'redis' && !path.clientCursors;
  if (path.sessionStore !== undefined || path.clientCursors === true) {
    return scenario === 'fast1' || scenario === 'fast100';
  }
  if (scenario === 'fast1' || scenario === 'fast100') return path.family === 'graphql';
  // With the reference graphql-ws server the endpoints are the bottleneck (graphql-js executes
  // every event): one connection shows it; 100 connections are measured at full speed.
  if (scenario === 'stream100') return path.family === 'raw';
  if (scenario === 'upload' || scenario === 'latency' || scenario === 'memory') {
    return path.id !== 'gql-fastify';
  }
  return true;
}
const comparedCli = flags['compare-cli'] ? resolve(flags['compare-cli']) : undefined;
const allPaths: PathDef[] = [...PATHS];
if (comparedCli !== undefined) {
  for (const base of PATHS.filter((p) => p.kind === 'subgate' && p.sessionStore === undefined)) {
    allPaths.push({
      ...base,
      id: `${base.id}+`,
      label: `${base.label} (patched)`,
      variantOf: base.id,
      cli: comparedCli,
    });
  }
}
const selected = flags.paths
  ? allPaths.filter((p) => flags.paths!.split(',').includes(p.variantOf ?? p.id))
  : allPaths;
const redisBinary = redisServerBinary();
/** Why the Redis measurements are missing, when they are. */
const redisSkipped =
  redisBinary === undefined && selected.some(needsRedis)
    ? `redis-server not found (not on PATH, not in /usr/bin, /usr/sbin or /usr/local/bin, $REDIS_SERVER unset or not executable): skipped the Redis paths (${selected
        .filter(needsRedis)
        .map((p) => p.id)
        .join(
          ', ',
        )}) and the session-memory scenario; install it with \`apt-get install redis-server\``
    : undefined;
const paths = redisBinary === undefined ? selected.filter((p) => !needsRedis(p)) : selected;
const cli = flags['subgate-cli'] ? resolve(flags['subgate-cli']) : SUBGATE_CLI;
const outDir = resolve(flags.out ?? join(DIST, '..', 'bench', 'results'));
const name = flags.name ?? 'latest';
if (!/^[\w.-]+$/.test(name)) throw new Error(`--name ${name}: letters, digits, '.', '-', '_' only`);

const samples: Sample[] = [];
/** Wall time spent per scenario, to keep the run within its budget. */
const timings = new Map<string, number>();
const failures: { path: string; scenario: string; rep: number; error: string }[] = [];

/** Runs one measurement; a failure is recorded (and shown in the report) instead of ending the run. */
async function attempt(
  path: PathDef,
  scenario: string,
  rep: number,
  run: () => Promise<void>,
): Promise<void> {
  const started = Date.now();
  try {
    await run();
    timings.set(scenario, (timings.get(scenario) ?? 0) + Date.now() - started);
  } catch (error) {
    const message = (error as Error).message;
    failures.push({ path: path.id, scenario, rep, error: message });
    process.stderr.write(`  rep ${rep} ${path.id} ${scenario} FAILED: ${message}\n`);
  }
}
function record(path: PathDef, metric: string, rep: number, value: number, extra = {}): void {
  samples.push({ path: path.id, metric, rep, value, ...extra });
  const shown = Number.isFinite(value) ? value.toFixed(value >= 100 ? 0 : 3) : String(value);
  process.stdout.write(`  rep ${rep} ${path.id.padEnd(12)} ${metric.padEnd(22)} ${shown}\n`);
}

/** Rotates a list by `n`, so each repetition runs the paths in another order. */
function rotate<T>(list: readonly T[], n: number): T[] {
  const k = n % Math.max(1, list.length);
  return [...list.slice(k), ...list.slice(0, k)];
}

interface Rig {
  readonly targets: Record<'raw' | 'graphql', IpcProc & { port: number }>;
  readonly proxies: Map<string, Proc & { url: string }>;
  /** The repetition's private Redis, when a path needs one. */
  readonly redis: BenchRedis | undefined;
  /** Its CPU time per second with no traffic (cron, connections, our `INFO` reads), µs. */
  redisIdleCpu: number;
}

function targetUrl(rig: Rig, path: PathDef): string {
  return `ws://127.0.0.1:${rig.targets[path.family].port}/`;
}

function clientUrl(rig: Rig, path: PathDef): string {
  return rig.proxies.get(path.id)?.url ?? targetUrl(rig, path);
}

function startTarget(family: 'raw' | 'graphql', env: Record<string, string> = {}) {
  return forkIpc(`target-${family}`, family === 'raw' ? TARGET_RAW : TARGET_GRAPHQL, { env });
}

function startClient(): Promise<IpcProc> {
  return forkIpc('client', CLIENT, { waitListening: false });
}

/**
 * Server→client stream on `connections` connections: msgs/s at the client, proxy CPU µs/msg.
 * `fast`: the graphql target's hand-written full-speed endpoint.
 */
async function stream(
  rig: Rig,
  path: PathDef,
  rep: number,
  connections: number,
  fast = false,
): Promise<void> {
  const client = await startClient();
  const proxy = rig.proxies.get(path.id);
  const redis = needsRedis(path) ? rig.redis : undefined;
  try {
    await client.request('start', {
      kind: 'stream',
      url: clientUrl(rig, path),
      protocol: path.family,
      connections,
      fast,
      ...(path.clientCursors === true ? { initPayload: CURSORS_INIT } : {}),
    });
    await sleep(plan.warmupMs);
    const cpu0 = proxy ? cpuMicros(proxy.pid) : NaN;
    const r0 = await redis?.counters();
    const m0 = await client.request('mark');
    checkSessionSetup(path, m0);
    await sleep(plan.windowMs);
    const m1 = await client.request('mark');
    const r1 = await redis?.counters();
    const cpu1 = proxy ? cpuMicros(proxy.pid) : NaN;
    const messages = Number(m1['count']) - Number(m0['count']);
    const seconds = (Number(m1['at']) - Number(m0['at'])) / 1000;
    const metric = `${fast ? 'fast' : 'stream'}${connections}`;
    record(path, `${metric}.rate`, rep, messages / seconds);
    if (proxy) record(path, `${metric}.cpu`, rep, (cpu1 - cpu0) / messages);
    if (r0 !== undefined && r1 !== undefined) {
      recordRedis(path, metric, rep, r0, r1, messages, rig.redisIdleCpu);
    }
  } finally {
    await client.request('stop', {}, 10_000).catch(() => {});
    await client.stop();
  }
}

/**
 * For the session-store paths: fails the measurement unless the path is set up as it says — a
 * resume token in `connection_ack` exactly when a store is on, a cursor in the stream's events
 * exactly when the client asked for cursors.
 */
function checkSessionSetup(path: PathDef, mark: Record<string, unknown>): void {
  if (path.sessionStore === undefined && path.clientCursors === undefined) return;
  const ack = String(mark['firstAck'] ?? '');
  const frame = String(mark['firstFrame'] ?? '');
  const token = /"subgate":\{"token":"/.test(ack);
  const cursor = /"extensions":\{"subgate":\{"cursor":/.test(frame);
  const wantToken = path.sessionStore !== 'off';
  const wantCursor = path.clientCursors === true;
  if (token !== wantToken || cursor !== wantCursor) {
    throw new Error(
      `${path.id}: expected ${wantToken ? 'a' : 'no'} resume token and ${wantCursor ? 'a' : 'no'} cursor; got ack ${ack.slice(0, 200)} and event ${frame.slice(0, 200)}`,
    );
  }
}

/**
 * Redis figures of a stream window: commands per event (the Lua scripts' own `HGET`/`HSET`/
 * `PEXPIRE` included; Redis counts them), Redis CPU µs per event (all of it, and above its idle
 * rate `idleCpu` µs/s), session writes (script calls) per second, and Redis CPU per write.
 */
function recordRedis(
  path: PathDef,
  metric: string,
  rep: number,
  before: RedisCounters,
  after: RedisCounters,
  events: number,
  idleCpu: number,
): void {
  const delta = redisDelta(before, after);
  const seconds = (after.atMs - before.atMs) / 1000;
  const aboveIdle = delta.cpuMicros - idleCpu * seconds;
  record(path, `${metric}.redisCalls`, rep, delta.calls / events, {
    byCommand: delta.byCommand,
    events,
    seconds,
  });
  record(path, `${metric}.redisCpu`, rep, delta.cpuMicros / events, {
    cpuMicros: delta.cpuMicros,
    idleMicros: idleCpu * seconds,
    aboveIdlePerEvent: aboveIdle / events,
    // NaN when no session was written in the window.
    aboveIdlePerWrite: delta.scripts > 0 ? aboveIdle / delta.scripts : NaN,
    scriptMicrosPerWrite: delta.scripts > 0 ? delta.scriptMicros / delta.scripts : NaN,
  });
  record(path, `${metric}.redisWrites`, rep, delta.scripts / seconds, { writes: delta.scripts });
}

/** Redis CPU µs per second with no traffic (cron, client connections, our own `INFO` reads). */
async function redisIdleCpu(redis: BenchRedis): Promise<number> {
  const before = await redis.counters();
  await sleep(plan.windowMs);
  const after = await redis.counters();
  return (after.cpuMicros - before.cpuMicros) / ((after.atMs - before.atMs) / 1000);
}

/** Client→server stream on one connection: msgs/s at the target, proxy CPU µs/msg. */
async function upload(rig: Rig, path: PathDef, rep: number): Promise<void> {
  const client = await startClient();
  const target = rig.targets[path.family];
  const proxy = rig.proxies.get(path.id);
  try {
    await client.request('start', {
      kind: 'upload',
      url: clientUrl(rig, path),
      protocol: path.family,
    });
    await sleep(plan.warmupMs);
    const cpu0 = proxy ? cpuMicros(proxy.pid) : NaN;
    const c0 = await target.request('count');
    await sleep(plan.windowMs);
    const c1 = await target.request('count');
    const cpu1 = proxy ? cpuMicros(proxy.pid) : NaN;
    const messages = Number(c1['received']) - Number(c0['received']);
    const seconds = (Number(c1['at']) - Number(c0['at'])) / 1000;
    record(path, 'upload.rate', rep, messages / seconds);
    if (proxy) record(path, 'upload.cpu', rep, (cpu1 - cpu0) / messages);
  } finally {
    await client.request('stop', {}, 10_000).catch(() => {});
    await client.stop();
  }
}

/** Echo round trips at a fixed 1,000 msg/s over 10 connections: p50 and p99 in ms. */
async function latency(rig: Rig, path: PathDef, rep: number): Promise<void> {
  const client = await startClient();
  try {
    await client.request('start', {
      kind: 'latency',
      url: clientUrl(rig, path),
      protocol: path.family,
      ...plan.latency,
    });
    const result = await client.request('result', {}, 30_000);
    record(path, 'latency.p50', rep, Number(result['p50']));
    record(path, 'latency.p99', rep, Number(result['p99']), {
      samples: result['samples'],
      lost: result['lost'],
      max: result['max'],
    });
  } finally {
    await client.request('stop', {}, 10_000).catch(() => {});
    await client.stop();
  }
}

/**
 * RSS per idle session: a fresh proxy (for `direct`, a fresh target: what a plain server holds
 * per connection), warmed up with 100 sessions, then VmRSS before and after opening
 * 1,000 and 5,000 idle sessions that are set up end to end (the target's first message, or
 * `connection_ack`). The connection set-up rate is measured on the first 1,000, 50 in flight.
 */
async function memory(rig: Rig, path: PathDef, rep: number): Promise<void> {
  const ownTarget = path.kind === 'direct' ? await startTarget(path.family) : undefined;
  const url = ownTarget !== undefined ? `ws://127.0.0.1:${ownTarget.port}/` : targetUrl(rig, path);
  const proxy = path.kind === 'direct' ? undefined : await startProxy(path, url, perfSettings, cli);
  const measured = ownTarget ?? proxy!;
  const entry = proxy?.url ?? url;
  try {
    const client = await startClient();
    try {
      // Warm-up: 100 sessions, closed again, so that the baseline includes compiled code.
      await client.request('start', {
        kind: 'idle',
        url: entry,
        protocol: path.family,
        count: 100,
        concurrency: plan.setupConcurrency,
      });
      await client.request('reset');
      await sleep(plan.idleSettleMs);
      const base = rssKiB(measured.pid);
      let first = true;
      // Direct: the target's cost per connection at 1,000, for reference, and the set-up rate.
      for (const count of path.kind === 'direct' ? plan.idle.slice(0, 1) : plan.idle) {
        const result = await client.request(
          'grow',
          { count, concurrency: first ? plan.setupConcurrency : 100 },
          120_000,
        );
        if (first) {
          record(path, 'setup.rate', rep, (count * 1000) / Number(result['elapsedMs']));
        }
        first = false;
        if (Number(result['open']) !== count) {
          throw new Error(
            `${path.id}: ${String(result['open'])} idle sessions open, wanted ${count}`,
          );
        }
        await sleep(plan.idleSettleMs);
        const rss = rssKiB(measured.pid);
        record(path, `memory${count}.perSession`, rep, (rss - base) / count, { base, rss });
      }
    } finally {
      await client.request('stop', {}, 30_000).catch(() => {});
      await client.stop();
    }
  } finally {
    await proxy?.stop();
    await ownTarget?.stop();
  }
}

/** Resolves once `check()` is true, polling every 100 ms; throws after `ms` with `what()`. */
async function until(ms: number, check: () => Promise<boolean>, what: () => string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what()} after ${ms} ms`);
    await sleep(100);
  }
}

/**
 * Redis memory per session: a fresh Redis and a fresh proxy of the path, warmed up with 10
 * sessions (closed again, then `FLUSHALL`), then `used_memory` before and after N idle graphql-ws
 * sessions, each with 2 subscriptions that have had one event (the reference target's ticks
 * with a one-hour interval), once every session is stored with a cursor for each subscription
 * (polled, with a deadline). Also `MEMORY USAGE` of one session key.
 */
async function sessionMemory(rig: Rig, path: PathDef, rep: number): Promise<void> {
  const { sessions, subscriptions, interval, deadlineMs } = plan.sessionMemory;
  const redis = await startBenchRedis();
  let proxy: (Proc & { url: string }) | undefined;
  let client: IpcProc | undefined;
  const r = redis.client;
  // Polling 1,000 sessions fills a connection's buffers: that one is closed before the reading,
  // and `INFO memory` is read on a connection of its own each time, so that the connections
  // other than the proxy's are the same in both readings.
  const poller = new Redis(redis.url, { connectionName: 'subgate-bench-poll', lazyConnect: true });
  const memoryInfo = async (): Promise<Record<string, string>> => {
    const once = new Redis(redis.url, { connectionName: 'subgate-bench-info', lazyConnect: true });
    try {
      await once.connect();
      return parseInfo(await once.info('memory'));
    } finally {
      once.disconnect();
    }
  };
  /** Stored sessions with a cursor for every subscription, of those under `keys`. */
  const complete = async (keys: readonly string[]): Promise<number> => {
    const states = await Promise.all(keys.map((key) => poller.hget(key, 'state')));
    return states.filter((state) => {
      const ops = (JSON.parse(state ?? '{}') as { 'graphql-ws'?: { operations?: object } })[
        'graphql-ws'
      ]?.operations;
      return ops !== undefined && Object.keys(ops).length === subscriptions;
    }).length;
  };
  const allKeys = async (): Promise<string[]> => {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await poller.scan(cursor, 'MATCH', 'subgate:session:*', 'COUNT', 1000);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0');
    return keys;
  };
  try {
    proxy = await startProxy(path, targetUrl(rig, path), perfSettings, cli, [], redis.url);
    client = await startClient();
    const task = {
      kind: 'sessions',
      url: proxy.url,
      protocol: path.family,
      subscriptions,
      interval,
    };
    // Warm-up: the proxy's Redis connection and the script cache, then nothing stored.
    await client.request('start', { ...task, count: 10, concurrency: 10 }, 60_000);
    await client.request('reset');
    await sleep(500);
    await r.flushall('SYNC');
    // Redis shrinks an idle connection's query buffer after 2 s: the proxy's, after a batch.
    await sleep(plan.sessionMemory.settleMs);
    if ((await r.dbsize()) !== 0) throw new Error('sessions written after FLUSHALL');
    const before = await memoryInfo();
    const grown = await client.request(
      'start',
      { ...task, count: sessions, concurrency: plan.setupConcurrency },
      120_000,
    );
    if (Number(grown['open']) !== sessions) {
      throw new Error(`${String(grown['open'])} sessions open, wanted ${sessions}`);
    }
    let keys: string[] = [];
    let done = 0;
    await poller.connect();
    await until(
      deadlineMs,
      async () => {
        if ((await poller.dbsize()) < sessions) return false;
        keys = await allKeys();
        done = await complete(keys);
        return done === sessions;
      },
      () =>
        `${keys.length} sessions stored, ${done} with ${subscriptions} cursors (wanted ${sessions})`,
    );
    await poller.quit();
    // Nothing changes from here (idle until the refresh at a third of the TTL, 40 s); a write
    // already in flight lands, and Redis shrinks the proxy's query buffer.
    await sleep(plan.sessionMemory.settleMs);
    const after = await memoryInfo();
    if ((await r.dbsize()) !== sessions) throw new Error('more sessions stored than opened');
    // Memory of each connection (ours is named): buffers, not sessions.
    const connections = String(await r.call('CLIENT', 'LIST'))
      .trim()
      .split('\n')
      .map((line) => {
        const field = (name: string): string =>
          new RegExp(`(?:^| )${name}=(\\S*)`).exec(line)?.[1] ?? '';
        return { name: field('name'), cmd: field('cmd'), totMem: Number(field('tot-mem')) };
      });
    const key = keys[0]!;
    const keyBytes = Number(await r.call('MEMORY', 'USAGE', key, 'SAMPLES', '0'));
    const stored = await r.hgetall(key);
    const used = (info: Record<string, string>, field: string): number => Number(info[field]);
    const perSession = (field: string): number =>
      (used(after, field) - used(before, field)) / sessions;
    record(path, 'sessions.redisBytes', rep, perSession('used_memory'), {
      sessions,
      before: used(before, 'used_memory'),
      after: used(after, 'used_memory'),
      clientsPerSession: perSession('mem_clients_normal'),
      connections,
      datasetPerSession: perSession('used_memory_dataset'),
    });
    record(path, 'sessions.redisKeyBytes', rep, keyBytes, {
      key: `${key.slice(0, 'subgate:session:'.length)}<${key.length - 'subgate:session:'.length} chars>`,
      fields: Object.fromEntries(Object.entries(stored).map(([f, v]) => [f, v.length])),
      state: stored['state'],
    });
  } finally {
    poller.disconnect();
    await client?.request('stop', {}, 30_000).catch(() => {});
    await client?.stop();
    await proxy?.stop();
    await redis.stop();
  }
}

/**
 * Recovery with a target sending a tick every 10 ms to one client session:
 * - restart: SIGKILL the target, start it again on the same port at once; the figure is from the
 *   new process accepting connections (its own time stamp at `listening`) to the first event
 *   from that process reaching the client (the client's time stamp).
 * - freeze: SIGSTOP the target; the figure is from SIGSTOP to the proxy closing its socket to the
 *   frozen target (its detection), seen by polling the proxy's /proc/<pid>/fd every ms. The
 *   first new socket after that (its reconnect attempt) is recorded too. Then SIGCONT.
 */
async function recovery(path: PathDef, rep: number): Promise<void> {
  let boot = 1;
  let target = await startTarget(path.family, { BOOT: String(boot) });
  const port = target.port;
  const proxy = await startProxy(path, `ws://127.0.0.1:${port}/`, settings, cli);
  const client = await startClient();
  const boots = new Map<number, number>();
  const waiters = new Map<number, (at: number) => void>();
  client.onEvent((name, at, data) => {
    if (name !== 'boot') return;
    const b = (data as { boot: number }).boot;
    boots.set(b, at);
    waiters.get(b)?.(at);
  });
  const firstEventOf = (b: number): Promise<number> =>
    new Promise((resolveAt) => {
      const seen = boots.get(b);
      if (seen !== undefined) return resolveAt(seen);
      waiters.set(b, resolveAt);
      setTimeout(() => resolveAt(NaN), plan.recovery.eventTimeoutMs).unref();
    });
  try {
    await client.request('start', {
      kind: 'ticks',
      url: proxy.url,
      protocol: path.family,
      interval: plan.recovery.tickMs,
    });
    // fastify cannot resume a graphql-ws session (the new upstream never gets connection_init):
    // one restart shows it; the freeze detection is the same as its raw path's.
    const kills = path.id === 'gql-fastify' ? 1 : plan.recovery.kills;
    for (let k = 0; k < kills; k++) {
      await sleep(300);
      const killedAt = nowMs();
      target.signal('SIGKILL');
      await target.exited;
      boot++;
      target = await startTarget(path.family, { BOOT: String(boot), PORT: String(port) });
      const at = await firstEventOf(boot);
      record(path, 'recovery.restart', rep, at - target.listeningAt, {
        trial: k,
        outage: target.listeningAt - killedAt,
      });
      if (Number.isNaN(at)) break;
    }
    if (path.id === 'gql-fastify') return;
    // Each repetition stops the target at another phase of the heartbeat (a third of the
    // interval apart), so the worst case is sampled too.
    await sleep(300 + ((rep - 1) % 3) * Math.round(settings.pingInterval / 3));
    const before = socketInodes(proxy.pid);
    const stoppedAt = nowMs();
    target.signal('SIGSTOP');
    let detectedAt = NaN;
    let attemptAt = NaN;
    const limit = stoppedAt + 2 * settings.pingInterval + settings.pongTimeout + 1500;
    while (nowMs() < limit && (Number.isNaN(detectedAt) || Number.isNaN(attemptAt))) {
      await sleep(1);
      const now = socketInodes(proxy.pid);
      const at = nowMs();
      if (Number.isNaN(detectedAt) && [...before].some((inode) => !now.has(inode))) detectedAt = at;
      if (Number.isNaN(attemptAt) && [...now].some((inode) => !before.has(inode))) attemptAt = at;
    }
    target.signal('SIGCONT');
    record(path, 'recovery.freeze', rep, detectedAt - stoppedAt, {
      reconnectAttempt: attemptAt - stoppedAt,
    });
  } finally {
    await client.request('stop', {}, 10_000).catch(() => {});
    await client.stop();
    await proxy.stop();
    await target.stop();
  }
}

async function waitForLoad(threshold: number): Promise<void> {
  const deadline = Date.now() + 30 * 60_000;
  while (loadavg()[0]! >= threshold && Date.now() < deadline) {
    process.stdout.write(`load average ${loadavg()[0]!.toFixed(2)} >= ${threshold}; waiting\n`);
    await sleep(30_000);
  }
}

async function main(): Promise<void> {
  if (flags['wait-load'] !== undefined) await waitForLoad(Number(flags['wait-load']));
  const startedAt = new Date();
  const loadBefore = loadavg();
  process.stdout.write(
    `subgate bench: ${plan.reps} repetition(s), paths ${paths.map((p) => p.id).join(', ')}\n`,
  );
  if (redisSkipped !== undefined) process.stdout.write(`${redisSkipped}\n`);
  const perf = ['stream1', 'stream100', 'fast1', 'fast100', 'upload', 'latency'].filter((s) =>
    scenarios.has(s),
  );
  const sessionPaths =
    redisBinary === undefined ? [] : paths.filter((p) => applies('session-memory', p));
  let redisVersion: string | undefined;
  for (let rep = 1; rep <= plan.reps; rep++) {
    const order = rotate(paths, rep - 1);
    process.stdout.write(`repetition ${rep}: ${order.map((p) => p.id).join(' → ')}\n`);
    const sessionMemoryRuns = scenarios.has('session-memory') && sessionPaths.length > 0;
    if (perf.length > 0 || scenarios.has('memory') || sessionMemoryRuns) {
      const targets = { raw: await startTarget('raw'), graphql: await startTarget('graphql') };
      const redis = paths.some(needsRedis) ? await startBenchRedis() : undefined;
      redisVersion ??= redis && (await redis.info('server'))['redis_version'];
      const rig: Rig = { targets, proxies: new Map(), redis, redisIdleCpu: NaN };
      try {
        for (const path of paths) {
          if (path.kind !== 'direct') {
            rig.proxies.set(
              path.id,
              await startProxy(path, targetUrl(rig, path), perfSettings, cli, [], redis?.url),
            );
          }
        }
        if (redis !== undefined) {
          rig.redisIdleCpu = await redisIdleCpu(redis);
          samples.push({ path: 'redis', metric: 'redis.idleCpu', rep, value: rig.redisIdleCpu });
          process.stdout.write(
            `  rep ${rep} redis idle CPU ${rig.redisIdleCpu.toFixed(0)} µs/s (subtracted below)\n`,
          );
        }
        for (const scenario of perf) {
          for (const path of order) {
            if (!applies(scenario, path)) continue;
            await attempt(path, scenario, rep, async () => {
              if (scenario === 'stream1') await stream(rig, path, rep, 1);
              if (scenario === 'stream100') await stream(rig, path, rep, 100);
              if (scenario === 'fast1') await stream(rig, path, rep, 1, true);
              if (scenario === 'fast100') await stream(rig, path, rep, 100, true);
              if (scenario === 'upload') await upload(rig, path, rep);
              if (scenario === 'latency') await latency(rig, path, rep);
            });
          }
        }
        if (scenarios.has('memory')) {
          for (const path of order) {
            if (applies('memory', path))
              await attempt(path, 'memory', rep, () => memory(rig, path, rep));
          }
        }
        if (sessionMemoryRuns) {
          for (const path of order) {
            if (applies('session-memory', path))
              await attempt(path, 'session-memory', rep, () => sessionMemory(rig, path, rep));
          }
        }
      } finally {
        for (const proxy of rig.proxies.values()) await proxy.stop();
        await redis?.stop();
        await targets.raw.stop();
        await targets.graphql.stop();
      }
    }
    if (scenarios.has('recovery')) {
      for (const path of order) {
        // fastify's graphql-ws path never recovers (see recovery()): shown once, not repeated.
        if (path.id === 'gql-fastify' && rep > 1) continue;
        if (path.kind !== 'direct' && applies('recovery', path))
          await attempt(path, 'recovery', rep, () => recovery(path, rep));
      }
    }
  }
  const results: Results = {
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    loadBefore,
    loadAfter: loadavg(),
    command: ['node', 'dist/bench/run.js', ...process.argv.slice(2)].join(' '),
    environment: environment(cli),
    settings,
    perfSettings,
    plan,
    paths: paths.map(({ id, label, family, kind, variantOf }) => ({
      id,
      label,
      family,
      kind,
      ...(variantOf === undefined ? {} : { variantOf }),
    })),
    ...(comparedCli === undefined ? {} : { comparedCli }),
    redis:
      redisSkipped !== undefined
        ? { skipped: redisSkipped }
        : { binary: redisBinary ?? 'not needed', version: redisVersion ?? 'not started' },
    samples,
    failures,
  };
  mkdirSync(outDir, { recursive: true });
  await writeReport(results, outDir, name);
  const spent = [...timings].map(([name, ms]) => `${name} ${(ms / 1000).toFixed(0)} s`).join(', ');
  process.stdout.write(
    `done in ${(results.durationMs / 1000).toFixed(0)} s (${spent}); wrote ${outDir}/${name}.{md,svg,json}\n`,
  );
}

try {
  await main();
} catch (error) {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
} finally {
  killAll();
}
