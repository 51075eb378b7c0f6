import * as k8s from '@kubernetes/client-node';
import os from 'node:os';
import path from 'node:path';
import { PodRunner, cpuCores, nicenessForCpuRequest } from './pod-runner.js';

function runner(): PodRunner {
  const kc = new k8s.KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return new PodRunner({
    kubeConfig: kc,
    namespace: 'demo',
    repoRoot: '/repo',
    serviceAddresses: { 'nats:4222': '127.0.0.1:14222', 'gateway:8080': '127.0.0.1:18080' },
    portEnv: ['PORT'],
    logDir: path.join(os.tmpdir(), 'jetscale-runner-unit'),
  });
}

describe('PodRunner address and command mapping', () => {
  it.each([
    ['nats://nats:4222', 'nats://127.0.0.1:14222'],
    [
      'nats://nats.demo.svc:4222,nats://nats.demo.svc.cluster.local:4222',
      'nats://127.0.0.1:14222,nats://127.0.0.1:14222',
    ],
    ['http://gateway.demo:8080/events', 'http://127.0.0.1:18080/events'],
    ['nats://user:pw@nats:4222', 'nats://user:pw@127.0.0.1:14222'],
    // Other namespaces, other ports and look-alike names are not this Service.
    ['nats://nats.other.svc:4222', 'nats://nats.other.svc:4222'],
    ['nats://nats:6222', 'nats://nats:6222'],
    ['nats://natsy:4222', 'nats://natsy:4222'],
    ['plain value', 'plain value'],
  ])('maps %s to %s', (value, expected) => {
    expect(runner().mapServiceAddresses(value)).toBe(expected);
  });

  it('runs `node` as this Node and maps the image workdir to the repository', () => {
    const command = runner().localCommand({
      name: 'c',
      command: ['node', '/app/tools/x.cjs'],
      args: ['--flag', '/etc/hosts'],
    });
    expect(command).toEqual({
      command: process.execPath,
      args: ['/repo/tools/x.cjs', '--flag', '/etc/hosts'],
      cwd: '/repo',
    });
  });

  it('refuses a relative script that was not built, naming the fix', () => {
    expect(() => runner().localCommand({ name: 'c', command: ['node', 'dist/missing/main.js'] })).toThrow(
      /npm run build/,
    );
  });

  it('refuses a container without a command', () => {
    expect(() => runner().localCommand({ name: 'c', image: 'x' })).toThrow(/no command/);
  });
});

describe('PodRunner CPU weights (cgroup shares follow CPU requests)', () => {
  it('reads CPU quantities and refuses what is not one', () => {
    expect(cpuCores('250m')).toBe(0.25);
    expect(cpuCores('1.5')).toBe(1.5);
    expect(cpuCores(2)).toBe(2);
    expect(cpuCores(undefined)).toBeUndefined();
    expect(cpuCores('0')).toBeUndefined();
    expect(cpuCores('1Gi')).toBeUndefined();
    expect(cpuCores('-1')).toBeUndefined();
  });

  it('gives a smaller request the niceness whose weight matches its share', () => {
    // 100m beside 250m: shares 2.5 : 1, four nice levels (1.25^4 = 2.44).
    expect(nicenessForCpuRequest(0.1, 0.25)).toBe(4);
    expect(nicenessForCpuRequest(0.25, 0.25)).toBe(0);
    expect(nicenessForCpuRequest(1, 0.25)).toBe(0);
    expect(nicenessForCpuRequest(0.001, 1000)).toBe(19);
  });
});
