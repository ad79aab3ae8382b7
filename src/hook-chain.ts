/**
 * Runs the hooks of one session in order, containing their errors.
 *
 * @module
 */
import type {
  HookSession,
  RestoreContext,
  SessionCloseEvent,
  UpstreamCloseEvent,
  UpstreamLostEvent,
} from './hooks.js';
import type { Logger } from './log.js';

/** A frame on its way through the chain. */
export interface Frame {
  data: string | Buffer;
  binary: boolean;
}

/** Named hook sessions composed into one pipeline. */
export interface HookChain {
  /** Client → upstream at dispatch time; `undefined` when a hook dropped the frame. */
  clientMessage(data: Buffer, binary: boolean): Frame | undefined;
  /** Client frame arriving while the upstream is not ready; `false` when a hook consumed it. */
  clientWait(data: Buffer, binary: boolean): boolean;
  /** Upstream → client; `undefined` when a hook dropped the frame. */
  upstreamMessage(data: Buffer, binary: boolean): Frame | undefined;
  /** Runs every `restore` in order; rejects with the first failure. */
  restore(ctx: RestoreContext): Promise<void>;
  pingPayload(): string | Buffer | undefined;
  pong(payload: Buffer): void;
  upstreamOpen(generation: number): void;
  upstreamLost(event: UpstreamLostEvent): void;
  /** Whether any hook asks to retry after this terminal close. */
  retryClose(event: UpstreamCloseEvent): boolean;
  clientClose(event: SessionCloseEvent): void;
  giveUp(reason: string): void;
  /** Every hook's {@link HookSession.snapshot}, by hook name. */
  snapshot(): Record<string, unknown>;
}

type MessageMethod = 'onClientMessage' | 'onUpstreamMessage';

/** Composes hook sessions (in the order given) into one {@link HookChain}. */
export function createHookChain(
  hooks: readonly { readonly name: string; readonly session: HookSession }[],
  log: Logger,
): HookChain {
  const contained = (name: string, what: string, error: unknown): void => {
    log.error({ hook: name, err: error }, `hook ${name} threw in ${what}; continuing`);
  };
  const each = <K extends keyof HookSession>(
    method: K,
    call: (fn: NonNullable<HookSession[K]>, s: HookSession) => void,
  ): void => {
    for (const { name, session } of hooks) {
      const fn = session[method];
      if (fn === undefined) continue;
      try {
        call(fn, session);
      } catch (error) {
        contained(name, method, error);
      }
    }
  };
  const withMessage = hooks.filter(
    ({ session }) => session.onClientMessage || session.onUpstreamMessage,
  );
  const pipe = (method: MessageMethod, data: Buffer, binary: boolean): Frame | undefined => {
    let current: string | Buffer = data;
    for (const { name, session } of withMessage) {
      const fn = session[method];
      if (fn === undefined) continue;
      let result;
      try {
        // Hooks see a Buffer; one that replaced the frame with a string hands the next a Buffer of it.
        result = fn.call(
          session,
          typeof current === 'string' ? Buffer.from(current) : current,
          binary,
        );
      } catch (error) {
        contained(name, method, error);
        continue;
      }
      if (result === false) return undefined;
      if (typeof result === 'string') {
        current = result;
        binary = false;
      } else if (result !== undefined) {
        current = result;
      }
    }
    return { data: current, binary };
  };
  return {
    clientMessage: (data, binary) => pipe('onClientMessage', data, binary),
    upstreamMessage: (data, binary) => pipe('onUpstreamMessage', data, binary),
    clientWait(data, binary) {
      for (const { name, session } of hooks) {
        if (!session.onClientWait) continue;
        try {
          if (session.onClientWait(data, binary) === false) return false;
        } catch (error) {
          contained(name, 'onClientWait', error);
        }
      }
      return true;
    },
    async restore(ctx) {
      for (const { name, session } of hooks) {
        if (!session.restore) continue;
        try {
          await session.restore(ctx);
        } catch (error) {
          throw new Error(
            `hook ${name} failed to restore: ${(error as Error)?.message ?? String(error)}`,
            { cause: error },
          );
        }
        if (ctx.signal.aborted) return;
      }
    },
    pingPayload() {
      for (const { name, session } of hooks) {
        if (!session.pingPayload) continue;
        try {
          const payload = session.pingPayload();
          if (payload !== undefined) return payload;
        } catch (error) {
          contained(name, 'pingPayload', error);
        }
      }
      return undefined;
    },
    retryClose(event) {
      let retry = false;
      each('onUpstreamClose', (fn, s) => {
        if (fn.call(s, event) === 'retry') retry = true;
      });
      return retry;
    },
    snapshot() {
      const state: Record<string, unknown> = {};
      for (const { name, session } of hooks) {
        if (!session.snapshot) continue;
        try {
          state[name] = session.snapshot();
        } catch (error) {
          contained(name, 'snapshot', error);
        }
      }
      return state;
    },
    pong: (payload) => each('onPong', (fn, s) => fn.call(s, payload)),
    upstreamOpen: (generation) => each('onUpstreamOpen', (fn, s) => fn.call(s, { generation })),
    upstreamLost: (event) => each('onUpstreamLost', (fn, s) => fn.call(s, event)),
    clientClose: (event) => each('onClientClose', (fn, s) => fn.call(s, event)),
    giveUp: (reason) => each('onGiveUp', (fn, s) => fn.call(s, { reason })),
  };
}
