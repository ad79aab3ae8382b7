/**
 * One client session of the graphql-ws hook: what the target has been sent (the client's
 * `connection_init`, the active operations and the last cursor of each), and how it is restored on
 * every new upstream socket.
 *
 * Across connections (with the gateway's session store): the client gets a resume token in
 * `connection_ack`; presenting it in a later `connection_init` (on any instance sharing the
 * store) continues the session: each subscription the client re-sends with its id restarts after
 * the last cursor the client received (the one it reports, else the stored one); one without a
 * resume setting is re-issued as sent and counted as a possible gap. The snapshot persisted per
 * session is each active subscription, with its last cursor.
 *
 * Metrics (`subgate_hook_events_total{hook="graphql-ws", event}`): `subscriptions_resubscribed`,
 * `subscriptions_resumed`, `possible_gaps` (re-subscribed without resume), `duplicates_dropped`,
 * `queries_resent`, `mutations_outcome_unknown`, `operations_limit_reached`, `sessions_resumed`. The same counts go
 * to the {@link GRAPHQL_WS_RESTORE_CHANNEL} diagnostics channel, per restore.
 *
 * State changes only where the core guarantees it matches the target: client frames in
 * `onClientMessage` (dispatch time, link open), target frames in `onUpstreamMessage` (current
 * socket only). All memory is bounded: at most `maxOperations` operations, one cursor each.
 *
 * @module
 */
import { channel } from 'node:diagnostics_channel';
import type { GraphQLFormattedError } from 'graphql';
import type { SubscribePayload } from 'graphql-ws';
import { SESSION_FORBIDDEN, SESSION_UNKNOWN } from '../../src/client.js';
import {
  CloseCode,
  type FrameResult,
  type HookSession,
  type RestoreContext,
  type SessionContext,
} from '../../src/index.js';
import { createClientGuard } from './client-guard.js';
import type { ResolvedGraphqlWsOptions, ResolvedResume } from './options.js';
import { adapterFor, parseJson, type ClientEvent, type ProtocolAdapter } from './protocol.js';
import {
  alreadySeen,
  analyzeOperation,
  applyCursor,
  cursorAt,
  type OperationKind,
} from './resume.js';
import {
  ackWithToken,
  credentialsOf,
  nextWithCursor,
  operationFingerprint,
  splitInit,
} from './session-resume.js';

/** Close code for a client that exceeds `maxOperations`: 1008, policy violation. */
export const TOO_MANY_OPERATIONS = 1008;

/** The `extensions.code` of the error a client gets for a mutation whose outcome is unknown. */
export const OUTCOME_UNKNOWN = 'UPSTREAM_CONNECTION_LOST';

/** Message of that error. */
export const OUTCOME_UNKNOWN_MESSAGE =
  'The outcome of this mutation is unknown because the upstream connection was lost before its result arrived; it was not re-sent.';

/** The diagnostics channel of {@link GraphqlWsRestoreMessage}, one per restored upstream socket. */
export const GRAPHQL_WS_RESTORE_CHANNEL = 'subgate:graphql-ws:restore';

/**
 * Published on {@link GRAPHQL_WS_RESTORE_CHANNEL} after the hook restored a new upstream socket:
 * the counts metrics want (`unresumable` is the number of possible gaps).
 */
export interface GraphqlWsRestoreMessage {
  readonly sessionId: string;
  readonly generation: number;
  /** Subscriptions re-issued on this socket, with their original ids. */
  readonly resubscribed: number;
  /** Of those, how many restart after the last cursor the client received. */
  readonly resumed: number;
  /** Of those, how many have no resume setting: events of the outage may be missing. */
  readonly unresumable: number;
  /** Queries in flight re-sent. */
  readonly queriesResent: number;
  /** Mutations in flight failed with {@link OUTCOME_UNKNOWN} in the outage before this socket. */
  readonly mutationsFailed: number;
  /** Events dropped because the client already had their cursor, over the session so far. */
  readonly duplicatesDropped: number;
}

const restoreChannel = channel(GRAPHQL_WS_RESTORE_CHANNEL);

/** Marker in the payload of the hook's own graphql-ws pings, so their pongs never reach the client. */
const HEARTBEAT_PAYLOAD = { subgate: 'heartbeat' } as const;

/** Client pings awaiting the target's pong, counted up to this bound. */
const MAX_PENDING_PINGS = 64;

interface Operation {
  readonly id: string;
  readonly payload: SubscribePayload;
  readonly kind: OperationKind | 'unknown';
  readonly responseKey: string | undefined;
  readonly resume: ResolvedResume | undefined;
  /** The last cursor forwarded to the client; `undefined` until one was. */
  cursor: unknown;
  /** Single-result operations: the final result reached the client. */
  done: boolean;
  /** The client cancelled it while the upstream was down; not to be re-issued. */
  cancelled: boolean;
  /** {@link operationFingerprint} of the payload, computed once when first persisted. */
  fingerprint?: string;
}

/**
 * An active subscription of a persisted session: where it continues (its last cursor), and the
 * fingerprint of the operation it belongs to (absent for cursors the client reported itself,
 * which are per id).
 */
interface ResumePoint {
  /** Absent when the subscription had received nothing, or has no resume setting. */
  readonly cursor?: unknown;
  readonly operation?: string;
}

/** What the hook persists per session (its {@link HookSession.snapshot}). */
interface GraphqlWsSnapshot {
  readonly operations: Record<string, ResumePoint>;
}

type AckOutcome = 'ack' | 'rejected' | 'aborted' | 'timeout';

/** Opens the hook's state for one client session. */
export function openGraphqlWsSession(
  ctx: SessionContext,
  options: ResolvedGraphqlWsOptions,
): HookSession {
  const adapter = adapterFor(ctx.protocol);
  if (adapter === undefined) {
    ctx.log.warn(
      { protocol: ctx.protocol },
      'graphql-ws hook: subprotocol not spoken; passing frames through',
    );
    return {};
  }
  const protocol: ProtocolAdapter = adapter;
  const log = ctx.log;
  const guard = createClientGuard(
    ctx,
    protocol.replacesDuplicateIds,
    options.connectionInitTimeout,
  );
  /**
   * Frames the guard admitted in onClientWait that still wait in the session's queue (FIFO), so
   * each client frame is checked exactly once. Assumes no hook after this one consumes a frame in
   * its own onClientWait (the queue would then hold fewer frames than counted).
   */
  let admittedAhead = 0;

  /** The client's `connection_init` payload, once it was sent to the target. */
  let init: { payload: Record<string, unknown> | undefined } | undefined;
  /** A token the client presented is being checked; its connection_init waits meanwhile. */
  let resuming = false;
  /** Cursors of a resumed session, for the subscriptions the client has yet to re-send. */
  let resumeCursors: Map<string, ResumePoint> | undefined;
  /** The client asked for each event's cursor (it uses `subgate/client`). */
  let stampCursors = false;
  const persistence = ctx.persistence;
  let clientAcked = false;
  let terminated = false;
  const operations = new Map<string, Operation>();
  let pendingClientPings = 0;
  let ackWaiter: ((outcome: AckOutcome) => void) | undefined;
  /** `retry` of the current generation's restore: how the heartbeat declares a socket dead. */
  let current: { generation: number; retry: (reason: string) => void } | undefined;
  let lastUpstreamFrame = 0;
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let heartbeatDeadline: NodeJS.Timeout | undefined;
  let keepAliveTimer: NodeJS.Timeout | undefined;
  let targetSendsKeepAlive = false;
  /** Counts of the current restore; `mutationsFailed` since the last one; `duplicatesDropped` ever. */
  const stats = {
    resubscribed: 0,
    resumed: 0,
    unresumable: 0,
    queriesResent: 0,
    mutationsFailed: 0,
    duplicatesDropped: 0,
  };

  const track = (id: string, payload: SubscribePayload): FrameResult => {
    const existing = operations.get(id);
    if (existing !== undefined && !existing.cancelled && !protocol.replacesDuplicateIds) return;
    if (existing === undefined && operations.size >= options.maxOperations) {
      ctx.count('operations_limit_reached');
      ctx.closeClient(
        TOO_MANY_OPERATIONS,
        `too many active operations (graphql-ws maxOperations ${options.maxOperations})`,
      );
      return false;
    }
    const info = analyzeOperation(payload);
    let resume: ResolvedResume | undefined;
    if (info?.kind === 'subscription' && info.rootField !== undefined) {
      try {
        resume = options.resumeFor({
          id,
          operationName: info.operationName,
          rootField: info.rootField,
          payload,
        });
      } catch (error) {
        log.error({ err: error, id }, 'graphql-ws resume setting failed; not resuming it');
      }
    }
    const op: Operation = {
      id,
      payload,
      kind: info?.kind ?? 'unknown',
      responseKey: info?.responseKey,
      resume,
      cursor: undefined,
      done: false,
      cancelled: false,
    };
    operations.set(id, op);
    if (op.kind === 'subscription') persistence?.changed();
    if (resumeCursors?.has(id) === true) return continueOperation(op, resumeCursors);
  };

  /**
   * A subscription the client re-sent after presenting its token: it restarts after the cursor
   * the previous connection reached, and events up to that cursor are dropped.
   */
  const continueOperation = (op: Operation, points: Map<string, ResumePoint>): FrameResult => {
    const { cursor, operation } = points.get(op.id)!;
    points.delete(op.id);
    if (op.kind !== 'subscription') return;
    if (operation !== undefined && operation !== operationFingerprint(op.payload)) {
      // The id now names another subscription (a client that reuses ids): start it as asked.
      log.info(
        { id: op.id },
        'graphql-ws: a stored cursor belongs to another operation; not applied',
      );
      return;
    }
    ctx.count('subscriptions_resubscribed');
    if (op.resume === undefined) {
      ctx.count('possible_gaps');
      log.warn(
        { id: op.id },
        'graphql-ws: resumed a session without resume configured for this subscription; events of the outage may be missing',
      );
      return;
    }
    if (cursor === undefined) return; // it had received nothing: it starts where asked
    let resumed;
    try {
      resumed = applyCursor(op.payload, op.resume.argument, cursor);
    } catch (error) {
      log.error({ err: error, id: op.id }, 'graphql-ws: cannot set the resume argument');
      return;
    }
    op.cursor = cursor;
    ctx.count('subscriptions_resumed');
    return protocol.subscribe(op.id, resumed);
  };

  /**
   * The client's `connection_init` at dispatch time: our part of its payload is taken out, and
   * the session gets a token, or continues the one the client presented (the init then waits
   * for the store's answer, and the client for its ack).
   */
  const onInit = (payload: Record<string, unknown> | undefined): FrameResult => {
    const parts = splitInit(payload);
    if (init !== undefined || resuming) {
      // A second one is the target's to refuse (4429); it still does not see our part.
      return parts?.hadKey === true ? protocol.init(parts.payload) : undefined;
    }
    if (parts === undefined) {
      ctx.closeClient(4400, 'invalid subgate resume parameters in connection_init');
      return false;
    }
    const rewritten = parts.hadKey ? protocol.init(parts.payload) : undefined;
    if (persistence === undefined) {
      init = { payload: parts.payload };
      return rewritten;
    }
    stampCursors = parts.cursors !== undefined;
    const credentials = credentialsOf(parts.payload, ctx.request.headers);
    if (parts.token === undefined) {
      persistence.issue(credentials);
      init = { payload: parts.payload };
      return rewritten;
    }
    resuming = true;
    void persistence.resume(parts.token, credentials).then(
      (outcome) => resumed(outcome, parts.payload, parts.cursors),
      (error: unknown) => {
        log.error({ err: error }, 'graphql-ws: resuming the session failed');
        ctx.closeClient(CloseCode.InternalError, 'resuming the session failed');
      },
    );
    return false;
  };

  const resumed = (
    outcome: Awaited<ReturnType<NonNullable<typeof persistence>['resume']>>,
    payload: Record<string, unknown> | undefined,
    reported: Readonly<Record<string, unknown>> | undefined,
  ): void => {
    resuming = false;
    if (ctx.upstreamState === 'closed') return;
    switch (outcome.status) {
      case 'unknown':
        return ctx.closeClient(SESSION_UNKNOWN, 'subgate session unknown or expired');
      case 'forbidden':
        return ctx.closeClient(SESSION_FORBIDDEN, 'subgate session belongs to other credentials');
      case 'unavailable':
        return ctx.closeClient(CloseCode.TryAgainLater, 'session store unavailable; try again');
      default:
    }
    const stored = (outcome.state as GraphqlWsSnapshot | undefined)?.operations ?? {};
    // The client's own report is what it received; the stored cursor may lag by one write.
    const points = new Map<string, ResumePoint>(Object.entries(stored));
    for (const [id, cursor] of Object.entries(reported ?? {})) points.set(id, { cursor });
    resumeCursors = new Map([...points].slice(0, options.maxOperations));
    ctx.count('sessions_resumed');
    log.info({ operations: resumeCursors.size }, 'graphql-ws: session resumed from its token');
    init = { payload };
    persistence?.changed();
    // On an open socket the init goes now; otherwise restore sends it on the next one.
    ctx.sendUpstream(protocol.init(payload));
  };

  const onClientEvent = (event: ClientEvent): FrameResult => {
    switch (event.kind) {
      case 'init':
        return onInit(event.payload);
      case 'subscribe':
        return track(event.id, event.payload);
      case 'complete':
        if (operations.delete(event.id)) persistence?.changed();
        return;
      case 'ping':
        if (pendingClientPings < MAX_PENDING_PINGS) pendingClientPings++;
        return;
      case 'terminate':
        terminated = true;
        return;
      default:
        return;
    }
  };

  /** The payload to re-issue a subscription with: resumed from its last cursor when possible. */
  const resubscribePayload = (op: Operation): SubscribePayload => {
    if (op.resume === undefined) {
      stats.unresumable++;
      return op.payload;
    }
    if (op.cursor === undefined) return op.payload; // nothing received yet: start where asked
    try {
      const resumed = applyCursor(op.payload, op.resume.argument, op.cursor);
      stats.resumed++;
      return resumed;
    } catch (error) {
      log.error({ err: error, id: op.id }, 'graphql-ws: cannot set the resume argument');
      return op.payload;
    }
  };

  const resubscribe = (generation: number): void => {
    stats.resubscribed = stats.resumed = stats.unresumable = stats.queriesResent = 0;
    for (const op of [...operations.values()]) {
      if (op.cancelled) {
        operations.delete(op.id);
        continue;
      }
      if (op.kind === 'subscription') {
        stats.resubscribed++;
        ctx.sendUpstream(protocol.subscribe(op.id, resubscribePayload(op)));
      } else if (op.kind !== 'mutation' && !op.done) {
        stats.queriesResent++;
        ctx.sendUpstream(protocol.subscribe(op.id, op.payload));
      }
    }
    ctx.count('subscriptions_resubscribed', stats.resubscribed);
    ctx.count('subscriptions_resumed', stats.resumed);
    if (stats.unresumable > 0) ctx.count('possible_gaps', stats.unresumable);
    if (stats.queriesResent > 0) ctx.count('queries_resent', stats.queriesResent);
    const message: GraphqlWsRestoreMessage = { sessionId: ctx.id, generation, ...stats };
    if (stats.unresumable > 0) {
      log.warn(
        message,
        'graphql-ws: re-subscribed without resume configured; events of the outage may be missing',
      );
    } else {
      log.info(message, 'graphql-ws: re-initialised and re-subscribed');
    }
    if (restoreChannel.hasSubscribers) restoreChannel.publish(message);
    stats.mutationsFailed = 0;
  };

  const waitForAck = (signal: AbortSignal): Promise<AckOutcome> =>
    new Promise((resolve) => {
      const settle = (outcome: AckOutcome): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (ackWaiter === settle) ackWaiter = undefined;
        resolve(outcome);
      };
      const onAbort = (): void => settle('aborted');
      const timer = setTimeout(() => settle('timeout'), options.ackTimeout);
      signal.addEventListener('abort', onAbort);
      ackWaiter?.('aborted');
      ackWaiter = settle;
      if (signal.aborted) settle('aborted');
    });

  const stopHeartbeat = (): void => {
    clearInterval(heartbeatTimer);
    clearTimeout(heartbeatDeadline);
    heartbeatTimer = heartbeatDeadline = undefined;
  };

  const beat = (generation: number): void => {
    if (generation !== ctx.generation || ctx.upstreamState === 'closed') return stopHeartbeat();
    if (heartbeatDeadline !== undefined || protocol.ping === undefined) return;
    const sentAt = performance.now();
    if (!ctx.sendUpstream(protocol.ping({ ...HEARTBEAT_PAYLOAD }))) return;
    heartbeatDeadline = setTimeout(() => {
      heartbeatDeadline = undefined;
      // Paused for a slow client, the gateway reads nothing: silence is not death.
      if (lastUpstreamFrame >= sentAt || ctx.upstreamPaused) return;
      const { timeout } = options.heartbeat;
      if (current?.generation === generation && ctx.generation === generation) {
        current.retry(`no frame from the target within ${timeout} ms of a graphql-ws ping`);
      }
    }, options.heartbeat.timeout);
    heartbeatDeadline.unref();
  };

  const startHeartbeat = (): void => {
    if (protocol.ping === undefined || options.heartbeat.interval === 0) return;
    stopHeartbeat();
    heartbeatTimer = setInterval(beat, options.heartbeat.interval, ctx.generation);
    heartbeatTimer.unref();
  };

  const stopKeepAlive = (): void => {
    clearInterval(keepAliveTimer);
    keepAliveTimer = undefined;
  };

  const startKeepAlive = (): void => {
    const keepAlive = protocol.keepAlive;
    if (keepAlive === undefined || options.keepAlive === 0) return;
    if (!targetSendsKeepAlive || !clientAcked || keepAliveTimer !== undefined) return;
    keepAliveTimer = setInterval(() => ctx.sendClient(keepAlive()), options.keepAlive);
    keepAliveTimer.unref();
  };

  const failOperation = (op: Operation, errors: readonly GraphQLFormattedError[]): void => {
    operations.delete(op.id);
    guard.released(op.id);
    ctx.sendClient(protocol.error(op.id, errors));
  };

  return {
    onClientMessage(data) {
      // Frames queued during an outage were checked on arrival; live ones are checked now.
      const message = parseJson(data);
      if (admittedAhead > 0) admittedAhead--;
      else if (!guard.admit(message)) return false;
      return onClientEvent(protocol.parseClient(message));
    },

    onClientWait(data) {
      const message = parseJson(data);
      if (!guard.admit(message)) return false;
      const event = protocol.parseClient(message);
      if (event.kind === 'ping' && protocol.pong !== undefined) {
        ctx.sendClient(protocol.pong(event.payload));
        return false;
      }
      if (event.kind === 'pong') return false; // unsolicited: nobody upstream to receive it
      if (event.kind === 'complete') {
        // Not re-issued on the next socket; the queued frame still reaches the target after.
        const op = operations.get(event.id);
        if (op !== undefined) op.cancelled = true;
      }
      admittedAhead++;
      return;
    },

    onUpstreamMessage(data, binary) {
      lastUpstreamFrame = performance.now();
      if (binary) return;
      const text = data.toString('utf8');
      const message = parseJson(text);
      const event = protocol.parseUpstream(message);
      switch (event.kind) {
        case 'ack': {
          ackWaiter?.('ack');
          startHeartbeat();
          if (clientAcked) return false; // the client has its ack; a second one is ours
          clientAcked = true;
          guard.acknowledged();
          const token = persistence?.token;
          return token === undefined ? undefined : ackWithToken(message, token);
        }
        case 'rejected': {
          ackWaiter?.('rejected');
          // Legacy servers refuse with connection_error, then close with 1011 (retryable): end
          // the session here instead of re-initialising in a loop.
          ctx.sendClient(data);
          ctx.closeClient(4403, `target refused connection_init: ${event.message}`);
          return false;
        }
        case 'next': {
          const op = operations.get(event.id);
          if (op === undefined) return;
          if (op.cancelled) return false;
          if (op.kind !== 'subscription') {
            if ((event.payload as { hasNext?: unknown } | null)?.hasNext !== true) op.done = true;
            return;
          }
          if (op.resume === undefined || op.responseKey === undefined) return;
          const cursor = cursorAt(event.payload, op.responseKey, op.resume.path);
          if (cursor === undefined) return;
          if (op.cursor !== undefined && alreadySeen(cursor, op.cursor, op.resume.order)) {
            stats.duplicatesDropped++;
            ctx.count('duplicates_dropped');
            return false;
          }
          op.cursor = cursor;
          persistence?.changed();
          return stampCursors ? nextWithCursor(text, message, cursor) : undefined;
        }
        case 'error':
        case 'complete': {
          const op = operations.get(event.id);
          if (operations.delete(event.id)) persistence?.changed();
          guard.released(event.id);
          return op?.cancelled ? false : undefined;
        }
        case 'ping':
          if (protocol.pong !== undefined) ctx.sendUpstream(protocol.pong(event.payload));
          return false;
        case 'pong':
          if (event.payload?.['subgate'] === HEARTBEAT_PAYLOAD.subgate) return false;
          if (pendingClientPings === 0) return false; // an answer to our ping, payload dropped
          pendingClientPings--;
          return;
        case 'keep-alive':
          targetSendsKeepAlive = true;
          return clientAcked ? undefined : false;
        default:
          return;
      }
    },

    async restore({ generation, signal, retry }: RestoreContext) {
      current = { generation, retry };
      stopKeepAlive();
      if (init === undefined || terminated) return;
      if (!ctx.sendUpstream(protocol.init(init.payload))) return;
      const outcome = await waitForAck(signal);
      if (outcome === 'timeout') {
        retry(`no connection_ack within ${options.ackTimeout} ms (graphql-ws ackTimeout)`);
        return;
      }
      if (outcome !== 'ack' || signal.aborted) return;
      resubscribe(generation);
    },

    onUpstreamLost() {
      stopHeartbeat();
      current = undefined;
      ackWaiter?.('aborted');
      for (const op of [...operations.values()]) {
        if (op.cancelled || op.kind === 'subscription') continue;
        if (op.done) {
          // The single result reached the client; only the complete was lost with the socket.
          operations.delete(op.id);
          guard.released(op.id);
          ctx.sendClient(protocol.complete(op.id));
        } else if (op.kind === 'mutation') {
          stats.mutationsFailed++;
          ctx.count('mutations_outcome_unknown');
          failOperation(op, [
            { message: OUTCOME_UNKNOWN_MESSAGE, extensions: { code: OUTCOME_UNKNOWN } },
          ]);
        }
      }
      // Pings the lost socket will never answer: answer them here.
      if (protocol.pong !== undefined) {
        for (; pendingClientPings > 0; pendingClientPings--)
          ctx.sendClient(protocol.pong(undefined));
      }
      startKeepAlive();
    },

    snapshot(): GraphqlWsSnapshot {
      const points: Record<string, ResumePoint> = Object.fromEntries(resumeCursors ?? []);
      for (const op of operations.values()) {
        if (op.kind !== 'subscription' || op.cancelled) continue;
        op.fingerprint ??= operationFingerprint(op.payload);
        points[op.id] =
          op.cursor === undefined
            ? { operation: op.fingerprint }
            : { cursor: op.cursor, operation: op.fingerprint };
      }
      return { operations: points };
    },

    onClientClose() {
      guard.dispose();
      stopHeartbeat();
      stopKeepAlive();
      ackWaiter?.('aborted');
      operations.clear();
      current = undefined;
    },
  };
}
