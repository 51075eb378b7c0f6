import { spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LoadProfile } from '../profiles/profiles.js';
import { flatProfile } from './flat-profile.js';
import { LoadDriver } from './load-driver.js';
import { ThreadedLoadDriver } from './load-driver-thread.js';

const flat = (rate: number, seconds: number, maxInFlight = 100): LoadProfile =>
  flatProfile(rate, seconds, maxInFlight);

interface Server {
  url: string;
  hostPort: string;
  bodies: string[];
  close: () => Promise<void>;
}

/** Answers every request at once (202) and keeps the bodies; `close` ends every connection after its answer. */
async function serve(options: { close?: boolean } = {}): Promise<Server> {
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      bodies.push(body);
      res.statusCode = 202;
      if (options.close) res.setHeader('connection', 'close');
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/events`,
    hostPort: `127.0.0.1:${port}`,
    bodies,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A 202 server in a process of its own, so blocking this thread does not block the answers. */
async function serveElsewhere(): Promise<{ url: string; close: () => void }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "const s = require('node:http').createServer((q, r) => { q.resume(); q.on('end', () => { r.statusCode = 202; r.end('{}'); }); }); s.listen(0, '127.0.0.1', () => console.log(s.address().port));",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout.once('data', (d: Buffer) => resolve(d.toString().trim()));
    child.once('exit', (code) => reject(new Error(`the test server exited with ${code}`)));
  });
  return { url: `http://127.0.0.1:${port}/events`, close: () => child.kill() };
}

/** Blocks this thread's event loop for `ms` (a harness busy parsing, or descheduled). */
function blockEventLoop(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // spin
  }
}

describe('ThreadedLoadDriver (the load driver on a worker thread)', () => {
  it('sends the profile and reports the same counts, accepted ids and load events as the driver in-process', async () => {
    const target = await serve();
    try {
      const driver = new ThreadedLoadDriver({ profile: flat(50, 2), targetUrl: target.url, testId: 'thr' });
      await driver.ready();
      driver.start();
      await driver.done();
      const totals = driver.totals();
      expect(totals.planned).toBe(100);
      expect(totals.succeeded).toBe(100);
      expect(totals.failed + totals.dropped).toBe(0);
      expect(new Set(driver.accepted()).size).toBe(100);
      expect(driver.accepted()).toContain('thr-0');
      expect(driver.accepted()).toContain('thr-99');
      expect(driver.timeline().reduce((n, s) => n + s.succeeded, 0)).toBe(100);
      const first = JSON.parse(target.bodies[0] ?? '{}') as { id?: string; payload?: { testId?: string } };
      expect(first.id).toMatch(/^thr-\d+$/);
      expect(first.payload?.testId).toBe('thr');
    } finally {
      await target.close();
    }
  }, 60_000);

  it('keeps sending while the main thread is blocked; the in-process driver stalls with it', async () => {
    const target = await serveElsewhere();
    /** Requests started in whole seconds 1 and 2 of the run, which the block below covers. */
    const run = async (
      driver: LoadDriver | ThreadedLoadDriver,
    ): Promise<{ lag: number; startedDuringBlock: number; planned: number }> => {
      await driver.ready();
      driver.start();
      // Let the run get going, then block the harness' thread from 0.8 s to 3.8 s of it.
      await new Promise((r) => setTimeout(r, 800));
      blockEventLoop(3000);
      await driver.done();
      const seconds = driver.timeline();
      return {
        lag: driver.totals().maxSchedulerLagMs,
        startedDuringBlock: (seconds[1]?.started ?? 0) + (seconds[2]?.started ?? 0),
        planned: driver.totals().planned,
      };
    };
    try {
      const inProcess = await run(
        new LoadDriver({
          profile: flat(40, 5),
          targetUrl: target.url,
          body: (sequence) => ({ id: `in-${sequence}`, json: '{}' }),
        }),
      );
      const threaded = await run(
        new ThreadedLoadDriver({ profile: flat(40, 5), targetUrl: target.url, testId: 'off' }),
      );
      // The old way: the block is the driver's own stall; nothing goes out while it lasts, and the
      // arrivals it owed go out late, in one burst, measured as the system's latency.
      expect(inProcess.lag).toBeGreaterThanOrEqual(2500);
      expect(inProcess.startedDuringBlock).toBe(0);
      // On its own thread the driver keeps the schedule through the harness' block.
      expect(threaded.planned).toBe(200);
      expect(threaded.startedDuringBlock).toBeGreaterThan(0);
    } finally {
      target.close();
    }
  }, 60_000);

  it('spreads connections over the backends the main thread reports, and follows a change', async () => {
    // Every answer closes its connection, so each request takes the backend list's next pod.
    const a = await serve({ close: true });
    const b = await serve({ close: true });
    try {
      let backends = [a.hostPort];
      const driver = new ThreadedLoadDriver({
        profile: flat(40, 3, 1),
        // Never connected to: every connection goes to a reported backend.
        targetUrl: 'http://127.0.0.1:9/events',
        testId: 'be',
        backends: () => backends,
        backendsPollMs: 100,
      });
      await driver.ready();
      driver.start();
      setTimeout(() => (backends = [b.hostPort]), 1500);
      await driver.done();
      const totals = driver.totals();
      expect(totals.failed).toBe(0);
      expect(a.bodies.length).toBeGreaterThan(0);
      expect(b.bodies.length).toBeGreaterThan(0);
      expect(a.bodies.length + b.bodies.length).toBe(totals.succeeded);
    } finally {
      await a.close();
      await b.close();
    }
  }, 60_000);

  it('refuses connections when no gateway is ready, as a Service without endpoints does', async () => {
    const driver = new ThreadedLoadDriver({
      profile: flat(20, 1),
      targetUrl: 'http://127.0.0.1:9/events',
      testId: 'none',
      backends: () => [],
    });
    await driver.ready();
    driver.start();
    await driver.done();
    const totals = driver.totals();
    expect(totals.succeeded).toBe(0);
    expect(totals.failed).toBe(totals.started);
    expect(Object.keys(totals.failureReasons)).toEqual(['ECONNREFUSED']);
  }, 60_000);
});
