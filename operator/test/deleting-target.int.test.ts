// A scale target being deleted: a Deployment with a deletionTimestamp that a finalizer (or a
// foreground deletion, as Argo CD prunes) keeps around for a while. It is going away; jetscale must
// not scale it, and says why. Before, it was scaled like any other (1 -> 5 here, a Normal "Scaled"
// Event and Ready=True for an object the API server is deleting). A custom resource's /scale says
// nothing of a deletion, so it is checked on the object itself. On the real stack (real API server,
// real NATS), the reconciler driven directly.
import { eventually, testStack } from '../../test/env.js';
import { serviceAccountKubeconfig } from '../../test/packaging/kube.js';
import { KubeApiClient, KubeApiError, type KubeApi } from '../src/kube/api-client.js';
import { ScaleClient, ScaleError } from '../src/kube/scale-client.js';
import {
  condition,
  createEventConsumer,
  eventConsumerStatus,
  kubeApi,
  publish,
  sleep,
  specReplicas,
  useStreamDrill,
} from './harness.js';
import { CRDS_PATH, scalableCrd, scalableCrdServed } from './scalable-crd.js';

describe('a scale target being deleted', () => {
  const drill = useStreamDrill({ namespace: 'op-deleting', instance: 'deleting-target-test' });
  const FINALIZER = 'drills.jetscale.test/hold';
  const path = (): string => `/apis/apps/v1/namespaces/${drill.ns.name}/deployments/going`;

  const CRD = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/crews.deleting.jetscale.test';
  const crews = (): string => `/apis/deleting.jetscale.test/v1/namespaces/${drill.ns.name}/crews`;
  let crdMade = false;

  afterAll(async () => {
    await kubeApi()
      .request('PATCH', path(), { body: { metadata: { finalizers: null } } })
      .catch(() => undefined);
    if (!crdMade) return;
    for (const name of ['leaving', 'orphan'])
      await kubeApi()
        .request('PATCH', `${crews()}/${name}`, { body: { metadata: { finalizers: null } } })
        .catch(() => undefined);
    await kubeApi()
      .request('DELETE', CRD)
      .catch(() => undefined);
  });

  const gone = (what: string) =>
    kubeApi()
      .request('GET', what)
      .then(
        () => undefined,
        (err: unknown) => (err instanceof KubeApiError && err.status === 404 ? true : undefined),
      );

  /** A CRD with a /scale subresource and no controller behind it (removed at the end). */
  const crew = { group: 'deleting.jetscale.test', kind: 'Crew', plural: 'crews' };
  async function installCrewCrd(): Promise<void> {
    if (crdMade) return;
    await kubeApi().request('POST', CRDS_PATH, { body: scalableCrd(crew) });
    crdMade = true;
    await scalableCrdServed(crew);
  }

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
    await eventually('going gone', () => gone(path()));
    await sleep(1_000);
    await drill.poll('going');
    expect(condition(await eventConsumerStatus(drill.ns.name, 'going'), 'Ready')?.reason).toBe(
      'TargetNotFound',
    );
  });

  it('a custom resource being deleted is left alone too, though its /scale does not say so', async () => {
    // Before, only the apps/v1 kinds read whole were checked: this one went 5 -> 9 and Ready=True
    // while the API server deleted it.
    await installCrewCrd();
    const crew = `${crews()}/leaving`;
    const crewReplicas = async (): Promise<number | undefined> =>
      (await kubeApi().request<{ spec?: { replicas?: number } }>('GET', crew)).spec?.replicas;
    await kubeApi().request('POST', crews(), {
      body: {
        apiVersion: 'deleting.jetscale.test/v1',
        kind: 'Crew',
        metadata: { name: 'leaving', finalizers: [FINALIZER] },
        spec: { replicas: 1 },
      },
    });
    const stream = await drill.addStream('crew', 500);
    await createEventConsumer({
      namespace: drill.ns.name,
      name: 'crew',
      target: 'leaving',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: {
        scaleTargetRef: { apiVersion: 'deleting.jetscale.test/v1', kind: 'Crew', name: 'leaving' },
        maxReplicas: 20,
        backlogPerReplica: 100,
      },
    });

    // Alive: scaled from the backlog (500 at 100 per replica), and polled again unchanged.
    await drill.poll('crew');
    expect(await crewReplicas()).toBe(5);
    await sleep(1_000);
    await drill.poll('crew');
    expect(await crewReplicas()).toBe(5);
    expect(condition(await eventConsumerStatus(drill.ns.name, 'crew'), 'Ready')?.status).toBe('True');

    await kubeApi().request('DELETE', crew);
    await eventually('leaving to carry a deletionTimestamp', async () => {
      const c = await kubeApi().request<{ metadata?: { deletionTimestamp?: string } }>('GET', crew);
      return c.metadata?.deletionTimestamp !== undefined ? true : undefined;
    });
    // 900 pending would be 9.
    await publish(drill.nc, stream, 400);
    await sleep(1_000);
    await drill.poll('crew');
    expect(await crewReplicas()).toBe(5);
    const ready = condition(await eventConsumerStatus(drill.ns.name, 'crew'), 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'TargetDeleting' });
    expect(ready?.message).toMatch(/Crew .*\/leaving is being deleted/);

    await kubeApi().request('PATCH', crew, { body: { metadata: { finalizers: null } } });
    await eventually('leaving gone', () => gone(crew));
    await sleep(1_000);
    await drill.poll('crew');
    expect(condition(await eventConsumerStatus(drill.ns.name, 'crew'), 'Ready')?.reason).toBe(
      'TargetNotFound',
    );
  });

  it('reads a custom resource (metadata only) once per resourceVersion, not at every poll', async () => {
    // What the check costs: the object is read when its resourceVersion changed since it was
    // last seen alive (a deletionTimestamp changes it), so a target that does not change costs
    // its /scale read alone. Counted on the requests a ScaleClient sends to the real API server.
    const sent: string[] = [];
    const counting: KubeApi = {
      request: (method, path, options) => {
        sent.push(`${method} ${path}`);
        return kubeApi().request(method, path, options);
      },
    };
    await installCrewCrd();
    const client = new ScaleClient(counting);
    const ref = { apiVersion: 'deleting.jetscale.test/v1', kind: 'Crew', name: 'staying' };
    const crew = `${crews()}/staying`;
    await kubeApi().request('POST', crews(), {
      body: {
        apiVersion: 'deleting.jetscale.test/v1',
        kind: 'Crew',
        metadata: { name: 'staying' },
        spec: { replicas: 2 },
      },
    });
    const reads = (): { scale: number; object: number } => ({
      scale: sent.filter((r) => r === `GET ${crew}/scale`).length,
      object: sent.filter((r) => r === `GET ${crew}`).length,
    });

    for (let i = 0; i < 5; i++) expect((await client.get(drill.ns.name, ref)).specReplicas).toBe(2);
    expect(reads()).toEqual({ scale: 5, object: 1 });

    await kubeApi().request('PATCH', crew, { body: { spec: { replicas: 3 } } });
    await eventually('the new count served from the watch cache', async () =>
      (await client.get(drill.ns.name, ref)).specReplicas === 3 ? true : undefined,
    );
    const after = reads();
    for (let i = 0; i < 5; i++) await client.get(drill.ns.name, ref);
    // One more object read for the new resourceVersion (two if the cache served it late), then none.
    expect(after.object).toBeGreaterThanOrEqual(2);
    expect(after.object).toBeLessThanOrEqual(3);
    expect(reads()).toEqual({ scale: after.scale + 5, object: after.object });
  });

  it('a custom resource it may not read is TargetForbidden, naming the grant, not scaled unchecked', async () => {
    // With get and patch on crews/scale alone (all an older install granted), whether the Crew is
    // being deleted cannot be known: refused, naming the rule to add; with it, read as before.
    await installCrewCrd();
    const n = drill.ns.name;
    await kubeApi().request('POST', crews(), {
      body: {
        apiVersion: 'deleting.jetscale.test/v1',
        kind: 'Crew',
        metadata: { name: 'guarded' },
        spec: { replicas: 2 },
      },
    });
    await kubeApi().request('POST', `/api/v1/namespaces/${n}/serviceaccounts`, {
      body: { metadata: { name: 'scaler' } },
    });
    const rule = (resources: string[], verbs: string[]) => ({
      apiGroups: ['deleting.jetscale.test'],
      resources,
      verbs,
    });
    await kubeApi().request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${n}/roles`, {
      body: { metadata: { name: 'scaler' }, rules: [rule(['crews/scale'], ['get', 'patch'])] },
    });
    await kubeApi().request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${n}/rolebindings`, {
      body: {
        metadata: { name: 'scaler' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'scaler' },
        subjects: [{ kind: 'ServiceAccount', name: 'scaler', namespace: n }],
      },
    });
    const { config } = await serviceAccountKubeconfig(n, 'scaler');
    const client = new ScaleClient(new KubeApiClient(config));
    const ref = { apiVersion: 'deleting.jetscale.test/v1', kind: 'Crew', name: 'guarded' };
    // Until the new role is in force the /scale read itself is refused (naming crews/scale).
    const refusal = await eventually('the role in force', () =>
      client.get(n, ref).then(
        (reading) => ({ reading }),
        (err: unknown) =>
          err instanceof ScaleError && /may not get crews\/scale/.test(err.message) ? undefined : err,
      ),
    );
    expect(refusal).toBeInstanceOf(ScaleError);
    if (!(refusal instanceof ScaleError)) return;
    expect(refusal.kind).toBe('Forbidden');
    expect(refusal.message).toMatch(
      /cannot tell whether Crew .*\/guarded is being deleted.*grant get on crews \(API group "deleting\.jetscale\.test"\)/,
    );

    await kubeApi().request('PATCH', `/apis/rbac.authorization.k8s.io/v1/namespaces/${n}/roles/scaler`, {
      body: { rules: [rule(['crews/scale'], ['get', 'patch']), rule(['crews'], ['get'])] },
    });
    await eventually('read with get on crews', async () =>
      client.get(n, ref).then(
        (r) => (r.specReplicas === 2 ? true : undefined),
        () => undefined,
      ),
    );
  });

  it('a custom resource whose CRD is deleted is left alone while a finalizer holds it', async () => {
    // Deleting a CRD deletes its objects; one held by a finalizer stays, being deleted, while the
    // CRD terminates, and its /scale is still served. Last here: it removes the Crew CRD.
    await installCrewCrd();
    const crew = `${crews()}/orphan`;
    await kubeApi().request('POST', crews(), {
      body: {
        apiVersion: 'deleting.jetscale.test/v1',
        kind: 'Crew',
        metadata: { name: 'orphan', finalizers: [FINALIZER] },
        spec: { replicas: 1 },
      },
    });
    const stream = await drill.addStream('orphan', 500);
    await createEventConsumer({
      namespace: drill.ns.name,
      name: 'orphan',
      target: 'orphan',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: {
        scaleTargetRef: { apiVersion: 'deleting.jetscale.test/v1', kind: 'Crew', name: 'orphan' },
        maxReplicas: 20,
        backlogPerReplica: 100,
      },
    });
    const replicas = async (): Promise<number | undefined> =>
      (await kubeApi().request<{ spec?: { replicas?: number } }>('GET', crew)).spec?.replicas;
    await drill.poll('orphan');
    expect(await replicas()).toBe(5);

    await kubeApi().request('DELETE', CRD);
    await eventually('orphan to carry a deletionTimestamp', async () => {
      const c = await kubeApi().request<{ metadata?: { deletionTimestamp?: string } }>('GET', crew);
      return c.metadata?.deletionTimestamp !== undefined ? true : undefined;
    });
    await publish(drill.nc, stream, 400); // 900 pending would be 9
    await sleep(1_000);
    await drill.poll('orphan');
    expect(await replicas()).toBe(5);
    expect(condition(await eventConsumerStatus(drill.ns.name, 'orphan'), 'Ready')).toMatchObject({
      status: 'False',
      reason: 'TargetDeleting',
    });

    // Released: the object and then the CRD go; the kind is no longer served.
    await kubeApi().request('PATCH', crew, { body: { metadata: { finalizers: null } } });
    await eventually('the Crew CRD gone', () => gone(CRD));
    await sleep(1_000);
    await drill.poll('orphan');
    expect(condition(await eventConsumerStatus(drill.ns.name, 'orphan'), 'Ready')?.reason).toBe(
      'TargetNotFound',
    );
  });
});
