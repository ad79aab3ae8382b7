/**
 * Runs the `subgate` binary (the compiled CLI) as a child process, exactly as the README
 * documents it, and waits for its `subgate listening on ws://HOST:PORT` line.
 *
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

/** Path of the compiled CLI entry point. */
export const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** A running `subgate` process. */
export interface CliProcess {
  readonly child: ChildProcess;
  /** `ws://HOST:PORT` from the listening line. */
  readonly url: string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (or signal) once the process exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resident set size in KiB, read from /proc. */
  rssKiB(): number;
}

/** Starts `subgate` with these arguments; rejects if it exits or does not listen in time. */
export function startCli(args: readonly string[], timeout = 15_000): Promise<CliProcess> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`subgate did not print its listening line within ${timeout} ms: ${stderr}`));
    }, timeout);
    void exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`subgate exited with ${code} before listening: ${stderr}`));
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const match = /subgate listening on (ws:\/\/\S+)/.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      resolve({
        child,
        url: match[1]!,
        stderr: () => stderr,
        exited,
        rssKiB() {
          const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
          return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
        },
      });
    });
  });
}

/** Runs `subgate` to completion (for flags that exit at once) and returns what it printed. */
export function runCli(
  args: readonly string[],
  timeout = 15_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`subgate ${args.join(' ')} did not exit within ${timeout} ms`));
    }, timeout);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Starts `subgate --config <file> ...args` with `settings` written to a temporary config file;
 * the process is killed and the file removed when the test ends.
 */
export async function startCliWithConfig(
  t: TestContext,
  settings: Record<string, unknown>,
  args: readonly string[],
): Promise<CliProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'subgate-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'subgate.json');
  writeFileSync(config, JSON.stringify(settings));
  const cli = await startCli(['--config', config, ...args]);
  t.after(() => cli.child.kill('SIGKILL'));
  return cli;
}
