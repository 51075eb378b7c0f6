import { kwokctlConfig } from './cluster.js';

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
