/**
 * Part 4 of docs/results.md: the knowledge-distillation families in federated
 * runs. One simulation per `families-alpha-<α>-<row>.yaml`; each names one
 * strategy and the clients' distillation terms. The `baseline` row (fedavg,
 * no distillation) of the same α gives the reference: a row's share of the
 * fedavg → teacher gap closed is (acc − fedavg) / (teacher − fedavg).
 */
import type { SimConfig } from './config.js';
import { formatBytes, pct } from './results.js';
import type { SimulationResult } from './simulate.js';

export const FAMILIES_HEADING = '## 4. Distillation families in federated runs';

/** The row a config is, from its name (`families-alpha-0.1-feature` → `feature`). */
function rowOf(config: SimConfig): string {
  return /^families-alpha-[\d.]+-(.+)$/.exec(config.name)?.[1] ?? config.name;
}

function alphaOf(config: SimConfig): number {
  return config.partition.kind === 'dirichlet' ? config.partition.alpha : Number.NaN;
}

/** `fedkd: response + hint` — the strategy and its terms with their weights. */
export function describeRow(config: SimConfig): string {
  const terms = config.training.distillation ?? [{ name: 'response', weight: 1 }];
  const text = terms.map((t) => (t.weight === 1 ? t.name : `${t.weight}·${t.name}`)).join(' + ');
  return `${config.strategy.join(', ')}: ${config.strategy[0] === 'fedavg' && !config.training.distillation ? 'none (hard labels)' : text}`;
}

interface RowResult {
  accuracy: number | null;
  bytesPerClient: number;
  seconds: number;
}

function resultOf(sim: SimulationResult): RowResult {
  const run = sim.runs[0]!;
  const last = run.rounds.filter((r) => r.status === 'aggregated').at(-1);
  const traffic = run.rounds.reduce((sum, r) => sum + r.bytesDownPerClient + r.bytesUpPerClient, 0);
  return {
    accuracy: run.status === 'completed' ? (last?.studentAccuracy ?? null) : null,
    bytesPerClient: run.artifactBytes + traffic,
    seconds: run.wallMs / 1000,
  };
}

/** Rows in reading order: the baseline, each family, then the combination; others after. */
const ROW_ORDER = [
  'baseline',
  'response',
  'feature',
  'relation-rkd',
  'relation-pkt',
  'self',
  'combined',
];

export function familiesSection(sims: SimulationResult[], minutes: number, only: boolean): string {
  const alphas = [...new Set(sims.map((s) => alphaOf(s.config)))].sort((a, b) => a - b);
  const rank = (row: string) =>
    ROW_ORDER.includes(row) ? ROW_ORDER.indexOf(row) : ROW_ORDER.length;
  const rows = [...new Set(sims.map((s) => rowOf(s.config)))].sort((a, b) => rank(a) - rank(b));
  const find = (row: string, alpha: number) =>
    sims.find((s) => rowOf(s.config) === row && alphaOf(s.config) === alpha);
  const first = sims[0]!;
  const c = first.config;
  const lines = [
    FAMILIES_HEADING,
    '',
    `Embedded MNIST as in part 2 (the same split, teacher and student ${typeof c.student === 'string' ? c.student : 'spec'}, ` +
      `${c.clients} clients, ${c.rounds} rounds, Dirichlet label skew), one simulation per row and α ` +
      '(`configs/results/families-alpha-<α>-<row>.yaml`). Each row names the strategy and the terms of the ' +
      "clients' local loss: `response` is α·CE + (1 − α)·T²·KL on the teacher's soft labels; `hint` the FitNets " +
      "loss between the student's penultimate features and the teacher's (through a regressor the client keeps); " +
      "`rkd-distance`, `rkd-angle` and `pkt` relations between a proxy batch's embeddings, against the teacher's; " +
      "`self` the KL to the round's received global model on private data (no teacher). Teacher features travel " +
      'once as a float16 artifact, counted in the bytes. "gap closed" is (accuracy − fedavg) / (teacher − fedavg) ' +
      `at the same α. Teacher test accuracy: ${pct(first.teacher.accuracy)}. This section took ${minutes.toFixed(1)} minutes` +
      (only ? ' (regenerated on its own with `npm run results -- --only families`).' : '.'),
    '',
  ];
  const header = ['row', 'strategy: terms'];
  for (const alpha of alphas) header.push(`α = ${alpha}`, `gap closed (α = ${alpha})`);
  header.push('bytes per client (all rounds)');
  lines.push(`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`);
  for (const row of rows) {
    const any = alphas.map((a) => find(row, a)).find((s) => s !== undefined)!;
    const cells = [row, describeRow(any.config)];
    let bytes: number | undefined;
    for (const alpha of alphas) {
      const sim = find(row, alpha);
      const base = find('baseline', alpha);
      const result = sim ? resultOf(sim) : undefined;
      const baseline = base ? resultOf(base).accuracy : null;
      bytes ??= result?.bytesPerClient;
      cells.push(result ? pct(result.accuracy) : '—');
      const teacher = sim?.teacher.accuracy;
      cells.push(
        result?.accuracy !== null &&
          result?.accuracy !== undefined &&
          baseline !== null &&
          teacher !== undefined &&
          teacher > baseline
          ? `${(((result.accuracy - baseline) / (teacher - baseline)) * 100).toFixed(0)}%`
          : '—',
      );
    }
    cells.push(bytes !== undefined ? formatBytes(bytes) : '—');
    lines.push(`| ${cells.join(' | ')} |`);
  }
  const failed = sims.filter((s) => s.runs.some((r) => r.status !== 'completed'));
  if (failed.length > 0)
    lines.push(
      '',
      `Runs that did not complete: ${failed.map((s) => `${s.config.name} (${s.runs[0]?.error ?? 'stopped'})`).join('; ')}.`,
    );
  return lines.join('\n');
}
