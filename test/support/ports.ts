/**
 * A loopback port nothing listens on right now, for tests that start a process on a port they
 * must know in advance (to restart it on the same one, or to point a client at nothing). The OS
 * picks it; there is a small race until the process binds it.
 */
import { createServer } from 'node:net';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
