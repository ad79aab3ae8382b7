/**
 * Observability through `node:diagnostics_channel`: tests and tools subscribe to these channels
 * instead of reading logs. Publishing costs nothing when nobody subscribes.
 *
 * @module
 */
import { channel } from 'node:diagnostics_channel';
import type { UpstreamState } from './hooks.js';

/** Channel names, for `diagnostics_channel.subscribe(name, listener)`. */
export const DiagnosticsChannel = {
  /** {@link SessionOpenMessage}: a client session started. */
  SessionOpen: 'subgate:session:open',
  /** {@link SessionCloseMessage}: a client session ended. */
  SessionClose: 'subgate:session:close',
  /** {@link UpstreamStateMessage}: a session's upstream link changed state. */
  UpstreamState: 'subgate:upstream:state',
} as const;

/** Published on {@link DiagnosticsChannel.SessionOpen}. */
export interface SessionOpenMessage {
  readonly sessionId: string;
  readonly protocol: string | undefined;
}

/** Published on {@link DiagnosticsChannel.SessionClose}. */
export interface SessionCloseMessage {
  readonly sessionId: string;
  readonly code: number;
  readonly reason: string;
}

/** Published on {@link DiagnosticsChannel.UpstreamState}. */
export interface UpstreamStateMessage {
  readonly sessionId: string;
  readonly state: UpstreamState;
  readonly generation: number;
  /** Reconnect attempts since the link was last healthy. */
  readonly attempt: number;
  /** With `waiting`: the backoff delay before the next attempt, in ms. */
  readonly delay?: number;
  /** With `waiting` and `closed`: why the socket or attempt ended. */
  readonly reason?: string;
  readonly code?: number;
}

/** The channels, created once. */
export const channels = {
  sessionOpen: channel(DiagnosticsChannel.SessionOpen),
  sessionClose: channel(DiagnosticsChannel.SessionClose),
  upstreamState: channel(DiagnosticsChannel.UpstreamState),
};
