import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { testScratchDir } from '../../test/scratch.js';
import { canBind, reservePort, reservePorts } from './ports.js';

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
