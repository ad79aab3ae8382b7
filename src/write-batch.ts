/**
 * Write batching: frames sent to one socket within the same tick leave in one `writev` instead of
 * one system call each. The gap between a byte pipe and a relay that handles each frame is
 * mostly this (see bench/README.md).
 *
 * @module
 */
import type { Duplex } from 'node:stream';

/**
 * Returns a function to call before each send on the WebSocket running over `socket` (the TCP
 * socket of its upgrade): the first call in a tick corks the socket, and it is uncorked on the
 * next tick. ws corks and uncorks around each frame itself; Node counts corks, so those inner
 * uncorks do not flush while ours holds.
 */
export function writeBatcher(socket: Duplex): () => void {
  let corked = false;
  const uncork = (): void => {
    corked = false;
    socket.uncork();
  };
  return () => {
    if (corked || socket.destroyed) return;
    corked = true;
    socket.cork();
    process.nextTick(uncork);
  };
}
