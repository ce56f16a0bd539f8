/**
 * A client's part in one securely aggregated round: it runs the key and share
 * steps while the student trains, then turns the trained delta into a masked
 * input the coordinator cannot read on its own, and answers the unmask step.
 *
 * Steps are handled one at a time in arrival order; a step message that comes
 * again (the coordinator resends the last one after a reconnect) is ignored.
 * Each step is sent once, so any refusal means this client is out of the round
 * (e.g. its keys came after the key step closed: a page reloaded mid-round).
 */
import type {
  RoundStart,
  SecAggDown,
  SecAggUp,
  SecureRound,
  UpdateResponse,
} from '../shared/protocol/index.js';
import type { EncryptedShare } from '../shared/secureAggregation/index.js';
import { quantize, SecAggClient, SecAggError } from '../shared/secureAggregation/index.js';
import { sendUntilAnswered } from './sendUntilAnswered.js';

export interface SecureSessionOptions {
  round: RoundStart & { secureAggregation: SecureRound };
  /** The student's parameter count: the length of every input. */
  length: number;
  send: (message: SecAggUp) => Promise<UpdateResponse>;
  /** The round's abort signal: nothing is retried once the round is given up. */
  signal?: AbortSignal;
  /**
   * A step failed (refused, or the coordinator's message did not check out): this client cannot
   * finish the protocol in this round, so whatever it is still doing for the round is wasted.
   */
  onError: (message: string) => void;
}

export class SecureSession {
  readonly roundId: number;
  private readonly client: SecAggClient;
  private readonly settings: SecureRound;
  private steps: Promise<void> = Promise.resolve();
  private receiveInbox: (shares: EncryptedShare[]) => void = () => undefined;
  private readonly inbox: Promise<EncryptedShare[]>;

  constructor(private readonly options: SecureSessionOptions) {
    this.roundId = options.round.roundId;
    this.settings = options.round.secureAggregation;
    this.client = new SecAggClient(this.settings.id, {
      session: this.settings.session,
      threshold: this.settings.threshold,
      length: options.length,
    });
    this.inbox = new Promise((resolve) => (this.receiveInbox = resolve));
  }

  /** The secure round's session: the masked input names it, so it never counts in another. */
  get session(): string {
    return this.settings.session;
  }

  /** Step 0: advertises this round's public keys. */
  start(): void {
    this.enqueue(async () => {
      const keys = await this.client.advertiseKeys();
      await this.send({
        step: 'keys',
        roundId: this.roundId,
        session: this.settings.session,
        channelKey: keys.channelKey,
        maskKey: keys.maskKey,
      });
    });
  }

  /** A step message from the coordinator for this round. */
  handle(message: SecAggDown): void {
    this.enqueue(async () => {
      switch (message.step) {
        case 'roster': {
          if (this.client.phase !== 'advertised') return; // a resend
          const { shares } = await this.client.shareKeys(message.roster);
          await this.send({
            step: 'shares',
            roundId: this.roundId,
            session: this.settings.session,
            shares: shares.map(({ to, iv, ciphertext }) => ({ to, iv, ciphertext })),
          });
          return;
        }
        case 'inbox':
          this.receiveInbox(message.shares);
          return;
        case 'unmask': {
          if (this.client.phase !== 'masked') return; // a resend, or no input was masked
          const revealed = await this.client.unmask(message.survivors);
          await this.send({
            step: 'reveal',
            roundId: this.roundId,
            session: this.settings.session,
            selfMaskShares: [...revealed.selfMaskShares],
            maskKeyShares: [...revealed.maskKeyShares],
          });
          return;
        }
      }
    });
  }

  /**
   * Step 2: weight·delta in fixed point plus this client's masks, once the
   * shares sealed for it have arrived.
   * @throws Error when the shares do not arrive by `deadline` or `signal` aborts; SecAggError
   *   `overflow` when a value cannot be summed without wrapping, `bad-message` when shares in
   *   the inbox do not open (their senders are reported to the coordinator first).
   */
  async mask(delta: Float32Array, deadline: number, signal?: AbortSignal): Promise<Uint32Array> {
    const { weight, scale, clients } = this.settings;
    const weighted = new Float32Array(delta.length);
    for (let i = 0; i < delta.length; i++) weighted[i] = (delta[i] as number) * weight;
    const input = quantize(weighted, { scale, clients });
    let timer: ReturnType<typeof setTimeout> | undefined;
    let onAbort: (() => void) | undefined;
    const inbox = await Promise.race([
      this.inbox,
      new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), Math.max(0, deadline - Date.now()));
        onAbort = () => resolve(undefined);
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    signal?.throwIfAborted();
    if (!inbox) throw new Error(`round ${this.roundId}: the other clients' shares never arrived`);
    let masked: Uint32Array | undefined;
    // Behind any step still running, so the client's phases stay in order.
    await this.enqueue(async () => {
      try {
        masked = (await this.client.maskInput(inbox, input)).masked;
      } catch (error) {
        // Shares that do not open: name their senders, so that a member sealing garbage for
        // others can be excluded rather than spoil every round it is sampled in.
        if (error instanceof SecAggError && error.culprits.length > 0) {
          await this.send({
            step: 'complain',
            roundId: this.roundId,
            session: this.settings.session,
            about: [...error.culprits],
          });
        }
        throw error;
      }
    }, true);
    return masked as Uint32Array;
  }

  /**
   * Sends a step, again while the connection is down or not yet rejoined (socket.io sends
   * what was emitted offline before the rejoin, which the coordinator refuses `not-joined`),
   * until the round's deadline.
   */
  private async send(message: SecAggUp): Promise<void> {
    const { round, signal } = this.options;
    const outcome = await sendUntilAnswered(() => this.options.send(message), {
      deadline: round.deadline,
      signal,
    });
    if (outcome.kind !== 'answered')
      throw new Error(`${message.step} not delivered before the round ended`);
    const { response } = outcome;
    if (!response.ok)
      throw new Error(
        `${message.step} refused (${response.error.code}): ${response.error.message}`,
      );
  }

  private enqueue(step: () => Promise<void>, rethrow = false): Promise<void> {
    const run = this.steps.then(step);
    this.steps = run.catch((error: unknown) => {
      if (rethrow) return;
      const text = error instanceof SecAggError ? `${error.code}: ${error.message}` : String(error);
      this.options.onError(`secure aggregation, round ${this.roundId}: ${text}`);
    });
    return rethrow ? run : this.steps;
  }
}
