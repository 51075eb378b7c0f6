// A faithful model of what users run today: KEDA's nats-jetstream scaler feeding an HPA. Written
// independently of operator/src/scaling (not imported from it) so that the baseline does not
// inherit jetscale's bugs or choices. Sources:
//
// KEDA (github.com/kedacore/keda, v2.x):
// - pkg/scalers/nats_jetstream_scaler.go: the metric is the consumer's num_pending +
//   num_ack_pending (getMaxMsgLag), exposed as an External metric with target type AverageValue =
//   lagThreshold (default 10); the scaler is active when that lag > activationLagThreshold (default 0).
// - pkg/scaling/scale_handler.go + executor/scale_scaledobjects.go: every pollingInterval (default
//   30 s) KEDA checks activity; when active it records lastActiveTime and scales 0 → max(1,
//   minReplicaCount); when inactive with minReplicaCount 0 it scales to 0 once lastActiveTime +
//   cooldownPeriod (default 300 s) has passed. cooldownPeriod applies only to this last step.
// - controllers/keda/hpa.go newHPAForScaledObject: the HPA KEDA creates has minReplicas =
//   minReplicaCount, or 1 when that is 0 (getHPAMinReplicas), maxReplicas = maxReplicaCount
//   (default 100), and `Behavior: behavior` where behavior is
//   spec.advanced.horizontalPodAutoscalerConfig.behavior when the user set it and nil otherwise.
//   A ScaledObject with every default therefore gets an HPA with `behavior: nil`.
// - The HPA reads the metric through KEDA's metrics server, which asks the scaler on each request
//   (no caching by default), so the HPA sees the consumer as it is at its sync.
//
// HPA (github.com/kubernetes/kubernetes, pkg/controller/podautoscaler):
// - horizontal.go: sync every 15 s (--horizontal-pod-autoscaler-sync-period); reconcileAutoscaler:
//   with currentReplicas 0 and minReplicas ≠ 0 scaling is disabled (KEDA owns 0 ↔ 1); current >
//   max → max, < min → min; otherwise `if hpa.Spec.Behavior == nil` normalizeDesiredReplicas (the
//   legacy path) else normalizeDesiredReplicasWithBehaviors. recordInitialRecommendation seeds the
//   recommendation list with the current size the first time the HPA is reconciled.
// - replica_calculator.go GetExternalPerPodMetricReplicas: usageRatio = total / (target ×
//   statusReplicas); if |1 − usageRatio| > tolerance (0.1) then desired = ceil(total / target), else
//   statusReplicas.
// - Legacy path (behavior nil), horizontal.go: stabilizeRecommendation returns the maximum of the
//   new recommendation and every stored one not older than --horizontal-pod-autoscaler-downscale-
//   stabilization (default 5 m), and stores the raw recommendation (reusing an expired slot);
//   the result is NOT compared with the current size, so a stored recommendation higher than the
//   current size scales *up*. convertDesiredReplicasWithRules then clamps to [minReplicas,
//   min(maxReplicas, calculateScaleUpLimit(current))] with calculateScaleUpLimit = max(2 × current,
//   4) (scaleUpLimitFactor 2, scaleUpLimitMinimum 4): per sync, no period bookkeeping. No scale
//   events are stored (storeScaleEvent returns early when behavior is nil).
// - Behavior path, horizontal.go normalizeDesiredReplicasWithBehaviors:
//   stabilizeRecommendationWithBehaviors (max of recommendations within the scale-down window, min
//   within the scale-up window, the raw recommendation stored), then
//   convertDesiredReplicasWithBehaviorRate with calculateScaleUpLimitWithScalingRules /
//   calculateScaleDownLimitWithBehaviors measured from the replica count at the start of each
//   policy's period. Defaults for omitted fields (pkg/apis/autoscaling/v2/defaults.go): scale-up
//   window 0 s, policies 100 % and 4 pods per 15 s, selectPolicy Max; scale-down window 300 s,
//   policy 100 % per 15 s.

import { HPA_DEFAULT_RULES } from '../../operator/src/migrate/convert.js';
import type { RequestCounts } from './request-cost.js';
import { KedaRequests } from './request-cost.js';
import type { Autoscaler, ClusterView } from './simulator.js';

export interface HpaPolicy {
  type: 'Pods' | 'Percent';
  value: number;
  periodSeconds: number;
}

export interface HpaRules {
  stabilizationWindowSeconds: number;
  selectPolicy: 'Max' | 'Min' | 'Disabled';
  policies: HpaPolicy[];
}

export interface HpaBehavior {
  scaleUp: HpaRules;
  scaleDown: HpaRules;
}

export interface KedaHpaConfig {
  pollingIntervalSeconds: number;
  cooldownPeriodSeconds: number;
  minReplicaCount: number;
  maxReplicaCount: number;
  lagThreshold: number;
  activationLagThreshold: number;
  hpaSyncPeriodSeconds: number;
  tolerance: number;
  /** --horizontal-pod-autoscaler-downscale-stabilization: the legacy path's window (default 5 m). */
  downscaleStabilizationSeconds: number;
  /**
   * spec.advanced.horizontalPodAutoscalerConfig.behavior. Undefined (KEDA's default) gives the HPA
   * `behavior: nil`, hence the legacy path; set, the behavior path with these rules.
   */
  behavior?: HpaBehavior;
  /** Offset of the HPA's sync within its period relative to KEDA's loop (they are independent). */
  hpaPhaseSeconds: number;
}

/**
 * What the API server fills in for a `behavior` whose fields are omitted (autoscaling/v2 defaults.go):
 * a Kubernetes fact, not a jetscale choice, so taken from the one place that states it, the rules
 * `jetscale migrate` writes out for a ScaledObject that leaves them out.
 */
export const hpaBehaviorApiDefaults: HpaBehavior = {
  scaleUp: {
    ...HPA_DEFAULT_RULES.scaleUp,
    policies: HPA_DEFAULT_RULES.scaleUp.policies.map((p) => ({ ...p })),
  },
  scaleDown: {
    ...HPA_DEFAULT_RULES.scaleDown,
    policies: HPA_DEFAULT_RULES.scaleDown.policies.map((p) => ({ ...p })),
  },
};

/** A ScaledObject with every default: no behavior, so the HPA takes its legacy path. */
export const kedaHpaDefaults: KedaHpaConfig = {
  pollingIntervalSeconds: 30,
  cooldownPeriodSeconds: 300,
  minReplicaCount: 0,
  maxReplicaCount: 100,
  lagThreshold: 10,
  activationLagThreshold: 0,
  hpaSyncPeriodSeconds: 15,
  tolerance: 0.1,
  downscaleStabilizationSeconds: 300,
  hpaPhaseSeconds: 7,
};

/** horizontal.go scaleUpLimitFactor / scaleUpLimitMinimum: the legacy path's per-sync growth cap. */
export const LEGACY_SCALE_UP_FACTOR = 2;
export const LEGACY_SCALE_UP_MINIMUM = 4;

interface TimedRecommendation {
  at: number;
  replicas: number;
}
interface TimedScaleEvent {
  at: number;
  change: number;
}

/** The HPA controller's per-HPA state and algorithm (only what an External AverageValue metric uses). */
export class HpaModel {
  private readonly recommendations: TimedRecommendation[] = [];
  private readonly scaleUpEvents: TimedScaleEvent[] = [];
  private readonly scaleDownEvents: TimedScaleEvent[] = [];
  private seeded = false;

  constructor(private readonly config: KedaHpaConfig) {}

  private get minReplicas(): number {
    return this.config.minReplicaCount > 0 ? this.config.minReplicaCount : 1;
  }

  /** One HPA sync. Returns the new replica count, or undefined when it does not rescale. */
  sync(nowMs: number, totalLag: number, specReplicas: number, statusReplicas: number): number | undefined {
    // recordInitialRecommendation: the first reconcile seeds the window with the current size.
    if (!this.seeded) {
      this.recommendations.push({ at: nowMs, replicas: specReplicas });
      this.seeded = true;
    }
    const max = this.config.maxReplicaCount;
    const min = this.minReplicas;
    if (specReplicas === 0) return undefined; // ScalingDisabled: KEDA handles activation.
    let desired: number;
    if (specReplicas > max) desired = max;
    else if (specReplicas < min) desired = min;
    else {
      const metricReplicas = this.externalAverageValueReplicas(totalLag, statusReplicas);
      const behavior = this.config.behavior;
      desired =
        behavior === undefined
          ? this.normalizeLegacy(nowMs, specReplicas, metricReplicas, min, max)
          : this.normalizeWithBehaviors(nowMs, behavior, specReplicas, metricReplicas, min, max);
    }
    if (desired === specReplicas) return undefined;
    if (this.config.behavior !== undefined)
      this.storeScaleEvent(nowMs, this.config.behavior, specReplicas, desired);
    return desired;
  }

  /** replica_calculator.go GetExternalPerPodMetricReplicas. */
  externalAverageValueReplicas(totalLag: number, statusReplicas: number): number {
    const target = this.config.lagThreshold;
    if (statusReplicas <= 0) return Math.ceil(totalLag / target);
    const usageRatio = totalLag / (target * statusReplicas);
    return Math.abs(1 - usageRatio) > this.config.tolerance ? Math.ceil(totalLag / target) : statusReplicas;
  }

  /**
   * normalizeDesiredReplicas (behavior nil): stabilizeRecommendation, then
   * convertDesiredReplicasWithRules. The stabilized value is not compared with `current`.
   */
  private normalizeLegacy(
    nowMs: number,
    current: number,
    prenormalized: number,
    min: number,
    max: number,
  ): number {
    const cutoff = nowMs - this.config.downscaleStabilizationSeconds * 1000;
    let stabilized = prenormalized;
    let oldIndex = -1;
    this.recommendations.forEach((r, i) => {
      if (r.at < cutoff) oldIndex = i;
      else if (r.replicas > stabilized) stabilized = r.replicas;
    });
    if (oldIndex >= 0) this.recommendations[oldIndex] = { at: nowMs, replicas: prenormalized };
    else this.recommendations.push({ at: nowMs, replicas: prenormalized });
    const scaleUpLimit = Math.max(LEGACY_SCALE_UP_FACTOR * current, LEGACY_SCALE_UP_MINIMUM);
    const maximumAllowed = Math.min(max, scaleUpLimit);
    if (stabilized < min) return min;
    if (stabilized > maximumAllowed) return maximumAllowed;
    return stabilized;
  }

  private normalizeWithBehaviors(
    nowMs: number,
    behavior: HpaBehavior,
    current: number,
    prenormalized: number,
    min: number,
    max: number,
  ): number {
    const stabilized = this.stabilize(nowMs, behavior, current, prenormalized);
    if (stabilized > current) {
      let limit = this.scaleUpLimit(nowMs, behavior.scaleUp, current);
      if (limit < current) limit = current;
      const maximumAllowed = Math.min(max, limit);
      return Math.min(stabilized, maximumAllowed);
    }
    if (stabilized < current) {
      let limit = this.scaleDownLimit(nowMs, behavior.scaleDown, current);
      if (limit > current) limit = current;
      const minimumAllowed = Math.max(min, limit);
      return Math.max(stabilized, minimumAllowed);
    }
    return stabilized;
  }

  /** stabilizeRecommendationWithBehaviors, including how the HPA reuses an expired slot. */
  private stabilize(nowMs: number, behavior: HpaBehavior, current: number, desired: number): number {
    const upCutoff = nowMs - behavior.scaleUp.stabilizationWindowSeconds * 1000;
    const downCutoff = nowMs - behavior.scaleDown.stabilizationWindowSeconds * 1000;
    let up = desired;
    let down = desired;
    let oldIndex = -1;
    this.recommendations.forEach((r, i) => {
      if (r.at > upCutoff) up = Math.min(up, r.replicas);
      if (r.at > downCutoff) down = Math.max(down, r.replicas);
      if (r.at < upCutoff && r.at < downCutoff) oldIndex = i;
    });
    let recommendation = current;
    if (recommendation < up) recommendation = up;
    if (recommendation > down) recommendation = down;
    if (oldIndex >= 0) this.recommendations[oldIndex] = { at: nowMs, replicas: desired };
    else this.recommendations.push({ at: nowMs, replicas: desired });
    return recommendation;
  }

  private changeInPeriod(events: TimedScaleEvent[], nowMs: number, periodSeconds: number): number {
    const cutoff = nowMs - periodSeconds * 1000;
    let change = 0;
    for (const e of events) if (e.at > cutoff) change += e.change;
    return change;
  }

  private scaleUpLimit(nowMs: number, rules: HpaRules, current: number): number {
    if (rules.selectPolicy === 'Disabled') return current;
    let result = rules.selectPolicy === 'Min' ? Number.MAX_SAFE_INTEGER : Number.MIN_SAFE_INTEGER;
    for (const p of rules.policies) {
      const added = this.changeInPeriod(this.scaleUpEvents, nowMs, p.periodSeconds);
      const deleted = this.changeInPeriod(this.scaleDownEvents, nowMs, p.periodSeconds);
      const periodStart = current - added + deleted;
      const proposed =
        p.type === 'Pods' ? periodStart + p.value : Math.ceil(periodStart * (1 + p.value / 100));
      result = rules.selectPolicy === 'Min' ? Math.min(result, proposed) : Math.max(result, proposed);
    }
    return result;
  }

  private scaleDownLimit(nowMs: number, rules: HpaRules, current: number): number {
    if (rules.selectPolicy === 'Disabled') return current;
    let result = rules.selectPolicy === 'Min' ? Number.MIN_SAFE_INTEGER : Number.MAX_SAFE_INTEGER;
    for (const p of rules.policies) {
      const added = this.changeInPeriod(this.scaleUpEvents, nowMs, p.periodSeconds);
      const deleted = this.changeInPeriod(this.scaleDownEvents, nowMs, p.periodSeconds);
      const periodStart = current - added + deleted;
      const proposed =
        p.type === 'Pods' ? periodStart - p.value : Math.trunc(periodStart * (1 - p.value / 100));
      result = rules.selectPolicy === 'Min' ? Math.max(result, proposed) : Math.min(result, proposed);
    }
    return result;
  }

  /** storeScaleEvent: events older than the longest period are dropped, like markScaleEventsOutdated. */
  private storeScaleEvent(nowMs: number, behavior: HpaBehavior, from: number, to: number): void {
    const longest = Math.max(
      0,
      ...behavior.scaleUp.policies.map((p) => p.periodSeconds),
      ...behavior.scaleDown.policies.map((p) => p.periodSeconds),
    );
    const keep = (e: TimedScaleEvent): boolean => e.at > nowMs - longest * 1000;
    const ups = this.scaleUpEvents.filter(keep);
    const downs = this.scaleDownEvents.filter(keep);
    this.scaleUpEvents.splice(0, this.scaleUpEvents.length, ...ups);
    this.scaleDownEvents.splice(0, this.scaleDownEvents.length, ...downs);
    if (to > from) this.scaleUpEvents.push({ at: nowMs, change: to - from });
    else this.scaleDownEvents.push({ at: nowMs, change: from - to });
  }
}

/** KEDA's ScaledObject loop plus the HPA it manages, as one simulated autoscaler. */
export class KedaHpaAutoscaler implements Autoscaler {
  readonly name: string;
  private readonly hpa: HpaModel;
  private nextKedaPollAt: number | undefined;
  private nextHpaSyncAt: number | undefined;
  private lastActiveAt: number | undefined;
  private readonly requestCounter = new KedaRequests();

  constructor(
    private readonly config: KedaHpaConfig = kedaHpaDefaults,
    name = 'keda',
  ) {
    this.name = name;
    this.hpa = new HpaModel(config);
  }

  requests(): RequestCounts {
    return { ...this.requestCounter.counts };
  }

  tick(view: ClusterView): number | undefined {
    const now = view.now;
    this.nextKedaPollAt ??= now;
    this.nextHpaSyncAt ??= now + this.config.hpaPhaseSeconds * 1000;
    this.lastActiveAt ??= now;
    const lag = view.sample.pending + view.sample.ackPending;
    let replicas = view.specReplicas;
    let changed = false;

    if (now >= this.nextKedaPollAt) {
      while (this.nextKedaPollAt <= now) this.nextKedaPollAt += this.config.pollingIntervalSeconds * 1000;
      const active = lag > this.config.activationLagThreshold;
      const before = replicas;
      if (active) {
        this.lastActiveAt = now;
        if (replicas === 0) {
          replicas = Math.max(1, this.config.minReplicaCount);
          changed = true;
        }
      } else if (
        replicas > 0 &&
        this.config.minReplicaCount === 0 &&
        now - this.lastActiveAt >= this.config.cooldownPeriodSeconds * 1000
      ) {
        replicas = 0;
        changed = true;
      }
      this.requestCounter.kedaPoll(active, replicas !== before);
    }
    if (now >= this.nextHpaSyncAt) {
      while (this.nextHpaSyncAt <= now) this.nextHpaSyncAt += this.config.hpaSyncPeriodSeconds * 1000;
      const status = changed ? replicas : view.statusReplicas;
      const desired = this.hpa.sync(now, lag, replicas, status);
      this.requestCounter.hpaSync(lag, replicas, status, desired !== undefined, replicas > 0);
      if (desired !== undefined) {
        replicas = desired;
        changed = true;
      }
    }
    return changed ? replicas : undefined;
  }
}
