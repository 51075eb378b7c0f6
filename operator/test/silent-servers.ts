// Ports on 127.0.0.1 that accept TCP connections and never send a byte: what a client sees of a
// server behind a firewall that lets the handshake through and drops the rest, a process that
// accepts but hangs, or a wrong port of some other service that waits to be spoken to. A NATS
// client waits for the INFO line that never comes until its connect timeout, server after server.
import net from 'node:net';

export class SilentServers {
  private readonly sockets = new Set<net.Socket>();

  private constructor(private readonly servers: net.Server[]) {
    for (const server of servers)
      server.on('connection', (socket) => {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => this.sockets.delete(socket));
      });
  }

  static async start(count: number): Promise<SilentServers> {
    const servers = await Promise.all(
      Array.from({ length: count }, async () => {
        const server = net.createServer();
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve());
        });
        return server;
      }),
    );
    return new SilentServers(servers);
  }

  /** nats:// URLs of every port; `user` (a URL user name) makes them another connection key. */
  urls(user?: string): string[] {
    const who = user === undefined ? '' : `${user}@`;
    return this.servers.map((s) => {
      const address = s.address();
      if (address === null || typeof address === 'string')
        throw new Error('silent server has no TCP address');
      return `nats://${who}127.0.0.1:${address.port}`;
    });
  }

  /** Connections accepted and still open. */
  openConnections(): number {
    return this.sockets.size;
  }

  /** Resets every accepted connection and stops listening: connects waiting on them fail at once. */
  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.resetAndDestroy();
    this.sockets.clear();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}
