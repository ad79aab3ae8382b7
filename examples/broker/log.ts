/**
 * The example broker's on-disk log: one append-only file per stream, one JSON line per message
 * (`{"offset":0,"id":"p-1","payload":…}`). A publish is acknowledged only after its line was
 * written with `writeSync` (in the kernel: survives SIGKILL of the broker) and, with `fsync`, also
 * flushed to the device (survives a power cut).
 *
 * Retention keeps the last `retention` messages of each stream: older offsets are no longer
 * available to subscribers. The file is compacted (rewritten and atomically renamed) once it holds
 * twice that many lines. A line torn by a crash mid-write is cut off on the next start.
 *
 * @module
 */
import {
  closeSync,
  existsSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

/** One stored message. */
export interface StoredMessage {
  readonly offset: number;
  /** The publish id it was stored for. */
  readonly id: string;
  /** The payload as JSON text, exactly as delivered. */
  readonly payload: string;
}

/** Options of {@link openStreamLog}. */
export interface StreamLogOptions {
  /** Directory holding the `<stream>.log` files; created when missing. */
  readonly dir: string;
  /** Messages kept per stream; older offsets become unavailable. @default Infinity */
  readonly retention?: number;
  /** `fsync` after every append, not just `writeSync`. @default false */
  readonly fsync?: boolean;
}

/** One stream's log, open for appending. */
export interface StreamLog {
  readonly stream: string;
  /** The first offset still available. */
  readonly first: number;
  /** The offset the next append gets. */
  readonly next: number;
  /** Appends a message durably and returns its offset. */
  append(id: string, payload: string): number;
  /** The message at `offset`, if available. */
  get(offset: number): StoredMessage | undefined;
  close(): void;
}

/** The file name of a stream's log. */
export function logFile(dir: string, stream: string): string {
  return join(dir, `${encodeURIComponent(stream)}.log`);
}

function parseLines(text: string, file: string): { messages: StoredMessage[]; validBytes: number } {
  const messages: StoredMessage[] = [];
  let validBytes = 0;
  let start = 0;
  for (;;) {
    const end = text.indexOf('\n', start);
    if (end < 0) break; // a torn last line, if any
    const line = text.slice(start, end);
    let parsed: { offset?: unknown; id?: unknown; payload?: unknown };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      throw new Error(`${file}: corrupt line at byte ${validBytes}`);
    }
    const expected = messages.length === 0 ? undefined : messages[messages.length - 1]!.offset + 1;
    if (
      typeof parsed.offset !== 'number' ||
      typeof parsed.id !== 'string' ||
      (expected !== undefined && parsed.offset !== expected)
    ) {
      throw new Error(`${file}: line at byte ${validBytes} breaks the offset sequence`);
    }
    messages.push({
      offset: parsed.offset,
      id: parsed.id,
      payload: JSON.stringify(parsed.payload ?? null),
    });
    validBytes += Buffer.byteLength(line) + 1;
    start = end + 1;
  }
  return { messages, validBytes };
}

/**
 * Reads every message stored for `stream` in `dir`, oldest first (what a checker compares with
 * what producers sent). Ignores a torn last line.
 */
export function readStreamLog(dir: string, stream: string): StoredMessage[] {
  const file = logFile(dir, stream);
  if (!existsSync(file)) return [];
  return parseLines(readFileSync(file, 'utf8'), file).messages;
}

/** The streams that have a log in `dir`. */
export function listStreams(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => name.endsWith('.log'))
    .map((name) => decodeURIComponent(name.slice(0, -4)));
}

/** Opens (or creates) a stream's log, recovering from a crash mid-append. */
export function openStreamLog(stream: string, options: StreamLogOptions): StreamLog {
  const retention = options.retention ?? Infinity;
  mkdirSync(options.dir, { recursive: true });
  const file = logFile(options.dir, stream);
  let fd = openSync(file, 'a+');
  const text = readFileSync(file, 'utf8');
  const recovered = parseLines(text, file);
  if (recovered.validBytes < Buffer.byteLength(text)) {
    ftruncateSync(fd, recovered.validBytes);
  }
  // In memory: the retained window (the example keeps it simple).
  let messages = recovered.messages;
  let next = messages.length === 0 ? 0 : messages[messages.length - 1]!.offset + 1;
  let base = messages[0]?.offset ?? 0;
  let onDisk = messages.length;

  const trim = (): void => {
    if (messages.length <= retention) return;
    const drop = messages.length - retention;
    messages = messages.slice(drop);
    base += drop;
  };
  const compact = (): void => {
    if (retention === Infinity || onDisk < retention * 2) return;
    const tmp = `${file}.compact`;
    const out = openSync(tmp, 'w');
    const lines = messages.map((m) => line(m)).join('');
    writeSync(out, lines);
    fsyncSync(out);
    closeSync(out);
    renameSync(tmp, file);
    closeSync(fd);
    fd = openSync(file, 'a');
    onDisk = messages.length;
  };
  trim();

  return {
    stream,
    get first() {
      return base;
    },
    get next() {
      return next;
    },
    append(id, payload) {
      const message: StoredMessage = { offset: next, id, payload };
      writeSync(fd, line(message));
      if (options.fsync === true) fsyncSync(fd);
      messages.push(message);
      onDisk++;
      next++;
      trim();
      compact();
      return message.offset;
    },
    get(offset) {
      return offset >= base && offset < next ? messages[offset - base] : undefined;
    },
    close() {
      closeSync(fd);
    },
  };
}

function line(message: StoredMessage): string {
  return `{"offset":${message.offset},"id":${JSON.stringify(message.id)},"payload":${message.payload}}\n`;
}
