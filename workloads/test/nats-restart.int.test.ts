// A NATS restart under load: the gateway answers 503 + Retry-After while JetStream is gone (never a
// 202 for an event it could not store, never a 500), recovers by itself when NATS is back, and every
// event it answered 202 for is applied exactly once by the consumer, which also reconnects by itself.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '../../hack/stack/nats-server.js';
import { eventually, freezeProcess, uniqueName } from '../../test/env.js';
import { runAudit } from '../src/audit/audit.js';
import type { NatsConfig } from '../src/shared/config.js';
import {
  configOf,
  logEntriesById,
  makeEvent,
  sleep,
  startWorkload,
  workloadEnv,
  type Workload,
} from './harness.js';
import { testScratchDir } from '../../test/scratch.js';

describe('NATS restarted during load', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let config: NatsConfig;
  const running: Workload[] = [];

  beforeAll(async () => {
    server = await startNatsServer({ dir: testScratchDir('jetscale-wl-restart-') });
  });

  afterAll(async () => {
    for (const w of running) w.kill('SIGKILL');
    await Promise.all(running.map((w) => w.exited));
    await nc?.close();
    await server.stop({ hard: true });
  });

  it('answers 503 while down, recovers by itself, and applies every accepted event exactly once', async () => {
    const env = {
      ...workloadEnv(server.url, uniqueName('wlr')),
      PUBLISH_TIMEOUT_MS: '1000',
      RETRY_AFTER_SECONDS: '2',
    };
    config = configOf(env);
    const gateway = startWorkload('gateway', env);
    const consumer = startWorkload('consumer', { ...env, ACK_WAIT_MS: '3000' });
    running.push(gateway, consumer);
    const port = await gateway.port;
    await consumer.port;

    const accepted: string[] = [];
    const statuses = new Map<number, number>();
    let missingRetryAfter = 0;
    let phase: 'before' | 'down' | 'after' = 'before';
    const acceptedIn = { before: 0, down: 0, after: 0 };
    let n = 0;
    let running503 = 0;
    let loading = true;
    const worker = async () => {
      while (loading) {
        const event = makeEvent(`r-${n++}`, `agg-${n % 25}`);
        let status = 0;
        try {
          const res = await fetch(`http://127.0.0.1:${port}/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(event),
          });
          status = res.status;
          if (status === 503 && !res.headers.get('retry-after')) missingRetryAfter++;
          await res.arrayBuffer();
        } catch {
          status = -1;
        }
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status === 202) {
          accepted.push(event.id);
          acceptedIn[phase]++;
        }
        if (status === 503) running503++;
        await sleep(5);
      }
    };
    const load = Promise.all([worker(), worker(), worker(), worker()]);

    // Load flowing before the outage (waited for, not timed: a starved machine is slow, not wrong).
    const flowingBy = Date.now() + 30_000;
    while (acceptedIn.before <= 50 && Date.now() < flowingBy) await sleep(100);
    phase = 'down';
    await server.stop({ hard: true });
    await sleep(3000);
    const answeredWhileDown = running503;
    await server.start();
    phase = 'after';
    // Recovery is the gateway's own doing: nothing here pokes it.
    const recoverBy = Date.now() + 60_000;
    while (acceptedIn.after < 200 && Date.now() < recoverBy) await sleep(200);
    loading = false;
    await load;

    nc = await connect({ servers: server.url });
    const audit = await runAudit(nc, config, { settleTimeoutMs: 60_000 });
    const log = await logEntriesById(nc, config);
    const notExactlyOnce = accepted.filter((id) => log.get(id) !== 1);
    process.stderr.write(
      `[restart test] statuses=${JSON.stringify([...statuses])} acceptedIn=${JSON.stringify(acceptedIn)} audit=${JSON.stringify({ ...audit, lostIds: audit.lostIds.length, appliedTwiceIds: audit.appliedTwiceIds.length })}\n`,
    );
    expect(acceptedIn.before).toBeGreaterThan(50);
    expect(answeredWhileDown).toBeGreaterThan(0);
    expect(missingRetryAfter).toBe(0);
    expect([...statuses.keys()].sort()).toEqual([202, 503]);
    expect(acceptedIn.after).toBeGreaterThanOrEqual(200);
    expect(notExactlyOnce).toEqual([]);
    expect(audit).toMatchObject({ lost: 0, appliedTwice: 0, pending: 0, ok: true });
  });

  it('answers 503 (timeout) with Retry-After while JetStream is alive but not answering', async () => {
    const env = {
      ...workloadEnv(server.url, uniqueName('wls')),
      PUBLISH_TIMEOUT_MS: '300',
      RETRY_AFTER_SECONDS: '2',
    };
    const gateway = startWorkload('gateway', env);
    running.push(gateway);
    const port = await gateway.port;
    const post = () =>
      fetch(`http://127.0.0.1:${port}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(makeEvent(uniqueName('slow'), 'agg-slow')),
      });
    // A 300 ms deadline can be missed on a starved machine while the server is fine: retry until one fits.
    await eventually('a publish within the deadline', async () =>
      (await post()).status === 202 ? true : undefined,
    );
    const pid = server.pid();
    if (pid === undefined) throw new Error('nats-server is not running');
    // A frozen server keeps the TCP connection open: only the publish deadline can notice.
    await freezeProcess(pid);
    let frozen: Response;
    const asked = Date.now();
    try {
      frozen = await post();
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(frozen.status).toBe(503);
    expect(Date.now() - asked).toBeLessThan(2000);
    expect(frozen.headers.get('retry-after')).toBe('2');
    expect(await frozen.json()).toMatchObject({ reason: 'timeout' });
    await eventually('202 again after SIGCONT', async () =>
      (await post()).status === 202 ? true : undefined,
    );
  });
});
