// Paired comparison of two policy settings over the same seeds. On one seed both settings see the
// same arrivals (same trace, same bursts, same HPA phase, same pod start-ups drawn from the same
// stream), so the per-seed difference removes what the seed does to both: a setting 3 % cheaper
// than another on every seed is cheaper, however much the seeds move both of them. Pure functions,
// no I/O.

/** An interval for the centre of per-seed differences (a − b), with its point estimate. */
export interface DifferenceInterval {
  /** Hodges–Lehmann estimate: the median of the Walsh averages (pairwise means of differences). */
  estimate: number;
  low: number;
  high: number;
  /** Number of pairs. */
  n: number;
}

/**
 * The two-sided 5 % critical value of the Wilcoxon signed-rank statistic for n pairs, from its
 * exact null distribution: the largest c with P(T ≤ c) ≤ 2.5 % (T = the sum of the ranks of the
 * positive differences; every sign equally likely). −1 when none exists (n < 6). For 14 seeds, 21.
 */
export function signedRankCriticalValue(n: number): number {
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`signedRankCriticalValue: n must be a whole number ≥ 1, got ${n}`);
  const max = (n * (n + 1)) / 2;
  // p[t] = P(T = t): each rank r is in the sum with probability 1/2.
  let p = new Array<number>(max + 1).fill(0);
  p[0] = 1;
  for (let r = 1; r <= n; r++) {
    const next = new Array<number>(max + 1).fill(0);
    for (let t = 0; t <= max; t++) {
      const here = p[t] ?? 0;
      if (here === 0) continue;
      next[t] = (next[t] ?? 0) + here / 2;
      if (t + r <= max) next[t + r] = (next[t + r] ?? 0) + here / 2;
    }
    p = next;
  }
  let cumulative = 0;
  let c = -1;
  for (let t = 0; t <= max; t++) {
    cumulative += p[t] ?? 0;
    if (cumulative > 0.025 + 1e-12) break;
    c = t;
  }
  return c;
}

/**
 * The Wilcoxon signed-rank 95 % confidence interval for the centre (pseudo-median) of
 * `differences`: the Walsh averages (d_i + d_j) / 2 for i ≤ j sorted, c of them cut off each end
 * (c = signedRankCriticalValue(n)): from the (c + 1)-th smallest to the (c + 1)-th largest — for 14
 * seeds the 22nd of the 105 from either end. It assumes only that the differences are symmetric about their
 * centre, not normal. With fewer than 6 pairs no 95 % interval exists and the interval is the range
 * of the Walsh averages (for one pair, the difference itself).
 */
export function signedRankInterval(differences: number[]): DifferenceInterval {
  const n = differences.length;
  if (n === 0) throw new Error('signedRankInterval: no differences (run at least one seed)');
  if (differences.some((d) => !Number.isFinite(d)))
    throw new Error(`signedRankInterval: non-finite difference in [${differences.join(', ')}]`);
  const walsh: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) walsh.push(((differences[i] ?? 0) + (differences[j] ?? 0)) / 2);
  }
  walsh.sort((x, y) => x - y);
  const count = walsh.length;
  const mid = Math.floor(count / 2);
  const estimate =
    count % 2 === 1 ? (walsh[mid] ?? NaN) : ((walsh[mid - 1] ?? NaN) + (walsh[mid] ?? NaN)) / 2;
  const cut = Math.max(0, signedRankCriticalValue(n));
  return { estimate, low: walsh[cut] ?? NaN, high: walsh[count - 1 - cut] ?? NaN, n };
}

/** Per-seed values of one setting, in the same seed order as every other setting's. */
export interface PerSeed {
  p99WaitSeconds: number[];
  replicaSeconds: number[];
}

/** The paired differences a − b on both axes: p99 in seconds, replica-seconds relative to b's. */
export interface PairedDifference {
  p99Seconds: DifferenceInterval;
  /** (a − b) / b per seed: 0.03 = a costs 3 % more on that seed. */
  replicaSecondsRelative: DifferenceInterval;
}

export function pairedDifference(a: PerSeed, b: PerSeed): PairedDifference {
  const n = a.p99WaitSeconds.length;
  if (
    n === 0 ||
    b.p99WaitSeconds.length !== n ||
    a.replicaSeconds.length !== n ||
    b.replicaSeconds.length !== n
  ) {
    throw new Error(
      `pairedDifference: both settings need one value per seed on both axes (got ${a.p99WaitSeconds.length}/${a.replicaSeconds.length} and ${b.p99WaitSeconds.length}/${b.replicaSeconds.length})`,
    );
  }
  return {
    p99Seconds: signedRankInterval(a.p99WaitSeconds.map((v, i) => v - (b.p99WaitSeconds[i] ?? NaN))),
    replicaSecondsRelative: signedRankInterval(
      a.replicaSeconds.map((v, i) => (v - (b.replicaSeconds[i] ?? NaN)) / (b.replicaSeconds[i] ?? NaN)),
    ),
  };
}

/**
 * Does `a` dominate `b` on paired differences: on one axis the whole interval of a − b is below
 * zero (for p99 below −`p99EqualWithin`: the simulator's histogram cannot tell closer values apart),
 * and on the other the interval reaches down to zero or below (a is not worse beyond the noise).
 */
export function pairedDominates(a: PerSeed, b: PerSeed, p99EqualWithin: number): boolean {
  const d = pairedDifference(a, b);
  const p99Better = d.p99Seconds.high < -p99EqualWithin;
  const p99NoWorse = d.p99Seconds.low <= p99EqualWithin;
  const costBetter = d.replicaSecondsRelative.high < 0;
  const costNoWorse = d.replicaSecondsRelative.low <= 0;
  return (p99Better && costNoWorse) || (costBetter && p99NoWorse);
}

/** Neither can dominate the other on paired differences: both intervals reach across zero. */
export function pairedTied(a: PerSeed, b: PerSeed, p99EqualWithin: number): boolean {
  const d = pairedDifference(a, b);
  return (
    d.p99Seconds.low <= p99EqualWithin &&
    d.p99Seconds.high >= -p99EqualWithin &&
    d.replicaSecondsRelative.low <= 0 &&
    d.replicaSecondsRelative.high >= 0
  );
}

/** A difference for a table: signed, with a typographic minus, and no "−0.00" for what rounds to zero. */
export function signedText(x: number, digits: number): string {
  const text = Math.abs(x).toFixed(digits);
  return Number(text) === 0 ? text : `${x < 0 ? '−' : '+'}${text}`;
}
