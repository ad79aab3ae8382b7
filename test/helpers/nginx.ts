/**
 * A private nginx for tests, running the scale-out example's configuration
 * (`examples/scale-out/nginx.conf`) in front of backends on loopback ports: the file is read as
 * it is, only its `listen 127.0.0.1:8080` and its two `server 127.0.0.1:400x …;` lines are
 * replaced ({@link renderNginxConfig}), so the tests exercise the configuration the example
 * ships. nginx runs in the foreground (`daemon off`) with a master process, in its own process
 * group, with a temporary folder as its prefix (`-p`): config, pid file, logs and temp folders
 * all live there. It counts as started once it has written its pid file (after binding its port)
 * and the port accepts TCP connections.
 *
 * Needs `nginx` (Debian: `apt-get install nginx`, or `.ci/install-packages.sh nginx`);
 * {@link findNginx} says whether it is there, so that a test can skip with a clear message only
 * when it is absent.
 *
 * Layout of the folder: `nginx.conf`, `nginx.out` (nginx's stdout+stderr), `error.log`,
 * `access.log`, `nginx.pid`, `*_temp/`.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { reservePort } from './child-target.js';

/** A running (or stopped) private nginx; see {@link startNginx}. */
export interface Nginx {
  /** The port nginx listens on, on 127.0.0.1. */
  readonly port: number;
  /** `ws://127.0.0.1:<port>` */
  readonly url: string;
  /** The prefix folder (config, logs, pid file, temp folders). */
  readonly dir: string;
  /** The configuration nginx runs: the example with ports substituted. */
  readonly config: string;
  /** Whether the master process is running. */
  readonly running: boolean;
  /**
   * Stops nginx: `SIGQUIT` to the master (graceful), `SIGKILL` to its whole process group when
   * it has not exited within 3 s (open WebSockets keep a gracefully quitting worker alive up to
   * the example's `worker_shutdown_timeout`), then removes the folder. Idempotent: call it in
   * `t.after()`.
   */
  stop(): Promise<void>;
  /** The last `lines` (default 30) lines of nginx's output and of its `error.log`. */
  logTail(lines?: number): string;
}

/** Options of {@link startNginx}. */
export interface NginxOptions {
  /** Port to listen on, on 127.0.0.1. @default a free one, from {@link reservePort} */
  readonly listenPort?: number;
  /** The backends' ports on 127.0.0.1, at least one: one `server` line each. */
  readonly backends: readonly number[];
  /** How long a start may take until the port accepts TCP connections, in ms. @default 10000 */
  readonly readyTimeout?: number;
}

/** Path of the scale-out example's nginx configuration (from `dist/test/helpers/`). */
export const SCALE_OUT_NGINX_CONF = fileURLToPath(
  new URL('../../../examples/scale-out/nginx.conf', import.meta.url),
);

const DEFAULT_READY_TIMEOUT_MS = 10_000;
/** How long {@link Nginx.stop} waits after `SIGQUIT`, then after `SIGKILL`, in ms. */
const QUIT_TIMEOUT_MS = 3_000;
const KILL_TIMEOUT_MS = 5_000;
/** Where Debian (`/usr/sbin`) and source builds put the binary. */
const CANDIDATES = [
  '/usr/sbin/nginx',
  '/usr/bin/nginx',
  '/usr/local/sbin/nginx',
  '/usr/local/nginx/sbin/nginx',
];

/** The `nginx` binary to run: `$NGINX`, one on `PATH`, or one in the usual places. */
export function findNginx(): string | undefined {
  const explicit = process.env['NGINX'];
  const fromPath = (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, 'nginx'));
  for (const path of [...(explicit ? [explicit] : []), ...fromPath, ...CANDIDATES]) {
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // not there
    }
  }
  return undefined;
}

const LISTEN = /^([ \t]*)listen 127\.0\.0\.1:8080;/;
const SERVER = /^([ \t]*)server 127\.0\.0\.1:(\d+)([ \t][^;\n]*)?;[ \t]*$/;

/**
 * The scale-out example's configuration `template` with `listen 127.0.0.1:8080` replaced by
 * `listenPort`, and its two `server 127.0.0.1:4001 …;` / `server 127.0.0.1:4002 …;` lines by one
 * line per port in `backends`, with the same parameters (`max_fails=0`).
 *
 * @throws when a port is invalid, `backends` is empty, or the template no longer has exactly one
 * such `listen` line and the two `server` lines (the example changed: adapt this helper).
 */
export function renderNginxConfig(
  template: string,
  listenPort: number,
  backends: readonly number[],
): string {
  for (const port of [listenPort, ...backends]) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`nginx: not a TCP port: ${port}`);
    }
  }
  if (backends.length === 0) throw new RangeError('nginx: at least one backend is needed');
  const lines = template.split('\n');
  const listens = lines.flatMap((line, i) => (LISTEN.test(line) ? [i] : []));
  const servers = lines.flatMap((line, i) => {
    const match = SERVER.exec(line);
    return match === null ? [] : [{ i, indent: match[1] ?? '', port: match[2], params: match[3] }];
  });
  if (
    listens.length !== 1 ||
    servers.length !== 2 ||
    servers[0]?.port !== '4001' ||
    servers[1]?.port !== '4002'
  ) {
    throw new Error(
      'nginx: the template must have one `listen 127.0.0.1:8080;` line and the two lines ' +
        '`server 127.0.0.1:4001 …;` and `server 127.0.0.1:4002 …;` (did the example change?)',
    );
  }
  const [first, second] = servers as [(typeof servers)[0], (typeof servers)[0]];
  const listenAt = listens[0] as number;
  lines[listenAt] = (lines[listenAt] ?? '').replace('127.0.0.1:8080', `127.0.0.1:${listenPort}`);
  const serverLines = backends.map(
    (port) => `${first.indent}server 127.0.0.1:${port}${first.params ?? ''};`,
  );
  lines.splice(second.i, 1);
  lines.splice(first.i, 1, ...serverLines);
  return lines.join('\n');
}

/** Every nginx process group started here, SIGKILLed on exit as a last resort. */
const groups = new Set<number>();
let safetyNet = false;
function installSafetyNet(): void {
  if (safetyNet) return;
  safetyNet = true;
  process.on('exit', () => {
    for (const pgid of groups) killGroup(pgid, 'SIGKILL');
  });
}

function killGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // gone
  }
}

/** Whether `file` holds `pid`. */
function ownsPidFile(file: string, pid: number | undefined): boolean {
  try {
    return pid !== undefined && Number(readFileSync(file, 'utf8').trim()) === pid;
  } catch {
    return false;
  }
}

/** Whether 127.0.0.1:`port` accepts a TCP connection within `timeoutMs`. */
function accepts(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    const done = (open: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(open);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Resolves with `true` once `promise` settles, or `false` after `ms`. */
async function within(promise: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.then(() => true),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Starts nginx with the scale-out example's configuration in front of `backends` and resolves
 * once its port accepts TCP connections. As root, the workers run as root too (`user root`), so
 * that they can use the prefix folder.
 *
 * @throws when `nginx` is missing (check {@link findNginx} first to skip), the example cannot be
 * read or rendered, or nginx exits or does not listen within `readyTimeout` (its output is in the
 * message).
 */
export async function startNginx(options: NginxOptions): Promise<Nginx> {
  const binary = findNginx();
  if (binary === undefined) {
    throw new Error('nginx not found: run .ci/install-packages.sh nginx (apt-get install nginx)');
  }
  if (!existsSync(SCALE_OUT_NGINX_CONF)) {
    throw new Error(`nginx: the scale-out example is not at ${SCALE_OUT_NGINX_CONF}`);
  }
  const readyTimeout = options.readyTimeout ?? DEFAULT_READY_TIMEOUT_MS;
  const port = options.listenPort ?? (await reservePort());
  const config = renderNginxConfig(
    readFileSync(SCALE_OUT_NGINX_CONF, 'utf8'),
    port,
    options.backends,
  );
  // nginx writes its pid file once its ports are bound: the readiness check needs it, since a
  // connection accepted by some other process on the port does not count.
  const pidPath = /^[ \t]*pid[ \t]+([^;\s]+);/m.exec(config)?.[1];
  if (pidPath === undefined) {
    throw new Error(`nginx: ${SCALE_OUT_NGINX_CONF} has no \`pid\` directive`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'subgate-nginx-'));
  const confFile = join(dir, 'nginx.conf');
  const pidFile = resolve(dir, pidPath);
  const outFile = join(dir, 'nginx.out');
  writeFileSync(confFile, config);

  const logTail = (lines = 30): string => {
    const tail = (file: string): string => {
      try {
        return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    };
    return [`--- nginx.out`, tail(outFile), `--- error.log`, tail(join(dir, 'error.log'))].join(
      '\n',
    );
  };

  const globals = ['daemon off;', 'master_process on;'];
  if (process.getuid?.() === 0) globals.push('user root;');
  const out = openSync(outFile, 'a');
  let proc: ChildProcess;
  try {
    // Its own process group, so that one signal reaches the master and its workers.
    proc = spawn(binary, ['-p', dir, '-c', confFile, '-g', globals.join(' ')], {
      cwd: dir,
      detached: true,
      stdio: ['ignore', out, out],
    });
  } finally {
    closeSync(out);
  }
  installSafetyNet();
  const pgid = proc.pid;
  if (pgid !== undefined) groups.add(pgid);
  let running = pgid !== undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    proc.once('exit', () => {
      running = false;
      resolve();
    });
    proc.on('error', (error) => {
      if (proc.pid !== undefined) return;
      spawnError = error;
      running = false;
      resolve();
    });
  });

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (pgid !== undefined) {
      if (running) proc.kill('SIGQUIT');
      if (!(await within(exited, QUIT_TIMEOUT_MS))) {
        killGroup(pgid, 'SIGKILL');
        await within(exited, KILL_TIMEOUT_MS);
      }
      // Workers left behind by a master that died first.
      killGroup(pgid, 'SIGKILL');
      groups.delete(pgid);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = performance.now() + readyTimeout;
  let listening = false;
  while (!listening && running && performance.now() < deadline) {
    listening =
      ownsPidFile(pidFile, pgid) &&
      (await accepts(port, Math.max(1, Math.min(1000, deadline - performance.now()))));
    if (!listening) await sleep(50);
  }
  if (!listening) {
    const why = spawnError
      ? `could not be spawned: ${spawnError.message}`
      : running
        ? `did not accept connections on port ${port} within ${readyTimeout} ms (killed)`
        : `exited while starting (port ${port})`;
    const output = logTail();
    await stop();
    throw new Error(`nginx ${why}\n${output}`);
  }

  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    dir,
    config,
    get running() {
      return running;
    },
    stop,
    logTail,
  };
}
