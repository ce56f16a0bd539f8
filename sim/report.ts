/**
 * `npm run results`: regenerates docs/results.md and its plots from the
 * configs in configs/results/ — the centralised Hinton et al. experiment
 * (hinton.yaml) and one simulation per federated-*.yaml — so every number in
 * the report comes from a run of the code as committed.
 */
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { join, relative } from 'node:path';
import { selectNodeBackend } from '../node/backend.js';
import type { Log } from '../node/logger.js';
import type { Progress } from '../node/progress.js';
import { readSimConfigFile } from './config.js';
import type { SimConfig } from './config.js';
import type { ModelSpec } from '../shared/models/index.js';
import { readHintonConfig, runHinton } from './hinton.js';
import type { HintonResult } from './hinton.js';
import { describePartition, runSimulation } from './simulate.js';
import type { SimulationResult } from './simulate.js';
import { formatBytes, pct, strategyTable } from './results.js';
import type { StrategySummary } from './results.js';
import { FAMILIES_HEADING, describeRow, familiesSection } from './familiesReport.js';

/**
 * `report` with the part that starts at `heading` (up to the next `## N.` part, or the end)
 * replaced by `text`, or `text` appended when the report has no such part yet.
 */
export function replacePart(report: string, heading: string, text: string): string {
  const start = report.indexOf(heading);
  if (start < 0) return `${report.trimEnd()}\n\n${text}`;
  const next = report.slice(start + heading.length).search(/\n## \d+\. /);
  const end = next < 0 ? report.length : start + heading.length + next;
  return `${report.slice(0, start)}${text}\n${report.slice(end)}`;
}

/** The report's sections that `--only` can regenerate on their own. */
export const RESULT_SECTIONS = ['fashion-mnist', 'families'] as const;
export type ResultSection = (typeof RESULT_SECTIONS)[number];

export interface ReportOptions {
  /** Defaults to configs/results. */
  configsDir?: string;
  /** Defaults to docs/results.md; plots go beside it in results/. */
  output?: string;
  /** Run directories. Defaults to runs/results. */
  runsDir?: string;
  log?: Log;
  /** Teacher and run progress of each simulation. Defaults to none. */
  progress?: Progress;
  /**
   * Regenerate only this section, keeping the other parts of the existing report as they were
   * generated. Defaults to regenerating everything.
   */
  only?: ResultSection;
  /**
   * Reuse a simulation's earlier result (`<runsDir>/<name>/result.json`) when it was run with
   * exactly the same config, instead of running it again. Defaults to false.
   */
  reuse?: boolean;
}

/** An earlier result of exactly this config in `runDir`, if there is one. */
async function earlierResult(
  runDir: string,
  config: SimConfig,
): Promise<SimulationResult | undefined> {
  let text: string;
  try {
    text = await readFile(join(runDir, 'result.json'), 'utf8');
  } catch {
    return undefined;
  }
  const result = JSON.parse(text) as SimulationResult;
  return JSON.stringify(result.config) === JSON.stringify(config) ? result : undefined;
}

const FASHION_HEADING = '## 3. Fashion-MNIST: Dirichlet label skew × strategy';

/** Paper's test errors on MNIST's 10,000 test digits (Hinton, Vinyals & Dean 2015, §3). */
const PAPER = { teacher: 67, 'student alone': 146, 'student distilled': 74 } as const;

function hintonSection(result: HintonResult): string {
  const { config } = result;
  const lines = [
    '## 1. Centralised distillation (Hinton et al. 2015, §3)',
    '',
    `All three models train on the same ${result.trainCount.toLocaleString('en')} digits and are tested on ` +
      `${result.testCount.toLocaleString('en')} held-out digits of the \`mnist\` package. The paper trains on ` +
      "MNIST's 60,000 training digits (the teacher also on jittered copies, with dropout) and tests on 10,000, " +
      `so compare error rates, not counts, and expect ours to be higher: we have about 1/${Math.round(60_000 / result.trainCount)} of the data.`,
    '',
    `Teacher: Adam, ${config.teacher.training.epochs} epochs, batch ${config.teacher.training.batchSize}, lr ${config.teacher.training.learningRate}. ` +
      `Students: ${config.student.training.epochs} epochs each, batch ${config.student.training.batchSize}, lr ${config.student.training.learningRate}; ` +
      `the distilled one on the training digits with the teacher's soft labels at T = ${config.distillation.temperature}, ` +
      `loss α·CE + (1 − α)·T²·KL with α = ${config.distillation.alpha}.`,
    '',
    '| model | parameters | test errors (ours) | error rate (ours) | test errors (paper, of 10,000) | error rate (paper) | training time |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const row of result.rows) {
    const paper = PAPER[row.model];
    lines.push(
      `| ${row.model} (${row.spec}) | ${row.parameters.toLocaleString('en')} | ${row.testErrors} of ${row.testCount} | ` +
        `${pct(row.errorRate)} | ${paper} | ${pct(paper / 10_000)} | ${row.seconds === null ? 'cached from an earlier run' : `${row.seconds.toFixed(0)} s`} |`,
    );
  }
  const alone = result.rows.find((r) => r.model === 'student alone');
  const distilled = result.rows.find((r) => r.model === 'student distilled');
  const teacher = result.rows.find((r) => r.model === 'teacher');
  if (alone && distilled && teacher) {
    const gap = alone.testErrors - teacher.testErrors;
    const closed = gap > 0 ? (alone.testErrors - distilled.testErrors) / gap : 0;
    lines.push(
      '',
      `Distillation takes the student from ${alone.testErrors} to ${distilled.testErrors} errors; ` +
        (gap > 0
          ? `that closes ${(closed * 100).toFixed(0)}% of its gap to the teacher (the paper: 146 → 74 against a teacher at 67, 91%).`
          : 'here the student alone already matches the teacher, so there is no gap to close.'),
    );
  }
  return lines.join('\n');
}

function alphaOf(config: SimConfig): string {
  return config.partition.kind === 'dirichlet' ? String(config.partition.alpha) : config.name;
}

function studentOf(config: SimConfig): string {
  return typeof config.student === 'string' ? config.student : (config.student.name ?? 'custom');
}

/** A grid column's name: its α, and its student when the grid's students differ. */
function columnOf(sim: SimulationResult, sims: SimulationResult[]): string {
  const students = new Set(sims.map((s) => studentOf(s.config)));
  return `α = ${alphaOf(sim.config)}${students.size > 1 ? `, ${studentOf(sim.config)}` : ''}`;
}

/**
 * An extra-row config: one that names distillation terms (`training.distillation`). Its
 * strategy runs become rows of the grid column with the same α and student, labelled with the
 * terms, rather than a column of their own.
 */
function isExtraRow(config: SimConfig): boolean {
  return config.training.distillation !== undefined;
}

/**
 * `sims` without the extra-row simulations, whose strategies join the summaries of the
 * simulation with the same α and student as rows labelled `strategy: terms`.
 */
export function mergeExtraRows(sims: SimulationResult[]): SimulationResult[] {
  const columns = sims
    .filter((s) => !isExtraRow(s.config))
    .map((s) => ({ ...s, summaries: [...s.summaries] }));
  for (const extra of sims.filter((s) => isExtraRow(s.config))) {
    const column = columns.find(
      (s) =>
        alphaOf(s.config) === alphaOf(extra.config) &&
        studentOf(s.config) === studentOf(extra.config),
    );
    if (!column)
      throw new Error(
        `${extra.config.name}: no config without distillation terms has its α (${alphaOf(extra.config)}) and student (${studentOf(extra.config)}) to add its row to`,
      );
    for (const summary of extra.summaries) {
      const terms = describeRow({ ...extra.config, strategy: [summary.strategy] });
      column.summaries.push({ ...summary, label: terms });
    }
  }
  return columns;
}

/** The fashion part's sentence on its extra rows, if it has any. */
function extraRowsNote(sims: SimulationResult[]): string {
  const extras = sims.filter((s) => isExtraRow(s.config));
  if (extras.length === 0) return '';
  const rows = [...new Set(extras.map((s) => describeRow(s.config)))].map((r) => `\`${r}\``);
  const columns = extras.map((s) => `α = ${alphaOf(s.config)} with ${studentOf(s.config)}`);
  return (
    `The ${rows.join(', ')} row${rows.length > 1 ? 's run' : ' runs'} the distillation terms ${rows.length > 1 ? 'their configs name' : 'its configs name'} ` +
    `(\`training.distillation\`), for ${columns.join(', ')}; feature and relation terms compare ` +
    "the student's penultimate-layer features with the teacher's, which travel once as a float16 artifact. "
  );
}

function gridTable(
  sims: SimulationResult[],
  title: string,
  cell: (s: StrategySummary, sim: SimulationResult) => string,
): string {
  const rowOf = (s: StrategySummary) => s.label ?? s.strategy;
  const strategies = [...new Set(sims.flatMap((s) => s.summaries.map(rowOf)))];
  const header = ['strategy', ...sims.map((s) => columnOf(s, sims))];
  const lines = [
    `**${title}**`,
    '',
    `| ${header.join(' | ')} |`,
    `|${header.map(() => ' --- ').join('|')}|`,
  ];
  for (const strategy of strategies) {
    const cells = sims.map((sim) => {
      const summary = sim.summaries.find((s) => rowOf(s) === strategy);
      return summary ? cell(summary, sim) : '—';
    });
    lines.push(`| ${[strategy, ...cells].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** How long the teacher took to train, as its result records it ('' when not recorded). */
function teacherTime(sim: SimulationResult): string {
  const seconds = sim.teacher.trainSeconds;
  if (seconds === undefined || seconds === null) return '';
  return sim.teacher.fromCache
    ? `; trained in ${seconds.toFixed(0)} s by an earlier run, loaded from its cache`
    : `; trained in ${seconds.toFixed(0)} s`;
}

/** A spec's layers in a line: `conv 32 (3×3, same) → max-pool 2 → … → dense 128 → 10`. */
export function describeLayers(spec: ModelSpec): string {
  const layers = spec.layers.map((layer) => {
    switch (layer.type) {
      case 'dense':
        return `dense ${layer.units}`;
      case 'conv2d':
        return `conv ${layer.filters} (${layer.kernelSize}×${layer.kernelSize}, ${layer.padding ?? 'valid'})`;
      case 'maxPool2d':
        return `max-pool ${layer.poolSize}`;
      case 'flatten':
        return 'flatten';
      case 'dropout':
        return `dropout ${layer.rate}`;
    }
  });
  return [...layers, String(spec.numClasses)].join(' → ');
}

/** What the fashion part's teacher is: its name and layers, or its shorthand. */
function teacherOf(config: SimConfig): string {
  const spec = config.teacher.spec;
  return typeof spec === 'string'
    ? `\`${spec}\``
    : `\`${spec.name ?? 'custom'}\` (${describeLayers(spec as ModelSpec)})`;
}

function federatedSection(
  sims: SimulationResult[],
  plots: string[],
  heading: string,
  note?: string,
): string {
  const first = sims[0]!;
  const c = first.config;
  const t = c.training;
  const students = [...new Set(sims.map((s) => studentOf(s.config)))];
  const studentParams = students.map((name) => {
    const sim = sims.find((s) => studentOf(s.config) === name);
    return `${name} (${(sim?.runs[0]?.studentParams ?? 0).toLocaleString('en')} parameters)`;
  });
  const lines = [
    heading,
    '',
    ...(note ? [note, ''] : []),
    `Data: ${first.data.origin}: teacher ${first.data.teacher}, public proxy ${first.data.proxy}, ` +
      `private client pool ${first.data.clientPool} dealt to ${c.clients} clients, test ${first.data.test}. ` +
      `Teacher ${first.teacher.description.replace(/ \(.*\)$/, '')} (${first.teacher.parameters.toLocaleString('en')} parameters, ` +
      `${c.teacher.file !== undefined ? `loaded from ${c.teacher.file}` : `${c.teacher.epochs} epochs of batch ${c.teacher.batchSize}, Adam lr ${c.teacher.learningRate} on its split${teacherTime(first)}`}): ` +
      `test accuracy **${pct(first.teacher.accuracy)}**. ` +
      `Student${students.length > 1 ? 's' : ''} ${studentParams.join(' and ')}. ` +
      `${c.rounds} rounds, all clients every round, ${t.epochs} local epoch(s) of batch ${t.batchSize}, ${t.optimizer} lr ${t.learningRate}, ` +
      `T = ${t.temperature}, α = ${t.alpha} (fedavg and local: α = 1); ` +
      (c.strategy.some((x) => x === 'fedmd' || x === 'dsfl')
        ? `fedmd/dsfl exchange predictions on ${c.logitExchange.samples} proxy samples ` +
          `(consensus weight ${c.logitExchange.consensusWeight}; DS-FL sharpening T = ${c.logitExchange.sharpenTemperature}); `
        : '') +
      `feddf distils ` +
      `${c.ensembleDistillation.epochs} epoch(s) on the proxy set per round (teacher weight ${c.ensembleDistillation.teacherWeight}). ` +
      `Seed${c.seeds.length > 1 ? 's' : ''} ${c.seeds.join(', ')}.` +
      (c.strategy.includes('central')
        ? " `central` is the upper bound: the same student distilled on all clients' data pooled."
        : ''),
    '',
    "For local, fedmd and dsfl there is no global model: their accuracy is the mean test accuracy of the clients' own models. " +
      'Every run is seeded (split, partition, initial weights, sampling, batch order) and repeats bit for bit (test/sim/repeat.test.ts).',
    '',
    gridTable(sims, 'Final test accuracy', (s) => pct(s.finalAccuracy)),
    '',
    gridTable(
      sims,
      `Rounds to reach 95% of the teacher's accuracy (${pct(0.95 * first.teacher.accuracy)})`,
      (s, sim) =>
        s.roundsToTarget === null ? `not in ${sim.config.rounds}` : String(s.roundsToTarget),
    ),
    '',
    gridTable(
      sims,
      'Bytes per client per round, down / up',
      (s) =>
        `${formatBytes(s.bytesDownPerClientPerRound)} / ${formatBytes(s.bytesUpPerClientPerRound)}`,
    ),
    '',
    `Every client also downloads the proxy inputs and soft labels once (${formatBytes(first.summaries.find((s) => s.artifactBytes > 0)?.artifactBytes ?? 0)}), ` +
      'cached by content hash; bytes are MessagePack-encoded messages as the coordinator counts them.',
    '',
  ];
  sims.forEach((sim, i) => {
    lines.push(
      `### ${sectionPrefix(heading)}${describePartition(sim.config)}${students.length > 1 ? `, student ${studentOf(sim.config)}` : ''}`,
      '',
      `Mean label skew (total-variation distance of a client's labels from the pool's): ${sim.partitions.map((p) => p.meanSkew.toFixed(3)).join(', ')}; ` +
        `client sizes ${sim.partitions[0]?.sizes.join(' / ') ?? ''}.`,
      '',
      strategyTable(sim.summaries, sim.config.rounds),
      '',
      `![accuracy and loss per round, ${sectionPrefix(heading)}${describePartition(sim.config)}](${plots[i]})`,
      '',
    );
  });
  return lines.join('\n');
}

/** Subsection titles of a later section say which data they are about (headings stay unique). */
function sectionPrefix(heading: string): string {
  return /Fashion-MNIST/.test(heading) ? 'Fashion-MNIST, ' : '';
}

/** The repository's Prettier style (aligned tables), so the generated file passes `format:check`. */
async function formatMarkdown(markdown: string, path: string): Promise<string> {
  // A dev dependency, loaded only here: the report is a development tool.
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(path)) ?? {};
  return prettier.format(markdown, { ...options, parser: 'markdown' });
}

export async function generateResults(options: ReportOptions = {}): Promise<string> {
  const configsDir = options.configsDir ?? join('configs', 'results');
  const output = options.output ?? join('docs', 'results.md');
  const runsDir = options.runsDir ?? join('runs', 'results');
  const log = options.log ?? (() => undefined);
  const plotDir = join(output, '..', 'results');
  await mkdir(plotDir, { recursive: true });
  const started = Date.now();

  const backend = await selectNodeBackend({ log });
  const files = (await readdir(configsDir)).sort();
  const only = options.only;
  const hinton =
    only === undefined && files.includes('hinton.yaml')
      ? await runHinton(readHintonConfig(join(configsDir, 'hinton.yaml')), (m) =>
          log(`[hinton] ${m}`),
        )
      : undefined;

  const byAlpha = (a: SimConfig, b: SimConfig) =>
    Number(alphaOf(a)) - Number(alphaOf(b)) || studentOf(a).localeCompare(studentOf(b));
  const read = (pattern: RegExp) =>
    files
      .filter((f) => pattern.test(f))
      .map((f) => readSimConfigFile(join(configsDir, f)))
      .sort(byAlpha);
  const groups = [
    {
      configs: only === undefined ? read(/^federated-.*\.ya?ml$/) : [],
      sims: [] as SimulationResult[],
      plots: [] as string[],
      minutes: 0,
      reused: 0,
    },
    {
      configs:
        only === undefined || only === 'fashion-mnist' ? read(/^fashion-mnist-.*\.ya?ml$/) : [],
      sims: [] as SimulationResult[],
      plots: [] as string[],
      minutes: 0,
      reused: 0,
    },
    {
      configs: only === undefined || only === 'families' ? read(/^families-.*\.ya?ml$/) : [],
      sims: [] as SimulationResult[],
      plots: [] as string[],
      minutes: 0,
      reused: 0,
      // One small run per row: the table says it all, no plot per run.
      noPlots: true,
    },
  ];
  for (const group of groups) {
    const groupStarted = Date.now();
    for (const config of group.configs) {
      const { sims, plots } = group;
      log(`[${config.name}] ${config.strategy.length} strategies, ${config.rounds} rounds`);
      const runDir = join(runsDir, config.name);
      const earlier = options.reuse ? await earlierResult(runDir, config) : undefined;
      if (earlier) {
        log(`[${config.name}] reusing the earlier result of this config in ${runDir}`);
        group.reused += 1;
      }
      const sim =
        earlier ??
        (await runSimulation({
          config,
          runDir,
          log: (m, level) => log(`[${config.name}] ${m}`, level),
          ...(options.progress ? { progress: options.progress } : {}),
        }));
      if (!('noPlots' in group) && !isExtraRow(config)) {
        const plot = join(plotDir, `${config.name}.svg`);
        await copyFile(sim.files!.plot, plot);
        plots.push(relative(join(output, '..'), plot));
      }
      sims.push(sim);
    }
    group.minutes = (Date.now() - groupStarted) / 60_000;
  }

  const minutes = (Date.now() - started) / 60_000;
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const sections = [
    '# Results',
    '',
    'Generated by `npm run results` from the configs in `configs/results/` (hinton.yaml and one ' +
      'simulation per `federated-*.yaml`, `fashion-mnist-*.yaml` and `families-*.yaml`); do not edit by hand. Every number below comes from that run of the ' +
      `code as committed: ${availableParallelism()} cores (${cpu}), tfjs ${backend.name} backend, ` +
      `${minutes.toFixed(1)} minutes in all. Run directories with per-round metrics (metrics.jsonl) go to \`${runsDir}/\`.`,
    '',
    'Sizes are kept moderate so that the whole report regenerates in well under half an hour on 2 cores: ' +
      '~8,000 training digits instead of 60,000, an MLP student of 128 hidden units and 20 rounds of 1 local ' +
      'epoch in the federated grid, one seed. Wall times depend on what else the machine is running. ' +
      'Differences of a fraction of a percent between strategies are within seed noise at this size.',
    '',
  ];
  if (hinton) sections.push(hintonSection(hinton), '');
  const [mnist, fashion, families] = groups as [
    (typeof groups)[0],
    (typeof groups)[0],
    (typeof groups)[0],
  ];
  if (mnist.sims.length > 0)
    sections.push(
      federatedSection(mnist.sims, mnist.plots, '## 2. Federated: Dirichlet label skew × strategy'),
    );
  const fashionTeacher = fashion.sims[0]?.config.teacher.spec;
  const fashionTeacherName =
    typeof fashionTeacher === 'object' ? (fashionTeacher.name ?? '') : (fashionTeacher ?? '');
  const fashionSection =
    fashion.sims.length > 0
      ? federatedSection(
          mergeExtraRows(fashion.sims),
          fashion.plots,
          FASHION_HEADING,
          'Fashion-MNIST (Zalando, 28×28 grey images of 10 kinds of clothing; Debian package ' +
            '`dataset-fashion-mnist`): a seeded subsample of its 60,000 training images for the teacher, the proxy set ' +
            'and the clients, and test images drawn from its separate 10,000-image test split. ' +
            `The teacher is ${teacherOf(fashion.sims[0]!.config)}` +
            (/^teacher-cnn-/.test(fashionTeacherName)
              ? ": the project's default CNN teacher for images (`defaultTeacherSpec` in server/defaultTeacher.ts, `--teacher-spec cnn` on the command line). "
              : '. ') +
            extraRowsNote(fashion.sims) +
            `This section took ${fashion.minutes.toFixed(1)} minutes` +
            (fashion.reused > 0
              ? ` for the simulations it ran; ${fashion.reused} of its ${fashion.sims.length} simulations are the saved results ` +
                'of earlier runs of exactly the same configs (`--reuse`), whose wall times are in their tables'
              : '') +
            (only === 'fashion-mnist'
              ? '; regenerated on its own with `npm run results -- --only fashion-mnist`.'
              : '.'),
        )
      : undefined;
  const familiesText =
    families.sims.length > 0
      ? familiesSection(families.sims, families.minutes, only === 'families')
      : undefined;
  let body: string;
  if (only) {
    const [heading, text] =
      only === 'fashion-mnist'
        ? [FASHION_HEADING, fashionSection]
        : [FAMILIES_HEADING, familiesText];
    if (!text) throw new Error(`no ${only}-*.yaml in ${configsDir}`);
    let previous: string;
    try {
      previous = await readFile(output, 'utf8');
    } catch {
      throw new Error(`--only ${only} keeps the other parts of ${output}, which does not exist`);
    }
    body = replacePart(previous, heading, text);
  } else {
    if (fashionSection) sections.push(fashionSection, '');
    if (familiesText) sections.push(familiesText);
    body = sections.join('\n');
  }
  const markdown = await formatMarkdown(`${body.trimEnd()}\n`, output);
  await writeFile(output, markdown);
  const plotCount = groups.reduce((n, g) => n + g.plots.length, 0);
  log(`wrote ${output} and ${plotCount} plots in ${minutes.toFixed(1)} minutes`);
  return markdown;
}
