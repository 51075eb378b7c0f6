// A scale target being deleted: a Deployment with a deletionTimestamp that a finalizer (or a
// foreground deletion, as Argo CD prunes) keeps around for a while. It is going away; jetscale must
// not scale it, and says why. Before, it was scaled like any other (1 -> 5 here, a Normal "Scaled"
// Event and Ready=True for an object the API server is deleting). On the real stack (real API
// server, real NATS), the reconciler driven directly.
import { eventually } from '../../test/env.js';
import { KubeApiError } from '../src/kube/api-client.js';
import { condition, eventConsumerStatus, kubeApi, sleep, specReplicas, useStreamDrill } from './harness.js';

describe('a scale target being deleted', () => {
  const drill = useStreamDrill({ namespace: 'op-deleting', instance: 'deleting-target-test' });
  const FINALIZER = 'drills.jetscale.test/hold';
  const path = (): string => `/apis/apps/v1/namespaces/${drill.ns.name}/deployments/going`;

  afterAll(async () => {
    await kubeApi()
      .request('PATCH', path(), { body: { metadata: { finalizers: null } } })
      .catch(() => undefined);
  });

  it('is left alone and reported while it is deleted, and TargetNotFound once gone', async () => {
    const stream = await drill.addStream('going', 500);
    await drill.addTarget('going', stream, { consumer: 'worker' });
    await kubeApi().request('PATCH', path(), { body: { metadata: { finalizers: [FINALIZER] } } });
    await kubeApi().request('DELETE', path());
    await eventually('going to carry a deletionTimestamp', async () => {
      const d = await kubeApi().request<{ metadata?: { deletionTimestamp?: string } }>('GET', path());
      return d.metadata?.deletionTimestamp !== undefined ? true : undefined;
    });

    // 500 pending at 100 per replica would be 5.
    await drill.poll('going');
    expect(await specReplicas(drill.ns.name, 'going')).toBe(1);
    const ready = condition(await eventConsumerStatus(drill.ns.name, 'going'), 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'TargetDeleting' });
    expect(ready?.message).toMatch(/is being deleted/);

    await kubeApi().request('PATCH', path(), { body: { metadata: { finalizers: null } } });
    await eventually('going gone', async () =>
      kubeApi()
        .request('GET', path())
        .then(
          () => undefined,
          (err: unknown) => (err instanceof KubeApiError && err.status === 404 ? true : undefined),
        ),
    );
    await sleep(1_000);
    await drill.poll('going');
    expect(condition(await eventConsumerStatus(drill.ns.name, 'going'), 'Ready')?.reason).toBe(
      'TargetNotFound',
    );
  });
});
