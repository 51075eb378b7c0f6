// charts/jetscale installed with `helm install` into the real local API server: every object is
// accepted, the CRD is Established, the two operator pods reach Running (kwok plays the kubelet;
// no image is pulled). Then the chart's RBAC is proven sufficient and no more: the real operator,
// run as a local process with only a TokenRequest token of the chart's ServiceAccount, scales a
// Deployment from a real JetStream backlog, and requests outside the rules are denied.
import * as k8s from '@kubernetes/client-node';
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { diesWithThisProcess } from '../../hack/stack/dies-with-parent.js';
import { createServer } from 'node:net';
import path from 'node:path';
import { createNamespace, eventually, kubeConfig, testStack, uniqueName } from '../env.js';
import { EXTERNAL_SERIES, dashboardQueries, loadDashboards, metricNames, namesInScrape } from './promql.js';
import { canI, ensureCrd, helmOnCluster, kubectlOk, serviceAccountKubeconfig } from './kube.js';
import { compiledOperatorEntry } from '../../operator/test/compiled-operator.js';
import { operatorChart, parseObjects, repoRoot } from './support.js';

const crdFile = path.join(repoRoot, 'manifests', 'crd', 'jetscale.io_eventconsumers.yaml');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === 'object' && addr !== null ? resolve(addr.port) : reject(new Error('no port')),
      );
    });
  });
}

describe('helm install charts/jetscale', () => {
  let release = '';
  let releaseNs: { name: string; cleanup: () => Promise<void> };
  let workNs: { name: string; cleanup: () => Promise<void> };
  let serviceAccount = '';
  let installOutput = '';
  const kc = kubeConfig();
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);

  beforeAll(async () => {
    await ensureCrd(crdFile);
    releaseNs = await createNamespace('pkg-op');
    workNs = await createNamespace('pkg-work');
    release = uniqueName('pkgop');
    const r = await helmOnCluster([
      'install',
      release,
      operatorChart,
      '--namespace',
      releaseNs.name,
      '--set',
      'networkPolicy.enabled=true',
      '--set',
      `rbac.secretReaders[0].namespace=${workNs.name}`,
      '--set',
      'rbac.secretReaders[0].secrets={nats-auth}',
      // Another kind with /scale that every API server serves (a CRD's kind works the same way).
      '--set-string',
      'rbac.scaleTargets[0].apiGroup=',
      '--set',
      'rbac.scaleTargets[0].resource=replicationcontrollers',
      '--wait',
      '--timeout',
      '180s',
    ]);
    if (r.code !== 0) throw new Error(`helm install failed:\n${r.stderr}${r.stdout}`);
    installOutput = r.stdout;
    serviceAccount = `${release}-jetscale`;
  });

  let uninstalled = false;
  afterAll(async () => {
    // Uninstall removes the cluster-scoped RBAC; the CRD (crds/) is left alone, as Helm does.
    if (release !== '' && !uninstalled)
      await helmOnCluster(['uninstall', release, '--namespace', releaseNs.name, '--wait']);
    await workNs.cleanup();
    await releaseNs.cleanup();
  });

  it('creates every rendered object on the API server', async () => {
    const manifest = await helmOnCluster(['get', 'manifest', release, '--namespace', releaseNs.name]);
    expect(manifest.code).toBe(0);
    const objects = parseObjects(manifest.stdout);
    const kinds = new Set(objects.map((o) => o.kind));
    for (const k of [
      'ServiceAccount',
      'ClusterRole',
      'ClusterRoleBinding',
      'Role',
      'RoleBinding',
      'Service',
      'Deployment',
      'PodDisruptionBudget',
      'ConfigMap',
      'NetworkPolicy',
    ]) {
      expect(kinds).toContain(k);
    }
    for (const o of objects) {
      const args = ['get', `${o.kind}/${o.metadata?.name}`, '-o', 'name'];
      if (o.metadata?.namespace !== undefined) args.push('-n', o.metadata.namespace);
      else if (!['ClusterRole', 'ClusterRoleBinding'].includes(o.kind ?? '')) args.push('-n', releaseNs.name);
      // kubectl get fails (and kubectlOk throws) when the object does not exist.
      expect((await kubectlOk(args)).trim()).toMatch(new RegExp(`/${o.metadata?.name ?? '?'}$`));
    }
    const status = await helmOnCluster(['status', release, '--namespace', releaseNs.name, '-o', 'json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ info: { status: 'deployed' } });
  });

  it('tells the user what to do next (NOTES.txt)', () => {
    expect(installOutput).toContain('NOTES:');
    expect(installOutput).toContain(
      `kubectl -n ${releaseNs.name} rollout status deployment/${release}-jetscale`,
    );
    expect(installOutput).toContain(`get lease ${release}-jetscale-leader`);
    expect(installOutput).toContain('kubectl explain eventconsumer.spec');
    expect(installOutput).toContain('grafana_dashboard=1');
  });

  it('has the EventConsumer CRD Established', async () => {
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const crd = await ext.readCustomResourceDefinition({ name: 'eventconsumers.jetscale.io' });
    expect(crd.status?.conditions?.find((c) => c.type === 'Established')?.status).toBe('True');
    expect(crd.spec.names.shortNames).toContain('ec');
  });

  it('runs two operator pods that reach Running, spread by the PDB-protected Deployment', async () => {
    const deployment = await apps.readNamespacedDeployment({
      name: `${release}-jetscale`,
      namespace: releaseNs.name,
    });
    expect(deployment.spec?.replicas).toBe(2);
    const selector = Object.entries(deployment.spec?.selector.matchLabels ?? {})
      .map(([k, v]) => `${k}=${v}`)
      .join(',');
    const pods = await eventually(
      'two Running operator pods',
      async () => {
        const list = await core.listNamespacedPod({ namespace: releaseNs.name, labelSelector: selector });
        const running = list.items.filter((p) => p.status?.phase === 'Running');
        return running.length === 2 ? running : undefined;
      },
      60_000,
    );
    for (const pod of pods) {
      const c = pod.spec?.containers[0];
      expect(pod.spec?.serviceAccountName).toBe(serviceAccount);
      expect(c?.securityContext?.readOnlyRootFilesystem).toBe(true);
      expect(c?.livenessProbe?.httpGet?.path).toBe('/healthz');
    }
    const pdb = await kc
      .makeApiClient(k8s.PolicyV1Api)
      .readNamespacedPodDisruptionBudget({ name: `${release}-jetscale`, namespace: releaseNs.name });
    expect(pdb.spec?.minAvailable).toBe(1);
  });

  describe('RBAC', () => {
    const sa = (): string => `system:serviceaccount:${releaseNs.name}:${serviceAccount}`;

    // Four columns in every row: jest passes a `done` callback for any missing one.
    it.each<[string, string, string | undefined, string | undefined]>([
      ['list', 'eventconsumers.jetscale.io', undefined, undefined],
      ['watch', 'eventconsumers.jetscale.io', undefined, undefined],
      ['patch', 'eventconsumers.jetscale.io/status', 'any-ns', undefined],
      ['get', 'deployments.apps/scale', 'any-ns', undefined],
      ['patch', 'deployments.apps/scale', 'any-ns', undefined],
      ['patch', 'statefulsets.apps/scale', 'any-ns', undefined],
      ['get', 'deployments.apps', 'any-ns', undefined],
      ['get', 'replicationcontrollers/scale', 'any-ns', undefined],
      ['patch', 'replicationcontrollers/scale', 'any-ns', undefined],
      ['get', 'replicationcontrollers', 'any-ns', undefined],
      ['get', 'secrets', 'any-ns', 'nats-auth'],
      ['create', 'events', 'any-ns', undefined],
      ['create', 'leases.coordination.k8s.io', 'release-ns', undefined],
      ['get', 'leases.coordination.k8s.io', 'release-ns', 'leader'],
      ['update', 'leases.coordination.k8s.io', 'release-ns', 'leader'],
    ])('allows %s %s', async (verb, resource, where, name) => {
      const ns = where === undefined ? undefined : where === 'release-ns' ? releaseNs.name : workNs.name;
      const objectName = name === 'leader' ? `${release}-jetscale-leader` : name;
      expect(await canI(sa(), verb, resource, ns, objectName)).toBe(true);
    });

    it.each<[string, string, string | undefined, string | undefined]>([
      ['delete', 'deployments.apps', 'any-ns', undefined],
      ['patch', 'deployments.apps', 'any-ns', undefined],
      ['create', 'deployments.apps', 'any-ns', undefined],
      ['delete', 'deployments.apps/scale', 'any-ns', undefined],
      ['patch', 'eventconsumers.jetscale.io', 'any-ns', undefined],
      ['delete', 'eventconsumers.jetscale.io/status', 'any-ns', undefined],
      ['list', 'secrets', 'any-ns', undefined],
      ['get', 'secrets', 'any-ns', 'some-other-secret'],
      ['get', 'secrets', 'release-ns', 'nats-auth'],
      ['watch', 'secrets', undefined, undefined],
      ['create', 'pods', 'any-ns', undefined],
      ['update', 'eventconsumers.jetscale.io', 'any-ns', undefined],
      ['delete', 'eventconsumers.jetscale.io', 'any-ns', undefined],
      ['create', 'leases.coordination.k8s.io', 'any-ns', undefined],
      ['update', 'leases.coordination.k8s.io', 'release-ns', 'someone-elses-lease'],
      ['delete', 'leases.coordination.k8s.io', 'release-ns', 'leader'],
      ['list', 'leases.coordination.k8s.io', 'release-ns', undefined],
      ['update', 'deployments.apps/scale', 'any-ns', undefined],
      ['patch', 'replicationcontrollers', 'any-ns', undefined],
      ['get', 'replicasets.apps/scale', 'any-ns', undefined],
      ['create', 'clusterrolebindings.rbac.authorization.k8s.io', undefined, undefined],
    ])('denies %s %s', async (verb, resource, where, name) => {
      const ns = where === undefined ? undefined : where === 'release-ns' ? releaseNs.name : workNs.name;
      const objectName = name === 'leader' ? `${release}-jetscale-leader` : name;
      expect(await canI(sa(), verb, resource, ns, objectName)).toBe(false);
    });

    it('lets the real operator, holding only the ServiceAccount token, elect itself and scale from a JetStream backlog', async () => {
      const { path: saKubeconfig, config: saConfig } = await serviceAccountKubeconfig(
        releaseNs.name,
        serviceAccount,
      );

      // A real backlog: 450 messages on a fresh stream's durable consumer.
      const stream = uniqueName('PKG').toUpperCase().replace(/-/g, '_');
      const nc: NatsConnection = await connect({ servers: testStack().natsUrl });
      let operator: ChildProcess | undefined;
      let output = '';
      try {
        const jsm = await jetstreamManager(nc);
        await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
        await jsm.consumers.add(stream, { durable_name: 'worker', ack_policy: AckPolicy.Explicit });
        const js = jetstream(nc);
        for (let i = 0; i < 450; i++) await js.publish(`${stream}.e`, `event ${i}`);

        await apps.createNamespacedDeployment({
          namespace: workNs.name,
          body: {
            metadata: { name: 'worker' },
            spec: {
              replicas: 1,
              selector: { matchLabels: { app: 'worker' } },
              template: {
                metadata: { labels: { app: 'worker' } },
                spec: { containers: [{ name: 'w', image: 'example.invalid/worker:1' }] },
              },
            },
          },
        });
        const custom = kc.makeApiClient(k8s.CustomObjectsApi);
        await custom.createNamespacedCustomObject({
          group: 'jetscale.io',
          version: 'v1alpha1',
          namespace: workNs.name,
          plural: 'eventconsumers',
          body: {
            apiVersion: 'jetscale.io/v1alpha1',
            kind: 'EventConsumer',
            metadata: { name: 'worker' },
            spec: {
              scaleTargetRef: { name: 'worker' },
              nats: { servers: [testStack().natsUrl], stream, consumer: 'worker' },
              minReplicas: 1,
              maxReplicas: 10,
              backlogPerReplica: 100,
              pollInterval: '1s',
            },
          },
        });

        const port = await freePort();
        const identity = `${release}-local-0`;
        const entry = diesWithThisProcess(process.execPath, [compiledOperatorEntry()]);
        operator = spawn(entry.command, entry.args, {
          cwd: repoRoot,
          env: {
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? '',
            KUBECONFIG: saKubeconfig,
            POD_NAME: identity,
            JETSCALE_METRICS_HOST: '127.0.0.1',
            JETSCALE_METRICS_PORT: String(port),
            // Only this test's namespace: the shared stack has other tests' EventConsumers.
            JETSCALE_NAMESPACES: workNs.name,
            JETSCALE_LEASE_NAMESPACE: releaseNs.name,
            JETSCALE_LEASE_NAME: `${release}-jetscale-leader`,
            JETSCALE_LOG_LEVEL: 'info',
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        operator.stdout?.on('data', (d: Buffer) => (output += d.toString()));
        operator.stderr?.on('data', (d: Buffer) => (output += d.toString()));

        const coordination = saConfig.makeApiClient(k8s.CoordinationV1Api);
        await eventually(
          `the operator holding Lease ${release}-jetscale-leader (output: ${output.slice(-2000)})`,
          async () => {
            const lease = await coordination.readNamespacedLease({
              name: `${release}-jetscale-leader`,
              namespace: releaseNs.name,
            });
            return lease.spec?.holderIdentity === identity ? true : undefined;
          },
          // The compiled operator loads in about 3.5 s at a load average of 21 on 2 cores (measured;
          // from source through tsx it took over a minute): the bound proves "elects itself".
          30_000,
          500,
        );
        // ceil(450 / 100) = 5 replicas, through PATCH deployments/scale.
        await eventually(
          'the worker Deployment scaled to 5',
          async () => {
            const d = await apps.readNamespacedDeployment({ name: 'worker', namespace: workNs.name });
            return d.spec?.replicas === 5 ? true : undefined;
          },
          60_000,
          500,
        );
        // The status write follows the PATCH: on a loaded machine the Deployment can be at 5 first.
        const ec = await eventually(
          'the EventConsumer status saying desiredReplicas 5',
          async () => {
            const read = (await custom.getNamespacedCustomObject({
              group: 'jetscale.io',
              version: 'v1alpha1',
              namespace: workNs.name,
              plural: 'eventconsumers',
              name: 'worker',
            })) as { status?: { desiredReplicas?: number; backlog?: { total?: number } } };
            return read.status?.desiredReplicas === 5 ? read : undefined;
          },
          30_000,
          500,
        );
        expect(ec.status?.desiredReplicas).toBe(5);
        expect(ec.status?.backlog?.total).toBe(450);
        const events = await core.listNamespacedEvent({ namespace: workNs.name });
        expect(
          events.items.some(
            (e) => e.involvedObject.kind === 'EventConsumer' && e.involvedObject.name === 'worker',
          ),
        ).toBe(true);
        expect(output).not.toMatch(/forbidden/i);

        // The operator's real /metrics: every operator series a dashboard queries is exported.
        const scrape = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
        const exported = namesInScrape(scrape);
        const dashboards = loadDashboards(path.join(operatorChart, 'dashboards'));
        const operatorSeries = dashboards
          .flatMap(({ file, dashboard }) => dashboardQueries(file, dashboard))
          .flatMap((q) => metricNames(q.expr))
          .filter(
            (n) =>
              n.startsWith('jetscale_') &&
              !n.startsWith('jetscale_gateway_') &&
              !n.startsWith('jetscale_consumer_'),
          );
        expect(operatorSeries.length).toBeGreaterThan(10);
        expect([...new Set(operatorSeries)].filter((n) => !exported.has(n))).toEqual([]);
        expect(Object.keys(EXTERNAL_SERIES).some((n) => exported.has(n))).toBe(false);
      } finally {
        if (operator !== undefined && operator.exitCode === null) {
          const exited = new Promise((r) => operator?.once('exit', r));
          operator.kill('SIGTERM');
          await exited;
        }
        await jetstreamManager(nc)
          .then((jsm) => jsm.streams.delete(stream))
          .catch(() => undefined);
        await nc.drain();
      }
    }, 300_000);

    it('denies the ServiceAccount token what the operator must not do', async () => {
      const { config: saConfig } = await serviceAccountKubeconfig(releaseNs.name, serviceAccount);
      const saApps = saConfig.makeApiClient(k8s.AppsV1Api);
      const saCore = saConfig.makeApiClient(k8s.CoreV1Api);
      const forbidden = async (what: string, call: () => Promise<unknown>): Promise<void> => {
        const err = await call().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect({ what, code: err instanceof k8s.ApiException ? err.code : String(err) }).toEqual({
          what,
          code: 403,
        });
      };
      await forbidden('list Deployments', () => saApps.listNamespacedDeployment({ namespace: workNs.name }));
      await forbidden('list Secrets', () => saCore.listNamespacedSecret({ namespace: workNs.name }));
      await forbidden('create a Pod', () =>
        saCore.createNamespacedPod({
          namespace: workNs.name,
          body: { metadata: { name: 'x' }, spec: { containers: [{ name: 'x', image: 'x' }] } },
        }),
      );
      await forbidden('create a Lease outside its namespace', () =>
        saConfig
          .makeApiClient(k8s.CoordinationV1Api)
          .createNamespacedLease({ namespace: workNs.name, body: { metadata: { name: 'x' }, spec: {} } }),
      );
    });
  });

  it('upgrades in place: helm upgrade changes replicas and keeps the leader Lease name', async () => {
    const r = await helmOnCluster([
      'upgrade',
      release,
      operatorChart,
      '--namespace',
      releaseNs.name,
      '--reuse-values',
      '--set',
      'replicaCount=3',
      '--wait',
      '--timeout',
      '180s',
    ]);
    expect({ code: r.code, stderr: r.stderr.replace(/^walk\.go.*\n/gm, '') }).toEqual({
      code: 0,
      stderr: '',
    });
    const d = await apps.readNamespacedDeployment({ name: `${release}-jetscale`, namespace: releaseNs.name });
    expect(d.spec?.replicas).toBe(3);
    expect(
      d.spec?.template.spec?.containers[0]?.env?.find((e) => e.name === 'JETSCALE_LEASE_NAME')?.value,
    ).toBe(`${release}-jetscale-leader`);
  });

  it('uninstalls its objects, cluster-scoped ones included, and leaves the shared CRD alone', async () => {
    const r = await helmOnCluster(['uninstall', release, '--namespace', releaseNs.name, '--wait']);
    expect(r.code).toBe(0);
    uninstalled = true;
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    const gone = await rbac.readClusterRole({ name: `${release}-jetscale` }).then(
      () => false,
      (e: unknown) => e instanceof k8s.ApiException && e.code === 404,
    );
    expect(gone).toBe(true);
    const ext = kc.makeApiClient(k8s.ApiextensionsV1Api);
    const crd = await ext.readCustomResourceDefinition({ name: 'eventconsumers.jetscale.io' });
    expect(crd.metadata?.deletionTimestamp).toBeUndefined();
  });
});
