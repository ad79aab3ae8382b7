/**
 * `graphql-ws`: keeps GraphQL subscriptions alive across upstream outages, for both
 * `graphql-transport-ws` (the `graphql-ws` library) and the legacy subscriptions-transport-ws
 * protocol (subprotocol `graphql-ws`), on the client side and the target side alike.
 *
 * On every new upstream socket it re-sends the client's `connection_init` and waits for the ack
 * (which the client does not see twice), then re-issues every active subscription with the same
 * id. With `resume` configured, each subscription restarts after the last event the client
 * received (the root-field argument is set to that event's cursor) and events the client already
 * has are dropped: exactly once, in order. Queries in flight are re-sent; mutations in flight are
 * not (their outcome is unknown): the client gets an `error` saying so. While the target is down
 * the hook answers the client's pings, and it never invents a `complete` or `error` for a
 * subscription because of an outage.
 *
 * @example
 * ```ts
 * import { createGateway } from 'subgate';
 * import { graphqlWsHook } from 'subgate/hooks/graphql-ws';
 *
 * createGateway({
 *   target: 'ws://127.0.0.1:4000/graphql',
 *   hooks: [graphqlWsHook({ resume: { argument: 'after', cursor: 'seq' } })],
 * });
 * ```
 *
 * The CLI loads it by name: `subgate --hook graphql-ws --config subgate.json` with
 * `{ "hooks": [["graphql-ws", { "resume": { "argument": "after", "cursor": "seq" } }]] }`.
 *
 * @module
 */
import type { Hook } from '../src/index.js';
import { resolveGraphqlWsOptions, type GraphqlWsHookOptions } from './graphql-ws/options.js';
import { openGraphqlWsSession } from './graphql-ws/session.js';

export {
  GRAPHQL_WS_DEFAULTS,
  type GraphqlWsHookOptions,
  type ResumeOperation,
  type ResumeOptions,
  type ResumeResolver,
  type ResumeSpec,
} from './graphql-ws/options.js';
export { LegacyMessageType, PROTOCOLS, type GraphqlWsProtocol } from './graphql-ws/protocol.js';
export type { CursorOrder } from './graphql-ws/resume.js';
export {
  GRAPHQL_WS_RESTORE_CHANNEL,
  OUTCOME_UNKNOWN,
  OUTCOME_UNKNOWN_MESSAGE,
  TOO_MANY_OPERATIONS,
  type GraphqlWsRestoreMessage,
} from './graphql-ws/session.js';

/**
 * Creates the graphql-ws hook. Options are validated here; an invalid one throws an
 * `OptionError` naming its path (`graphql-ws.resume.cursor must be a non-empty string, got ""`).
 */
export function graphqlWsHook(options: GraphqlWsHookOptions = {}): Hook {
  const resolved = resolveGraphqlWsOptions(options);
  return {
    name: 'graphql-ws',
    protocols: resolved.protocols,
    open: (ctx) => openGraphqlWsSession(ctx, resolved),
  };
}

export default graphqlWsHook;
