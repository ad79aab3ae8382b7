/**
 * A private RabbitMQ node for tests: Web-STOMP on a loopback port, its own node name, ports,
 * config, data and Erlang cookie under a temporary folder, its own `epmd` — nothing shared with a
 * system RabbitMQ. It can be SIGKILLed and started again on the same ports and data (the broker
 * restart fault).
 *
 * Needs `rabbitmq-server` (Debian: `apt-get install rabbitmq-server`, or `.ci/install-packages.sh rabbitmq-server`);
 * {@link findRabbitMqServer} says whether it is there, so that a test can skip with a clear
 * message only when it is absent.
 *
 * Layout of the folder: `rabbitmq.conf`, `enabled_plugins` (`rabbitmq_web_stomp`), `mnesia/`
 * (data, streams included), `log/`, `home/` (`HOME`: the cookie), `server.log` (stdout+stderr).
 *
 * @module
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  constants,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  mkdirSync,
} from 'node:fs';
import { openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import WebSocket from 'ws';
import { reservePort } from './child-target.js';

/** A running (or stopped) private RabbitMQ node. */
export interface RabbitMq {
  /** The Web-STOMP port on 127.0.0.1. */
  readonly webStompPort: number;
  /** `ws://127.0.0.1:<webStompPort>/ws`, the Web-STOMP endpoint. */
  readonly url: string;
  /** The AMQP 0-9-1 port on 127.0.0.1. */
  readonly amqpPort: number;
  /** The node's folder (config, data, logs). */
  readonly dir: string;
  /** Whether the node's process is running. */
  readonly running: boolean;
  /** SIGKILLs the node's whole process group and waits for the exit. */
  kill(): Promise<void>;
  /** Starts the node again (same ports, same data); resolves once Web-STOMP answers. */
  start(): Promise<void>;
  /** {@link RabbitMq.kill} then {@link RabbitMq.start}. */
  restart(): Promise<void>;
  /** Kills the node and its `epmd`, removes the folder. Idempotent: call it in `t.after()`. */
  stop(): Promise<void>;
  /** The tail of the node's output, for error messages. */
  output(): string;
  /**
   * Runs `rabbitmqctl` against this node (e.g. `ctl('set_policy', …)`); resolves with its stdout,
   * rejects with its stderr on a non-zero exit.
   */
  ctl(...args: string[]): Promise<string>;
}

/** Options of {@link startRabbitMq}. */
export interface RabbitMqOptions {
  /** How long a start may take until Web-STOMP accepts a STOMP `CONNECT`, in ms. @default 60000 */
  readonly readyTimeout?: number;
}

/** Paths where the real server script lives (Debian's `/usr/sbin` one only `su`s to it). */
const CANDIDATES = ['/usr/lib/rabbitmq/bin/rabbitmq-server', '/usr/local/sbin/rabbitmq-server'];

/**
 * The `rabbitmq-server` script to run: `$RABBITMQ_SERVER`, Debian's
 * `/usr/lib/rabbitmq/bin/rabbitmq-server`, or one on `PATH` that is not a wrapper switching
 * users. `undefined` when RabbitMQ is not installed.
 */
export function findRabbitMqServer(): string | undefined {
  const fromPath = (process.env['PATH'] ?? '')
    .split(delimiter)
    .filter((dir) => dir !== '')
    .map((dir) => join(dir, 'rabbitmq-server'));
  const explicit = process.env['RABBITMQ_SERVER'];
  for (const path of [...(explicit ? [explicit] : []), ...CANDIDATES, ...fromPath]) {
    try {
      accessSync(path, constants.X_OK);
      if (/\bsu rabbitmq\b/.test(readFileSync(path, 'utf8'))) continue;
      return path;
    } catch {
      // not there
    }
  }
  return undefined;
}

function findEpmd(server: string): string {
  void server;
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    const path = join(dir, 'epmd');
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {
      // keep looking
    }
  }
  return 'epmd';
}

/** Every process group started here, killed on exit as a last resort. */
const groups = new Set<number>();
/** The Erlang VMs' pid files (`RABBITMQ_PID_FILE`), for the same purpose. */
const pidFiles = new Set<string>();

/** SIGKILLs the VM whose pid `file` holds, if any. */
function killPidFile(file: string): void {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 1) process.kill(pid, 'SIGKILL');
  } catch {
    // no file, or gone
  }
}
let safetyNet = false;
function installSafetyNet(): void {
  if (safetyNet) return;
  safetyNet = true;
  process.on('exit', () => {
    for (const pgid of groups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    for (const file of pidFiles) killPidFile(file);
  });
}

/**
 * Answers once Web-STOMP at `url` completes a STOMP `CONNECT` (the node is fully booted), or
 * rejects after `timeoutMs`.
 */
async function stompReady(url: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no attempt';
  while (performance.now() < deadline) {
    if (!alive()) throw new Error(`exited while starting (last probe: ${last})`);
    last = await new Promise<string>((resolve) => {
      const ws = new WebSocket(url, ['v12.stomp']);
      const timer = setTimeout(() => {
        ws.terminate();
        resolve('probe timeout');
      }, 2000);
      ws.on('error', (error) => {
        clearTimeout(timer);
        resolve(error.message);
      });
      ws.on('open', () =>
        ws.send('CONNECT\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:guest\n\n\0'),
      );
      ws.on('message', (data: Buffer) => {
        clearTimeout(timer);
        const text = data.toString();
        ws.terminate();
        resolve(text.startsWith('CONNECTED') ? 'ok' : text.slice(0, 80));
      });
    });
    if (last === 'ok') return;
    await sleep(250);
  }
  throw new Error(`Web-STOMP at ${url} not ready within ${timeoutMs} ms (last probe: ${last})`);
}

/**
 * Starts a private RabbitMQ node with Web-STOMP and resolves once it accepts STOMP connections.
 *
 * @throws when `rabbitmq-server` is missing (check {@link findRabbitMqServer} first to skip), or
 * the node does not get ready within `readyTimeout` (its output is in the message).
 */
export async function startRabbitMq(options: RabbitMqOptions = {}): Promise<RabbitMq> {
  const server = findRabbitMqServer();
  if (server === undefined) {
    throw new Error(
      'rabbitmq-server not found: run .ci/install-packages.sh rabbitmq-server (apt-get install rabbitmq-server)',
    );
  }
  const readyTimeout = options.readyTimeout ?? 60_000;
  const dir = mkdtempSync(join(tmpdir(), 'subgate-rabbitmq-'));
  const [amqpPort, distPort, webStompPort, epmdPort] = [
    await reservePort(),
    await reservePort(),
    await reservePort(),
    await reservePort(),
  ];
  mkdirSync(join(dir, 'home'));
  writeFileSync(
    join(dir, 'rabbitmq.conf'),
    [
      `listeners.tcp.1 = 127.0.0.1:${amqpPort}`,
      'stomp.listeners.tcp = none',
      `web_stomp.tcp.port = ${webStompPort}`,
      'web_stomp.tcp.ip = 127.0.0.1',
      'disk_free_limit.absolute = 1MB',
      'log.console = true',
      'log.console.level = warning',
      'log.file = false',
      '',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'enabled_plugins'), '[rabbitmq_web_stomp].\n');
  writeFileSync(join(dir, 'rabbitmq-env.conf'), '');
  const pidFile = join(dir, 'rabbitmq.pid');
  pidFiles.add(pidFile);
  const nodename = `subgate-${process.pid}-${webStompPort}@localhost`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HOME: join(dir, 'home'),
    RABBITMQ_CONF_ENV_FILE: join(dir, 'rabbitmq-env.conf'),
    RABBITMQ_CONFIG_FILE: join(dir, 'rabbitmq.conf'),
    RABBITMQ_ADVANCED_CONFIG_FILE: join(dir, 'advanced.config'),
    RABBITMQ_ENABLED_PLUGINS_FILE: join(dir, 'enabled_plugins'),
    RABBITMQ_MNESIA_BASE: join(dir, 'mnesia'),
    RABBITMQ_LOG_BASE: join(dir, 'log'),
    RABBITMQ_PID_FILE: pidFile,
    RABBITMQ_NODENAME: nodename,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(amqpPort),
    RABBITMQ_DIST_PORT: String(distPort),
    ERL_EPMD_PORT: String(epmdPort),
    ERL_EPMD_ADDRESS: '127.0.0.1',
  };
  delete env['RABBITMQ_ALLOW_INPUT'];
  const url = `ws://127.0.0.1:${webStompPort}/ws`;
  const logFile = join(dir, 'server.log');

  // Our own epmd, in the foreground, so that it is ours to stop.
  installSafetyNet();
  const epmd = spawn(findEpmd(server), ['-address', '127.0.0.1', '-port', String(epmdPort)], {
    stdio: 'ignore',
    detached: true,
  });
  if (epmd.pid !== undefined) groups.add(epmd.pid);
  epmd.on('error', () => {});
  await sleep(100);

  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let stopped = false;

  const start = async (): Promise<void> => {
    if (child !== undefined) throw new Error('rabbitmq: start() while running');
    const out = openSync(logFile, 'a');
    // Its own process group: one signal reaches the shell script and the Erlang VM.
    const proc = spawn(server, [], { env, detached: true, stdio: ['ignore', out, out], cwd: dir });
    closeSync(out);
    child = proc;
    if (proc.pid !== undefined) groups.add(proc.pid);
    exited = new Promise<void>((resolve) => {
      proc.once('exit', () => {
        if (child === proc) child = undefined;
        resolve();
      });
      proc.once('error', () => {
        if (child === proc) child = undefined;
        resolve();
      });
    });
    try {
      await stompReady(url, readyTimeout, () => child === proc);
    } catch (error) {
      await kill();
      throw new Error(`rabbitmq (${nodename}): ${(error as Error).message}\n${tail()}`, {
        cause: error,
      });
    }
  };

  const kill = async (): Promise<void> => {
    const proc = child;
    if (proc?.pid === undefined) return;
    try {
      process.kill(-proc.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    // Should the VM have left the group, its pid file still names it.
    killPidFile(pidFile);
    rmSync(pidFile, { force: true });
    await exited;
    groups.delete(proc.pid);
    // The VM may outlive the script by a moment: wait until Web-STOMP's port is closed.
    await waitPortClosed(webStompPort, 10_000);
  };

  const tail = (): string => {
    try {
      return readFileSync(logFile, 'utf8').split('\n').slice(-30).join('\n');
    } catch {
      return '';
    }
  };

  try {
    await start();
  } catch (error) {
    stopEpmd(epmd);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }

  return {
    webStompPort,
    url,
    amqpPort,
    dir,
    get running() {
      return child !== undefined;
    },
    kill,
    start,
    async restart() {
      await kill();
      await start();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill();
      stopEpmd(epmd);
      pidFiles.delete(pidFile);
      rmSync(dir, { recursive: true, force: true });
    },
    output: tail,
    ctl(...args) {
      const ctl = join(dirname(server), 'rabbitmqctl');
      return new Promise<string>((resolve, reject) => {
        execFile(
          ctl,
          ['-n', nodename, ...args],
          { env, cwd: dir, timeout: 60_000 },
          (error, stdout, stderr) => {
            if (error)
              reject(new Error(`rabbitmqctl ${args.join(' ')}: ${stderr || error.message}`));
            else resolve(stdout);
          },
        );
      });
    },
  };
}

function stopEpmd(epmd: ChildProcess): void {
  if (epmd.pid === undefined) return;
  try {
    process.kill(epmd.pid, 'SIGKILL');
  } catch {
    // gone
  }
  groups.delete(epmd.pid);
}

async function waitPortClosed(port: number, timeoutMs: number): Promise<void> {
  const { connect } = await import('node:net');
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (!open) return;
    await sleep(100);
  }
  throw new Error(`port ${port} still accepts connections ${timeoutMs} ms after SIGKILL`);
}
