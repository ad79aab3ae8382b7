// Runs every compiled test file (dist/test/**/*.test.js) with node's test runner, one file at a
// time: the chaos suites kill and freeze real processes and want the machine's two cores to
// themselves. Extra arguments are passed on, e.g. `node test/run.js --test-name-pattern=SIGKILL`.
// A folder or file name narrows the run: `node test/run.js chaos`.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../dist/test', import.meta.url));
const args = process.argv.slice(2);
const flags = args.filter((arg) => arg.startsWith('--'));
const filters = args.filter((arg) => !arg.startsWith('--'));

function find(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return find(path);
    return entry.name.endsWith('.test.js') ? [path] : [];
  });
}

// Fast suites first, so a broken build fails in seconds rather than after the chaos runs.
const order = ['unit', 'integration', 'chaos'];
const files = find(root)
  .filter((file) => filters.every((filter) => relative(root, file).includes(filter)))
  .sort((a, b) => {
    const rank = (file) => order.indexOf(relative(root, file).split('/')[0]);
    return rank(a) - rank(b) || a.localeCompare(b);
  });
if (files.length === 0) {
  console.error(`no test files under ${root} match ${filters.join(' ')}`);
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--test', '--test-concurrency=1', '--test-timeout=180000', ...flags, ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
