/**
 * WebSocket close codes: which ones mean "try again" and which end the session, how codes that
 * cannot be sent are mapped, and how reasons are trimmed to the protocol's 123 bytes.
 *
 * @module
 */

/** Close codes subgate sends itself. */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  MessageTooBig: 1009,
  InternalError: 1011,
  ServiceRestart: 1012,
  TryAgainLater: 1013,
} as const;

/** One of the values of {@link CloseCode}. */
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** The longest close reason RFC 6455 allows, in bytes. */
export const MAX_REASON_BYTES = 123;

/**
 * Close codes after which the upstream link reconnects: the target went away, restarted, failed
 * internally, is overloaded, or the connection broke without a close frame.
 */
const RETRYABLE = new Set([1001, 1005, 1006, 1011, 1012, 1013, 1014]);

/**
 * Whether an upstream close code means "reconnect" (`true`) or ends the session and is forwarded
 * to the client (`false`). Everything not listed as retryable is terminal: 1000 (the target ended
 * the session on purpose), protocol and policy errors (1002, 1003, 1007, 1008, 1009, 1010) and
 * every application code (4400, 4401, 4403, 4406, 4409, 4429 …).
 */
export function isRetryableClose(code: number): boolean {
  return RETRYABLE.has(code);
}

/**
 * Whether an HTTP status answering the upstream upgrade request is worth retrying: server errors,
 * 408 and 429. Other statuses (401, 403, 404 …) are terminal.
 */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/**
 * The close code that tells the client about a terminal HTTP status of the upstream handshake:
 * 4000 + status (401 → 4401, 403 → 4403), the convention graphql-ws uses too.
 */
export function closeCodeForStatus(status: number): number {
  return status >= 100 && status <= 999 ? 4000 + status : CloseCode.InternalError;
}

/**
 * Maps a code to one that may be sent in a close frame: 1004, 1005, 1006, 1015 and anything
 * outside 1000-1014 and 3000-4999 become 1011 (1005, "no status", becomes 1000).
 */
export function sendableCloseCode(code: number): number {
  if (code === 1005) return CloseCode.Normal;
  if (code === 1004 || code === 1006 || code === 1015) return CloseCode.InternalError;
  if ((code >= 1000 && code <= 1014) || (code >= 3000 && code <= 4999)) return code;
  return CloseCode.InternalError;
}

/**
 * Trims a close reason to at most 123 bytes of UTF-8 without splitting a character.
 *
 * @example `trimReason('é'.repeat(100))` is 61 characters (122 bytes).
 */
export function trimReason(reason: string): string {
  if (Buffer.byteLength(reason) <= MAX_REASON_BYTES) return reason;
  const bytes = Buffer.from(reason).subarray(0, MAX_REASON_BYTES);
  let end = bytes.length;
  // Step back over continuation bytes (10xxxxxx) to the start of the last character, then drop it
  // unless it is complete.
  let start = end - 1;
  while (start > 0 && (bytes[start]! & 0xc0) === 0x80) start--;
  const lead = bytes[start]!;
  const length = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
  if (start + length > end) end = start;
  return bytes.subarray(0, end).toString();
}
