/**
 * Every example runs here, with short durations, so none can rot:
 * - the reconnection demo (`npm run demo`) with a compressed 12 s schedule: a slow start, a freeze
 *   and two crashes, with 0 lost, 0 duplicated, exit code 0 and an SVG timeline;
 * - each part of the reconnection example through its folder's `npm run start` script;
 * - the proxy's `subgate.config.json` through the real `subgate` binary, across a SIGKILL;
 * - the custom hook loaded by path (`--hook ./dist/examples/custom-hook/init-token.js`) through
 *   the real binary, checked on the data the target receives, before and after a restart.
 *
 * Everything listens on 127.0.0.1 with port 0; every process is stopped in `t.after()`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { startCli } from '../helpers/cli-process.js';
import { waitFor } from '../helpers/wait.js';
import { startGraphqlTarget } from '../fixtures/graphql-harness.js';
import { startExample, type ExampleProcess } from '../fixtures/example-process.js';

/** The repository root (this file runs from dist/test/integration). */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const DIST_EXAMPLES = join(ROOT, 'dist', 'examples');
const DEMO = join(DIST_EXAMPLES, 'reconnection', 'demo.js');
const DEMO_SECONDS = 12;

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'subgate-examples-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function stopAfter(t: { after(fn: () => unknown): void }, example: ExampleProcess): ExampleProcess {
  t.after(() => example.stop('SIGKILL'));
  return example;
}

/** The script an example folder's `npm run start` runs, resolved (it must be `node <path>`). */
function startScript(folder: string, script = 'start'): { cwd: string; file: string } {
  const cwd = join(ROOT, 'examples', 'reconnection', folder);
  const pkg = JSON.parse(readFileSync(join(cwd, 'package.json'), 'utf8')) as {
    private?: boolean;
    type?: string;
    scripts?: Record<string, string>;
  };
  assert.equal(pkg.private, true, `${folder}/package.json is private`);
  assert.equal(pkg.type, 'module', `${folder}/package.json is ESM`);
  const command = pkg.scripts?.[script] ?? '';
  const match = /^node (\S+\.js)$/.exec(command);
  assert.ok(match, `${folder}: "${script}" runs one compiled file with node, got ${command}`);
  return { cwd, file: resolve(cwd, match[1]!) };
}

test('the demo survives a slow start, a freeze and two crashes with nothing lost or duplicated', async (t) => {
  const dir = tempDir(t);
  const svg = join(dir, 'out', 'timeline.svg');
  const reportFile = join(dir, 'report.json');
  const demo = stopAfter(
    t,
    startExample(DEMO, {
      args: ['--duration', String(DEMO_SECONDS), '--out', svg, '--report', reportFile],
    }),
  );
  const deadline = setTimeout(() => demo.child.kill('SIGKILL'), (DEMO_SECONDS + 45) * 1000);
  const { code } = await demo.exited;
  clearTimeout(deadline);
  const output = demo.stdout();
  t.diagnostic(output);
  assert.equal(code, 0, `the demo exits 0\n${output}\n${demo.stderr()}`);

  const report = JSON.parse(readFileSync(reportFile, 'utf8')) as {
    passed: boolean;
    client: {
      expected: number;
      received: number;
      lost: number;
      duplicated: number;
      outOfOrder: number;
      closed?: unknown;
    };
    outages: {
      kind: string;
      at: number;
      detectedAt?: number;
      restoredAt?: number;
      flowingAt?: number;
    }[];
    survived: number;
    faults: { slowStarts: number; freezes: number; crashes: number };
    problems: string[];
  };
  assert.equal(report.passed, true);
  assert.deepEqual(report.problems, []);
  assert.equal(report.client.lost, 0);
  assert.equal(report.client.duplicated, 0);
  assert.equal(report.client.outOfOrder, 0);
  assert.equal(report.client.closed, undefined);
  assert.ok(report.client.expected > 30, `a real stream: ${report.client.expected} events`);
  assert.equal(report.client.received, report.client.expected);
  assert.ok(report.faults.slowStarts >= 1, 'a slow start');
  assert.ok(report.faults.freezes >= 1, 'a freeze');
  assert.ok(report.faults.crashes >= 2, 'two crashes');
  assert.equal(report.survived, report.outages.length, 'events flowed again after every outage');
  for (const outage of report.outages) {
    assert.ok(
      outage.restoredAt !== undefined && outage.flowingAt !== undefined,
      JSON.stringify(outage),
    );
    if (outage.kind === 'slow-start') continue;
    assert.ok(outage.detectedAt !== undefined, `${outage.kind} detected`);
    // G2: a freeze is detected within pingInterval + pongTimeout (1000 + 1000 ms in proxy/).
    const bound = outage.kind === 'freeze' ? 2000 + 500 : 500;
    assert.ok(
      outage.detectedAt - outage.at <= bound,
      `${outage.kind} detected ${outage.detectedAt - outage.at} ms after it began (bound ${bound})`,
    );
  }

  // What a user reads.
  assert.match(output, /^ {2}lost {16}0$/m);
  assert.match(output, /^ {2}duplicated {10}0$/m);
  assert.match(output, /DETECTED upstream lost: no pong within 1000 ms/);
  assert.match(output, /ticks\(after: \d+\) subscribed {2}← resumed/);
  assert.match(output, /^PASS/m);
  assert.ok(output.includes(svg), 'prints where the timeline is');

  const timeline = readFileSync(svg, 'utf8');
  assert.match(timeline, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(timeline, /<\/svg>\n$/);
  assert.match(timeline, /every event exactly once/);
  assert.doesNotMatch(timeline, /(href|src)=/, 'self-contained: nothing to fetch');
  for (const label of ['slow start', 'freeze', 'crash (exit)', 'crash (SIGKILL)']) {
    assert.ok(timeline.includes(label), `the timeline shows the ${label}`);
  }
});

test('the demo rejects a bad --duration with exit code 2', async (t) => {
  const demo = stopAfter(t, startExample(DEMO, { args: ['--duration', 'soon'] }));
  const { code } = await demo.exited;
  assert.equal(code, 2);
  assert.match(demo.stderr(), /--duration must be a number of seconds >= 10/);
});

test("each part of the reconnection example runs on its own with its folder's start script", async (t) => {
  const target = startScript('unstable-target');
  const supervisor = stopAfter(
    t,
    startExample(target.file, {
      cwd: target.cwd,
      env: { PORT: '0', SLOW_START_MS: '0', FREEZE_AT: '', CRASH_AT: '', TICK_INTERVAL_MS: '10' },
    }),
  );
  const [, targetUrl] = await supervisor.waitForOutput(
    /listening on (ws:\/\/127\.0\.0\.1:\d+\/graphql)/,
    15_000,
  );

  const proxyScript = startScript('proxy');
  const proxy = stopAfter(
    t,
    startExample(proxyScript.file, {
      cwd: proxyScript.cwd,
      env: { TARGET: targetUrl!, PORT: '0', LOG_LEVEL: 'warn' },
    }),
  );
  const [, proxyUrl] = await proxy.waitForOutput(/proxy listening on (ws:\/\/\S+)/, 15_000);

  const clientScript = startScript('client');
  const client = stopAfter(
    t,
    startExample(clientScript.file, {
      cwd: clientScript.cwd,
      env: { URL: `${proxyUrl!}/graphql` },
    }),
  );
  await client.waitForOutput(/received [1-9]\d* \(last seq/, 15_000);
  client.child.kill('SIGINT');
  const { code } = await client.exited;
  const [report] = await client.waitForOutput(/report: .*/, 1000);
  assert.equal(code, 0, client.stdout());
  assert.match(report, /lost 0 · duplicated 0 · out of order 0/);
  assert.doesNotMatch(report, /CLOSED/);

  assert.equal((await proxy.stop()).code, 0, 'the proxy exits 0 on SIGTERM');
  const stopped = await supervisor.stop();
  assert.equal(stopped.code, 0, 'the supervisor exits 0 on SIGTERM');
});

test("the proxy's subgate.config.json works with the subgate binary, across a SIGKILL of the target", async (t) => {
  const target = startScript('unstable-target');
  const supervisor = stopAfter(
    t,
    startExample(target.file, {
      cwd: target.cwd,
      env: {
        PORT: '0',
        SLOW_START_MS: '0',
        RESTART_DELAY_MS: '300',
        FREEZE_AT: '',
        CRASH_AT: '3:kill',
        REPEAT_S: '0',
        TICK_INTERVAL_MS: '10',
      },
    }),
  );
  const [, targetUrl] = await supervisor.waitForOutput(
    /listening on (ws:\/\/127\.0\.0\.1:\d+\/graphql)/,
    15_000,
  );

  const config = join(ROOT, 'examples', 'reconnection', 'proxy', 'subgate.config.json');
  const cli = await startCli([
    '--config',
    config,
    '--target',
    targetUrl!,
    '--port',
    '0',
    '--log-level',
    'warn',
  ]);
  t.after(async () => {
    cli.child.kill('SIGKILL');
    await cli.exited;
  });

  const clientScript = startScript('client');
  const client = stopAfter(
    t,
    startExample(clientScript.file, {
      cwd: clientScript.cwd,
      env: { URL: `${cli.url}/graphql`, DURATION_S: '6' },
    }),
  );
  const { code } = await client.exited;
  const output = client.stdout();
  assert.match(supervisor.stdout(), /the target exited \(SIGKILL\)/, 'the target was killed');
  assert.match(output, /events again from seq \d+ after a/, 'the client saw the outage as a gap');
  assert.match(output, /report: .*lost 0 · duplicated 0 · out of order 0/, output);
  assert.equal(code, 0, output);
});

test('the custom hook, loaded by path with --hook, puts the header token in every connection_init', async (t) => {
  const graphql = await startGraphqlTarget(t, { token: 's3cret' });
  const hookFile = join(DIST_EXAMPLES, 'custom-hook', 'init-token.js');
  // As the README shows it: a path relative to the working directory.
  const hookPath = `./${relative(process.cwd(), hookFile)}`;
  const cli = await startCli([
    '--target',
    graphql.target.url,
    '--port',
    '0',
    '--hook',
    hookPath,
    '--hook',
    'graphql-ws',
    '--ping-interval',
    '300',
    '--pong-timeout',
    '300',
    '--retry-max-delay',
    '200',
    '--log-level',
    'warn',
  ]);
  t.after(async () => {
    cli.child.kill('SIGKILL');
    await cli.exited;
  });

  /** A graphql-ws client whose upgrade request carries `headers`. */
  const connect = (headers: Record<string, string>) => {
    const closes: number[] = [];
    class WithHeaders extends WebSocket {
      constructor(url: string, protocols?: string | string[]) {
        super(url, protocols, { headers });
      }
    }
    const client = createClient({
      url: cli.url,
      webSocketImpl: WithHeaders,
      retryAttempts: 0,
      on: { closed: (event) => void closes.push((event as { code: number }).code) },
    });
    t.after(() => client.dispose());
    return { client, closes };
  };

  const authed = connect({ authorization: 'Bearer s3cret' });
  const seqs: number[] = [];
  const errors: unknown[] = [];
  authed.client.subscribe<{ ticks: { seq: number } }>(
    { query: 'subscription { ticks(until: 1000000) { seq } }' },
    {
      next: (result) => void seqs.push(result.data?.ticks.seq ?? -1),
      error: (error) => void errors.push(error),
      complete: () => {},
    },
  );
  await waitFor(() => seqs.length >= 5, { timeout: 10_000, message: 'ticks through the hook' });
  assert.deepEqual(
    graphql
      .events()
      .filter((e) => e.type === 'init')
      .map((e) => e.ok),
    [true],
    'the target accepted the token the hook added to connection_init',
  );

  // The re-sent connection_init after a crash carries it too: the subscription goes on.
  await graphql.target.restart();
  const before = seqs.length;
  await waitFor(() => seqs.length >= before + 5, {
    timeout: 15_000,
    message: 'ticks after the restart',
  });
  assert.deepEqual(
    graphql
      .events()
      .filter((e) => e.type === 'init')
      .map((e) => e.ok),
    [true, true],
    'the re-sent connection_init carried the token',
  );
  assert.deepEqual(errors, []);
  assert.deepEqual(authed.closes, [], 'the client never saw the restart');

  // Control: without the header, the target refuses the init (4403), so the token was the hook's.
  const anonymous = connect({});
  const refused = new Promise<unknown>((resolveRefusal) => {
    anonymous.client.subscribe(
      { query: '{ hello }' },
      { next: () => {}, error: resolveRefusal, complete: () => resolveRefusal('complete') },
    );
  });
  const refusal = (await refused) as { code?: number };
  assert.equal(refusal.code, 4403, 'closed with Forbidden');
  assert.equal(graphql.events().filter((e) => e.type === 'init' && e.ok === false).length, 1);
});
