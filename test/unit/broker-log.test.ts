/**
 * The example broker's disk log (what the chaos checker reads as "what the broker stored"):
 * offsets, recovery from a line torn by a crash, retention and compaction.
 */
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { listStreams, logFile, openStreamLog, readStreamLog } from '../../examples/broker/log.js';

function dir(t: TestContext): string {
  const path = mkdtempSync(join(tmpdir(), 'subgate-broker-log-'));
  t.after(() => rmSync(path, { recursive: true, force: true }));
  return path;
}

test('appends get consecutive offsets and survive a reopen', (t) => {
  const d = dir(t);
  const log = openStreamLog('orders/eu', { dir: d });
  assert.equal(log.append('p-1', '{"n":1}'), 0);
  assert.equal(log.append('p-2', '"two"'), 1);
  log.close();
  const again = openStreamLog('orders/eu', { dir: d });
  assert.equal(again.next, 2);
  assert.equal(again.append('p-3', 'null'), 2);
  assert.deepEqual(again.get(1), { offset: 1, id: 'p-2', payload: '"two"' });
  again.close();
  assert.deepEqual(
    readStreamLog(d, 'orders/eu').map((m) => m.id),
    ['p-1', 'p-2', 'p-3'],
  );
  assert.deepEqual(listStreams(d), ['orders/eu']);
});

test('a line torn by a crash is cut off on the next start', (t) => {
  const d = dir(t);
  const log = openStreamLog('s', { dir: d });
  log.append('p-1', '1');
  log.close();
  appendFileSync(logFile(d, 's'), '{"offset":1,"id":"p-2","pay');
  assert.equal(readStreamLog(d, 's').length, 1, 'readers ignore it');
  const again = openStreamLog('s', { dir: d });
  assert.equal(again.append('p-3', '3'), 1);
  again.close();
  assert.deepEqual(
    readStreamLog(d, 's').map((m) => [m.offset, m.id]),
    [
      [0, 'p-1'],
      [1, 'p-3'],
    ],
  );
});

test('retention makes old offsets unavailable and compaction keeps the file bounded', (t) => {
  const d = dir(t);
  const log = openStreamLog('s', { dir: d, retention: 3 });
  for (let i = 0; i < 10; i++) log.append(`p-${i}`, String(i));
  assert.equal(log.first, 7);
  assert.equal(log.next, 10);
  assert.equal(log.get(6), undefined);
  assert.equal(log.get(7)?.id, 'p-7');
  log.close();
  const lines = readFileSync(logFile(d, 's'), 'utf8').trim().split('\n');
  assert.ok(lines.length < 6, `compacted to ${lines.length} lines`);
  const reopened = openStreamLog('s', { dir: d, retention: 3 });
  assert.equal(reopened.first, 7);
  assert.equal(reopened.append('p-10', '10'), 10);
  reopened.close();
});
