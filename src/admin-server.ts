/**
 * The operator's HTTP endpoints, on their own port: `/metrics` (Prometheus text format),
 * `/healthz` (the process is up), `/readyz` (accepting clients), and a live status page
 * (`/status`, fed by `/status.json`).
 *
 * @module
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { STATUS_PAGE } from './status-page.js';

/** What the admin server reads from the gateway. */
export interface AdminSource {
  readonly registry: Registry;
  /** Whether the gateway accepts clients (false while shutting down). */
  accepting(): boolean;
  /** The snapshot behind `/status.json`. */
  status(): unknown;
}

/** A listening admin server. */
export interface AdminServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

/** Starts the admin server on `port` (0 = any free port) and `host`. */
export async function startAdminServer(
  source: AdminSource,
  port: number,
  host: string,
): Promise<AdminServer> {
  const server: Server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://admin').pathname;
    const reply = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD')
      return reply(405, 'method not allowed\n');
    switch (path) {
      case '/healthz':
        return reply(200, 'ok\n');
      case '/readyz':
        return source.accepting() ? reply(200, 'ready\n') : reply(503, 'shutting down\n');
      case '/status':
        return reply(200, STATUS_PAGE, 'text/html; charset=utf-8');
      case '/status.json':
        return reply(200, JSON.stringify(source.status()), 'application/json');
      case '/metrics':
        source.registry.metrics().then(
          (text) => reply(200, text, source.registry.contentType),
          (error: Error) => reply(500, `${error.message}\n`),
        );
        return;
      default:
        return reply(404, 'not found: try /metrics, /healthz, /readyz or /status\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    address: server.address() as AddressInfo,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
