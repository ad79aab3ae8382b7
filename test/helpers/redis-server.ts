/**
 * A private Redis for tests: a `redis-server` child on a loopback port of its own, without
 * persistence (`--save '' --appendonly no`), with its own temporary folder — nothing shared with a
 * system Redis. It can be killed (SIGKILL by default) and started again on the same port (the
 * Redis restart fault); its data does not survive that, as with a real Redis without persistence.
 *
 * Needs `redis-server` (Debian: `apt-get install redis-server`, or `.ci/install-packages.sh redis-server`);
 * {@link findRedisServer} says whether it is there, so that a test can skip with a clear message
 * only when it is absent. Readiness is a raw `PING` over TCP ({@link pingRedis}): no Redis client
 * library is needed.
 *
 * Layout of the folder: `redis.log` (stdout+stderr of every start, appended), `redis.pid`
 * (written once the port is bound; part of the readiness check), and whatever Redis writes to its
 * working directory (`--dir`; nothing, with persistence off).
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { reservePort } from './child-target.js';

/** A running (or killed, or stopped) private Redis; see {@link startRedis}. */
export interface RedisServer {
  /** The port on 127.0.0.1; the same for every start. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  /** The server's temporary folder (working directory and `redis.log`). */
  readonly dir: string;
  /** Whether the `redis-server` process is running. */
  readonly running: boolean;
  /**
   * Sends `signal` (default `SIGKILL`) to the server and resolves once it has exited; rejects when
   * it did not exit within 10 s. Resolves at once when not running. `SIGSTOP`/`SIGCONT` are
   * refused: the process would not exit.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /**
   * SIGKILLs the server if it is running, then starts it again on the same port (empty: nothing
   * is persisted); resolves once it answers `PING`. Rejects after {@link stop}.
   */
  restart(): Promise<void>;
  /** Kills the server (SIGKILL) and removes its folder. Idempotent: call it in `t.after()`. */
  stop(): Promise<void>;
  /** The last `lines` (default 30) lines of the server's output, for error messages. */
  logTail(lines?: number): string;
}

/** Options of {@link startRedis}. */
export interface RedisServerOptions {
  /** Port on 127.0.0.1. @default a free one, from {@link reservePort} */
  readonly port?: number;
  /** How long a start may take until the server answers `PING`, in ms. @default 10000 */
  readonly readyTimeout?: number;
}

/** How long {@link RedisServer.kill} waits for the process to exit, in ms. */
const KILL_TIMEOUT_MS = 10_000;
const DEFAULT_READY_TIMEOUT_MS = 10_000;
/** Where Debian (`/usr/bin`) and source builds (`/usr/local/bin`) put the binary. */
const CANDIDATES = [
  '/usr/bin/redis-server',
  '/usr/sbin/redis-server',
  '/usr/local/bin/redis-server',
];

/**
 * The `redis-server` binary to run: `$REDIS_SERVER`, one on `PATH`, or one in the usual places.
 * `undefined` when Redis is not installed.
 */
export function findRedisServer(): string | undefined {
  return findExecutable('redis-server', process.env['REDIS_SERVER'], CANDIDATES);
}

/** The first of `explicit`, `name` on `PATH` and `candidates` that is an executable file. */
function findExecutable(
  name: string,
  explicit: string | undefined,
  candidates: readonly string[],
): string | undefined {
  const fromPath = (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, name));
  for (const path of [...(explicit ? [explicit] : []), ...fromPath, ...candidates]) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not there
    }
  }
  return undefined;
}

/**
 * Sends `PING` to the Redis on 127.0.0.1:`port` over a fresh TCP connection and resolves with the
 * first line of the answer (`'+PONG'` from a ready server; a `-LOADING …` error line while it
 * loads). Rejects with the socket's error (`code` `'ECONNREFUSED'` when nothing listens), or when
 * there is no complete line within `timeoutMs` (default 2000).
 */
export function pingRedis(port: number, timeoutMs = 2000): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let received = '';
    const done = (error: Error | undefined, line?: string): void => {
      clearTimeout(timer);
      socket.destroy();
      if (error !== undefined) reject(error);
      else resolve(line ?? '');
    };
    const timer = setTimeout(
      () => done(new Error(`redis 127.0.0.1:${port}: no answer to PING within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.setEncoding('utf8');
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.on('data', (chunk: string) => {
      received += chunk;
      const end = received.indexOf('\r\n');
      if (end !== -1) done(undefined, received.slice(0, end));
    });
    socket.once('error', (error) => done(error));
    socket.once('close', () => {
      done(new Error(`redis 127.0.0.1:${port}: connection closed before an answer to PING`));
    });
  });
}

/** Whether `file` holds `proc`'s pid. */
function ownsPidFile(file: string, proc: ChildProcess): boolean {
  try {
    return Number(readFileSync(file, 'utf8').trim()) === proc.pid;
  } catch {
    return false;
  }
}

/** Every server process started here, SIGKILLed on exit as a last resort. */
const children = new Set<ChildProcess>();
let safetyNet = false;
function installSafetyNet(): void {
  if (safetyNet) return;
  safetyNet = true;
  process.on('exit', () => {
    for (const child of children) {
      try {
        child.kill('SIGKILL');
      } catch {
        // gone
      }
    }
  });
}

/**
 * Starts a private `redis-server` on 127.0.0.1 and resolves once it answers `PING`.
 *
 * @throws when `redis-server` is missing (check {@link findRedisServer} first to skip), or the
 * server exits or does not answer within `readyTimeout` (its output is in the message).
 */
export async function startRedis(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = findRedisServer();
  if (binary === undefined) {
    throw new Error(
      'redis-server not found: run .ci/install-packages.sh redis-server (apt-get install redis-server)',
    );
  }
  const readyTimeout = options.readyTimeout ?? DEFAULT_READY_TIMEOUT_MS;
  const port = options.port ?? (await reservePort());
  const dir = mkdtempSync(join(tmpdir(), 'subgate-redis-'));
  const logFile = join(dir, 'redis.log');
  const pidFile = join(dir, 'redis.pid');
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--appendonly',
    'no',
    '--dir',
    dir,
    '--daemonize',
    'no',
    '--logfile',
    '',
    // Written once the port is bound: a PING answered by some other process does not count.
    '--pidfile',
    pidFile,
  ];

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stopped = false;

  const logTail = (lines = 30): string => {
    try {
      return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };

  const kill = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      throw new Error(`redis kill(${signal}) is not supported: the process would not exit`);
    }
    const proc = child;
    if (proc === undefined) return;
    proc.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        exited,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new Error(
                  `redis-server (port ${port}) did not exit within ${KILL_TIMEOUT_MS} ms of ${signal}`,
                ),
              ),
            KILL_TIMEOUT_MS,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };

  const start = async (): Promise<void> => {
    if (stopped) throw new Error(`redis-server (port ${port}): started after stop()`);
    if (child !== undefined) throw new Error(`redis-server (port ${port}): already running`);
    rmSync(pidFile, { force: true }); // a SIGKILLed server leaves its own behind
    const out = openSync(logFile, 'a');
    let proc: ChildProcess;
    try {
      proc = spawn(binary, args, { cwd: dir, stdio: ['ignore', out, out] });
    } finally {
      closeSync(out);
    }
    installSafetyNet();
    children.add(proc);
    child = proc;
    let spawnError: Error | undefined;
    exited = new Promise<void>((resolve) => {
      const gone = (): void => {
        children.delete(proc);
        if (child === proc) child = undefined;
        resolve();
      };
      proc.once('exit', gone);
      proc.on('error', (error) => {
        // Spawn failure: there will be no 'exit'.
        if (proc.pid !== undefined) return;
        spawnError = error;
        gone();
      });
    });

    const deadline = performance.now() + readyTimeout;
    let last = 'no attempt';
    for (;;) {
      if (child !== proc) {
        const why = spawnError?.message ?? 'exited while starting';
        throw new Error(`redis-server (port ${port}): ${why} (last PING: ${last})\n${logTail()}`);
      }
      const remaining = deadline - performance.now();
      if (remaining <= 0) break;
      if (!ownsPidFile(pidFile, proc)) {
        last = 'not listening yet (no pid file)';
      } else {
        try {
          last = await pingRedis(port, Math.min(1000, Math.max(1, remaining)));
          if (last.startsWith('+PONG')) return;
        } catch (error) {
          last = (error as Error).message;
        }
      }
      await sleep(50);
    }
    await kill('SIGKILL');
    throw new Error(
      `redis-server (port ${port}) did not answer PING within ${readyTimeout} ms (killed; last: ${last})\n${logTail()}`,
    );
  };

  try {
    await start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    get running() {
      return child !== undefined;
    },
    kill,
    async restart() {
      if (stopped) throw new Error(`redis-server (port ${port}): restart() after stop()`);
      await kill('SIGKILL');
      await start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        await kill('SIGKILL');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    logTail,
  };
}
