// Graceful drain: a consumer SIGTERMed under steady load stops pulling, settles what it holds and
// exits within its grace period, leaving no pulled-but-unacknowledged message behind — so a
// scale-down causes no redeliveries.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import net from 'node:net';
import { eventually, testStack, uniqueName } from '../../test/env.js';
import { runAudit } from '../src/audit/audit.js';
import { WRITER_MARK_PREFIX } from '../src/consumer/projection-writer.js';
import { topologyOf, type NatsConfig } from '../src/shared/config.js';
import { ensureTopology } from '../src/shared/topology.js';
import {
  configOf,
  deleteTopology,
  makeEvent,
  publishEvents,
  scrapeMetric,
  sleep,
  startWorkload,
  workloadEnv,
  type Workload,
} from './harness.js';

const GRACE_MS = 8000;

describe('consumer drain on SIGTERM', () => {
  let nc: NatsConnection;
  let env: Record<string, string>;
  let config: NatsConfig;
  const running: Workload[] = [];

  beforeAll(async () => {
    env = {
      ...workloadEnv(testStack().natsUrl, uniqueName('wld')),
      WORK_LATENCY_MS: '20',
      CONCURRENCY: '8',
      PULL_BATCH: '16',
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
    };
    config = configOf(env);
    nc = await connect({ servers: testStack().natsUrl });
    await ensureTopology(nc, config);
  });

  afterAll(async () => {
    for (const w of running) w.kill('SIGKILL');
    await Promise.all(running.map((w) => w.exited));
    await deleteTopology(nc, config);
    await nc.close();
  });

  it('exits within the grace period and leaves nothing for redelivery, a client stalled mid-request on the probe port notwithstanding', async () => {
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const t = topologyOf(config);
    let publishing = true;
    let published = 0;
    const load = (async () => {
      while (publishing) {
        const batch = Array.from({ length: 20 }, (_, i) =>
          makeEvent(`d-${published + i}`, `agg-${(published + i) % 40}`),
        );
        await publishEvents(js, config, batch);
        published += batch.length;
        await sleep(25);
      }
    })();

    const first = startWorkload('consumer', env);
    running.push(first);
    const port = await first.port;
    await eventually('steady processing', async () =>
      (await scrapeMetric(port, 'jetscale_consumer_events_processed_total')) >= 100 ? true : undefined,
    );
    const held = await scrapeMetric(port, 'jetscale_consumer_in_flight');
    // A client of the probe port that never finishes its request headers (slowloris, or a stalled
    // scraper): it must not hold the exit past the drain.
    const slowloris = net.connect(port, '127.0.0.1');
    slowloris.on('error', () => undefined);
    await new Promise<void>((resolve) => slowloris.once('connect', () => resolve()));
    slowloris.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n');

    const signalled = Date.now();
    first.kill('SIGTERM');
    const exit = await first.exited;
    const exitMs = Date.now() - signalled;
    const afterExit = await jsm.consumers.info(t.eventsStream, t.consumer);
    process.stderr.write(
      `[drain test] held at SIGTERM=${held} exit=${JSON.stringify(exit)} in ${exitMs} ms; ack pending after exit=${afterExit.num_ack_pending}\n`,
    );
    expect(held).toBeGreaterThan(0);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(exitMs).toBeLessThan(GRACE_MS);
    // Everything the drained process had pulled was acknowledged before it left.
    expect(afterExit.num_ack_pending).toBe(0);
    expect(afterExit.num_redelivered).toBe(0);
    // It wrote every projection it held back and removed its writer mark (removed only then).
    const marks: string[] = [];
    const kv = await new Kvm(js).open(t.projectionBucket);
    for await (const key of await kv.keys(`${WRITER_MARK_PREFIX}>`)) marks.push(key);
    expect(marks).toEqual([]);

    publishing = false;
    await load;
    const second = startWorkload('consumer', env);
    running.push(second);
    const secondPort = await second.port;
    const audit = await runAudit(nc, config, { settleTimeoutMs: 60_000 });
    expect(audit).toMatchObject({
      accepted: published,
      applied: published,
      lost: 0,
      appliedTwice: 0,
      pending: 0,
      ok: true,
    });
    // The successor saw no message a second time.
    expect(await scrapeMetric(secondPort, 'jetscale_consumer_redeliveries_total')).toBe(0);
    expect(await scrapeMetric(secondPort, 'jetscale_consumer_duplicates_suppressed_total')).toBe(0);
  });
});
