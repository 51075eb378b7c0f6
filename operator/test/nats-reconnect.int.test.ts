// Reads through a NATS restart, on a real nats-server stopped and started again on its port and
// store (connection-pool.ts): a disconnect is not yet an outage. Reads made while nats.js
// reconnects wait for the reconnect (up to the pool's reconnect grace) and succeed, and a read
// whose request was out when the connection dropped asks again on the new connection; the
// connection is never marked down. A server that stays down still fails: the first read after the
// grace, every later one at once, each Unreachable (which counts toward fallback). Before, the
// breaker opened on the disconnect itself and every read in the reconnect window failed.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '../../hack/stack/nats-server.js';
import type { BacklogReading } from '../src/backlog/backlog-source.js';
import { ConnectionPool } from '../src/backlog/connection-pool.js';
import { NatsBacklogSources } from '../src/backlog/nats-backlog-sources.js';
import { silentLogger } from '../src/observability/logger.js';
import { eventually, freezeProcess } from '../../test/env.js';
import { createStreamAndConsumer, sleep } from './harness.js';

describe('backlog reads through a NATS restart', () => {
  let nats: NatsServer;
  let dir: string;
  let pool: ConnectionPool | undefined;
  const creds = { auth: { kind: 'none' as const } };
  const ref = { stream: 'ORDERS', consumer: 'worker' };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-reconnect-'));
    nats = await startNatsServer({ dir });
    const nc = await connect({ servers: nats.url });
    await createStreamAndConsumer(nc, 'ORDERS', 'worker');
    await nc.close();
  });

  afterEach(async () => {
    const pid = nats?.pid();
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
    await pool?.closeAll();
    pool = undefined;
    await nats?.start().catch(() => undefined); // running again for the next test (a no-op error if it is)
  });

  afterAll(async () => {
    await nats?.stop({ hard: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function newPool(reconnectGraceMs: number): ConnectionPool {
    pool = new ConnectionPool({
      logger: silentLogger,
      connectTimeoutMs: 2000,
      pingTimeoutMs: 1000,
      checkBackoff: { baseMs: 300, maxMs: 1000, jitter: 0 },
      reconnectGraceMs,
    });
    return pool;
  }

  const timed = async (read: Promise<BacklogReading>): Promise<{ reading: BacklogReading; ms: number }> => {
    const started = performance.now();
    const reading = await read;
    return { reading, ms: performance.now() - started };
  };

  it('a read made while the server restarts waits for the reconnect and succeeds (before: failed at once)', async () => {
    // The grace is generous for a loaded machine: nats.js redials every ~1 s, and the server takes
    // a moment to start. What is asserted is the outcome, not how long it took.
    const p = newPool(10_000);
    const reader = new NatsBacklogSources(p, { timeoutMs: 3000 }).open('ns/restart', [nats.url], creds, ref);
    expect((await reader.read()).ok).toBe(true);

    await nats.stop();
    await sleep(300); // the disconnect has reached the pool (a closed socket on 127.0.0.1)
    const during = reader.read();
    await nats.start();
    const reading = await during;
    expect(reading).toMatchObject({ ok: true });
    expect(p.isDown([nats.url], creds)).toBe(false);
  }, 60_000);

  it('a read whose request was out when the connection dropped asks again after the reconnect (before: failed)', async () => {
    const p = newPool(10_000);
    // The request timeout outlasts the whole drill: only a second request can answer this read.
    const reader = new NatsBacklogSources(p, { timeoutMs: 30_000 }).open(
      'ns/inflight',
      [nats.url],
      creds,
      ref,
    );
    expect((await reader.read()).ok).toBe(true);

    const pid = nats.pid();
    if (pid === undefined) throw new Error('nats-server is not running');
    await freezeProcess(pid); // the request goes out and nothing answers it
    const out = timed(reader.read());
    await sleep(300);
    await nats.stop({ hard: true }); // SIGKILL ends the frozen server: its socket closes, the reply is lost
    await nats.start();
    const { reading, ms } = await out;
    expect(reading).toMatchObject({ ok: true });
    // Answered by the second request, long before the first one's 30 s timeout.
    expect(ms).toBeLessThan(25_000);
    expect(p.isDown([nats.url], creds)).toBe(false);
  }, 60_000);

  it('a server that stays down still fails every read as Unreachable: after the grace, then at once', async () => {
    const graceMs = 1500;
    const p = newPool(graceMs);
    const reader = new NatsBacklogSources(p, { timeoutMs: 2000 }).open('ns/dead', [nats.url], creds, ref);
    expect((await reader.read()).ok).toBe(true);

    await nats.stop();
    await sleep(300);
    const first = await timed(reader.read());
    expect(first.reading).toMatchObject({ ok: false, error: { kind: 'Unreachable' } });
    // It waited for a reconnect that never came, but not past the grace by much (margins for load).
    expect(first.ms).toBeLessThan(graceMs + 3000);
    expect(p.isDown([nats.url], creds)).toBe(true);
    for (let i = 0; i < 3; i++) {
      const later = await timed(reader.read());
      expect(later.reading).toMatchObject({ ok: false, error: { kind: 'Unreachable' } });
      if (!later.reading.ok) expect(later.reading.error.message).toContain(nats.url);
      // Fails fast: no connect attempt, no waiting (microseconds; generous for a loaded machine).
      expect(later.ms).toBeLessThan(500);
    }

    await nats.start();
    await eventually(
      'reads to succeed again once the server is back',
      async () => ((await reader.read()).ok ? true : undefined),
      20_000,
      200,
    );
    expect(p.isDown([nats.url], creds)).toBe(false);
  }, 60_000);
});
