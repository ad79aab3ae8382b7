/**
 * Prometheus metrics through prom-client (the standard Node client: text format, histograms,
 * per-registry isolation). Hot-path counts are plain numbers the sessions bump; they are turned
 * into counter increments only when Prometheus scrapes, so an unscraped gateway pays nothing.
 *
 * @module
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { UpstreamState } from './hooks.js';

/** Frame and byte counts each way, bumped by the sessions on every frame. */
export interface TrafficCounts {
  clientFrames: number;
  clientBytes: number;
  upstreamFrames: number;
  upstreamBytes: number;
}

/** What a session reports; one instance per gateway. */
export interface GatewayMetrics {
  /** The registry to expose (`await registry.metrics()`). */
  readonly registry: Registry;
  readonly traffic: TrafficCounts;
  sessionOpened(): void;
  sessionClosed(code: number): void;
  /** A session's upstream moved from `previous` (undefined for a new session) to `next`. */
  upstreamState(previous: UpstreamState | undefined, next: UpstreamState): void;
  reconnectAttempt(outcome: 'success' | 'failure'): void;
  /** An outage ended: from losing the upstream to restored state, in ms. */
  outageEnded(durationMs: number): void;
  /** Restore on a new upstream socket took this long, in ms. */
  restored(durationMs: number): void;
  /** A hook counted an event (`graphql-ws` / `subscriptions_restored`). */
  hookEvent(hook: string, event: string, count: number): void;
  /** Reports the frames and bytes waiting in session queues when scraped. */
  setQueueProbe(probe: () => { frames: number; bytes: number }): void;
  /** A client presented a resume token; `outcome` is what came of it. */
  sessionResume(outcome: 'resumed' | 'unknown' | 'forbidden' | 'unavailable'): void;
  /** A batch of session writes went to the store (`written` sessions, or `failed`). */
  storeWrite(result: 'written' | 'failed' | 'stale', sessions: number, durationMs: number): void;
  /** Whether the last call to the session store succeeded. */
  storeAvailable(up: boolean): void;
}

/** States a live session's upstream can be in (`closed` ends the session). */
const STATES: readonly UpstreamState[] = ['connecting', 'restoring', 'open', 'waiting'];
const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

/** A counter fed from a plain number: each scrape adds what the number grew by since the last. */
function counterFrom(registry: Registry, name: string, help: string, read: () => number): void {
  let reported = 0;
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      const now = read();
      this.inc(now - reported);
      reported = now;
    },
  });
}

/** Creates the metrics of one gateway, each prefixed `subgate_`. */
export function createMetrics(): GatewayMetrics {
  const registry = new Registry();
  const traffic: TrafficCounts = {
    clientFrames: 0,
    clientBytes: 0,
    upstreamFrames: 0,
    upstreamBytes: 0,
  };
  let queueProbe = (): { frames: number; bytes: number } => ({ frames: 0, bytes: 0 });

  const sessions = new Gauge({
    name: 'subgate_client_sessions',
    help: 'Live client sessions',
    registers: [registry],
  });
  const upstreams = new Gauge({
    name: 'subgate_upstream_connections',
    help: 'Sessions by the state of their upstream link',
    labelNames: ['state'],
    registers: [registry],
  });
  for (const state of STATES) upstreams.set({ state }, 0);
  const attempts = new Counter({
    name: 'subgate_reconnect_attempts_total',
    help: 'Upstream reconnect attempts by outcome',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const outages = new Histogram({
    name: 'subgate_outage_duration_seconds',
    help: 'From losing an upstream socket to state restored on a new one',
    buckets: SECONDS,
    registers: [registry],
  });
  const restores = new Histogram({
    name: 'subgate_restore_duration_seconds',
    help: 'From a new upstream socket opening to live traffic flowing (hooks restored state)',
    buckets: SECONDS,
    registers: [registry],
  });
  const closes = new Counter({
    name: 'subgate_client_closes_total',
    help: 'Ended client sessions by close code',
    labelNames: ['code'],
    registers: [registry],
  });
  const hookEvents = new Counter({
    name: 'subgate_hook_events_total',
    help: 'Events counted by hooks (frames replayed, subscriptions restored, events deduplicated …)',
    labelNames: ['hook', 'event'],
    registers: [registry],
  });
  counterFrom(
    registry,
    'subgate_client_frames_total',
    'Frames from clients',
    () => traffic.clientFrames,
  );
  counterFrom(
    registry,
    'subgate_client_bytes_total',
    'Bytes from clients',
    () => traffic.clientBytes,
  );
  counterFrom(
    registry,
    'subgate_upstream_frames_total',
    'Frames from the target',
    () => traffic.upstreamFrames,
  );
  counterFrom(
    registry,
    'subgate_upstream_bytes_total',
    'Bytes from the target',
    () => traffic.upstreamBytes,
  );
  new Gauge({
    name: 'subgate_queued_frames',
    help: 'Client frames waiting for the upstream, all sessions',
    registers: [registry],
    collect() {
      this.set(queueProbe().frames);
    },
  });
  new Gauge({
    name: 'subgate_queued_bytes',
    help: 'Bytes of client frames waiting for the upstream, all sessions',
    registers: [registry],
    collect() {
      this.set(queueProbe().bytes);
    },
  });

  const resumes = new Counter({
    name: 'subgate_session_resumes_total',
    help: 'Resume tokens presented by clients, by outcome (resumed, unknown, forbidden, unavailable)',
    labelNames: ['outcome'],
    registers: [registry],
  });
  const storeWrites = new Counter({
    name: 'subgate_session_store_writes_total',
    help: 'Sessions written to the session store, by result (written, failed, stale)',
    labelNames: ['result'],
    registers: [registry],
  });
  const storeBatches = new Histogram({
    name: 'subgate_session_store_batch_duration_seconds',
    help: 'Round trip of one batch of session writes',
    buckets: SECONDS,
    registers: [registry],
  });
  const storeUp = new Gauge({
    name: 'subgate_session_store_up',
    help: '1 when the last call to the session store succeeded, else 0',
    registers: [registry],
  });
  storeUp.set(1);

  return {
    registry,
    traffic,
    sessionResume: (outcome) => resumes.inc({ outcome }),
    storeWrite(result, count, ms) {
      storeWrites.inc({ result }, count);
      if (result !== 'failed') storeBatches.observe(ms / 1000);
    },
    storeAvailable: (up) => storeUp.set(up ? 1 : 0),
    sessionOpened: () => sessions.inc(),
    sessionClosed(code) {
      sessions.dec();
      closes.inc({ code: String(code) });
    },
    upstreamState(previous, next) {
      if (previous !== undefined) upstreams.dec({ state: previous });
      if (next !== 'closed') upstreams.inc({ state: next });
    },
    reconnectAttempt: (outcome) => attempts.inc({ outcome }),
    outageEnded: (ms) => outages.observe(ms / 1000),
    restored: (ms) => restores.observe(ms / 1000),
    hookEvent: (hook, event, count) => hookEvents.inc({ hook, event }, count),
    setQueueProbe(probe) {
      queueProbe = probe;
    },
  };
}
