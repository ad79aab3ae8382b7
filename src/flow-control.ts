/**
 * Backpressure between the two sockets of a session: when one side's send buffer passes its
 * high-water mark, stop reading the other side until that buffer has drained.
 *
 * @module
 */

/** What flow control needs of a socket: how much it holds, and a send that reports the flush. */
export interface Sink {
  readonly bufferedAmount: number;
  send(data: string | Buffer, binary: boolean, flushed?: () => void): void;
}

/** Sends into a {@link Sink}, pausing the producing side while the sink is over its limit. */
export interface FlowControl {
  /** Sends a frame; pauses the producer when this frame takes the sink past the high-water mark. */
  send(sink: Sink, data: string | Buffer, binary: boolean): void;
  /** Forgets the pending drain (the sink was replaced) and resumes the producer. */
  reset(): void;
  /** Whether the producer is paused by this flow control. */
  readonly paused: boolean;
}

/**
 * Creates flow control with a high-water mark in bytes. The producer resumes when the frame that
 * crossed the mark has been flushed to the kernel — by then everything before it has been too.
 */
export function createFlowControl(
  highWaterMark: number,
  pause: () => void,
  resume: () => void,
): FlowControl {
  let token = 0;
  let paused = false;
  const release = (): void => {
    if (!paused) return;
    paused = false;
    resume();
  };
  return {
    send(sink, data, binary) {
      if (sink.bufferedAmount + data.length <= highWaterMark) {
        sink.send(data, binary);
        return;
      }
      const mine = ++token;
      if (!paused) {
        paused = true;
        pause();
      }
      sink.send(data, binary, () => {
        if (mine === token) release();
      });
    },
    reset() {
      token++;
      release();
    },
    get paused() {
      return paused;
    },
  };
}
