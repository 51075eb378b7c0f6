// Scale writes the API server refuses for a reason of its own — an admission policy here (a webhook
// or the target's validation do the same): the EventConsumer says so in Ready=False ScaleRefused and
// a Warning Event, in the server's words, and leaves the replicas where they are. On the real stack
// (real API server with ValidatingAdmissionPolicies on deployments/scale, real NATS), the
// reconciler driven directly. Before, a 422 (a policy with reason Invalid) failed the whole
// reconcile: it was only logged, retried with backoff, and status said nothing; a policy's 403 was
// reported as missing RBAC ("grant get and patch ..."), which no role fixes.
import { eventually } from '../../test/env.js';
import { KubeApiError } from '../src/kube/api-client.js';
import { denyUnless, removePolicy } from './admission.js';
import {
  condition,
  eventConsumerStatus,
  eventsFor,
  kubeApi,
  specReplicas,
  useStreamDrill,
} from './harness.js';

describe('scale writes refused by the API server', () => {
  const drill = useStreamDrill({ namespace: 'op-scale-refused', instance: 'scale-refused-test' });
  const policies = [`cap-invalid-${process.pid}`, `cap-forbidden-${process.pid}`];

  afterAll(async () => {
    for (const policy of policies) await removePolicy(policy);
  });

  /** A policy refusing more than 2 replicas of Deployment `name` through /scale, with `reason`. */
  async function capAt2(policy: string, name: string, reason: string): Promise<void> {
    await denyUnless(policy, { apiGroup: 'apps', resource: 'deployments/scale', namespace: drill.ns.name }, [
      {
        expression: `object.metadata.name != '${name}' || object.spec.replicas <= 2`,
        message: `at most 2 replicas of ${name} here`,
        reason,
      },
    ]);
  }

  it('says what refused the change (422 and 403), in Ready and an Event, and leaves replicas alone', async () => {
    const cases = [
      { name: 'invalid', policy: policies[0] as string, reason: 'Invalid', status: 422 },
      { name: 'denied', policy: policies[1] as string, reason: 'Forbidden', status: 403 },
    ];
    for (const c of cases) {
      const stream = await drill.addStream(c.name, 500);
      await drill.addTarget(c.name, stream, { consumer: 'worker' });
      await capAt2(c.policy, c.name, c.reason);
    }
    // The policies are in force once a /scale write past them is denied (the API server loads
    // policies asynchronously).
    for (const c of cases)
      await eventually(
        `the policy on ${c.name} in force`,
        async () =>
          kubeApi()
            .request('PATCH', `/apis/apps/v1/namespaces/${drill.ns.name}/deployments/${c.name}/scale`, {
              // A dry run: admission judges it, nothing changes if it goes through.
              query: { dryRun: 'All' },
              body: { spec: { replicas: 3 } },
            })
            .then(
              () => {
                throw new Error('the write went through');
              },
              (err: unknown) =>
                err instanceof KubeApiError && err.status === c.status && /at most 2/.test(err.message)
                  ? true
                  : undefined,
            ),
        30_000,
        250,
      );

    for (const c of cases) {
      // 500 pending at 100 per replica asks for 5; the policy allows 2.
      await drill.poll(c.name);
      expect(await specReplicas(drill.ns.name, c.name)).toBe(1);
      const ready = condition(await eventConsumerStatus(drill.ns.name, c.name), 'Ready');
      expect(ready).toMatchObject({ status: 'False', reason: 'ScaleRefused' });
      expect(ready?.message).toMatch(new RegExp(`HTTP ${c.status}.*at most 2 replicas of ${c.name} here`));
      expect(ready?.message).not.toMatch(/grant/);
      const warning = await eventually(
        `a ScaleRefused Event on ${c.name}`,
        async () =>
          (await eventsFor(drill.ns.name, c.name)).find((e) => e.reason === 'ScaleRefused') ?? undefined,
        15_000,
        250,
      );
      expect(warning).toMatchObject({ type: 'Warning' });
      expect(warning.message).toMatch(/at most 2 replicas/);
    }
  });
});
