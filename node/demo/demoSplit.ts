/**
 * The demo's data plan over the 10,000 real MNIST digits the `mnist` package
 * ships: teacher-train / public proxy / private client pool / test, then the
 * client pool cut non-IID (Dirichlet over labels). Coordinator and client
 * processes each compute it from the same seed, so every client holds a
 * disjoint shard without the coordinator ever sending private data.
 */
import { createRng, partitionDirichlet, splitDataset, subset } from '../../shared/data/index.js';
import type { LabeledData } from '../../shared/data/types.js';
import { loadMnist } from '../data/index.js';
import { DatasetError } from '../../shared/errors.js';

export interface DemoSplitOptions {
  /** Number of client shards. Defaults to 4. */
  clients: number;
  /** Dirichlet concentration of the client shards' label mix; smaller is more skewed. Defaults to 0.5. */
  alpha: number;
  /** Defaults to 42. */
  seed: number;
  /** Digits used in all (≤ 10,000), split in the proportions below. Defaults to 10,000. */
  total: number;
}

export const DEMO_DEFAULTS: DemoSplitOptions = { clients: 4, alpha: 0.5, seed: 42, total: 10_000 };

export interface DemoSplit {
  teacherTrain: LabeledData;
  proxy: LabeledData;
  test: LabeledData;
  shards: LabeledData[];
}

export function demoSplit(options: Readonly<Partial<DemoSplitOptions>> = {}): DemoSplit {
  const { clients, alpha, seed, total } = { ...DEMO_DEFAULTS, ...options };
  const all = loadMnist({ count: total });
  // 40% teacher-train, 20% proxy, 20% private client pool, 20% test.
  const parts = splitDataset(
    all,
    { teacherTrain: 0.4, proxy: 0.2, clientPool: 0.2, test: 0.2 },
    createRng(seed),
  );
  const shardIndices = partitionDirichlet(parts.clientPool.y, clients, alpha, createRng(seed + 1), {
    minPerClient: 10,
  });
  return {
    teacherTrain: parts.teacherTrain,
    proxy: parts.proxy,
    test: parts.test,
    shards: shardIndices.map((indices) => subset(parts.clientPool, indices)),
  };
}

/**
 * Parses `demo:I/N` (shard I of N, 0-based) as given to `fedistill join --data`.
 * `demo:auto/N` picks a shard from `autoKey` (the host name, in containers that
 * are scaled from one service definition and so cannot be told an index):
 * shards may then repeat across clients.
 */
export function parseDemoShard(
  spec: string,
  autoKey = '',
): { index: number; of: number } | undefined {
  const match = /^demo:(\d+|auto)\/(\d+)$/.exec(spec);
  if (!match) return undefined;
  const of = Number(match[2]);
  let index: number;
  if (match[1] === 'auto') {
    let hash = 2166136261;
    for (let i = 0; i < autoKey.length; i++)
      hash = Math.imul(hash ^ autoKey.charCodeAt(i), 16777619) >>> 0;
    index = of > 0 ? hash % of : 0;
  } else {
    index = Number(match[1]);
  }
  if (of < 1 || index >= of)
    throw new DatasetError(`demo shard ${spec}: index must be in 0..${of - 1}`);
  return { index, of };
}
