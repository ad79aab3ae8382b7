/**
 * Options of the broker hook: their types (each with its default) and validation at
 * construction, with messages that name the option.
 *
 * @module
 */
import { OptionError } from '../../src/index.js';
import type { BrokerCodec } from './codec.js';
import { jsonCodec } from './codecs/json.js';
import { stompCodec } from './codecs/stomp.js';

/** The built-in codecs, by name. */
export type BuiltInCodec = 'json' | 'stomp';

/** Options of the broker hook. Durations are milliseconds. */
export interface BrokerHookOptions {
  /**
   * The broker protocol: `'json'` (the documented JSON protocol of `examples/broker`), `'stomp'`
   * (STOMP 1.2 over WebSocket, RabbitMQ streams through Web-STOMP), or your own
   * {@link BrokerCodec}.
   * @default 'json'
   */
  codec?: BuiltInCodec | BrokerCodec;
  /**
   * How long each step of a restore on a new upstream socket may wait for the broker's answers:
   * the replayed handshake's (`connected`, STOMP `CONNECTED`), the probes', the resubscribes'.
   * When it passes, the attempt counts as failed and the link reconnects with backoff.
   * @default 5000
   */
  restoreTimeout?: number;
  /**
   * Publishes sent to the broker and not yet confirmed, per session. At the limit the client is
   * paused (backpressure) until confirms arrive; nothing is dropped.
   * @default 1000
   */
  maxUnackedPublishes?: number;
  /**
   * Bytes of unconfirmed publishes held per session; same backpressure as
   * {@link BrokerHookOptions.maxUnackedPublishes}.
   * @default 1048576
   */
  maxUnackedBytes?: number;
  /**
   * Subscriptions tracked per session; one more closes the client with 1008 (policy violation).
   * @default 100
   */
  maxStreams?: number;
  /**
   * Deliveries of the current upstream connection not yet acknowledged by the client whose ack
   * tokens are kept to translate the client's acks (codecs with tokens only: STOMP). Passing it
   * (a consumer that never acks without `prefetch-count`) sends the `buffer-full` signal and
   * closes the client with 1008. Keep `prefetch-count` below it.
   * @default 10000
   */
  maxPendingDeliveries?: number;
}

/** The defaults of {@link BrokerHookOptions}. */
export const BROKER_DEFAULTS = {
  codec: 'json',
  restoreTimeout: 5000,
  maxUnackedPublishes: 1000,
  maxUnackedBytes: 1024 * 1024,
  maxStreams: 100,
  maxPendingDeliveries: 10_000,
} as const;

/** {@link BrokerHookOptions} after validation. */
export interface ResolvedBrokerOptions {
  readonly codec: BrokerCodec;
  readonly restoreTimeout: number;
  readonly maxUnackedPublishes: number;
  readonly maxUnackedBytes: number;
  readonly maxStreams: number;
  readonly maxPendingDeliveries: number;
}

const KNOWN = new Set<string>(Object.keys(BROKER_DEFAULTS));

function positiveInteger(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new OptionError(
      `broker.${name}`,
      `must be an integer >= 1, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

function resolveCodec(value: unknown): BrokerCodec {
  if (value === undefined || value === 'json') return jsonCodec;
  if (value === 'stomp') return stompCodec;
  const methods = ['classifyClient', 'classifyUpstream', 'resubscribe', 'ack', 'signal'] as const;
  if (typeof value === 'object' && value !== null) {
    const codec = value as Record<string, unknown>;
    const missing = methods.filter((method) => typeof codec[method] !== 'function');
    if (missing.length === 0 && typeof codec['name'] === 'string') return value as BrokerCodec;
    throw new OptionError(
      'broker.codec',
      `must implement the BrokerCodec interface (name, ${methods.join(', ')}); missing: ${
        typeof codec['name'] === 'string' ? missing.join(', ') : ['name', ...missing].join(', ')
      }`,
    );
  }
  throw new OptionError(
    'broker.codec',
    `must be 'json', 'stomp' or a BrokerCodec object, got ${JSON.stringify(value)}`,
  );
}

/**
 * Validates the options once, at construction, and fills in defaults.
 *
 * @throws {OptionError} naming the first invalid option, e.g.
 * `broker.maxStreams must be an integer >= 1, got 0`.
 */
export function resolveBrokerOptions(options: BrokerHookOptions = {}): ResolvedBrokerOptions {
  if (typeof options !== 'object' || options === null) {
    throw new OptionError('broker', 'options must be an object');
  }
  for (const key of Object.keys(options)) {
    if (!KNOWN.has(key)) {
      throw new OptionError(
        `broker.${key}`,
        `is not an option of the broker hook (known: ${[...KNOWN].join(', ')})`,
      );
    }
  }
  return {
    codec: resolveCodec(options.codec),
    restoreTimeout: positiveInteger(
      'restoreTimeout',
      options.restoreTimeout,
      BROKER_DEFAULTS.restoreTimeout,
    ),
    maxUnackedPublishes: positiveInteger(
      'maxUnackedPublishes',
      options.maxUnackedPublishes,
      BROKER_DEFAULTS.maxUnackedPublishes,
    ),
    maxUnackedBytes: positiveInteger(
      'maxUnackedBytes',
      options.maxUnackedBytes,
      BROKER_DEFAULTS.maxUnackedBytes,
    ),
    maxStreams: positiveInteger('maxStreams', options.maxStreams, BROKER_DEFAULTS.maxStreams),
    maxPendingDeliveries: positiveInteger(
      'maxPendingDeliveries',
      options.maxPendingDeliveries,
      BROKER_DEFAULTS.maxPendingDeliveries,
    ),
  };
}
