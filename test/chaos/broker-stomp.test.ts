/**
 * The broker hook with the STOMP codec against a real RabbitMQ (streams through Web-STOMP),
 * started privately by the test: a producer and a consumer, both STOMP 1.2 clients through an
 * in-process gateway, while faults hit the link between the gateway and RabbitMQ: fault-proxy
 * resets (TCP RST both ways), a black hole, and a SIGKILL + restart of RabbitMQ itself. Same
 * checker as the JSON chaos test: sent − stored is empty (read back from the stream directly), and
 * the consumer gets every stored offset once, in order, with the stored body.
 *
 * Skipped, saying so, only when `rabbitmq-server` is not installed (`.ci/install-packages.sh rabbitmq-server`).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { brokerHook } from '../../hooks/broker.js';
import { headerOf } from '../../hooks/broker/codecs/stomp.js';
import { createGateway } from '../../src/index.js';
import {
  CONNECT_HEADERS,
  declareStream,
  isFrame,
  readStream,
  stompClient,
  type StompClient,
} from '../fixtures/broker-stomp-client.js';
import { startFaultProxy } from '../helpers/fault-proxy.js';
import { findRabbitMqServer, startRabbitMq } from '../helpers/rabbitmq.js';
import { checkSequence, formatReport } from '../helpers/sequence-checker.js';
import { waitFor } from '../helpers/wait.js';
import { hookEvents } from '../fixtures/broker-metrics.js';

const MESSAGES = 2000;
const WINDOW = 50;
const SKIP =
  findRabbitMqServer() === undefined
    ? 'rabbitmq-server is not installed: run .ci/install-packages.sh rabbitmq-server (Debian: apt-get install rabbitmq-server)'
    : false;

type Fault = 'reset' | 'blackhole' | 'restart';
const PLAN: readonly (readonly [number, Fault])[] = [
  [300, 'reset'],
  [700, 'blackhole'],
  [1100, 'restart'],
  [1600, 'reset'],
];

/** A STOMP consumer: records deliveries, acks cumulatively every 10 or after 50 ms of quiet. */
function consume(c: StompClient, destination: string) {
  const offsets: number[] = [];
  const bodies: string[] = [];
  let lastAck: string | undefined;
  let unacked = 0;
  let timer: NodeJS.Timeout | undefined;
  const ack = (): void => {
    clearTimeout(timer);
    timer = undefined;
    if (lastAck === undefined || unacked === 0) return;
    unacked = 0;
    c.send('ACK', { id: lastAck });
  };
  c.onFrame((frame) => {
    if (frame.command !== 'MESSAGE') return;
    offsets.push(Number(headerOf(frame, 'x-stream-offset')));
    bodies.push(frame.body.toString());
    lastAck = headerOf(frame, 'ack');
    if (++unacked >= 10) ack();
    else timer ??= setTimeout(ack, 50);
  });
  c.send('SUBSCRIBE', {
    id: 'sub-0',
    destination,
    ack: 'client',
    'prefetch-count': '100',
    'x-stream-offset': 'first',
    receipt: 'sub-0',
  });
  return { offsets, bodies, stop: () => clearTimeout(timer) };
}

test(
  'stomp codec against RabbitMQ streams: resets, a black hole and a broker restart between subgate and Web-STOMP lose no publish and deliver every offset once, in order',
  { skip: SKIP, timeout: 120_000 },
  async (t) => {
    const rabbit = await startRabbitMq();
    t.after(() => rabbit.stop());
    const stream = `subgate-chaos-${randomUUID().slice(0, 8)}`;
    await declareStream(rabbit.url, stream);
    const destination = `/amq/queue/${stream}`;

    const proxy = await startFaultProxy(rabbit.webStompPort);
    t.after(() => proxy.close());
    const gateway = createGateway({
      target: `ws://127.0.0.1:${proxy.port}/ws`,
      port: 0,
      hooks: [brokerHook({ codec: 'stomp' })],
      pingInterval: 300,
      pongTimeout: 300,
      connectTimeout: 1000,
      retryInitialDelay: 50,
      retryMaxDelay: 500,
      maxOutage: 60_000,
      logLevel: 'silent',
    });
    t.after(() => gateway.close());
    await gateway.ready;

    const consumerClient = stompClient(gateway.url);
    t.after(() => consumerClient.close());
    await consumerClient.open;
    consumerClient.send('CONNECT', CONNECT_HEADERS);
    await consumerClient.next(isFrame('CONNECTED'), 'consumer CONNECTED');
    const consumer = consume(consumerClient, destination);
    t.after(() => consumer.stop());
    await consumerClient.next(isFrame('RECEIPT', 'receipt-id', 'sub-0'), 'subscribed');

    const producer = stompClient(gateway.url);
    t.after(() => producer.close());
    await producer.open;
    producer.send('CONNECT', CONNECT_HEADERS);
    await producer.next(isFrame('CONNECTED'), 'producer CONNECTED');

    const sent: number[] = [];
    const confirmed = new Set<string>();
    const fired: string[] = [];
    let faults: Promise<void> = Promise.resolve();
    let step = 0;
    const fill = (): void => {
      while (sent.length < MESSAGES && sent.length - confirmed.size < WINDOW) {
        const n = sent.length + 1;
        producer.send(
          'SEND',
          {
            destination,
            receipt: `p-${n}`,
            persistent: 'true',
            'x-queue-type': 'stream',
            'content-type': 'text/plain',
          },
          String(n),
        );
        sent.push(n);
      }
    };
    producer.onFrame((frame) => {
      const id = headerOf(frame, 'receipt-id');
      if (frame.command !== 'RECEIPT' || id === undefined || confirmed.has(id)) return;
      confirmed.add(id);
      const planned = PLAN[step];
      if (planned !== undefined && confirmed.size >= planned[0]) {
        step++;
        faults = faults.then(() => inject(planned[1], planned[0]));
      }
      fill();
    });

    const inject = async (fault: Fault, at: number): Promise<void> => {
      if (fault === 'reset') {
        proxy.reset();
      } else if (fault === 'blackhole') {
        proxy.blackhole();
        await sleep(1500);
        proxy.pass();
        proxy.reset(); // the black-holed connections, for good
      } else {
        // Right after a restart RabbitMQ accepts connections before its streams are back, and
        // closes with 1000 "STOMP died" what touches them: the hook's restore (probe, resubscribe)
        // sees that close and asks to retry, until the stream is ready.
        await rabbit.restart();
      }
      fired.push(`${fault}@${at}`);
      const seen = consumer.offsets.length;
      await waitFor(() => consumer.offsets.length > seen, {
        timeout: 30_000,
        message: `consumer receives again after ${fault}@${at}`,
      });
    };

    fill();
    await waitFor(() => confirmed.size === MESSAGES, {
      timeout: 90_000,
      interval: 50,
      message: `every publish confirmed (have ${confirmed.size}, faults ${fired.join(',')})`,
    });
    await faults;
    assert.deepEqual(
      fired,
      PLAN.map(([at, fault]) => `${fault}@${at}`),
    );

    const stored = await readStream(rabbit.url, stream, MESSAGES);
    await waitFor(() => new Set(consumer.offsets).size >= stored.length, {
      timeout: 20_000,
      message: `consumer received every stored offset (has ${new Set(consumer.offsets).size} of ${stored.length})`,
    });
    await sleep(300);

    const publishes = checkSequence(
      stored.map((m) => Number(m.body)),
      sent,
    );
    console.log(formatReport('stomp publishes → RabbitMQ stream', publishes));
    const first = stored[0]?.offset ?? 0;
    const deliveries = checkSequence(consumer.offsets, {
      from: first,
      to: first + stored.length - 1,
    });
    console.log(formatReport('stomp RabbitMQ stream → consumer', deliveries));
    const events = await hookEvents(gateway.metrics);
    console.log(
      `stomp chaos: sent=${sent.length} confirmed=${confirmed.size} stored=${stored.length} storedTwice=${publishes.duplicates} received=${consumer.offsets.length} faults=${fired.join(',')} events=${JSON.stringify(events)}`,
    );

    assert.equal(publishes.lost, 0, 'no publish lost');
    assert.equal(publishes.unexpected, 0);
    assert.deepEqual(
      stored.map((m) => m.offset),
      stored.map((_, i) => first + i),
      'stream offsets are contiguous',
    );
    assert.equal(deliveries.lost, 0, 'no offset missed');
    assert.equal(deliveries.duplicates, 0, 'no offset twice');
    assert.equal(deliveries.outOfOrder, 0, 'offsets in order');
    consumer.offsets.forEach((offset, i) => {
      assert.equal(consumer.bodies[i], stored[offset - first]!.body, `body at offset ${offset}`);
    });
    assert.equal(consumerClient.closed, undefined, 'the consumer connection stayed open');
    assert.equal(producer.closed, undefined, 'the producer connection stayed open');
    assert.equal(
      consumerClient.frames.filter((f) => f.command === 'ERROR').length,
      0,
      'no ERROR reached the consumer',
    );
  },
);
