// The consumer's guarantees on a real NATS server: duplicates have one effect, poison events reach
// the DLQ with their payload after the configured attempts, out-of-order versions wait for their
// predecessor, conflicting versions are dead-lettered, and the replayed projection equals the live one.
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { eventually, testStack, uniqueName } from '../../test/env.js';
import { runAudit } from '../src/audit/audit.js';
import { DlqHeaders } from '../src/consumer/dead-letter.js';
import { runReplay } from '../src/consumer/replay.js';
import { topologyOf, type NatsConfig } from '../src/shared/config.js';
import { readWholeStream } from '../src/shared/stream-reader.js';
import {
  configOf,
  deleteTopology,
  logEntriesById,
  makeEvent,
  publishEvents,
  scrapeMetric,
  startWorkload,
  workloadEnv,
  type Workload,
} from './harness.js';

interface DlqCopy {
  data: string;
  headers: Record<string, string>;
}

describe('consumer on a real JetStream', () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  let env: Record<string, string>;
  let config: NatsConfig;
  let gateway: Workload;
  let consumer: Workload;
  let gatewayPort: number;
  let consumerPort: number;

  beforeAll(async () => {
    const tag = uniqueName('wlc');
    env = workloadEnv(testStack().natsUrl, tag);
    config = configOf(env);
    nc = await connect({ servers: testStack().natsUrl });
    js = jetstream(nc);
    gateway = startWorkload('gateway', env);
    consumer = startWorkload('consumer', {
      ...env,
      MAX_DELIVER: '3',
      RETRY_BASE_DELAY_MS: '100',
      ORDER_RETRY_DELAY_MS: '300',
      ACK_WAIT_MS: '5000',
    });
    [gatewayPort, consumerPort] = await Promise.all([gateway.port, consumer.port]);
  });

  afterAll(async () => {
    gateway?.kill('SIGTERM');
    consumer?.kill('SIGTERM');
    await Promise.all([gateway?.exited, consumer?.exited]);
    await deleteTopology(nc, config);
    await nc.close();
  });

  const post = (body: unknown) =>
    fetch(`http://127.0.0.1:${gatewayPort}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  const dlqCopies = async (): Promise<DlqCopy[]> => {
    const copies: DlqCopy[] = [];
    await readWholeStream(js, await jetstreamManager(nc), topologyOf(config).dlqStream, (msg) => {
      const h: Record<string, string> = {};
      for (const k of msg.headers?.keys() ?? []) h[k] = msg.headers?.get(k) ?? '';
      copies.push({ data: msg.string(), headers: h });
    });
    return copies;
  };

  it('applies an event POSTed twice once, and still once when it is stored again after the dedup window', async () => {
    const event = makeEvent('dup-1', 'acc-dup', { payload: { amount: 7 } });
    const first = await post(event);
    const second = await post(event);
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect(await second.json()).toMatchObject({
      accepted: 0,
      duplicates: 1,
      events: [{ id: 'dup-1', duplicate: true }],
    });
    // The same event stored a second time (as if retried after the duplicate window) must still have one effect.
    await js.publish(topologyOf(config).eventsSubject('acc-dup'), JSON.stringify(event), {
      msgID: 'dup-1-late-retry',
    });
    await eventually('the late copy to be suppressed', async () =>
      (await scrapeMetric(consumerPort, 'jetscale_consumer_duplicates_suppressed_total')) >= 1
        ? true
        : undefined,
    );
    const log = await logEntriesById(nc, config);
    expect(log.get('dup-1')).toBe(1);
  });

  it('dead-letters a poison event after MAX_DELIVER attempts with its original payload and headers', async () => {
    const poison = makeEvent('poison-1', 'acc-poison', {
      type: 'poison',
      payload: { amount: 3, note: 'always fails' },
    });
    expect((await post(poison)).status).toBe(202);
    const copy = await eventually(
      'the poison event in the DLQ',
      async () => (await dlqCopies()).find((c) => c.headers[DlqHeaders.originalMsgId] === 'poison-1'),
      30_000,
    );
    expect(JSON.parse(copy.data)).toEqual(poison);
    expect(copy.headers[DlqHeaders.reason]).toBe('max_deliveries');
    expect(copy.headers[DlqHeaders.deliveries]).toBe('3');
    expect(copy.headers[DlqHeaders.originalSubject]).toBe(topologyOf(config).eventsSubject('acc-poison'));
    expect((await logEntriesById(nc, config)).get('poison-1')).toBeUndefined();
  });

  it('dead-letters a message that is not an event at once', async () => {
    await js.publish(topologyOf(config).eventsSubject('acc-garbage'), 'this is not json', {
      msgID: 'garbage-1',
    });
    const copy = await eventually('the garbage in the DLQ', async () =>
      (await dlqCopies()).find((c) => c.headers[DlqHeaders.originalMsgId] === 'garbage-1'),
    );
    expect(copy.data).toBe('this is not json');
    expect(copy.headers[DlqHeaders.reason]).toBe('invalid_event');
    expect(copy.headers[DlqHeaders.deliveries]).toBe('1');
  });

  it('holds back an event whose predecessor version is missing and applies both in order', async () => {
    await publishEvents(js, config, [makeEvent('ord-2', 'acc-ord', { version: 2 })]);
    await eventually('an out-of-order nak', async () =>
      (await scrapeMetric(consumerPort, 'jetscale_consumer_naks_total')) >= 1 ? true : undefined,
    );
    await publishEvents(js, config, [makeEvent('ord-1', 'acc-ord', { version: 1 })]);
    const order = await eventually('both versions applied', async () => {
      const ids: string[] = [];
      await readWholeStream(js, await jetstreamManager(nc), topologyOf(config).eventLogStream, (msg) => {
        const e = msg.json<{ id: string; aggregateId: string; version: number }>();
        if (e.aggregateId === 'acc-ord') ids.push(`${e.id}@v${e.version}`);
      });
      return ids.length === 2 ? ids : undefined;
    });
    expect(order).toEqual(['ord-1@v1', 'ord-2@v2']);
  });

  it('dead-letters an event whose version is already taken', async () => {
    await publishEvents(js, config, [makeEvent('ord-conflict', 'acc-ord', { version: 1 })]);
    const copy = await eventually('the conflict in the DLQ', async () =>
      (await dlqCopies()).find((c) => c.headers[DlqHeaders.originalMsgId] === 'ord-conflict'),
    );
    expect(copy.headers[DlqHeaders.reason]).toBe('version_conflict');
  });

  it('rebuilds from the log a projection equal to the live one, and the audit agrees', async () => {
    const events = Array.from({ length: 300 }, (_, i) =>
      makeEvent(`mix-${i}`, `acc-${i % 17}`, {
        type: i % 4 ? 'deposit' : 'withdrawal',
        payload: { amount: (i % 13) / 10 },
      }),
    );
    await publishEvents(js, config, events);
    const audit = await runAudit(nc, config, { settleTimeoutMs: 30_000 });
    expect(audit).toMatchObject({ lost: 0, appliedTwice: 0, pending: 0, ok: true });
    // dup-1, mix-* and ord-1/2 applied; poison, garbage and the conflict dead-lettered.
    expect(audit.applied).toBe(300 + 3);
    expect(audit.deadLettered).toBe(3);
    // Projections are written after the ack, within PROJECTION_FLUSH_MS (1 s) of it.
    const replay = await eventually('the projections written', async () => {
      const r = await runReplay(nc, config);
      return r.matches ? r : undefined;
    });
    expect(replay).toMatchObject({ matches: true, mismatched: [], missingLive: [], extraLive: [] });
    expect(replay.aggregates).toBe(17 + 2);
  });

  it('exposes the documented metrics and probes', async () => {
    expect((await fetch(`http://127.0.0.1:${consumerPort}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${consumerPort}/readyz`)).status).toBe(200);
    const text = await (await fetch(`http://127.0.0.1:${consumerPort}/metrics`)).text();
    for (const name of [
      'jetscale_consumer_events_processed_total',
      'jetscale_consumer_duplicates_suppressed_total',
      'jetscale_consumer_redeliveries_total',
      'jetscale_consumer_dead_lettered_total',
      'jetscale_consumer_naks_total',
      'jetscale_consumer_append_conflicts_total',
      'jetscale_consumer_in_flight',
      'jetscale_consumer_handler_duration_seconds',
      'jetscale_consumer_end_to_end_latency_seconds',
      'jetscale_consumer_status_events_total',
      'jetscale_consumer_nats_connected',
      'jetscale_consumer_draining',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    expect(text).toMatch(/jetscale_consumer_dead_lettered_total\{reason="max_deliveries"\} 1/);
    expect(text).toMatch(/jetscale_consumer_redeliveries_total [1-9]/);
  });

  it('re-creates its durable consumer when it is deleted, and the replayed history has no second effect', async () => {
    const t = topologyOf(config);
    const jsm = await jetstreamManager(nc);
    const before = await scrapeMetric(consumerPort, 'jetscale_consumer_duplicates_suppressed_total');
    await jsm.consumers.delete(t.eventsStream, t.consumer);
    await publishEvents(js, config, [makeEvent('after-delete', 'acc-after')]);
    await eventually(
      'the event published after the deletion to be applied',
      async () => ((await logEntriesById(nc, config)).get('after-delete') === 1 ? true : undefined),
      60_000,
    );
    // The new consumer starts from the beginning of the stream: every earlier event comes again and
    // must be recognised as applied.
    await eventually(
      'the replayed history to be suppressed',
      async () =>
        (await scrapeMetric(consumerPort, 'jetscale_consumer_duplicates_suppressed_total')) - before >= 300
          ? true
          : undefined,
      60_000,
    );
    const audit = await runAudit(nc, config, { settleTimeoutMs: 60_000 });
    expect(audit).toMatchObject({ lost: 0, appliedTwice: 0, ok: true });
    expect(await scrapeMetric(consumerPort, 'jetscale_consumer_status_events_total')).toBeGreaterThan(0);
  });
});

describe('an event log of the older layout', () => {
  it('is refused at start-up (exit 2, saying why and what to do) and left as it was', async () => {
    const env = workloadEnv(testStack().natsUrl, uniqueName('wlold'));
    const config = configOf(env);
    const t = topologyOf(config);
    const nc = await connect({ servers: testStack().natsUrl });
    try {
      const jsm = await jetstreamManager(nc);
      // What older versions created: every entry of an aggregate on one subject, no per-subject limit.
      const oldSubject = `${config.EVENT_LOG_SUBJECT_PREFIX}.acc-1`;
      await jsm.streams.add({ name: t.eventLogStream, subjects: [`${config.EVENT_LOG_SUBJECT_PREFIX}.>`] });
      for (const id of ['a', 'b', 'c']) await jetstream(nc).publish(oldSubject, JSON.stringify({ id }));
      const consumer = startWorkload('consumer', env);
      const exit = await consumer.exited;
      expect(exit.code).toBe(2);
      const said = consumer.logs.join('\n');
      expect(said).toMatch(/event log stream .* does not have the layout this version needs/);
      expect(said).toMatch(/max_msgs_per_subject .* \(wanted 1\)/);
      expect(said).toMatch(/EVENT_LOG_STREAM/);
      // Nothing was limited in place: the three entries of the aggregate are all still there.
      const info = await jsm.streams.info(t.eventLogStream);
      expect(info.state.messages).toBe(3);
      expect(info.config.max_msgs_per_subject).not.toBe(1);
    } finally {
      await deleteTopology(nc, config);
      await nc.close();
    }
  });
});
