/**
 * The coordinator's record of everything that happened: runs, rounds, clients
 * and every update accepted or refused (those of connections that never joined
 * as counts per reason). SQLite in WAL mode, so a crash loses
 * at most the statement in flight and a reader never blocks the round loop.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export interface RoundRecord {
  runId: string;
  round: number;
  status: 'aggregated' | 'failed';
  startedAt: number;
  endedAt: number;
  modelVersion: number;
  sampled: number;
  participants: number;
  rejected: number;
  studentAccuracy: number | null;
  studentLoss: number | null;
  teacherAccuracy: number | null;
  agreement: number | null;
  bytesDownPerClient: number;
  bytesUpPerClient: number;
  durationMs: number;
  meanClientLoss: number | null;
  /** ε of (ε, δ)-DP spent so far, when client-side privacy is on. */
  privacyEpsilon: number | null;
  /** Why a round that had its quorum still failed (its result refused by the model guard). */
  note?: string | null;
  /** Asynchronous rounds (fedbuff): mean and largest staleness τ of the aggregated updates. */
  meanStaleness?: number | null;
  maxStaleness?: number | null;
}

export interface RunRecord {
  id: string;
  startedAt: number;
  status: 'running' | 'completed' | 'stopped';
  config: unknown;
  teacherHash: string;
  summary: unknown;
}

export interface ClientRecord {
  id: string;
  runId: string;
  name: string | null;
  platform: string;
  backend: string;
  numSamples: number;
  firstSeen: number;
  lastSeen: number;
  roundsTaken: number;
  bytesDown: number;
  bytesUp: number;
}

/** Refused updates from connections that never joined, one counter per reason (server/refusalTally.ts). */
export interface UnjoinedRefusalCount {
  code: string;
  count: number;
  bytes: number;
}

export interface UpdateRecord {
  runId: string;
  round: number;
  clientId: string;
  status: 'accepted' | 'rejected';
  reason: string | null;
  numSamples: number | null;
  bytes: number;
  receivedAt: number;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS runs (
  id TEXT PRIMARY KEY,
  started_at INTEGER NOT NULL,
  status TEXT NOT NULL,
  config_json TEXT NOT NULL,
  teacher_hash TEXT NOT NULL,
  summary_json TEXT
);
CREATE TABLE IF NOT EXISTS rounds (
  run_id TEXT NOT NULL REFERENCES runs(id),
  round INTEGER NOT NULL,
  status TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  ended_at INTEGER NOT NULL,
  model_version INTEGER NOT NULL,
  sampled INTEGER NOT NULL,
  participants INTEGER NOT NULL,
  rejected INTEGER NOT NULL,
  student_accuracy REAL,
  student_loss REAL,
  teacher_accuracy REAL,
  agreement REAL,
  bytes_down_per_client REAL NOT NULL,
  bytes_up_per_client REAL NOT NULL,
  duration_ms INTEGER NOT NULL,
  mean_client_loss REAL,
  PRIMARY KEY (run_id, round)
);
CREATE TABLE IF NOT EXISTS clients (
  id TEXT NOT NULL,
  run_id TEXT NOT NULL REFERENCES runs(id),
  name TEXT,
  platform TEXT NOT NULL,
  backend TEXT NOT NULL,
  num_samples INTEGER NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  rounds_taken INTEGER NOT NULL DEFAULT 0,
  bytes_down INTEGER NOT NULL DEFAULT 0,
  bytes_up INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (run_id, id)
);
CREATE TABLE IF NOT EXISTS updates (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL,
  round INTEGER NOT NULL,
  client_id TEXT NOT NULL,
  status TEXT NOT NULL,
  reason TEXT,
  num_samples INTEGER,
  bytes INTEGER NOT NULL,
  received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS updates_by_round ON updates (run_id, round);
CREATE TABLE IF NOT EXISTS unjoined_refusals (
  run_id TEXT NOT NULL,
  code TEXT NOT NULL,
  count INTEGER NOT NULL,
  bytes INTEGER NOT NULL,
  last_at INTEGER NOT NULL,
  PRIMARY KEY (run_id, code)
);
`;

type Row = Record<string, unknown>;

/** A `rounds` row as a RoundRecord (the dashboard's run history reads the same rows). */
export function roundFromRow(row: Row): RoundRecord {
  return {
    runId: row.run_id as string,
    round: row.round as number,
    status: row.status as RoundRecord['status'],
    startedAt: row.started_at as number,
    endedAt: row.ended_at as number,
    modelVersion: row.model_version as number,
    sampled: row.sampled as number,
    participants: row.participants as number,
    rejected: row.rejected as number,
    studentAccuracy: row.student_accuracy as number | null,
    studentLoss: row.student_loss as number | null,
    teacherAccuracy: row.teacher_accuracy as number | null,
    agreement: row.agreement as number | null,
    bytesDownPerClient: row.bytes_down_per_client as number,
    bytesUpPerClient: row.bytes_up_per_client as number,
    durationMs: row.duration_ms as number,
    meanClientLoss: row.mean_client_loss as number | null,
    privacyEpsilon: row.privacy_epsilon as number | null,
    ...(typeof row.note === 'string' ? { note: row.note } : {}),
    ...(typeof row.mean_staleness === 'number' ? { meanStaleness: row.mean_staleness } : {}),
    ...(typeof row.max_staleness === 'number' ? { maxStaleness: row.max_staleness } : {}),
  };
}

export class RunStore {
  private readonly db: Database.Database;

  constructor(readonly path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    this.migrate();
  }

  /**
   * Brings a data directory written by an older fedistill up to this schema.
   * `user_version` counts the migrations applied; each runs once, in order.
   */
  private migrate(): void {
    const migrations: ((db: Database.Database) => void)[] = [
      (db) => {
        const columns = db.prepare('PRAGMA table_info(clients)').all() as { name: string }[];
        if (!columns.some((c) => c.name === 'name'))
          db.exec('ALTER TABLE clients ADD COLUMN name TEXT');
      },
      (db) => db.exec('ALTER TABLE rounds ADD COLUMN privacy_epsilon REAL'),
      (db) => db.exec('ALTER TABLE clients ADD COLUMN rejoin_secret_hash BLOB'),
      (db) => {
        const columns = db.prepare('PRAGMA table_info(rounds)').all() as { name: string }[];
        if (!columns.some((c) => c.name === 'note'))
          db.exec('ALTER TABLE rounds ADD COLUMN note TEXT');
      },
      (db) => {
        const columns = db.prepare('PRAGMA table_info(rounds)').all() as { name: string }[];
        if (!columns.some((c) => c.name === 'mean_staleness'))
          db.exec('ALTER TABLE rounds ADD COLUMN mean_staleness REAL');
        if (!columns.some((c) => c.name === 'max_staleness'))
          db.exec('ALTER TABLE rounds ADD COLUMN max_staleness INTEGER');
      },
    ];
    const applied = this.db.pragma('user_version', { simple: true }) as number;
    for (let version = applied; version < migrations.length; version++) {
      this.db.transaction(() => {
        migrations[version]!(this.db);
        this.db.pragma(`user_version = ${version + 1}`);
      })();
    }
  }

  createRun(run: Omit<RunRecord, 'summary' | 'status'>): void {
    this.db
      .prepare(
        'INSERT INTO runs (id, started_at, status, config_json, teacher_hash) VALUES (?, ?, ?, ?, ?)',
      )
      .run(run.id, run.startedAt, 'running', JSON.stringify(run.config), run.teacherHash);
  }

  finishRun(id: string, status: 'completed' | 'stopped', summary: unknown): void {
    this.db
      .prepare('UPDATE runs SET status = ?, summary_json = ? WHERE id = ?')
      .run(status, JSON.stringify(summary), id);
  }

  /** The most recently started run, if any. */
  latestRun(): RunRecord | undefined {
    const row = this.db
      .prepare('SELECT id FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1')
      .get() as { id: string } | undefined;
    return row ? this.getRun(row.id) : undefined;
  }

  /** Marks an interrupted run as running again. */
  reopenRun(id: string): void {
    this.db.prepare("UPDATE runs SET status = 'running' WHERE id = ?").run(id);
  }

  getRun(id: string): RunRecord | undefined {
    const row = this.db.prepare('SELECT * FROM runs WHERE id = ?').get(id) as Row | undefined;
    if (!row) return undefined;
    return {
      id: row.id as string,
      startedAt: row.started_at as number,
      status: row.status as RunRecord['status'],
      config: JSON.parse(row.config_json as string),
      teacherHash: row.teacher_hash as string,
      summary: row.summary_json ? JSON.parse(row.summary_json as string) : null,
    };
  }

  /** Records a closed round together with its clients' byte counters, in one transaction. */
  recordRound(record: RoundRecord): void {
    this.db
      .prepare(
        `INSERT OR REPLACE INTO rounds (run_id, round, status, started_at, ended_at, model_version, sampled,
          participants, rejected, student_accuracy, student_loss, teacher_accuracy, agreement,
          bytes_down_per_client, bytes_up_per_client, duration_ms, mean_client_loss, privacy_epsilon, note,
          mean_staleness, max_staleness)
         VALUES (@runId, @round, @status, @startedAt, @endedAt, @modelVersion, @sampled, @participants,
          @rejected, @studentAccuracy, @studentLoss, @teacherAccuracy, @agreement, @bytesDownPerClient,
          @bytesUpPerClient, @durationMs, @meanClientLoss, @privacyEpsilon, @note, @meanStaleness,
          @maxStaleness)`,
      )
      .run({
        ...record,
        note: record.note ?? null,
        meanStaleness: record.meanStaleness ?? null,
        maxStaleness: record.maxStaleness ?? null,
      });
  }

  rounds(runId: string): RoundRecord[] {
    return (
      this.db.prepare('SELECT * FROM rounds WHERE run_id = ? ORDER BY round').all(runId) as Row[]
    ).map(roundFromRow);
  }

  upsertClient(client: Omit<ClientRecord, 'roundsTaken' | 'bytesDown' | 'bytesUp'>): void {
    this.db
      .prepare(
        `INSERT INTO clients (id, run_id, name, platform, backend, num_samples, first_seen, last_seen)
         VALUES (@id, @runId, @name, @platform, @backend, @numSamples, @firstSeen, @lastSeen)
         ON CONFLICT (run_id, id) DO UPDATE SET name = excluded.name, platform = excluded.platform, backend = excluded.backend,
           num_samples = excluded.num_samples, last_seen = excluded.last_seen`,
      )
      .run(client);
  }

  addClientTraffic(
    runId: string,
    clientId: string,
    bytesDown: number,
    bytesUp: number,
    tookPart: boolean,
  ): void {
    this.db
      .prepare(
        `UPDATE clients SET bytes_down = bytes_down + ?, bytes_up = bytes_up + ?,
           rounds_taken = rounds_taken + ?, last_seen = ? WHERE run_id = ? AND id = ?`,
      )
      .run(bytesDown, bytesUp, tookPart ? 1 : 0, Date.now(), runId, clientId);
  }

  /**
   * The same download of `bytesDown` for each of `clientIds` (a round's start: every sampled
   * client is sent the round), in one transaction with one statement: one commit instead of one
   * per client (measured on 200 clients: ~0.4 ms against 8–28 ms). Unknown ids change nothing.
   */
  addDownloadTraffic(runId: string, clientIds: Iterable<string>, bytesDown: number): void {
    const add = this.db.prepare(
      'UPDATE clients SET bytes_down = bytes_down + ?, last_seen = ? WHERE run_id = ? AND id = ?',
    );
    this.db.transaction(() => {
      const at = Date.now();
      for (const id of clientIds) add.run(bytesDown, at, runId, id);
    })();
  }

  clients(runId: string): ClientRecord[] {
    return (
      this.db
        .prepare('SELECT * FROM clients WHERE run_id = ? ORDER BY first_seen')
        .all(runId) as Row[]
    ).map((row) => ({
      id: row.id as string,
      runId: row.run_id as string,
      name: row.name as string | null,
      platform: row.platform as string,
      backend: row.backend as string,
      numSamples: row.num_samples as number,
      firstSeen: row.first_seen as number,
      lastSeen: row.last_seen as number,
      roundsTaken: row.rounds_taken as number,
      bytesDown: row.bytes_down as number,
      bytesUp: row.bytes_up as number,
    }));
  }

  /**
   * SHA-256 of the client's rejoin secret (server/rejoinSecrets.ts): undefined when the run has
   * no such client, null when it was recorded without one. Never part of `clients()`, which the
   * JSON API serves.
   */
  rejoinSecretHash(runId: string, clientId: string): Buffer | null | undefined {
    const row = this.db
      .prepare('SELECT rejoin_secret_hash FROM clients WHERE run_id = ? AND id = ?')
      .get(runId, clientId) as { rejoin_secret_hash: Buffer | null } | undefined;
    return row ? row.rejoin_secret_hash : undefined;
  }

  setRejoinSecretHash(runId: string, clientId: string, hash: Uint8Array): void {
    this.db
      .prepare('UPDATE clients SET rejoin_secret_hash = ? WHERE run_id = ? AND id = ?')
      .run(hash, runId, clientId);
  }

  recordUpdate(update: UpdateRecord): void {
    this.db
      .prepare(
        `INSERT INTO updates (run_id, round, client_id, status, reason, num_samples, bytes, received_at)
         VALUES (@runId, @round, @clientId, @status, @reason, @numSamples, @bytes, @receivedAt)`,
      )
      .run(update);
  }

  addUnjoinedRefusals(runId: string, counts: UnjoinedRefusalCount[], at: number): void {
    const add = this.db.prepare(
      `INSERT INTO unjoined_refusals (run_id, code, count, bytes, last_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (run_id, code) DO UPDATE SET count = count + excluded.count,
         bytes = bytes + excluded.bytes, last_at = excluded.last_at`,
    );
    this.db.transaction(() => {
      for (const { code, count, bytes } of counts) add.run(runId, code, count, bytes, at);
    })();
  }

  unjoinedRefusals(runId: string): (UnjoinedRefusalCount & { lastAt: number })[] {
    return (
      this.db
        .prepare('SELECT * FROM unjoined_refusals WHERE run_id = ? ORDER BY code')
        .all(runId) as Row[]
    ).map((row) => ({
      code: row.code as string,
      count: row.count as number,
      bytes: row.bytes as number,
      lastAt: row.last_at as number,
    }));
  }

  updates(runId: string, round?: number): UpdateRecord[] {
    const rows = (
      round === undefined
        ? this.db.prepare('SELECT * FROM updates WHERE run_id = ? ORDER BY id').all(runId)
        : this.db
            .prepare('SELECT * FROM updates WHERE run_id = ? AND round = ? ORDER BY id')
            .all(runId, round)
    ) as Row[];
    return rows.map((row) => ({
      runId: row.run_id as string,
      round: row.round as number,
      clientId: row.client_id as string,
      status: row.status as UpdateRecord['status'],
      reason: row.reason as string | null,
      numSamples: row.num_samples as number | null,
      bytes: row.bytes as number,
      receivedAt: row.received_at as number,
    }));
  }

  close(): void {
    this.db.close();
  }
}
