/**
 * Sending one message that must reach the coordinator before a deadline,
 * across dropped connections: retried while there is no ack (disconnected,
 * timed out) or the coordinator answers `not-joined` (the rejoin has not landed
 * yet), until a real answer, the deadline, or an abort. Updates and secure
 * aggregation steps both go out this way.
 */
import type { UpdateResponse } from '../shared/protocol/index.js';

export type SendOutcome =
  | { kind: 'answered'; response: UpdateResponse }
  | { kind: 'deadline' }
  | { kind: 'aborted'; reason: unknown };

export interface SendOptions {
  /** ms since the epoch after which no further attempt is made. */
  deadline: number;
  signal?: AbortSignal | undefined;
  /** False while the transport is known to be down: wait instead of sending. Defaults to always up. */
  connected?: () => boolean;
  /** Pause between attempts. Defaults to 200 ms. */
  retryMs?: number;
}

export async function sendUntilAnswered(
  send: () => Promise<UpdateResponse>,
  options: SendOptions,
): Promise<SendOutcome> {
  const retryMs = options.retryMs ?? 200;
  for (;;) {
    if (options.signal?.aborted) return { kind: 'aborted', reason: options.signal.reason };
    if (Date.now() >= options.deadline) return { kind: 'deadline' };
    if (options.connected?.() !== false) {
      try {
        const response = await send();
        if (response.ok || response.error.code !== 'not-joined')
          return { kind: 'answered', response };
      } catch {
        // No ack: disconnected or timed out; try again.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, retryMs));
  }
}
