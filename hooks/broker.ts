/**
 * `broker`: resumes broker streams from the last acknowledged offset across upstream outages, for
 * any broker reached over WebSocket, through a small {@link BrokerCodec}. Built-in codecs: `json`
 * (the documented JSON protocol of `examples/broker/`) and `stomp` (STOMP 1.2 over WebSocket,
 * RabbitMQ streams through Web-STOMP with `x-stream-offset`).
 *
 * Per session it keeps the handshake, the publishes the broker has not confirmed (in order, with
 * their ids) and, per stream, the last offset forwarded to the client and the last one the client
 * acknowledged. On every new upstream socket it replays the handshake and awaits the answer,
 * re-subscribes each stream from last acked + 1, resends the unconfirmed publishes with their
 * original ids — before any live frame — and drops redeliveries the client already has.
 *
 * Guarantees, while the gateway process lives:
 * - to the broker, at least once: a publish leaves the gateway's memory only when the broker
 *   confirmed it; one whose confirm was lost is sent again (the broker may store it twice);
 * - to the client, exactly once and in order per stream: every offset after the ones it
 *   acknowledged, none twice;
 * - when resuming is impossible (offset gone, outage past `maxOutage`/`maxRetries`, a bound
 *   exceeded) the client gets the codec's explicit `resume-failed` signal — never a silent gap,
 *   never a silent jump to the latest offset.
 *
 * The state lives in the gateway's memory. When the gateway itself restarts, its clients are
 * closed (1001 on SIGTERM) and resume on their own, as they would without subgate: resend the
 * publishes they hold no confirm for (at least once again) and subscribe from the last offset
 * they processed + 1 (every delivery carries its offset).
 *
 * Bounds per session: `maxUnackedPublishes`/`maxUnackedBytes` (backpressure: the client is paused),
 * `maxStreams` and `maxPendingDeliveries` (1008 with a `buffer-full` signal); the core's
 * `maxBufferedMessages`/`maxBufferedBytes` bound what waits during an outage.
 *
 * @example
 * ```ts
 * import { createGateway } from 'subgate';
 * import { brokerHook } from 'subgate/hooks/broker';
 *
 * createGateway({ target: 'ws://127.0.0.1:15674/ws', hooks: [brokerHook({ codec: 'stomp' })] });
 * ```
 *
 * The CLI loads it by name: `{ "hooks": [["broker", { "codec": "stomp" }]] }`.
 *
 * @module
 */
import type { Hook } from '../src/index.js';
import { openBrokerSession } from './broker/engine.js';
import { resolveBrokerOptions, type BrokerHookOptions } from './broker/options.js';

export type {
  AckMode,
  BrokerCodec,
  ClientFrame,
  OutFrame,
  ResumeFailure,
  ResumeFailureReason,
  Signal,
  Subscription,
  UpstreamFrame,
} from './broker/codec.js';
export { POLICY_VIOLATION, type BrokerSessionStats } from './broker/engine.js';
export {
  BROKER_DEFAULTS,
  type BrokerHookOptions,
  type BuiltInCodec,
  type ResolvedBrokerOptions,
} from './broker/options.js';
export * as json from './broker/codecs/json.js';
export * as stomp from './broker/codecs/stomp.js';
export { jsonCodec } from './broker/codecs/json.js';
export { stompCodec } from './broker/codecs/stomp.js';

/**
 * Creates the broker hook. Options are validated here; an invalid one throws an `OptionError`
 * naming it (`broker.codec must be 'json', 'stomp' or a BrokerCodec object, got "amqp"`).
 */
export function brokerHook(options: BrokerHookOptions = {}): Hook {
  const resolved = resolveBrokerOptions(options);
  const protocols = resolved.codec.protocols;
  return {
    name: 'broker',
    ...(protocols === undefined ? {} : { protocols }),
    open: (ctx) => openBrokerSession(ctx, resolved),
  };
}

export default brokerHook;
