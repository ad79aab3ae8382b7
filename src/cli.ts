#!/usr/bin/env node
/**
 * The `subgate` command. Its flags are a public contract: see `subgate --help` and the README.
 *
 * @module
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadConfigFile, type ConfigSettings } from './config.js';
import { createGateway, type Gateway } from './gateway.js';
import { loadHook, type HookSpec } from './hook-loader.js';
import { DEFAULTS, type GatewayOptions } from './options.js';

/** Numeric flags and the option each sets. */
const NUMERIC_FLAGS = {
  port: 'port',
  'ping-interval': 'pingInterval',
  'pong-timeout': 'pongTimeout',
  'connect-timeout': 'connectTimeout',
  'retry-initial-delay': 'retryInitialDelay',
  'retry-max-delay': 'retryMaxDelay',
  'max-retries': 'maxRetries',
  'max-outage': 'maxOutage',
  'metrics-port': 'metricsPort',
  'session-ttl': 'sessionTtl',
} as const;

/** Where the CLI reads `sessionSecret` from (never a flag: argv is visible to every user). */
const SECRET_ENV = 'SUBGATE_SESSION_SECRET';

const HELP = `Usage: subgate --target <ws-url> [options]

Keeps client WebSockets open while the target behind them crashes, freezes or restarts.

Options (durations in milliseconds):
  --target <ws-url>            full upstream URL; the client's query string is appended (required)
  --port <n>                   port to listen on; 0 picks a free one (default ${DEFAULTS.port})
  --host <addr>                address to listen on (default ${DEFAULTS.host})
  --path <p>                   accept clients only on this path (default: any path)
  --hook <name|path>           hook to use, repeatable, in order: ping-replay, graphql-ws, or a
                               path to a hook module (default: ping-replay)
  --config <file.json|file.js> options in camelCase plus hooks: [[nameOrPath, options], ...];
                               flags override it
  --ping-interval <ms>         heartbeat ping interval (default ${DEFAULTS.pingInterval})
  --pong-timeout <ms>          time a ping may wait for its pong (default ${DEFAULTS.pongTimeout})
  --connect-timeout <ms>       time one connection attempt may take (default ${DEFAULTS.connectTimeout})
  --retry-initial-delay <ms>   upper bound of the first reconnect delay (default ${DEFAULTS.retryInitialDelay})
  --retry-max-delay <ms>       cap on any reconnect delay (default ${DEFAULTS.retryMaxDelay})
  --max-retries <n>            failed attempts before the client is closed with 1013 (default: no limit)
  --max-outage <ms>            outage after which the client is closed with 1013 (default ${DEFAULTS.maxOutage})
  --metrics-port <n>           serve /metrics, /healthz and /readyz on this port (default: off)
  --session-store <where>      where resumable sessions live: memory, off, or redis://host:port to
                               share them between instances (default ${DEFAULTS.sessionStore});
                               a shared store needs the key in ${SECRET_ENV}
  --session-ttl <ms>           how long a session is kept after its client left (default ${DEFAULTS.sessionTtl})
  --log-level <level>          fatal, error, warn, info, debug, trace or silent (default ${DEFAULTS.logLevel})
  -h, --help                   show this help
  -v, --version                show the version

Prints "subgate listening on ws://HOST:PORT" when ready. SIGTERM closes clients with 1001 (1012
with a shared session store, so they resume on another instance) and exits 0 within 5 s; a
second SIGTERM exits at once.
`;

class UsageError extends Error {}

function integerFlag(flag: string, value: string): number {
  if (!/^\d+$/.test(value))
    throw new UsageError(`--${flag} must be a whole number, got ${JSON.stringify(value)}`);
  return Number(value);
}

/** Turns argv into gateway options (hooks loaded), or throws a UsageError naming the flag. */
async function optionsFrom(argv: string[]): Promise<GatewayOptions | 'help' | 'version'> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        target: { type: 'string' },
        host: { type: 'string' },
        path: { type: 'string' },
        hook: { type: 'string', multiple: true },
        config: { type: 'string' },
        'log-level': { type: 'string' },
        'session-store': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
        ...Object.fromEntries(
          Object.keys(NUMERIC_FLAGS).map((flag) => [flag, { type: 'string' as const }]),
        ),
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) return 'help';
  if (values.version) return 'version';

  let settings: ConfigSettings = { target: '' };
  let baseDir = process.cwd();
  if (typeof values.config === 'string') {
    const loaded = await loadConfigFile(values.config).catch((error: Error) => {
      throw new UsageError(error.message);
    });
    settings = { ...loaded.settings };
    baseDir = loaded.baseDir;
  }
  const flags = values as Record<string, string | string[] | boolean | undefined>;
  if (typeof values.target === 'string') settings.target = values.target;
  if (typeof values.host === 'string') settings.host = values.host;
  if (typeof values.path === 'string') settings.path = values.path;
  if (typeof values['session-store'] === 'string') settings.sessionStore = values['session-store'];
  const secret = process.env[SECRET_ENV];
  if (secret !== undefined && secret !== '') settings.sessionSecret = secret;
  if (typeof values['log-level'] === 'string')
    settings.logLevel = values['log-level'] as GatewayOptions['logLevel'] & string;
  for (const [flag, option] of Object.entries(NUMERIC_FLAGS)) {
    const value = flags[flag];
    if (typeof value === 'string') settings[option] = integerFlag(flag, value);
  }

  // --hook replaces the config's list; a hook named in both keeps the config's options.
  // A config's explicit list (even an empty one: a plain proxy) stands unless --hook is given.
  const configured = settings.hooks ?? ['ping-replay'];
  const specs: HookSpec[] = values.hook
    ? values.hook.map(
        (name) =>
          configured.find((spec) => (typeof spec === 'string' ? spec : spec[0]) === name) ?? name,
      )
    : configured;
  const hooks = [];
  for (const spec of specs) {
    hooks.push(
      await loadHook(
        spec,
        typeof spec !== 'string' || !values.hook ? baseDir : process.cwd(),
      ).catch((error: Error) => {
        throw new UsageError(`--hook: ${error.message}`);
      }),
    );
  }
  // The string is checked by createGateway, which names the option when it is not a store.
  return { ...settings, hooks } as GatewayOptions;
}

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/**
 * Shuts down on SIGTERM/SIGINT: clients get 1001 (1012 with a shared session store), exit 0
 * within 5 s; a second signal exits at once.
 */
function exitOnSignals(gateway: Gateway): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) process.exit(0);
    stopping = true;
    gateway.log.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(0), 5000).unref();
    void gateway.close({ drainTimeout: 4000 }).then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

async function main(): Promise<void> {
  let options;
  try {
    options = await optionsFrom(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`subgate: ${(error as Error).message}\nRun subgate --help for usage.\n`);
    process.exit(2);
  }
  if (options === 'help') {
    process.stdout.write(HELP);
    return;
  }
  if (options === 'version') {
    process.stdout.write(`${version()}\n`);
    return;
  }
  let gateway: Gateway;
  try {
    gateway = createGateway(options);
  } catch (error) {
    process.stderr.write(`subgate: ${(error as Error).message}\nRun subgate --help for usage.\n`);
    process.exit(2);
  }
  exitOnSignals(gateway);
  try {
    await gateway.ready;
  } catch (error) {
    process.stderr.write(`subgate: cannot listen: ${(error as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write(`subgate listening on ${gateway.url}\n`);
  const admin = await gateway.admin.catch((error: Error) => {
    process.stderr.write(`subgate: cannot serve metrics: ${error.message}\n`);
    process.exit(1);
  });
  if (admin) gateway.log.info({ port: admin.port }, 'metrics, health and readiness served');
}

await main();
