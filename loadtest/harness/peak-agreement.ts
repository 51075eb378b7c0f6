// Does Prometheus' peak of a series agree with the harness's own measurement of the same figure?
// The two are measured differently: the harness reads JetStream and the API server about once a
// second; Prometheus holds what the operator exported at its last poll, as of its last scrape. So a
// Prometheus point at time T shows the world as it was up to `lag` seconds before T, and while no
// operator exports (the leader was killed and the other replica has not taken over yet) Prometheus
// has no point at all. Comparing whole-run peaks is then unfair when the peak falls in such a gap,
// and comparing peaks over the same window is unfair when the window ends on a rising edge.
//
// The fair question is a bracket: Prometheus' peak must be at least (1 − tolerance) × the harness's
// peak over what Prometheus must have seen (instants inside its runs of data, at least `lag` before
// each run ends) and at most (1 + tolerance) × the harness's peak over what it could have seen
// (from `lag` before each run starts to the run's end). Without a gap both bounds are the harness's
// whole-run peak and this is the plain "within 5 %". The share of the run Prometheus covered is
// checked too, so a scrape that never worked cannot pass on a sliver of data.

export interface HarnessPoint {
  /** Seconds since the load started. */
  t: number;
  value: number | null;
}

export interface PeakAgreementInput {
  name: string;
  harness: readonly HarnessPoint[];
  /** [from, to] seconds since the load started during which Prometheus had samples (presence()). */
  prometheusRuns: ReadonlyArray<readonly [number, number]>;
  /** Prometheus' largest sample over the run (undefined: no data). */
  prometheusPeak: number | undefined;
  /** How stale a Prometheus point may be: poll interval + scrape interval + slack. */
  lagSeconds: number;
  /** Relative tolerance, e.g. 0.05. */
  tolerance: number;
  /** Share of the harness's samples that must fall inside Prometheus' runs (default 0.5: a failed scrape under load leaves a gap too). */
  minCoverage?: number;
  /** Runs this close are one run for the bracket: a failed scrape is not an operator gap (default 3 s). */
  mergeGapSeconds?: number;
}

export interface PeakAgreement {
  name: string;
  /** The harness's peak over the instants Prometheus could have seen (the figure shown). */
  harness: number | null;
  prometheus: number | null;
  tolerance: string;
  pass: boolean;
  /** The harness's peak over the whole run, and the bracket Prometheus' peak had to fall in. */
  harnessWholeRun: number | null;
  bounds: { low: number; high: number } | null;
  /** Share of the harness's samples inside Prometheus' runs of data. */
  coverage: number;
  detail: string;
}

const inAny = (t: number, windows: Array<[number, number]>): boolean =>
  windows.some(([from, to]) => t >= from && t <= to);

const peak = (points: readonly HarnessPoint[], keep: (t: number) => boolean): number | undefined => {
  let max: number | undefined;
  for (const p of points)
    if (p.value !== null && keep(p.t) && (max === undefined || p.value > max)) max = p.value;
  return max;
};

/** Joins runs separated by at most `gap` seconds (sorted by start). */
export function mergeRuns(runs: Array<[number, number]>, gap: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const [a, b] of [...runs].sort((x, y) => x[0] - y[0])) {
    const last = out.at(-1);
    if (last && a - last[1] <= gap) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out;
}

export function peakAgreement(input: PeakAgreementInput): PeakAgreement {
  if (!(input.lagSeconds >= 0) || !(input.tolerance >= 0))
    throw new Error(`peakAgreement(${input.name}): lagSeconds and tolerance must be ≥ 0`);
  const runs = input.prometheusRuns.map(([a, b]): [number, number] => [a, b]);
  const lag = input.lagSeconds;
  const merged = mergeRuns(runs, input.mergeGapSeconds ?? 3);
  const mustHaveSeen = merged
    .filter(([a, b]) => b - lag >= a)
    .map(([a, b]): [number, number] => [a, b - lag]);
  const couldHaveSeen = merged.map(([a, b]): [number, number] => [a - lag, b]);
  const measured = input.harness.filter((p) => p.value !== null);
  const wholeRun = peak(measured, () => true);
  const low = peak(measured, (t) => inAny(t, mustHaveSeen)) ?? 0;
  const high = peak(measured, (t) => inAny(t, couldHaveSeen));
  const covered = measured.filter((p) => inAny(p.t, runs)).length;
  const coverage = measured.length > 0 ? covered / measured.length : 0;
  const minCoverage = input.minCoverage ?? 0.5;
  const p = input.prometheusPeak;
  const tolerance = `${Math.round(input.tolerance * 100)} %`;

  const fails: string[] = [];
  if (wholeRun === undefined) fails.push('the harness measured nothing');
  if (p === undefined) fails.push('Prometheus has no data');
  if (coverage < minCoverage)
    fails.push(
      `Prometheus had the series for only ${Math.round(coverage * 100)} % of the harness's samples (needs ${Math.round(minCoverage * 100)} %)`,
    );
  if (p !== undefined && high !== undefined) {
    if (p < (1 - input.tolerance) * low) fails.push(`below ${tolerance} under ${low}`);
    if (p > (1 + input.tolerance) * high) fails.push(`above ${tolerance} over ${high}`);
  }
  const gapNote =
    wholeRun !== undefined && high !== undefined && wholeRun > high
      ? `; the whole-run peak ${wholeRun} fell while Prometheus had no data (e.g. an operator failover)`
      : '';
  return {
    name: input.name,
    harness: high ?? null,
    prometheus: p ?? null,
    tolerance,
    pass: fails.length === 0,
    harnessWholeRun: wholeRun ?? null,
    bounds: high === undefined ? null : { low, high },
    coverage,
    detail:
      `Prometheus ${p ?? 'nothing'} against the harness's ${low === high ? low : `${low}–${high}`} over the ${Math.round(coverage * 100)} % of the run Prometheus covered (lag allowed ${lag} s)` +
      gapNote +
      (fails.length > 0 ? `: ${fails.join('; ')}` : ''),
  };
}
