/**
 * What a simulation produces: per-round metrics of every (strategy, seed)
 * run, their summary per strategy, and the Markdown table a person reads.
 */
import type { SimStrategy } from './config.js';

/** One round of one run, as written to metrics.jsonl. */
export interface SimRoundMetrics {
  strategy: SimStrategy;
  seed: number;
  round: number;
  status: 'aggregated' | 'failed';
  /** Global student's test accuracy (for weightless strategies: as the coordinator reports it). */
  studentAccuracy: number | null;
  studentLoss: number | null;
  /** Share of test samples where the student predicts the teacher's class. */
  agreement: number | null;
  teacherAccuracy: number | null;
  sampled: number;
  participants: number;
  /** Round message bytes per sampled client (weights, consensus…). */
  bytesDownPerClient: number;
  /** Update bytes per answering client (delta, predictions…). */
  bytesUpPerClient: number;
  meanClientLoss: number | null;
  durationMs: number;
  /** fedbuff: mean and largest staleness of the round's aggregated updates. */
  meanStaleness?: number;
  maxStaleness?: number;
}

export interface SimRunResult {
  strategy: SimStrategy;
  seed: number;
  status: 'completed' | 'stopped' | 'failed';
  error?: string;
  rounds: SimRoundMetrics[];
  studentParams: number;
  /** Proxy inputs + soft labels, downloaded once per client (0 for central). */
  artifactBytes: number;
  wallMs: number;
}

export interface StrategySummary {
  strategy: SimStrategy;
  /**
   * The row's name in a report when it is not the strategy alone (a strategy with
   * distillation terms, `feddf: response + hint`). Defaults to the strategy.
   */
  label?: string;
  runs: number;
  failed: number;
  /** Final-round accuracy, mean over seeds. */
  finalAccuracy: number | null;
  /** Standard deviation of it over seeds (0 for one seed). */
  finalAccuracySd: number | null;
  bestAccuracy: number | null;
  finalAgreement: number | null;
  /** First round whose accuracy reaches `targetShare` × teacher accuracy, mean over the seeds that reach it; null if none does. */
  roundsToTarget: number | null;
  /** Seeds (of `runs`) that reached the target. */
  reachedTarget: number;
  bytesDownPerClientPerRound: number;
  bytesUpPerClientPerRound: number;
  artifactBytes: number;
  wallSeconds: number;
}

function mean(values: number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

function sd(values: number[]): number | null {
  const m = mean(values);
  if (m === null) return null;
  return Math.sqrt(values.reduce((a, v) => a + (v - m) ** 2, 0) / Math.max(1, values.length - 1));
}

/** First round (1-based over aggregated rounds) at or above `target`, or null. */
export function roundsToReach(rounds: readonly SimRoundMetrics[], target: number): number | null {
  for (const r of rounds) {
    if (r.status === 'aggregated' && r.studentAccuracy !== null && r.studentAccuracy >= target)
      return r.round;
  }
  return null;
}

export function summarizeStrategies(
  runs: readonly SimRunResult[],
  teacherAccuracy: number,
  targetShare = 0.95,
): StrategySummary[] {
  const strategies = [...new Set(runs.map((r) => r.strategy))];
  return strategies.map((strategy) => {
    const mine = runs.filter((r) => r.strategy === strategy);
    const ok = mine.filter((r) => r.status !== 'failed');
    const lastOf = (r: SimRunResult) =>
      [...r.rounds].reverse().find((m) => m.status === 'aggregated');
    const finals = ok
      .map((r) => lastOf(r)?.studentAccuracy)
      .filter((v): v is number => typeof v === 'number');
    const best = ok
      .flatMap((r) => r.rounds.map((m) => m.studentAccuracy))
      .filter((v): v is number => typeof v === 'number');
    const agreements = ok
      .map((r) => lastOf(r)?.agreement)
      .filter((v): v is number => typeof v === 'number');
    const reached = ok
      .map((r) => roundsToReach(r.rounds, targetShare * teacherAccuracy))
      .filter((v): v is number => v !== null);
    const aggregated = ok.flatMap((r) => r.rounds.filter((m) => m.status === 'aggregated'));
    return {
      strategy,
      runs: mine.length,
      failed: mine.length - ok.length,
      finalAccuracy: mean(finals),
      finalAccuracySd: sd(finals),
      bestAccuracy: best.length > 0 ? Math.max(...best) : null,
      finalAgreement: mean(agreements),
      roundsToTarget: mean(reached),
      reachedTarget: reached.length,
      bytesDownPerClientPerRound: mean(aggregated.map((m) => m.bytesDownPerClient)) ?? 0,
      bytesUpPerClientPerRound: mean(aggregated.map((m) => m.bytesUpPerClient)) ?? 0,
      artifactBytes: mean(ok.map((r) => r.artifactBytes)) ?? 0,
      wallSeconds: (mean(mine.map((r) => r.wallMs)) ?? 0) / 1000,
    };
  });
}

export function pct(value: number | null, digits = 2): string {
  return value === null ? '—' : `${(value * 100).toFixed(digits)}%`;
}

export function formatBytes(bytes: number): string {
  if (bytes === 0) return '0';
  if (bytes < 1e3) return `${Math.round(bytes)} B`;
  if (bytes < 1e6) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

/** The per-strategy table, GitHub Markdown. */
export function strategyTable(
  summaries: readonly StrategySummary[],
  rounds: number,
  targetShare = 0.95,
): string {
  const header = [
    'strategy',
    'final accuracy',
    'best',
    'agreement with teacher',
    `rounds to ${Math.round(targetShare * 100)}% of teacher`,
    'down / client / round',
    'up / client / round',
    'artifacts once',
    'wall time',
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`];
  for (const s of summaries) {
    const final =
      s.finalAccuracy === null
        ? s.failed > 0
          ? 'failed'
          : '—'
        : s.runs - s.failed > 1
          ? `${pct(s.finalAccuracy)} ± ${pct(s.finalAccuracySd)}`
          : pct(s.finalAccuracy);
    const reach =
      s.roundsToTarget === null
        ? `not in ${rounds}`
        : s.reachedTarget < s.runs - s.failed
          ? `${s.roundsToTarget.toFixed(1)} (${s.reachedTarget}/${s.runs - s.failed} seeds)`
          : Number.isInteger(s.roundsToTarget)
            ? String(s.roundsToTarget)
            : s.roundsToTarget.toFixed(1);
    lines.push(
      `| ${[
        s.label ?? s.strategy,
        final,
        pct(s.bestAccuracy),
        pct(s.finalAgreement),
        reach,
        formatBytes(s.bytesDownPerClientPerRound),
        formatBytes(s.bytesUpPerClientPerRound),
        formatBytes(s.artifactBytes),
        `${s.wallSeconds.toFixed(1)} s`,
      ].join(' | ')} |`,
    );
  }
  return lines.join('\n');
}
