// Everything in manifests/ and the demo chart against the real local API server: the kustomize
// base for the operator is accepted object by object (server-side dry run), every sample
// EventConsumer is accepted and defaulted, every deliberately broken one is rejected with its CEL
// rule's message, and charts/jetscale-demo installs with NATS switched off.
import * as k8s from '@kubernetes/client-node';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createNamespace, eventually, kubeConfig, testStack, uniqueName } from '../env.js';
import { ensureCrd, helmOnCluster, kubectl, kubectlOk } from './kube.js';
import { demoChartWithNatsStandIn, parseObjects, repoRoot, yamlFilesIn, type KubeObject } from './support.js';
import { testScratchDir } from '../scratch.js';

const crdFile = path.join(repoRoot, 'manifests', 'crd', 'jetscale.io_eventconsumers.yaml');

/** manifests/operator rendered into namespace `ns` through a one-line overlay (the base says jetscale-system). */
async function operatorBaseIn(ns: string): Promise<string> {
  const overlay = testScratchDir('jetscale-overlay-');
  mkdirSync(overlay, { recursive: true });
  const base = path.relative(overlay, path.join(repoRoot, 'manifests', 'operator'));
  writeFileSync(
    path.join(overlay, 'kustomization.yaml'),
    `apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: ${ns}\nresources:\n  - ${base}\n`,
  );
  return kubectlOk(['kustomize', overlay]);
}

describe('manifests/ on the API server', () => {
  let ns: { name: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    await ensureCrd(crdFile);
    ns = await createNamespace('pkg-manifests');
  });
  afterAll(async () => {
    await ns.cleanup();
  });

  it('manifests/operator: the kustomize base builds and the API server accepts every object', async () => {
    const rendered = await operatorBaseIn(ns.name);
    const objects = parseObjects(rendered);
    expect(objects.map((o) => o.kind).sort()).toEqual(
      [
        'ClusterRole',
        'ClusterRoleBinding',
        'CustomResourceDefinition',
        'Deployment',
        'Namespace',
        'PodDisruptionBudget',
        'Role',
        'RoleBinding',
        'Service',
        'ServiceAccount',
      ].sort(),
    );
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], rendered);
    // The test namespace was created without kubectl apply; kubectl warns about that, nothing else.
    const problems = r.stderr
      .split('\n')
      .filter((l) => l.trim() !== '' && !/^Warning: .*last-applied-configuration/.test(l));
    expect({ code: r.code, problems }).toEqual({ code: 0, problems: [] });
    expect(r.stdout.split('\n').filter((l) => l.includes('(server dry run)'))).toHaveLength(objects.length);
  });

  it('manifests/operator: the Deployment runs as the RBAC ServiceAccount and elects on the Lease the Role allows', async () => {
    const objects = parseObjects(await operatorBaseIn(ns.name));
    const deployment = objects.find((o) => o.kind === 'Deployment') as k8s.V1Deployment | undefined;
    const sa = objects.find((o) => o.kind === 'ServiceAccount');
    const role = objects.find((o) => o.kind === 'Role') as k8s.V1Role | undefined;
    const pod = deployment?.spec?.template.spec;
    expect(pod?.serviceAccountName).toBe(sa?.metadata?.name);
    const env = pod?.containers[0]?.env ?? [];
    const leaseName = env.find((e) => e.name === 'JETSCALE_LEASE_NAME')?.value;
    const named = role?.rules?.find((r) => (r.resourceNames ?? []).length > 0);
    expect(named?.resourceNames).toEqual([leaseName]);
    expect(deployment?.spec?.replicas).toBe(2);
    expect(pod?.containers[0]?.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
  });

  it('manifests/rbac/secret_reader_role.yaml (a per-namespace template) is accepted once its namespace is set', async () => {
    const template = readFileSync(
      path.join(repoRoot, 'manifests', 'rbac', 'secret_reader_role.yaml'),
      'utf8',
    );
    const objects = parseObjects(template);
    expect(objects.map((o) => o.kind)).toEqual(['Role', 'RoleBinding']);
    const filled = template.replace(/^(\s+namespace:) my-app$/gm, `$1 ${ns.name}`);
    expect(parseObjects(filled).every((o) => o.metadata?.namespace === ns.name)).toBe(true);
    const r = await kubectl(['apply', '--dry-run=server', '-f', '-'], filled);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
  });

  it.each(yamlFilesIn(path.join(repoRoot, 'manifests', 'samples')).map((f) => [path.basename(f), f]))(
    'manifests/samples/%s is accepted and defaulted by the API server',
    async (_name, file) => {
      const r = await kubectl(['apply', '--dry-run=server', '-n', ns.name, '-f', file, '-o', 'json']);
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      const ec = JSON.parse(r.stdout) as {
        kind: string;
        spec: {
          pollInterval?: string;
          behavior?: { scaleUp?: { policies?: unknown[] } };
          scaleTargetRef: { kind?: string };
        };
      };
      expect(ec.kind).toBe('EventConsumer');
      // The CRD's defaults were applied, so the server really validated it against the schema.
      expect(ec.spec.pollInterval).toMatch(/^[0-9]/);
      expect(ec.spec.scaleTargetRef.kind).toMatch(/^(Deployment|StatefulSet)$/);
      expect(ec.spec.behavior?.scaleUp?.policies?.length).toBeGreaterThan(0);
    },
  );

  it.each(
    yamlFilesIn(path.join(repoRoot, 'test', 'packaging', 'fixtures', 'invalid')).map((f) => [
      path.basename(f),
      f,
    ]),
  )("fixtures/invalid/%s is rejected with its rule's message", async (_name, file) => {
    const expected = /^# Must be rejected by the API server with: (.+)$/m.exec(
      readFileSync(file, 'utf8'),
    )?.[1];
    expect(expected).toBeDefined();
    const r = await kubectl(['apply', '--dry-run=server', '-n', ns.name, '-f', file]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('is invalid');
    expect(r.stderr).toContain(expected ?? '?');
  });
});

describe("helm install charts/jetscale-demo (NATS disabled, the stack's NATS as external)", () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  const release = uniqueName('pkgdemo');

  beforeAll(async () => {
    await ensureCrd(crdFile);
    ns = await createNamespace('pkg-demo');
  });
  afterAll(async () => {
    await helmOnCluster(['uninstall', release, '--namespace', ns.name, '--wait']);
    await ns.cleanup();
  });

  it('installs: the API server accepts the EventConsumer and the gateway/consumer pods reach Running', async () => {
    const suffix = release.split('-')[1] ?? 'x';
    const values = {
      nats: { enabled: false },
      externalNats: { url: testStack().natsUrl },
      jetstream: { stream: `PKGDEMO_${suffix}`, subjectPrefix: `pkgdemo-${suffix}`, replicas: 1 },
      natsAuth: { secretName: 'nats-creds' },
    };
    const valuesPath = path.join(testScratchDir('jetscale-demo-values-'), 'values.json');
    writeFileSync(valuesPath, JSON.stringify(values));
    const r = await helmOnCluster([
      'install',
      release,
      demoChartWithNatsStandIn(),
      '--namespace',
      ns.name,
      '--values',
      valuesPath,
      '--wait',
      '--timeout',
      '180s',
    ]);
    expect({ code: r.code, stderr: r.stderr.replace(/^walk\.go.*\n/gm, '') }).toEqual({
      code: 0,
      stderr: '',
    });

    const manifest = parseObjects(
      (await helmOnCluster(['get', 'manifest', release, '--namespace', ns.name])).stdout,
    );
    expect(manifest.some((o: KubeObject) => o.metadata?.name?.includes('nats-standin-marker'))).toBe(false);
    const custom = kubeConfig().makeApiClient(k8s.CustomObjectsApi);
    const ec = (await custom.getNamespacedCustomObject({
      group: 'jetscale.io',
      version: 'v1alpha1',
      namespace: ns.name,
      plural: 'eventconsumers',
      name: `${release}-jetscale-demo-consumer`,
    })) as {
      spec: {
        nats: { servers: string[]; auth?: { secretRef: { name: string } } };
        scaleTargetRef: { name: string };
        drainWithin: string;
      };
    };
    expect(ec.spec.nats.servers).toEqual([testStack().natsUrl]);
    expect(ec.spec.nats.auth?.secretRef.name).toBe('nats-creds');
    expect(ec.spec.scaleTargetRef.name).toBe(`${release}-jetscale-demo-consumer`);
    expect(ec.spec.drainWithin).toBe('25s');

    const core = kubeConfig().makeApiClient(k8s.CoreV1Api);
    await eventually(
      'gateway (2) and consumer (1) pods Running',
      async () => {
        const pods = await core.listNamespacedPod({
          namespace: ns.name,
          labelSelector: `app.kubernetes.io/instance=${release}`,
        });
        const running = pods.items.filter((p) => p.status?.phase === 'Running');
        const by = (c: string): number =>
          running.filter((p) => p.metadata?.labels?.['app.kubernetes.io/component'] === c).length;
        return by('gateway') === 2 && by('consumer') === 1 ? true : undefined;
      },
      90_000,
      500,
    );
  });
});
