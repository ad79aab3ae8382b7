import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  closeCodeForStatus,
  isRetryableClose,
  isRetryableStatus,
  sendableCloseCode,
  trimReason,
} from '../../src/close-codes.js';

test('retryable and terminal close codes are classified as the design says', () => {
  for (const code of [1001, 1005, 1006, 1011, 1012, 1013, 1014]) {
    assert.equal(isRetryableClose(code), true, `${code} retryable`);
  }
  for (const code of [
    1000, 1002, 1003, 1007, 1008, 1009, 1010, 4400, 4401, 4403, 4406, 4409, 4429, 4500, 3000,
  ]) {
    assert.equal(isRetryableClose(code), false, `${code} terminal`);
  }
});

test('handshake statuses: 5xx, 408 and 429 retry; other 4xx map to 4000 + status', () => {
  assert.deepEqual([500, 502, 503, 408, 429].map(isRetryableStatus), [
    true,
    true,
    true,
    true,
    true,
  ]);
  assert.deepEqual([400, 401, 403, 404].map(isRetryableStatus), [false, false, false, false]);
  assert.equal(closeCodeForStatus(403), 4403);
  assert.equal(closeCodeForStatus(401), 4401);
});

test('codes that cannot be sent are mapped', () => {
  assert.equal(sendableCloseCode(1005), 1000);
  assert.equal(sendableCloseCode(1006), 1011);
  assert.equal(sendableCloseCode(1004), 1011);
  assert.equal(sendableCloseCode(1015), 1011);
  assert.equal(sendableCloseCode(999), 1011);
  assert.equal(sendableCloseCode(5000), 1011);
  assert.equal(sendableCloseCode(4403), 4403);
  assert.equal(sendableCloseCode(1013), 1013);
});

test('reasons are trimmed to 123 bytes without splitting a character', () => {
  assert.equal(trimReason('short'), 'short');
  assert.equal(trimReason('a'.repeat(200)), 'a'.repeat(123));
  const accents = trimReason('é'.repeat(100)); // 2 bytes each
  assert.equal(accents, 'é'.repeat(61));
  const emoji = trimReason('a' + '😀'.repeat(40)); // 1 + 4 bytes each: 31 fit in 123
  assert.equal(Buffer.byteLength(emoji), 121);
  assert.equal(emoji, 'a' + '😀'.repeat(30));
  for (let n = 100; n < 140; n++) {
    const mixed = trimReason('x'.repeat(n % 7) + '€'.repeat(n));
    assert.ok(Buffer.byteLength(mixed) <= 123);
    assert.ok(!mixed.includes('\uFFFD'), 'no broken character');
  }
});
