/**
 * The gateway's session persistence over a recording store: tokens and their binding, batched
 * writes (a flag per change, one write per session per interval), the last write on close, the
 * epoch fence, and writes retried after the store failed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createLogger,
  createMemorySessionStore,
  type SessionStore,
  type SessionWrite,
} from '../../src/index.js';
import { createMetrics } from '../../src/metrics.js';
import { createPersistence, type Persistence } from '../../src/session-persistence.js';
import { waitFor } from '../helpers/wait.js';

const log = createLogger('silent');
const SECRET = 'unit-test-secret-0123456789abcdef0123';

/** The memory store, recording every batch, and failing while `failing` is set. */
function recordingStore() {
  const inner = createMemorySessionStore();
  const batches: SessionWrite[][] = [];
  const control = { failing: false, reconnect: () => {} };
  const store: SessionStore = {
    onReconnect: (listener) => void (control.reconnect = listener),
    kind: 'shared',
    claim: (key, binding, ttl) =>
      control.failing ? Promise.reject(new Error('down')) : inner.claim(key, binding, ttl),
    save(writes) {
      if (control.failing) return Promise.reject(new Error('down'));
      batches.push([...writes]);
      return inner.save(writes);
    },
    close: () => inner.close(),
  };
  return { store, batches, control };
}

function persistence(store: SessionStore, writeInterval = 20, ttl = 60_000): Persistence {
  return createPersistence({
    store,
    ttl,
    secret: SECRET,
    writeInterval,
    log,
    metrics: createMetrics(),
  });
}

test('10,000 changes between two writes cost one write of the latest state', async (t) => {
  const { store, batches } = recordingStore();
  const p = persistence(store, 50);
  t.after(() => p.close());
  let cursor = 0;
  const session = p.open(log, () => ({ hook: { cursor } }));
  const hook = session.forHook('hook');
  hook.issue('credentials');
  await waitFor(() => batches.length === 1, { timeout: 5000, message: 'first write' });
  for (let i = 0; i < 10_000; i++) {
    cursor++;
    hook.changed();
  }
  await waitFor(() => batches.length === 2, { timeout: 5000, message: 'second write' });
  await p.flush();
  assert.equal(batches.length, 2, 'one write per interval, not one per change');
  assert.equal(batches[1]!.length, 1);
  assert.deepEqual(JSON.parse(batches[1]![0]!.session.state), { hook: { cursor: 10_000 } });
});

test('sessions changed in the same interval go in one batch', async (t) => {
  const { store, batches } = recordingStore();
  const p = persistence(store, 1000);
  t.after(() => p.close());
  for (let i = 0; i < 50; i++)
    p.open(log, () => ({ hook: i }))
      .forHook('hook')
      .issue(`c${i}`);
  await p.flush();
  assert.equal(batches.length, 1);
  assert.equal(batches[0]!.length, 50);
});

test('a token resumes with its credentials only, and hands back the hook state', async (t) => {
  const { store } = recordingStore();
  const p = persistence(store);
  t.after(() => p.close());
  const first = p.open(log, () => ({ hook: { cursor: 41 }, other: 'x' }));
  const token = first.forHook('hook').issue('alice');
  assert.match(token, /^[A-Za-z0-9_-]{43}$/);
  first.close();
  await p.flush();

  const thief = p.open(log, () => ({})).forHook('hook');
  assert.deepEqual(await thief.resume(token, 'mallory'), { status: 'forbidden' });
  assert.equal(thief.token, undefined);
  const forged = p.open(log, () => ({})).forHook('hook');
  assert.deepEqual(await forged.resume('x'.repeat(43), 'alice'), { status: 'unknown' });
  assert.deepEqual(await forged.resume('short', 'alice'), { status: 'unknown' });
  const owner = p.open(log, () => ({})).forHook('hook');
  assert.deepEqual(await owner.resume(token, 'alice'), {
    status: 'resumed',
    state: { cursor: 41 },
  });
  assert.equal(owner.token, token);
});

test('the state as of the client leaving is written once more, then never again', async (t) => {
  const { store, batches } = recordingStore();
  const p = persistence(store, 10);
  t.after(() => p.close());
  let cursor = 1;
  const session = p.open(log, () => ({ hook: { cursor } }));
  session.forHook('hook').issue('c');
  await p.flush();
  cursor = 2;
  session.close();
  cursor = 3; // the hooks let go of their state after close: not what is written
  await p.flush();
  assert.deepEqual(JSON.parse(batches.at(-1)![0]!.session.state), { hook: { cursor: 2 } });
  const count = batches.length;
  session.forHook('hook').changed();
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(batches.length, count, 'nothing written after the last write');
});

test('an instance that lost the session to another stops writing it (epoch fence)', async (t) => {
  const { store, batches } = recordingStore();
  const p = persistence(store, 10);
  t.after(() => p.close());
  let old = 'old';
  const first = p.open(log, () => ({ hook: old }));
  const token = first.forHook('hook').issue('c');
  await p.flush();
  const second = p.open(log, () => ({ hook: 'new' }));
  assert.equal((await second.forHook('hook').resume(token, 'c')).status, 'resumed');
  await p.flush();
  old = 'stale';
  first.forHook('hook').changed();
  await p.flush();
  const claimed = await store.claim(batches[0]![0]!.key, batches[0]![0]!.session.binding, 1000);
  assert.ok(typeof claimed === 'object');
  assert.deepEqual(JSON.parse(claimed.state), { hook: 'new' }, 'the stale write was refused');
});

test('writes that failed while the store was down are written once it is back', async (t) => {
  const { store, batches, control } = recordingStore();
  const p = persistence(store, 10);
  t.after(() => p.close());
  control.failing = true;
  const hook = p.open(log, () => ({ hook: 'state' })).forHook('hook');
  const token = hook.issue('c');
  await p.flush();
  assert.equal(batches.length, 0);
  const other = p.open(log, () => ({})).forHook('hook');
  assert.deepEqual(await other.resume(token, 'c'), { status: 'unavailable' });
  control.failing = false;
  await waitFor(() => batches.length > 0, { timeout: 5000, message: 'written after recovery' });
  assert.equal((await other.resume(token, 'c')).status, 'resumed');
});

test('a store that reconnected (maybe empty) gets every live session again, idle ones too', async (t) => {
  const { store, batches, control } = recordingStore();
  const p = persistence(store, 10);
  t.after(() => p.close());
  for (let i = 0; i < 3; i++)
    p.open(log, () => ({ hook: i }))
      .forHook('hook')
      .issue(`c${i}`);
  const gone = p.open(log, () => ({ hook: 'gone' }));
  gone.forHook('hook').issue('c-gone');
  gone.close();
  await p.flush();
  assert.equal(batches.length, 1);
  control.reconnect();
  await p.flush();
  assert.equal(batches.length, 2);
  assert.deepEqual(
    batches[1]!.map((write) => JSON.parse(write.session.state)).sort((a, b) => a.hook - b.hook),
    [{ hook: 0 }, { hook: 1 }, { hook: 2 }],
    'the live sessions, not the one whose client left',
  );
});

test('a client that leaves while its token is being checked is written once, then let go', async (t) => {
  const { store, batches } = recordingStore();
  const p = persistence(store, 10);
  t.after(() => p.close());
  const first = p.open(log, () => ({ hook: 'first' }));
  const token = first.forHook('hook').issue('c');
  first.close();
  await p.flush();
  const second = p.open(log, () => ({ hook: 'second' }));
  const resuming = second.forHook('hook').resume(token, 'c');
  second.close(); // before the store answered
  assert.equal((await resuming).status, 'resumed');
  await p.flush();
  const count = batches.length;
  assert.deepEqual(JSON.parse(batches.at(-1)![0]!.session.state), { hook: 'second' });
  second.forHook('hook').changed();
  await new Promise((resolve) => setTimeout(resolve, 100));
  await p.flush();
  assert.equal(batches.length, count, 'not kept alive after its client left');
});

test('a last write that keeps failing is given up once the session would have expired', async (t) => {
  const { store, batches, control } = recordingStore();
  const ttl = 1000;
  const p = persistence(store, 10, ttl);
  t.after(() => p.close());
  control.failing = true;
  const session = p.open(log, () => ({ hook: 'state' }));
  session.forHook('hook').issue('c');
  session.close();
  await p.flush();
  const given = performance.now() + ttl;
  await waitFor(
    async () => {
      await p.flush();
      return performance.now() > given;
    },
    { timeout: 5000, interval: 50, message: 'the TTL passed' },
  );
  await p.flush(); // the first failure after the TTL gives it up
  control.failing = false;
  await new Promise((resolve) => setTimeout(resolve, 100));
  await p.flush();
  assert.equal(batches.length, 0, 'an ended session past its TTL is not written late');
});
