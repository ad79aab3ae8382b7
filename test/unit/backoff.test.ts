import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../../src/backoff.js';

const options = { initialDelay: 100, maxDelay: 1000, factor: 2 };

test('the delay bound doubles per attempt and stops at maxDelay', () => {
  // random() just below 1 shows the bound; 0 shows the floor of the full-jitter range.
  const top = (attempt: number): number => backoffDelay(attempt, options, () => 0.999999);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 10, 50].map(top), [99, 199, 399, 799, 999, 999, 999, 999]);
  assert.equal(
    backoffDelay(3, options, () => 0),
    0,
  );
});

test('full jitter spreads delays over the whole range', () => {
  let seed = 42;
  const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  const delays = Array.from({ length: 2000 }, () => backoffDelay(3, options, random));
  assert.ok(
    delays.every((d) => d >= 0 && d < 800),
    'every delay within [0, 800)',
  );
  const low = delays.filter((d) => d < 400).length;
  assert.ok(low > 800 && low < 1200, `about half below the midpoint, got ${low}/2000`);
});

test('huge attempt counts do not overflow past the cap', () => {
  assert.equal(
    backoffDelay(5000, options, () => 0.5),
    500,
  );
});
