// charts/jetscale installed the way its README's `helm template | kubectl apply` path does, with the
// values a user changes on day one — one watched namespace, two replicas with leader election and
// shorter lease timings, resource limits, a name override — and then run as the chart says: two
// compiled operator processes, each with exactly the environment the rendered Deployment gives its
// container (fieldRefs resolved to the kwok pods the Deployment made) and the chart's
// ServiceAccount token. Only the HTTP listener is moved (JETSCALE_METRICS_HOST/PORT: the two
// processes share this host, where each pod has its own network). Checked: the watched namespace's
// workload is scaled from its backlog (pollInterval 1 s), the unwatched one is left alone and given
// no status, one Lease holder named after its pod, and after that pod's process is SIGKILLed the
// other takes the Lease within the chart's leaseDurationSeconds (plus slack) and goes on scaling.
import { AckPolicy, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { freePort } from '../../hack/stack/ports.js';
import { diesWithThisProcess } from '../../hack/stack/dies-with-parent.js';
import { compiledOperatorEntry } from '../../operator/test/compiled-operator.js';
import { publish, streamName } from '../../operator/test/harness.js';
import { createNamespace, eventually, testStack, uniqueName } from '../env.js';
import { ensureCrd, kubectl, kubectlOk, serviceAccountKubeconfig } from './kube.js';
import { helmWithValues, kubernetesVersion, operatorChart, parseObjects, repoRoot } from './support.js';

const crdFile = path.join(repoRoot, 'manifests', 'crd', 'jetscale.io_eventconsumers.yaml');
const LEASE_SECONDS = 6;

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { fieldRef?: { fieldPath?: string } };
}
interface Pod {
  metadata: { name: string; namespace: string };
}

/** The container env as the kubelet would give it to `pod` (fieldRefs the chart uses). */
function resolveEnv(env: EnvVar[], pod: Pod): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of env) {
    const field = e.valueFrom?.fieldRef?.fieldPath;
    if (field === 'metadata.name') out[e.name] = pod.metadata.name;
    else if (field === 'metadata.namespace') out[e.name] = pod.metadata.namespace;
    else if (e.value !== undefined) out[e.name] = e.value;
    else throw new Error(`env ${e.name}: valueFrom ${JSON.stringify(e.valueFrom)} not resolved here`);
  }
  return out;
}

describe('charts/jetscale rendered with day-one values, applied, and run as rendered', () => {
  let releaseNs: { name: string; cleanup: () => Promise<void> };
  let watched: { name: string; cleanup: () => Promise<void> };
  let unwatched: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let manifest = '';
  const release = uniqueName('dayone');
  const fullname = `${release}-js`;
  const stream = streamName('chartvalues');
  const processes = new Map<
    string,
    { child: ChildProcess; output: () => string; exited: Promise<unknown> }
  >();

  beforeAll(async () => {
    await ensureCrd(crdFile);
    releaseNs = await createNamespace('chart-op');
    watched = await createNamespace('chart-app');
    unwatched = await createNamespace('chart-other');
    nc = await connect({ servers: testStack().natsUrl });
    jsm = await jetstreamManager(nc);
    await jsm.streams.add({ name: stream, subjects: [`${stream}.>`] });
    await jsm.consumers.add(stream, { durable_name: 'worker', ack_policy: AckPolicy.Explicit });
  });

  afterAll(async () => {
    for (const p of processes.values()) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      await p.exited;
    }
    // Cluster-scoped objects, were the chart to render any, outlive the namespaces: delete what it made.
    if (manifest !== '') await kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', '-'], manifest);
    await jsm?.streams.delete(stream).catch(() => undefined);
    await nc?.close();
    for (const ns of [watched, unwatched, releaseNs]) await ns?.cleanup();
  });

  it('scales the watched namespace only, elects one of its two replicas, and fails over within the lease', async () => {
    const values = {
      fullnameOverride: fullname,
      replicaCount: 2,
      watchNamespaces: [watched.name],
      leaderElection: {
        enabled: true,
        leaseDurationSeconds: LEASE_SECONDS,
        renewDeadlineSeconds: 4,
        retryPeriodSeconds: 1,
      },
      resources: { requests: { cpu: '20m', memory: '64Mi' }, limits: { cpu: '200m', memory: '128Mi' } },
      logLevel: 'info',
      dashboards: { enabled: false },
    };
    const rendered = await helmWithValues(
      [
        'template',
        release,
        operatorChart,
        '--namespace',
        releaseNs.name,
        '--kube-version',
        kubernetesVersion,
      ],
      values,
    );
    if (rendered.code !== 0) throw new Error(`helm template failed:\n${rendered.stderr}`);
    manifest = rendered.stdout;
    // Every object names its namespace: the operator's Role and RoleBinding are in the watched one.
    await kubectlOk(['apply', '-f', '-'], manifest);

    const deployment = parseObjects(manifest).find((o) => o.kind === 'Deployment') as unknown as {
      spec: { template: { spec: { serviceAccountName: string; containers: Array<{ env: EnvVar[] }> } } };
    };
    const podSpec = deployment.spec.template.spec;
    const env = podSpec.containers[0]?.env ?? [];
    // Watching one namespace, the ServiceAccount may scale there and nowhere else (before, the
    // chart gave it a ClusterRole: /scale of every Deployment in the cluster).
    const serviceAccount = `system:serviceaccount:${releaseNs.name}:${podSpec.serviceAccountName}`;
    const mayScale = async (ns: string): Promise<string> =>
      (
        await kubectl([
          'auth',
          'can-i',
          'patch',
          'deployments',
          '--subresource=scale',
          '-n',
          ns,
          '--as',
          serviceAccount,
        ])
      ).stdout.trim();
    // RBAC takes effect once the API server's authorizer has seen the new Role.
    await eventually('the watched namespace to be scalable', async () =>
      (await mayScale(watched.name)) === 'yes' ? true : undefined,
    );
    expect(await mayScale(unwatched.name)).toBe('no');
    // Cluster-wide only the registry of installations: get/patch of the EventConsumer CRD, by name
    // (the operator below runs with this ServiceAccount, so it proves the rule is enough).
    expect(
      parseObjects(manifest)
        .filter((o) => o.kind === 'ClusterRole' || o.kind === 'ClusterRoleBinding')
        .map((o) => `${o.kind}/${o.metadata?.name}`),
    ).toEqual([`ClusterRole/${fullname}-installations`, `ClusterRoleBinding/${fullname}-installations`]);
    const pods = await eventually(
      'the two operator pods the Deployment made',
      async () => {
        const list = JSON.parse(
          await kubectlOk([
            'get',
            'pods',
            '-n',
            releaseNs.name,
            '-l',
            `app.kubernetes.io/instance=${release}`,
            '-o',
            'json',
          ]),
        ) as { items: Pod[] };
        return list.items.length === 2 ? list.items : undefined;
      },
      60_000,
    );
    const { path: kubeconfig } = await serviceAccountKubeconfig(releaseNs.name, podSpec.serviceAccountName);
    for (const pod of pods) {
      const port = await freePort();
      let out = '';
      const entry = diesWithThisProcess(process.execPath, [compiledOperatorEntry()]);
      const child = spawn(entry.command, entry.args, {
        cwd: repoRoot,
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '',
          KUBECONFIG: kubeconfig,
          ...resolveEnv(env, pod),
          JETSCALE_METRICS_HOST: '127.0.0.1',
          JETSCALE_METRICS_PORT: String(port),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise((r) => child.once('exit', r));
      processes.set(pod.metadata.name, { child, output: () => out, exited });
    }
    const outputs = (): string =>
      [...processes].map(([name, p]) => `--- ${name}\n${p.output().slice(-1500)}`).join('\n');

    const leaseName = `${fullname}-leader`;
    const holder = async (): Promise<string | undefined> => {
      const r = await kubectl([
        'get',
        'lease',
        leaseName,
        '-n',
        releaseNs.name,
        '-o',
        'jsonpath={.spec.holderIdentity}',
      ]);
      return r.code === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : undefined;
    };
    const leader = await eventually(`a holder of Lease ${leaseName}`, holder, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${outputs()}`);
    });
    expect([...processes.keys()]).toContain(leader);

    // The same workload and EventConsumer in both namespaces; only the watched one may move.
    await publish(nc, stream, 450);
    for (const ns of [watched.name, unwatched.name]) {
      await kubectlOk(['create', 'deployment', 'worker', '-n', ns, '--image', 'example.invalid/worker:1']);
      await kubectlOk(
        ['apply', '-n', ns, '-f', '-'],
        JSON.stringify({
          apiVersion: 'jetscale.io/v1alpha1',
          kind: 'EventConsumer',
          metadata: { name: 'worker' },
          spec: {
            scaleTargetRef: { name: 'worker' },
            nats: { servers: [testStack().natsUrl], stream, consumer: 'worker' },
            minReplicas: 1,
            maxReplicas: 20,
            backlogPerReplica: 100,
            pollInterval: '1s',
          },
        }),
      );
    }
    const replicas = async (ns: string): Promise<number> =>
      Number(await kubectlOk(['get', 'deployment', 'worker', '-n', ns, '-o', 'jsonpath={.spec.replicas}']));
    await eventually(
      'the watched workload at 5 replicas',
      async () => ((await replicas(watched.name)) === 5 ? true : undefined),
      30_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}\n${outputs()}`);
    });

    // Failover: the leader's process dies without releasing the Lease.
    const dead = processes.get(leader);
    dead?.child.kill('SIGKILL');
    await dead?.exited;
    const killedAt = Date.now();
    const next = await eventually(
      'the other replica holding the Lease',
      async () => {
        const h = await holder();
        return h !== undefined && h !== leader ? h : undefined;
      },
      (LEASE_SECONDS + 15) * 1000,
      250,
    );
    const tookMs = Date.now() - killedAt;
    expect([...processes.keys()]).toContain(next);
    await publish(nc, stream, 400);
    await eventually(
      'the watched workload at 9 replicas under the new leader',
      async () => ((await replicas(watched.name)) === 9 ? true : undefined),
      30_000,
    );
    process.stdout.write(`failover: ${leader} -> ${next} in ${tookMs} ms\n`);

    // Never touched, never reported on: not a namespace this release watches.
    expect(await replicas(unwatched.name)).toBe(1);
    const other = JSON.parse(
      await kubectlOk(['get', 'eventconsumer', 'worker', '-n', unwatched.name, '-o', 'json']),
    ) as { status?: unknown };
    expect(other.status).toBeUndefined();
    expect(outputs()).not.toMatch(/forbidden/i);
  }, 300_000);
});
