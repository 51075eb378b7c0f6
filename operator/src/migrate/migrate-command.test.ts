import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { listScaledObjectsFromCluster, runMigrate, type MigrateIo } from './migrate-command.js';

const testdata = path.join(path.dirname(fileURLToPath(import.meta.url)), 'testdata', 'keda');

function io(stdin = '', cluster: unknown[] = []): MigrateIo & { out: string; err: string } {
  const captured = {
    out: '',
    err: '',
    stdin: () => Promise.resolve(stdin),
    stdout: (t: string) => void (captured.out += t),
    stderr: (t: string) => void (captured.err += t),
    listScaledObjects: () => Promise.resolve(cluster),
    readObject: () => Promise.reject(new Error('this test reads nothing from a cluster')),
  };
  return captured;
}

const docsExample = `apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: { name: a, namespace: ns }
spec:
  scaleTargetRef: { name: a }
  triggers:
  - type: nats-jetstream
    metadata: { natsServerMonitoringEndpoint: "nats:8222", stream: S, consumer: c }
`;

describe('jetscale migrate (command)', () => {
  it('converts a directory of real KEDA objects: exit 0, one EventConsumer per nats-jetstream ScaledObject, a report line each', async () => {
    const x = io();
    expect(await runMigrate(['-f', testdata], x)).toBe(0);
    expect(x.out.match(/^kind: EventConsumer$/gm)).toHaveLength(6);
    expect(x.err).toMatch(/summary: 6 converted, 0 refused, 3 skipped/);
    expect(x.err).toMatch(
      /^skipped {4}fallback-test-ns\/fallback-test-ta \(.*e2e-fallback\.yaml#1\): not a ScaledObject \(kind "TriggerAuthentication"\)/m,
    );
  });

  it('input that cannot be parsed: exit 2 and nothing written, with file and line', async () => {
    const x = io(`${docsExample}---\nkind: ScaledObject\nspec: [unclosed\n`);
    expect(await runMigrate(['-f', '-'], x)).toBe(2);
    expect(x.out).toBe('');
    expect(x.err).toMatch(/<stdin>:\d+: /);
    expect(x.err).toMatch(/nothing was written/);
  });

  it('some objects refused: exit 1, the others still written, the refused ones named with the reason', async () => {
    const bad = docsExample
      .replace('name: a, namespace: ns', 'name: b, namespace: ns')
      .replace('consumer: c', 'consumer: "c.d"');
    const x = io(`${docsExample}---\n${bad}`);
    expect(await runMigrate(['-f', '-'], x)).toBe(1);
    expect(x.out.match(/^kind: EventConsumer$/gm)).toHaveLength(1);
    expect(x.out).toMatch(/name: a$/m);
    expect(x.err).toMatch(
      /REFUSED {4}ns\/b \(<stdin>#2\): nothing written for it\n {2}reason {3}.*spec\.nats\.consumer/,
    );
  });

  it('--from-cluster converts what the cluster lists; a List document is expanded', async () => {
    const listed = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'c', namespace: 'prod' },
      spec: {
        scaleTargetRef: { name: 'c' },
        triggers: [
          {
            type: 'nats-jetstream',
            metadata: { natsServerMonitoringEndpoint: 'n:8222', stream: 'S', consumer: 'c' },
          },
        ],
      },
    };
    const x = io('', [listed]);
    expect(await runMigrate(['--from-cluster', '--nats-url', 'nats://nats.prod:4222'], x)).toBe(0);
    expect(x.out).toMatch(/- nats:\/\/nats\.prod:4222/);
    const y = io(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [listed, listed] }));
    expect(await runMigrate(['-f', '-'], y)).toBe(0);
    expect(y.err).toMatch(/summary: 2 converted/);
  });

  // A KEDA user whose endpoint lives in a Secret behind a TriggerAuthentication: KEDA read it from
  // there before the trigger metadata, so the EventConsumer must point at that server.
  const withAuth = (metadataEndpoint: string, authSpec: string): string => `${docsExample
    .replace('natsServerMonitoringEndpoint: "nats:8222",', metadataEndpoint)
    .replace('consumer: c }', 'consumer: c }\n    authenticationRef: { name: nats-auth }')}---
apiVersion: keda.sh/v1alpha1
kind: TriggerAuthentication
metadata: { name: nats-auth, namespace: ns }
spec: ${authSpec}
---
apiVersion: v1
kind: Secret
metadata: { name: mon, namespace: ns }
data: { endpoint: ${Buffer.from('nats-prod.ns.svc:8222').toString('base64')} }
`;
  const fromSecret =
    '{ secretTargetRef: [{ parameter: natsServerMonitoringEndpoint, name: mon, key: endpoint }] }';

  it('the endpoint a TriggerAuthentication maps from a Secret (in the files) wins over the metadata, as in KEDA', async () => {
    const x = io(withAuth('natsServerMonitoringEndpoint: "stale:8222",', fromSecret));
    expect(await runMigrate(['-f', '-'], x)).toBe(0);
    expect(x.out).toMatch(/- nats:\/\/nats-prod\.ns\.svc:4222/);
    expect(x.out).not.toMatch(/stale/);
    expect(x.err).toMatch(
      /triggers\[\]\.authenticationRef: natsServerMonitoringEndpoint from Secret ns\/mon key endpoint/,
    );
    // Without the endpoint in the metadata at all, it still converts (before: refused for --nats-url).
    const y = io(withAuth('', fromSecret));
    expect(await runMigrate(['-f', '-'], y)).toBe(0);
    expect(y.out).toMatch(/- nats:\/\/nats-prod\.ns\.svc:4222/);
  });

  it('a known TriggerAuthentication without the endpoint: the metadata is what KEDA watched, said without "check"', async () => {
    const x = io(
      withAuth(
        'natsServerMonitoringEndpoint: "meta:8222",',
        '{ secretTargetRef: [{ parameter: username, name: mon, key: endpoint }] }',
      ),
    );
    expect(await runMigrate(['-f', '-'], x)).toBe(0);
    expect(x.out).toMatch(/- nats:\/\/meta:4222/);
    expect(x.err).not.toMatch(/check and pass --nats-url/);
  });

  it("an endpoint from the target's env or a vault cannot be read: refused unless --nats-url names the server", async () => {
    const env = '{ env: [{ parameter: natsServerMonitoringEndpoint, name: MON_ENDPOINT }] }';
    const x = io(withAuth('natsServerMonitoringEndpoint: "meta:8222",', env));
    expect(await runMigrate(['-f', '-'], x)).toBe(1);
    expect(x.out).toBe('');
    expect(x.err).toMatch(
      /reason +TriggerAuthentication ns\/nats-auth gives KEDA natsServerMonitoringEndpoint from env MON_ENDPOINT of the target's container, which migrate cannot read: pass --nats-url/,
    );
    const y = io(withAuth('natsServerMonitoringEndpoint: "meta:8222",', env));
    expect(await runMigrate(['-f', '-', '--nats-url', 'nats://right:4222'], y)).toBe(0);
    expect(y.out).toMatch(/- nats:\/\/right:4222/);
  });

  it("--from-cluster reads the TriggerAuthentication and only the Secret keys it maps to the scaler's parameters", async () => {
    const [so, auth, sec] = withAuth(
      '',
      `{ secretTargetRef: [{ parameter: natsServerMonitoringEndpoint, name: mon, key: endpoint }, { parameter: password, name: creds, key: p }] }`,
    )
      .split('---\n')
      .map((d) => parse(d) as unknown);
    const asked: string[] = [];
    const x = io('', [so]);
    x.readObject = (kind, namespace, name) => {
      asked.push(`${kind} ${namespace}/${name}`);
      return Promise.resolve(
        kind === 'TriggerAuthentication' ? auth : kind === 'Secret' && name === 'mon' ? sec : null,
      );
    };
    expect(await runMigrate(['--from-cluster'], x)).toBe(0);
    expect(x.out).toMatch(/- nats:\/\/nats-prod\.ns\.svc:4222/);
    expect(asked).toEqual(['TriggerAuthentication ns/nats-auth', 'Secret ns/mon']);
    // A Secret the context may not read: refused with the API server's reason, the rest converted.
    const y = io('', [so]);
    y.readObject = (kind) =>
      kind === 'Secret'
        ? Promise.reject(new Error('forbidden (secrets "mon" is forbidden)'))
        : Promise.resolve(auth);
    expect(await runMigrate(['--from-cluster'], y)).toBe(1);
    expect(y.err).toMatch(
      /from Secret ns\/mon key endpoint \(forbidden \(secrets "mon" is forbidden\)\), which migrate cannot read/,
    );
  });

  it.each([
    [[], /nothing to read/],
    [['-f'], /-f needs a value/],
    [['--bogus'], /unknown argument --bogus/],
    [['-f', '-', '-n', 'x'], /only applies with --from-cluster/],
    [['-f', '-', '--nats-url', 'http://x'], /expected nats:\/\/host:port/],
    [['-f', '-', '--nats-url', 'ws://x:8080'], /does not speak ws:\/\//],
  ])('usage error %j: exit 2 with the help text', async (argv, message) => {
    const x = io();
    expect(await runMigrate(argv, x)).toBe(2);
    expect(x.err).toMatch(message);
    expect(x.err).toMatch(/Usage: jetscale migrate/);
  });

  it('a missing file: exit 2, nothing written', async () => {
    const x = io();
    expect(await runMigrate(['-f', '/nonexistent/so.yaml'], x)).toBe(2);
    expect(x.err).toMatch(/no such file or directory/);
    expect(x.out).toBe('');
  });
});

// Drills: --from-cluster with a kubeconfig a user gets wrong on day one. The error must name the
// kubeconfig and say what to fix, and never fall back to an API server nobody configured.
describe('jetscale migrate --from-cluster: a wrong kubeconfig', () => {
  const saved = {
    KUBECONFIG: process.env.KUBECONFIG,
    HOME: process.env.HOME,
    SVC: process.env.KUBERNETES_SERVICE_HOST,
  };
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'jetscale-kubeconfig-'));
    delete process.env.KUBERNETES_SERVICE_HOST;
    process.env.HOME = dir;
  });
  afterEach(() => {
    for (const [key, value] of [
      ['KUBECONFIG', saved.KUBECONFIG],
      ['HOME', saved.HOME],
      ['KUBERNETES_SERVICE_HOST', saved.SVC],
    ] as const)
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    rmSync(dir, { recursive: true, force: true });
  });

  it('KUBECONFIG naming a file that does not exist', async () => {
    process.env.KUBECONFIG = path.join(dir, 'missing');
    await expect(listScaledObjectsFromCluster(undefined)).rejects.toThrow(
      new RegExp(`KUBECONFIG names ${path.join(dir, 'missing')}, which does not exist`),
    );
  });

  it('a kubeconfig that is not YAML', async () => {
    process.env.KUBECONFIG = path.join(dir, 'config');
    writeFileSync(process.env.KUBECONFIG, 'clusters: [\n');
    await expect(listScaledObjectsFromCluster(undefined)).rejects.toThrow(
      /^cannot read the kubeconfig \(KUBECONFIG=.*config\): [^\n]+$/,
    );
  });

  it('no kubeconfig at all (no KUBECONFIG, no ~/.kube/config, not in a pod)', async () => {
    delete process.env.KUBECONFIG;
    await expect(listScaledObjectsFromCluster(undefined)).rejects.toThrow(
      /no kubeconfig: KUBECONFIG is not set and .*\.kube\/config does not exist/,
    );
  });

  it('a kubeconfig without a current context', async () => {
    process.env.KUBECONFIG = path.join(dir, 'config');
    writeFileSync(
      process.env.KUBECONFIG,
      'apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]\nusers: [{name: u, user: {token: x}}]\ncontexts: [{name: ctx, context: {cluster: c, user: u}}]\n',
    );
    await expect(listScaledObjectsFromCluster(undefined)).rejects.toThrow(
      /the kubeconfig \(KUBECONFIG=.*\) has no current context: run kubectl config use-context <name>/,
    );
  });
});
