// Two operator processes share one Lease: only the leader scales; when the leader is killed with
// SIGKILL (no chance to release the Lease) the standby takes over once the Lease expires, and
// SIGTERM makes a leader finish, release the Lease and exit 0.
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createNamespace, eventually, testStack } from '../../test/env.js';
import {
  closeKubeApi,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  eventsFor,
  installCrd,
  leaseHolder,
  publish,
  sleep,
  specReplicas,
  spawnOperator,
  streamName,
  type OperatorProcess,
} from './harness.js';

const LEASE = 'jetscale-test-leader';
const LEASE_DURATION_MS = 15_000;
const RETRY_MS = 2_000;

describe('leader election between two operator processes', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  const processes: OperatorProcess[] = [];
  let stream: string;

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-leader');
    nc = await connect({ servers: testStack().natsUrl });
    stream = streamName('leader');
    await createStreamAndConsumer(nc, stream, 'worker');
  });

  afterAll(async () => {
    for (const p of processes)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await Promise.all(processes.map((p) => p.exited));
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc?.close();
    await ns?.cleanup();
    closeKubeApi();
  });

  it('lets only the leader scale, fails over on SIGKILL, and releases the Lease on SIGTERM', async () => {
    const env = {
      JETSCALE_NAMESPACES: ns.name,
      JETSCALE_LEASE_NAME: LEASE,
      JETSCALE_LEASE_NAMESPACE: ns.name,
    };
    const a = spawnOperator('operator-a', env);
    processes.push(a);
    // The compiled operator loads in about 3.5 s at a load average of 21 on 2 cores (measured);
    // 30 s bounds "elects itself", not start-up speed.
    const firstHolder = await eventually(
      'a leader',
      async () => ((await leaseHolder(ns.name, LEASE)) === 'operator-a' ? 'operator-a' : undefined),
      30_000,
    );
    const b = spawnOperator('operator-b', env);
    processes.push(b);
    await eventually(
      'the standby to start',
      async () => (b.output().includes('operator started') ? true : undefined),
      20_000,
    );
    expect(firstHolder).toBe('operator-a');

    await createDeployment(ns.name, 'worker', 1);
    await createEventConsumer({
      namespace: ns.name,
      name: 'worker',
      target: 'worker',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: { pollInterval: '1s' },
    });
    await publish(nc, stream, 250);
    await eventually(
      '3 replicas',
      async () => ((await specReplicas(ns.name, 'worker')) === 3 ? true : undefined),
      10_000,
      100,
    );
    // Events are recorded without blocking the reconcile, so give them a moment to land.
    const scaledBy = await eventually(
      'Scaled events',
      async () => {
        const by = (await eventsFor(ns.name, 'worker'))
          .filter((e) => e.reason === 'Scaled')
          .map((e) => e.reportingInstance);
        return by.length > 0 ? by : undefined;
      },
      5000,
    );
    expect(scaledBy.length).toBeGreaterThan(0);
    expect(new Set(scaledBy)).toEqual(new Set(['operator-a']));
    expect(b.output()).not.toContain('became leader');

    // SIGKILL: the Lease is not released; the standby waits out the lease duration.
    a.child.kill('SIGKILL');
    const killed = Date.now();
    await a.exited;
    await eventually(
      'operator-b to take the Lease',
      async () => ((await leaseHolder(ns.name, LEASE)) === 'operator-b' ? true : undefined),
      LEASE_DURATION_MS + 2 * RETRY_MS + 5000,
      200,
    );
    const takeover = Date.now() - killed;
    // Expiry is measured on the standby's clock from when it last saw the record change, so the
    // takeover comes between (lease - retry) and (lease + retry) after the kill, plus one request.
    expect(takeover).toBeGreaterThanOrEqual(LEASE_DURATION_MS - 2 * RETRY_MS);
    expect(takeover).toBeLessThanOrEqual(LEASE_DURATION_MS + 2 * RETRY_MS);
    process.stderr.write(`[leader-election] standby took over ${takeover} ms after SIGKILL of the leader\n`);

    await publish(nc, stream, 300);
    await eventually(
      '6 replicas scaled by the new leader',
      async () => ((await specReplicas(ns.name, 'worker')) === 6 ? true : undefined),
      10_000,
      100,
    );
    const afterFailover = await eventually(
      'the Scaled event of the new leader',
      async () => {
        const events = (await eventsFor(ns.name, 'worker')).filter(
          (e) => e.reason === 'Scaled' && /to 6/.test(e.message ?? ''),
        );
        return events.length > 0 ? events : undefined;
      },
      5000,
    );
    expect(afterFailover.map((e) => e.reportingInstance)).toEqual(['operator-b']);

    // SIGTERM: finish, release the Lease, exit 0.
    b.child.kill('SIGTERM');
    const exit = await Promise.race([b.exited, sleep(10_000).then(() => undefined)]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await leaseHolder(ns.name, LEASE)).toBe('');
    expect(b.output()).toContain('released the Lease');
  });
});
