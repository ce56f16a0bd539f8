/**
 * A client process for tests of asynchronous rounds over real sockets: a
 * FedClient (cpu backend) on one demo shard, whose every update is written to
 * stdout with its answer, so a test can compute each aggregate by hand from
 * the deltas clients actually sent (an edge folds them; no one else sees them).
 * A slow one (`slow`) holds its first update until a line comes on stdin —
 * the test decides when it arrives, not a timer.
 *
 *   node --import tsx recordingClient.ts URL SHARD OF SEED fast|slow
 *
 * Each answered update is one line: `update {"roundId","modelVersion","delta"
 * (base64 of the float32 values as sent),"response"}`. Exits 0 when the run
 * ends.
 */
import { createInterface } from 'node:readline';
import * as tf from '@tensorflow/tfjs';
import { FedClient } from '../../client/fedClient.js';
import { SocketTransport } from '../../client/socketTransport.js';
import type { FedTransport } from '../../client/transport.js';
import { demoSplit } from '../../node/demo/demoSplit.js';
import { decodeWeights } from '../../shared/codec/index.js';
import type { UpdateMessage, UpdateResponse } from '../../shared/protocol/index.js';

const [url, shard, of, seed, pace] = process.argv.slice(2);
if (!url || shard === undefined || of === undefined || seed === undefined)
  throw new Error('usage: recordingClient.ts URL SHARD OF SEED fast|slow');

let released: Promise<void> = Promise.resolve();
if (pace === 'slow') {
  const lines = createInterface({ input: process.stdin });
  released = new Promise((resolve) => lines.once('line', () => resolve()));
}

const socket = new SocketTransport({ url });
let held = pace === 'slow';
const transport: FedTransport = {
  connect: (handlers) => socket.connect(handlers),
  join: (request) => socket.join(request),
  async sendUpdate(update: UpdateMessage): Promise<UpdateResponse> {
    if (held) {
      held = false;
      process.stdout.write(`holding round ${update.roundId} version ${update.modelVersion}\n`);
      await released;
    }
    const response = await socket.sendUpdate(update);
    const delta = decodeWeights(update.delta);
    const line = {
      roundId: update.roundId,
      modelVersion: update.modelVersion,
      delta: Buffer.from(delta.buffer, delta.byteOffset, delta.byteLength).toString('base64'),
      response,
    };
    process.stdout.write(`update ${JSON.stringify(line)}\n`);
    return response;
  },
  sendSecAgg: (message) => socket.sendSecAgg(message),
  fetchArtifact: (ref) => socket.fetchArtifact(ref),
  get connected() {
    return socket.connected;
  },
  close: () => socket.close(),
};

await tf.setBackend('cpu');
const client = new FedClient({
  transport,
  data: demoSplit({ clients: Number(of) }).shards[Number(shard)]!,
  platform: 'node',
  backend: 'cpu',
  seed: Number(seed),
  name: `${pace}-${shard}`,
  onEvent: (event) => {
    if (event.type === 'joined') process.stdout.write(`joined ${event.clientId}\n`);
    if (event.type === 'error') process.stdout.write(`error ${event.message}\n`);
  },
});
await client.start();
const reason = await client.done;
process.stdout.write(`ended ${reason}\n`);
client.stop();
process.exit(0);
