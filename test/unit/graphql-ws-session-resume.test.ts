/**
 * The wire side of resume tokens in the graphql-ws hook: splitting our part out of
 * connection_init, the credentials a token is bound to, the token in the ack, the cursor stamped
 * on each `next` (spliced into the text, or re-serialised when splicing is not safe).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ackWithToken,
  canonicalJson,
  credentialsOf,
  nextWithCursor,
  operationFingerprint,
  splitInit,
} from '../../hooks/graphql-ws/session-resume.js';

test('splitInit takes our key out and validates it', () => {
  assert.deepEqual(splitInit({ auth: 'x', subgate: { token: 't', cursors: { a: 1 } } }), {
    payload: { auth: 'x' },
    hadKey: true,
    token: 't',
    cursors: { a: 1 },
  });
  assert.deepEqual(splitInit({ auth: 'x' }), {
    payload: { auth: 'x' },
    hadKey: false,
    token: undefined,
    cursors: undefined,
  });
  assert.deepEqual(splitInit(undefined)?.hadKey, false);
  assert.equal(splitInit({ subgate: 'token' }), undefined);
  assert.equal(splitInit({ subgate: { token: 42 } }), undefined);
  assert.equal(splitInit({ subgate: { token: '' } }), undefined);
  assert.equal(splitInit({ subgate: { cursors: [1] } }), undefined);
});

test('credentials do not depend on key order, and include the Authorization header', () => {
  assert.equal(
    canonicalJson({ b: 1, a: { d: [1, { f: 2, e: 3 }], c: null } }),
    '{"a":{"c":null,"d":[1,{"e":3,"f":2}]},"b":1}',
  );
  assert.equal(credentialsOf({ a: 1, b: 2 }, {}), credentialsOf({ b: 2, a: 1 }, {}));
  assert.notEqual(credentialsOf({ a: 1 }, {}), credentialsOf({ a: 2 }, {}));
  assert.notEqual(
    credentialsOf({ a: 1 }, { authorization: 'Bearer x' }),
    credentialsOf({ a: 1 }, { authorization: 'Bearer y' }),
  );
  assert.equal(credentialsOf({ a: 1 }, { cookie: 'x' }), credentialsOf({ a: 1 }, { cookie: 'y' }));
});

test('the token joins whatever payload the target acked with', () => {
  assert.deepEqual(JSON.parse(ackWithToken({ type: 'connection_ack' }, 't')), {
    type: 'connection_ack',
    payload: { subgate: { token: 't' } },
  });
  assert.deepEqual(
    JSON.parse(ackWithToken({ type: 'connection_ack', payload: { server: 'v1' } }, 't')),
    { type: 'connection_ack', payload: { server: 'v1', subgate: { token: 't' } } },
  );
});

test('the cursor is spliced into the text when that is safe, else the message is rebuilt', () => {
  const cases: [string, unknown][] = [
    ['{"id":"1","type":"next","payload":{"data":{"t":{"seq":5}}}}', 5], // spliced
    ['{"id":"1","type":"next","payload":{}}', 'c'], // spliced into an empty payload
    ['{"id":"1","type":"next","payload": { }}', { page: 2 }], // a space: rebuilt
    ['{"id":"1","type":"next","payload":{"data":{},"extensions":{"cost":3}}}', 7], // merged
    ['{"meta":{"payload":{"x":1}},"id":"1","type":"next","payload":{"data":{}}}', 8], // rebuilt
    ['{"id":"1", "type":"next", "payload" : {"data":{}}}', 9], // no exact key: rebuilt
  ];
  for (const [text, cursor] of cases) {
    const message = JSON.parse(text) as { payload: Record<string, unknown> };
    const stamped = JSON.parse(nextWithCursor(text, message, cursor)) as typeof message;
    assert.deepEqual(
      stamped,
      {
        ...message,
        payload: {
          ...message.payload,
          extensions: {
            ...(message.payload['extensions'] as object | undefined),
            subgate: { cursor },
          },
        },
      },
      text,
    );
  }
  const text = '{"id":"1","type":"next","payload":{"data":{"t":{"seq":5}}}}';
  assert.equal(
    nextWithCursor(text, JSON.parse(text), 5),
    '{"id":"1","type":"next","payload":{"extensions":{"subgate":{"cursor":5}},"data":{"t":{"seq":5}}}}',
    'the rest of the frame is kept byte for byte',
  );
});

test('an operation fingerprint follows the document and the operation name', () => {
  const query = 'subscription S { ticks { seq } }';
  assert.equal(
    operationFingerprint({ query }),
    operationFingerprint({ query, variables: { a: 1 } }),
  );
  assert.notEqual(operationFingerprint({ query }), operationFingerprint({ query: `${query} ` }));
  assert.notEqual(
    operationFingerprint({ query, operationName: 'S' }),
    operationFingerprint({ query }),
  );
});
