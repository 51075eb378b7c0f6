// Frontiers of p99 wait against replica-seconds: a policy family is the same policy with its one
// trade-off knob swept (KEDA's lagThreshold, jetscale's drainWithinSeconds, the cost planner's
// planned wait). Comparing single settings would compare defaults; comparing frontiers asks the
// question a user has: "for the latency I need, what does it cost me?" Pure functions, no I/O.

import type { PerSeed } from './paired.js';
import { pairedDominates, pairedTied } from './paired.js';

export interface FrontierPoint {
  family: string;
  /** The knob's value (lagThreshold, drainWithinSeconds, planned wait…). */
  knob: number;
  p99WaitSeconds: number;
  replicaSeconds: number;
  /** Standard error of the p99 median over seeds (medianSpread); absent or 0 with one seed. */
  p99Spread?: number;
  /** Standard error of the replica-seconds median over seeds. */
  replicaSecondsSpread?: number;
  /**
   * The values of every seed, in the same seed order for every point of a trace: when both points
   * have them, dominates() compares them pair by pair (paired.ts).
   */
  perSeed?: PerSeed;
}

/** Both points carry per-seed values over the same number of seeds. */
function paired(a: FrontierPoint, b: FrontierPoint): [PerSeed, PerSeed] | undefined {
  if (a.perSeed === undefined || b.perSeed === undefined) return undefined;
  if (a.perSeed.p99WaitSeconds.length !== b.perSeed.p99WaitSeconds.length) return undefined;
  return [a.perSeed, b.perSeed];
}

/**
 * p99 values closer than this are equal: the simulator's wait histogram has 0.1 s bins and its
 * tick is 0.25 s, so at the floor (one service time plus a tick, ~0.70 s) every policy that never
 * queues reads 0.70 ± a few hundredths.
 */
export const P99_EQUAL_WITHIN_SECONDS = 0.1;

/**
 * `a` dominates `b`, the bench's verdict. With per-seed values on both (the bench), on the paired
 * per-seed differences (paired.ts pairedDominates: a − b beyond the 95 % signed-rank interval on
 * one axis, not worse beyond it on the other; p99 within P99_EQUAL_WITHIN_SECONDS equal). Without
 * them, on the medians and their spreads (dominatesOnMedians).
 */
export function dominates(a: FrontierPoint, b: FrontierPoint): boolean {
  const pair = paired(a, b);
  return pair === undefined
    ? dominatesOnMedians(a, b)
    : pairedDominates(pair[0], pair[1], P99_EQUAL_WITHIN_SECONDS);
}

/** `a` and `b` are equal within the noise on both axes: paired when both have per-seed values. */
export function tied(a: FrontierPoint, b: FrontierPoint): boolean {
  const pair = paired(a, b);
  return pair === undefined ? tiedOnMedians(a, b) : pairedTied(pair[0], pair[1], P99_EQUAL_WITHIN_SECONDS);
}

/**
 * The medians' rule (the bench's verdict until per-seed pairing; printed beside it where they
 * differ): `a` dominates `b` when no worse on both p99 and replica-seconds, strictly better on at
 * least one. Differences within the seed-to-seed spread of the two medians (√(spread_a² + spread_b²), see
 * medianSpread) count as equal, and p99 values within P99_EQUAL_WITHIN_SECONDS too: so `a` must
 * beat `b` by more than the spread on one axis and be no worse beyond it on the other. Without
 * spreads (one seed) the medians decide. A tie on both is not domination.
 */
export function dominatesOnMedians(a: FrontierPoint, b: FrontierPoint): boolean {
  const p99Tie = Math.max(P99_EQUAL_WITHIN_SECONDS, combined(a.p99Spread, b.p99Spread));
  const costTie = combined(a.replicaSecondsSpread, b.replicaSecondsSpread);
  const noWorse =
    a.p99WaitSeconds <= b.p99WaitSeconds + p99Tie && a.replicaSeconds <= b.replicaSeconds + costTie;
  const better =
    a.p99WaitSeconds < b.p99WaitSeconds - p99Tie || a.replicaSeconds < b.replicaSeconds - costTie;
  return noWorse && better;
}

/**
 * `a` and `b` are equal within the spread on both axes (neither can dominate the other): a verdict
 * between them is noise, whichever way the medians lean.
 */
export function tiedOnMedians(a: FrontierPoint, b: FrontierPoint): boolean {
  const p99Tie = Math.max(P99_EQUAL_WITHIN_SECONDS, combined(a.p99Spread, b.p99Spread));
  const costTie = combined(a.replicaSecondsSpread, b.replicaSecondsSpread);
  return (
    Math.abs(a.p99WaitSeconds - b.p99WaitSeconds) <= p99Tie &&
    Math.abs(a.replicaSeconds - b.replicaSeconds) <= costTie
  );
}

/** The spread of a difference of two medians: their spreads added in quadrature. */
function combined(a: number | undefined, b: number | undefined): number {
  return Math.sqrt((a ?? 0) ** 2 + (b ?? 0) ** 2);
}

/** Linear-interpolated quantile of sorted values. */
function quantile(sorted: number[], q: number): number {
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return (sorted[lo] ?? NaN) + ((sorted[hi] ?? NaN) - (sorted[lo] ?? NaN)) * (pos - lo);
}

/**
 * The standard error of the median of `values` (one per seed): 1.2533 σ / √n, with σ estimated
 * from the interquartile range (IQR / 1.349), so one seed far off (a burst landing badly) does not
 * widen it. 0 for fewer than two values. It is what the bench prints as ± and what dominatesOnMedians()
 * counts as a tie.
 */
export function medianSpread(values: number[]): number {
  if (values.length < 2) return 0;
  const sorted = [...values].sort((x, y) => x - y);
  const sigma = (quantile(sorted, 0.75) - quantile(sorted, 0.25)) / 1.349;
  return (1.2533 * sigma) / Math.sqrt(values.length);
}

/** The points of `points` that no other point of `points` dominates, by ascending replica-seconds. */
export function paretoFront(points: FrontierPoint[]): FrontierPoint[] {
  return points
    .filter((p) => !points.some((q) => q !== p && dominates(q, p)))
    .sort((a, b) => a.replicaSeconds - b.replicaSeconds || a.p99WaitSeconds - b.p99WaitSeconds);
}

/** A dominance rule: dominates (paired where it can) or dominatesOnMedians. */
export type DominanceRule = (a: FrontierPoint, b: FrontierPoint) => boolean;

/** The first point of `by` that dominates `p` under `rule`, if any. */
export function dominatedBy(
  p: FrontierPoint,
  by: FrontierPoint[],
  rule: DominanceRule = dominates,
): FrontierPoint | undefined {
  return by.find((q) => rule(q, p));
}

/** Least replica-seconds among `points` with p99 ≤ `p99` (within P99_EQUAL_WITHIN_SECONDS), if any. */
export function cheapestMeeting(points: FrontierPoint[], p99: number): FrontierPoint | undefined {
  let best: FrontierPoint | undefined;
  for (const q of points) {
    if (
      q.p99WaitSeconds <= p99 + P99_EQUAL_WITHIN_SECONDS &&
      (best === undefined || q.replicaSeconds < best.replicaSeconds)
    )
      best = q;
  }
  return best;
}

/** Lowest p99 among `points` costing at least `replicaSeconds` (the best "at equal or higher cost"). */
export function bestAtOrAboveCost(
  points: FrontierPoint[],
  replicaSeconds: number,
): FrontierPoint | undefined {
  let best: FrontierPoint | undefined;
  for (const q of points) {
    if (
      q.replicaSeconds >= replicaSeconds &&
      (best === undefined || q.p99WaitSeconds < best.p99WaitSeconds)
    ) {
      best = q;
    }
  }
  return best;
}

export interface FamilyVerdict {
  /** The contender family (e.g. jetscale). */
  family: string;
  /** The baseline family it is checked against (e.g. keda). */
  against: string;
  /** Baseline points no contender point dominates. */
  undominated: FrontierPoint[];
  /** Contender points some baseline point dominates. */
  beaten: Array<{ point: FrontierPoint; by: FrontierPoint }>;
}

/**
 * Does `contender` dominate `baseline`: for every baseline point some contender point dominates
 * it? Also lists the contender points a baseline point dominates (e.g. a default that is beaten).
 */
export function compareFamilies(
  contender: FrontierPoint[],
  baseline: FrontierPoint[],
  rule: DominanceRule = dominates,
): FamilyVerdict {
  const family = contender[0]?.family ?? '';
  const against = baseline[0]?.family ?? '';
  const undominated = baseline.filter((b) => dominatedBy(b, contender, rule) === undefined);
  const beaten: FamilyVerdict['beaten'] = [];
  for (const point of contender) {
    const by = dominatedBy(point, baseline, rule);
    if (by !== undefined) beaten.push({ point, by });
  }
  return { family, against, undominated, beaten };
}
