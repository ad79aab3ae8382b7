/**
 * The JSON broker protocol: validation of client frames (what the example broker accepts), and the
 * codec's classification and frames.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonCodec, json } from '../../hooks/broker.js';

const b = (value: unknown): Buffer => Buffer.from(JSON.stringify(value));

test('parseClientMessage accepts the documented frames and names the faulty field', () => {
  assert.deepEqual(json.parseClientMessage('{"type":"connect"}'), { type: 'connect' });
  assert.deepEqual(
    json.parseClientMessage(b({ type: 'subscribe', stream: 's', from: 'first', prefetch: 5 })),
    { type: 'subscribe', stream: 's', from: 'first', prefetch: 5 },
  );
  const cases: [unknown, string][] = [
    ['nope', 'frame must be a JSON object with a string "type"'],
    [{ type: 'publish', stream: 's' }, 'publish.id must be a non-empty string'],
    [{ type: 'publish', id: 'p', stream: '' }, 'publish.stream must be a non-empty string'],
    [
      { type: 'subscribe', stream: 's', from: -1 },
      'subscribe.from must be an offset (integer >= 0), "first" or "next"',
    ],
    [{ type: 'subscribe', stream: 's', prefetch: 0 }, 'subscribe.prefetch must be an integer >= 1'],
    [{ type: 'ack', stream: 's', offset: 1.5 }, 'ack.offset must be an integer >= 0'],
    [{ type: 'unsubscribe' }, 'unsubscribe.stream must be a non-empty string'],
    [{ type: 'connect', client: 3 }, 'connect.client must be a string'],
    [{ type: 'ping' }, 'unknown type "ping"'],
  ];
  for (const [frame, error] of cases) {
    assert.equal(json.parseClientMessage(typeof frame === 'string' ? frame : b(frame)), error);
  }
});

test('the json codec classifies client frames', () => {
  const c = (value: unknown) => jsonCodec.classifyClient(b(value), false);
  assert.deepEqual(c({ type: 'connect', client: 'x' }), { kind: 'connect' });
  assert.deepEqual(c({ type: 'publish', id: 'p-1', stream: 'orders', payload: 1 }), {
    kind: 'publish',
    id: 'p-1',
    target: 'orders',
  });
  assert.deepEqual(c({ type: 'publish', stream: 'orders' }), { kind: 'other' }, 'no id: untracked');
  assert.deepEqual(c({ type: 'subscribe', stream: 'orders', from: 7 }), {
    kind: 'subscribe',
    stream: 'orders',
    ack: 'cumulative',
    from: 7,
  });
  assert.deepEqual(c({ type: 'subscribe', stream: 'orders', from: 'next' }), {
    kind: 'subscribe',
    stream: 'orders',
    ack: 'cumulative',
  });
  assert.deepEqual(c({ type: 'ack', stream: 'orders', offset: 3 }), {
    kind: 'ack',
    stream: 'orders',
    offset: 3,
  });
  assert.deepEqual(c({ type: 'unsubscribe', stream: 'orders' }), {
    kind: 'unsubscribe',
    stream: 'orders',
  });
  assert.deepEqual(jsonCodec.classifyClient(Buffer.from('not json'), false), { kind: 'other' });
  assert.deepEqual(jsonCodec.classifyClient(b({ type: 'connect' }), true), { kind: 'other' });
});

test('the json codec classifies broker frames', () => {
  const u = (value: unknown) => jsonCodec.classifyUpstream(b(value), false);
  assert.deepEqual(u({ type: 'deliver', stream: 's', offset: 4, payload: {} }), {
    kind: 'delivery',
    stream: 's',
    offset: 4,
  });
  assert.deepEqual(u({ type: 'published', id: 'p-1', stream: 's', offset: 4 }), {
    kind: 'receipt',
    id: 'p-1',
  });
  assert.deepEqual(u({ type: 'connected', session: 'x' }), { kind: 'connected' });
  assert.deepEqual(u({ type: 'subscribed', stream: 's', from: 2 }), {
    kind: 'subscribed',
    stream: 's',
    from: 2,
  });
  assert.deepEqual(
    u({ type: 'error', code: 'store-failed', id: 'p-2', message: 'disk full' }),
    { kind: 'receipt', id: 'p-2' },
    'a refused publish is answered, so no longer unconfirmed',
  );
  assert.deepEqual(
    u({ type: 'error', code: 'offset-unavailable', stream: 's', requested: 1, first: 90 }),
    { kind: 'subscribe-failed', stream: 's', reason: 'offset-unavailable', available: 90 },
  );
  assert.deepEqual(u({ type: 'error', code: 'bad-request', message: 'x' }), { kind: 'other' });
  assert.deepEqual(u({ type: 'deliver', stream: 's', offset: -1 }), { kind: 'other' });
});

test('the json codec resubscribes from an offset, keeping the rest of the frame', () => {
  const frame = b({ type: 'subscribe', stream: 's', from: 'first', prefetch: 50 });
  const subscription = {
    stream: 's',
    frame,
    binary: false,
    info: { kind: 'subscribe', stream: 's', ack: 'cumulative' } as const,
    answered: true,
  };
  assert.deepEqual(JSON.parse(String(jsonCodec.resubscribe(subscription, 42, 'r'))), {
    type: 'subscribe',
    stream: 's',
    from: 42,
    prefetch: 50,
  });
  assert.deepEqual(JSON.parse(String(jsonCodec.resubscribe(subscription, undefined, 'r'))), {
    type: 'subscribe',
    stream: 's',
    from: 'first',
    prefetch: 50,
  });
  assert.deepEqual(JSON.parse(String(jsonCodec.ack('s', 9, undefined))), {
    type: 'ack',
    stream: 's',
    offset: 9,
  });
});

test('the json signal is one resume-failed frame per failure; the session stays open', () => {
  const signal = jsonCodec.signal([
    { reason: 'offset-unavailable', stream: 's', expected: 3, available: 90, message: 'gone' },
    { reason: 'outage', unconfirmed: ['p-4'], message: 'down' },
  ]);
  assert.equal(signal.close, undefined);
  assert.deepEqual(
    signal.frames.map((f) => JSON.parse(String(f))),
    [
      {
        type: 'resume-failed',
        reason: 'offset-unavailable',
        stream: 's',
        expected: 3,
        available: 90,
        message: 'gone',
      },
      { type: 'resume-failed', reason: 'outage', unconfirmed: ['p-4'], message: 'down' },
    ],
  );
});
