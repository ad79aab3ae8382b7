/**
 * The broker hook's engine: one client session's resume state, and how it is restored on every
 * new upstream socket. Protocol-agnostic: a {@link BrokerCodec} says what each frame is.
 *
 * State (all bounded):
 * - the handshake frame, replayed first;
 * - unconfirmed publishes in the order they were sent, keyed by id (`maxUnackedPublishes`,
 *   `maxUnackedBytes`: at the limit the client is paused until confirms arrive);
 * - per stream (`maxStreams`): the client's subscribe frame, the last offset forwarded to the
 *   client, the last offset the client acknowledged, and — for codecs with ack tokens — the tokens
 *   of the current connection's unacknowledged deliveries (`maxPendingDeliveries`).
 *
 * On a new upstream socket, {@link HookSession.restore} — before any live client frame:
 * 1. replays the handshake and awaits its answer;
 * 2. probes the targets the session published to, when the codec can (RabbitMQ confirms and drops
 *    publishes to a stream that is still recovering), and awaits the answers;
 * 3. re-subscribes every stream from last acked + 1 and, when the codec's broker answers
 *    subscribes, awaits the answers;
 * 4. resends the unconfirmed publishes, in order, with their original ids.
 * An answer that does not come within `restoreTimeout`, or a broker `error` meanwhile, fails the
 * attempt (`retry`): the link reconnects with backoff.
 * Redeliveries at or below the last forwarded offset are dropped (and acknowledged to the broker
 * once the client acknowledged them); the first delivery after a resubscribe is checked against
 * the offset asked for, and a jump is signalled to the client, never silent.
 *
 * State changes only where the core guarantees it matches the broker: client frames in
 * `onClientMessage` (dispatch time, link open), broker frames in `onUpstreamMessage` (current
 * socket only).
 *
 * @module
 */
import type { FrameResult, HookSession, RestoreContext, SessionContext } from '../../src/index.js';
import type {
  AckMode,
  BrokerCodec,
  ClientFrame,
  OutFrame,
  ResumeFailure,
  Subscription,
} from './codec.js';
import type { ResolvedBrokerOptions } from './options.js';

/** Close code when a per-session bound is exceeded (`maxStreams`, `maxPendingDeliveries`): 1008. */
export const POLICY_VIOLATION = 1008;

/** The client hold taken while the unconfirmed publishes are at their limit. */
const PUBLISH_HOLD = 'broker:unacked-publishes';

interface Pending {
  readonly data: Buffer;
  readonly binary: boolean;
}

interface StreamState {
  readonly stream: string;
  readonly ack: AckMode;
  frame: Buffer;
  binary: boolean;
  info: Extract<ClientFrame, { kind: 'subscribe' }>;
  /** The client got the broker's answer to its subscribe. */
  answered: boolean;
  /** The first offset of the subscription, once known (asked for, announced or delivered). */
  start: number | undefined;
  /** The last offset forwarded to the client. */
  forwarded: number | undefined;
  /** The last offset the client acknowledged. */
  acked: number | undefined;
  /** Set by a resubscribe from an offset: the first delivery must be that offset. */
  expect: number | undefined;
  /** Current connection: offset → ack token, for deliveries above `acked` (token codecs only). */
  readonly tokens: Map<number, string>;
}

/** What happens to the client after a signal. */
type AfterSignal = 'as-codec-says' | 'stay-open' | number;

/** Distinct publish targets remembered per session, for probes. */
const MAX_TARGETS = 32;

/** Prefix of the receipt ids the engine asks for itself. */
export const ENGINE_RECEIPT_PREFIX = 'subgate-';

/** Answers one restore step waits for. */
interface Expectation {
  connected: boolean;
  /** Probe receipts. */
  readonly receipts: Set<string>;
  /** Resubscribed streams → the receipt that answers them (or a subscribed / subscribe-failed). */
  readonly streams: Map<string, string>;
  done(outcome: StepOutcome): void;
}

type StepOutcome = 'ok' | 'aborted' | 'timeout' | { readonly error: string };

/** Counters of one session, logged when the session ends. */
export interface BrokerSessionStats {
  restores: number;
  resubscribed: number;
  publishesResent: number;
  duplicatesDropped: number;
  resumeFailures: number;
}

/** Opens the engine's state for one client session. */
export function openBrokerSession(
  ctx: SessionContext,
  options: ResolvedBrokerOptions,
): HookSession {
  const codec: BrokerCodec = options.codec;
  const translates = codec.translatesAcks === true;
  const log = ctx.log;

  let handshake: Pending | undefined;
  let clientHeartbeat = 0;
  let clientConnected = false;
  let keepAliveTimer: NodeJS.Timeout | undefined;
  let closed = false;
  /** What the current restore step waits for. */
  let waiting: Expectation | undefined;
  /** Receipt ids the engine asked for: their answers are not the client's. */
  const ownReceipts = new Set<string>();
  let receiptSeq = 0;
  /** Where the session published, most recent last (for {@link BrokerCodec.probe}). */
  const targets = new Set<string>();

  const pending = new Map<string, Pending>();
  let pendingBytes = 0;
  const streams = new Map<string, StreamState>();
  let pendingDeliveries = 0;
  const stats: BrokerSessionStats = {
    restores: 0,
    resubscribed: 0,
    publishesResent: 0,
    duplicatesDropped: 0,
    resumeFailures: 0,
  };

  const send = (frame: OutFrame, binary = typeof frame !== 'string'): boolean =>
    ctx.sendUpstream(frame, binary);

  const publishesFull = (): boolean =>
    pending.size >= options.maxUnackedPublishes || pendingBytes >= options.maxUnackedBytes;

  const settle = (id: string): boolean => {
    const entry = pending.get(id);
    if (entry === undefined) return false;
    pending.delete(id);
    pendingBytes -= entry.data.length;
    if (!publishesFull()) ctx.resumeClient(PUBLISH_HOLD);
    return true;
  };

  const dropTokens = (state: StreamState, through?: number): void => {
    if (through === undefined) {
      pendingDeliveries -= state.tokens.size;
      state.tokens.clear();
      return;
    }
    for (const offset of state.tokens.keys()) {
      if (offset > through) break;
      state.tokens.delete(offset);
      pendingDeliveries--;
    }
  };

  const forget = (state: StreamState): void => {
    dropTokens(state);
    streams.delete(state.stream);
  };

  /** Tells the client; returns whether the client is closed for it. */
  const signal = (failures: readonly ResumeFailure[], after: AfterSignal): boolean => {
    stats.resumeFailures += failures.length;
    ctx.count('resume_failed', failures.length);
    log.warn({ failures, codec: codec.name }, 'broker resume failed; telling the client');
    let result;
    try {
      result = codec.signal(failures);
    } catch (error) {
      log.error({ err: error }, 'broker codec failed to build the resume-failed signal');
      result = { frames: [] };
    }
    for (const frame of result.frames) ctx.sendClient(frame);
    if (after === 'stay-open') return false;
    if (typeof after === 'number') {
      ctx.closeClient(after, result.close?.reason ?? `broker: ${failures[0]?.message ?? ''}`);
      return true;
    }
    if (result.close !== undefined) {
      ctx.closeClient(result.close.code, result.close.reason);
      return true;
    }
    return false;
  };

  const resumeFrom = (state: StreamState): number | undefined =>
    state.acked !== undefined ? state.acked + 1 : state.start;

  /** The first offset the client does not have. */
  const firstMissing = (state: StreamState): number | undefined =>
    state.forwarded !== undefined ? state.forwarded + 1 : resumeFrom(state);

  const subscription = (state: StreamState): Subscription => ({
    stream: state.stream,
    frame: state.frame,
    binary: state.binary,
    info: state.info,
    answered: state.answered,
  });

  const startKeepAlive = (serverHeartbeat: number): void => {
    if (keepAliveTimer !== undefined || codec.heartbeat === undefined) return;
    if (clientHeartbeat <= 0 || serverHeartbeat <= 0) return;
    const heartbeat = codec.heartbeat.bind(codec);
    // While the broker is away, the client still hears something as often as it asked to.
    keepAliveTimer = setInterval(
      () => {
        if (!closed && ctx.upstreamState !== 'open') ctx.sendClient(heartbeat());
      },
      Math.max(clientHeartbeat, serverHeartbeat),
    );
    keepAliveTimer.unref();
  };

  const onClientAck = (stream: string, offset: number): FrameResult => {
    const state = streams.get(stream);
    // An ack id of ours means nothing to the broker: never pass it on untranslated.
    if (state === undefined) return translates ? false : undefined;
    if (state.acked === undefined || offset > state.acked) state.acked = offset;
    if (!translates) return;
    // Translate to the current connection's token (the client's id may be from an older one).
    let token: string | undefined;
    let at = -1;
    if (state.ack === 'individual') {
      token = state.tokens.get(offset);
      if (token !== undefined) {
        state.tokens.delete(offset);
        pendingDeliveries--;
        at = offset;
      }
    } else {
      for (const [o, t] of state.tokens) {
        if (o > offset) break;
        token = t;
        at = o;
      }
      dropTokens(state, offset);
    }
    // Nothing of this connection to acknowledge yet: the redeliveries will be, as they arrive.
    if (token === undefined) return false;
    return codec.ack(stream, at, token);
  };

  const onDelivery = (
    stream: string,
    offset: number,
    token: string | undefined,
    forClient: (() => OutFrame) | undefined,
  ): FrameResult => {
    const state = streams.get(stream);
    if (state === undefined) return;
    // Below what the client has (a redelivery), or below the offset a resubscribe asked for
    // (a broker that starts at the beginning of a chunk): the client must not see it.
    const seen =
      state.forwarded !== undefined
        ? offset <= state.forwarded
        : state.expect !== undefined && offset < state.expect;
    if (state.expect !== undefined && offset >= state.expect) {
      // The first delivery at or past the offset asked for: is anything missing in between?
      const missingFrom =
        state.forwarded === undefined ? state.expect : Math.max(state.expect, state.forwarded + 1);
      state.expect = undefined;
      if (offset > missingFrom + (codec.maxOffsetHole ?? 0)) {
        const closes = signal(
          [
            {
              reason: 'offset-unavailable',
              stream,
              expected: missingFrom,
              available: offset,
              message: `offset ${missingFrom} of ${stream} is no longer available; the broker resumed at ${offset}`,
            },
          ],
          'as-codec-says',
        );
        if (closes) {
          forget(state);
          return false;
        }
      }
    }
    if (seen) {
      stats.duplicatesDropped++;
      ctx.count('duplicates_dropped');
      if (state.ack === 'auto') return false;
      if (state.acked !== undefined && offset <= state.acked) {
        // The client acknowledged it on an older connection: acknowledge the redelivery here.
        // A cumulative ack covers the tokens below it, which must never be acknowledged again
        // (RabbitMQ closes the channel on an unknown delivery tag).
        if (state.ack === 'cumulative') dropTokens(state, offset);
        else if (state.tokens.delete(offset)) pendingDeliveries--;
        send(codec.ack(stream, offset, token));
      } else if (token !== undefined) {
        remember(state, offset, token);
      }
      return false;
    }
    state.start ??= offset;
    state.forwarded = offset;
    if (state.ack === 'auto') state.acked = offset;
    else if (token !== undefined && !remember(state, offset, token)) return false;
    return forClient?.();
  };

  /** Keeps a token; false (and the client closed) when `maxPendingDeliveries` is exceeded. */
  const remember = (state: StreamState, offset: number, token: string): boolean => {
    if (!state.tokens.has(offset)) pendingDeliveries++;
    state.tokens.set(offset, token);
    if (pendingDeliveries <= options.maxPendingDeliveries) return true;
    signal(
      [
        {
          reason: 'buffer-full',
          stream: state.stream,
          ...(state.acked === undefined ? {} : { resumeFrom: state.acked + 1 }),
          message: `more than ${options.maxPendingDeliveries} deliveries not acknowledged by the client (broker maxPendingDeliveries)`,
        },
      ],
      POLICY_VIOLATION,
    );
    return false;
  };

  /** Waits until `expectation`'s answers all arrived (or abort, timeout, broker error). */
  const awaitStep = (
    abort: AbortSignal,
    expect: {
      connected?: boolean;
      receipts?: Iterable<string>;
      streams?: Iterable<readonly [string, string]>;
    },
  ): Promise<StepOutcome> =>
    new Promise((resolve) => {
      const step: Expectation = {
        connected: expect.connected === true,
        receipts: new Set(expect.receipts),
        streams: new Map(expect.streams),
        done(outcome) {
          clearTimeout(timer);
          abort.removeEventListener('abort', onAbort);
          if (waiting === step) waiting = undefined;
          resolve(outcome);
        },
      };
      const onAbort = (): void => step.done('aborted');
      const timer = setTimeout(() => step.done('timeout'), options.restoreTimeout);
      if (abort.aborted) return step.done('aborted');
      if (!step.connected && step.receipts.size === 0 && step.streams.size === 0) {
        return step.done('ok');
      }
      abort.addEventListener('abort', onAbort);
      waiting = step;
    });

  const answered = (update: (step: Expectation) => boolean): void => {
    const step = waiting;
    if (step === undefined || !update(step)) return;
    if (!step.connected && step.receipts.size === 0 && step.streams.size === 0) step.done('ok');
  };

  const ownReceipt = (): string => {
    const id = `${ENGINE_RECEIPT_PREFIX}${ctx.generation}-${++receiptSeq}`;
    ownReceipts.add(id);
    return id;
  };

  /** Whether the step went through; otherwise the attempt is failed (or was aborted). */
  const stepOk = (outcome: StepOutcome, what: string, retry: (reason: string) => void): boolean => {
    if (outcome === 'ok') return true;
    if (outcome === 'aborted') return false;
    const reason =
      outcome === 'timeout'
        ? `no answer to the broker ${what} within ${options.restoreTimeout} ms`
        : `the broker refused the ${what}: ${outcome.error}`;
    log.warn({ generation: ctx.generation, reason }, 'broker restore failed; reconnecting');
    retry(reason);
    return false;
  };

  return {
    onClientMessage(data, binary) {
      const frame = codec.classifyClient(data, binary);
      switch (frame.kind) {
        case 'connect':
          handshake = { data, binary };
          clientHeartbeat = frame.heartbeat ?? 0;
          return;
        case 'publish': {
          const previous = pending.get(frame.id);
          if (previous !== undefined) {
            log.warn({ id: frame.id }, 'broker: publish id reused while unconfirmed');
            pending.delete(frame.id);
            pendingBytes -= previous.data.length;
          }
          pending.set(frame.id, { data, binary });
          pendingBytes += data.length;
          if (frame.target !== undefined && codec.probe !== undefined) {
            targets.delete(frame.target);
            targets.add(frame.target);
            if (targets.size > MAX_TARGETS) targets.delete(targets.values().next().value!);
          }
          if (publishesFull()) ctx.pauseClient(PUBLISH_HOLD);
          return;
        }
        case 'subscribe': {
          const existing = streams.get(frame.stream);
          if (existing === undefined && streams.size >= options.maxStreams) {
            ctx.closeClient(
              POLICY_VIOLATION,
              `too many subscriptions (broker maxStreams ${options.maxStreams})`,
            );
            return false;
          }
          if (existing !== undefined) forget(existing);
          streams.set(frame.stream, {
            stream: frame.stream,
            ack: frame.ack,
            frame: data,
            binary,
            info: frame,
            answered: false,
            start: frame.from,
            forwarded: undefined,
            acked: undefined,
            expect: undefined,
            tokens: new Map(),
          });
          return;
        }
        case 'unsubscribe': {
          const state = streams.get(frame.stream);
          if (state !== undefined) forget(state);
          return;
        }
        case 'ack':
          return onClientAck(frame.stream, frame.offset);
        default:
          return;
      }
    },

    onClientWait(data, binary) {
      // Keep-alives of a dead connection mean nothing to the next one.
      if (codec.classifyClient(data, binary).kind === 'heartbeat') return false;
    },

    onUpstreamMessage(data, binary) {
      const frame = codec.classifyUpstream(data, binary);
      switch (frame.kind) {
        case 'delivery':
          return onDelivery(frame.stream, frame.offset, frame.token, frame.forClient);
        case 'receipt': {
          if (settle(frame.id)) return;
          answered((step) => {
            if (step.receipts.delete(frame.id)) return true;
            for (const [stream, receipt] of step.streams) {
              if (receipt === frame.id) return step.streams.delete(stream);
            }
            return false;
          });
          if (ownReceipts.delete(frame.id)) return false;
          for (const state of streams.values()) {
            if (state.info.receipt !== frame.id) continue;
            if (state.answered) return false;
            state.answered = true;
            return;
          }
          return;
        }
        case 'connected': {
          startKeepAlive(frame.heartbeat ?? 0);
          answered((step) => {
            const was = step.connected;
            step.connected = false;
            return was;
          });
          if (clientConnected) return false;
          clientConnected = true;
          return;
        }
        case 'subscribed': {
          answered((step) => step.streams.delete(frame.stream));
          const state = streams.get(frame.stream);
          if (state === undefined) return;
          if (state.start === undefined && frame.from !== undefined) state.start = frame.from;
          if (state.answered) return false;
          state.answered = true;
          return;
        }
        case 'subscribe-failed': {
          answered((step) => step.streams.delete(frame.stream));
          const state = streams.get(frame.stream);
          if (state === undefined) return;
          forget(state);
          // The client's own subscribe: its answer. Otherwise ours failed: say what it means.
          if (!state.answered) return;
          const expected = firstMissing(state);
          signal(
            [
              {
                reason: 'offset-unavailable',
                stream: frame.stream,
                ...(expected === undefined ? {} : { expected }),
                ...(frame.available === undefined ? {} : { available: frame.available }),
                message: `cannot resume ${frame.stream}${
                  expected === undefined ? '' : ` at offset ${expected}`
                }: ${frame.reason}; the stream is no longer subscribed`,
              },
            ],
            'as-codec-says',
          );
          return false;
        }
        case 'error': {
          // During a restore: the attempt failed, the next connection may do better.
          const step = waiting;
          if (step === undefined) return;
          step.done({ error: frame.message });
          return false;
        }
        case 'internal':
          return false;
        default:
          return;
      }
    },

    async restore({ signal: abort, retry }: RestoreContext) {
      stats.restores++;
      ownReceipts.clear();
      if (handshake !== undefined) {
        send(handshake.data, handshake.binary);
        if (!stepOk(await awaitStep(abort, { connected: true }), 'handshake', retry)) return;
      }
      if (codec.probe !== undefined && targets.size > 0) {
        const receipts: string[] = [];
        for (const target of targets) {
          const receipt = ownReceipt();
          const frames = codec.probe(target, receipt);
          if (frames === undefined) {
            ownReceipts.delete(receipt);
            continue;
          }
          for (const frame of frames) send(frame);
          receipts.push(receipt);
        }
        if (!stepOk(await awaitStep(abort, { receipts }), 'probe', retry)) return;
      }
      const answers: [string, string][] = [];
      for (const state of streams.values()) {
        const from = resumeFrom(state);
        state.expect = from;
        const clientReceipt = state.answered ? undefined : state.info.receipt;
        const receipt = clientReceipt ?? ownReceipt();
        answers.push([state.stream, receipt]);
        send(codec.resubscribe(subscription(state), from, receipt), state.binary);
        stats.resubscribed++;
      }
      if (codec.answersSubscribe === true && answers.length > 0) {
        // One answer per stream: its receipt (STOMP), or subscribed / subscribe-failed (JSON).
        if (!stepOk(await awaitStep(abort, { streams: answers }), 'resubscribe', retry)) return;
      }
      for (const entry of pending.values()) {
        send(entry.data, entry.binary);
        stats.publishesResent++;
      }
      if (streams.size > 0) ctx.count('streams_resubscribed', streams.size);
      if (pending.size > 0) ctx.count('publishes_resent', pending.size);
      if (streams.size > 0 || pending.size > 0) {
        log.info(
          { generation: ctx.generation, streams: streams.size, publishes: pending.size },
          'broker resumed: resubscribed and resent unconfirmed publishes',
        );
      }
    },

    onUpstreamClose({ restoring }) {
      // A broker that closes while the session is being restored (RabbitMQ Web-STOMP closes with
      // 1000 "STOMP died" while its streams recover after a restart) is not done with us: the next
      // connection may succeed. Once live, a terminal close stays terminal.
      return restoring ? 'retry' : undefined;
    },

    onUpstreamLost() {
      // Tokens belong to the dead connection; offsets stay.
      for (const state of streams.values()) {
        dropTokens(state);
        state.expect = undefined;
      }
      waiting?.done('aborted');
    },

    onGiveUp({ reason }) {
      const failures: ResumeFailure[] = [];
      for (const state of streams.values()) {
        const from = resumeFrom(state);
        failures.push({
          reason: 'outage',
          stream: state.stream,
          ...(from === undefined ? {} : { resumeFrom: from }),
          message: `broker unavailable (${reason}); resume ${state.stream}${
            from === undefined ? '' : ` from offset ${from}`
          } on a new connection`,
        });
      }
      if (pending.size > 0 || failures.length === 0) {
        failures.push({
          reason: 'outage',
          unconfirmed: [...pending.keys()],
          message: `broker unavailable (${reason}); ${pending.size} publishes unconfirmed, their outcome is unknown`,
        });
      }
      // The core closes the client with 1013 right after this.
      signal(failures, 'stay-open');
    },

    onClientClose() {
      closed = true;
      clearInterval(keepAliveTimer);
      waiting?.done('aborted');
      log.info({ ...stats, unconfirmed: pending.size }, 'broker session ended');
    },
  };
}
