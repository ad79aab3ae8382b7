/**
 * The proxy: subgate in front of the unstable target, written the way an application embeds it —
 * `createGateway` with the graphql-ws hook and resume configured. The same setup with the CLI is
 * `subgate.config.json` next to this file (see the README).
 *
 * Environment: `TARGET` (default ws://127.0.0.1:4000/graphql), `PORT` (default 4001; 0 picks a
 * free one), `HOST` (default 127.0.0.1), `LOG_LEVEL` (default info). subgate logs JSON lines to
 * stderr; this file prints `proxy listening on ws://HOST:PORT` on stdout when ready.
 *
 * When started with an IPC channel (as the demo does), it subscribes to subgate's diagnostics
 * channels and forwards every message to its parent: `{ type: 'upstream' | 'session-open' |
 * 'session-close', at, message }`. That is how the demo sees an outage being detected.
 *
 * @module
 */
import { subscribe } from 'node:diagnostics_channel';
import { createGateway, DiagnosticsChannel, type LogLevel } from '../../../src/index.js';
import { graphqlWsHook } from '../../../hooks/graphql-ws.js';

/** A diagnostics message forwarded to the parent process. */
export interface ProxyEvent {
  readonly type: 'listening' | 'upstream' | 'session-open' | 'session-close';
  /** `Date.now()` when it was published. */
  readonly at: number;
  /** The diagnostics message (see `UpstreamStateMessage` etc.), or `{ url }` for `listening`. */
  readonly message: Record<string, unknown>;
}

const env = process.env;

const gateway = createGateway({
  target: env['TARGET'] ?? 'ws://127.0.0.1:4000/graphql',
  port: Number(env['PORT'] ?? 4001),
  host: env['HOST'] ?? '127.0.0.1',
  logLevel: (env['LOG_LEVEL'] ?? 'info') as LogLevel,
  // A frozen target is declared dead within pingInterval + pongTimeout = 2 s.
  pingInterval: 1000,
  pongTimeout: 1000,
  // A connection attempt to a target that accepts TCP but never answers the upgrade.
  connectTimeout: 2000,
  // Reconnect quickly, and never wait more than 1 s between attempts.
  retryInitialDelay: 100,
  retryMaxDelay: 1000,
  hooks: [
    graphqlWsHook({
      // ticks(after: Int) resumes after the `seq` of the last event the client received.
      resume: { argument: 'after', cursor: 'seq' },
    }),
  ],
});

if (process.send !== undefined) {
  const forward =
    (type: ProxyEvent['type']) =>
    (message: unknown): void => {
      const event: ProxyEvent = { type, at: Date.now(), message: message as ProxyEvent['message'] };
      process.send?.(event);
    };
  subscribe(DiagnosticsChannel.UpstreamState, forward('upstream'));
  subscribe(DiagnosticsChannel.SessionOpen, forward('session-open'));
  subscribe(DiagnosticsChannel.SessionClose, forward('session-close'));
  // Never outlive the parent.
  process.on(
    'disconnect',
    () => void gateway.close({ drainTimeout: 500 }).then(() => process.exit(0)),
  );
}

let stopping = false;
const stop = (): void => {
  if (stopping) process.exit(0);
  stopping = true;
  void gateway.close({ drainTimeout: 2000 }).then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

await gateway.ready;
process.stdout.write(`proxy listening on ${gateway.url}\n`);
process.send?.({ type: 'listening', at: Date.now(), message: { url: gateway.url } });
