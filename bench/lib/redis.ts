/**
 * The benchmark's private Redis: a `redis-server` of its own (started with the tests' helper,
 * `test/helpers/redis-server.ts`: loopback port, no persistence, its own temporary folder), and
 * what the orchestrator reads from it — command counts (`INFO commandstats`), CPU time
 * (`INFO cpu`) and memory (`INFO memory`, `DBSIZE`, `MEMORY USAGE`).
 *
 * @module
 */
import { Redis } from 'ioredis';
import { findRedisServer, startRedis, type RedisServer } from '../../test/helpers/redis-server.js';
import { nowMs } from './shared.js';

/** What Redis has done so far; two of them subtract ({@link redisDelta}). */
export interface RedisCounters {
  /** Calls per command (`cmdstat_<name>:calls`), without `info` (the benchmark's own reads). */
  readonly calls: Readonly<Record<string, number>>;
  /** Time Redis spent executing each command, µs (`cmdstat_<name>:usec`). */
  readonly usec: Readonly<Record<string, number>>;
  /** `used_cpu_user + used_cpu_sys` of the server process, µs. */
  readonly cpuMicros: number;
  /** When they were read ({@link nowMs}). */
  readonly atMs: number;
}

/** The difference between two {@link RedisCounters}. */
export interface RedisDelta {
  /** Every command, those run by Lua scripts included (Redis counts them too). */
  readonly calls: number;
  readonly byCommand: Readonly<Record<string, number>>;
  /** Scripts run (`EVALSHA` and `EVAL`): one per session write. */
  readonly scripts: number;
  /** Time Redis spent running those scripts (their commands included), µs. */
  readonly scriptMicros: number;
  /** CPU time of the server process, µs. */
  readonly cpuMicros: number;
}

/** A running private Redis and a connection to read it. */
export interface BenchRedis {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** Commands run so far and CPU time used. */
  counters(): Promise<RedisCounters>;
  /** One `INFO` section as `field → value`. */
  info(section: string): Promise<Record<string, string>>;
  /** The connection, for other commands (`DBSIZE`, `MEMORY USAGE`, …). */
  readonly client: Redis;
  /** Closes the connection, kills the server and removes its folder. */
  stop(): Promise<void>;
}

/** The `redis-server` binary, or `undefined` when it is not installed. */
export function redisServerBinary(): string | undefined {
  return findRedisServer();
}

/** Parses `INFO` output into `field → value`. */
export function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (line.startsWith('#') || colon < 0) continue;
    fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

/** Starts a private Redis; throws when `redis-server` is missing (check {@link redisServerBinary}). */
export async function startBenchRedis(): Promise<BenchRedis> {
  const server: RedisServer = await startRedis();
  const client = new Redis(server.url, {
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    connectionName: 'subgate-bench',
  });
  try {
    await client.connect();
  } catch (error) {
    await server.stop();
    throw error;
  }
  const info = async (section: string): Promise<Record<string, string>> =>
    parseInfo(await client.info(section));
  return {
    url: server.url,
    client,
    info,
    async counters() {
      const [stats, cpu] = await Promise.all([info('commandstats'), info('cpu')]);
      const atMs = nowMs();
      const calls: Record<string, number> = {};
      const usec: Record<string, number> = {};
      for (const [field, value] of Object.entries(stats)) {
        if (!field.startsWith('cmdstat_')) continue;
        const name = field.slice('cmdstat_'.length);
        if (name === 'info') continue;
        calls[name] = Number(/(?:^|,)calls=(\d+)/.exec(value)?.[1] ?? 0);
        usec[name] = Number(/(?:^|,)usec=(\d+)/.exec(value)?.[1] ?? 0);
      }
      const cpuMicros =
        (Number(cpu['used_cpu_user'] ?? NaN) + Number(cpu['used_cpu_sys'] ?? NaN)) * 1e6;
      return { calls, usec, cpuMicros, atMs };
    },
    async stop() {
      client.disconnect();
      await server.stop();
    },
  };
}

/** What Redis did between two readings. */
export function redisDelta(before: RedisCounters, after: RedisCounters): RedisDelta {
  const byCommand: Record<string, number> = {};
  let calls = 0;
  let scripts = 0;
  let scriptMicros = 0;
  for (const [name, n] of Object.entries(after.calls)) {
    const d = n - (before.calls[name] ?? 0);
    if (d === 0) continue;
    byCommand[name] = d;
    calls += d;
    if (name === 'evalsha' || name === 'eval') {
      scripts += d;
      scriptMicros += (after.usec[name] ?? 0) - (before.usec[name] ?? 0);
    }
  }
  return {
    calls,
    byCommand,
    scripts,
    scriptMicros,
    cpuMicros: after.cpuMicros - before.cpuMicros,
  };
}
