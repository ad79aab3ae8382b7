/**
 * Run a target server as a child process that tests can SIGKILL, SIGSTOP/SIGCONT and restart on
 * the same port.
 *
 * Protocol with the fixture script: the child reads its port from env `PORT` (`0` on a first
 * start without a fixed port), listens on 127.0.0.1 and sends the IPC message
 * `{ type: 'listening', port }` once it accepts connections. Fixtures use
 * {@link fixturePort} and {@link announceListening} for their side of it.
 *
 * @module
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

/** A target server running (or to be run) as a child process; see {@link startChildTarget}. */
export interface ChildTarget {
  /** Fixed after the first start (or at creation when a port was given or reserved). */
  readonly port: number;
  /** `ws://127.0.0.1:${port}` */
  readonly url: string;
  /** The process id; `undefined` when not running. */
  readonly pid: number | undefined;
  /** Whether the process is alive; a frozen process counts as running. */
  readonly running: boolean;
  /** Whether the process is stopped by {@link ChildTarget.freeze}. */
  readonly frozen: boolean;
  /** How many times the process was started (first start included). */
  readonly starts: number;
  /**
   * Settles with the latest start: resolves when that process announced it is listening,
   * rejects when it exited first or did not get ready in time. Useful with `startDelayMs`.
   */
  readonly ready: Promise<void>;
  /**
   * Send `signal` (default `SIGKILL`) and resolve when the process has exited; rejects when it
   * did not exit within 10 s. A frozen process is continued after the signal so that it can
   * act on it. Resolves at once when not running. `SIGSTOP`/`SIGCONT` are refused: use
   * {@link ChildTarget.freeze} and {@link ChildTarget.thaw}.
   */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** `SIGSTOP` the process. @throws Error when not running. */
  freeze(): void;
  /** `SIGCONT` the process; does nothing when not running. */
  thaw(): void;
  /**
   * SIGKILL the process if running, wait `delayMs` (default 0) with no process, then start it
   * again on the same port; resolves when the new process is listening.
   */
  restart(opts?: { delayMs?: number }): Promise<void>;
  /** Send an IPC message to the child. @throws Error when not running. */
  send(message: unknown): void;
  /** IPC messages from the child, `{ type: 'listening' }` included; survives restarts. */
  on(event: 'message', listener: (message: unknown) => void): this;
  /** Every exit of a process of this target, expected or not. */
  on(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  /** Remove a listener added with {@link ChildTarget.on}. */
  off(event: 'message', listener: (message: unknown) => void): this;
  /** Remove a listener added with {@link ChildTarget.on}. */
  off(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): this;
  /**
   * `SIGCONT` if frozen, `SIGKILL`, wait for the exit; cancels a pending delayed start.
   * Idempotent. Call it in `t.after()`.
   */
  stop(): Promise<void>;
}

/** Options of {@link startChildTarget}. */
export interface ChildTargetOptions {
  /** Port for every start. @default 0 for the first start, then the port the child reported */
  readonly port?: number;
  /** Extra environment for the child, on top of `process.env`; `PORT` is always overridden. */
  readonly env?: Record<string, string>;
  /** Arguments after the script path. */
  readonly args?: readonly string[];
  /**
   * How long a start may take until the `listening` message, in milliseconds.
   * @default 15000
   */
  readonly readyTimeout?: number;
  /**
   * Start the process this many milliseconds later (slow-start scenario). The returned promise
   * then resolves at once, with the port already fixed (`port`, or one from
   * {@link reservePort}) and `running === false`; await {@link ChildTarget.ready} for the
   * process to listen.
   */
  readonly startDelayMs?: number;
}

/** How long {@link ChildTarget.kill} and {@link ChildTarget.stop} wait for an exit. */
export const KILL_TIMEOUT_MS = 10_000;

const DEFAULT_READY_TIMEOUT_MS = 15_000;

/** Every child process started by this module, killed on exit as a last resort. */
const children = new Set<ChildProcess>();
let safetyNetInstalled = false;

function killAllChildren(): void {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  children.clear();
}

/**
 * Installed with the first child so fixture processes (which import this module for
 * {@link announceListening}) keep their own signal behaviour.
 */
function installSafetyNet(): void {
  if (safetyNetInstalled) return;
  safetyNetInstalled = true;
  process.on('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    const onSignal = (): void => {
      killAllChildren();
      process.off(signal, onSignal);
      // Nobody else listening: the default action applies again, so this ends the process.
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

/**
 * Find a free port: listen on 127.0.0.1 port 0, read the port, close. Another process may take
 * the port before it is used; the window is short and the kernel cycles through ephemeral
 * ports, so tests can start a gateway towards a target that does not exist yet.
 */
export async function reservePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') {
    throw new Error('reservePort: unexpected server address');
  }
  return address.port;
}

/**
 * Start `script` (a path or `file:` URL of a compiled fixture) with `process.execPath` as a
 * child target and resolve when it listens (at once with `startDelayMs`). Rejects when the
 * child exits before it is ready or is not ready within `readyTimeout` (the child is killed).
 */
export async function startChildTarget(
  script: string | URL,
  opts: ChildTargetOptions = {},
): Promise<ChildTarget> {
  const scriptPath = typeof script === 'string' ? script : fileURLToPath(script);
  const readyTimeout = opts.readyTimeout ?? DEFAULT_READY_TIMEOUT_MS;
  if (opts.port !== undefined) assertPort(opts.port, 'port');
  if (opts.startDelayMs === undefined) {
    const target = new Target(scriptPath, opts, readyTimeout, opts.port ?? 0);
    await target.startNow();
    return target;
  }
  const port = opts.port ?? (await reservePort());
  const target = new Target(scriptPath, opts, readyTimeout, port);
  target.startLater(opts.startDelayMs);
  return target;
}

class Target extends EventEmitter implements ChildTarget {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private isFrozen = false;
  private startCount = 0;
  private readyPromise: Promise<void> = Promise.resolve();
  private delayedStart: AbortController | undefined;

  constructor(
    private readonly script: string,
    private readonly opts: ChildTargetOptions,
    private readonly readyTimeout: number,
    private currentPort: number,
  ) {
    super();
  }

  get port(): number {
    return this.currentPort;
  }
  get url(): string {
    return `ws://127.0.0.1:${this.currentPort}`;
  }
  get pid(): number | undefined {
    return this.child?.pid;
  }
  get running(): boolean {
    return this.child !== undefined;
  }
  get frozen(): boolean {
    return this.isFrozen;
  }
  get starts(): number {
    return this.startCount;
  }
  get ready(): Promise<void> {
    return this.readyPromise;
  }

  startNow(): Promise<void> {
    return this.track(this.spawnAndWait());
  }

  startLater(delayMs: number): void {
    const controller = new AbortController();
    this.delayedStart = controller;
    this.track(
      sleep(delayMs, undefined, { signal: controller.signal }).then(
        () => {
          this.delayedStart = undefined;
          return this.spawnAndWait();
        },
        () => {
          throw new Error(
            `child target ${this.label()}: delayed start cancelled by stop() or restart()`,
          );
        },
      ),
    );
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      throw new Error(`kill(${signal}) is not supported: use freeze() / thaw()`);
    }
    const child = this.child;
    if (child === undefined) return;
    const exited = this.exited;
    child.kill(signal);
    if (this.isFrozen && signal !== 'SIGKILL') {
      child.kill('SIGCONT');
      this.isFrozen = false;
    }
    await withTimeout(
      exited,
      KILL_TIMEOUT_MS,
      () => `child target ${this.label()} did not exit within ${KILL_TIMEOUT_MS} ms of ${signal}`,
    );
  }

  freeze(): void {
    const child = this.child;
    if (child === undefined)
      throw new Error(`child target ${this.label()}: freeze() while not running`);
    child.kill('SIGSTOP');
    this.isFrozen = true;
  }

  thaw(): void {
    const child = this.child;
    if (child === undefined) return;
    child.kill('SIGCONT');
    this.isFrozen = false;
  }

  async restart(opts: { delayMs?: number } = {}): Promise<void> {
    this.cancelDelayedStart();
    await this.kill('SIGKILL');
    if (opts.delayMs !== undefined && opts.delayMs > 0) await sleep(opts.delayMs);
    await this.startNow();
  }

  send(message: unknown): void {
    const child = this.child;
    if (child === undefined || !child.connected) {
      throw new Error(`child target ${this.label()}: send() while not running`);
    }
    // A send racing with the child's death fails; the caller learns of the death from `exit`.
    child.send(message as object, () => {});
  }

  async stop(): Promise<void> {
    this.cancelDelayedStart();
    if (this.child === undefined) return;
    if (this.isFrozen) this.thaw();
    await this.kill('SIGKILL');
  }

  private cancelDelayedStart(): void {
    this.delayedStart?.abort();
    this.delayedStart = undefined;
  }

  /** Make `start` the latest start, observed so a rejection nobody awaits is not fatal. */
  private track(start: Promise<void>): Promise<void> {
    this.readyPromise = start;
    start.catch(() => {});
    return start;
  }

  private label(): string {
    const pid = this.child?.pid;
    return `${this.script} (port ${this.currentPort}${pid === undefined ? '' : `, pid ${pid}`})`;
  }

  private async spawnAndWait(): Promise<void> {
    if (this.child !== undefined) {
      throw new Error(`child target ${this.label()}: started while already running`);
    }
    const started = performance.now();
    const port = this.currentPort;
    if (port !== 0) await waitForFreePort(port, this.readyTimeout);
    const remaining = Math.max(0, this.readyTimeout - (performance.now() - started));

    const child = spawn(process.execPath, [this.script, ...(this.opts.args ?? [])], {
      env: { ...process.env, ...this.opts.env, PORT: String(port) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    installSafetyNet();
    children.add(child);
    this.child = child;
    this.isFrozen = false;
    this.startCount++;
    const exited = new Promise<void>((resolve) => {
      const gone = (code: number | null, signal: NodeJS.Signals | null): void => {
        children.delete(child);
        if (this.child === child) {
          this.child = undefined;
          this.isFrozen = false;
        }
        this.emit('exit', code, signal);
        resolve();
      };
      child.once('exit', gone);
      child.on('error', () => {
        // Spawn failure: there will be no 'exit'. Other errors (a failed kill or IPC send to a
        // dying child) show up as the exit that follows.
        if (child.pid !== undefined) return;
        children.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      });
    });
    this.exited = exited;
    child.on('message', (message: unknown) => this.emit('message', message));

    const label = this.label();
    const reported = await new Promise<number>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        child.off('error', onError);
      };
      const onMessage = (message: unknown): void => {
        if (!isListening(message)) return;
        cleanup();
        resolve(message.port);
      };
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        cleanup();
        reject(
          new Error(
            `child target ${label} exited before it was listening (code ${code}, signal ${signal})`,
          ),
        );
      };
      const onError = (err: Error): void => {
        if (child.pid !== undefined) return;
        cleanup();
        reject(new Error(`child target ${label} could not be spawned: ${err.message}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        child.kill('SIGKILL');
        const error = new Error(
          `child target ${label} was not listening within ${this.readyTimeout} ms (killed)`,
        );
        void exited.then(() => reject(error));
      }, remaining);
      child.on('message', onMessage);
      child.once('exit', onExit);
      child.on('error', onError);
    });

    if (port === 0) {
      this.currentPort = reported;
    } else if (reported !== port) {
      await this.kill('SIGKILL');
      throw new Error(`child target ${label} listened on port ${reported}, expected ${port}`);
    }
  }
}

/**
 * Port the fixture must listen on, from env `PORT` (`0` when unset: any free port). For fixture
 * scripts.
 */
export function fixturePort(): number {
  const raw = process.env['PORT'] ?? '0';
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`fixture: env PORT must be a TCP port, got ${JSON.stringify(raw)}`);
  }
  return port;
}

/**
 * Tell the parent that the fixture listens on `port` (IPC `{ type: 'listening', port }`; a
 * line on stdout when run by hand), and make the fixture exit when the parent goes away so no
 * orphan keeps the port. For fixture scripts.
 */
export function announceListening(port: number): void {
  if (process.send === undefined) {
    process.stdout.write(`listening on ${port}\n`);
    return;
  }
  process.once('disconnect', () => process.exit(0));
  process.send({ type: 'listening', port });
}

function isListening(message: unknown): message is { type: 'listening'; port: number } {
  if (typeof message !== 'object' || message === null) return false;
  const m = message as { type?: unknown; port?: unknown };
  return m.type === 'listening' && typeof m.port === 'number' && Number.isInteger(m.port);
}

function assertPort(port: number, name: string): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`${name} must be a TCP port, got ${port}`);
  }
}

/** Wait until 127.0.0.1:`port` can be listened on (the previous process has released it). */
async function waitForFreePort(port: number, timeoutMs: number): Promise<void> {
  const start = performance.now();
  for (;;) {
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return;
    const elapsed = performance.now() - start;
    if (elapsed >= timeoutMs) {
      throw new Error(`port ${port} still in use after ${Math.round(elapsed)} ms`);
    }
    await sleep(50);
  }
}

async function withTimeout(
  promise: Promise<void>,
  ms: number,
  message: () => string,
): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message())), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
