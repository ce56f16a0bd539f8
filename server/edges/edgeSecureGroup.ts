/**
 * An edge's side of secure aggregation per edge group (secureGroups.ts): the
 * edge runs Bonawitz et al. (2017) with the group the master formed from its
 * clients for the round, through the coordinator's own SecureAggregationRound.
 * The group's steps (keys, shares, reveals) go between the edge and its
 * clients and never reach the master. A masked input is checked here, its
 * claim (the update without it) goes to the master, and only once the master
 * grants the claim does the input enter the group's sum. When the round
 * closes the edge unmasks the group's sum Σ wᵤ·deltaᵤ (wᵤ = nᵤ/N_g), rescales
 * it by N_g to Σ nᵤ·deltaᵤ and sends that as its partial, naming the
 * survivors: what the master learns is the group's sum, never one client's.
 */
import type {
  ErrorCode,
  SecAggDown,
  SecureRound,
  UpdateMessage,
  UpdateResponse,
} from '../../shared/protocol/index.js';
import { secAggUpSchema } from '../../shared/protocol/index.js';
import { describeIssues, refusal } from '../coordinator/refusals.js';
import { SecureAggregationRound } from '../secureRound.js';
import { ContributionError, secAggRefusal } from '../strategies/index.js';
import type { SecureGroupOpen } from './messages.js';
import { rescaleGroupSum } from './secureGroups.js';

export interface EdgeSecureGroupParts {
  /** Sends a step message to the connection of `clientId` at this edge, if it has one. */
  send(clientId: string, message: SecAggDown): void;
  log(message: string, level?: 'warn'): void;
}

/** What a closed group's partial holds: Σ nᵤ·deltaᵤ, Σ nᵤ and the survivors, or why none. */
export interface GroupPartial {
  sum?: Float64Array;
  weight: number;
  clients: string[];
  note?: string;
}

interface HeldGroup {
  readonly roundId: number;
  readonly session: string;
  readonly numParams: number;
  readonly round: SecureAggregationRound;
  /** Client id → the sample count it joined with. */
  readonly members: ReadonlyMap<string, number>;
  /** N_g: the group's sample total, which its clients' weights are shares of. */
  readonly groupSamples: number;
  readonly setUp: Promise<void>;
  /** Clients whose masked input went to the master as a claim (granted or not yet answered). */
  readonly claimed: Set<string>;
  closing: boolean;
}

type Problem = { code: ErrorCode; message: string };

export class EdgeSecureGroups {
  private group: HeldGroup | undefined;
  private lastRound = 0;

  constructor(private readonly parts: EdgeSecureGroupParts) {}

  /** The master's group for a round: the key step starts now (clients send keys on round:start). */
  open(message: SecureGroupOpen): void {
    // Sent again to an edge the master took for new: a group held (or closed) stays as it is.
    if (message.roundId <= this.lastRound) return;
    this.lastRound = message.roundId;
    let round: SecureAggregationRound;
    try {
      round = new SecureAggregationRound({
        session: message.session,
        roundId: message.roundId,
        members: message.members,
        thresholdFraction: message.thresholdFraction,
        scale: message.scale,
        length: message.numParams,
        phaseTimeoutMs: message.phaseTimeoutMs,
        send: (clientId, step) => this.parts.send(clientId, step),
      });
    } catch (error) {
      this.parts.log(
        `round ${message.roundId}: no secure group: ${(error as Error).message}`,
        'warn',
      );
      return;
    }
    const setUp = round.setUp();
    setUp.catch((error: Error) =>
      this.parts.log(`round ${message.roundId}: secure group set-up: ${error.message}`, 'warn'),
    );
    this.group = {
      roundId: message.roundId,
      session: message.session,
      numParams: message.numParams,
      round,
      members: new Map(message.members.map((m) => [m.clientId, m.numSamples])),
      groupSamples: message.members.reduce((n, m) => n + m.numSamples, 0),
      setUp,
      claimed: new Set(),
      closing: false,
    };
  }

  /** Whether this edge runs a secure group in `roundId`. */
  holds(roundId: number): boolean {
    return this.group?.roundId === roundId;
  }

  /** The `secureAggregation` field of `clientId`'s round:start in `roundId`, if it is a member. */
  startFor(roundId: number, clientId: string | undefined): SecureRound | undefined {
    const group = this.group;
    if (!group || group.roundId !== roundId || clientId === undefined) return undefined;
    return group.members.has(clientId) ? group.round.startFor(clientId) : undefined;
  }

  /** A rejoined member gets the last step message it was sent again (it may have missed it). */
  resend(clientId: string): void {
    if (this.group?.members.has(clientId)) this.group.round.resend(clientId);
  }

  /** A client's `secagg` step (keys, shares, reveal, complaint): its answer. */
  step(clientId: string | undefined, raw: unknown): UpdateResponse {
    if (clientId === undefined) return refusal('not-joined', 'secagg: send join first');
    const parsed = secAggUpSchema.safeParse(raw);
    if (!parsed.success)
      return refusal('invalid-payload', `secagg: ${describeIssues(parsed.error)}`);
    const message = parsed.data;
    const group = this.group;
    if (!group || group.roundId !== message.roundId)
      return refusal(
        message.roundId < (group?.roundId ?? this.lastRound + 1) ? 'too-late' : 'wrong-round',
        `secagg: round ${message.roundId} has no secure group at this edge`,
      );
    if (!group.members.has(clientId))
      return refusal('not-sampled', `secagg: client is not in round ${group.roundId}'s group`);
    try {
      const accused = group.round.receive(clientId, message);
      // Complaints cannot be verified; the master's exclusion after several runs at its own group.
      if (accused.length > 0)
        this.parts.log(
          `round ${group.roundId}: ${clientId} cannot open the shares of ${accused.join(', ')}`,
          'warn',
        );
    } catch (error) {
      const refused = secAggRefusal(error);
      if (!(refused instanceof ContributionError)) throw error;
      return refusal(refused.code, `secagg: ${message.step}: ${refused.message}`);
    }
    return { ok: true, roundId: group.roundId };
  }

  /**
   * Why a masked update cannot be claimed now, or undefined: it must come from a member of the
   * round's group whose shares went round, be made for the group's session, be one value per
   * parameter and be the client's first.
   */
  checkMasked(clientId: string, update: UpdateMessage): Problem | undefined {
    const group = this.group;
    if (!group || group.roundId !== update.roundId)
      return { code: 'wrong-round', message: `round ${update.roundId} has no secure group here` };
    if (!group.members.has(clientId))
      return { code: 'not-sampled', message: `client is not in round ${group.roundId}'s group` };
    if (update.delta !== undefined || update.predictions !== undefined)
      return {
        code: 'invalid-payload',
        message: `round ${group.roundId} aggregates securely: send a masked input only`,
      };
    if (update.session !== group.session)
      return {
        code: 'wrong-phase',
        message: `made for session ${update.session ?? '(none)'}, this group's is ${group.session}`,
      };
    const masked = update.masked;
    if (!(masked instanceof Uint32Array) || masked.length !== group.numParams)
      return {
        code: 'invalid-payload',
        message: `a masked input is a Uint32Array of ${group.numParams} values`,
      };
    if (group.closing || group.round.phase !== 'masked')
      return {
        code: 'wrong-phase',
        message: `the group takes masked inputs in its masked step, it is at '${group.round.phase}'`,
      };
    if (!group.round.awaitedInputs().includes(clientId))
      return { code: 'wrong-phase', message: 'client shared no keys in this group, or withdrew' };
    if (group.claimed.has(clientId))
      return {
        code: 'duplicate',
        message: `client already sent an input in round ${group.roundId}`,
      };
    return undefined;
  }

  /** Notes that `clientId`'s claim is on its way to the master (checkMasked passed). */
  claim(clientId: string): void {
    this.group?.claimed.add(clientId);
  }

  /**
   * The master answered the claim: granted, the masked input enters the group's sum; refused,
   * the client may send again (a retry after, say, a refusal for its connection's state).
   */
  settleClaim(clientId: string, roundId: number, granted: boolean, update: UpdateMessage): void {
    const group = this.group;
    if (!group || group.roundId !== roundId) {
      if (granted)
        this.parts.log(`round ${roundId}: a claim was granted after its group closed`, 'warn');
      return;
    }
    if (!granted) {
      group.claimed.delete(clientId);
      return;
    }
    try {
      group.round.receiveMasked(clientId, update.masked!, update.session);
    } catch (error) {
      // Counted at the master but not in the sum: at most once, as for an edge that died.
      this.parts.log(
        `round ${roundId}: ${clientId}'s granted input did not enter the sum: ${(error as Error).message}`,
        'warn',
      );
    }
  }

  /**
   * The round has closed: unmasks the group's sum (asking the survivors for their shares, for up
   * to phaseTimeoutMs) and returns the partial; none when this edge holds no group for it.
   */
  async close(roundId: number): Promise<GroupPartial | undefined> {
    const group = this.group;
    if (!group || group.roundId !== roundId || group.closing) return undefined;
    group.closing = true;
    try {
      await group.setUp;
      const result = await group.round.finishSum();
      let weight = 0;
      for (const id of result.survivors) weight += group.members.get(id)!;
      return {
        sum: rescaleGroupSum(result.sum, group.groupSamples),
        weight,
        clients: result.survivors,
      };
    } catch (error) {
      const note = `secure aggregation: ${(error as Error).message}`;
      this.parts.log(`round ${roundId}: ${note}`, 'warn');
      return { weight: 0, clients: [], note };
    } finally {
      if (this.group === group) this.group = undefined;
    }
  }

  /** Ends any step being waited for (the edge is stopping). */
  abort(): void {
    this.group?.round.abort();
  }
}
