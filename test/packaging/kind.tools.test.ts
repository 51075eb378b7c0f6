// The kind path (`make kind-up` / `make kind-down`) cannot run here (no Docker daemon), so these
// tests prove what can be proved without it: the scripts are ShellCheck-clean, name what is
// missing and the step that failed, and — with recording stand-ins for docker, kind, kubectl,
// helm and k6 — run every step in order with the arguments the real tools need.
import { jest } from '@jest/globals';
import * as k8s from '@kubernetes/client-node';
import {
  chmodSync,
  cpSync,
  existsSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { toolPath } from '../../hack/stack/tools.js';
import { kubernetesVersion, repoRoot, run } from './support.js';
import { testScratchDir } from '../scratch.js';

// helm, promtool and the scripts are real processes; on a busy 2-core machine they need more than 5 s.
jest.setTimeout(60_000);

const scripts = ['hack/kind/lib.sh', 'hack/kind/up.sh', 'hack/kind/down.sh'];

/** A directory with just enough of a system for the scripts (bash and coreutils they call). */
function minimalPath(): string {
  const bin = testScratchDir('jetscale-kind-bin-');
  for (const tool of ['bash', 'dirname', 'grep', 'cat', 'env']) {
    const found = ['/usr/bin', '/bin'].map((d) => path.join(d, tool)).find((p) => existsSync(p));
    if (found === undefined) throw new Error(`${tool} not found in /usr/bin or /bin`);
    symlinkSync(found, path.join(bin, tool));
  }
  return bin;
}

/**
 * Stand-ins that append their argv to a log. `docker info` fails when dockerDown; any command
 * whose argv contains `failOn` fails; `kind get clusters` prints existingCluster.
 */
function standIns(
  bin: string,
  log: string,
  options: { dockerDown?: boolean; failOn?: string; existingCluster?: string } = {},
): void {
  for (const tool of ['docker', 'kind', 'kubectl', 'helm', 'k6']) {
    const lines = ['#!/usr/bin/env bash', `echo "${tool} $*" >> ${JSON.stringify(log)}`];
    if (tool === 'docker' && options.dockerDown) lines.push('[[ "$1" == info ]] && exit 1');
    if (options.failOn)
      lines.push(
        `[[ "$*" == *${JSON.stringify(options.failOn)}* ]] && { echo "stand-in ${tool} failing on purpose" >&2; exit 7; }`,
      );
    if (tool === 'kind')
      lines.push(
        `[[ "$1 $2" == "get clusters" ]] && echo ${JSON.stringify(options.existingCluster ?? 'other')}`,
      );
    lines.push('exit 0');
    const file = path.join(bin, tool);
    writeFileSync(file, lines.join('\n') + '\n');
    chmodSync(file, 0o755);
  }
}

/** A copy of the files the scripts use, with stand-in Dockerfiles, so the test never depends on them. */
function scratchRepo(): string {
  const root = testScratchDir('jetscale-kind-repo-');
  for (const dir of ['hack', 'manifests/kind', 'charts'])
    cpSync(path.join(repoRoot, dir), path.join(root, dir), { recursive: true });
  for (const d of ['operator', 'workloads']) {
    mkdirSync(path.join(root, d), { recursive: true });
    writeFileSync(path.join(root, d, 'Dockerfile'), 'FROM scratch\n');
  }
  return root;
}

function runScript(root: string, script: string, bin: string) {
  return run(path.join(bin, 'bash'), [path.join(root, script)], {
    env: { PATH: bin, HOME: root },
    cwd: root,
  });
}

describe('hack/kind scripts', () => {
  it('are ShellCheck-clean and use strict mode', async () => {
    const r = await run(toolPath('shellcheck'), ['-x', ...scripts]);
    expect({ code: r.code, out: r.stdout + r.stderr }).toEqual({ code: 0, out: '' });
    for (const s of ['hack/kind/up.sh', 'hack/kind/down.sh']) {
      expect(readFileSync(path.join(repoRoot, s), 'utf8')).toMatch(
        /^#!\/usr\/bin\/env bash\n(#.*\n)*set -euo pipefail$/m,
      );
    }
  });

  it('list every missing prerequisite at once', async () => {
    const bin = minimalPath();
    const r = await runScript(repoRoot, 'hack/kind/up.sh', bin);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Missing prerequisites: docker kind kubectl helm k6');
    for (const hint of ['docs.docker.com', 'kind.sigs.k8s.io', 'make tools', 'install-k6'])
      expect(r.stderr).toContain(hint);
  });

  it('name only what is missing', async () => {
    const bin = minimalPath();
    const log = path.join(bin, 'calls.log');
    standIns(bin, log);
    unlinkSync(path.join(bin, 'k6'));
    const r = await runScript(repoRoot, 'hack/kind/up.sh', bin);
    expect(r.code).toBe(1);
    // Colour codes aside, k6 is the only tool named.
    const plain = r.stderr
      .split(String.fromCharCode(27))
      .join('')
      .replace(/\[[0-9;]*m/g, '');
    expect(plain).toContain('Missing prerequisites: k6\n');
  });

  it('say the Docker daemon is down and name the failing step', async () => {
    const bin = minimalPath();
    standIns(bin, path.join(bin, 'calls.log'), { dockerDown: true });
    const r = await runScript(repoRoot, 'hack/kind/up.sh', bin);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('daemon is not reachable');
    expect(r.stderr).toContain('FAILED during step: checking prerequisites');
  });

  it('name the step when a tool fails midway', async () => {
    const bin = minimalPath();
    standIns(bin, path.join(bin, 'calls.log'), {
      failOn: 'kube-prometheus-stack prometheus-community/kube-prometheus-stack',
    });
    const r = await runScript(scratchRepo(), 'hack/kind/up.sh', bin);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain('FAILED during step: installing kube-prometheus-stack');
  });

  it('run every step of kind-up in order with the arguments the tools need', async () => {
    const bin = minimalPath();
    const log = path.join(bin, 'calls.log');
    standIns(bin, log);
    const root = scratchRepo();
    const r = await runScript(root, 'hack/kind/up.sh', bin);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const calls = readFileSync(log, 'utf8').trim().split('\n');
    const expected: RegExp[] = [
      /^docker info$/,
      new RegExp(
        `^kind create cluster --name jetscale --image kindest/node:${kubernetesVersion.replace(/\./g, '\\.')} --config ${root}/manifests/kind/cluster\\.yaml`,
      ),
      /^kubectl config use-context kind-jetscale$/,
      /^helm repo add nats https:\/\/nats-io\.github\.io\/k8s\/helm\/charts\//,
      /^helm repo add prometheus-community /,
      /^helm --kube-context kind-jetscale upgrade --install kube-prometheus-stack prometheus-community\/kube-prometheus-stack .*--values .*hack\/kind\/values\/kube-prometheus-stack\.yaml/,
      /^docker build --file .*operator\/Dockerfile --tag jetscale\/operator:dev/,
      /^docker build --file .*workloads\/Dockerfile --tag jetscale\/workloads:dev/,
      /^kind load docker-image --name jetscale jetscale\/operator:dev jetscale\/workloads:dev$/,
      /^helm --kube-context kind-jetscale upgrade --install jetscale .*charts\/jetscale .*image\.pullPolicy=Never .*serviceMonitor\.enabled=true/,
      /^helm dependency update .*charts\/jetscale-demo$/,
      /^helm --kube-context kind-jetscale upgrade --install jetscale-demo .*charts\/jetscale-demo .*image\.repository=jetscale\/workloads/,
      /^kubectl --context kind-jetscale --namespace jetscale-demo wait eventconsumer --all --for=condition=Ready/,
    ];
    let at = 0;
    for (const pattern of expected) {
      const found = calls.findIndex((c, i) => i >= at && pattern.test(c));
      expect({ pattern: String(pattern), found: found >= 0 }).toEqual({
        pattern: String(pattern),
        found: true,
      });
      at = found + 1;
    }
    expect(r.stdout).toMatch(/Grafana\s+http:\/\/127\.0\.0\.1:3000\s+login admin \/ jetscale/);
    expect(r.stdout).toContain('Next:');
  });

  it('kind-down deletes the cluster it created, and only that one', async () => {
    const bin = minimalPath();
    const log = path.join(bin, 'calls.log');
    standIns(bin, log, { existingCluster: 'jetscale' });
    const r = await runScript(repoRoot, 'hack/kind/down.sh', bin);
    expect(r.code).toBe(0);
    expect(readFileSync(log, 'utf8')).toContain('kind delete cluster --name jetscale\n');

    const bin2 = minimalPath();
    const log2 = path.join(bin2, 'calls.log');
    standIns(bin2, log2, { existingCluster: 'someone-else' });
    const r2 = await runScript(repoRoot, 'hack/kind/down.sh', bin2);
    expect(r2.code).toBe(0);
    expect(r2.stdout).toContain('nothing to delete');
    expect(readFileSync(log2, 'utf8')).not.toContain('delete');
  });

  it('are reachable as make kind-up, kind-down and deploy', async () => {
    const r = await run('make', ['-n', 'kind-up', 'kind-down', 'deploy']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('bash hack/kind/up.sh');
    expect(r.stdout).toContain('bash hack/kind/down.sh');
    expect(r.stdout).toMatch(
      /helm upgrade --install jetscale charts\/jetscale --namespace jetscale-system --create-namespace --wait/,
    );
  });
});

describe('manifests/kind/cluster.yaml', () => {
  interface KindNode {
    role: string;
    extraPortMappings?: Array<{ containerPort: number; hostPort: number; listenAddress?: string }>;
  }
  const cluster = k8s.loadYaml<{
    kind: string;
    apiVersion: string;
    nodes: KindNode[];
    networking?: { apiServerAddress?: string };
  }>(readFileSync(path.join(repoRoot, 'manifests', 'kind', 'cluster.yaml'), 'utf8'));

  it('has a control plane and several workers, API server on loopback', () => {
    expect(cluster.kind).toBe('Cluster');
    expect(cluster.apiVersion).toBe('kind.x-k8s.io/v1alpha4');
    expect(cluster.nodes.filter((n) => n.role === 'control-plane')).toHaveLength(1);
    expect(cluster.nodes.filter((n) => n.role === 'worker').length).toBeGreaterThanOrEqual(3);
    expect(cluster.networking?.apiServerAddress).toBe('127.0.0.1');
  });

  it('maps the node ports the charts and kube-prometheus-stack values use, on 127.0.0.1 only', () => {
    const mappings = cluster.nodes.flatMap((n) => n.extraPortMappings ?? []);
    for (const m of mappings) expect(m.listenAddress).toBe('127.0.0.1');
    const byContainer = new Map(mappings.map((m) => [m.containerPort, m.hostPort]));
    const kps = readFileSync(
      path.join(repoRoot, 'hack', 'kind', 'values', 'kube-prometheus-stack.yaml'),
      'utf8',
    );
    const demo = readFileSync(path.join(repoRoot, 'charts', 'jetscale-demo', 'values.yaml'), 'utf8');
    const grafanaPort = Number(/grafana:[\s\S]*?nodePort: (\d+)/.exec(kps)?.[1]);
    const promPort = Number(/prometheus:[\s\S]*?nodePort: (\d+)/.exec(kps)?.[1]);
    const gatewayPort = Number(/gateway:[\s\S]*?nodePort: (\d+)/.exec(demo)?.[1]);
    expect(byContainer.get(grafanaPort)).toBe(3000);
    expect(byContainer.get(promPort)).toBe(9090);
    expect(byContainer.get(gatewayPort)).toBe(8080);
    expect(kps).toMatch(/enableRemoteWriteReceiver: true/);
    expect(kps).toMatch(/label: grafana_dashboard/);
  });
});
