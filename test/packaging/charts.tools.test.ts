// The Helm charts as users meet them: `helm lint --strict` passes, every supported combination of
// values renders, the rendered operator is hardened and highly available, bad values are refused
// with a message that says what to fix, and the chart's CRD is the same file as manifests/crd.
import { jest } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import { lstatSync, readdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import {
  demoChartWithNatsStandIn,
  findObject,
  helm,
  kubernetesVersion,
  operatorChart,
  parseObjects,
  renderChart,
  repoRoot,
  run,
  helmWithValues,
  type KubeObject,
  yamlFilesIn,
} from './support.js';
import { testScratchDir } from '../scratch.js';

// helm, promtool and the scripts are real processes; on a busy 2-core machine they need more than 5 s.
jest.setTimeout(60_000);

const STANDARD_LABELS = [
  'app.kubernetes.io/name',
  'app.kubernetes.io/instance',
  'app.kubernetes.io/version',
  'app.kubernetes.io/managed-by',
  'helm.sh/chart',
];

function operatorContainer(objects: KubeObject[]): k8s.V1Container {
  const deployment = findObject<k8s.V1Deployment>(objects, 'Deployment');
  const container = deployment.spec?.template.spec?.containers[0];
  if (container === undefined) throw new Error('the operator Deployment has no container');
  return container;
}

function envValue(container: k8s.V1Container, name: string): string | undefined {
  return container.env?.find((e) => e.name === name)?.value;
}

async function expectRefused(chart: string, values: unknown, message: RegExp): Promise<void> {
  const r = await helmWithValues(['template', 'bad', chart, '--kube-version', kubernetesVersion], values);
  expect(r.code).not.toBe(0);
  expect(r.stderr).toMatch(message);
}

describe('charts/jetscale', () => {
  it('passes helm lint --strict', async () => {
    const r = await helm(['lint', '--strict', operatorChart, '--kube-version', kubernetesVersion]);
    expect(r.stderr + r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
    expect(r.code).toBe(0);
  });

  // helm's release builds stamp the Kubernetes version `helm template` assumes without
  // --kube-version (their client-go's); an unstamped build assumes v1.20.0 and refuses the chart.
  it('renders and lints without --kube-version, as with a released helm', async () => {
    const t = await helm(['template', 'plain', operatorChart]);
    // (helm notes on stderr that the CRD is a symlink it followed; that is all it may say.)
    expect({
      code: t.code,
      errors: t.stderr.split('\n').filter((l) => l !== '' && !/symbolic link/.test(l)),
    }).toEqual({
      code: 0,
      errors: [],
    });
    expect(parseObjects(t.stdout).some((o) => o.kind === 'Deployment')).toBe(true);
    const l = await helm(['lint', '--strict', operatorChart]);
    expect({ code: l.code, out: l.stderr + l.stdout }).toEqual({
      code: 0,
      out: expect.stringContaining('1 chart(s) linted, 0 chart(s) failed') as unknown,
    });
  });

  it('ships the CRD of manifests/crd itself (a symlink: one source of truth)', async () => {
    const sourceDir = path.join(repoRoot, 'manifests', 'crd');
    const sources = readdirSync(sourceDir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect(readdirSync(path.join(operatorChart, 'crds')).sort()).toEqual(sources.sort());
    for (const file of sources) {
      const link = path.join(operatorChart, 'crds', file);
      expect(lstatSync(link).isSymbolicLink()).toBe(true);
      expect(realpathSync(link)).toBe(realpathSync(path.join(sourceDir, file)));
    }
    // A packaged chart (what a chart repository serves) carries the file's content, not the link.
    const out = testScratchDir('jetscale-package-');
    const r = await helm(['package', operatorChart, '--destination', out]);
    expect(r.code).toBe(0);
    const tgz = readdirSync(out).find((f) => f.endsWith('.tgz')) ?? '';
    const unpacked = testScratchDir('jetscale-unpacked-');
    expect((await run('tar', ['xzf', path.join(out, tgz), '-C', unpacked])).code).toBe(0);
    for (const file of sources) {
      const packaged = path.join(unpacked, 'jetscale', 'crds', file);
      expect(lstatSync(packaged).isSymbolicLink()).toBe(false);
      expect(readFileSync(packaged, 'utf8')).toBe(readFileSync(path.join(sourceDir, file), 'utf8'));
    }
  });

  it('takes values on stdin and leaves nothing behind in the temporary directory', async () => {
    // In a process of its own with TMPDIR pointing at an empty directory: jest's process.env is a
    // copy, which os.tmpdir() in this process never reads.
    const tmp = testScratchDir('jetscale-tmpdir-check-');
    const script = path.join(testScratchDir('jetscale-tmpdir-script-'), 'render.mts');
    writeFileSync(
      script,
      `import { operatorChart, renderChart } from ${JSON.stringify(path.join(repoRoot, 'test', 'packaging', 'support.ts'))};\n` +
        'const objects = await renderChart(operatorChart, { replicaCount: 3 });\n' +
        "console.log(JSON.stringify(objects.find((o) => o.kind === 'Deployment')?.spec));\n",
    );
    const r = await run(path.join(repoRoot, 'node_modules', '.bin', 'tsx'), [script], {
      env: { ...process.env, TMPDIR: tmp },
    });
    expect(r.stderr).toBe('');
    expect((JSON.parse(r.stdout) as k8s.V1DeploymentSpec).replicas).toBe(3);
    // helm's isolated home (helmEnv) is shared by every run on purpose; nothing else of ours may
    // stay (tsx keeps its compile cache there too).
    const ours = readdirSync(tmp).filter((n) => n.startsWith('jetscale-') && n !== 'jetscale-packaging-helm');
    expect(ours).toEqual([]);
  });

  it('renders a highly available, hardened operator by default', async () => {
    const objects = await renderChart(operatorChart);
    const deployment = findObject<k8s.V1Deployment>(objects, 'Deployment');
    expect(deployment.spec?.replicas).toBe(2);
    expect(deployment.spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
    const pod = deployment.spec?.template.spec;
    expect(pod?.securityContext?.runAsNonRoot).toBe(true);
    expect(pod?.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
    const c = operatorContainer(objects);
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(c.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(c.readinessProbe?.httpGet?.path).toBe('/readyz');
    // Found on a real kubelet short of CPU: without a startup probe, liveness killed slow starts in a loop.
    expect(c.startupProbe?.httpGet?.path).toBe('/healthz');
    expect(
      (c.startupProbe?.periodSeconds ?? 0) * (c.startupProbe?.failureThreshold ?? 0),
    ).toBeGreaterThanOrEqual(60);
    expect(c.resources?.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    expect(c.resources?.limits).toMatchObject({ memory: expect.any(String) });
    expect(envValue(c, 'JETSCALE_LEADER_ELECTION')).toBe('true');
    expect(envValue(c, 'JETSCALE_METRICS_PORT')).toBe('8080');
    expect(c.ports?.[0]?.containerPort).toBe(8080);

    const pdb = findObject<k8s.V1PodDisruptionBudget>(objects, 'PodDisruptionBudget');
    expect(pdb.spec?.minAvailable).toBe(1);
    expect(pdb.spec?.selector?.matchLabels).toEqual(deployment.spec?.selector.matchLabels);
    const service = findObject<k8s.V1Service>(objects, 'Service', 'metrics');
    expect(service.spec?.selector).toEqual(deployment.spec?.selector.matchLabels);
    expect(service.spec?.ports?.[0]?.name).toBe('http-metrics');
    const kinds = objects.map((o) => o.kind);
    for (const k of [
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
      'Role',
      'RoleBinding',
      'ConfigMap',
    ]) {
      expect(kinds).toContain(k);
    }
    expect(kinds).not.toContain('NetworkPolicy');
    expect(kinds).not.toContain('ServiceMonitor');
    expect(kinds).not.toContain('PrometheusRule');
  });

  it('ships the alert rules file as a PrometheusRule when asked, with extra alert labels', async () => {
    const objects = await renderChart(operatorChart, {
      prometheusRule: { enabled: true, labels: { release: 'kps' }, additionalLabels: { team: 'payments' } },
    });
    type Rule = {
      alert: string;
      expr: string;
      for: string;
      labels: Record<string, string>;
      annotations: unknown;
    };
    const pr = findObject<KubeObject & { spec: { groups: Array<{ name: string; rules: Rule[] }> } }>(
      objects,
      'PrometheusRule',
    );
    expect(pr.metadata?.labels?.release).toBe('kps');
    const file = k8s.loadYaml<{ groups: Array<{ name: string; rules: Rule[] }> }>(
      readFileSync(path.join(operatorChart, 'alerts', 'jetscale-rules.yaml'), 'utf8'),
    );
    expect(file.groups.flatMap((g) => g.rules).length).toBeGreaterThan(5);
    expect(pr.spec.groups).toEqual(
      file.groups.map((g) => ({
        name: g.name,
        rules: g.rules.map((r) => ({ ...r, labels: { ...r.labels, team: 'payments' } })),
      })),
    );
  });

  it("grants no more than manifests/rbac, the reviewed source of the operator's permissions", async () => {
    // (group, resource, verb, limited to named objects?) for every rule of every Role/ClusterRole.
    type Grant = { group: string; resource: string; verb: string; named: boolean };
    const grants = (objects: KubeObject[], kind: string): Grant[] =>
      objects
        .filter((o) => o.kind === kind)
        .flatMap((o) => (o as unknown as k8s.V1ClusterRole).rules ?? [])
        .flatMap((r) =>
          (r.apiGroups ?? []).flatMap((group) =>
            (r.resources ?? []).flatMap((resource) =>
              r.verbs.map((verb) => ({ group, resource, verb, named: (r.resourceNames ?? []).length > 0 })),
            ),
          ),
        );
    const source = yamlFilesIn(path.join(repoRoot, 'manifests', 'rbac')).flatMap((f) =>
      parseObjects(readFileSync(f, 'utf8')),
    );
    const chart = await renderChart(operatorChart, {
      rbac: { secretReaders: [{ namespace: 'orders', secrets: ['nats-auth'] }] },
    });
    // The opt-in takeover fence within manifests/rbac too (its fence_targets_role.yaml).
    const fenced = await renderChart(operatorChart, { leaderElection: { fenceTargets: true } });
    for (const [kind, objects] of [
      ['ClusterRole', chart],
      ['Role', chart],
      ['ClusterRole', fenced],
    ] as const) {
      const allowed = grants(source, kind);
      const rendered = grants(objects, kind);
      expect(rendered.length).toBeGreaterThan(0);
      const beyond = rendered.filter(
        (g) =>
          !allowed.some(
            (a) =>
              a.group === g.group && a.resource === g.resource && a.verb === g.verb && (!a.named || g.named),
          ),
      );
      expect({ kind, beyond }).toEqual({ kind, beyond: [] });
    }
    // Secrets only by name, only through the per-namespace Roles.
    expect(grants(chart, 'ClusterRole').some((g) => g.resource === 'secrets')).toBe(false);
    expect(grants(chart, 'Role').filter((g) => g.resource === 'secrets')).toEqual([
      { group: '', resource: 'secrets', verb: 'get', named: true },
    ]);
  });

  it('grants patch on the target objects themselves only with leaderElection.fenceTargets (the opt-in takeover fence), and turns it on in the operator', async () => {
    const patchesTargets = (objects: KubeObject[]): string[] =>
      objects
        .filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')
        .flatMap((o) => (o as unknown as k8s.V1ClusterRole).rules ?? [])
        .filter((r) => r.verbs.includes('patch'))
        .flatMap((r) => (r.resources ?? []).flatMap((res) => (r.apiGroups ?? []).map((g) => `${res}.${g}`)))
        .filter((res) => /^(deployments|statefulsets|rollouts)\./.test(res))
        .sort();
    const operator = (objects: KubeObject[]): k8s.V1Container =>
      findObject<k8s.V1Deployment>(objects, 'Deployment').spec?.template.spec
        ?.containers[0] as k8s.V1Container;
    const scaleTargets = [{ apiGroup: 'argoproj.io', resource: 'rollouts' }];
    // Off (the default): no patch on the objects (only on their /scale), nothing set.
    const off = await renderChart(operatorChart, { rbac: { scaleTargets } });
    expect(patchesTargets(off)).toEqual([]);
    expect(envValue(operator(off), 'JETSCALE_FENCE_TARGETS')).toBeUndefined();
    const on = await renderChart(operatorChart, {
      rbac: { scaleTargets },
      leaderElection: { fenceTargets: true },
    });
    expect(patchesTargets(on)).toEqual(['deployments.apps', 'rollouts.argoproj.io', 'statefulsets.apps']);
    expect(envValue(operator(on), 'JETSCALE_FENCE_TARGETS')).toBe('true');
    // With watchNamespaces: in each watched namespace's Role, as the other rules.
    const scoped = await renderChart(operatorChart, {
      watchNamespaces: ['a', 'b'],
      leaderElection: { fenceTargets: true },
    });
    expect(patchesTargets(scoped)).toEqual([
      'deployments.apps',
      'deployments.apps',
      'statefulsets.apps',
      'statefulsets.apps',
    ]);
  });

  it('with watchNamespaces grants only there: the same rules as a Role in each watched namespace, cluster-wide only the registry of installations', async () => {
    // Before, an install watching some namespaces still got the ClusterRole: it could read and
    // scale Deployments in every namespace, and installing it needed a cluster admin.
    const clusterRole = findObject<k8s.V1ClusterRole>(await renderChart(operatorChart, {}), 'ClusterRole');
    const objects = await renderChart(operatorChart, {
      watchNamespaces: ['a', 'b'],
      rbac: { secretReaders: [{ namespace: 'a', secrets: ['nats-auth'] }] },
    });
    // Cluster-wide only the registry of installations: get/patch of the EventConsumer CRD, by name.
    const clusterWide = objects.filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding');
    expect(clusterWide.map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([
      `ClusterRole/${clusterRole.metadata?.name}-installations`,
      `ClusterRoleBinding/${clusterRole.metadata?.name}-installations`,
    ]);
    expect((clusterWide[0] as unknown as k8s.V1ClusterRole).rules).toEqual([
      {
        apiGroups: ['apiextensions.k8s.io'],
        resources: ['customresourcedefinitions'],
        resourceNames: ['eventconsumers.jetscale.io'],
        verbs: ['get', 'patch'],
      },
    ]);
    const serviceAccount = findObject<k8s.V1ServiceAccount>(objects, 'ServiceAccount');
    for (const namespace of ['a', 'b']) {
      const role = objects.find(
        (o) =>
          o.kind === 'Role' &&
          o.metadata?.namespace === namespace &&
          o.metadata.name === clusterRole.metadata?.name,
      ) as k8s.V1Role | undefined;
      expect(role?.rules).toEqual(clusterRole.rules);
      const binding = objects.find(
        (o) =>
          o.kind === 'RoleBinding' &&
          o.metadata?.namespace === namespace &&
          o.metadata.name === role?.metadata?.name,
      ) as k8s.V1RoleBinding | undefined;
      expect(binding?.roleRef).toEqual({
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'Role',
        name: role?.metadata?.name,
      });
      expect(binding?.subjects).toEqual([
        { kind: 'ServiceAccount', name: serviceAccount.metadata?.name, namespace: 'pkgtest-ns' },
      ]);
    }
    // The release namespace keeps only its Lease's Role; nothing of the operator's rules there.
    expect(
      objects
        .filter((o) => o.kind === 'Role' && o.metadata?.namespace === 'pkgtest-ns')
        .map((o) => o.metadata?.name),
    ).toEqual([`${clusterRole.metadata?.name}-leader-election`]);
  });

  it('grants each rbac.scaleTargets kind its /scale (get, patch) and get on the object, and nothing more', async () => {
    const rules = (objects: KubeObject[]): k8s.V1PolicyRule[] =>
      (findObject<k8s.V1ClusterRole>(objects, 'ClusterRole').rules ?? []).map((r) => ({
        apiGroups: r.apiGroups,
        resources: r.resources,
        verbs: r.verbs,
      }));
    const plain = rules(await renderChart(operatorChart, {}));
    const extended = rules(
      await renderChart(operatorChart, {
        rbac: {
          scaleTargets: [
            { apiGroup: 'argoproj.io', resource: 'rollouts' },
            { apiGroup: '', resource: 'replicationcontrollers' },
          ],
        },
      }),
    );
    const added = extended.filter((r) => !plain.some((p) => JSON.stringify(p) === JSON.stringify(r)));
    expect(added).toEqual([
      { apiGroups: ['argoproj.io'], resources: ['rollouts/scale'], verbs: ['get', 'patch'] },
      { apiGroups: ['argoproj.io'], resources: ['rollouts'], verbs: ['get'] },
      { apiGroups: [''], resources: ['replicationcontrollers/scale'], verbs: ['get', 'patch'] },
      { apiGroups: [''], resources: ['replicationcontrollers'], verbs: ['get'] },
    ]);
    expect(extended.length).toBe(plain.length + 4);
  });

  it('puts the standard app.kubernetes.io labels on every object', async () => {
    const objects = await renderChart(operatorChart, {
      serviceMonitor: { enabled: true },
      podMonitor: { enabled: true },
      networkPolicy: { enabled: true },
    });
    for (const o of objects) {
      for (const label of STANDARD_LABELS) {
        expect({
          object: `${o.kind}/${o.metadata?.name}`,
          label,
          has: o.metadata?.labels?.[label] !== undefined,
        }).toEqual({
          object: `${o.kind}/${o.metadata?.name}`,
          label,
          has: true,
        });
      }
    }
  });

  it.each([
    ['defaults', {}],
    [
      'single replica without leader election or PDB',
      { replicaCount: 1, leaderElection: { enabled: false }, podDisruptionBudget: { enabled: false } },
    ],
    [
      'ServiceMonitor with a release label',
      { serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } } },
    ],
    ['PodMonitor', { podMonitor: { enabled: true } }],
    [
      'NetworkPolicy with peers',
      {
        networkPolicy: {
          enabled: true,
          apiServerCIDRs: ['10.96.0.1/32'],
          natsTo: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'nats' } } }],
        },
      },
    ],
    [
      'no dashboards, existing ServiceAccount',
      { dashboards: { enabled: false }, serviceAccount: { create: false, name: 'ops-sa' } },
    ],
    [
      'watch some namespaces, 3 replicas, PDB 2',
      { watchNamespaces: ['a', 'b'], replicaCount: 3, podDisruptionBudget: { minAvailable: 2 } },
    ],
    [
      'dashboards elsewhere, custom image',
      {
        dashboards: { namespace: 'monitoring' },
        image: { repository: 'registry.example/jetscale', tag: 'v9', pullPolicy: 'Never' },
      },
    ],
  ])('renders with %s', async (_name, values) => {
    const objects = await renderChart(operatorChart, values);
    expect(objects.length).toBeGreaterThan(3);
    findObject(objects, 'Deployment');
  });

  it('wires values into the operator: namespaces, lease, image, monitors, NetworkPolicy', async () => {
    const objects = await renderChart(operatorChart, {
      watchNamespaces: ['a', 'b'],
      leaderElection: { leaseName: 'my-lease', leaseDurationSeconds: 20 },
      image: { repository: 'registry.example/jetscale', tag: 'v9' },
      serviceMonitor: { enabled: true, labels: { release: 'kps' } },
      networkPolicy: { enabled: true, natsPorts: [4222, 7422] },
      dashboards: { namespace: 'monitoring' },
    });
    const c = operatorContainer(objects);
    expect(c.image).toBe('registry.example/jetscale:v9');
    expect(envValue(c, 'JETSCALE_NAMESPACES')).toBe('a,b');
    expect(envValue(c, 'JETSCALE_LEASE_NAME')).toBe('my-lease');
    expect(envValue(c, 'JETSCALE_LEASE_DURATION_SECONDS')).toBe('20');
    const sm = findObject(objects, 'ServiceMonitor');
    expect(sm.metadata?.labels?.release).toBe('kps');
    expect(JSON.stringify(sm)).toContain('"honorLabels":true');
    const np = findObject<k8s.V1NetworkPolicy>(objects, 'NetworkPolicy');
    expect(JSON.stringify(np.spec?.egress)).toContain('7422');
    expect(findObject(objects, 'ConfigMap', 'dashboard').metadata?.namespace).toBe('monitoring');
  });

  it('defaults the image tag to the chart appVersion', async () => {
    const chartYaml = readFileSync(path.join(operatorChart, 'Chart.yaml'), 'utf8');
    const appVersion = /^appVersion:\s*'?"?([^'"\n]+)/m.exec(chartYaml)?.[1];
    expect(operatorContainer(await renderChart(operatorChart)).image).toBe(`jetscale/operator:${appVersion}`);
  });

  it('ships every dashboard as a ConfigMap for the Grafana sidecar', async () => {
    const objects = await renderChart(operatorChart);
    const files = readdirSync(path.join(operatorChart, 'dashboards')).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const cm = objects.find(
        (o): o is KubeObject & { data: Record<string, string> } =>
          o.kind === 'ConfigMap' && typeof o.data === 'object' && o.data !== null && file in o.data,
      );
      expect(cm?.metadata?.labels?.grafana_dashboard).toBe('1');
      const shipped: unknown = JSON.parse(cm?.data[file] ?? 'null');
      expect(shipped).toEqual(JSON.parse(readFileSync(path.join(operatorChart, 'dashboards', file), 'utf8')));
    }
  });

  it('refuses Kubernetes versions older than the oldest make test-compat proved (v1.27)', async () => {
    const r = await helm(['template', 'old', operatorChart, '--kube-version', 'v1.26.15']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(
      /chart requires kubeVersion: >=1\.27\.0-0 which is incompatible with Kubernetes v1\.26\.15/,
    );
    const proven = await helm(['template', 'proven', operatorChart, '--kube-version', 'v1.27.16']);
    expect(proven.code).toBe(0);
    expect(proven.stderr).not.toMatch(/kubeVersion/);
  });

  it.each([
    ['zero replicas', { replicaCount: 0 }, /at '\/replicaCount': minimum: got 0, want 1/],
    ['a misspelt key', { replicasCount: 2 }, /additional properties 'replicasCount' not allowed/],
    [
      'an unknown pull policy',
      { image: { pullPolicy: 'Sometimes' } },
      /at '\/image\/pullPolicy': value must be one of 'Always', 'IfNotPresent', 'Never'/,
    ],
    [
      'a writable root filesystem',
      { securityContext: { readOnlyRootFilesystem: false } },
      /at '\/securityContext\/readOnlyRootFilesystem': value must be true/,
    ],
    [
      'privilege escalation',
      { securityContext: { allowPrivilegeEscalation: true } },
      /at '\/securityContext\/allowPrivilegeEscalation': value must be false/,
    ],
    [
      'running as root',
      { podSecurityContext: { runAsNonRoot: false } },
      /at '\/podSecurityContext\/runAsNonRoot': value must be true/,
    ],
    [
      'a memory limit that is not a quantity',
      { resources: { limits: { memory: 'lots' } } },
      /at '\/resources\/limits\/memory'.*'lots' does not match pattern/s,
    ],
    [
      'an unknown log level',
      { logLevel: 'loud' },
      /at '\/logLevel': value must be one of 'debug', 'info', 'warn', 'error'/,
    ],
    [
      'a bad namespace name',
      { watchNamespaces: ['Bad_NS'] },
      /at '\/watchNamespaces\/0': 'Bad_NS' does not match pattern/,
    ],
    [
      'a ServiceAccount neither created nor named',
      { serviceAccount: { create: false } },
      /at '\/serviceAccount\/name': minLength: got 0, want 1/,
    ],
    [
      'two replicas without leader election',
      { leaderElection: { enabled: false } },
      /replicaCount=2 needs leaderElection.enabled=true/,
    ],
    [
      'lease timings that cannot keep a leader',
      { leaderElection: { renewDeadlineSeconds: 20 } },
      /retryPeriodSeconds \(2\) < renewDeadlineSeconds \(20\) < leaseDurationSeconds \(15\)/,
    ],
    [
      'a PDB that blocks every drain',
      { replicaCount: 1, podDisruptionBudget: { minAvailable: 1 } },
      /podDisruptionBudget.minAvailable \(1\) must be below replicaCount \(1\)/,
    ],
    [
      'a wildcard scale target',
      { rbac: { scaleTargets: [{ apiGroup: '*', resource: '*' }] } },
      /at '\/rbac\/scaleTargets\/0\/apiGroup': '\*' does not match pattern/,
    ],
    [
      'a scale target named with its subresource',
      { rbac: { scaleTargets: [{ apiGroup: 'argoproj.io', resource: 'rollouts/scale' }] } },
      /at '\/rbac\/scaleTargets\/0\/resource': 'rollouts\/scale' does not match pattern/,
    ],
    [
      'a scale target without its API group',
      { rbac: { scaleTargets: [{ resource: 'rollouts' }] } },
      /at '\/rbac\/scaleTargets\/0': missing property 'apiGroup'/,
    ],
    // A duplicate env name is not an error for the API server: the last one wins, so the operator
    // would listen on 9999 while the probes and the Service use http.port, and never become ready.
    [
      'an extraEnv entry for a setting the chart owns',
      {
        extraEnv: [
          { name: 'TZ', value: 'UTC' },
          { name: 'JETSCALE_METRICS_PORT', value: '9999' },
        ],
      },
      /extraEnv\[1\] JETSCALE_METRICS_PORT is set by the chart from http\.port: set http\.port instead/,
    ],
    [
      'the takeover fence without leader election',
      { replicaCount: 1, leaderElection: { enabled: false, fenceTargets: true } },
      /leaderElection\.fenceTargets needs leaderElection\.enabled=true/,
    ],
    [
      'an extraEnv entry turning the takeover fence on without its RBAC',
      { extraEnv: [{ name: 'JETSCALE_FENCE_TARGETS', value: 'true' }] },
      /extraEnv\[0\] JETSCALE_FENCE_TARGETS is set by the chart from leaderElection\.fenceTargets: set leaderElection\.fenceTargets instead/,
    ],
    [
      'an extraEnv entry for the namespaces the chart grants',
      { extraEnv: [{ name: 'JETSCALE_NAMESPACES', value: 'orders' }] },
      /extraEnv\[0\] JETSCALE_NAMESPACES is set by the chart from watchNamespaces: set watchNamespaces instead/,
    ],
  ])('refuses %s with a clear message', async (_name, values, message) => {
    await expectRefused(operatorChart, values, message);
  });
});

describe('charts/jetscale-demo', () => {
  // See demoChartWithNatsStandIn: the real NATS chart is fetched by `helm dependency update`.
  const chart = demoChartWithNatsStandIn();
  const external = { nats: { enabled: false }, externalNats: { url: 'nats://nats.shared.svc:4222' } };

  it('declares the official NATS chart as a dependency switched by nats.enabled', () => {
    const chartYaml = readFileSync(path.join(repoRoot, 'charts', 'jetscale-demo', 'Chart.yaml'), 'utf8');
    expect(chartYaml).toMatch(
      /- name: nats\n\s+version: '>=1\.2\.0 <2\.0\.0'\n\s+repository: https:\/\/nats-io\.github\.io\/k8s\/helm\/charts\/\n\s+condition: nats\.enabled/,
    );
  });

  it('passes helm lint --strict', async () => {
    for (const values of [{}, external]) {
      const r = await helmWithValues(
        ['lint', '--strict', chart, '--kube-version', kubernetesVersion],
        values,
      );
      expect(r.stderr + r.stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
      expect(r.code).toBe(0);
    }
  });

  it('renders NATS only when nats.enabled, and points the workloads at it', async () => {
    const bundled = await renderChart(chart);
    expect(bundled.some((o) => o.metadata?.name === 'pkgtest-nats-standin-marker')).toBe(true);
    const gateway = findObject<k8s.V1Deployment>(bundled, 'Deployment', 'gateway');
    const natsUrl = gateway.spec?.template.spec?.containers[0]?.env?.find(
      (e) => e.name === 'NATS_URL',
    )?.value;
    expect(natsUrl).toBe('nats://pkgtest-nats.pkgtest-ns.svc:4222');

    const withExternal = await renderChart(chart, external);
    expect(withExternal.some((o) => o.metadata?.name === 'pkgtest-nats-standin-marker')).toBe(false);
    const ec = findObject<
      KubeObject & {
        spec: {
          nats: { servers: string[]; stream: string; consumer: string };
          scaleTargetRef: { name: string };
        };
      }
    >(withExternal, 'EventConsumer');
    expect(ec.spec.nats.servers).toEqual(['nats://nats.shared.svc:4222']);
    expect(ec.spec.nats).toMatchObject({ stream: 'EVENTS', consumer: 'processor' });
    const consumer = findObject<k8s.V1Deployment>(withExternal, 'Deployment', 'consumer');
    expect(ec.spec.scaleTargetRef.name).toBe(consumer.metadata?.name);
    // jetscale owns the consumer's replica count; helm upgrade must not reset it.
    expect(consumer.spec?.replicas).toBeUndefined();
  });

  it('holds liveness off until gateway and consumer first answer (a slow start on a busy node is not killed)', async () => {
    const objects = await renderChart(chart, external);
    for (const component of ['gateway', 'consumer']) {
      const c = findObject<k8s.V1Deployment>(objects, 'Deployment', component).spec?.template.spec
        ?.containers[0];
      expect({ component, path: c?.startupProbe?.httpGet?.path }).toEqual({ component, path: '/healthz' });
      const budget = (c?.startupProbe?.periodSeconds ?? 0) * (c?.startupProbe?.failureThreshold ?? 0);
      expect({ component, budgetAtLeast60: budget >= 60 }).toEqual({ component, budgetAtLeast60: true });
    }
  });

  it('runs the gateway as production would: 2 replicas, a PodDisruptionBudget, a readiness probe a busy pod passes', async () => {
    const objects = await renderChart(chart, external);
    const gateway = findObject<k8s.V1Deployment>(objects, 'Deployment', 'gateway');
    expect(gateway.spec?.replicas).toBe(2);
    const ready = gateway.spec?.template.spec?.containers[0]?.readinessProbe;
    expect(ready?.httpGet?.path).toBe('/readyz');
    // Out of the Service only after ≥ 9 s of misses of ≥ 3 s each (the default timeout is 1 s).
    expect(ready?.timeoutSeconds ?? 1).toBeGreaterThanOrEqual(3);
    expect((ready?.periodSeconds ?? 10) * (ready?.failureThreshold ?? 3)).toBeGreaterThanOrEqual(9);
    const pdb = findObject<k8s.V1PodDisruptionBudget>(objects, 'PodDisruptionBudget', 'gateway');
    expect(pdb.spec?.minAvailable).toBe(1);
    expect(pdb.spec?.selector?.matchLabels).toEqual(gateway.spec?.selector.matchLabels);
    // A budget on a single gateway would block every node drain: none then.
    const single = await renderChart(chart, { ...external, gateway: { replicas: 1 } });
    expect(single.some((o) => o.kind === 'PodDisruptionBudget')).toBe(false);
  });

  it('gives gateway and consumer the same JetStream names as the EventConsumer', async () => {
    const objects = await renderChart(chart, {
      ...external,
      jetstream: { stream: 'ORDERS', consumer: 'worker', replicas: 1, subjectPrefix: 'orders' },
    });
    const cm = findObject<k8s.V1ConfigMap>(objects, 'ConfigMap', 'jetstream');
    expect(cm.data).toMatchObject({
      EVENTS_STREAM: 'ORDERS',
      CONSUMER_NAME: 'worker',
      STREAM_REPLICAS: '1',
      EVENTS_SUBJECT_PREFIX: 'orders',
    });
    for (const component of ['gateway', 'consumer']) {
      const d = findObject<k8s.V1Deployment>(objects, 'Deployment', component);
      expect(d.spec?.template.spec?.containers[0]?.envFrom?.[0]?.configMapRef?.name).toBe(cm.metadata?.name);
    }
    const ec = findObject<KubeObject & { spec: { nats: unknown } }>(objects, 'EventConsumer');
    expect(ec.spec.nats).toMatchObject({ stream: 'ORDERS', consumer: 'worker' });
  });

  it('puts the standard app.kubernetes.io labels on every object', async () => {
    for (const o of await renderChart(chart, { monitoring: { podMonitor: { enabled: true } } })) {
      if (o.metadata?.name === 'pkgtest-nats-standin-marker') continue;
      for (const label of STANDARD_LABELS)
        expect(`${o.kind}/${o.metadata?.name} ${label}=${o.metadata?.labels?.[label] !== undefined}`).toBe(
          `${o.kind}/${o.metadata?.name} ${label}=true`,
        );
    }
  });

  it.each([
    ['defaults (bundled NATS)', {}],
    ['external NATS with credentials', { ...external, natsAuth: { secretName: 'nats-creds' } }],
    [
      'without the EventConsumer',
      { ...external, eventConsumer: { enabled: false }, consumer: { replicas: 3 } },
    ],
    [
      'NodePort gateway and PodMonitor (kind)',
      { gateway: { service: { type: 'NodePort' } }, monitoring: { podMonitor: { enabled: true } } },
    ],
    [
      'tuned EventConsumer',
      {
        ...external,
        eventConsumer: {
          minReplicas: 0,
          maxReplicas: 50,
          behavior: { cooldownPeriod: '5m' },
          predictive: { enabled: true },
        },
      },
    ],
  ])('renders with %s', async (_name, values) => {
    const objects = await renderChart(chart, values);
    findObject(objects, 'Deployment', 'gateway');
    findObject(objects, 'Deployment', 'consumer');
  });

  it.each([
    [
      'NATS off without a URL',
      { nats: { enabled: false } },
      /externalNats.url is required when nats.enabled is false/,
    ],
    [
      'a non-NATS URL',
      { ...external, externalNats: { url: 'http://nats:4222' } },
      /at '\/externalNats\/url': 'http:\/\/nats:4222' does not match pattern/,
    ],
    [
      'a stream name with a dot',
      { jetstream: { stream: 'orders.v1' } },
      /at '\/jetstream\/stream': 'orders.v1' does not match pattern/,
    ],
    [
      'more stream replicas than NATS servers',
      { jetstream: { replicas: 4 } },
      /jetstream.replicas \(4\) cannot exceed the NATS servers nats.config.cluster.replicas \(3\)/,
    ],
    [
      'minReplicas above maxReplicas',
      { ...external, eventConsumer: { minReplicas: 30, maxReplicas: 20 } },
      /eventConsumer.minReplicas \(30\) must not exceed eventConsumer.maxReplicas \(20\)/,
    ],
    [
      'a bad poll interval',
      { ...external, eventConsumer: { pollInterval: 'often' } },
      /at '\/eventConsumer\/pollInterval': 'often' does not match pattern/,
    ],
  ])('refuses %s with a clear message', async (_name, values, message) => {
    await expectRefused(chart, values, message);
  });

  it('cannot render from the repository until `helm dependency update` fetched NATS (documented kind path)', async () => {
    const r = await helm([
      'template',
      'x',
      path.join(repoRoot, 'charts', 'jetscale-demo'),
      '--kube-version',
      kubernetesVersion,
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/missing in charts\/ directory: nats/);
    const up = readFileSync(path.join(repoRoot, 'hack', 'kind', 'up.sh'), 'utf8');
    expect(up).toMatch(/helm dependency update "\$ROOT\/charts\/jetscale-demo"/);
  });
});

// parseObjects is exercised above; keep it honest on an empty stream too.
test('parseObjects skips comment-only documents and refuses duplicated keys', () => {
  expect(
    parseObjects('---\n# Source: x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n'),
  ).toHaveLength(1);
  expect(() => parseObjects('apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n')).toThrow(
    /duplicated mapping key/,
  );
});
