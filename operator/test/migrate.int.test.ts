// `jetscale migrate` end to end against the real API server: the compiled CLI converts KEDA's own
// ScaledObjects (operator/src/migrate/testdata/keda, sources in SOURCES.md) and the API server
// accepts every EventConsumer it writes (schema, defaults and CEL rules of the real CRD); it reads
// ScaledObjects from the cluster with --from-cluster; and kubectl runs it as a plugin.
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { crdEstablished } from '../../hack/stack/crd-established.js';
import { createNamespace, testStack } from '../../test/env.js';
import { ensureCrd, kubectl, kubectlOk } from '../../test/packaging/kube.js';
import { kubectlPath, repoRoot, run } from '../../test/packaging/support.js';
import { testScratchDir } from '../../test/scratch.js';

const cli = path.join(repoRoot, 'dist/operator/src/cli/jetscale.js');
const testdata = path.join(repoRoot, 'operator/src/migrate/testdata/keda');
const crdFile = path.join(repoRoot, 'manifests/crd/jetscale.io_eventconsumers.yaml');

// The KEDA CRD is not available offline; this stand-in serves the same group, version and plural
// (what --from-cluster lists) and keeps every field, like KEDA's structural schema would for these objects.
const standIn = (
  kind: string,
  plural: string,
  shortName: string,
): string => `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: ${plural}.keda.sh }
spec:
  group: keda.sh
  scope: Namespaced
  names: { kind: ${kind}, listKind: ${kind}List, plural: ${plural}, singular: ${kind.toLowerCase()}, shortNames: [${shortName}] }
  versions:
  - name: v1alpha1
    served: true
    storage: true
    schema:
      openAPIV3Schema: { type: object, x-kubernetes-preserve-unknown-fields: true }
`;
const kedaCrds = {
  'scaledobjects.keda.sh': standIn('ScaledObject', 'scaledobjects', 'so'),
  'triggerauthentications.keda.sh': standIn('TriggerAuthentication', 'triggerauthentications', 'ta'),
};

function migrate(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return run(process.execPath, [cli, 'migrate', ...args], {
    env: { ...env, KUBECONFIG: testStack().kubeconfigPath },
  });
}

/** The KEDA stand-ins this file made (it removes them: later files' operators would see KEDA installed). */
const kedaCrdsMade: string[] = [];

async function ensureKedaCrd(name: keyof typeof kedaCrds): Promise<void> {
  if ((await kubectl(['get', 'crd', name])).code !== 0) {
    await kubectlOk(['create', '-f', '-'], kedaCrds[name]);
    kedaCrdsMade.push(name);
  }
  await crdEstablished(testStack().kubeconfigPath, name);
}

beforeAll(async () => {
  await ensureCrd(crdFile);
}, 120_000);

afterAll(async () => {
  // kubectl delete waits until the CRD is gone, so no later file finds it still terminating.
  for (const name of kedaCrdsMade) await kubectlOk(['delete', 'crd', name, '--wait=true', '--timeout=60s']);
}, 90_000);

describe('jetscale migrate against the real API server', () => {
  it("every EventConsumer converted from KEDA's ScaledObjects is accepted by the API server", async () => {
    const converted = await migrate(['-f', testdata]);
    expect(converted.stderr).toMatch(/summary: 6 converted, 0 refused, 3 skipped/);
    expect(converted.code).toBe(0);
    // The fixtures name their own namespaces; a server-side dry run needs them to exist.
    for (const ns of [
      'nats-jetstream',
      'nats-jetstream-test-ns',
      'fallback-test-ns',
      'pause-scalein-test-ns',
      'orders',
    ])
      if ((await kubectl(['get', 'namespace', ns])).code !== 0) await kubectlOk(['create', 'namespace', ns]);
    const applied = await kubectl(['apply', '--dry-run=server', '-o', 'name', '-f', '-'], converted.stdout);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout.trim().split('\n')).toHaveLength(6);
  }, 120_000);

  it('--from-cluster reads ScaledObjects from the current context; the result applies and keeps the values', async () => {
    await ensureKedaCrd('scaledobjects.keda.sh');
    const ns = await createNamespace('migrate');
    try {
      const so = readFileSync(path.join(testdata, 'e2e-fallback-nats.yaml'), 'utf8').replace(
        /namespace: fallback-test-ns/,
        `namespace: ${ns.name}`,
      );
      await kubectlOk(['apply', '-f', '-'], so);
      const converted = await migrate([
        '--from-cluster',
        '-n',
        ns.name,
        '--nats-url',
        'nats://nats.nats:4222',
      ]);
      expect(converted.stderr).toMatch(/summary: 1 converted, 0 refused, 0 skipped/);
      expect(converted.code).toBe(0);
      await kubectlOk(['apply', '-f', '-'], converted.stdout);
      const ec = JSON.parse(
        await kubectlOk(['-n', ns.name, 'get', 'eventconsumer', 'fallback-test-so', '-o', 'json']),
      ) as {
        spec: Record<string, unknown>;
      };
      expect(ec.spec).toMatchObject({
        scaleTargetRef: { name: 'fallback-test-deployment' },
        nats: { servers: ['nats://nats.nats:4222'], stream: 'mystream', consumer: 'pull_consumer' },
        minReplicas: 0,
        maxReplicas: 5,
        backlogPerReplica: 10,
        activationBacklog: 15,
        pollInterval: '5s',
        fallback: { failureThreshold: 3, replicas: 3 },
        behavior: { cooldownPeriod: '1s', scaleDown: { stabilizationWindow: '1s' } },
      });
    } finally {
      await ns.cleanup();
    }
  }, 120_000);

  it("--from-cluster follows a trigger's TriggerAuthentication to the Secret that holds KEDA's endpoint", async () => {
    // KEDA reads natsServerMonitoringEndpoint from the TriggerAuthentication before the metadata
    // (nats_jetstream_scaler.go order=authParams;triggerMetadata): the EventConsumer must point at
    // that server, read with get on exactly the objects named (the other Secret is never read).
    await ensureKedaCrd('scaledobjects.keda.sh');
    await ensureKedaCrd('triggerauthentications.keda.sh');
    const ns = await createNamespace('migrate-auth');
    try {
      await kubectlOk(
        ['apply', '-f', '-'],
        `apiVersion: v1
kind: Secret
metadata: { name: nats-monitoring, namespace: ${ns.name} }
stringData: { endpoint: "nats-prod.nats.svc:8222" }
---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata: { name: nats-auth, namespace: ${ns.name} }
spec:
  secretTargetRef:
  - { parameter: natsServerMonitoringEndpoint, name: nats-monitoring, key: endpoint }
  - { parameter: password, name: not-needed, key: p }
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: { name: orders, namespace: ${ns.name} }
spec:
  scaleTargetRef: { name: orders }
  triggers:
  - type: nats-jetstream
    metadata: { natsServerMonitoringEndpoint: "stale.nats.svc:8222", stream: ORDERS, consumer: workers }
    authenticationRef: { name: nats-auth }
`,
      );
      const converted = await migrate(['--from-cluster', '-n', ns.name]);
      expect(converted.stderr).toMatch(/summary: 1 converted, 0 refused, 0 skipped/);
      expect(converted.stderr).toMatch(
        new RegExp(`natsServerMonitoringEndpoint from Secret ${ns.name}/nats-monitoring key endpoint`),
      );
      expect(converted.code).toBe(0);
      expect(converted.stdout).toMatch(/- nats:\/\/nats-prod\.nats\.svc:4222/);
      expect(converted.stdout).not.toMatch(/stale/);
      await kubectlOk(['apply', '--dry-run=server', '-f', '-'], converted.stdout);
    } finally {
      await ns.cleanup();
    }
  }, 120_000);

  it('runs as a kubectl plugin (kubectl jetscale migrate)', async () => {
    const bin = testScratchDir('jetscale-plugin-');
    const plugin = path.join(bin, 'kubectl-jetscale');
    writeFileSync(plugin, `#!/bin/sh\nexec "${process.execPath}" "${cli}" "$@"\n`);
    chmodSync(plugin, 0o755);
    const result = await run(
      kubectlPath(),
      ['jetscale', 'migrate', '-f', path.join(testdata, 'docs-nats-jetstream.yaml')],
      {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}` },
      },
    );
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^kind: EventConsumer$/m);
    expect(result.stderr).toMatch(/converted {2}nats-jetstream\/nats-jetstream-scaledobject/);
  }, 60_000);

  it('refuses input it cannot parse with exit 2 and writes nothing', async () => {
    const dir = testScratchDir('jetscale-migrate-');
    writeFileSync(path.join(dir, 'broken.yaml'), 'kind: ScaledObject\nspec: [\n');
    const result = await migrate(['-f', dir]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/broken\.yaml:\d+:/);
  });

  it('--from-cluster as a user RBAC denies: exit 2, one short error naming the user and what to grant', async () => {
    // The stack's kubeconfig, impersonating a user with no permissions (kubeconfig `as:`).
    const kubeconfig = path.join(testScratchDir('jetscale-rbac-'), 'config');
    writeFileSync(
      kubeconfig,
      readFileSync(testStack().kubeconfigPath, 'utf8').replace(
        /^(\s+)user:\s*$/m,
        '$1user:\n$1  as: drill-nobody',
      ),
    );
    expect(readFileSync(kubeconfig, 'utf8')).toMatch(/as: drill-nobody/);
    const result = await run(process.execPath, [cli, 'migrate', '--from-cluster', '-n', 'orders'], {
      env: { ...process.env, KUBECONFIG: kubeconfig },
    });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toMatch(/forbidden/i);
    expect(result.stderr).toMatch(/drill-nobody/);
    expect(result.stderr).toMatch(/grant list on scaledobjects\.keda\.sh in namespace orders/);
    // What to fix, not the HTTP exchange: no response headers or raw body.
    expect(result.stderr.trim().split('\n').length).toBeLessThanOrEqual(3);
    expect(result.stderr).not.toMatch(/Headers:|"kind":"Status"/);
  }, 60_000);
});
