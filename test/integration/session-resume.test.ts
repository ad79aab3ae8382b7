/**
 * Sessions that outlive a connection, on one gateway with the in-memory store: a client that
 * loses its connection comes back with its token and continues every subscription exactly once;
 * forged, expired and borrowed tokens are refused with the documented close codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import {
  createSubgateClient,
  SESSION_FORBIDDEN,
  SESSION_UNKNOWN,
  SUBGATE_KEY,
} from '../../src/client.js';
import { createMemorySessionStore, type SessionStore } from '../../src/index.js';
import { checkSequence, formatReport } from '../helpers/sequence-checker.js';
import { waitFor } from '../helpers/wait.js';
import { startGateway, startGraphqlTarget } from '../fixtures/graphql-harness.js';
import { leaveAfterEvents, rawClient, tokenOf } from '../fixtures/graphql-raw-client.js';

const DEADLINE = 15_000;
const TICKS =
  'subscription Ticks($after: Int, $until: Int) { ticks(after: $after, until: $until) { seq } }';
/** The `ticks` subscription (id s1) the raw clients start. */
const SUBSCRIBE_TICKS = {
  id: 's1',
  type: 'subscribe',
  payload: { query: TICKS, variables: { after: 0, until: 100_000 } },
};

/**
 * An in-memory store that tells when the gateway's writes have settled: a session's last state is
 * written shortly after its client left, and a test must not look before that write is in.
 */
function observedStore(now?: () => number) {
  const memory = createMemorySessionStore(now === undefined ? {} : { now });
  let lastSave = performance.now();
  const store: SessionStore = {
    ...memory,
    save(writes) {
      lastSave = performance.now();
      return memory.save(writes);
    },
  };
  const settled = (): Promise<void> =>
    waitFor(() => performance.now() - lastSave > 300, {
      timeout: DEADLINE,
      message: 'no session write for 300 ms (30 write intervals)',
    });
  return { store, settled };
}

test('a client that lost its connection resumes from its token: every event exactly once', async (t) => {
  const gql = await startGraphqlTarget(t);
  const gateway = await startGateway(t, gql.target.url);
  const until = 600;
  const sockets: WebSocket[] = [];
  const received: number[] = [];
  let lost = 0;
  const client = createSubgateClient(
    {
      url: gateway.url,
      webSocketImpl: WebSocket,
      retryAttempts: 20,
      retryWait: () => new Promise((resolve) => setTimeout(resolve, 50)),
      connectionParams: { user: 'alice' },
      on: { connected: (socket) => void sockets.push(socket as WebSocket) },
    },
    { onSessionLost: () => lost++ },
  );
  t.after(() => client.dispose());
  let completed = false;
  client.subscribe<{ ticks: { seq: number } }>(
    { query: TICKS, variables: { after: 0, until } },
    {
      next: (result) => void received.push(result.data!.ticks.seq),
      error: (error) => assert.fail(`subscription error ${JSON.stringify(error)}`),
      complete: () => (completed = true),
    },
  );
  // Twice: drop the client's connection mid-stream (no close frame, as a network loss).
  for (const at of [150, 350]) {
    await waitFor(() => received.length >= at, { timeout: DEADLINE, message: `${at} events` });
    const count = sockets.length;
    sockets.at(-1)!.terminate();
    await waitFor(() => sockets.length > count, { timeout: DEADLINE, message: 'reconnected' });
  }
  await waitFor(() => completed, { timeout: DEADLINE * 2, message: 'ticks complete' });
  const report = checkSequence(received, { from: 1, to: until });
  t.diagnostic(formatReport('resumed client', report));
  assert.deepEqual(
    received,
    Array.from({ length: until }, (_, i) => i + 1),
  );
  assert.equal(lost, 0, 'the session was never lost');
  const subscribes = gql.events().filter((e) => e.type === 'subscribe');
  assert.equal(subscribes.length, 3, 'subscribed once per connection');
  assert.equal(subscribes[0]!.after, 0);
  assert.ok(
    subscribes.slice(1).every((e) => typeof e.after === 'number' && e.after > 0),
    `re-subscribed after the last event received: ${JSON.stringify(subscribes)}`,
  );
});

test('a plain client passing its token by hand resumes from the stored cursor', async (t) => {
  const gql = await startGraphqlTarget(t);
  const { store, settled } = observedStore();
  const gateway = await startGateway(t, gql.target.url, undefined, {
    sessionStore: store,
    sessionWriteInterval: 10,
  });
  const {
    client: first,
    token,
    last,
  } = await leaveAfterEvents(t, gateway, { user: 'bob' }, SUBSCRIBE_TICKS, 50);
  assert.equal(
    first.frames.some((f) => JSON.stringify(f).includes('"extensions"')),
    false,
    'a client that did not ask for cursors gets its events unchanged',
  );
  // A client without the helper resumes from the store: exact once the last write is in.
  await settled();

  const second = await rawClient(t, gateway.url);
  second.send({ type: 'connection_init', payload: { user: 'bob', [SUBGATE_KEY]: { token } } });
  assert.equal(tokenOf(await second.ack()), token, 'the session keeps its token');
  second.send(SUBSCRIBE_TICKS);
  const [next] = await second.events(1);
  assert.equal(next, last + 1, 'continues right after the last event the first connection got');
  const inits = gql.events().filter((e) => e.type === 'init');
  assert.equal(inits.length, 2);
  const resubscribe = gql.events().filter((e) => e.type === 'subscribe')[1]!;
  assert.equal(resubscribe.after, last);
});

test('token misuse is refused: forged 4410, expired 4410, other credentials 4403', async (t) => {
  let clock = 1_000_000;
  // The clock may only move on once the last write is in (else it is stamped with the new time).
  const { store, settled: writesSettled } = observedStore(() => clock);
  const gql = await startGraphqlTarget(t);
  const ttl = 60_000;
  const gateway = await startGateway(t, gql.target.url, undefined, {
    sessionStore: store,
    sessionTtl: ttl,
    sessionWriteInterval: 10,
  });
  const present = async (payload: Record<string, unknown>) => {
    const c = await rawClient(t, gateway.url);
    c.send({ type: 'connection_init', payload });
    return c;
  };

  const forged = await present({ user: 'eve', [SUBGATE_KEY]: { token: 'A'.repeat(43) } });
  assert.equal((await forged.closeCode()).code, SESSION_UNKNOWN);
  const malformed = await present({ user: 'eve', [SUBGATE_KEY]: { token: 'not-a-token' } });
  assert.equal((await malformed.closeCode()).code, SESSION_UNKNOWN);

  const owner = await present({ user: 'alice', password: 'a' });
  const token = tokenOf(await owner.ack());
  owner.ws.close(1000);
  await owner.closeCode();
  await waitFor(() => gateway.sessionCount === 0, { timeout: DEADLINE, message: 'session ended' });

  const thief = await present({ user: 'mallory', [SUBGATE_KEY]: { token } });
  const refused = await thief.closeCode();
  assert.equal(refused.code, SESSION_FORBIDDEN, JSON.stringify(refused));
  // The refusal changed nothing: the owner still resumes.
  const back = await present({ user: 'alice', password: 'a', [SUBGATE_KEY]: { token } });
  assert.equal(tokenOf(await back.ack()), token);
  back.ws.close(1000);
  await back.closeCode();
  await waitFor(() => gateway.sessionCount === 0, { timeout: DEADLINE, message: 'session ended' });
  await writesSettled();
  clock += ttl + 1;
  const late = await present({ user: 'alice', password: 'a', [SUBGATE_KEY]: { token } });
  assert.equal((await late.closeCode()).code, SESSION_UNKNOWN, 'expired after sessionTtl');
  const inits = gql.events().filter((e) => e.type === 'init');
  assert.equal(inits.length, 2, 'refused clients never reached the target');
});

test('a stored cursor is not applied to another operation that reuses the id', async (t) => {
  const gql = await startGraphqlTarget(t);
  const gateway = await startGateway(t, gql.target.url, undefined, { sessionWriteInterval: 10 });
  const { token } = await leaveAfterEvents(t, gateway, { user: 'carol' }, SUBSCRIBE_TICKS, 20);

  const second = await rawClient(t, gateway.url);
  second.send({ type: 'connection_init', payload: { user: 'carol', [SUBGATE_KEY]: { token } } });
  await second.ack();
  const other = 'subscription Other($after: Int) { ticks(after: $after, until: 3) { seq } }';
  second.send({ id: 's1', type: 'subscribe', payload: { query: other, variables: { after: 0 } } });
  await waitFor(() => second.frames.some((f) => f['type'] === 'complete'), {
    timeout: DEADLINE,
    message: 'the other operation completes',
  });
  assert.deepEqual(second.seqs(), [1, 2, 3], 'started as asked, from after: 0');
});

test('resuming a subscription without a resume setting reports the possible gap', async (t) => {
  const gql = await startGraphqlTarget(t);
  const gateway = await startGateway(
    t,
    gql.target.url,
    { resume: { argument: 'after', cursor: 'seq', operations: { Plain: false } } },
    { sessionWriteInterval: 10 },
  );
  const plain = 'subscription Plain { ticks(until: 100000) { seq } }';
  const subscribe = { id: 'p1', type: 'subscribe', payload: { query: plain } };
  const { token } = await leaveAfterEvents(t, gateway, { user: 'dave' }, subscribe, 10);

  const gaps = async (): Promise<number> => {
    const metric = await gateway.metrics.getSingleMetric('subgate_hook_events_total')!.get();
    return (
      metric.values.find(
        (v) => v.labels['hook'] === 'graphql-ws' && v.labels['event'] === 'possible_gaps',
      )?.value ?? 0
    );
  };
  assert.equal(await gaps(), 0);
  const second = await rawClient(t, gateway.url);
  second.send({ type: 'connection_init', payload: { user: 'dave', [SUBGATE_KEY]: { token } } });
  await second.ack();
  second.send({ id: 'p1', type: 'subscribe', payload: { query: plain } });
  await second.events(1);
  assert.equal(await gaps(), 1, 'the re-issued subscription may have missed events: counted');
  assert.equal(second.seqs()[0], 1, 'it was re-issued as sent (the target starts it afresh)');
});
