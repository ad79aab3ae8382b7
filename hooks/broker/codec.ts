/**
 * The codec interface of the broker hook: everything the generic engine needs to know about a
 * broker protocol. A codec classifies frames (is this a publish, and with which id? a delivery,
 * of which stream and offset?) and builds the few frames the engine sends itself (a resubscribe
 * from an offset, an acknowledgement, the resume-failure signal). It holds no session state: the
 * engine keeps all of it, so one codec object serves every session of a gateway.
 *
 * Offsets are non-negative safe integers that grow with each message of a stream (by one, or
 * skipping at most {@link BrokerCodec.maxOffsetHole} entries that are not messages); streams are
 * named by a string the codec picks (a stream name, a subscription id).
 *
 * @example A codec for a line protocol — `PUB <id> <stream> <body>`, `SUB <stream> [from]`,
 * `ACK <stream> <offset>` from the client; `OK <id>`, `MSG <stream> <offset> <body>` from the
 * broker (run by `test/unit/broker-engine.test.ts`):
 * ```ts
 * const lineCodec: BrokerCodec = {
 *   name: 'line',
 *   classifyClient(data) {
 *     const [verb, a, b] = data.toString().split(' ');
 *     if (verb === 'PUB' && a) return { kind: 'publish', id: a };
 *     if (verb === 'SUB' && a) return { kind: 'subscribe', stream: a, ack: 'cumulative' };
 *     if (verb === 'ACK' && a && b) return { kind: 'ack', stream: a, offset: Number(b) };
 *     return { kind: 'other' };
 *   },
 *   classifyUpstream(data) {
 *     const [verb, a, b] = data.toString().split(' ');
 *     if (verb === 'OK' && a) return { kind: 'receipt', id: a };
 *     if (verb === 'MSG' && a && b) return { kind: 'delivery', stream: a, offset: Number(b) };
 *     return { kind: 'other' };
 *   },
 *   resubscribe: (sub, from) => `SUB ${sub.stream} ${from ?? ''}`.trim(),
 *   ack: (stream, offset) => `ACK ${stream} ${offset}`,
 *   signal: (failures) => ({ frames: failures.map((f) => `FAIL ${f.reason} ${f.stream ?? ''}`) }),
 * };
 * ```
 *
 * @module
 */

/** A frame the engine sends: text (a string) or binary (a Buffer). */
export type OutFrame = string | Buffer;

/** How a subscription's consumer acknowledges deliveries. */
export type AckMode =
  /** An ack of offset N acknowledges every delivery up to N (STOMP `ack:client`, the JSON codec). */
  | 'cumulative'
  /** An ack acknowledges that one delivery only (STOMP `ack:client-individual`). */
  | 'individual'
  /** Deliveries count as acknowledged once forwarded to the client (STOMP `ack:auto`). */
  | 'auto';

/** What a client frame is, as far as resuming is concerned. */
export type ClientFrame =
  /**
   * The connection handshake (STOMP `CONNECT`, JSON `connect`): replayed on every new upstream
   * socket, whose answer (`connected`) is awaited and not shown to the client twice.
   * `heartbeat` is how often, in ms, the client wants to hear from the server (0: never).
   */
  | { readonly kind: 'connect'; readonly heartbeat?: number }
  /**
   * A publish the broker will confirm with a `receipt` carrying the same id. `target` is where it
   * goes (a stream, a destination), for {@link BrokerCodec.probe}.
   */
  | { readonly kind: 'publish'; readonly id: string; readonly target?: string }
  /**
   * A subscription to a stream. `from` is the first offset asked for when the client named one
   * (not for `first`/`next`/timestamps); `receipt` the id the broker's answer will carry, if any.
   */
  | {
      readonly kind: 'subscribe';
      readonly stream: string;
      readonly ack: AckMode;
      readonly from?: number;
      readonly receipt?: string;
    }
  /** The end of a subscription. */
  | { readonly kind: 'unsubscribe'; readonly stream: string }
  /** The consumer acknowledges `offset` of `stream` (cumulatively or not, per its {@link AckMode}). */
  | { readonly kind: 'ack'; readonly stream: string; readonly offset: number }
  /** A keep-alive frame: dropped while the upstream is down instead of queued. */
  | { readonly kind: 'heartbeat' }
  /** Anything else: passed on untouched. */
  | { readonly kind: 'other' };

/** What an upstream frame is, as far as resuming is concerned. */
export type UpstreamFrame =
  /**
   * The answer to the handshake. `heartbeat` is how often, in ms, the server promised to send
   * something (0: never); with the client's wish it sets the keep-alive the engine sends the
   * client during outages.
   */
  | { readonly kind: 'connected'; readonly heartbeat?: number }
  /** The broker's answer to the client frame that carried `id` (a publish confirm, a receipt). */
  | { readonly kind: 'receipt'; readonly id: string }
  /** The broker accepted a subscription; `from` is the first offset it will deliver, if it says. */
  | { readonly kind: 'subscribed'; readonly stream: string; readonly from?: number }
  /**
   * The broker refused a subscription because the offset is gone (retention). `available` is the
   * first offset it still has, when it says.
   */
  | {
      readonly kind: 'subscribe-failed';
      readonly stream: string;
      readonly reason: string;
      readonly available?: number;
    }
  /**
   * A message of `stream` at `offset`. `token` is what acknowledging it on this connection takes
   * when that is not the offset itself (STOMP's per-session `ack` id). `forClient` rewrites the
   * frame for the client (STOMP: a stable ack id that survives reconnects); called only when the
   * delivery is forwarded.
   */
  | {
      readonly kind: 'delivery';
      readonly stream: string;
      readonly offset: number;
      readonly token?: string;
      readonly forClient?: () => OutFrame;
    }
  /**
   * A connection-level error: the broker is about to close the connection (STOMP `ERROR`). During
   * a restore it fails the attempt (`retry`) instead of reaching the client.
   */
  | { readonly kind: 'error'; readonly message: string }
  /** A frame caused by the engine's own requests (a probe's delivery): dropped. */
  | { readonly kind: 'internal' }
  /** Anything else: passed on untouched. */
  | { readonly kind: 'other' };

/** A subscription as the engine remembers it, handed to {@link BrokerCodec.resubscribe}. */
export interface Subscription {
  readonly stream: string;
  /** The client's subscribe frame, exactly as it was sent. */
  readonly frame: Buffer;
  readonly binary: boolean;
  /** Its classification. */
  readonly info: Extract<ClientFrame, { kind: 'subscribe' }>;
  /** Whether the client already got the broker's answer to it (then the resubscribe asks for none). */
  readonly answered: boolean;
}

/** Why a resume cannot be done. */
export type ResumeFailureReason =
  /** The broker no longer has the offset to resume from (retention): a gap would follow. */
  | 'offset-unavailable'
  /** The upstream stayed unavailable past `maxOutage` or `maxRetries`: the session ends. */
  | 'outage'
  /** A per-session bound was exceeded, so the state needed to resume could not be kept. */
  | 'buffer-full';

/** One resume failure, turned into the client's signal by {@link BrokerCodec.signal}. */
export interface ResumeFailure {
  readonly reason: ResumeFailureReason;
  /** The stream concerned; absent for a failure about publishes or the whole session. */
  readonly stream?: string;
  /**
   * `offset-unavailable`: the first offset the client does not have (it has every offset below,
   * up to what it acknowledged or was delivered).
   */
  readonly expected?: number;
  /** `offset-unavailable`: the first offset the broker has or delivered instead, if known. */
  readonly available?: number;
  /** The offset to resume this stream from on a new connection (last acked + 1), if known. */
  readonly resumeFrom?: number;
  /** Ids of publishes never confirmed by the broker (their outcome is unknown). */
  readonly unconfirmed?: readonly string[];
  /** A sentence for humans. */
  readonly message: string;
}

/** What the client is sent when resuming fails. */
export interface Signal {
  /** Frames for the client, in order. */
  readonly frames: readonly OutFrame[];
  /**
   * Close the client after the frames (a STOMP `ERROR` must be followed by a close). When absent
   * the session goes on (the JSON codec: the client was told exactly what is missing).
   */
  readonly close?: { readonly code: number; readonly reason: string };
}

/**
 * A broker protocol, as the engine sees it. Classification runs on every frame: keep it cheap
 * (look at a prefix before parsing everything) and never throw for a frame you do not know:
 * return `{ kind: 'other' }`.
 */
export interface BrokerCodec {
  /** Short name for logs, e.g. `json`, `stomp`. */
  readonly name: string;
  /** WebSocket subprotocols the codec speaks, in order of preference. @default none */
  readonly protocols?: readonly string[];
  /**
   * Whether the client's acks carry ids the gateway gave it (see `forClient` of a delivery) that
   * the broker does not know: the engine then always rebuilds them with {@link BrokerCodec.ack}
   * and the delivery's token. When false, client acks pass through unchanged.
   * @default false
   */
  readonly translatesAcks?: boolean;
  /** Classifies a frame from the client. */
  classifyClient(data: Buffer, binary: boolean): ClientFrame;
  /** Classifies a frame from the broker. */
  classifyUpstream(data: Buffer, binary: boolean): UpstreamFrame;
  /**
   * How many offsets a stream may skip between two messages without a message being lost: entries
   * that are not messages. RabbitMQ streams skip one at the start of each segment (an offset
   * tracking snapshot); the first delivery of a resumed stream that skips more than this past the
   * offsets the client has is reported as `offset-unavailable`.
   * @default 0
   */
  readonly maxOffsetHole?: number;
  /**
   * Whether the broker answers every subscribe (with `subscribed`, `subscribe-failed`, or a
   * `receipt` for the id passed to {@link BrokerCodec.resubscribe}): a restore then waits for the
   * answers before resending publishes and letting live frames through.
   * @default false
   */
  readonly answersSubscribe?: boolean;
  /**
   * The frame that re-subscribes on a new connection, starting at offset `from` (last acked + 1),
   * or as the client first asked when `from` is `undefined` (nothing acknowledged yet). `receipt`
   * is the id the answer should carry when the protocol answers with receipts (STOMP): the
   * client's own when it never got its answer, otherwise one of the engine's, whose answer the
   * client does not see.
   */
  resubscribe(subscription: Subscription, from: number | undefined, receipt: string): OutFrame;
  /**
   * Frames that check, on a new connection, that `target` (where the session published before)
   * accepts messages again, answered by a `receipt` with id `receipt` or an `error`; `undefined`
   * when the target cannot be checked. Sent after the handshake, before anything else. RabbitMQ
   * confirms publishes to a stream that is still recovering after a restart and drops them; a
   * consumer that subscribes successfully proves the stream is back.
   */
  probe?(target: string, receipt: string): readonly OutFrame[] | undefined;
  /**
   * The frame that acknowledges delivery `offset` of `stream` on the current connection, with
   * the `token` that delivery carried (if the codec uses tokens).
   */
  ack(stream: string, offset: number, token: string | undefined): OutFrame;
  /** The signal for the client when resuming fails (see {@link ResumeFailure}). */
  signal(failures: readonly ResumeFailure[]): Signal;
  /** A keep-alive frame for the client, sent during outages when the handshake asked for one. */
  heartbeat?(): OutFrame;
}
