// What reading a consumer's backlog costs on a stream with the default config (limits retention,
// deletes and purges allowed), on a real nats-server: the stream's state (STREAM.INFO) is what
// shows a delete or purge of messages a replica holds, which leave the consumer as if acknowledged
// and must not read as completions (rates.ts removedWhileHeld, removedInside). Such a removal moves
// the consumer's held counters, so while they stand still the stream's state is not asked for again
// (jetstream-backlog-source.ts streamStateFor): an idle consumer costs one request a poll, not two
// (loadtest/local/nats-requests-per-poll.js). And the reading right after a delete or a purge of
// held messages carries the stream's state from after it.
import {
  AckPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { readConsumerBacklog, type ConsumerRef } from '../src/backlog/jetstream-backlog-source.js';
import { removedInside, removedWhileHeld } from '../src/scaling/rates.js';
import type { BacklogSample } from '../src/scaling/types.js';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer, type NatsServer } from '../../hack/stack/nats-server.js';
import { streamName } from './harness.js';

describe('the stream state read with a backlog reading (default stream config)', () => {
  // A server of its own: the requests counted are this file's alone.
  let dir: string;
  let server: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-state-reads-'));
    server = await startNatsServer({ dir });
    nc = await connect({ servers: server.url });
    jsm = await jetstreamManager(nc);
  });

  afterAll(async () => {
    await nc?.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A default-config stream, its durable pull consumer, and `count` messages in it. */
  async function streamWith(count: number): Promise<ConsumerRef> {
    const stream = streamName('statereads');
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, { durable_name: 'worker', ack_policy: AckPolicy.Explicit });
    for (let i = 0; i < count; i++) await nc.request(`${stream}.event`, `m${i}`);
    return { stream, consumer: 'worker' };
  }

  async function read(ref: ConsumerRef): Promise<BacklogSample> {
    const reading = await readConsumerBacklog(nc, ref, { timeoutMs: 5000 });
    if (!reading.ok) throw new Error(reading.error.message);
    return reading.sample;
  }

  /** JetStream API requests of the account while `act` runs (getAccountInfo is one itself). */
  async function apiRequests(act: () => Promise<void>): Promise<number> {
    const before = (await jsm.getAccountInfo()).api.total;
    await act();
    return (await jsm.getAccountInfo()).api.total - before - 1;
  }

  /** Messages a replica received and holds, unacknowledged. */
  async function hold(ref: ConsumerRef, count: number): Promise<JsMsg[]> {
    const consumer = await jetstream(nc).consumers.get(ref.stream, ref.consumer);
    const held: JsMsg[] = [];
    for await (const m of await consumer.fetch({ max_messages: count, expires: 2000 })) {
      held.push(m);
      if (held.length === count) break;
    }
    expect(held).toHaveLength(count);
    return held;
  }

  it('an idle consumer costs one request a poll, arrivals or not (before: two, CONSUMER.INFO and STREAM.INFO)', async () => {
    const ref = await streamWith(3);
    const first = await read(ref);
    expect(first.removesInside).toBe('requests');
    expect(first.removedOnlyOnRequest).toBe(true);
    expect(first.stream).toEqual({ firstSeq: 1, lastSeq: 3, messages: 3, numDeleted: 0 });
    const polls = 5;
    const requests = await apiRequests(async () => {
      for (let i = 0; i < polls; i++) {
        // Messages arrive, nobody consumes (a consumer scaled to zero): num_pending moves, nothing held does.
        await nc.request(`${ref.stream}.event`, `late${i}`);
        const sample = await read(ref);
        expect(sample.pending).toBe(4 + i);
        expect(sample.streamFirstSeq).toBe(1);
      }
    });
    expect(requests).toBe(polls);
  });

  it('a stream whose limits remove messages (max_age) is read at every reading, idle or not', async () => {
    const stream = streamName('statereads');
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], max_age: 3600 * 1e9 });
    await jsm.consumers.add(stream, { durable_name: 'worker', ack_policy: AckPolicy.Explicit });
    await nc.request(`${stream}.event`, 'm');
    const ref = { stream, consumer: 'worker' };
    const first = await read(ref);
    expect(first.removesHeld).toBe(true);
    expect(first.removedOnlyOnRequest).toBeUndefined();
    const requests = await apiRequests(async () => {
      for (let i = 0; i < 3; i++) await read(ref);
    });
    expect(requests).toBe(6);
  });

  it('a replica holding messages it does not finish (stalled) costs one request a poll too', async () => {
    const ref = await streamWith(5);
    await read(ref);
    await hold(ref, 2);
    const afterDelivery = await read(ref);
    expect(afterDelivery.ackPending).toBe(2);
    const requests = await apiRequests(async () => {
      for (let i = 0; i < 3; i++) await read(ref);
    });
    expect(requests).toBe(3);
  });

  it('an acknowledgement moves the held counters: the next reading reads the stream again', async () => {
    const ref = await streamWith(4);
    const held = await hold(ref, 2);
    await read(ref);
    await held[0]?.ackAck();
    const requests = await apiRequests(async () => void (await read(ref)));
    expect(requests).toBe(2);
  });

  it('a purge of messages a replica holds shows in the next reading, as held messages removed', async () => {
    const ref = await streamWith(6);
    const held = await hold(ref, 3);
    const before = await read(ref);
    const still = await read(ref); // reuses the state: nothing held moved
    expect(still.stream).toEqual(before.stream);
    await jsm.streams.purge(ref.stream);
    const after = await read(ref);
    expect(after.ackPending).toBe(0);
    expect(after.streamFirstSeq).toBe(7);
    expect(after.stream).toEqual({ firstSeq: 7, lastSeq: 6, messages: 0, numDeleted: 0 });
    // What rates.ts takes for removals, not completions: the three held messages (at least).
    expect(removedWhileHeld({ ackFloorStreamSeq: still.ackFloorStreamSeq }, after)).toBeGreaterThanOrEqual(
      held.length,
    );
  });

  it('a delete of a message a replica holds shows in the next reading, as a removal from inside the stream', async () => {
    const ref = await streamWith(6);
    const held = await hold(ref, 3);
    const before = await read(ref);
    await read(ref);
    const middle = held[1]?.seq;
    expect(middle).toBe(2);
    await jsm.streams.deleteMessage(ref.stream, middle ?? 0);
    const after = await read(ref);
    expect(after.ackPending).toBe(2);
    expect(after.stream).toEqual({ firstSeq: 1, lastSeq: 6, messages: 5, numDeleted: 1 });
    expect(removedInside({ stream: before.stream }, after)).toBe(1);
  });
});
