// The end-to-end proof CI runs (`make e2e`, part of `make test`): the demo chart and an
// EventConsumer on the local stack, the operator as two leader-elected processes, and the short
// spike (spike-ci) with a forced consumer kill and an operator leader kill during the peak. It
// asserts that jetscale scaled up within a generous bound, the backlog drained, the other operator
// replica took over, nothing was lost or applied twice, and no process was left behind. A real
// Prometheus scrapes the run (1 s, as in the demo); afterwards every dashboard panel must be
// answered by it and its peaks of desired and ready replicas and of the backlog must agree with the
// harness's.
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../hack/stack/ports.js';
import { repoRoot } from '../../hack/stack/tools.js';
import { testStack } from '../../test/env.js';
import { profiles } from '../profiles/profiles.js';
import { startLocalSystem, type LocalSystem } from '../local/system.js';
import { LiveView } from './live-view.js';
import { runScenario, type RunOutcome } from './run-scenario.js';
import { expectDashboardProof, verdictOf } from './test/e2e-checks.js';
import { isProcessAlive } from '../../hack/stack/process-alive.js';
import { startPrometheus, type PrometheusServer } from '../../hack/stack/prometheus.js';
import { makeScratchDir } from '../../hack/stack/scratch-dir.js';

const profile = profiles['spike-ci'];

describe('jetscale end to end on the local stack (spike-ci: spike + forced consumer kill + operator leader kill)', () => {
  const stack = testStack();
  const scratch = makeScratchDir('jetscale-e2e-');
  const workDir = scratch.dir;
  const id = randomBytes(3).toString('hex');
  let system: LocalSystem | undefined;
  let prometheus: PrometheusServer | undefined;
  let outcome: RunOutcome | undefined;
  let pids: number[] = [];

  beforeAll(async () => {
    prometheus = await startPrometheus({ dir: path.join(workDir, 'prometheus'), intervalSeconds: 1 });
    system = await startLocalSystem({
      repoRoot,
      kubeconfig: stack.kubeconfigPath,
      natsUrl: stack.natsUrl,
      namespace: `lt-e2e-${id}`,
      workDir,
      jetstreamSuffix: `e2e${id}`,
      gatewayPort: await freePort(),
      prometheus: {
        url: prometheus.url,
        intervalSeconds: prometheus.intervalSeconds,
        targets: prometheus.targets,
      },
      progress: (line) => process.stderr.write(`[e2e] ${line}\n`),
    });
    outcome = await runScenario({
      target: system.target,
      profile,
      reportDir: path.join(repoRoot, 'reports'),
      settleSeconds: 90,
      view: new LiveView({ scenario: profile.name, totalSeconds: 140, logEverySeconds: 10 }),
    });
    process.stderr.write(`\n${outcome.summary}\n`);
    pids = system.pids();
  }, 480_000);

  afterAll(async () => {
    await system?.stop();
    await prometheus?.stop();
    // The pods' and the operator replicas' logs are in workDir: kept when the run failed.
    if (outcome?.result.passed) scratch.remove();
    else process.stderr.write(`[e2e] the run did not pass: logs kept in ${path.join(workDir, 'logs')}\n`);
  }, 60_000);

  const verdict = (name: string): { value: number | null; pass: boolean } => verdictOf(outcome, name);

  it('says in the report that its pods ran as local processes', () => {
    expect(String(outcome?.result.settings['pods run as'])).toMatch(/^local processes on kwok nodes/);
  });

  it('injected both faults', () => {
    const kinds = outcome?.result.faults.filter((f) => f.injected).map((f) => f.kind);
    expect(kinds).toEqual(expect.arrayContaining(['kill-consumer-pods', 'kill-operator-leader']));
  });

  it('scaled the consumers up soon after the spike began', () => {
    const up = verdict('time from spike to scale-up');
    expect(up.value).not.toBeNull();
    expect(up.value ?? Infinity).toBeLessThanOrEqual(profile.budgets.scaleUpWithinSeconds ?? 45);
    const peakReplicas = Math.max(...(outcome?.result.timeline ?? []).map((s) => s.specReplicas ?? 0));
    expect(peakReplicas).toBeGreaterThanOrEqual(3);
  });

  it('drained the backlog after the peak', () => {
    const drain = verdict('time to drain after the peak');
    expect(drain.value).not.toBeNull();
    expect(drain.pass).toBe(true);
  });

  it('failed over to the other operator replica', () => {
    const failover = verdict('operator failover');
    expect(failover.value).not.toBeNull();
    expect(failover.pass).toBe(true);
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

  it('leaves no process behind', async () => {
    await system?.stop();
    system = undefined;
    const prometheusPid = prometheus?.pid();
    await prometheus?.stop();
    expect(pids.length).toBeGreaterThan(0);
    expect([...pids, ...(prometheusPid === undefined ? [] : [prometheusPid])].filter(isProcessAlive)).toEqual(
      [],
    );
  }, 60_000);
});
