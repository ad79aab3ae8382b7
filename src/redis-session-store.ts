/**
 * The Redis session store: sessions shared by every gateway instance that points at the same
 * Redis, so a client whose instance vanished resumes on another one.
 *
 * Each session is a small hash (`binding`, `epoch`, `state`) under `subgate:session:<key>` with
 * a TTL. Claims and writes are Lua scripts, so the epoch check and the write are one atomic step;
 * a batch of writes is one pipeline (one round trip). Commands fail at once while Redis is
 * unreachable (no offline queue), and within 2 s when it is frozen behind an open connection
 * (`commandTimeout`), so a Redis outage never piles writes up in memory nor holds a client: the
 * gateway retries them on its next write interval, and ioredis reconnects in the background.
 *
 * @module
 */
import { Redis } from 'ioredis';
import type { Logger } from './log.js';
import type { SaveResult, SessionStore, StoredSession } from './session-store.js';

/** Prefix of every key subgate writes. */
export const REDIS_KEY_PREFIX = 'subgate:session:';

/**
 * KEYS[1] session; ARGV binding, ttl. Returns 0 (unknown), 1 (other binding), or { epoch, state }
 * after raising the epoch.
 */
const CLAIM = `
local binding = redis.call('HGET', KEYS[1], 'binding')
if not binding then return 0 end
if binding ~= ARGV[1] then return 1 end
local epoch = redis.call('HINCRBY', KEYS[1], 'epoch', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return { epoch, redis.call('HGET', KEYS[1], 'state') }
`;

/** KEYS[1] session; ARGV epoch, binding, state, ttl. Returns 1 when written, 0 when stale. */
const SAVE = `
local stored = redis.call('HGET', KEYS[1], 'epoch')
if stored and tonumber(stored) > tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'binding', ARGV[2], 'state', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
`;

interface ScriptedRedis extends Redis {
  subgateClaim(key: string, binding: string, ttl: number): Promise<0 | 1 | [number, string]>;
  subgateSave(key: string, epoch: number, binding: string, state: string, ttl: number): unknown;
}

/**
 * Connects to Redis at `url` (`redis://[:password@]host:port[/db]`, or `rediss://` for TLS).
 * Returns at once; the connection is made (and remade) in the background, and logged.
 *
 * @example
 * ```ts
 * createGateway({ target, sessionStore: createRedisSessionStore('redis://127.0.0.1:6379', log) });
 * ```
 */
export function createRedisSessionStore(url: string, log: Logger): SessionStore {
  const redis = new Redis(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    // A Redis that is frozen behind an open connection answers nothing: fail the call instead
    // of holding a resuming client (or the next batch of writes) forever.
    commandTimeout: 2000,
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 2000),
  }) as ScriptedRedis;
  redis.defineCommand('subgateClaim', { numberOfKeys: 1, lua: CLAIM });
  redis.defineCommand('subgateSave', { numberOfKeys: 1, lua: SAVE });
  let up = false;
  let connectedBefore = false;
  const reconnected: (() => void)[] = [];
  redis.on('ready', () => {
    up = true;
    log.info({ store: 'redis' }, 'session store connected');
    if (connectedBefore) for (const listener of reconnected) listener();
    connectedBefore = true;
  });
  redis.on('error', (error: Error) => {
    if (up) log.warn({ err: error, store: 'redis' }, 'session store unreachable');
    up = false;
  });
  const key = (k: string): string => REDIS_KEY_PREFIX + k;
  return {
    kind: 'shared',
    async claim(k, binding, ttl) {
      const reply = await redis.subgateClaim(key(k), binding, ttl);
      if (reply === 0) return 'unknown';
      if (reply === 1) return 'forbidden';
      const [epoch, state] = reply;
      return { epoch: Number(epoch), binding, state } satisfies StoredSession;
    },
    async save(writes) {
      if (writes.length === 0) return [];
      const pipeline = redis.pipeline() as unknown as ScriptedRedis & {
        exec(): Promise<[Error | null, unknown][] | null>;
      };
      for (const { key: k, session, ttl } of writes) {
        pipeline.subgateSave(key(k), session.epoch, session.binding, session.state, ttl);
      }
      const replies = await pipeline.exec();
      if (replies === null) throw new Error('the Redis pipeline was discarded');
      return replies.map(([error, reply]): SaveResult => {
        if (error !== null) throw error;
        return reply === 1 ? 'saved' : 'stale';
      });
    },
    onReconnect(listener) {
      reconnected.push(listener);
    },
    async close() {
      try {
        await redis.quit();
      } catch {
        redis.disconnect();
      }
    },
  };
}
