/**
 * The unstable target: a supervisor that runs the GraphQL server (`server.ts`) as a child process
 * and makes it misbehave on a schedule — slow to start, frozen (event loop blocked, TCP up),
 * crashed (process.exit or SIGKILL) or restarted gracefully (SIGTERM, close 1001) — restarting it
 * on the same port after every exit, the way systemd or Kubernetes would.
 *
 * Environment (times in the schedule are seconds since the supervisor started):
 * - `PORT` (default 4000; 0 picks a free port once and keeps it across restarts), `HOST`
 * - `TICK_INTERVAL_MS` (default 20): passed to the server
 * - `SLOW_START_MS` (default 3000): how long the first start takes before it listens
 * - `RESTART_DELAY_MS` (default 1000): how long the target stays down after an exit
 * - `FREEZE_AT` (default `10:3000`): comma-separated `seconds[:durationMs]` (duration default 3000)
 * - `CRASH_AT` (default `20:exit,30:kill`): comma-separated `seconds[:exit|kill|term]`, where
 *   `exit` is `process.exit(1)` inside the server, `kill` is SIGKILL and `term` a graceful restart
 * - `REPEAT_S` (default 40; 0 = once): the freeze and crash schedule repeats with this period
 * - `SETTLE_MS` (default 1000): a fault falls only on a target that has been serving for this
 *   long; one that comes due earlier (the target is still booting, down or frozen) is postponed
 * - `SETTLE_ON` (default `listening`): what starts that clock after each (re)start or thaw:
 *   `listening`, or `subscription` (the first `ticks` subscription since; 5 s after a thaw at the
 *   latest), so that each fault hits a stream that is flowing again
 * - `WAIT_FOR_START` (default unset): with `1`, announce the port but start the target (and the
 *   schedule) only on the IPC message `{ type: 'start' }`, so a parent can set up clients first
 *
 * It prints what it does on stdout. When it was started with an IPC channel (as the demo does) it
 * also sends each {@link TargetEvent} to its parent, and accepts `{ type: 'drain' }`: the server
 * stops emitting and the supervisor answers `{ type: 'drained', lastSeq }`.
 *
 * @module
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import type { ServerCommand, ServerEvent } from './server.js';

/** How the target is brought down by a scheduled crash. */
export type CrashMode = 'exit' | 'kill' | 'term';

/** What the supervisor reports, on stdout and to its parent over IPC. */
export type TargetEvent =
  | ServerEvent
  | { type: 'port'; port: number; at: number }
  | { type: 'starting'; pid: number; bootMs: number; at: number }
  | { type: 'freeze'; ms: number; at: number }
  | { type: 'crash'; mode: CrashMode; at: number }
  | { type: 'exited'; code: number | null; signal: NodeJS.Signals | null; at: number }
  | { type: 'postponed'; what: string; at: number }
  /** The last fault of a schedule that does not repeat has been injected. */
  | { type: 'schedule-done'; at: number };

/** A fault of the schedule, `at` seconds into each period. */
export type Fault =
  { kind: 'freeze'; at: number; ms: number } | { kind: 'crash'; at: number; mode: CrashMode };

/**
 * Parses `FREEZE_AT` and `CRASH_AT` into faults, in time order.
 *
 * @example `parseSchedule('10:3000', '20:exit,30:kill')`
 * @throws naming the variable and the entry that does not parse.
 */
export function parseSchedule(freezeAt: string, crashAt: string): Fault[] {
  const entries = (name: string, value: string): [number, string | undefined][] =>
    value
      .split(',')
      .map((entry) => entry.trim())
      .filter((entry) => entry !== '')
      .map((entry) => {
        const [at, option, extra] = entry.split(':');
        const seconds = Number(at);
        if (extra !== undefined || at === undefined || at === '' || !(seconds >= 0)) {
          throw new Error(`${name}: cannot read ${JSON.stringify(entry)} (seconds[:option])`);
        }
        return [seconds, option];
      });
  const faults: Fault[] = [];
  for (const [at, option] of entries('FREEZE_AT', freezeAt)) {
    const ms = option === undefined ? 3000 : Number(option);
    if (!Number.isInteger(ms) || ms <= 0) {
      throw new Error(`FREEZE_AT: duration must be a whole number of ms, got ${option}`);
    }
    faults.push({ kind: 'freeze', at, ms });
  }
  for (const [at, option] of entries('CRASH_AT', crashAt)) {
    const mode = option ?? 'exit';
    if (mode !== 'exit' && mode !== 'kill' && mode !== 'term') {
      throw new Error(`CRASH_AT: mode must be exit, kill or term, got ${mode}`);
    }
    faults.push({ kind: 'crash', at, mode });
  }
  return faults.sort((a, b) => a.at - b.at);
}

const env = process.env;
const host = env['HOST'] ?? '127.0.0.1';
const tickInterval = env['TICK_INTERVAL_MS'] ?? '20';
const slowStartMs = Number(env['SLOW_START_MS'] ?? 3000);
const restartDelayMs = Number(env['RESTART_DELAY_MS'] ?? 1000);
const repeatS = Number(env['REPEAT_S'] ?? 40);
const settleMs = Number(env['SETTLE_MS'] ?? 1000);
const settleOnSubscription = env['SETTLE_ON'] === 'subscription';
const waitForStart = env['WAIT_FOR_START'] === '1' && process.send !== undefined;
/** The time origin of the schedule: when the target is first started. */
let epoch = Date.now();
const faults = parseSchedule(env['FREEZE_AT'] ?? '10:3000', env['CRASH_AT'] ?? '20:exit,30:kill');
const serverScript = fileURLToPath(new URL('./server.js', import.meta.url));

function emit(event: TargetEvent): void {
  process.send?.(event);
}

function say(line: string): void {
  const seconds = ((Date.now() - epoch) / 1000).toFixed(2).padStart(6);
  process.stdout.write(`supervisor +${seconds}s ${line}\n`);
}

/** A free port on `host`: listen on 0, read it, close. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve, reject) => {
    probe.once('error', reject);
    probe.listen(0, host, () => resolve());
  });
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

const port = Number(env['PORT'] ?? 4000) || (await freePort());
emit({ type: 'port', port, at: Date.now() });

let child: ChildProcess | undefined;
/** The server announced it listens (and is not being brought down); since when. */
let up = false;
let upSince: number | undefined;
let frozen = false;
let thawFallback: NodeJS.Timeout | undefined;
/** Faults that came due, in order; injected one at a time on a settled target. */
const due: Fault[] = [];
let dueTimer: NodeJS.Timeout | undefined;
let injected = 0;
let stopping = false;
let drainRequested = false;
/** Pending faults (cancelled by a drain) and the pending restart. */
const faultTimers = new Set<NodeJS.Timeout>();
let restartTimer: NodeJS.Timeout | undefined;

function later(ms: number, fn: () => void): void {
  const timer = setTimeout(() => {
    faultTimers.delete(timer);
    fn();
  }, ms);
  faultTimers.add(timer);
}

function send(command: ServerCommand): void {
  child?.send(command);
}

function start(bootMs: number): void {
  const server = fork(serverScript, [], {
    env: {
      ...env,
      PORT: String(port),
      HOST: host,
      TICK_INTERVAL_MS: tickInterval,
      BOOT_MS: String(bootMs),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  child = server;
  say(`starting the target (pid ${server.pid}${bootMs > 0 ? `, slow start: ${bootMs} ms` : ''})`);
  emit({ type: 'starting', pid: server.pid ?? 0, bootMs, at: Date.now() });
  server.on('message', (event: ServerEvent) => {
    if (event.type === 'listening') {
      up = true;
      upSince = settleOnSubscription ? undefined : Date.now();
      if (drainRequested) send({ type: 'drain' });
    }
    if (event.type === 'thawed') {
      frozen = false;
      upSince = settleOnSubscription ? undefined : Date.now();
      if (settleOnSubscription) {
        // A freeze too short to break the connection brings no new subscription.
        thawFallback = setTimeout(() => {
          upSince ??= Date.now();
          pump();
        }, 5000);
      }
    }
    if (event.type === 'subscribed') {
      clearTimeout(thawFallback);
      upSince ??= Date.now();
    }
    emit(event);
    if (event.type !== 'drained') pump();
  });
  server.on('exit', (code, signal) => {
    if (child === server) child = undefined;
    up = false;
    frozen = false;
    say(`the target exited (${signal ?? `code ${code}`})`);
    emit({ type: 'exited', code, signal, at: Date.now() });
    if (stopping) return;
    say(`restarting it in ${restartDelayMs} ms`);
    restartTimer = setTimeout(() => start(0), restartDelayMs);
  });
}

const describe = (fault: Fault): string =>
  fault.kind === 'freeze' ? `freeze (${fault.ms} ms)` : `crash (${fault.mode})`;

/** Injects the faults that came due, one at a time, each on a target that has settled. */
function pump(): void {
  clearTimeout(dueTimer);
  dueTimer = undefined;
  const fault = due[0];
  if (fault === undefined || stopping || drainRequested) return;
  // Pumped again on the server's next event.
  if (!up || frozen || child === undefined || upSince === undefined) return;
  const wait = upSince + settleMs - Date.now();
  if (wait > 0) {
    dueTimer = setTimeout(pump, wait);
    return;
  }
  due.shift();
  inject(fault, child);
  if (due.length > 0) pump();
}

function inject(fault: Fault, target: ChildProcess): void {
  injected++;
  if (fault.kind === 'freeze') {
    frozen = true;
    upSince = undefined;
    say(`freeze: blocking the target's event loop for ${fault.ms} ms`);
    emit({ type: 'freeze', ms: fault.ms, at: Date.now() });
    send({ type: 'freeze', ms: fault.ms });
  } else {
    up = false;
    say(`crash (${fault.mode})`);
    emit({ type: 'crash', mode: fault.mode, at: Date.now() });
    if (fault.mode === 'exit') send({ type: 'crash' });
    else target.kill(fault.mode === 'kill' ? 'SIGKILL' : 'SIGTERM');
  }
  if (repeatS === 0 && injected === faults.length) emit({ type: 'schedule-done', at: Date.now() });
}

function comeDue(fault: Fault): void {
  due.push(fault);
  const settled = up && !frozen && upSince !== undefined && Date.now() - upSince >= settleMs;
  if (!settled && due.length === 1) {
    say(`${describe(fault)} postponed: the target is not serving (or only just started)`);
    emit({ type: 'postponed', what: describe(fault), at: Date.now() });
  }
  pump();
}

function scheduleCycle(cycle: number): void {
  const base = epoch + cycle * repeatS * 1000;
  for (const fault of faults) {
    later(Math.max(0, base + fault.at * 1000 - Date.now()), () => comeDue(fault));
  }
  if (repeatS > 0 && faults.length > 0) {
    later(Math.max(0, base + repeatS * 1000 - Date.now()), () => scheduleCycle(cycle + 1));
  }
}

function stop(): void {
  if (stopping) return;
  stopping = true;
  for (const timer of faultTimers) clearTimeout(timer);
  clearTimeout(restartTimer);
  clearTimeout(dueTimer);
  clearTimeout(thawFallback);
  const running = child;
  if (running === undefined) process.exit(0);
  running.once('exit', () => process.exit(0));
  running.kill('SIGKILL'); // works on a frozen process too
}

let started = false;
function begin(): void {
  if (started || stopping) return;
  started = true;
  epoch = Date.now();
  start(slowStartMs);
  scheduleCycle(0);
}

process.on('message', (message: { type?: string }) => {
  if (message.type === 'start') return begin();
  if (message.type !== 'drain') return;
  drainRequested = true;
  for (const timer of faultTimers) clearTimeout(timer);
  faultTimers.clear();
  clearTimeout(dueTimer);
  clearTimeout(thawFallback);
  due.length = 0;
  say('drain: the target stops emitting');
  if (up) send({ type: 'drain' });
});
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
process.on('disconnect', stop);

say(
  `target ws://${host}:${port}/graphql · ticks every ${tickInterval} ms · schedule: ` +
    (faults.map((f) => `${f.kind} at ${f.at}s`).join(', ') || 'none') +
    (repeatS > 0 && faults.length > 0 ? `, repeated every ${repeatS}s` : ''),
);
if (waitForStart) say('waiting for { type: "start" } before starting the target');
else begin();
