/**
 * Demo shards for browser clients: when the coordinator runs on the embedded
 * MNIST split it can hand a page one client shard, so a browser joins the demo
 * without any data of its own. Served at `GET /api/demo-shard?index=i` as
 * MessagePack (the project codec):
 *
 *   { format: "fedistill.demo-shard/1", index, of,
 *     inputs: <a fedistill.proxy-inputs/1 artifact>, labels: Uint8Array }
 *
 * Demo data only: real deployments keep private data on the device.
 */
import type { LabeledData } from '../../shared/data/types.js';
import { encodeProxyInputs } from '../../shared/artifacts/index.js';
import { createCodec } from '../../shared/codec/index.js';

export const DEMO_SHARD_FORMAT = 'fedistill.demo-shard/1';

export class DemoShards {
  private readonly encoded = new Map<number, Uint8Array>();
  private readonly codec = createCodec();
  private next = 0;

  constructor(
    private readonly shards: readonly LabeledData[],
    private readonly featureShape: readonly number[],
  ) {}

  get count(): number {
    return this.shards.length;
  }

  /** Picks shards round-robin when a page does not ask for one. */
  nextIndex(): number {
    const index = this.next % Math.max(1, this.shards.length);
    this.next += 1;
    return index;
  }

  /** The encoded shard, or undefined when `index` is out of range. */
  bytes(index: number): Uint8Array | undefined {
    const shard = this.shards[index];
    if (!shard) return undefined;
    let bytes = this.encoded.get(index);
    if (!bytes) {
      if (shard.y.length !== shard.count) {
        throw new Error(`demo shard ${index} has ${shard.y.length} labels for ${shard.count} rows`);
      }
      bytes = this.codec.encode({
        format: DEMO_SHARD_FORMAT,
        index,
        of: this.shards.length,
        inputs: encodeProxyInputs(shard.x, shard.count, this.featureShape),
        labels: Uint8Array.from(shard.y),
      });
      this.encoded.set(index, bytes);
    }
    return bytes;
  }
}
