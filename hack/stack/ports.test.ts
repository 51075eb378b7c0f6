import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { testScratchDir } from '../../test/scratch.js';
import { PortConflict } from './port-owners.js';
import { canBind, reservePort, reservePorts, startOnOwnPorts } from './ports.js';

describe('reserving ports for a stack', () => {
  test('stacks reserving at the same moment never get the same port, and each port is free', async () => {
    const dir = testScratchDir('jetscale-ports-');
    const reservations = await Promise.all(
      Array.from({ length: 4 }, (_, i) => reservePorts(6, `stack ${i}`, dir)),
    );
    const all = reservations.flatMap((r) => r.ports);
    expect(all).toHaveLength(24);
    expect(new Set(all).size).toBe(24);
    for (const port of all) expect(await canBind(port)).toBe(true);
    expect(readdirSync(dir)).toHaveLength(24);
    expect(readFileSync(path.join(dir, String(all[0])), 'utf8')).toBe(`${process.pid} stack 0\n`);
    reservations.forEach((r) => r.release());
    expect(readdirSync(dir)).toEqual([]);
  });

  test('a port another live stack reserved is not handed out; one left by an exited stack is', async () => {
    const dir = testScratchDir('jetscale-ports-');
    // The kernel hands out ports from one range; reserve one, note it as held by a live process
    // (this one, under another name) and by an exited one, and see which come back.
    const first = await reservePorts(1, 'probe', dir);
    const port = first.ports[0] as number;
    first.release();
    writeFileSync(path.join(dir, String(port)), `${process.pid} the other stack\n`);
    const more = await reservePorts(200, 'me', dir);
    expect(more.ports).not.toContain(port);
    expect(readFileSync(path.join(dir, String(port)), 'utf8')).toBe(`${process.pid} the other stack\n`);
    more.release();
    expect(existsSync(path.join(dir, String(port)))).toBe(true);
  });

  test('a single port: taken over from an exited owner or a stale file, refused while its owner lives', () => {
    const dir = testScratchDir('jetscale-ports-');
    // pid 2^22 + 1 is above Linux's largest pid_max: no process can have it.
    writeFileSync(path.join(dir, '40001'), '4194305 gone\n');
    expect(reservePort(dir, 40001, 'me')).toBe(true);
    expect(readFileSync(path.join(dir, '40001'), 'utf8')).toBe(`${process.pid} me\n`);

    writeFileSync(path.join(dir, '40002'), `${process.pid} alive\n`);
    expect(reservePort(dir, 40002, 'me')).toBe(false);
    const hourAgo = new Date(Date.now() - 3_600_000);
    utimesSync(path.join(dir, '40002'), hourAgo, hourAgo);
    expect(reservePort(dir, 40002, 'me')).toBe(true);

    expect(reservePort(dir, 40003, 'me')).toBe(true);
    expect(reservePort(dir, 40003, 'again')).toBe(false);
  });

  test('canBind is false for a port somebody listens on', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as net.AddressInfo).port;
    try {
      expect(await canBind(port)).toBe(false);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(await canBind(port)).toBe(true);
  });
});

describe('starting a server on ports of its own', () => {
  const listen = async (): Promise<net.Server> => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return server;
  };

  test('reserves the ports against other stacks while it starts, and drops them once it has', async () => {
    const dir = testScratchDir('jetscale-ports-');
    let seen: string[] = [];
    const ports = await startOnOwnPorts({
      count: 2,
      owner: 'nats-server in /x',
      dir,
      start: async (reserved) => {
        seen = readdirSync(dir).sort();
        return reserved;
      },
    });
    expect(seen).toEqual(ports.map(String).sort());
    expect(readdirSync(dir)).toEqual([]);
  });

  test('the reservations are dropped even when the start takes its ports off the list it was given', async () => {
    const dir = testScratchDir('jetscale-ports-');
    const taken: number[] = [];
    await startOnOwnPorts({
      count: 2,
      owner: 'nats-server in /x',
      dir,
      start: async (reserved) => {
        for (let p = reserved.shift(); p !== undefined; p = reserved.shift()) taken.push(p);
        return taken;
      },
    });
    expect(taken).toHaveLength(2);
    expect(readdirSync(dir)).toEqual([]);
  });

  test('a port taken by a process that reserves nothing: started again on new ports, and said so', async () => {
    const dir = testScratchDir('jetscale-ports-');
    const squatters: net.Server[] = [];
    const said: string[] = [];
    const tried: number[][] = [];
    try {
      const ports = await startOnOwnPorts({
        count: 1,
        owner: 'prometheus in /x',
        dir,
        progress: (line) => said.push(line),
        start: async (reserved, attempt) => {
          tried.push(reserved);
          if (attempt === 1) {
            squatters.push(await listen());
            throw new PortConflict(`port ${reserved[0]} (prometheus) is held by somebody else`);
          }
          return reserved;
        },
      });
      expect(tried).toHaveLength(2);
      expect(ports).toEqual(tried[1]);
      expect(said).toEqual([expect.stringMatching(/held by somebody else; starting again with other ports/)]);
    } finally {
      await Promise.all(squatters.map((s) => new Promise((r) => s.close(r))));
    }
  });

  test('gives up after three conflicts with every reason; any other failure is not retried', async () => {
    const dir = testScratchDir('jetscale-ports-');
    let calls = 0;
    await expect(
      startOnOwnPorts({
        count: 1,
        owner: 'prometheus in /x',
        dir,
        start: async (reserved) => {
          calls++;
          throw new PortConflict(`port ${reserved[0]} is taken`);
        },
      }),
    ).rejects.toThrow(
      /prometheus in \/x did not start:\n {2}attempt 1: port \d+ is taken\n {2}attempt 2: .*\n {2}attempt 3: /,
    );
    expect(calls).toBe(3);
    expect(readdirSync(dir)).toEqual([]);

    calls = 0;
    await expect(
      startOnOwnPorts({
        count: 1,
        owner: 'prometheus in /x',
        dir,
        start: async () => {
          calls++;
          throw new Error('prometheus exited with code 2');
        },
      }),
    ).rejects.toThrow(/^prometheus exited with code 2$/);
    expect(calls).toBe(1);
  });

  test('ports the user gave: exactly those, once, nothing reserved', async () => {
    const dir = testScratchDir('jetscale-ports-');
    let calls = 0;
    await expect(
      startOnOwnPorts({
        count: 1,
        owner: 'nats-server in /x',
        given: [4222],
        dir,
        start: async (ports) => {
          calls++;
          expect(readdirSync(dir)).toEqual([]);
          throw new PortConflict(`port ${ports[0]} is taken`);
        },
      }),
    ).rejects.toThrow(/^port 4222 is taken$/);
    expect(calls).toBe(1);
  });
});
