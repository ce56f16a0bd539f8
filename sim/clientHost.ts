/**
 * Hosts virtual clients: the same FedClient real devices run, each over a
 * PortTransport. One host runs in each worker thread (`worker.ts`), or one in
 * the main thread when the simulation runs without workers. Private shards
 * are handed over once per simulation; each coordinator run is a session.
 */
import type { LabeledData } from '../shared/data/types.js';
import type { FedClientEvent } from '../client/fedClient.js';
import { FedClient } from '../client/fedClient.js';
import type { VirtualClientStart, WorkerCommand, WorkerReport } from './messages.js';
import { PortTransport } from './portTransport.js';

/** Client events worth sending across threads (per-step progress is not). */
function forwarded(event: FedClientEvent): boolean {
  return event.type !== 'train:progress';
}

export class ClientHost {
  private readonly shards = new Map<number, LabeledData>();
  private validation: LabeledData | undefined;
  private readonly sessions = new Map<number, FedClient[]>();

  constructor(
    private readonly backend: string,
    private readonly report: (report: WorkerReport) => void,
  ) {}

  handle(command: WorkerCommand): void {
    switch (command.type) {
      case 'data':
        this.shards.clear();
        for (const shard of command.shards) this.shards.set(shard.index, shard.data);
        this.validation = command.validation;
        return;
      case 'start':
        this.start(command.session, command.clients);
        return;
      case 'stop':
        this.stop(command.session);
        return;
      case 'exit':
        for (const session of [...this.sessions.keys()]) this.stop(session);
        return;
    }
  }

  private start(session: number, clients: VirtualClientStart[]): void {
    const started: FedClient[] = [];
    this.sessions.set(session, started);
    for (const spec of clients) {
      const data = this.shards.get(spec.index);
      if (!data) {
        this.report({
          type: 'client-failed',
          session,
          index: spec.index,
          message: `no data for client ${spec.index}`,
        });
        continue;
      }
      const client = new FedClient({
        transport: new PortTransport(spec.port, { updateDelayMs: spec.updateDelayMs ?? 0 }),
        data,
        ...(this.validation ? { validation: this.validation } : {}),
        ...(spec.studentSpec ? { studentSpec: spec.studentSpec } : {}),
        platform: 'sim',
        backend: this.backend,
        name: spec.name,
        clientId: spec.clientId,
        seed: spec.seed,
        onEvent: (event) => {
          if (forwarded(event))
            this.report({ type: 'client-event', session, index: spec.index, event });
        },
      });
      started.push(client);
      client.start().catch((error: Error) =>
        this.report({
          type: 'client-failed',
          session,
          index: spec.index,
          message: error.message,
        }),
      );
    }
  }

  private stop(session: number): void {
    for (const client of this.sessions.get(session) ?? []) client.stop();
    this.sessions.delete(session);
  }
}
