// A namespaced custom resource for scale-target tests: v1 with spec.replicas and status.replicas, a
// /scale subresource on those paths (unless asked without), and no controller behind it. One
// definition for every test that needs a kind other than Deployment or StatefulSet.
import { eventually } from '../../test/env.js';
import { kubeApi } from './harness.js';

export const CRDS_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

/** The kind's API group, kind and plural; singular and list kind follow from the kind. */
export interface ScalableKind {
  group: string;
  kind: string;
  plural: string;
}

/** The CRD's one version: replicas in spec and status; /scale and a status subresource as asked. */
export function scalableVersion(o: { scale: boolean; status: boolean }): Record<string, unknown> {
  const subresources = {
    ...(o.status ? { status: {} } : {}),
    ...(o.scale
      ? { scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas' } }
      : {}),
  };
  return {
    name: 'v1',
    served: true,
    storage: true,
    schema: {
      openAPIV3Schema: {
        type: 'object',
        properties: {
          spec: { type: 'object', properties: { replicas: { type: 'integer' } } },
          status: { type: 'object', properties: { replicas: { type: 'integer' } } },
        },
      },
    },
    ...(Object.keys(subresources).length > 0 ? { subresources } : {}),
  };
}

/** The CustomResourceDefinition object (named `<plural>.<group>`). */
export function scalableCrd(
  k: ScalableKind,
  o: { scale: boolean; status: boolean } = { scale: true, status: true },
): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${k.group}` },
    spec: {
      group: k.group,
      scope: 'Namespaced',
      names: {
        plural: k.plural,
        singular: k.kind.toLowerCase(),
        kind: k.kind,
        listKind: `${k.kind}List`,
      },
      versions: [scalableVersion(o)],
    },
  };
}

/** Creates the CRD and waits until the API server serves `<plural>/scale`. */
export async function installScalableCrd(k: ScalableKind): Promise<void> {
  await kubeApi().request('POST', CRDS_PATH, { body: scalableCrd(k) });
  await scalableCrdServed(k);
}

/** Until the API server serves `<plural>/scale` of the kind. */
export async function scalableCrdServed(k: ScalableKind): Promise<void> {
  await eventually(`the ${k.kind} CRD served`, async () =>
    (
      await kubeApi().request<{ resources?: Array<{ name: string }> }>('GET', `/apis/${k.group}/v1`)
    ).resources?.some((r) => r.name === `${k.plural}/scale`)
      ? true
      : undefined,
  );
}
