/**
 * One round's secure aggregation at the coordinator: runs the four steps of
 * Bonawitz et al. (2017) over the round's sampled clients with
 * shared/secureAggregation's SecAggServer, and hands the coordinator only the
 * sample-weighted mean of the survivors' deltas — never one client's update.
 *
 * Timing: keys and shares are exchanged while the clients train (each step
 * closes when every expected client has answered, or after `phaseTimeoutMs`);
 * masked inputs arrive as the round's updates until its deadline; the unmask
 * step runs after that, again bounded by `phaseTimeoutMs`. A client that goes
 * quiet at any step is treated as dropped: as long as t clients remain, the
 * others' shares remove its masks.
 *
 * The coordinator knows each sampled client's sample count from its join, and
 * tells each client its weight nᵤ/Σn; clients mask weight·delta in fixed
 * point, so the unmasked sum divided by the survivors' total weight is FedAvg.
 */
import type { SecAggDown, SecAggUp, SecureRound } from '../shared/protocol/index.js';
import { SecAggError, SecAggServer } from '../shared/secureAggregation/index.js';

export interface SecureRoundMember {
  clientId: string;
  /** Samples the client reported when it joined: its FedAvg weight. */
  numSamples: number;
}

export interface SecureRoundOptions {
  /** Unique to this round (and to this attempt of it after a restart). */
  session: string;
  roundId: number;
  /** The clients sampled in the round; they get ids 1 … n in this order. */
  members: readonly SecureRoundMember[];
  /** t as a fraction of the members: t = max(2, ⌈fraction·n⌉). */
  thresholdFraction: number;
  scale: number;
  /** Values in each client's input: the student's parameter count. */
  length: number;
  phaseTimeoutMs: number;
  send: (clientId: string, message: SecAggDown) => void;
}

/** The outcome: the mean delta and who it is the mean of. */
export interface SecureRoundResult {
  meanDelta: Float32Array;
  survivors: string[];
}

/** t for a round of `members` clients: max(2, ⌈fraction·n⌉), at most n. */
export function secureThreshold(fraction: number, members: number): number {
  return Math.min(members, Math.max(2, Math.ceil(fraction * members)));
}

/** The unmasked weighted sum: Σ wᵤ·deltaᵤ over the survivors, their weight Σ wᵤ, and who they are. */
export interface SecureRoundSum {
  sum: Float64Array;
  weight: number;
  survivors: string[];
}

interface Wait {
  expected: Set<number>;
  done: () => void;
}

export class SecureAggregationRound {
  readonly threshold: number;
  private readonly server: SecAggServer;
  private readonly idOf = new Map<string, number>();
  private readonly clientOf = new Map<number, string>();
  private readonly weightOf = new Map<number, number>();
  /** The last step message each client was sent, to send again when it rejoins. */
  private readonly lastSent = new Map<string, SecAggDown>();
  private wait: Wait | undefined;
  private aborted = false;
  /** U2 as client ids, once the share step has closed. */
  private sharers: string[] | undefined;
  /** Members that sent keys after the key step closed: they lost their round state. */
  private readonly withdrawn = new Set<string>();

  /** @throws SecAggError `bad-option` for fewer than two members or a bad fraction. */
  constructor(private readonly options: SecureRoundOptions) {
    const n = options.members.length;
    if (n < 2) {
      throw new SecAggError(
        `secure aggregation needs at least 2 clients in a round, this one has ${n}`,
        'bad-option',
      );
    }
    this.threshold = secureThreshold(options.thresholdFraction, n);
    this.server = new SecAggServer({
      session: options.session,
      threshold: this.threshold,
      length: options.length,
    });
    const total = options.members.reduce((sum, m) => sum + m.numSamples, 0);
    options.members.forEach((member, i) => {
      const id = i + 1;
      this.idOf.set(member.clientId, id);
      this.clientOf.set(id, member.clientId);
      // Weights are positive even for a client claiming no samples: its masked input must be
      // decodable, and a zero-weight member contributes nothing to the sum anyway.
      this.weightOf.set(id, total > 0 ? Math.max(member.numSamples, 1e-9) / total : 1 / n);
    });
  }

  /** The `secureAggregation` field of this client's round:start. */
  startFor(clientId: string): SecureRound {
    const id = this.memberId(clientId);
    return {
      session: this.options.session,
      id,
      threshold: this.threshold,
      clients: this.options.members.length,
      scale: this.options.scale,
      weight: this.weightOf.get(id) as number,
    };
  }

  private memberId(clientId: string): number {
    const id = this.idOf.get(clientId);
    if (id === undefined)
      throw new SecAggError(`client ${clientId} is not in this secure round`, 'unknown-client');
    return id;
  }

  private send(id: number, message: SecAggDown): void {
    const clientId = this.clientOf.get(id) as string;
    this.lastSent.set(clientId, message);
    this.options.send(clientId, message);
  }

  /** Sends a rejoining client the last step message it was sent, which it may have missed. */
  resend(clientId: string): void {
    const message = this.lastSent.get(clientId);
    if (message) this.options.send(clientId, message);
  }

  /** Waits until every id in `expected` has answered the current step, the timeout, or abort. */
  private async collect(expected: Iterable<number>): Promise<void> {
    if (this.aborted) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await new Promise<void>((resolve) => {
      const set = new Set(expected);
      if (set.size === 0) return resolve();
      this.wait = { expected: set, done: resolve };
      timer = setTimeout(resolve, this.options.phaseTimeoutMs);
    });
    clearTimeout(timer);
    this.wait = undefined;
  }

  private answered(id: number): void {
    const wait = this.wait;
    if (!wait) return;
    wait.expected.delete(id);
    if (wait.expected.size === 0) wait.done();
  }

  /**
   * Steps 0 and 1: collects keys, sends the roster, collects shares, sends each
   * member its inbox. Members that do not answer in time are left out.
   * @throws SecAggError `too-few` when fewer than t members take part.
   */
  async setUp(): Promise<void> {
    await this.collect(this.clientOf.keys());
    const roster = await this.server.finishAdvertise();
    for (const member of roster)
      this.send(member.id, { step: 'roster', roundId: this.options.roundId, roster });
    await this.collect(roster.map((m) => m.id));
    const inboxes = this.server.finishShares();
    this.sharers = [...inboxes.keys()].map((id) => this.clientOf.get(id) as string);
    for (const [id, shares] of inboxes)
      this.send(id, { step: 'inbox', roundId: this.options.roundId, shares });
  }

  /**
   * A client's message for steps 0, 1 or 3, or a complaint, already schema-checked.
   * @returns for a complaint, the client ids it names; otherwise none.
   * @throws SecAggError (state unchanged) when it does not fit the step.
   */
  receive(clientId: string, message: SecAggUp): string[] {
    const id = this.memberId(clientId);
    this.checkSession(message.session);
    if (message.step === 'complain') return this.complaint(clientId, id, message.about);
    // Keys after the key step closed come from a client that restarted (a reloaded page, a new
    // process): it no longer holds this round's secrets and can never send a masked input.
    if (message.step === 'keys' && this.server.phase !== 'advertise') this.withdrawn.add(clientId);
    switch (message.step) {
      case 'keys':
        this.server.receiveKeys({ id, channelKey: message.channelKey, maskKey: message.maskKey });
        break;
      case 'shares':
        this.server.receiveShares({
          id,
          shares: message.shares.map((s) => ({ from: id, ...s })),
        });
        break;
      case 'reveal':
        this.server.receiveUnmaskShares({
          id,
          selfMaskShares: message.selfMaskShares,
          maskKeyShares: message.maskKeyShares,
        });
        break;
    }
    this.answered(id);
    return [];
  }

  /**
   * Between the share step and the masked inputs: `clientId` could not open the shares of the
   * members `about`. It cannot mask this round, so it is no longer waited for.
   */
  private complaint(clientId: string, id: number, about: readonly number[]): string[] {
    if (this.server.phase !== 'masked' || this.sharers === undefined) {
      throw new SecAggError(
        `a complaint needs the masked-input step, the round is at '${this.server.phase}'`,
        'phase',
      );
    }
    if (!this.sharers.includes(clientId))
      throw new SecAggError(`client ${id} received no shares to complain about`, 'unknown-client');
    if (this.withdrawn.has(clientId))
      throw new SecAggError(`client ${id} already complained or withdrew`, 'duplicate');
    const accused = [...new Set(about)].map((member) => {
      const accusedId = this.clientOf.get(member);
      if (accusedId === undefined || member === id || !this.sharers!.includes(accusedId)) {
        throw new SecAggError(`client ${member} sent no share to client ${id}`, 'unknown-client');
      }
      return accusedId;
    });
    this.withdrawn.add(clientId);
    return accused;
  }

  /** Step 2: a client's masked input (the round's update). @throws SecAggError */
  receiveMasked(clientId: string, masked: Uint32Array, session: string | undefined): void {
    const id = this.memberId(clientId);
    this.checkSession(session);
    this.server.receiveMaskedInput({ id, masked });
  }

  /**
   * A restarted coordinator re-runs a round under the same id with a new session; a step made
   * for the old one (keys it does not know, masks that would not cancel) must not count.
   */
  private checkSession(session: string | undefined): void {
    if (session !== this.options.session) {
      throw new SecAggError(
        `made for session ${session ?? '(none)'}, this round's is ${this.options.session}`,
        'phase',
      );
    }
  }

  /**
   * Steps 2 → 3 → output, after the round's deadline (or every input arrived):
   * asks the survivors for their shares and removes every mask.
   * @throws SecAggError `too-few` when fewer than t inputs or reveals arrived.
   */
  async finish(): Promise<SecureRoundResult> {
    const { masked, weight, survivors } = await this.unmask();
    // dequantize, then divide, in float64: one rounding to float32 at the end.
    const divisor = this.options.scale * weight;
    const meanDelta = new Float32Array(masked.length);
    for (let i = 0; i < masked.length; i++) meanDelta[i] = ((masked[i] as number) | 0) / divisor;
    return { meanDelta, survivors };
  }

  /**
   * As {@link finish}, but the weighted sum itself: Σ wᵤ·deltaᵤ over the survivors (dequantized,
   * float64) and their total weight Σ wᵤ. An edge sends it on, rescaled to Σ nᵤ·deltaᵤ.
   * @throws SecAggError `too-few` when fewer than t inputs or reveals arrived.
   */
  async finishSum(): Promise<SecureRoundSum> {
    const { masked, weight, survivors } = await this.unmask();
    const sum = new Float64Array(masked.length);
    for (let i = 0; i < masked.length; i++)
      sum[i] = ((masked[i] as number) | 0) / this.options.scale;
    return { sum, weight, survivors };
  }

  /** Steps 2 → 3: the survivors' sum mod 2³², their total weight and their ids. */
  private async unmask(): Promise<{ masked: Uint32Array; weight: number; survivors: string[] }> {
    const survivors = this.server.finishMaskedInput();
    for (const id of survivors)
      this.send(id, { step: 'unmask', roundId: this.options.roundId, survivors });
    await this.collect(survivors);
    const masked = await this.server.finishUnmask();
    let weight = 0;
    for (const id of survivors) weight += this.weightOf.get(id) as number;
    return { masked, weight, survivors: survivors.map((id) => this.clientOf.get(id) as string) };
  }

  /**
   * The clients whose masked input can still come: U2 once the share step has closed (before:
   * every member), less those that withdrew.
   */
  awaitedInputs(): string[] {
    const candidates = this.sharers ?? [...this.idOf.keys()];
    return candidates.filter((clientId) => !this.withdrawn.has(clientId));
  }

  /** Ends any step being waited for (the run is stopping). */
  abort(): void {
    this.aborted = true;
    this.wait?.done();
  }

  get phase(): string {
    return this.server.phase;
  }
}
