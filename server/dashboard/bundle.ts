/**
 * Builds the browser code the coordinator serves (the client page, the
 * embeddable client module and the dashboard) from the same `client/`,
 * `shared/` and `server/dashboard/ui/` sources the rest of fedistill runs,
 * with esbuild, in memory, once per process, on the first request that needs
 * it (about a second). Nothing is written to disk, so a clean clone serves
 * the current sources without a build step.
 *
 * tfjs, socket.io-client, msgpackr and chart.js are bundled in; the tfjs
 * WebGPU and wasm backends are split into chunks the page loads only when it
 * tries them. The wasm backend's `.wasm` binaries are served as files (see
 * `wasmFile`).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

/** The repository root (this file is server/dashboard/bundle.ts). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Entry points by output name: `/assets/<name>.js`. */
export const BUNDLE_ENTRIES = {
  /** The `/client` page. */
  client: join(ROOT, 'client/browser/page.ts'),
  /** `startBrowserClient` and friends, for apps that embed a client (an ES module). */
  'fedistill-client': join(ROOT, 'client/browser/index.ts'),
  /** The dashboard at `/`. */
  dashboard: join(ROOT, 'server/dashboard/ui/dashboard.ts'),
} as const;

export interface BundleFile {
  bytes: Uint8Array;
  contentType: string;
  /** Quoted strong ETag (content hash). */
  etag: string;
  /** Content-hashed chunk names never change; entry names do. */
  immutable: boolean;
}

export class BundleError extends Error {
  override readonly name = 'BundleError';
}

let building: Promise<Map<string, BundleFile>> | undefined;

function etagOf(bytes: Uint8Array): string {
  return `"${createHash('sha256').update(bytes).digest('hex').slice(0, 32)}"`;
}

async function buildBundle(): Promise<Map<string, BundleFile>> {
  let result;
  try {
    result = await build({
      entryPoints: BUNDLE_ENTRIES,
      absWorkingDir: ROOT,
      bundle: true,
      splitting: true,
      format: 'esm',
      platform: 'browser',
      target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
      minify: true,
      write: false,
      // Never written: output paths only name the files in memory.
      outdir: join(ROOT, '.browser-bundle'),
      chunkNames: 'chunk-[hash]',
      logLevel: 'silent',
      legalComments: 'none',
    });
  } catch (error) {
    throw new BundleError(`building the browser bundle failed: ${(error as Error).message}`);
  }
  const files = new Map<string, BundleFile>();
  for (const file of result.outputFiles) {
    const name = basename(file.path);
    files.set(name, {
      bytes: file.contents,
      contentType: 'text/javascript; charset=utf-8',
      etag: etagOf(file.contents),
      immutable: name.startsWith('chunk-'),
    });
  }
  return files;
}

/**
 * The bundle's files by name (`client.js`, `dashboard.js`, `fedistill-client.js`,
 * `chunk-*.js`). Built on the first call and shared by every coordinator in
 * the process; a failed build is retried on the next call.
 * @throws BundleError with esbuild's message when the sources do not build.
 */
export function browserBundle(): Promise<Map<string, BundleFile>> {
  if (!building) {
    building = buildBundle();
    building.catch(() => (building = undefined));
  }
  return building;
}

const WASM_FILES = [
  'tfjs-backend-wasm.wasm',
  'tfjs-backend-wasm-simd.wasm',
  'tfjs-backend-wasm-threaded-simd.wasm',
];
const wasmCache = new Map<string, BundleFile>();

/** One of the tfjs wasm backend's binaries (served for `setWasmPaths`), or undefined for other names. */
export function wasmFile(name: string): BundleFile | undefined {
  if (!WASM_FILES.includes(name)) return undefined;
  let file = wasmCache.get(name);
  if (!file) {
    const require = createRequire(import.meta.url);
    const dist = join(
      dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')),
      'dist',
    );
    const bytes = new Uint8Array(readFileSync(join(dist, name)));
    file = { bytes, contentType: 'application/wasm', etag: etagOf(bytes), immutable: false };
    wasmCache.set(name, file);
  }
  return file;
}
