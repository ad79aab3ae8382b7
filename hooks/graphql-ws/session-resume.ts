/**
 * The wire side of sessions that outlive a connection (the contract of `subgate/client`): the
 * resume request a client puts in its `connection_init` payload, the credentials a token is bound
 * to, the token in `connection_ack`, and the cursor stamped on each `next`.
 *
 * Nothing here holds state.
 *
 * @module
 */
import { createHash } from 'node:crypto';
import type { SubscribePayload } from 'graphql-ws';
import { SUBGATE_KEY, type SubgateInitParams } from '../../src/client.js';

type Payload = Record<string, unknown> | undefined;

/** A client's `connection_init` payload, split into what the target gets and what is ours. */
export interface InitParts {
  /** The payload without {@link SUBGATE_KEY}: what the target is sent. */
  readonly payload: Payload;
  /** Whether the payload had {@link SUBGATE_KEY} (the frame must then be rewritten). */
  readonly hadKey: boolean;
  /** The token the client presented, if any. */
  readonly token: string | undefined;
  /** The last cursor the client received per subscription id, when it asks for cursors. */
  readonly cursors: Readonly<Record<string, unknown>> | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Splits a `connection_init` payload; `undefined` when its {@link SUBGATE_KEY} part is malformed
 * (the client is then refused with 4400).
 *
 * @example
 * ```ts
 * splitInit({ auth: 'x', subgate: { token: 't', cursors: { a: 1 } } })
 * // { payload: { auth: 'x' }, hadKey: true, token: 't', cursors: { a: 1 } }
 * ```
 */
export function splitInit(payload: Payload): InitParts | undefined {
  if (payload === undefined || !(SUBGATE_KEY in payload)) {
    return { payload, hadKey: false, token: undefined, cursors: undefined };
  }
  const { [SUBGATE_KEY]: ours, ...rest } = payload;
  if (!isRecord(ours)) return undefined;
  const { token, cursors } = ours as Partial<SubgateInitParams>;
  if (token !== undefined && (typeof token !== 'string' || token === '')) return undefined;
  if (cursors !== undefined && !isRecord(cursors)) return undefined;
  return { payload: rest, hadKey: true, token, cursors };
}

/** JSON with object keys sorted at every level, so equal values always give equal text. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isRecord(value)) {
    const keys = Object.keys(value)
      .filter((key) => value[key] !== undefined)
      .sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * What a session's token is bound to: the `connection_init` payload (without our key) and the
 * upgrade request's `Authorization` header. Presenting the token with anything else is refused.
 */
export function credentialsOf(
  payload: Payload,
  headers: Readonly<Record<string, string | string[] | undefined>>,
): string {
  return canonicalJson({
    payload: payload ?? null,
    authorization: headers['authorization'] ?? null,
  });
}

/** The target's `connection_ack` (parsed) with the token added to its payload, as text. */
export function ackWithToken(message: unknown, token: string): string {
  const ack = message as { payload?: unknown };
  const payload = isRecord(ack.payload) ? ack.payload : {};
  return JSON.stringify({ ...ack, payload: { ...payload, [SUBGATE_KEY]: { token } } });
}

const PAYLOAD_KEY = '"payload":{';

/**
 * A `next` frame with the event's cursor in `payload.extensions.subgate`, as text. `text` is the
 * frame as received and `message` its parse. When the payload has no `extensions` and every
 * member before it is a plain value (so the first `"payload":{` in the text is the payload's own
 * key: strings cannot hold an unescaped quote), the extension is spliced into the text as it is;
 * otherwise the message is serialised again. The splice is what keeps stamping cheap: a
 * re-serialisation of every event was a quarter of the hook's time.
 *
 * @example
 * ```ts
 * nextWithCursor('{"id":"1","type":"next","payload":{"data":{"t":{"seq":5}}}}', parsed, 5)
 * // '{"id":"1","type":"next","payload":{"extensions":{"subgate":{"cursor":5}},"data":{"t":{"seq":5}}}}'
 * ```
 */
export function nextWithCursor(text: string, message: unknown, cursor: unknown): string {
  const next = message as Record<string, unknown> & { payload: Record<string, unknown> };
  const stamp = `{${JSON.stringify(SUBGATE_KEY)}:{"cursor":${JSON.stringify(cursor)}}}`;
  if (!('extensions' in next.payload) && plainBefore(next, 'payload')) {
    const at = text.indexOf(PAYLOAD_KEY);
    if (at !== -1) {
      const rest = at + PAYLOAD_KEY.length;
      const separator = /^\s*\}/.test(text.slice(rest, rest + 64)) ? '' : ',';
      return `${text.slice(0, rest)}"extensions":${stamp}${separator}${text.slice(rest)}`;
    }
  }
  const extensions = isRecord(next.payload.extensions) ? next.payload.extensions : {};
  return JSON.stringify({
    ...next,
    payload: { ...next.payload, extensions: { ...extensions, [SUBGATE_KEY]: { cursor } } },
  });
}

/** Whether every member of `object` listed before `key` holds a string, number, boolean or null. */
function plainBefore(object: Record<string, unknown>, key: string): boolean {
  for (const name in object) {
    if (name === key) return true;
    const value = object[name];
    if (value !== null && typeof value === 'object') return false;
  }
  return false;
}

/**
 * A short hash of a subscription's document and operation name, stored with its cursor so that
 * a cursor is only applied to the operation it came from (not to another one reusing the id).
 */
export function operationFingerprint(payload: SubscribePayload): string {
  return createHash('sha256')
    .update(`${payload.operationName ?? ''}\n${payload.query}`)
    .digest('base64url')
    .slice(0, 16);
}
