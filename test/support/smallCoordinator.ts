/**
 * The coordinator most in-process tests start: on 127.0.0.1, port 0, the
 * small teacher and student (smallRun.ts), the cpu backend, a fresh data
 * directory, every event recorded. `close()` stops it and removes the folder.
 * And the in-process Node client those tests connect to it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { prepareCoordinator, type PreparedCoordinator } from '../../cli/coordinatorSetup.js';
import { FedClient, type FedClientOptions } from '../../client/fedClient.js';
import { SocketTransport } from '../../client/socketTransport.js';
import type { FedTransport } from '../../client/transport.js';
import type { CoordinatorConfigInput } from '../../server/config.js';
import type { CoordinatorEvent } from '../../server/coordinator.js';
import type { LabeledData } from '../../shared/data/types.js';
import { SMALL_MODELS, smallTraining } from './smallRun.js';

export interface SmallCoordinator {
  prepared: PreparedCoordinator;
  url: string;
  events: CoordinatorEvent[];
  close(): Promise<void>;
}

/**
 * @param name names the data directory (`fedistill-<name>-…` in the temp folder).
 * @param config coordinator settings; `training` defaults to smallTraining().
 */
export async function startSmallCoordinator(
  name: string,
  config: Omit<CoordinatorConfigInput, 'port' | 'dataDir'>,
  options: { demoClients?: number } = {},
): Promise<SmallCoordinator> {
  await tf.setBackend('cpu');
  const dataDir = mkdtempSync(join(tmpdir(), `fedistill-${name}-`));
  const events: CoordinatorEvent[] = [];
  const prepared = await prepareCoordinator({
    config: { training: smallTraining(), ...config, port: 0, dataDir },
    backend: 'cpu',
    ...SMALL_MODELS,
    ...(options.demoClients !== undefined ? { demoClients: options.demoClients } : {}),
    log: () => undefined,
    onEvent: (event) => events.push(event),
  });
  return {
    prepared,
    url: prepared.running.url,
    events,
    close: async () => {
      await prepared.running.close();
      prepared.teacher.dispose();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A FedClient in this process on the cpu backend, over a socket to `url` unless told otherwise. */
export function nodeClient(
  url: string,
  data: LabeledData,
  options: Partial<FedClientOptions> & { transport?: FedTransport } = {},
): FedClient {
  return new FedClient({
    transport: new SocketTransport({ url }),
    data,
    platform: 'node',
    backend: 'cpu',
    ...options,
  });
}
