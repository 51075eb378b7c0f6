// Specifies ScaleClient's pure readings: a rollout in progress, who last set the replicas, what to
// say of an unknown kind, and a target's controller. Its requests are specified on the real API
// server: discovery of a hung aggregated API under the cap on slow requests in
// operator/test/hung-discovery.int.test.ts, a ReplicaSet's controller read once per resourceVersion
// in operator/test/scale-client.int.test.ts.
import {
  controllerOf,
  replicasManagerOf,
  rolloutOf,
  unknownKindMessage,
  type ApiResource,
} from './scale-client.js';

const deployment = (over: {
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
  generation?: number;
}) => ({
  metadata: { generation: over.generation ?? 2 },
  spec: { replicas: 8, ...over.spec },
  status: { replicas: 8, readyReplicas: 6, updatedReplicas: 2, observedGeneration: 2, ...over.status },
});

describe('rolloutOf: what a rolling update in progress keeps unavailable by design', () => {
  it('resolves the apps/v1 defaults (25 %, rounded down) and counts the old replicas left', () => {
    expect(rolloutOf('Deployment', deployment({}))).toEqual({ unavailable: 2, remaining: 6 });
  });

  it('takes integers and percentages as the deployment controller does', () => {
    const strategy = (rollingUpdate: Record<string, unknown>) => ({
      spec: { strategy: { type: 'RollingUpdate', rollingUpdate } },
    });
    expect(rolloutOf('Deployment', deployment(strategy({ maxUnavailable: 3 })))?.unavailable).toBe(3);
    expect(rolloutOf('Deployment', deployment(strategy({ maxUnavailable: '30%' })))?.unavailable).toBe(2);
    // Both resolving to 0 makes the controller take one unavailable.
    expect(
      rolloutOf('Deployment', deployment(strategy({ maxUnavailable: '10%', maxSurge: 0 })))?.unavailable,
    ).toBe(1);
    // maxUnavailable 0 with a surge: none are kept unavailable.
    expect(rolloutOf('Deployment', deployment(strategy({ maxUnavailable: 0, maxSurge: 1 })))).toBeUndefined();
  });

  it('a new generation not yet observed is a rollout about to start', () => {
    const d = deployment({ generation: 3, status: { updatedReplicas: 8, readyReplicas: 8 } });
    expect(rolloutOf('Deployment', d)).toEqual({ unavailable: 2, remaining: 0 });
  });

  it('none when rolled out, paused, Recreate, or past its progress deadline', () => {
    expect(rolloutOf('Deployment', deployment({ status: { updatedReplicas: 8 } }))).toBeUndefined();
    expect(rolloutOf('Deployment', deployment({ spec: { paused: true } }))).toBeUndefined();
    expect(rolloutOf('Deployment', deployment({ spec: { strategy: { type: 'Recreate' } } }))).toBeUndefined();
    const stuck = deployment({
      status: {
        conditions: [{ type: 'Progressing', status: 'False', reason: 'ProgressDeadlineExceeded' }],
      },
    });
    expect(rolloutOf('Deployment', stuck)).toBeUndefined();
  });

  it('a StatefulSet rolls one pod at a time while its revisions differ', () => {
    const sts = (status: Record<string, unknown>, updateStrategy?: Record<string, unknown>) => ({
      spec: { replicas: 4, ...(updateStrategy ? { updateStrategy } : {}) },
      status: { replicas: 4, updatedReplicas: 1, ...status },
    });
    expect(rolloutOf('StatefulSet', sts({ currentRevision: 'a', updateRevision: 'b' }))).toEqual({
      unavailable: 1,
      remaining: 3,
    });
    expect(rolloutOf('StatefulSet', sts({ currentRevision: 'b', updateRevision: 'b' }))).toBeUndefined();
    expect(
      rolloutOf('StatefulSet', sts({ currentRevision: 'a', updateRevision: 'b' }, { type: 'OnDelete' })),
    ).toBeUndefined();
  });

  it('a StatefulSet starting its pods one after the other (OrderedReady) allows the pods not created yet and the one starting', () => {
    const sts = (spec: Record<string, unknown>, status: Record<string, unknown>) => ({
      spec: { replicas: 8, ...spec },
      status: { currentRevision: 'a', updateRevision: 'a', ...status },
    });
    expect(rolloutOf('StatefulSet', sts({}, { replicas: 3, readyReplicas: 2 }))).toEqual({
      unavailable: 6,
      remaining: 6,
    });
    // Every pod created: nothing waits its turn.
    expect(rolloutOf('StatefulSet', sts({}, { replicas: 8, readyReplicas: 7 }))).toBeUndefined();
    // Parallel creates them all at once: each has its own deadline.
    expect(
      rolloutOf('StatefulSet', sts({ podManagementPolicy: 'Parallel' }, { replicas: 3, readyReplicas: 2 })),
    ).toBeUndefined();
  });

  it('other kinds say nothing', () => {
    expect(rolloutOf('Rollout', deployment({}))).toBeUndefined();
  });
});

describe('replicasManagerOf: who last set spec.replicas, from managedFields', () => {
  const entry = (manager: string, time: string, fields: unknown, extra: Record<string, unknown> = {}) => ({
    manager,
    operation: 'Update',
    time,
    fieldsType: 'FieldsV1',
    fieldsV1: fields,
    ...extra,
  });
  const replicas = { 'f:spec': { 'f:replicas': {} } };

  it('the manager owning f:spec.f:replicas, the latest when several do', () => {
    const fields = [
      entry('kube-controller-manager', '2026-12-03T10:00:05Z', { 'f:status': { 'f:replicas': {} } }),
      entry('argocd-controller', '2026-12-03T10:00:00Z', replicas, { operation: 'Apply' }),
      entry('kubectl-scale', '2026-12-03T10:00:03Z', replicas, { subresource: 'scale' }),
      entry('kubectl-edit', '2026-12-03T10:00:09Z', { 'f:spec': { 'f:template': {} } }),
    ];
    expect(replicasManagerOf(fields)).toEqual({
      manager: 'kubectl-scale',
      operation: 'Update',
      subresource: 'scale',
      time: '2026-12-03T10:00:03Z',
    });
  });

  it("a custom resource's replicas at another specReplicasPath: a write through /scale owns them (scaleWriters)", () => {
    const fields = [
      entry('operator-of-the-cr', '2026-12-03T10:00:01Z', { 'f:spec': { 'f:size': {}, 'f:image': {} } }),
      entry('jetscale', '2026-12-03T10:00:04Z', { 'f:spec': { 'f:size': {} } }, { subresource: 'scale' }),
      entry('kubectl-edit', '2026-12-03T10:00:09Z', { 'f:spec': { 'f:image': {} } }),
    ];
    expect(replicasManagerOf(fields)).toBeUndefined();
    expect(replicasManagerOf(fields, { scaleWriters: true })).toEqual({
      manager: 'jetscale',
      operation: 'Update',
      subresource: 'scale',
      time: '2026-12-03T10:00:04Z',
    });
  });

  it('ignores what is not a managedFields entry', () => {
    expect(replicasManagerOf(undefined)).toBeUndefined();
    expect(replicasManagerOf('x')).toBeUndefined();
    expect(
      replicasManagerOf([null, 3, { manager: 7, fieldsV1: replicas }, { manager: '', fieldsV1: replicas }]),
    ).toBeUndefined();
    expect(replicasManagerOf([{ manager: 'x'.repeat(500), fieldsV1: replicas }])?.manager).toHaveLength(128);
  });
});

describe('unknownKindMessage: a scaleTargetRef kind the group version does not serve', () => {
  const apps: ApiResource[] = [
    { name: 'deployments', kind: 'Deployment', singularName: 'deployment', shortNames: ['deploy'] },
    { name: 'deployments/scale', kind: 'Scale' },
    { name: 'statefulsets', kind: 'StatefulSet', singularName: 'statefulset', shortNames: ['sts'] },
  ];
  const core: ApiResource[] = [{ name: 'pods', kind: 'Pod', singularName: 'pod', shortNames: ['po'] }];

  it('names the kind meant when only the case or the number differs, or a short name was used', () => {
    for (const kind of ['deployment', 'deployments', 'deploy', 'DEPLOYMENT'])
      expect(unknownKindMessage('apps/v1', kind, apps)).toBe(
        `apps/v1 has no kind ${kind}; did you mean Deployment? (kinds are case-sensitive and singular): fix spec.scaleTargetRef.kind`,
      );
    expect(unknownKindMessage('apps/v1', 'sts', apps)).toContain('did you mean StatefulSet?');
  });

  it('names the group version of a built-in kind written under another (apiVersion: v1)', () => {
    expect(unknownKindMessage('v1', 'Deployment', core)).toBe(
      'v1 has no kind Deployment; Deployment is served by apps/v1: fix spec.scaleTargetRef.apiVersion',
    );
    expect(unknownKindMessage('extensions/v1beta1', 'deployments', [])).toBe(
      'extensions/v1beta1 has no kind deployments; Deployment is served by apps/v1: fix spec.scaleTargetRef.apiVersion and kind',
    );
  });

  it('says only what it knows otherwise', () => {
    expect(unknownKindMessage('apps/v1', 'Rollout', apps)).toBe(
      'apps/v1 has no kind Rollout: fix spec.scaleTargetRef.kind',
    );
  });
});

describe('the controller of a target (ownerReferences with controller: true)', () => {
  it('controllerOf: the entry with controller true, each field validated', () => {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'web',
      uid: 'd1',
      controller: true,
    };
    expect(controllerOf([{ ...deployment, controller: false }, deployment])).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'web',
    });
    expect(controllerOf([{ ...deployment, controller: undefined }])).toBeUndefined();
    expect(controllerOf(undefined)).toBeUndefined();
    expect(controllerOf('x')).toBeUndefined();
    expect(
      controllerOf([null, 3, { controller: true, kind: '', name: 'x' }, { controller: true, kind: 'K' }]),
    ).toBeUndefined();
    expect(controllerOf([{ controller: true, kind: 'K', name: 'n' }])).toEqual({
      apiVersion: '',
      kind: 'K',
      name: 'n',
    });
    expect(controllerOf([{ ...deployment, name: 'x'.repeat(5000) }])?.name).toHaveLength(253);
  });
});
