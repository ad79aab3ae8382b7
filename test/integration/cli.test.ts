/**
 * The `subgate` command as the README documents it: flags, config file, hook modules by path,
 * the listening line, errors that name the option, and SIGTERM.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import WebSocket, { WebSocketServer } from 'ws';
import { runCli, startCli } from '../helpers/cli-process.js';
import { once } from '../helpers/wait.js';

const FLAGS = [
  '--target',
  '--session-store',
  '--session-ttl',
  '--port',
  '--host',
  '--path',
  '--hook',
  '--config',
  '--ping-interval',
  '--pong-timeout',
  '--connect-timeout',
  '--retry-initial-delay',
  '--retry-max-delay',
  '--max-retries',
  '--max-outage',
  '--log-level',
];

/** An echo target that reports each connection's URL and subprotocol. */
async function echoTarget(
  t: TestContext,
): Promise<{ url: string; seen: { url: string; protocol: string }[] }> {
  const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  t.after(() => server.close());
  const seen: { url: string; protocol: string }[] = [];
  server.on('connection', (ws, request) => {
    seen.push({ url: request.url ?? '', protocol: ws.protocol });
    ws.on('message', (data, binary) => ws.send(data, { binary }));
  });
  await once(server, 'listening', 5000);
  const address = server.address();
  assert.ok(typeof address === 'object' && address !== null);
  return { url: `ws://127.0.0.1:${address.port}`, seen };
}

async function exchange(url: string, message: string): Promise<string> {
  const client = new WebSocket(url);
  try {
    await once(client, 'open', 5000);
    client.send(message);
    const data = await once<Buffer>(client, 'message', 5000);
    return data.toString();
  } finally {
    client.close();
  }
}

test('--help documents every flag with its default', async () => {
  const { code, stdout } = await runCli(['--help']);
  assert.equal(code, 0);
  for (const flag of FLAGS) assert.ok(stdout.includes(flag), `--help mentions ${flag}`);
  assert.match(stdout, /--ping-interval <ms>\s+heartbeat ping interval \(default 5000\)/);
  assert.match(stdout, /--port <n>.*\(default 8080\)/);
});

test('bad options exit non-zero with a message naming the option', async () => {
  const cases: [string[], RegExp][] = [
    [[], /target is required/],
    [['--target', 'http://example'], /target must use ws:\/\/ or wss:\/\//],
    [
      ['--target', 'ws://127.0.0.1:1', '--ping-interval', 'soon'],
      /--ping-interval must be a whole number/,
    ],
    [
      ['--target', 'ws://127.0.0.1:1', '--pong-timeout', '0'],
      /pongTimeout must be an integer >= 1/,
    ],
    [
      ['--target', 'ws://127.0.0.1:1', '--retry-initial-delay', '500', '--retry-max-delay', '100'],
      /retryMaxDelay must be >= retryInitialDelay/,
    ],
    [['--target', 'ws://127.0.0.1:1', '--log-level', 'loud'], /logLevel must be one of/],
    [
      ['--target', 'ws://127.0.0.1:1', '--hook', './does-not-exist.js'],
      /--hook: cannot load hook "\.\/does-not-exist\.js"/,
    ],
    [['--target', 'ws://127.0.0.1:1', '--frobnicate'], /Unknown option '--frobnicate'/],
    [['--config', '/nonexistent/subgate.json'], /config \/nonexistent\/subgate\.json/],
    [
      ['--target', 'ws://127.0.0.1:1', '--session-store', 'redis://127.0.0.1:1'],
      /sessionSecret is required with a shared session store/,
    ],
    [
      ['--target', 'ws://127.0.0.1:1', '--session-store', 'mongodb://x'],
      /sessionStore must be 'memory', 'off', a redis:\/\/ URL/,
    ],
    [
      ['--target', 'ws://127.0.0.1:1', '--session-ttl', '5'],
      /sessionTtl must be an integer >= 1000/,
    ],
  ];
  for (const [args, message] of cases) {
    const { code, stderr } = await runCli(args);
    assert.equal(code, 2, `exit code for ${args.join(' ')}`);
    assert.match(stderr, message, `message for ${args.join(' ')}`);
  }
});

test('the session secret comes from SUBGATE_SESSION_SECRET, checked like the option', async () => {
  process.env['SUBGATE_SESSION_SECRET'] = 'too-short';
  try {
    const { code, stderr } = await runCli([
      '--target',
      'ws://127.0.0.1:1',
      '--session-store',
      'redis://127.0.0.1:1',
    ]);
    assert.equal(code, 2);
    assert.match(stderr, /sessionSecret must be a string of at least 32 characters/);
  } finally {
    delete process.env['SUBGATE_SESSION_SECRET'];
  }
});

test('--port 0 prints the listening line and proxies, query string appended', async (t) => {
  const target = await echoTarget(t);
  const cli = await startCli([
    '--target',
    `${target.url}/graphql?from=target`,
    '--port',
    '0',
    '--log-level',
    'silent',
  ]);
  t.after(() => cli.child.kill('SIGKILL'));
  assert.match(cli.url, /^ws:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(await exchange(`${cli.url}/anything?token=abc`, 'hello'), 'hello');
  assert.equal(target.seen[0]!.url, '/graphql?from=target&token=abc');
});

test('a config file with a hook module by path and options; flags override the file', async (t) => {
  const target = await echoTarget(t);
  const dir = mkdtempSync(join(tmpdir(), 'subgate-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // A hook module written from scratch against the public API: it prefixes client frames.
  writeFileSync(
    join(dir, 'prefix-hook.mjs'),
    `export default function prefixHook(options) {
       return { name: 'prefix', open: () => ({ onClientMessage: (data) => options.prefix + data.toString() }) };
     }\n`,
  );
  writeFileSync(
    join(dir, 'subgate.json'),
    JSON.stringify({
      target: 'ws://127.0.0.1:1/wrong',
      port: 1,
      hooks: [['./prefix-hook.mjs', { prefix: '>' }]],
      logLevel: 'silent',
    }),
  );
  const cli = await startCli([
    '--config',
    join(dir, 'subgate.json'),
    '--target',
    target.url,
    '--port',
    '0',
  ]);
  t.after(() => cli.child.kill('SIGKILL'));
  assert.equal(
    await exchange(cli.url, 'hi'),
    '>hi',
    'the hook loaded by path ran with its options',
  );

  writeFileSync(join(dir, 'typo.json'), JSON.stringify({ target: target.url, pingIntervl: 5 }));
  const typo = await runCli(['--config', join(dir, 'typo.json')]);
  assert.equal(typo.code, 2);
  assert.match(typo.stderr, /unknown option "pingIntervl"/);
});

test('SIGTERM closes clients with 1001 and exits 0 within 5 s', async (t) => {
  const target = await echoTarget(t);
  const cli = await startCli(['--target', target.url, '--port', '0', '--log-level', 'silent']);
  t.after(() => cli.child.kill('SIGKILL'));
  const client = new WebSocket(cli.url);
  t.after(() => client.terminate());
  await once(client, 'open', 5000);
  assert.equal(await exchange(cli.url, 'up'), 'up');
  const closed = once<number>(client, 'close', 5000);
  const started = performance.now();
  cli.child.kill('SIGTERM');
  const code = await closed;
  assert.equal(code, 1001);
  const exit = await cli.exited;
  assert.equal(exit.code, 0);
  assert.ok(performance.now() - started < 5000, 'exited within 5 s');
});

test("the README's worked custom hook runs as documented", async (t) => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('A worked custom hook'));
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code, 'the README shows the hook');
  const dir = mkdtempSync(join(tmpdir(), 'subgate-readme-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'stamp.js'), code);
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  const target = await echoTarget(t);
  const cli = await startCli([
    '--target',
    target.url,
    '--port',
    '0',
    '--hook',
    join(dir, 'stamp.js'),
    '--log-level',
    'silent',
  ]);
  t.after(() => cli.child.kill('SIGKILL'));
  assert.deepEqual(JSON.parse(await exchange(cli.url, '{"n":1}')), { n: 1, generation: 1 });
});

test('a second SIGTERM exits at once, even while clients still drain', async (t) => {
  const target = await echoTarget(t);
  const cli = await startCli(['--target', target.url, '--port', '0', '--log-level', 'silent']);
  t.after(() => cli.child.kill('SIGKILL'));
  // A client that never reads answers no close frame: the first SIGTERM waits for it.
  const client = new WebSocket(cli.url);
  t.after(() => client.terminate());
  await once(client, 'open', 5000);
  client.pause();
  cli.child.kill('SIGTERM');
  const first = await Promise.race([
    cli.exited.then(() => 'exited'),
    new Promise<string>((resolve) => setTimeout(() => resolve('draining'), 500)),
  ]);
  assert.equal(first, 'draining', 'the first SIGTERM drains');
  const started = performance.now();
  cli.child.kill('SIGTERM');
  const exit = await cli.exited;
  assert.equal(exit.code, 0);
  assert.ok(performance.now() - started < 1000, 'the second SIGTERM exits at once');
});
