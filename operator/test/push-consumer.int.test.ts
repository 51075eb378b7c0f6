// Push consumers (day one: an application written against the older push API). One with a
// deliver_group shares its messages among its subscribers like a pull consumer, and is scaled from
// its backlog. One without hands every message to every subscriber of its deliver subject (nats.go
// lets only one bind), so a second replica processes each message again instead of draining
// faster: it stays at one replica and ScalingLimited says why (before: scaled to 9 for 900
// pending). On the real stack (real API server, real NATS), the reconciler driven directly.
import { AckPolicy, jetstream } from '@nats-io/jetstream';
import type { Msg } from '@nats-io/transport-node';
import { sampleFromConsumerInfo } from '../src/backlog/jetstream-backlog-source.js';
import { unevenBuffers } from '../src/scaling/decide.js';
import { HELD_SHARE_OF_UNACKED_SPAN } from '../src/scaling/rates.js';
import type { BacklogSample } from '../src/scaling/types.js';
import {
  condition,
  eventConsumerStatus,
  publish,
  specReplicas,
  streamName,
  useStreamDrill,
} from './harness.js';

describe('push consumers', () => {
  const stream = streamName('push');
  const unevenStream = streamName('pushuneven');
  const drill = useStreamDrill({
    namespace: 'op-push',
    instance: 'push-consumer-test',
    streams: [stream, unevenStream],
  });

  const poll = drill.poll;

  async function pushConsumer(name: string, group?: string): Promise<void> {
    await drill.jsm.consumers.add(stream, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      deliver_subject: `deliver.${stream}.${name}`,
      ...(group === undefined ? {} : { deliver_group: group }),
    });
    await drill.addTarget(name, stream);
  }

  // (The two cases run at once: the second adds no time to the file.)
  it.concurrent(
    'scales one with a deliver_group from its backlog, and holds one without at a single replica',
    async () => {
      await pushConsumer('grouped', 'workers');
      await pushConsumer('alone');
      await publish(drill.nc, stream, 900);
      expect((await drill.jsm.consumers.info(stream, 'alone')).num_pending).toBe(900);

      await poll('grouped');
      expect(await specReplicas(drill.ns.name, 'grouped')).toBe(9);

      await poll('alone');
      expect(await specReplicas(drill.ns.name, 'alone')).toBe(1);
      const status = await eventConsumerStatus(drill.ns.name, 'alone');
      expect(condition(status, 'Ready')?.status).toBe('True');
      const limited = condition(status, 'ScalingLimited');
      expect(limited).toMatchObject({ status: 'True', reason: 'PushConsumer' });
      expect(limited?.message).toContain('push consumer without deliver_group');
    },
  );

  it.concurrent(
    "keeps the ack floor at the oldest message of a subscriber's buffer, moving as it works through it in order (decide.ts 2f, behind a moving floor)",
    async () => {
      // What the pull-clients model and decide.ts 2f take from a real server: a deliver-group
      // member sent what max_ack_pending allows while it ran alone holds the oldest messages;
      // members that join later acknowledge what arrives after them, and the ack floor stays at
      // the first member's oldest message, moving only as it acknowledges in order. What awaits
      // ack is then not the newest deliveries (less than HELD_SHARE_OF_UNACKED_SPAN of the span
      // from the floor), and the floor moves with no redelivery: one subscriber's older buffer.
      const name = 'uneven';
      const deliver = `deliver.${unevenStream}.${name}`;
      await drill.jsm.consumers.add(unevenStream, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        deliver_subject: deliver,
        deliver_group: 'workers',
        ack_wait: 60_000_000_000,
        max_ack_pending: 1000,
      });
      const js = jetstream(drill.nc);
      const send = async (count: number) => {
        await Promise.all(Array.from({ length: count }, () => js.publish(`${unevenStream}.event`, 'm')));
      };
      const ack = (m: Msg): void => void m.respond('+ACK');
      /** The first reading that shows `done` (fails fast: 5 s). */
      const readingWhen = async (done: (s: BacklogSample) => boolean): Promise<BacklogSample> => {
        const deadline = Date.now() + 5000;
        for (;;) {
          const reading = sampleFromConsumerInfo(
            await drill.jsm.consumers.info(unevenStream, name),
            Date.now(),
          );
          if (done(reading)) return reading;
          if (Date.now() > deadline) throw new Error(`not reached within 5 s: ${JSON.stringify(reading)}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      const held: Msg[] = [];
      const subs = [
        drill.nc.subscribe(deliver, { queue: 'workers', callback: (_e, m) => void held.push(m) }),
      ];
      await drill.nc.flush();
      await send(300);
      const alone = await readingWhen((r) => r.deliveredConsumerSeq === 300);
      expect(alone).toMatchObject({ pending: 0, ackPending: 300, ackFloorConsumerSeq: 0 });
      // A push consumer, from the server's consumer info (deliver_subject): 2f's sign that one
      // subscriber can hold what max_ack_pending allows.
      expect(alone.push).toBe(true);
      // Two more members join and acknowledge what they get.
      for (const _ of [1, 2])
        subs.push(drill.nc.subscribe(deliver, { queue: 'workers', callback: (_e, m) => ack(m) }));
      await drill.nc.flush();
      await send(300);
      const joined = await readingWhen((r) => r.deliveredConsumerSeq === 600 && r.ackPending === held.length);
      // The first member's 300, and its share of the 300 since, await ack; the floor has not moved.
      expect(joined.ackFloorConsumerSeq).toBe(0);
      expect(joined.ackPending).toBeGreaterThanOrEqual(300);
      expect(unevenBuffers(joined, alone)).toBe(false);
      // It works through its oldest 90, in order, three times, while 150 more arrive each time (all
      // of them from the 300 it took alone: the floor is exactly at its oldest).
      let before = joined;
      for (const round of [1, 2, 3]) {
        for (const m of held.splice(0, 90)) ack(m);
        await send(150);
        const after = await readingWhen(
          (r) => r.deliveredConsumerSeq === 600 + 150 * round && r.ackPending === held.length,
        );
        expect(after.ackFloorConsumerSeq).toBe(90 * round);
        expect(after.deliveredStreamSeq).toBe(after.deliveredConsumerSeq);
        expect(after.redelivered).toBe(0);
        expect(unevenBuffers(after, before)).toBe(true);
        before = after;
      }
      // By then what awaits ack (about 280: its 300, a third of the 750 since, less the 270 it
      // acknowledged) is less than half the span from the floor (780): before session 28 2f
      // counted none of it.
      expect(before.ackPending).toBeLessThan(
        HELD_SHARE_OF_UNACKED_SPAN * (before.deliveredConsumerSeq - before.ackFloorConsumerSeq),
      );
      for (const sub of subs) sub.unsubscribe();
    },
  );
});
