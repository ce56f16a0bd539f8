/**
 * A Node client checks that its private data fit the run's student before it trains: the
 * feature size and the labels against the join ack's model spec. Data that do not fit would fail
 * every round; instead the client tells the coordinator (`abstain`) and exits with a clear
 * message, so no round waits for it.
 */
import type { LabeledData } from '../shared/data/types.js';
import type { ModelSpec } from '../shared/models/index.js';
import type {
  AbstainMessage,
  AbstainResponse,
  JoinRequest,
  JoinResponse,
} from '../shared/protocol/index.js';
import type { FedTransport, TransportHandlers } from '../client/transport.js';

/** Why `data` cannot train a student of `spec`, or undefined when they fit. */
export function dataMismatch(data: LabeledData, spec: ModelSpec): string | undefined {
  const featureSize = spec.inputShape.reduce((a, b) => a * b, 1);
  if (data.count === 0) return 'the private data hold no samples';
  if (data.x.length !== data.count * featureSize) {
    return `the private data hold ${data.x.length / data.count} values per sample (${data.x.length} for ${data.count} samples); the run's student takes inputs of shape [${spec.inputShape.join(', ')}] = ${featureSize} values`;
  }
  let largest = 0;
  for (let i = 0; i < data.y.length; i++) largest = Math.max(largest, data.y[i]!);
  if (largest >= spec.numClasses)
    return `the private data have label ${largest}; the run's student has ${spec.numClasses} classes (0–${spec.numClasses - 1})`;
  return undefined;
}

/** Raised by the first join when the data do not fit; the coordinator has been told. */
export class DataMismatchError extends Error {
  override readonly name = 'DataMismatchError';
}

type AbstainingTransport = FedTransport & {
  abstain(message: AbstainMessage): Promise<AbstainResponse>;
};

/**
 * A transport whose join checks the accepted run's student against `data`: on a mismatch it
 * sends `abstain`, closes the connection and rejects with a DataMismatchError naming the cause.
 */
export class DataCheckedTransport implements FedTransport {
  /** A mismatch found before joining (a class folder the run does not name), told at join. */
  private refusal: string | undefined;

  constructor(
    private readonly inner: AbstainingTransport,
    private readonly data: LabeledData,
  ) {}

  get connected(): boolean {
    return this.inner.connected;
  }

  connect(handlers: TransportHandlers): Promise<void> {
    return this.inner.connect(handlers);
  }

  /** The data are known not to fit the run (before its student is known): abstain at join. */
  refuseWith(mismatch: string): void {
    this.refusal = mismatch;
  }

  async join(request: JoinRequest): Promise<JoinResponse> {
    const response = await this.inner.join(request);
    if (!response.ok) return response;
    const mismatch = this.refusal ?? dataMismatch(this.data, response.model.spec);
    if (mismatch === undefined) return response;
    try {
      await this.inner.abstain({ reason: 'data-mismatch', message: mismatch });
    } catch {
      // Unanswered (an older coordinator): the disconnect below still frees the round.
    } finally {
      this.inner.close();
    }
    throw new DataMismatchError(mismatch);
  }

  sendUpdate: FedTransport['sendUpdate'] = (update) => this.inner.sendUpdate(update);
  sendSecAgg: FedTransport['sendSecAgg'] = (message) => this.inner.sendSecAgg(message);
  fetchArtifact: FedTransport['fetchArtifact'] = (ref) => this.inner.fetchArtifact(ref);

  close(): void {
    this.inner.close();
  }
}
