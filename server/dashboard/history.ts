/**
 * Run history for the dashboard's overlays: every run the coordinator's
 * SQLite file holds (read through a separate read-only connection, so the
 * round loop's writes are never blocked) and the runs of `fedistill simulate`
 * result folders (their `result.json`), reduced to one common shape: a series
 * of per-round metrics with a label saying which run and strategy it is.
 *
 * Files and rows are validated on read: a damaged or foreign result folder is
 * skipped and named in `problems`, never a reason to fail the route.
 */
import Database from 'better-sqlite3';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { z } from 'zod';
import { roundFromRow } from '../store.js';

/** One round of a history series (a coordinator run, or one strategy × seed of a simulation). */
export interface HistoryRound {
  round: number;
  status: string;
  studentAccuracy: number | null;
  studentLoss: number | null;
  agreement: number | null;
  teacherAccuracy: number | null;
  bytesDownPerClient: number;
  bytesUpPerClient: number;
  durationMs: number;
  meanClientLoss: number | null;
}

/** A run as the history list shows it, without its rounds. */
export interface HistoryEntry {
  /** `run:<runId>` for a coordinator run, `sim:<folder>:<strategy>:<seed>` for a simulation run. */
  key: string;
  source: 'coordinator' | 'simulation';
  label: string;
  strategy: string | null;
  status: string;
  startedAt: number | null;
  rounds: number;
  finalAccuracy: number | null;
}

export interface HistoryList {
  entries: HistoryEntry[];
  /** Result folders or files that could not be read, and why. */
  problems: string[];
}

const nullableNumber = z.number().nullable().default(null);
const simRoundSchema = z.object({
  round: z.number().int(),
  status: z.string(),
  studentAccuracy: nullableNumber,
  studentLoss: nullableNumber,
  agreement: nullableNumber,
  teacherAccuracy: nullableNumber,
  bytesDownPerClient: z.number().default(0),
  bytesUpPerClient: z.number().default(0),
  durationMs: z.number().default(0),
  meanClientLoss: nullableNumber,
});
const simResultSchema = z.object({
  config: z.object({ name: z.string().optional() }).loose().optional(),
  runs: z.array(
    z.object({
      strategy: z.string(),
      seed: z.number(),
      status: z.string(),
      rounds: z.array(simRoundSchema),
    }),
  ),
});

type SimResult = z.infer<typeof simResultSchema>;

function finalAccuracy(rounds: HistoryRound[]): number | null {
  return (
    rounds.filter((r) => r.status === 'aggregated' && r.studentAccuracy !== null).at(-1)
      ?.studentAccuracy ?? null
  );
}

export interface RunHistoryOptions {
  /** The coordinator's SQLite file; ':memory:' (tests) lists no coordinator runs. */
  databasePath: string;
  /**
   * Folders that hold `fedistill simulate` run directories (each with a result.json), or are
   * one. Missing folders are skipped.
   */
  simulationDirs: readonly string[];
}

export class RunHistory {
  private db: Database.Database | undefined;

  constructor(private readonly options: RunHistoryOptions) {}

  private database(): Database.Database | undefined {
    if (this.options.databasePath === ':memory:' || !existsSync(this.options.databasePath))
      return undefined;
    this.db ??= new Database(this.options.databasePath, { readonly: true, fileMustExist: true });
    return this.db;
  }

  /** Every coordinator run and simulation run found, newest coordinator runs first. */
  list(): HistoryList {
    const problems: string[] = [];
    const entries: HistoryEntry[] = [];
    const db = this.database();
    if (db) {
      const runs = db
        .prepare(
          `SELECT r.id, r.started_at, r.status, r.config_json,
             (SELECT COUNT(*) FROM rounds WHERE run_id = r.id AND status = 'aggregated') AS rounds,
             (SELECT student_accuracy FROM rounds WHERE run_id = r.id AND status = 'aggregated'
               ORDER BY round DESC LIMIT 1) AS final_accuracy
           FROM runs r ORDER BY r.started_at DESC, r.rowid DESC`,
        )
        .all() as {
        id: string;
        started_at: number;
        status: string;
        config_json: string;
        rounds: number;
        final_accuracy: number | null;
      }[];
      for (const run of runs) {
        let strategy: string | null = null;
        try {
          const config = JSON.parse(run.config_json) as { strategy?: unknown };
          strategy = typeof config.strategy === 'string' ? config.strategy : null;
        } catch {
          problems.push(`run ${run.id}: its config is not JSON`);
        }
        entries.push({
          key: `run:${run.id}`,
          source: 'coordinator',
          label: `${run.id.slice(0, 8)} · ${strategy ?? '?'} · ${new Date(run.started_at).toISOString().slice(0, 16).replace('T', ' ')}`,
          strategy,
          status: run.status,
          startedAt: run.started_at,
          rounds: run.rounds,
          finalAccuracy: run.final_accuracy,
        });
      }
    }
    for (const [folder, result] of this.simulations(problems)) {
      for (const run of result.runs) {
        const rounds = run.rounds as HistoryRound[];
        entries.push({
          key: `sim:${folder}:${run.strategy}:${run.seed}`,
          source: 'simulation',
          label: `${basename(folder)} · ${run.strategy} · seed ${run.seed}`,
          strategy: run.strategy,
          status: run.status,
          startedAt: null,
          rounds: rounds.filter((r) => r.status === 'aggregated').length,
          finalAccuracy: finalAccuracy(rounds),
        });
      }
    }
    return { entries, problems };
  }

  /** The rounds of one history entry, or undefined when no entry has that key. */
  rounds(key: string): HistoryRound[] | undefined {
    if (key.startsWith('run:')) {
      const db = this.database();
      if (!db) return undefined;
      const id = key.slice('run:'.length);
      if (!db.prepare('SELECT 1 FROM runs WHERE id = ?').get(id)) return undefined;
      return (
        db.prepare('SELECT * FROM rounds WHERE run_id = ? ORDER BY round').all(id) as Record<
          string,
          unknown
        >[]
      ).map(roundFromRow);
    }
    const match = /^sim:(.+):([^:]+):(-?\d+(?:\.\d+)?)$/.exec(key);
    if (!match) return undefined;
    const [, folder, strategy, seed] = match;
    for (const [found, result] of this.simulations([])) {
      if (found !== folder) continue;
      const run = result.runs.find((r) => r.strategy === strategy && r.seed === Number(seed));
      return run ? (run.rounds as HistoryRound[]) : undefined;
    }
    return undefined;
  }

  /** The readable result folders under the configured simulation dirs, by folder path. */
  private simulations(problems: string[]): [string, SimResult][] {
    const found: [string, SimResult][] = [];
    const folders: string[] = [];
    for (const dir of this.options.simulationDirs) {
      if (!existsSync(dir) || !statSync(dir).isDirectory()) continue;
      if (existsSync(join(dir, 'result.json'))) folders.push(dir);
      else
        for (const name of readdirSync(dir).sort().reverse()) {
          const folder = join(dir, name);
          if (existsSync(join(folder, 'result.json'))) folders.push(folder);
        }
    }
    for (const folder of folders) {
      try {
        const parsed = simResultSchema.safeParse(
          JSON.parse(readFileSync(join(folder, 'result.json'), 'utf8')),
        );
        if (parsed.success) found.push([folder, parsed.data]);
        else
          problems.push(
            `${folder}/result.json: not a simulate result (${parsed.error.issues[0]?.message})`,
          );
      } catch (error) {
        problems.push(`${folder}/result.json: ${(error as Error).message}`);
      }
    }
    return found;
  }

  close(): void {
    this.db?.close();
    this.db = undefined;
  }
}
