/**
 * A bounded record of recent outages, for the status page: when each session lost its upstream,
 * how long until its state was restored, and which sessions the gateway gave up on.
 *
 * @module
 */

/** One entry of the {@link Timeline}. */
export interface TimelineEvent {
  /** When it happened (outage: when the upstream was lost), ms since the epoch. */
  readonly at: number;
  readonly kind: 'outage' | 'gave-up';
  readonly sessionId: string;
  /** For `outage`: from losing the upstream to state restored, in ms. */
  readonly durationMs?: number;
  /** For `gave-up`: why. */
  readonly reason?: string;
}

/** Recent events, oldest first, bounded in count and age. */
export interface Timeline {
  outage(sessionId: string, lostAt: number, durationMs: number): void;
  gaveUp(sessionId: string, reason: string): void;
  /** Events of the last `windowMs`, oldest first. */
  recent(): readonly TimelineEvent[];
}

/** Creates a timeline keeping at most `limit` events of the last `windowMs` ms. */
export function createTimeline(
  limit = 500,
  windowMs = 10 * 60_000,
  now: () => number = Date.now,
): Timeline {
  let events: TimelineEvent[] = [];
  const add = (event: TimelineEvent): void => {
    events.push(event);
    if (events.length > limit * 2) events = events.slice(-limit);
  };
  return {
    outage: (sessionId, at, durationMs) => add({ at, kind: 'outage', sessionId, durationMs }),
    gaveUp: (sessionId, reason) => add({ at: now(), kind: 'gave-up', sessionId, reason }),
    recent() {
      const since = now() - windowMs;
      return events.filter((event) => event.at >= since).slice(-limit);
    },
  };
}
