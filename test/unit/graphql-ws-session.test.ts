/**
 * The graphql-ws hook's session logic against a fake SessionContext that plays the core's part:
 * restore on every new socket, client frames through onClientMessage (link open) or onClientWait
 * (link down), target frames through onUpstreamMessage.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createLogger,
  type HookSession,
  type SessionContext,
  type UpstreamState,
} from '../../src/index.js';
import {
  graphqlWsHook,
  OUTCOME_UNKNOWN,
  type GraphqlWsHookOptions,
} from '../../hooks/graphql-ws.js';
import { waitFor } from '../helpers/wait.js';

type Message = Record<string, unknown> & { type: string };

const TICKS = {
  query: 'subscription T($after: Int) { ticks(after: $after, until: 100) { seq } }',
  variables: { after: 0 },
};

/** A fake core around one hook session. */
function harness(options: GraphqlWsHookOptions = {}, protocol = 'graphql-transport-ws') {
  let generation = 0;
  let state: UpstreamState = 'connecting';
  let abort: AbortController | undefined;
  const toClient: Message[] = [];
  const toUpstream: Message[] = [];
  const retries: string[] = [];
  const counts: Record<string, number> = {};
  let closed: { code: number; reason: string } | undefined;
  const ctx: SessionContext = {
    id: 'session-1',
    protocol,
    request: { url: '/', headers: {} },
    log: createLogger('silent'),
    get generation() {
      return generation;
    },
    get upstreamState() {
      return state;
    },
    upstreamPaused: false,
    sendClient: (data) => void toClient.push(JSON.parse(String(data)) as Message),
    sendUpstream(data) {
      if (state !== 'open' && state !== 'restoring') return false;
      toUpstream.push(JSON.parse(String(data)) as Message);
      return true;
    },
    requestPing: () => {},
    count: (event, n = 1) => void (counts[event] = (counts[event] ?? 0) + n),
    pauseClient: () => {},
    resumeClient: () => {},
    persistence: undefined,
    closeClient(code, reason) {
      closed = { code, reason };
      state = 'closed';
    },
  };
  const session: HookSession = graphqlWsHook(options).open(ctx);
  const buf = (message: unknown): Buffer => Buffer.from(JSON.stringify(message));

  return {
    session,
    toClient,
    toUpstream,
    retries,
    counts,
    get closed() {
      return closed;
    },
    /** A new upstream socket: runs restore; resolves when it finished. */
    open(): Promise<void> {
      generation++;
      state = 'restoring';
      const controller = new AbortController();
      abort = controller;
      const gen = generation;
      return Promise.resolve(
        session.restore?.({
          generation: gen,
          signal: controller.signal,
          retry: (reason) => {
            retries.push(reason);
            this.lose();
          },
        }),
      ).then(() => {
        if (!controller.signal.aborted && state === 'restoring') state = 'open';
      });
    },
    lose(): void {
      abort?.abort();
      state = 'waiting';
      session.onUpstreamLost?.({ generation, code: 1006, reason: 'lost' });
    },
    /** A client frame: dispatched when open, else offered to onClientWait. */
    client(message: unknown): 'sent' | 'dropped' | 'queued' | 'consumed' {
      if (state === 'open') {
        const result = session.onClientMessage?.(buf(message), false);
        if (result === false) return 'dropped';
        toUpstream.push(
          typeof result === 'string' ? (JSON.parse(result) as Message) : (message as Message),
        );
        return 'sent';
      }
      return session.onClientWait?.(buf(message), false) === false ? 'consumed' : 'queued';
    },
    /** A target frame; returns whether it reached the client. */
    upstream(message: unknown): boolean {
      const result = session.onUpstreamMessage?.(buf(message), false);
      if (result === false) return false;
      toClient.push(message as Message);
      return true;
    },
  };
}

type Harness = ReturnType<typeof harness>;

/** Client connects, is acknowledged and subscribes `s1`. */
async function connected(h: Harness, payload: object = TICKS): Promise<void> {
  await h.open();
  assert.equal(h.toUpstream.length, 0, 'nothing to restore on the first socket');
  h.client({ type: 'connection_init', payload: { token: 't' } });
  assert.equal(h.upstream({ type: 'connection_ack' }), true);
  h.client({ id: 's1', type: 'subscribe', payload });
}

const next = (id: string, seq: number): Message => ({
  id,
  type: 'next',
  payload: { data: { ticks: { seq } } },
});

test('re-init on a new socket: same init payload, ack awaited and not forwarded twice', async () => {
  const h = harness({ resume: { argument: 'after', cursor: 'seq' } });
  await connected(h);
  h.upstream(next('s1', 1));
  h.lose();
  h.toUpstream.length = 0;
  const restored = h.open();
  assert.deepEqual(h.toUpstream, [{ type: 'connection_init', payload: { token: 't' } }]);
  assert.equal(h.upstream({ type: 'connection_ack' }), false, 'second ack dropped');
  await restored;
  assert.deepEqual(h.toUpstream.slice(1), [
    { id: 's1', type: 'subscribe', payload: { ...TICKS, variables: { after: 1 } } },
  ]);
  assert.equal(h.toClient.filter((m) => m.type === 'connection_ack').length, 1);
});

test('nothing is subscribed before the ack; an aborted restore subscribes nothing', async () => {
  const h = harness({ resume: { argument: 'after', cursor: 'seq' } });
  await connected(h);
  h.lose();
  h.toUpstream.length = 0;
  const restored = h.open();
  h.lose(); // socket lost while waiting for the ack
  await restored;
  assert.deepEqual(
    h.toUpstream.map((m) => m.type),
    ['connection_init'],
  );
});

test('ack timeout counts as a failed attempt through retry()', async () => {
  const h = harness({ ackTimeout: 20 });
  await connected(h);
  h.lose();
  await h.open();
  assert.equal(h.retries.length, 1);
  assert.match(h.retries[0]!, /no connection_ack within 20 ms/);
});

test('a client never acknowledged gets the ack of the re-init', async () => {
  const h = harness();
  await h.open();
  h.client({ type: 'connection_init' });
  h.lose(); // before the target acknowledged
  const restored = h.open();
  assert.deepEqual(h.toUpstream.at(-1), { type: 'connection_init' });
  assert.equal(h.upstream({ type: 'connection_ack' }), true, 'forwarded: the client has none');
  await restored;
});

test('resume: duplicates the client already has are dropped, with O(1) state', async () => {
  const h = harness({ resume: { argument: 'after', cursor: 'seq' } });
  await connected(h);
  for (const seq of [1, 2, 3]) assert.equal(h.upstream(next('s1', seq)), true);
  h.lose();
  const restored = h.open();
  h.upstream({ type: 'connection_ack' });
  await restored;
  assert.deepEqual(h.toUpstream.at(-1), {
    id: 's1',
    type: 'subscribe',
    payload: { ...TICKS, variables: { after: 3 } },
  });
  // A target that re-sends from an older cursor: only the new events pass.
  assert.equal(h.upstream(next('s1', 2)), false);
  assert.equal(h.upstream(next('s1', 3)), false);
  assert.equal(h.upstream(next('s1', 4)), true);
  assert.deepEqual(h.counts, {
    subscriptions_resubscribed: 1,
    subscriptions_resumed: 1,
    duplicates_dropped: 2,
  });
  // Results without the cursor pass untouched.
  assert.equal(
    h.upstream({ id: 's1', type: 'next', payload: { errors: [{ message: 'x' }] } }),
    true,
  );
});

test('resume with an inline literal rewrites the document on re-subscribe', async () => {
  const h = harness({ resume: { argument: 'after', cursor: 'seq' } });
  await connected(h, { query: 'subscription { t: ticks(after: 0) { seq } }' });
  h.upstream({ id: 's1', type: 'next', payload: { data: { t: { seq: 5 } } } });
  h.lose();
  const restored = h.open();
  h.upstream({ type: 'connection_ack' });
  await restored;
  const resubscribe = h.toUpstream.at(-1) as unknown as { payload: { query: string } };
  assert.match(resubscribe.payload.query, /t: ticks\(after: 5\)/);
});

test('without resume, subscriptions are re-issued as they are', async () => {
  const h = harness();
  await connected(h);
  h.upstream(next('s1', 1));
  h.lose();
  const restored = h.open();
  h.upstream({ type: 'connection_ack' });
  await restored;
  assert.deepEqual(h.toUpstream.at(-1), { id: 's1', type: 'subscribe', payload: TICKS });
  assert.equal(h.upstream(next('s1', 1)), true, 'no cursor tracking without resume');
  assert.equal(h.counts['possible_gaps'], 1, 'the possible gap is counted');
});

test('operations end on complete either way and on error; only active ones are re-issued', async () => {
  const h = harness({ resume: { argument: 'after', cursor: 'seq' } });
  await connected(h);
  h.client({ id: 's2', type: 'subscribe', payload: TICKS });
  h.client({ id: 's3', type: 'subscribe', payload: TICKS });
  h.client({ id: 's1', type: 'complete' });
  h.upstream({ id: 's2', type: 'complete' });
  h.upstream({ id: 's3', type: 'error', payload: [{ message: 'no' }] });
  h.client({ id: 's4', type: 'subscribe', payload: TICKS });
  h.lose();
  h.toUpstream.length = 0;
  const restored = h.open();
  h.upstream({ type: 'connection_ack' });
  await restored;
  assert.deepEqual(
    h.toUpstream.map((m) => m['id'] ?? m.type),
    ['connection_init', 's4'],
  );
});

test('a complete sent while the upstream is down is not re-subscribed, and its events dropped', async () => {
  const h = harness({ resume: { argument: 'after', cursor: 'seq' } });
  await connected(h);
  h.lose();
  assert.equal(h.client({ id: 's1', type: 'complete' }), 'queued', 'reaches the target later');
  h.toUpstream.length = 0;
  const restored = h.open();
  h.upstream({ type: 'connection_ack' });
  await restored;
  assert.deepEqual(
    h.toUpstream.map((m) => m.type),
    ['connection_init'],
  );
});

test('mutation in flight when the link dies: documented error, not re-sent; queries re-sent', async () => {
  const h = harness();
  await connected(h);
  h.client({ id: 'm1', type: 'subscribe', payload: { query: 'mutation { increment(key: "a") }' } });
  h.client({ id: 'q1', type: 'subscribe', payload: { query: '{ hello }' } });
  h.client({ id: 'q2', type: 'subscribe', payload: { query: 'query { hello }' } });
  h.client({ id: 'm2', type: 'subscribe', payload: { query: 'mutation { increment(key: "b") }' } });
  // q2 and m2 got their result; their complete is lost with the socket.
  h.upstream({ id: 'q2', type: 'next', payload: { data: { hello: 'world' } } });
  h.upstream({ id: 'm2', type: 'next', payload: { data: { increment: 1 } } });
  h.lose();
  const errors = h.toClient.filter((m) => m.type === 'error');
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!['id'], 'm1');
  const [error] = errors[0]!['payload'] as { message: string; extensions: { code: string } }[];
  assert.match(
    error!.message,
    /outcome of this mutation is unknown because the upstream connection was lost/,
  );
  assert.equal(error!.extensions.code, OUTCOME_UNKNOWN);
  assert.equal(h.counts['mutations_outcome_unknown'], 1);
  assert.deepEqual(
    h.toClient.filter((m) => m.type === 'complete').map((m) => m['id']),
    ['q2', 'm2'],
  );
  h.toUpstream.length = 0;
  const restored = h.open();
  h.upstream({ type: 'connection_ack' });
  await restored;
  assert.deepEqual(
    h.toUpstream.map((m) => m['id'] ?? m.type),
    ['connection_init', 's1', 'q1'],
  );
});

test('pings: local pong while down, pending ones answered at loss, no hook ping/pong reaches the client', async () => {
  const h = harness({ heartbeat: { interval: 10, timeout: 1000 } });
  await connected(h);
  // The target's pings are answered by the hook, never forwarded.
  assert.equal(h.upstream({ type: 'ping' }), false);
  assert.deepEqual(h.toUpstream.at(-1), { type: 'pong' });
  // The hook's own heartbeat goes out after the ack; its pong is dropped.
  await waitFor(() => h.toUpstream.some((m) => m.type === 'ping'), {
    timeout: 2000,
    message: 'heartbeat ping',
  });
  const ping = h.toUpstream.find((m) => m.type === 'ping')!;
  assert.equal(h.upstream({ type: 'pong', payload: ping['payload'] }), false);
  // The client's ping goes to the target and its pong comes back.
  assert.equal(h.client({ type: 'ping', payload: { n: 1 } }), 'sent');
  assert.equal(h.upstream({ type: 'pong', payload: { n: 1 } }), true);
  // An unsolicited pong nobody asked for is not forwarded.
  assert.equal(h.upstream({ type: 'pong' }), false);
  // A ping in flight when the socket dies is answered locally.
  h.client({ type: 'ping' });
  const before = h.toClient.length;
  h.lose();
  assert.deepEqual(h.toClient.slice(before), [{ type: 'pong' }]);
  // While down, pings are answered locally and consumed.
  assert.equal(h.client({ type: 'ping', payload: { n: 2 } }), 'consumed');
  assert.deepEqual(h.toClient.at(-1), { type: 'pong', payload: { n: 2 } });
  h.session.onClientClose?.({ code: 1000, reason: '' });
});

test('heartbeat: no frame within the timeout of a graphql-ws ping declares the socket dead', async () => {
  const h = harness({ heartbeat: { interval: 10, timeout: 30 } });
  await connected(h);
  await waitFor(() => h.retries.length > 0, { timeout: 2000, message: 'heartbeat retry' });
  assert.match(h.retries[0]!, /no frame from the target within 30 ms of a graphql-ws ping/);
  h.session.onClientClose?.({ code: 1000, reason: '' });
});

test('maxOperations: one operation too many closes the client with 1008', async () => {
  const h = harness({ maxOperations: 2 });
  await connected(h);
  assert.equal(h.client({ id: 's2', type: 'subscribe', payload: TICKS }), 'sent');
  assert.equal(h.client({ id: 's3', type: 'subscribe', payload: TICKS }), 'dropped');
  assert.equal(h.closed?.code, 1008);
  assert.match(h.closed!.reason, /too many active operations/);
  assert.equal(h.counts['operations_limit_reached'], 1);
});

test('a duplicate active id is refused with 4409 and never reaches the target; the hook keeps the first', async () => {
  const h = harness({ resume: { argument: 'after', cursor: 'seq' } });
  await connected(h);
  h.upstream(next('s1', 4));
  assert.equal(
    h.client({ id: 's1', type: 'subscribe', payload: { query: '{ hello }' } }),
    'dropped',
  );
  assert.deepEqual(h.closed, { code: 4409, reason: 'Subscriber for s1 already exists' });
  h.lose();
  const restored = h.open();
  h.upstream({ type: 'connection_ack' });
  await restored;
  assert.deepEqual(h.toUpstream.at(-1), {
    id: 's1',
    type: 'subscribe',
    payload: { ...TICKS, variables: { after: 4 } },
  });
});

test('legacy protocol: start/data/stop, re-init, resume, ka', async () => {
  const h = harness({ resume: { argument: 'after', cursor: 'seq' }, keepAlive: 10 }, 'graphql-ws');
  await h.open();
  h.client({ type: 'connection_init', payload: { token: 't' } });
  assert.equal(h.upstream({ type: 'connection_ack' }), true);
  assert.equal(h.upstream({ type: 'ka' }), true);
  h.client({ id: '1', type: 'start', payload: TICKS });
  h.client({ id: '2', type: 'start', payload: TICKS });
  h.client({ id: '2', type: 'stop' });
  h.upstream({ id: '1', type: 'data', payload: { data: { ticks: { seq: 1 } } } });
  h.upstream({ id: '1', type: 'data', payload: { data: { ticks: { seq: 2 } } } });
  h.lose();
  // While down the client keeps getting keep-alives.
  await waitFor(() => h.toClient.filter((m) => m.type === 'ka').length >= 3, {
    timeout: 2000,
    message: 'local ka',
  });
  h.toUpstream.length = 0;
  const restored = h.open();
  assert.deepEqual(h.toUpstream, [{ type: 'connection_init', payload: { token: 't' } }]);
  assert.equal(h.upstream({ type: 'connection_ack' }), false);
  await restored;
  assert.deepEqual(h.toUpstream.at(-1), {
    id: '1',
    type: 'start',
    payload: { ...TICKS, variables: { after: 2 } },
  });
  const kas = h.toClient.filter((m) => m.type === 'ka').length;
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(h.toClient.filter((m) => m.type === 'ka').length, kas, 'local ka stops when up');
  assert.equal(
    h.upstream({ id: '1', type: 'data', payload: { data: { ticks: { seq: 2 } } } }),
    false,
  );
  assert.equal(
    h.upstream({ id: '1', type: 'data', payload: { data: { ticks: { seq: 3 } } } }),
    true,
  );
  h.session.onClientClose?.({ code: 1000, reason: '' });
});

test('legacy: a duplicate id replaces the operation; mutation error is one error object', async () => {
  const h = harness({}, 'graphql-ws');
  await h.open();
  h.client({ type: 'connection_init' });
  h.upstream({ type: 'connection_ack' });
  h.client({ id: '1', type: 'start', payload: TICKS });
  h.client({ id: '1', type: 'start', payload: { query: 'mutation { increment(key: "a") }' } });
  h.lose();
  const error = h.toClient.find((m) => m.type === 'error');
  assert.equal(error?.['id'], '1');
  assert.match((error?.['payload'] as { message: string }).message, /outcome .* unknown/);
});

test('legacy: connection_error on re-init closes the client with 4403 instead of looping', async () => {
  const h = harness({}, 'graphql-ws');
  await h.open();
  h.client({ type: 'connection_init', payload: { token: 'old' } });
  h.upstream({ type: 'connection_ack' });
  h.lose();
  const restored = h.open();
  assert.equal(h.upstream({ type: 'connection_error', payload: { message: 'Forbidden' } }), false);
  await restored;
  assert.equal(h.toClient.at(-1)?.type, 'connection_error', 'the client is told first');
  assert.equal(h.closed?.code, 4403);
  assert.match(h.closed!.reason, /Forbidden/);
});

test('an unknown subprotocol gets a pass-through session', () => {
  const h = harness({}, 'mqtt');
  assert.deepEqual(Object.keys(h.session), []);
});

test('per-operation resume: function form chooses per root field', async () => {
  const h = harness({
    resume: (op) => (op.rootField === 'ticks' ? { argument: 'after', cursor: 'seq' } : false),
  });
  await connected(h);
  h.client({ id: 's2', type: 'subscribe', payload: { query: 'subscription { other { seq } }' } });
  h.upstream(next('s1', 9));
  h.upstream({ id: 's2', type: 'next', payload: { data: { other: { seq: 9 } } } });
  h.lose();
  const restored = h.open();
  h.upstream({ type: 'connection_ack' });
  await restored;
  const [s1, s2] = h.toUpstream.slice(-2) as unknown as {
    payload: { query: string; variables?: unknown };
  }[];
  assert.deepEqual(s1!.payload.variables, { after: 9 });
  assert.equal(s2!.payload.query, 'subscription { other { seq } }');
});
