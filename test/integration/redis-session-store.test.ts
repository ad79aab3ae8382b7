/**
 * The Redis session store (issue 8) against a real private Redis: the store's contract (claim,
 * epochs, bindings, batches, TTL), its behaviour while Redis is down and after it comes back, and
 * two gateway instances sharing it, so that a client continues its session on the other instance
 * exactly after the last event it received. Skipped, saying so, only when `redis-server` is not
 * installed.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { SESSION_FORBIDDEN, SESSION_UNKNOWN, SUBGATE_KEY } from '../../src/client.js';
import {
  CloseCode,
  createLogger,
  createRedisSessionStore,
  REDIS_KEY_PREFIX,
  type Gateway,
  type GatewayOptions,
  type SessionStore,
  type SessionWrite,
} from '../../src/index.js';
import { findRedisServer, startRedis, type RedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { startGateway, startGraphqlTarget, type TestLike } from '../fixtures/graphql-harness.js';
import { leaveAfterEvents, rawClient, tokenOf } from '../fixtures/graphql-raw-client.js';

const REDIS_SKIP =
  findRedisServer() === undefined
    ? 'redis-server is not installed: run .ci/install-packages.sh redis-server (Debian: apt-get install redis-server)'
    : false;

/** Generous: the machines running this are 2-core and loaded. */
const DEADLINE = 15_000;
/** How long a store call may take to fail while Redis is down (it should fail at once). */
const PROMPT_MS = 3_000;
const TEST_TIMEOUT = 90_000;
const SECRET = 'redis-session-store-test-secret-0123456789';
const TICKS =
  'subscription Ticks($after: Int, $until: Int) { ticks(after: $after, until: $until) { seq } }';
const SUBSCRIBE_TICKS = {
  id: 's1',
  type: 'subscribe',
  payload: { query: TICKS, variables: { after: 0, until: 100_000 } },
} as const;

const silent = createLogger('silent');

/** The store key of a token, as the gateway derives it (the store never sees the token). */
const keyOf = (token: string): string =>
  REDIS_KEY_PREFIX + createHash('sha256').update(token).digest('base64url');

/**
 * A cleanup scope whose callbacks run last-registered first, all of them, after the test: clients
 * go before gateways, gateways before Redis (`t.after` alone runs them first-registered first).
 */
function scope(t: TestContext): TestLike {
  const stack: (() => unknown)[] = [];
  t.after(async () => {
    const errors: unknown[] = [];
    for (let fn = stack.pop(); fn !== undefined; fn = stack.pop()) {
      try {
        await fn();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'cleanup failed');
  });
  return { after: (fn) => void stack.push(fn), diagnostic: (message) => t.diagnostic(message) };
}

/** A private Redis, stopped after the test. */
async function redisFor(s: TestLike): Promise<RedisServer> {
  const redis = await startRedis();
  s.after(() => redis.stop());
  return redis;
}

/** A plain ioredis client to look at what the store wrote; disconnected after the test. */
function inspect(s: TestLike, redis: RedisServer): Redis {
  const client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  client.on('error', () => {}); // reconnects in the background while Redis is down
  s.after(() => client.disconnect());
  return client;
}

/** A store on `redis`, closed after the test, once it answers (it connects in the background). */
async function storeFor(s: TestLike, redis: RedisServer): Promise<SessionStore> {
  const store = createRedisSessionStore(redis.url, silent);
  s.after(() => store.close());
  await untilUsable(store, 'the store connects');
  return store;
}

/** Polls (with a deadline) until a claim of a key nobody wrote answers instead of rejecting. */
function untilUsable(store: SessionStore, message: string): Promise<void> {
  return waitFor(
    () =>
      store.claim('probe-never-written', 'b', 1000).then(
        (result) => result === 'unknown',
        () => false,
      ),
    { timeout: DEADLINE, interval: 50, message },
  );
}

const write = (key: string, epoch: number, state: string, ttl = 60_000): SessionWrite => ({
  key,
  ttl,
  session: { binding: 'binding-a', epoch, state },
});

/**
 * How `promise` settles, and how long it took; fails the test when it has not settled within
 * `limit` ms (then it hung).
 */
async function settleWithin<T>(
  promise: Promise<T>,
  limit: number,
  what: string,
): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled within ${limit} ms`)), limit);
  });
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ ms: performance.now() - started, value }),
        (error: unknown) => ({ ms: performance.now() - started, error }),
      ),
      hung,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Gateway options sharing `redis` with every other instance of the test. */
const shared = (
  redis: RedisServer,
  more: Partial<GatewayOptions> = {},
): Partial<GatewayOptions> => ({
  sessionStore: redis.url as `redis://${string}`,
  sessionSecret: SECRET,
  sessionWriteInterval: 10,
  ...more,
});

/** A private Redis, a client to inspect it, the GraphQL target, and two gateways sharing Redis. */
async function deployment(t: TestContext, more: Partial<GatewayOptions> = {}) {
  const s = scope(t);
  const redis = await redisFor(s);
  const inspector = inspect(s, redis);
  const gql = await startGraphqlTarget(s);
  const gateway1 = await startGateway(s, gql.target.url, undefined, shared(redis, more));
  const gateway2 = await startGateway(s, gql.target.url, undefined, shared(redis, more));
  return { s, redis, inspector, gql, gateway1, gateway2 };
}

/** The graphql-ws cursors stored under `key` (by subscription id), once its `state` field parses. */
async function storedCursors(
  inspector: Redis,
  key: string,
): Promise<Record<string, unknown> | undefined> {
  const state = await inspector.hget(key, 'state');
  if (state === null) return undefined;
  const operations = (
    JSON.parse(state) as {
      'graphql-ws'?: { operations?: Record<string, { cursor: unknown; operation: string }> };
    }
  )['graphql-ws']?.operations;
  if (operations === undefined) return undefined;
  return Object.fromEntries(Object.entries(operations).map(([id, point]) => [id, point.cursor]));
}

/**
 * A client that opens a session on `gateway` with `credentials`, subscribes to ticks, receives
 * `count` events and leaves with a clean close (1000). Resolves once the gateway has ended the
 * session and Redis holds the cursor of the last event the client received (writes are batched),
 * with the session's token, that last event and how the socket closed.
 */
async function leaveSession(
  s: TestLike,
  gateway: Gateway,
  inspector: Redis,
  credentials: Record<string, unknown>,
  count: number,
): Promise<{ token: string; last: number; closed: { code: number; reason: string } }> {
  const { token, last, closed } = await leaveAfterEvents(
    s,
    gateway,
    credentials,
    SUBSCRIBE_TICKS,
    count,
  );
  await waitFor(async () => (await storedCursors(inspector, keyOf(token)))?.['s1'] === last, {
    timeout: DEADLINE,
    interval: 20,
    message: `cursor ${last} stored in Redis`,
  });
  return { token, last, closed };
}

test(
  'redis store: claim raises the epoch, other bindings and older epochs are refused, batches, TTL',
  { skip: REDIS_SKIP, timeout: TEST_TIMEOUT },
  async (t) => {
    const s = scope(t);
    const redis = await redisFor(s);
    const inspector = inspect(s, redis);
    const store = await storeFor(s, redis);
    assert.equal(store.kind, 'shared');

    // save, then claim: the state comes back with the epoch raised by one.
    assert.deepEqual(await store.save([write('k1', 0, '{"hook":{"cursor":7}}')]), ['saved']);
    assert.deepEqual(await inspector.hgetall(`${REDIS_KEY_PREFIX}k1`), {
      binding: 'binding-a',
      epoch: '0',
      state: '{"hook":{"cursor":7}}',
    });
    assert.deepEqual(await store.claim('k1', 'binding-a', 60_000), {
      binding: 'binding-a',
      epoch: 1,
      state: '{"hook":{"cursor":7}}',
    });

    // Another binding is refused and changes nothing: the next correct claim gets epoch 2.
    assert.equal(await store.claim('k1', 'binding-b', 60_000), 'forbidden');
    assert.equal(await inspector.hget(`${REDIS_KEY_PREFIX}k1`, 'epoch'), '1');
    const second = await store.claim('k1', 'binding-a', 5_000);
    assert.ok(typeof second === 'object', `claimed, got ${String(second)}`);
    assert.equal(second.epoch, 2, 'a refused claim did not raise the epoch');
    // A claim restarts the TTL with the claimer's value.
    const pttl = await inspector.pttl(`${REDIS_KEY_PREFIX}k1`);
    assert.ok(pttl > 0 && pttl <= 5_000, `PTTL after a claim with ttl 5000: ${pttl}`);

    assert.equal(await store.claim('never-written', 'binding-a', 60_000), 'unknown');

    // A write with an older epoch is refused and leaves the stored session as it was; one with
    // the stored epoch (the claimer's own writes) goes through. Results are in write order.
    assert.deepEqual(
      await store.save([write('k1', 1, '{"hook":{"cursor":1}}'), write('k2', 0, '{}')]),
      ['stale', 'saved'],
    );
    assert.deepEqual(await inspector.hgetall(`${REDIS_KEY_PREFIX}k1`), {
      binding: 'binding-a',
      epoch: '2',
      state: '{"hook":{"cursor":7}}',
    });
    assert.deepEqual(await store.save([write('k1', 2, '{"hook":{"cursor":9}}')]), ['saved']);
    assert.equal(await inspector.hget(`${REDIS_KEY_PREFIX}k1`, 'state'), '{"hook":{"cursor":9}}');

    // A batch of 100 writes in one save: 100 results, 100 keys.
    const keys = Array.from({ length: 100 }, (_, i) => `batch-${i}`);
    const results = await store.save(keys.map((k, i) => write(k, 0, JSON.stringify({ i }))));
    assert.equal(results.length, 100);
    assert.ok(
      results.every((r) => r === 'saved'),
      JSON.stringify(results),
    );
    assert.equal(await inspector.exists(...keys.map((k) => REDIS_KEY_PREFIX + k)), 100);
    assert.equal(await inspector.hget(`${REDIS_KEY_PREFIX}batch-99`, 'state'), '{"i":99}');
    assert.deepEqual(await store.save([]), []);

    // TTL: gone once Redis says so, and then unknown to claim.
    assert.deepEqual(await store.save([write('short', 0, '{}', 1000)]), ['saved']);
    const shortTtl = await inspector.pttl(`${REDIS_KEY_PREFIX}short`);
    assert.ok(shortTtl > 0 && shortTtl <= 1000, `PTTL of a 1000 ms session: ${shortTtl}`);
    await waitFor(async () => (await inspector.exists(`${REDIS_KEY_PREFIX}short`)) === 0, {
      timeout: DEADLINE,
      interval: 50,
      message: 'Redis expired the 1000 ms session',
    });
    assert.equal(await store.claim('short', 'binding-a', 60_000), 'unknown');
  },
);

test(
  'redis store: while Redis is down claim and save fail at once; the same store works after a restart',
  { skip: REDIS_SKIP, timeout: TEST_TIMEOUT },
  async (t) => {
    const s = scope(t);
    const redis = await redisFor(s);
    const store = await storeFor(s, redis);
    assert.deepEqual(await store.save([write('before', 0, '{}')]), ['saved']);

    await redis.kill();
    // Right after the kill (ioredis notices the close) and again while it is reconnecting.
    for (const when of ['just after the kill', 'during reconnect attempts']) {
      if (when !== 'just after the kill') await new Promise((r) => setTimeout(r, 500));
      const claim = await settleWithin(
        store.claim('before', 'binding-a', 60_000),
        PROMPT_MS,
        `claim ${when}`,
      );
      assert.ok(claim.error instanceof Error, `claim ${when} rejects: ${JSON.stringify(claim)}`);
      const save = await settleWithin(
        store.save([write('during', 0, '{}')]),
        PROMPT_MS,
        `save ${when}`,
      );
      assert.ok(save.error instanceof Error, `save ${when} rejects: ${JSON.stringify(save)}`);
      t.diagnostic(
        `${when}: claim rejected in ${claim.ms.toFixed(1)} ms, save in ${save.ms.toFixed(1)} ms`,
      );
    }
    // Several at once: none hangs.
    const many = await settleWithin(
      Promise.allSettled([
        ...Array.from({ length: 10 }, () => store.claim('before', 'binding-a', 60_000)),
        ...Array.from({ length: 10 }, () => store.save([write('during', 0, '{}')])),
      ]),
      PROMPT_MS,
      '20 calls at once',
    );
    assert.ok(
      many.value?.every((r) => r.status === 'rejected'),
      `every call rejected: ${JSON.stringify(many.value?.map((r) => r.status))}`,
    );

    await redis.restart();
    await waitFor(
      () =>
        store.save([write('after', 0, '{"back":true}')]).then(
          (r) => r[0] === 'saved',
          () => false,
        ),
      { timeout: DEADLINE, interval: 50, message: 'a save succeeds after the restart' },
    );
    assert.deepEqual(await store.claim('after', 'binding-a', 60_000), {
      binding: 'binding-a',
      epoch: 1,
      state: '{"back":true}',
    });
    // Nothing was persisted across the restart, and nothing written during the outage arrived.
    assert.equal(await store.claim('before', 'binding-a', 60_000), 'unknown');
    assert.equal(await store.claim('during', 'binding-a', 60_000), 'unknown');
  },
);

test(
  'redis store: a frozen Redis (SIGSTOP, connection still open) fails calls within the command timeout',
  { skip: REDIS_SKIP, timeout: TEST_TIMEOUT },
  async (t) => {
    const s = scope(t);
    const redis = await redisFor(s);
    const store = await storeFor(s, redis);
    assert.deepEqual(await store.save([write('k', 0, '{}')]), ['saved']);
    const pid = Number(readFileSync(join(redis.dir, 'redis.pid'), 'utf8'));
    process.kill(pid, 'SIGSTOP');
    let frozen = true;
    t.after(() => {
      if (frozen) process.kill(pid, 'SIGCONT');
    });
    const claim = await settleWithin(store.claim('k', 'binding-a', 60_000), DEADLINE, 'claim');
    const save = await settleWithin(store.save([write('k', 0, '{}')]), DEADLINE, 'save');
    t.diagnostic(
      `frozen Redis: claim failed after ${claim.ms.toFixed(0)} ms, save after ${save.ms.toFixed(0)} ms`,
    );
    assert.ok(claim.error instanceof Error, 'the claim fails instead of hanging');
    assert.ok(save.error instanceof Error, 'the save fails instead of hanging');
    process.kill(pid, 'SIGCONT');
    frozen = false;
    // The timed-out claim still runs once Redis thaws (epoch 1): a later write needs a newer one.
    await waitFor(
      () =>
        store.save([write('k', 10, '{"thawed":true}')]).then(
          (r) => r[0] === 'saved',
          () => false,
        ),
      { timeout: DEADLINE, interval: 50, message: 'a save succeeds once Redis runs again' },
    );
  },
);

test(
  'two gateways sharing Redis: a client resumes on the other instance right after its last event; misuse refused',
  { skip: REDIS_SKIP, timeout: TEST_TIMEOUT },
  async (t) => {
    const { s, inspector, gql, gateway1, gateway2 } = await deployment(t);
    const credentials = { user: 'carol', password: 'c' };

    const { token, last, closed } = await leaveSession(s, gateway1, inspector, credentials, 50);
    assert.equal(closed.code, 1000);
    const key = keyOf(token);
    assert.deepEqual(await inspector.keys(`${REDIS_KEY_PREFIX}*`), [key]);
    const stored = await inspector.hgetall(key);
    assert.equal(stored['epoch'], '0');
    assert.ok(
      !JSON.stringify(stored).includes('carol') && !JSON.stringify(stored).includes(token),
      `Redis holds neither the token nor the credentials: ${JSON.stringify(stored)}`,
    );

    const second = await rawClient(s, gateway2.url);
    second.send({ type: 'connection_init', payload: { ...credentials, [SUBGATE_KEY]: { token } } });
    assert.equal(tokenOf(await second.ack()), token, 'the session keeps its token');
    second.send(SUBSCRIBE_TICKS);
    const resumed = await second.events(1);
    assert.equal(resumed[0], last + 1, 'continues right after the last event gateway 1 sent');
    assert.equal(await inspector.hget(key, 'epoch'), '1', 'gateway 2 took the session over');
    const subscribes = gql.events().filter((e) => e.type === 'subscribe');
    assert.deepEqual(
      subscribes.map((e) => e.after),
      [0, last],
    );
    await second.events(resumed.length + 20);
    const seqs = second.seqs();
    assert.deepEqual(
      seqs,
      Array.from({ length: seqs.length }, (_, i) => last + 1 + i),
      'no gap, no duplicate on gateway 2',
    );

    // Misuse through gateway 2.
    const forgedToken = randomBytes(32).toString('base64url');
    assert.equal(forgedToken.length, 43);
    const forged = await rawClient(s, gateway2.url);
    forged.send({
      type: 'connection_init',
      payload: { ...credentials, [SUBGATE_KEY]: { token: forgedToken } },
    });
    assert.equal((await forged.closeCode()).code, SESSION_UNKNOWN, 'forged token');
    const thief = await rawClient(s, gateway2.url);
    thief.send({
      type: 'connection_init',
      payload: { user: 'mallory', [SUBGATE_KEY]: { token } },
    });
    const refused = await thief.closeCode();
    assert.equal(refused.code, SESSION_FORBIDDEN, `other credentials: ${JSON.stringify(refused)}`);
    assert.equal(await inspector.hget(key, 'epoch'), '1', 'the refused claim changed nothing');
    assert.equal(second.closed, undefined, 'the owner is still connected');
    await second.events(second.seqs().length + 5);
    const inits = gql.events().filter((e) => e.type === 'init');
    assert.equal(inits.length, 2, 'refused clients never reached the target');
  },
);

test(
  'the stored cursor never runs ahead of what a client closing cleanly (over a slow link) received',
  { skip: REDIS_SKIP, timeout: TEST_TIMEOUT },
  // Events that reach the gateway after the client's close frame, while the closing handshake
  // completes, are never delivered: they must not advance the cursor that is stored, or a client
  // that does not report its own cursors resumes after events it never received.
  async (t) => {
    const { s, inspector, gateway1, gateway2 } = await deployment(t);
    const credentials = { user: 'heidi' };

    const first = await rawClient(s, gateway1.url);
    first.send({ type: 'connection_init', payload: credentials });
    const token = tokenOf(await first.ack());
    first.send(SUBSCRIBE_TICKS);
    await first.events(50);
    // A clean close whose handshake takes 300 ms (a slow link): the client reads nothing
    // meanwhile, then everything the gateway sent, up to its close frame.
    first.ws.close(1000);
    first.ws.pause();
    await new Promise((resolve) => setTimeout(resolve, 300));
    first.ws.resume();
    assert.equal((await first.closeCode()).code, 1000);
    const last = first.seqs().at(-1)!;
    await waitFor(() => gateway1.sessionCount === 0, { timeout: DEADLINE, message: 'ended' });
    // The final write has landed once the stored cursor stops changing.
    let previous: unknown;
    let stableSince = performance.now();
    await waitFor(
      async () => {
        const cursor = (await storedCursors(inspector, keyOf(token)))?.['s1'];
        if (cursor !== previous) [previous, stableSince] = [cursor, performance.now()];
        return cursor !== undefined && performance.now() - stableSince >= 200;
      },
      { timeout: DEADLINE, interval: 20, message: 'the final write' },
    );
    t.diagnostic(`the client received up to ${last}; Redis holds cursor ${String(previous)}`);

    const second = await rawClient(s, gateway2.url);
    second.send({ type: 'connection_init', payload: { ...credentials, [SUBGATE_KEY]: { token } } });
    tokenOf(await second.ack());
    second.send(SUBSCRIBE_TICKS);
    const [next] = await second.events(1);
    assert.equal(next, last + 1, `events ${last + 1}..${next! - 1} were never delivered`);
  },
);

test(
  'a session whose client left is refused with 4410 once Redis expired it (sessionTtl 1000)',
  { skip: REDIS_SKIP, timeout: TEST_TIMEOUT },
  async (t) => {
    const { s, inspector, gateway1: gateway } = await deployment(t, { sessionTtl: 1000 });
    const credentials = { user: 'dave' };
    const leave = async (client: Awaited<ReturnType<typeof rawClient>>): Promise<void> => {
      client.ws.close(1000);
      await client.closeCode();
      await waitFor(() => gateway.sessionCount === 0, {
        timeout: DEADLINE,
        message: 'session ended',
      });
    };

    const owner = await rawClient(s, gateway.url);
    owner.send({ type: 'connection_init', payload: credentials });
    const token = tokenOf(await owner.ack());
    const key = keyOf(token);
    // While the client is connected, its session is re-written before it expires.
    await waitFor(async () => (await inspector.exists(key)) === 1, {
      timeout: DEADLINE,
      message: 'session written',
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(await inspector.exists(key), 1, 'a live session outlives its TTL');
    await leave(owner);

    // Before it expires the token still works (so the 4410 below is the expiry)...
    const back = await rawClient(s, gateway.url);
    back.send({ type: 'connection_init', payload: { ...credentials, [SUBGATE_KEY]: { token } } });
    assert.equal(tokenOf(await back.ack()), token);
    await leave(back);

    // ...then Redis expires it.
    await waitFor(async () => (await inspector.exists(key)) === 0, {
      timeout: DEADLINE,
      interval: 50,
      message: 'Redis expired the session',
    });
    const late = await rawClient(s, gateway.url);
    late.send({ type: 'connection_init', payload: { ...credentials, [SUBGATE_KEY]: { token } } });
    assert.equal((await late.closeCode()).code, SESSION_UNKNOWN, 'expired after sessionTtl');
  },
);

test(
  'Redis down: a resume is refused with 1013, new clients are served live, their sessions are written once Redis is back',
  { skip: REDIS_SKIP, timeout: TEST_TIMEOUT },
  async (t) => {
    const { s, redis, inspector, gateway1: gateway } = await deployment(t);
    const credentials = { user: 'erin' };

    const { token } = await leaveSession(s, gateway, inspector, credentials, 10);

    await redis.kill();
    const resuming = await rawClient(s, gateway.url);
    resuming.send({
      type: 'connection_init',
      payload: { ...credentials, [SUBGATE_KEY]: { token } },
    });
    const unavailable = await resuming.closeCode();
    assert.equal(unavailable.code, CloseCode.TryAgainLater, JSON.stringify(unavailable));

    // Live service continues: a new client gets its ack (with a token) and its events.
    const fresh = await rawClient(s, gateway.url);
    fresh.send({ type: 'connection_init', payload: { user: 'frank' } });
    const freshToken = tokenOf(await fresh.ack());
    fresh.send(SUBSCRIBE_TICKS);
    await fresh.events(50);
    assert.equal(fresh.closed, undefined);

    await redis.restart();
    // The gateway retries its writes: the new client's session appears with a recent cursor.
    const before = fresh.seqs().at(-1)!;
    await waitFor(
      async () => {
        const cursor = (await storedCursors(inspector, keyOf(freshToken)))?.['s1'];
        return typeof cursor === 'number' && cursor >= before;
      },
      { timeout: DEADLINE, interval: 50, message: 'the new session is written after the restart' },
    );
    assert.equal(fresh.closed, undefined, 'the new client was never disturbed');
    // The owner's session did not survive the restart (Redis runs without persistence).
    const gone = await rawClient(s, gateway.url);
    gone.send({ type: 'connection_init', payload: { ...credentials, [SUBGATE_KEY]: { token } } });
    assert.equal((await gone.closeCode()).code, SESSION_UNKNOWN);
  },
);

test(
  'a gateway with a shared store closes its clients with 1012 on close()',
  { skip: REDIS_SKIP, timeout: TEST_TIMEOUT },
  async (t) => {
    const { s, gateway1: gateway } = await deployment(t);
    const client = await rawClient(s, gateway.url);
    client.send({ type: 'connection_init', payload: { user: 'grace' } });
    tokenOf(await client.ack());
    client.send(SUBSCRIBE_TICKS);
    await client.events(5);
    await gateway.close({ drainTimeout: 5000 });
    const closed = await client.closeCode();
    assert.equal(closed.code, CloseCode.ServiceRestart, JSON.stringify(closed));
  },
);
