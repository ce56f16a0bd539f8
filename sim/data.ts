/**
 * A simulation's data: the embedded MNIST digits split into teacher-train /
 * public proxy / client pool / test (fixed by `data.seed`, so every run seed
 * and strategy shares one teacher and one test set), and the client pool
 * dealt out to the virtual clients by the configured partitioner (seeded by
 * the run seed).
 */
import {
  createRng,
  deriveSeed,
  labelSkew,
  partitionDirichlet,
  partitionIid,
  partitionShards,
  splitDataset,
  subset,
} from '../shared/data/index.js';
import type { LabelSkewSummary } from '../shared/data/index.js';
import type { LabeledData } from '../shared/data/types.js';
import { loadMnist, MNIST_FEATURES } from '../node/data/index.js';
import type { SimConfig } from './config.js';

export interface SimSplit {
  teacherTrain: LabeledData;
  proxy: LabeledData;
  clientPool: LabeledData;
  test: LabeledData;
  inputShape: number[];
  numClasses: number;
}

export function splitSimData(config: SimConfig): SimSplit {
  const all = loadMnist({ count: config.data.total, seed: config.data.seed });
  const { split } = config.data;
  const parts = splitDataset(
    all,
    {
      teacherTrain: split.teacher,
      proxy: split.proxy,
      clientPool: split.clients,
      test: split.test,
    },
    createRng(config.data.seed),
  );
  return { ...parts, inputShape: [MNIST_FEATURES], numClasses: 10 };
}

export interface Partition {
  shards: LabeledData[];
  skew: LabelSkewSummary;
}

/** The client pool dealt to `config.clients` clients for run seed `seed`. */
export function partitionClients(config: SimConfig, pool: LabeledData, seed: number): Partition {
  const rng = createRng(deriveSeed(seed, 'partition', 17));
  const p = config.partition;
  const indices =
    p.kind === 'iid'
      ? partitionIid(pool.y, config.clients, rng)
      : p.kind === 'dirichlet'
        ? partitionDirichlet(pool.y, config.clients, p.alpha, rng, {
            minPerClient: p.minPerClient,
          })
        : partitionShards(pool.y, config.clients, p.perClient, rng);
  return {
    shards: indices.map((rows) => subset(pool, rows)),
    skew: labelSkew(pool.y, indices, 10),
  };
}
