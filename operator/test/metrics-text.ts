// Reads the operator's /metrics the way Prometheus would, for integration tests that judge the
// real process from outside: sums of samples, and histogram buckets with their deltas.

/** Every sample of `name` (with labels matching `labels`), summed. */
export function sampleSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries(
      [...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

export interface Histogram {
  /** Cumulative counts by upper bound (le), ascending, +Inf last. */
  buckets: Array<{ le: number; count: number }>;
  count: number;
}

/** A histogram's series (with labels matching `labels`), summed per bucket. */
export function histogram(text: string, name: string, labels: Record<string, string> = {}): Histogram {
  const byLe = new Map<number, number>();
  for (const line of text.split('\n')) {
    const m = new RegExp(`^${name}_bucket\\{([^}]*)\\} (\\S+)$`).exec(line);
    if (!m) continue;
    const have = Object.fromEntries(
      [...(m[1] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]),
    );
    if (!Object.entries(labels).every(([k, v]) => have[k] === v)) continue;
    const le = have.le === '+Inf' ? Infinity : Number(have.le);
    byLe.set(le, (byLe.get(le) ?? 0) + Number(m[2]));
  }
  const buckets = [...byLe].map(([le, count]) => ({ le, count })).sort((a, b) => a.le - b.le);
  return { buckets, count: sampleSum(text, `${name}_count`, labels) };
}

/** The observations made between two scrapes. */
export function histogramDelta(before: Histogram, after: Histogram): Histogram {
  return {
    buckets: after.buckets.map((b, i) => ({ le: b.le, count: b.count - (before.buckets[i]?.count ?? 0) })),
    count: after.count - before.count,
  };
}

/** The share of observations at or below `le` (which must be a bucket bound). */
export function shareAtMost(h: Histogram, le: number): number {
  const bucket = h.buckets.find((b) => b.le === le);
  if (!bucket) throw new Error(`no bucket le=${le}`);
  return h.count === 0 ? 1 : bucket.count / h.count;
}

/** A quantile by linear interpolation within buckets, as PromQL's histogram_quantile does. */
export function quantile(h: Histogram, q: number): number {
  if (h.count === 0) return NaN;
  const rank = q * h.count;
  let lower = 0;
  let below = 0;
  for (const b of h.buckets) {
    if (b.count >= rank) {
      if (b.le === Infinity) return lower;
      return lower + ((b.le - lower) * (rank - below)) / Math.max(1, b.count - below);
    }
    lower = b.le;
    below = b.count;
  }
  return lower;
}
