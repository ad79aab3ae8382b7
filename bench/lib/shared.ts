/**
 * What the benchmark's processes share: the message format, the clock, the IPC messages.
 *
 * @module
 */

/** Size of every benchmark message, in bytes (JSON text). */
export const MESSAGE_BYTES = 100;

/**
 * Milliseconds since the epoch with sub-millisecond resolution. Every process of the benchmark
 * stamps events with it, so stamps taken in different processes can be subtracted.
 */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** `"x"` repeated so that `prefix + pad + suffix` is exactly {@link MESSAGE_BYTES} long. */
export function padTo(prefix: string, suffix: string, bytes = MESSAGE_BYTES): string {
  return prefix + 'x'.repeat(Math.max(0, bytes - prefix.length - suffix.length)) + suffix;
}

/** A 100-byte JSON message `{"boot":B,"seq":N,"pad":"xxx…"}`. */
export function rawMessage(boot: number, seq: number): string {
  return padTo(`{"boot":${boot},"seq":${seq},"pad":"`, '"}');
}

/** Messages a target or client process sends to the orchestrator over IPC. */
export type ChildMessage =
  | { readonly type: 'listening'; readonly port: number; readonly at: number }
  | { readonly type: 'reply'; readonly id: number; readonly body: Record<string, unknown> }
  | { readonly type: 'event'; readonly name: string; readonly at: number; readonly data?: unknown }
  | { readonly type: 'error'; readonly message: string };

/** Requests the orchestrator sends to a child; each gets one `reply` with the same id. */
export interface Request {
  readonly type: 'request';
  readonly id: number;
  readonly op: string;
  readonly args?: Record<string, unknown>;
}

/** Sends an IPC message to the parent, if there is one. */
export function toParent(message: ChildMessage): void {
  process.send?.(message);
}

/**
 * Serves the orchestrator's requests: `handler(op, args)` returns the reply body. Errors are
 * reported as `{ error }` bodies.
 */
export function serveRequests(
  handler: (
    op: string,
    args: Record<string, unknown>,
  ) => Record<string, unknown> | Promise<Record<string, unknown>>,
): void {
  process.on('message', (raw: unknown) => {
    const message = raw as Partial<Request>;
    if (message?.type !== 'request' || typeof message.id !== 'number') return;
    const id = message.id;
    Promise.resolve()
      .then(() => handler(message.op ?? '', message.args ?? {}))
      .then(
        (body) => toParent({ type: 'reply', id, body }),
        (error: Error) => toParent({ type: 'reply', id, body: { error: error.message } }),
      );
  });
  // The orchestrator going away (IPC closed) ends the child too: no strays.
  process.on('disconnect', () => process.exit(0));
}

/** Percentile (0–100) of sorted numbers, nearest rank. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Median of numbers (NaN when empty); NaNs are ignored. */
export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
