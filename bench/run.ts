/**
 * `npm run bench`: subgate against a direct connection and `@fastify/http-proxy` with
 * `wsReconnect`, every path interleaved in the same run and repeated; medians are reported in
 * `bench/results/latest.md` (table), `latest.svg` (chart) and `latest.json` (every sample).
 *
 * Flags: `--reps N` (3), `--quick` (short windows, for debugging the harness), `--only a,b`
 * (scenarios: stream1, stream100, fast1, fast100, upload, latency, memory, recovery),
 * `--paths a,b` (direct, ping-replay, fastify, gql-direct, graphql-ws, gql-fastify),
 * `--subgate-cli PATH` (a patched build, for experiments), `--compare-cli PATH` (adds the two
 * subgate paths again with that build, interleaved with the others), `--out DIR`, `--wait-load X`
 * (wait, up to 30 min, for the 1-minute load average to drop below X).
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
import { writeReport, type Results, type Sample } from './lib/report.js';
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
};
const ALL_SCENARIOS = 'stream1,stream100,fast1,fast100,upload,latency,memory,recovery';
const scenarios = new Set((flags.only ?? ALL_SCENARIOS).split(','));

/**
 * Which paths a scenario runs on. The full-speed graphql-ws stream exists only for the graphql
 * paths; fastify's graphql-ws path is there for like-for-like stream throughput and recovery
 * (its per-frame costs elsewhere are those of its plain path, which is measured).
 */
function applies(scenario: string, path: PathDef): boolean {
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
  for (const base of PATHS.filter((p) => p.kind === 'subgate')) {
    allPaths.push({
      ...base,
      id: `${base.id}+`,
      label: `${base.label} (patched)`,
      variantOf: base.id,
      cli: comparedCli,
    });
  }
}
const paths = flags.paths
  ? allPaths.filter((p) => flags.paths!.split(',').includes(p.variantOf ?? p.id))
  : allPaths;
const cli = flags['subgate-cli'] ? resolve(flags['subgate-cli']) : SUBGATE_CLI;
const outDir = resolve(flags.out ?? join(DIST, '..', 'bench', 'results'));

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
  try {
    await client.request('start', {
      kind: 'stream',
      url: clientUrl(rig, path),
      protocol: path.family,
      connections,
      fast,
    });
    await sleep(plan.warmupMs);
    const cpu0 = proxy ? cpuMicros(proxy.pid) : NaN;
    const m0 = await client.request('mark');
    await sleep(plan.windowMs);
    const m1 = await client.request('mark');
    const cpu1 = proxy ? cpuMicros(proxy.pid) : NaN;
    const messages = Number(m1['count']) - Number(m0['count']);
    const seconds = (Number(m1['at']) - Number(m0['at'])) / 1000;
    const metric = `${fast ? 'fast' : 'stream'}${connections}`;
    record(path, `${metric}.rate`, rep, messages / seconds);
    if (proxy) record(path, `${metric}.cpu`, rep, (cpu1 - cpu0) / messages);
  } finally {
    await client.request('stop', {}, 10_000).catch(() => {});
    await client.stop();
  }
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
  const perf = ['stream1', 'stream100', 'fast1', 'fast100', 'upload', 'latency'].filter((s) =>
    scenarios.has(s),
  );
  for (let rep = 1; rep <= plan.reps; rep++) {
    const order = rotate(paths, rep - 1);
    process.stdout.write(`repetition ${rep}: ${order.map((p) => p.id).join(' → ')}\n`);
    if (perf.length > 0 || scenarios.has('memory')) {
      const targets = { raw: await startTarget('raw'), graphql: await startTarget('graphql') };
      const rig: Rig = { targets, proxies: new Map() };
      try {
        for (const path of paths) {
          if (path.kind !== 'direct') {
            rig.proxies.set(
              path.id,
              await startProxy(path, targetUrl(rig, path), perfSettings, cli),
            );
          }
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
      } finally {
        for (const proxy of rig.proxies.values()) await proxy.stop();
        await targets.raw.stop();
        await targets.graphql.stop();
      }
    }
    if (scenarios.has('recovery')) {
      for (const path of order) {
        // fastify's graphql-ws path never recovers (see recovery()): shown once, not repeated.
        if (path.id === 'gql-fastify' && rep > 1) continue;
        if (path.kind !== 'direct') await attempt(path, 'recovery', rep, () => recovery(path, rep));
      }
    }
  }
  const results: Results = {
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    loadBefore,
    loadAfter: loadavg(),
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
    samples,
    failures,
  };
  mkdirSync(outDir, { recursive: true });
  await writeReport(results, outDir);
  const spent = [...timings].map(([name, ms]) => `${name} ${(ms / 1000).toFixed(0)} s`).join(', ');
  process.stdout.write(
    `done in ${(results.durationMs / 1000).toFixed(0)} s (${spent}); wrote ${outDir}/latest.{md,svg,json}\n`,
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
