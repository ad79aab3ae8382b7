/**
 * Scale-out under chaos: two `subgate` processes sharing a private Redis behind nginx (the
 * shipped `examples/scale-out/nginx.conf`), the GraphQL fixture target, and 5 graphql-ws clients
 * using `subgate/client` (retries on) with 4 `ticks` subscriptions each.
 *
 * - Instance A is SIGKILLed mid-stream: its clients reconnect through nginx to B and resume from
 *   their tokens; A comes back; B gets SIGTERM, closes its clients with 1012, and they resume on
 *   A. Every client receives every event exactly once, in order.
 * - Redis is SIGKILLed mid-stream: both instances keep serving live traffic; Redis comes back
 *   (empty), the instances write their sessions again, and a later instance SIGKILL is resumed
 *   from exactly as before. Nothing crashes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { REDIS_KEY_PREFIX } from '../../src/index.js';
import { checkSequence, formatReport } from '../helpers/sequence-checker.js';
import { findNginx } from '../helpers/nginx.js';
import { findRedisServer } from '../helpers/redis-server.js';
import { waitFor } from '../helpers/wait.js';
import { startCluster, type ClusterClient } from '../fixtures/scale-out-cluster.js';

const CLIENTS = 5;
const STREAMS_PER_CLIENT = 4;
/** Each fault step: the streams must move on within this. */
const STEP_DEADLINE = 30_000;

const skip =
  findRedisServer() === undefined || findNginx() === undefined
    ? 'needs redis-server and nginx (apt-get install redis-server nginx, or .ci/install-packages.sh redis-server nginx)'
    : false;

/** Asserts every stream of every client received 1..until exactly once, in order. */
function assertExactlyOnce(
  t: { diagnostic(message: string): void },
  clients: readonly ClusterClient[],
  until: number,
): void {
  const failures: string[] = [];
  for (const client of clients) {
    client.streams.forEach((stream, i) => {
      const report = checkSequence(stream.received, { from: 1, to: until });
      const line = formatReport(`${client.label} stream ${i}`, report);
      t.diagnostic(line);
      if (
        report.lost + report.duplicates + report.outOfOrder + report.unexpected > 0 ||
        stream.errors.length > 0
      ) {
        failures.push(`${line} errors=${JSON.stringify(stream.errors)}`);
      }
    });
    t.diagnostic(
      `${client.label}: ${client.connections} connections, closes ${client.closes.join(' ')}`,
    );
  }
  assert.deepEqual(failures, [], 'every event exactly once, in order, on every stream');
  assert.deepEqual(
    clients.map((c) => c.sessionsLost),
    clients.map(() => 0),
    'no session was lost',
  );
}

/** Waits until the slowest stream has received at least `count` events. */
async function progress(
  cluster: { minReceived(c: readonly ClusterClient[]): number },
  clients: readonly ClusterClient[],
  count: number,
  what: string,
): Promise<void> {
  await waitFor(() => cluster.minReceived(clients) >= count, {
    timeout: STEP_DEADLINE,
    message: `${what}: every stream at ${count} events (slowest at ${cluster.minReceived(clients)})`,
  });
}

test(
  'instance A SIGKILLed, then instance B SIGTERMed: every client gets every event exactly once',
  { skip, timeout: 150_000 },
  async (t) => {
    const cluster = await startCluster(t, 2);
    const [a, b] = cluster.instances as [
      (typeof cluster.instances)[0],
      (typeof cluster.instances)[0],
    ];
    const until = 3000;
    const clients = cluster.connectClients(CLIENTS, STREAMS_PER_CLIENT, until);
    const connections = (): number => clients.reduce((n, c) => n + c.connections, 0);
    await progress(cluster, clients, 300, 'streaming');
    assert.equal(connections(), CLIENTS, 'one connection per client so far');

    const beforeKill = connections();
    await a.kill('SIGKILL');
    const killedAt = cluster.minReceived(clients);
    await progress(cluster, clients, killedAt + 500, 'after SIGKILL of A');
    const moved = connections() - beforeKill;
    t.diagnostic(`clients that moved from A to B: ${moved}`);
    assert.ok(moved >= 1, 'nginx had put some clients on A, and they reconnected');

    await a.start();
    await progress(cluster, clients, cluster.minReceived(clients) + 300, 'A back');
    const beforeTerm = connections();
    const exit = await b.kill('SIGTERM');
    assert.deepEqual(exit, { code: 0, signal: null }, 'B drained and exited 0');
    await progress(cluster, clients, cluster.minReceived(clients) + 300, 'after SIGTERM of B');
    t.diagnostic(`clients that moved from B to A: ${connections() - beforeTerm}`);
    assert.equal(connections() - beforeTerm, CLIENTS, 'every client was on B and moved to A');

    await waitFor(() => clients.every((c) => c.streams.every((s) => s.completed)), {
      timeout: STEP_DEADLINE * 2,
      message: 'every stream completed',
    });
    assertExactlyOnce(t, clients, until);
    assert.equal(a.process?.child.exitCode, null, 'A is still running');
  },
);

test(
  'Redis SIGKILLed mid-stream: live traffic goes on, sessions are written again, resume works after',
  { skip, timeout: 150_000 },
  async (t) => {
    const cluster = await startCluster(t, 2);
    const redis = new Redis(cluster.redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    redis.on('error', () => {});
    t.after(() => redis.disconnect());
    const sessionKeys = async (): Promise<number> =>
      (await redis.keys(`${REDIS_KEY_PREFIX}*`).catch(() => [])).length;
    const until = 3000;
    const clients = cluster.connectClients(CLIENTS, STREAMS_PER_CLIENT, until);
    await progress(cluster, clients, 300, 'streaming');
    await redis.connect();
    await waitFor(async () => (await sessionKeys()) === CLIENTS, {
      timeout: STEP_DEADLINE,
      message: 'one session per client in Redis',
    });

    redis.disconnect();
    await cluster.redis.kill('SIGKILL');
    const downAt = cluster.minReceived(clients);
    await progress(cluster, clients, downAt + 500, 'while Redis is down');
    assert.equal(cluster.redis.running, false, 'Redis was down all along');
    for (const instance of cluster.instances) {
      assert.equal(instance.process?.child.exitCode, null, `instance ${instance.name} still runs`);
    }

    await cluster.redis.restart(); // empty: nothing was persisted
    await redis.connect();
    await waitFor(async () => (await sessionKeys()) === CLIENTS, {
      timeout: STEP_DEADLINE,
      message: 'the instances wrote their sessions again',
    });

    // The sessions written after the outage are good to resume from.
    const [a] = cluster.instances;
    const before = clients.reduce((n, c) => n + c.connections, 0);
    await a!.kill('SIGKILL');
    await progress(cluster, clients, cluster.minReceived(clients) + 300, 'after SIGKILL of A');
    t.diagnostic(
      `clients that moved from A: ${clients.reduce((n, c) => n + c.connections, 0) - before}`,
    );

    await waitFor(() => clients.every((c) => c.streams.every((s) => s.completed)), {
      timeout: STEP_DEADLINE * 2,
      message: 'every stream completed',
    });
    assertExactlyOnce(t, clients, until);
  },
);
