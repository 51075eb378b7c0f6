// Proof that the test environment's Kubernetes is a real control plane: CRDs with OpenAPI schema
// and CEL validation, watches, the status and scale subresources, Deployments whose pods kwok
// brings to Running, and optimistic concurrency on coordination.k8s.io Leases.
import * as k8s from '@kubernetes/client-node';
import { createNamespace, eventually, kubeConfig, uniqueName } from '../env.js';

const group = 'proof.jetscale.io';
const plural = 'widgets';
const mergePatch = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

const widgetCrd: k8s.V1CustomResourceDefinition = {
  metadata: { name: `${plural}.${group}` },
  spec: {
    group,
    scope: 'Namespaced',
    names: { plural, singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
    versions: [
      {
        name: 'v1',
        served: true,
        storage: true,
        subresources: { status: {} },
        schema: {
          openAPIV3Schema: {
            type: 'object',
            properties: {
              spec: {
                type: 'object',
                required: ['min', 'max'],
                properties: { min: { type: 'integer', minimum: 0 }, max: { type: 'integer' } },
                x_kubernetes_validations: [
                  { rule: 'self.min <= self.max', message: 'min must not exceed max' },
                ],
              },
              status: { type: 'object', properties: { observed: { type: 'integer' } } },
            },
          },
        },
      },
    ],
  },
};

function apiError(err: unknown): { code: number; body: string } {
  if (err instanceof k8s.ApiException) return { code: err.code, body: String(err.body) };
  throw err;
}

describe('Kubernetes control plane in the test environment', () => {
  const kc = kubeConfig();
  const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const coordination = kc.makeApiClient(k8s.CoordinationV1Api);
  let ns: { name: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    ns = await createNamespace('proof');
    await ext.createCustomResourceDefinition({ body: widgetCrd }).catch((err: unknown) => {
      if (apiError(err).code !== 409) throw err;
    });
    await eventually('the Widget CRD to be Established', async () => {
      const crd = await ext.readCustomResourceDefinition({ name: `${plural}.${group}` });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')
        ? true
        : undefined;
    });
  });
  afterAll(async () => {
    await ns.cleanup();
  });

  it('rejects an object that breaks a CEL rule, with the rule message', async () => {
    const body = {
      apiVersion: `${group}/v1`,
      kind: 'Widget',
      metadata: { name: 'broken' },
      spec: { min: 5, max: 1 },
    };
    // The CRD was just established; the API server may need a moment before it serves the new type.
    const err = await eventually('the CEL rule to reject the object', async () => {
      try {
        await custom.createNamespacedCustomObject({ group, version: 'v1', namespace: ns.name, plural, body });
        throw new Error('the API server accepted an object that breaks the CEL rule');
      } catch (e) {
        const { code, body: text } = apiError(e);
        return code === 422 ? text : undefined;
      }
    });
    expect(err).toContain('min must not exceed max');
  });

  it('delivers watch events and patches the status subresource', async () => {
    const name = uniqueName('w');
    const seen: string[] = [];
    const watch = new k8s.Watch(kc);
    const request = await watch.watch(
      `/apis/${group}/v1/namespaces/${ns.name}/${plural}`,
      {},
      (phase, obj: k8s.KubernetesObject) => seen.push(`${phase} ${obj.metadata?.name ?? ''}`),
      () => undefined,
    );
    try {
      await custom.createNamespacedCustomObject({
        group,
        version: 'v1',
        namespace: ns.name,
        plural,
        body: { apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name }, spec: { min: 1, max: 3 } },
      });
      await eventually('an ADDED watch event', async () =>
        seen.includes(`ADDED ${name}`) ? true : undefined,
      );

      await custom.patchNamespacedCustomObjectStatus(
        { group, version: 'v1', namespace: ns.name, plural, name, body: { status: { observed: 7 } } },
        mergePatch,
      );
      const obj = (await custom.getNamespacedCustomObject({
        group,
        version: 'v1',
        namespace: ns.name,
        plural,
        name,
      })) as {
        spec: { min: number };
        status?: { observed?: number };
      };
      expect(obj.status?.observed).toBe(7);
      await eventually('a MODIFIED watch event', async () =>
        seen.includes(`MODIFIED ${name}`) ? true : undefined,
      );
    } finally {
      request.abort();
    }
  });

  it('scales a Deployment through /scale and kwok brings its pods to Running', async () => {
    const name = uniqueName('web');
    const labels = { app: name };
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'web', image: 'example.invalid/web:1' }] },
          },
        },
      },
    });
    await apps.patchNamespacedDeploymentScale(
      { name, namespace: ns.name, body: { spec: { replicas: 3 } } },
      mergePatch,
    );
    const scale = await apps.readNamespacedDeploymentScale({ name, namespace: ns.name });
    expect(scale.spec?.replicas).toBe(3);
    const running = await eventually(
      '3 Running pods',
      async () => {
        const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: `app=${name}` });
        const n = pods.items.filter((p) => p.status?.phase === 'Running').length;
        return n === 3 ? n : undefined;
      },
      60_000,
    );
    expect(running).toBe(3);
  });

  it('takes a Lease, renews it, and rejects a stale update with 409', async () => {
    const name = uniqueName('lease');
    const now = new k8s.V1MicroTime();
    const lease = await coordination.createNamespacedLease({
      namespace: ns.name,
      body: {
        metadata: { name },
        spec: { holderIdentity: 'a', leaseDurationSeconds: 15, acquireTime: now, renewTime: now },
      },
    });
    const renewed = await coordination.replaceNamespacedLease({
      name,
      namespace: ns.name,
      body: { ...lease, spec: { ...lease.spec, renewTime: new k8s.V1MicroTime() } },
    });
    expect(renewed.metadata?.resourceVersion).not.toBe(lease.metadata?.resourceVersion);
    // A second candidate still holding the old resourceVersion must lose the race.
    const stale = await coordination
      .replaceNamespacedLease({
        name,
        namespace: ns.name,
        body: { ...lease, spec: { ...lease.spec, holderIdentity: 'b' } },
      })
      .then(
        () => 200,
        (err: unknown) => apiError(err).code,
      );
    expect(stale).toBe(409);
  });
});
