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
  ResumeOutcome,
  SessionCloseEvent,
  SessionContext,
  SessionPersistence,
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
export {
  createMemorySessionStore,
  type ClaimResult,
  type MemorySessionStoreOptions,
  type SaveResult,
  type SessionStore,
  type SessionWrite,
  type StoredSession,
} from './session-store.js';
export { createRedisSessionStore, REDIS_KEY_PREFIX } from './redis-session-store.js';
export { backoffDelay, type BackoffOptions } from './backoff.js';
export { createReplayBuffer, type ReplayBuffer } from './replay-buffer.js';
export {
  DiagnosticsChannel,
  type SessionCloseMessage,
  type SessionOpenMessage,
  type UpstreamStateMessage,
} from './diagnostics.js';
export { createLogger, LOG_LEVELS, type Logger, type LogLevel } from './log.js';
