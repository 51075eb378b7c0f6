// A TCP proxy on 127.0.0.1 for network drills: it forwards bytes to an upstream (the API server:
// TLS passes through untouched) and can delay every chunk in both directions — connection closes
// included, so nothing overtakes what was sent before it — or blackhole the link: bytes are
// dropped as a cut cable drops packets. A connection that lost bytes is broken for good, so when
// the link is healed those connections are reset and clients must open new ones (as after a
// partition that outlasted TCP's patience).
//
// freezeStreams() stalls only the long-lived streams (a watch) and leaves request/response traffic
// alone — as a load balancer that drops an idle stream without telling either side, or a half-open
// connection. TLS passes through, so a stream is told by its traffic: the upstream sent bytes more
// than a second after the client's last bytes and after its own previous bytes (an event pushed
// on a response that had already begun). A frozen stream's bytes are dropped in both directions,
// its sockets stay open (no reset, no FIN: nobody learns of it), and a close from either side is
// still passed on.
import net from 'node:net';

export type LinkMode = { kind: 'pass' } | { kind: 'delay'; ms: number } | { kind: 'blackhole' };

interface Link {
  client: net.Socket;
  upstream: net.Socket;
  /** Bytes were dropped: the stream cannot continue. */
  broken: boolean;
  /** performance.now() of the last bytes from each side (0 = none yet). */
  lastClientAt: number;
  lastUpstreamAt: number;
  /** Upstream pushed bytes on its own (see freezeStreams). */
  stream: boolean;
  /** Its traffic is dropped while its sockets stay open. */
  frozen: boolean;
}

/** Upstream bytes this long after both sides' last bytes are pushed ones: the link is a stream. */
const PUSH_AFTER_MS = 1000;

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

  /**
   * Freezes the streams open now (later ones pass): their bytes are dropped, their sockets stay
   * open. Returns how many were frozen.
   */
  freezeStreams(): number {
    let n = 0;
    for (const link of this.links)
      if (link.stream) {
        link.frozen = true;
        n++;
      }
    return n;
  }

  /** The frozen streams are reset (their bytes are lost for good). */
  unfreezeStreams(): void {
    for (const link of this.links)
      if (link.frozen) {
        link.client.destroy();
        link.upstream.destroy();
      }
  }

  /** How many open links are streams (see freezeStreams). */
  streams(): number {
    return [...this.links].filter((l) => l.stream).length;
  }

  async close(): Promise<void> {
    for (const link of this.links) {
      link.client.destroy();
      link.upstream.destroy();
    }
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: net.Socket, upstream: { host: string; port: number }): void {
    const link: Link = {
      client,
      upstream: net.connect(upstream.port, upstream.host),
      broken: false,
      lastClientAt: 0,
      lastUpstreamAt: 0,
      stream: false,
      frozen: false,
    };
    this.links.add(link);
    // Kept until both sides have closed: a close dropped by a blackholed or broken link leaves the
    // other side open, and close() must still end it (forgotten at the client's close, the
    // upstream socket to the API server stayed open in the jest process after ha-drills.int).
    const forget = (): void => {
      if (link.client.destroyed && link.upstream.destroyed) this.links.delete(link);
    };
    client.once('close', forget);
    link.upstream.once('close', forget);
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
    const fromClient = from === link.client;
    from.on('data', (chunk: Buffer) => {
      const now = performance.now();
      if (fromClient) link.lastClientAt = now;
      else {
        if (
          link.lastClientAt > 0 &&
          link.lastUpstreamAt > link.lastClientAt &&
          now - link.lastClientAt > PUSH_AFTER_MS &&
          now - link.lastUpstreamAt > PUSH_AFTER_MS
        ) {
          link.stream = true;
        }
        link.lastUpstreamAt = now;
      }
      if (link.frozen) return;
      deliver(() => {
        if (!to.destroyed) to.write(chunk);
      });
    });
    from.once('end', () => deliver(() => to.end()));
    from.once('error', () => undefined);
    from.once('close', () =>
      deliver(() => {
        to.destroy();
      }),
    );
  }
}
