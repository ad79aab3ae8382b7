/**
 * Loads hooks by built-in name or by path to a hook module, for the CLI and config files.
 *
 * @module
 */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Hook, HookFactory } from './hooks.js';

/** Built-in hooks, by the name used with `--hook` and in config files. */
export const BUILT_IN_HOOKS: Readonly<Record<string, string>> = {
  'ping-replay': '../hooks/ping-replay.js',
  'graphql-ws': '../hooks/graphql-ws.js',
  broker: '../hooks/broker.js',
};

/** A hook as written in a config file: a name or path, with optional options. */
export type HookSpec = string | readonly [string, Record<string, unknown>?];

function pickFactory(module: Record<string, unknown>, where: string): HookFactory {
  if (typeof module.default === 'function') return module.default as HookFactory;
  const factories = Object.entries(module).filter(([, value]) => typeof value === 'function');
  if (factories.length === 1) return factories[0]![1] as HookFactory;
  const names = factories.map(([name]) => name).join(', ') || 'none';
  throw new Error(
    `hook module ${where} must export its factory as default or as its only function (found: ${names})`,
  );
}

/**
 * Resolves one hook spec to a {@link Hook}: a built-in name, or a path (relative to `baseDir`) to
 * a module whose default export — or only exported function — is a {@link HookFactory}.
 */
export async function loadHook(spec: HookSpec, baseDir: string): Promise<Hook> {
  const [name, options] = typeof spec === 'string' ? [spec, undefined] : spec;
  if (typeof name !== 'string' || name === '') {
    throw new Error(`hook must be a name or a path, got ${JSON.stringify(spec)}`);
  }
  const builtIn = BUILT_IN_HOOKS[name];
  const url = builtIn
    ? new URL(builtIn, import.meta.url).href
    : pathToFileURL(isAbsolute(name) ? name : resolve(baseDir, name)).href;
  let module: Record<string, unknown>;
  try {
    module = (await import(url)) as Record<string, unknown>;
  } catch (error) {
    const known = Object.keys(BUILT_IN_HOOKS).join(', ');
    throw new Error(
      `cannot load hook ${JSON.stringify(name)} (built-in hooks: ${known}; otherwise a path to a module): ${(error as Error).message}`,
      { cause: error },
    );
  }
  const hook = pickFactory(module, name)(options ?? {});
  if (typeof hook !== 'object' || hook === null || typeof hook.open !== 'function') {
    throw new Error(
      `hook ${JSON.stringify(name)}: its factory must return an object with open(ctx)`,
    );
  }
  return hook;
}
