// Free TCP ports on 127.0.0.1, ports reserved for one stack among concurrent ones, and a clear
// error when a wanted port is taken.
import { mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describeOwner, PortConflict, portOwners } from './port-owners.js';

export { PortConflict };
import { isProcessAlive } from './process-alive.js';

/** Asks the kernel for a free port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('could not allocate a free port'));
      });
    });
  });
}

/** Resolves when something accepts connections on 127.0.0.1:port. */
export function isListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Throws, naming the port and its purpose, when the port is already in use. */
export async function assertPortFree(port: number, purpose: string): Promise<void> {
  if (await isListening(port)) {
    throw new PortConflict(
      `port ${port} on 127.0.0.1 (${purpose}) is already in use: stop whatever holds it (ss -ltnp 'sport = :${port}') or choose another port`,
    );
  }
}

/** Whether a listener could bind the port on every address (0.0.0.0: also 127.0.0.1, a node IP). */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '0.0.0.0', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A taken port, its purpose and who holds it, as one line of an error message. */
export function describeTakenPort(port: number, purpose: string): string {
  const owner = portOwners([port]).get(port);
  return `port ${port} (${purpose}) is taken by ${owner ? describeOwner(owner) : 'a socket that is not listening (ss -tanp shows it)'}`;
}

/**
 * Where stacks on this host note the ports they chose until their processes listen on them, so two
 * stacks starting at once never choose the same one: the kernel hands out a port that is free
 * now, and nothing stops another process asking a moment later, before ours binds it. One file
 * per port, created exclusively, holding the owner's pid: a file whose pid has exited, or older
 * than RESERVATION_MAX_AGE_MS, is stale and taken over. Host-wide on purpose (not TMPDIR).
 */
export const portReservationDir = process.env.JETSCALE_PORT_RESERVATIONS ?? '/tmp/jetscale-port-reservations';
const RESERVATION_MAX_AGE_MS = 10 * 60_000;

export interface PortReservation {
  ports: number[];
  /** Drops the reservations (once the ports' processes listen, or the start gave up). */
  release(): void;
}

function listenOnAnyPort(): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ port: 0, host: '0.0.0.0', exclusive: true }, () => resolve(server));
  });
}

/** The line a reservation file holds: the owner's pid and what it is. */
function reservationContent(owner: string): string {
  return `${process.pid} ${owner}\n`;
}

/** Reserves one port for `owner`; false when a live stack holds its reservation (ports taken by
 *  listeners are the caller's concern). A reservation whose pid has exited, or older than
 *  RESERVATION_MAX_AGE_MS, is taken over. */
export function reservePort(dir: string, port: number, owner: string): boolean {
  return claim(path.join(dir, String(port)), reservationContent(owner));
}

function claim(file: string, content: string): boolean {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, content, { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let stale = false;
    try {
      const pid = Number(readFileSync(file, 'utf8').split(' ')[0]);
      stale =
        !(pid > 0 && isProcessAlive(pid)) || Date.now() - statSync(file).mtimeMs > RESERVATION_MAX_AGE_MS;
    } catch {
      stale = true; // removed meanwhile
    }
    if (!stale) return false;
    try {
      unlinkSync(file);
    } catch {
      // another stack took it over first; the next attempt sees its file
    }
  }
  return false;
}

/**
 * `count` distinct ports that no listener holds on any address and no other stack on this host has
 * reserved: the kernel picks them (its ephemeral range, apart from the ports kwokctl counts down
 * from 32767 when left to choose), each held open until all are claimed. `owner` goes in the files.
 */
export async function reservePorts(
  count: number,
  owner: string,
  dir: string = portReservationDir,
): Promise<PortReservation> {
  mkdirSync(dir, { recursive: true, mode: 0o1777 });
  const content = reservationContent(owner);
  const held: net.Server[] = [];
  const ports: number[] = [];
  try {
    for (let tries = 0; ports.length < count; tries++) {
      if (tries > count * 20)
        throw new Error(`could not reserve ${count} free ports (reservations in ${dir})`);
      const server = await listenOnAnyPort();
      held.push(server);
      const address = server.address();
      if (!address || typeof address !== 'object') continue;
      if (claim(path.join(dir, String(address.port)), content)) ports.push(address.port);
    }
  } catch (err) {
    release(dir, ports, content);
    throw err;
  } finally {
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
  }
  return { ports, release: () => release(dir, ports, content) };
}

function release(dir: string, ports: number[], content: string): void {
  for (const port of ports) {
    const file = path.join(dir, String(port));
    try {
      if (readFileSync(file, 'utf8') === content) unlinkSync(file);
    } catch {
      // already gone
    }
  }
}

/**
 * Starts a server on ports of its own. With `given` ports, one attempt on exactly those. Without,
 * `count` ports are reserved against other stacks (reservePorts) for the start and released once it
 * returns (the server then holds them by listening); a PortConflict (a process that reserves nothing
 * took one first) is retried with new ports, up to `attempts` times, and every attempt's reason is
 * in the final error.
 */
export async function startOnOwnPorts<T>(options: {
  count: number;
  owner: string;
  given?: number[];
  attempts?: number;
  dir?: string;
  /** Starts on these ports; `attempt` counts from 1. */
  start: (ports: number[], attempt: number) => Promise<T>;
  progress?: (line: string) => void;
}): Promise<T> {
  if (options.given) return options.start(options.given, 1);
  const attempts = options.attempts ?? 3;
  const failures: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const reservation = await reservePorts(options.count, options.owner, options.dir);
    try {
      // A copy: release() walks the reservation's own list, whatever start does with this one.
      return await options.start([...reservation.ports], attempt);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      failures.push(`attempt ${attempt}: ${reason}`);
      if (!(err instanceof PortConflict) || attempt >= attempts)
        throw failures.length > 1
          ? new Error(`${options.owner} did not start:\n  ${failures.join('\n  ')}`)
          : err;
      options.progress?.(`${reason}; starting again with other ports`);
    } finally {
      reservation.release();
    }
  }
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
