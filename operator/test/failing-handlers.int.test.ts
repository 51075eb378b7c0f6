// Handlers that fail (day one: a poison message, a dependency that is down). On the real stack (real
// API server, real nats-server 2.12), the reconciler driven directly once a second, and the target's
// replicas played by nats.js consume() clients in this process — as many as the Deployment asks for —
// whose handlers take HANDLER_MS per message. ARRIVAL_PER_SECOND arrive throughout.
// - Every handler fails (nak after HANDLER_MS): the server redelivers each message at once, nothing
//   is ever acknowledged, and the backlog only grows. More replicas would fail the same messages
//   faster: KEDA scales such a consumer to its maximum. jetscale must not add replicas for it, must
//   say the backlog is redeliveries (ScalingLimited=HandlersFailing), and once the handlers recover
//   must scale from the backlog again with a capacity figure the failures did not drag down.
import { spawn, type ChildProcess } from 'node:child_process';
import { AckPolicy, DeliverPolicy, jetstream, type JsMsg } from '@nats-io/jetstream';
import { type NatsConnection } from '@nats-io/transport-node';
import { toolPath } from '../../hack/stack/tools.js';
import { testStack } from '../../test/env.js';
import {
  condition,
  directReconciler,
  eventConsumerStatus,
  eventsFor,
  publish,
  sleep,
  specReplicas,
  streamName,
  useStreamDrill,
} from './harness.js';

const HANDLER_MS = 50;
const ARRIVAL_PER_SECOND = 20;
const MAX_REPLICAS = 10;

/** The target's replicas, played by nats.js consume() clients whose handler the test sets. */
class Replicas {
  private running: Array<{ stop: () => Promise<void> }> = [];
  /**
   * How a handler settles a message: ack, nak (redelivered at once), nak with a 2 s delay (a retry
   * with backoff), or nothing (it hangs until ack_wait runs out).
   */
  outcome: (m: JsMsg) => 'ack' | 'nak' | 'retryLater' | 'hang' = () => 'nak';
  acked = 0;
  /** How long a handler takes per message. */
  handlerMs = HANDLER_MS;
  constructor(
    private readonly nc: NatsConnection,
    private readonly stream: string,
    private readonly consumer: string,
  ) {}

  get count(): number {
    return this.running.length;
  }

  async scaleTo(n: number): Promise<void> {
    while (this.running.length < n) this.running.push(await this.start());
    while (this.running.length > n) await this.running.pop()?.stop();
  }

  private async start(): Promise<{ stop: () => Promise<void> }> {
    const messages = await (
      await jetstream(this.nc).consumers.get(this.stream, this.consumer)
    ).consume({
      max_messages: 100,
    });
    const handle = async (m: JsMsg): Promise<void> => {
      await sleep(this.handlerMs);
      const outcome = this.outcome(m);
      if (outcome === 'ack') {
        m.ack();
        this.acked++;
      } else if (outcome === 'nak') m.nak();
      else if (outcome === 'retryLater') m.nak(2000);
    };
    // A stopped replica leaves what its buffer still holds (slow handlers would take minutes).
    let stopped = false;
    const done = (async () => {
      for await (const m of messages) {
        if (stopped) break;
        await handle(m);
      }
    })();
    return {
      stop: async () => {
        stopped = true;
        await messages.close();
        await done;
      },
    };
  }
}

/**
 * The target's replicas played by the real nats.go consumer (workloads/go-consumer, .tools/bin:
 * jetstream Consume() with its defaults, 500 buffered), one process each; `handlerMs(i)` is the i-th
 * replica's time per message (60,000: a handler that hangs for the whole drill). Taken back with
 * SIGKILL: a hung handler would hold SIGTERM's drain for a minute.
 */
class GoReplicas {
  private running: ChildProcess[] = [];
  started = 0;
  output = '';
  constructor(
    private readonly stream: string,
    private readonly consumer: string,
    private readonly handlerMs: (i: number) => number,
  ) {}

  get count(): number {
    return this.running.length;
  }

  scaleTo(n: number): void {
    while (this.running.length < n) {
      const child = spawn(toolPath('jetscale-go-consumer'), [], {
        env: {
          PATH: process.env.PATH ?? '',
          NATS_URL: testStack().natsUrl,
          STREAM: this.stream,
          CONSUMER: this.consumer,
          PULL_MODE: 'consume',
          HANDLER_MS: String(this.handlerMs(this.started++)),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const keep = (b: Buffer): void => {
        this.output = (this.output + b.toString()).slice(-4000);
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      this.running.push(child);
    }
    while (this.running.length > n) this.running.pop()?.kill('SIGKILL');
  }
}

describe('handlers that fail', () => {
  const stream = streamName('failing');
  let publisher: NodeJS.Timeout | undefined;
  let replicas: Replicas | undefined;
  const allReplicas: Replicas[] = [];
  const goReplicas: GoReplicas[] = [];

  // Before the drill's own afterAll closes the connection the replicas use.
  afterAll(async () => {
    if (publisher !== undefined) clearInterval(publisher);
    for (const r of allReplicas) await r.scaleTo(0);
    for (const g of goReplicas) g.scaleTo(0);
  });
  const drill = useStreamDrill({
    namespace: 'op-failing',
    instance: 'failing-handlers-test',
    streams: [stream],
  });

  /** The rates the last poll measured (the metrics carry every poll's; status writes them later). */
  async function rates(name: string): Promise<string> {
    const of = async (g: 'arrivalRate' | 'processingRate' | 'redeliveryRate'): Promise<string> =>
      (
        (await drill.direct.metrics[g].get()).values.find(
          (v) => v.labels.namespace === drill.ns.name && v.labels.name === name,
        )?.value ?? NaN
      ).toFixed(1);
    return `arrival ${await of('arrivalRate')}/s, processing ${await of('processingRate')}/s, redelivery ${await of('redeliveryRate')}/s`;
  }

  /** ARRIVAL_PER_SECOND to the stream from now on, for every test (started once). */
  function startPublishing(): void {
    if (publisher !== undefined) return;
    const js = jetstream(drill.nc);
    let published = 0;
    publisher = setInterval(() => {
      for (let i = 0; i < ARRIVAL_PER_SECOND / 5; i++) void js.publish(`${stream}.event`, `m${published++}`);
    }, 200);
  }

  /** Polls once a second for `polls` polls, the replicas following the Deployment; its replicas each poll. */
  async function run(name: string, polls: number): Promise<number[]> {
    const seen: number[] = [];
    for (let i = 0; i < polls; i++) {
      await sleep(1_000);
      await drill.direct.poll(drill.ns.name, name);
      const n = await specReplicas(drill.ns.name, name);
      seen.push(n);
      await replicas?.scaleTo(n);
    }
    return seen;
  }

  it('adds no replicas while every handler fails, says the backlog is redeliveries, and scales again once they recover', async () => {
    const name = 'all-fail';
    replicas = await setUp(name, { deliver_policy: DeliverPolicy.All });

    const failing = await run(name, 20);
    const info = await drill.jsm.consumers.info(stream, name);
    const status = await eventConsumerStatus(drill.ns.name, name);
    console.log(
      `every handler failing: replicas ${failing.join(' ')}; backlog ${info.num_pending} pending, ${info.num_ack_pending} awaiting ack, ${info.num_redelivered} redelivered; ScalingLimited ${JSON.stringify(condition(status, 'ScalingLimited'))}; ${await rates(name)}, per replica ${status.rates?.perReplicaPerSecond ?? 'unknown'}/s (status)`,
    );
    expect(replicas.acked).toBe(0);
    expect(Math.max(...failing)).toBe(1);
    const limited = condition(status, 'ScalingLimited');
    expect(limited).toMatchObject({ status: 'True', reason: 'HandlersFailing' });
    expect(limited?.message).toContain('redelivered');

    // The handlers recover: the backlog is drained with more replicas, and ScalingLimited clears.
    replicas.outcome = () => 'ack';
    const recovering = await run(name, 15);
    const after = await eventConsumerStatus(drill.ns.name, name);
    console.log(
      `handlers recovered: replicas ${recovering.join(' ')}; acked ${replicas.acked}; ScalingLimited ${JSON.stringify(condition(after, 'ScalingLimited'))}; ${await rates(name)}, per replica ${after.rates?.perReplicaPerSecond ?? 'unknown'}/s (status)`,
    );
    expect(Math.max(...recovering)).toBeGreaterThan(1);
    expect(condition(after, 'ScalingLimited')?.reason).not.toBe('HandlersFailing');
  });

  /**
   * A durable from now on unless `config` says else (the publisher goes on from the first test: 20/s),
   * its Deployment and EventConsumer, and one replica.
   */
  async function setUp(name: string, config: Record<string, unknown>): Promise<Replicas> {
    await drill.jsm.consumers.add(stream, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      ...config,
    });
    await drill.addTarget(name, stream, { extra: { maxReplicas: MAX_REPLICAS } });
    startPublishing();
    replicas = new Replicas(drill.nc, stream, name);
    allReplicas.push(replicas);
    await replicas.scaleTo(1);
    return replicas;
  }

  it('handlers that hang until ack_wait runs out: no replicas added once redeliveries show it', async () => {
    const name = 'all-hang';
    const hanging = await setUp(name, { ack_wait: 2_000_000_000 });
    hanging.outcome = () => 'hang';
    const seen = await run(name, 20);
    const status = await eventConsumerStatus(drill.ns.name, name);
    console.log(
      `every handler hanging (ack_wait 2 s): replicas ${seen.join(' ')}; ScalingLimited ${condition(status, 'ScalingLimited')?.reason}; ${await rates(name)}`,
    );
    expect(Math.max(...seen)).toBeLessThanOrEqual(2);
    expect(condition(status, 'ScalingLimited')?.reason).toBe('HandlersFailing');
  });

  it('an operator restarted mid-spell (or a new leader) keeps the count: no sizing by the backlog at its first readings', async () => {
    // A new process has no interval at its first reading, so no spell of its own: before the spell
    // was carried through status (15c81e7), that reading sized the count by the backlog alone.
    const name = 'restart-fail';
    const failing = await setUp(name, {});
    failing.outcome = () => 'nak';
    const before = await run(name, 12);
    expect(Math.max(...before)).toBe(1);
    expect(condition(await eventConsumerStatus(drill.ns.name, name), 'ScalingLimited')?.reason).toBe(
      'HandlersFailing',
    );
    // A backlog that asks for maxReplicas (2,000 more at backlogPerReplica 100).
    await publish(drill.nc, stream, 2000);
    await drill.direct.poll(drill.ns.name, name);
    expect(await specReplicas(drill.ns.name, name)).toBe(1);
    // The restart: a new reconciler, with nothing in memory, reading the status the first wrote.
    const restarted = directReconciler('failing-handlers-restarted');
    try {
      const after: number[] = [];
      for (let i = 0; i < 5; i++) {
        await restarted.poll(drill.ns.name, name);
        const n = await specReplicas(drill.ns.name, name);
        after.push(n);
        await failing.scaleTo(n);
        await sleep(1_000);
      }
      const status = await eventConsumerStatus(drill.ns.name, name);
      console.log(
        `restarted mid-spell: replicas ${before.join(' ')} | ${after.join(' ')}; ScalingLimited ${condition(status, 'ScalingLimited')?.reason}; backlog ${status.backlog?.total}`,
      );
      expect(Math.max(...after)).toBe(1);
      expect(condition(status, 'ScalingLimited')?.reason).toBe('HandlersFailing');
    } finally {
      await restarted.close();
    }
  }, 60_000);

  /**
   * Polls about once a second for `seconds` (by the clock: a hung handler acknowledges its message
   * after HANDLER_MS, 60 s, and is no longer hung then), the go replicas following the Deployment.
   */
  async function runGo(
    name: string,
    go: GoReplicas,
    seconds: number,
  ): Promise<Array<{ at: number; replicas: number }>> {
    const start = Date.now();
    const seen: Array<{ at: number; replicas: number }> = [];
    while (Date.now() - start < seconds * 1000) {
      await sleep(1_000);
      await drill.direct.poll(drill.ns.name, name);
      const n = await specReplicas(drill.ns.name, name);
      seen.push({ at: Math.round((Date.now() - start) / 100) / 10, replicas: n });
      go.scaleTo(n);
    }
    return seen;
  }

  /** A durable with the given ack_wait for nats.go replicas, its Deployment and EventConsumer, one replica. */
  async function setUpGo(name: string, ackWaitSeconds: number, handlerMs: (i: number) => number) {
    await drill.jsm.consumers.add(stream, {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      ack_wait: ackWaitSeconds * 1_000_000_000,
    });
    await drill.addTarget(name, stream, { extra: { maxReplicas: MAX_REPLICAS } });
    startPublishing();
    const go = new GoReplicas(stream, name, handlerMs);
    goReplicas.push(go);
    go.scaleTo(1);
    return go;
  }

  it('nats.go Consume() whose one handler hangs (ack_wait 2 s): a replica is added beside it, bounded', async () => {
    // The hung replica's pull of 500 stays open, so the server hands its own expired messages back
    // to it until the 500 are delivered; then nothing is delivered while the backlog grows. Before
    // (main de080d6) that read as HandlersFailing and 1 replica was kept. The replicas added have
    // handlers that work (10 ms), and drain what waits.
    const name = 'go-one-hung';
    const go = await setUpGo(name, 2, (i) => (i === 0 ? 60_000 : 10));
    const seen = await runGo(name, go, 40);
    const info = await drill.jsm.consumers.info(stream, name);
    const status = await eventConsumerStatus(drill.ns.name, name);
    console.log(
      `nats.go, one handler hung (ack_wait 2 s): replicas ${seen.map((s) => `${s.at}s:${s.replicas}`).join(' ')}; ${info.num_pending} pending, ${info.num_ack_pending} awaiting ack, ${info.num_redelivered} redelivered, delivered ${info.delivered.consumer_seq}, ack floor ${info.ack_floor.consumer_seq}; ScalingLimited ${JSON.stringify(condition(status, 'ScalingLimited'))}; ${await rates(name)}`,
    );
    const scaled = (await eventsFor(drill.ns.name, name)).filter((x) => x.reason === 'Scaled');
    for (const e of scaled) console.log(`  Scaled: ${e.message ?? ''}`);
    go.scaleTo(0);
    const replicas = seen.map((s) => s.replicas);
    // While nothing is acknowledged, one beside the hung one: no more.
    expect(replicas.find((n) => n > 1)).toBe(2);
    expect(scaled.find((e) => /from 1 to/.test(e.message ?? ''))?.message).toContain('from 1 to 2');
    // Once the one beside it acknowledges, the backlog rules again (about 300 held and pending at
    // 100 per replica): nowhere near maxReplicas.
    expect(Math.max(...replicas)).toBeLessThanOrEqual(4);
    // The replica beside it works: the ack floor moved past the hung one's messages.
    expect(info.ack_floor.consumer_seq).toBeGreaterThan(0);
  });

  it('nats.go Consume() whose every handler hangs (ack_wait 2 s): at most one replica beside the first, and HandlersFailing', async () => {
    // Every replica started hangs too (a dependency every handler waits on): the one added takes its
    // 500 and takes nothing more either. No replica per start-up: 2 at most.
    const name = 'go-all-hung';
    const go = await setUpGo(name, 2, () => 60_000);
    const seen = await runGo(name, go, 45);
    const info = await drill.jsm.consumers.info(stream, name);
    const status = await eventConsumerStatus(drill.ns.name, name);
    console.log(
      `nats.go, every handler hung (ack_wait 2 s): replicas ${seen.map((s) => `${s.at}s:${s.replicas}`).join(' ')}; started ${go.started}; ${info.num_pending} pending, ${info.num_ack_pending} awaiting ack, ${info.num_redelivered} redelivered, delivered ${info.delivered.consumer_seq}, ack floor ${info.ack_floor.consumer_seq}; ScalingLimited ${JSON.stringify(condition(status, 'ScalingLimited'))}; ${await rates(name)}`,
    );
    go.scaleTo(0);
    expect(info.ack_floor.consumer_seq).toBe(0);
    const replicas = seen.map((s) => s.replicas);
    expect(Math.max(...replicas)).toBe(2);
    expect(go.started).toBe(2);
    expect(condition(status, 'ScalingLimited')?.reason).toBe('HandlersFailing');
  });

  it('handlers slower than ack_wait whose prefetched copies expire: scaled for, never held as failing once they complete', async () => {
    // 2.5 s a message against an ack_wait of 2 s: the copies waiting in a replica's buffer expire
    // and are redelivered while its handler works, and polls between two completions redeliver
    // and complete nothing — as failing handlers' do. 0.4/s a replica for 20/s arriving: the
    // backlog grows, and replicas must be added for it.
    const name = 'slow-expiring';
    const slow = await setUp(name, { ack_wait: 2_000_000_000 });
    slow.handlerMs = 2_500;
    slow.outcome = () => 'ack';
    const seen: number[] = [];
    const failingAfterAck: number[] = [];
    for (let i = 0; i < 25; i++) {
      const ackedBefore = slow.acked;
      seen.push(...(await run(name, 1)));
      const reason = condition(await eventConsumerStatus(drill.ns.name, name), 'ScalingLimited')?.reason;
      if (ackedBefore > 0 && reason === 'HandlersFailing') failingAfterAck.push(i);
    }
    const info = await drill.jsm.consumers.info(stream, name);
    console.log(
      `handlers slower than ack_wait: replicas ${seen.join(' ')}; acked ${slow.acked}; ${info.num_pending} pending, ${info.num_redelivered} redelivered; HandlersFailing at polls [${failingAfterAck.join(' ')}] after the first ack; ${await rates(name)}`,
    );
    await slow.scaleTo(0);
    expect(slow.acked).toBeGreaterThan(0);
    expect(failingAfterAck).toEqual([]);
    expect(Math.max(...seen)).toBeGreaterThan(1);
  });

  it('poison messages among good ones (1 in 20, retried after 2 s, max_deliver 4): never held, no runaway', async () => {
    const name = 'poison';
    const poisoned = await setUp(name, { max_deliver: 4 });
    poisoned.outcome = (m) => (m.seq % 20 === 0 ? 'retryLater' : 'ack');
    const seen = await run(name, 20);
    const status = await eventConsumerStatus(drill.ns.name, name);
    const info = await drill.jsm.consumers.info(stream, name);
    console.log(
      `1 in 20 poison: replicas ${seen.join(' ')}; ${info.num_pending} pending, ${info.num_ack_pending} awaiting ack, ${info.num_redelivered} redelivered; ScalingLimited ${condition(status, 'ScalingLimited')?.reason}; ${await rates(name)}`,
    );
    for (const e of (await eventsFor(drill.ns.name, name)).filter((x) => x.reason === 'Scaled'))
      console.log(`  Scaled: ${e.message ?? ''}`);
    // The retries are work: some messages complete, so the consumer is never held as failing, and
    // nothing runs away to maxReplicas (20/s arrive; a replica does about 17/s of new messages
    // with the retries, which 20 polls did not yet show as a shortfall: measured, not asserted).
    expect(Math.max(...seen)).toBeLessThan(MAX_REPLICAS);
    expect(condition(status, 'ScalingLimited')?.reason).not.toBe('HandlersFailing');
    expect(poisoned.acked).toBeGreaterThan(0);
  });
});
