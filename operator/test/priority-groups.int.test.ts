// Pull consumers with priority groups (nats-server 2.11+: priority_groups and priority_policy).
// With priority_policy pinned_client the server delivers a group's messages to one client at a
// time, the pinned one, and holds every other client's pull requests until that pin is dropped
// (measured on the pinned nats-server: three nats.js consume() clients on one pinned group, 300
// messages, 20 ms handlers; 188, 0 and 0 delivered in 4 s). Another replica is a standby, not more
// capacity: it stays at one replica and ScalingLimited says why. With overflow or prioritized
// every client of the group receives messages, so those are scaled from their backlog. On the
// real stack (real API server, real NATS), the reconciler driven directly.
import { AckPolicy, type ConsumerConfig } from '@nats-io/jetstream';
import {
  condition,
  eventConsumerStatus,
  publish,
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
});
