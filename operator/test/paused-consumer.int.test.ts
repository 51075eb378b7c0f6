// A consumer paused on the server (nats-server 2.11+: `pause_until` in its config; CONSUMER.INFO
// then says `paused: true` and `pause_remaining`). Until the deadline the server delivers nothing
// to anyone (server/consumer.go, loopAndGatherMsgs: "If the consumer is paused then stop sending"),
// so the backlog grows and no replica can drain it: more replicas would only idle. jetscale holds
// the replicas (ScalingLimited=ConsumerPaused, a Warning Event ConsumerPaused) and scales from the
// backlog once the pause ends (a Normal Event ConsumerResumed). Before: 900 pending on a paused
// consumer scaled 1 replica to 9. On the real stack (real API server, real NATS 2.12), the
// reconciler driven directly.
import { AckPolicy } from '@nats-io/jetstream';
import {
  condition,
  eventConsumerStatus,
  eventsFor,
  publish,
  sleep,
  specReplicas,
  streamName,
  useStreamDrill,
} from './harness.js';

describe('a consumer paused on the server', () => {
  const stream = streamName('paused');
  const drill = useStreamDrill({
    namespace: 'op-paused',
    instance: 'paused-consumer-test',
    streams: [stream],
  });

  const poll = drill.poll;

  it('holds the replicas while the consumer is paused, and scales from the backlog once it resumes', async () => {
    const name = 'paused';
    // Paused at creation for 8 s: the deadline passes on its own, as a user's pause_until does.
    const pauseUntil = new Date(Date.now() + 8_000);
    await drill.jsm.consumers.add(stream, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      pause_until: pauseUntil.toISOString(),
    });
    await drill.addTarget(name, stream);
    await publish(drill.nc, stream, 900);
    const info = await drill.jsm.consumers.info(stream, name);
    expect(info.paused).toBe(true);
    expect(info.num_pending).toBe(900);

    await poll(name);
    await sleep(1_100);
    await poll(name);
    expect(await specReplicas(drill.ns.name, name)).toBe(1);
    const status = await eventConsumerStatus(drill.ns.name, name);
    expect(condition(status, 'Ready')?.status).toBe('True');
    const limited = condition(status, 'ScalingLimited');
    expect(limited).toMatchObject({ status: 'True', reason: 'ConsumerPaused' });
    expect(limited?.message).toContain('paused on the server');
    const pausedEvents = (await eventsFor(drill.ns.name, name)).filter((e) => e.reason === 'ConsumerPaused');
    expect(pausedEvents).toHaveLength(1);
    expect(pausedEvents[0]).toMatchObject({ type: 'Warning' });

    // The pause ends by its deadline: the server says paused false, and the backlog is scaled for.
    await sleep(Math.max(0, pauseUntil.getTime() - Date.now()) + 200);
    expect((await drill.jsm.consumers.info(stream, name)).paused ?? false).toBe(false);
    await poll(name);
    expect(await specReplicas(drill.ns.name, name)).toBe(9);
    const after = await eventConsumerStatus(drill.ns.name, name);
    expect(condition(after, 'ScalingLimited')?.reason).not.toBe('ConsumerPaused');
    const resumed = (await eventsFor(drill.ns.name, name)).filter((e) => e.reason === 'ConsumerResumed');
    expect(resumed).toHaveLength(1);
  });
});
