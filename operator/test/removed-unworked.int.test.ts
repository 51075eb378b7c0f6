// Messages a stream's own limit removes before the consumer ever gets them are work lost, and the
// user is told: the MessagesRemovedUnworked condition names the limit and how many went in the
// last interval, and a Warning Event MessagesRemovedUnworked says so once when it starts. Held a
// while after the last removal (no flap), False where nothing is removed. Before (session 36) only
// StreamFull said anything, and only at a max_msgs / max_bytes; max_age and per-message TTL
// removals were in the decision's reason alone. On the real stack (real API server, real
// nats-server), the reconciler driven directly; nobody consumes, so whatever the stream removes is
// removed unworked.
import { AckPolicy, DiscardPolicy, jetstream, RetentionPolicy } from '@nats-io/jetstream';
import type { StreamConfig } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import {
  condition,
  eventConsumerStatus,
  eventsFor,
  publish,
  sleep,
  streamName,
  useStreamDrill,
} from './harness.js';

describe('messages removed unworked by the stream’s limit are told (condition and Event)', () => {
  const drill = useStreamDrill({ namespace: 'op-removed', instance: 'removed-unworked-test' });

  async function addStream(prefix: string, config: Partial<StreamConfig>): Promise<string> {
    const stream = streamName(prefix);
    drill.streams.push(stream);
    await drill.jsm.streams.add({ name: stream, subjects: [`${stream}.>`], ...config });
    return stream;
  }

  async function consumerFor(name: string, stream: string): Promise<void> {
    await drill.jsm.consumers.add(stream, { durable_name: name, ack_policy: AckPolicy.Explicit });
    // Read at every poll of this test (a poll before the next is due does not read again).
    await drill.addTarget(name, stream, { extra: { pollInterval: '1s' } });
  }

  async function removedUnworked(name: string) {
    return condition(await eventConsumerStatus(drill.ns.name, name), 'MessagesRemovedUnworked');
  }

  async function warnings(name: string) {
    return (await eventsFor(drill.ns.name, name)).filter((e) => e.reason === 'MessagesRemovedUnworked');
  }

  it('max_age: True with the limit and the count, one Warning, held with none removed since', async () => {
    const name = 'maxage';
    const stream = await addStream('removed-age', {
      retention: RetentionPolicy.Workqueue,
      max_age: 2_000_000_000,
    });
    await consumerFor(name, stream);
    await publish(drill.nc, stream, 300);
    await drill.poll(name);
    // All 300 reach max_age undelivered (some may already have at the first poll: publishing them
    // under load can take longer than max_age).
    await sleep(3_500);
    expect((await drill.jsm.streams.info(stream)).state.messages).toBe(0);
    await drill.poll(name);
    const told = await removedUnworked(name);
    expect(told).toMatchObject({ status: 'True', reason: 'RemovedByMaxAge' });
    expect(told?.message).toContain("messages are being removed unworked by the stream's limit max_age (2s)");
    expect(told?.message).toMatch(/\d+ removed in the last interval/);
    // Over the spell, what was published (less at most a noise-sized interval or two).
    const total = Number(/, (\d+) over the last/.exec(told?.message ?? '')?.[1]);
    expect(total).toBeGreaterThanOrEqual(290);
    expect(total).toBeLessThanOrEqual(300);
    const first = await warnings(name);
    expect(first).toHaveLength(1);
    expect(first[0]).toMatchObject({ type: 'Warning' });
    expect(first[0]?.message).toContain('max_age (2s)');
    // A reading with nothing removed since: still True (held, not flapping to False, which would be
    // written at once: a condition's status and reason are state), and no second Event. (Its
    // message, "none in the last interval; …", narrates readings and follows the readings cadence:
    // removed-unworked.test.)
    await sleep(2_000);
    await drill.poll(name);
    expect(await removedUnworked(name)).toMatchObject({ status: 'True', reason: 'RemovedByMaxAge' });
    expect(await warnings(name)).toHaveLength(1);
  });

  it('max_msgs with discard old: True naming max_msgs and what it dropped', async () => {
    const name = 'maxmsgs';
    const stream = await addStream('removed-msgs', {
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.Old,
      max_msgs: 100,
    });
    await consumerFor(name, stream);
    await publish(drill.nc, stream, 100);
    await drill.poll(name);
    await sleep(1_100);
    await publish(drill.nc, stream, 250);
    await drill.poll(name);
    const told = await removedUnworked(name);
    expect(told).toMatchObject({ status: 'True', reason: 'RemovedByMaxMsgs' });
    expect(told?.message).toContain("by the stream's limit max_msgs (100, discard old)");
    expect(told?.message).toContain('250 removed in the last interval');
    expect(await warnings(name)).toHaveLength(1);
  });

  it('per-message TTL (Nats-TTL): True naming the TTL', async () => {
    const name = 'ttl';
    const stream = await addStream('removed-ttl', {
      retention: RetentionPolicy.Workqueue,
      allow_msg_ttl: true,
    });
    await consumerFor(name, stream);
    const js = jetstream(drill.nc);
    const h = headers();
    h.set('Nats-TTL', '1s');
    for (let i = 0; i < 50; i++) await js.publish(`${stream}.event`, `m${i}`, { headers: h });
    await drill.poll(name);
    await sleep(2_500);
    await drill.poll(name);
    const told = await removedUnworked(name);
    expect(told).toMatchObject({ status: 'True', reason: 'RemovedByMessageTTL' });
    expect(told?.message).toContain('50 removed in the last interval');
  });

  it('a stream whose limits remove nothing here: False, no Event', async () => {
    const name = 'plain';
    const stream = await addStream('removed-none', {
      retention: RetentionPolicy.Workqueue,
      discard: DiscardPolicy.Old,
      max_msgs: 1_000,
      max_age: 60_000_000_000,
    });
    await consumerFor(name, stream);
    await publish(drill.nc, stream, 100);
    await drill.poll(name);
    await sleep(1_100);
    await publish(drill.nc, stream, 100);
    await drill.poll(name);
    expect(await removedUnworked(name)).toMatchObject({ status: 'False', reason: 'NoneRemovedUnworked' });
    expect(await warnings(name)).toHaveLength(0);
  });
});
