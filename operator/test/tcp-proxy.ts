// A TCP proxy on 127.0.0.1 for network drills: it forwards bytes to an upstream (the API server:
// TLS passes through untouched) and can delay every chunk in both directions — connection closes
// included, so nothing overtakes what was sent before it — or blackhole the link: bytes are
// dropped as a cut cable drops packets. A connection that lost bytes is broken for good, so when
// the link is healed those connections are reset and clients must open new ones (as after a
// partition that outlasted TCP's patience).
import net from 'node:net';

export type LinkMode = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'blackhole' };

interface Link {
  client: net.Socket;
  upstream: net.Socket;
  /** Bytes were dropped: the stream cannot continue. */
  broken: boolean;
}

export class TcpProxy {
  private mode: LinkMode = { kind: 'pass' };
  private readonly links = new Set<Link>();

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(upstream: { host: string; port: number }): Promise<TcpProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address');
    const proxy = new TcpProxy(server, address.port);
    server.on('connection', (client) => proxy.accept(client, upstream));
    return proxy;
  }

  setMode(mode: LinkMode): void {
    const healed = this.mode.kind === 'blackhole' && mode.kind !== 'blackhole';
    this.mode = mode;
    if (healed)
      for (const link of this.links)
        if (link.broken) {
          link.client.destroy();
          link.upstream.destroy();
        }
  }

  async close(): Promise<void> {
    for (const link of this.links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket, upstream: { host: string; port: number }): void {
    const link: Link = { client, upstream: net.connect(upstream.port, upstream.host), broken: false };
    this.links.add(link);
    const forget = (): void => {
      this.links.delete(link);
    };
    client.once('close', forget);
    this.forward(link, link.client, link.upstream);
    this.forward(link, link.upstream, link.client);
  }

  /** Moves bytes from one side to the other under the current mode, preserving their order. */
  private forward(link: Link, from: net.Socket, to: net.Socket): void {
    // When the last scheduled delivery in this direction happens; later chunks never overtake it.
    let lastDelivery = 0;
    const deliver = (action: () => void): void => {
      const mode = this.mode;
      if (mode.kind === 'blackhole') {
        link.broken = true;
        return;
      }
      if (link.broken) return;
      if (mode.kind === 'pass' && lastDelivery <= performance.now()) {
        action();
        return;
      }
      const delay = mode.kind === 'delay' ? mode.ms : 0;
      const at = Math.max(performance.now() + delay, lastDelivery);
      lastDelivery = at;
      setTimeout(action, Math.max(0, at - performance.now()));
    };
    from.on('data', (chunk: Buffer) =>
      deliver(() => {
        if (!to.destroyed) to.write(chunk);
      }),
    );
    from.once('end', () => deliver(() => to.end()));
    from.once('error', () => undefined);
    from.once('close', () =>
      deliver(() => {
        to.destroy();
      }),
    );
  }
}
