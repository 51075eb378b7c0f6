import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import type { LoadProfile } from '../profiles/profiles.js';
import { flatProfile } from './flat-profile.js';
import { LoadDriver, percentile, plannedArrivals } from './load-driver.js';

const flat = (rate: number, seconds: number, maxInFlight = 50): LoadProfile =>
  flatProfile(rate, seconds, maxInFlight);

async function serve(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/events`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const body = (sequence: number): { id: string; json: string } => ({
  id: `t-${sequence}`,
  json: JSON.stringify({ sequence }),
});

describe('plannedArrivals', () => {
  it('integrates a linear ramp: 0 → 10/s over 10 s plans 50 requests', () => {
    const ramp: LoadProfile = {
      ...flat(0, 10),
      startRate: 0,
      stages: [{ durationSeconds: 10, targetRate: 10 }],
    };
    expect(plannedArrivals(ramp, 10)).toBeCloseTo(50);
    expect(plannedArrivals(ramp, 5)).toBeCloseTo(12.5);
    expect(plannedArrivals(ramp, 20)).toBeCloseTo(50);
  });
});

describe('percentile', () => {
  it('takes the nearest rank', () => {
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 50)).toBe(5);
    expect(percentile([], 95)).toBe(0);
  });
});

// A loaded 2-core machine starves the jest process: the 1–2 s profiles below can take several
// seconds of wall clock to settle (jest's 5 s default failed in a CI run at load 21).
describe('LoadDriver (open model)', () => {
  it('sends the planned number of requests at the planned rate when the target keeps up', async () => {
    const target = await serve((_req, res) => {
      res.statusCode = 202;
      res.end('{}');
    });
    try {
      // As many in-flight slots as planned requests: the target keeps up by construction. With 50
      // (s26, load ~30) this process, target and driver alike, was descheduled for over a second:
      // 50 slots for the arrivals due at once, the rest dropped as the open model drops them
      // (succeeded 68 of 100; a 1.5 s SIGSTOP of jest: 74). Dropping at full slots is the next test's.
      const driver = new LoadDriver({ profile: flat(50, 2, 100), targetUrl: target.url, body });
      driver.start();
      await driver.done();
      const totals = driver.totals();
      expect(totals.planned).toBe(100);
      expect(totals.succeeded).toBe(100);
      expect(totals.dropped).toBe(0);
      expect(totals.failed).toBe(0);
      expect(driver.inFlightRequests()).toBe(0);
      expect(driver.timeline().reduce((n, s) => n + s.started, 0)).toBe(100);
      expect(driver.accepted()).toHaveLength(100);
      expect(new Set(driver.accepted()).size).toBe(100);
    } finally {
      await target.close();
    }
  }, 30_000);

  it('drops and counts arrivals that find every in-flight slot taken instead of sending them late', async () => {
    const held: http.ServerResponse[] = [];
    const target = await serve((_req, res) => {
      held.push(res); // never answers while the schedule runs
    });
    try {
      const driver = new LoadDriver({
        profile: flat(40, 1, 5),
        targetUrl: target.url,
        body,
        timeoutMs: 3000,
      });
      driver.start();
      await new Promise((r) => setTimeout(r, 1200));
      for (const res of held) {
        res.statusCode = 503;
        res.end();
      }
      await driver.done();
      const totals = driver.totals();
      expect(totals.started).toBe(5);
      expect(totals.dropped).toBe(35);
      expect(totals.failed).toBe(5);
      expect(totals.failureReasons['HTTP 503']).toBe(5);
      expect(totals.droppedRatio).toBeCloseTo(35 / 40);
    } finally {
      await target.close();
    }
  }, 30_000);
});

/**
 * How long this process was not running its event loop within [from, until] (performance.now()),
 * as an interval timer of `everyMs` sees it: a tick late by more than `everyMs` (timers' own
 * jitter is a millisecond or two a tick: 148 ms a second when every bit was counted, idle) shows
 * a stretch the loop did not turn (descheduled, or busy), counted where it overlaps the window.
 */
function loopStalls(everyMs: number): {
  stalledMs: (from: number, until: number) => number;
  stop: () => void;
} {
  const late: Array<{ from: number; to: number }> = [];
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    if (now - last > 2 * everyMs) late.push({ from: last + everyMs, to: now });
    last = now;
  }, everyMs);
  return {
    stalledMs: (from, until) =>
      late.reduce((sum, l) => sum + Math.max(0, Math.min(until, l.to) - Math.max(from, l.from)), 0),
    stop: () => clearInterval(timer),
  };
}

describe('LoadDriver baseline latency', () => {
  it('reports the p95 of the requests answered before the peak apart from the whole run', async () => {
    // Fast before the peak (t < 1 s), 500 ms from then on: the run's p95 is the slow part, the
    // baseline is the fast one: the p95 of what was answered in second 0, wherever the machine
    // put it. A fast request takes longer only by the time this process did not run (the target
    // is in it): bound at half the slow part plus that (s26 at load ~30: 288 ms against a bare
    // 250; a loaded machine read 129 ms while another process ran a benchmark).
    const SLOW_MS = 500;
    // The target's second 0 is the driver's (before: it began before the server listened, so on a
    // slow machine a request the driver sent in its second 0 could be answered slowly).
    let driverStarted = Infinity;
    const target = await serve((_req, res) => {
      res.statusCode = 202;
      setTimeout(() => res.end('{}'), performance.now() - driverStarted < 1000 ? 0 : SLOW_MS);
    });
    const stalls = loopStalls(10);
    try {
      const profile: LoadProfile = { ...flat(40, 3), peak: { fromSeconds: 1, toSeconds: 3 } };
      const driver = new LoadDriver({ profile, targetUrl: target.url, body });
      driverStarted = performance.now();
      driver.start();
      await driver.done();
      const totals = driver.totals();
      expect(totals.p95LatencyMs).toBeGreaterThanOrEqual(SLOW_MS);
      const secondZero = driver.timeline()[0];
      if (secondZero === undefined || secondZero.succeeded + secondZero.failed === 0) {
        // This process did not run at all in the run's first second: nothing was answered before
        // the peak, and there is no baseline to report.
        expect(stalls.stalledMs(driverStarted, driverStarted + 1000)).toBeGreaterThan(500);
        expect(totals.beforePeakP95LatencyMs).toBeUndefined();
      } else {
        expect(totals.beforePeakP95LatencyMs).toBe(secondZero.p95LatencyMs);
        const stalled = stalls.stalledMs(driverStarted, driverStarted + 1000);
        expect(totals.beforePeakP95LatencyMs).toBeLessThan(SLOW_MS / 2 + stalled);
      }
    } finally {
      stalls.stop();
      await target.close();
    }
  }, 30_000);

  it('has no baseline when the profile has no peak', async () => {
    const target = await serve((_req, res) => {
      res.statusCode = 202;
      res.end('{}');
    });
    try {
      const driver = new LoadDriver({ profile: flat(20, 1), targetUrl: target.url, body });
      driver.start();
      await driver.done();
      expect(driver.totals().beforePeakP95LatencyMs).toBeUndefined();
    } finally {
      await target.close();
    }
  }, 30_000);
});

describe('LoadDriver connect hook', () => {
  it('opens every connection through `connect` (spread over two servers), not to targetUrl', async () => {
    const hits = { a: 0, b: 0 };
    const a = await serve((_req, res) => {
      hits.a++;
      setTimeout(() => res.writeHead(202).end(), 200); // slow: the driver opens several connections
    });
    const b = await serve((_req, res) => {
      hits.b++;
      setTimeout(() => res.writeHead(202).end(), 200); // slow: the driver opens several connections
    });
    const ports = [a.url, b.url].map((u) => Number(new URL(u).port));
    let turn = 0;
    try {
      const driver = new LoadDriver({
        profile: flat(40, 1, 50),
        targetUrl: 'http://127.0.0.1:1/events', // nothing listens there
        body,
        connect: () => net.connect({ host: '127.0.0.1', port: ports[turn++ % 2] ?? 0 }),
      });
      driver.start();
      await driver.done();
      const totals = driver.totals();
      expect(totals.failed).toBe(0);
      expect(totals.started).toBeGreaterThan(20);
      expect(totals.succeeded).toBe(totals.started);
      expect(hits.a + hits.b).toBe(totals.started);
      expect(hits.a).toBeGreaterThan(0);
      expect(hits.b).toBeGreaterThan(0);
    } finally {
      await a.close();
      await b.close();
    }
  }, 30_000);
});
