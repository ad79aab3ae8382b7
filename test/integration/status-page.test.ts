/**
 * The live status page in a real headless Chromium (Debian's `chromium`, installed by .ci/run):
 * it renders the gateway's live numbers, and a screenshot of it is a real, non-blank picture.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { inflateSync } from 'node:zlib';
import WebSocket, { WebSocketServer } from 'ws';
import { createGateway } from '../../src/index.js';
import { once, waitFor } from '../helpers/wait.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) =>
  existsSync(path),
);
const run = promisify(execFile);

/** Runs headless Chromium on a URL with the flags this machine needs (no network beyond loopback). */
async function chromium(t: TestContext, ...args: string[]): Promise<string> {
  const profile = mkdtempSync(join(tmpdir(), 'subgate-chromium-'));
  t.after(() => rmSync(profile, { recursive: true, force: true }));
  const { stdout } = await run(
    CHROMIUM!,
    [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--user-data-dir=${profile}`,
      '--virtual-time-budget=5000',
      ...args,
    ],
    { timeout: 60_000, maxBuffer: 16 * 1024 * 1024 },
  );
  return stdout;
}

/** A gateway with two clients and one outage behind it; returns the status page URL. */
async function liveGateway(t: TestContext): Promise<string> {
  const target = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.after(() => {
    for (const ws of target.clients) ws.terminate();
    target.close();
  });
  await once(target, 'listening', 5000);
  const address = target.address();
  assert.ok(typeof address === 'object' && address !== null);
  const gateway = createGateway({
    target: `ws://127.0.0.1:${address.port}`,
    port: 0,
    metricsPort: 0,
    logLevel: 'silent',
    retryInitialDelay: 10,
    retryMaxDelay: 50,
  });
  t.after(() => gateway.close({ drainTimeout: 500 }));
  await gateway.ready;
  const clients = [new WebSocket(gateway.url), new WebSocket(gateway.url)];
  t.after(() => clients.forEach((client) => client.terminate()));
  await Promise.all(clients.map((client) => once(client, 'open', 5000)));
  await waitFor(() => target.clients.size === 2, { timeout: 5000, message: 'two upstreams' });
  const first = [...target.clients][0]!;
  first.terminate();
  await waitFor(() => gateway.status().events.length === 1, {
    timeout: 5000,
    message: 'one outage recorded',
  });
  await waitFor(() => gateway.status().sessions.every((s) => s.upstreamState === 'open'), {
    timeout: 5000,
    message: 'both upstreams open again',
  });
  const admin = await gateway.admin;
  return `http://127.0.0.1:${admin!.port}/status`;
}

/** Width, height and whether the pixels vary, from a PNG file (IHDR + inflated IDAT chunks). */
function inspectPng(file: string): { width: number; height: number; distinctBytes: number } {
  const png = readFileSync(file);
  assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], 'a PNG signature');
  const idat: Buffer[] = [];
  let offset = 8;
  let width = 0;
  let height = 0;
  while (offset < png.length) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
    } else if (type === 'IDAT') {
      idat.push(data);
    }
    offset += 12 + length;
  }
  const pixels = inflateSync(Buffer.concat(idat));
  return { width, height, distinctBytes: new Set(pixels).size };
}

const skip =
  CHROMIUM === undefined && process.env.CI !== 'true' ? 'chromium is not installed' : false;

test('the status page renders the live numbers in Chromium', { skip }, async (t) => {
  assert.ok(CHROMIUM, 'chromium is installed (.ci/run installs it)');
  const url = await liveGateway(t);
  const dom = await chromium(t, '--dump-dom', url);
  const figure = (id: string): string | undefined =>
    new RegExp(`id="${id}">([^<]*)<`).exec(dom)?.[1];
  assert.equal(figure('sessions'), '2');
  assert.equal(figure('open'), '2');
  assert.equal(figure('outages'), '1');
  assert.match(dom, /<rect [^>]*fill="#cf222e"/, 'the chart shows the outage as a bar');
  assert.equal(
    (dom.match(/<tr><td>[0-9a-f]{8}<\/td><td class="open">open<\/td>/g) ?? []).length,
    2,
  );
});

test('a screenshot of the status page is a real picture', { skip }, async (t) => {
  assert.ok(CHROMIUM, 'chromium is installed (.ci/run installs it)');
  const url = await liveGateway(t);
  const dir = mkdtempSync(join(tmpdir(), 'subgate-shot-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'status.png');
  await chromium(t, `--screenshot=${file}`, '--window-size=900,600', '--hide-scrollbars', url);
  const { width, height, distinctBytes } = inspectPng(file);
  assert.deepEqual([width, height], [900, 600]);
  assert.ok(
    distinctBytes > 16,
    `the page is drawn, not blank (${distinctBytes} distinct byte values)`,
  );
});
