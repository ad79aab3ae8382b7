/**
 * Where subgate's time goes: runs one workload through subgate started under
 * `node --cpu-prof`, then summarises the profile by self time (per function and per module) and
 * by inclusive time (per function), into `bench/results/profile-<hook>-<workload>.md`.
 *
 * `node dist/bench/profile.js [--hook ping-replay|graphql-ws|graphql-ws-off|graphql-ws-cursors|graphql-ws-redis|graphql-ws-redis-cursors]
 *   [--workload stream1|stream100|fast1|fast100|upload|setup] [--seconds 5] [--subgate-cli PATH] [--out DIR]`
 *
 * `--hook` is a subgate path of the benchmark (`bench/lib/paths.ts`); the Redis paths get a
 * private `redis-server`, and the `-cursors` paths a client that asks for a cursor on every event.
 *
 * @module
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import {
  CLIENT,
  DIST,
  PATHS,
  SUBGATE_CLI,
  TARGET_GRAPHQL,
  TARGET_RAW,
  needsRedis,
  startProxy,
} from './lib/paths.js';
import { forkIpc, killAll } from './lib/proc.js';
import { startBenchRedis, type BenchRedis } from './lib/redis.js';

const { values: flags } = parseArgs({
  options: {
    hook: { type: 'string', default: 'ping-replay' },
    workload: { type: 'string', default: 'stream1' },
    seconds: { type: 'string', default: '5' },
    'subgate-cli': { type: 'string' },
    out: { type: 'string' },
  },
});

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Short module name: `src/session.js`, `ws/lib/sender.js`, `node:internal/...`. */
function moduleOf(url: string): string {
  if (url === '') return '(native / VM)';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('node_modules/');
  if (nm >= 0) return path.slice(nm + 'node_modules/'.length);
  const dist = path.lastIndexOf('/dist/');
  if (dist >= 0) return path.slice(dist + '/dist/'.length);
  return path;
}

function frameName(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return name;
  return `${name} ${moduleOf(frame.url)}:${frame.lineNumber + 1}`;
}

/** Self and inclusive time per function, self time per module, in ms and % of the total. */
function summarise(profile: CpuProfile): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const modules = new Map<string, number>();
  let total = 0;
  let idle = 0;
  profile.samples.forEach((id, i) => {
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    const node = byId.get(id);
    if (node === undefined) return;
    if (node.callFrame.functionName === '(idle)') {
      idle += dt;
      return;
    }
    total += dt;
    const name = frameName(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + dt);
    const module =
      node.callFrame.url === ''
        ? `${node.callFrame.functionName || '(native)'}`
        : moduleOf(node.callFrame.url);
    modules.set(module, (modules.get(module) ?? 0) + dt);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (frame === undefined) break;
      const key = frameName(frame);
      if (seen.has(key)) continue;
      seen.add(key);
      inclusive.set(key, (inclusive.get(key) ?? 0) + dt);
    }
  });
  const table = (map: Map<string, number>, rows: number, title: string): string[] => [
    `| ${title} | ms | % of busy |`,
    '| :-- | --: | --: |',
    ...[...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, rows)
      .map(
        ([name, ms]) => `| \`${name}\` | ${ms.toFixed(0)} | ${((100 * ms) / total).toFixed(1)} |`,
      ),
  ];
  return [
    `Busy ${total.toFixed(0)} ms, idle ${idle.toFixed(0)} ms.`,
    '',
    '### Self time by module',
    '',
    ...table(modules, 20, 'Module'),
    '',
    '### Self time by function',
    '',
    ...table(self, 30, 'Function'),
    '',
    '### Inclusive time by function (subgate and hooks)',
    '',
    ...table(
      new Map([...inclusive].filter(([name]) => / (src|hooks)\//.test(name))),
      30,
      'Function',
    ),
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const hook = flags.hook ?? 'ping-replay';
  const workload = flags.workload ?? 'stream1';
  const path = PATHS.find((p) => p.id === hook);
  if (path === undefined || path.kind !== 'subgate') {
    const ids = PATHS.filter((p) => p.kind === 'subgate').map((p) => p.id);
    throw new Error(`--hook ${hook}: one of ${ids.join(', ')}`);
  }
  const cli = flags['subgate-cli'] ? resolve(flags['subgate-cli']) : SUBGATE_CLI;
  const profileDir = mkdtempSync(join(tmpdir(), 'subgate-prof-'));
  const outDir = resolve(flags.out ?? join(DIST, '..', 'bench', 'results'));
  let redis: BenchRedis | undefined;
  try {
    redis = needsRedis(path) ? await startBenchRedis() : undefined;
    const target = await forkIpc('target', path.family === 'raw' ? TARGET_RAW : TARGET_GRAPHQL);
    const proxy = await startProxy(
      path,
      `ws://127.0.0.1:${target.port}/`,
      { pingInterval: 1000, pongTimeout: 500, retryInitialDelay: 100, logLevel: 'warn' },
      cli,
      ['--cpu-prof', '--cpu-prof-dir', profileDir],
      redis?.url,
    );
    const client = await forkIpc('client', CLIENT, { waitListening: false });
    const connections = workload.endsWith('100') ? 100 : workload === 'setup' ? 2000 : 1;
    let m0: Record<string, unknown> = {};
    let m1: Record<string, unknown> = {};
    if (workload === 'setup') {
      // Connection set-up: 2,000 sessions, 50 in flight, set up end to end.
      const result = await client.request(
        'start',
        {
          kind: 'idle',
          url: proxy.url,
          protocol: path.family,
          count: connections,
          concurrency: 50,
        },
        120_000,
      );
      m0 = { count: 0, at: 0 };
      m1 = { count: connections, at: result['elapsedMs'] };
    } else {
      await client.request('start', {
        kind: workload === 'upload' ? 'upload' : 'stream',
        url: proxy.url,
        protocol: path.family,
        connections,
        fast: workload.startsWith('fast'),
        ...(path.clientCursors === true ? { initPayload: { subgate: { cursors: {} } } } : {}),
      });
      m0 = await client.request('mark');
      await sleep(Number(flags.seconds) * 1000);
      m1 = await client.request('mark');
    }
    await client.request('stop', {}, 10_000).catch(() => {});
    await client.stop();
    await proxy.stop(10_000); // SIGTERM: subgate exits and node writes the profile
    await target.stop();
    const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
    if (file === undefined) throw new Error('no .cpuprofile written');
    const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile;
    const rate =
      workload === 'upload'
        ? 'counted at the target'
        : `${Math.round(((Number(m1['count']) - Number(m0['count'])) * 1000) / (Number(m1['at']) - Number(m0['at'])))} ${workload === 'setup' ? 'sessions' : 'msgs'}/s at the client`;
    const report = [
      `## subgate ${hook}, workload ${workload} (${connections} connection${connections > 1 ? 's' : ''})${workload === 'setup' ? '' : `, ${flags.seconds} s`}`,
      '',
      `Profiled with \`node --cpu-prof ${cli.startsWith(`${DIST}/`) ? `dist/${cli.slice(DIST.length + 1)}` : cli}\` (${rate}).`,
      '',
      summarise(profile),
    ].join('\n');
    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, `profile-${hook}-${workload}.md`);
    writeFileSync(out, report);
    process.stdout.write(`${report}\nwrote ${out}\n`);
  } finally {
    await redis?.stop();
    rmSync(profileDir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (error) {
  process.stderr.write(`profile failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exitCode = 1;
} finally {
  killAll();
}
