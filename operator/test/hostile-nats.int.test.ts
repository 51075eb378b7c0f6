// A hostile or broken NATS server must not take the operator down. The servers an EventConsumer
// reads are the tenant's to name, so a tenant can point the operator at a server it controls, or
// at a broken proxy (hostile-nats-server.mjs plays one, in its own process). For each misbehaviour
// this drill reads that server through the operator's connection pool while another tenant's
// EventConsumer reads a real nats-server on the same pool, and checks what the operator must
// keep: its heap bounded (no more than HEAP_BOUND above where it started), its event loop never
// held long (monitorEventLoopDelay), the other tenant's reads answered all along, and the hostile
// tenant's read failing with a message that says what its server did.
//
// Before protocol-guard.ts (measured on the loaded 2-core machine, dda6006): an INFO of 300,000
// connect_urls held the event loop for seconds; an INFO line that never ends, or a 48 MiB one, or
// a 48 MiB reply, was buffered whole; a PING flood from a server that reads nothing filled the
// operator's socket buffer; every one of them failed the read as a timeout or a lost connection
// that said nothing of the server's fault.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { connect } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '../../hack/stack/nats-server.js';
import type { BacklogReading } from '../src/backlog/backlog-source.js';
import { ConnectionPool } from '../src/backlog/connection-pool.js';
import { guardedConnect } from '../src/backlog/guarded-transport.js';
import type { NatsServerMisbehaved } from '../src/backlog/protocol-guard.js';
import { NatsBacklogSources } from '../src/backlog/nats-backlog-sources.js';
import { createLogger, silentLogger } from '../src/observability/logger.js';
import { OperatorMetrics } from '../src/observability/metrics.js';
import { createStreamAndConsumer, sleep } from './harness.js';
import { eventually } from '../../test/env.js';
import { HostileNats, type Hostility } from './hostile-nats.js';

/** What the heap (with array buffers) may grow by during one drill; every attack sends far more. */
const HEAP_BOUND = 64 * 1024 * 1024;
/** The longest the event loop may be held: generous for a loaded 2-core machine, far below the seconds seen before. */
const LOOP_BOUND_MS = 1000;
/** The longest a healthy read may take: same. */
const HEALTHY_READ_BOUND_MS = 1500;

describe('a hostile or broken NATS server', () => {
  let nats: NatsServer;
  let dir: string;
  let pool: ConnectionPool;
  let sources: NatsBacklogSources;
  const creds = { auth: { kind: 'none' as const } };
  const ref = { stream: 'ORDERS', consumer: 'worker' };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-hostile-'));
    nats = await startNatsServer({ dir });
    const nc = await connect({ servers: nats.url });
    await createStreamAndConsumer(nc, 'ORDERS', 'worker');
    await nc.close();
    pool = new ConnectionPool({
      logger: silentLogger,
      metrics: new OperatorMetrics(),
      connectTimeoutMs: 2000,
      pingTimeoutMs: 1000,
      reconnectGraceMs: 2000,
      checkBackoff: { baseMs: 500, maxMs: 2000, jitter: 0 },
    });
    sources = new NatsBacklogSources(pool, { timeoutMs: 2000 });
    backoff = backoffScenario();
    // Taken by its test; a rejection before then is not left unhandled.
    backoff.catch(() => undefined);
  });

  // Two scenarios that take seconds of waiting run beside other tests, each on a pool of its own,
  // and their tests take what they saw: the reconnect backoff (quiet: a 17 KiB INFO every few
  // seconds) beside the drills, from beforeAll; the -ERR flood (10,000 errors a connection, which
  // would hold the drills' event loop) beside the one test that does not measure the loop.

  // The server lets each connection come up, then misbehaves 300 ms later: nats.js reconnects to it
  // as to any dropped server. Before, every second (reconnectTimeWait): 38 connections in 40 s.
  const BACKOFF_MS = 16_000;
  const backoffScenario = async (): Promise<{ closedAtS: number[]; failures: string[] }> => {
    const server = await HostileNats.start({
      kind: 'infoFlood',
      urls: 1_000,
      when: 'connected',
      afterMs: 300,
    });
    const own = new ConnectionPool({
      logger: silentLogger,
      connectTimeoutMs: 2000,
      pingTimeoutMs: 1000,
      reconnectGraceMs: 2000,
      checkBackoff: { baseMs: 500, maxMs: 2000, jitter: 0 },
    });
    const bad = new NatsBacklogSources(own, { timeoutMs: 2000 }).open(
      'tenant-b/backoff',
      [server.url()],
      creds,
      ref,
    );
    const started = Date.now();
    const failures = new Set<string>();
    try {
      while (Date.now() - started < BACKOFF_MS) {
        const r = await bad.read();
        if (!r.ok) failures.add(r.error.message.replace(/:\d+/, ':<port>'));
        await sleep(500);
      }
    } finally {
      bad.close();
      await own.closeAll();
      await server.stop();
    }
    const closedAtS = server.closed.map((c) => +((c.closedAt - started) / 1000).toFixed(1));
    console.log(
      `backoff: ${JSON.stringify({ connections: closedAtS.length, closedAtS, failures: [...failures] })}`,
    );
    return { closedAtS, failures: [...failures] };
  };

  // -ERR lines as fast as the socket takes them: the guard lets 10,000 control lines a second
  // through before it drops the server, and nats.js reports each as an error on the connection.
  const errFloodScenario = async (): Promise<{ closed: number; errors: string[] }> => {
    const server = await HostileNats.start({ kind: 'errFlood', cap: 4 * 2 ** 20 });
    const lines: string[] = [];
    const logged = new ConnectionPool({
      logger: createLogger({ level: 'warn', write: (line) => lines.push(line) }),
      connectTimeoutMs: 2000,
      pingTimeoutMs: 1000,
      reconnectGraceMs: 2000,
    });
    const bad = new NatsBacklogSources(logged, { timeoutMs: 2000 }).open(
      'tenant-b/err-flood',
      [server.url()],
      creds,
      ref,
    );
    let last: BacklogReading | undefined;
    try {
      const started = Date.now();
      while (Date.now() - started < 3000) {
        last = await bad.read();
        await sleep(500);
      }
    } finally {
      bad.close();
      await logged.closeAll();
      await server.stop();
    }
    const errors = lines.filter((l) => /"NATS connection error"/.test(l));
    console.log(
      `err-flood: ${JSON.stringify({ errorLines: errors.length, allLines: lines.length, first: errors[0], sent: server.closed.map((c) => c.sent), last: last?.ok ? 'ok' : last?.error.message })}`,
    );
    return { closed: server.closed.length, errors };
  };

  let backoff: Promise<{ closedAtS: number[]; failures: string[] }>;
  let errFlood: Promise<{ closed: number; errors: string[] }> | undefined;

  afterAll(async () => {
    await Promise.allSettled([backoff, errFlood].filter((p) => p !== undefined));
    await pool?.closeAll();
    await nats?.stop({ hard: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const memory = (): number => {
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };

  interface Drill {
    last: BacklogReading;
    heapGrowth: number;
    loopMaxMs: number;
    healthyReads: number;
    healthySlowestMs: number;
    healthyFailures: string[];
    closed: HostileNats['closed'];
  }

  /**
   * Reads the hostile server every 500 ms until its read fails with `expected` (or 20 s pass),
   * and the healthy one every 200 ms meanwhile.
   */
  const drill = async (name: string, hostility: Hostility, expected: RegExp): Promise<Drill> => {
    const hostile = await HostileNats.start(hostility);
    const owner = `tenant-b/${name}`;
    const bad = sources.open(owner, [hostile.url()], creds, ref);
    const good = sources.open(`tenant-a/${name}`, [nats.url], creds, ref);
    const loop = monitorEventLoopDelay({ resolution: 10 });
    const base = memory();
    let peak = base;
    const sampler = setInterval(() => (peak = Math.max(peak, memory())), 20);
    loop.enable();
    let done = false;
    const healthy = { reads: 0, slowest: 0, failures: [] as string[] };
    const healthyLoop = (async () => {
      while (!done) {
        const started = performance.now();
        const r = await good.read();
        healthy.slowest = Math.max(healthy.slowest, performance.now() - started);
        healthy.reads++;
        if (!r.ok) healthy.failures.push(r.error.message);
        await sleep(200);
      }
    })();
    let last: BacklogReading = { ok: false, error: new Error('not read') } as unknown as BacklogReading;
    const deadline = Date.now() + 20_000;
    try {
      while (Date.now() < deadline) {
        last = await bad.read();
        peak = Math.max(peak, memory());
        if (!last.ok && expected.test(last.error.message)) break;
        await sleep(500);
      }
      await sleep(300); // a few more healthy reads after it
    } finally {
      done = true;
      await healthyLoop;
      loop.disable();
      clearInterval(sampler);
      bad.close();
      good.close();
      pool.release(owner);
      await hostile.stop();
    }
    const result: Drill = {
      last,
      heapGrowth: peak - base,
      loopMaxMs: loop.max / 1e6,
      healthyReads: healthy.reads,
      healthySlowestMs: healthy.slowest,
      healthyFailures: healthy.failures,
      closed: hostile.closed,
    };
    console.log(
      `${name}: ${JSON.stringify({
        message: last.ok ? 'read ok' : last.error.message,
        kind: last.ok ? undefined : last.error.kind,
        heapGrowthMiB: +(result.heapGrowth / 2 ** 20).toFixed(1),
        loopMaxMs: Math.round(result.loopMaxMs),
        healthyReads: result.healthyReads,
        healthySlowestMs: Math.round(result.healthySlowestMs),
        healthyFailures: result.healthyFailures.length,
        sentByServer: result.closed.map((c) => c.sent),
      })}`,
    );
    return result;
  };

  const expectContained = (d: Drill, expected: RegExp): void => {
    expect(d.last.ok).toBe(false);
    if (!d.last.ok) {
      expect(d.last.error.message).toMatch(expected);
      expect(d.last.error.kind).toBe('Unreachable'); // counts toward fallback, as a dead server does
    }
    expect(d.heapGrowth).toBeLessThan(HEAP_BOUND);
    expect(d.loopMaxMs).toBeLessThan(LOOP_BOUND_MS);
    expect(d.healthyFailures).toEqual([]);
    expect(d.healthyReads).toBeGreaterThan(0);
    expect(d.healthySlowestMs).toBeLessThan(HEALTHY_READ_BOUND_MS);
  };

  // 300,000 URLs make a 5.5 MiB line: over the INFO line limit (64 KiB). 1,000 fit in one (17 KiB) and
  // are refused for their number.
  it('an INFO of 300,000 connect_urls as its greeting', async () => {
    const expected =
      /^NATS at nats:\/\/127\.0\.0\.1:\d+ misbehaves: it sent a protocol line of over 64 KiB \(starting "INFO", not ended yet\)/;
    expectContained(
      await drill('flood-first', { kind: 'infoFlood', urls: 300_000, when: 'first' }, expected),
      expected,
    );
  });

  it('an INFO of 300,000 connect_urls once connected', async () => {
    const expected = /misbehaves: it sent a protocol line of over 64 KiB \(starting "INFO", not ended yet\)/;
    expectContained(
      await drill('flood-later', { kind: 'infoFlood', urls: 300_000, when: 'connected' }, expected),
      expected,
    );
  });

  it('an INFO of 1,000 connect_urls, as its greeting and once connected', async () => {
    const expected =
      /misbehaves: it sent an INFO listing 1000 connect_urls \(over the 256 the operator takes/;
    for (const when of ['first', 'connected'] as const) {
      expectContained(
        await drill(`urls-${when}`, { kind: 'infoFlood', urls: 1_000, when }, expected),
        expected,
      );
    }
  });

  it('one INFO line of 48 MiB once connected', async () => {
    const expected = /misbehaves: it sent a protocol line of over 64 KiB \(starting "INFO"/;
    const d = await drill(
      'giant-info',
      { kind: 'giantInfo', bytes: 48 * 2 ** 20, when: 'connected' },
      expected,
    );
    expectContained(d, expected);
  });

  it('an INFO line that never ends, as its greeting and once connected', async () => {
    const expected = /misbehaves: it sent a protocol line of over 64 KiB \(starting "INFO", not ended yet\)/;
    for (const when of ['first', 'connected'] as const) {
      const d = await drill(`endless-${when}`, { kind: 'endlessInfo', when, cap: 256 * 2 ** 20 }, expected);
      expectContained(d, expected);
      // Dropped early: the server got nowhere near its 256 MiB.
      for (const c of d.closed) expect(c.sent).toBeLessThan(32 * 2 ** 20);
    }
  });

  it('a max_payload that is no size is refused; a huge one changes nothing the operator takes', async () => {
    const expected = /misbehaves: it sent an INFO whose max_payload is "-1"/;
    expectContained(
      await drill('max-payload-negative', { kind: 'maxPayload', maxPayload: -1 }, expected),
      expected,
    );
    // 2^50 bytes advertised: nats.js only checks what it sends against it, and what it takes is
    // bounded by the operator, not by the server's word. The read gets the server's answer.
    const answered = /JetStream/;
    const d = await drill('max-payload-huge', { kind: 'maxPayload', maxPayload: 2 ** 50 }, answered);
    expect(d.last.ok).toBe(false);
    if (!d.last.ok) expect(d.last.error.message).not.toMatch(/misbehaves/);
    expect(d.heapGrowth).toBeLessThan(HEAP_BOUND);
    expect(d.loopMaxMs).toBeLessThan(LOOP_BOUND_MS);
    expect(d.healthyFailures).toEqual([]);
  });

  it('a JetStream API reply of 48 MiB is refused before it is buffered', async () => {
    const expected = /misbehaves: it sent a message of 48\.0 MiB/;
    const d = await drill('huge-reply', { kind: 'apiReply', reply: 'huge', bytes: 48 * 2 ** 20 }, expected);
    expectContained(d, expected);
  });

  it('a JetStream API reply that is not JSON fails that read with a message, and nothing else', async () => {
    const expected =
      /answered the request for consumer "worker" on stream "ORDERS" with a reply that is not JSON/;
    const d = await drill('malformed-reply', { kind: 'apiReply', reply: 'malformed' }, expected);
    expect(d.last.ok).toBe(false);
    if (!d.last.ok) expect(d.last.error.message).toMatch(expected);
    expect(d.heapGrowth).toBeLessThan(HEAP_BOUND);
    expect(d.loopMaxMs).toBeLessThan(LOOP_BOUND_MS);
    expect(d.healthyFailures).toEqual([]);
  });

  it('a server that trickles its INFO a byte at a time', async () => {
    const expected = /misbehaves: it sent only \d+ bytes of its INFO line within the 2000 ms connect timeout/;
    const d = await drill('slowloris', { kind: 'slowloris', everyMs: 50 }, expected);
    expectContained(d, expected);
  });

  it('a PING flood from a server that reads nothing', async () => {
    const expected = /misbehaves: it sent over 100 PINGs within a second/;
    const d = await drill('ping-flood', { kind: 'pingFlood', cap: 256 * 2 ** 20 }, expected);
    expectContained(d, expected);
    for (const c of d.closed) expect(c.sent).toBeLessThan(32 * 2 ** 20);
  });

  it("messages on the request inbox beyond the replies owed count as a stranger's (before: 38,000 a second, never dropped)", async () => {
    const expected =
      /misbehaves: it sent over 512 KiB of protocol lines \(message payloads aside\) within a second/;
    const d = await drill('inbox-flood', { kind: 'inboxFlood', cap: 256 * 2 ** 20 }, expected);
    expectContained(d, expected);
    // Dropped at the budget: a few MiB written at most, not the 256 MiB it would have sent.
    for (const c of d.closed) expect(c.sent).toBeLessThan(32 * 2 ** 20);
  });

  it('a server that stops reading what the operator writes is dropped once the unsent bytes pass the bound', async () => {
    errFlood = errFloodScenario();
    errFlood.catch(() => undefined);
    const server = await HostileNats.start({ kind: 'stopsReading' });
    const violations: NatsServerMisbehaved[] = [];
    const nc = await guardedConnect(
      { servers: server.url(), reconnect: false },
      { onViolation: (v) => violations.push(v), maxUnsentBytes: 1024 * 1024 },
    );
    try {
      const payload = new Uint8Array(64 * 1024);
      // The kernel's socket buffers take the first MiBs; what is beyond them waits in Node.
      for (let i = 0; i < 2000 && violations.length === 0 && !nc.isClosed(); i++) {
        nc.publish('anything', payload);
        await sleep(1);
      }
      await eventually('the connection dropped', async () => (nc.isClosed() ? true : undefined), 10_000, 50);
      expect(violations.map((v) => v.what)).toEqual([
        expect.stringMatching(/^does not read what the operator sends it: \d+\.\d MiB written to it/),
      ]);
    } finally {
      await nc.close();
      await server.stop();
    }
  });
  it('a server dropped once connected, on every connection, is reconnected to less and less often', async () => {
    const { closedAtS, failures } = await backoff;
    // Every failed read says what the server did, in the waits between connections too (not an
    // unanswered PING of a connection waiting to reconnect: seen before connection-pool's markDown
    // kept the violation).
    expect(failures).toEqual([
      expect.stringMatching(/misbehaves: it sent an INFO listing 1000 connect_urls/),
    ]);
    // Reconnected to (it is not given up on), at waits of 0.5-1, 1-2, 2-4, 4-8, 8-16 s, each
    // connection up 300 ms: the 6th closes 17.3 s in at the earliest, so at most 5 in 16 s (before:
    // one a second, 15 or more).
    expect(closedAtS.length).toBeGreaterThanOrEqual(3);
    expect(closedAtS.length).toBeLessThanOrEqual(5);
  }, 30_000);

  it('a flood of -ERR lines is logged a few times, not once each (before: a warning per line)', async () => {
    if (errFlood === undefined) throw new Error('the -ERR flood was not started');
    const { closed, errors } = await errFlood;
    expect(closed).toBeGreaterThan(0); // dropped (10,000 control lines a second)
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.length).toBeLessThanOrEqual(5);
    expect(errors[0]).toContain('Unknown Protocol Operation');
  }, 30_000);
});
