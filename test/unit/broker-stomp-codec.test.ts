/**
 * The STOMP codec: frame parsing and serialising (STOMP 1.2 escaping, content-length, heartbeats),
 * and classification, against frames recorded from RabbitMQ 3.10.8 Web-STOMP (note the `\n` it
 * sends after each frame's NUL).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stomp, stompCodec } from '../../hooks/broker.js';

const { parseStompFrame, serializeStompFrame, headerOf } = stomp;

/** Frames as RabbitMQ 3.10.8 Web-STOMP sent them (recorded). */
const RECORDED = {
  connected:
    'CONNECTED\nserver:RabbitMQ/3.10.8\nsession:session-t6VbIlgLowG1uKu3ldykoQ\nheart-beat:0,0\nversion:1.2\n\n\u0000\n',
  receipt: 'RECEIPT\nreceipt-id:p0\n\n\u0000\n',
  message:
    'MESSAGE\nsubscription:s0\ndestination:/queue/st1\nmessage-id:T_s0@@session-t6VbIlgLowG1uKu3ldykoQ@@1\nredelivered:false\nack:T_s0@@session-t6VbIlgLowG1uKu3ldykoQ@@1\nreceipt:p0\nx-stream-offset:0\npersistent:true\ncontent-type:application/json\ncontent-length:7\n\n{"i":0}\u0000\n',
} as const;

const frame = (text: string): Buffer => Buffer.from(text);
const build = (command: string, headers: Record<string, string>, body = ''): Buffer =>
  serializeStompFrame({ command, headers: Object.entries(headers), body: Buffer.from(body) });

test('parses recorded RabbitMQ frames, trailing end-of-line included', () => {
  const message = parseStompFrame(frame(RECORDED.message));
  assert.ok(message !== undefined && message !== 'heartbeat');
  assert.equal(message.command, 'MESSAGE');
  assert.equal(headerOf(message, 'x-stream-offset'), '0');
  assert.equal(headerOf(message, 'ack'), 'T_s0@@session-t6VbIlgLowG1uKu3ldykoQ@@1');
  assert.equal(message.body.toString(), '{"i":0}');
  const connected = parseStompFrame(frame(RECORDED.connected));
  assert.ok(connected !== undefined && connected !== 'heartbeat');
  assert.equal(headerOf(connected, 'version'), '1.2');
});

test('heartbeats, malformed frames and several frames in one message', () => {
  assert.equal(parseStompFrame(frame('\n')), 'heartbeat');
  assert.equal(parseStompFrame(frame('\r\n\n')), 'heartbeat');
  assert.equal(parseStompFrame(frame('SEND\ndestination:/q\n\nno nul')), undefined);
  assert.equal(parseStompFrame(frame('send\n\n\u0000')), undefined, 'commands are upper case');
  assert.equal(parseStompFrame(frame('SEND\nbadheader\n\n\u0000')), undefined);
  assert.equal(
    parseStompFrame(frame('SEND\ndestination:/q\n\na\u0000SEND\ndestination:/q\n\nb\u0000')),
    undefined,
  );
  assert.equal(parseStompFrame(frame('SEND\ncontent-length:5\n\nab\u0000')), undefined);
});

test('content-length bodies may hold NUL; header values are escaped except on CONNECT', () => {
  const body = Buffer.from([0x61, 0x00, 0x62]);
  const sent = serializeStompFrame({
    command: 'SEND',
    headers: [
      ['destination', '/queue/a:b'],
      ['note', 'line1\nline2\\x'],
      ['content-length', '3'],
    ],
    body,
  });
  assert.match(sent.toString('latin1'), /destination:\/queue\/a\\cb\nnote:line1\\nline2\\\\x\n/);
  const parsed = parseStompFrame(sent);
  assert.ok(parsed !== undefined && parsed !== 'heartbeat');
  assert.equal(headerOf(parsed, 'destination'), '/queue/a:b');
  assert.equal(headerOf(parsed, 'note'), 'line1\nline2\\x');
  assert.deepEqual(parsed.body, body);
  const connect = parseStompFrame(frame('CONNECT\nlogin:a\\cb\npasscode:x:y\n\n\u0000'));
  assert.ok(connect !== undefined && connect !== 'heartbeat');
  assert.equal(headerOf(connect, 'login'), 'a\\cb', 'CONNECT headers are not unescaped');
  assert.equal(headerOf(connect, 'passcode'), 'x:y');
});

test('repeated headers: the first one counts', () => {
  const parsed = parseStompFrame(frame('MESSAGE\nfoo:1\nfoo:2\n\n\u0000'));
  assert.ok(parsed !== undefined && parsed !== 'heartbeat');
  assert.equal(headerOf(parsed, 'foo'), '1');
});

test('classifies client frames', () => {
  const c = (data: Buffer) => stompCodec.classifyClient(data, false);
  assert.deepEqual(c(build('CONNECT', { 'accept-version': '1.2', 'heart-beat': '0,5000' })), {
    kind: 'connect',
    heartbeat: 5000,
  });
  assert.deepEqual(c(build('STOMP', { 'accept-version': '1.2' })), {
    kind: 'connect',
    heartbeat: 0,
  });
  assert.deepEqual(c(build('SEND', { destination: '/amq/queue/s', receipt: 'p-1' }, 'x')), {
    kind: 'publish',
    id: 'p-1',
  });
  assert.deepEqual(
    c(build('SEND', { destination: '/amq/queue/s', receipt: 'p-1', 'x-queue-type': 'stream' })),
    { kind: 'publish', id: 'p-1', target: 's' },
    'a stream target, to probe after a reconnect',
  );
  assert.deepEqual(c(build('SEND', { destination: '/amq/queue/s' }, 'x')), { kind: 'other' });
  assert.deepEqual(
    c(build('SEND', { destination: '/q', receipt: 'r', transaction: 't1' })),
    { kind: 'other' },
    'transactional SENDs are not tracked',
  );
  assert.deepEqual(
    c(
      build('SUBSCRIBE', {
        id: 'sub-0',
        destination: '/amq/queue/s',
        ack: 'client',
        'prefetch-count': '10',
        'x-stream-offset': 'offset=42',
        receipt: 'r1',
      }),
    ),
    { kind: 'subscribe', stream: 'sub-0', ack: 'cumulative', from: 42, receipt: 'r1' },
  );
  assert.deepEqual(
    c(build('SUBSCRIBE', { id: 'x', destination: '/q', ack: 'client-individual' })),
    { kind: 'subscribe', stream: 'x', ack: 'individual' },
  );
  assert.deepEqual(
    c(build('SUBSCRIBE', { id: 'x', destination: '/q', 'x-stream-offset': 'first' })),
    { kind: 'subscribe', stream: 'x', ack: 'auto' },
  );
  assert.deepEqual(c(build('UNSUBSCRIBE', { id: 'x' })), { kind: 'unsubscribe', stream: 'x' });
  assert.deepEqual(c(build('ACK', { id: 'subgate@17@sub-0' })), {
    kind: 'ack',
    stream: 'sub-0',
    offset: 17,
  });
  assert.deepEqual(c(build('NACK', { id: 'subgate@3@a:b' })), {
    kind: 'ack',
    stream: 'a:b',
    offset: 3,
  });
  assert.deepEqual(
    c(build('ACK', { id: 'T_s0@@session@@1' })),
    { kind: 'other' },
    "an ack id that is not the gateway's passes through",
  );
  assert.deepEqual(c(frame('\n')), { kind: 'heartbeat' });
  assert.deepEqual(c(build('DISCONNECT', { receipt: 'bye' })), { kind: 'other' });
});

test('classifies recorded broker frames; MESSAGE gets a stable ack id for the client', () => {
  const u = (text: string | Buffer) =>
    stompCodec.classifyUpstream(typeof text === 'string' ? frame(text) : text, false);
  assert.deepEqual(u(RECORDED.connected), { kind: 'connected', heartbeat: 0 });
  assert.deepEqual(u(build('CONNECTED', { version: '1.2', 'heart-beat': '10000,0' })), {
    kind: 'connected',
    heartbeat: 10000,
  });
  assert.deepEqual(u(RECORDED.receipt), { kind: 'receipt', id: 'p0' });
  const delivery = u(RECORDED.message);
  assert.ok(delivery.kind === 'delivery');
  assert.equal(delivery.stream, 's0');
  assert.equal(delivery.offset, 0);
  assert.equal(delivery.token, 'T_s0@@session-t6VbIlgLowG1uKu3ldykoQ@@1');
  const rewritten = parseStompFrame(Buffer.from(delivery.forClient!()));
  assert.ok(rewritten !== undefined && rewritten !== 'heartbeat');
  assert.equal(headerOf(rewritten, 'ack'), 'subgate@0@s0');
  assert.equal(headerOf(rewritten, 'message-id'), 'subgate@0@s0');
  assert.equal(headerOf(rewritten, 'x-stream-offset'), '0');
  assert.equal(rewritten.body.toString(), '{"i":0}');
  assert.deepEqual(
    u(build('MESSAGE', { subscription: 'q', 'message-id': '1', destination: '/queue/q' })),
    { kind: 'other' },
    'a queue (not stream) message is not a delivery with an offset',
  );
  assert.deepEqual(
    u(build('MESSAGE', { subscription: 'subgate-probe-subgate-2-1', 'x-stream-offset': '5' })),
    { kind: 'internal' },
  );
  assert.deepEqual(u(build('ERROR', { message: 'not_found' }, 'detail')), {
    kind: 'error',
    message: 'not_found',
  });
  assert.deepEqual(u('\n'), { kind: 'other' });
});

test('resubscribe sets x-stream-offset and the receipt; ack and probe frames', () => {
  const original = build('SUBSCRIBE', {
    id: 'sub-0',
    destination: '/amq/queue/s',
    ack: 'client',
    'prefetch-count': '10',
    'x-stream-offset': 'first',
    receipt: 'mine',
  });
  const subscription = {
    stream: 'sub-0',
    frame: original,
    binary: false,
    info: { kind: 'subscribe', stream: 'sub-0', ack: 'cumulative', receipt: 'mine' } as const,
    answered: true,
  };
  const again = parseStompFrame(
    Buffer.from(stompCodec.resubscribe(subscription, 43, 'subgate-2-1')),
  );
  assert.ok(again !== undefined && again !== 'heartbeat');
  assert.deepEqual(again.headers, [
    ['id', 'sub-0'],
    ['destination', '/amq/queue/s'],
    ['ack', 'client'],
    ['prefetch-count', '10'],
    ['x-stream-offset', 'offset=43'],
    ['receipt', 'subgate-2-1'],
  ]);
  const ack = parseStompFrame(Buffer.from(stompCodec.ack('sub-0', 43, 'T_x@@s@@7')));
  assert.ok(ack !== undefined && ack !== 'heartbeat');
  assert.equal(ack.command, 'ACK');
  assert.equal(headerOf(ack, 'id'), 'T_x@@s@@7');
  const probe = stompCodec.probe!('orders', 'subgate-2-1')!.map((f) =>
    parseStompFrame(Buffer.from(f)),
  );
  assert.deepEqual(
    probe.map((f) => (f === undefined || f === 'heartbeat' ? f : [f.command, ...f.headers])),
    [
      [
        'SUBSCRIBE',
        ['id', 'subgate-probe-subgate-2-1'],
        ['destination', '/amq/queue/orders'],
        ['ack', 'client'],
        ['prefetch-count', '1'],
        ['x-stream-offset', 'next'],
        ['receipt', 'subgate-2-1'],
      ],
      ['UNSUBSCRIBE', ['id', 'subgate-probe-subgate-2-1']],
    ],
  );
});

test('the signal is one ERROR frame with the documented headers and a JSON body, then a close', () => {
  const signal = stompCodec.signal([
    {
      reason: 'offset-unavailable',
      stream: 'sub-0',
      expected: 10,
      available: 480,
      message: 'gone',
    },
  ]);
  assert.equal(signal.frames.length, 1);
  assert.deepEqual(signal.close, {
    code: 1011,
    reason: 'broker resume failed: offset-unavailable',
  });
  const error = parseStompFrame(Buffer.from(signal.frames[0]!));
  assert.ok(error !== undefined && error !== 'heartbeat');
  assert.equal(error.command, 'ERROR');
  assert.equal(headerOf(error, stomp.RESUME_FAILED_HEADER), 'offset-unavailable');
  assert.equal(headerOf(error, 'subscription'), 'sub-0');
  assert.equal(headerOf(error, 'subgate-expected-offset'), '10');
  assert.equal(headerOf(error, 'subgate-available-offset'), '480');
  assert.equal(headerOf(error, 'message'), 'subgate: gone');
  assert.deepEqual(JSON.parse(error.body.toString()), {
    type: 'resume-failed',
    failures: [
      {
        reason: 'offset-unavailable',
        stream: 'sub-0',
        expected: 10,
        available: 480,
        message: 'gone',
      },
    ],
  });
  assert.equal(stompCodec.heartbeat?.(), '\n');
});
