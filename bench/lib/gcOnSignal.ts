/**
 * Preloaded into a process whose memory a bench section reads from outside
 * (`node --expose-gc --import tsx --import <this file> cli/main.ts edge …`):
 * on SIGUSR2 it runs a full garbage collection (two, a second apart: see
 * `memoryAfterGc`), so garbage left from start-up does not hide what later
 * work allocates, and prints one line to stderr:
 * `bench-memory pid=<pid> rss=<bytes> heap=<bytes>` (heap: JS heap used plus
 * ArrayBuffers, as bench/lib/common.ts `memory()` counts it).
 */
import { memoryAfterGc } from './common.js';

process.on('SIGUSR2', () => {
  void memoryAfterGc().then((m) =>
    process.stderr.write(`bench-memory pid=${process.pid} rss=${m.rss} heap=${m.heapAndBuffers}\n`),
  );
});
