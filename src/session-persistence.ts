/**
 * Sessions that outlive a connection: resume tokens, and the batched writes of hook state to the
 * session store.
 *
 * A hook issues a token for its session ({@link SessionPersistence.issue}) or resumes one a
 * client presented ({@link SessionPersistence.resume}); from then on the session is persisted.
 * Hooks only flag that their state changed; every `writeInterval` ms the gateway takes one
 * snapshot of each changed session and writes them all in one batch (one round trip to Redis),
 * so the cost per event is a flag, not a write. Every session is also re-written every third of
 * its TTL, so a live session never expires, whenever the store reconnected (it may have lost
 * everything), and once more when it closes; it expires `ttl` ms after the last write (after its
 * client left, or its gateway died). A last write that keeps failing is given up once the
 * session would have expired anyway, so a long store outage does not pile up ended sessions.
 *
 * Tokens are 32 random bytes (base64url). The store sees only their SHA-256, and a keyed hash
 * (HMAC-SHA-256 with `secret`) of the credentials a token is bound to.
 *
 * @module
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { ResumeOutcome, SessionPersistence } from './hooks.js';
import type { Logger } from './log.js';
import type { GatewayMetrics } from './metrics.js';
import type { SessionStore, SessionWrite } from './session-store.js';

/** A token as handed out: 32 bytes in base64url, no padding. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/;

/** The persistence of one session, as the session sees it. */
export interface PersistedSession {
  /** The view a hook gets as `ctx.persistence`: state and resume are per hook name. */
  forHook(name: string): SessionPersistence;
  /** The client left: the session is written a last time, with its state as of now. */
  close(): void;
}

/** What {@link createPersistence} needs. */
export interface PersistenceConfig {
  readonly store: SessionStore;
  /** How long a session is kept after the last write, ms. */
  readonly ttl: number;
  /** Key of the credentials hash; instances sharing a store must share it. */
  readonly secret: string;
  /** Interval between batches of writes, ms. */
  readonly writeInterval: number;
  readonly log: Logger;
  readonly metrics: GatewayMetrics;
}

/** The gateway's side: opens per-session persistence, writes batches, drains on close. */
export interface Persistence {
  readonly store: SessionStore;
  /** `snapshot` returns every hook's state by hook name; it is called at write time. */
  open(log: Logger, snapshot: () => Record<string, unknown>): PersistedSession;
  /** Writes every pending change now (waits for a batch already in flight first). */
  flush(): Promise<void>;
  /** Stops the timers and closes the store. */
  close(): Promise<void>;
}

interface Entry {
  key: string;
  binding: string;
  epoch: number;
  snapshot: () => Record<string, unknown>;
  log: Logger;
  /** The state as of the client leaving, once it left. */
  final: string | undefined;
  /** When the client left (`performance.now()`). */
  closedAt: number;
}

const hash = (token: string): string => createHash('sha256').update(token).digest('base64url');

/** Creates the gateway's persistence over a store. */
export function createPersistence(config: PersistenceConfig): Persistence {
  const { store, ttl, log, metrics } = config;
  const bind = (credentials: string): string =>
    createHmac('sha256', config.secret).update(credentials).digest('base64url');
  /** Sessions with a token that are still to be written at least once more. */
  const entries = new Set<Entry>();
  const dirty = new Set<Entry>();
  let inFlight: Promise<void> | undefined;
  let available = true;

  const setAvailable = (up: boolean, error?: unknown): void => {
    metrics.storeAvailable(up);
    if (up === available) return;
    available = up;
    if (up) log.info('session store reachable again; sessions are written again');
    else log.warn({ err: error }, 'session store unreachable; no resume across instances for now');
  };

  const writeBatch = async (): Promise<void> => {
    const batch = [...dirty];
    dirty.clear();
    const writes: SessionWrite[] = [];
    const written: Entry[] = [];
    for (const entry of batch) {
      let state = entry.final;
      if (state === undefined) {
        try {
          state = JSON.stringify(entry.snapshot());
        } catch (error) {
          entry.log.error({ err: error }, 'session state is not serialisable; not written');
          continue;
        }
      }
      writes.push({
        key: entry.key,
        ttl,
        session: { binding: entry.binding, epoch: entry.epoch, state },
      });
      written.push(entry);
    }
    const started = performance.now();
    try {
      const results = await store.save(writes);
      const ms = performance.now() - started;
      setAvailable(true);
      let stale = 0;
      results.forEach((result, i) => {
        const entry = written[i]!;
        if (result === 'stale') {
          stale++;
          entry.log.info('session resumed on another connection; no longer written from here');
          entries.delete(entry);
          dirty.delete(entry);
        } else if (entry.final !== undefined && !dirty.has(entry)) {
          entries.delete(entry);
        }
      });
      metrics.storeWrite('written', written.length - stale, ms);
      if (stale > 0) metrics.storeWrite('stale', stale, ms);
    } catch (error) {
      setAvailable(false, error);
      metrics.storeWrite('failed', written.length, 0);
      const now = performance.now();
      for (const entry of written) {
        if (entry.final !== undefined && now - entry.closedAt > ttl) entries.delete(entry);
        else if (entries.has(entry)) dirty.add(entry);
      }
    }
  };

  const tick = (): void => {
    if (inFlight !== undefined || dirty.size === 0) return;
    inFlight = writeBatch().finally(() => (inFlight = undefined));
  };
  const writer = setInterval(tick, config.writeInterval);
  writer.unref();
  // A live session is written every third of its TTL even when nothing changed, so it never
  // expires while its client is connected.
  const refresher = setInterval(
    () => {
      for (const entry of entries) dirty.add(entry);
    },
    Math.max(1, Math.floor(ttl / 3)),
  );
  refresher.unref();
  store.onReconnect?.(() => {
    log.info({ sessions: entries.size }, 'session store reconnected; writing every session again');
    for (const entry of entries) dirty.add(entry);
  });

  return {
    store,
    open(sessionLog, snapshot) {
      let entry: Entry | undefined;
      let claiming = false;
      let closed = false;
      const changed = (): void => {
        if (entry !== undefined && entry.final === undefined && entries.has(entry))
          dirty.add(entry);
      };
      const adopt = (key: string, binding: string, epoch: number): void => {
        entry = { key, binding, epoch, snapshot, log: sessionLog, final: undefined, closedAt: 0 };
        entries.add(entry);
        dirty.add(entry);
        // The client left while its token was being checked: one last write, as on close.
        if (closed) finalise(entry);
      };
      const finalise = (ended: Entry): void => {
        try {
          ended.final = JSON.stringify(snapshot());
          ended.closedAt = performance.now();
        } catch (error) {
          sessionLog.error({ err: error }, 'session state is not serialisable; not written');
          entries.delete(ended);
          dirty.delete(ended);
        }
      };
      let token: string | undefined;
      return {
        forHook(name) {
          return {
            get token() {
              return token;
            },
            issue(credentials) {
              if (token !== undefined) return token;
              if (claiming) throw new Error('a resume is in progress for this session');
              token = randomBytes(32).toString('base64url');
              adopt(hash(token), bind(credentials), 0);
              return token;
            },
            async resume(presented, credentials): Promise<ResumeOutcome> {
              if (token !== undefined || claiming) {
                throw new Error('this session already has a token');
              }
              if (!TOKEN.test(presented)) {
                metrics.sessionResume('unknown');
                return { status: 'unknown' };
              }
              claiming = true;
              const key = hash(presented);
              let claimed;
              try {
                claimed = await store.claim(key, bind(credentials), ttl);
                setAvailable(true);
              } catch (error) {
                setAvailable(false, error);
                metrics.sessionResume('unavailable');
                return { status: 'unavailable' };
              } finally {
                claiming = false;
              }
              if (claimed === 'unknown' || claimed === 'forbidden') {
                metrics.sessionResume(claimed);
                return { status: claimed };
              }
              let states: Record<string, unknown>;
              try {
                states = JSON.parse(claimed.state) as Record<string, unknown>;
              } catch {
                states = {};
              }
              token = presented;
              adopt(key, claimed.binding, claimed.epoch);
              metrics.sessionResume('resumed');
              return { status: 'resumed', state: states[name] };
            },
            changed,
          };
        },
        close() {
          closed = true;
          if (entry === undefined || !entries.has(entry)) return;
          finalise(entry);
          if (entries.has(entry)) dirty.add(entry);
        },
      };
    },
    async flush() {
      await inFlight;
      if (dirty.size > 0) await writeBatch();
    },
    async close() {
      clearInterval(writer);
      clearInterval(refresher);
      await inFlight;
      await store.close();
    },
  };
}
