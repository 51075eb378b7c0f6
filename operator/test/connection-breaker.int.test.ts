// The connection pool's breaker against a real nats-server frozen with SIGSTOP (freezeProcess waits
// until every thread has stopped; its socket still accepts, nothing answers): the first reads wait out their timeout, and once a PING also goes
// unanswered every read fails at once — including reads already waiting — until a background
// check finds the server answering again. A request timing out while PING answers (a consumer's
// own trouble) trips nothing. A server that is slow but alive (behind a proxy that delays every
// byte) gets reads refused as Busy once enough wait on it: skipped polls, never failures that
// push an EventConsumer into fallback.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '../../hack/stack/nats-server.js';
import { parseEventConsumerSpec } from '../src/api/v1alpha1/event-consumer.js';
import type { BacklogReading } from '../src/backlog/backlog-source.js';
import { ConnectionPool } from '../src/backlog/connection-pool.js';
import { decide } from '../src/controller/decide.js';
import { decide as policyDecide, emptyHistory } from '../src/scaling/index.js';
import { NatsBacklogSources } from '../src/backlog/nats-backlog-sources.js';
import { createLogger, silentLogger } from '../src/observability/logger.js';
import { OperatorMetrics } from '../src/observability/metrics.js';
import { eventually, freezeProcess } from '../../test/env.js';
import { createStreamAndConsumer, sleep } from './harness.js';
import { SilentServers } from './silent-servers.js';
import { TcpProxy } from './tcp-proxy.js';

describe('the NATS connection breaker', () => {
  let nats: NatsServer;
  let dir: string;
  let pool: ConnectionPool;
  const creds = { auth: { kind: 'none' as const } };
  // The pool's clock: monotonic, plus what a test moves it on by, so "reads have waited a second"
  // needs no real second to pass (in which a loaded machine can let the waiting reads time out).
  let skewMs = 0;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-breaker-'));
    nats = await startNatsServer({ dir });
    const nc = await connect({ servers: nats.url });
    await createStreamAndConsumer(nc, 'ORDERS', 'worker');
    await nc.close();
    pool = new ConnectionPool({
      logger: silentLogger,
      metrics: new OperatorMetrics(),
      connectTimeoutMs: 2000,
      pingTimeoutMs: 1000,
      checkBackoff: { baseMs: 500, maxMs: 2000, jitter: 0 },
      now: () => performance.now() + skewMs,
    });
  });

  afterAll(async () => {
    const pid = nats?.pid();
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
    await pool?.closeAll();
    await nats?.stop({ hard: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const timed = async <T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> => {
    const started = performance.now();
    const value = await f();
    return { value, ms: performance.now() - started };
  };

  it('fails fast while the server is frozen, releases waiting reads, and recovers', async () => {
    // The reads that wait on the frozen server time out after 4 s. The Busy reads below must be
    // made before that (a timeout and its unanswered PING open the breaker, and they would come back
    // Unreachable): they are made at once, with the pool's clock moved on by the second that makes
    // the waiting reads count as slow. (With a real 1.2 s sleep between them, a loaded CI machine
    // twice got Unreachable: once with a 1.5 s timeout, once with 4 s.)
    const patient = new NatsBacklogSources(pool, { timeoutMs: 4000 });
    const servers = [nats.url];
    const readers = Array.from({ length: 6 }, (_, i) =>
      patient.open(`ns/ec-${i}`, servers, creds, { stream: 'ORDERS', consumer: 'worker' }),
    );
    const missing = patient.open('ns/missing', servers, creds, { stream: 'ORDERS', consumer: 'nobody' });
    for (const r of readers) expect((await r.read()).ok).toBe(true);
    // A consumer that does not exist is that EventConsumer's problem: nothing trips.
    expect(await missing.read()).toMatchObject({ ok: false, error: { kind: 'ConsumerNotFound' } });
    expect(pool.isDown(servers, creds)).toBe(false);

    const pid = nats.pid();
    if (pid === undefined) throw new Error('nats-server is not running');
    await freezeProcess(pid);
    try {
      // Four wait on the frozen connection; once they have waited a second, more are refused as busy.
      const waiting = readers.slice(0, 4).map((r) => r.read());
      skewMs += 1200;
      const busy = await timed(() => Promise.all(readers.slice(4).map((r) => r.read())));
      // Not sent, so not a sign of a dead server: Busy, which does not count toward fallback.
      for (const r of busy.value) expect(r).toMatchObject({ ok: false, error: { kind: 'Busy' } });
      expect(busy.value.every((r) => !r.ok && /slow/.test(r.error.message))).toBe(true);
      expect(busy.ms).toBeLessThan(500);
      expect(pool.isDown(servers, creds)).toBe(false);

      // The waiting reads time out, their PING goes unanswered too, and the breaker opens.
      const first = await Promise.all(waiting);
      for (const r of first) expect(r).toMatchObject({ ok: false, error: { kind: 'Unreachable' } });
      await eventually(
        'the breaker to open',
        async () => (pool.isDown(servers, creds) ? true : undefined),
        10_000,
        50,
      );

      // Open: every read answers at once, names the server and counts as Unreachable.
      const fast = await timed(() => Promise.all(readers.map((r) => r.read())));
      for (const r of fast.value) {
        expect(r.ok).toBe(false);
        if (!r.ok) {
          expect(r.error.kind).toBe('Unreachable');
          expect(r.error.message).toContain(nats.url);
          expect(r.error.message).not.toContain('worker');
        }
      }
      // Generous: the request timeout is 4 s; a fast failure takes microseconds.
      expect(fast.ms).toBeLessThan(500);
    } finally {
      process.kill(pid, 'SIGCONT');
    }

    await eventually(
      'reads to succeed again after a background check',
      async () => {
        const r = await readers[0]?.read();
        return r?.ok ? true : undefined;
      },
      20_000,
      200,
    );
    expect(pool.isDown(servers, creds)).toBe(false);
    for (const r of readers) expect((await r.read()).ok).toBe(true);
  }, 90_000);

  it('releases reads already waiting when the connection is found down', async () => {
    const sources = new NatsBacklogSources(pool, { timeoutMs: 20_000 });
    const reader = sources.open('ns/slow', [nats.url], creds, { stream: 'ORDERS', consumer: 'worker' });
    expect((await reader.read()).ok).toBe(true);
    const pid = nats.pid();
    if (pid === undefined) throw new Error('nats-server is not running');
    await freezeProcess(pid);
    try {
      // A 20 s request timeout; a second reader's short timeout triggers the PING check that opens
      // the breaker, which releases the long one long before its own timeout.
      const long = timed(() => reader.read());
      await sleep(100);
      const short = new NatsBacklogSources(pool, { timeoutMs: 500 }).open('ns/short', [nats.url], creds, {
        stream: 'ORDERS',
        consumer: 'worker',
      });
      await short.read();
      const released = await long;
      expect(released.value.ok).toBe(false);
      expect(released.ms).toBeLessThan(10_000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  }, 60_000);

  it('refuses reads on a slow but live server as Busy, which never counts toward fallback', async () => {
    // Every byte delayed 700 ms each way: a request or a PING takes ~1.4 s, within the 2 s PING
    // timeout and the 5 s request timeout, so the server is alive — only slow.
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: nats.port });
    // As above, "waited over a second" on the pool's clock, moved on by the test: the refused reads
    // are made while the four are surely still waiting (their answers take ~1.4 s; a real 1.1 s sleep
    // left 0.3 s for a loaded machine to lose).
    let slowSkewMs = 0;
    const slowPool = new ConnectionPool({
      logger: silentLogger,
      connectTimeoutMs: 2000,
      pingTimeoutMs: 2000,
      now: () => performance.now() + slowSkewMs,
    });
    try {
      const servers = [`nats://127.0.0.1:${proxy.port}`];
      const sources = new NatsBacklogSources(slowPool, { timeoutMs: 5000 });
      const readers = Array.from({ length: 6 }, (_, i) =>
        sources.open(`ns/slow-${i}`, servers, creds, { stream: 'ORDERS', consumer: 'worker' }),
      );
      for (const r of readers) expect((await r.read()).ok).toBe(true);
      proxy.setMode({ kind: 'delay', ms: 700 });
      const waiting = readers.slice(0, 4).map((r) => r.read());
      slowSkewMs += 1100;
      const refused = await Promise.all(readers.slice(4).map((r) => r.read()));
      const answered = await Promise.all(waiting);
      // The four that waited were answered: the server is alive, and the breaker stayed closed.
      expect(answered.every((r) => r.ok)).toBe(true);
      expect(slowPool.isDown(servers, creds)).toBe(false);
      expect(refused.map((r) => (r.ok ? 'ok' : r.error.kind))).toEqual(['Busy', 'Busy']);

      // What the reconcile makes of such a refusal: a skipped poll. With failureThreshold 1 and
      // failed reads a minute long already (fallback's 20 s passed), one counted failure would
      // start fallback at once.
      const parsed = parseEventConsumerSpec({
        scaleTargetRef: { name: 'worker' },
        nats: { servers, stream: 'ORDERS', consumer: 'worker' },
        fallback: { failureThreshold: 1, replicas: 7 },
      });
      if (!parsed.ok) throw new Error(parsed.problems.join('; '));
      const verdictOf = (backlog: BacklogReading) =>
        decide({
          spec: parsed.spec,
          backlog,
          scale: { specReplicas: 2, statusReplicas: 2, readyReplicas: 2, resourceVersion: '1' },
          memory: {
            history: emptyHistory(),
            failures: 0,
            fallbackActive: false,
            seeded: true,
            failingSince: Date.now() - 60_000,
          },
          now: Date.now(),
          policy: policyDecide,
        });
      for (const reading of refused) {
        const verdict = verdictOf(reading);
        expect(verdict.change).toBeUndefined();
        expect(verdict.memory.failures).toBe(0);
        expect(verdict.conditions.find((c) => c.type === 'Fallback')?.status).toBe('False');
      }
    } finally {
      await slowPool.closeAll();
      await proxy.close();
    }
  }, 60_000);

  const slowServerScenario = async (): Promise<void> => {
    // Every byte delayed 1.25 s each way: a request or a PING takes ~2.5 s, past the operator's
    // default 2 s request and PING timeouts. Reads time out (and count, as any timeout does), and a
    // PING is late but answered. Leaving such a server for "another" (the same one, here) only
    // breaks a live connection: through the delay a reconnect's handshake outlasts its own 2 s
    // timeout, and the pool is left without a connection to a server that answers.
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: nats.port });
    const warnings: string[] = [];
    const slowPool = new ConnectionPool({
      logger: createLogger({ level: 'warn', write: (line) => warnings.push(line) }),
      connectTimeoutMs: 2000,
      pingTimeoutMs: 2000,
      reconnectGraceMs: 2000,
    });
    try {
      const servers = [`nats://127.0.0.1:${proxy.port}`];
      const reader = new NatsBacklogSources(slowPool, { timeoutMs: 2000 }).open(
        'ns/slowest',
        servers,
        creds,
        {
          stream: 'ORDERS',
          consumer: 'worker',
        },
      );
      expect((await reader.read()).ok).toBe(true);
      proxy.setMode({ kind: 'delay', ms: 1250 });
      // Polls at 1 s for 15 s: time for several timed-out reads, their late PINGs, and the
      // background checks of a breaker that opened.
      const until = performance.now() + 15_000;
      let timedOut = 0;
      while (performance.now() < until) {
        const r = await reader.read();
        if (!r.ok && r.error.kind === 'Unreachable') timedOut++;
        await sleep(1000);
      }
      expect(timedOut).toBeGreaterThan(0); // the reads did time out: the drill is what it says
      const left = warnings.filter((w) =>
        /reconnecting to another server|NATS connection disconnect/.test(w),
      );
      expect(left).toEqual([]);
      // The delay lifted, the same connection answers at once.
      proxy.setMode({ kind: 'pass' });
      await eventually(
        'reads on the slow server to succeed again',
        async () => ((await reader.read()).ok ? true : undefined),
        15_000,
        200,
      );
      expect(warnings.filter((w) => /NATS connection (disconnect|reconnect)/.test(w))).toEqual([]);
    } finally {
      await slowPool.closeAll();
      await proxy.close();
    }
  };

  const silentServerScenario = async (): Promise<void> => {
    // The link drops every byte (a frozen node, a partition): the read and its PING go unanswered
    // and nothing else arrives, so the connection is down as soon as the PING is overdue (reads
    // fail at once). With one URL and a server that names no other (no cluster), a reconnect finds
    // no better server: it comes only when the background check's PING is unanswered too (the
    // socket may be dead while the server lives). nats-elections.int leaves a cluster's node at once.
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: nats.port });
    const warnings: string[] = [];
    const silentPool = new ConnectionPool({
      logger: createLogger({ level: 'warn', write: (line) => warnings.push(line) }),
      connectTimeoutMs: 2000,
      pingTimeoutMs: 2000,
      reconnectGraceMs: 2000,
    });
    try {
      const servers = [`nats://127.0.0.1:${proxy.port}`];
      const reader = new NatsBacklogSources(silentPool, { timeoutMs: 2000 }).open(
        'ns/silent',
        servers,
        creds,
        {
          stream: 'ORDERS',
          consumer: 'worker',
        },
      );
      expect((await reader.read()).ok).toBe(true);
      proxy.setMode({ kind: 'blackhole' });
      const started = performance.now();
      expect(await reader.read()).toMatchObject({ ok: false, error: { kind: 'Unreachable' } });
      await eventually(
        'the connection to be found down',
        async () => (silentPool.isDown(servers, creds) ? true : undefined),
        15_000,
        50,
      );
      // The read's 2 s timeout and the PING's 2 s, with room for a loaded machine.
      expect(performance.now() - started).toBeLessThan(10_000);
      const down = await timed(() => reader.read());
      expect(down.value).toMatchObject({ ok: false, error: { kind: 'Unreachable' } });
      expect(down.ms).toBeLessThan(500);
      expect(warnings.some((w) => /no other server to reconnect to/.test(w))).toBe(true);
      // Polls start the background checks (as an EventConsumer's do), and fail at once meanwhile.
      const polls: Array<{ value: BacklogReading; ms: number }> = [];
      await eventually(
        'the pool to reconnect once the background check is unanswered too',
        async () => {
          polls.push(await timed(() => reader.read()));
          return warnings.some((w) => /a background check too: reconnecting/.test(w)) ? true : undefined;
        },
        20_000,
        250,
      );
      // nats.js now dials the silent server again and again (each dial times out): the checks meanwhile
      // must not take its reconnect for another silence (before, each logged another "reconnecting"
      // and said "no PING reply within 4000 ms" of a PING nats.js refused at once, disconnected).
      const dialingUntil = performance.now() + 5000;
      while (performance.now() < dialingUntil) {
        polls.push(await timed(() => reader.read()));
        await sleep(250);
      }
      for (const poll of polls) {
        expect(poll.value).toMatchObject({ ok: false, error: { kind: 'Unreachable' } });
        expect(poll.ms).toBeLessThan(500);
      }
      expect(warnings.filter((w) => /stopped answering/.test(w))).toHaveLength(2);
      expect(warnings.filter((w) => /reconnecting to another server/.test(w))).toEqual([]);
    } finally {
      await silentPool.closeAll();
      await proxy.close();
    }
  };

  describe('one server slow and another silent, each behind its own proxy, at once', () => {
    // Independent scenarios (each its own proxy and pool, the server itself untouched), so they run
    // together: the file waits out the slow one's 15 s, not 15 s and then the silent one's ~9 s.
    let slow: Promise<void>;
    let silent: Promise<void>;
    beforeAll(() => {
      slow = slowServerScenario();
      silent = silentServerScenario();
      // Each is awaited by its test; a failure of one must not be unhandled before then.
      slow.catch(() => undefined);
      silent.catch(() => undefined);
    });

    it(
      'never leaves a server that answers in 2–3 s: slow is not frozen (no forced reconnect)',
      () => slow,
      90_000,
    );

    it(
      'finds a silent server down at once; with no other server, reconnects only once a background check goes unanswered too',
      () => silent,
      60_000,
    );
  });

  it('a starved operator, or a server paused 1.5 s, is no silent server: the tenant beside reads on, on the same connection', async () => {
    // One tenant's reads time out (a JetStream domain someone subscribes to and never answers: an
    // account whose JetStream lost its meta leader), so the pool PINGs the connection it shares with
    // another tenant. While that PING is out: (1) this process's event loop is held 2.5 s (the
    // operator starved: the fuzz at 300 objects, load ~25), so the PING's 2 s timer fires before the
    // PONG in the socket is read; (2) the server is paused 1.5 s (SIGSTOP: a GC pause, a busy
    // host). Neither is a silent server. Before, (1) opened the breaker and forced a reconnect: the
    // tenant beside read NatsUnreachable; so did 27 such drops of the fuzz's shared connection.
    const warnings: string[] = [];
    const sharedPool = new ConnectionPool({
      logger: createLogger({ level: 'warn', write: (line) => warnings.push(line) }),
      connectTimeoutMs: 2000,
      pingTimeoutMs: 2000,
      reconnectGraceMs: 2000,
    });
    const sink = await connect({ servers: nats.url });
    sink.subscribe('$JS.unanswered.API.>');
    await sink.flush();
    const pid = nats.pid();
    if (pid === undefined) throw new Error('nats-server is not running');
    try {
      const servers = [nats.url];
      const healthy = new NatsBacklogSources(sharedPool, { timeoutMs: 2000 }).open(
        'b/healthy',
        servers,
        creds,
        { stream: 'ORDERS', consumer: 'worker' },
      );
      const lost = new NatsBacklogSources(sharedPool, { timeoutMs: 300 }).open('a/lost', servers, creds, {
        stream: 'ORDERS',
        consumer: 'worker',
        domain: 'unanswered',
      });
      expect((await healthy.read()).ok).toBe(true);
      const disturbed = () =>
        warnings.filter((w) => /stopped answering|connection is down|NATS connection disconnect/.test(w));

      // (1) The read times out and its PING goes out; the loop is then held past the PING's timeout.
      expect(await lost.read()).toMatchObject({ ok: false, error: { kind: 'Unreachable' } });
      const heldUntil = performance.now() + 2500;
      while (performance.now() < heldUntil) {
        // the operator's event loop, held
      }
      await sleep(1); // the PING's timer, overdue, fires before this one (before, it opened the breaker)
      expect(await healthy.read()).toMatchObject({ ok: true });
      // Still not down a second on (before, the PING's overdue timer had opened the breaker at once).
      await sleep(1000);
      expect(sharedPool.isDown(servers, creds)).toBe(false);
      expect(await healthy.read()).toMatchObject({ ok: true });
      expect(disturbed()).toEqual([]);

      // (2) The server paused 1.5 s: the read beside waits it out, the PING is answered late but in time.
      await freezeProcess(pid);
      const frozenAt = performance.now();
      const beside = healthy.read();
      expect(await lost.read()).toMatchObject({ ok: false, error: { kind: 'Unreachable' } });
      await sleep(Math.max(0, 1500 - (performance.now() - frozenAt)));
      process.kill(pid, 'SIGCONT');
      expect(await beside).toMatchObject({ ok: true });
      // Past the PING's 2 s (sent ~0.3 s into the pause, when the read timed out), with some room.
      await sleep(Math.max(0, 2800 - (performance.now() - frozenAt)));
      expect(sharedPool.isDown(servers, creds)).toBe(false);
      expect(await healthy.read()).toMatchObject({ ok: true });
      expect(disturbed()).toEqual([]);
    } finally {
      process.kill(pid, 'SIGCONT');
      await sink.close();
      await sharedPool.closeAll();
    }
  }, 60_000);

  it('lets connects to servers that never speak hold at most the allowed reads; more are Busy at once and connect in the background', async () => {
    // One tenant's EventConsumers, each with its own connection (another user in the URLs) to 16
    // ports that accept TCP and never send INFO. A connect tries them in turn, 2 s each, and a
    // silent end is then diagnosed (INFO? HTTP?): 38 s measured before a connect fails. Each read
    // waiting on one held a reconcile worker all along, so 8 such EventConsumers (the chart's 8
    // workers) stopped every other EventConsumer's polls for 38 s — at every operator start, and
    // each time the tenant made another. Now, once two (here) reads have waited a second on
    // connects, the rest are refused as Busy (not sent: never toward fallback) while their
    // connects go on in the background; a connect that fails opens its breaker as before.
    const silent = await SilentServers.start(16);
    const connectPool = new ConnectionPool({
      logger: silentLogger,
      connectTimeoutMs: 2000,
      pingTimeoutMs: 2000,
      maxSlowReads: 2,
    });
    try {
      const sources = new NatsBacklogSources(connectPool, { timeoutMs: 2000 });
      const healthy = sources.open('b/healthy', [nats.url], creds, { stream: 'ORDERS', consumer: 'worker' });
      expect((await healthy.read()).ok).toBe(true);
      const tenant = Array.from({ length: 6 }, (_, i) => silent.urls(`a${i}`));
      const readers = tenant.map((servers, i) =>
        sources.open(`a/ec-${i}`, servers, creds, { stream: 'ORDERS', consumer: 'worker' }),
      );
      const answers: Array<BacklogReading | undefined> = readers.map(() => undefined);
      readers.forEach((r, i) => void r.read().then((a) => (answers[i] = a)));
      // No connect can fail within 32 s; after a second four reads come back, two keep waiting.
      await eventually(
        'all but two of the reads on connects to come back',
        async () => (answers.filter((a) => a !== undefined).length >= 4 ? true : undefined),
        10_000,
        50,
      );
      const back = answers.filter((a): a is BacklogReading => a !== undefined);
      expect(back).toHaveLength(4);
      for (const a of back) {
        expect(a).toMatchObject({ ok: false, error: { kind: 'Busy' } });
        if (!a.ok) expect(a.error.message).toMatch(/has not answered a connect/);
      }
      // A seventh connection: refused at once, its connect started in the background.
      const seventh = silent.urls('a6');
      const late = await timed(() =>
        sources.open('a/ec-6', seventh, creds, { stream: 'ORDERS', consumer: 'worker' }).read(),
      );
      expect(late.value).toMatchObject({ ok: false, error: { kind: 'Busy' } });
      expect(late.ms).toBeLessThan(500);
      // Everyone else's reads go on, on the reads the silent servers cannot take.
      const other = await timed(() => healthy.read());
      expect(other.value.ok).toBe(true);
      expect(other.ms).toBeLessThan(500);
      // One connect per connection, the refused ones' included: 7 connections, 16 ports each.
      await eventually(
        'a connect attempt on every connection',
        async () => (silent.openConnections() >= 7 ? true : undefined),
        10_000,
        50,
      );

      // The servers go away: every connect fails, the refused ones' in the background too, and
      // every breaker opens — reads then fail at once as Unreachable, counting toward fallback.
      await silent.stop();
      await eventually(
        'every connection found down',
        async () => ([...tenant, seventh].every((s) => connectPool.isDown(s, creds)) ? true : undefined),
        20_000,
        100,
      );
      await eventually('the two waiting reads to end', async () =>
        answers.every((a) => a) ? true : undefined,
      );
      for (const a of answers) expect(a?.ok).toBe(false);
      const reads = await timed(() => Promise.all(readers.map((r) => r.read())));
      for (const r of reads.value) expect(r).toMatchObject({ ok: false, error: { kind: 'Unreachable' } });
      expect(reads.ms).toBeLessThan(500);
    } finally {
      await connectPool.closeAll();
      await silent.stop();
    }
  }, 90_000);
});
