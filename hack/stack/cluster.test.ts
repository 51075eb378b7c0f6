import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { clusterBinaries, kwokctlConfig, startAfterReadyzScript } from './cluster.js';

const ports = {
  etcd: 40001,
  etcdPeer: 40002,
  apiServer: 40003,
  controllerManager: 40004,
  scheduler: 40005,
  kwokController: 40006,
};
const binary = (name: string): string => `/tools/${name}`;

describe('the kwokctl configuration of a local cluster', () => {
  test('gives every component the port chosen for it, so kwokctl never picks one itself', () => {
    const config = kwokctlConfig({ ports, auditPolicy: '/w/audit.yaml', binary });
    for (const line of [
      'etcdPort: 40001',
      'etcdPeerPort: 40002',
      'kubeApiserverPort: 40003',
      'kubeControllerManagerPort: 40004',
      'kubeSchedulerPort: 40005',
      'kwokControllerPort: 40006',
    ])
      expect(config).toContain(`\n  ${line}\n`);
  });

  test('keeps everything on loopback unless the API server must also serve a real node', () => {
    const local = kwokctlConfig({ ports, auditPolicy: '/w/audit.yaml', binary });
    expect(local).toContain('  bindAddress: 127.0.0.1\n');
    expect(local).not.toContain('bind-address');
    const withNode = kwokctlConfig({ ports, auditPolicy: '/w/audit.yaml', binary, alsoServeAt: '10.88.0.1' });
    expect(withNode).toContain('{ key: bind-address, value: 0.0.0.0, override: true }');
    expect(withNode).toContain('  kubeApiserverCertSANs:\n    - 10.88.0.1\n');
  });

  test('gives the controller manager and the scheduler a renew deadline of 40 s (none exits when the API server is away 10 s)', () => {
    const config = kwokctlConfig({ ports, auditPolicy: '/w/audit.yaml', binary });
    for (const component of ['kube-controller-manager', 'kube-scheduler'])
      expect(config).toContain(
        `  - name: ${component}\n    extraArgs:\n      - { key: leader-elect-lease-duration, value: "60s" }\n      - { key: leader-elect-renew-deadline, value: "40s" }\n`,
      );
  });

  test('runs the pinned binaries', () => {
    const config = kwokctlConfig({ ports, auditPolicy: '/w/audit.yaml', binary });
    expect(config).toContain('  etcdBinary: /tools/etcd\n');
    expect(config).toContain('  kwokControllerBinary: /tools/kwok\n');
  });
});

describe('kube-controller-manager and kube-scheduler start only once the API server answers /readyz', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cluster-test-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** An executable shell script in `dir`. */
  const script = (name: string, body: string): string => {
    const file = path.join(dir, name);
    writeFileSync(file, `#!/bin/sh\n${body}\n`);
    chmodSync(file, 0o755);
    return file;
  };
  /**
   * A kubectl whose /readyz fails `failures` times, then answers (each call counted in a file, its
   * arguments kept), and a component binary that records its argv and the kubectl calls made before
   * it ran.
   */
  const fakes = (failures: number) => {
    const calls = path.join(dir, 'calls');
    const kubectl = script(
      'kubectl',
      `echo "$@" >> ${dir}/kubectl-args; n=$(( $(cat ${calls} 2>/dev/null || echo 0) + 1 )); echo $n > ${calls}; [ $n -gt ${failures} ]`,
    );
    const binary = script('component', `echo "$(cat ${calls} 2>/dev/null || echo 0) $*" > ${dir}/ran`);
    return { kubectl, binary };
  };
  /** The wrapper as cluster.ts writes it, in `dir`. */
  const wrapperOf = (options: Parameters<typeof startAfterReadyzScript>[0]): string => {
    const file = path.join(dir, 'wrapper');
    writeFileSync(file, startAfterReadyzScript(options));
    chmodSync(file, 0o755);
    return file;
  };
  const run = (file: string, args: string[]) => promisify(execFile)(file, args, { timeout: 20_000 });

  test("waits until /readyz answers (asked with the component's kubeconfig), then runs the binary with its arguments", async () => {
    const { kubectl, binary } = fakes(3);
    const wrapper = wrapperOf({ component: 'kube-controller-manager', binary, kubectl, timeoutSeconds: 30 });
    const { stderr } = await run(wrapper, ['--kubeconfig=/k/it s.yaml', '--secure-port=1', "--x='y'"]);
    // 3 refusals, then the answer: the binary ran after the 4th.
    expect(readFileSync(path.join(dir, 'ran'), 'utf8')).toBe(
      "4 --kubeconfig=/k/it s.yaml --secure-port=1 --x='y'\n",
    );
    expect(readFileSync(path.join(dir, 'kubectl-args'), 'utf8').split('\n')[0]).toBe(
      '--kubeconfig /k/it s.yaml get --raw /readyz --request-timeout=5s',
    );
    expect(stderr).toContain(
      'waiting for the API server to answer /readyz before starting kube-controller-manager',
    );
    expect(stderr).toMatch(/answered \/readyz after \d+ s: starting kube-controller-manager/);
  });

  test('takes --kubeconfig given as two arguments too', async () => {
    const { kubectl, binary } = fakes(1);
    const wrapper = wrapperOf({ component: 'kube-scheduler', binary, kubectl, timeoutSeconds: 30 });
    await run(wrapper, ['--kubeconfig', '/k/s.yaml']);
    expect(readFileSync(path.join(dir, 'ran'), 'utf8')).toBe('2 --kubeconfig /k/s.yaml\n');
  });

  test('runs the binary at once without a kubeconfig (kwokctl asking --version)', async () => {
    const { kubectl, binary } = fakes(1000);
    const wrapper = wrapperOf({ component: 'kube-scheduler', binary, kubectl, timeoutSeconds: 30 });
    await run(wrapper, ['--version']);
    expect(readFileSync(path.join(dir, 'ran'), 'utf8')).toBe('0 --version\n');
  });

  test('gives up after its timeout, saying so, without starting the binary', async () => {
    const { kubectl, binary } = fakes(1000);
    const wrapper = wrapperOf({ component: 'kube-scheduler', binary, kubectl, timeoutSeconds: 1 });
    const failed = await run(wrapper, ['--kubeconfig=/k']).then(
      () => undefined,
      (err: unknown) => err as { code?: number; stderr?: string },
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toContain(
      'the API server did not answer /readyz within 1 s: kube-scheduler not started',
    );
    expect(existsSync(path.join(dir, 'ran'))).toBe(false);
  });

  test('kwokctl is given the wrappers for these two and the pinned binaries for the rest', () => {
    const binaryOf = clusterBinaries(dir, 'c1', (name) => `/tools/${name}`);
    const config = kwokctlConfig({ ports, auditPolicy: '/w/audit.yaml', binary: binaryOf });
    for (const [key, component] of [
      ['kubeControllerManagerBinary', 'kube-controller-manager'],
      ['kubeSchedulerBinary', 'kube-scheduler'],
    ] as const) {
      const wrapper = path.join(dir, `c1-${component}-after-readyz.sh`);
      expect(config).toContain(`  ${key}: ${wrapper}\n`);
      const text = readFileSync(wrapper, 'utf8');
      expect(text).toContain(`exec '/tools/${component}' "$@"`);
      expect(text).toContain(`until '/tools/kubectl' --kubeconfig "$kubeconfig" get --raw /readyz`);
    }
    expect(config).toContain('  kubeApiserverBinary: /tools/kube-apiserver\n');
    expect(config).toContain('  etcdBinary: /tools/etcd\n');
  });
});
