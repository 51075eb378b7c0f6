// What a real node knew when a run ended, saved before teardown takes it away: stopRealNode deletes
// the pods (their logs go with them) and the node's directory (the kubelet's and containerd's
// logs). For every pod of the given namespaces: `kubectl logs` of each container, and
// `kubectl logs --previous` of each container that restarted (the instance that crashed, was
// OOM-killed or failed its probe); `kubectl get events`, `kubectl get pods -o wide` and
// `kubectl describe pods`; and copies of the kubelet and containerd logs. The plan is a pure
// function of the pods (diagnosticsPlan, unit-tested); collectDiagnostics runs it. A step that
// fails writes its error into its file and the rest still run: half the logs beat none.
import type * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A pod as the plan needs it: where it is and which containers restarted. */
export interface PodContainers {
  namespace: string;
  name: string;
  /** Init containers first, then app containers, each with its restart count. */
  containers: Array<{ name: string; restartCount: number }>;
}

export interface DiagnosticsPlanInput {
  namespaces: readonly string[];
  pods: readonly PodContainers[];
  /** The kubelet's and containerd's log files (the real node's logs directory). */
  nodeLogs: { kubelet: string; containerd: string };
}

/** One file of the collection: the output of a kubectl command, or a copy of a file. */
export interface DiagnosticsStep {
  /** Relative to the output directory. */
  file: string;
  /** What the file holds, for the index. */
  what: string;
  source: { kubectl: string[] } | { copy: string };
}

/** Kubernetes names are DNS labels, but the plan never trusts a name with a path. */
function safe(name: string): string {
  if (!/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(name) || name.includes('..'))
    throw new Error(`"${name}" is not a Kubernetes object name; refusing to use it in a file path`);
  return name;
}

/** Every file to write, in order: cluster-wide views, then each pod's logs, then the node's logs. */
export function diagnosticsPlan(input: DiagnosticsPlanInput): DiagnosticsStep[] {
  if (input.namespaces.length === 0) throw new Error('diagnosticsPlan needs at least one namespace');
  const steps: DiagnosticsStep[] = [
    {
      file: 'events.txt',
      what: 'kubectl get events, every namespace (the Node, pulls, probes, kills, restarts, scaling)',
      source: { kubectl: ['get', 'events', '--all-namespaces', '--sort-by=.lastTimestamp', '-o', 'wide'] },
    },
    {
      file: 'pods.txt',
      what: 'kubectl get pods -o wide, every namespace (status, restarts, node, IP)',
      source: { kubectl: ['get', 'pods', '--all-namespaces', '-o', 'wide'] },
    },
  ];
  for (const namespace of input.namespaces)
    steps.push({
      file: `describe-pods-${safe(namespace)}.txt`,
      what: `kubectl describe pods -n ${namespace} (states, last termination reasons, probes, events)`,
      source: { kubectl: ['describe', 'pods', '-n', namespace] },
    });
  const wanted = new Set(input.namespaces);
  for (const pod of input.pods) {
    if (!wanted.has(pod.namespace)) continue;
    const dir = `pods/${safe(pod.namespace)}/${safe(pod.name)}`;
    for (const c of pod.containers) {
      const base = ['logs', '-n', pod.namespace, pod.name, '-c', c.name, '--timestamps'];
      steps.push({
        file: `${dir}/${safe(c.name)}.log`,
        what: `kubectl logs ${pod.name} -c ${c.name} (the running or last instance)`,
        source: { kubectl: base },
      });
      if (c.restartCount > 0)
        steps.push({
          file: `${dir}/${safe(c.name)}.previous.log`,
          what: `kubectl logs --previous ${pod.name} -c ${c.name} (the instance before restart ${c.restartCount})`,
          source: { kubectl: [...base, '--previous'] },
        });
    }
  }
  steps.push(
    {
      file: 'node/kubelet.log',
      what: "the real node's kubelet log",
      source: { copy: input.nodeLogs.kubelet },
    },
    {
      file: 'node/containerd.log',
      what: "the real node's containerd log",
      source: { copy: input.nodeLogs.containerd },
    },
  );
  return steps;
}

/** The pods of `kubectl get pods -o json` as the plan needs them; throws on anything else. */
export function podsFromList(json: string): PodContainers[] {
  const list = JSON.parse(json) as { kind?: string; items?: unknown };
  if (list.kind !== 'List' && list.kind !== 'PodList')
    throw new Error(`expected a pod list, got kind ${String(list.kind)}`);
  if (!Array.isArray(list.items)) throw new Error('the pod list has no items');
  return (list.items as k8s.V1Pod[]).map((pod) => {
    const restarts = new Map<string, number>();
    for (const s of [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])])
      restarts.set(s.name, s.restartCount);
    const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].map((c) => ({
      name: c.name,
      restartCount: restarts.get(c.name) ?? 0,
    }));
    return { namespace: pod.metadata?.namespace ?? '', name: pod.metadata?.name ?? '', containers };
  });
}

export interface CollectOptions {
  kubectl: string;
  kubeconfig: string;
  namespaces: readonly string[];
  nodeLogs: { kubelet: string; containerd: string };
  /** Created if missing; the files go under it and README.txt indexes them. */
  outDir: string;
  /** Per kubectl call (default 30 s). */
  timeoutMs?: number;
}

export interface CollectResult {
  outDir: string;
  files: number;
  /** Steps that wrote an error instead of their output: "<file>: <error>". */
  failed: string[];
}

function errorText(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr?.trim() || e.message || String(err)).split('\n').slice(0, 5).join(' ');
}

/** Runs the plan for the pods the API server lists now; never throws for a single failed step. */
export async function collectDiagnostics(options: CollectOptions): Promise<CollectResult> {
  const timeout = options.timeoutMs ?? 30_000;
  const kubectl = (args: string[]): Promise<string> =>
    run(options.kubectl, ['--kubeconfig', options.kubeconfig, ...args], {
      timeout,
      maxBuffer: 256 << 20,
    }).then((r) => r.stdout);
  mkdirSync(options.outDir, { recursive: true });
  const failed: string[] = [];
  const pods: PodContainers[] = [];
  for (const namespace of options.namespaces) {
    try {
      pods.push(...podsFromList(await kubectl(['get', 'pods', '-n', namespace, '-o', 'json'])));
    } catch (err) {
      failed.push(`pods of ${namespace}: ${errorText(err)}`);
    }
  }
  const steps = diagnosticsPlan({ namespaces: options.namespaces, pods, nodeLogs: options.nodeLogs });
  // A few at a time: each kubectl is a process and a request the API server proxies to the kubelet.
  const queue = [...steps];
  const worker = async (): Promise<void> => {
    for (let step = queue.shift(); step; step = queue.shift()) {
      const file = path.join(options.outDir, step.file);
      mkdirSync(path.dirname(file), { recursive: true });
      try {
        if ('copy' in step.source) copyFileSync(step.source.copy, file);
        else writeFileSync(file, await kubectl(step.source.kubectl));
      } catch (err) {
        failed.push(`${step.file}: ${errorText(err)}`);
        writeFileSync(file, `# could not collect ${step.what}:\n# ${errorText(err)}\n`);
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  writeFileSync(
    path.join(options.outDir, 'README.txt'),
    [
      `Saved before teardown, ${new Date().toISOString()} (hack/stack/real-node-diagnostics.ts):`,
      ...steps.map((s) => `  ${s.file} — ${s.what}`),
      ...(failed.length > 0 ? ['', 'Not collected:', ...failed.map((f) => `  ${f}`)] : []),
      '',
    ].join('\n'),
  );
  return { outDir: options.outDir, files: steps.length, failed };
}
