/**
 * Counts what a stream of numbered items lost, duplicated or reordered, so every chaos run can
 * print (and assert) those counts.
 *
 * @module
 */

/** Largest number of values kept in each sample of a {@link SequenceReport}. */
export const SAMPLE_SIZE = 10;

/** What {@link checkSequence} found. */
export interface SequenceReport {
  /** Number of distinct expected values. */
  expected: number;
  /** Number of items received, duplicates included. */
  received: number;
  /** Number of distinct values received, unexpected ones included. */
  unique: number;
  /** Expected values never received. */
  lost: number;
  /** Extra occurrences: `received - unique` (a value seen three times counts 2). */
  duplicates: number;
  /**
   * First occurrences that are smaller than some item received before them. A re-delivered
   * (duplicate) item is counted in `duplicates`, not here.
   */
  outOfOrder: number;
  /** Distinct received values that were not expected. */
  unexpected: number;
  /** Up to {@link SAMPLE_SIZE} lost values, in expected order. */
  lostSample: number[];
  /** Up to {@link SAMPLE_SIZE} distinct duplicated values, in the order their first repeat arrived. */
  duplicateSample: number[];
  /** Up to {@link SAMPLE_SIZE} distinct unexpected values, in arrival order. */
  unexpectedSample: number[];
}

/**
 * Compare the items a consumer `received`, in arrival order, with what it should have seen:
 * either the inclusive range `from..to` (empty when `from > to`) or an explicit list (whose
 * order does not matter; repeated entries count once).
 *
 * @throws RangeError when `from`/`to` are not safe integers.
 */
export function checkSequence(
  received: readonly number[],
  expected: { from: number; to: number } | readonly number[],
): SequenceReport {
  const expectedValues = expectedList(expected);
  const expectedSet = new Set(expectedValues);

  const seen = new Set<number>();
  const duplicated = new Set<number>();
  const unexpected = new Set<number>();
  let outOfOrder = 0;
  let max = -Infinity;
  for (const value of received) {
    if (seen.has(value)) {
      duplicated.add(value);
      continue;
    }
    seen.add(value);
    if (!expectedSet.has(value)) unexpected.add(value);
    if (value < max) outOfOrder++;
    else max = value;
  }

  let lost = 0;
  const lostSample: number[] = [];
  for (const value of expectedSet) {
    if (seen.has(value)) continue;
    lost++;
    if (lostSample.length < SAMPLE_SIZE) lostSample.push(value);
  }

  return {
    expected: expectedSet.size,
    received: received.length,
    unique: seen.size,
    lost,
    duplicates: received.length - seen.size,
    outOfOrder,
    unexpected: unexpected.size,
    lostSample,
    duplicateSample: [...duplicated].slice(0, SAMPLE_SIZE),
    unexpectedSample: [...unexpected].slice(0, SAMPLE_SIZE),
  };
}

/**
 * One line for logs and assertion messages, e.g.
 * `"ticks client#2: expected=2000 received=2000 lost=0 duplicates=0 outOfOrder=0"`.
 * `unexpected=N` is appended when some values were not expected, and the non-empty samples
 * (`lostSample=[…]`, `duplicateSample=[…]`, `unexpectedSample=[…]`) follow.
 */
export function formatReport(label: string, r: SequenceReport): string {
  let line =
    `${label}: expected=${r.expected} received=${r.received} lost=${r.lost}` +
    ` duplicates=${r.duplicates} outOfOrder=${r.outOfOrder}`;
  if (r.unexpected > 0) line += ` unexpected=${r.unexpected}`;
  if (r.lostSample.length > 0) line += ` lostSample=[${r.lostSample.join(',')}]`;
  if (r.duplicateSample.length > 0) line += ` duplicateSample=[${r.duplicateSample.join(',')}]`;
  if (r.unexpectedSample.length > 0) {
    line += ` unexpectedSample=[${r.unexpectedSample.join(',')}]`;
  }
  return line;
}

function expectedList(
  expected: { from: number; to: number } | readonly number[],
): Iterable<number> {
  if (isList(expected)) return expected;
  const { from, to } = expected;
  if (!Number.isSafeInteger(from) || !Number.isSafeInteger(to)) {
    throw new RangeError(`expected range must be safe integers, got from=${from} to=${to}`);
  }
  return (function* range() {
    for (let value = from; value <= to; value++) yield value;
  })();
}

function isList(
  expected: { from: number; to: number } | readonly number[],
): expected is readonly number[] {
  return Array.isArray(expected);
}
