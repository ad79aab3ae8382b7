/**
 * subgate's public API. Hooks (in `hooks/`) and user hook modules import only from here.
 *
 * @module
 */
export { createGateway, type Gateway, type GatewayStatus } from './gateway.js';
export type { TimelineEvent } from './timeline.js';
export { DEFAULTS, OptionError, type GatewayOptions } from './options.js';
export type {
  FrameResult,
  Hook,
  HookFactory,
  HookSession,
  RestoreContext,
  SessionCloseEvent,
  SessionContext,
  UpstreamCloseEvent,
  UpstreamLostEvent,
  UpstreamState,
} from './hooks.js';
export {
  CloseCode,
  MAX_REASON_BYTES,
  isRetryableClose,
  sendableCloseCode,
  trimReason,
} from './close-codes.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { createReplayBuffer, type ReplayBuffer } from './replay-buffer.js';
export {
  DiagnosticsChannel,
  type SessionCloseMessage,
  type SessionOpenMessage,
  type UpstreamStateMessage,
} from './diagnostics.js';
export { createLogger, LOG_LEVELS, type Logger, type LogLevel } from './log.js';
