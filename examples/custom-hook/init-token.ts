/**
 * A subgate hook module written from scratch against the public API: it copies a credential from
 * the client's WebSocket upgrade request (a header or a cookie) into the `connection_init`
 * payload, so a GraphQL server that authenticates on `connection_init` (most graphql-ws servers
 * do) accepts clients that only carry a header — a browser's session cookie, or the access token
 * an authenticating edge proxy such as oauth2-proxy adds.
 *
 * Put it before `graphql-ws` in the hook list: the graphql-ws hook then remembers the enriched
 * `connection_init` and re-sends it, token included, on every new upstream connection after a
 * crash or a freeze. (Placed after it, the re-sent init would lack the token.)
 *
 * ```sh
 * subgate --target ws://127.0.0.1:4000/graphql \
 *   --hook ./dist/examples/custom-hook/init-token.js --hook graphql-ws
 * ```
 *
 * or, with options, in a config file: `"hooks": [["./init-token.js", { "cookie": "session" }],
 * "graphql-ws"]` (paths relative to the config file).
 *
 * @module
 */
import type { FrameResult, Hook, HookFactory, SessionContext } from '../../src/index.js';

/** Options of {@link initTokenHook}. */
export interface InitTokenOptions {
  /**
   * Request header to read the token from (case-insensitive). Ignored when `cookie` is set.
   * @default 'authorization'
   */
  header?: string;
  /** Read the token from this cookie of the `cookie` header instead of from `header`. */
  cookie?: string;
  /**
   * Authorization scheme stripped from the start of the value (`Bearer abc` → `abc`), compared
   * case-insensitively; an empty string keeps the value as it is.
   * @default 'Bearer'
   */
  scheme?: string;
  /** Key of the `connection_init` payload the token is written to (it overrides the client's). @default 'token' */
  key?: string;
  /**
   * Refuse a client whose request carries no token: its `connection_init` is not forwarded and
   * the client is closed with 4403 (Forbidden), as a graphql-ws server would.
   * @default false
   */
  required?: boolean;
}

/** Close code for a client without the required token: graphql-ws's Forbidden. */
export const FORBIDDEN = 4403;

function optionalString(options: Record<string, unknown>, name: string): string | undefined {
  const value = options[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') {
    throw new TypeError(`init-token.${name} must be a string, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** The token carried by the client's upgrade request, or `undefined`. */
function tokenOf(
  headers: SessionContext['request']['headers'],
  options: Required<Omit<InitTokenOptions, 'cookie'>> & { cookie: string | undefined },
): string | undefined {
  let value: string | undefined;
  if (options.cookie !== undefined) {
    const cookies = String(headers['cookie'] ?? '').split(';');
    for (const pair of cookies) {
      const at = pair.indexOf('=');
      if (at > 0 && pair.slice(0, at).trim() === options.cookie) {
        value = decodeURIComponent(pair.slice(at + 1).trim());
      }
    }
  } else {
    const raw = headers[options.header];
    value = Array.isArray(raw) ? raw[0] : raw;
  }
  if (value === undefined) return undefined;
  const prefix = `${options.scheme.toLowerCase()} `;
  if (options.scheme !== '' && value.toLowerCase().startsWith(prefix)) {
    value = value.slice(prefix.length);
  }
  value = value.trim();
  return value === '' ? undefined : value;
}

/**
 * Creates the hook. The CLI calls it with the options of the config file's hook entry (or none
 * with `--hook <path>`).
 *
 * @example
 * ```ts
 * import { createGateway } from 'subgate';
 * import { graphqlWsHook } from 'subgate/hooks/graphql-ws';
 * import initTokenHook from './init-token.js';
 *
 * createGateway({
 *   target: 'ws://127.0.0.1:4000/graphql',
 *   hooks: [initTokenHook({ cookie: 'session' }), graphqlWsHook()],
 * });
 * ```
 * @throws TypeError naming the option when an option has the wrong type.
 */
export const initTokenHook: HookFactory = (given = {}): Hook => {
  const options = {
    header: (optionalString(given, 'header') ?? 'authorization').toLowerCase(),
    cookie: optionalString(given, 'cookie'),
    scheme: optionalString(given, 'scheme') ?? 'Bearer',
    key: optionalString(given, 'key') ?? 'token',
    required: given['required'] === true,
  };
  return {
    name: 'init-token',
    open(ctx) {
      // Per-session state lives here, in the closure: the token of this client's request.
      const token = tokenOf(ctx.request.headers, options);
      return {
        onClientMessage(data: Buffer, binary: boolean): FrameResult {
          if (binary) return;
          let message: unknown;
          try {
            message = JSON.parse(data.toString('utf8'));
          } catch {
            return; // not ours to judge: the target answers malformed frames
          }
          if (typeof message !== 'object' || message === null) return;
          const init = message as { type?: unknown; payload?: unknown };
          if (init.type !== 'connection_init') return;
          if (token === undefined) {
            if (!options.required) return;
            ctx.log.warn({ header: options.cookie ?? options.header }, 'init-token: no token');
            ctx.closeClient(FORBIDDEN, 'Forbidden: no token in the request');
            return false;
          }
          const payload =
            typeof init.payload === 'object' && init.payload !== null ? init.payload : {};
          return JSON.stringify({ ...init, payload: { ...payload, [options.key]: token } });
        },
      };
    },
  };
};

export default initTokenHook;
