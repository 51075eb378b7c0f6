// The projection is written after the ack (once per flush, not once per event), so it may be behind
// the event log: these tests prove that nothing leaves it behind for good.
//  - A stored projection many entries behind its log (what a crash between acks and the write
//    leaves) is brought up to date from the log tail by the next event of that aggregate.
//  - A writer killed with projections unwritten, for aggregates that get no further event, is
//    noticed by another consumer through its writer mark, which brings them up to date.
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { eventually, testStack, uniqueName } from '../../test/env.js';
import {
  emptyProjection,
  foldEntry,
  logEntrySchema,
  projectionSchema,
  type AggregateProjection,
} from '../src/consumer/projection.js';
import { WRITER_MARK_PREFIX } from '../src/consumer/projection-writer.js';
import { runReplay } from '../src/consumer/replay.js';
import { topologyOf, type NatsConfig } from '../src/shared/config.js';
import { readWholeStream } from '../src/shared/stream-reader.js';
import { ensureTopology } from '../src/shared/topology.js';
import {
  configOf,
  deleteTopology,
  makeEvent,
  publishEvents,
  scrapeMetric,
  startWorkload,
  workloadEnv,
  type Workload,
} from './harness.js';

describe('projection written after the ack', () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  const running: Workload[] = [];
  const configs: NatsConfig[] = [];

  beforeAll(async () => {
    nc = await connect({ servers: testStack().natsUrl });
    js = jetstream(nc);
  });

  afterAll(async () => {
    for (const w of running) w.kill('SIGKILL');
    await Promise.all(running.map((w) => w.exited));
    for (const config of configs) await deleteTopology(nc, config);
    await nc.close();
  });

  const setUp = async (tag: string) => {
    const env = workloadEnv(testStack().natsUrl, uniqueName(tag));
    const config = configOf(env);
    configs.push(config);
    await ensureTopology(nc, config);
    const kv = await new Kvm(js).open(topologyOf(config).projectionBucket);
    const projectionOf = async (aggregateId: string): Promise<AggregateProjection | undefined> => {
      const entry = await kv.get(aggregateId);
      return entry?.operation === 'PUT' ? projectionSchema.parse(entry.json()) : undefined;
    };
    const start = (extra: Record<string, string> = {}) => {
      const w = startWorkload('consumer', { ...env, ...extra });
      running.push(w);
      return w;
    };
    return { env, config, kv, projectionOf, start };
  };

  const settled = async (config: NatsConfig) => {
    const t = topologyOf(config);
    const info = await (await jetstreamManager(nc)).consumers.info(t.eventsStream, t.consumer);
    return info.num_pending === 0 && info.num_ack_pending === 0 ? true : undefined;
  };

  it('brings a projection left many entries behind its log up to date from the log tail', async () => {
    const { config, kv, projectionOf, start } = await setUp('wlp');
    const first = start();
    await first.port;
    const events = Array.from({ length: 30 }, (_, i) =>
      makeEvent(`p-${i}`, 'acc-behind', { payload: { amount: i } }),
    );
    await publishEvents(js, config, events);
    await eventually('30 events applied and written', async () =>
      (await projectionOf('acc-behind'))?.eventCount === 30 ? true : undefined,
    );
    first.kill('SIGTERM');
    await first.exited;

    // What a crash after 25 acks leaves: a stored projection that reflects only the first 5 entries.
    let behind = emptyProjection('acc-behind');
    let folded = 0;
    await readWholeStream(js, await jetstreamManager(nc), topologyOf(config).eventLogStream, (msg) => {
      if (folded++ < 5) behind = foldEntry(behind, logEntrySchema.parse(msg.json()), msg.seq);
    });
    await kv.put('acc-behind', JSON.stringify(behind));
    expect((await projectionOf('acc-behind'))?.eventCount).toBe(5);

    // A new process (nothing cached) handles one more event of that aggregate.
    const second = start();
    await second.port;
    await publishEvents(js, config, [makeEvent('p-30', 'acc-behind', { payload: { amount: 30 } })]);
    const current = await eventually('the 31st event applied and written', async () => {
      const p = await projectionOf('acc-behind');
      return p && p.eventCount !== 5 && p.lastEventId === 'p-30' ? p : undefined;
    });
    expect(current).toMatchObject({ eventCount: 31, total: (30 * 31) / 2, lastEventId: 'p-30' });
    expect(await runReplay(nc, config)).toMatchObject({ matches: true, aggregates: 1, logEntries: 31 });
  });

  it('brings up to date the projections a killed writer acked but never wrote', async () => {
    const { config, kv, projectionOf, start } = await setUp('wlw');
    // A writer that would write its projections only after a minute: killed long before.
    const slow = start({ PROJECTION_FLUSH_MS: '60000', PROJECTION_MARK_STALE_MS: '3000' });
    await slow.port;
    const events = Array.from({ length: 100 }, (_, i) =>
      makeEvent(`w-${i}`, `acc-${i % 10}`, { payload: { amount: 1 } }),
    );
    await publishEvents(js, config, events);
    await eventually('all 100 events acked', () => settled(config));
    // Acked, yet no projection written: the state a crash between ack and write leaves.
    expect(await projectionOf('acc-0')).toBeUndefined();
    const marks: string[] = [];
    for await (const key of await kv.keys(`${WRITER_MARK_PREFIX}>`)) marks.push(key);
    expect(marks).toHaveLength(1);
    slow.kill('SIGKILL');
    await slow.exited;

    // No event of these aggregates comes again: only the mark can lead another process to them.
    const observer = start({ PROJECTION_FLUSH_MS: '100', PROJECTION_MARK_STALE_MS: '3000' });
    const port = await observer.port;
    const replay = await eventually(
      'the killed writer’s projections brought up to date',
      async () => {
        const r = await runReplay(nc, config);
        return r.matches ? r : undefined;
      },
      30_000,
      500,
    );
    expect(replay).toMatchObject({ aggregates: 10, equal: 10, logEntries: 100 });
    expect(await projectionOf('acc-0')).toMatchObject({ eventCount: 10, total: 10 });
    expect(await scrapeMetric(port, 'jetscale_consumer_writers_recovered_total')).toBe(1);
    // The stopped writer's mark is gone; the observer's own remains while it runs.
    const left: string[] = [];
    for await (const key of await kv.keys(`${WRITER_MARK_PREFIX}>`)) left.push(key);
    expect(left).not.toContain(marks[0]);
  }, 60_000);
});
