// A custom resource target whose /scale answers 404 while the object exists: its CRD's scale
// subresource removed after the operator read discovery (cached for 5 minutes). The API server then
// answers GET /scale with `<plural> "name" not found`, the very answer of a missing object. Before,
// jetscale said TargetNotFound ("does not exist: create it") of an object that exists; now it reads
// the object to tell the two apart: Ready=False TargetNotScalable saying to add the subresource, no
// write, and scaled again once the CRD has it back. The CRD has no status subresource (a /scale
// works without one). On the real stack, the reconciler driven directly.
import { eventually, testStack } from '../../test/env.js';
import { KubeApiError } from '../src/kube/api-client.js';
import {
  condition,
  createEventConsumer,
  eventConsumerStatus,
  kubeApi,
  publish,
  sleep,
  useStreamDrill,
} from './harness.js';
import { CRDS_PATH, scalableCrd, scalableCrdServed, scalableVersion } from './scalable-crd.js';

describe('a custom resource target without a /scale', () => {
  const drill = useStreamDrill({ namespace: 'op-scale-sub', instance: 'scale-subresource-test' });
  const group = `g${process.pid}.drills.jetscale.test`;
  const crd = `gadgets.${group}`;
  const CRDS = CRDS_PATH;

  afterAll(async () => {
    await kubeApi()
      .request('DELETE', `${CRDS}/${crd}`)
      .catch(() => undefined);
  });

  const gadget = { group, kind: 'Gadget', plural: 'gadgets' };
  // No status subresource: a /scale works without one.
  const version = (scale: boolean): Record<string, unknown> => scalableVersion({ scale, status: false });

  const objectPath = (name: string): string =>
    `/apis/${group}/v1/namespaces/${drill.ns.name}/gadgets/${name}`;

  /** Until GET /scale of `name` answers (true) or answers 404 (false), as asked. */
  async function scaleServed(name: string, served: boolean): Promise<void> {
    await eventually(`/scale of ${name} ${served ? 'served' : 'gone'}`, async () =>
      kubeApi()
        .request('GET', `${objectPath(name)}/scale`)
        .then(
          () => (served ? true : undefined),
          (err: unknown) => (!served && err instanceof KubeApiError && err.status === 404 ? true : undefined),
        ),
    );
  }

  async function replicas(name: string): Promise<number | undefined> {
    return (await kubeApi().request<{ spec?: { replicas?: number } }>('GET', objectPath(name))).spec
      ?.replicas;
  }

  it('is TargetNotScalable (not TargetNotFound) while it exists without one, and scaled once it has one', async () => {
    await kubeApi().request('POST', CRDS, { body: scalableCrd(gadget, { scale: true, status: false }) });
    await scalableCrdServed(gadget);
    await kubeApi().request('POST', `/apis/${group}/v1/namespaces/${drill.ns.name}/gadgets`, {
      body: { apiVersion: `${group}/v1`, kind: 'Gadget', metadata: { name: 'g' }, spec: { replicas: 1 } },
    });
    const stream = await drill.addStream('gadget', 300);
    await createEventConsumer({
      namespace: drill.ns.name,
      name: 'g',
      target: 'g',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: {
        scaleTargetRef: { apiVersion: `${group}/v1`, kind: 'Gadget', name: 'g' },
        maxReplicas: 10,
        backlogPerReplica: 100,
      },
    });
    await scaleServed('g', true);
    await drill.poll('g');
    expect(await replicas('g')).toBe(3); // 300 at 100 per replica

    // The scale subresource removed from the CRD: the operator's discovery still lists it.
    const current = await kubeApi().request<{ metadata: { resourceVersion: string } }>(
      'GET',
      `${CRDS}/${crd}`,
    );
    await kubeApi().request('PATCH', `${CRDS}/${crd}`, {
      body: {
        metadata: { resourceVersion: current.metadata.resourceVersion },
        spec: { versions: [version(false)] },
      },
    });
    await scaleServed('g', false);
    await publish(drill.nc, stream, 300); // 600: would be 6
    await sleep(1_000);
    await drill.poll('g');
    expect(await replicas('g')).toBe(3);
    const ready = condition(await eventConsumerStatus(drill.ns.name, 'g'), 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'TargetNotScalable' });
    expect(ready?.message).toMatch(/exists, but the API server serves no \/scale.*subresources\.scale/);
    // The next poll reads discovery again: still not scalable, said the same way.
    await sleep(1_000);
    await drill.poll('g');
    expect(await replicas('g')).toBe(3);
    expect(condition(await eventConsumerStatus(drill.ns.name, 'g'), 'Ready')?.reason).toBe(
      'TargetNotScalable',
    );

    // Back: scaled from the backlog again.
    const again = await kubeApi().request<{ metadata: { resourceVersion: string } }>('GET', `${CRDS}/${crd}`);
    await kubeApi().request('PATCH', `${CRDS}/${crd}`, {
      body: {
        metadata: { resourceVersion: again.metadata.resourceVersion },
        spec: { versions: [version(true)] },
      },
    });
    await scaleServed('g', true);
    await eventually('g scaled from the backlog again', async () => {
      await sleep(500);
      await drill.poll('g');
      return (await replicas('g')) === 6 ? true : undefined;
    });
    expect(condition(await eventConsumerStatus(drill.ns.name, 'g'), 'Ready')?.status).toBe('True');

    // Gone for real: TargetNotFound.
    await kubeApi().request('DELETE', objectPath('g'));
    await eventually('g gone', async () =>
      kubeApi()
        .request('GET', objectPath('g'))
        .then(
          () => undefined,
          (err: unknown) => (err instanceof KubeApiError && err.status === 404 ? true : undefined),
        ),
    );
    await sleep(1_000);
    await drill.poll('g');
    expect(condition(await eventConsumerStatus(drill.ns.name, 'g'), 'Ready')?.reason).toBe('TargetNotFound');
  });
});
