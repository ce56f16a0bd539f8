/**
 * A folder that keeps downloaded artifacts by content hash, so a restarted
 * Node client does not download the proxy set and soft labels again.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactCache } from '../fedClient.js';

export class FileArtifactCache implements ArtifactCache {
  constructor(private readonly dir: string) {}

  private path(hash: string): string {
    if (!/^[0-9a-f]{16,128}$/.test(hash))
      throw new Error(`artifact hash ${JSON.stringify(hash)} is not hex`);
    return join(this.dir, `${hash}.msgpack`);
  }

  async get(hash: string): Promise<Uint8Array | undefined> {
    const path = this.path(hash);
    return existsSync(path) ? new Uint8Array(await readFile(path)) : undefined;
  }

  async set(hash: string, bytes: Uint8Array): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const staging = `${this.path(hash)}.tmp-${process.pid}`;
    await writeFile(staging, bytes);
    await rename(staging, this.path(hash));
  }
}
