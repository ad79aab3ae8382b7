/**
 * Where sessions live between a client's connections: the {@link SessionStore} interface, and the
 * in-memory store that is the embedded default (one gateway process; nothing to install). The
 * Redis store (`redis-session-store.ts`) shares it between instances.
 *
 * A store knows nothing of tokens: it is addressed by a key derived from the token (a hash), so
 * that reading the store does not hand out tokens.
 *
 * @module
 */

/** One persisted session, as a store holds it. */
export interface StoredSession {
  /** Keyed hash of the credentials the session's token is bound to. */
  readonly binding: string;
  /**
   * Raised by one each time a gateway instance takes the session over ({@link SessionStore.claim});
   * a write carrying an older epoch is refused, so an instance that lost the session cannot
   * overwrite the state of the one that has it now.
   */
  readonly epoch: number;
  /** Each hook's snapshot, by hook name, as JSON text. */
  readonly state: string;
}

/** A write of one session; see {@link SessionStore.save}. */
export interface SessionWrite {
  readonly key: string;
  readonly session: StoredSession;
  /** Time to live from now, ms. */
  readonly ttl: number;
}

/** What {@link SessionStore.claim} finds. */
export type ClaimResult = StoredSession | 'unknown' | 'forbidden';

/** Per write of {@link SessionStore.save}: `'stale'` when the stored epoch is newer (refused). */
export type SaveResult = 'saved' | 'stale';

/**
 * A session store. Every method may reject when the store is unreachable; the gateway then keeps
 * serving its live sessions and retries its writes (degraded: no resume across instances).
 */
export interface SessionStore {
  /** `'memory'` for a store private to this process, `'shared'` for one other instances read. */
  readonly kind: 'memory' | 'shared';
  /**
   * Takes over the session under `key` when it is bound to `binding`: raises its epoch, restarts
   * its TTL, and returns it with the new epoch. `'unknown'` when there is none (never issued, or
   * expired); `'forbidden'` when it is bound to other credentials (then nothing changes).
   */
  claim(key: string, binding: string, ttl: number): Promise<ClaimResult>;
  /** Writes many sessions in one round trip; each is refused (`'stale'`) when a newer epoch is stored. */
  save(writes: readonly SessionWrite[]): Promise<SaveResult[]>;
  /** Releases connections and timers. */
  close(): Promise<void>;
  /**
   * Calls `listener` each time the store is reachable again after losing its connection: its
   * content may be gone (a Redis restarted without persistence), so the gateway writes every live
   * session again.
   */
  onReconnect?(listener: () => void): void;
}

/** Options of {@link createMemorySessionStore}. */
export interface MemorySessionStoreOptions {
  /** Sessions kept at most; the one written longest ago goes first. @default 100000 */
  readonly maxSessions?: number;
  /** Clock in ms; injectable for tests. @default Date.now */
  readonly now?: () => number;
}

/**
 * A store in this process's memory, bounded in count, entries dropped once their TTL has passed.
 * It serves clients that reconnect to the same gateway process; it does not survive the process.
 *
 * @example
 * ```ts
 * const store = createMemorySessionStore({ maxSessions: 10_000 });
 * ```
 */
export function createMemorySessionStore(options: MemorySessionStoreOptions = {}): SessionStore {
  const maxSessions = options.maxSessions ?? 100_000;
  const now = options.now ?? Date.now;
  // Insertion order is write order (an entry is deleted before it is set again): the first key
  // is the one written longest ago.
  const entries = new Map<string, { session: StoredSession; expiresAt: number }>();
  const live = (key: string): { session: StoredSession; expiresAt: number } | undefined => {
    const entry = entries.get(key);
    if (entry !== undefined && entry.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  const put = (key: string, session: StoredSession, ttl: number): void => {
    entries.delete(key);
    entries.set(key, { session, expiresAt: now() + ttl });
    if (entries.size > maxSessions) entries.delete(entries.keys().next().value!);
  };
  const sweep = setInterval(() => {
    const t = now();
    for (const [key, entry] of entries) if (entry.expiresAt <= t) entries.delete(key);
  }, 10_000);
  sweep.unref();
  return {
    kind: 'memory',
    claim(key, binding, ttl) {
      const entry = live(key);
      if (entry === undefined) return Promise.resolve('unknown');
      if (entry.session.binding !== binding) return Promise.resolve('forbidden');
      const session = { ...entry.session, epoch: entry.session.epoch + 1 };
      put(key, session, ttl);
      return Promise.resolve(session);
    },
    save(writes) {
      return Promise.resolve(
        writes.map(({ key, session, ttl }): SaveResult => {
          const stored = live(key);
          if (stored !== undefined && stored.session.epoch > session.epoch) return 'stale';
          put(key, session, ttl);
          return 'saved';
        }),
      );
    },
    close() {
      clearInterval(sweep);
      entries.clear();
      return Promise.resolve();
    },
  };
}
