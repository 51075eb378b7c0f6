import net from 'node:net';
import {
  assertPortsHeldBy,
  blameTakenPorts,
  describeOwner,
  parseListeningSockets,
  PortConflict,
  portOwners,
} from './port-owners.js';

// Lines as Linux prints them (header, then one socket per line; st 0A = LISTEN, 01 = ESTABLISHED).
const tcp = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:7FFE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1067 1 0000000000000000 100 0 0 10 0
   2: 020200C0:C31E 507100CB:01BB 01 00000000:00000000 02:00000070 00000000     0        0 1771708 2 0000000000000000 20 4 1 88 148
`;
const tcp6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 98 1 0000000000000000 100 0 0 10 0
`;

describe('listening sockets from /proc/net/tcp and tcp6', () => {
  test('reads address, port and inode of LISTEN sockets only', () => {
    expect(parseListeningSockets(tcp)).toEqual([
      { address: '127.0.0.1', port: 32766, inode: 4242 },
      { address: '0.0.0.0', port: 2024, inode: 1067 },
    ]);
  });

  test('reads IPv6 wildcard and loopback listeners', () => {
    expect(parseListeningSockets(tcp6)).toEqual([
      { address: '::', port: 8080, inode: 99 },
      { address: '::1', port: 22, inode: 98 },
    ]);
  });

  test('ignores an empty or truncated file', () => {
    expect(parseListeningSockets('')).toEqual([]);
    expect(parseListeningSockets(tcp.split('\n')[0] ?? '')).toEqual([]);
  });
});

describe('who holds a port', () => {
  test('names this process for a port it listens on, and nobody for a closed one', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      const owner = portOwners([port]).get(port);
      expect(owner).toMatchObject({ port, address: '127.0.0.1', pid: process.pid });
      if (!owner) throw new Error('no owner');
      expect(describeOwner(owner)).toMatch(new RegExp(`^pid ${process.pid} \\(.*node`));
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(portOwners([port]).get(port)).toBeUndefined();
  });

  test('says how to find a holder it cannot see', () => {
    expect(describeOwner({ port: 32759, address: '127.0.0.1' })).toBe(
      "a process this user cannot see (ss -ltnp 'sport = :32759' as root names it)",
    );
  });
});

describe('checking that a server holds its own ports', () => {
  test('passes for the holder; names the real holder, or nobody, otherwise', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      expect(() => assertPortsHeldBy(process.pid, [{ port, purpose: 'probe' }])).not.toThrow();
      expect(() => assertPortsHeldBy(4194305, [{ port, purpose: 'probe' }])).toThrow(
        new RegExp(`^port ${port} \\(probe\\) is held by pid ${process.pid} \\(.*\\), not by pid 4194305$`),
      );
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(() => assertPortsHeldBy(process.pid, [{ port, purpose: 'probe' }])).toThrow(
      `port ${port} (probe) is held by nobody, not by pid ${process.pid}`,
    );
  });
});

describe('why a server did not start', () => {
  test('a port of its held by another process: a PortConflict naming it; otherwise the error itself', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const exited = new Error('prometheus exited with code 1; see /x/prometheus.log');
    try {
      // A server (pid 4194305: none can have it) that lost its port to this process and exited.
      const blamed = blameTakenPorts(exited, 4194305, [{ port, purpose: 'prometheus' }]);
      expect(blamed).toBeInstanceOf(PortConflict);
      expect((blamed as Error).message).toMatch(
        new RegExp(
          `^prometheus exited with code 1; see /x/prometheus.log: port ${port} \\(prometheus\\) is held by pid ${process.pid} `,
        ),
      );
      // The port is its own: the failure was something else.
      expect(blameTakenPorts(exited, process.pid, [{ port, purpose: 'prometheus' }])).toBe(exited);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(blameTakenPorts(exited, 4194305, [{ port, purpose: 'prometheus' }])).toBe(exited);
  });
});
