/**
 * A bounded FIFO of numbered items that are released by cumulative acknowledgements: the ring
 * behind ping-acked replay, reusable by any hook that resends what its peer never confirmed.
 *
 * @module
 */

/** Limits of a {@link ReplayBuffer}. */
export interface ReplayBufferLimits {
  /** Items held before {@link ReplayBuffer.full} turns true. */
  readonly maxMessages: number;
  /** Bytes held before {@link ReplayBuffer.full} turns true. */
  readonly maxBytes: number;
}

/** Unacknowledged items in the order they were pushed, each with its sequence number. */
export interface ReplayBuffer<T> {
  /**
   * Appends an item and returns its sequence number (1, 2, 3 …). Never drops: check
   * {@link ReplayBuffer.full} and stop the producer (backpressure) when it is true.
   */
  push(item: T, bytes: number): number;
  /**
   * Releases every item with a sequence number up to `seq`. Returns how many were released;
   * numbers beyond the highest pushed are ignored (0).
   */
  ackThrough(seq: number): number;
  /** The unacknowledged items, oldest first. */
  unacked(): IterableIterator<{ readonly seq: number; readonly item: T }>;
  /** Highest sequence number pushed so far (0 when none). */
  readonly highest: number;
  /** Highest sequence number acknowledged so far. */
  readonly acked: number;
  /** Unacknowledged items held. */
  readonly size: number;
  /** Bytes held. */
  readonly bytes: number;
  /** Whether a limit is reached. */
  readonly full: boolean;
}

interface Entry<T> {
  readonly seq: number;
  readonly item: T;
  readonly bytes: number;
}

/**
 * Creates a replay buffer.
 *
 * @example
 * ```ts
 * const ring = createReplayBuffer<Buffer>({ maxMessages: 1000, maxBytes: 1 << 20 });
 * const seq = ring.push(frame, frame.length);
 * ring.ackThrough(seq); // the peer confirmed everything up to seq
 * ```
 */
export function createReplayBuffer<T>(limits: ReplayBufferLimits): ReplayBuffer<T> {
  let entries: (Entry<T> | undefined)[] = [];
  let head = 0;
  let highest = 0;
  let acked = 0;
  let bytes = 0;
  return {
    push(item, size) {
      entries.push({ seq: ++highest, item, bytes: size });
      bytes += size;
      return highest;
    },
    ackThrough(seq) {
      if (seq > highest || seq <= acked) return 0;
      let released = 0;
      while (head < entries.length && entries[head]!.seq <= seq) {
        bytes -= entries[head]!.bytes;
        entries[head++] = undefined;
        released++;
      }
      acked = seq;
      if (head === entries.length) {
        entries = [];
        head = 0;
      } else if (head > 1024 && head * 2 > entries.length) {
        entries = entries.slice(head);
        head = 0;
      }
      return released;
    },
    *unacked() {
      for (let i = head; i < entries.length; i++) {
        const { seq, item } = entries[i]!;
        yield { seq, item };
      }
    },
    get highest() {
      return highest;
    },
    get acked() {
      return acked;
    },
    get size() {
      return entries.length - head;
    },
    get bytes() {
      return bytes;
    },
    get full() {
      return entries.length - head >= limits.maxMessages || bytes >= limits.maxBytes;
    },
  };
}
