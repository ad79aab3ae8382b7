import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkSequence,
  formatReport,
  SAMPLE_SIZE,
  type SequenceReport,
} from '../helpers/sequence-checker.js';

const clean = (n: number): SequenceReport => ({
  expected: n,
  received: n,
  unique: n,
  lost: 0,
  duplicates: 0,
  outOfOrder: 0,
  unexpected: 0,
  lostSample: [],
  duplicateSample: [],
  unexpectedSample: [],
});

test('a complete, ordered range is clean', () => {
  assert.deepEqual(checkSequence([1, 2, 3, 4, 5], { from: 1, to: 5 }), clean(5));
});

test('the range is inclusive and may be empty', () => {
  assert.equal(checkSequence([], { from: 7, to: 7 }).lost, 1);
  assert.deepEqual(checkSequence([], { from: 1, to: 0 }), clean(0));
});

test('lost items are counted and sampled in expected order', () => {
  const r = checkSequence([1, 2, 5], { from: 1, to: 6 });
  assert.equal(r.lost, 3);
  assert.deepEqual(r.lostSample, [3, 4, 6]);
  assert.equal(r.unique, 3);
  assert.equal(r.outOfOrder, 0);
});

test('duplicates count extra occurrences and are not reordering', () => {
  const r = checkSequence([1, 2, 2, 3, 3, 3, 1], { from: 1, to: 3 });
  assert.equal(r.received, 7);
  assert.equal(r.unique, 3);
  assert.equal(r.duplicates, 4);
  assert.deepEqual(r.duplicateSample, [2, 3, 1]);
  assert.equal(r.outOfOrder, 0, 'a re-delivered 1 after 3 is a duplicate, not out of order');
  assert.equal(r.lost, 0);
});

test('out-of-order counts first occurrences smaller than something before them', () => {
  assert.equal(checkSequence([1, 3, 2, 4, 5], { from: 1, to: 5 }).outOfOrder, 1);
  assert.equal(checkSequence([5, 1, 2, 3, 4], { from: 1, to: 5 }).outOfOrder, 4);
  assert.equal(checkSequence([2, 1, 4, 3], { from: 1, to: 4 }).outOfOrder, 2);
});

test('samples hold at most SAMPLE_SIZE values', () => {
  const received = Array.from({ length: 50 }, (_, i) => i + 1);
  const r = checkSequence([...received, ...received], { from: 1, to: 100 });
  assert.equal(SAMPLE_SIZE, 10);
  assert.equal(r.lost, 50);
  assert.deepEqual(r.lostSample, [51, 52, 53, 54, 55, 56, 57, 58, 59, 60]);
  assert.equal(r.duplicates, 50);
  assert.equal(r.duplicateSample.length, 10);
});

test('an explicit expected list is order-free and counts repeated entries once', () => {
  const r = checkSequence([30, 10], [10, 20, 30, 30]);
  assert.equal(r.expected, 3);
  assert.equal(r.lost, 1);
  assert.deepEqual(r.lostSample, [20]);
  assert.equal(r.outOfOrder, 1);
});

test('values outside the expectation are reported as unexpected', () => {
  const r = checkSequence([1, 99, 2, 99], { from: 1, to: 2 });
  assert.equal(r.unexpected, 1);
  assert.deepEqual(r.unexpectedSample, [99]);
  assert.equal(r.duplicates, 1);
  assert.equal(r.lost, 0);
});

test('a non-integer range is refused', () => {
  assert.throws(() => checkSequence([], { from: 0.5, to: 3 }), RangeError);
  assert.throws(() => checkSequence([], { from: 1, to: Infinity }), RangeError);
});

test('formatReport prints one line with the counts', () => {
  assert.equal(
    formatReport(
      'ticks client#2',
      checkSequence(
        Array.from({ length: 2000 }, (_, i) => i + 1),
        {
          from: 1,
          to: 2000,
        },
      ),
    ),
    'ticks client#2: expected=2000 received=2000 lost=0 duplicates=0 outOfOrder=0',
  );
  const line = formatReport('x', checkSequence([1, 1, 3, 9], { from: 1, to: 3 }));
  assert.equal(
    line,
    'x: expected=3 received=4 lost=1 duplicates=1 outOfOrder=0 unexpected=1' +
      ' lostSample=[2] duplicateSample=[1] unexpectedSample=[9]',
  );
  assert.doesNotMatch(line, /\n/);
});
