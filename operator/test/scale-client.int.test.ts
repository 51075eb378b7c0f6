// ScaleClient's reading of a ReplicaSet's controller on the real API server: a ReplicaSet's /scale
// does not say who manages it, so its object is read (metadata only) too — once per
// resourceVersion, not at every poll — and the reading names the Deployment that owns it, also
// when the metadata was not read again. Orphaned by hand (kubectl delete deployment --cascade=orphan:
// the garbage collector removes the ownerReference, a new resourceVersion), the next reading
// names no controller. The reads are counted by a pass-through in front of the real client.
import { createNamespace, eventually } from '../../test/env.js';
import type { KubeApi, RequestOptions } from '../src/kube/api-client.js';
import { ScaleClient } from '../src/kube/scale-client.js';
import { closeKubeApi, createDeployment, kubeApi, sleep } from './harness.js';

/** Forwards every request to the real client and keeps its method and path. */
function counted(inner: KubeApi): KubeApi & { requests: string[] } {
  const requests: string[] = [];
  return {
    requests,
    request: <T>(
      method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
      path: string,
      options?: RequestOptions,
    ): Promise<T> => {
      requests.push(`${method} ${path}`);
      return inner.request<T>(method, path, options);
    },
  };
}

interface ReplicaSetList {
  items: Array<{
    metadata: { name: string; resourceVersion: string; ownerReferences?: Array<{ name: string }> };
  }>;
}

describe('ScaleClient on a ReplicaSet (the real API server)', () => {
  let ns: { name: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    ns = await createNamespace('scale-rs');
  });

  afterAll(async () => {
    await ns?.cleanup();
    closeKubeApi();
  });

  it('names its Deployment, reading its metadata once per resourceVersion, and no controller once orphaned', async () => {
    await createDeployment(ns.name, 'web', 0);
    const setsPath = `/apis/apps/v1/namespaces/${ns.name}/replicasets`;
    /** The Deployment's ReplicaSet once it has not changed for a second (its controller is done). */
    const atRest = (owned: boolean): Promise<{ name: string; resourceVersion: string }> =>
      eventually(
        `the ReplicaSet at rest (${owned ? 'owned' : 'orphaned'})`,
        async () => {
          const read = async () =>
            (await kubeApi().request<ReplicaSetList>('GET', setsPath)).items.find(
              (r) =>
                r.metadata.name.startsWith('web-') && (r.metadata.ownerReferences?.length ?? 0) > 0 === owned,
            )?.metadata;
          const first = await read();
          await sleep(1000);
          const second = await read();
          return first !== undefined && first.resourceVersion === second?.resourceVersion ? first : undefined;
        },
        60_000,
        500,
      );
    const rs = await atRest(true);
    const api = counted(kubeApi());
    const client = new ScaleClient(api);
    const ref = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: rs.name };
    const objectPath = `${setsPath}/${rs.name}`;
    const metadataReads = (): number => api.requests.filter((r) => r === `GET ${objectPath}`).length;
    const controller = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' };

    const first = await client.get(ns.name, ref);
    const second = await client.get(ns.name, ref);
    expect([first.controller, second.controller]).toEqual([controller, controller]);
    expect([first.resourceVersion, second.resourceVersion]).toEqual([rs.resourceVersion, rs.resourceVersion]);
    expect(api.requests.filter((r) => r === `GET ${objectPath}/scale`)).toHaveLength(2);
    expect(metadataReads()).toBe(1);

    // kubectl delete deployment web --cascade=orphan: the garbage collector removes the
    // ReplicaSet's ownerReference (a new resourceVersion).
    await kubeApi().request('DELETE', `/apis/apps/v1/namespaces/${ns.name}/deployments/web`, {
      body: { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Orphan' },
    });
    const orphaned = await atRest(false);
    expect(orphaned.name).toBe(rs.name);
    const after = await eventually(
      'a reading at the orphaned resourceVersion',
      async () => {
        const reading = await client.get(ns.name, ref);
        return reading.resourceVersion === orphaned.resourceVersion ? reading : undefined;
      },
      10_000,
      200,
    );
    expect(after.controller).toBeUndefined();
    expect(metadataReads()).toBeGreaterThanOrEqual(2);
  });
});
