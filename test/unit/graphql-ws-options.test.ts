import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OptionError } from '../../src/index.js';
import graphqlWsHookDefault, {
  GRAPHQL_WS_DEFAULTS,
  graphqlWsHook,
} from '../../hooks/graphql-ws.js';
import { resolveGraphqlWsOptions } from '../../hooks/graphql-ws/options.js';

const tick = { id: '1', operationName: undefined, rootField: 'ticks', payload: { query: '' } };

function throwsOption(options: unknown, option: string, message: RegExp): void {
  assert.throws(
    () => resolveGraphqlWsOptions(options),
    (error: unknown) => {
      assert.ok(error instanceof OptionError, `OptionError expected, got ${String(error)}`);
      assert.equal(error.option, option);
      assert.match(error.message, message);
      return true;
    },
  );
}

test('defaults: no resume, every protocol, documented limits', () => {
  const resolved = resolveGraphqlWsOptions();
  assert.equal(resolved.resumeConfigured, false);
  assert.equal(resolved.resumeFor(tick), undefined);
  assert.equal(resolved.ackTimeout, GRAPHQL_WS_DEFAULTS.ackTimeout);
  assert.equal(resolved.maxOperations, 100);
  assert.deepEqual(resolved.heartbeat, { interval: 5000, timeout: 2000 });
  assert.equal(resolved.keepAlive, 10_000);
  assert.deepEqual(resolved.protocols, ['graphql-transport-ws', 'graphql-ws']);
});

test('the factory is the default export too and declares both subprotocols', () => {
  assert.equal(graphqlWsHookDefault, graphqlWsHook);
  const hook = graphqlWsHook({ resume: { argument: 'after', cursor: 'seq' } });
  assert.equal(hook.name, 'graphql-ws');
  assert.deepEqual(hook.protocols, ['graphql-transport-ws', 'graphql-ws']);
  assert.deepEqual(graphqlWsHook({ protocols: ['graphql-ws'] }).protocols, ['graphql-ws']);
});

test('resume config: default spec, per-operation overrides by operation name or root field', () => {
  const resolved = resolveGraphqlWsOptions({
    resume: {
      argument: 'after',
      cursor: 'seq',
      operations: {
        OnComment: { argument: 'since', cursor: 'comment.id', order: 'lexical' },
        status: false,
        ticks: { cursor: 'tick.seq' },
      },
    },
  });
  assert.equal(resolved.resumeConfigured, true);
  assert.deepEqual(resolved.resumeFor({ ...tick, rootField: 'other' }), {
    argument: 'after',
    path: ['seq'],
    order: 'auto',
  });
  assert.deepEqual(
    resolved.resumeFor({ ...tick, rootField: 'comments', operationName: 'OnComment' }),
    {
      argument: 'since',
      path: ['comment', 'id'],
      order: 'lexical',
    },
  );
  assert.equal(resolved.resumeFor({ ...tick, rootField: 'status' }), undefined);
  assert.deepEqual(resolved.resumeFor(tick)?.path, ['tick', 'seq'], 'root field override merged');
  // The operation name wins over the root field.
  assert.equal(resolved.resumeFor({ ...tick, operationName: 'OnComment' })?.argument, 'since');
});

test('resume overrides alone, without a default', () => {
  const resolved = resolveGraphqlWsOptions({
    resume: { operations: { ticks: { argument: 'after', cursor: 'seq' } } },
  });
  assert.equal(resolved.resumeFor(tick)?.argument, 'after');
  assert.equal(resolved.resumeFor({ ...tick, rootField: 'x' }), undefined);
});

test('resume function form is called per operation and its answer validated', () => {
  const seen: string[] = [];
  const resolved = resolveGraphqlWsOptions({
    resume: (op: { rootField: string }) => {
      seen.push(op.rootField);
      if (op.rootField === 'ticks') return { argument: 'after', cursor: 'seq' };
      if (op.rootField === 'bad') return { argument: 'after', cursor: '' };
      return false;
    },
  });
  assert.deepEqual(resolved.resumeFor(tick)?.path, ['seq']);
  assert.equal(resolved.resumeFor({ ...tick, rootField: 'x' }), undefined);
  assert.throws(
    () => resolved.resumeFor({ ...tick, rootField: 'bad' }),
    /graphql-ws\.resume\(bad\)\.cursor must be a non-empty string/,
  );
  assert.deepEqual(seen, ['ticks', 'x', 'bad']);
});

test('bad options throw naming the option path', () => {
  throwsOption(
    { resume: { argument: 'after', cursor: '' } },
    'graphql-ws.resume.cursor',
    /^graphql-ws\.resume\.cursor must be a non-empty string, got ""$/,
  );
  throwsOption(
    { resume: { argument: 'after', cursor: 'a..b' } },
    'graphql-ws.resume.cursor',
    /without empty parts/,
  );
  throwsOption({ resume: { argument: 'after' } }, 'graphql-ws.resume.cursor', /is required/);
  throwsOption({ resume: { cursor: 'seq' } }, 'graphql-ws.resume.argument', /is required/);
  throwsOption(
    { resume: { argument: 'not a name', cursor: 'seq' } },
    'graphql-ws.resume.argument',
    /GraphQL argument name/,
  );
  throwsOption(
    { resume: { argument: 'after', cursor: 'seq', order: 'random' } },
    'graphql-ws.resume.order',
    /'auto', 'lexical' or a function/,
  );
  throwsOption(
    { resume: { argument: 'after', cursor: 'seq', cursr: 1 } },
    'graphql-ws.resume.cursr',
    /is not an option/,
  );
  throwsOption({ resume: 'after' }, 'graphql-ws.resume', /must be an object/);
  throwsOption({ resume: {} }, 'graphql-ws.resume', /must set argument and cursor/);
  throwsOption(
    { resume: { operations: { T: { argument: 'after' } } } },
    'graphql-ws.resume.operations.T.cursor',
    /is required/,
  );
  throwsOption(
    { resume: { argument: 'a', cursor: 'b', operations: { T: 1 } } },
    'graphql-ws.resume.operations.T',
    /must be false or an object/,
  );
  throwsOption(
    { resume: { argument: 'a', cursor: 'b', operations: { T: { cursor: 7 } } } },
    'graphql-ws.resume.operations.T.cursor',
    /non-empty string, got 7/,
  );
  throwsOption({ ackTimeout: 0 }, 'graphql-ws.ackTimeout', /integer >= 1, got 0/);
  throwsOption({ maxOperations: 1.5 }, 'graphql-ws.maxOperations', /integer >= 1/);
  throwsOption({ heartbeat: { interval: -1 } }, 'graphql-ws.heartbeat.interval', /integer >= 0/);
  throwsOption({ heartbeat: { timeout: 0 } }, 'graphql-ws.heartbeat.timeout', /integer >= 1/);
  throwsOption({ heartbeat: { every: 1 } }, 'graphql-ws.heartbeat.every', /is not an option/);
  throwsOption({ heartbeat: true }, 'graphql-ws.heartbeat', /must be false or an object/);
  throwsOption({ keepAlive: 'often' }, 'graphql-ws.keepAlive', /integer >= 0/);
  throwsOption({ protocols: [] }, 'graphql-ws.protocols', /non-empty list/);
  throwsOption({ protocols: ['graphql-sse'] }, 'graphql-ws.protocols', /non-empty list/);
  throwsOption({ resumeFrom: 1 }, 'graphql-ws.resumeFrom', /is not an option/);
  throwsOption('x', 'graphql-ws.options', /must be an object/);
});

test('heartbeat false turns the heartbeat off', () => {
  assert.deepEqual(resolveGraphqlWsOptions({ heartbeat: false }).heartbeat, {
    interval: 0,
    timeout: 0,
  });
});
