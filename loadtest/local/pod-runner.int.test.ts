// The pod runner against the real local control plane: a Deployment's pods become processes,
// scaling down delivers SIGTERM and honours the grace period, a forced delete kills at once, and
// stopping the runner leaves no process and no finalizer behind; each running pod is registered as
// a Prometheus scrape target while its process lives. A runner killed without any cleanup (SIGKILL)
// takes its pods with it, and a pod whose NATS server is gone still ends within its grace period.
import * as k8s from '@kubernetes/client-node';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync, existsSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createNamespace, eventually, kubeConfig } from '../../test/env.js';
import { repoRoot } from '../../hack/stack/tools.js';
import { FileScrapeTargets } from '../../hack/stack/scrape-targets.js';
import { PodRunner, runnerFinalizer, type RunnerEvent } from './pod-runner.js';
import { isProcessAlive, isProcessRunning } from '../../hack/stack/process-alive.js';
import { testScratchDir } from '../../test/scratch.js';
import { startNatsServer } from '../../hack/stack/nats-server.js';
import { AckPolicy, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

/** A pod of one container running `command`, for the runner selecting `app=<app>`. */
function podRunning(
  name: string,
  app: string,
  command: string[],
  env: Record<string, string>,
  grace: number,
): k8s.V1Pod {
  return {
    metadata: { name, labels: { app } },
    spec: {
      terminationGracePeriodSeconds: grace,
      containers: [
        {
          name: 'consumer',
          image: 'jetscale/workloads:dev',
          command,
          env: Object.entries(env).map(([k, v]) => ({ name: k, value: v })),
        },
      ],
    },
  };
}

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

  it('a runner killed with SIGKILL (no cleanup runs) takes its pods with it, a pod that ignores SIGTERM included', async () => {
    // A pod that ignores SIGTERM, as pull consumers whose NATS server was gone did (session 20: they
    // outlived their killed jest with parent pid 1 and were still running hours later).
    const stubborn = `process.on('SIGTERM', () => undefined); setInterval(() => undefined, 1000);`;
    const name = 'outlives-no-runner';
    let runnerProcess: ChildProcess | undefined;
    let podPid: number | undefined;
    try {
      runnerProcess = spawn(
        process.execPath,
        ['--import', 'tsx', path.join(repoRoot, 'loadtest/local/pod-runner-process.ts')],
        {
          cwd: repoRoot,
          env: {
            ...process.env,
            RUNNER_NAMESPACE: ns.name,
            RUNNER_SELECTOR: 'app=stubborn',
            RUNNER_LOG_DIR: path.join(markers, 'killed-runner-logs'),
          },
          stdio: ['ignore', 'pipe', 'inherit'],
        },
      );
      const runnerExited = new Promise((resolve) => runnerProcess?.once('exit', resolve));
      const started = new Promise<number>((resolve) => {
        if (!runnerProcess?.stdout) return;
        createInterface({ input: runnerProcess.stdout }).on('line', (line) => {
          const event = JSON.parse(line) as RunnerEvent;
          if (event.kind === 'started' && event.pod === name) resolve(event.pid);
        });
      });
      await core.createNamespacedPod({
        namespace: ns.name,
        body: podRunning(name, 'stubborn', ['node', '-e', stubborn], {}, 30),
      });
      const pid = await Promise.race([
        started,
        runnerExited.then(() =>
          Promise.reject(new Error('the runner process exited before it started the pod')),
        ),
      ]);
      podPid = pid;
      // The pid the runner reports is the pod's own process (what a wrapper execs keeps it).
      await eventually(
        'the pod process runs node',
        async () => (realpathSync(`/proc/${pid}/exe`) === realpathSync(process.execPath) ? true : undefined),
        10_000,
        50,
      );

      runnerProcess.kill('SIGKILL');
      await runnerExited;
      // Nothing of the runner's ran after its kill: the pod's end is the kernel's doing.
      await eventually(
        'the pod process ends with its runner',
        async () => (isProcessRunning(pid) ? undefined : true),
        10_000,
        50,
      );
    } finally {
      if (runnerProcess?.exitCode === null && runnerProcess.signalCode === null)
        runnerProcess.kill('SIGKILL');
      if (podPid !== undefined && isProcessRunning(podPid)) process.kill(podPid, 'SIGKILL'); // the old runner left it
      // The killed runner could not lift its finalizer.
      await core
        .patchNamespacedPod({
          name,
          namespace: ns.name,
          body: [{ op: 'replace', path: '/metadata/finalizers', value: [] }],
        })
        .catch(() => undefined);
      await core
        .deleteNamespacedPod({ name, namespace: ns.name, gracePeriodSeconds: 0 })
        .catch(() => undefined);
    }
  });

  it('a pull consumer whose NATS server is gone ends within its grace period when its pod is deleted (SIGTERM, then SIGKILL)', async () => {
    const natsDir = testScratchDir('jetscale-runner-nats-');
    const nats = await startNatsServer({ dir: natsDir });
    const name = 'consumer-without-nats';
    const grace = 2;
    const gone: RunnerEvent[] = [];
    runner = new PodRunner({
      kubeConfig: kc,
      namespace: ns.name,
      labelSelector: 'app=nats-gone',
      repoRoot,
      serviceAddresses: {},
      portEnv: [],
      logDir: path.join(markers, 'nats-gone-logs'),
      onEvent: (e) => gone.push(e),
    });
    try {
      const nc = await connect({ servers: nats.url });
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: 'work', subjects: ['work.>'] });
      await jsm.consumers.add('work', { durable_name: 'worker', ack_policy: AckPolicy.Explicit });
      await nc.close();
      await runner.start();
      await core.createNamespacedPod({
        namespace: ns.name,
        body: podRunning(
          name,
          'nats-gone',
          ['node', 'dist/workloads/src/pull-consumer/main.js'],
          { NATS_URL: nats.url, STREAM: 'work', CONSUMER: 'worker' },
          grace,
        ),
      });
      const started = await eventually('the consumer pod runs', async () =>
        gone.find((e) => e.kind === 'started' && e.pod === name),
      );
      if (started.kind !== 'started') throw new Error('unreachable');
      const log = path.join(markers, 'nats-gone-logs', `${name}.log`);
      await eventually('the consumer pulls', async () =>
        existsSync(log) && readFileSync(log, 'utf8').includes('consuming work/worker') ? true : undefined,
      );
      await nats.stop({ hard: true });
      await core.deleteNamespacedPod({ name, namespace: ns.name });
      const exited = await eventually(
        `the consumer ends within its ${grace} s grace period, by itself or by SIGKILL`,
        async () => gone.find((e) => e.kind === 'exited' && e.pod === name),
        (grace + 10) * 1000,
        50,
      );
      expect(gone).toContainEqual({ kind: 'terminating', pod: name, graceSeconds: grace });
      expect(exited).toMatchObject({ afterDeletion: true });
      expect(isProcessRunning(started.pid)).toBe(false);
      await eventually('the pod is gone from the API', async () => {
        const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: 'app=nats-gone' });
        return pods.items.length === 0 ? true : undefined;
      });
    } finally {
      await runner.stop();
      runner = undefined;
      await nats.stop();
    }
  });
});
