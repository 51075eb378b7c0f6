// A node the test plays kubelet for, so a drill decides when each pod becomes ready and when a
// terminating pod is gone — what kwok's fake nodes do at once. The Node object carries no kwok
// annotation, so kwok leaves it and its pods alone; pods reach it through `spec.nodeName` in the
// Deployment's template (no scheduler involved) and tolerate every taint (the node lifecycle
// controller taints a node whose kubelet never reports). Each pod's readiness comes from its own
// template annotation `drill.jetscale.io/ready-after-ms`: a number of milliseconds after the pod was
// first seen, or "never" (an image that cannot be pulled, a crash loop). A pod being deleted stays
// Terminating for `terminatingMs` (a drain), then is removed with grace period 0, as a kubelet does
// once its containers exit. Pod status is written through pods/status, as a kubelet writes it.
import { kubeApi } from './harness.js';

export const READY_AFTER_ANNOTATION = 'drill.jetscale.io/ready-after-ms';

interface Pod {
  metadata: {
    name: string;
    annotations?: Record<string, string>;
    deletionTimestamp?: string;
  };
  spec?: { nodeName?: string };
  status?: { conditions?: Array<{ type: string; status: string }> };
}

/**
 * The pod template fields that put a Deployment's pods on the hand-driven node. `containers`
 * (default: one that runs nothing) lets the local pod runner (loadtest/local/pod-runner.ts) run each
 * pod as a process from the moment it appears, while the node counts it ready only `readyAfter` ms
 * later: pods that consume before they are counted ready.
 */
export function onHandNode(
  node: string,
  readyAfter: number | 'never',
  containers: Array<Record<string, unknown>> = [{ name: 'worker', image: 'jetscale/fake-worker' }],
): Record<string, unknown> {
  return {
    metadata: { annotations: { [READY_AFTER_ANNOTATION]: String(readyAfter) } },
    spec: {
      nodeName: node,
      tolerations: [{ operator: 'Exists' }],
      containers,
    },
  };
}

export class HandNode {
  private readonly firstSeen = new Map<string, number>();
  private readonly readySent = new Set<string>();
  private readonly deletionSeen = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  /** Errors met while playing kubelet (a test asserts there are none). */
  readonly errors: string[] = [];
  /** Pods (by name) never made ready, whatever their annotation says: one broken pod of many. */
  readonly neverReady = new Set<string>();

  constructor(
    readonly name: string,
    private readonly namespace: string,
    private readonly terminatingMs = 2000,
  ) {}

  async start(): Promise<void> {
    await kubeApi().request('POST', '/api/v1/nodes', {
      // Unschedulable: the scheduler places no other pod here; ours name it in spec.nodeName.
      body: {
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: this.name, labels: { drill: 'hand-node' } },
        spec: { unschedulable: true },
      },
    });
    const tick = (): void => {
      this.running = this.step()
        .catch((err: unknown) => {
          this.errors.push(String(err));
        })
        .finally(() => {
          if (this.timer !== undefined) this.timer = setTimeout(tick, 200);
        });
    };
    this.timer = setTimeout(tick, 0);
  }

  async stop(): Promise<void> {
    const timer = this.timer;
    this.timer = undefined;
    if (timer !== undefined) clearTimeout(timer);
    await this.running;
    await kubeApi()
      .request('DELETE', `/api/v1/nodes/${this.name}`)
      .catch(() => undefined);
  }

  private async step(): Promise<void> {
    const list = await kubeApi().request<{ items: Pod[] }>(
      'GET',
      `/api/v1/namespaces/${this.namespace}/pods`,
      { query: { fieldSelector: `spec.nodeName=${this.name}` } },
    );
    const now = performance.now();
    for (const pod of list.items) {
      const name = pod.metadata.name;
      if (!this.firstSeen.has(name)) this.firstSeen.set(name, now);
      const seen = this.firstSeen.get(name) ?? now;
      const path = `/api/v1/namespaces/${this.namespace}/pods/${name}`;
      if (pod.metadata.deletionTimestamp !== undefined) {
        if (!this.deletionSeen.has(name)) this.deletionSeen.set(name, now);
        if (now - (this.deletionSeen.get(name) ?? now) >= this.terminatingMs)
          await kubeApi()
            .request('DELETE', path, { body: { gracePeriodSeconds: 0 } })
            .catch(() => undefined);
        continue;
      }
      const after = pod.metadata.annotations?.[READY_AFTER_ANNOTATION];
      if (after === undefined || after === 'never' || this.readySent.has(name) || this.neverReady.has(name))
        continue;
      if (now - seen < Number(after)) continue;
      const at = new Date().toISOString();
      await kubeApi().request('PATCH', `${path}/status`, {
        body: {
          status: {
            phase: 'Running',
            conditions: [
              { type: 'PodScheduled', status: 'True', lastTransitionTime: at },
              { type: 'Initialized', status: 'True', lastTransitionTime: at },
              { type: 'ContainersReady', status: 'True', lastTransitionTime: at },
              { type: 'Ready', status: 'True', lastTransitionTime: at },
            ],
          },
        },
      });
      this.readySent.add(name);
    }
  }
}
