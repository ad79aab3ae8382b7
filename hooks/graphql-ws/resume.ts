/**
 * The pure part of resuming: what kind of operation a `subscribe` carries and which root field it
 * selects, how to set the resume argument to a cursor (through the operation's variable, or by
 * rewriting the document with `graphql`'s parser and printer), where the cursor sits in a result,
 * and whether a cursor is one the client already has.
 *
 * Nothing here holds state; the session keeps one cursor per operation (O(1) memory).
 *
 * @module
 */
import {
  Kind,
  getOperationAST,
  parse,
  print,
  type ArgumentNode,
  type DocumentNode,
  type FieldNode,
  type OperationDefinitionNode,
  type ValueNode,
} from 'graphql';
import type { SubscribePayload } from 'graphql-ws';

/** The operation types of GraphQL. */
export type OperationKind = 'query' | 'mutation' | 'subscription';

/** What {@link analyzeOperation} learns from a subscribe payload. */
export interface OperationInfo {
  readonly kind: OperationKind;
  /** The name of the executed operation, from the payload or the document. */
  readonly operationName: string | undefined;
  /** Name of the first root field (not its alias); `undefined` when the root has no plain field. */
  readonly rootField: string | undefined;
  /** Key of that field in the result: its alias, else its name. */
  readonly responseKey: string | undefined;
}

/**
 * How cursors are ordered, to drop a `next` whose cursor the client already has:
 * - `'auto'`: numbers and decimal-integer strings compare numerically (`9 < 10`, `"9" < "10"`);
 *   any other cursor is opaque, and only a repeat of the last cursor is a duplicate.
 * - `'lexical'`: strings compare by UTF-16 code units (ISO timestamps, zero-padded ids); other
 *   values as with `'auto'`.
 * - a function `(cursor, last) => number`, negative or zero when `cursor` is not newer than `last`.
 */
export type CursorOrder = 'auto' | 'lexical' | ((cursor: unknown, last: unknown) => number);

const parseOptions = { noLocation: true } as const;

function rootFieldOf(operation: OperationDefinitionNode): FieldNode | undefined {
  for (const selection of operation.selectionSet.selections) {
    if (selection.kind === Kind.FIELD && selection.name.value !== '__typename') return selection;
  }
  return undefined;
}

function operationOf(payload: SubscribePayload): {
  document: DocumentNode;
  operation: OperationDefinitionNode;
} {
  const document = parse(payload.query, parseOptions);
  const operation = getOperationAST(document, payload.operationName ?? undefined);
  if (operation === null || operation === undefined) {
    throw new Error('the document has no operation to execute (or operationName is ambiguous)');
  }
  return { document, operation };
}

/**
 * Parses a subscribe payload's document and describes the operation it executes; `undefined`
 * when the document does not parse or has no single operation to run (the target will say why).
 *
 * @example
 * ```ts
 * analyzeOperation({ query: 'subscription S { t: ticks(after: 0) { seq } }' })
 * // { kind: 'subscription', operationName: 'S', rootField: 'ticks', responseKey: 't' }
 * ```
 */
export function analyzeOperation(payload: SubscribePayload): OperationInfo | undefined {
  let operation: OperationDefinitionNode;
  try {
    operation = operationOf(payload).operation;
  } catch {
    return undefined;
  }
  const field = rootFieldOf(operation);
  return {
    kind: operation.operation as OperationKind,
    operationName: payload.operationName ?? operation.name?.value ?? undefined,
    rootField: field?.name.value,
    responseKey: field ? (field.alias ?? field.name).value : undefined,
  };
}

/**
 * Converts a JSON value (a cursor taken from a result) to a GraphQL literal.
 *
 * @example `valueToLiteral(42)` is an `IntValue` printed as `42`; `valueToLiteral('b')` prints `"b"`.
 */
export function valueToLiteral(value: unknown): ValueNode {
  if (value === null || value === undefined) return { kind: Kind.NULL };
  switch (typeof value) {
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`cursor ${value} has no GraphQL literal`);
      return Number.isInteger(value)
        ? { kind: Kind.INT, value: String(value) }
        : { kind: Kind.FLOAT, value: String(value) };
    case 'bigint':
      return { kind: Kind.INT, value: value.toString() };
    case 'string':
      return { kind: Kind.STRING, value };
    case 'boolean':
      return { kind: Kind.BOOLEAN, value };
    case 'object':
      if (Array.isArray(value)) return { kind: Kind.LIST, values: value.map(valueToLiteral) };
      return {
        kind: Kind.OBJECT,
        fields: Object.entries(value as Record<string, unknown>).map(([name, field]) => ({
          kind: Kind.OBJECT_FIELD,
          name: { kind: Kind.NAME, value: name },
          value: valueToLiteral(field),
        })),
      };
    default:
      throw new TypeError(`cursor of type ${typeof value} has no GraphQL literal`);
  }
}

/**
 * Returns the payload to re-subscribe with so that the root field's `argument` is `cursor`:
 * - the argument uses a variable (`ticks(after: $after)`): the variable is set, the document kept;
 * - the argument is a literal (`ticks(after: 0)`): the literal is replaced in the document;
 * - the argument is absent (`ticks`): it is added as a literal.
 *
 * The input payload is not modified.
 *
 * @throws Error when the document does not parse, has no operation to run, or no root field.
 * @example
 * ```ts
 * applyCursor({ query: 'subscription { ticks(after: 0) { seq } }' }, 'after', 41).query
 * // 'subscription {\n  ticks(after: 41) {\n    seq\n  }\n}'
 * ```
 */
export function applyCursor(
  payload: SubscribePayload,
  argument: string,
  cursor: unknown,
): SubscribePayload {
  const { document, operation } = operationOf(payload);
  const field = rootFieldOf(operation);
  if (field === undefined) throw new Error('the operation selects no root field to resume');
  const current = field.arguments?.find((arg) => arg.name.value === argument);
  if (current?.value.kind === Kind.VARIABLE) {
    return {
      ...payload,
      variables: { ...(payload.variables ?? {}), [current.value.name.value]: cursor },
    };
  }
  const value = valueToLiteral(cursor);
  const args: ArgumentNode[] = current
    ? (field.arguments ?? []).map((arg) => (arg === current ? { ...arg, value } : arg))
    : [
        ...(field.arguments ?? []),
        { kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: argument }, value },
      ];
  const newField: FieldNode = { ...field, arguments: args };
  const newOperation: OperationDefinitionNode = {
    ...operation,
    selectionSet: {
      ...operation.selectionSet,
      selections: operation.selectionSet.selections.map((s) => (s === field ? newField : s)),
    },
  };
  const newDocument: DocumentNode = {
    ...document,
    definitions: document.definitions.map((d) => (d === operation ? newOperation : d)),
  };
  return { ...payload, query: print(newDocument) };
}

/**
 * The cursor inside a `next` payload: `payload.data[responseKey]` followed along `path`;
 * `undefined` when any step is missing or null (an error result, a partial result).
 *
 * @example `cursorAt({ data: { ticks: { seq: 7 } } }, 'ticks', ['seq'])` is `7`.
 */
export function cursorAt(payload: unknown, responseKey: string, path: readonly string[]): unknown {
  let value = (payload as { data?: Record<string, unknown> | null } | null | undefined)?.data?.[
    responseKey
  ];
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string, unknown>)[key];
  }
  return value === null ? undefined : value;
}

const DECIMAL_INTEGER = /^-?\d{1,400}$/;

function numeric(value: unknown): number | bigint | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'string' && DECIMAL_INTEGER.test(value)) return BigInt(value);
  return undefined;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Whether `cursor` is one the client already has, given the `last` cursor it received.
 *
 * @example
 * ```ts
 * alreadySeen(5, 7, 'auto')        // true: 5 <= 7
 * alreadySeen('8', '10', 'auto')   // true: decimal strings compare as numbers
 * alreadySeen('abc', 'xyz', 'auto') // false: opaque cursors are only duplicates when equal
 * ```
 */
export function alreadySeen(cursor: unknown, last: unknown, order: CursorOrder): boolean {
  if (typeof order === 'function') return order(cursor, last) <= 0;
  if (order === 'lexical' && typeof cursor === 'string' && typeof last === 'string') {
    return cursor <= last;
  }
  const a = numeric(cursor);
  const b = numeric(last);
  if (a !== undefined && b !== undefined) return a <= b;
  return sameValue(cursor, last);
}
