// Reference policies that no real autoscaler can be: they read the trace itself and the consumer
// as it is this very tick (no polling interval, no metric staleness, no rate estimation). They are
// in the benchmark to show what is physically reachable with the simulated pod start-up, so that a
// target can be judged against a bound instead of against KEDA alone.
//
// - `oracle` knows the arrival rate *now* and the backlog *now*, but not the future. No policy that
//   reacts to what has happened (jetscale, KEDA) can see a change earlier, so on a spike its p99 is
//   the floor for them: whatever it does, the pods it asks for at the spike's first instant still
//   take the start-up delay to consume.
// - `clairvoyant` additionally sees the trace `startupSeconds.max` ahead, so its pods are ready when
//   the load arrives. It shows what only foresight (a schedule, a forecast that is right) can buy.
// - `oracle-poll` knows the true rate, but only at the reading it is shown (as stale as everyone's)
//   and only every `pollSeconds` (jetscale's 5 s): what any policy polling that often can reach, so
//   the gap between it and `oracle` is the price of the poll interval, not of the policy.
//
// Both respect the start-up delay (they ask for pods; the simulator starts them) and the replica
// bounds. Sizing: enough replicas for the arrival rate with headroom, plus draining — within
// DRAIN_SECONDS — the backlog that will be there once a pod asked for now is consuming.

import { scaleDownLimit, scaleUpLimit, stabilize } from '../../operator/src/scaling/behavior.js';
import type { ScalingHistory, ScalingRules } from '../../operator/src/scaling/types.js';
import type { Autoscaler, ClusterView, WorkloadModel } from './simulator.js';
import { EPOCH_MS } from './simulator.js';
import type { Trace } from './traces.js';

/** Capacity above the arrival rate: pod speeds vary ±10 % and arrivals are Poisson. */
export const ORACLE_HEADROOM = 1.2;
/** Drain what piled up within this long once new pods consume: short, since this is a bound. */
export const ORACLE_DRAIN_SECONDS = 10;
/**
 * Scale down to the highest size wanted within this window: Poisson noise in the backlog would
 * otherwise move the size every tick (thousands of scale events) for no gain in wait or cost.
 */
export const ORACLE_SCALE_DOWN_WINDOW_SECONDS = 15;

export interface OracleOptions {
  trace: Trace;
  workload: WorkloadModel;
  minReplicas: number;
  maxReplicas: number;
  /** Seconds of the trace it may look ahead: 0 = `oracle`, start-up max = `clairvoyant`. */
  foresightSeconds: number;
  /** Acts only every this many seconds, on the rate at the reading's time (0 = every tick, now). */
  pollSeconds?: number;
  /**
   * Seconds into the run of its first poll (then every `pollSeconds`). The step and every
   * recurring burst start on a multiple of 5 s, so polls from 0 s read each of them one staleness
   * too early and see it a whole poll late: the bench draws the phase per seed (scenarios.ts).
   */
  pollPhaseSeconds?: number;
  /**
   * Sizes for the arrival rate its readings show — the messages that arrived between the previous
   * reading and this one (delivered + pending grew by them), per second — instead of the trace's
   * true rate: the signal a real policy has, Poisson noise and a change seen only in the part of
   * the interval it filled. Its first reading, with nothing before it, takes the true rate.
   * The oracle-gap ladder's rung "signal" (oracle-gap.ts).
   */
  measuredRate?: boolean;
  /**
   * Scales within these windows and step policies (operator/src/scaling/behavior.ts, the functions
   * jetscale runs) instead of up at once and down to the highest size of the last 15 s.
   */
  rules?: { scaleUp: ScalingRules; scaleDown: ScalingRules };
  /** Drains what will have piled up within this many seconds (default ORACLE_DRAIN_SECONDS). */
  drainSeconds?: number;
  name: string;
}

export class OracleAutoscaler implements Autoscaler {
  readonly name: string;
  private recent: Array<{ at: number; replicas: number }> = [];
  private nextPollAt: number | undefined;
  /** The previous reading, for `measuredRate`: when, and the messages that had arrived by then. */
  private previousReading: { at: number; arrived: number } | undefined;
  /** For `rules`: recommendations and scale events, as jetscale keeps them. */
  private history: Pick<ScalingHistory, 'recommendations' | 'scaleEvents'> = {
    recommendations: [],
    scaleEvents: [],
  };

  constructor(private readonly options: OracleOptions) {
    this.name = options.name;
  }

  /** The highest rate within [t, t + foresight] (sampled each second: traces change on seconds). */
  private rateAhead(t: number): number {
    const { trace, foresightSeconds } = this.options;
    let rate = trace.rateAt(t);
    for (let s = 1; s <= foresightSeconds; s++) rate = Math.max(rate, trace.rateAt(t + s));
    return rate;
  }

  /** Replicas the oracle wants at this instant, before its scale-down window. */
  desired(view: ClusterView): number {
    const { workload, minReplicas, maxReplicas, foresightSeconds } = this.options;
    // It knows the rate when the reading it is shown was taken: now, unless the run makes readings
    // stale (`oracle-poll`, the ladder's rungs).
    const t = view.sample.at / 1000 - EPOCH_MS / 1000;
    const rate = this.options.measuredRate === true ? this.measuredRate(view, t) : this.rateAhead(t);
    const perReplica = workload.serviceRatePerReplica;
    const backlog = Math.max(0, view.sample.pending) + Math.max(0, view.sample.ackPending);
    // With foresight the pods are ready before the load comes, so only today's backlog needs
    // draining; without, the shortfall keeps piling up until a pod asked for now is consuming.
    const shortfall = Math.max(0, rate - view.readyReplicas * perReplica);
    const startup = foresightSeconds > 0 ? 0 : workload.startupSeconds.max;
    const backlogThen = backlog + shortfall * startup;
    const needed = rate * ORACLE_HEADROOM + backlogThen / (this.options.drainSeconds ?? ORACLE_DRAIN_SECONDS);
    const lower = rate > 0 || backlog > 0 ? Math.max(1, minReplicas) : minReplicas;
    return Math.max(lower, Math.min(maxReplicas, Math.ceil(needed / perReplica)));
  }

  /** Arrivals per second between the previous reading and this one (the true rate at the first). */
  private measuredRate(view: ClusterView, t: number): number {
    const arrived = view.sample.deliveredStreamSeq + Math.max(0, view.sample.pending);
    const previous = this.previousReading;
    if (previous === undefined || view.sample.at <= previous.at) {
      if (previous === undefined) this.previousReading = { at: view.sample.at, arrived };
      return previous === undefined ? this.rateAhead(t) : this.lastMeasured;
    }
    this.previousReading = { at: view.sample.at, arrived };
    this.lastMeasured = Math.max(0, arrived - previous.arrived) / ((view.sample.at - previous.at) / 1000);
    return this.lastMeasured;
  }

  private lastMeasured = 0;

  tick(view: ClusterView): number | undefined {
    const poll = this.options.pollSeconds ?? 0;
    if (poll > 0) {
      this.nextPollAt ??= view.now + (this.options.pollPhaseSeconds ?? 0) * 1000;
      if (view.now < this.nextPollAt) return undefined;
      this.nextPollAt += poll * 1000;
    }
    const wanted = this.desired(view);
    const rules = this.options.rules;
    if (rules !== undefined) return this.withinRules(view, wanted, rules);
    const cutoff = view.now - ORACLE_SCALE_DOWN_WINDOW_SECONDS * 1000;
    this.recent = this.recent.filter((r) => r.at > cutoff);
    this.recent.push({ at: view.now, replicas: wanted });
    // Up at once; down only to what the whole window allows.
    const desired =
      wanted >= view.specReplicas ? wanted : Math.max(wanted, ...this.recent.map((r) => r.replicas));
    return desired === view.specReplicas ? undefined : desired;
  }

  /** `wanted` through the windows and step policies, as decide.ts applies them (behavior.ts). */
  private withinRules(
    view: ClusterView,
    wanted: number,
    rules: { scaleUp: ScalingRules; scaleDown: ScalingRules },
  ): number | undefined {
    const now = view.now;
    const current = view.specReplicas;
    const { recommendations, scaleEvents } = this.history;
    // The history a window or a period can still see (the longest of them), then this recommendation.
    const keep =
      Math.max(
        rules.scaleUp.stabilizationWindowSeconds,
        rules.scaleDown.stabilizationWindowSeconds,
        ...rules.scaleUp.policies.map((p) => p.periodSeconds),
        ...rules.scaleDown.policies.map((p) => p.periodSeconds),
      ) * 1000;
    const stabilized = stabilize(recommendations, now, current, wanted, rules.scaleUp, rules.scaleDown);
    const desired =
      stabilized > current
        ? Math.min(stabilized, scaleUpLimit(rules.scaleUp, scaleEvents, now, current))
        : Math.max(stabilized, scaleDownLimit(rules.scaleDown, scaleEvents, now, current));
    this.history = {
      recommendations: [...recommendations.filter((r) => r.at > now - keep), { at: now, replicas: wanted }],
      scaleEvents: [
        ...scaleEvents.filter((e) => e.at > now - keep),
        ...(desired !== current ? [{ at: now, from: current, to: desired }] : []),
      ],
    };
    return desired === current ? undefined : desired;
  }
}

/** Extra capacity for `clairvoyant-cost` at a planned wait of 0 s; it shrinks as the wait grows. */
export const COST_PLANNER_HEADROOM = 0.1;
/** How far past the planned wait the planner looks for deadlines (seconds). */
export const COST_PLANNER_LOOKAHEAD_SECONDS = 60;

export interface CostPlannerOptions {
  trace: Trace;
  workload: WorkloadModel;
  minReplicas: number;
  maxReplicas: number;
  /** The wait it plans for: each message is served at most about this long after it arrived. */
  plannedWaitSeconds: number;
  name: string;
}

/**
 * `clairvoyant-cost`: a reference for the cheapest schedule that meets a given wait. It knows the
 * whole trace and gives every message a deadline `plannedWaitSeconds` after it arrives, then runs
 * the slowest service rate that meets every deadline (earliest-deadline-first feasibility: the
 * highest, over the coming instants v, of the messages due by v divided by the time left until v).
 * A burst is thus spread over the wait instead of met with pods that start, serve briefly and idle.
 * Pods asked for now consume only after a start-up, so it keeps the larger of what is needed now
 * and what will be needed one start-up (max) ahead, with the backlog then estimated from the
 * trace and the replicas ready now. Headroom COST_PLANNER_HEADROOM / (1 + wait) covers per-pod
 * speed and Poisson noise. Swept over the wait it traces a frontier of p99 against replica-seconds:
 * the bench's "least replica-seconds for this p99". It is a planner with a simple rule, not a
 * proven optimum; with noise, whole pods and start-up costs nothing reaches the physical minimum
 * (messages ÷ per-replica rate), which the bench reports as well.
 */
export class CostPlanner implements Autoscaler {
  readonly name: string;
  private recent: Array<{ at: number; replicas: number }> = [];
  /** Mean arrivals from the start of the trace to each whole second. */
  private readonly cumulative: number[] = [0];

  constructor(private readonly options: CostPlannerOptions) {
    this.name = options.name;
  }

  /** Expected arrivals in [0, x] (linear within a second). */
  private arrivalsUntil(x: number): number {
    if (x <= 0) return 0;
    const whole = Math.floor(x);
    while (this.cumulative.length <= whole + 1) {
      const i = this.cumulative.length - 1;
      this.cumulative.push((this.cumulative[i] ?? 0) + this.options.trace.rateAt(i + 0.5));
    }
    const lo = this.cumulative[whole] ?? 0;
    const hi = this.cumulative[whole + 1] ?? lo;
    return lo + (hi - lo) * (x - whole);
  }

  /** The least service rate from `t` on that serves a backlog `queued` (the latest arrivals) in time. */
  private requiredRate(t: number, queued: number): number {
    const wait = this.options.plannedWaitSeconds;
    const arrivedByT = this.arrivalsUntil(t);
    let rate = 0;
    for (let d = 1; d <= wait + COST_PLANNER_LOOKAHEAD_SECONDS; d++) {
      const deadlineArrival = t + d - wait;
      const due =
        deadlineArrival <= t
          ? Math.max(0, queued - (arrivedByT - this.arrivalsUntil(deadlineArrival)))
          : queued + this.arrivalsUntil(deadlineArrival) - arrivedByT;
      rate = Math.max(rate, due / d);
    }
    return rate;
  }

  desired(view: ClusterView): number {
    const { workload, minReplicas, maxReplicas, plannedWaitSeconds: wait } = this.options;
    const t = (view.now - EPOCH_MS) / 1000;
    const perReplica = workload.serviceRatePerReplica;
    const startup = workload.startupSeconds.max;
    const backlog = Math.max(0, view.sample.pending) + Math.max(0, view.sample.ackPending);
    const now = this.requiredRate(t, backlog);
    const served = Math.min(
      backlog + this.arrivalsUntil(t + startup) - this.arrivalsUntil(t),
      view.readyReplicas * perReplica * startup,
    );
    const later = this.requiredRate(
      t + startup,
      Math.max(0, backlog + this.arrivalsUntil(t + startup) - this.arrivalsUntil(t) - served),
    );
    const rate = Math.max(now, later) * (1 + COST_PLANNER_HEADROOM / (1 + wait));
    const lower = rate > 0 || backlog > 0 ? Math.max(1, minReplicas) : minReplicas;
    return Math.max(lower, Math.min(maxReplicas, Math.ceil(rate / perReplica)));
  }

  tick(view: ClusterView): number | undefined {
    const wanted = this.desired(view);
    const cutoff = view.now - ORACLE_SCALE_DOWN_WINDOW_SECONDS * 1000;
    this.recent = this.recent.filter((r) => r.at > cutoff);
    this.recent.push({ at: view.now, replicas: wanted });
    const desired =
      wanted >= view.specReplicas ? wanted : Math.max(wanted, ...this.recent.map((r) => r.replicas));
    return desired === view.specReplicas ? undefined : desired;
  }
}
