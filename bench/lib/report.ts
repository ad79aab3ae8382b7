/**
 * Turns the samples of a run into `latest.md` (tables, targets met or not) and `latest.svg`
 * (throughput and recovery per path, hand-written SVG).
 *
 * @module
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Environment } from './environment.js';
import { DIST, type Family, type ProxySettings } from './paths.js';
import { median } from './shared.js';

/** One measurement. */
export interface Sample {
  readonly path: string;
  readonly metric: string;
  readonly rep: number;
  readonly value: number;
  readonly [extra: string]: unknown;
}

/** Everything a run produced (`latest.json`). */
export interface Results {
  readonly startedAt: string;
  readonly durationMs: number;
  readonly loadBefore: readonly number[];
  readonly loadAfter: readonly number[];
  readonly environment: Environment;
  /** Heartbeat of the recovery scenario. */
  readonly settings: ProxySettings;
  /** Heartbeat of every other scenario. */
  readonly perfSettings: ProxySettings;
  readonly plan: { readonly reps: number } & Record<string, unknown>;
  readonly paths: readonly {
    readonly id: string;
    readonly label: string;
    readonly family: Family;
    readonly kind: string;
    readonly variantOf?: string;
  }[];
  /** subgate CLI of the `+` paths (a patched build), when the run compared one. */
  readonly comparedCli?: string;
  /** How the run was started (`node dist/bench/run.js …`). */
  readonly command?: string;
  /** The private Redis of the session-store paths, or why they were skipped. */
  readonly redis?:
    { readonly skipped: string } | { readonly binary: string; readonly version: string };
  readonly samples: readonly Sample[];
  /** Measurements that failed (their figures are missing from the tables). */
  readonly failures: readonly { path: string; scenario: string; rep: number; error: string }[];
}

interface MetricDef {
  readonly key: string;
  readonly label: string;
  readonly format: (v: number) => string;
}

const rate = (v: number): string =>
  !Number.isFinite(v)
    ? '—'
    : v >= 100_000
      ? `${(v / 1000).toFixed(0)}k`
      : `${(v / 1000).toFixed(1)}k`;
const ms = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)} ms` : '—');
const us = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(2)} µs` : '—');
const kib = (v: number): string => (Number.isFinite(v) ? `${v.toFixed(1)} KiB` : '—');
const perSecond = (v: number): string =>
  Number.isFinite(v) ? `${Math.round(v).toLocaleString('en-US')}/s` : '—';
const ratio = (a: number, b: number): string =>
  Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? `${(a / b).toFixed(2)}×` : '—';

export const METRICS: readonly MetricDef[] = [
  { key: 'stream1.rate', label: 'server→client msgs/s, 1 connection', format: rate },
  { key: 'stream100.rate', label: 'server→client msgs/s, 100 connections', format: rate },
  { key: 'fast1.rate', label: 'server→client msgs/s, full-speed target, 1 conn', format: rate },
  {
    key: 'fast100.rate',
    label: 'server→client msgs/s, full-speed target, 100 conns',
    format: rate,
  },
  { key: 'upload.rate', label: 'client→server msgs/s, 1 connection', format: rate },
  { key: 'latency.p50', label: 'echo latency p50 at 1,000 msg/s, 10 conns', format: ms },
  { key: 'latency.p99', label: 'echo latency p99 at 1,000 msg/s, 10 conns', format: ms },
  { key: 'stream1.cpu', label: 'proxy CPU per message, server→client, 1 conn', format: us },
  { key: 'stream100.cpu', label: 'proxy CPU per message, server→client, 100 conns', format: us },
  { key: 'fast1.cpu', label: 'proxy CPU per message, full-speed target, 1 conn', format: us },
  { key: 'fast100.cpu', label: 'proxy CPU per message, full-speed target, 100 conns', format: us },
  { key: 'upload.cpu', label: 'proxy CPU per message, client→server', format: us },
  { key: 'memory1000.perSession', label: 'RSS per idle session, 1,000 sessions', format: kib },
  { key: 'memory5000.perSession', label: 'RSS per idle session, 5,000 sessions', format: kib },
  { key: 'setup.rate', label: 'connection set-up rate', format: perSecond },
];

/** Median of a path's metric over repetitions (recovery: over every trial). */
export function valueOf(results: Results, path: string, metric: string): number {
  return median(
    results.samples.filter((s) => s.path === path && s.metric === metric).map((s) => s.value),
  );
}

function valuesOf(results: Results, path: string, metric: string): number[] {
  return results.samples.filter((s) => s.path === path && s.metric === metric).map((s) => s.value);
}

/**
 * A family's table, or `undefined` when none of its metrics was measured or neither direct nor
 * fastify ran.
 */
function familyTable(results: Results, family: Family): string | undefined {
  const ids = {
    direct: family === 'raw' ? 'direct' : 'gql-direct',
    subgate: family === 'raw' ? 'ping-replay' : 'graphql-ws',
    fastify: family === 'raw' ? 'fastify' : 'gql-fastify',
  };
  const present = (id: string): boolean => results.paths.some((p) => p.id === id);
  // Nothing to compare subgate with (e.g. a run of the session-store paths only).
  if (!present(ids.direct) && !present(ids.fastify)) return undefined;
  const lines = [
    '| Metric | direct | subgate | subgate ÷ direct | subgate ÷ fastify | fastify wsReconnect | fastify ÷ direct |',
    '| :-- | --: | --: | --: | --: | --: | --: |',
  ];
  for (const metric of METRICS) {
    const d = present(ids.direct) ? valueOf(results, ids.direct, metric.key) : NaN;
    const s = present(ids.subgate) ? valueOf(results, ids.subgate, metric.key) : NaN;
    const f = present(ids.fastify) ? valueOf(results, ids.fastify, metric.key) : NaN;
    if ([d, s, f].every((v) => Number.isNaN(v))) continue;
    lines.push(
      `| ${metric.label} | ${metric.format(d)} | **${metric.format(s)}** | ${ratio(s, d)} | ${ratio(s, f)} | ${metric.format(f)} | ${ratio(f, d)} |`,
    );
  }
  return lines.length > 2 ? lines.join('\n') : undefined;
}

/** The session-store paths, in table order; the first is the baseline. */
const SESSION_PATHS: readonly { id: string; store: string; cursors: boolean }[] = [
  { id: 'graphql-ws-off', store: '`off`', cursors: false },
  { id: 'graphql-ws', store: '`memory` (default)', cursors: false },
  { id: 'graphql-ws-cursors', store: '`memory`', cursors: true },
  { id: 'graphql-ws-redis', store: 'Redis', cursors: false },
  { id: 'graphql-ws-redis-cursors', store: 'Redis', cursors: true },
];

/** An extra field of a sample as a number; `null` (a NaN, once in JSON) and absent are NaN. */
const num = (value: unknown): number => (typeof value === 'number' ? value : NaN);

/** A number with two significant digits, for small per-event figures. */
const small = (v: number): string =>
  !Number.isFinite(v) ? '—' : v === 0 ? '0' : v >= 100 ? v.toFixed(0) : v.toPrecision(2);

/** `a ÷ b` of the same repetition, over every repetition with both: `min–max`. */
function pairedRange(results: Results, a: string, b: string, metric: string): string {
  const ratios: number[] = [];
  for (const sa of results.samples) {
    if (sa.path !== a || sa.metric !== metric) continue;
    const sb = results.samples.find((x) => x.path === b && x.metric === metric && x.rep === sa.rep);
    if (sb !== undefined && Number.isFinite(sa.value / sb.value)) ratios.push(sa.value / sb.value);
  }
  if (ratios.length < 2) return '';
  return ` (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)})`;
}

/** The cost of the session store per event, and Redis memory per session; `undefined` without data. */
function sessionsSection(results: Results): string | undefined {
  const rows = SESSION_PATHS.filter((p) => results.paths.some((x) => x.id === p.id));
  const memory = valuesOf(results, 'graphql-ws-redis', 'sessions.redisBytes');
  const skipped =
    results.redis !== undefined && 'skipped' in results.redis ? results.redis.skipped : undefined;
  if (rows.length < 2 && memory.length === 0 && skipped === undefined) return undefined;
  const base = 'graphql-ws-off';
  const v = (id: string, metric: string): number => valueOf(results, id, metric);
  const vs = (id: string, metric: string, format: (x: number) => string): string => {
    const value = v(id, metric);
    if (id === base) return `**${format(value)}**`;
    return `**${format(value)}** | ${ratio(value, v(base, metric))}${pairedRange(results, id, base, metric)}`;
  };
  const out: string[] = [];
  if (skipped !== undefined) out.push(`**Redis skipped:** ${skipped}.`, '');
  if (rows.length >= 2) {
    out.push(
      'Full-speed graphql-ws target (`fast1`, `fast100`), 100-byte `next` frames, subgate with each session store; "cursors stamped": the client sends `{ subgate: { cursors: {} } }` in its `connection_init` payload, as `subgate/client` does, and subgate sends every event as a new frame with `extensions.subgate.cursor` stamped in. Ratios are ÷ `sessionStore: off` (median ÷ median; in brackets the range of the same ratio within each repetition).',
      '',
      '| Path | store | cursors stamped | msgs/s, 1 conn | ÷ off | msgs/s, 100 conns | ÷ off | proxy CPU µs/msg, 1 conn | ÷ off | proxy CPU µs/msg, 100 conns | ÷ off |',
      '| :-- | :-- | :-: | --: | --: | --: | --: | --: | --: | --: | --: |',
    );
    for (const row of rows) {
      const cells = [
        vs(row.id, 'fast1.rate', rate),
        vs(row.id, 'fast100.rate', rate),
        vs(row.id, 'fast1.cpu', us),
        vs(row.id, 'fast100.cpu', us),
      ].map((cell) => (row.id === base ? `${cell} | 1.00×` : cell));
      out.push(
        `| \`${row.id}\` | ${row.store} | ${row.cursors ? 'yes' : 'no'} | ${cells.join(' | ')} |`,
      );
    }
    const redisRows = rows.filter((row) => row.store === 'Redis');
    if (redisRows.length > 0) {
      const idle = median(
        results.samples.filter((x) => x.metric === 'redis.idleCpu').map((x) => x.value),
      );
      out.push(
        '',
        `Redis, over the same windows: session writes (script calls) per second; commands per event delivered (\`INFO commandstats\` calls — the \`HGET\`/\`HSET\`/\`PEXPIRE\` run inside each \`EVALSHA\` included, \`INFO\` itself excluded); Redis CPU (\`INFO cpu\` \`used_cpu_user + used_cpu_sys\`) per event, all of it and above its idle rate (${Number.isFinite(idle) ? `${idle.toFixed(0)} µs/s` : '—'} with no traffic, median; cron, connections and these \`INFO\` reads); Redis's own time per write (\`usec\` of \`EVALSHA\`, its commands included) and its CPU above idle per write.`,
        '',
        '| Path | conns | session writes/s | Redis commands / event | Redis CPU µs / event | above idle | EVALSHA µs / write | Redis CPU above idle µs / write |',
        '| :-- | --: | --: | --: | --: | --: | --: | --: |',
      );
      for (const row of redisRows) {
        for (const conns of [1, 100]) {
          const metric = `fast${conns}`;
          const extra = (key: string): number =>
            median(
              results.samples
                .filter((x) => x.path === row.id && x.metric === `${metric}.redisCpu`)
                .map((x) => num(x[key])),
            );
          out.push(
            `| \`${row.id}\` | ${conns} | ${small(v(row.id, `${metric}.redisWrites`))} | **${small(v(row.id, `${metric}.redisCalls`))}** | **${small(v(row.id, `${metric}.redisCpu`))}** | ${small(extra('aboveIdlePerEvent'))} | ${small(extra('scriptMicrosPerWrite'))} | ${small(extra('aboveIdlePerWrite'))} |`,
          );
        }
      }
      const commands = new Map<string, number[]>();
      for (const sample of results.samples) {
        if (sample.path !== 'graphql-ws-redis' || sample.metric !== 'fast100.redisCalls') continue;
        const byCommand = sample['byCommand'] as Record<string, number> | undefined;
        const events = Number(sample['events']);
        for (const [command, n] of Object.entries(byCommand ?? {})) {
          commands.set(command, [...(commands.get(command) ?? []), n / events]);
        }
      }
      if (commands.size > 0) {
        out.push(
          '',
          `Commands per event by name (\`graphql-ws-redis\`, 100 conns, median): ${[...commands]
            .map(([command, list]) => `${command} ${small(median(list))}`)
            .join(', ')}.`,
        );
      }
    }
  }
  if (memory.length > 0) {
    const sample = results.samples.find(
      (x) => x.path === 'graphql-ws-redis' && x.metric === 'sessions.redisKeyBytes',
    );
    const first = results.samples.find(
      (x) => x.path === 'graphql-ws-redis' && x.metric === 'sessions.redisBytes',
    );
    const extra = (key: string): number =>
      median(
        results.samples
          .filter((x) => x.path === 'graphql-ws-redis' && x.metric === 'sessions.redisBytes')
          .map((x) => num(x[key])),
      );
    const bytes = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(0)} B` : '—');
    out.push(
      '',
      `Redis memory per idle session (\`session-memory\`): a fresh Redis and proxy, ${String(first?.['sessions'] ?? '?')} graphql-ws sessions, each with 2 subscriptions that have had one event (cursor: a small integer), all stored with both cursors (polled); \`used_memory\` after − before ÷ sessions, and \`MEMORY USAGE\` (\`SAMPLES 0\`) of one session key. Median of ${memory.length}.`,
      '',
      '| used_memory Δ / session | of which client buffers | used_memory_dataset Δ / session | MEMORY USAGE of one key | its fields (characters) |',
      '| --: | --: | --: | --: | :-- |',
      `| **${bytes(median(memory))}** | ${bytes(extra('clientsPerSession'))} | ${bytes(extra('datasetPerSession'))} | ${bytes(valueOf(results, 'graphql-ws-redis', 'sessions.redisKeyBytes'))} | ${Object.entries(
        (sample?.['fields'] as Record<string, number> | undefined) ?? {},
      )
        .map(([f, n]) => `${f} ${n}`)
        .join(
          ', ',
        )}${sample?.['state'] === undefined ? '' : `; state \`${String(sample['state'])}\``} |`,
    );
  }
  return out.join('\n');
}

function spread(values: readonly number[], format: (v: number) => string): string {
  const finite = values.filter(Number.isFinite);
  if (values.length === 0) return '—';
  const none = values.length - finite.length;
  if (finite.length === 0) return `no event (${none}/${values.length} trials)`;
  const text = `${format(median(finite))} (${format(Math.min(...finite))}–${format(Math.max(...finite))}, n=${finite.length})`;
  return none > 0 ? `${text}; ${none} trial(s) without event` : text;
}

/** The recovery table, or `undefined` when no recovery was measured. */
function recoveryTable(results: Results): string | undefined {
  const { pingInterval, pongTimeout } = results.settings;
  const fastifyRestart = valueOf(results, 'fastify', 'recovery.restart');
  const lines = [
    '| Proxy | target restart → first event (median, min–max) | ÷ fastify | SIGSTOP → detection (median, min–max) |',
    '| :-- | --: | --: | --: |',
  ];
  const header = lines.length;
  for (const id of [
    'ping-replay',
    'ping-replay+',
    'graphql-ws',
    'graphql-ws+',
    'fastify',
    'gql-fastify',
  ]) {
    const path = results.paths.find((p) => p.id === id);
    if (path === undefined) continue;
    const restart = valuesOf(results, id, 'recovery.restart');
    if (restart.length === 0) continue;
    const freeze = valuesOf(results, id, 'recovery.freeze');
    const restartMedian = median(restart.filter(Number.isFinite));
    const msText = (v: number): string => `${v.toFixed(0)} ms`;
    lines.push(
      `| ${path.label} | ${spread(restart, msText)} | ${restart.some(Number.isFinite) ? ratio(restartMedian, fastifyRestart) : '—'} | ${freeze.length ? spread(freeze, msText) : 'same as fastify wsReconnect'} |`,
    );
  }
  if (lines.length === header) return undefined;
  lines.push(
    '',
    `Heartbeat for every proxy in this scenario: a ping every ${pingInterval} ms; subgate declares the target dead ${pongTimeout} ms after an unanswered ping (bound: ${pingInterval + pongTimeout + 50} ms = pingInterval + pongTimeout + 50); fastify terminates it at the first tick after an unanswered ping (between ${pingInterval} and ${2 * pingInterval} ms after SIGSTOP). fastify cannot resume a graphql-ws session: after a restart the new target connection never gets a \`connection_init\`, so no event arrives.`,
  );
  return lines.join('\n');
}

interface Target {
  readonly name: string;
  readonly detail: string;
  readonly met: boolean | undefined;
}

function targets(results: Results, variant = ''): Target[] {
  const v = (path: string, metric: string): number => valueOf(results, path, metric);
  const list: Target[] = [];
  const atLeast = (name: string, a: number, b: number, factor: number, what: string): void => {
    const r = a / b;
    list.push({
      name,
      detail: Number.isFinite(r)
        ? `${what}: ${rate(a)} ÷ ${rate(b)} = ${r.toFixed(2)}× (needs ≥ ${factor}×)`
        : `${what}: not measured`,
      met: Number.isFinite(r) ? r >= factor : undefined,
    });
  };
  for (const [key, what] of [
    ['fast1.rate', 'full-speed graphql-ws target, 1 conn'],
    ['fast100.rate', 'full-speed graphql-ws target, 100 conns'],
    ['stream1.rate', 'graphql-ws reference server, 1 conn'],
  ] as const) {
    atLeast(
      'graphql-ws throughput ≥ 2.0× fastify',
      v(`graphql-ws${variant}`, key),
      v('gql-fastify', key),
      2,
      what,
    );
    atLeast(
      'graphql-ws throughput ≥ 0.4× direct',
      v(`graphql-ws${variant}`, key),
      v('gql-direct', key),
      0.4,
      what,
    );
  }
  for (const [key, what] of [
    ['stream1.rate', 'server→client, 1 conn'],
    ['stream100.rate', 'server→client, 100 conns'],
    ['upload.rate', 'client→server, 1 conn'],
  ] as const) {
    atLeast(
      'ping-replay throughput ≥ 0.5× direct',
      v(`ping-replay${variant}`, key),
      v('direct', key),
      0.5,
      what,
    );
  }
  for (const [subgate, direct] of [
    ['ping-replay', 'direct'],
    ['graphql-ws', 'gql-direct'],
  ] as const) {
    const id = `${subgate}${variant}`;
    const p99 = v(id, 'latency.p99');
    const base = v(direct, 'latency.p99');
    list.push({
      name: `p99 at 1,000 msg/s ≤ direct p99 + 0.5 ms (${id})`,
      detail: `${ms(p99)} vs ${ms(base)} + 0.5 ms (Δ ${(p99 - base).toFixed(2)} ms)`,
      met: Number.isFinite(p99 - base) ? p99 <= base + 0.5 : undefined,
    });
    for (const n of [1000, 5000]) {
      const per = v(id, `memory${n}.perSession`);
      list.push({
        name: `≤ 10 KiB RSS per idle session (${id}, ${n.toLocaleString('en-US')})`,
        detail: kib(per),
        met: Number.isFinite(per) ? per <= 10 : undefined,
      });
    }
    const restart = valuesOf(results, id, 'recovery.restart');
    const fastify = v('fastify', 'recovery.restart');
    const restartMedian = median(restart.filter(Number.isFinite));
    list.push({
      name: `restart recovery ≤ 0.5× fastify's (${id})`,
      detail: Number.isFinite(restartMedian / fastify)
        ? `${restartMedian.toFixed(0)} ms ÷ ${fastify.toFixed(0)} ms = ${(restartMedian / fastify).toFixed(2)}×`
        : 'not measured',
      met:
        Number.isFinite(restartMedian / fastify) && restart.every(Number.isFinite)
          ? restartMedian <= 0.5 * fastify
          : undefined,
    });
    const freeze = valuesOf(results, id, 'recovery.freeze');
    const bound = results.settings.pingInterval + results.settings.pongTimeout + 50;
    const worst = Math.max(...freeze);
    list.push({
      name: `freeze detection ≤ pingInterval + pongTimeout + 50 ms (${id})`,
      detail: freeze.length
        ? `worst of ${freeze.length}: ${worst.toFixed(0)} ms (bound ${bound} ms)`
        : 'not measured',
      met: freeze.length && Number.isFinite(worst) ? worst <= bound : undefined,
    });
  }
  return list;
}

function variantTable(results: Results): string {
  const lines = [
    '| Metric | path | current | patched | patched ÷ current | patched ÷ direct | patched ÷ fastify |',
    '| :-- | :-- | --: | --: | --: | --: | --: |',
  ];
  for (const [base, direct, fastify] of [
    ['ping-replay', 'direct', 'fastify'],
    ['graphql-ws', 'gql-direct', 'gql-fastify'],
  ] as const) {
    for (const metric of [
      ...METRICS,
      {
        key: 'recovery.restart',
        label: 'target restart → first event (median)',
        format: (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : '—'),
      },
      {
        key: 'recovery.freeze',
        label: 'SIGSTOP → detection (median)',
        format: (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : '—'),
      },
    ]) {
      const current = valueOf(results, base, metric.key);
      const patched = valueOf(results, `${base}+`, metric.key);
      if (Number.isNaN(current) && Number.isNaN(patched)) continue;
      lines.push(
        `| ${metric.label} | ${base} | ${metric.format(current)} | **${metric.format(patched)}** | ${ratio(patched, current)} | ${ratio(patched, valueOf(results, direct, metric.key))} | ${ratio(patched, valueOf(results, fastify, metric.key))} |`,
      );
    }
  }
  return lines.join('\n');
}

function markdown(results: Results, name: string): string {
  const env = results.environment;
  const load = (l: readonly number[]): string => l.map((x) => x.toFixed(2)).join(' / ');
  const targetRows = (variant: string): string[] =>
    targets(results, variant).map(
      (t) =>
        `| ${t.met === undefined ? 'n/a' : t.met ? '**met**' : '**not met**'} | ${t.name} | ${t.detail} |`,
    );
  const rows = targetRows('');
  const measuredTargets = targets(results, '').some((t) => t.met !== undefined);
  const compared = results.paths.some((p) => p.variantOf !== undefined);
  const raw = familyTable(results, 'raw');
  const graphql = familyTable(results, 'graphql');
  const recovery = recoveryTable(results);
  const sessions = sessionsSection(results);
  const redis =
    results.redis !== undefined && 'version' in results.redis
      ? `; Redis ${results.redis.version} (\`${results.redis.binary}\`, private, no persistence)`
      : '';
  return [
    `# subgate benchmark — ${name === 'latest' ? 'latest run' : name}`,
    '',
    `Produced by \`${results.command ?? 'npm run bench'}\` on ${results.startedAt} in ${(results.durationMs / 1000).toFixed(0)} s: ${results.plan.reps} repetitions, every path interleaved in each, medians reported.`,
    '',
    `- Machine: ${env.cpu}, ${env.cores} cores, ${env.memoryGiB} GiB, Linux ${env.kernel}; load average (1/5/15 min) ${load(results.loadBefore)} before, ${load(results.loadAfter)} after.`,
    `- Node ${env.node}; ${Object.entries(env.packages)
      .map(([n, v]) => `${n} ${v}`)
      .join(', ')}${redis}.`,
    `- subgate commit ${env.commit}; CLI \`${env.subgateCli.startsWith(`${DIST}/`) ? `dist/${env.subgateCli.slice(DIST.length + 1)}` : env.subgateCli}\`.`,
    `- Proxies: subgate \`--retry-initial-delay ${results.settings.retryInitialDelay} --log-level ${results.settings.logLevel}\` with \`--ping-interval ${results.perfSettings.pingInterval} --pong-timeout ${results.perfSettings.pongTimeout}\` (its defaults; recovery: \`${results.settings.pingInterval}\` / \`${results.settings.pongTimeout}\`), the graphql-ws hook's heartbeat the same; fastify \`wsReconnect: { pingInterval: ${results.perfSettings.pingInterval} (recovery: ${results.settings.pingInterval}), reconnectInterval: ${results.settings.retryInitialDelay}, reconnectOnClose: true }\`.`,
    '',
    ...(raw === undefined
      ? []
      : [
          '## Plain WebSocket: subgate with `ping-replay`',
          '',
          'Target and clients use `ws`; 100-byte JSON messages.',
          '',
          raw,
          '',
        ]),
    ...(graphql === undefined
      ? []
      : [
          '## GraphQL: subgate with `graphql-ws` (resume on `after`/`seq`)',
          '',
          'Target: `graphql-ws` `useServer` with a `ticks` subscription (graphql-js executes every event), streamed to `graphql-ws` `createClient`; "full-speed target": the same protocol from a hand-written endpoint on the same port, counted unparsed by the client, so that the proxy is the bottleneck. Echo is graphql-transport-ws `ping`→`pong`, upload is `pong` frames, set-up ends at `connection_ack`. "direct" is a direct graphql-ws connection; fastify is measured on the streams only. subgate runs with its default session store (`memory`).',
          '',
          graphql,
          '',
          'Ratios are value ÷ value; for latency, CPU and memory lower is better. Direct memory is what the target (a plain `ws` server) holds per connection; direct has no proxy CPU.',
          '',
        ]),
    ...(sessions === undefined
      ? []
      : ['## Sessions: the cost of the session store', '', sessions, '']),
    ...(recovery === undefined ? [] : ['## Recovery', '', recovery, '']),
    ...(measuredTargets
      ? ['## Targets', '', '| Result | Target | Measured |', '| :-- | :-- | :-- |', ...rows, '']
      : []),
    ...(compared
      ? [
          '## Patched build, in the same run',
          '',
          `The two subgate paths again, with the build at \`${results.comparedCli ?? '?'}\`, interleaved with every other path.`,
          '',
          variantTable(results),
          '',
          '### Targets with the patched build',
          '',
          '| Result | Target | Measured |',
          '| :-- | :-- | :-- |',
          ...targetRows('+'),
          '',
        ]
      : []),
    ...(results.failures.length > 0
      ? [
          '## Failed measurements',
          '',
          ...results.failures.map((f) => `- rep ${f.rep}, ${f.path}, ${f.scenario}: ${f.error}`),
          '',
        ]
      : []),
    `![throughput and recovery per path](${name}.svg)`,
    '',
  ].join('\n');
}

const COLORS: Readonly<Record<string, string>> = {
  direct: '#6b7280',
  'ping-replay': '#2563eb',
  fastify: '#d97706',
  'gql-direct': '#9ca3af',
  'graphql-ws': '#059669',
  'gql-fastify': '#f59e0b',
  'ping-replay+': '#93c5fd',
  'graphql-ws+': '#6ee7b7',
  'graphql-ws-off': '#a7f3d0',
  'graphql-ws-cursors': '#047857',
  'graphql-ws-redis': '#dc2626',
  'graphql-ws-redis-cursors': '#7f1d1d',
};

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A grouped bar chart panel at (x, y). */
function panel(
  x: number,
  y: number,
  width: number,
  height: number,
  title: string,
  groups: readonly {
    label: string;
    bars: readonly { id: string; value: number; text: string }[];
  }[],
): string {
  const max = Math.max(
    1,
    ...groups.flatMap((g) => g.bars.map((b) => (Number.isFinite(b.value) ? b.value : 0))),
  );
  const top = y + 28;
  const plotHeight = height - 84;
  const groupWidth = width / Math.max(1, groups.length);
  const out: string[] = [
    `<text x="${x + width / 2}" y="${y + 14}" text-anchor="middle" font-weight="bold">${escape(title)}</text>`,
    `<line x1="${x}" y1="${top + plotHeight}" x2="${x + width}" y2="${top + plotHeight}" stroke="#111" />`,
  ];
  groups.forEach((group, g) => {
    const gx = x + g * groupWidth;
    const barWidth = (groupWidth - 16) / Math.max(1, group.bars.length);
    group.bars.forEach((bar, b) => {
      const value = Number.isFinite(bar.value) ? bar.value : 0;
      const h = (value / max) * plotHeight;
      const bx = gx + 8 + b * barWidth;
      out.push(
        `<rect x="${bx.toFixed(1)}" y="${(top + plotHeight - h).toFixed(1)}" width="${(barWidth - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[bar.id] ?? '#000'}"><title>${escape(bar.text)}</title></rect>`,
        `<text x="${(bx + barWidth / 2 - 1).toFixed(1)}" y="${(top + plotHeight - h - 3).toFixed(1)}" text-anchor="middle" font-size="9">${escape(Number.isFinite(bar.value) ? bar.text : 'none')}</text>`,
      );
    });
    // Labels may hold '\n': one tspan per line.
    const cx = (gx + groupWidth / 2).toFixed(1);
    const lines = group.label
      .split('\n')
      .map((line, i) => `<tspan x="${cx}" dy="${i === 0 ? 0 : 14}">${escape(line)}</tspan>`)
      .join('');
    out.push(`<text x="${cx}" y="${top + plotHeight + 16}" text-anchor="middle">${lines}</text>`);
  });
  return out.join('\n');
}

function svg(results: Results): string {
  const paths = results.paths;
  const width = 1100;
  // Two rows of legend (four paths each) fit; more rows make the chart taller, not the panels.
  const extraRows = Math.max(0, Math.ceil(paths.length / 4) - 2);
  const height = 440 + extraRows * 18;
  const panelHeight = 390;
  const throughput = [
    ['stream1.rate', 'server→client\n1 conn'],
    ['stream100.rate', 'server→client\n100 conns'],
    ['fast1.rate', 'graphql-ws full speed\n1 conn'],
    ['fast100.rate', 'graphql-ws full speed\n100 conns'],
    ['upload.rate', 'client→server\n1 conn'],
  ].map(([key, label]) => ({
    label: label!,
    bars: paths
      .map((p) => {
        const value = valueOf(results, p.id, key!);
        return { id: p.id, value, text: rate(value) };
      })
      .filter((bar) => Number.isFinite(bar.value)),
  }));
  const proxies = paths.filter((p) => p.kind !== 'direct');
  const recovery = [
    ['recovery.restart', 'restart →\nfirst event'],
    ['recovery.freeze', 'SIGSTOP →\ndetection'],
  ].map(([key, label]) => ({
    label: label!,
    bars: proxies
      .filter((p) => valuesOf(results, p.id, key!).length > 0)
      .map((p) => {
        const values = valuesOf(results, p.id, key!);
        const value = values.some(Number.isFinite) ? median(values.filter(Number.isFinite)) : NaN;
        return { id: p.id, value, text: `${value.toFixed(0)} ms` };
      }),
  }));
  const legend = paths
    .map(
      (p, i) =>
        `<rect x="${20 + (i % 4) * 260}" y="${panelHeight + 10 + Math.floor(i / 4) * 18}" width="12" height="12" fill="${COLORS[p.id] ?? '#000'}" /><text x="${36 + (i % 4) * 260}" y="${panelHeight + 20 + Math.floor(i / 4) * 18}">${escape(p.label)}</text>`,
    )
    .join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="#fff" />`,
    panel(
      20,
      10,
      740,
      panelHeight,
      'Throughput, median of repetitions (messages/s, higher is better)',
      throughput,
    ),
    panel(790, 10, 290, panelHeight, 'Recovery (ms, lower is better)', recovery),
    legend,
    `<text x="${width - 10}" y="${height - 8}" text-anchor="end" font-size="10" fill="#555">${escape(`${results.environment.cpu}, ${results.environment.cores} cores, Node ${results.environment.node}, ${results.startedAt.slice(0, 10)}`)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}

/**
 * Writes `<name>.json`, `<name>.md` and `<name>.svg` (default `latest.*`) into `dir`; the first
 * two formatted with the repository's Prettier settings, so that `npm run lint` stays clean after
 * a run.
 */
export async function writeReport(results: Results, dir: string, name = 'latest'): Promise<void> {
  const json = `${JSON.stringify(results, null, 2)}\n`;
  const md = markdown(results, name);
  let format = async (text: string, _parser: string): Promise<string> => text;
  try {
    const prettier = await import('prettier');
    const options = (await prettier.resolveConfig(join(dir, `${name}.md`))) ?? {};
    format = (text, parser) => prettier.format(text, { ...options, parser });
  } catch {
    // Prettier is a dev dependency; without it the files are written as generated.
  }
  writeFileSync(join(dir, `${name}.json`), await format(json, 'json'));
  writeFileSync(join(dir, `${name}.md`), await format(md, 'markdown'));
  writeFileSync(join(dir, `${name}.svg`), svg(results));
}
