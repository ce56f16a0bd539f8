/**
 * Fetches a demo shard from a coordinator running on the embedded MNIST split
 * (`GET /api/demo-shard`), so a page can join a demo without data of its own.
 * Format: see server/dashboard/demoShards.ts and docs/browser.md.
 */
import { z } from 'zod';
import type { LabeledData } from '../../shared/data/types.js';
import { decodeProxyInputs } from '../../shared/artifacts/index.js';
import { createCodec } from '../../shared/codec/index.js';

export const DEMO_SHARD_FORMAT = 'fedistill.demo-shard/1';

/** The coordinator has no demo shards (not on the embedded split) or not that one. */
export class DemoShardUnavailableError extends Error {
  override readonly name = 'DemoShardUnavailableError';
}

const demoShardSchema = z.object({
  format: z.literal(DEMO_SHARD_FORMAT),
  index: z.number().int().nonnegative(),
  of: z.number().int().positive(),
  inputs: z.unknown(),
  labels: z.instanceof(Uint8Array),
});

export interface DemoShard {
  data: LabeledData;
  index: number;
  of: number;
}

/** Decodes a demo shard's MessagePack bytes. @throws Error naming what is malformed. */
export function decodeDemoShard(bytes: Uint8Array): DemoShard {
  const parsed = demoShardSchema.safeParse(createCodec().decode(bytes));
  if (!parsed.success) throw new Error(`demo shard is malformed: ${z.prettifyError(parsed.error)}`);
  const { index, of, inputs, labels } = parsed.data;
  const { x, count } = decodeProxyInputs(inputs);
  if (labels.length !== count) {
    throw new Error(`demo shard has ${labels.length} labels for ${count} inputs`);
  }
  return { data: { x, y: labels, count }, index, of };
}

export interface FetchDemoShardOptions {
  /** Coordinator base URL. */
  url: string;
  token?: string;
  /** Which shard; the coordinator picks round-robin when absent. */
  index?: number;
}

export async function fetchDemoShard(options: FetchDemoShardOptions): Promise<DemoShard> {
  const url = new URL('/api/demo-shard', options.url);
  if (options.index !== undefined) url.searchParams.set('index', String(options.index));
  const response = await fetch(url, {
    headers: options.token ? { authorization: `Bearer ${options.token}` } : {},
  });
  if (response.status === 404) {
    const body = (await response.json().catch(() => ({}))) as { error?: string };
    throw new DemoShardUnavailableError(body.error ?? 'no demo shard');
  }
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { error?: string };
    throw new Error(`GET ${url.pathname} failed: ${response.status} ${body.error ?? ''}`.trim());
  }
  return decodeDemoShard(new Uint8Array(await response.arrayBuffer()));
}
