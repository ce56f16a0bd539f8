/**
 * Server-side optimisers (Reddi et al. 2021, "Adaptive Federated
 * Optimization"): the averaged client delta Δ is treated as a pseudo-gradient
 * and applied to the global weights x with momentum or adaptive step sizes.
 *
 * - none:    x ← x + Δ                                   (plain FedAvg)
 * - fedavgm: m ← β·m + Δ;  x ← x + η·m
 * - fedadam: m ← β₁·m + (1−β₁)·Δ;  v ← β₂·v + (1−β₂)·Δ²;  x ← x + η·m / (√v + τ)
 * - fedyogi: as fedadam but v ← v − (1−β₂)·Δ²·sign(v − Δ²)
 *
 * State (m, v) lives across rounds; memory is O(parameters).
 */
import { z } from 'zod';
import { AggregationError } from './fedAvg.js';

export const serverOptimizerSchema = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('none') }),
  z.strictObject({
    kind: z.literal('fedavgm'),
    /** η. Defaults to 1. */
    learningRate: z.number().positive().default(1),
    /** β. Defaults to 0.9. */
    momentum: z.number().min(0).lt(1).default(0.9),
  }),
  z.strictObject({
    kind: z.enum(['fedadam', 'fedyogi']),
    /** η. Defaults to 0.01. */
    learningRate: z.number().positive().default(0.01),
    /** β₁. Defaults to 0.9. */
    beta1: z.number().min(0).lt(1).default(0.9),
    /** β₂. Defaults to 0.99. */
    beta2: z.number().min(0).lt(1).default(0.99),
    /** τ, the adaptivity floor. Defaults to 1e-3. */
    tau: z.number().positive().default(1e-3),
  }),
]);
export type ServerOptimizerSpec = z.output<typeof serverOptimizerSchema>;

export class ServerOptimizer {
  private m: Float32Array | undefined;
  private v: Float32Array | undefined;

  constructor(readonly spec: ServerOptimizerSpec) {}

  /** A copy of the state (m, v), for `restore` when a step's result is refused. */
  snapshot(): { m?: Float32Array; v?: Float32Array } {
    return {
      ...(this.m ? { m: this.m.slice() } : {}),
      ...(this.v ? { v: this.v.slice() } : {}),
    };
  }

  /** Puts back the state a `snapshot` copied: the refused step leaves no trace in m and v. */
  restore(state: { m?: Float32Array; v?: Float32Array }): void {
    this.m = state.m?.slice();
    this.v = state.v?.slice();
  }

  /** Returns the next global weights; `global` and `delta` are not modified. */
  step(global: Float32Array, delta: Float32Array): Float32Array {
    if (global.length !== delta.length) {
      throw new AggregationError(
        `server optimiser: delta has ${delta.length} values, weights ${global.length}`,
        'length-mismatch',
      );
    }
    const n = global.length;
    const next = new Float32Array(n);
    const spec = this.spec;
    switch (spec.kind) {
      case 'none':
        for (let i = 0; i < n; i++) next[i] = global[i]! + delta[i]!;
        return next;
      case 'fedavgm': {
        const m = (this.m ??= new Float32Array(n));
        for (let i = 0; i < n; i++) {
          m[i] = spec.momentum * m[i]! + delta[i]!;
          next[i] = global[i]! + spec.learningRate * m[i]!;
        }
        return next;
      }
      case 'fedadam':
      case 'fedyogi': {
        const m = (this.m ??= new Float32Array(n));
        // Reddi et al. start v at τ² so the first steps are not huge.
        const v = (this.v ??= new Float32Array(n).fill(spec.tau * spec.tau));
        for (let i = 0; i < n; i++) {
          const d = delta[i]!;
          const d2 = d * d;
          m[i] = spec.beta1 * m[i]! + (1 - spec.beta1) * d;
          v[i] =
            spec.kind === 'fedadam'
              ? spec.beta2 * v[i]! + (1 - spec.beta2) * d2
              : v[i]! - (1 - spec.beta2) * d2 * Math.sign(v[i]! - d2);
          next[i] = global[i]! + (spec.learningRate * m[i]!) / (Math.sqrt(v[i]!) + spec.tau);
        }
        return next;
      }
    }
  }
}
