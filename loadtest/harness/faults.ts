// Fault injection on a schedule: graceful and forced consumer pod deletion, killing the operator's
// leader (and timing the failover on the Lease), restarting NATS, and taking the gateway away for a
// while. Faults go through the Kubernetes API (as `kubectl delete pod [--grace-period=0 --force]`
// or a scale would) or the target's own hooks; nothing here reaches beyond 127.0.0.1.
import * as k8s from '@kubernetes/client-node';
import type { ScheduledFault } from '../profiles/profiles.js';
import type { HarnessTarget } from './target.js';
import type { FaultMarker } from './types.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function message(err: unknown): string {
  if (err instanceof k8s.ApiException) return `HTTP ${err.code}`;
  return err instanceof Error ? err.message : String(err);
}

export class FaultInjector {
  private readonly core: k8s.CoreV1Api;
  private readonly apps: k8s.AppsV1Api;
  private readonly coordination: k8s.CoordinationV1Api;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly pending: Array<Promise<void>> = [];
  readonly markers: FaultMarker[] = [];

  constructor(
    private readonly target: HarnessTarget,
    private readonly onFault: (marker: FaultMarker) => void = () => undefined,
    private readonly failoverTimeoutSeconds = 90,
  ) {
    this.core = target.kubeConfig.makeApiClient(k8s.CoreV1Api);
    this.apps = target.kubeConfig.makeApiClient(k8s.AppsV1Api);
    this.coordination = target.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
  }

  /** Arms every fault relative to `startedAt` (epoch ms). */
  schedule(faults: readonly ScheduledFault[], startedAt: number): void {
    for (const fault of faults) {
      const delay = Math.max(0, startedAt + fault.atSeconds * 1000 - Date.now());
      this.timers.push(
        setTimeout(() => {
          this.pending.push(this.inject(fault, startedAt));
        }, delay),
      );
    }
  }

  /** Cancels faults not yet fired and waits for the ones in progress (a restart under way completes). */
  async settle(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    await Promise.allSettled(this.pending);
  }

  async inject(fault: ScheduledFault, startedAt: number): Promise<void> {
    const t = Math.round((Date.now() - startedAt) / 100) / 10;
    const marker: FaultMarker = { t, kind: fault.kind, detail: '', injected: false };
    this.markers.push(marker);
    try {
      switch (fault.kind) {
        case 'delete-consumer-pods':
          marker.detail = await this.deleteConsumerPods(fault.count ?? 1, undefined);
          break;
        case 'kill-consumer-pods':
          marker.detail = this.target.killPods
            ? await this.killConsumerContainers(fault.count ?? 1, this.target.killPods)
            : await this.deleteConsumerPods(fault.count ?? 1, 0);
          break;
        case 'kill-operator-leader':
          await this.killLeader(marker, startedAt);
          break;
        case 'restart-nats':
          if (!this.target.restartNats) throw new Error(`target ${this.target.name} cannot restart NATS`);
          marker.detail = `nats-server stopped for ${fault.durationSeconds ?? 5} s, then started on the same store`;
          marker.injected = true;
          this.onFault(marker);
          await this.target.restartNats(fault.durationSeconds ?? 5);
          return;
        case 'stop-gateway':
          await this.stopGateway(marker, fault.durationSeconds ?? 5);
          return;
      }
      marker.injected = true;
    } catch (err) {
      marker.detail = `${marker.detail ? `${marker.detail}; ` : ''}failed: ${message(err)}`;
    }
    this.onFault(marker);
  }

  /** The oldest consumer pods not being deleted: they hold the most in-flight work, the hardest case for at-most-once. */
  private async consumerVictims(count: number): Promise<{ victims: string[]; of: number }> {
    const pods = await this.core.listNamespacedPod({
      namespace: this.target.namespace,
      labelSelector: this.target.consumerPodSelector,
    });
    const candidates = pods.items.filter((p) => !p.metadata?.deletionTimestamp && p.metadata?.name);
    if (candidates.length === 0) throw new Error('no consumer pod to kill');
    candidates.sort((a, b) =>
      String(a.metadata?.creationTimestamp ?? '').localeCompare(String(b.metadata?.creationTimestamp ?? '')),
    );
    const victims = candidates.slice(0, count).flatMap((p) => (p.metadata?.name ? [p.metadata.name] : []));
    return { victims, of: candidates.length };
  }

  private async killConsumerContainers(
    count: number,
    killPods: (names: string[]) => Promise<string>,
  ): Promise<string> {
    const { victims, of } = await this.consumerVictims(count);
    return `${await killPods(victims)} (${victims.length} of ${of} pods)`;
  }

  private async deleteConsumerPods(count: number, gracePeriodSeconds: number | undefined): Promise<string> {
    const { victims, of } = await this.consumerVictims(count);
    await Promise.all(
      victims.map((name) =>
        this.core.deleteNamespacedPod({
          name,
          namespace: this.target.namespace,
          ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
        }),
      ),
    );
    return `${gracePeriodSeconds === 0 ? 'force-deleted (grace 0)' : 'deleted (default grace)'} ${victims.join(', ')} of ${of}`;
  }

  private async leaseHolder(): Promise<{ holder: string | undefined; renewed: number }> {
    const lease = await this.coordination.readNamespacedLease({
      name: this.target.lease.name,
      namespace: this.target.lease.namespace,
    });
    const renew = lease.spec?.renewTime;
    return {
      holder: lease.spec?.holderIdentity ?? undefined,
      renewed: renew ? new Date(renew).getTime() : 0,
    };
  }

  private async killLeader(marker: FaultMarker, startedAt: number): Promise<void> {
    if (!this.target.killOperator)
      throw new Error(`target ${this.target.name} cannot kill operator replicas`);
    const { holder } = await this.leaseHolder();
    if (!holder)
      throw new Error(`Lease ${this.target.lease.namespace}/${this.target.lease.name} has no holder`);
    const killedAt = Date.now();
    marker.detail = await this.target.killOperator(holder);
    marker.injected = true;
    this.onFault(marker);
    // The failover is over when a different replica holds the Lease (and has renewed it since).
    marker.failoverSeconds = null;
    const deadline = killedAt + this.failoverTimeoutSeconds * 1000;
    while (Date.now() < deadline) {
      await sleep(250);
      try {
        const now = await this.leaseHolder();
        if (now.holder && now.holder !== holder && now.renewed >= killedAt - 1000) {
          marker.failoverSeconds = Math.round((Date.now() - killedAt) / 100) / 10;
          marker.detail += `; ${now.holder} took the lease after ${marker.failoverSeconds} s (at ${((Date.now() - startedAt) / 1000).toFixed(1)} s)`;
          return;
        }
      } catch {
        // The API server is busy; keep polling until the deadline.
      }
    }
    marker.detail += `; no other replica took the lease within ${this.failoverTimeoutSeconds} s`;
  }

  private async stopGateway(marker: FaultMarker, downSeconds: number): Promise<void> {
    const { namespace, gatewayDeployment: name } = this.target;
    const dep = await this.apps.readNamespacedDeployment({ name, namespace });
    const replicas = dep.spec?.replicas ?? 1;
    const scale = (value: number): Promise<k8s.V1Scale> =>
      this.apps.patchNamespacedDeploymentScale({
        name,
        namespace,
        body: [{ op: 'replace', path: '/spec/replicas', value }],
      });
    await scale(0);
    marker.injected = true;
    marker.detail = `gateway scaled 0 for ${downSeconds} s, then back to ${replicas}`;
    this.onFault(marker);
    await sleep(downSeconds * 1000);
    await scale(replicas);
  }
}
