// An EventConsumer created next to a Deployment that already carries its load (a new EventConsumer,
// a migration from KEDA), and the operator restarted while it runs: the operator starts with no
// rates, and replicas that keep up are never busy, so it measures no per-replica capacity. It
// must not size them by their small backlog and scale them down into an overload (decide.ts 2a:
// before, the backlog term alone took 3 replicas to 1 once the scale-down window had passed, and
// a queue built until a busy replica showed what it does).
// Real stack: nats-server, the control plane, the operator in process, and REPLICAS nats.js
// consume() pods run as processes by the local pod runner on kwok nodes, each handling one message
// at a time in HANDLER_MS (at most PER_REPLICA/s). ARRIVAL_PER_SECOND arrive: REPLICAS - 1 replicas
// cannot keep up (at most (REPLICAS - 1) × PER_REPLICA), REPLICAS can. backlogPerReplica is far
// above the backlog, so the backlog term asks for 1.
// The verdicts count the operator's own polls (its per-poll decision trace), not wall-clock time.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { AckPolicy, jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { PodRunner } from '../../loadtest/local/pod-runner.js';
import { createNamespace, eventually, kubeConfig, testStack } from '../../test/env.js';
import { testScratchDir } from '../../test/scratch.js';
import type { RunningOperator } from '../src/run-operator.js';
import {
  closeKubeApi,
  createEventConsumer,
  eventConsumerStatus,
  installCrd,
  kubeApi,
  repoRoot,
  sleep,
  specReplicas,
  startInProcessOperator,
  streamName,
} from './harness.js';

const HANDLER_MS = 100;
const PER_REPLICA = 1000 / HANDLER_MS;
const REPLICAS = 3;
const ARRIVAL_PER_SECOND = 24;
/**
 * Each phase is judged over this many operator polls (its scale-down window is 4 s, polls ≤ 2 s):
 * 30 s at the 2 s pollInterval, seven scale-down windows and three time constants of the 10 s
 * arrival smoothing (rates.ts). The overload this guards against (the backlog term taking 3 to 1)
 * is asked for at the first poll without a measured capacity and applied once one window has
 * passed; a recommendation that drifts down as the rates settle shows within those three
 * time constants. Until session 25 it was 25 polls (50 s, twelve windows), three times in the file.
 */
const POLLS = 15;
const NAME = 'warm-worker';
/** Before the restart: a backlog of at most this many seconds of arrivals at STEADY_CHECKS 1 s checks. */
const STEADY_BACKLOG_SECONDS = 2;
const STEADY_CHECKS = 5;
/** Messages published at once to make the replicas busy, so that they measure their capacity. */
const BURST = 400;
/** Polls after a restart within which the carried capacity must size the replicas. */
const FIRST_POLLS = 3;

/** One poll of the operator, from its decision trace. */
interface Poll {
  at: number;
  current: number;
  desired: number;
  why: string;
}

describe('capacity not measured yet: an EventConsumer next to a running Deployment', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let runner: PodRunner | undefined;
  let operator: RunningOperator | undefined;
  let stream = '';
  let polls: Poll[] = [];
  let stopPublishing = false;
  let publishing: Promise<void> | undefined;
  let published = 0;
  /** Longest the publisher fell behind its schedule (seconds of arrivals owed at once). */
  let maxPublishLagSeconds = 0;

  function tracePolls(line: string): void {
    if (!line.includes('"decided"')) return;
    try {
      const entry = JSON.parse(line) as {
        msg?: string;
        name?: string;
        current?: number;
        desired?: number;
        why?: string;
      };
      if (entry.msg !== 'decided' || entry.name !== NAME) return;
      polls.push({
        at: Date.now(),
        current: entry.current ?? NaN,
        desired: entry.desired ?? NaN,
        why: entry.why ?? '',
      });
    } catch {
      // Not a trace line.
    }
  }

  /**
   * Watches the Deployment's replicas until the operator has made POLLS polls from now: the
   * smallest replica count seen, and those polls.
   */
  async function watch(label: string): Promise<{ minReplicas: number; polls: Poll[]; replicasAt: string[] }> {
    const from = polls.length;
    const started = Date.now();
    let minReplicas = Infinity;
    const replicasAt: string[] = [];
    await eventually(
      `${label}: ${POLLS} operator polls`,
      async () => {
        const replicas = await specReplicas(ns.name, NAME).catch(() => undefined);
        if (replicas !== undefined) {
          minReplicas = Math.min(minReplicas, replicas);
          const t = ((Date.now() - started) / 1000).toFixed(0);
          if (replicasAt.at(-1)?.split('@')[0] !== String(replicas)) replicasAt.push(`${replicas}@${t}s`);
        }
        return polls.length - from >= POLLS ? true : undefined;
      },
      // POLLS at the 2 s pollInterval take 30 s; a stalled machine polls later.
      300_000,
      250,
    );
    return { minReplicas, polls: polls.slice(from, from + POLLS), replicasAt };
  }

  function summary(label: string, w: { minReplicas: number; polls: Poll[]; replicasAt: string[] }): string {
    const lowest = w.polls.reduce<Poll | undefined>(
      (a, p) => (a === undefined || p.desired < a.desired ? p : a),
      undefined,
    );
    return (
      `${label}: replicas ${w.replicasAt.join(' ')}; desired at the polls ${w.polls.map((p) => p.desired).join(',')}; ` +
      `publisher at most ${maxPublishLagSeconds.toFixed(1)} s behind; lowest: ${lowest?.why ?? '-'}; last: ${w.polls.at(-1)?.why ?? '-'}\n`
    );
  }

  /**
   * A steady state: at least REPLICAS replicas and a backlog of at most STEADY_BACKLOG_SECONDS of
   * arrivals at STEADY_CHECKS checks in a row.
   */
  async function steadyState(label: string): Promise<void> {
    let steady = 0;
    await eventually(
      label,
      async () => {
        const [replicas, info] = await Promise.all([
          specReplicas(ns.name, NAME),
          jsm.consumers.info(stream, 'worker'),
        ]);
        const keepingUp =
          replicas >= REPLICAS &&
          info.num_pending + info.num_ack_pending <= STEADY_BACKLOG_SECONDS * ARRIVAL_PER_SECOND;
        steady = keepingUp ? steady + 1 : 0;
        return steady >= STEADY_CHECKS ? true : undefined;
      },
      180_000,
      1000,
    );
  }

  beforeAll(async () => {
    const nodeEntry = path.join(repoRoot, 'dist/workloads/src/pull-consumer/main.js');
    if (!existsSync(nodeEntry)) throw new Error(`${nodeEntry} is missing: run \`npm run build\` first`);
    await installCrd();
    ns = await createNamespace('unmeasured');
    nc = await connect({ servers: testStack().natsUrl });
    jsm = await jetstreamManager(nc);
    stream = streamName('unmeasured');
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, {
      durable_name: 'worker',
      ack_policy: AckPolicy.Explicit,
      ack_wait: 60 * 1_000_000_000,
    });
    runner = new PodRunner({
      kubeConfig: kubeConfig(),
      namespace: ns.name,
      labelSelector: 'jetscale.io/unmeasured',
      repoRoot,
      serviceAddresses: {},
      portEnv: [],
      logDir: testScratchDir('jetscale-unmeasured-'),
    });
    await runner.start();
    await kubeApi().request('POST', `/apis/apps/v1/namespaces/${ns.name}/deployments`, {
      body: {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: NAME, namespace: ns.name },
        spec: {
          replicas: REPLICAS,
          selector: { matchLabels: { app: NAME } },
          template: {
            metadata: { labels: { app: NAME, 'jetscale.io/unmeasured': 'true' } },
            spec: {
              terminationGracePeriodSeconds: 30,
              containers: [
                {
                  name: 'consumer',
                  image: 'jetscale/unmeasured:dev',
                  command: ['node', 'dist/workloads/src/pull-consumer/main.js'],
                  env: Object.entries({
                    PULL_MODE: 'consume',
                    NATS_URL: testStack().natsUrl,
                    STREAM: stream,
                    CONSUMER: 'worker',
                    HANDLER_MS: String(HANDLER_MS),
                  }).map(([k, v]) => ({ name: k, value: v })),
                },
              ],
            },
          },
        },
      },
    });
    await eventually(
      `${REPLICAS} consumer processes running`,
      async () =>
        (runner?.running().filter((p) => p.labels.app === NAME && p.pid).length ?? 0) >= REPLICAS
          ? true
          : undefined,
      120_000,
    );
    // Open-model arrivals: every 100 ms publish what the rate owes by now.
    const js = jetstream(nc);
    const started = Date.now();
    publishing = (async () => {
      const acks: Array<Promise<unknown>> = [];
      while (!stopPublishing) {
        const owed = Math.floor(((Date.now() - started) / 1000) * ARRIVAL_PER_SECOND) - published;
        maxPublishLagSeconds = Math.max(maxPublishLagSeconds, owed / ARRIVAL_PER_SECOND);
        for (let k = 0; k < owed; k++)
          acks.push(js.publish(`${stream}.event`, `m${published++}`).catch(() => undefined));
        await sleep(100);
      }
      await Promise.all(acks);
    })();
    // The load flows through the Deployment before the operator sees it.
    await sleep(5000);
    operator = await startInProcessOperator(ns.name, {}, tracePolls);
  }, 300_000);

  afterAll(async () => {
    stopPublishing = true;
    await publishing;
    await operator?.stop();
    await runner?.stop();
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
    await ns?.cleanup();
    closeKubeApi();
  });

  it(`keeps the ${REPLICAS} replicas that carry the load when the EventConsumer is created next to them`, async () => {
    await createEventConsumer({
      namespace: ns.name,
      name: NAME,
      target: NAME,
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: {
        minReplicas: 1,
        maxReplicas: REPLICAS + 3,
        pollInterval: '2s',
        backlogPerReplica: 1000,
        behavior: { scaleDown: { stabilizationWindow: '4s' } },
      },
    });
    const w = await watch('created next to the Deployment');
    console.log(summary('created next to the Deployment', w).trimEnd());
    // Fewer than REPLICAS do at most (REPLICAS - 1) × PER_REPLICA = 20/s of the 24/s arriving.
    expect((REPLICAS - 1) * PER_REPLICA).toBeLessThan(ARRIVAL_PER_SECOND);
    expect(w.polls.length).toBe(POLLS);
    expect(Math.min(...w.polls.map((p) => p.desired))).toBeGreaterThanOrEqual(REPLICAS);
    expect(w.minReplicas).toBeGreaterThanOrEqual(REPLICAS);
  }, 400_000);

  it(`keeps them when the operator restarts mid-run with no rates`, async () => {
    // A steady state first, whatever the first case did: at least REPLICAS replicas and a backlog
    // of at most STEADY_BACKLOG_SECONDS of arrivals at STEADY_CHECKS checks in a row (a restart
    // next to a standing queue would see busy replicas, and measure their capacity at once).
    await steadyState(`${REPLICAS} replicas or more, keeping up, before the restart`);
    await operator?.stop();
    operator = undefined;
    polls = [];
    operator = await startInProcessOperator(ns.name, {}, tracePolls);
    const w = await watch('after a restart');
    console.log(summary('after a restart', w).trimEnd());
    expect(w.polls.length).toBe(POLLS);
    expect(Math.min(...w.polls.map((p) => p.desired))).toBeGreaterThanOrEqual(REPLICAS);
    expect(w.minReplicas).toBeGreaterThanOrEqual(REPLICAS);
  }, 400_000);

  it('after a restart sizes by the per-replica capacity the previous process measured (status)', async () => {
    // Make the replicas busy once: BURST messages at once queue for BURST / (REPLICAS × PER_REPLICA)
    // = 13 s, which measures their capacity; the status then shows it.
    const js = jetstream(nc);
    await Promise.all(Array.from({ length: BURST }, (_, k) => js.publish(`${stream}.event`, `b${k}`)));
    let measured = NaN;
    await eventually(
      'the per-replica capacity measured and shown in status',
      async () => {
        const st = await eventConsumerStatus(ns.name, NAME);
        const rate = st.consumers?.[0]?.rates?.perReplicaPerSecond;
        if (rate === undefined) return undefined;
        measured = rate;
        return true;
      },
      180_000,
      1000,
    );
    await steadyState(`${REPLICAS} replicas or more, keeping up, after the burst`);
    const before = (await eventConsumerStatus(ns.name, NAME)).consumers?.[0]?.rates?.perReplicaPerSecond;
    await operator?.stop();
    operator = undefined;
    polls = [];
    operator = await startInProcessOperator(ns.name, {}, tracePolls);
    const w = await watch('after a restart with a measured capacity');
    console.log(
      `measured ${measured}/s, ${before}/s in status at the restart; ` +
        summary('after a restart with a measured capacity', w).trimEnd(),
    );
    // The handlers take HANDLER_MS: what the previous process measured is about PER_REPLICA.
    expect(before).toBeGreaterThan(PER_REPLICA / 2);
    expect(before).toBeLessThan(PER_REPLICA * 1.5);
    // The first poll has no interval to measure anything; from the second the rate term sizes by
    // the carried figure. Before, the new process knew no capacity until the replicas were busy
    // again, and said so at every poll of a steady load.
    const first = w.polls.slice(1, FIRST_POLLS);
    for (const p of first) expect(p.why).not.toMatch(/no per-replica capacity measured yet/);
    expect(first.some((p) => /arriving at [\d.]+\/s per replica/.test(p.why))).toBe(true);
    // And it keeps the replicas the load needs: 24/s at about 10/s each, with headroom, is 3.
    expect(Math.min(...w.polls.map((p) => p.desired))).toBeGreaterThanOrEqual(REPLICAS);
    expect(w.minReplicas).toBeGreaterThanOrEqual(REPLICAS);
  }, 600_000);
});
