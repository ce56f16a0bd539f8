/**
 * The last step: the update goes to the coordinator, retried across
 * reconnections until its ack or the round's deadline. A superseded round (its
 * coordinator restarted and re-runs it) stops retrying at once: the new attempt
 * needs the model, and a secure round's old masks would not fit its new keys.
 */
import type { UpdateMessage, UpdateResponse } from '../../shared/protocol/index.js';
import { sendUntilAnswered } from '../sendUntilAnswered.js';
import type { RoundStep } from './roundWork.js';

export interface DeliveryChannel {
  send(update: UpdateMessage): Promise<UpdateResponse>;
  connected(): boolean;
  /** Encoded size of the update (what the coordinator receives). */
  bytesOf(update: UpdateMessage): number;
  /** Called with the update's size once the coordinator accepted it. */
  delivered(bytes: number): void;
}

export function deliverUpdate(channel: DeliveryChannel): RoundStep {
  return async (work, env) => {
    const update = work.update;
    if (!update) throw new Error(`round ${work.round.roundId}: no update to deliver`);
    const bytes = channel.bytesOf(update);
    // Stopping the client aborts the round's signal too: nothing waits out the deadline.
    const outcome = await sendUntilAnswered(() => channel.send(update), {
      deadline: work.round.deadline,
      signal: env.signal,
      connected: channel.connected,
    });
    const roundId = update.roundId;
    if (outcome.kind === 'answered') {
      const { response } = outcome;
      if (response.ok) {
        channel.delivered(bytes);
        env.emit({ type: 'update:accepted', roundId, bytes });
      } else
        env.emit({
          type: 'update:rejected',
          roundId,
          code: response.error.code,
          message: response.error.message,
        });
    } else if (outcome.kind === 'aborted') {
      env.emit({
        type: 'error',
        message: `round ${roundId}: update not delivered: ${String(outcome.reason)}`,
      });
    } else
      env.emit({
        type: 'update:rejected',
        roundId,
        code: 'too-late',
        message: 'deadline passed before the update could be delivered',
      });
    return work;
  };
}
