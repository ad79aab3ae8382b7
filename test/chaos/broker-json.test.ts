/**
 * The broker hook with the JSON codec under real faults: the example broker runs as a child
 * process (its log on disk) and is SIGKILLed and restarted three times and SIGSTOPped once while
 * a producer publishes 5,000 messages and a consumer reads them, both through an in-process
 * gateway. The checker works on data: what the producer sent against what the broker's disk log
 * holds (nothing lost; duplicates allowed: at-least-once), and what the consumer received against
 * the offsets stored (every offset exactly once, in order, with the stored payload).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startConsumer } from '../../examples/broker/consumer.js';
import { readStreamLog } from '../../examples/broker/log.js';
import { startProducer } from '../../examples/broker/producer.js';
import { brokerHook } from '../../hooks/broker.js';
import { createGateway } from '../../src/index.js';
import { hookEvents } from '../fixtures/broker-metrics.js';
import { startChildTarget } from '../helpers/child-target.js';
import { checkSequence, formatReport } from '../helpers/sequence-checker.js';
import { waitFor } from '../helpers/wait.js';

const FIXTURE = new URL('../fixtures/broker-json-target.js', import.meta.url);
const MESSAGES = 5000;
const STREAM = 'orders';

type Fault = 'kill' | 'freeze';

/** `promise`, or a rejection naming `what` after `ms`. */
async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string | (() => string),
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${typeof what === 'string' ? what : what()}: not within ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
/** Faults, each fired once the producer has this many confirmed publishes. */
const PLAN: readonly (readonly [number, Fault])[] = [
  [700, 'kill'],
  [1700, 'kill'],
  [2700, 'freeze'],
  [3700, 'kill'],
];

test(
  'json codec: 3 SIGKILLs and a SIGSTOP of the broker mid-stream of 5,000 messages lose no publish and deliver every offset once, in order',
  { timeout: 90_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'subgate-broker-json-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const broker = await startChildTarget(FIXTURE, { env: { BROKER_DATA: dir } });
    t.after(() => broker.stop());

    const gateway = createGateway({
      target: broker.url,
      port: 0,
      hooks: [brokerHook({ codec: 'json' })],
      pingInterval: 300,
      pongTimeout: 300,
      retryInitialDelay: 50,
      retryMaxDelay: 500,
      logLevel: 'silent',
    });
    t.after(() => gateway.close());
    await gateway.ready;

    const consumer = startConsumer({ url: gateway.url, stream: STREAM, prefetch: 200 });
    t.after(() => consumer.close());
    await within(consumer.subscribed, 10_000, 'consumer subscribed');
    let consumerClosed: { code: number; reason: string } | undefined;
    void consumer.closed.then((event) => (consumerClosed = event));

    // Faults run one after the other, triggered by the producer's progress.
    const fired: string[] = [];
    let faults: Promise<void> = Promise.resolve();
    let next = 0;
    const onProgress = (confirmed: number): void => {
      const step = PLAN[next];
      if (step === undefined || confirmed < step[0]) return;
      next++;
      const [at, fault] = step;
      faults = faults.then(async () => {
        if (fault === 'kill') {
          await broker.restart({ delayMs: 150 });
        } else {
          broker.freeze();
          await sleep(1200);
          broker.thaw();
        }
        fired.push(`${fault}@${at}`);
        // The next fault only once the consumer's stream flows again, so every fault hits a
        // resumed session.
        const seen = consumer.received.length;
        await waitFor(() => consumer.received.length > seen, {
          timeout: 15_000,
          message: `consumer receives again after ${fault}@${at}`,
        });
      });
    };
    const producer = startProducer({
      url: gateway.url,
      stream: STREAM,
      count: MESSAGES,
      window: 100,
      onProgress,
    });
    t.after(() => producer.close());

    await within(
      producer.done,
      60_000,
      () =>
        `producer: ${producer.confirmed.size}/${MESSAGES} confirmed (faults fired: ${fired.join(', ')})`,
    );
    await faults;
    assert.deepEqual(
      fired,
      PLAN.map(([at, fault]) => `${fault}@${at}`),
      'every fault fired mid-stream',
    );

    const storedCount = (): number => readStreamLog(dir, STREAM).length;
    await waitFor(() => new Set(consumer.received).size >= storedCount(), {
      timeout: 20_000,
      message: `consumer received every stored offset (has ${new Set(consumer.received).size})`,
    });
    await sleep(300); // anything extra (a duplicate) would arrive now
    await broker.stop();
    const stored = readStreamLog(dir, STREAM);

    // Publishes: sent − stored must be empty (at-least-once: a resend may be stored twice).
    const number = (id: string): number => Number(id.slice(2));
    const publishes = checkSequence(
      stored.map((m) => number(m.id)),
      producer.sent.map(number),
    );
    console.log(formatReport('json publishes → broker log', publishes));
    // Deliveries: every stored offset exactly once, in order.
    const deliveries = checkSequence(consumer.received, { from: 0, to: stored.length - 1 });
    console.log(formatReport('json broker log → consumer', deliveries));
    const events = await hookEvents(gateway.metrics);
    console.log(
      `json chaos: gateway events ${Object.entries(events)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ')}`,
    );
    console.log(
      `json chaos: sent=${producer.sent.length} confirmed=${producer.confirmed.size} stored=${stored.length} storedTwice=${publishes.duplicates} received=${consumer.received.length} faults=${fired.join(',')}`,
    );

    assert.equal(producer.sent.length, MESSAGES);
    assert.equal(publishes.lost, 0, 'no publish lost');
    assert.equal(publishes.unexpected, 0);
    assert.equal(deliveries.lost, 0, 'no offset missed');
    assert.equal(deliveries.duplicates, 0, 'no offset twice');
    assert.equal(deliveries.outOfOrder, 0, 'offsets in order');
    assert.equal(deliveries.unexpected, 0);
    // The consumer got the payload stored at each offset.
    consumer.received.forEach((offset, i) => {
      const payload = consumer.payloads[i] as { n: number };
      assert.equal(payload.n, number(stored[offset]!.id), `payload at offset ${offset}`);
    });
    assert.deepEqual(consumer.failures, [], 'no resume-failed signal');
    assert.deepEqual(producer.failures, []);
    assert.equal(consumerClosed, undefined, 'the consumer connection stayed open');
    // Both sessions were resumed after each of the 4 faults.
    assert.ok((events['streams_resubscribed'] ?? 0) >= PLAN.length, 'the stream was resumed');
  },
);
