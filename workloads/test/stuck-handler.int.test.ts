// A handler hung for good (a deadlock, a downstream call without a timeout) on a real JetStream:
// the consumer's /healthz fails once a handler has run longer than STUCK_AFTER_MS, so the kubelet's
// liveness probe restarts the pod. Nothing else frees such a message: the server hands it back to
// the same process at each ack_wait, and an autoscaler reading the consumer's counters cannot tell
// that replica from handlers that fail every message (jetscale adds one spare replica after
// 300 s, operator/README "A spare replica after 300 s"; the restart is what ends the spell). An idle process,
// a busy one and one whose handlers return are not hung.
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { eventually, testStack, uniqueName } from '../../test/env.js';
import type { NatsConfig } from '../src/shared/config.js';
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

const STUCK_AFTER_MS = 4000;

describe('consumer with a hung handler', () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  let config: NatsConfig;
  let consumer: Workload;
  let port: number;

  beforeAll(async () => {
    const env = workloadEnv(testStack().natsUrl, uniqueName('wlh'));
    config = configOf(env);
    nc = await connect({ servers: testStack().natsUrl });
    js = jetstream(nc);
    consumer = startWorkload('consumer', {
      ...env,
      HANG_TYPES: 'hang',
      STUCK_AFTER_MS: String(STUCK_AFTER_MS),
      WORK_LATENCY_MS: '50',
      ACK_WAIT_MS: '60000',
      SHUTDOWN_GRACE_MS: '1000',
    });
    port = await consumer.port;
  });

  afterAll(async () => {
    consumer?.kill('SIGKILL');
    await consumer?.exited;
    await deleteTopology(nc, config);
    await nc.close();
  });

  const health = async (): Promise<{ status: number; body: string }> => {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`);
    return { status: res.status, body: await res.text() };
  };

  it('stays healthy while handlers return, busy or idle', async () => {
    const events = Array.from({ length: 60 }, (_, i) => makeEvent(uniqueName('ok'), `agg-${i % 10}`));
    await publishEvents(js, config, events);
    const seen: number[] = [];
    await eventually(
      'all 60 applied',
      async () => {
        seen.push((await health()).status);
        return (await scrapeMetric(port, 'jetscale_consumer_events_processed_total')) >= 60
          ? true
          : undefined;
      },
      60_000,
    );
    // Idle for longer than STUCK_AFTER_MS: nothing running is nothing hung.
    await sleep(STUCK_AFTER_MS + 1000);
    seen.push((await health()).status);
    expect(seen.every((status) => status === 200)).toBe(true);
    expect(await scrapeMetric(port, 'jetscale_consumer_oldest_handler_seconds')).toBe(0);
  });

  it('fails /healthz once a handler has run longer than STUCK_AFTER_MS, never before, while the rest flows', async () => {
    const hung = makeEvent(uniqueName('hung'), 'agg-hung', { type: 'hang' });
    const publishedAt = Date.now();
    await publishEvents(js, config, [hung]);
    // Other aggregates still flow past the hung handler (it holds one slot, not the process).
    const later = Array.from({ length: 20 }, (_, i) => makeEvent(uniqueName('after'), `agg-${i % 10}`));
    await publishEvents(js, config, later);
    await eventually(
      'the 20 later events applied beside the hung one',
      async () =>
        (await scrapeMetric(port, 'jetscale_consumer_events_processed_total')) >= 80 ? true : undefined,
      60_000,
    );
    const failed = await eventually(
      '/healthz 503',
      async () => {
        const answer = await health();
        return answer.status === 503 ? { ...answer, at: Date.now() } : undefined;
      },
      60_000,
    );
    expect(failed.at - publishedAt).toBeGreaterThanOrEqual(STUCK_AFTER_MS);
    expect(failed.body).toMatch(
      /^a handler has run \d+ s on stream sequence \d+, longer than STUCK_AFTER_MS 4000/,
    );
    expect(await scrapeMetric(port, 'jetscale_consumer_oldest_handler_seconds')).toBeGreaterThanOrEqual(
      STUCK_AFTER_MS / 1000,
    );
    // Ready stays as it was: a hung handler is the liveness probe's business, and taking the pod out of
    // a Service would not free what it holds.
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
  });
});
