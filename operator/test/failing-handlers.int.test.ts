// Handlers that fail (day one: a poison message, a dependency that is down). On the real stack (real
// API server, real nats-server 2.12), the reconciler driven directly once a second, and the target's
// replicas played by nats.js consume() clients in this process — as many as the Deployment asks for —
// whose handlers take HANDLER_MS per message. ARRIVAL_PER_SECOND arrive throughout.
// - Every handler fails (nak after HANDLER_MS): the server redelivers each message at once, nothing
//   is ever acknowledged, and the backlog only grows. More replicas would fail the same messages
//   faster: KEDA scales such a consumer to its maximum. jetscale must not add replicas for it, must
//   say the backlog is redeliveries (ScalingLimited=HandlersFailing), and once the handlers recover
//   must scale from the backlog again with a capacity figure the failures did not drag down.
import {
  AckPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createNamespace, testStack } from '../../test/env.js';
import {
  closeKubeApi,
  condition,
  createDeployment,
  createEventConsumer,
  directReconciler,
  type DirectReconciler,
  eventConsumerStatus,
  installCrd,
  sleep,
  specReplicas,
  streamName,
} from './harness.js';

const HANDLER_MS = 50;
const ARRIVAL_PER_SECOND = 20;
const MAX_REPLICAS = 10;

/** The target's replicas, played by nats.js consume() clients whose handler the test sets. */
class Replicas {
  private running: Array<{ stop: () => Promise<void> }> = [];
  outcome: 'ack' | 'nak' = 'nak';
  acked = 0;
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
      await sleep(HANDLER_MS);
      if (this.outcome === 'ack') {
        m.ack();
        this.acked++;
      } else m.nak();
    };
    const done = (async () => {
      for await (const m of messages) await handle(m);
    })();
    return {
      stop: async () => {
        await messages.close();
        await done;
      },
    };
  }
}

describe('handlers that fail', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let direct: DirectReconciler;
  const stream = streamName('failing');
  let publisher: NodeJS.Timeout | undefined;
  let replicas: Replicas | undefined;

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-failing');
    nc = await connect({ servers: testStack().natsUrl });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    direct = directReconciler('failing-handlers-test');
  });

  afterAll(async () => {
    if (publisher !== undefined) clearInterval(publisher);
    await replicas?.scaleTo(0);
    await direct?.close();
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
    await ns?.cleanup();
    closeKubeApi();
  });

  /** The rates the last poll measured (the metrics carry every poll's; status writes them later). */
  async function rates(name: string): Promise<string> {
    const of = async (g: 'arrivalRate' | 'processingRate' | 'redeliveryRate'): Promise<string> =>
      (
        (await direct.metrics[g].get()).values.find(
          (v) => v.labels.namespace === ns.name && v.labels.name === name,
        )?.value ?? NaN
      ).toFixed(1);
    return `arrival ${await of('arrivalRate')}/s, processing ${await of('processingRate')}/s, redelivery ${await of('redeliveryRate')}/s`;
  }

  /** Polls once a second for `polls` polls, the replicas following the Deployment; its replicas each poll. */
  async function run(name: string, polls: number): Promise<number[]> {
    const seen: number[] = [];
    for (let i = 0; i < polls; i++) {
      await sleep(1_000);
      await direct.poll(ns.name, name);
      const n = await specReplicas(ns.name, name);
      seen.push(n);
      await replicas?.scaleTo(n);
    }
    return seen;
  }

  it('adds no replicas while every handler fails, says the backlog is redeliveries, and scales again once they recover', async () => {
    const name = 'all-fail';
    await jsm.consumers.add(stream, { durable_name: name, ack_policy: AckPolicy.Explicit });
    await createDeployment(ns.name, name, 1);
    await createEventConsumer({
      namespace: ns.name,
      name,
      target: name,
      servers: [testStack().natsUrl],
      stream,
      consumer: name,
      extra: { maxReplicas: MAX_REPLICAS, backlogPerReplica: 100 },
    });
    const js = jetstream(nc);
    let published = 0;
    publisher = setInterval(() => {
      for (let i = 0; i < ARRIVAL_PER_SECOND / 5; i++) void js.publish(`${stream}.event`, `m${published++}`);
    }, 200);
    replicas = new Replicas(nc, stream, name);
    await replicas.scaleTo(1);

    const failing = await run(name, 20);
    const info = await jsm.consumers.info(stream, name);
    const status = await eventConsumerStatus(ns.name, name);
    console.log(
      `every handler failing: replicas ${failing.join(' ')}; backlog ${info.num_pending} pending, ${info.num_ack_pending} awaiting ack, ${info.num_redelivered} redelivered; ScalingLimited ${JSON.stringify(condition(status, 'ScalingLimited'))}; ${await rates(name)}, per replica ${status.rates?.perReplicaPerSecond ?? 'unknown'}/s (status)`,
    );
    expect(replicas.acked).toBe(0);
    expect(Math.max(...failing)).toBe(1);
    const limited = condition(status, 'ScalingLimited');
    expect(limited).toMatchObject({ status: 'True', reason: 'HandlersFailing' });
    expect(limited?.message).toContain('redelivered');

    // The handlers recover: the backlog is drained with more replicas, and ScalingLimited clears.
    replicas.outcome = 'ack';
    const recovering = await run(name, 15);
    const after = await eventConsumerStatus(ns.name, name);
    console.log(
      `handlers recovered: replicas ${recovering.join(' ')}; acked ${replicas.acked}; ScalingLimited ${JSON.stringify(condition(after, 'ScalingLimited'))}; ${await rates(name)}, per replica ${after.rates?.perReplicaPerSecond ?? 'unknown'}/s (status)`,
    );
    expect(Math.max(...recovering)).toBeGreaterThan(1);
    expect(condition(after, 'ScalingLimited')?.reason).not.toBe('HandlersFailing');
  });
});
