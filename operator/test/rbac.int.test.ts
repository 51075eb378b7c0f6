// The RBAC in manifests/rbac is enough and no more: an operator running with only those
// permissions (as a ServiceAccount token) scales, writes status, records Events and holds its
// Lease, reads the Secret a namespace-scoped Role names, and is refused any other Secret; without
// the rule that lets it register the installation on the EventConsumer CRD it scales nothing.
// Granted per namespace (the chart's watchNamespaces), a namespace whose RoleBinding is gone holds
// no other namespace back when the operator starts.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { KubeConfig, loadAllYaml } from '@kubernetes/client-node';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createNamespace, eventually, kubeConfig, testStack, uniqueName } from '../../test/env.js';
import { loadConfig } from '../src/config/config.js';
import { createLogger } from '../src/observability/logger.js';
import { runOperator, type RunningOperator } from '../src/run-operator.js';
import {
  closeKubeApi,
  condition,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  eventConsumerStatus,
  eventsFor,
  installCrd,
  kubeApi,
  leaseHolder,
  publish,
  repoRoot,
  specReplicas,
  streamName,
} from './harness.js';

type Manifest = {
  kind: string;
  rules?: PolicyRule[];
  metadata: { name: string; namespace?: string };
  subjects?: Array<{ namespace?: string }>;
  roleRef?: { name: string };
} & Record<string, unknown>;

function manifests(file: string): Manifest[] {
  // Round-trip through JSON: loadAllYaml returns client-node model objects.
  return (loadAllYaml(readFileSync(path.join(repoRoot, 'manifests/rbac', file), 'utf8')) as unknown[]).map(
    (o) => JSON.parse(JSON.stringify(o)) as Manifest,
  );
}

describe('operator with only the permissions in manifests/rbac', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  let operator: RunningOperator | undefined;
  const clusterScoped: string[] = [];
  let stream: string;
  const suffix = uniqueName('rbac');

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-rbac');
    nc = await connect({ servers: testStack().natsUrl });
    stream = streamName('rbac');
    await createStreamAndConsumer(nc, stream, 'worker');
  });

  afterAll(async () => {
    await operator?.stop();
    for (const p of clusterScoped)
      await kubeApi()
        .request('DELETE', p)
        .catch(() => undefined);
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(stream).catch(() => undefined);
    await nc?.close();
    await ns?.cleanup();
    closeKubeApi();
  });

  /** Installs the manifests with the ServiceAccount, Roles and bindings moved into the test namespace. */
  async function installRbac(): Promise<void> {
    const api = kubeApi();
    const n = ns.name;
    const [sa] = manifests('service_account.yaml');
    const [clusterRole] = manifests('cluster_role.yaml');
    const [clusterBinding] = manifests('cluster_role_binding.yaml');
    const [leaseRole] = manifests('leader_election_role.yaml');
    const [leaseBinding] = manifests('leader_election_role_binding.yaml');
    const [secretRole, secretBinding] = manifests('secret_reader_role.yaml');
    if (
      !sa ||
      !clusterRole ||
      !clusterBinding ||
      !leaseRole ||
      !leaseBinding ||
      !secretRole ||
      !secretBinding
    )
      throw new Error('manifests/rbac is missing a document');
    await api.request('POST', `/api/v1/namespaces/${n}/serviceaccounts`, {
      body: { ...sa, metadata: { ...sa.metadata, namespace: n } },
    });
    // Cluster-scoped objects get a unique name so parallel runs and real installs are untouched.
    const roleName = clusterRoleName();
    await api.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      body: { ...clusterRole, metadata: { ...clusterRole.metadata, name: roleName } },
    });
    clusterScoped.push(`/apis/rbac.authorization.k8s.io/v1/clusterroles/${roleName}`);
    const bindingName = `${clusterBinding.metadata.name}-${suffix}`;
    await api.request('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      body: {
        ...clusterBinding,
        metadata: { ...clusterBinding.metadata, name: bindingName },
        roleRef: { ...clusterBinding.roleRef, name: roleName },
        subjects: clusterBinding.subjects?.map((s) => ({ ...s, namespace: n })),
      },
    });
    clusterScoped.push(`/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/${bindingName}`);
    for (const role of [leaseRole, secretRole]) {
      await api.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${n}/roles`, {
        body: { ...role, metadata: { ...role.metadata, namespace: n } },
      });
    }
    for (const binding of [leaseBinding, secretBinding]) {
      await api.request('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${n}/rolebindings`, {
        body: {
          ...binding,
          metadata: { ...binding.metadata, namespace: n },
          subjects: binding.subjects?.map((s) => ({ ...s, namespace: n })),
        },
      });
    }
  }

  async function serviceAccountKubeConfig(account = 'jetscale-operator'): Promise<KubeConfig> {
    const token = await kubeApi().request<{ status: { token: string } }>(
      'POST',
      `/api/v1/namespaces/${ns.name}/serviceaccounts/${account}/token`,
      {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: { expirationSeconds: 3600 },
        },
      },
    );
    const admin = kubeConfig();
    const cluster = admin.getCurrentCluster();
    if (!cluster) throw new Error('test kubeconfig has no cluster');
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ ...cluster, name: 'test' }],
      users: [{ name: account, token: token.status.token }],
      contexts: [{ name: 'sa', cluster: 'test', user: account }],
      currentContext: 'sa',
    });
    return kc;
  }

  it('scales, reports, leads and reads only the named Secret; scales nothing while it cannot register', async () => {
    await installRbac();
    const secret = (name: string) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name, namespace: ns.name },
      stringData: { token: 'ignored-by-an-open-server' },
    });
    // nats-auth is named in secret_reader_role.yaml; other-auth is not.
    await kubeApi().request('POST', `/api/v1/namespaces/${ns.name}/secrets`, { body: secret('nats-auth') });
    await kubeApi().request('POST', `/api/v1/namespaces/${ns.name}/secrets`, { body: secret('other-auth') });
    await createDeployment(ns.name, 'worker', 1);
    await createDeployment(ns.name, 'other', 1);
    const nats = (secretName: string) => ({
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      auth: { secretRef: { name: secretName } },
    });
    await createEventConsumer({
      namespace: ns.name,
      name: 'worker',
      target: 'worker',
      servers: [],
      stream,
      consumer: 'worker',
      extra: { pollInterval: '1s', nats: nats('nats-auth') },
    });
    await createEventConsumer({
      namespace: ns.name,
      name: 'other',
      target: 'other',
      servers: [],
      stream,
      consumer: 'worker',
      extra: { pollInterval: '1s', nats: nats('other-auth') },
    });
    // An HPA on a third Deployment: seeing it needs list on horizontalpodautoscalers.
    await createDeployment(ns.name, 'guarded', 1);
    await kubeApi().request('POST', `/apis/autoscaling/v2/namespaces/${ns.name}/horizontalpodautoscalers`, {
      body: {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'guarded-cpu' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'guarded' },
          minReplicas: 1,
          maxReplicas: 5,
          metrics: [
            {
              type: 'Resource',
              resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
            },
          ],
        },
      },
    });
    await createEventConsumer({
      namespace: ns.name,
      name: 'guarded',
      target: 'guarded',
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: { pollInterval: '1s' },
    });
    await publish(nc, stream, 250);

    const config = loadConfig({
      JETSCALE_NAMESPACES: ns.name,
      JETSCALE_LEASE_NAMESPACE: ns.name,
      JETSCALE_POD_NAME: 'rbac-operator',
      JETSCALE_METRICS_HOST: '127.0.0.1',
      JETSCALE_METRICS_PORT: '0',
      // Registration renewed every second: without it, writes stop 2 s after the last renewal.
      JETSCALE_INSTALLATION_RENEW_SECONDS: '1',
    });
    operator = await runOperator(config, await serviceAccountKubeConfig(), createLogger({ level: 'error' }));

    await eventually(
      'the Lease held under the least-privilege role',
      async () => ((await leaseHolder(ns.name, 'jetscale-operator')) === 'rbac-operator' ? true : undefined),
      20_000,
    );
    await eventually(
      '3 replicas (get + patch deployments/scale)',
      async () => ((await specReplicas(ns.name, 'worker')) === 3 ? true : undefined),
      15_000,
      200,
    );
    const status = await eventually(
      'status written',
      async () => {
        const s = await eventConsumerStatus(ns.name, 'worker');
        return condition(s, 'Ready')?.status === 'True' ? s : undefined;
      },
      10_000,
    );
    expect(status.backlog?.total).toBe(250);
    await eventually(
      'a Scaled event',
      async () => (await eventsFor(ns.name, 'worker')).find((e) => e.reason === 'Scaled'),
      10_000,
    );

    const refused = await eventually(
      'SecretForbidden for the Secret not named in the Role',
      async () => {
        const s = await eventConsumerStatus(ns.name, 'other');
        return condition(s, 'Ready')?.reason === 'SecretForbidden' ? s : undefined;
      },
      10_000,
    );
    expect(condition(refused, 'Ready')?.message).toContain(`Secret ${ns.name}/other-auth`);
    expect(await specReplicas(ns.name, 'other')).toBe(1);

    await eventually(
      'TargetConflict naming the HPA (list horizontalpodautoscalers is granted)',
      async () => {
        const s = await eventConsumerStatus(ns.name, 'guarded');
        return condition(s, 'Ready')?.message.includes('HorizontalPodAutoscaler') ? s : undefined;
      },
      10_000,
    );
    expect(await specReplicas(ns.name, 'guarded')).toBe(1);

    // Without get/patch on the EventConsumer CRD the operator cannot register this installation,
    // so it cannot prove no other installation reconciles these namespaces: once its last
    // registration has run out it scales nothing, and says so; with the rule back, it resumes.
    const registered = async (): Promise<number | undefined> =>
      (await operator?.metrics.installationRegistered.get())?.values[0]?.value;
    expect(await registered()).toBe(1);
    await putClusterRoleRules((rules) =>
      rules.filter((r) => !r.resources?.includes('customresourcedefinitions')),
    );
    await eventually(
      'the registration to run out',
      async () => ((await registered()) === 0 ? true : undefined),
      15_000,
    );
    await publish(nc, stream, 300);
    // Three polls (pollInterval 1 s) would have been enough to scale to 6.
    await new Promise((r) => setTimeout(r, 3000));
    expect(await specReplicas(ns.name, 'worker')).toBe(3);
    await putClusterRoleRules(() => manifests('cluster_role.yaml')[0]?.rules ?? []);
    await eventually(
      '6 replicas once registered again',
      async () => ((await specReplicas(ns.name, 'worker')) === 6 ? true : undefined),
      15_000,
      200,
    );
    expect(await registered()).toBe(1);
  });

  // The chart's watchNamespaces install: the operator's rules as a Role and RoleBinding in each
  // watched namespace, nothing cluster-wide but the registry's one CRD. A tenant who administers
  // its namespace may delete that RoleBinding (or the namespace, and the binding with it); the
  // operator's list of EventConsumers there is then refused (403) until it is back. An operator
  // that starts then (a restart, a failover, a rolling upgrade) must still reconcile the other
  // namespaces, and take the refused one up once its list succeeds.
  it('a watched namespace whose RoleBinding is gone holds no other back: a starting operator reconciles the others, and that one once it may list again', async () => {
    const api = kubeApi();
    const account = 'jetscale-scoped';
    const leaseName = 'jetscale-scoped';
    const home = ns.name;
    const refused = await createNamespace('op-rbac-refused');
    const other = await createNamespace('op-rbac-other');
    const scopedStream = streamName('rbacns');
    try {
      await api.request('POST', `/api/v1/namespaces/${home}/serviceaccounts`, {
        body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: account, namespace: home } },
      });
      const subjects = [{ kind: 'ServiceAccount', name: account, namespace: home }];
      const rbac = '/apis/rbac.authorization.k8s.io/v1';
      // The registry's CRD rule, cluster-wide (the chart's <release>-installations ClusterRole).
      const installations = `${clusterRoleName()}-installations`;
      await api.request('POST', `${rbac}/clusterroles`, {
        body: {
          metadata: { name: installations },
          rules: (manifests('cluster_role.yaml')[0]?.rules ?? []).filter((r) =>
            r.resources?.includes('customresourcedefinitions'),
          ),
        },
      });
      clusterScoped.push(`${rbac}/clusterroles/${installations}`);
      await api.request('POST', `${rbac}/clusterrolebindings`, {
        body: {
          metadata: { name: installations },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: installations },
          subjects,
        },
      });
      clusterScoped.push(`${rbac}/clusterrolebindings/${installations}`);
      await api.request('POST', `${rbac}/namespaces/${home}/roles`, {
        body: {
          metadata: { name: leaseName },
          rules: [
            { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
            {
              apiGroups: ['coordination.k8s.io'],
              resources: ['leases'],
              resourceNames: [leaseName],
              verbs: ['get', 'update'],
            },
          ],
        },
      });
      await api.request('POST', `${rbac}/namespaces/${home}/rolebindings`, {
        body: {
          metadata: { name: leaseName },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: leaseName },
          subjects,
        },
      });
      // The operator's rules in each watched namespace: a RoleBinding to a copy of the ClusterRole
      // grants them there only (its CRD rule is cluster-scoped, so not by this binding).
      const rules = `${clusterRoleName()}-namespaced`;
      await api.request('POST', `${rbac}/clusterroles`, {
        body: { metadata: { name: rules }, rules: manifests('cluster_role.yaml')[0]?.rules ?? [] },
      });
      clusterScoped.push(`${rbac}/clusterroles/${rules}`);
      const bind = (namespace: string) =>
        api.request('POST', `${rbac}/namespaces/${namespace}/rolebindings`, {
          body: {
            metadata: { name: 'jetscale-operator' },
            roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: rules },
            subjects,
          },
        });
      await bind(other.name);
      // The refused namespace's binding is not there: created, then deleted by its tenant.
      await bind(refused.name);
      await api.request('DELETE', `${rbac}/namespaces/${refused.name}/rolebindings/jetscale-operator`);

      await createStreamAndConsumer(nc, scopedStream, 'worker');
      for (const namespace of [refused.name, other.name]) {
        await createDeployment(namespace, 'worker', 1);
        await createEventConsumer({
          namespace,
          name: 'worker',
          target: 'worker',
          servers: [testStack().natsUrl],
          stream: scopedStream,
          consumer: 'worker',
          extra: { pollInterval: '1s' },
        });
      }
      await publish(nc, scopedStream, 250);

      const config = loadConfig({
        JETSCALE_NAMESPACES: `${refused.name},${other.name}`,
        JETSCALE_LEASE_NAMESPACE: home,
        JETSCALE_LEASE_NAME: leaseName,
        JETSCALE_POD_NAME: 'rbac-scoped-operator',
        JETSCALE_METRICS_HOST: '127.0.0.1',
        JETSCALE_METRICS_PORT: '0',
        JETSCALE_INSTALLATION_RENEW_SECONDS: '1',
      });
      const lines: string[] = [];
      const scoped = await runOperator(
        config,
        await serviceAccountKubeConfig(account),
        createLogger({ level: 'warn', write: (line) => lines.push(line) }),
      );
      try {
        await eventually(
          'the Lease held',
          async () => ((await leaseHolder(home, leaseName)) === 'rbac-scoped-operator' ? true : undefined),
          20_000,
        );
        await eventually(
          `3 replicas in ${other.name}, whose RoleBinding is there`,
          async () => ((await specReplicas(other.name, 'worker')) === 3 ? true : undefined),
          20_000,
        );
        expect(scoped.isReady()).toBe(true);
        expect(await specReplicas(refused.name, 'worker')).toBe(1);
        // Said where an admin looks: the log names the namespace the list was refused in.
        expect(lines.some((l) => l.includes('forbidden') && l.includes(refused.name))).toBe(true);

        await bind(refused.name);
        await eventually(
          `3 replicas in ${refused.name} once its RoleBinding is back`,
          async () => ((await specReplicas(refused.name, 'worker')) === 3 ? true : undefined),
          // The refused informer retries with backoff capped at 30 s (+30 % jitter), then one poll.
          60_000,
        );
      } finally {
        await scoped.stop();
      }
    } finally {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(scopedStream).catch(() => undefined);
      await refused.cleanup();
      await other.cleanup();
    }
  });

  /** Rewrites the rules of this test's copy of manifests/rbac/cluster_role.yaml. */
  async function putClusterRoleRules(rules: (current: PolicyRule[]) => PolicyRule[]): Promise<void> {
    const path = `/apis/rbac.authorization.k8s.io/v1/clusterroles/${clusterRoleName()}`;
    const role = await kubeApi().request<{ rules?: PolicyRule[] } & Record<string, unknown>>('GET', path);
    await kubeApi().request('PUT', path, { body: { ...role, rules: rules(role.rules ?? []) } });
  }

  function clusterRoleName(): string {
    const [clusterRole] = manifests('cluster_role.yaml');
    if (!clusterRole) throw new Error('manifests/rbac/cluster_role.yaml is empty');
    return `${clusterRole.metadata.name}-${suffix}`;
  }
});

type PolicyRule = { apiGroups?: string[]; resources?: string[]; resourceNames?: string[]; verbs: string[] };
