/**
 * Scale over edges (docs/scaling.md): 10,000 concurrent socket.io connections
 * spread over 4 `fedistill edge` processes (2,500 each) on this machine, with
 * a redis-server on a loopback port and the master (this process's
 * coordinator with `edges`), against one coordinator measured in the same run.
 *
 * 1. One coordinator: 1,000 simulated clients (bench/lib/simClients.ts) join;
 *    its memory after minus before, over connections; one round in which all
 *    1,000 send an int8 update: its aggregation time (the strategy's
 *    `aggregate` plus the FedAvgAccumulator folding done as updates arrive)
 *    and the bytes it took in (the update frames it recorded, and every byte
 *    its TCP sockets read during the round).
 * 2. Edges: redis-server, the master, 4 edge processes, one driver process
 *    per edge opening 2,500 connections that join as clients; the edges'
 *    memory after minus before, over connections; one round in
 *    which 1,000 of the 10,000 are sampled and send the same update: the
 *    master's `aggregate` (close the edges' rounds, wait for their partials,
 *    check and merge them, apply the mean) and the bytes of every stream entry
 *    it read while the round was open (partials, claims, heartbeats, joins).
 *
 * Memory is read after a full GC on both sides (in an edge, by
 * bench/lib/gcOnSignal.ts on SIGUSR2), so garbage left from start-up does not
 * absorb what the connections allocate. Quick mode runs the same with a few
 * dozen connections over 2 edges.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { selectNodeBackend } from '../../node/backend.js';
import type { CoordinatorEvent } from '../../server/coordinator.js';
import { EdgeAggregatedStrategy } from '../../server/edges/edgeAggregation.js';
import { MasterEdges } from '../../server/edges/masterEdges.js';
import type { ReadEntry } from '../../server/edges/redisControlPlane.js';
import type { RunningCoordinator } from '../../server/startCoordinator.js';
import { startCoordinator } from '../../server/startCoordinator.js';
import type { RoundRecord } from '../../server/store.js';
import { WeightAveragingStrategy } from '../../server/strategies/index.js';
import type { StrategyRound } from '../../server/strategies/index.js';
import { FedAvgAccumulator } from '../../shared/aggregation/index.js';
import { mlpSpec } from '../../shared/models/index.js';
import { startRedis } from '../../test/support/redis.js';
import type { BenchRow } from '../lib/common.js';
import { MB, QUICK, fmt, log, memoryAfterGc, now, ratio, runSection, size } from '../lib/common.js';
import { checkFileLimit } from '../lib/fileLimit.js';
import type { SimClientDrivers } from '../lib/simFederation.js';
import {
  SCALE_CLASSES,
  SCALE_FEATURES,
  scaleData,
  scaleTeacher,
  startSimClients,
  stopProcess,
  waitFor,
} from '../lib/simFederation.js';

const EDGES = size(4, 2);
/** Connections over all edges, spread evenly. */
const EDGE_CONNECTIONS = size(10_000, 40);
/** Clients sampled in the edges' round, and the single coordinator's connections (all sampled). */
const UPDATES = size(1000, 8);
/** Driver processes per edge, and for the single coordinator. */
const DRIVERS_PER_EDGE = 1;
const SINGLE_DRIVERS = size(2, 1);
const TIMEOUT_MS = size(300_000, 60_000);
/** Wait after the last join before reading RSS, so the join's transient work is over. */
const SETTLE_MS = size(3000, 500);
/** File descriptors a process holds besides its sockets (modules, pipes, Redis, SQLite). */
const FD_MARGIN = 256;
const CLI_MAIN = fileURLToPath(new URL('../../cli/main.ts', import.meta.url));

/** The round's aggregate step of each strategy class, timed (ms), as the coordinator awaits it. */
const aggregateMs = { edges: [] as number[], direct: [] as number[] };
/** Time inside FedAvgAccumulator (folding each update as it arrives, taking the mean). */
const foldingMs: number[] = [];

function timeAggregate(
  proto: { beginRound(this: unknown, ...args: never[]): StrategyRound },
  into: number[],
): void {
  const original = proto.beginRound;
  proto.beginRound = function (this: unknown, ...args: never[]): StrategyRound {
    const round = original.apply(this, args);
    const aggregate = round.aggregate.bind(round);
    round.aggregate = async (options) => {
      const started = now();
      try {
        return await aggregate(options);
      } finally {
        into.push(now() - started);
      }
    };
    return round;
  };
}

/** Entries and bytes the master read from the edges' up-stream while the round was open, by kind. */
const inbound = new Map<string, { entries: number; bytes: number }>();
let tallyingInbound = false;

const KIND_NAMES: Record<string, string> = {
  update: 'claims',
  hello: 'heartbeats',
  partial: 'partials',
  join: 'joins',
  abstain: 'abstentions',
  connect: 'connects',
  gone: 'disconnects',
};

/**
 * Counts every up-stream entry the master reads, by kind, to show what its
 * inbound bytes are made of. `onEntry` is private to MasterEdges: reached
 * through the prototype so the bench changes nothing in server/edges.
 */
function tallyInbound(): void {
  const proto = MasterEdges.prototype as unknown as { onEntry(entry: ReadEntry): void };
  const original = proto.onEntry;
  proto.onEntry = function (this: unknown, entry: ReadEntry): void {
    if (tallyingInbound) {
      const body = entry.message as { t?: unknown; event?: unknown } | undefined;
      const kind =
        entry.refused !== undefined
          ? 'refused'
          : String(body?.t === 'event' ? body.event : body?.t);
      const tally = inbound.get(kind) ?? { entries: 0, bytes: 0 };
      tally.entries += 1;
      tally.bytes += entry.bytes;
      inbound.set(kind, tally);
    }
    original.call(this, entry);
  };
}

function describeInbound(): string {
  return [...inbound.entries()]
    .sort((a, b) => b[1].bytes - a[1].bytes)
    .map(
      ([kind, { entries, bytes }]) =>
        `${KIND_NAMES[kind] ?? kind} ${fmt(entries)} × ${fmt(bytes / entries)} B = ${kb(bytes)}`,
    )
    .join(', ');
}

function timeCalls<T extends object>(proto: T, name: keyof T & string, into: number[]): void {
  const original = proto[name] as unknown as (...args: unknown[]) => unknown;
  (proto as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
    const started = now();
    try {
      return original.apply(this, args);
    } finally {
      into.push(now() - started);
    }
  };
}

function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function kib(bytes: number): string {
  return `${fmt(bytes / 1024, 1)} KiB`;
}

function kb(bytes: number): string {
  return bytes >= 1e6 ? `${fmt(bytes / 1e6, 2)} MB` : `${fmt(bytes / 1e3, 1)} KB`;
}

/**
 * The second of two reads (each of several GCs): on an idle edge the first
 * read's GCs shrank V8's young generation and RSS fell 24 MB after it, so the
 * first read only lets those pages go. (Native memory may still be given back
 * later, in steps of tens of MB: RSS stays the noisier figure.)
 */
async function settledMemory<T>(read: () => Promise<T>): Promise<T> {
  await read();
  return read();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function coordinatorConfig(dataDir: string, connections: number) {
  return {
    port: 0,
    host: '127.0.0.1',
    dataDir,
    rounds: 1,
    strategy: 'fedavg',
    minClients: UPDATES,
    fraction: UPDATES / connections,
    waitForClientsMs: 0,
    roundTimeoutMs: TIMEOUT_MS,
    quorum: 1,
  };
}

function connectedTo(running: RunningCoordinator): number {
  return running.coordinator.status().connectedClients as number;
}

/** Every TCP socket a coordinator's HTTP server accepts, so their bytes read can be summed. */
function trackSockets(running: RunningCoordinator): () => number {
  const sockets = new Set<Socket>();
  running.io.httpServer.on('connection', (socket: Socket) => sockets.add(socket));
  return () => {
    let bytes = 0;
    for (const socket of sockets) bytes += socket.bytesRead;
    return bytes;
  };
}

interface Joined {
  connections: number;
  joinMs: number;
  /** Memory after the joins − before, over connections (after a full GC). */
  perConnection: Memory;
}

interface RoundMeasured {
  record: RoundRecord;
  aggregateMs: number;
  /** Updates the simulated clients saw acked. */
  answered: number;
  studentParams: number;
}

interface SingleResult extends Joined, RoundMeasured {
  foldingMs: number;
  updateFrameBytes: number;
  tcpBytesIn: number;
}

/** Phase 1: one coordinator, UPDATES connections, all sampled. */
async function singleCoordinator(): Promise<SingleResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-bench-edges-single-'));
  const teacher = scaleTeacher();
  let tcpAtStart = 0;
  let tcpAtEnd = 0;
  let readTcp = (): number => 0;
  const running = await startCoordinator({
    config: coordinatorConfig(dataDir, UPDATES),
    teacher,
    studentSpec: mlpSpec(SCALE_FEATURES, [16], SCALE_CLASSES),
    data: scaleData(),
    onEvent: (event: CoordinatorEvent) => {
      if (event.type === 'round:started') tcpAtStart = readTcp();
      if (event.type === 'round:closed') tcpAtEnd = readTcp();
    },
  });
  readTcp = trackSockets(running);
  let drivers: SimClientDrivers | undefined;
  try {
    await sleep(SETTLE_MS);
    const before = await settledMemory(memoryAfterGc);
    const started = now();
    drivers = startSimClients(
      [{ url: running.url, connections: UPDATES, processes: SINGLE_DRIVERS }],
      TIMEOUT_MS,
      'single',
    );
    await waitFor(
      () => connectedTo(running) >= UPDATES,
      TIMEOUT_MS,
      `${UPDATES} clients joined to one coordinator`,
      drivers.problem,
    );
    const joinMs = now() - started;
    await sleep(SETTLE_MS);
    const after = await settledMemory(memoryAfterGc);
    const perConnection = {
      rss: (after.rss - before.rss) / UPDATES,
      heap: (after.heapAndBuffers - before.heapAndBuffers) / UPDATES,
    };
    log(
      `scaleEdges: one coordinator: ${UPDATES} joined in ${fmt(joinMs)} ms, ${kib(perConnection.rss)} RSS, ${kib(perConnection.heap)} heap + ArrayBuffers per connection`,
    );
    aggregateMs.direct.length = 0;
    foldingMs.length = 0;
    const result = await running.coordinator.run();
    const record = result.rounds[0];
    if (!record) throw new Error('the single coordinator never closed its round');
    const updateFrameBytes = sum(
      running.store
        .updates(result.runId, record.round)
        .filter((u) => u.status === 'accepted')
        .map((u) => u.bytes),
    );
    return {
      connections: UPDATES,
      joinMs,
      perConnection,
      record,
      aggregateMs: sum(aggregateMs.direct),
      foldingMs: sum(foldingMs),
      answered: drivers.answered(),
      studentParams: running.coordinator.studentParams,
      updateFrameBytes,
      tcpBytesIn: tcpAtEnd - tcpAtStart,
    };
  } finally {
    await drivers?.stop();
    await running.close();
    teacher.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

interface EdgeProcess {
  id: string;
  child: ChildProcess;
  url: Promise<string>;
  output(): string;
  /** Asks the edge for a full GC and its memory afterwards (bench/lib/gcOnSignal.ts). */
  memory(): Promise<Memory>;
}

interface Memory {
  rss: number;
  heap: number;
}

/** The line bench/lib/gcOnSignal.ts prints after its GC. */
const MEMORY_LINE = /^bench-memory pid=\d+ rss=(\d+) heap=(\d+)$/;
const GC_ON_SIGNAL = new URL('../lib/gcOnSignal.ts', import.meta.url).href;

/** Starts one `fedistill edge` on a free loopback port; `url` resolves once it listens. */
function startEdge(redisUrl: string, cluster: string, id: string, secret: string): EdgeProcess {
  const child = spawn(
    process.execPath,
    [
      ...['--expose-gc', '--import', 'tsx', '--import', GC_ON_SIGNAL, CLI_MAIN, 'edge'],
      ...['--redis', redisUrl, '--edge-cluster', cluster, '--id', id, '--port', '0'],
    ],
    {
      // The secret through the environment, as a deployment passes it (out of `ps` listings).
      env: { ...process.env, FEDISTILL_EDGE_SECRET: secret },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  let listening: (url: string) => void = () => undefined;
  let measured: ((memory: Memory) => void) | undefined;
  const onLine = (line: string): void => {
    output = `${output}${line}\n`.slice(-20_000);
    const url = /^edge \S+ listening on (http:\/\/[^\s,]+)$/.exec(line);
    if (url) listening(url[1]!);
    const memory = MEMORY_LINE.exec(line);
    if (memory) measured?.({ rss: Number(memory[1]), heap: Number(memory[2]) });
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const url = new Promise<string>((resolve, reject) => {
    listening = resolve;
    child.once('exit', (code, signal) =>
      reject(new Error(`edge ${id} exited with ${signal ?? `code ${code}`}:\n${output}`)),
    );
  });
  // Rejections after it listened are reported by the liveness checks below.
  url.catch(() => undefined);
  return {
    id,
    child,
    url,
    output: () => output,
    memory: () =>
      new Promise<Memory>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`edge ${id} did not report its memory within 30 s`)),
          30_000,
        );
        measured = (memory) => {
          clearTimeout(timer);
          measured = undefined;
          resolve(memory);
        };
        child.kill('SIGUSR2');
      }),
  };
}

interface EdgesResult extends Joined, RoundMeasured {
  edgesBefore: Memory;
  edgesAfter: Memory;
  partials: number;
  partialBytes: number;
  controlBytes: number;
  clientFrameBytes: number;
}

/** Phase 2: redis-server, the master, EDGES edge processes, EDGE_CONNECTIONS clients over them. */
async function overEdges(): Promise<EdgesResult> {
  const dataDir = mkdtempSync(join(tmpdir(), 'fedistill-bench-edges-master-'));
  const redis = await startRedis();
  const secret = randomBytes(24).toString('hex');
  const cluster = `bench-${process.pid}`;
  const teacher = scaleTeacher();
  const edges: EdgeProcess[] = [];
  let drivers: SimClientDrivers | undefined;
  let running: RunningCoordinator | undefined;
  try {
    running = await startCoordinator({
      config: coordinatorConfig(dataDir, EDGE_CONNECTIONS),
      teacher,
      studentSpec: mlpSpec(SCALE_FEATURES, [16], SCALE_CLASSES),
      data: scaleData(),
      edges: { redis: redis.url, secret, cluster },
      onEvent: (event: CoordinatorEvent) => {
        if (event.type === 'round:started') tallyingInbound = true;
        if (event.type === 'round:closed') tallyingInbound = false;
      },
    });
    const master = running;
    const control = master.edges;
    if (!control) throw new Error('the master started without its edges');
    for (let i = 0; i < EDGES; i++) {
      const edge = startEdge(redis.url, cluster, `bench-edge-${i}`, secret);
      edges.push(edge);
    }
    const urls = await Promise.all(edges.map((edge) => edge.url));
    const edgeDied = (): string | undefined => {
      const dead = edges.find((edge) => edge.child.exitCode !== null);
      return dead && `edge ${dead.id} exited:\n${dead.output()}`;
    };
    await waitFor(
      () => control.liveEdges.length >= EDGES,
      TIMEOUT_MS,
      `${EDGES} edges heard by the master`,
      edgeDied,
    );
    await sleep(SETTLE_MS);
    const edgesMemory = async (): Promise<Memory> => {
      const each = await Promise.all(edges.map((edge) => settledMemory(edge.memory)));
      return { rss: sum(each.map((m) => m.rss)), heap: sum(each.map((m) => m.heap)) };
    };
    const edgesBefore = await edgesMemory();
    const started = now();
    drivers = startSimClients(
      urls.map((url, i) => ({
        url,
        connections: Math.floor(EDGE_CONNECTIONS / EDGES) + (i < EDGE_CONNECTIONS % EDGES ? 1 : 0),
        processes: DRIVERS_PER_EDGE,
      })),
      TIMEOUT_MS,
      'edge',
    );
    const driverProblem = drivers.problem;
    await waitFor(
      () => connectedTo(master) >= EDGE_CONNECTIONS,
      TIMEOUT_MS,
      `${EDGE_CONNECTIONS} clients joined through ${EDGES} edges`,
      () => driverProblem() ?? edgeDied(),
    );
    const joinMs = now() - started;
    await sleep(SETTLE_MS);
    const edgesAfter = await edgesMemory();
    const perConnection = {
      rss: (edgesAfter.rss - edgesBefore.rss) / EDGE_CONNECTIONS,
      heap: (edgesAfter.heap - edgesBefore.heap) / EDGE_CONNECTIONS,
    };
    log(
      `scaleEdges: ${EDGE_CONNECTIONS} joined through ${EDGES} edges in ${fmt(joinMs)} ms, ${kib(perConnection.rss)} RSS, ${kib(perConnection.heap)} heap + ArrayBuffers per connection at the edges`,
    );
    aggregateMs.edges.length = 0;
    const result = await master.coordinator.run();
    const record = result.rounds[0];
    if (!record) throw new Error('the master never closed its round');
    const traffic = control.roundTraffic().find((t) => t.roundId === record.round);
    if (!traffic) throw new Error(`the master recorded no edge traffic for round ${record.round}`);
    // The master records each granted claim with the size of the frame its client sent the edge.
    const clientFrameBytes = sum(
      master.store
        .updates(result.runId, record.round)
        .filter((u) => u.status === 'accepted')
        .map((u) => u.bytes),
    );
    return {
      connections: EDGE_CONNECTIONS,
      joinMs,
      perConnection,
      edgesBefore,
      edgesAfter,
      record,
      aggregateMs: sum(aggregateMs.edges),
      answered: drivers.answered(),
      studentParams: master.coordinator.studentParams,
      partials: traffic.partials,
      partialBytes: traffic.partialBytes,
      controlBytes: traffic.controlBytes,
      clientFrameBytes,
    };
  } finally {
    await drivers?.stop();
    await running?.close();
    await Promise.all(edges.map((edge) => stopProcess(edge.child)));
    await redis.stop();
    teacher.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<BenchRow[]> {
  // Each connection is a descriptor in its driver and another in its edge.
  const perEdge = Math.ceil(EDGE_CONNECTIONS / EDGES);
  const files = checkFileLimit(
    Math.max(perEdge, UPDATES) + FD_MARGIN,
    `${fmt(perEdge)} connections per edge and per driver process`,
    QUICK ? undefined : 'run with --quick',
  );
  log(`scaleEdges: open-file limit ${files.soft} per process (hard ${files.hard})`);
  const deadline = setTimeout(() => {
    log(`scaleEdges: still running after ${2 * TIMEOUT_MS} ms, giving up`);
    process.exit(1);
  }, 2 * TIMEOUT_MS);
  deadline.unref();
  await selectNodeBackend({ force: 'wasm' });
  timeAggregate(EdgeAggregatedStrategy.prototype, aggregateMs.edges);
  tallyInbound();
  timeAggregate(WeightAveragingStrategy.prototype, aggregateMs.direct);
  timeCalls(FedAvgAccumulator.prototype, 'add', foldingMs);
  timeCalls(FedAvgAccumulator.prototype, 'result', foldingMs);

  const loadAtStart = loadavg()[0] ?? 0;
  const single = await singleCoordinator();
  const edges = await overEdges();
  const loadAtEnd = loadavg()[0] ?? 0;
  const load = `load average ${fmt(loadAtStart, 2)} at the section's start, ${fmt(loadAtEnd, 2)} at its end`;
  log(`scaleEdges: ${load}`);

  const edgeInbound = edges.partialBytes + edges.controlBytes;
  const singleAggregate = single.aggregateMs + single.foldingMs;
  const perUpdate = (bytes: number, record: RoundRecord): string =>
    `${fmt(bytes / Math.max(1, record.participants))} B per update`;
  return [
    {
      id: 'edges.joins',
      item: `Edges: ${fmt(edges.connections)} socket.io connections joined through ${EDGES} \`fedistill edge\` processes (${fmt(edges.connections / EDGES)} each, ${EDGES * DRIVERS_PER_EDGE} driver processes, 127.0.0.1); from starting the drivers to the master counting every client joined`,
      value: `${fmt(edges.connections)} joined in ${fmt(edges.joinMs / 1000, 1)} s`,
      reference: `one coordinator: ${fmt(single.connections)} joined in ${fmt(single.joinMs / 1000, 1)} s (${SINGLE_DRIVERS} driver processes)`,
      ratio: `${ratio(edges.connections / edges.joinMs, single.connections / single.joinMs)} joins/s`,
      note: `websocket, msgpack parser, one Engine.IO connection each; joins relayed to the master through Redis streams; open-file limit ${files.soft} per process; ${load}`,
    },
    {
      id: 'edges.memory',
      item: `Edges: memory per connection at the edges (Σ over the ${EDGES} edge processes of after the joins − before, each read after full GCs, over ${fmt(edges.connections)} connections)`,
      value: `${kib(edges.perConnection.rss)} RSS, ${kib(edges.perConnection.heap)} heap + ArrayBuffers per connection`,
      reference: `one coordinator: ${kib(single.perConnection.rss)} RSS, ${kib(single.perConnection.heap)} heap + ArrayBuffers per connection (the same, ${fmt(single.connections)} connections)`,
      ratio: `RSS ${ratio(edges.perConnection.rss, single.perConnection.rss)}, heap ${ratio(edges.perConnection.heap, single.perConnection.heap)}`,
      note: `RSS is the noisy figure (freed native memory and V8's young generation leave it in steps of tens of MB); edges' RSS ${fmt(edges.edgesBefore.rss / MB, 1)} → ${fmt(edges.edgesAfter.rss / MB, 1)} MiB in all, read ${SETTLE_MS} ms after the last join; ${load}`,
    },
    {
      id: 'edges.round',
      item: `Edges: one round, ${fmt(edges.record.sampled)} of ${fmt(edges.connections)} sampled sending int8 updates (student ${fmt(edges.studentParams)} params): the master's aggregate step (close the edges' rounds, wait for their partials, check and merge them, apply the mean)`,
      value: `${edges.record.status}, ${fmt(edges.record.participants)} updates; aggregate ${fmt(edges.aggregateMs, 1)} ms`,
      reference: `one coordinator, ${fmt(single.record.participants)} updates: aggregate ${fmt(single.aggregateMs, 1)} ms + ${fmt(single.foldingMs, 1)} ms folding as they arrived`,
      ratio: ratio(edges.aggregateMs, singleAggregate),
      note: `round ${fmt(edges.record.durationMs)} ms over edges, ${fmt(single.record.durationMs)} ms at one coordinator (start to record); ${fmt(edges.answered)} and ${fmt(single.answered)} updates acked at the clients; ${edges.partials} partials; the edges fold the deltas as they are granted (not timed here); ${load}`,
    },
    {
      id: 'edges.bytes',
      item: `Edges: the master's inbound bytes for that round (every stream entry it read while the round was open: ${edges.partials} partials + claims + heartbeats)`,
      value: `${kb(edgeInbound)} (${perUpdate(edgeInbound, edges.record)})`,
      reference: `one coordinator, ${fmt(single.record.participants)} updates: ${kb(single.updateFrameBytes)} of update frames (${perUpdate(single.updateFrameBytes, single.record)}); ${kb(single.tcpBytesIn)} read by its TCP sockets during the round`,
      ratio: ratio(edgeInbound, single.updateFrameBytes),
      note: `partials ${fmt(edges.partialBytes)} B, every other entry ${fmt(edges.controlBytes)} B; by kind, from round start to record: ${describeInbound()}; the clients' update frames at the edges totalled ${kb(edges.clientFrameBytes)}; ${load}`,
    },
  ];
}

runSection('scaleEdges', main);
