/**
 * Write batching: frames sent to one socket within the same tick leave in one `writev` instead of
 * one system call each. The gap between a byte pipe and a relay that handles each frame is
 * mostly this (see bench/README.md).
 *
 * @module
 */
import type { Socket } from 'node:net';
import type WebSocket from 'ws';

/**
 * Returns a function to call before each send on `ws`: the first call in a tick corks the
 * underlying TCP socket, and it is uncorked on the next tick. ws corks and uncorks around each
 * frame itself; Node counts corks, so those inner uncorks do not flush while ours holds.
 */
export function writeBatcher(ws: WebSocket): () => void {
  let corked = false;
  // ws keeps its net.Socket in `_socket` (stable since ws 1.x); there is no public accessor.
  const socket = (): Socket | undefined => (ws as unknown as { _socket?: Socket })._socket;
  const uncork = (): void => {
    corked = false;
    socket()?.uncork();
  };
  return () => {
    if (corked) return;
    const target = socket();
    if (target === undefined || target.destroyed) return;
    corked = true;
    target.cork();
    process.nextTick(uncork);
  };
}
