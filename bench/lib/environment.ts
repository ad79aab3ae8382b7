/**
 * The machine and the versions a benchmark ran with.
 *
 * @module
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { DIST } from './paths.js';

/** What the report prints about the run's environment. */
export interface Environment {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly packages: Readonly<Record<string, string>>;
  readonly commit: string;
  readonly subgateCli: string;
}

function versionOf(name: string): string {
  try {
    const file = join(DIST, '..', 'node_modules', name, 'package.json');
    return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The commit of the checkout at `root`, and whether its src/ or hooks/ have changes. */
function commit(root: string): string {
  try {
    const head = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'])
      .toString()
      .trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--', 'src', 'hooks'])
      .toString()
      .trim();
    return dirty === '' ? head : `${head} + uncommitted changes in src/ or hooks/`;
  } catch {
    return 'unknown';
  }
}

/**
 * Collects the environment; `cli` is the subgate CLI the run used (`<checkout>/dist/src/cli.js`:
 * the commit reported is that checkout's).
 */
export function environment(cli: string): Environment {
  const pkg = JSON.parse(readFileSync(join(DIST, '..', 'package.json'), 'utf8')) as {
    version: string;
  };
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    packages: {
      subgate: pkg.version,
      ws: versionOf('ws'),
      'graphql-ws': versionOf('graphql-ws'),
      graphql: versionOf('graphql'),
      fastify: versionOf('fastify'),
      '@fastify/http-proxy': versionOf('@fastify/http-proxy'),
    },
    commit: commit(join(dirname(cli), '..', '..')),
    subgateCli: cli,
  };
}
