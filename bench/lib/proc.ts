/**
 * The orchestrator's side of the benchmark's processes: starting them (IPC or a `listening`
 * line on stdout), asking them things, reading their CPU time, RSS and sockets from /proc, and
 * ending every one of them — on success, on error and on Ctrl-C.
 *
 * @module
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import type { ChildMessage } from './shared.js';

const live = new Set<ChildProcess>();

/** SIGKILLs every child still alive (SIGCONT first, for frozen ones). Synchronous: safe in `exit`. */
export function killAll(): void {
  for (const child of live) {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) continue;
    try {
      process.kill(child.pid, 'SIGCONT');
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

process.on('exit', killAll);
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}

/** A child process of the benchmark. */
export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  /** Stderr collected so far (for error messages). */
  stderr(): string;
  /** Ends the process: SIGTERM, then SIGKILL after `graceMs`. Resolves once it has exited. */
  stop(graceMs?: number): Promise<void>;
  /** Sends a signal (SIGKILL, SIGSTOP, SIGCONT). */
  signal(signal: NodeJS.Signals): void;
}

/** A child with an IPC channel that answers requests. */
export interface IpcProc extends Proc {
  request(
    op: string,
    args?: Record<string, unknown>,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  /** Waits for an IPC event `{ type: 'event', name }`. */
  onEvent(listener: (name: string, at: number, data: unknown) => void): void;
}

function track(name: string, child: ChildProcess): Proc {
  live.add(child);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => {
      live.delete(child);
      resolve();
    });
  });
  if (child.pid === undefined) throw new Error(`${name}: could not start`);
  const pid = child.pid;
  return {
    name,
    child,
    pid,
    exited,
    stderr: () => stderr,
    signal(signal) {
      if (child.exitCode === null && child.signalCode === null) process.kill(pid, signal);
    },
    async stop(graceMs = 2000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      try {
        process.kill(pid, 'SIGCONT');
        process.kill(pid, 'SIGTERM');
      } catch {
        return;
      }
      const timer = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone
        }
      }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

function rejectOnExit(proc: Proc, what: string): Promise<never> {
  return proc.exited.then(() => {
    throw new Error(`${proc.name} exited before ${what}: ${proc.stderr().slice(-2000)}`);
  });
}

function timeout(ms: number, what: string): { promise: Promise<never>; clear: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
  });
  return { promise, clear: () => clearTimeout(timer) };
}

/**
 * Forks a compiled benchmark script with IPC; resolves once it sent `{ type: 'listening' }`
 * (targets) or at once (`waitListening: false`, clients).
 */
export async function forkIpc(
  name: string,
  script: string,
  options: { env?: Record<string, string>; waitListening?: boolean; execArgv?: string[] } = {},
): Promise<IpcProc & { port: number; listeningAt: number }> {
  const child = fork(script, [], {
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'inherit', 'pipe', 'ipc'],
    execArgv: options.execArgv ?? [],
  });
  const proc = track(name, child);
  let nextId = 1;
  const pending = new Map<number, (body: Record<string, unknown>) => void>();
  const eventListeners: ((name: string, at: number, data: unknown) => void)[] = [];
  let listening: ((message: { port: number; at: number }) => void) | undefined;
  child.on('message', (raw: unknown) => {
    const message = raw as ChildMessage;
    if (message.type === 'reply') {
      pending.get(message.id)?.(message.body);
      pending.delete(message.id);
    } else if (message.type === 'listening') {
      listening?.(message);
    } else if (message.type === 'event') {
      for (const listener of eventListeners) listener(message.name, message.at, message.data);
    } else if (message.type === 'error') {
      process.stderr.write(`${name}: ${message.message}\n`);
    }
  });
  let port = 0;
  let listeningAt = 0;
  if (options.waitListening !== false) {
    const t = timeout(15_000, `${name} listening`);
    try {
      const message = await Promise.race([
        new Promise<{ port: number; at: number }>((resolve) => (listening = resolve)),
        rejectOnExit(proc, 'listening'),
        t.promise,
      ]);
      port = message.port;
      listeningAt = message.at;
    } finally {
      t.clear();
    }
  }
  return {
    ...proc,
    port,
    listeningAt,
    onEvent(listener) {
      eventListeners.push(listener);
    },
    async request(op, args = {}, timeoutMs = 60_000) {
      const id = nextId++;
      const t = timeout(timeoutMs, `${name} ${op}`);
      try {
        const body = await Promise.race([
          new Promise<Record<string, unknown>>((resolve) => {
            pending.set(id, resolve);
            child.send({ type: 'request', id, op, args });
          }),
          rejectOnExit(proc, `answering ${op}`),
          t.promise,
        ]);
        if (typeof body['error'] === 'string') throw new Error(`${name} ${op}: ${body['error']}`);
        return body;
      } finally {
        pending.delete(id);
        t.clear();
      }
    },
  };
}

/**
 * Spawns a proxy (`node [execArgv] script args`) and resolves with its URL once it printed
 * `… listening on ws://HOST:PORT` on stdout.
 */
export async function spawnListening(
  name: string,
  script: string,
  args: readonly string[],
  execArgv: readonly string[] = [],
): Promise<Proc & { url: string }> {
  const child = spawn(process.execPath, [...execArgv, script, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const proc = track(name, child);
  let stdout = '';
  const t = timeout(15_000, `${name} listening`);
  try {
    const url = await Promise.race([
      new Promise<string>((resolve) => {
        child.stdout?.on('data', (chunk: Buffer) => {
          stdout += chunk.toString();
          const match = /listening on (ws:\/\/\S+)/.exec(stdout);
          if (match) resolve(match[1]!);
        });
      }),
      rejectOnExit(proc, 'listening'),
      t.promise,
    ]);
    child.stdout?.resume();
    return { ...proc, url };
  } finally {
    t.clear();
  }
}

let clockTicks: number | undefined;

/** Clock ticks per second of /proc/<pid>/stat times (`getconf CLK_TCK`, normally 100). */
export function clockTicksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** CPU time (user + system) the process has used, in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1e6) / clockTicksPerSecond();
}

/** Resident set size of the process in KiB (VmRSS). */
export function rssKiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]);
}

/** The socket inodes the process holds open (from /proc/<pid>/fd). */
export function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (link.startsWith('socket:')) inodes.add(link);
    } catch {
      // closed meanwhile
    }
  }
  return inodes;
}
