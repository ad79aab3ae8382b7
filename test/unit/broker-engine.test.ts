/**
 * The broker hook's engine against a fake SessionContext (test/fixtures/broker-harness.ts): its
 * bookkeeping (unconfirmed publishes, last forwarded and last acked offset per stream, ack tokens),
 * what a restore sends and in which order, what it waits for, and every resume-failed signal.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { brokerHook, stomp, type BrokerCodec, type BrokerHookOptions } from '../../hooks/broker.js';
import { OptionError } from '../../src/index.js';
import { brokerHarness, tick, type BrokerHarness, type Sent } from '../fixtures/broker-harness.js';

type Json = Record<string, unknown>;
const j = (value: Json): string => JSON.stringify(value);
const parse = (frames: readonly Sent[]): Json[] => frames.map((f) => JSON.parse(String(f)) as Json);

const deliver = (offset: number, stream = 's'): string =>
  j({ type: 'deliver', stream, offset, payload: offset });

/** A JSON session that connected and subscribed to `s` from offset 0 on the first socket. */
async function subscribed(options: BrokerHookOptions = {}): Promise<BrokerHarness> {
  const h = brokerHarness({ codec: 'json', ...options });
  await h.open();
  assert.equal(h.toUpstream.length, 0, 'nothing to restore on the first socket');
  h.client(j({ type: 'connect' }));
  assert.ok(h.upstream(j({ type: 'connected', session: 'a' })), 'the first connected is shown');
  h.client(j({ type: 'subscribe', stream: 's', from: 0, prefetch: 10 }));
  assert.ok(h.upstream(j({ type: 'subscribed', stream: 's', from: 0 })));
  return h;
}

/** Opens a new socket and answers the JSON restore (connected, then subscribed per stream). */
async function reconnect(h: BrokerHarness, streams: string[] = ['s']): Promise<Json[]> {
  h.lose();
  const before = h.toUpstream.length;
  const restored = h.open();
  await tick();
  assert.equal(h.upstream(j({ type: 'connected', session: 'b' })), undefined, 'not shown twice');
  await tick();
  for (const stream of streams) {
    assert.equal(h.upstream(j({ type: 'subscribed', stream, from: 0 })), undefined);
  }
  await restored;
  assert.equal(h.state, 'open');
  return parse(h.toUpstream.slice(before));
}

test('restore replays the handshake, resubscribes from last acked + 1, resends unconfirmed publishes in order', async () => {
  const h = await subscribed();
  for (const id of ['p-1', 'p-2', 'p-3']) {
    h.client(j({ type: 'publish', id, stream: 's', payload: id }));
  }
  h.upstream(j({ type: 'published', id: 'p-2', stream: 's', offset: 0 }));
  for (const offset of [0, 1, 2, 3]) assert.ok(h.upstream(deliver(offset)));
  h.client(j({ type: 'ack', stream: 's', offset: 1 }));

  const sent = await reconnect(h);
  assert.deepEqual(sent, [
    { type: 'connect' },
    { type: 'subscribe', stream: 's', from: 2, prefetch: 10 },
    { type: 'publish', id: 'p-1', stream: 's', payload: 'p-1' },
    { type: 'publish', id: 'p-3', stream: 's', payload: 'p-3' },
  ]);
  assert.equal(h.counts['streams_resubscribed'], 1);
  assert.equal(h.counts['publishes_resent'], 2);

  // Redeliveries the client has are dropped; the next offsets flow.
  assert.equal(h.upstream(deliver(2)), undefined);
  assert.equal(h.upstream(deliver(3)), undefined);
  assert.ok(h.upstream(deliver(4)));
  assert.equal(h.counts['duplicates_dropped'], 2);
  const offsets = parse(h.toClient)
    .filter((m) => m['type'] === 'deliver')
    .map((m) => m['offset']);
  assert.deepEqual(offsets, [0, 1, 2, 3, 4], 'every offset once, in order');
});

test('live client frames wait for the whole restore (the core queues them meanwhile)', async () => {
  const h = await subscribed();
  h.lose();
  const restored = h.open();
  assert.equal(h.client(j({ type: 'publish', id: 'live', stream: 's' })), 'queued');
  await tick();
  h.upstream(j({ type: 'connected', session: 'b' }));
  await tick();
  assert.equal(h.state, 'restoring', 'still waiting for the resubscribe answer');
  h.upstream(j({ type: 'subscribed', stream: 's', from: 0 }));
  await restored;
  assert.equal(h.state, 'open');
});

test('a restore step without an answer within restoreTimeout fails the attempt with retry', async () => {
  const h = await subscribed({ restoreTimeout: 30 });
  h.lose();
  await h.open();
  assert.equal(h.retries.length, 1);
  assert.match(h.retries[0]!, /no answer to the broker handshake within 30 ms/);
  assert.equal(h.state, 'waiting');
  // The same for the resubscribe.
  const restored = h.open();
  await tick();
  h.upstream(j({ type: 'connected', session: 'c' }));
  await restored;
  assert.match(h.retries[1]!, /no answer to the broker resubscribe within 30 ms/);
});

test('redeliveries the client acknowledged on an older connection are acknowledged to the broker', async () => {
  const h = await subscribed();
  for (const offset of [0, 1, 2]) h.upstream(deliver(offset));
  h.lose();
  const restored = h.open();
  // Queued while restoring, dispatched after: the engine learns of it only then.
  assert.equal(h.client(j({ type: 'ack', stream: 's', offset: 2 })), 'queued');
  await tick();
  h.upstream(j({ type: 'connected', session: 'b' }));
  await tick();
  h.upstream(j({ type: 'subscribed', stream: 's', from: 0 }));
  await restored;
  assert.equal(h.client(j({ type: 'ack', stream: 's', offset: 2 })), 'sent');
  const before = h.toUpstream.length;
  assert.equal(h.upstream(deliver(0)), undefined);
  assert.deepEqual(parse(h.toUpstream.slice(before)), [{ type: 'ack', stream: 's', offset: 0 }]);
});

test('offset-unavailable: a refused resubscribe is signalled and the stream forgotten; the session goes on', async () => {
  const h = await subscribed();
  for (const offset of [0, 1, 2, 3]) h.upstream(deliver(offset));
  h.client(j({ type: 'ack', stream: 's', offset: 1 }));
  h.lose();
  const restored = h.open();
  await tick();
  h.upstream(j({ type: 'connected', session: 'b' }));
  await tick();
  const error = {
    type: 'error',
    code: 'offset-unavailable',
    stream: 's',
    requested: 2,
    first: 90,
    message: 'gone',
  };
  assert.equal(h.upstream(j(error)), undefined, 'the raw error is replaced by the signal');
  await restored;
  const [signal] = parse(h.toClient).filter((m) => m['type'] === 'resume-failed');
  assert.deepEqual(
    { ...signal, message: undefined },
    {
      type: 'resume-failed',
      reason: 'offset-unavailable',
      stream: 's',
      expected: 4,
      available: 90,
      message: undefined,
    },
  );
  assert.equal(h.closed, undefined);
  // A later delivery of that stream is not the engine's business any more.
  assert.ok(h.upstream(deliver(95)));
});

test("the client's own subscribe refused by the broker is its answer, not a resume failure", async () => {
  const h = brokerHarness({ codec: 'json' });
  await h.open();
  h.client(j({ type: 'subscribe', stream: 's', from: 0 }));
  const error = j({ type: 'error', code: 'offset-unavailable', stream: 's', first: 5 });
  assert.equal(h.upstream(error), error);
  assert.equal(parse(h.toClient).filter((m) => m['type'] === 'resume-failed').length, 0);
});

test('offset-unavailable: a broker that resumes further on is caught at the first delivery', async () => {
  const h = await subscribed();
  for (const offset of [0, 1, 2]) h.upstream(deliver(offset));
  h.client(j({ type: 'ack', stream: 's', offset: 2 }));
  await reconnect(h);
  assert.ok(h.upstream(deliver(50)), 'json: told, then delivered (the gap is exact)');
  const signals = parse(h.toClient).filter((m) => m['type'] === 'resume-failed');
  assert.equal(signals.length, 1);
  assert.equal(signals[0]!['expected'], 3);
  assert.equal(signals[0]!['available'], 50);
  assert.ok(h.upstream(deliver(51)));
  assert.equal(parse(h.toClient).filter((m) => m['type'] === 'resume-failed').length, 1);
});

test('onGiveUp: one outage signal per stream with resumeFrom, one with the unconfirmed publish ids', async () => {
  const h = await subscribed();
  h.client(j({ type: 'subscribe', stream: 't', from: 'next' }));
  h.upstream(j({ type: 'subscribed', stream: 't', from: 7 }));
  h.client(j({ type: 'publish', id: 'p-1', stream: 's' }));
  h.client(j({ type: 'publish', id: 'p-2', stream: 's' }));
  h.upstream(j({ type: 'published', id: 'p-1', stream: 's', offset: 0 }));
  for (const offset of [0, 1]) h.upstream(deliver(offset));
  h.client(j({ type: 'ack', stream: 's', offset: 0 }));
  h.lose();
  h.giveUp();
  const signals = parse(h.toClient).filter((m) => m['type'] === 'resume-failed');
  assert.deepEqual(
    signals.map(({ message, ...rest }) => (assert.equal(typeof message, 'string'), rest)),
    [
      { type: 'resume-failed', reason: 'outage', stream: 's', resumeFrom: 1 },
      { type: 'resume-failed', reason: 'outage', stream: 't', resumeFrom: 7 },
      { type: 'resume-failed', reason: 'outage', unconfirmed: ['p-2'] },
    ],
  );
  assert.equal(h.closed?.code, 1013, 'closed by the core, not by the hook');
});

test('onGiveUp with nothing to resume still tells the client', async () => {
  const h = brokerHarness({ codec: 'json' });
  await h.open();
  h.lose();
  h.giveUp();
  assert.deepEqual(
    parse(h.toClient).map((m) => [m['type'], m['reason'], m['unconfirmed']]),
    [['resume-failed', 'outage', []]],
  );
});

test('unconfirmed publishes are bounded: the client is paused at the limit, resumed by confirms', async () => {
  const h = await subscribed({ maxUnackedPublishes: 2 });
  h.client(j({ type: 'publish', id: 'p-1', stream: 's' }));
  assert.equal(h.holds.size, 0);
  h.client(j({ type: 'publish', id: 'p-2', stream: 's' }));
  assert.deepEqual([...h.holds], ['broker:unacked-publishes']);
  h.upstream(j({ type: 'published', id: 'p-1', stream: 's', offset: 0 }));
  assert.equal(h.holds.size, 0);
  const bytes = brokerHarness({ codec: 'json', maxUnackedBytes: 100 });
  await bytes.open();
  bytes.client(j({ type: 'publish', id: 'big', stream: 's', payload: 'x'.repeat(100) }));
  assert.equal(bytes.holds.size, 1);
});

test('subscriptions are bounded by maxStreams: one more closes the client with 1008', async () => {
  const h = await subscribed({ maxStreams: 1 });
  assert.equal(h.client(j({ type: 'subscribe', stream: 's', from: 3 })), 'sent', 'same stream');
  assert.equal(h.client(j({ type: 'subscribe', stream: 't' })), 'dropped');
  assert.equal(h.closed?.code, 1008);
});

test('client keep-alives are dropped while the upstream is down, not queued', async () => {
  const h = brokerHarness({ codec: 'stomp' });
  assert.equal(h.client('\n'), 'consumed');
  assert.equal(h.client(stompFrame('SEND', { destination: '/q' })), 'queued');
});

test('options are validated with the option named', () => {
  assert.throws(() => brokerHook({ codec: 'amqp' as never }), {
    name: 'OptionError',
    message: `broker.codec must be 'json', 'stomp' or a BrokerCodec object, got "amqp"`,
  });
  assert.throws(() => brokerHook({ maxStreams: 0 }), OptionError);
  assert.throws(() => brokerHook({ restoreTimeout: 1.5 }), /broker.restoreTimeout must be/);
  assert.throws(() => brokerHook({ prefetch: 3 } as never), /broker.prefetch is not an option/);
  assert.throws(() => brokerHook({ codec: { name: 'x' } as never }), /missing: classifyClient/);
  assert.equal(brokerHook({ codec: 'stomp' }).protocols?.[0], 'v12.stomp');
  assert.equal(brokerHook().protocols, undefined);
});

// --- STOMP -------------------------------------------------------------------------------------

function stompFrame(command: string, headers: Record<string, string>, body = ''): string {
  return stomp
    .serializeStompFrame({ command, headers: Object.entries(headers), body: Buffer.from(body) })
    .toString();
}

const parseStomp = (data: Sent) => {
  const frame = stomp.parseStompFrame(typeof data === 'string' ? Buffer.from(data) : data);
  assert.ok(frame !== undefined && frame !== 'heartbeat', `a STOMP frame: ${String(data)}`);
  return frame;
};
const h_ = stomp.headerOf;

const message = (offset: number, gen: number, subscription = 'sub-0'): string =>
  stompFrame(
    'MESSAGE',
    {
      subscription,
      destination: '/queue/s',
      'message-id': `T@@g${gen}@@${offset}`,
      ack: `T@@g${gen}@@${offset}`,
      'x-stream-offset': String(offset),
    },
    `body-${offset}`,
  );

/** A STOMP session that connected (heart-beat as given) and subscribed `sub-0` with ack:client. */
async function stompSubscribed(
  options: BrokerHookOptions = {},
  heartBeat = '0,0',
): Promise<BrokerHarness> {
  const h = brokerHarness({ codec: 'stomp', ...options });
  await h.open();
  h.client(stompFrame('CONNECT', { 'accept-version': '1.2', 'heart-beat': heartBeat }));
  h.upstream(stompFrame('CONNECTED', { version: '1.2', 'heart-beat': heartBeat }));
  h.client(
    stompFrame('SUBSCRIBE', {
      id: 'sub-0',
      destination: '/amq/queue/s',
      ack: 'client',
      'prefetch-count': '10',
      'x-stream-offset': 'first',
      receipt: 'sub-r',
    }),
  );
  assert.ok(h.upstream(stompFrame('RECEIPT', { 'receipt-id': 'sub-r' })));
  return h;
}

/** Reconnects a STOMP session and answers CONNECTED and every RECEIPT the restore asks for. */
async function stompReconnect(h: BrokerHarness): Promise<Sent[]> {
  h.lose();
  const before = h.toUpstream.length;
  const restored = h.open();
  await tick();
  assert.equal(h.upstream(stompFrame('CONNECTED', { version: '1.2' })), undefined);
  const answered = new Set<string>();
  for (let i = 0; i < 5 && h.state === 'restoring'; i++) {
    await tick();
    for (const frame of h.toUpstream.slice(before)) {
      const receipt = h_(parseStomp(frame), 'receipt');
      if (receipt === undefined || answered.has(receipt)) continue;
      answered.add(receipt);
      h.upstream(stompFrame('RECEIPT', { 'receipt-id': receipt }));
    }
  }
  await restored;
  return h.toUpstream.slice(before);
}

test('stomp: client acks carry stable ids and are translated to the current connection, never acking a tag twice', async () => {
  const h = await stompSubscribed();
  for (const offset of [0, 1, 2, 3]) {
    const forwarded = parseStomp(h.upstream(message(offset, 1))!);
    assert.equal(h_(forwarded, 'ack'), `subgate@${offset}@sub-0`);
  }
  assert.equal(h.client(stompFrame('ACK', { id: 'subgate@1@sub-0' })), 'sent');
  assert.equal(h_(parseStomp(h.toUpstream.at(-1)!), 'id'), 'T@@g1@@1');

  const restore = (await stompReconnect(h)).map(parseStomp);
  assert.deepEqual(
    restore.map((f) => [f.command, h_(f, 'x-stream-offset') ?? '']),
    [
      ['CONNECT', ''],
      ['SUBSCRIBE', 'offset=2'],
    ],
  );
  assert.match(h_(restore[1]!, 'receipt')!, /^subgate-/, "the engine's receipt, not the client's");
  assert.equal(h.toClient.filter((f) => String(f).startsWith('RECEIPT')).length, 1);

  // Redeliveries 2 and 3 are dropped; their new tags are kept for the client's acks.
  assert.equal(h.upstream(message(2, 2)), undefined);
  assert.equal(h.upstream(message(3, 2)), undefined);
  assert.ok(h.upstream(message(4, 2)));
  assert.equal(h.client(stompFrame('ACK', { id: 'subgate@3@sub-0' })), 'sent');
  assert.equal(h_(parseStomp(h.toUpstream.at(-1)!), 'id'), 'T@@g2@@3', 'old id, new tag');
  const count = h.toUpstream.length;
  assert.equal(h.client(stompFrame('ACK', { id: 'subgate@3@sub-0' })), 'dropped', 'no tag twice');
  assert.equal(h.client(stompFrame('ACK', { id: 'subgate@2@sub-0' })), 'dropped');
  assert.equal(h.toUpstream.length, count);
  assert.equal(h.client(stompFrame('ACK', { id: 'subgate@4@sub-0' })), 'sent');
  assert.equal(h_(parseStomp(h.toUpstream.at(-1)!), 'id'), 'T@@g2@@4');
});

test('stomp: an ack for offsets only an older connection delivered waits for the redeliveries', async () => {
  const h = await stompSubscribed();
  for (const offset of [0, 1, 2]) h.upstream(message(offset, 1));
  await stompReconnect(h);
  assert.equal(h.client(stompFrame('ACK', { id: 'subgate@2@sub-0' })), 'dropped');
  const before = h.toUpstream.length;
  assert.equal(h.upstream(message(0, 2)), undefined);
  // Cumulative: acknowledging the redelivery of 0 now, then 1 and 2 as they come.
  assert.deepEqual(
    h.toUpstream.slice(before).map((f) => h_(parseStomp(f), 'id')),
    ['T@@g2@@0'],
  );
  h.upstream(message(1, 2));
  h.upstream(message(2, 2));
  assert.deepEqual(
    h.toUpstream.slice(before).map((f) => h_(parseStomp(f), 'id')),
    ['T@@g2@@0', 'T@@g2@@1', 'T@@g2@@2'],
  );
});

test("stomp: a subscribe whose RECEIPT never came is resent with the client's receipt, shown once", async () => {
  const h = brokerHarness({ codec: 'stomp' });
  await h.open();
  h.client(stompFrame('CONNECT', { 'accept-version': '1.2' }));
  h.upstream(stompFrame('CONNECTED', { version: '1.2' }));
  h.client(stompFrame('SUBSCRIBE', { id: 'a', destination: '/amq/queue/s', receipt: 'mine' }));
  const restore = (await stompReconnect(h)).map(parseStomp);
  assert.equal(h_(restore[1]!, 'receipt'), 'mine');
  assert.equal(
    h.toClient.filter((f) => String(f).startsWith('RECEIPT')).length,
    1,
    'the RECEIPT reached the client',
  );
});

test('stomp: a broker ERROR during a restore fails the attempt instead of reaching the client', async () => {
  const h = await stompSubscribed();
  h.lose();
  const restored = h.open();
  await tick();
  h.upstream(stompFrame('CONNECTED', { version: '1.2' }));
  await tick();
  assert.equal(h.upstream(stompFrame('ERROR', { message: 'not_found' })), undefined);
  await restored;
  assert.equal(h.retries.length, 1);
  assert.match(h.retries[0]!, /refused the resubscribe: not_found/);
  assert.equal(h.toClient.filter((f) => String(f).startsWith('ERROR')).length, 0);
});

test('stomp: streams published to are probed before resubscribing and resending; probe messages are dropped', async () => {
  const h = await stompSubscribed();
  const send = stompFrame(
    'SEND',
    { destination: '/amq/queue/orders', receipt: 'p-1', 'x-queue-type': 'stream' },
    'x',
  );
  h.client(send);
  const restore = (await stompReconnect(h)).map(parseStomp);
  assert.deepEqual(
    restore.map((f) => [f.command, h_(f, 'destination') ?? h_(f, 'id')]),
    [
      ['CONNECT', undefined],
      ['SUBSCRIBE', '/amq/queue/orders'],
      ['UNSUBSCRIBE', h_(restore[1]!, 'id')],
      ['SUBSCRIBE', '/amq/queue/s'],
      ['SEND', '/amq/queue/orders'],
    ],
  );
  const probeId = h_(restore[1]!, 'id')!;
  assert.equal(
    h.upstream(stompFrame('MESSAGE', { subscription: probeId, 'x-stream-offset': '9', ack: 'x' })),
    undefined,
  );
});

test('stomp: a resumed stream that jumps is an ERROR signal and a close; a 1-offset hole is not', async () => {
  const h = await stompSubscribed();
  for (const offset of [0, 1, 2]) h.upstream(message(offset, 1));
  h.client(stompFrame('ACK', { id: 'subgate@2@sub-0' }));
  await stompReconnect(h);
  // RabbitMQ skips one offset at each segment start: not a loss.
  assert.ok(h.upstream(message(4, 2)));
  assert.equal(h.closed, undefined);

  const g = await stompSubscribed();
  for (const offset of [0, 1, 2]) g.upstream(message(offset, 1));
  g.client(stompFrame('ACK', { id: 'subgate@1@sub-0' }));
  await stompReconnect(g);
  assert.equal(g.upstream(message(480, 2)), undefined, 'not delivered: the client is closed');
  const error = parseStomp(g.toClient.at(-1)!);
  assert.equal(error.command, 'ERROR');
  assert.equal(h_(error, stomp.RESUME_FAILED_HEADER), 'offset-unavailable');
  assert.equal(h_(error, 'subscription'), 'sub-0');
  assert.equal(h_(error, 'subgate-expected-offset'), '3');
  assert.equal(h_(error, 'subgate-available-offset'), '480');
  assert.deepEqual(g.closed, { code: 1011, reason: 'broker resume failed: offset-unavailable' });
});

test('stomp: a client that never acks past maxPendingDeliveries gets buffer-full and 1008', async () => {
  const h = await stompSubscribed({ maxPendingDeliveries: 3 });
  for (const offset of [0, 1, 2]) assert.ok(h.upstream(message(offset, 1)));
  assert.equal(h.upstream(message(3, 1)), undefined);
  const error = parseStomp(h.toClient.at(-1)!);
  assert.equal(h_(error, stomp.RESUME_FAILED_HEADER), 'buffer-full');
  assert.equal(h.closed?.code, 1008);
});

test('stomp: during an outage the client hears a heartbeat as often as it asked', async () => {
  const h = await stompSubscribed({}, '0,40');
  h.upstream(stompFrame('CONNECTED', { version: '1.2', 'heart-beat': '40,0' }));
  const before = h.toClient.length;
  await sleep(130);
  assert.equal(h.toClient.length, before, 'nothing while the broker sends its own');
  h.lose();
  await sleep(130);
  const beats = h.toClient.slice(before);
  assert.ok(beats.length >= 2, `heartbeats during the outage: ${beats.length}`);
  assert.ok(beats.every((f) => f === '\n'));
  h.giveUp();
});

test('stomp: the outage signal is one ERROR frame (the core closes with 1013)', async () => {
  const h = await stompSubscribed();
  h.upstream(message(0, 1));
  h.client(stompFrame('ACK', { id: 'subgate@0@sub-0' }));
  h.client(stompFrame('SEND', { destination: '/amq/queue/s', receipt: 'p-9' }, 'x'));
  h.lose();
  h.giveUp();
  const frames = h.toClient.filter((f) => String(f).startsWith('ERROR')).map(parseStomp);
  assert.equal(frames.length, 1);
  assert.equal(h_(frames[0]!, stomp.RESUME_FAILED_HEADER), 'outage');
  const body = JSON.parse(frames[0]!.body.toString()) as { failures: Json[] };
  assert.deepEqual(
    body.failures.map(({ message, ...rest }) => (void message, rest)),
    [
      { reason: 'outage', stream: 'sub-0', resumeFrom: 1 },
      { reason: 'outage', unconfirmed: ['p-9'] },
    ],
  );
  assert.equal(h.closed?.code, 1013);
});

// --- A custom codec: the example of hooks/broker/codec.ts, run ---------------------------------

test('a custom codec (the documented line protocol) gets the same resume', async () => {
  const lineCodec: BrokerCodec = {
    name: 'line',
    classifyClient(data) {
      const [verb, a, b] = data.toString().split(' ');
      if (verb === 'PUB' && a) return { kind: 'publish', id: a };
      if (verb === 'SUB' && a) return { kind: 'subscribe', stream: a, ack: 'cumulative' };
      if (verb === 'ACK' && a && b) return { kind: 'ack', stream: a, offset: Number(b) };
      return { kind: 'other' };
    },
    classifyUpstream(data) {
      const [verb, a, b] = data.toString().split(' ');
      if (verb === 'OK' && a) return { kind: 'receipt', id: a };
      if (verb === 'MSG' && a && b) return { kind: 'delivery', stream: a, offset: Number(b) };
      return { kind: 'other' };
    },
    resubscribe: (sub, from) => `SUB ${sub.stream} ${from ?? ''}`.trim(),
    ack: (stream, offset) => `ACK ${stream} ${offset}`,
    signal: (failures) => ({ frames: failures.map((f) => `FAIL ${f.reason} ${f.stream ?? ''}`) }),
  };
  const h = brokerHarness({ codec: lineCodec });
  await h.open();
  h.client('SUB news');
  h.client('PUB a news hello');
  h.client('PUB b news world');
  h.upstream('OK a');
  for (const offset of [0, 1, 2]) h.upstream(`MSG news ${offset} x`);
  h.client('ACK news 1');
  h.lose();
  await h.open();
  assert.deepEqual(h.toUpstream.slice(-2).map(String), ['SUB news 2', 'PUB b news world']);
  assert.equal(h.upstream('MSG news 2 x'), undefined, 'the client has it');
  assert.equal(h.upstream('MSG news 3 x'), 'MSG news 3 x');
  h.lose();
  h.giveUp();
  assert.deepEqual(h.toClient.slice(-2), ['FAIL outage news', 'FAIL outage ']);
});
