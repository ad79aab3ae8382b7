import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULTS, OptionError, resolveOptions } from '../../src/options.js';

const target = 'ws://127.0.0.1:4000/graphql';

test('defaults are filled in', () => {
  const options = resolveOptions({ target });
  assert.equal(options.pingInterval, DEFAULTS.pingInterval);
  assert.equal(options.maxRetries, Infinity);
  assert.deepEqual(options.forwardHeaders, ['authorization', 'cookie']);
  assert.equal(options.target.href, target);
});

test('invalid options are rejected with a message naming them', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{}, /^target is required/],
    [{ target: 'http://x' }, /^target must use ws:\/\/ or wss:\/\//],
    [{ target: 'not a url' }, /^target must be a ws:\/\/ or wss:\/\/ URL/],
    [{ target, pingInterval: 0 }, /^pingInterval must be an integer >= 1, got 0/],
    [{ target, pongTimeout: 1.5 }, /^pongTimeout must be an integer >= 1/],
    [{ target, port: 70000 }, /^port must be an integer between 0 and 65535/],
    [
      { target, retryInitialDelay: 100, retryMaxDelay: 50 },
      /^retryMaxDelay must be >= retryInitialDelay \(100\), got 50/,
    ],
    [{ target, retryFactor: 0.5 }, /^retryFactor must be a number >= 1/],
    [{ target, path: 'graphql' }, /^path must start with "\/"/],
    [{ target, logLevel: 'loud' }, /^logLevel must be one of/],
    [{ target, hooks: [{}] }, /^hooks\[0\] must be a hook/],
    [{ target, maxBufferedBytes: '1mb' }, /^maxBufferedBytes must be an integer/],
    [{ target, port: 1, noServer: true }, /^server port, server and noServer exclude each other/],
  ];
  for (const [options, message] of cases) {
    assert.throws(
      () => resolveOptions(options as never),
      (error: unknown) => error instanceof OptionError && message.test(error.message),
      `expected ${message} for ${JSON.stringify(options)}`,
    );
  }
});
