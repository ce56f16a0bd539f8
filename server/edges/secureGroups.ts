/**
 * Secure aggregation per edge group (Bonawitz et al. 2019, "Towards Federated
 * Learning at Scale": each aggregator runs secure aggregation with a group of
 * at least k devices, the master sums the groups' results). At a round's start
 * the master splits the sampled clients by the edge whose connection holds
 * them — the directly connected ones form the master's own group — and each
 * group of at least `minGroupSize` runs Bonawitz et al. (2017) on its own: an
 * edge with its clients (edgeSecureGroup.ts), the master with its own as a
 * single coordinator does. A group's clients mask nᵤ/N_g·deltaᵤ (N_g the
 * group's sample total), so a group's unmasked sum times N_g is Σ nᵤ·deltaᵤ
 * over its survivors: the partial of a plain edge. The master never sees one
 * client's update, but it does learn each group's sum — a weaker guarantee than
 * one global sum (docs/scaling.md).
 *
 * A group below k sits the round out: its clients get no round:start (they do
 * not train in vain), nobody waits for them, and a row per client records why.
 */
import type { SecureAggregationConfig } from '../config.js';
import type { UpdateBoundConfig } from '../robustness/index.js';
import { SecureAggregationRound, secureThreshold } from '../secureRound.js';
import type { SecureRoundMember } from '../secureRound.js';
import type {
  RoundAggregate,
  RoundContext,
  SecureAggregationHooks,
  Strategy,
  StrategyRound,
  WeightAveragingRound,
} from '../strategies/index.js';
import {
  ContributionError,
  belowQuorum,
  refuseFields,
  secAggRefusal,
} from '../strategies/index.js';
import type { EdgeRoundPort } from './edgeAggregation.js';
import type { PartialMessage, SecureGroupOpen } from './messages.js';
import { PartialSum, partialProblem } from './partialSum.js';

/** One group of a round: an edge's sampled clients, or (edge undefined) the master's own. */
export interface SecureGroup {
  readonly edge: string | undefined;
  readonly members: readonly SecureRoundMember[];
}

/** A group with fewer than k sampled clients, and why it sits the round out. */
export interface SittingOutGroup extends SecureGroup {
  readonly reason: string;
}

/** The name a group goes by in records and logs. */
export function groupName(edge: string | undefined): string {
  return edge === undefined ? "the master's own clients" : `edge ${edge}`;
}

/**
 * Splits a round's sampled clients into one group per edge (in sampling order within each),
 * those `edgeOf` places at no edge into the master's own, and sets aside every group of fewer
 * than `minGroupSize`.
 */
export function formSecureGroups(
  sampled: readonly SecureRoundMember[],
  edgeOf: (clientId: string) => string | undefined,
  minGroupSize: number,
): { groups: SecureGroup[]; sittingOut: SittingOutGroup[] } {
  const byEdge = new Map<string | undefined, SecureRoundMember[]>();
  for (const member of sampled) {
    const edge = edgeOf(member.clientId);
    let members = byEdge.get(edge);
    if (!members) byEdge.set(edge, (members = []));
    members.push(member);
  }
  const groups: SecureGroup[] = [];
  const sittingOut: SittingOutGroup[] = [];
  for (const [edge, members] of byEdge) {
    if (members.length >= minGroupSize) groups.push({ edge, members });
    else
      sittingOut.push({
        edge,
        members,
        reason: `secure group of ${groupName(edge)} has ${members.length} sampled client(s), fewer than minGroupSize ${minGroupSize}`,
      });
  }
  return { groups, sittingOut };
}

/** What the master knows of one edge's secure group in a round. */
export interface SecureGroupExpectation {
  readonly roundId: number;
  readonly numParams: number;
  /** The group the master formed: client id → the sample count it joined with (its weight). */
  readonly members: ReadonlyMap<string, number>;
  /** The members whose claims (updates without their masked input) the master granted. */
  readonly granted: ReadonlySet<string>;
  /** t: an unmasked sum holds at least this many clients' inputs. */
  readonly threshold: number;
  /** The static update bound (a masked delta cannot be screened on its own). */
  readonly updateBound: Pick<UpdateBoundConfig, 'maxNorm' | 'maxCoordinate'>;
}

/**
 * Why a secure group's partial cannot be folded in, or undefined. Its clients must be members
 * of the group the master formed at that edge, each once, with granted claims; its weight their
 * join-time sample counts; it must hold at least t clients (the protocol unmasks no fewer); and
 * its sum must be of the right length, finite and within the bound.
 */
export function securePartialProblem(
  partial: PartialMessage,
  expected: SecureGroupExpectation,
): string | undefined {
  if (partial.roundId !== expected.roundId)
    return `partial is for round ${partial.roundId}, the open round is ${expected.roundId}`;
  for (const client of partial.clients)
    if (!expected.members.has(client))
      return `client ${client} is not in the secure group the master formed at this edge`;
  const claims = new Map<string, number>();
  for (const client of expected.granted) {
    const numSamples = expected.members.get(client);
    if (numSamples !== undefined) claims.set(client, numSamples);
  }
  const problem = partialProblem(partial, {
    roundId: expected.roundId,
    numParams: expected.numParams,
    claims,
    updateBound: expected.updateBound,
  });
  if (problem) return problem;
  if (partial.clients.length > 0 && partial.clients.length < expected.threshold)
    return `a secure sum of ${partial.clients.length} client(s), below the group's threshold t = ${expected.threshold}`;
  return undefined;
}

/** What the secure groups need from the edges' control plane (masterEdges.ts). */
export interface SecureGroupPort extends Pick<
  EdgeRoundPort,
  'edgeOf' | 'claimNorm' | 'openRound' | 'collect' | 'refusePartial' | 'reportRound'
> {
  /** Tells `edge` the group it runs the protocol with this round. */
  openSecureGroup(edge: string, message: SecureGroupOpen): void;
  /** Records that these sampled clients take no part in the round, and why. */
  recordSittingOut(roundId: number, clientIds: readonly string[], reason: string): void;
}

interface EdgeGroup {
  readonly session: string;
  readonly members: ReadonlyMap<string, number>;
  readonly threshold: number;
  readonly granted: Set<string>;
}

/** Σ nᵤ·deltaᵤ from a group's unmasked Σ wᵤ·deltaᵤ, wᵤ = nᵤ/N_g. */
export function rescaleGroupSum(sum: Float64Array, groupSamples: number): Float64Array {
  const out = new Float64Array(sum.length);
  for (let i = 0; i < sum.length; i++) out[i] = sum[i]! * groupSamples;
  return out;
}

export class SecureEdgeGroupsStrategy implements Strategy {
  readonly name: string;
  readonly capabilities: Strategy['capabilities'];

  constructor(
    private readonly inner: Strategy,
    private readonly port: SecureGroupPort,
    private readonly config: SecureAggregationConfig,
    private readonly hooks: SecureAggregationHooks,
    private readonly updateBound: UpdateBoundConfig,
  ) {
    if (!inner.capabilities.secureAggregation)
      throw new Error(`strategy ${inner.name} cannot aggregate securely`);
    this.name = inner.name;
    this.capabilities = inner.capabilities;
  }

  beginRound(context: RoundContext): StrategyRound {
    const inner = this.inner.beginRound(context) as Partial<WeightAveragingRound> & StrategyRound;
    const { applyMeanDelta } = inner;
    if (!applyMeanDelta)
      throw new Error(`strategy ${this.name}'s rounds cannot take a securely summed delta`);
    const { roundId, attempt } = context;
    const numParams = context.global.length;
    const { threshold: thresholdFraction, scale, phaseTimeoutMs, minGroupSize } = this.config;
    // Each edge still opens the round (refusal tallies, bytes); no delta is screened there.
    this.port.openRound({
      t: 'round:open',
      roundId,
      numParams,
      updateBound: this.updateBound,
      normBound: this.updateBound.maxNorm,
    });
    const { groups, sittingOut } = formSecureGroups(
      context.sampled,
      (clientId) => this.port.edgeOf(clientId),
      minGroupSize,
    );
    const sitting = new Map<string, string>();
    for (const group of sittingOut) {
      const ids = group.members.map((m) => m.clientId);
      for (const id of ids) sitting.set(id, group.reason);
      this.port.recordSittingOut(roundId, ids, group.reason);
    }
    const own = groups.find((g) => g.edge === undefined);
    const ownMembers = new Map(own?.members.map((m) => [m.clientId, m.numSamples]));
    const ownRound = own
      ? new SecureAggregationRound({
          session: `${attempt}#master`,
          roundId,
          members: own.members,
          thresholdFraction,
          scale,
          length: numParams,
          phaseTimeoutMs,
          send: (clientId, step) => this.hooks.send(clientId, step),
        })
      : undefined;
    const setUp = ownRound?.setUp();
    // The own group failing its set-up (too few keys or shares) ends only that group, not the
    // edges' groups, so `ready` always resolves — at once without an own group, so that a round
    // whose groups all sit out settles; finishOwn reads the failure.
    let ownFailed = false;
    const ready = (setUp ?? Promise.resolve()).then(
      () => undefined,
      () => {
        ownFailed = true;
      },
    );
    const edgeGroups = new Map<string, EdgeGroup>();
    const groupOf = new Map<string, string>();
    for (const group of groups) {
      if (group.edge === undefined) continue;
      const message: SecureGroupOpen = {
        t: 'secure:group',
        roundId,
        session: `${attempt}#edge:${group.edge}`,
        members: group.members.map((m) => ({ clientId: m.clientId, numSamples: m.numSamples })),
        thresholdFraction,
        scale,
        phaseTimeoutMs,
        numParams,
      };
      edgeGroups.set(group.edge, {
        session: message.session,
        members: new Map(group.members.map((m) => [m.clientId, m.numSamples])),
        threshold: secureThreshold(thresholdFraction, group.members.length),
        granted: new Set(),
      });
      for (const m of group.members) groupOf.set(m.clientId, group.edge);
      this.port.openSecureGroup(group.edge, message);
    }
    const report = (size: number, threshold: number, survivors: number, error?: string) =>
      this.hooks.onOutcome?.({
        roundId,
        sampled: size,
        threshold,
        survivors,
        ...(error !== undefined ? { error } : {}),
      });
    // Set once the round aggregates: the edges unmask then, so a claim granted later is never
    // folded.
    let closing = false;

    const acceptOwn = (clientId: string, masked: Uint32Array | undefined, session?: string) => {
      if (masked === undefined)
        throw new ContributionError(
          `round ${roundId} aggregates securely: send a masked input, not a delta`,
          'invalid-payload',
        );
      try {
        ownRound!.receiveMasked(clientId, masked, session);
      } catch (error) {
        throw secAggRefusal(error);
      }
    };

    /** The master's own group's share of the total: Σ nᵤ·deltaᵤ over its survivors. */
    const finishOwn = async (): Promise<{ sum: PartialSum; notes: string[] }> => {
      const sum = new PartialSum(numParams);
      if (!ownRound || !own) return { sum, notes: [] };
      const total = own.members.reduce((n, m) => n + m.numSamples, 0);
      try {
        await setUp;
        const result = await ownRound.finishSum();
        report(own.members.length, ownRound.threshold, result.survivors.length);
        let weight = 0;
        for (const id of result.survivors) weight += ownMembers.get(id)!;
        sum.merge(rescaleGroupSum(result.sum, total), weight, result.survivors);
        return { sum, notes: [] };
      } catch (error) {
        const message = (error as Error).message;
        report(own.members.length, ownRound.threshold, 0, message);
        return { sum, notes: [`${groupName(undefined)}: secure aggregation: ${message}`] };
      }
    };

    return {
      instructions: inner.instructions,
      ...(inner.rollback ? { rollback: inner.rollback.bind(inner) } : {}),
      ready,
      startFor: (clientId) =>
        ownRound && ownMembers.has(clientId)
          ? { secureAggregation: ownRound.startFor(clientId) }
          : // An edge adds its group's fields: the round:start it is sent stays one shared object.
            undefined,
      sitsOut: (clientId) => sitting.has(clientId),
      accept: (clientId, update) => {
        if (closing)
          throw new ContributionError(
            `round ${roundId} is closing: its groups' sums are being unmasked`,
            'too-late',
          );
        const sits = sitting.get(clientId);
        if (sits !== undefined)
          throw new ContributionError(`this round leaves the client out: ${sits}`, 'not-sampled');
        refuseFields(update, ['predictions', 'delta'], `round ${roundId} aggregates securely`);
        if (ownMembers.has(clientId)) {
          if (this.port.edgeOf(clientId) !== undefined)
            throw new ContributionError(
              `the client's secure group is ${groupName(undefined)}; this update came through edge ${this.port.edgeOf(clientId)}`,
              'not-sampled',
            );
          return acceptOwn(clientId, update.masked, update.session);
        }
        const home = groupOf.get(clientId);
        const group = home !== undefined ? edgeGroups.get(home) : undefined;
        if (home === undefined || !group)
          throw new ContributionError(
            `client is in no secure group of round ${roundId}`,
            'not-sampled',
          );
        const via = this.port.edgeOf(clientId);
        if (via !== home)
          throw new ContributionError(
            `the client's secure group runs at edge ${home}; this update came through ${groupName(via)}`,
            'not-sampled',
          );
        // What an edge forwards of a masked input: the claim, with the group's session, no norm.
        if (update.masked !== undefined || this.port.claimNorm(clientId) !== undefined)
          throw new ContributionError(
            `round ${roundId} aggregates securely at edge ${home}: a claim carries neither the masked input nor a delta's norm`,
            'invalid-payload',
          );
        if (update.session !== group.session)
          throw new ContributionError(
            `made for session ${update.session ?? '(none)'}, the group's is ${group.session}`,
            'wrong-phase',
          );
        group.granted.add(clientId);
        return undefined;
      },
      awaited: () => [
        ...(ownRound && !ownFailed ? ownRound.awaitedInputs() : []),
        ...[...edgeGroups.values()].flatMap((g) => [...g.members.keys()]),
      ],
      receive: (clientId, message) => {
        if (!ownRound || !ownMembers.has(clientId))
          throw new ContributionError(
            `the client's secure group is not the master's own: its steps go to its edge`,
            'not-sampled',
          );
        try {
          return { accused: ownRound.receive(clientId, message) };
        } catch (error) {
          throw secAggRefusal(error);
        }
      },
      resend: (clientId) => {
        if (ownRound && ownMembers.has(clientId)) ownRound.resend(clientId);
      },
      aggregate: async ({ stopping, enough }): Promise<RoundAggregate> => {
        closing = true;
        if (stopping) ownRound?.abort();
        // An edge unmasks after the round's close, each of its steps bounded by phaseTimeoutMs:
        // a round that settles early may close while its keys and shares steps still run, then
        // the unmask step: its partial may come three steps later than a plain edge's.
        const [received, ownPart] = await Promise.all([
          this.port.collect(roundId, [...edgeGroups.keys()], 3 * phaseTimeoutMs),
          finishOwn(),
        ]);
        const notes = [...sittingOut.map((g) => g.reason), ...ownPart.notes];
        const total = new PartialSum(numParams);
        total.merge(ownPart.sum.sum, ownPart.sum.weight, ownPart.sum.clients);
        let partialBytes = 0;
        for (const [edge, { partial, bytes }] of received) {
          partialBytes += bytes;
          const group = edgeGroups.get(edge);
          const problem = group
            ? securePartialProblem(partial, {
                roundId,
                numParams,
                members: group.members,
                granted: group.granted,
                threshold: group.threshold,
                updateBound: this.updateBound,
              })
            : partial.clients.length > 0
              ? `edge ${edge} holds no secure group in round ${roundId}`
              : undefined;
          if (problem) {
            this.port.refusePartial(edge, roundId, problem, bytes);
            notes.push(`${groupName(edge)}: partial refused: ${problem}`);
            continue;
          }
          if (group) {
            report(group.members.size, group.threshold, partial.clients.length, partial.note);
            if (partial.note !== undefined) notes.push(`${groupName(edge)}: ${partial.note}`);
          }
          total.merge(partial.sum, partial.weight, partial.clients);
        }
        for (const edge of edgeGroups.keys())
          if (!received.has(edge)) notes.push(`${groupName(edge)}: no partial arrived`);
        this.port.reportRound(roundId, received.size, partialBytes);
        const note = notes.length > 0 ? notes.join('; ').slice(0, 2000) : undefined;
        const participants = total.clients.length;
        if (participants === 0)
          return {
            participants,
            failure: `no secure group's sum arrived${note !== undefined ? `: ${note}` : ''}`,
          };
        if (!enough(participants)) return belowQuorum(participants);
        return {
          participants,
          weights: await applyMeanDelta(total.mean()),
          ...(note !== undefined ? { note } : {}),
        };
      },
    };
  }

  dispose(): void {
    this.inner.dispose?.();
  }
}
