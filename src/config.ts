/**
 * Config files for the CLI: JSON or a JS module holding the gateway options in camelCase plus
 * `hooks: [[nameOrPath, options], ...]`. Command-line flags override what a file says.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { HookSpec } from './hook-loader.js';
import type { GatewayOptions } from './options.js';

/** The settings a config file may hold. */
export type ConfigSettings = Omit<
  GatewayOptions,
  'hooks' | 'server' | 'noServer' | 'logger' | 'random' | 'sessionStore'
> & {
  /** `'memory'`, `'off'` or a `redis://` URL (a store object needs the API). */
  sessionStore?: string;
  hooks?: HookSpec[];
};

/** Keys a config file may use; anything else is rejected so that typos do not pass silently. */
export const CONFIG_KEYS: readonly (keyof ConfigSettings)[] = [
  'target',
  'port',
  'host',
  'path',
  'hooks',
  'pingInterval',
  'pongTimeout',
  'connectTimeout',
  'retryInitialDelay',
  'retryMaxDelay',
  'retryFactor',
  'minUptime',
  'maxRetries',
  'maxOutage',
  'clientPingInterval',
  'forwardHeaders',
  'maxBufferedMessages',
  'maxBufferedBytes',
  'maxPayload',
  'metricsPort',
  'metricsHost',
  'maxSessions',
  'allowedOrigins',
  'sessionStore',
  'sessionTtl',
  'sessionSecret',
  'sessionWriteInterval',
  'logLevel',
];

/** A loaded config file: its settings and the folder its relative hook paths start from. */
export interface LoadedConfig {
  readonly settings: ConfigSettings;
  readonly baseDir: string;
}

/**
 * Reads a config file (`.json`, or `.js`/`.mjs` whose default export is the settings object).
 *
 * @throws naming the file and the offending key.
 */
export async function loadConfigFile(file: string): Promise<LoadedConfig> {
  const path = resolve(file);
  let settings: unknown;
  try {
    if (extname(path) === '.json') {
      settings = JSON.parse(await readFile(path, 'utf8'));
    } else {
      settings = ((await import(pathToFileURL(path).href)) as { default?: unknown }).default;
    }
  } catch (error) {
    throw new Error(`config ${file}: ${(error as Error).message}`, { cause: error });
  }
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings)) {
    throw new Error(`config ${file}: must hold an object of options`);
  }
  for (const key of Object.keys(settings)) {
    if (!(CONFIG_KEYS as readonly string[]).includes(key)) {
      throw new Error(
        `config ${file}: unknown option ${JSON.stringify(key)} (known: ${CONFIG_KEYS.join(', ')})`,
      );
    }
  }
  const { hooks } = settings as ConfigSettings;
  if (hooks !== undefined && !Array.isArray(hooks)) {
    throw new Error(`config ${file}: hooks must be an array of "name" or ["name", { options }]`);
  }
  return { settings: settings as ConfigSettings, baseDir: dirname(path) };
}
