/**
 * `ping-replay`, the default hook: every client frame reaches the target at least once.
 *
 * Each client frame gets a sequence number and stays in a ring. Every WebSocket ping to the target
 * carries the highest sequence sent so far; the pong echoes it (RFC 6455), which confirms that the
 * target read everything up to it. On a new upstream socket the unconfirmed frames are resent in
 * order, before any live frame. Duplicates at the target are bounded by the frames sent after the
 * last acknowledged ping.
 *
 * Put it last when composing hooks, so it records frames exactly as they are sent, and do not
 * combine it with a protocol hook that restores state itself (graphql-ws, broker).
 *
 * @module
 */
import { createReplayBuffer, type Hook, type HookFactory } from '../src/index.js';

/** Options of {@link pingReplayHook}. */
export interface PingReplayOptions {
  /** Unacknowledged frames held per session before the client is paused. @default 1000 */
  maxMessages?: number;
  /** Unacknowledged bytes held per session before the client is paused. @default 1048576 */
  maxBytes?: number;
}

const HOLD = 'ping-replay:ring-full';

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TypeError(
      `ping-replay.${name} must be an integer >= 1, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/**
 * Creates the ping-replay hook.
 *
 * @example `createGateway({ target, hooks: [pingReplayHook({ maxMessages: 5000 })] })`
 */
export const pingReplayHook: HookFactory = (options: PingReplayOptions = {}): Hook => {
  const limits = {
    maxMessages: positiveInteger('maxMessages', options.maxMessages, 1000),
    maxBytes: positiveInteger('maxBytes', options.maxBytes, 1024 * 1024),
  };
  // Ask for an acknowledgement early, once half the ring is in flight, rather than waiting for
  // the heartbeat (and pausing the client) on a fast stream.
  const ackEvery = Math.max(1, Math.floor(limits.maxMessages / 2));
  const ackEveryBytes = Math.max(1, Math.floor(limits.maxBytes / 2));
  return {
    name: 'ping-replay',
    open(ctx) {
      const ring = createReplayBuffer<{ data: Buffer; binary: boolean }>(limits);
      let requestedAt = 0;
      let requestedBytes = 0;
      return {
        onClientMessage(data, binary) {
          const seq = ring.push({ data, binary }, data.length);
          requestedBytes += data.length;
          if (seq - requestedAt >= ackEvery || requestedBytes >= ackEveryBytes) {
            requestedAt = seq;
            requestedBytes = 0;
            ctx.requestPing();
          }
          if (ring.full) ctx.pauseClient(HOLD);
        },
        pingPayload: () => String(ring.highest),
        onPong(payload) {
          const seq = Number(payload.toString());
          if (!Number.isSafeInteger(seq)) return; // not one of ours
          ring.ackThrough(seq);
          if (!ring.full) ctx.resumeClient(HOLD);
        },
        restore() {
          let resent = 0;
          for (const { item } of ring.unacked()) {
            ctx.sendUpstream(item.data, item.binary);
            resent++;
          }
          if (resent > 0) {
            ctx.log.info(
              { resent, generation: ctx.generation },
              'ping-replay resent unacknowledged frames',
            );
            ctx.requestPing();
          }
        },
      };
    },
  };
};

export default pingReplayHook;
