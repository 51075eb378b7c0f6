// The one-inbox JetStreamPublisher on a real JetStream, with `coalesce` (the gateway's setting): publishes
// made by many callbacks of one event-loop turn leave in one socket write, each still gets its own ack,
// and a publish the client refuses fails alone.
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { testStack, uniqueName } from '../../test/env.js';
import { JetStreamPublisher } from '../src/shared/js-publisher.js';
import { writeSyscalls } from './harness.js';

describe('JetStreamPublisher with coalesce on a real JetStream', () => {
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  const stream = uniqueName('JSPUB').toUpperCase().replace(/-/g, '_');
  const subject = `${stream.toLowerCase()}.events`;

  beforeAll(async () => {
    nc = await connect({ servers: testStack().natsUrl });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${subject}.>`] });
  });

  afterAll(async () => {
    await jsm.streams.delete(stream);
    await nc.close();
  });

  /** Calls `publish(i)` from `n` timer callbacks of one turn; nats.js alone would write after each. */
  const fromCallbacks = <T>(n: number, publish: (i: number) => Promise<T>) =>
    Promise.all(
      Array.from(
        { length: n },
        (_, i) => new Promise<T>((resolve, reject) => setTimeout(() => publish(i).then(resolve, reject), 0)),
      ),
    );

  it('sends the publishes of one turn in one socket write, each with its own ack', async () => {
    const publisher = new JetStreamPublisher(nc, 5000, { coalesce: true });
    const n = 200;
    const before = writeSyscalls(process.pid);
    const acks = await fromCallbacks(n, (i) =>
      publisher.publish(`${subject}.a`, new TextEncoder().encode(`m-${i}`), undefined, { msgId: `m-${i}` }),
    );
    const writes = writeSyscalls(process.pid) - before;
    publisher.close();
    expect(new Set(acks.map((a) => a.seq)).size).toBe(n);
    expect(acks.every((a) => a.stream === stream && a.duplicate !== true)).toBe(true);
    // One write per callback without coalescing (200); a handful with it (the acks are reads).
    expect(writes).toBeLessThan(n / 10);
  });

  it('fails only the publish the client refuses (above max_payload); the others of the turn are stored', async () => {
    const publisher = new JetStreamPublisher(nc, 5000, { coalesce: true });
    const tooLarge = new Uint8Array((nc.info?.max_payload ?? 1_048_576) + 1);
    const outcomes = await fromCallbacks(3, (i) =>
      publisher
        .publish(`${subject}.b`, i === 1 ? tooLarge : new TextEncoder().encode(`b-${i}`))
        .then((ack) => `stored ${ack.stream}`)
        .catch((err: unknown) => `refused: ${err instanceof Error ? err.message : String(err)}`),
    );
    publisher.close();
    expect(outcomes[0]).toBe(`stored ${stream}`);
    expect(outcomes[1]).toMatch(/^refused: .*max_payload/i);
    expect(outcomes[2]).toBe(`stored ${stream}`);
  });
});
