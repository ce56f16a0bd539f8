/**
 * Static artifacts every client downloads once: the proxy inputs and the
 * teacher's soft labels on them. Each is msgpack bytes named by its SHA-256,
 * served over HTTP with that hash as ETag so browsers and Node clients cache
 * it, and kept on disk so a restarted coordinator serves the same bytes.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactRef } from '../shared/protocol/index.js';
import { writeFileAtomic } from '../node/modelFiles.js';

export const ARTIFACT_ROUTE = '/artifacts/';

export class ArtifactStore {
  private readonly byHash = new Map<string, Uint8Array>();

  constructor(private readonly dir: string) {}

  /** Stores bytes under their content hash and returns how clients refer to them. */
  async put(bytes: Uint8Array): Promise<ArtifactRef> {
    const hash = createHash('sha256').update(bytes).digest('hex');
    if (!this.byHash.has(hash)) {
      this.byHash.set(hash, bytes);
      const path = join(this.dir, `${hash}.msgpack`);
      if (!existsSync(path)) await writeFileAtomic(path, bytes);
    }
    return { url: `${ARTIFACT_ROUTE}${hash}`, hash, bytes: bytes.byteLength };
  }

  /** Bytes cached on disk under a key of the caller's (e.g. teacher hash + settings), if present. */
  async getCached(key: string): Promise<Uint8Array | undefined> {
    const path = join(this.dir, 'by-key', `${key}.msgpack`);
    if (!existsSync(path)) return undefined;
    return new Uint8Array(await readFile(path));
  }

  async setCached(key: string, bytes: Uint8Array): Promise<void> {
    await writeFileAtomic(join(this.dir, 'by-key', `${key}.msgpack`), bytes);
  }

  get(hash: string): Uint8Array | undefined {
    return this.byHash.get(hash);
  }
}
