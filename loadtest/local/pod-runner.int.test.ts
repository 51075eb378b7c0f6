// The pod runner against the real local control plane: a Deployment's pods become processes,
// scaling down delivers SIGTERM and honours the grace period, a forced delete kills at once, and
// stopping the runner leaves no process and no finalizer behind; each running pod is registered as
// a Prometheus scrape target while its process lives.
import * as k8s from '@kubernetes/client-node';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import path from 'node:path';
import { createNamespace, eventually, kubeConfig } from '../../test/env.js';
import { repoRoot } from '../../hack/stack/tools.js';
import { FileScrapeTargets } from '../../hack/stack/scrape-targets.js';
import { PodRunner, runnerFinalizer, type RunnerEvent } from './pod-runner.js';
import { isProcessAlive } from '../../hack/stack/process-alive.js';
import { testScratchDir } from '../../test/scratch.js';

// A stand-in workload: serves its pod name over HTTP on $PORT, and on SIGTERM writes a marker after
// a short "drain" and exits — so the test sees both the signal and the grace period.
const workload = `
const http = require('node:http');
const fs = require('node:fs');
http.createServer((q, s) => s.end(process.env.POD_NAME + ' ' + process.env.NATS_URL)).listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => setTimeout(() => { fs.writeFileSync(process.env.MARKER_DIR + '/' + process.env.POD_NAME, 'sigterm'); process.exit(0); }, 300));
`;

describe('PodRunner on the local cluster', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let runner: PodRunner | undefined;
  const events: RunnerEvent[] = [];
  const markers = testScratchDir('jetscale-runner-');
  const kc = kubeConfig();
  const apps = kc.makeApiClient(k8s.AppsV1Api);
  const core = kc.makeApiClient(k8s.CoreV1Api);

  beforeAll(async () => {
    ns = await createNamespace('lt-runner');
  });
  afterAll(async () => {
    await runner?.stop();
    await ns.cleanup();
  });

  const scrapeTargets = new FileScrapeTargets(path.join(markers, 'targets'));
  /** The scrape targets registered now: address and labels of each file. */
  const registered = (): Array<{ targets: string[]; labels: Record<string, string> }> =>
    readdirSync(scrapeTargets.dir)
      .filter((f) => f.endsWith('.json'))
      .flatMap((f) => JSON.parse(readFileSync(path.join(scrapeTargets.dir, f), 'utf8')) as never[]);

  it('runs pods as processes, drains on scale-down, kills on forced delete, and cleans up', async () => {
    runner = new PodRunner({
      kubeConfig: kc,
      namespace: ns.name,
      labelSelector: 'app=fake-consumer',
      repoRoot,
      serviceAddresses: { 'nats:4222': '127.0.0.1:14222' },
      portEnv: ['PORT'],
      logDir: path.join(markers, 'logs'),
      onEvent: (e) => events.push(e),
      scrape: { targets: scrapeTargets, portEnv: 'PORT' },
    });
    await runner.start();
    await apps.createNamespacedDeployment({
      namespace: ns.name,
      body: {
        metadata: { name: 'fake-consumer' },
        spec: {
          replicas: 2,
          selector: { matchLabels: { app: 'fake-consumer' } },
          template: {
            metadata: { labels: { app: 'fake-consumer' } },
            spec: {
              terminationGracePeriodSeconds: 20,
              containers: [
                {
                  name: 'consumer',
                  image: 'jetscale/workloads:dev',
                  command: ['node', '-e', workload],
                  env: [
                    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                    { name: 'NATS_URL', value: `nats://nats.${ns.name}.svc:4222` },
                    { name: 'MARKER_DIR', value: markers },
                  ],
                },
              ],
            },
          },
        },
      },
    });
    const two = await eventually(
      'two pods running as processes',
      async () => (runner?.running().filter((p) => p.pid).length === 2 ? runner.running() : undefined),
      30_000,
    );
    for (const pod of two) {
      const port = pod.ports.PORT;
      const res = await eventually(
        `pod ${pod.name} answering`,
        async () => (await fetch(`http://127.0.0.1:${port}/`)).text(),
        10_000,
      );
      expect(res).toBe(`${pod.name} nats://127.0.0.1:14222`);
      const live = await core.readNamespacedPod({ name: pod.name, namespace: ns.name });
      expect(live.metadata?.finalizers).toContain(runnerFinalizer);
    }

    expect(registered().sort((a, b) => (a.labels.pod ?? '').localeCompare(b.labels.pod ?? ''))).toEqual(
      [...two]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map((pod) => ({
          targets: [`127.0.0.1:${pod.ports.PORT}`],
          labels: { job: 'pod', namespace: ns.name, pod: pod.name },
        })),
    );

    // Scale down: one pod is deleted gracefully; its process gets SIGTERM and is waited for.
    await apps.patchNamespacedDeploymentScale({
      name: 'fake-consumer',
      namespace: ns.name,
      body: [{ op: 'replace', path: '/spec/replicas', value: 1 }],
    });
    const drained = await eventually(
      'one process exits after SIGTERM',
      async () => events.find((e) => e.kind === 'exited'),
      20_000,
    );
    if (drained.kind !== 'exited') throw new Error('unreachable');
    expect(drained.signal).toBeNull();
    expect(drained.code).toBe(0);
    expect(readFileSync(path.join(markers, drained.pod), 'utf8')).toBe('sigterm');
    expect(events).toContainEqual({ kind: 'terminating', pod: drained.pod, graceSeconds: 20 });
    expect(registered().map((t) => t.labels.pod)).not.toContain(drained.pod);
    await eventually('the drained pod is gone from the API', async () => {
      const pods = await core.listNamespacedPod({ namespace: ns.name });
      return pods.items.some((p) => p.metadata?.name === drained.pod) ? undefined : true;
    });

    // Forced delete (grace 0): SIGKILL, no drain marker.
    const survivor = runner.running().find((p) => p.name !== drained.pod && p.pid);
    if (!survivor?.pid) throw new Error('no surviving pod');
    const pid = survivor.pid;
    await core.deleteNamespacedPod({ name: survivor.name, namespace: ns.name, gracePeriodSeconds: 0 });
    const killed = await eventually(
      'the forced pod is killed',
      async () => events.find((e) => e.kind === 'exited' && e.pod === survivor.name),
      10_000,
    );
    if (killed.kind !== 'exited') throw new Error('unreachable');
    expect(killed.signal).toBe('SIGKILL');
    expect(existsSync(path.join(markers, survivor.name))).toBe(false);
    expect(isProcessAlive(pid)).toBe(false);

    // The Deployment replaces it; stopping the runner ends that process and lifts our finalizer.
    const replacement = await eventually(
      'a replacement pod runs',
      async () => runner?.running().find((p) => p.pid && p.name !== survivor.name),
      30_000,
    );
    const replacementPid = replacement.pid ?? 0;
    await runner.stop();
    runner = undefined;
    expect(isProcessAlive(replacementPid)).toBe(false);
    const after = await core.readNamespacedPod({ name: replacement.name, namespace: ns.name });
    expect(after.metadata?.finalizers ?? []).not.toContain(runnerFinalizer);
    expect(registered()).toEqual([]);
  });
});
