/**
 * Reconnect delays: exponential growth with full jitter and a cap.
 *
 * @module
 */

/** Backoff settings, all durations in milliseconds. */
export interface BackoffOptions {
  /** Upper bound of the first delay. */
  readonly initialDelay: number;
  /** Cap on any delay. */
  readonly maxDelay: number;
  /** Growth per attempt. */
  readonly factor: number;
}

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry):
 * `random() · min(maxDelay, initialDelay · factor^attempt)` — "full jitter", which spreads a herd
 * of sessions reconnecting to a restarted target over the whole window.
 *
 * @param random a source of numbers in [0, 1); injectable so tests check ranges without sleeping.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(options.maxDelay, options.initialDelay * options.factor ** attempt);
  return Math.floor(random() * ceiling);
}
