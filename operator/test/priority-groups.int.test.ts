// Pull consumers with priority groups (nats-server 2.11+: priority_groups and priority_policy).
// With priority_policy pinned_client the server delivers a group's messages to one client at a
// time, the pinned one, and holds every other client's pull requests until that pin is dropped
// (measured on the pinned nats-server: three nats.js consume() clients on one pinned group, 300
// messages, 20 ms handlers; 188, 0 and 0 delivered in 4 s). Another replica is a standby, not more
// capacity: it stays at one replica and ScalingLimited says why. With overflow or prioritized
// every client of the group receives messages, so those are scaled from their backlog. On the
// real stack (real API server, real NATS), the reconciler driven directly.
import { AckPolicy, jetstream, type ConsumerConfig } from '@nats-io/jetstream';
import {
  condition,
  eventConsumerStatus,
  publish,
  sleep,
  specReplicas,
  streamName,
  useStreamDrill,
} from './harness.js';

describe('pull consumers with priority groups', () => {
  const pinnedStream = streamName('pinned');
  const sharedStream = streamName('overflow');
  const drill = useStreamDrill({
    namespace: 'op-priority',
    instance: 'priority-groups-test',
    streams: [pinnedStream, sharedStream],
  });

  async function groupedConsumer(
    stream: string,
    name: string,
    policy: ConsumerConfig['priority_policy'],
  ): Promise<void> {
    await drill.jsm.consumers.add(stream, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      priority_groups: ['jobs'],
      priority_policy: policy,
      ...(policy === 'pinned_client' ? { priority_timeout: 30_000_000_000 } : {}),
    });
    await drill.addTarget(name, stream);
  }

  it('holds a pinned_client consumer at one replica and says why; overflow and prioritized scale from the backlog', async () => {
    await groupedConsumer(pinnedStream, 'pinned', 'pinned_client');
    await publish(drill.nc, pinnedStream, 900);
    expect((await drill.jsm.consumers.info(pinnedStream, 'pinned')).num_pending).toBe(900);
    await groupedConsumer(sharedStream, 'overflow', 'overflow');
    await groupedConsumer(sharedStream, 'prioritized', 'prioritized');
    await publish(drill.nc, sharedStream, 900);

    await drill.poll('overflow');
    expect(await specReplicas(drill.ns.name, 'overflow')).toBe(9);
    await drill.poll('prioritized');
    expect(await specReplicas(drill.ns.name, 'prioritized')).toBe(9);

    await drill.poll('pinned');
    expect(await specReplicas(drill.ns.name, 'pinned')).toBe(1);
    const status = await eventConsumerStatus(drill.ns.name, 'pinned');
    expect(condition(status, 'Ready')?.status).toBe('True');
    const limited = condition(status, 'ScalingLimited');
    expect(limited).toMatchObject({ status: 'True', reason: 'PinnedClient' });
    expect(limited?.message).toContain('pinned_client');
  });

  // Overflow clients that pull with min_pending N get nothing while num_pending is below N
  // (nats-server server/consumer.go nextWaiting; measured on the pinned nats-server by redteam3,
  // session 17: three consume({group, min_pending: 100}) clients, 50 pending: nothing delivered in
  // 3 s, num_waiting 3). The operator cannot see min_pending (it is in the pull requests, not the
  // consumer's config), and before it scaled such a standing backlog by backlogPerReplica: 10
  // replicas for 99 pending that none of them can get. What it sees instead: pull requests wait,
  // messages are pending, max_ack_pending has room, and nothing is delivered across an interval.
  // One reading cannot show that (the drill of c49a2ab expected 1 replica after the first poll on
  // that ground alone). So the first reading adds no replicas until the next one, a second later,
  // shows deliveries or confirms the refusal (scaling/refused-backlog.ts). Once the backlog rises
  // above min_pending and the clients work it, it is scaled as usual.
  it('buys no replicas for a backlog the overflow clients cannot take (under their min_pending), and scales once they take it', async () => {
    const stream = await drill.addStream('minpending');
    await drill.jsm.consumers.add(stream, {
      durable_name: 'overflow-min',
      ack_policy: AckPolicy.Explicit,
      priority_groups: ['jobs'],
      priority_policy: 'overflow',
    });
    const consumer = await jetstream(drill.nc).consumers.get(stream, 'overflow-min');
    const clients = await Promise.all(
      [0, 1, 2].map(() => consumer.consume({ group: 'jobs', min_pending: 100, max_messages: 10 })),
    );
    // Handlers of 100 ms: a backlog above min_pending takes the three clients seconds to work.
    for (const messages of clients)
      void (async () => {
        for await (const m of messages) {
          await sleep(100);
          m.ack();
        }
      })();
    const limited = async () =>
      condition(await eventConsumerStatus(drill.ns.name, 'overflow-min'), 'ScalingLimited');
    try {
      await publish(drill.nc, stream, 99);
      await drill.addTarget('overflow-min', stream, { extra: { backlogPerReplica: 10 } });
      await drill.poll('overflow-min');
      // Before: 10 at this poll.
      expect(await specReplicas(drill.ns.name, 'overflow-min')).toBe(1);
      expect(await limited()).toMatchObject({ status: 'True', reason: 'BacklogUnconfirmed' });
      await sleep(1100);
      await drill.poll('overflow-min');
      const info = await drill.jsm.consumers.info(stream, 'overflow-min');
      expect({ pending: info.num_pending, delivered: info.delivered.consumer_seq }).toEqual({
        pending: 99,
        delivered: 0,
      });
      expect(info.num_waiting).toBeGreaterThan(0);
      // The one replica there is cannot get any of it; ten would not either.
      expect(await specReplicas(drill.ns.name, 'overflow-min')).toBe(1);
      const refused = await limited();
      expect(refused).toMatchObject({ status: 'True', reason: 'BacklogRefused' });
      expect(refused?.message).toContain('min_pending');

      // 150 more: num_pending is above min_pending, the clients take messages and work them
      // (about 5 s at 3 × 10/s). Scaled as usual within two polls.
      await publish(drill.nc, stream, 150);
      await drill.poll('overflow-min');
      if ((await specReplicas(drill.ns.name, 'overflow-min')) === 1) {
        await sleep(1100);
        await drill.poll('overflow-min');
      }
      expect((await drill.jsm.consumers.info(stream, 'overflow-min')).delivered.consumer_seq).toBeGreaterThan(
        0,
      );
      expect(await specReplicas(drill.ns.name, 'overflow-min')).toBeGreaterThan(1);
      expect((await limited())?.reason).not.toMatch(/^Backlog/);
    } finally {
      for (const messages of clients) await messages.close();
    }
  });

  // The same clients while messages keep arriving: each time num_pending reaches min_pending the
  // server hands one message to a waiting request (nextWaiting: "If one OR the other limit is
  // exceeded, we want to fulfill the request"), so 99 stand while deliveries follow the arrivals one
  // at a time (measured: 99 pending and 3–20 requests waiting at 40 readings of 20/s over 10 s). No
  // interval is without deliveries, so this is no refusal by 3e's rule, and before it was sized by
  // backlogPerReplica (10 replicas for the 99) and, the 99 counting as work waiting, the replicas'
  // share of the arrivals as their capacity (each added replica read slower than the last).
  it('a standing backlog just under min_pending while deliveries flow: sized by what arrives, not by the backlog the clients hold back', async () => {
    const stream = await drill.addStream('standing');
    await drill.jsm.consumers.add(stream, {
      durable_name: 'overflow-standing',
      ack_policy: AckPolicy.Explicit,
      priority_groups: ['jobs'],
      priority_policy: 'overflow',
    });
    const consumer = await jetstream(drill.nc).consumers.get(stream, 'overflow-standing');
    const clients = await Promise.all(
      [0, 1, 2].map(() => consumer.consume({ group: 'jobs', min_pending: 100, max_messages: 10 })),
    );
    for (const messages of clients)
      void (async () => {
        for await (const m of messages) {
          await sleep(10);
          m.ack();
        }
      })();
    await publish(drill.nc, stream, 99);
    // 20/s from then on.
    const arrivals = setInterval(() => drill.nc.publish(`${stream}.event`, 'm'), 50);
    try {
      await drill.addTarget('overflow-standing', stream, { extra: { backlogPerReplica: 10 } });
      const polls: Array<{ replicas: number; pending: number; delivered: number; waiting: number }> = [];
      for (let i = 0; i < 8; i++) {
        if (i > 0) await sleep(1100);
        await drill.poll('overflow-standing');
        const info = await drill.jsm.consumers.info(stream, 'overflow-standing');
        polls.push({
          replicas: await specReplicas(drill.ns.name, 'overflow-standing'),
          pending: info.num_pending,
          delivered: info.delivered.consumer_seq,
          waiting: info.num_waiting,
        });
      }
      const status = await eventConsumerStatus(drill.ns.name, 'overflow-standing');
      console.log(
        `standing backlog under min_pending: ${polls.map((p) => `${p.replicas}r ${p.pending}p ${p.waiting}w ${p.delivered}d`).join(', ')}; ${condition(status, 'ScalingLimited')?.message ?? ''}`,
      );
      // The drill's premise: the backlog stood just under min_pending with requests waiting, and
      // deliveries went on between polls.
      for (const p of polls) expect(p.pending).toBeGreaterThanOrEqual(90);
      for (const p of polls) expect(p.waiting).toBeGreaterThan(0);
      for (let i = 1; i < polls.length; i++)
        expect(polls[i]?.delivered).toBeGreaterThan(polls[i - 1]?.delivered ?? Infinity);
      // 20/s of 10 ms handlers is one replica's work; two allowed for the headroom. Before: 10.
      expect(Math.max(...polls.map((p) => p.replicas))).toBeLessThanOrEqual(2);
    } finally {
      clearInterval(arrivals);
      for (const messages of clients) await messages.close();
    }
  });
});
