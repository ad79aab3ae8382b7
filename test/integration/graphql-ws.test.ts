/**
 * The graphql-ws hook with real processes: the fixture target as a child process, the gateway
 * in-process, real `graphql-ws` clients (`retryAttempts: 0`), the hand-written legacy client, and
 * a raw WebSocket client where the test needs to see every frame.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GRAPHQL_TRANSPORT_WS_PROTOCOL } from 'graphql-ws';
import { WebSocket } from 'ws';
import { OUTCOME_UNKNOWN } from '../../hooks/graphql-ws.js';
import { checkSequence, formatReport } from '../helpers/sequence-checker.js';
import { once, waitFor } from '../helpers/wait.js';
import {
  collectRestores,
  legacySubscriber,
  modernSubscriber,
  startGateway,
  startGraphqlTarget,
  subscribeTicks,
  type TestLike,
} from '../fixtures/graphql-harness.js';

const DEADLINE = 10_000;
/**
 * For tests whose target ends the session with a terminal code: the core leaves the maxOutage
 * timer of that last outage armed (link.close() returns early once ended() set 'closed'), which
 * holds the process open for maxOutage ms. Kept short here until the core clears it.
 */
const TERMINAL = { maxOutage: 5000 };
const TICKS_QUERY =
  'subscription Ticks($after: Int, $until: Int) { ticks(after: $after, until: $until) { seq } }';

/** A raw `graphql-transport-ws` client that records every frame from the start. */
async function rawClient(t: TestLike, url: string) {
  const ws = new WebSocket(url, GRAPHQL_TRANSPORT_WS_PROTOCOL);
  const frames: Record<string, unknown>[] = [];
  const c = { ws, frames, closed: undefined as { code: number; reason: string } | undefined };
  ws.on('message', (data) => frames.push(JSON.parse(String(data)) as Record<string, unknown>));
  ws.on('close', (code, reason) => (c.closed = { code, reason: String(reason) }));
  ws.on('error', () => {});
  t.after(() => ws.terminate());
  await once(ws, 'open', DEADLINE, 'raw client open');
  return {
    ...c,
    get closed() {
      return c.closed;
    },
    send: (message: unknown) => ws.send(JSON.stringify(message)),
    count: (type: string) => frames.filter((f) => f['type'] === type).length,
    async frame(predicate: (f: Record<string, unknown>) => boolean, what: string) {
      await waitFor(() => frames.some(predicate), { timeout: DEADLINE, message: what });
      return frames.find(predicate)!;
    },
  };
}

test('mutation in flight during a crash: documented error, executed once; a query in flight is re-sent', async (t) => {
  const gql = await startGraphqlTarget(t);
  const gateway = await startGateway(t, gql.target.url);
  const subscriber = modernSubscriber(t, gateway.url, 'client');
  const stream = subscribeTicks(
    subscriber,
    'ticks',
    { query: TICKS_QUERY, variables: { after: 0, until: 400 } },
    400,
  );
  const outcome = { mutation: [] as unknown[], query: [] as unknown[] };
  const run = (key: 'mutation' | 'query', query: string): Promise<void> =>
    new Promise((resolve) => {
      subscriber.subscribe(
        { query },
        {
          next: (value) => outcome[key].push(value),
          error: (error) => {
            outcome[key].push({ error });
            resolve();
          },
          complete: resolve,
        },
      );
    });
  const mutation = run('mutation', 'mutation { increment(key: "m1", delay: 5000) }');
  const query = run('query', '{ slow(ms: 1000) }');
  // The target executed the mutation (its effect is written first), the result is 5 s away.
  await waitFor(() => gql.events().some((e) => e.type === 'mutation' && e.key === 'm1'), {
    timeout: DEADLINE,
    message: 'mutation executed by the target',
  });
  await gql.target.restart();
  await mutation;
  assert.equal(outcome.mutation.length, 1);
  const { error } = outcome.mutation[0] as {
    error: { message: string; extensions: { code: string } }[];
  };
  assert.ok(Array.isArray(error), `a GraphQL error list, got ${JSON.stringify(error)}`);
  assert.match(
    error[0]!.message,
    /outcome of this mutation is unknown because the upstream connection was lost/,
  );
  assert.equal(error[0]!.extensions.code, OUTCOME_UNKNOWN);
  await query;
  assert.deepEqual(outcome.query, [{ data: { slow: 0 } }], 'the query was re-sent and answered');
  await waitFor(() => stream.completedAfter !== undefined, {
    timeout: DEADLINE * 2,
    message: 'ticks complete',
  });
  await sleep(300);
  const executions = gql.events().filter((e) => e.type === 'mutation');
  assert.equal(executions.length, 1, 'the mutation was executed exactly once');
  assert.deepEqual(stream.errors, []);
  assert.equal(stream.received.length, 400);
  assert.ok(
    stream.received.every((seq, i) => seq === i + 1),
    'ticks exactly once, in order',
  );
  assert.equal(subscriber.acks, 1);
  assert.deepEqual(subscriber.closes, []);
});

for (const protocol of ['modern', 'legacy'] as const) {
  test(`${protocol}: connectionParams are replayed on every reconnect; a 4403 on re-init closes the client, no loop`, async (t) => {
    const gql = await startGraphqlTarget(t, { token: 'secret-1' });
    const gateway = await startGateway(t, gql.target.url, undefined, TERMINAL);
    const make = protocol === 'modern' ? modernSubscriber : legacySubscriber;
    const subscriber = make(t, gateway.url, 'client', { token: 'secret-1' });
    const stream = subscribeTicks(
      subscriber,
      'ticks',
      { query: TICKS_QUERY, variables: { after: 0 } },
      Infinity,
    );
    const accepted = (): number => gql.events().filter((e) => e.type === 'init' && e.ok).length;
    await waitFor(() => stream.received.length >= 20, { timeout: DEADLINE, message: 'ticks' });
    for (let restart = 1; restart <= 2; restart++) {
      const before = stream.received.length;
      await gql.target.restart();
      await waitFor(() => stream.received.length >= before + 20, {
        timeout: DEADLINE,
        message: `ticks after restart ${restart}`,
      });
    }
    assert.equal(accepted(), 3, 'the token was sent and accepted on all three target processes');
    // The target now wants another token: the replayed one is refused.
    writeFileSync(join(gql.dir, 'token'), 'secret-2');
    await gql.target.restart();
    await waitFor(() => subscriber.closes.length > 0, {
      timeout: DEADLINE,
      message: 'client closed after the refused re-init',
    });
    assert.deepEqual(subscriber.closes, [4403]);
    await sleep(1000); // a loop would show as more refused inits
    const refused = gql.events().filter((e) => e.type === 'init' && e.ok === false);
    assert.equal(refused.length, 1, 'exactly one refused init: no reconnect loop');
    assert.equal(gateway.sessionCount, 0);
    assert.ok(
      stream.received.every((seq, i) => seq === i + 1),
      'ticks in order until the end',
    );
  });
}

test('protocol: one ack, pings answered locally while down, no hook ping/pong leaks, terminal codes forwarded', async (t) => {
  const gql = await startGraphqlTarget(t);
  const gateway = await startGateway(
    t,
    gql.target.url,
    {
      resume: { argument: 'after', cursor: 'seq' },
      heartbeat: { interval: 50, timeout: 300 },
    },
    TERMINAL,
  );
  const client = await rawClient(t, gateway.url);
  client.send({ type: 'connection_init' });
  await client.frame((f) => f['type'] === 'connection_ack', 'ack');
  client.send({
    id: 'a',
    type: 'subscribe',
    payload: { query: TICKS_QUERY, variables: { after: 0 } },
  });
  await client.frame((f) => f['type'] === 'next', 'first tick');
  await sleep(300); // several heartbeats went by
  assert.equal(client.count('ping') + client.count('pong'), 0, 'hook heartbeats stay upstream');

  // Target down: the gateway answers pings itself.
  await gql.target.kill();
  await sleep(100);
  client.send({ type: 'ping', payload: { n: 1 } });
  const pong = await client.frame((f) => f['type'] === 'pong', 'local pong');
  assert.deepEqual(pong, { type: 'pong', payload: { n: 1 } });
  const lastBefore = client.frames.filter((f) => f['type'] === 'next').length;
  await gql.target.restart();
  await waitFor(() => client.count('next') > lastBefore + 20, {
    timeout: DEADLINE,
    message: 'ticks again',
  });
  // The client's own ping while up goes to the target and its pong comes back, once.
  client.send({ type: 'ping', payload: { n: 2 } });
  await client.frame(
    (f) => f['type'] === 'pong' && JSON.stringify(f['payload']) === '{"n":2}',
    'pong 2',
  );
  await sleep(200);
  assert.equal(client.count('pong'), 2);
  assert.equal(client.count('ping'), 0);
  assert.equal(client.count('connection_ack'), 1, 'ack not forwarded twice');
  assert.equal(client.count('error') + client.count('complete'), 0, 'no spurious error/complete');
  const seqs = client.frames
    .filter((f) => f['type'] === 'next')
    .map((f) => (f['payload'] as { data: { ticks: { seq: number } } }).data.ticks.seq);
  assert.ok(
    seqs.every((seq, i) => seq === i + 1),
    'exactly once, in order',
  );

  // A duplicate active id is refused with 4409 (by subgate, before it reaches the target).
  client.send({ id: 'a', type: 'subscribe', payload: { query: '{ hello }' } });
  await waitFor(() => client.closed !== undefined, { timeout: DEADLINE, message: 'closed' });
  assert.equal(client.closed?.code, 4409);
});

for (const heartbeat of [false, true]) {
  test(`hung app behind a live socket (WebSocket pings answered): ${heartbeat ? 'the graphql-ws heartbeat detects it, the stream resumes' : 'without the graphql-ws heartbeat nothing notices'}`, async (t) => {
    const gql = await startGraphqlTarget(t);
    const gateway = await startGateway(t, gql.target.url, {
      resume: { argument: 'after', cursor: 'seq' },
      heartbeat: heartbeat ? { interval: 200, timeout: 300 } : false,
    });
    const subscriber = modernSubscriber(t, gateway.url, 'client');
    const stream = subscribeTicks(
      subscriber,
      'ticks',
      { query: TICKS_QUERY, variables: { after: 0, until: 600 } },
      600,
    );
    await waitFor(() => stream.received.length >= 100, { timeout: DEADLINE, message: 'ticks' });
    gql.target.send({ type: 'hang' });
    await waitFor(() => gql.events().some((e) => e.type === 'hang'), {
      timeout: DEADLINE,
      message: 'target hung',
    });
    const inits = (): number => gql.events().filter((e) => e.type === 'init').length;
    if (!heartbeat) {
      const at = stream.received.length;
      await sleep(1500); // well past pingInterval + pongTimeout (600 ms)
      assert.equal(inits(), 1, 'the core heartbeat alone saw nothing wrong');
      assert.ok(stream.received.length <= at + 5, 'and the stream stalled');
      return;
    }
    const hungAt = performance.now();
    await waitFor(() => inits() === 2, { timeout: DEADLINE, message: 'reconnected' });
    const detectedIn = performance.now() - hungAt;
    t.diagnostic(`hung app detected and re-initialised in ${Math.round(detectedIn)} ms`);
    await waitFor(() => stream.completedAfter !== undefined, {
      timeout: DEADLINE,
      message: 'ticks complete',
    });
    const report = checkSequence(stream.received, { from: 1, to: 600 });
    t.diagnostic(formatReport('ticks', report));
    assert.deepEqual([report.lost, report.duplicates, report.outOfOrder], [0, 0, 0]);
    assert.deepEqual(stream.errors, []);
    assert.equal(subscriber.acks, 1);
  });
}

test('an at-least-once target re-sending the last events on resume: the hook drops them', async (t) => {
  const restores = collectRestores(t);
  const gql = await startGraphqlTarget(t, { env: { RESUME_OVERLAP: '10' } });
  const gateway = await startGateway(t, gql.target.url);
  const subscriber = modernSubscriber(t, gateway.url, 'client');
  const stream = subscribeTicks(
    subscriber,
    'ticks',
    { query: 'subscription { ticks(after: 0, until: 1000) { seq } }' },
    1000,
  );
  for (const at of [100, 300, 500]) {
    await waitFor(() => stream.received.length >= at, { timeout: DEADLINE, message: `${at}` });
    await gql.target.restart();
  }
  await waitFor(() => stream.completedAfter !== undefined, {
    timeout: DEADLINE * 2,
    message: 'ticks complete',
  });
  const report = checkSequence(stream.received, { from: 1, to: 1000 });
  t.diagnostic(formatReport('ticks', report));
  assert.deepEqual([report.lost, report.duplicates, report.outOfOrder], [0, 0, 0]);
  // Each restore reports the drops of the socket before it: the last one saw two overlaps.
  assert.equal(restores.length, 3);
  assert.equal(restores[2]!.duplicatesDropped, 20, 'the target re-sent 10 events twice');
  assert.deepEqual(stream.errors, []);
});

test('without resume: re-subscribed as-is with the same id, the possible gap counted', async (t) => {
  const restores = collectRestores(t);
  const gql = await startGraphqlTarget(t);
  const gateway = await startGateway(t, gql.target.url, {});
  const subscriber = modernSubscriber(t, gateway.url, 'client');
  const stream = subscribeTicks(
    subscriber,
    'ticks',
    { query: TICKS_QUERY, variables: { after: 0 } },
    Infinity,
  );
  await waitFor(() => stream.received.length >= 50, { timeout: DEADLINE, message: 'ticks' });
  await gql.target.restart();
  await waitFor(() => restores.length === 1, { timeout: DEADLINE, message: 'restore' });
  const { sessionId, generation, ...counts } = restores[0]!;
  assert.equal(typeof sessionId, 'string');
  assert.ok(generation > 1, 'a later upstream socket');
  assert.deepEqual(counts, {
    resubscribed: 1,
    resumed: 0,
    unresumable: 1,
    queriesResent: 0,
    mutationsFailed: 0,
    duplicatesDropped: 0,
  });
  // The restore is reported when the subscribe is sent; the target records it a moment later.
  const subscribed = (): { id?: unknown; after?: unknown }[] =>
    gql.events().filter((e) => e.type === 'subscribe');
  await waitFor(() => subscribed().length === 2, {
    timeout: DEADLINE,
    message: 'the target received the re-subscribe',
  });
  const subscribes = subscribed();
  assert.equal(subscribes[1]!.id, subscribes[0]!.id, 'same id');
  assert.equal(subscribes[1]!.after, 0, 'as the client sent it');
  // The target starts over from its argument: what the client sees is up to the target.
  await waitFor(() => stream.received.filter((seq) => seq === 1).length === 2, {
    timeout: DEADLINE,
    message: 'stream restarted from the original argument',
  });
  assert.deepEqual(stream.errors, []);
  assert.equal(subscriber.acks, 1);
});

test('maxOperations: one subscription too many closes the client with 1008', async (t) => {
  const gql = await startGraphqlTarget(t);
  const gateway = await startGateway(t, gql.target.url, { maxOperations: 3 });
  const client = await rawClient(t, gateway.url);
  client.send({ type: 'connection_init' });
  await client.frame((f) => f['type'] === 'connection_ack', 'ack');
  for (const id of ['1', '2', '3', '4']) {
    client.send({ id, type: 'subscribe', payload: { query: TICKS_QUERY } });
  }
  await waitFor(() => client.closed !== undefined, { timeout: DEADLINE, message: 'closed' });
  assert.equal(client.closed?.code, 1008);
  assert.match(client.closed!.reason, /too many active operations/);
});

test('slow start: a client that connects before the target exists is acknowledged and served', async (t) => {
  const gql = await startGraphqlTarget(t, { startDelayMs: 1500 });
  const gateway = await startGateway(t, gql.target.url);
  const subscriber = modernSubscriber(t, gateway.url, 'client');
  const stream = subscribeTicks(
    subscriber,
    'ticks',
    { query: TICKS_QUERY, variables: { after: 0, until: 50 } },
    50,
  );
  await waitFor(() => stream.completedAfter !== undefined, {
    timeout: DEADLINE * 2,
    message: 'ticks complete',
  });
  assert.deepEqual(
    stream.received,
    Array.from({ length: 50 }, (_, i) => i + 1),
  );
  assert.equal(subscriber.acks, 1);
  assert.equal(gql.events().filter((e) => e.type === 'init').length, 1, 'one init, no replay');
});
