/**
 * What operators rely on: metrics that count real traffic and reconnects, health and readiness
 * endpoints, and the session and origin limits.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { test, type TestContext } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { createGateway, type GatewayOptions } from '../../src/index.js';
import { once, waitFor } from '../helpers/wait.js';

async function echoTarget(t: TestContext): Promise<{ server: WebSocketServer; url: string }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.after(() => {
    for (const ws of server.clients) ws.terminate();
    server.close();
  });
  server.on('connection', (ws) => ws.on('message', (data, binary) => ws.send(data, { binary })));
  await once(server, 'listening', 5000);
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  return { server, url: `ws://127.0.0.1:${address.port}` };
}

async function gatewayFor(t: TestContext, target: string, options: Partial<GatewayOptions> = {}) {
  const gateway = createGateway({
    target,
    port: 0,
    logLevel: 'silent',
    metricsPort: 0,
    pingInterval: 200,
    pongTimeout: 200,
    retryInitialDelay: 20,
    retryMaxDelay: 100,
    ...options,
  });
  t.after(() => gateway.close({ drainTimeout: 500 }));
  await gateway.ready;
  const admin = await gateway.admin;
  assert.ok(admin);
  return { gateway, adminUrl: `http://127.0.0.1:${admin.port}` };
}

/** The value of one sample of the Prometheus text, e.g. `subgate_client_frames_total`. */
function sample(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? NaN : Number(line.slice(name.length + 1));
}

async function open(
  url: string,
  t: TestContext,
  headers: Record<string, string> = {},
): Promise<WebSocket> {
  const client = new WebSocket(url, { headers });
  t.after(() => client.terminate());
  await once(client, 'open', 5000);
  return client;
}

test('metrics count frames, sessions, reconnects and outages', async (t) => {
  const target = await echoTarget(t);
  const { gateway, adminUrl } = await gatewayFor(t, target.url);
  const client = await open(gateway.url, t);
  const echoes: string[] = [];
  client.on('message', (data) => echoes.push(data.toString()));
  for (let i = 0; i < 10; i++) client.send(`m${i}`);
  await waitFor(() => echoes.length === 10, { timeout: 5000, message: '10 echoes' });

  // One outage. Without a hook nothing is replayed, so wait for the new socket before sending.
  const reconnected = once(target.server, 'connection', 5000);
  for (const ws of target.server.clients) ws.terminate();
  await reconnected;
  client.send('after');
  await waitFor(() => echoes.length === 11, { timeout: 5000, message: 'echo after the outage' });

  const response = await fetch(`${adminUrl}/metrics`);
  assert.equal(response.status, 200);
  const text = await response.text();
  assert.equal(sample(text, 'subgate_client_sessions'), 1);
  assert.equal(sample(text, 'subgate_client_frames_total'), 11);
  assert.equal(sample(text, 'subgate_upstream_frames_total'), 11);
  assert.equal(sample(text, 'subgate_client_bytes_total'), 10 * 2 + 5);
  assert.equal(sample(text, 'subgate_reconnect_attempts_total{outcome="success"}'), 1);
  assert.equal(sample(text, 'subgate_outage_duration_seconds_count'), 1);
  assert.equal(sample(text, 'subgate_upstream_connections{state="open"}'), 1);
  assert.equal(sample(text, 'subgate_upstream_connections{state="waiting"}'), 0);

  client.close();
  await waitFor(() => gateway.sessionCount === 0, { timeout: 5000, message: 'session ended' });
  const after = await (await fetch(`${adminUrl}/metrics`)).text();
  assert.equal(sample(after, 'subgate_client_sessions'), 0);
  assert.equal(sample(after, 'subgate_client_closes_total{code="1005"}'), 1);
  assert.equal(sample(after, 'subgate_upstream_connections{state="open"}'), 0);
});

test('healthz is always up; readyz turns 503 while the gateway drains', async (t) => {
  const target = await echoTarget(t);
  const { gateway, adminUrl } = await gatewayFor(t, target.url);
  assert.equal((await fetch(`${adminUrl}/healthz`)).status, 200);
  assert.equal((await fetch(`${adminUrl}/readyz`)).status, 200);
  assert.equal((await fetch(`${adminUrl}/nope`)).status, 404);
  // A client that never answers the close handshake keeps the gateway draining for a while.
  const client = await open(gateway.url, t);
  client.pause();
  const closing = gateway.close({ drainTimeout: 1500 });
  assert.equal((await fetch(`${adminUrl}/readyz`)).status, 503);
  await closing;
});

test('maxSessions closes the extra client with 1013; allowedOrigins refuses other origins', async (t) => {
  const target = await echoTarget(t);
  const { gateway } = await gatewayFor(t, target.url, {
    maxSessions: 1,
    allowedOrigins: ['https://app.example.com'],
  });
  await open(gateway.url, t, { origin: 'https://app.example.com' });
  const extra = new WebSocket(gateway.url);
  t.after(() => extra.terminate());
  const reason = new Promise<string>((resolve) =>
    extra.on('close', (_code, r) => resolve(r.toString())),
  );
  assert.equal(await once<number>(extra, 'close', 5000), 1013);
  assert.match(await reason, /maxSessions \(1\) reached/);

  // An upgrade from another origin is refused before any WebSocket exists.
  const status = await new Promise<number | undefined>((resolve, reject) => {
    const request = get(gateway.url.replace('ws:', 'http:'), {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        origin: 'https://evil.example',
      },
    });
    request.on('response', (response) => resolve(response.statusCode));
    request.on('upgrade', () => resolve(101));
    request.on('error', reject);
  });
  assert.equal(status, 403);
});
