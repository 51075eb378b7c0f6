// Which process listens on a TCP port of this host, read from /proc (Linux): /proc/net/tcp and
// tcp6 name the listening socket's inode, /proc/<pid>/fd links name the process holding it. The
// stack uses it to check that each port it chose is held by the component it gave it to (not by
// another stack's), and to name the holder when a port is taken. The parser is pure; the rest
// reads /proc and needs to see other users' processes (root) to name them.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export interface ListeningSocket {
  /** e.g. 127.0.0.1, 0.0.0.0, :: (tcp6 addresses are shown only as :: (any), ::1 or hex). */
  address: string;
  port: number;
  inode: number;
}

const TCP_LISTEN = '0A';

function ipv4(hex: string): string {
  // /proc prints the address as one host-order (little-endian here) 32-bit word.
  const bytes = [6, 4, 2, 0].map((i) => parseInt(hex.slice(i, i + 2), 16));
  return bytes.join('.');
}

function ipv6(hex: string): string {
  if (/^0+$/.test(hex)) return '::';
  if (hex === '00000000000000000000000001000000') return '::1';
  return hex.toLowerCase();
}

/** The listening sockets in the text of /proc/net/tcp or /proc/net/tcp6. */
export function parseListeningSockets(text: string): ListeningSocket[] {
  const sockets: ListeningSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [, local, , state, , , , , , inodeText] = fields;
    if (!local || state !== TCP_LISTEN || inodeText === undefined) continue;
    const [addressHex, portHex] = local.split(':');
    if (!addressHex || !portHex) continue;
    sockets.push({
      address: addressHex.length === 8 ? ipv4(addressHex) : ipv6(addressHex),
      port: parseInt(portHex, 16),
      inode: Number(inodeText),
    });
  }
  return sockets;
}

export interface PortOwner {
  port: number;
  address: string;
  /** Undefined when the socket's process is not visible (another user's, without root). */
  pid?: number;
  /** The holder's command line, shortened for messages. */
  command?: string;
}

function readOr(file: string, fallback: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return fallback;
  }
}

/** The command line of a process, NUL-separated arguments joined by spaces, at most 160 chars. */
export function commandLine(pid: number): string | undefined {
  const raw = readOr(`/proc/${pid}/cmdline`, '');
  if (!raw) return undefined;
  const text = raw.replace(/\0+$/, '').split('\0').join(' ');
  return text.length > 160 ? `${text.slice(0, 157)}...` : text;
}

/** socket inode -> pid, over every process this user may look into. */
function socketInodeOwners(wanted: Set<number>): Map<number, number> {
  const owners = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(path.join('/proc', entry, 'fd', fd));
      } catch {
        continue;
      }
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m && wanted.has(Number(m[1]))) owners.set(Number(m[1]), Number(entry));
    }
    if (owners.size === wanted.size) break;
  }
  return owners;
}

/** Who listens on each of `ports` (any address, IPv4 or IPv6); a port nobody holds is absent. */
export function portOwners(ports: number[]): Map<number, PortOwner> {
  const wanted = new Set(ports);
  const sockets = ['/proc/net/tcp', '/proc/net/tcp6']
    .flatMap((file) => parseListeningSockets(readOr(file, '')))
    .filter((s) => wanted.has(s.port));
  const pids = socketInodeOwners(new Set(sockets.map((s) => s.inode)));
  const owners = new Map<number, PortOwner>();
  for (const socket of sockets) {
    const pid = pids.get(socket.inode);
    const known = owners.get(socket.port);
    if (known?.pid !== undefined) continue;
    owners.set(socket.port, {
      port: socket.port,
      address: socket.address,
      ...(pid !== undefined ? { pid, command: commandLine(pid) } : {}),
    });
  }
  return owners;
}

/** "pid 1234 (etcd --name node0 …)" or, when the process is not visible, what to run to find it. */
export function describeOwner(owner: PortOwner): string {
  if (owner.pid === undefined)
    return `a process this user cannot see (ss -ltnp 'sport = :${owner.port}' as root names it)`;
  return `pid ${owner.pid} (${owner.command ?? 'exited'})`;
}

/** A port of ours held by another process: worth another attempt with new ports. */
export class PortConflict extends Error {}

/**
 * Throws unless every port is held by `pid`: a server that lost its port to another process between
 * our check and its bind exits, but a readiness probe may reach the other process first (another
 * stack's NATS or Prometheus) and call it up. The message names each port's holder.
 */
export function assertPortsHeldBy(
  pid: number | undefined,
  ports: Array<{ port: number; purpose: string }>,
): void {
  const owners = portOwners(ports.map((p) => p.port));
  const wrong = ports.flatMap(({ port, purpose }) => {
    const owner = owners.get(port);
    if (owner?.pid !== undefined && owner.pid === pid) return [];
    return [
      `port ${port} (${purpose}) is held by ${owner ? describeOwner(owner) : 'nobody'}, not by pid ${pid ?? '(not started)'}`,
    ];
  });
  if (wrong.length > 0) throw new PortConflict(wrong.join('; '));
}

/**
 * What to throw when a server did not start: a PortConflict naming the holders when another process
 * than `pid` listens on one of its ports (it lost the port, and exited or answered a probe for
 * another server), else the error itself.
 */
export function blameTakenPorts(
  err: unknown,
  pid: number | undefined,
  ports: Array<{ port: number; purpose: string }>,
): unknown {
  if (err instanceof PortConflict) return err;
  const owners = portOwners(ports.map((p) => p.port));
  const taken = ports.flatMap(({ port, purpose }) => {
    const owner = owners.get(port);
    return owner && owner.pid !== pid ? [`port ${port} (${purpose}) is held by ${describeOwner(owner)}`] : [];
  });
  if (taken.length === 0) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new PortConflict(`${reason}: ${taken.join('; ')}`);
}
