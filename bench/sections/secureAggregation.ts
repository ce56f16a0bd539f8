/**
 * The cost of secure aggregation (shared/secureAggregation, as a round runs
 * it: t = max(2, ⌈2n/3⌉), weight·delta quantized at scale 2²⁰ for n clients),
 * for the demo's student (mlp:128 on MNIST, 101,770 parameters), each figure
 * against the plain path measured side by side in the same process:
 * - a client's work per round (quantize + its four protocol steps + msgpack of
 *   what it sends) against producing a plain float32 update (encodeWeights + msgpack);
 * - the server's finishUnmask, with no dropout and with one client dropped after
 *   sharing its keys, against FedAvgAccumulator over the same deltas;
 * - the bytes a client sends against a plain float32 update message.
 * The whole protocol runs in memory, clients one after another (no sockets), so
 * times are CPU work only. Client figures are medians over every client of
 * every round; server figures are the best round. Every round checks the
 * unmasked sum is exact.
 */
import { FedAvgAccumulator } from '../../shared/aggregation/index.js';
import { createCodec, encodeWeights } from '../../shared/codec/index.js';
import { quantize, SecAggClient, SecAggServer } from '../../shared/secureAggregation/index.js';
import type {
  AdvertiseKeys,
  SecAggConfig,
  ShareKeys,
  UnmaskShares,
} from '../../shared/secureAggregation/index.js';
import type { BenchRow } from '../lib/common.js';
import { fillRandom, fmt, gc, log, now, ratio, runSection, size } from '../lib/common.js';

const PARAMS = size(101_770, 2_000);
/** The two round sizes reported, as [row suffix, n]; quick mode keeps them tiny but distinct. */
const SIZES = size(
  [
    ['small', 4],
    ['large', 16],
  ] as const,
  [
    ['small', 3],
    ['large', 4],
  ] as const,
);
// Server-side figures are one short interval per round: best of several, since a busy machine only adds time.
const REPEATS = size(7, 1);
/** The defaults of server/config.ts (`secureAggregation.scale`, `.threshold`). */
const SCALE = 2 ** 20;
const THRESHOLD_FRACTION = 2 / 3;
const ROUND_ID = 7;
// Same metrics on both paths so the byte ratio compares only the payloads.
const METRICS = { loss: 0.31, accuracy: 0.91, trainMillis: 312, steps: 24 };

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

async function timed<T>(into: number[], index: number, fn: () => Promise<T> | T): Promise<T> {
  const started = now();
  const result = await fn();
  into[index] = (into[index] as number) + (now() - started);
  return result;
}

/** One client's times in one round, ms. */
interface ClientTimes {
  /** quantize(weight·delta), advertiseKeys, shareKeys, maskInput, unmask, msgpack of its 4 messages. */
  steps: number[];
  /** encodeWeights(delta, float32) + msgpack of the plain update message, measured right after. */
  plain: number;
  /** Encoded bytes of keys, shares, the masked update and the reveal. */
  sentBytes: number[];
  receivedBytes: number;
  plainBytes: number;
}

interface RunResult {
  clients: ClientTimes[];
  unmaskMs: number;
  /** Every SecAggServer call of the round, finishUnmask included. */
  serverMs: number;
  fedAvgMs: number;
  /** Largest |secure mean − FedAvg mean| (fixed-point rounding). */
  maxDiff: number;
}

/**
 * One round of n clients in memory. With `dropLast`, client n shares its keys
 * and then goes silent (never sends its masked input), so the server must
 * rebuild its mask key and remove its pairwise masks from every survivor.
 */
async function runRound(
  n: number,
  deltas: readonly Float32Array[],
  samples: readonly number[],
  dropLast: boolean,
  session: string,
): Promise<RunResult> {
  const threshold = Math.min(n, Math.max(2, Math.ceil(THRESHOLD_FRACTION * n)));
  const config: SecAggConfig = { session, threshold, length: PARAMS };
  const codec = createCodec();
  const totalSamples = samples.reduce((s, v) => s + v, 0);
  const ids = Array.from({ length: n }, (_, i) => i + 1);
  const server = new SecAggServer(config);
  const clients = ids.map((id) => new SecAggClient(id, config));
  const times: ClientTimes[] = ids.map(() => ({
    steps: [0, 0, 0, 0, 0, 0],
    plain: 0,
    sentBytes: [0, 0, 0, 0],
    receivedBytes: 0,
    plainBytes: 0,
  }));
  const serverTime = [0];
  const at = (id: number): ClientTimes => times[id - 1] as ClientTimes;
  const send = (id: number, kind: number, message: unknown): void => {
    const t = at(id);
    const bytes = timedSync(t.steps, 5, () => codec.encode(message).byteLength);
    t.sentBytes[kind] = bytes;
  };
  const receive = (id: number, message: unknown): void => {
    at(id).receivedBytes += codec.encode(message).byteLength;
  };

  const inputs: Uint32Array[] = [];
  for (const id of ids) {
    const delta = deltas[id - 1] as Float32Array;
    const weight = (samples[id - 1] as number) / totalSamples;
    inputs.push(
      await timed(at(id).steps, 0, () => {
        const weighted = new Float32Array(PARAMS);
        for (let i = 0; i < PARAMS; i++) weighted[i] = (delta[i] as number) * weight;
        return quantize(weighted, { scale: SCALE, clients: n });
      }),
    );
  }

  for (const c of clients) {
    const keys: AdvertiseKeys = await timed(at(c.id).steps, 1, () => c.advertiseKeys());
    send(c.id, 0, {
      step: 'keys',
      roundId: ROUND_ID,
      channelKey: keys.channelKey,
      maskKey: keys.maskKey,
    });
    await timed(serverTime, 0, () => server.receiveKeys(keys));
  }
  const roster = await timed(serverTime, 0, () => server.finishAdvertise());
  for (const c of clients) {
    receive(c.id, { step: 'roster', roundId: ROUND_ID, roster });
    const shared: ShareKeys = await timed(at(c.id).steps, 2, () => c.shareKeys(roster));
    send(c.id, 1, {
      step: 'shares',
      roundId: ROUND_ID,
      shares: shared.shares.map(({ to, iv, ciphertext }) => ({ to, iv, ciphertext })),
    });
    await timed(serverTime, 0, () => server.receiveShares(shared));
  }
  const inboxes = await timed(serverTime, 0, () => server.finishShares());
  const maskers = dropLast ? clients.slice(0, -1) : clients;
  for (const c of maskers) {
    const shares = inboxes.get(c.id) ?? [];
    receive(c.id, { step: 'inbox', roundId: ROUND_ID, shares });
    const masked = await timed(at(c.id).steps, 3, () =>
      c.maskInput(shares, inputs[c.id - 1] as Uint32Array),
    );
    send(c.id, 2, {
      roundId: ROUND_ID,
      modelVersion: ROUND_ID - 1,
      numSamples: samples[c.id - 1],
      masked: masked.masked,
      metrics: METRICS,
    });
    await timed(serverTime, 0, () => server.receiveMaskedInput(masked));
  }
  const survivors = await timed(serverTime, 0, () => server.finishMaskedInput());
  for (const id of survivors) {
    const c = clients[id - 1] as SecAggClient;
    receive(id, { step: 'unmask', roundId: ROUND_ID, survivors });
    const revealed: UnmaskShares = await timed(at(id).steps, 4, () => c.unmask(survivors));
    send(id, 3, {
      step: 'reveal',
      roundId: ROUND_ID,
      selfMaskShares: [...revealed.selfMaskShares],
      maskKeyShares: [...revealed.maskKeyShares],
    });
    await timed(serverTime, 0, () => server.receiveUnmaskShares(revealed));
  }
  // Collect the clients' garbage first so a GC pause does not land in either timed part.
  gc();
  const unmaskStarted = now();
  const sum = await server.finishUnmask();
  const unmaskMs = now() - unmaskStarted;
  const serverMs = (serverTime[0] as number) + unmaskMs;

  // The plain path for the same clients, timed right here so both see the same machine state.
  for (const id of survivors) {
    const t = at(id);
    const started = now();
    const wire = codec.encode({
      roundId: ROUND_ID,
      modelVersion: ROUND_ID - 1,
      numSamples: samples[id - 1],
      delta: encodeWeights(deltas[id - 1] as Float32Array, 'float32'),
      metrics: METRICS,
    });
    t.plain = now() - started;
    t.plainBytes = wire.byteLength;
  }
  gc();
  const fedAvgStarted = now();
  const accumulator = new FedAvgAccumulator(PARAMS);
  for (const id of survivors)
    accumulator.add(deltas[id - 1] as Float32Array, samples[id - 1] as number);
  const fedAvg = accumulator.result();
  const fedAvgMs = now() - fedAvgStarted;

  // A benchmark of a wrong answer is worthless: the unmasked sum must be the survivors' exact sum.
  const expected = new Uint32Array(PARAMS);
  for (const id of survivors) {
    const input = inputs[id - 1] as Uint32Array;
    for (let i = 0; i < PARAMS; i++) expected[i] = (expected[i] as number) + (input[i] as number);
  }
  for (let i = 0; i < PARAMS; i++) {
    if (sum[i] !== expected[i])
      throw new Error(`n=${n}: unmasked sum differs from the inputs' sum at ${i}`);
  }
  let survivorWeight = 0;
  for (const id of survivors) survivorWeight += (samples[id - 1] as number) / totalSamples;
  let maxDiff = 0;
  for (let i = 0; i < PARAMS; i++) {
    const mean = ((sum[i] as number) | 0) / (SCALE * survivorWeight);
    maxDiff = Math.max(maxDiff, Math.abs(mean - (fedAvg[i] as number)));
  }
  return {
    clients: survivors.map((id) => at(id)),
    unmaskMs,
    serverMs,
    fedAvgMs,
    maxDiff,
  };
}

function timedSync<T>(into: number[], index: number, fn: () => T): T {
  const started = now();
  const result = fn();
  into[index] = (into[index] as number) + (now() - started);
  return result;
}

async function measure(key: string, n: number): Promise<BenchRow[]> {
  // Sample counts differ so weights differ, as in a real round.
  const samples = Array.from({ length: n }, (_, i) => 400 + 137 * i);
  const deltas = Array.from({ length: n }, (_, i) =>
    fillRandom(new Float32Array(PARAMS), 11 + i, 0.05),
  );
  const full: RunResult[] = [];
  const dropped: RunResult[] = [];
  for (let r = 0; r < REPEATS; r++) {
    full.push(await runRound(n, deltas, samples, false, `bench/${n}/${r}`));
    dropped.push(await runRound(n, deltas, samples, true, `bench/${n}/${r}/drop`));
  }
  const threshold = Math.min(n, Math.max(2, Math.ceil(THRESHOLD_FRACTION * n)));
  const clientSamples = full.flatMap((r) => r.clients);
  const total = (c: ClientTimes): number => c.steps.reduce((s, v) => s + v, 0);
  const clientMs = median(clientSamples.map(total));
  const plainMs = median(clientSamples.map((c) => c.plain));
  const step = (i: number): string =>
    fmt(median(clientSamples.map((c) => c.steps[i] as number)), 1);
  const unmask0 = Math.min(...full.map((r) => r.unmaskMs));
  const unmask1 = Math.min(...dropped.map((r) => r.unmaskMs));
  const fedAvg0 = Math.min(...full.map((r) => r.fedAvgMs));
  const fedAvg1 = Math.min(...dropped.map((r) => r.fedAvgMs));
  const server0 = Math.min(...full.map((r) => r.serverMs));
  const server1 = Math.min(...dropped.map((r) => r.serverMs));
  const maxDiff = Math.max(...full.map((r) => r.maxDiff), ...dropped.map((r) => r.maxDiff));
  const sent = median(clientSamples.map((c) => c.sentBytes.reduce((s, v) => s + v, 0)));
  const part = (i: number): string =>
    fmt(median(clientSamples.map((c) => c.sentBytes[i] as number)));
  const received = median(clientSamples.map((c) => c.receivedBytes));
  const plainBytes = median(clientSamples.map((c) => c.plainBytes));
  log(
    `secureAggregation n=${n}: client ${fmt(clientMs, 1)} ms vs plain ${fmt(plainMs, 2)} ms; unmask ${fmt(unmask0, 1)} / ${fmt(unmask1, 1)} ms vs FedAvg ${fmt(fedAvg0, 2)} / ${fmt(fedAvg1, 2)} ms`,
  );

  const what = `Secure aggregation, n = ${n} clients (t = ${threshold}), ${fmt(PARAMS)} params`;
  const runs = `best of ${REPEATS} round${REPEATS > 1 ? 's' : ''}`;
  return [
    {
      id: `secagg.client.${key}`,
      item: `${what}: one client's work per round`,
      value: `${fmt(clientMs, 1)} ms`,
      reference: `plain float32 update (encodeWeights + msgpack) ${fmt(plainMs, 2)} ms`,
      ratio: ratio(clientMs, plainMs, 0),
      note: `median over ${clientSamples.length} client-rounds; quantize ${step(0)}, keys ${step(1)}, share ${step(2)}, mask ${step(3)}, unmask ${step(4)}, msgpack ${step(5)} ms`,
    },
    {
      id: `secagg.unmask.${key}`,
      item: `${what}: server finishUnmask, no dropout`,
      value: `${fmt(unmask0, 1)} ms`,
      reference: `FedAvgAccumulator of the ${n} deltas ${fmt(fedAvg0, 2)} ms`,
      ratio: ratio(unmask0, fedAvg0, 1),
      note: `${runs}; ${n} PRG expansions; all server steps ${fmt(server0, 1)} ms; secure mean within ${maxDiff.toExponential(1)} of FedAvg`,
    },
    {
      id: `secagg.unmask-dropout.${key}`,
      item: `${what}: server finishUnmask, 1 client dropped after sharing keys`,
      value: `${fmt(unmask1, 1)} ms`,
      reference: `FedAvgAccumulator of the ${n - 1} survivors' deltas ${fmt(fedAvg1, 2)} ms`,
      ratio: ratio(unmask1, fedAvg1, 1),
      note: `${runs}; ${2 * (n - 1)} PRG expansions + ${n - 1} ECDH; all server steps ${fmt(server1, 1)} ms`,
    },
    {
      id: `secagg.wire.${key}`,
      item: `${what}: bytes a client sends per round (keys + shares + masked update + reveal)`,
      value: `${fmt(sent)} B`,
      reference: `plain float32 update ${fmt(plainBytes)} B`,
      ratio: ratio(sent, plainBytes, 3),
      note: `msgpack, no socket.io framing: keys ${part(0)}, shares ${part(1)}, masked update ${part(2)}, reveal ${part(3)} B; receives ${fmt(received)} B of roster/inbox/unmask`,
    },
  ];
}

async function main(): Promise<BenchRow[]> {
  const warmDeltas = [0, 1, 2].map((i) => fillRandom(new Float32Array(PARAMS), 90 + i, 0.05));
  // Warm-up (JIT, WebCrypto's first calls), not reported. The baselines run only a few times
  // per round, so without this they would be timed half in the interpreter while the secure
  // path's hot loops are already compiled; a coordinator runs them every round.
  for (let r = 0; r < 3; r++) await runRound(3, warmDeltas, [1, 2, 3], r === 0, 'bench/warm-up');
  const codec = createCodec();
  for (let r = 0; r < 30; r++) {
    const accumulator = new FedAvgAccumulator(PARAMS);
    for (const delta of warmDeltas) {
      accumulator.add(delta, 1);
      codec.encode({ delta: encodeWeights(delta, 'float32') });
    }
    accumulator.result();
  }
  const rows: BenchRow[] = [];
  for (const [key, n] of SIZES) rows.push(...(await measure(key, n)));
  // Table order: by figure first, then by size, so the two sizes sit next to each other.
  const order = ['secagg.client', 'secagg.unmask.', 'secagg.unmask-dropout', 'secagg.wire'];
  return order.flatMap((prefix) => rows.filter((r) => r.id.startsWith(prefix)));
}

runSection('secureAggregation', main);
