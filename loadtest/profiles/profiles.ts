// The load scenarios jetscale is judged on — ramp, spike, soak, failover, recovery and a short CI
// spike — written once as plain data. Two very different runtimes read this file: k6 (which strips
// the types with esbuild and has no Node APIs) and the Node harness / local load driver. So this
// module has no imports, touches no Node or k6 API and holds only data and pure functions.

/** One stage of an open-model arrival rate: the rate moves linearly to `targetRate` over the stage. */
export interface RateStage {
  durationSeconds: number;
  /** Requests (one event each) per second at the end of the stage. */
  targetRate: number;
}

/** Faults the harness can inject; k6 runs ignore them (k6 cannot disrupt a cluster safely). */
export type FaultKind =
  /** Graceful delete of consumer pods (SIGTERM, then the grace period). */
  | 'delete-consumer-pods'
  /** Forced delete with grace 0: the process gets SIGKILL, in-flight messages are redelivered. */
  | 'kill-consumer-pods'
  /** SIGKILL the operator replica holding the leader lease; the other one must take over. */
  | 'kill-operator-leader'
  /** Stop nats-server and start it again on the same ports and store. */
  | 'restart-nats'
  /** Take the gateway away for `durationSeconds` (its pods are deleted and come back). */
  | 'stop-gateway';

export interface ScheduledFault {
  /** Seconds after the load starts. */
  atSeconds: number;
  kind: FaultKind;
  /** How many pods (delete/kill consumer pods); default 1. */
  count?: number;
  /** How long the component stays away (restart-nats, stop-gateway); default 5 s. */
  durationSeconds?: number;
}

/** What a run must achieve; k6 turns the request-level ones into thresholds, the harness judges all. */
export interface Budgets {
  /** Largest share of failed requests (HTTP errors and timeouts). */
  maxFailedRatio: number;
  /** p95 of the gateway's request latency. */
  p95LatencyMs: number;
  /** Largest share of requests the open model could not start on schedule. */
  maxDroppedRatio: number;
  /** From the start of the spike to the first scale-up of the consumer Deployment. */
  scaleUpWithinSeconds?: number;
  /** From the end of the peak load to a backlog back under the activation level. */
  drainWithinSeconds?: number;
  /** From killing the operator leader to the other replica holding the lease. */
  failoverWithinSeconds?: number;
}

export type ProfileName = 'ramp' | 'spike' | 'spike-ci' | 'soak' | 'failover' | 'recovery';

export interface LoadProfile {
  name: ProfileName;
  description: string;
  /** Rate at time 0, requests per second. */
  startRate: number;
  stages: RateStage[];
  /** Where the peak load begins and ends (seconds after start); the harness measures from these. */
  peak?: { fromSeconds: number; toSeconds: number };
  faults: ScheduledFault[];
  budgets: Budgets;
  /** Upper bound of requests in flight; the open model drops (and counts) what does not fit. */
  maxInFlight: number;
}

/**
 * The base rate the profiles are written for: sized for the local stack (2 shared cores running
 * NATS, a control plane, the gateway and every consumer as a process). Scale them up for a real
 * cluster with `scaleProfile` (k6: RATE_SCALE).
 */
export const baseRate = 10;

const spikeFactor = 10;

export const profiles: Record<ProfileName, LoadProfile> = {
  ramp: {
    name: 'ramp',
    description: 'Warm up at the base rate, climb to 5x over two minutes, hold, come back down.',
    startRate: 0,
    stages: [
      { durationSeconds: 20, targetRate: baseRate },
      { durationSeconds: 40, targetRate: baseRate },
      { durationSeconds: 120, targetRate: 5 * baseRate },
      { durationSeconds: 60, targetRate: 5 * baseRate },
      { durationSeconds: 60, targetRate: baseRate },
      { durationSeconds: 60, targetRate: baseRate },
    ],
    peak: { fromSeconds: 60, toSeconds: 240 },
    faults: [],
    budgets: {
      maxFailedRatio: 0.01,
      p95LatencyMs: 500,
      maxDroppedRatio: 0.01,
      scaleUpWithinSeconds: 90,
      drainWithinSeconds: 120,
    },
    maxInFlight: 200,
  },
  spike: {
    name: 'spike',
    description:
      'Steady base load, then ~10x for one minute with a consumer pod deleted, a consumer container killed and the operator leader killed, then base again while the backlog drains.',
    startRate: baseRate,
    stages: [
      { durationSeconds: 30, targetRate: baseRate },
      { durationSeconds: 5, targetRate: spikeFactor * baseRate },
      { durationSeconds: 60, targetRate: spikeFactor * baseRate },
      { durationSeconds: 5, targetRate: baseRate },
      { durationSeconds: 90, targetRate: baseRate },
    ],
    peak: { fromSeconds: 30, toSeconds: 95 },
    // make demo's faults, during the peak: a consumer pod deleted with its grace period (kubectl
    // delete pod: SIGTERM, drain, exit), a consumer container killed with no grace (a crash), and
    // the operator leader killed (its standby must take the Lease while the backlog is high).
    faults: [
      { atSeconds: 45, kind: 'delete-consumer-pods', count: 1 },
      { atSeconds: 55, kind: 'kill-consumer-pods', count: 1 },
      { atSeconds: 70, kind: 'kill-operator-leader' },
    ],
    budgets: {
      maxFailedRatio: 0.01,
      p95LatencyMs: 500,
      maxDroppedRatio: 0.01,
      scaleUpWithinSeconds: 30,
      drainWithinSeconds: 120,
      failoverWithinSeconds: 45,
    },
    maxInFlight: 200,
  },
  'spike-ci': {
    name: 'spike-ci',
    description:
      'The spike, shortened for CI, with a forced consumer kill and an operator leader kill during the peak: scaling, failover and exactly-once under faults in about two and a half minutes.',
    startRate: baseRate,
    stages: [
      { durationSeconds: 20, targetRate: baseRate },
      { durationSeconds: 3, targetRate: spikeFactor * baseRate },
      { durationSeconds: 42, targetRate: spikeFactor * baseRate },
      { durationSeconds: 3, targetRate: baseRate },
      { durationSeconds: 72, targetRate: baseRate },
    ],
    peak: { fromSeconds: 20, toSeconds: 65 },
    faults: [
      { atSeconds: 40, kind: 'kill-consumer-pods', count: 1 },
      { atSeconds: 50, kind: 'kill-operator-leader' },
    ],
    // Generous bounds: CI shares two cores with the whole stack.
    budgets: {
      maxFailedRatio: 0.02,
      p95LatencyMs: 1500,
      maxDroppedRatio: 0.05,
      scaleUpWithinSeconds: 45,
      drainWithinSeconds: 150,
      failoverWithinSeconds: 45,
    },
    maxInFlight: 200,
  },
  soak: {
    name: 'soak',
    description: 'Twice the base rate for thirty minutes: leaks, drift, slow stalls and replica churn.',
    startRate: 0,
    stages: [
      { durationSeconds: 30, targetRate: 2 * baseRate },
      { durationSeconds: 1800, targetRate: 2 * baseRate },
      { durationSeconds: 30, targetRate: 0 },
    ],
    peak: { fromSeconds: 0, toSeconds: 1830 },
    faults: [],
    budgets: {
      maxFailedRatio: 0.001,
      p95LatencyMs: 300,
      maxDroppedRatio: 0.001,
      scaleUpWithinSeconds: 60,
      drainWithinSeconds: 120,
    },
    maxInFlight: 200,
  },
  failover: {
    name: 'failover',
    description:
      'Three times the base rate for six minutes while every kind of fault lands in turn: graceful pod deletes, forced kills, the operator leader, NATS, the gateway.',
    startRate: 0,
    stages: [
      { durationSeconds: 15, targetRate: 3 * baseRate },
      { durationSeconds: 345, targetRate: 3 * baseRate },
      { durationSeconds: 60, targetRate: baseRate },
    ],
    // The load ramps from zero, so scale-up is measured from the start.
    peak: { fromSeconds: 0, toSeconds: 360 },
    faults: [
      { atSeconds: 60, kind: 'delete-consumer-pods', count: 2 },
      { atSeconds: 120, kind: 'kill-consumer-pods', count: 2 },
      { atSeconds: 180, kind: 'kill-operator-leader' },
      { atSeconds: 240, kind: 'restart-nats', durationSeconds: 5 },
      { atSeconds: 300, kind: 'stop-gateway', durationSeconds: 10 },
    ],
    // Restarting NATS and stopping the gateway fail requests on purpose; the audit must still hold.
    budgets: {
      maxFailedRatio: 0.1,
      p95LatencyMs: 2000,
      maxDroppedRatio: 0.1,
      scaleUpWithinSeconds: 60,
      drainWithinSeconds: 180,
      failoverWithinSeconds: 45,
    },
    maxInFlight: 200,
  },
  recovery: {
    name: 'recovery',
    description:
      'A short burst far above capacity builds a deep backlog, then only a trickle: drain time and scale-down.',
    startRate: baseRate,
    stages: [
      { durationSeconds: 10, targetRate: baseRate },
      { durationSeconds: 2, targetRate: 15 * baseRate },
      { durationSeconds: 30, targetRate: 15 * baseRate },
      { durationSeconds: 2, targetRate: 2 },
      { durationSeconds: 240, targetRate: 2 },
    ],
    peak: { fromSeconds: 10, toSeconds: 44 },
    faults: [],
    budgets: {
      maxFailedRatio: 0.01,
      p95LatencyMs: 800,
      maxDroppedRatio: 0.02,
      scaleUpWithinSeconds: 30,
      drainWithinSeconds: 180,
    },
    maxInFlight: 300,
  },
};

export const profileNames = Object.keys(profiles) as ProfileName[];

export function isProfileName(name: string): name is ProfileName {
  return Object.prototype.hasOwnProperty.call(profiles, name);
}

/** Total length of a profile's load, in seconds. */
export function profileDurationSeconds(profile: LoadProfile): number {
  return profile.stages.reduce((sum, stage) => sum + stage.durationSeconds, 0);
}

/** The planned arrival rate at `seconds` after the start (linear within each stage). */
export function rateAt(profile: LoadProfile, seconds: number): number {
  let from = profile.startRate;
  let stageStart = 0;
  for (const stage of profile.stages) {
    const stageEnd = stageStart + stage.durationSeconds;
    if (seconds < stageEnd) {
      const progress = stage.durationSeconds === 0 ? 1 : (seconds - stageStart) / stage.durationSeconds;
      return from + (stage.targetRate - from) * Math.max(0, progress);
    }
    from = stage.targetRate;
    stageStart = stageEnd;
  }
  return 0;
}

/** Requests the profile plans in total (the integral of the rate). */
export function plannedRequests(profile: LoadProfile): number {
  let total = 0;
  let from = profile.startRate;
  for (const stage of profile.stages) {
    total += ((from + stage.targetRate) / 2) * stage.durationSeconds;
    from = stage.targetRate;
  }
  return Math.round(total);
}

/** The same shape at `factor` times the rate (a real cluster takes far more than the local stack). */
export function scaleProfile(profile: LoadProfile, factor: number): LoadProfile {
  if (!(factor > 0)) throw new Error(`rate scale must be a positive number, got ${factor}`);
  return {
    ...profile,
    startRate: profile.startRate * factor,
    stages: profile.stages.map((stage) => ({ ...stage, targetRate: stage.targetRate * factor })),
    maxInFlight: Math.ceil(profile.maxInFlight * Math.max(1, factor)),
  };
}
