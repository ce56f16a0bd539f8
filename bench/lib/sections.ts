/**
 * The benchmark sections in the order bench/main.ts runs them, with their
 * time limits and the row keys each one must report (the quick-mode test
 * checks every key is in the table).
 */
import { availableParallelism } from 'node:os';
/** PyTorch rows come at 1 thread and, on a machine with more than one core, at all of them. */
function perThreadCount(id: string): string[] {
  return availableParallelism() > 1 ? [`${id}.1t`, `${id}.all`] : [`${id}.1t`];
}

export const SECTIONS = [
  {
    name: 'training',
    timeoutS: 600,
    quickTimeoutS: 120,
    rows: [
      'ceiling.wasm-matmul',
      ...perThreadCount('ceiling.native-sgemm'),
      'train.mlp.fedistill',
      'train.mlp.stock-wasm',
      'train.mlp.stock-cpu',
      'train.mlp.fedistill-per-core',
      'train.mlp.tfjs-node',
      ...perThreadCount('train.mlp.pytorch'),
      'train.cnn.fedistill',
      'train.cnn.stock-cpu',
      ...perThreadCount('train.cnn.pytorch'),
    ],
  },
  {
    name: 'teacherInference',
    timeoutS: 300,
    quickTimeoutS: 120,
    rows: [
      ...perThreadCount('teacher.softlabels.onnx-converted'),
      'teacher.softlabels.wasm',
      'teacher.softlabels.tfjs-node',
      ...perThreadCount('teacher.softlabels.pytorch'),
      ...perThreadCount('teacher.softlabels.onnxruntime'),
    ],
  },
  {
    name: 'codec',
    timeoutS: 300,
    quickTimeoutS: 60,
    rows: ['codec.float32', 'codec.float16', 'codec.int8', 'codec.json'],
  },
  {
    name: 'wire',
    timeoutS: 600,
    quickTimeoutS: 120,
    rows: [
      'wire.update.float32',
      'wire.update.float16',
      'wire.update.int8',
      'acc.update.float32',
      'acc.update.float16',
      'acc.update.int8',
      'acc.soft.top1.float16',
      'acc.soft.top3.uint8',
      'wire.soft.dense.float32',
      'wire.soft.dense.float16',
      'wire.soft.dense.uint8',
      'wire.soft.top1.float16',
      'wire.soft.top3.float16',
      'wire.soft.top5.float16',
      'wire.soft.top3.uint8',
    ],
  },
  {
    name: 'aggregation',
    timeoutS: 300,
    quickTimeoutS: 60,
    rows: ['agg.fedavg', 'agg.fedavg-scalar', 'agg.memory', 'agg.wire'],
  },
  { name: 'round', timeoutS: 600, quickTimeoutS: 120, rows: ['round.overhead', 'round.close'] },
  {
    name: 'scale',
    timeoutS: 300,
    quickTimeoutS: 90,
    rows: ['scale.connections', 'scale.memory', 'scale.round'],
  },
  {
    name: 'scaleEdges',
    timeoutS: 900,
    quickTimeoutS: 180,
    rows: ['edges.joins', 'edges.memory', 'edges.round', 'edges.bytes'],
  },
  {
    name: 'secureAggregation',
    timeoutS: 300,
    quickTimeoutS: 60,
    rows: [
      'secagg.client.small',
      'secagg.client.large',
      'secagg.unmask.small',
      'secagg.unmask.large',
      'secagg.unmask-dropout.small',
      'secagg.unmask-dropout.large',
      'secagg.wire.small',
      'secagg.wire.large',
    ],
  },
  {
    name: 'onnxTeacher',
    timeoutS: 300,
    quickTimeoutS: 60,
    rows: ['onnx.softlabels.cpu', 'onnx.load'],
  },
  {
    name: 'redisSim',
    timeoutS: 600,
    quickTimeoutS: 180,
    rows: ['redis.sim.jobs-1', 'redis.sim.jobs-2', 'redis.sim.bytes'],
  },
] as const;

export type SectionName = (typeof SECTIONS)[number]['name'];

/** Every row key a complete run reports, in table order. */
export const ROW_IDS: readonly string[] = SECTIONS.flatMap((s) => [...s.rows]);
