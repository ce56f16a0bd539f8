/**
 * The per-connection plumbing around the coordinator's handlers, in the manner
 * of socket.io middleware: each inbound event's handler runs inside a guard
 * (a handler that throws is an `internal` refusal, never a crash), its answer
 * goes to the ack, and every refusal counts against the connection — past
 * `maxRefusals` within `refusalWindowMs` it is cut off. Answering itself (the
 * ack, a cut-off's disconnect) may throw on a broken link: that is a
 * `coordinator:fault` event, never an unhandled rejection that ends the process.
 */
import type { ClientLink } from '../clientHub.js';
import { StrikeCounter } from '../strikes.js';
import type { CoordinatorEvent } from './events.js';
import { refusal } from './refusals.js';

export interface ConnectionHandlers {
  join(link: ClientLink, payload: unknown): { ok: boolean };
  /** May answer later (an asynchronous round's update waits for the next buffer to open). */
  update(link: ClientLink, payload: unknown): { ok: boolean } | Promise<{ ok: boolean }>;
  secagg(link: ClientLink, payload: unknown): { ok: boolean };
  abstain(link: ClientLink, payload: unknown): { ok: boolean };
  disconnect(link: ClientLink): void;
}

export interface ConnectionLimits {
  maxRefusals: number;
  refusalWindowMs: number;
}

export function serveConnection(
  link: ClientLink,
  handlers: ConnectionHandlers,
  limits: ConnectionLimits,
  emit: (event: CoordinatorEvent) => void,
): void {
  const strikes = new StrikeCounter(limits.maxRefusals, limits.refusalWindowMs);
  const answer = <T extends { ok: boolean }>(ack: unknown, response: T) => {
    if (typeof ack === 'function') (ack as (response: T) => void)(response);
    if (!response.ok && strikes.strike()) {
      emit({
        type: 'client:cut-off',
        clientId: link.clientId ?? null,
        refusals: limits.maxRefusals + 1,
      });
      link.disconnect('cut-off');
    }
  };
  /** Answering threw: told as an event (itself guarded: a listener may throw too). */
  const fault = (error: unknown) => {
    try {
      emit({ type: 'coordinator:fault', where: 'answer', message: messageOf(error) });
    } catch (again) {
      console.error(
        `fedistill coordinator: answering a client failed (${messageOf(error)}), and telling it failed too (${messageOf(again)})`,
      );
    }
  };
  const serve =
    (handle: (link: ClientLink, payload: unknown) => { ok: boolean } | Promise<{ ok: boolean }>) =>
    (payload: unknown, ack: unknown) => {
      let response: { ok: boolean } | Promise<{ ok: boolean }>;
      try {
        response = handle(link, payload);
      } catch (error) {
        response = refusal('internal', messageOf(error));
      }
      if (response instanceof Promise)
        response
          .then(
            (later) => answer(ack, later),
            (error: unknown) => answer(ack, refusal('internal', messageOf(error))),
          )
          .catch((error: unknown) => fault(error));
      else
        try {
          answer(ack, response);
        } catch (error) {
          fault(error);
        }
    };
  link.on('join', serve(handlers.join));
  link.on('update', serve(handlers.update));
  link.on('secagg', serve(handlers.secagg));
  link.on('abstain', serve(handlers.abstain));
  link.onDisconnect(() => handlers.disconnect(link));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
