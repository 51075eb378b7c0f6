// Samples the system under test about once a second into the run's timeline: the consumer backlog
// straight from JetStream (num_pending + num_ack_pending from the consumer leader), what the
// consumers really applied (event-log appends), what jetscale decided (EventConsumer status) and
// did (Deployment spec and status), the operator's leader, consumer e2e latency from their
// /metrics, and the driver's per-second counts. A read that fails leaves null in its column —
// a NATS restart shows as a gap, not as a made-up zero.
import * as k8s from '@kubernetes/client-node';
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { DriverSecond } from '../local/load-driver.js';
import type { LoadDriverHandle } from '../local/load-driver-thread.js';
import type { TimelineSample } from './types.js';
import type { HarnessTarget } from './target.js';

/** Cumulative `le` → count of one Prometheus histogram, from the text exposition format. */
export function parseHistogram(text: string, metric: string): Map<number, number> {
  const buckets = new Map<number, number>();
  const prefix = `${metric}_bucket{`;
  for (const line of text.split('\n')) {
    if (!line.startsWith(prefix)) continue;
    const le = /le="([^"]+)"/.exec(line)?.[1];
    const count = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (le === undefined || !Number.isFinite(count)) continue;
    const bound = le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le);
    buckets.set(bound, (buckets.get(bound) ?? 0) + count);
  }
  return buckets;
}

/** Quantile q (0..1) of a cumulative histogram, linear within the bucket (as PromQL does). */
export function histogramQuantile(q: number, cumulative: Map<number, number>): number | null {
  const bounds = [...cumulative.keys()].sort((a, b) => a - b);
  const total =
    cumulative.get(Number.POSITIVE_INFINITY) ??
    (bounds.length ? (cumulative.get(bounds.at(-1) ?? 0) ?? 0) : 0);
  if (total <= 0) return null;
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const bound of bounds) {
    const count = cumulative.get(bound) ?? 0;
    if (count >= rank) {
      if (bound === Number.POSITIVE_INFINITY) return prevBound;
      const inBucket = count - prevCount;
      return inBucket <= 0 ? bound : prevBound + ((bound - prevBound) * (rank - prevCount)) / inBucket;
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}

const e2eMetric = 'jetscale_consumer_end_to_end_latency_seconds';

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export class Sampler {
  readonly timeline: TimelineSample[] = [];
  private nc: NatsConnection | undefined;
  private jsm: JetStreamManager | undefined;
  private readonly apps: k8s.AppsV1Api;
  private readonly custom: k8s.CustomObjectsApi;
  private readonly coordination: k8s.CoordinationV1Api;
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private lastLogSeq: { seq: number; at: number } | undefined;
  private readonly lastHistograms = new Map<string, Map<number, number>>();
  private stopped = false;
  private inFlight: Promise<void> | undefined;

  constructor(
    private readonly target: HarnessTarget,
    private readonly driver: LoadDriverHandle | undefined,
    private readonly onSample: (sample: TimelineSample) => void = () => undefined,
  ) {
    this.apps = target.kubeConfig.makeApiClient(k8s.AppsV1Api);
    this.custom = target.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    this.coordination = target.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
  }

  async connect(): Promise<void> {
    this.nc = await connect({
      servers: this.target.natsUrl,
      name: 'jetscale-harness-sampler',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    this.jsm = await jetstreamManager(this.nc, { timeout: 1000 });
  }

  /** Samples every `intervalMs` from now on; `t` counts from `startedAt` (performance-independent wall ms). */
  start(startedAt: number, intervalMs = 1000): void {
    this.startedAt = startedAt;
    const loop = (): void => {
      if (this.stopped) return;
      const began = Date.now();
      this.inFlight = this.sample()
        .then((s) => {
          this.timeline.push(s);
          this.onSample(s);
        })
        .catch(() => undefined)
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(loop, Math.max(0, intervalMs - (Date.now() - began)));
        });
    };
    loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
    await this.nc?.close().catch(() => undefined);
  }

  latest(): TimelineSample | undefined {
    return this.timeline.at(-1);
  }

  /** One sample now (also used before the load starts, to wait for a quiet system). */
  async sample(): Promise<TimelineSample> {
    const now = Date.now();
    const t = Math.round((now - this.startedAt) / 100) / 10;
    const [consumer, logSeq, deployment, eventConsumer, lease, e2e] = await Promise.allSettled([
      withTimeout(this.consumerInfo(), 1500),
      withTimeout(this.eventLogSeq(), 1500),
      withTimeout(
        this.apps.readNamespacedDeployment({
          name: this.target.consumerDeployment,
          namespace: this.target.namespace,
        }),
        1500,
      ),
      withTimeout(
        this.custom.getNamespacedCustomObject({
          group: 'jetscale.io',
          version: 'v1alpha1',
          namespace: this.target.namespace,
          plural: 'eventconsumers',
          name: this.target.eventConsumerName,
        }) as Promise<{ status?: { desiredReplicas?: number } }>,
        1500,
      ),
      withTimeout(
        this.coordination.readNamespacedLease({
          name: this.target.lease.name,
          namespace: this.target.lease.namespace,
        }),
        1500,
      ),
      withTimeout(this.e2eP95(), 1500),
    ]);
    let processedRate: number | null = null;
    if (logSeq.status === 'fulfilled') {
      if (this.lastLogSeq && now > this.lastLogSeq.at)
        processedRate = Math.max(
          0,
          ((logSeq.value - this.lastLogSeq.seq) * 1000) / (now - this.lastLogSeq.at),
        );
      this.lastLogSeq = { seq: logSeq.value, at: now };
    }
    const second = this.driverSecond(t);
    const dep = deployment.status === 'fulfilled' ? deployment.value : undefined;
    return {
      t,
      plannedRate: second?.plannedRate ?? 0,
      achievedRate: second?.succeeded ?? 0,
      failedRate: second?.failed ?? 0,
      droppedRate: second?.dropped ?? 0,
      backlog: consumer.status === 'fulfilled' ? consumer.value.pending + consumer.value.ackPending : null,
      pending: consumer.status === 'fulfilled' ? consumer.value.pending : null,
      ackPending: consumer.status === 'fulfilled' ? consumer.value.ackPending : null,
      processedRate: processedRate === null ? null : Math.round(processedRate * 10) / 10,
      desiredReplicas:
        eventConsumer.status === 'fulfilled' ? (eventConsumer.value.status?.desiredReplicas ?? null) : null,
      specReplicas: dep?.spec?.replicas ?? null,
      currentReplicas: dep ? (dep.status?.replicas ?? 0) : null,
      readyReplicas: dep ? (dep.status?.readyReplicas ?? 0) : null,
      runningConsumers: this.target.runningConsumers?.() ?? null,
      e2eLatencyP95Ms: e2e.status === 'fulfilled' ? e2e.value : null,
      leader: lease.status === 'fulfilled' ? (lease.value.spec?.holderIdentity ?? null) : null,
    };
  }

  /** The driver's counts for the last whole second before `t`. */
  private driverSecond(t: number): DriverSecond | undefined {
    if (!this.driver) return undefined;
    const seconds = this.driver.timeline();
    const index = Math.floor(t) - 1;
    return index >= 0 ? seconds[index] : undefined;
  }

  private async consumerInfo(): Promise<{ pending: number; ackPending: number }> {
    if (!this.jsm) throw new Error('sampler not connected');
    const info = await this.jsm.consumers.info(this.target.stream, this.target.consumer);
    return { pending: info.num_pending, ackPending: info.num_ack_pending };
  }

  private async eventLogSeq(): Promise<number> {
    if (!this.jsm) throw new Error('sampler not connected');
    const info = await this.jsm.streams.info(this.target.eventLogStream);
    return info.state.last_seq;
  }

  /** p95 of the e2e latency observed since the previous sample, across every consumer process. */
  private async e2eP95(): Promise<number | null> {
    const endpoints = this.target.consumerMetricsUrls?.() ?? [];
    if (endpoints.length === 0) return null;
    const delta = new Map<number, number>();
    await Promise.all(
      endpoints.map(async (url) => {
        try {
          const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
          const current = parseHistogram(await res.text(), e2eMetric);
          const previous = this.lastHistograms.get(url) ?? new Map<number, number>();
          this.lastHistograms.set(url, current);
          for (const [bound, count] of current) {
            // A restarted process starts from zero: its whole histogram is new.
            const d =
              previous.size > 0 && (previous.get(bound) ?? 0) <= count
                ? count - (previous.get(bound) ?? 0)
                : count;
            delta.set(bound, (delta.get(bound) ?? 0) + d);
          }
        } catch {
          // A pod that just went away; its events show up in the next pods' histograms.
        }
      }),
    );
    for (const url of this.lastHistograms.keys())
      if (!endpoints.includes(url)) this.lastHistograms.delete(url);
    const p95 = histogramQuantile(0.95, delta);
    return p95 === null ? null : Math.round(p95 * 1000);
  }
}
