/**
 * Entry of a simulation worker thread: picks the tfjs backend (wasm runs one
 * thread per process, so parallel clients need threads of their own), then
 * hosts the virtual clients the main thread assigns to it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { selectNodeBackend } from '../node/backend.js';
import { ClientHost } from './clientHost.js';
import type { WorkerCommand, WorkerReport } from './messages.js';

const port = parentPort;
if (!port) throw new Error('sim/worker.ts runs in a worker thread');
const report = (message: WorkerReport) => port.postMessage(message);
try {
  const { backend } = (workerData ?? {}) as { backend?: string };
  const choice = await selectNodeBackend(backend !== undefined ? { force: backend } : {});
  const host = new ClientHost(choice.name, report);
  port.on('message', (command: WorkerCommand) => {
    host.handle(command);
    if (command.type === 'exit') port.close();
  });
  report({ type: 'ready', backend: choice.name });
} catch (error) {
  report({ type: 'fatal', message: (error as Error).message });
}
