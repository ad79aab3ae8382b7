/**
 * Bounded waiting for tests: every wait has a deadline and fails with a message that says what
 * was awaited and for how long, so a stuck test reports its cause instead of hanging the run.
 *
 * @module
 */

import { setTimeout as sleep } from 'node:timers/promises';

/** Options of {@link waitFor}. All durations in milliseconds. */
export interface WaitForOptions {
  /** Give up after this long. */
  readonly timeout: number;
  /**
   * Pause between two polls.
   * @default 10
   */
  readonly interval?: number;
  /** What was awaited; the rejection starts with it. */
  readonly message: string;
}

/**
 * Poll `predicate` until it returns `true`. Rejects with
 * `"<message> (not true after <elapsed> ms, timeout <timeout> ms)"` when the deadline passes; a
 * predicate that throws (or rejects) stops the wait with that error. An asynchronous predicate
 * that never settles is also bounded by the deadline.
 */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  opts: WaitForOptions,
): Promise<void> {
  const { timeout, message } = opts;
  const interval = opts.interval ?? 10;
  const start = performance.now();
  const fail = (): Error => {
    const elapsed = Math.round(performance.now() - start);
    return new Error(`${message} (not true after ${elapsed} ms, timeout ${timeout} ms)`);
  };
  for (;;) {
    const remaining = timeout - (performance.now() - start);
    const result = predicate();
    const ok = typeof result === 'boolean' ? result : await withDeadline(result, remaining, fail);
    if (ok) return;
    const left = timeout - (performance.now() - start);
    if (left <= 0) throw fail();
    await sleep(Math.min(interval, left));
  }
}

/** The part of an event emitter {@link once} needs (Node's `EventEmitter`, `ws`, a child target). */
export interface Emitter {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  off(event: string, listener: (...args: unknown[]) => void): unknown;
}

/**
 * Wait for one `event` from `emitter` and resolve with the event's first argument. Rejects when
 * `timeoutMs` passes first (`"timed out after <ms> ms waiting for '<event>'"`, prefixed with
 * `what` when given), or when the emitter emits `'error'` first (unless `event` is `'error'`).
 * Listeners are removed in every case.
 */
export function once<T>(
  emitter: Emitter,
  event: string,
  timeoutMs: number,
  what?: string,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onEvent = (...args: unknown[]): void => {
      cleanup();
      resolve(args[0] as T);
    };
    const onError = (err: unknown): void => {
      cleanup();
      reject(err instanceof Error ? err : new Error(String(err)));
    };
    const timer = setTimeout(() => {
      cleanup();
      const prefix = what === undefined ? '' : `${what}: `;
      reject(new Error(`${prefix}timed out after ${timeoutMs} ms waiting for '${event}'`));
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      emitter.off(event, onEvent);
      if (event !== 'error') emitter.off('error', onError);
    };
    emitter.on(event, onEvent);
    if (event !== 'error') emitter.on('error', onError);
  });
}

async function withDeadline<T>(promise: Promise<T>, ms: number, fail: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(fail()), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
