/**
 * The client: a plain graphql-ws client with its own retries off (`retryAttempts: 0`), so any
 * closed connection is a failure it reports instead of hiding. It subscribes to
 * `ticks(after: $after)` through the proxy and checks every `seq`: received, lost, duplicated,
 * out of order, and the longest silence between two events.
 *
 * Environment: `URL` (default ws://127.0.0.1:4001/graphql), `AFTER` (default 0: start at seq 1),
 * `GAP_MS` (default 500: a silence longer than this is reported as a gap), `DURATION_S` (default:
 * run until Ctrl-C). On its own it prints a status line every second and a report at the end; it
 * exits 1 if an event was lost, duplicated or out of order, or the connection closed.
 *
 * When started with an IPC channel (as the demo does), it prints nothing and sends each
 * {@link ClientEvent} to its parent instead; `{ type: 'stop', upTo, waitMs }` makes it wait until
 * it has every seq up to `upTo` (at most `waitMs`), then report and exit.
 *
 * @module
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

/** The final counts. `lost` counts every seq in after+1 .. `expected` the client never got. */
export interface ClientReport {
  /** Events the stream should have delivered: after+1 .. the highest seq known to exist. */
  readonly expected: number;
  /** Events delivered, duplicates included. */
  readonly received: number;
  readonly lost: number;
  readonly duplicated: number;
  /** Events that arrived after a higher seq (a hole filled late). */
  readonly outOfOrder: number;
  /** The highest seq received. */
  readonly highest: number;
  /** Silences longer than `GAP_MS` between two events (or before the first one). */
  readonly gaps: number;
  /** The longest silence between two events (or before the first one), in ms. */
  readonly longestGapMs: number;
  /** When that silence ended (`Date.now()` of the event that ended it); 0 without events. */
  readonly longestGapEndedAt: number;
  /** graphql-ws pings the client sent, and the pongs it got back (the proxy answers during outages). */
  readonly pings: number;
  readonly pongs: number;
  /** The client's connection closed or its subscription ended before the stop: `{ code, reason }`. */
  readonly closed: { readonly code: number; readonly reason: string } | undefined;
}

/** What the client tells its parent over IPC. Times are `Date.now()`. */
export type ClientEvent =
  | { type: 'opened'; at: number }
  | { type: 'connected'; at: number }
  | { type: 'first'; seq: number; at: number }
  | { type: 'progress'; received: number; highest: number; at: number }
  | { type: 'resumed'; seq: number; gapMs: number; at: number }
  | {
      type: 'anomaly';
      kind: 'duplicate' | 'out-of-order' | 'skip';
      seq: number;
      expected: number;
      at: number;
    }
  | { type: 'closed'; code: number; reason: string; at: number }
  | { type: 'report'; report: ClientReport; at: number };

/** Checks a stream of seqs that should be after+1, after+2, … exactly once, in order. */
export interface SequenceCounter {
  /** Records one seq; says what was wrong with it, if anything. */
  add(seq: number): 'ok' | 'duplicate' | 'out-of-order' | 'skip';
  readonly received: number;
  readonly highest: number;
  /** Counts so far; `upTo` is the highest seq known to exist (default: the highest received). */
  counts(upTo?: number): { expected: number; lost: number; duplicated: number; outOfOrder: number };
}

/**
 * Creates a {@link SequenceCounter}. Memory is bounded by the holes, not by the stream length.
 *
 * @example
 * ```ts
 * const counter = createSequenceCounter(0);
 * [1, 2, 4, 3, 3].forEach((seq) => counter.add(seq)); // ok ok skip out-of-order duplicate
 * counter.counts(5); // { expected: 5, lost: 1, duplicated: 1, outOfOrder: 1 }
 * ```
 */
export function createSequenceCounter(after: number): SequenceCounter {
  let highest = after;
  let received = 0;
  let duplicated = 0;
  let outOfOrder = 0;
  const missing = new Set<number>();
  return {
    add(seq) {
      received++;
      if (seq === highest + 1) {
        highest = seq;
        return 'ok';
      }
      if (seq > highest) {
        for (let hole = highest + 1; hole < seq; hole++) missing.add(hole);
        highest = seq;
        return 'skip';
      }
      if (missing.delete(seq)) {
        outOfOrder++;
        return 'out-of-order';
      }
      duplicated++;
      return 'duplicate';
    },
    get received() {
      return received;
    },
    get highest() {
      return highest;
    },
    counts(upTo = highest) {
      const expected = Math.max(upTo, highest) - after;
      const lost = missing.size + Math.max(0, upTo - highest);
      return { expected, lost, duplicated, outOfOrder };
    },
  };
}

const env = process.env;
const url = env['URL'] ?? 'ws://127.0.0.1:4001/graphql';
const after = Number(env['AFTER'] ?? 0);
const gapThreshold = Number(env['GAP_MS'] ?? 500);
const durationS = env['DURATION_S'] === undefined ? undefined : Number(env['DURATION_S']);
const underParent = process.send !== undefined;

const counter = createSequenceCounter(after);
let lastEventAt = Date.now();
let longestGapMs = 0;
let longestGapEndedAt = 0;
let gaps = 0;
let pings = 0;
let pongs = 0;
let closed: { code: number; reason: string } | undefined;
let stopping = false;

function tell(event: ClientEvent): void {
  process.send?.(event);
}

function say(line: string): void {
  if (!underParent) process.stdout.write(`client ${line}\n`);
}

const client = createClient({
  url,
  webSocketImpl: WebSocket,
  retryAttempts: 0, // subgate keeps the connection up: any close is a failure to report
  keepAlive: 1000, // graphql-ws pings, answered by the target or, during an outage, by subgate
  on: {
    opened: () => tell({ type: 'opened', at: Date.now() }),
    connected: () => {
      say(`connected to ${url} (connection_ack received)`);
      tell({ type: 'connected', at: Date.now() });
    },
    ping: (received) => {
      if (!received) pings++;
    },
    pong: (received) => {
      if (received) pongs++;
    },
    closed: (event) => {
      const { code, reason } = event as { code: number; reason: string };
      failed(code, reason, 'connection closed');
    },
  },
});

/** The connection closed or the subscription ended: with retries off, that is the end of it. */
function failed(code: number, reason: string, what: string): void {
  if (stopping || closed !== undefined) return;
  closed = { code, reason };
  say(`${what}: ${code} ${reason}`);
  tell({ type: 'closed', code, reason, at: Date.now() });
  void stop();
}

function onTick(seq: number): void {
  const now = Date.now();
  const gapMs = now - lastEventAt;
  lastEventAt = now;
  if (gapMs > longestGapMs) {
    longestGapMs = gapMs;
    longestGapEndedAt = now;
  }
  const expected = counter.highest + 1;
  const verdict = counter.add(seq);
  if (counter.received === 1) {
    say(`first event: seq ${seq} after ${gapMs} ms`);
    tell({ type: 'first', seq, at: now });
  } else if (gapMs > gapThreshold) {
    gaps++;
    say(`events again from seq ${seq} after a ${(gapMs / 1000).toFixed(2)} s gap`);
    tell({ type: 'resumed', seq, gapMs, at: now });
  }
  if (verdict !== 'ok') {
    say(`${verdict}: got seq ${seq}, expected ${expected}`);
    tell({ type: 'anomaly', kind: verdict, seq, expected, at: now });
  }
}

const dispose = client.subscribe<{ ticks: { seq: number } }>(
  {
    query: 'subscription Ticks($after: Int) { ticks(after: $after) { seq } }',
    variables: { after },
  },
  {
    next: (result) => {
      const seq = result.data?.ticks.seq;
      if (typeof seq === 'number') onTick(seq);
    },
    error: (error) => {
      const { code, reason } = error as { code?: number; reason?: string };
      failed(code ?? 0, reason ?? JSON.stringify(error), 'subscription error');
    },
    complete: () => failed(1000, 'the subscription completed', 'subscription ended'),
  },
);

let reported = { received: -1, highest: -1 };
const progress = setInterval(() => {
  const { received, highest } = counter;
  if (received === reported.received && highest === reported.highest) return;
  reported = { received, highest };
  tell({ type: 'progress', received, highest, at: Date.now() });
}, 100);

const status = underParent
  ? undefined
  : setInterval(() => {
      const { lost, duplicated, outOfOrder } = counter.counts();
      say(
        `received ${counter.received} (last seq ${counter.highest}) · lost ${lost} · ` +
          `duplicated ${duplicated} · out of order ${outOfOrder} · ` +
          `longest gap ${(longestGapMs / 1000).toFixed(2)} s`,
      );
    }, 1000);

/** Builds the final report; `upTo` is the highest seq known to exist, if known. */
function report(upTo?: number): ClientReport {
  return {
    ...counter.counts(upTo),
    received: counter.received,
    highest: counter.highest,
    gaps,
    longestGapMs,
    longestGapEndedAt,
    pings,
    pongs,
    closed,
  };
}

async function stop(upTo?: number, waitMs = 0): Promise<void> {
  if (stopping) return;
  const deadline = Date.now() + waitMs;
  while (upTo !== undefined && counter.highest < upTo && Date.now() < deadline && !closed) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  stopping = true;
  clearInterval(progress);
  clearInterval(status);
  const final = report(upTo);
  tell({ type: 'report', report: final, at: Date.now() });
  if (!underParent) {
    say(
      `report: expected ${final.expected} · received ${final.received} · lost ${final.lost} · ` +
        `duplicated ${final.duplicated} · out of order ${final.outOfOrder} · ` +
        `longest gap ${(final.longestGapMs / 1000).toFixed(2)} s · ` +
        `pings answered ${final.pongs}/${final.pings}` +
        (final.closed ? ` · CLOSED ${final.closed.code} ${final.closed.reason}` : ''),
    );
  }
  dispose();
  await client.dispose();
  const failed = final.lost + final.duplicated + final.outOfOrder > 0 || final.closed !== undefined;
  process.exitCode = failed ? 1 : 0;
  // Let the IPC message flush, then leave.
  setTimeout(() => process.exit(), 50);
}

process.on('message', (message: { type?: string; upTo?: number; waitMs?: number }) => {
  if (message.type === 'stop') void stop(message.upTo, message.waitMs);
});
process.on('disconnect', () => void stop());
process.on('SIGINT', () => void stop());
process.on('SIGTERM', () => void stop());
if (durationS !== undefined) setTimeout(() => void stop(), durationS * 1000);
say(`subscribing to ticks(after: ${after}) through ${url}`);
