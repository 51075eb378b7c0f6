// The end-to-end drill on real containers (`make e2e-real-node`): the same spike-ci scenario,
// faults, verdicts and report as e2e.int.test.ts, but every pod — the operator (charts/jetscale,
// two leader-elected pods), the gateway and the consumers (charts/jetscale-demo) — runs from the
// images `make images` builds on a real kubelet + containerd node. The consumer kill is a SIGKILL
// of the container through containerd (no grace: the kubelet restarts it), the leader kill a pod
// deletion through the API. When the run fails, the pods', kubelet's and containerd's logs and the
// events are saved into the kept work directory before teardown. A Prometheus (1 s scrapes, in the
// stack's CPU cgroup like the demo's) scrapes every pod at its IP; every dashboard panel must be
// answered and its peaks agree with the harness's, as in e2e.int.test.ts. A stat panel (Leader) is
// judged over the run when its one instant at the end is empty: under load both operator pods'
// last scrapes failed once, which says nothing about the panel (monitoring/panel-proof.ts).
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startPrometheus, type PrometheusServer } from '../../hack/stack/prometheus.js';
import { collectDiagnostics } from '../../hack/stack/real-node-diagnostics.js';
import { attachRealNode, realNodeLogFiles } from '../../hack/stack/real-node.js';
import { makeScratchDir } from '../../hack/stack/scratch-dir.js';
import { createStackCgroup, directLauncher } from '../../hack/stack/stack-cgroup.js';
import { readRealNodeState } from '../../hack/stack/stack.js';
import { repoRoot, toolPath } from '../../hack/stack/tools.js';
import { testStack } from '../../test/env.js';
import { profiles } from '../profiles/profiles.js';
import { LiveView } from './live-view.js';
import { realNodeTarget, type RealNodeTarget } from './real-node-target.js';
import { runScenario, type RunOutcome } from './run-scenario.js';
import { expectDashboardProof, verdictOf } from './test/e2e-checks.js';

const profile = profiles['spike-ci'];

describe('jetscale end to end on real containers (spike-ci on a real kubelet + containerd node)', () => {
  const stack = testStack();
  const scratch = makeScratchDir('jetscale-e2e-rn-');
  const workDir = scratch.dir;
  const id = randomBytes(3).toString('hex');
  const namespace = `rn-e2e-${id}`;
  let system: RealNodeTarget | undefined;
  let prometheus: PrometheusServer | undefined;
  let outcome: RunOutcome | undefined;

  beforeAll(async () => {
    const stateFile = process.env.JETSCALE_REAL_NODE_STATE;
    if (!stateFile) throw new Error('JETSCALE_REAL_NODE_STATE is not set: run through `make e2e-real-node`');
    // In the stack's cgroup (it exists: the global setup made it), as the demo's Prometheus is.
    const cluster = process.env.JETSCALE_CLUSTER_NAME;
    prometheus = await startPrometheus({
      dir: path.join(workDir, 'prometheus'),
      intervalSeconds: 1,
      launcher: process.env.JETSCALE_STACK_CGROUP && cluster ? createStackCgroup(cluster) : directLauncher,
    });
    system = await realNodeTarget({
      repoRoot,
      kubeconfig: stack.kubeconfigPath,
      natsUrl: stack.natsUrl,
      node: attachRealNode(readRealNodeState(stateFile)),
      namespace,
      workDir,
      imageTag: process.env.JETSCALE_IMAGE_TAG ?? 'test',
      imagesImported: true,
      jetstreamSuffix: `rn${id}`,
      prometheus: {
        url: prometheus.url,
        intervalSeconds: prometheus.intervalSeconds,
        targets: prometheus.targets,
      },
      progress: (line) => process.stderr.write(`[e2e-real-node] ${line}\n`),
    });
    outcome = await runScenario({
      target: system.target,
      profile,
      reportDir: path.join(repoRoot, 'reports'),
      settleSeconds: 90,
      view: new LiveView({ scenario: profile.name, totalSeconds: 140, logEverySeconds: 10 }),
    });
    process.stderr.write(`\n${outcome.summary}\n`);
  }, 720_000);

  afterAll(async () => {
    const stateFile = process.env.JETSCALE_REAL_NODE_STATE;
    if (!outcome?.result.passed && stateFile) {
      const node = readRealNodeState(stateFile);
      const saved = await collectDiagnostics({
        kubectl: toolPath('kubectl'),
        kubeconfig: stack.kubeconfigPath,
        namespaces: [namespace],
        nodeLogs: realNodeLogFiles(node.dir),
        outDir: path.join(workDir, 'logs'),
      }).catch((err: unknown) => ({ outDir: `nowhere (${String(err)})` }));
      process.stderr.write(
        `[e2e-real-node] the run did not pass: pod, kubelet and containerd logs and events in ${saved.outDir}\n`,
      );
    }
    await system?.stop();
    await prometheus?.stop();
    if (outcome?.result.passed) scratch.remove();
  }, 180_000);

  const verdict = (name: string): { value: number | null; pass: boolean } => verdictOf(outcome, name);

  it('ran on the real node, and the report says so', () => {
    expect(outcome?.result.target).toMatch(/^real node .* \(kubelet \+ containerd/);
    expect(String(outcome?.result.settings['pods run as'])).toContain('real containers');
  });

  it('killed a consumer container and the operator leader pod', () => {
    const injected = outcome?.result.faults.filter((f) => f.injected) ?? [];
    expect(injected.map((f) => f.kind)).toEqual(
      expect.arrayContaining(['kill-consumer-pods', 'kill-operator-leader']),
    );
    expect(injected.find((f) => f.kind === 'kill-consumer-pods')?.detail).toContain('SIGKILL');
  });

  it('scaled the consumers up soon after the spike began', () => {
    const up = verdict('time from spike to scale-up');
    expect(up.value).not.toBeNull();
    expect(up.value ?? Infinity).toBeLessThanOrEqual(profile.budgets.scaleUpWithinSeconds ?? 45);
    const peakReady = Math.max(...(outcome?.result.timeline ?? []).map((s) => s.readyReplicas ?? 0));
    expect(peakReady).toBeGreaterThanOrEqual(3);
  });

  it('drained the backlog after the peak', () => {
    expect(verdict('time to drain after the peak').pass).toBe(true);
  });

  it('failed over to the other operator pod', () => {
    expect(verdict('operator failover').pass).toBe(true);
    const leaders = new Set((outcome?.result.timeline ?? []).map((s) => s.leader).filter((l) => l !== null));
    expect(leaders.size).toBeGreaterThanOrEqual(2);
  });

  it('lost nothing and applied nothing twice (the audit)', () => {
    expect(outcome?.result.audit.ran).toBe(true);
    expect(verdict('audit: events lost').value).toBe(0);
    expect(verdict('audit: events applied twice').value).toBe(0);
    expect(verdict('accepted (202) but not stored').value).toBe(0);
    expect(outcome?.result.audit.counts.accepted).toBeGreaterThan(1000);
  });

  it('every dashboard panel was answered by Prometheus, and its peaks agree with the harness', () => {
    expectDashboardProof(outcome);
  });

  it('passed every verdict', () => {
    const failed = outcome?.result.verdicts
      .filter((v) => !v.pass)
      .map((v) => `${v.name}: ${v.value} ${v.unit} (${v.detail})`);
    expect(failed).toEqual([]);
  });
});
