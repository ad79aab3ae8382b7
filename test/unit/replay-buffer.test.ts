import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createReplayBuffer } from '../../src/replay-buffer.js';

test('items are numbered in order and released by cumulative acks', () => {
  const ring = createReplayBuffer<string>({ maxMessages: 10, maxBytes: 1000 });
  for (const item of ['a', 'b', 'c', 'd']) ring.push(item, 1);
  assert.equal(ring.highest, 4);
  assert.equal(ring.ackThrough(2), 2);
  assert.deepEqual(
    [...ring.unacked()],
    [
      { seq: 3, item: 'c' },
      { seq: 4, item: 'd' },
    ],
  );
  assert.equal(ring.bytes, 2);
});

test('acks beyond the highest sequence, or old ones, change nothing', () => {
  const ring = createReplayBuffer<string>({ maxMessages: 10, maxBytes: 1000 });
  ring.push('a', 1);
  ring.push('b', 1);
  assert.equal(ring.ackThrough(7), 0);
  assert.equal(ring.ackThrough(1), 1);
  assert.equal(ring.ackThrough(1), 0);
  assert.equal(ring.ackThrough(0), 0);
  assert.deepEqual(
    [...ring.unacked()].map((e) => e.item),
    ['b'],
  );
});

test('full by count or by bytes, never dropping', () => {
  const byCount = createReplayBuffer<number>({ maxMessages: 3, maxBytes: 1000 });
  for (let i = 0; i < 5; i++) byCount.push(i, 1);
  assert.equal(byCount.full, true);
  assert.equal(byCount.size, 5, 'pushing past the limit keeps every item');
  byCount.ackThrough(3);
  assert.equal(byCount.full, false);

  const byBytes = createReplayBuffer<number>({ maxMessages: 100, maxBytes: 10 });
  byBytes.push(1, 6);
  assert.equal(byBytes.full, false);
  byBytes.push(2, 6);
  assert.equal(byBytes.full, true);
});

test('a long run of pushes and acks keeps order and compacts', () => {
  const ring = createReplayBuffer<number>({ maxMessages: 1e6, maxBytes: 1e9 });
  const seen: number[] = [];
  for (let i = 1; i <= 10_000; i++) {
    ring.push(i, 1);
    if (i % 7 === 0) ring.ackThrough(i - 3);
  }
  for (const { seq, item } of ring.unacked()) {
    assert.equal(seq, item);
    seen.push(item);
  }
  assert.deepEqual(seen, [9994, 9995, 9996, 9997, 9998, 9999, 10000]);
});
