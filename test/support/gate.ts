/**
 * A loopback TCP gate in front of a server: while shut it drops every connection at once (a
 * client sees the server as unreachable and retries); once opened it forwards connections to
 * the target port. Lets a test start a client process early, so its start-up time (which grows
 * with the machine's load) is spent before the moment the test wants it to arrive.
 */
import { connect, createServer, type Socket } from 'node:net';

export interface Gate {
  /** `http://127.0.0.1:<gate port>`. */
  readonly url: string;
  /** From now on, connections pass through to the target. */
  open(): void;
  /** Stops listening and closes every forwarded connection. */
  close(): Promise<void>;
}

export async function startGate(targetPort: number): Promise<Gate> {
  let opened = false;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  };
  const server = createServer((incoming) => {
    if (!opened) {
      incoming.destroy();
      return;
    }
    const outgoing = connect(targetPort, '127.0.0.1');
    track(incoming);
    track(outgoing);
    incoming.on('error', () => outgoing.destroy());
    outgoing.on('error', () => incoming.destroy());
    incoming.pipe(outgoing).pipe(incoming);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    open: () => {
      opened = true;
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
