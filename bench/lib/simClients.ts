/**
 * Lightweight simulated clients for the scale benchmarks (scale.ts, to one
 * coordinator; scaleEdges.ts, to an edge): one process opens
 * FEDISTILL_SCALE_COUNT socket.io connections (one Engine.IO connection each)
 * to FEDISTILL_SCALE_URL on 127.0.0.1, joins each, and answers every
 * round:start with a precomputed small int8 delta. No tfjs, no training.
 *
 * stdout lines: `joined <n>` once every connection has joined, `answered <n>`
 * after each update acked. Exits on run:end, when stdin closes (the parent
 * went away) or after FEDISTILL_SCALE_TIMEOUT_MS.
 */
import { io, type Socket } from 'socket.io-client';
import { createSocketParser, encodeWeights } from '../../shared/codec/index.js';
import type { EncodedWeights } from '../../shared/codec/index.js';
import type {
  ClientToServerEvents,
  RoundStart,
  ServerToClientEvents,
} from '../../shared/protocol/index.js';
import { PROTOCOL_VERSION } from '../../shared/protocol/index.js';

type SimSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

const url = process.env.FEDISTILL_SCALE_URL ?? '';
const count = Number(process.env.FEDISTILL_SCALE_COUNT ?? '0');
const worker = process.env.FEDISTILL_SCALE_WORKER ?? '0';
const timeoutMs = Number(process.env.FEDISTILL_SCALE_TIMEOUT_MS ?? '120000');
/** Connections opened at once; the rest wait for a slot. */
const CONCURRENCY = 50;

const sockets: SimSocket[] = [];
let delta: EncodedWeights | undefined;
let answered = 0;

function finish(code: number): never {
  for (const socket of sockets) socket.close();
  process.exit(code);
}
setTimeout(() => finish(3), timeoutMs).unref();
process.stdin.on('end', () => finish(0));
process.stdin.resume();

function answer(socket: SimSocket, round: RoundStart): void {
  if (!delta) return;
  void socket
    .timeout(60_000)
    .emitWithAck('update', {
      roundId: round.roundId,
      modelVersion: round.modelVersion,
      numSamples: 1,
      delta,
      metrics: { loss: 0.1, accuracy: 0.5, trainMillis: 0, steps: 1 },
    })
    .then((response) => {
      if (response.ok) console.log(`answered ${++answered}`);
      else console.error(`update refused: ${response.error.code} ${response.error.message}`);
    })
    .catch((error: Error) => console.error(`update failed: ${error.message}`));
}

async function open(index: number): Promise<void> {
  const socket: SimSocket = io(url, {
    parser: createSocketParser(),
    auth: { protocolVersion: PROTOCOL_VERSION },
    transports: ['websocket'],
    forceNew: true,
    reconnection: false,
  });
  sockets.push(socket);
  socket.on('round:start', (round) => answer(socket, round));
  socket.on('run:end', () => finish(0));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
  const response = await socket.timeout(60_000).emitWithAck('join', {
    platform: 'sim',
    backend: 'none',
    numSamples: 1,
    name: `sim-${worker}-${index}`,
  });
  if (!response.ok) throw new Error(`join refused: ${response.error.message}`);
  if (!delta) {
    // A tiny, fixed update: every simulated client sends the same bytes.
    const values = new Float32Array(response.model.numParams).fill(1e-4);
    delta = encodeWeights(values, 'int8');
  }
}

let next = 0;
async function lane(): Promise<void> {
  while (next < count) await open(next++);
}
try {
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, count) }, () => lane()));
  console.log(`joined ${sockets.length}`);
} catch (error) {
  console.error(`scale client ${worker}: ${(error as Error).message}`);
  finish(2);
}
