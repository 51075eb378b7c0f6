// Refused credentials behind the connection's breaker (connection-pool.ts), on a real nats-server
// with a password: a refusal at connect cannot heal by itself, so it is remembered and every read
// until the next background check (with backoff) gets it back at once, instead of each poll making
// a full connect attempt (up to the connect timeout, a TLS diagnosis on top) on a shared worker.
// The reads still say what to fix (Unauthorized, which never counts toward fallback). Fixed
// credentials (the Secret changed: a new connection) read at once, and a server that starts
// accepting the old ones is found by the background check. Connect attempts are counted in the
// server's log ("authentication error" per refused attempt).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer, type NatsServer } from '../../hack/stack/nats-server.js';
import { connect } from '@nats-io/transport-node';
import { ConnectionPool } from '../src/backlog/connection-pool.js';
import { NatsBacklogSources } from '../src/backlog/nats-backlog-sources.js';
import type { NatsCredentials } from '../src/backlog/nats-credentials.js';
import { silentLogger } from '../src/observability/logger.js';
import { eventually } from '../../test/env.js';
import { createStreamAndConsumer, sleep } from './harness.js';

/** A server configuration accepting these [user, password] pairs. */
const users = (...list: Array<[string, string]>): string =>
  `authorization { users: [ ${list.map(([u, p]) => `{ user: ${u}, password: "${p}" }`).join(', ')} ] }\n`;

describe('refused credentials behind the connection breaker', () => {
  let nats: NatsServer;
  let dir: string;
  let pool: ConnectionPool | undefined;
  const ref = { stream: 'ORDERS', consumer: 'worker' };
  const withPassword = (password: string, user = 'reader'): NatsCredentials => ({
    auth: { kind: 'userPassword', user, password },
  });

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-refusals-'));
    nats = await startNatsServer({ dir, config: users(['reader', 'right']) });
    const nc = await connect({ servers: nats.url, user: 'reader', pass: 'right' });
    await createStreamAndConsumer(nc, 'ORDERS', 'worker');
    await nc.close();
  });

  afterAll(async () => {
    await pool?.closeAll();
    await nats?.stop({ hard: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Connect attempts the server refused so far. */
  const refusedAttempts = (): number =>
    (readFileSync(path.join(nats.dir, 'nats-server.log'), 'utf8').match(/authentication error/gi) ?? [])
      .length;

  it('remembers a refusal: one connect, then every read refused at once; fixed credentials read at once', async () => {
    // The first background check a minute after the refusal: the burst of reads below comes before
    // it however slow the machine (with a 3 s check, ~11 reads 50 ms apart had to fit in 3 s).
    pool = new ConnectionPool({
      logger: silentLogger,
      connectTimeoutMs: 2000,
      pingTimeoutMs: 1000,
      checkBackoff: { baseMs: 60_000, maxMs: 60_000, jitter: 0 },
    });
    const sources = new NatsBacklogSources(pool, { timeoutMs: 2000 });
    const wrong = sources.open('ns/wrong', [nats.url], withPassword('wrong'), ref);
    const before = refusedAttempts();

    const first = await wrong.read();
    expect(first).toMatchObject({ ok: false, error: { kind: 'Unauthorized' } });
    if (!first.ok) expect(first.error.message).toMatch(/refused the credentials/);
    // Ten polls 50 ms apart: each told what to fix, none of them a connect attempt.
    for (let i = 0; i < 10; i++) {
      const again = await wrong.read();
      expect(again).toMatchObject({ ok: false, error: { kind: 'Unauthorized' } });
      if (!again.ok) expect(again.error.message).toMatch(/refused the credentials/);
      await sleep(50);
    }
    // The first read's connect alone (before: 11). nats-server logs a refusal before it sends
    // the client its -ERR (client.go authViolation), so every refusal made is in the log by now.
    expect(refusedAttempts() - before).toBe(1);

    // The Secret fixed: other credentials are another connection, read at once.
    const fixed = sources.open('ns/wrong', [nats.url], withPassword('right'), ref);
    expect(await fixed.read()).toMatchObject({ ok: true });
  }, 60_000);

  it('finds a server that starts accepting the refused credentials with its background check', async () => {
    await pool?.closeAll();
    pool = new ConnectionPool({
      logger: silentLogger,
      connectTimeoutMs: 2000,
      pingTimeoutMs: 1000,
      checkBackoff: { baseMs: 500, maxMs: 2000, jitter: 0 },
    });
    const sources = new NatsBacklogSources(pool, { timeoutMs: 2000 });
    const later = sources.open('ns/later', [nats.url], withPassword('later', 'late'), ref);
    expect(await later.read()).toMatchObject({ ok: false, error: { kind: 'Unauthorized' } });
    await nats.reload(users(['reader', 'right'], ['late', 'later']));
    await eventually(
      'reads with the now accepted password to succeed',
      async () => ((await later.read()).ok ? true : undefined),
      20_000,
      200,
    );
  }, 60_000);
});
