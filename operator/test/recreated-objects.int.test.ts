// Objects deleted and recreated under the same name while jetscale scales them (day one: a redeploy
// that deletes the Deployment, an application that recreates its durable on start, an operator
// purging a stream). On the real stack (real API server, real NATS), the reconciler driven directly
// so that each reading lands where the test says:
// - the NATS consumer deleted and recreated (DeliverAll over a stream that kept its messages): the
//   new consumer's counters restart, and its sequence need not go backwards by the next reading —
//   here it has already delivered more than the old one did — so the stream's retained messages
//   must not read as arrivals (before: nothing was published, and the arrival rate read 66/s);
// - the NATS consumer's filter widened in place (same durable, same creation time, same sequence):
//   the messages it now covers are backlog, not arrivals (before: 66/s read likewise);
// - the stream purged: the backlog reads 0 at once, no negative rate;
// - the Deployment deleted and recreated mid-scale (new uid, replicas 1): while it is gone,
//   TargetNotFound and no write; once back, it is scaled from the backlog again.
// (An EventConsumer deleted and recreated: recreate.int.test.ts.)
import { AckPolicy, DeliverPolicy, jetstream } from '@nats-io/jetstream';
import {
  condition,
  consumeAndAck,
  createDeployment,
  eventConsumerStatus,
  kubeApi,
  publish,
  sleep,
  specReplicas,
  streamName,
  useStreamDrill,
} from './harness.js';

describe('objects deleted and recreated under the same name while scaling', () => {
  const drill = useStreamDrill({ namespace: 'op-recreated', instance: 'recreated-objects-test' });

  const poll = drill.poll;
  /** A poll at least a second after the one before: a rate is taken over 0.9 s or more. */
  async function pollAfterASecond(name: string): Promise<void> {
    await sleep(1_100);
    await poll(name);
  }
  /** A gauge of this EventConsumer as the last poll set it (status writes readings later). */
  async function gauge(which: 'arrivalRate' | 'backlogMessages', name: string): Promise<number | undefined> {
    return (await drill.direct.metrics[which].get()).values.find(
      (v) => v.labels.namespace === drill.ns.name && v.labels.name === name,
    )?.value;
  }
  const arrivalRate = (name: string): Promise<number | undefined> => gauge('arrivalRate', name);
  async function addConsumer(stream: string, deliver: DeliverPolicy = DeliverPolicy.All): Promise<void> {
    await drill.jsm.consumers.add(stream, {
      durable_name: 'worker',
      ack_policy: AckPolicy.Explicit,
      ack_wait: 60_000_000_000,
      deliver_policy: deliver,
    });
  }
  async function setUp(
    name: string,
    extra: Record<string, unknown>,
    opts: { retained?: number; deliver?: DeliverPolicy } = {},
  ): Promise<string> {
    const stream = streamName(name);
    drill.streams.push(stream);
    await drill.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await publish(drill.nc, stream, opts.retained ?? 0);
    await addConsumer(stream, opts.deliver);
    await drill.addTarget(name, stream, { consumer: 'worker', extra });
    return stream;
  }

  it('a recreated NATS consumer restarts the rates: retained messages are backlog, not arrivals; a purge empties it', async () => {
    // The stream keeps 700 messages from before the durable (DeliverPolicy New); 300 arrive and
    // are done.
    const stream = await setUp('durable', {}, { retained: 700, deliver: DeliverPolicy.New });
    await publish(drill.nc, stream, 300);
    expect(await consumeAndAck(drill.nc, stream, 'worker', 300)).toBe(300);
    await poll('durable');
    await pollAfterASecond('durable');
    expect(await arrivalRate('durable')).toBe(0);
    expect(await gauge('backlogMessages', 'durable')).toBe(0);

    // The application recreates its durable, now DeliverAll, and gets through 400 of the stream's
    // 1,000 before the next reading: its sequence (400) is past the old one (300).
    await drill.jsm.consumers.delete(stream, 'worker');
    await addConsumer(stream, DeliverPolicy.All);
    await consumeAndAck(drill.nc, stream, 'worker', 400);
    const info = await drill.jsm.consumers.info(stream, 'worker');
    expect(info.delivered.consumer_seq).toBe(400);
    expect(info.num_pending).toBe(600);
    await pollAfterASecond('durable');
    // Nothing was published between the readings: what the new consumer delivered and the
    // retained messages it has not are no arrivals (before: 100 + 600 read as arrived, 66/s).
    expect((await arrivalRate('durable')) ?? 0).toBe(0);
    await pollAfterASecond('durable');
    expect((await arrivalRate('durable')) ?? 0).toBe(0);
    // The retained 600 are backlog: the KEDA-style floor sizes for them.
    expect(await gauge('backlogMessages', 'durable')).toBe(600);
    expect(await specReplicas(drill.ns.name, 'durable')).toBe(6);

    // Purged: the backlog is gone at once, and no rate goes negative.
    await drill.jsm.streams.purge(stream);
    await pollAfterASecond('durable');
    expect(await gauge('backlogMessages', 'durable')).toBe(0);
    expect((await arrivalRate('durable')) ?? 0).toBeGreaterThanOrEqual(0);
    expect(condition(await eventConsumerStatus(drill.ns.name, 'durable'), 'Ready')?.status).toBe('True');
  });

  it('a consumer whose filter is widened in place (same durable, same creation time): the messages it now covers are backlog, not arrivals', async () => {
    // An application that creates-or-updates its durable on start (nats.go CreateOrUpdateConsumer,
    // nats.js consumers.update) and whose new version takes one more subject: nats-server 2.10+
    // edits filter_subject in place, so the consumer keeps its sequence and its creation time,
    // and num_pending jumps by the stream's retained messages on the subjects it now covers.
    const stream = streamName('refilter');
    drill.streams.push(stream);
    await drill.jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await drill.jsm.consumers.add(stream, {
      durable_name: 'worker',
      ack_policy: AckPolicy.Explicit,
      ack_wait: 60_000_000_000,
      filter_subject: `${stream}.event`,
    });
    await drill.addTarget('refilter', stream, { consumer: 'worker' });
    await publish(drill.nc, stream, 100);
    expect(await consumeAndAck(drill.nc, stream, 'worker', 100)).toBe(100);
    // Stored after the consumer's position, on a subject it does not take yet.
    const js = jetstream(drill.nc);
    await Promise.all(Array.from({ length: 700 }, (_, i) => js.publish(`${stream}.audit`, `a${i}`)));
    await poll('refilter');
    await pollAfterASecond('refilter');
    expect(await arrivalRate('refilter')).toBe(0);
    const created = (await drill.jsm.consumers.info(stream, 'worker')).created;

    await drill.jsm.consumers.update(stream, 'worker', { filter_subject: `${stream}.*` });
    const info = await drill.jsm.consumers.info(stream, 'worker');
    expect(info.created).toBe(created);
    expect(info.delivered.consumer_seq).toBe(100);
    expect(info.num_pending).toBe(700);
    await pollAfterASecond('refilter');
    // Nothing was published between the readings (before: the 700 read as arrived, ~600/s).
    expect((await arrivalRate('refilter')) ?? 0).toBe(0);
    await pollAfterASecond('refilter');
    expect((await arrivalRate('refilter')) ?? 0).toBe(0);
    expect(await gauge('backlogMessages', 'refilter')).toBe(700);
    expect(await specReplicas(drill.ns.name, 'refilter')).toBe(7);
  });

  it('a Deployment deleted and recreated mid-scale: no write while it is gone, scaled again once back', async () => {
    const stream = await setUp('redeploy', { maxReplicas: 5 });
    await publish(drill.nc, stream, 900);
    await poll('redeploy');
    expect(await specReplicas(drill.ns.name, 'redeploy')).toBe(5);
    const path = `/apis/apps/v1/namespaces/${drill.ns.name}/deployments/redeploy`;
    const oldUid = (await kubeApi().request<{ metadata: { uid: string } }>('GET', path)).metadata.uid;

    await kubeApi().request('DELETE', path);
    await pollAfterASecond('redeploy');
    const gone = await eventConsumerStatus(drill.ns.name, 'redeploy');
    expect(condition(gone, 'Ready')).toMatchObject({ status: 'False', reason: 'TargetNotFound' });
    // No /scale write recreated it, and nothing else did.
    await expect(kubeApi().request('GET', path)).rejects.toThrow();

    await createDeployment(drill.ns.name, 'redeploy', 1);
    const newUid = (await kubeApi().request<{ metadata: { uid: string } }>('GET', path)).metadata.uid;
    expect(newUid).not.toBe(oldUid);
    await pollAfterASecond('redeploy');
    expect(await specReplicas(drill.ns.name, 'redeploy')).toBe(5);
    expect(condition(await eventConsumerStatus(drill.ns.name, 'redeploy'), 'Ready')?.status).toBe('True');
  });
});
