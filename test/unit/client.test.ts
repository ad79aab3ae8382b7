import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import type { Client, ClientOptions } from 'graphql-ws/client';
import {
  SESSION_FORBIDDEN,
  SESSION_UNKNOWN,
  SUBGATE_KEY,
  createSubgateClient,
  withSubgate,
  type SessionLostEvent,
  type SubgateInitParams,
} from '../../src/client.js';

const DEADLINE = 10_000;

/** Values that arrive over time; `at(n)` resolves with the n-th (0-based) once it has arrived. */
class Arrivals<T> {
  readonly items: T[] = [];
  private waiters: { n: number; resolve: (value: T) => void }[] = [];

  push(item: T): void {
    this.items.push(item);
    this.waiters = this.waiters.filter((w) => {
      if (w.n >= this.items.length) return true;
      w.resolve(this.items[w.n]!);
      return false;
    });
  }

  at(n: number, what: string): Promise<T> {
    if (n < this.items.length) return Promise.resolve(this.items[n]!);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out after ${DEADLINE} ms waiting for ${what}`)),
        DEADLINE,
      );
      this.waiters.push({
        n,
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
      });
    });
  }
}

type Frame = { type: string; id?: string; payload?: unknown };

/**
 * A fake subgate gateway speaking graphql-transport-ws: acks with a token, and answers a
 * `subscribe` whose variables carry `n` with `next` messages whose cursors are 1..n (stamped only
 * when the init asked for cursors).
 */
async function startFakeGateway() {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    handleProtocols: (protocols) =>
      protocols.has('graphql-transport-ws') ? 'graphql-transport-ws' : false,
  });
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  const inits = new Arrivals<Record<string, unknown> | undefined>();
  const subscribes = new Arrivals<Frame>();
  const completes = new Arrivals<string>();
  const sockets: WebSocket[] = [];
  wss.on('connection', (ws) => {
    sockets.push(ws);
    let stamp = false;
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as Frame;
      const send = (msg: Frame): void => ws.send(JSON.stringify(msg));
      if (frame.type === 'connection_init') {
        const payload = frame.payload as Record<string, unknown> | undefined;
        stamp = typeof payload?.[SUBGATE_KEY] === 'object';
        inits.push(payload);
        send({
          type: 'connection_ack',
          payload: { greeting: 'hi', [SUBGATE_KEY]: { token: 't1' } },
        });
      } else if (frame.type === 'subscribe') {
        subscribes.push(frame);
        const { variables } = frame.payload as { variables?: { n?: number } };
        const n = variables?.n ?? 0;
        for (let i = 1; i <= n; i++) {
          const extensions = stamp ? { [SUBGATE_KEY]: { cursor: i } } : undefined;
          send({ id: frame.id!, type: 'next', payload: { data: { tick: i }, extensions } });
        }
      } else if (frame.type === 'complete') {
        completes.push(frame.id!);
      }
    });
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    url: `ws://127.0.0.1:${port}/graphql`,
    inits,
    subscribes,
    completes,
    /** The socket of the latest connection. */
    get socket(): WebSocket {
      return sockets.at(-1)!;
    },
    /** Sends a message to the latest connection. */
    send(msg: Frame): void {
      sockets.at(-1)!.send(JSON.stringify(msg));
    },
    async close(): Promise<void> {
      for (const ws of sockets) ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

type Fake = Awaited<ReturnType<typeof startFakeGateway>>;

/** The `subgate` part of an init payload. */
function subgateOf(init: Record<string, unknown> | undefined): SubgateInitParams {
  const params = init?.[SUBGATE_KEY];
  assert.ok(params && typeof params === 'object', 'init payload carries subgate params');
  return params as SubgateInitParams;
}

/**
 * Subscribes, asking the fake for `n` events per subscribe; `events(k)` resolves once the sink
 * got k events. An error fails the test unless `mayError`.
 */
function subscribe(client: Client, n: number, mayError = false) {
  const received = new Arrivals<Record<string, unknown>>();
  const completed = new Arrivals<true>();
  const errored = new Arrivals<unknown>();
  const dispose = client.subscribe(
    { query: 'subscription($n: Int) { tick(n: $n) }', variables: { n } },
    {
      next: (value) => received.push(value as Record<string, unknown>),
      error: (err) => {
        if (!mayError) assert.fail(`subscription errored: ${JSON.stringify(err)}`);
        errored.push(err);
      },
      complete: () => completed.push(true),
    },
  );
  return {
    received,
    completed,
    errored,
    dispose,
    events: (k: number) => received.at(k - 1, `event ${k} of the subscription`),
  };
}

interface Recorded {
  connected: unknown[];
  messages: string[];
  closed: number[];
  lost: SessionLostEvent[];
}

async function withClient(
  fake: Fake,
  extra: Partial<ClientOptions>,
  run: (client: Client, rec: Recorded) => Promise<void>,
): Promise<void> {
  const rec: Recorded = { connected: [], messages: [], closed: [], lost: [] };
  const client = createSubgateClient(
    {
      url: fake.url,
      webSocketImpl: WebSocket,
      lazy: true,
      retryAttempts: 5,
      retryWait: async () => {},
      connectionParams: async () => ({ auth: 'secret' }),
      on: {
        connected: (_socket, payload) => rec.connected.push(payload),
        message: (msg) => rec.messages.push(msg.type),
        closed: (event) => rec.closed.push((event as { code: number }).code),
      },
      ...extra,
    },
    { onSessionLost: (event) => rec.lost.push(event) },
  );
  try {
    await run(client, rec);
  } finally {
    await client.dispose();
    await fake.close();
  }
}

test('contract constants', () => {
  assert.equal(SUBGATE_KEY, 'subgate');
  assert.equal(SESSION_UNKNOWN, 4410);
  assert.equal(SESSION_FORBIDDEN, 4403);
});

test('withSubgate wraps connectionParams and listeners without touching the input', async () => {
  const connected = (): void => {};
  const ping = (): void => {};
  const on = { connected, ping };
  const options = {
    url: 'ws://unused',
    connectionParams: { auth: 'secret', [SUBGATE_KEY]: 'mine' },
    on,
  };
  const snapshot = structuredClone({ ...options, on: undefined });
  const wrapped = withSubgate(options);
  assert.notEqual(wrapped, options);
  assert.equal(options.on, on);
  assert.equal(on.connected, connected, 'listener object untouched');
  assert.deepEqual({ ...options, on: undefined }, snapshot);
  assert.equal(wrapped.on?.ping, ping, 'other listeners passed on');
  assert.notEqual(wrapped.on?.connected, connected);
  assert.equal(typeof wrapped.connectionParams, 'function');
  const params = await (wrapped.connectionParams as () => Promise<Record<string, unknown>>)();
  assert.deepEqual(params, { auth: 'secret', [SUBGATE_KEY]: { cursors: {} } });

  const none = withSubgate({ url: 'ws://unused' });
  const bare = await (none.connectionParams as () => Promise<Record<string, unknown>>)();
  assert.deepEqual(bare, { [SUBGATE_KEY]: { cursors: {} } });
});

test('connection errors are retried unless the user decides otherwise', () => {
  const error = { type: 'error', message: 'Unexpected server response: 502' };
  const retried = withSubgate({ url: 'ws://127.0.0.1:1' });
  assert.equal(retried.shouldRetry?.(error), true, 'a 502 from a load balancer is retried');
  const own = withSubgate({ url: 'ws://127.0.0.1:1', shouldRetry: () => false });
  assert.equal(own.shouldRetry?.(error), false, "the user's shouldRetry stands");
});

test('a reconnection presents token and last cursor, keeps user params and listeners', async () => {
  const fake = await startFakeGateway();
  await withClient(fake, {}, async (client, rec) => {
    const sub = subscribe(client, 3);
    const first = await fake.inits.at(0, 'the first connection_init');
    assert.equal(first?.auth, 'secret');
    assert.deepEqual(subgateOf(first), { cursors: {} }, 'fresh session: no token, cursors asked');
    const { id } = await fake.subscribes.at(0, 'the subscribe');
    const third = await sub.events(3);
    assert.deepEqual(third.extensions, { [SUBGATE_KEY]: { cursor: 3 } }, 'extension left in place');

    fake.socket.close(1012, 'service restart');
    const second = await fake.inits.at(1, 'the second connection_init');
    assert.equal(second?.auth, 'secret', 'user connectionParams preserved');
    const params = subgateOf(second);
    assert.equal(params.token, 't1');
    assert.equal(params.cursors[id!], 3);
    assert.deepEqual(Object.keys(params.cursors), [id]);

    // graphql-ws subscribes again with the same id on the new connection.
    assert.equal((await fake.subscribes.at(1, 'the resubscribe')).id, id);
    assert.equal(rec.connected.length, 2, 'user on.connected called for both acks');
    assert.deepEqual(rec.connected[0], { greeting: 'hi', [SUBGATE_KEY]: { token: 't1' } });
    assert.deepEqual(rec.closed, [1012], 'user on.closed called');
    assert.ok(rec.messages.filter((type) => type === 'next').length >= 3, 'user on.message called');
    assert.deepEqual(rec.lost, []);
  });
});

test('cursors are dropped on complete, error and client unsubscribe', async () => {
  const fake = await startFakeGateway();
  await withClient(fake, {}, async (client) => {
    const a = subscribe(client, 2);
    const b = subscribe(client, 2);
    const c = subscribe(client, 2);
    const d = subscribe(client, 2, true);
    await Promise.all([a.events(2), b.events(2), c.events(2), d.events(2)]);
    const ids = await Promise.all([0, 1, 2, 3].map((n) => fake.subscribes.at(n, `subscribe ${n}`)));
    const [idA, idB, idC, idD] = ids.map((frame) => frame.id!);

    fake.send({ id: idA!, type: 'complete' }); // the server completes A
    await a.completed.at(0, 'A completed');
    fake.send({ id: idD!, type: 'error', payload: [{ message: 'boom' }] });
    await d.errored.at(0, 'D errored');
    c.dispose(); // the client unsubscribes C
    assert.equal(await fake.completes.at(0, "C's complete"), idC);

    fake.socket.close(1012, 'service restart');
    const params = subgateOf(await fake.inits.at(1, 'the second connection_init'));
    assert.deepEqual(params.cursors, { [idB!]: 2 });
  });
});

test('a subscription released offline loses its cursor after one more connection', async () => {
  const fake = await startFakeGateway();
  const gate = new Arrivals<() => void>();
  const retryWait = (): Promise<void> => new Promise<void>((resolve) => gate.push(resolve));
  await withClient(fake, { retryWait }, async (client) => {
    const b = subscribe(client, 2);
    const c = subscribe(client, 3);
    await Promise.all([b.events(2), c.events(3)]);
    const idB = (await fake.subscribes.at(0, 'subscribe B')).id!;
    const idC = (await fake.subscribes.at(1, 'subscribe C')).id!;

    fake.socket.close(1012, 'service restart');
    const release = await gate.at(0, 'the first retry wait');
    c.dispose(); // while disconnected: no complete can be sent
    release();
    const second = subgateOf(await fake.inits.at(1, 'the second connection_init'));
    assert.deepEqual(second.cursors, { [idB]: 2, [idC]: 3 }, 'still unknown to be released');
    // B (only) is subscribed again; its events arrive after the sweep's macro task is due.
    assert.equal((await fake.subscribes.at(2, 'resubscribe B')).id, idB);
    await b.events(4);

    fake.socket.close(1012, 'service restart');
    (await gate.at(1, 'the second retry wait'))();
    const third = subgateOf(await fake.inits.at(2, 'the third connection_init'));
    assert.deepEqual(third.cursors, { [idB]: 2 });
    assert.equal(third.token, 't1');
  });
});

for (const code of [SESSION_UNKNOWN, SESSION_FORBIDDEN]) {
  test(`a ${code} close forgets the token and cursors and calls onSessionLost once`, async () => {
    const fake = await startFakeGateway();
    await withClient(fake, {}, async (client, rec) => {
      const sub = subscribe(client, 2);
      await sub.events(2);
      fake.socket.close(1012, 'service restart');
      const resumed = subgateOf(await fake.inits.at(1, 'the second connection_init'));
      assert.equal(resumed.token, 't1');
      await fake.subscribes.at(1, 'the resubscribe');
      await sub.events(4);

      fake.socket.close(code, 'session expired');
      const fresh = await fake.inits.at(2, 'the third connection_init');
      assert.equal(fresh?.auth, 'secret');
      assert.deepEqual(subgateOf(fresh), { cursors: {} }, 'no token, no cursors');
      assert.deepEqual(rec.lost, [{ code, reason: 'session expired' }]);
      // The fresh session goes on: acked, subscribed again, events delivered.
      await fake.subscribes.at(2, 'the subscribe in the fresh session');
      await sub.events(6);
      assert.equal(rec.lost.length, 1, 'onSessionLost called once');
      assert.deepEqual(rec.closed, [1012, code]);
    });
  });
}

test('a 1013 close keeps the token and cursors', async () => {
  const fake = await startFakeGateway();
  await withClient(fake, {}, async (client, rec) => {
    const sub = subscribe(client, 2);
    await sub.events(2);
    const { id } = await fake.subscribes.at(0, 'the subscribe');
    fake.socket.close(1013, 'try again later');
    const params = subgateOf(await fake.inits.at(1, 'the second connection_init'));
    assert.equal(params.token, 't1');
    assert.deepEqual(params.cursors, { [id!]: 2 });
    assert.deepEqual(rec.lost, []);
  });
});
