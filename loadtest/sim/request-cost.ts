// What each autoscaler's polling costs: reads of the consumer (NATS) and requests to the Kubernetes
// API server, counted by the rules the real controllers follow. An adaptive poll that reads every
// second buys latency with requests; the bench shows both. Pure bookkeeping, no I/O.
//
// jetscale (operator/src/controller): every poll reads consumer info once (observe.ts, a NATS
// request; nothing touches the API server for it). The scale target (GET …/scale) is read fresh
// while the last reading was not settled (spec ≠ status or ready ≠ status) and after a change,
// once per pollInterval while anything is pending or awaiting ack, otherwise at most every
// JETSCALE_TARGET_REFRESH_SECONDS (observe.ts readTarget). A change is one PATCH …/scale plus one Event (reconciler.ts act,
// recordScaled). Status is PATCHed when what users act on changed (replicas, desired, conditions),
// when only readings changed at most every JETSCALE_STATUS_READINGS_SECONDS, and at least every
// JETSCALE_STATUS_REFRESH_SECONDS (report.ts writeStatus). Defaults: config.ts loadConfig.
//
// KEDA + HPA (kedacore/keda at 8b4f083; kubernetes pkg/controller/podautoscaler/horizontal.go):
// - KEDA's loop, every pollingInterval: scale_handler.go checkScalers → getScalerState →
//   GetMetricsAndActivityForScaler → nats_jetstream_scaler.go getNATSJetstreamMonitoringData: one
//   HTTP GET of the NATS monitoring endpoint /jsz (a single server; a cluster adds a /varz and
//   leader lookups whenever the leader moves). The target's replica count comes from the
//   controller-runtime cache (resolver.GetCurrentReplicas, no request). The ScaledObject status is
//   PATCHed when it changed (scale_handler.go, "skip the patch if nothing changed"), and while
//   active RequestScale sets lastActiveTime = now, so once per poll while active. 0 → 1 and 1 → 0
//   are a live GET plus an Update of …/scale (scale_scaledobjects.go updateScaleOnScaleTarget).
// - The HPA, every sync (15 s): reconcileAutoscaler reads the scale subresource live
//   (scaleForResourceMappings), asks the external metrics API (a request to the API server, which
//   the aggregator forwards to KEDA's metrics server; without useCachedMetrics that calls the scaler
//   again: GetScaledObjectMetrics → GetMetricsAndActivityForScaler → one more /jsz GET), on a
//   rescale Updates …/scale and records an Event, and writes its status through
//   updateStatusIfNeeded when it changed (currentMetrics carries the lag, which changes at almost
//   every sync under load; modelled as: written when the lag or a replica count changed).

/** Defaults of operator/src/config/config.ts (a unit test pins them to loadConfig). */
export const JETSCALE_TARGET_REFRESH_SECONDS = 15;
export const JETSCALE_STATUS_READINGS_SECONDS = 30;
export const JETSCALE_STATUS_REFRESH_SECONDS = 300;

export interface RequestCounts {
  /** Consumer reads: NATS consumer info (jetscale) or HTTP GETs of the monitoring endpoint (KEDA). */
  consumerReads: number;
  /** Requests to the Kubernetes API server (reads and writes). */
  apiRequests: number;
}

export function noRequests(): RequestCounts {
  return { consumerReads: 0, apiRequests: 0 };
}

/** What one jetscale poll saw and did, as the request rules need it. */
export interface JetscalePoll {
  now: number;
  /** pending + awaiting ack in the reading. */
  backlog: number;
  specReplicas: number;
  statusReplicas: number;
  readyReplicas: number;
  /** The decision's desired replicas. */
  desired: number;
  /** What else the status's state shows (limit, activity reason): any string that changes with it. */
  state: string;
}

/** The requests of jetscale's reconcile, poll by poll. */
export class JetscaleRequests {
  readonly counts = noRequests();

  /** `pollIntervalSeconds`: the spec's pollInterval (the longest poll). */
  constructor(private readonly pollIntervalSeconds: number) {}

  private target: { at: number; settled: boolean } | undefined;
  private status: { at: number; state: string; backlog: number } | undefined;

  poll(p: JetscalePoll): void {
    this.counts.consumerReads++;
    const cached = this.target;
    const maxAgeSeconds =
      p.backlog > 0
        ? Math.min(this.pollIntervalSeconds, JETSCALE_TARGET_REFRESH_SECONDS)
        : JETSCALE_TARGET_REFRESH_SECONDS;
    const fresh = cached === undefined || !cached.settled || p.now - cached.at >= maxAgeSeconds * 1000;
    if (fresh) {
      this.counts.apiRequests++; // GET …/scale
      this.target = {
        at: p.now,
        settled: p.specReplicas === p.statusReplicas && p.readyReplicas === p.statusReplicas,
      };
    }
    const changed = p.desired !== p.specReplicas;
    if (changed) {
      this.counts.apiRequests += 2; // PATCH …/scale, the Scaled Event
      this.target = undefined; // re-read next poll: pods are starting or stopping
    }
    // lastScaleTime is part of the status's state, so a change always writes.
    const state = `${p.desired}|${p.statusReplicas}|${p.state}`;
    const written = this.status;
    const age = written === undefined ? Infinity : p.now - written.at;
    const due =
      written === undefined ||
      changed ||
      state !== written.state ||
      (p.backlog !== written.backlog && age >= JETSCALE_STATUS_READINGS_SECONDS * 1000) ||
      age >= JETSCALE_STATUS_REFRESH_SECONDS * 1000;
    if (due) {
      this.counts.apiRequests++; // PATCH …/status
      this.status = { at: p.now, state, backlog: p.backlog };
    }
  }
}

/** The requests of KEDA's loop and the HPA's sync, event by event. */
export class KedaRequests {
  readonly counts = noRequests();
  private hpaStatus: string | undefined;

  /** One KEDA poll: read the scaler; patch status while active; a 0 ↔ 1 step reads and updates /scale. */
  kedaPoll(active: boolean, activationChange: boolean): void {
    this.counts.consumerReads++;
    if (active) this.counts.apiRequests++; // ScaledObject status: lastActiveTime
    if (activationChange) this.counts.apiRequests += 2; // GET + Update …/scale
  }

  /** One HPA sync (only when it runs its algorithm: at 0 replicas it stops before the metric). */
  hpaSync(
    lag: number,
    specReplicas: number,
    statusReplicas: number,
    rescaled: boolean,
    scaling: boolean,
  ): void {
    this.counts.apiRequests++; // GET …/scale
    if (!scaling) return;
    this.counts.apiRequests++; // external metrics API
    this.counts.consumerReads++; // KEDA's metrics server asks the scaler: /jsz
    if (rescaled) this.counts.apiRequests += 2; // Update …/scale, the SuccessfulRescale Event
    const status = `${Math.round(lag)}|${specReplicas}|${statusReplicas}|${rescaled}`;
    if (status !== this.hpaStatus) {
      this.counts.apiRequests++; // UpdateStatus
      this.hpaStatus = status;
    }
  }
}
