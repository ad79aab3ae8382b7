import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse, print } from 'graphql';
import {
  alreadySeen,
  analyzeOperation,
  applyCursor,
  cursorAt,
  valueToLiteral,
} from '../../hooks/graphql-ws/resume.js';

/** The document as `graphql` prints it, so expectations do not depend on whitespace. */
const norm = (query: string): string => print(parse(query));

test('analyzeOperation tells the operation kind, name, root field and response key', () => {
  assert.deepEqual(analyzeOperation({ query: 'subscription S { t: ticks(after: 0) { seq } }' }), {
    kind: 'subscription',
    operationName: 'S',
    rootField: 'ticks',
    responseKey: 't',
  });
  assert.deepEqual(analyzeOperation({ query: 'mutation { increment(key: "a") }' }), {
    kind: 'mutation',
    operationName: undefined,
    rootField: 'increment',
    responseKey: 'increment',
  });
  assert.equal(analyzeOperation({ query: '{ __typename hello }' })?.rootField, 'hello');
});

test('analyzeOperation picks the operation named by operationName', () => {
  const query = 'query A { hello } subscription B { ticks { seq } }';
  assert.equal(analyzeOperation({ query, operationName: 'B' })?.kind, 'subscription');
  assert.equal(analyzeOperation({ query, operationName: 'A' })?.kind, 'query');
  // Ambiguous without a name, unknown name, unparsable: nothing to say (the target will).
  assert.equal(analyzeOperation({ query }), undefined);
  assert.equal(analyzeOperation({ query, operationName: 'C' }), undefined);
  assert.equal(analyzeOperation({ query: 'subscription {' }), undefined);
});

test('applyCursor sets the variable when the argument uses one, leaving the document', () => {
  const payload = {
    query:
      'subscription T($after: Int, $until: Int) { ticks(after: $after, until: $until) { seq } }',
    variables: { after: 0, until: 100 },
  };
  const resumed = applyCursor(payload, 'after', 41);
  assert.equal(resumed.query, payload.query);
  assert.deepEqual(resumed.variables, { after: 41, until: 100 });
  assert.deepEqual(payload.variables, { after: 0, until: 100 }, 'input untouched');
});

test('applyCursor sets a variable absent from the variables (its default applied before)', () => {
  const payload = { query: 'subscription($a: Int = 0) { ticks(after: $a) { seq } }' };
  assert.deepEqual(applyCursor(payload, 'after', 7).variables, { a: 7 });
});

test('applyCursor rewrites an inline literal argument in the document', () => {
  const payload = { query: 'subscription { t: ticks(after: 0, until: 2000) { seq } }' };
  const resumed = applyCursor(payload, 'after', 41);
  assert.equal(resumed.query, norm('subscription { t: ticks(after: 41, until: 2000) { seq } }'));
  assert.equal(payload.query, 'subscription { t: ticks(after: 0, until: 2000) { seq } }');
});

test('applyCursor adds the argument when absent', () => {
  assert.equal(
    applyCursor({ query: 'subscription { ticks(until: 5) { seq } }' }, 'after', 3).query,
    norm('subscription { ticks(until: 5, after: 3) { seq } }'),
  );
  assert.equal(
    applyCursor({ query: 'subscription { ticks { seq } }' }, 'after', 3).query,
    norm('subscription { ticks(after: 3) { seq } }'),
  );
});

test('applyCursor writes string cursors as strings and keeps other operations', () => {
  const query =
    'query Q { hello } subscription S { comments(since: "a") { id } } fragment F on Tick { seq }';
  const resumed = applyCursor({ query, operationName: 'S' }, 'since', 'c-9"x');
  assert.equal(
    resumed.query,
    norm(
      'query Q { hello } subscription S { comments(since: "c-9\\"x") { id } } fragment F on Tick { seq }',
    ),
  );
  assert.equal(resumed.operationName, 'S');
});

test('applyCursor throws on documents it cannot resume', () => {
  assert.throws(() => applyCursor({ query: 'subscription {' }, 'after', 1));
  assert.throws(
    () =>
      applyCursor(
        { query: 'subscription { ...F } fragment F on Subscription { ticks { seq } }' },
        'after',
        1,
      ),
    /no root field/,
  );
});

test('valueToLiteral covers the JSON types', () => {
  const printed = (value: unknown): string => print(valueToLiteral(value));
  assert.equal(printed(42), '42');
  assert.equal(printed(1.5), '1.5');
  assert.equal(printed('x'), '"x"');
  assert.equal(printed(true), 'true');
  assert.equal(printed(null), 'null');
  assert.equal(printed([1, 'a']), '[1, "a"]');
  assert.equal(printed({ ts: 1, id: 'a' }), '{ts: 1, id: "a"}');
  assert.throws(() => valueToLiteral(Infinity), /no GraphQL literal/);
});

test('cursorAt follows the path inside the root field value', () => {
  assert.equal(cursorAt({ data: { ticks: { seq: 7 } } }, 'ticks', ['seq']), 7);
  assert.equal(
    cursorAt({ data: { c: { pageInfo: { end: 'x' } } } }, 'c', ['pageInfo', 'end']),
    'x',
  );
  assert.equal(cursorAt({ data: { ticks: null } }, 'ticks', ['seq']), undefined);
  assert.equal(cursorAt({ data: null, errors: [] }, 'ticks', ['seq']), undefined);
  assert.equal(cursorAt({ data: { ticks: { seq: null } } }, 'ticks', ['seq']), undefined);
  assert.equal(cursorAt(undefined, 'ticks', ['seq']), undefined);
  assert.equal(cursorAt({ data: { ticks: 5 } }, 'ticks', ['seq']), undefined);
});

test('alreadySeen: numbers and decimal strings compare numerically', () => {
  assert.equal(alreadySeen(5, 7, 'auto'), true);
  assert.equal(alreadySeen(7, 7, 'auto'), true);
  assert.equal(alreadySeen(8, 7, 'auto'), false);
  assert.equal(alreadySeen('9', '10', 'auto'), true, '"9" < "10" as numbers');
  assert.equal(alreadySeen('11', '10', 'auto'), false);
  assert.equal(alreadySeen('18446744073709551617', '18446744073709551616', 'auto'), false);
});

test('alreadySeen: opaque cursors are duplicates only when equal to the last', () => {
  assert.equal(alreadySeen('abc', 'xyz', 'auto'), false);
  assert.equal(alreadySeen('xyz', 'xyz', 'auto'), true);
  assert.equal(alreadySeen({ a: 1 }, { a: 1 }, 'auto'), true);
  assert.equal(alreadySeen({ a: 1 }, { a: 2 }, 'auto'), false);
});

test('alreadySeen: lexical order and a comparator function', () => {
  assert.equal(alreadySeen('2024-01-01T00:00:00Z', '2024-06-01T00:00:00Z', 'lexical'), true);
  assert.equal(alreadySeen('2024-07-01T00:00:00Z', '2024-06-01T00:00:00Z', 'lexical'), false);
  const byLength = (a: unknown, b: unknown): number => String(a).length - String(b).length;
  assert.equal(alreadySeen('aa', 'bbb', byLength), true);
  assert.equal(alreadySeen('aaaa', 'bbb', byLength), false);
});
