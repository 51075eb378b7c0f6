// Does Prometheus' peak of a series agree with the harness's own measurement of the same figure?
// The two are measured differently: the harness reads JetStream and the API server about once a
// second (more sparsely on a loaded machine); Prometheus holds what the operator exported at its
// last poll, as of its last scrape. So a Prometheus point at time T shows the world as it was up to
// `lag` seconds before T, and while no operator exports (the leader was killed and the other
// replica has not taken over yet) Prometheus has no point at all. Whole-run peaks are then unfair
// both ways: a peak that fell in a failover gap is missing from Prometheus, and a noisy backlog's
// highest instant between two harness samples is missing from the harness.
//
// So the peaks are taken over the same instants — the harness's samples at which Prometheus also
// had a value (Prometheus' value at a sample is what Grafana shows at that moment) — and Prometheus'
// peak must lie in a bracket that allows for the lag: at least (1 − tolerance) × the largest
// "least the harness saw in the `lag` seconds before a sample", at most (1 + tolerance) × the largest
// "most the harness saw in the `lag` seconds before a sample". On a steady peak both are the
// harness's peak and this is the plain "within 5 %". The share of the harness's samples Prometheus
// had a value for is checked too, so a scrape that never worked cannot pass on a sliver of data.

export interface HarnessPoint {
  /** Seconds since the load started. */
  t: number;
  value: number | null;
}

export interface PeakAgreementInput {
  name: string;
  harness: readonly HarnessPoint[];
  /** Prometheus' value at each harness sample (same order and length; null: no data then). */
  prometheusAtSamples: ReadonlyArray<number | null>;
  /** Prometheus' largest sample over the whole run, for the report (undefined: no data). */
  prometheusPeak: number | undefined;
  /** How stale a Prometheus point may be: poll interval + scrape interval + slack. */
  lagSeconds: number;
  /** Relative tolerance, e.g. 0.05. */
  tolerance: number;
  /** Share of the harness's samples Prometheus must have a value for (default 0.5: a failed scrape under load leaves a gap too). */
  minCoverage?: number;
}

export interface PeakAgreement {
  name: string;
  /** The harness's peak over the instants Prometheus had a value for (the figure shown). */
  harness: number | null;
  /** Prometheus' peak over the same instants. */
  prometheus: number | null;
  tolerance: string;
  pass: boolean;
  /** The harness's peak over the whole run, and the bracket Prometheus' peak had to fall in. */
  harnessWholeRun: number | null;
  bounds: { low: number; high: number } | null;
  /** Share of the harness's samples Prometheus had a value for. */
  coverage: number;
  detail: string;
}

export function peakAgreement(input: PeakAgreementInput): PeakAgreement {
  if (!(input.lagSeconds >= 0) || !(input.tolerance >= 0))
    throw new Error(`peakAgreement(${input.name}): lagSeconds and tolerance must be ≥ 0`);
  if (input.prometheusAtSamples.length !== input.harness.length)
    throw new Error(`peakAgreement(${input.name}): one Prometheus value per harness sample is needed`);
  const lag = input.lagSeconds;
  const measured = input.harness.flatMap((p) => (p.value === null ? [] : [{ t: p.t, value: p.value }]));
  let harnessPeak: number | undefined;
  let promPeak: number | undefined;
  let low: number | undefined;
  let high: number | undefined;
  let matched = 0;
  input.harness.forEach((p, i) => {
    const prom = input.prometheusAtSamples[i] ?? null;
    if (p.value === null || prom === null) return;
    matched++;
    harnessPeak = Math.max(harnessPeak ?? -Infinity, p.value);
    promPeak = Math.max(promPeak ?? -Infinity, prom);
    // What the operator may have read for the point shown at p.t: the harness's view of [t − lag, t].
    const window = measured.filter((m) => m.t >= p.t - lag && m.t <= p.t).map((m) => m.value);
    low = Math.max(low ?? -Infinity, Math.min(...window));
    // The operator may have read between two harness samples, where a fast-moving backlog can stand
    // above both: allow the harness's own resolution there, the largest step between adjacent
    // samples enclosing the window (on a steady peak that step is small and the bracket tight).
    high = Math.max(high ?? -Infinity, Math.max(...window) + largestStep(measured, p.t - lag, p.t));
  });
  const wholeRun = measured.length > 0 ? Math.max(...measured.map((m) => m.value)) : undefined;
  const coverage = measured.length > 0 ? matched / measured.length : 0;
  const minCoverage = input.minCoverage ?? 0.5;
  const tolerance = `${Math.round(input.tolerance * 100)} %`;

  const fails: string[] = [];
  if (wholeRun === undefined) fails.push('the harness measured nothing');
  if (input.prometheusPeak === undefined) fails.push('Prometheus has no data');
  if (coverage < minCoverage)
    fails.push(
      `Prometheus had a value at only ${Math.round(coverage * 100)} % of the harness's samples (needs ${Math.round(minCoverage * 100)} %)`,
    );
  if (promPeak !== undefined && low !== undefined && high !== undefined) {
    if (promPeak < (1 - input.tolerance) * low) fails.push(`below ${tolerance} under ${low}`);
    if (promPeak > (1 + input.tolerance) * high) fails.push(`above ${tolerance} over ${high}`);
  }
  const wholeRunNote =
    wholeRun !== undefined && harnessPeak !== undefined && wholeRun > harnessPeak
      ? `; the harness's whole-run peak ${wholeRun} fell while Prometheus had no data (e.g. an operator failover)`
      : '';
  const promNote =
    input.prometheusPeak !== undefined && promPeak !== undefined && input.prometheusPeak > promPeak
      ? `; Prometheus' own peak between the harness's samples: ${input.prometheusPeak}`
      : '';
  return {
    name: input.name,
    harness: harnessPeak ?? null,
    prometheus: promPeak ?? null,
    tolerance,
    pass: fails.length === 0,
    harnessWholeRun: wholeRun ?? null,
    bounds: low === undefined || high === undefined ? null : { low, high },
    coverage,
    detail:
      `at the ${matched} harness samples Prometheus had a value for (${Math.round(coverage * 100)} %): Prometheus ${promPeak ?? 'nothing'}, harness ${harnessPeak ?? 'nothing'}, allowed ${low === undefined ? '—' : low === high ? low : `${low}–${high}`} ± ${tolerance} for a lag up to ${lag} s` +
      wholeRunNote +
      promNote +
      (fails.length > 0 ? `: ${fails.join('; ')}` : ''),
  };
}

/** The largest change between adjacent samples from the last one before `from` to the first after `to`. */
function largestStep(points: ReadonlyArray<{ t: number; value: number }>, from: number, to: number): number {
  let first = points.findIndex((m) => m.t >= from);
  if (first < 0) return 0;
  first = Math.max(0, first - 1);
  let last = points.findIndex((m) => m.t > to);
  last = last < 0 ? points.length - 1 : last;
  let step = 0;
  for (let i = first + 1; i <= last; i++) {
    const [before, after] = [points[i - 1], points[i]];
    if (before && after) step = Math.max(step, Math.abs(after.value - before.value));
  }
  return step;
}
