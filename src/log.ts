/**
 * Structured logging: JSON lines through pino, a logger that is fast, widely used and already
 * speaks the level names operators expect.
 *
 * @module
 */
import { pino } from 'pino';

/** The logger every part of subgate writes to (a pino logger). */
export type Logger = pino.Logger;

/** Log levels accepted by `logLevel` / `--log-level`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Creates a JSON-lines logger writing to stderr, so stdout stays free for the CLI's
 * `subgate listening on …` line.
 */
export function createLogger(level: LogLevel = 'info'): Logger {
  return pino({ level, base: { name: 'subgate' } }, pino.destination({ dest: 2, sync: true }));
}
