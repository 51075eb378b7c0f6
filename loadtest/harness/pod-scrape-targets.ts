// What the stack's Prometheus scrapes when the pods are real containers: every running pod of the
// run's namespace at <pod IP>:<its container port named "http"> (the operator's, the gateway's and
// the consumer's /metrics, as the charts declare them), labelled as the local pod runner and
// operator pair label theirs (job, namespace, pod), so the report's Prometheus section asks the
// same queries of both runtimes. The host reaches pod IPs directly (no kube-proxy here).
import type * as k8s from '@kubernetes/client-node';
import type { ScrapeTarget, ScrapeTargetSink } from '../../hack/stack/scrape-targets.js';

/** The chart's component label → the job label the local runtime gives the same process. */
const jobOf = (component: string | undefined): string =>
  component === 'operator' ? 'jetscale-operator' : (component ?? 'pod');

/** Scrape targets by id for the pods that serve /metrics now; pods without an IP or port are left out. */
export function podScrapeTargets(pods: readonly k8s.V1Pod[]): Map<string, ScrapeTarget> {
  const targets = new Map<string, ScrapeTarget>();
  for (const pod of pods) {
    const name = pod.metadata?.name;
    const namespace = pod.metadata?.namespace;
    const ip = pod.status?.podIP;
    if (!name || !namespace || !ip || pod.status?.phase !== 'Running') continue;
    const port = pod.spec?.containers
      .flatMap((c) => c.ports ?? [])
      .find((p) => p.name === 'http')?.containerPort;
    if (port === undefined) continue;
    targets.set(`pod-${namespace}-${name}`, {
      address: `${ip}:${port}`,
      labels: { job: jobOf(pod.metadata?.labels?.['app.kubernetes.io/component']), namespace, pod: name },
    });
  }
  return targets;
}

/** Keeps a sink equal to the latest set of targets: registers new or moved ones, drops gone ones. */
export class ScrapeTargetSync {
  private current = new Map<string, string>();

  constructor(private readonly sink: ScrapeTargetSink) {}

  update(targets: ReadonlyMap<string, ScrapeTarget>): void {
    for (const [id, target] of targets) {
      const key = JSON.stringify(target);
      if (this.current.get(id) === key) continue;
      this.sink.register(id, target);
      this.current.set(id, key);
    }
    for (const id of [...this.current.keys()])
      if (!targets.has(id)) {
        this.sink.unregister(id);
        this.current.delete(id);
      }
  }

  clear(): void {
    this.update(new Map());
  }
}
