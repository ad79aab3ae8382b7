/**
 * Options of the graphql-ws hook: their types (each with its default), validation at construction
 * with messages that name the option path, and the per-operation resolution of `resume`.
 *
 * @module
 */
import type { SubscribePayload } from 'graphql-ws';
import { OptionError } from '../../src/index.js';
import { PROTOCOLS, type GraphqlWsProtocol } from './protocol.js';
import type { CursorOrder } from './resume.js';

/** How to resume one subscription. */
export interface ResumeSpec {
  /**
   * The root field's argument set to the last cursor the client received when the subscription is
   * re-issued on a new upstream connection, e.g. `'after'`. Set through the operation's variable
   * when the argument uses one, otherwise written into the document (added when absent).
   */
  argument: string;
  /**
   * Dot-separated path of the cursor inside the root field's value of each `next` payload, e.g.
   * `'seq'` for `data.ticks.seq`, or `'pageInfo.endCursor'`.
   */
  cursor: string;
  /** How cursors compare when dropping events the client already has. @default 'auto' */
  order?: CursorOrder;
}

/**
 * The `resume` option as written in a config file: a default for every subscription, overridable
 * per operation.
 *
 * @example
 * ```json
 * { "resume": { "argument": "after", "cursor": "seq",
 *               "operations": { "OnComment": { "cursor": "comment.id" }, "status": false } } }
 * ```
 */
export interface ResumeOptions extends Partial<ResumeSpec> {
  /**
   * Settings per operation, keyed by operation name or root field name (the operation name wins),
   * merged over the defaults above; `false` turns resume off for that operation.
   * @default {}
   */
  operations?: Record<string, Partial<ResumeSpec> | false>;
}

/** What a {@link ResumeResolver} is told about a subscription. */
export interface ResumeOperation {
  /** The operation's id on the client's connection. */
  readonly id: string;
  /** The executed operation's name, if it has one. */
  readonly operationName: string | undefined;
  /** The name (not alias) of the root field. */
  readonly rootField: string;
  /** The subscribe payload as the client sent it. */
  readonly payload: SubscribePayload;
}

/**
 * The function form of `resume`, for library users: decides per subscription, when the client
 * subscribes. Returning `false` or `undefined` re-subscribes that operation as it is.
 *
 * @example
 * ```ts
 * graphqlWsHook({
 *   resume: (op) => (op.rootField === 'ticks' ? { argument: 'after', cursor: 'seq' } : false),
 * })
 * ```
 */
export type ResumeResolver = (operation: ResumeOperation) => ResumeSpec | false | undefined;

/** Options of the graphql-ws hook. Durations are milliseconds. */
export interface GraphqlWsHookOptions {
  /**
   * Resume subscriptions from the last event the client received: on re-subscribe the root-field
   * argument is set to the last cursor, and `next` events whose cursor the client already has are
   * dropped. Needs a target that honours the argument.
   * @default undefined: subscriptions are re-issued as they are, and the possible gap is logged
   */
  resume?: ResumeOptions | ResumeResolver;
  /**
   * How long to wait for `connection_ack` after re-sending the client's `connection_init` on a new
   * upstream socket; when it passes, the attempt counts as failed and the link reconnects.
   * @default 5000
   */
  ackTimeout?: number;
  /**
   * `graphql-transport-ws` only: how long a new client may take to send `connection_init`, measured
   * at the gateway (the target may be down); then the client is closed with 4408, as a graphql-ws
   * server would (its `connectionInitWaitTimeout`). 0 turns it off.
   * @default 3000
   */
  connectionInitTimeout?: number;
  /**
   * Active operations per client session; a `subscribe` beyond it closes the client with 1008
   * (policy violation). Bounds the per-session state.
   * @default 100
   */
  maxOperations?: number;
  /**
   * Application-level heartbeat (`graphql-transport-ws` only): a graphql-ws `ping` to the target
   * every `interval` once acknowledged; when no frame at all arrives within `timeout` of a ping,
   * the upstream socket is declared dead. Complements the WebSocket pings of the core, which some
   * stacks answer outside the application. `false` turns it off.
   * @default { interval: 5000, timeout: 2000 }
   */
  heartbeat?: { interval?: number; timeout?: number } | false;
  /**
   * Legacy protocol only: interval of the `ka` frames sent to the client while the upstream is
   * down, so a client that watches keep-alives does not give up; sent only once the target itself
   * sent one. 0 turns it off.
   * @default 10000
   */
  keepAlive?: number;
  /**
   * Subprotocols accepted from clients (and asked of the target), in order of preference.
   * @default ['graphql-transport-ws', 'graphql-ws']
   */
  protocols?: readonly GraphqlWsProtocol[];
}

/** The defaults of {@link GraphqlWsHookOptions}. */
export const GRAPHQL_WS_DEFAULTS = {
  ackTimeout: 5000,
  connectionInitTimeout: 3000,
  maxOperations: 100,
  heartbeat: { interval: 5000, timeout: 2000 },
  keepAlive: 10_000,
  order: 'auto',
} as const;

/** A resume setting after validation. */
export interface ResolvedResume {
  readonly argument: string;
  /** {@link ResumeSpec.cursor} split at the dots. */
  readonly path: readonly string[];
  readonly order: CursorOrder;
}

/** {@link GraphqlWsHookOptions} after validation. */
export interface ResolvedGraphqlWsOptions {
  /** The resume setting of one subscription, or `undefined` to re-subscribe it as it is. */
  resumeFor(operation: ResumeOperation): ResolvedResume | undefined;
  /** Whether any subscription can be resumed (otherwise every gap is only logged). */
  readonly resumeConfigured: boolean;
  readonly ackTimeout: number;
  readonly connectionInitTimeout: number;
  readonly maxOperations: number;
  /** `interval` 0 means off. */
  readonly heartbeat: { readonly interval: number; readonly timeout: number };
  readonly keepAlive: number;
  readonly protocols: readonly GraphqlWsProtocol[];
}

const PREFIX = 'graphql-ws.';
const NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

function fail(path: string, message: string): never {
  throw new OptionError(PREFIX + path, message);
}

function show(value: unknown): string {
  return typeof value === 'function' ? 'a function' : (JSON.stringify(value) ?? String(value));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function onlyKeys(path: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      fail(`${path}${key}`, `is not an option (known: ${known.join(', ')})`);
    }
  }
}

function integer(path: string, value: unknown, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    fail(path, `must be an integer >= ${min}, got ${show(value)}`);
  }
  return value;
}

function argumentName(path: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    fail(path, `must be a non-empty string, got ${show(value)}`);
  }
  if (!NAME.test(value)) fail(path, `must be a GraphQL argument name, got ${show(value)}`);
  return value;
}

function cursorPath(path: string, value: unknown): string[] {
  if (typeof value !== 'string' || value === '') {
    fail(path, `must be a non-empty string, got ${show(value)}`);
  }
  const parts = value.split('.');
  if (parts.some((part) => part === '')) {
    fail(path, `must be a dot-separated path without empty parts, got ${show(value)}`);
  }
  return parts;
}

function cursorOrder(path: string, value: unknown): CursorOrder {
  if (value === undefined) return GRAPHQL_WS_DEFAULTS.order;
  if (value === 'auto' || value === 'lexical' || typeof value === 'function') {
    return value as CursorOrder;
  }
  return fail(path, `must be 'auto', 'lexical' or a function, got ${show(value)}`);
}

const SPEC_KEYS = ['argument', 'cursor', 'order'] as const;

/** Validates one complete spec (both `argument` and `cursor` present after merging). */
function resolveSpec(path: string, spec: Record<string, unknown>): ResolvedResume {
  if (spec['argument'] === undefined || spec['cursor'] === undefined) {
    const missing = spec['argument'] === undefined ? 'argument' : 'cursor';
    fail(`${path}${missing}`, 'is required (resume needs both argument and cursor)');
  }
  return {
    argument: argumentName(`${path}argument`, spec['argument']),
    path: cursorPath(`${path}cursor`, spec['cursor']),
    order: cursorOrder(`${path}order`, spec['order']),
  };
}

function resolveResume(
  value: unknown,
): Pick<ResolvedGraphqlWsOptions, 'resumeFor' | 'resumeConfigured'> {
  if (value === undefined) return { resumeFor: () => undefined, resumeConfigured: false };
  if (typeof value === 'function') {
    const resolver = value as ResumeResolver;
    return {
      resumeConfigured: true,
      resumeFor(operation) {
        const spec = resolver(operation);
        if (spec === false || spec === undefined) return undefined;
        if (!isPlainObject(spec)) fail('resume', `returned ${show(spec)}, not a resume spec`);
        return resolveSpec(`resume(${operation.operationName ?? operation.rootField}).`, spec);
      },
    };
  }
  if (!isPlainObject(value)) {
    fail('resume', `must be an object { argument, cursor } or a function, got ${show(value)}`);
  }
  onlyKeys('resume.', value, [...SPEC_KEYS, 'operations']);
  const base: Record<string, unknown> = {};
  for (const key of SPEC_KEYS) if (value[key] !== undefined) base[key] = value[key];
  const hasBase = base['argument'] !== undefined || base['cursor'] !== undefined;
  const fallback = hasBase ? resolveSpec('resume.', base) : undefined;
  if (!hasBase && base['order'] !== undefined) cursorOrder('resume.order', base['order']);

  const operations = value['operations'] ?? {};
  if (!isPlainObject(operations)) {
    fail('resume.operations', `must be an object keyed by operation or root field name`);
  }
  const overrides = new Map<string, ResolvedResume | false>();
  for (const [key, override] of Object.entries(operations)) {
    const path = `resume.operations.${key}`;
    if (override === false) {
      overrides.set(key, false);
      continue;
    }
    if (!isPlainObject(override)) {
      fail(
        path,
        `must be false or an object { argument?, cursor?, order? }, got ${show(override)}`,
      );
    }
    onlyKeys(`${path}.`, override, SPEC_KEYS);
    const merged = { ...base, ...override };
    overrides.set(key, resolveSpec(`${path}.`, merged));
  }
  if (fallback === undefined && overrides.size === 0) {
    fail('resume', 'must set argument and cursor, or per-operation settings in operations');
  }
  return {
    resumeConfigured: true,
    resumeFor({ operationName, rootField }) {
      const byName = operationName === undefined ? undefined : overrides.get(operationName);
      const chosen = byName ?? overrides.get(rootField) ?? fallback;
      return chosen === false ? undefined : chosen;
    },
  };
}

/**
 * Validates the hook's options once, at construction, and fills in defaults.
 *
 * @throws {OptionError} naming the option path, e.g.
 * `graphql-ws.resume.cursor must be a non-empty string, got ""`.
 */
export function resolveGraphqlWsOptions(options: unknown = {}): ResolvedGraphqlWsOptions {
  if (!isPlainObject(options)) fail('options', `must be an object, got ${show(options)}`);
  onlyKeys('', options, [
    'resume',
    'ackTimeout',
    'connectionInitTimeout',
    'maxOperations',
    'heartbeat',
    'keepAlive',
    'protocols',
  ]);
  let heartbeat: { interval: number; timeout: number };
  const beat = options['heartbeat'];
  if (beat === false) {
    heartbeat = { interval: 0, timeout: 0 };
  } else if (beat === undefined || isPlainObject(beat)) {
    const given = beat ?? {};
    onlyKeys('heartbeat.', given, ['interval', 'timeout']);
    heartbeat = {
      interval: integer(
        'heartbeat.interval',
        given['interval'],
        GRAPHQL_WS_DEFAULTS.heartbeat.interval,
        0,
      ),
      timeout: integer(
        'heartbeat.timeout',
        given['timeout'],
        GRAPHQL_WS_DEFAULTS.heartbeat.timeout,
        1,
      ),
    };
  } else {
    fail('heartbeat', `must be false or an object { interval?, timeout? }, got ${show(beat)}`);
  }
  const protocols = options['protocols'] ?? PROTOCOLS;
  if (
    !Array.isArray(protocols) ||
    protocols.length === 0 ||
    protocols.some((p) => !PROTOCOLS.includes(p as GraphqlWsProtocol))
  ) {
    fail(
      'protocols',
      `must be a non-empty list of ${PROTOCOLS.join(', ')}, got ${show(protocols)}`,
    );
  }
  return {
    ...resolveResume(options['resume']),
    ackTimeout: integer('ackTimeout', options['ackTimeout'], GRAPHQL_WS_DEFAULTS.ackTimeout, 1),
    connectionInitTimeout: integer(
      'connectionInitTimeout',
      options['connectionInitTimeout'],
      GRAPHQL_WS_DEFAULTS.connectionInitTimeout,
      0,
    ),
    maxOperations: integer(
      'maxOperations',
      options['maxOperations'],
      GRAPHQL_WS_DEFAULTS.maxOperations,
      1,
    ),
    heartbeat,
    keepAlive: integer('keepAlive', options['keepAlive'], GRAPHQL_WS_DEFAULTS.keepAlive, 0),
    protocols: [...new Set(protocols as GraphqlWsProtocol[])],
  };
}
