// When NATS goes away the operator keeps the last decision, says so in a condition, holds
// fallback.replicas after fallback.failureThreshold failed polls spanning at least 20 s (at 1 s
// polls: a JetStream leader election, split vote included, is no outage; decide.ts fallbackOutageSeconds), and returns
// to scaling from the backlog when NATS comes back. Uses its own nats-server so stopping it disturbs no one else.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsServer, type NatsServer } from '../../hack/stack/nats-server.js';
import type { RunningOperator } from '../src/run-operator.js';
import { FALLBACK_MIN_OUTAGE_SECONDS } from '../src/controller/decide.js';
import { createNamespace, eventually } from '../../test/env.js';
import {
  closeKubeApi,
  condition,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  eventConsumerStatus,
  eventsFor,
  installCrd,
  publish,
  specReplicas,
  startInProcessOperator,
} from './harness.js';

describe('operator when NATS is unreachable', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nats: NatsServer;
  let dir: string;
  let operator: RunningOperator;

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-nats');
    dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-nats-'));
    nats = await startNatsServer({ dir });
    operator = await startInProcessOperator(ns.name, { natsRequestTimeoutMs: 500 });
  });

  afterAll(async () => {
    await operator?.stop();
    await nats?.stop({ hard: true });
    await ns?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
    closeKubeApi();
  });

  it('holds replicas, then fallback.replicas after the threshold, and recovers when NATS returns', async () => {
    const nc: NatsConnection = await connect({ servers: nats.url });
    await createStreamAndConsumer(nc, 'FAILOVER', 'worker');
    await publish(nc, 'FAILOVER', 150);
    await nc.close();
    await createDeployment(ns.name, 'worker', 1);
    await createEventConsumer({
      namespace: ns.name,
      name: 'worker',
      target: 'worker',
      servers: [nats.url],
      stream: 'FAILOVER',
      consumer: 'worker',
      extra: {
        pollInterval: '1s',
        fallback: { failureThreshold: 3, replicas: 6 },
        behavior: {
          scaleDown: { stabilizationWindow: '0s', policies: [{ type: 'Percent', value: 100, period: '1s' }] },
        },
      },
    });
    // 150 messages at 100 per replica: 2 replicas.
    await eventually(
      '2 replicas from the backlog',
      async () => ((await specReplicas(ns.name, 'worker')) === 2 ? true : undefined),
      10_000,
      100,
    );

    await nats.stop({ hard: true });
    const below = await eventually(
      'a NatsUnreachable condition below the threshold',
      async () => {
        const s = await eventConsumerStatus(ns.name, 'worker');
        return condition(s, 'MetricsAvailable')?.reason === 'NatsUnreachable' &&
          (s.consecutiveFailures ?? 0) < 3
          ? s
          : undefined;
      },
      10_000,
      100,
    );
    expect(condition(below, 'Fallback')?.status).toBe('False');
    // What the failed polls could not learn is Unknown, not the last good value; the last good
    // backlog stays, with the time it was read.
    expect(condition(below, 'Active')?.status).toBe('Unknown');
    expect(below.backlog?.total).toBe(150);
    expect(Date.parse(below.lastBacklogReadTime ?? '')).toBeLessThan(Date.parse(below.lastPollTime ?? ''));
    expect(await specReplicas(ns.name, 'worker')).toBe(2);

    const fallback = await eventually(
      `fallback after 3 failed polls over at least ${FALLBACK_MIN_OUTAGE_SECONDS} s`,
      async () => {
        const s = await eventConsumerStatus(ns.name, 'worker');
        return condition(s, 'Fallback')?.status === 'True' ? s : undefined;
      },
      40_000,
      100,
    );
    expect(fallback.consecutiveFailures).toBeGreaterThanOrEqual(3);
    expect(condition(fallback, 'Fallback')?.message).toContain(
      'holding 6 replicas (spec.fallback.replicas 6)',
    );
    await eventually(
      '6 fallback replicas',
      async () => ((await specReplicas(ns.name, 'worker')) === 6 ? true : undefined),
      5000,
      100,
    );
    // Events are recorded without blocking the reconcile: give them a moment to land.
    const started = await eventually(
      'a FallbackStarted warning',
      async () =>
        (await eventsFor(ns.name, 'worker')).find(
          (e) => e.reason === 'FallbackStarted' && e.type === 'Warning',
        ),
      5000,
    );
    // Not at the third failed poll (3 s): only once the failed reads spanned the floor (20 s).
    const over = /polls in a row failed over (\d+)s/.exec(started.message ?? '');
    expect(Number(over?.[1])).toBeGreaterThanOrEqual(FALLBACK_MIN_OUTAGE_SECONDS);

    await nats.start();
    const recovered = await eventually(
      'recovery when NATS returns',
      async () => {
        const s = await eventConsumerStatus(ns.name, 'worker');
        return condition(s, 'Fallback')?.status === 'False' &&
          condition(s, 'MetricsAvailable')?.status === 'True'
          ? s
          : undefined;
      },
      20_000,
      100,
    );
    expect(recovered.consecutiveFailures).toBe(0);
    expect(recovered.backlog?.total).toBe(150);
    await eventually(
      'back to 2 replicas from the backlog',
      async () => ((await specReplicas(ns.name, 'worker')) === 2 ? true : undefined),
      10_000,
      100,
    );
    await eventually(
      'a FallbackEnded event',
      async () => (await eventsFor(ns.name, 'worker')).find((e) => e.reason === 'FallbackEnded'),
      5000,
    );
  });
});
