// Day-one mistakes, made in the order a user makes them, against the compiled operator (one process,
// its own controller, work queue and backoff; pollInterval 2 s) on the real stack. Each mistake must
// leave the replicas alone with a status that names what to fix, and once fixed the workload must be
// scaled from its backlog within a few polls — not after a failure backoff grown meanwhile:
// - the EventConsumer applied before its Deployment, which then comes without spec.replicas;
// - a typo in the NATS URL (a wrong port; a host that does not resolve; the monitoring port), then
//   corrected;
// - the auth Secret created after the EventConsumer that names it;
// - the stream deleted and recreated under the same name (sequences restart at 1) with its durable.
// Every mistake lasts MISTAKE_SECONDS, long enough for a doubling backoff from 0.5 s to pass 30 s.
// The drills run at once (each on its own stream, Deployment and EventConsumer), so the file takes
// about as long as the longest (the stream deleted and recreated, about a minute).
import { AckPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { createNamespace, eventually, testStack } from '../../test/env.js';
import {
  closeKubeApi,
  condition,
  createDeployment,
  createEventConsumer,
  eventConsumerStatus,
  installCrd,
  kubeApi,
  publish,
  putSecret,
  readyReason,
  sleep,
  specReplicas,
  spawnOperator,
  streamName,
  type OperatorProcess,
} from './harness.js';
import { eventConsumerPath } from '../src/api/v1alpha1/group-version.js';

const POLL_SECONDS = 2;
const MISTAKE_SECONDS = 30;
/** From the fix to the scaled workload: a few polls (generous for a loaded machine). */
const FIXED_WITHIN_MS = 8 * POLL_SECONDS * 1000;
/** Secrets are cached for 30 s (operator/README.md): a created one is read within that and a poll. */
const SECRET_CACHE_MS = 30_000;

describe('day-one mistakes, then fixed', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let operator: OperatorProcess | undefined;
  const streams: string[] = [];

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('day-one');
    nc = await connect({ servers: testStack().natsUrl });
    jsm = await jetstreamManager(nc);
    operator = spawnOperator('day-one', {
      JETSCALE_NAMESPACES: ns.name,
      JETSCALE_LEADER_ELECTION: 'false',
    });
    await eventually(
      'the operator started',
      async () => (operator?.output().includes('operator started') ? true : undefined),
      30_000,
    );
  });

  afterAll(async () => {
    await operator?.stop();
    for (const s of streams) await jsm?.streams.delete(s).catch(() => undefined);
    await nc?.close();
    await ns?.cleanup();
    closeKubeApi();
  });

  /** A stream with a durable pull consumer "worker" and `backlog` messages on it. */
  async function addStream(prefix: string, backlog: number): Promise<string> {
    const stream = streamName(prefix);
    streams.push(stream);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, {
      durable_name: 'worker',
      ack_policy: AckPolicy.Explicit,
      ack_wait: 60_000_000_000,
    });
    await publish(nc, stream, backlog);
    return stream;
  }

  /** Bounds and poll of every EventConsumer here: maxReplicas well above what any backlog needs. */
  const bounds = {
    minReplicas: 1,
    maxReplicas: 20,
    backlogPerReplica: 100,
    pollInterval: `${POLL_SECONDS}s`,
  };

  async function patchSpec(name: string, spec: Record<string, unknown>): Promise<void> {
    await kubeApi().request('PATCH', eventConsumerPath(ns.name, name), { body: { spec } });
  }

  /** Until `name` is at `n` replicas; how long it took (ms). */
  async function reaches(name: string, n: number, timeoutMs: number): Promise<number> {
    const from = Date.now();
    await eventually(
      `${name} at ${n} replicas`,
      async () => ((await specReplicas(ns.name, name)) === n ? true : undefined),
      timeoutMs,
      250,
    );
    return Date.now() - from;
  }

  /** The mistake stands MISTAKE_SECONDS: replicas untouched, Ready still says `reason`, no fallback. */
  async function standsWith(name: string, replicas: number | undefined, reason: string): Promise<void> {
    await sleep(MISTAKE_SECONDS * 1000);
    if (replicas !== undefined) expect(await specReplicas(ns.name, name)).toBe(replicas);
    const status = await eventConsumerStatus(ns.name, name);
    expect(condition(status, 'Ready')?.reason).toBe(reason);
    expect(condition(status, 'Fallback')?.status).not.toBe('True');
  }

  /**
   * The drills run all at once (the last beforeAll starts them), so the file takes one mistake's
   * time, not the sum; each `it` reports its own drill.
   */
  const bodies: Array<[string, () => Promise<void>]> = [];
  const running = new Map<string, Promise<void>>();
  function drill(title: string, body: () => Promise<void>): void {
    bodies.push([title, body]);
    it(title, () => running.get(title) ?? Promise.reject(new Error(`${title} did not start`)));
  }

  drill('an EventConsumer applied before its Deployment, which comes without spec.replicas', async () => {
    const stream = await addStream('early', 450);
    await createEventConsumer({
      namespace: ns.name,
      name: 'early',
      target: 'early',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: bounds,
    });
    const message = await readyReason(ns.name, 'early', 'TargetNotFound');
    console.log(`TargetNotFound: ${message}`);
    expect(message).toContain('early');
    await standsWith('early', undefined, 'TargetNotFound');
    // Nothing was created by a /scale write meanwhile.
    await expect(
      kubeApi().request('GET', `/apis/apps/v1/namespaces/${ns.name}/deployments/early`),
    ).rejects.toThrow();

    // The Deployment as `kubectl create deployment` makes it: no spec.replicas (defaulted to 1).
    await kubeApi().request('POST', `/apis/apps/v1/namespaces/${ns.name}/deployments`, {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'early', namespace: ns.name },
        spec: {
          selector: { matchLabels: { app: 'early' } },
          template: {
            metadata: { labels: { app: 'early' } },
            spec: { containers: [{ name: 'c', image: 'example.invalid/early:1' }] },
          },
        },
      },
    });
    const took = await reaches('early', 5, FIXED_WITHIN_MS);
    console.log(`early: 5 replicas ${took} ms after the Deployment was created`);
    await readyReason(ns.name, 'early', 'Scaling', 10_000);
  });

  for (const [what, name, typo, says] of [
    ['a wrong port', 'typo-port', (url: URL) => `nats://${url.hostname}:1`, 'connection refused'],
    [
      'a host that does not resolve',
      'typo-host',
      (url: URL) => `nats://nats-typo.invalid:${url.port}`,
      'host nats-typo.invalid does not resolve',
    ],
    [
      // KEDA's nats-jetstream scaler is given the monitoring endpoint (host:8222): pasted here, the
      // client waits for a NATS greeting an HTTP server never sends (before: "(timeout)" only).
      'the monitoring port, as KEDA users know the server',
      'typo-monitor',
      (_url: URL) => `nats://${new URL(testStack().natsMonitorUrl).host}`,
      'answers HTTP, not NATS',
    ],
  ] as const)
    drill(`a typo in the NATS URL (${what}), then corrected`, async () => {
      const stream = await addStream(name.replace('-', ''), 650);
      const good = testStack().natsUrl;
      await createDeployment(ns.name, name, 2);
      await createEventConsumer({
        namespace: ns.name,
        name,
        target: name,
        servers: [typo(new URL(good))],
        stream,
        consumer: 'worker',
        extra: bounds,
      });
      const message = await readyReason(ns.name, name, 'NatsUnreachable');
      console.log(`${name}: NatsUnreachable: ${message}`);
      await standsWith(name, 2, 'NatsUnreachable');
      // Read again once the connection's breaker has answered for a while: it names the server, says
      // what went wrong and what to check, each once (before: the advice twice, the server twice, and
      // a host that does not resolve called "down").
      const later = condition(await eventConsumerStatus(ns.name, name), 'Ready')?.message ?? '';
      console.log(`${name}: after ${MISTAKE_SECONDS} s: ${later}`);
      expect(later).toContain(says);
      expect(later.split(typo(new URL(good))).length - 1).toBe(1);
      expect(later.split('spec.nats.servers').length - 1).toBe(1);

      await patchSpec(name, { nats: { servers: [good], stream, consumer: 'worker' } });
      const took = await reaches(name, 7, FIXED_WITHIN_MS);
      console.log(`${name}: 7 replicas ${took} ms after the URL was corrected`);
      await readyReason(ns.name, name, 'Scaling', 10_000);
    });

  drill(
    'a scaleTargetRef written as kubectl prints it (kind deployment; apiVersion v1), then fixed',
    async () => {
      const stream = await addStream('spelt', 250);
      const cases = [
        { name: 'spelt-kind', ref: { kind: 'deployment' }, says: 'did you mean Deployment?' },
        {
          name: 'spelt-version',
          ref: { apiVersion: 'v1', kind: 'Deployment' },
          says: 'Deployment is served by apps/v1',
        },
      ];
      for (const c of cases) {
        await createDeployment(ns.name, c.name, 1);
        await createEventConsumer({
          namespace: ns.name,
          name: c.name,
          target: c.name,
          servers: [testStack().natsUrl],
          stream,
          consumer: 'worker',
          extra: { ...bounds, scaleTargetRef: { name: c.name, ...c.ref } },
        });
      }
      for (const c of cases) {
        const message = await readyReason(ns.name, c.name, 'TargetNotFound');
        console.log(`${c.name}: TargetNotFound: ${message}`);
        // Before: "<gv> has no kind <kind>: fix spec.scaleTargetRef.kind" for both, the wrong field
        // for the second.
        expect(message).toContain(c.says);
      }
      await Promise.all(cases.map((c) => standsWith(c.name, 1, 'TargetNotFound')));
      for (const c of cases)
        await patchSpec(c.name, {
          scaleTargetRef: { name: c.name, apiVersion: 'apps/v1', kind: 'Deployment' },
        });
      for (const c of cases) await reaches(c.name, 3, FIXED_WITHIN_MS);
    },
  );

  drill('the auth Secret created after the EventConsumer that names it', async () => {
    const stream = await addStream('latesecret', 350);
    await createDeployment(ns.name, 'late-secret', 1);
    await createEventConsumer({
      namespace: ns.name,
      name: 'late-secret',
      target: 'late-secret',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: {
        ...bounds,
        nats: {
          servers: [testStack().natsUrl],
          stream,
          consumer: 'worker',
          auth: { secretRef: { name: 'nats-auth' } },
        },
      },
    });
    const message = await readyReason(ns.name, 'late-secret', 'SecretNotFound');
    console.log(`SecretNotFound: ${message}`);
    expect(message).toContain('nats-auth');
    await standsWith('late-secret', 1, 'SecretNotFound');

    // The stack's NATS takes any token (it has no authorization block).
    await putSecret(ns.name, 'nats-auth', { token: 'day-one' });
    const took = await reaches('late-secret', 4, SECRET_CACHE_MS + FIXED_WITHIN_MS);
    console.log(`late-secret: 4 replicas ${took} ms after the Secret was created`);
    await readyReason(ns.name, 'late-secret', 'Scaling', 10_000);
  });

  drill(
    'a stream deleted and recreated under the same name: held while gone, then sized from the new backlog alone',
    async () => {
      const stream = await addStream('reborn', 1000);
      await createDeployment(ns.name, 'reborn', 1);
      await createEventConsumer({
        namespace: ns.name,
        name: 'reborn',
        target: 'reborn',
        servers: [testStack().natsUrl],
        stream,
        consumer: 'worker',
        extra: {
          ...bounds,
          behavior: { scaleDown: { stabilizationWindow: '4s' } },
        },
      });
      await reaches('reborn', 10, 30_000);

      await jsm.streams.delete(stream);
      const message = await readyReason(ns.name, 'reborn', 'StreamNotFound');
      console.log(`StreamNotFound: ${message}`);
      expect(message).toContain(stream);
      await standsWith('reborn', 10, 'StreamNotFound');

      // Recreated (sequences restart at 1) with its durable, 300 messages waiting: 3 replicas.
      let max = 0;
      let min = Infinity;
      let watching = true;
      const watch = (async () => {
        while (watching) {
          const r = await specReplicas(ns.name, 'reborn').catch(() => undefined);
          if (r !== undefined) {
            max = Math.max(max, r);
            min = Math.min(min, r);
          }
          await sleep(250);
        }
      })();
      try {
        await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
        await publish(nc, stream, 300);
        await jsm.consumers.add(stream, {
          durable_name: 'worker',
          ack_policy: AckPolicy.Explicit,
          ack_wait: 60_000_000_000,
        });
        const took = await reaches('reborn', 3, FIXED_WITHIN_MS + 30_000);
        console.log(`reborn: 3 replicas ${took} ms after the stream was recreated`);
        // Held a few more polls: it stays at what the backlog needs.
        await sleep(5 * POLL_SECONDS * 1000);
        expect(await specReplicas(ns.name, 'reborn')).toBe(3);
      } finally {
        watching = false;
        await watch;
      }
      expect(max).toBeLessThanOrEqual(10);
      expect(min).toBeGreaterThanOrEqual(3);
      const status = await eventConsumerStatus(ns.name, 'reborn');
      expect(status.backlog?.total).toBe(300);
      expect(condition(status, 'Ready')?.reason).toBe('Scaling');
    },
  );

  beforeAll(() => {
    if (operator === undefined) return; // the set-up failed: every drill says it did not start
    for (const [title, body] of bodies) {
      const run = body();
      run.catch(() => undefined); // reported by its own test
      running.set(title, run);
    }
  });
});
