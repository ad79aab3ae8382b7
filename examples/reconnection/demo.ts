/**
 * `npm run demo`: the unstable target, the proxy (subgate) and the client, run together as child
 * processes for a bounded time while the target starts slowly, freezes and crashes twice on a
 * schedule. Prints each outage as it happens (what, when subgate detected it, when events flowed
 * again), then a summary: events expected, received, lost, duplicated, out of order, outages
 * survived, longest gap. Writes the timeline as a self-contained SVG file.
 *
 * Usage: `node dist/examples/reconnection/demo.js [--duration 30] [--out file.svg]
 * [--report file.json] [--tick 20] [--verbose]`
 *
 * Exit code: 0 when every event arrived exactly once and in order on one client connection; 1 if
 * anything was lost, duplicated or out of order, the client's connection closed, or a part failed;
 * 2 for bad arguments.
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { ClientEvent, ClientReport } from './client/index.js';
import type { ProxyEvent } from './proxy/index.js';
import { renderTimeline, type LaneState, type Outage, type Segment } from './timeline.js';
import type { CrashMode, TargetEvent } from './unstable-target/index.js';

const USAGE = `Usage: node dist/examples/reconnection/demo.js [options]

Runs an unstable GraphQL target, subgate and a graphql-ws client together and checks that the
client gets every event exactly once, in order, through a slow start, a freeze and two crashes.

Options:
  --duration <s>     length of the run in seconds, at least 10 (default 30); the fault schedule
                     is spread over it
  --out <file.svg>   where to write the timeline (default <tmpdir>/subgate-demo/timeline.svg);
                     the processes' logs go next to it
  --report <file>    also write the results as JSON
  --tick <ms>        time between two events of the subscription (default 20)
  --verbose          echo every process's output (subgate's JSON log lines included)
  -h, --help         show this help
`;

/** Gateway settings of proxy/index.ts, shown in the header. */
const PING_INTERVAL = 1000;
const PONG_TIMEOUT = 1000;
/** How long the target stays down after a crash before its supervisor restarts it. */
const RESTART_DELAY_MS = 1000;
/** A fault falls only on a stream that has been flowing this long again (else it is postponed). */
const SETTLE_MS = 500;
/** A silence longer than this, seen by the client, counts as a gap. */
const GAP_MS = 300;

/** The results, as written by `--report`. */
export interface DemoReport {
  readonly passed: boolean;
  readonly durationS: number;
  readonly client: ClientReport | undefined;
  readonly outages: readonly Outage[];
  readonly survived: number;
  readonly faults: {
    readonly slowStarts: number;
    readonly freezes: number;
    readonly crashes: number;
  };
  readonly timeline: string;
  readonly problems: readonly string[];
}

interface Schedule {
  readonly slowStartMs: number;
  readonly freeze: { readonly at: number; readonly ms: number };
  readonly crashes: readonly { readonly at: number; readonly mode: CrashMode }[];
}

/** The fault schedule for a run of `durationS` seconds (times in seconds). */
function scheduleFor(durationS: number): Schedule {
  const round = (s: number): number => Math.round(s * 100) / 100;
  return {
    slowStartMs: Math.round(Math.min(3000, Math.max(1000, durationS * 100))),
    // Longer than pingInterval + pongTimeout, so only the heartbeat can notice it.
    freeze: { at: round(durationS * 0.22), ms: durationS >= 20 ? 3000 : 2500 },
    crashes: [
      { at: round(durationS * 0.5), mode: 'exit' },
      { at: round(durationS * 0.72), mode: 'kill' },
    ],
  };
}

// ─── command line ────────────────────────────────────────────────────────────────────────────

function parseCommandLine(): {
  durationS: number;
  out: string;
  report: string | undefined;
  tickMs: number;
  verbose: boolean;
} {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        duration: { type: 'string', default: '30' },
        out: { type: 'string' },
        report: { type: 'string' },
        tick: { type: 'string', default: '20' },
        verbose: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (error) {
    process.stderr.write(`demo: ${(error as Error).message}\n\n${USAGE}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  const durationS = Number(values.duration);
  const tickMs = Number(values.tick);
  if (!(durationS >= 10) || !Number.isFinite(durationS)) {
    process.stderr.write(
      `demo: --duration must be a number of seconds >= 10, got ${values.duration}\n`,
    );
    process.exit(2);
  }
  if (!Number.isInteger(tickMs) || tickMs < 1) {
    process.stderr.write(`demo: --tick must be a whole number of ms >= 1, got ${values.tick}\n`);
    process.exit(2);
  }
  return {
    durationS,
    out: resolve(values.out ?? join(tmpdir(), 'subgate-demo', 'timeline.svg')),
    report: values.report === undefined ? undefined : resolve(values.report),
    tickMs,
    verbose: values.verbose,
  };
}

// ─── output ─────────────────────────────────────────────────────────────────────────────────

const color = process.stdout.isTTY && process.env['NO_COLOR'] === undefined;
const paint =
  (code: string) =>
  (text: string): string =>
    color ? `\x1b[${code}m${text}\x1b[0m` : text;
const bold = paint('1');
const dim = paint('2');
const red = paint('31');
const green = paint('32');
const yellow = paint('33');

const seconds = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

// ─── child processes ────────────────────────────────────────────────────────────────────────

interface Part {
  readonly name: 'target' | 'subgate' | 'client';
  readonly child: ChildProcess;
  /** The last lines it wrote (stdout and stderr), for a post-mortem. */
  readonly tail: string[];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  done: boolean;
}

function startPart(
  name: Part['name'],
  script: string,
  env: Record<string, string>,
  log: WriteStream,
  verbose: boolean,
): Part {
  const child = fork(fileURLToPath(new URL(script, import.meta.url)), [], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  const tail: string[] = [];
  const echo = (chunk: Buffer): void => {
    log.write(chunk);
    tail.push(
      ...chunk
        .toString()
        .split('\n')
        .filter((line) => line !== ''),
    );
    if (tail.length > 40) tail.splice(0, tail.length - 40);
    if (verbose) {
      for (const line of chunk.toString().split('\n')) {
        if (line !== '') process.stdout.write(dim(`           ${name.padEnd(8)} │ ${line}`) + '\n');
      }
    }
  };
  child.stdout?.on('data', echo);
  child.stderr?.on('data', echo);
  const part: Part = {
    name,
    child,
    tail,
    done: false,
    exited: new Promise((resolveExit) =>
      child.once('exit', (code, signal) => {
        part.done = true;
        resolveExit({ code, signal });
      }),
    ),
  };
  return part;
}

/** Ends a part: `signal` first, SIGKILL if it has not exited within `graceMs`. */
async function stopPart(part: Part, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (part.done) return;
  part.child.kill(signal);
  const timer = setTimeout(() => part.child.kill('SIGKILL'), graceMs);
  await part.exited;
  clearTimeout(timer);
}

/** Polls `check` every 20 ms until it returns a value; `undefined` after `timeoutMs`. */
async function waitUntil<T>(check: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined || Date.now() >= deadline) return value;
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ─── the run ────────────────────────────────────────────────────────────────────────────────

interface Timed<T> {
  readonly at: number;
  readonly event: T;
}

interface UpstreamRecord {
  readonly at: number;
  readonly state: string;
  readonly generation: number;
  readonly attempt: number;
  readonly reason: string | undefined;
}

const crashLabel: Record<CrashMode, string> = {
  exit: 'crash (exit)',
  kill: 'crash (SIGKILL)',
  term: 'graceful restart',
};

async function main(): Promise<void> {
  const args = parseCommandLine();
  const schedule = scheduleFor(args.durationS);
  const outDir = dirname(args.out);
  mkdirSync(outDir, { recursive: true });
  const logs = {
    target: createWriteStream(join(outDir, 'target.log')),
    subgate: createWriteStream(join(outDir, 'subgate.log')),
    client: createWriteStream(join(outDir, 'client.log')),
  };

  const t0 = Date.now();
  const rel = (at: number): number => at - t0;
  const stamp = (at: number): string => `+${(rel(at) / 1000).toFixed(2)}s`.padStart(8);
  const print = (at: number, who: Part['name'], line: string): void => {
    process.stdout.write(`  ${dim(stamp(at))}  ${who.padEnd(8)} ${line}\n`);
  };

  const targetEvents: Timed<TargetEvent>[] = [];
  const upstream: UpstreamRecord[] = [];
  const clientEvents: Timed<ClientEvent>[] = [];
  const problems: string[] = [];
  let sessionId: string | undefined;
  let proxyUrl: string | undefined;
  let targetPort: number | undefined;
  let drainedSeq: number | undefined;
  let clientReport: ClientReport | undefined;
  /** Set once the run is over: exits from then on are expected. */
  let stopping = false;

  const crashAt = schedule.crashes.map((c) => `${c.at}:${c.mode}`).join(',');
  process.stdout.write(
    `${bold('subgate demo')} · ${args.durationS} s · one graphql-ws subscription, an event every ${args.tickMs} ms · ` +
      `subgate pingInterval ${PING_INTERVAL} ms + pongTimeout ${PONG_TIMEOUT} ms\n` +
      `schedule: slow start ${seconds(schedule.slowStartMs)} · freeze at ${schedule.freeze.at} s for ` +
      `${seconds(schedule.freeze.ms)} · ${schedule.crashes.map((c) => `${crashLabel[c.mode]} at ${c.at} s`).join(' · ')} · ` +
      `restart after ${seconds(RESTART_DELAY_MS)}\n` +
      dim(
        'the target starts once the client is connected through subgate; fault times count from then, the times below from the start of the demo',
      ) +
      '\n\n',
  );

  const target = startPart(
    'target',
    './unstable-target/index.js',
    {
      PORT: '0',
      TICK_INTERVAL_MS: String(args.tickMs),
      SLOW_START_MS: String(schedule.slowStartMs),
      RESTART_DELAY_MS: String(RESTART_DELAY_MS),
      FREEZE_AT: `${schedule.freeze.at}:${schedule.freeze.ms}`,
      CRASH_AT: crashAt,
      REPEAT_S: '0',
      SETTLE_MS: String(SETTLE_MS),
      SETTLE_ON: 'subscription',
      WAIT_FOR_START: '1',
    },
    logs.target,
    args.verbose,
  );
  const parts: Part[] = [target];
  const stopAll = async (): Promise<void> => {
    await Promise.all([...parts].reverse().map((part) => stopPart(part, 'SIGTERM', 3000)));
  };
  process.once('SIGINT', () => {
    void stopAll().then(() => process.exit(130));
  });

  let lastFault: { label: string; at: number } | undefined;
  let scheduleDone = false;
  /** When the client last received an event after a silence (or its first one). */
  let flowingSince = 0;
  let subscriptions = 0;
  let restoringGeneration: number | undefined;
  let inOutage = false;
  let attempts = 0;

  target.child.on('message', (event: TargetEvent) => {
    targetEvents.push({ at: event.at, event });
    switch (event.type) {
      case 'port':
        targetPort = event.port;
        return;
      case 'starting':
        if (event.bootMs > 0) {
          lastFault = { label: 'slow start', at: event.at };
          print(
            event.at,
            'target',
            yellow(`SLOW START: starting, listens only after ${event.bootMs} ms`),
          );
        } else {
          print(event.at, 'target', `restarting (pid ${event.pid})`);
        }
        return;
      case 'listening':
        print(event.at, 'target', `listening on port ${event.port} (pid ${event.pid})`);
        return;
      case 'subscribed': {
        subscriptions++;
        const resumed = subscriptions === 1 ? '' : dim("  ← resumed after the client's last event");
        print(event.at, 'target', `ticks(after: ${event.after}) subscribed${resumed}`);
        return;
      }
      case 'freeze':
        lastFault = { label: 'freeze', at: event.at };
        print(
          event.at,
          'target',
          yellow(`FREEZE: event loop blocked for ${event.ms} ms (process and TCP stay up)`),
        );
        return;
      case 'thawed':
        print(event.at, 'target', `thawed after ${seconds(event.at - event.frozeAt)}`);
        return;
      case 'crash':
        lastFault = { label: crashLabel[event.mode], at: event.at };
        print(
          event.at,
          'target',
          yellow(
            `CRASH: ${event.mode === 'exit' ? 'process.exit(1)' : event.mode === 'kill' ? 'SIGKILL' : 'SIGTERM'}`,
          ),
        );
        return;
      case 'exited':
        if (stopping) return;
        print(
          event.at,
          'target',
          dim(
            `exited (${event.signal ?? `code ${event.code}`}), down for ${seconds(RESTART_DELAY_MS)}`,
          ),
        );
        return;
      case 'postponed':
        print(
          event.at,
          'target',
          dim(`${event.what} postponed until events have flowed again for a moment`),
        );
        return;
      case 'schedule-done':
        scheduleDone = true;
        return;
      case 'drained':
        drainedSeq = event.lastSeq;
        print(event.at, 'target', `drained: stopped emitting after seq ${event.lastSeq}`);
        return;
    }
  });

  // The proxy needs the target's port; the target may still be booting (that is the point).
  targetPort = await waitUntil(() => targetPort, 10_000);
  if (targetPort === undefined) throw new Error('the target supervisor did not report its port');
  const targetUrl = `ws://127.0.0.1:${targetPort}/graphql`;

  const proxy = startPart(
    'subgate',
    './proxy/index.js',
    { TARGET: targetUrl, PORT: '0' },
    logs.subgate,
    args.verbose,
  );
  parts.push(proxy);
  proxy.child.on('message', ({ type, at, message }: ProxyEvent) => {
    if (type === 'listening') {
      proxyUrl = String(message['url']);
      print(
        at,
        'subgate',
        `listening on ${proxyUrl} → ${targetUrl} (graphql-ws hook, resume after: seq)`,
      );
      return;
    }
    if (type === 'session-open') {
      sessionId ??= String(message['sessionId']);
      print(at, 'subgate', `client session open (${String(message['protocol'])})`);
      return;
    }
    if (type === 'session-close') {
      if (message['sessionId'] === sessionId)
        print(at, 'subgate', `client session closed (${String(message['code'])})`);
      return;
    }
    if (message['sessionId'] !== sessionId) return;
    const record: UpstreamRecord = {
      at,
      state: String(message['state']),
      generation: Number(message['generation']),
      attempt: Number(message['attempt']),
      reason: typeof message['reason'] === 'string' ? message['reason'] : undefined,
    };
    upstream.push(record);
    if (record.state === 'waiting') {
      attempts++;
      if (inOutage) return;
      inOutage = true;
      const since =
        lastFault === undefined
          ? ''
          : ` (${seconds(at - lastFault.at)} after the ${lastFault.label} began)`;
      const what =
        restoringGeneration === undefined && upstream.every((r) => r.state !== 'restoring')
          ? `target unreachable: ${record.reason}; retrying with backoff`
          : `DETECTED upstream lost: ${record.reason}${since}`;
      print(at, 'subgate', what.startsWith('DETECTED') ? yellow(what) : what);
    } else if (record.state === 'restoring') {
      restoringGeneration = record.generation;
    } else if (record.state === 'open' && restoringGeneration === record.generation) {
      restoringGeneration = undefined;
      inOutage = false;
      const since =
        lastFault === undefined
          ? ''
          : `, ${seconds(at - lastFault.at)} after the ${lastFault.label} began`;
      print(
        at,
        'subgate',
        green(
          `upstream restored: re-initialised and re-subscribed (generation ${record.generation}, ${attempts} failed attempt${attempts === 1 ? '' : 's'}${since})`,
        ),
      );
      attempts = 0;
    }
  });

  proxyUrl = await waitUntil(() => proxyUrl, 15_000);
  if (proxyUrl === undefined) throw new Error('subgate did not start listening within 15 s');

  const client = startPart(
    'client',
    './client/index.js',
    { URL: `${proxyUrl}/graphql`, GAP_MS: String(GAP_MS) },
    logs.client,
    args.verbose,
  );
  parts.push(client);
  client.child.on('message', (event: ClientEvent) => {
    clientEvents.push({ at: event.at, event });
    switch (event.type) {
      case 'opened':
        print(event.at, 'client', 'socket open (graphql-ws createClient, retryAttempts: 0)');
        return;
      case 'connected':
        print(event.at, 'client', 'connection_ack received');
        return;
      case 'first':
        flowingSince = event.at;
        print(event.at, 'client', green(`first event: seq ${event.seq}`));
        return;
      case 'resumed': {
        flowingSince = event.at;
        const since =
          lastFault === undefined
            ? ''
            : `, ${seconds(event.at - lastFault.at)} after the ${lastFault.label} began`;
        print(
          event.at,
          'client',
          green(`events again from seq ${event.seq} after a ${seconds(event.gapMs)} gap${since}`),
        );
        return;
      }
      case 'anomaly':
        print(
          event.at,
          'client',
          red(`${event.kind.toUpperCase()}: got seq ${event.seq}, expected ${event.expected}`),
        );
        return;
      case 'closed':
        problems.push(`the client's connection closed: ${event.code} ${event.reason}`);
        print(event.at, 'client', red(`CONNECTION CLOSED: ${event.code} ${event.reason}`));
        return;
      case 'report':
        clientReport = event.report;
        return;
      case 'progress':
        return;
    }
  });
  // The client is there first, then the target starts (slowly): the schedule runs from here.
  const refused = await waitUntil(
    () => (upstream.some((r) => r.state === 'waiting') ? true : undefined),
    15_000,
  );
  if (refused === undefined) throw new Error('the client did not reach subgate within 15 s');
  target.child.send({ type: 'start' });
  for (const part of parts) {
    void part.exited.then(({ code, signal }) => {
      if (stopping) return;
      problems.push(`${part.name} exited early (${signal ?? `code ${code}`})`);
      process.stdout.write(
        red(`\n${part.name} exited early (${signal ?? `code ${code}`}); its last output:\n`) +
          part.tail.map((line) => `    ${line}\n`).join('') +
          '\n',
      );
    });
  }

  // Run, then drain: the target stops emitting, the client catches up with its last seq. A fault
  // the supervisor had to postpone (the machine was slow) still gets its turn and its recovery.
  await new Promise((r) => setTimeout(r, args.durationS * 1000));
  const settled = (): true | undefined =>
    scheduleDone &&
    lastFault !== undefined &&
    flowingSince > lastFault.at &&
    Date.now() - flowingSince >= 1000
      ? true
      : undefined;
  if (settled() === undefined) {
    print(Date.now(), 'target', dim('waiting for the last fault and its recovery before stopping'));
    if ((await waitUntil(settled, 20_000)) === undefined) {
      problems.push('the fault schedule did not complete with a recovery within 20 s of the end');
    }
  }
  target.child.send({ type: 'drain' });
  await waitUntil(() => drainedSeq, 10_000);
  if (drainedSeq === undefined) problems.push('the target did not drain within 10 s');
  stopping = true;
  client.child.send({ type: 'stop', upTo: drainedSeq, waitMs: 5000 });
  await waitUntil(() => clientReport, 10_000);
  const endedAt = Date.now();
  await stopAll();
  if (clientReport === undefined) problems.push('the client did not report');

  // ─── results ──────────────────────────────────────────────────────────────────────────────
  const outages = outagesFrom(targetEvents, upstream, clientEvents, t0);
  const survived = outages.filter((o) => o.flowingAt !== undefined).length;
  const faults = {
    slowStarts: outages.filter((o) => o.kind === 'slow-start').length,
    freezes: outages.filter((o) => o.kind === 'freeze').length,
    crashes: outages.filter((o) => o.kind === 'crash').length,
  };
  const r = clientReport;
  const passed =
    r !== undefined &&
    r.lost === 0 &&
    r.duplicated === 0 &&
    r.outOfOrder === 0 &&
    r.closed === undefined &&
    r.received > 0 &&
    problems.length === 0;

  process.stdout.write(
    `\n${bold('Outages')} ${dim('(times relative to the start of each outage)')}\n`,
  );
  const header = [
    'outage',
    'at',
    'target back',
    'detected',
    'restored',
    'events again',
    'how subgate noticed',
  ];
  const rows = outages.map((o) => [
    o.label,
    `+${seconds(o.at)}`,
    o.targetBackAt === undefined ? 'never' : `+${seconds(o.targetBackAt - o.at)}`,
    o.kind === 'slow-start'
      ? '—'
      : o.detectedAt === undefined
        ? 'never'
        : `+${seconds(o.detectedAt - o.at)}`,
    o.restoredAt === undefined ? 'never' : `+${seconds(o.restoredAt - o.at)}`,
    o.flowingAt === undefined ? 'never' : `+${seconds(o.flowingAt - o.at)}`,
    o.kind === 'slow-start'
      ? `attempts refused and retried${o.detectedBy === undefined ? '' : ` (${o.detectedBy})`}`
      : (o.detectedBy ?? '—'),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    `  ${cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i]!))).join('   ')}\n`;
  process.stdout.write(dim(line(header)));
  for (const row of rows) process.stdout.write(line(row));

  const longestGap = r?.longestGapMs ?? 0;
  const gapEnded = r === undefined ? 0 : r.longestGapEndedAt - t0;
  const longestOutage = outages.filter((o) => o.at <= gapEnded).at(-1);
  const summary: [string, string][] = [
    ['events expected', String(r?.expected ?? '?')],
    ['received', String(r?.received ?? '?')],
    ['lost', String(r?.lost ?? '?')],
    ['duplicated', String(r?.duplicated ?? '?')],
    ['out of order', String(r?.outOfOrder ?? '?')],
    [
      'outages survived',
      `${survived} of ${outages.length} (${faults.slowStarts} slow start, ${faults.freezes} freeze, ${faults.crashes} crashes)`,
    ],
    ['longest gap', `${seconds(longestGap)}${longestOutage ? ` (${longestOutage.label})` : ''}`],
    [
      'client connection',
      r === undefined
        ? '?'
        : `${r.closed === undefined ? '1, never closed' : `CLOSED ${r.closed.code} ${r.closed.reason}`} · graphql-ws pings answered ${r.pongs}/${r.pings}`,
    ],
  ];
  process.stdout.write(`\n${bold('Summary')}\n`);
  for (const [label, value] of summary) {
    const bad =
      (label === 'lost' || label === 'duplicated' || label === 'out of order') && value !== '0';
    process.stdout.write(`  ${label.padEnd(19)} ${bad ? red(value) : value}\n`);
  }

  const svg = renderTimeline({
    title: passed
      ? `subgate demo: every event exactly once, in order, through ${outages.length} outages`
      : `subgate demo: FAILED (${r === undefined ? 'no report' : `${r.lost} lost, ${r.duplicated} duplicated, ${r.outOfOrder} out of order`})`,
    subtitle:
      `${args.durationS} s run · an event every ${args.tickMs} ms · subgate pingInterval ${PING_INTERVAL} ms + pongTimeout ${PONG_TIMEOUT} ms · ` +
      new Date(t0).toISOString().replace('T', ' ').slice(0, 19) +
      ' UTC',
    passed,
    durationMs: rel(endedAt),
    target: targetSegments(targetEvents, t0, endedAt),
    upstream: upstreamSegments(upstream, t0, endedAt),
    client: clientSegments(clientEvents, t0, endedAt),
    seq: [
      [0, 0],
      ...clientEvents.flatMap(({ at, event }) =>
        event.type === 'progress' ? [[rel(at), event.highest] as const] : [],
      ),
      ...(r === undefined ? [] : [[rel(endedAt), r.highest] as const]),
    ],
    outages,
    summary,
  });
  writeFileSync(args.out, svg);
  process.stdout.write(`  ${'timeline'.padEnd(19)} ${args.out}\n`);
  process.stdout.write(`  ${'logs'.padEnd(19)} ${join(outDir, '{target,subgate,client}.log')}\n\n`);
  for (const log of Object.values(logs)) log.end();

  if (args.report !== undefined) {
    const report: DemoReport = {
      passed,
      durationS: args.durationS,
      client: r,
      outages,
      survived,
      faults,
      timeline: args.out,
      problems,
    };
    mkdirSync(dirname(args.report), { recursive: true });
    writeFileSync(args.report, `${JSON.stringify(report, null, 2)}\n`);
  }
  for (const problem of problems) process.stdout.write(red(`problem: ${problem}\n`));
  process.stdout.write(
    passed
      ? green(
          bold(
            'PASS: the client received every event exactly once, in order, on one connection.\n',
          ),
        )
      : red(bold('FAIL: see above.\n')),
  );
  process.exitCode = passed ? 0 : 1;
}

// ─── timeline derivation ────────────────────────────────────────────────────────────────────

/** Outages from the target's faults, matched with what subgate and the client saw. */
function outagesFrom(
  targetEvents: readonly Timed<TargetEvent>[],
  upstream: readonly UpstreamRecord[],
  clientEvents: readonly Timed<ClientEvent>[],
  t0: number,
): Outage[] {
  const faults: { kind: Outage['kind']; label: string; at: number; back: number | undefined }[] =
    [];
  targetEvents.forEach(({ event }, i) => {
    const after = targetEvents.slice(i + 1);
    const next = (type: TargetEvent['type']): number | undefined =>
      after.find((e) => e.event.type === type)?.at;
    if (event.type === 'starting' && event.bootMs > 0) {
      faults.push({
        kind: 'slow-start',
        label: `slow start ${seconds(event.bootMs)}`,
        at: event.at,
        back: next('listening'),
      });
    } else if (event.type === 'freeze') {
      faults.push({
        kind: 'freeze',
        label: `freeze ${seconds(event.ms)}`,
        at: event.at,
        back: next('thawed'),
      });
    } else if (event.type === 'crash') {
      faults.push({
        kind: 'crash',
        label: crashLabel[event.mode],
        at: event.at,
        back: next('listening'),
      });
    }
  });
  const restored = upstream.filter(
    (record, i) =>
      record.state === 'open' &&
      upstream
        .slice(0, i)
        .some((r) => r.state === 'restoring' && r.generation === record.generation),
  );
  return faults.map((fault, i) => {
    const end = faults[i + 1]?.at ?? Infinity;
    const within = (at: number, from = fault.at): boolean => at >= from && at < end;
    const detected = upstream.find((r) => r.state === 'waiting' && within(r.at));
    const restoredAt = restored.find((r) => within(r.at, detected?.at ?? fault.at))?.at;
    const flowing = clientEvents.find(
      ({ at, event }) => (event.type === 'first' || event.type === 'resumed') && within(at),
    )?.at;
    return {
      kind: fault.kind,
      label: fault.label,
      at: fault.at - t0,
      targetBackAt: fault.back === undefined ? undefined : fault.back - t0,
      detectedAt: detected === undefined ? undefined : detected.at - t0,
      detectedBy: detected?.reason,
      restoredAt: restoredAt === undefined ? undefined : restoredAt - t0,
      flowingAt: flowing === undefined ? undefined : flowing - t0,
    };
  });
}

/** Builds segments from `[at, state]` changes. */
function segments(
  changes: readonly (readonly [number, LaneState])[],
  t0: number,
  end: number,
): Segment[] {
  return changes.map(([at, state], i) => ({
    from: at - t0,
    to: (changes[i + 1]?.[0] ?? end) - t0,
    state,
  }));
}

function targetSegments(events: readonly Timed<TargetEvent>[], t0: number, end: number): Segment[] {
  const changes: [number, LaneState][] = [];
  for (const { at, event } of events) {
    const state: LaneState | undefined =
      event.type === 'starting'
        ? 'booting'
        : event.type === 'listening' || event.type === 'thawed'
          ? 'up'
          : event.type === 'freeze'
            ? 'frozen'
            : event.type === 'exited'
              ? 'down'
              : undefined;
    if (state === 'up' && event.type === 'thawed') changes.push([event.frozeAt, 'frozen']);
    if (state !== undefined) changes.push([at, state]);
  }
  changes.sort((a, b) => a[0] - b[0]);
  return segments(changes, t0, end);
}

function upstreamSegments(records: readonly UpstreamRecord[], t0: number, end: number): Segment[] {
  const changes: [number, LaneState][] = [];
  let restoring: number | undefined;
  for (const record of records) {
    if (record.state === 'connecting' || record.state === 'waiting') {
      changes.push([record.at, 'reconnecting']);
    } else if (record.state === 'restoring') {
      restoring = record.generation;
      changes.push([record.at, 'restoring']);
    } else if (record.state === 'open' && restoring === record.generation) {
      changes.push([record.at, 'open']);
    } else if (record.state === 'closed') {
      changes.push([record.at, 'closed']);
    }
  }
  return segments(changes, t0, end);
}

function clientSegments(events: readonly Timed<ClientEvent>[], t0: number, end: number): Segment[] {
  const changes: [number, LaneState][] = [];
  for (const { at, event } of events) {
    if (event.type === 'opened') changes.push([at, 'open']);
    if (event.type === 'closed') changes.push([at, 'closed']);
  }
  return segments(changes, t0, end);
}

main().catch((error: Error) => {
  process.stderr.write(`demo: ${error.stack ?? error.message}\n`);
  process.exit(1);
});
