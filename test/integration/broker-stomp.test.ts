/**
 * The broker hook's explicit signals with the STOMP codec against a real RabbitMQ (started
 * privately by the test; skipped, saying so, only when `rabbitmq-server` is not installed): a
 * stream whose retention dropped the offset to resume from, and an outage longer than
 * `maxOutage`, each reach the client as an `ERROR` frame with the `subgate-resume-failed` header.
 * The fault proxy sits between the gateway and Web-STOMP.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { brokerHook, stomp } from '../../hooks/broker.js';
import { createGateway, type Gateway, type GatewayOptions } from '../../src/index.js';
import {
  CONNECT_HEADERS,
  declareStream,
  isFrame,
  stompClient,
  type StompClient,
} from '../fixtures/broker-stomp-client.js';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { findRabbitMqServer, startRabbitMq, type RabbitMq } from '../helpers/rabbitmq.js';
import { waitFor } from '../helpers/wait.js';

const { headerOf } = stomp;
const SKIP =
  findRabbitMqServer() === undefined
    ? 'rabbitmq-server is not installed: run .ci/install-packages.sh rabbitmq-server (Debian: apt-get install rabbitmq-server)'
    : false;

let rabbit: RabbitMq | undefined;
before(async () => {
  if (SKIP === false) rabbit = await startRabbitMq();
});
after(() => rabbit?.stop());

async function setup(
  t: TestContext,
  extra: Partial<GatewayOptions> = {},
): Promise<{ proxy: FaultProxy; gateway: Gateway }> {
  const proxy = await startFaultProxy(rabbit!.webStompPort);
  t.after(() => proxy.close());
  const gateway = createGateway({
    target: `ws://127.0.0.1:${proxy.port}/ws`,
    port: 0,
    hooks: [brokerHook({ codec: 'stomp' })],
    // Not tighter: a loaded RabbitMQ can take a few hundred ms to answer, and a heartbeat that
    // declares it dead mid-restore again and again never lets the restore finish.
    pingInterval: 500,
    pongTimeout: 1000,
    connectTimeout: 2000,
    retryInitialDelay: 20,
    retryMaxDelay: 200,
    logLevel: (process.env['SUBGATE_TEST_LOG'] as 'info' | undefined) ?? 'silent',
    ...extra,
  });
  t.after(() => gateway.close());
  await gateway.ready;
  return { proxy, gateway };
}

async function connect(t: TestContext, url: string, heartBeat = '0,0'): Promise<StompClient> {
  const c = stompClient(url);
  t.after(() => c.close());
  await c.open;
  c.send('CONNECT', { ...CONNECT_HEADERS, 'heart-beat': heartBeat });
  await c.next(isFrame('CONNECTED'), 'CONNECTED');
  return c;
}

/** Publishes `count` messages of ~220 bytes straight to RabbitMQ and waits for every receipt. */
async function publish(t: TestContext, stream: string, from: number, count: number): Promise<void> {
  const c = await connect(t, rabbit!.url);
  for (let i = from; i < from + count; i++) {
    c.send(
      'SEND',
      { destination: `/amq/queue/${stream}`, receipt: `d-${i}`, persistent: 'true' },
      `${i}:${'x'.repeat(210)}`,
    );
  }
  await c.next(isFrame('RECEIPT', 'receipt-id', `d-${from + count - 1}`), 'published', 20_000);
  c.close();
}

const offsets = (c: StompClient): number[] =>
  c.frames.filter(isFrame('MESSAGE')).map((f) => Number(headerOf(f, 'x-stream-offset')));

test(
  'a stream whose retention dropped the resume offset: ERROR subgate-resume-failed:offset-unavailable, then 1011',
  { skip: SKIP, timeout: 60_000 },
  async (t) => {
    // Small segments and a 20 kB cap: old segments go as soon as new ones fill up.
    const stream = `short-${randomUUID().slice(0, 8)}`;
    await rabbit!.ctl(
      'set_policy',
      '--apply-to',
      'queues',
      `policy-${stream}`,
      `^${stream}$`,
      '{"max-length-bytes":20000,"stream-max-segment-size-bytes":5000}',
    );
    await declareStream(rabbit!.url, stream);
    await publish(t, stream, 0, 30);
    const { proxy, gateway } = await setup(t);

    const c = await connect(t, gateway.url);
    c.send('SUBSCRIBE', {
      id: 'sub-0',
      destination: `/amq/queue/${stream}`,
      ack: 'client',
      'prefetch-count': '10',
      'x-stream-offset': 'first',
    });
    await waitFor(() => offsets(c).length >= 10, {
      timeout: 10_000,
      message: `10 messages (got ${offsets(c).join(',')}; frames ${c.frames.map((f) => f.command).join(',')}; closed ${JSON.stringify(c.closed)})`,
    });
    await sleep(300); // RabbitMQ grants credit per chunk: it may deliver more than prefetch-count
    c.send('ACK', { id: headerOf(c.frames.filter(isFrame('MESSAGE'))[4]!, 'ack')! });
    await sleep(300);
    const had = offsets(c);
    // In order; a segment start skips one offset (an offset tracking snapshot, not a message).
    assert.ok(
      had.every((offset, i) => i === 0 || (offset > had[i - 1]! && offset <= had[i - 1]! + 2)),
      `offsets in order: ${had.join(',')}`,
    );

    // While the gateway cannot reach RabbitMQ, 500 messages push offsets 5… out of retention.
    proxy.blackhole();
    await publish(t, stream, 30, 500);
    proxy.pass();
    proxy.reset();

    const error = await c
      .next(isFrame('ERROR'), 'resume-failed ERROR', 20_000)
      .catch((e: Error) => {
        throw new Error(
          `${e.message}: offsets ${offsets(c).join(',')} closed ${JSON.stringify(c.closed)}`,
        );
      });
    assert.equal(headerOf(error, stomp.RESUME_FAILED_HEADER), 'offset-unavailable');
    assert.equal(headerOf(error, 'subscription'), 'sub-0');
    assert.equal(
      headerOf(error, 'subgate-expected-offset'),
      String(had.at(-1)! + 1),
      `the client has 0..${had.at(-1)!}`,
    );
    const available = Number(headerOf(error, 'subgate-available-offset'));
    assert.ok(available > 400, `the first offset RabbitMQ still has: ${available}`);
    const closed = await waitFor(() => c.closed !== undefined, {
      timeout: 5000,
      message: 'closed after the ERROR',
    }).then(() => c.closed!);
    assert.equal(closed.code, 1011);
    assert.deepEqual(offsets(c), had, 'no silent jump');
  },
);

test(
  'an outage longer than maxOutage: heartbeats from the gateway meanwhile, then ERROR subgate-resume-failed:outage with the unconfirmed SEND, then 1013',
  { skip: SKIP, timeout: 60_000 },
  async (t) => {
    const stream = `outage-${randomUUID().slice(0, 8)}`;
    await declareStream(rabbit!.url, stream);
    await publish(t, stream, 0, 5);
    const { proxy, gateway } = await setup(t, { maxOutage: 2500 });

    // RabbitMQ's heart-beats are whole seconds: it answers 1000,0.
    const c = await connect(t, gateway.url, '0,1000');
    c.send('SUBSCRIBE', {
      id: 'sub-0',
      destination: `/amq/queue/${stream}`,
      ack: 'client',
      'prefetch-count': '10',
      'x-stream-offset': 'first',
    });
    await waitFor(() => offsets(c).length === 5, { timeout: 10_000, message: '5 messages' });
    c.send('ACK', { id: headerOf(c.frames.filter(isFrame('MESSAGE'))[2]!, 'ack')! });
    await sleep(200);

    proxy.blackhole();
    const cut = performance.now();
    c.send('SEND', { destination: `/amq/queue/${stream}`, receipt: 'p-lost' }, 'never confirmed');

    const closed = await waitFor(() => c.closed !== undefined, {
      timeout: 10_000,
      message: 'closed after maxOutage',
    }).then(() => c.closed!);
    assert.equal(closed.code, 1013);
    const errors = c.frames.filter(isFrame('ERROR'));
    assert.equal(errors.length, 1);
    assert.equal(headerOf(errors[0]!, stomp.RESUME_FAILED_HEADER), 'outage');
    const body = JSON.parse(errors[0]!.body.toString()) as {
      failures: { reason: string; stream?: string; resumeFrom?: number; unconfirmed?: string[] }[];
    };
    assert.deepEqual(
      body.failures.map(({ reason, stream: s, resumeFrom, unconfirmed }) => ({
        reason,
        s,
        resumeFrom,
        unconfirmed,
      })),
      [
        { reason: 'outage', s: 'sub-0', resumeFrom: 3, unconfirmed: undefined },
        { reason: 'outage', s: undefined, resumeFrom: undefined, unconfirmed: ['p-lost'] },
      ],
    );
    // Nothing of RabbitMQ's gets through the black hole: these are the gateway's.
    const during = c.heartbeats.filter((at) => at > cut + 200);
    assert.ok(during.length >= 2, `heartbeats while RabbitMQ was unreachable: ${during.length}`);
  },
);
