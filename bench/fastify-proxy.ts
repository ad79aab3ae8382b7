/**
 * The alternative users would pick: a fastify server with `@fastify/http-proxy`,
 * `websocket: true` and `wsReconnect`, configured with the benchmark's heartbeat settings.
 *
 * `node dist/bench/fastify-proxy.js --target ws://127.0.0.1:PORT --ping-interval 1000`
 * prints `fastify listening on ws://HOST:PORT` once it accepts connections (like subgate's CLI).
 *
 * wsReconnect: a ping every `pingInterval`; a target that sent nothing (no message, ping or pong)
 * since the previous tick is terminated and reconnected — so its pong timeout is the ping
 * interval, it has no separate setting. `reconnectOnClose: true` makes it reconnect after a crash
 * too (by default it only reconnects after a failed heartbeat); `reconnectInterval: 100` (its
 * minimum) matches subgate's `retryInitialDelay`.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import proxy from '@fastify/http-proxy';
import Fastify from 'fastify';

const { values } = parseArgs({
  options: {
    target: { type: 'string' },
    'ping-interval': { type: 'string', default: '1000' },
    'reconnect-interval': { type: 'string', default: '100' },
  },
});
if (values.target === undefined) throw new Error('--target is required');

const app = Fastify({ logger: false });
await app.register(proxy, {
  upstream: values.target.replace(/^ws/, 'http'),
  websocket: true,
  wsReconnect: {
    pingInterval: Number(values['ping-interval']),
    reconnectInterval: Number(values['reconnect-interval']),
    reconnectOnClose: true,
  },
  wsClientOptions: { perMessageDeflate: false },
  wsServerOptions: { perMessageDeflate: false },
});
await app.listen({ port: 0, host: '127.0.0.1' });
const address = app.server.address();
const port = typeof address === 'object' && address !== null ? address.port : 0;
process.stdout.write(`fastify listening on ws://127.0.0.1:${port}\n`);

const stop = (): void => {
  setTimeout(() => process.exit(0), 1000).unref();
  void app.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
