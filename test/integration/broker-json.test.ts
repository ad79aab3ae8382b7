/**
 * The broker hook's explicit signals with the JSON codec and the example broker as a child
 * process: an offset the broker no longer stores, and an outage longer than `maxOutage`, each
 * reach the client as the documented `resume-failed` frame. Plus the examples run through the
 * real `subgate` binary with `--hook broker`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { startConsumer } from '../../examples/broker/consumer.js';
import { readStreamLog } from '../../examples/broker/log.js';
import { startProducer } from '../../examples/broker/producer.js';
import { brokerHook } from '../../hooks/broker.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/index.js';
import { startChildTarget, type ChildTarget } from '../helpers/child-target.js';
import { startCli } from '../helpers/cli-process.js';
import { waitFor } from '../helpers/wait.js';
import { recordingClient, type RecordingClient } from '../fixtures/broker-client.js';

const FIXTURE = new URL('../fixtures/broker-json-target.js', import.meta.url);

const TIMING = {
  pingInterval: 200,
  pongTimeout: 200,
  connectTimeout: 500,
  retryInitialDelay: 20,
  retryMaxDelay: 200,
  logLevel: 'silent',
} satisfies Partial<GatewayOptions>;

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'subgate-broker-it-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function startBrokerChild(
  t: TestContext,
  dir: string,
  extra: { port?: number; retention?: number } = {},
): Promise<ChildTarget> {
  const broker = await startChildTarget(FIXTURE, {
    ...(extra.port === undefined ? {} : { port: extra.port }),
    env: { BROKER_DATA: dir, BROKER_RETENTION: String(extra.retention ?? 0) },
  });
  t.after(() => broker.stop());
  return broker;
}

async function startGateway(
  t: TestContext,
  target: string,
  extra: Partial<GatewayOptions> = {},
): Promise<Gateway> {
  const gateway = createGateway({
    target,
    port: 0,
    hooks: [brokerHook({ codec: 'json' })],
    ...TIMING,
    ...extra,
  });
  t.after(() => gateway.close());
  await gateway.ready;
  return gateway;
}

function client(t: TestContext, url: string): RecordingClient {
  const c = recordingClient(url);
  t.after(() => c.close());
  return c;
}

const parse = (frame: string): Record<string, unknown> =>
  JSON.parse(frame) as Record<string, unknown>;
const ofType =
  (type: string, extra: Record<string, unknown> = {}) =>
  (frame: string): boolean => {
    const m = parse(frame);
    return m['type'] === type && Object.entries(extra).every(([k, v]) => m[k] === v);
  };

/** Publishes `count` messages straight to the broker (not through subgate). */
async function preload(t: TestContext, url: string, stream: string, count: number): Promise<void> {
  const producer = startProducer({ url, stream, count, prefix: 'pre-' });
  t.after(() => producer.close());
  await producer.done;
  producer.close();
}

test('an offset the broker no longer stores reaches the client as resume-failed (offset-unavailable)', async (t) => {
  const dir = tempDir(t);
  const first = await startBrokerChild(t, dir);
  await preload(t, first.url, 'orders', 100);
  const gateway = await startGateway(t, first.url);

  const c = client(t, gateway.url);
  await c.open;
  c.send({ type: 'connect' });
  c.send({ type: 'subscribe', stream: 'orders', from: 0, prefetch: 5 });
  await c.next(ofType('deliver', { offset: 4 }), 'deliveries 0..4');
  c.send({ type: 'ack', stream: 'orders', offset: 2 });
  await c.next(ofType('deliver', { offset: 7 }), 'deliveries 5..7 (prefetch 5 after the ack)');

  // The broker comes back keeping only the last 10 messages: offsets 0..89 are gone.
  const port = first.port;
  await first.stop();
  await startBrokerChild(t, dir, { port, retention: 10 });

  const failed = parse(await c.next(ofType('resume-failed'), 'resume-failed signal'));
  assert.equal(failed['reason'], 'offset-unavailable');
  assert.equal(failed['stream'], 'orders');
  assert.equal(failed['expected'], 8, 'the first offset the client does not have');
  assert.equal(failed['available'], 90, 'the first offset still stored');
  assert.equal(typeof failed['message'], 'string');
  // The broker's own error went no further, no delivery jumped silently to a later offset, and
  // the session goes on: the client decides to continue from what is available.
  assert.equal(c.frames.filter(ofType('error')).length, 0);
  const deliveries = c.frames.filter(ofType('deliver')).map((f) => parse(f)['offset']);
  assert.deepEqual(deliveries, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.equal(c.closed, undefined);
  c.send({ type: 'subscribe', stream: 'orders', from: 90, prefetch: 100 });
  await c.next(ofType('deliver', { offset: 99 }), 'deliveries from 90 after resubscribing');
  const after = c.frames.filter(ofType('deliver')).map((f) => parse(f)['offset']);
  assert.deepEqual(after.slice(8), [90, 91, 92, 93, 94, 95, 96, 97, 98, 99]);
});

test('an outage longer than maxOutage reaches the client as resume-failed (outage), then 1013', async (t) => {
  const dir = tempDir(t);
  const broker = await startBrokerChild(t, dir);
  t.after(() => broker.thaw());
  const gateway = await startGateway(t, broker.url, { maxOutage: 1500 });

  const c = client(t, gateway.url);
  await c.open;
  c.send({ type: 'connect' });
  c.send({ type: 'subscribe', stream: 'orders', from: 'first', prefetch: 100 });
  await c.next(ofType('subscribed'), 'subscribed');
  for (const id of ['p-1', 'p-2', 'p-3']) {
    c.send({ type: 'publish', id, stream: 'orders', payload: id });
  }
  await c.next(ofType('deliver', { offset: 2 }), 'deliveries 0..2');
  await c.next(ofType('published', { id: 'p-3' }), 'p-3 confirmed');
  c.send({ type: 'ack', stream: 'orders', offset: 1 });

  // Frozen: what is sent now is never confirmed, and the gateway cannot get a new connection.
  broker.freeze();
  c.send({ type: 'publish', id: 'p-4', stream: 'orders', payload: 'p-4' });

  const closed = await c.waitClosed(8000);
  assert.equal(closed.code, 1013);
  const signals = c.frames.filter(ofType('resume-failed')).map(parse);
  assert.equal(signals.length, 2, JSON.stringify(signals));
  const [stream, publishes] = signals;
  assert.equal(stream!['reason'], 'outage');
  assert.equal(stream!['stream'], 'orders');
  assert.equal(stream!['resumeFrom'], 2, 'last acked + 1');
  assert.equal(publishes!['reason'], 'outage');
  assert.deepEqual(publishes!['unconfirmed'], ['p-4']);
  assert.equal(c.frames.filter(ofType('published', { id: 'p-4' })).length, 0);
});

test('the examples through the subgate binary with --hook broker: every publish stored, every offset delivered once', async (t) => {
  const dir = tempDir(t);
  const broker = await startBrokerChild(t, dir);
  const cli = await startCli([
    '--target',
    broker.url,
    '--port',
    '0',
    '--hook',
    'broker',
    '--ping-interval',
    '300',
    '--pong-timeout',
    '300',
    '--retry-initial-delay',
    '50',
    '--retry-max-delay',
    '300',
    '--log-level',
    'silent',
  ]);
  t.after(() => {
    cli.child.kill('SIGKILL');
  });
  const consumer = startConsumer({ url: cli.url, stream: 'events', prefetch: 50 });
  t.after(() => consumer.close());
  await consumer.subscribed;
  let restarted: Promise<void> | undefined;
  const producer = startProducer({
    url: cli.url,
    stream: 'events',
    count: 500,
    window: 50,
    onProgress: (n) => {
      if (n === 200) restarted ??= broker.restart();
    },
  });
  t.after(() => producer.close());
  await producer.done;
  await restarted;
  const stored = readStreamLog(dir, 'events');
  const storedIds = new Set(stored.map((m) => m.id));
  assert.deepEqual(
    producer.sent.filter((id) => !storedIds.has(id)),
    [],
    'sent − stored is empty',
  );
  await waitFor(() => consumer.received.length >= stored.length, {
    timeout: 10_000,
    message: 'consumer received every stored offset',
  });
  assert.deepEqual(
    consumer.received,
    stored.map((m) => m.offset),
    'every offset once, in order',
  );
});
