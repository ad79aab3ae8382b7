/**
 * G7 under chaos: 5 real clients × 4 `ticks` subscriptions × 2,000 events through the gateway
 * while the target (a child process) starts late, is SIGKILLed and restarted three times, is
 * SIGSTOPped past the heartbeat deadline and continued, and restarts gracefully (1001). Every
 * client must receive every `seq` exactly once, in order, with no `error` and no `complete` before
 * `until`, on one connection that is acknowledged once.
 *
 * Three variants: the cursor through a variable, through an inline literal (or an absent
 * argument) rewritten in the document, and the legacy subscriptions-transport-ws protocol on both
 * sides.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { SubscribePayload } from 'graphql-ws';
import { checkSequence, formatReport } from '../helpers/sequence-checker.js';
import { waitFor } from '../helpers/wait.js';
import {
  collectRestores,
  legacySubscriber,
  modernSubscriber,
  startGateway,
  startGraphqlTarget,
  subscribeTicks,
  type GraphqlTarget,
  type Subscriber,
  type TestLike,
  type TickStream,
} from '../fixtures/graphql-harness.js';

const TICKS = 2000;
const CLIENTS = 5;
const SUBSCRIPTIONS_PER_CLIENT = 4;
/** The whole run, outages included, must end well before this. */
const RUN_DEADLINE = 45_000;
/** Each fault step: the stream must move on within this. */
const STEP_DEADLINE = 15_000;
/** SIGSTOP lasts well past the heartbeat deadline (pingInterval + pongTimeout = 600 ms). */
const FROZEN_MS = 1500;

type Variant = {
  protocol: 'modern' | 'legacy';
  /** Subscription `n` (0-based) of a client: its payload and the result key of the root field. */
  payload(n: number): { payload: SubscribePayload; key: string };
};

const byVariable = (_n: number): { payload: SubscribePayload; key: string } => ({
  payload: {
    query:
      'subscription Ticks($after: Int, $until: Int) { ticks(after: $after, until: $until) { seq } }',
    variables: { after: 0, until: TICKS },
    operationName: 'Ticks',
  },
  key: 'ticks',
});

const byLiteral = (n: number): { payload: SubscribePayload; key: string } =>
  [
    {
      payload: { query: `subscription { ticks(after: 0, until: ${TICKS}) { seq } }` },
      key: 'ticks',
    },
    { payload: { query: `subscription { ticks(until: ${TICKS}) { seq } }` }, key: 'ticks' },
    {
      payload: { query: `subscription { t: ticks(until: ${TICKS}, after: 0) { seq } }` },
      key: 't',
    },
    {
      payload: { query: `subscription S { ticks(after: 0, until: ${TICKS}) { __typename seq } }` },
      key: 'ticks',
    },
  ][n % 4]!;

/** The lowest progress over every stream. */
const progress = (streams: readonly TickStream[]): number =>
  Math.min(...streams.map((s) => s.received.length));

async function runScenario(t: TestLike, variant: Variant): Promise<void> {
  const started = performance.now();
  const restores = collectRestores(t);
  // Slow start: the gateway and every client are up before the target exists.
  const gql: GraphqlTarget = await startGraphqlTarget(t, { startDelayMs: 1000 });
  const { target } = gql;
  const gateway = await startGateway(t, target.url);

  const subscribers: Subscriber[] = [];
  const streams: TickStream[] = [];
  for (let c = 0; c < CLIENTS; c++) {
    const label = `client#${c}`;
    const subscriber =
      variant.protocol === 'modern'
        ? modernSubscriber(t, gateway.url, label)
        : legacySubscriber(t, gateway.url, label);
    subscribers.push(subscriber);
    for (let s = 0; s < SUBSCRIPTIONS_PER_CLIENT; s++) {
      const { payload, key } = variant.payload(s);
      streams.push(subscribeTicks(subscriber, `${label}/sub#${s}`, payload, TICKS, key));
    }
  }
  await target.ready;

  const inits = (): number => gql.events().filter((e) => e.type === 'init').length;
  const fault = async (at: number, name: string, act: () => Promise<void>): Promise<void> => {
    await waitFor(() => progress(streams) >= at, {
      timeout: STEP_DEADLINE,
      message: `streams reach ${at} before ${name}`,
    });
    const initsBefore = inits();
    await act();
    // Every session re-initialised on the new target, then the streams moved on.
    await waitFor(() => inits() >= initsBefore + CLIENTS, {
      timeout: STEP_DEADLINE,
      message: `every client re-initialised after ${name}`,
    });
    t.diagnostic(`${name} at ${at}: recovered, progress ${progress(streams)}`);
  };

  await fault(250, 'SIGKILL+restart #1', () => target.restart());
  await fault(500, 'SIGKILL+restart #2 (300 ms down)', () => target.restart({ delayMs: 300 }));
  await fault(800, `SIGSTOP ${FROZEN_MS} ms`, async () => {
    target.freeze();
    await sleep(FROZEN_MS);
    target.thaw();
  });
  await fault(1100, 'graceful restart (1001)', async () => {
    await target.kill('SIGTERM');
    await target.restart();
  });
  await fault(1400, 'SIGKILL+restart #3', () => target.restart());

  await waitFor(() => streams.every((s) => s.completedAfter !== undefined || s.errors.length > 0), {
    timeout: Math.max(1000, RUN_DEADLINE - (performance.now() - started)),
    message: 'every stream completes',
  });

  const totals = { lost: 0, duplicates: 0, outOfOrder: 0 };
  for (const stream of streams) {
    const report = checkSequence(stream.received, { from: 1, to: TICKS });
    t.diagnostic(formatReport(stream.label, report));
    totals.lost += report.lost;
    totals.duplicates += report.duplicates;
    totals.outOfOrder += report.outOfOrder;
  }
  t.diagnostic(
    `total over ${streams.length} subscriptions: lost=${totals.lost} duplicates=${totals.duplicates} outOfOrder=${totals.outOfOrder} in ${Math.round(performance.now() - started)} ms`,
  );
  assert.deepEqual(totals, { lost: 0, duplicates: 0, outOfOrder: 0 });
  for (const stream of streams) {
    assert.deepEqual(stream.errors, [], `${stream.label}: no error`);
    assert.deepEqual(stream.others, [], `${stream.label}: only ticks`);
    assert.equal(stream.completedAfter, TICKS, `${stream.label}: complete only after until`);
  }
  for (const subscriber of subscribers) {
    assert.equal(subscriber.acks, 1, `${subscriber.label}: exactly one connection_ack`);
    assert.deepEqual(subscriber.closes, [], `${subscriber.label}: connection never closed`);
    assert.equal(subscriber.pingPongs, 0, `${subscriber.label}: no ping/pong it did not ask for`);
  }
  // Resume really happened through the target's argument: re-subscribes started past 0, and
  // the hook counted every one of them as resumed, none as a possible gap.
  const subscriptions = CLIENTS * SUBSCRIPTIONS_PER_CLIENT;
  const resumed = gql.events().filter((e) => e.type === 'subscribe' && (e.after ?? 0) > 0);
  assert.ok(resumed.length >= subscriptions * 5, `target resumed ${resumed.length}`);
  const sum = (key: 'resubscribed' | 'resumed' | 'unresumable' | 'duplicatesDropped'): number =>
    restores.reduce((total, m) => total + (key === 'duplicatesDropped' ? 0 : m[key]), 0);
  t.diagnostic(
    `hook restores: ${restores.length}, resubscribed=${sum('resubscribed')} resumed=${sum('resumed')} unresumable=${sum('unresumable')}`,
  );
  assert.ok(restores.length >= CLIENTS * 5, `restores ${restores.length}`);
  assert.equal(sum('unresumable'), 0);
  assert.equal(sum('resumed'), sum('resubscribed'));
}

test('graphql-transport-ws, cursor in a variable: exactly once through crashes, freeze, slow start, 1001', async (t) => {
  await runScenario(t, { protocol: 'modern', payload: byVariable });
});

test('graphql-transport-ws, inline literal / absent / aliased argument rewritten in the document', async (t) => {
  await runScenario(t, { protocol: 'modern', payload: byLiteral });
});

test('legacy subscriptions-transport-ws on both sides: exactly once through the same faults', async (t) => {
  await runScenario(t, { protocol: 'legacy', payload: byVariable });
});
