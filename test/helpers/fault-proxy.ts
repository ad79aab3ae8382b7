/**
 * An in-repo TCP fault proxy to put between the gateway and a target: it forwards bytes, and on
 * command black-holes them (a frozen peer or dead network), resets every connection, or adds
 * latency. It knows nothing about WebSocket framing.
 *
 * @module
 */

import net from 'node:net';

/** A running fault proxy; see {@link startFaultProxy}. */
export interface FaultProxy {
  /** The port the proxy listens on (127.0.0.1). */
  readonly port: number;
  /** `ws://127.0.0.1:${port}` */
  readonly url: string;
  /** Currently open client-side connections, black-holed ones included. */
  readonly connections: number;
  /**
   * Keep every connection open but stop forwarding in both directions: data is read and
   * discarded, queued (delayed) data is dropped, and neither a FIN nor a close on one side
   * reaches the other. New connections are accepted and black-holed too (no upstream
   * connection is made), like a frozen process whose kernel still completes TCP handshakes.
   */
  blackhole(): void;
  /**
   * Back to normal forwarding, without added latency, for new connections. Connections
   * black-holed earlier stay dead but open until {@link FaultProxy.reset} or
   * {@link FaultProxy.close}.
   */
  pass(): void;
  /** Destroy every open connection abruptly (TCP RST on both sides). */
  reset(): void;
  /**
   * Forward with `ms` milliseconds of added latency in each direction, preserving byte order
   * (lowering the delay never lets later data overtake earlier data). Applies to data read from
   * now on, on existing and new connections; `0` removes the latency.
   */
  delay(ms: number): void;
  /** Stop listening and destroy every connection. Idempotent. */
  close(): Promise<void>;
}

interface Pair {
  readonly client: net.Socket;
  readonly upstream: net.Socket | undefined;
  readonly toUpstream: Pipe | undefined;
  readonly toClient: Pipe | undefined;
  blackholed: boolean;
}

/**
 * Start a fault proxy on 127.0.0.1, port 0, forwarding every accepted connection to
 * `127.0.0.1:targetPort`. When the target refuses or drops the upstream connection, the client
 * connection is destroyed too (unless black-holed).
 */
export async function startFaultProxy(targetPort: number): Promise<FaultProxy> {
  if (!Number.isInteger(targetPort) || targetPort <= 0 || targetPort > 65535) {
    throw new RangeError(`targetPort must be a TCP port, got ${targetPort}`);
  }
  const pairs = new Set<Pair>();
  let blackholing = false;
  let delayMs = 0;
  let closing: Promise<void> | undefined;

  const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (client) => {
    client.setNoDelay(true);
    client.on('error', () => {});
    if (blackholing) {
      const pair: Pair = {
        client,
        upstream: undefined,
        toUpstream: undefined,
        toClient: undefined,
        blackholed: true,
      };
      pairs.add(pair);
      client.on('data', () => {});
      client.on('close', () => pairs.delete(pair));
      return;
    }

    const upstream = net.connect({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true });
    upstream.setNoDelay(true);
    upstream.on('error', () => {});
    const pair: Pair = {
      client,
      upstream,
      toUpstream: new Pipe(client, upstream, () => delayMs),
      toClient: new Pipe(upstream, client, () => delayMs),
      blackholed: false,
    };
    pairs.add(pair);
    wire(pair, client, upstream, pair.toUpstream);
    wire(pair, upstream, client, pair.toClient);
    client.on('close', () => pairs.delete(pair));
  });

  /** Forward `from` → `to` through `pipe`; a close that was not a clean end tears down `to`. */
  function wire(pair: Pair, from: net.Socket, to: net.Socket, pipe: Pipe | undefined): void {
    let ended = false;
    from.on('data', (chunk: Buffer) => {
      if (!pair.blackholed) pipe?.push(chunk);
    });
    from.on('end', () => {
      ended = true;
      if (!pair.blackholed) pipe?.end();
    });
    from.on('close', () => {
      if (!pair.blackholed && !ended) to.destroy();
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') {
    throw new Error('fault proxy: unexpected server address');
  }
  const port = address.port;

  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    get connections() {
      return pairs.size;
    },
    blackhole() {
      blackholing = true;
      for (const pair of pairs) {
        pair.blackholed = true;
        pair.toUpstream?.drop();
        pair.toClient?.drop();
      }
    },
    pass() {
      blackholing = false;
      delayMs = 0;
    },
    reset() {
      for (const pair of pairs) {
        pair.toUpstream?.drop();
        pair.toClient?.drop();
        rst(pair.client);
        if (pair.upstream !== undefined) rst(pair.upstream);
      }
    },
    delay(ms: number) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`delay must be >= 0, got ${ms}`);
      delayMs = ms;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const pair of pairs) {
          pair.toUpstream?.drop();
          pair.toClient?.drop();
          pair.client.destroy();
          pair.upstream?.destroy();
        }
      });
      return closing;
    },
  };
}

function rst(socket: net.Socket): void {
  if (socket.destroyed) return;
  try {
    socket.resetAndDestroy();
  } catch {
    socket.destroy();
  }
}

/**
 * One direction of a connection: writes chunks to `dst`, directly when there is no latency and
 * nothing queued, otherwise through a FIFO whose due times never decrease. Applies backpressure
 * to `src` on the direct path.
 */
class Pipe {
  private queue: { chunk: Buffer; due: number }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private lastDue = 0;
  private ending = false;
  private dropped = false;

  constructor(
    private readonly src: net.Socket,
    private readonly dst: net.Socket,
    private readonly delayMs: () => number,
  ) {}

  push(chunk: Buffer): void {
    if (this.dropped) return;
    const ms = this.delayMs();
    if (ms <= 0 && this.queue.length === 0) {
      this.write(chunk, true);
      return;
    }
    const due = Math.max(performance.now() + ms, this.lastDue);
    this.lastDue = due;
    this.queue.push({ chunk, due });
    this.schedule();
  }

  end(): void {
    if (this.dropped) return;
    if (this.queue.length === 0) this.dst.end();
    else this.ending = true;
  }

  /** Discard everything queued and everything pushed from now on; unblock `src`. */
  drop(): void {
    this.dropped = true;
    this.queue = [];
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.src.destroyed) this.src.resume();
  }

  private write(chunk: Buffer, backpressure: boolean): void {
    if (this.dst.destroyed || this.dst.writableEnded) return;
    if (!this.dst.write(chunk) && backpressure) {
      this.src.pause();
      this.dst.once('drain', () => {
        if (!this.src.destroyed) this.src.resume();
      });
    }
  }

  private schedule(): void {
    const head = this.queue[0];
    if (this.timer !== undefined || head === undefined) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.flushDue();
        this.schedule();
      },
      Math.max(0, Math.ceil(head.due - performance.now())),
    );
  }

  private flushDue(): void {
    const now = performance.now();
    for (let head = this.queue[0]; head !== undefined && head.due <= now; head = this.queue[0]) {
      this.queue.shift();
      this.write(head.chunk, false);
    }
    if (this.ending && this.queue.length === 0) this.dst.end();
  }
}
