// A Prometheus histogram for a per-event hot path: an observation adds to plain numbers of one series
// (found once, by the caller), and prom-client's value list is built only when the registry reads it (a
// scrape). prom-client's own `observe()` validates and hashes the labels, looks the series up in an
// object and scans the buckets each time: about 0.7 µs unlabelled and 1.6 µs labelled per observation in
// the consumer (workloads/README.md), where this costs a bucket scan and three additions.
//
// The exposition is prom-client's: the registry formats the values this gives exactly as it formats a
// prom-client Histogram's (series in the order of their first observation, cumulative buckets, `+Inf`,
// `_sum` added in observation order, `_count`); folded-histogram.test.ts compares the /metrics text of
// the two for the same observations.
import type { Histogram, Registry } from 'prom-client';

/** One label set's counts: observe() is the hot path. */
export class HistogramSeries {
  /** Observations per bucket (not cumulative); the last slot counts those above every bound. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  /** In the exposition (observed since the last reset, or the one series of an unlabelled histogram). */
  listed = false;

  constructor(
    private readonly parent: FoldedHistogram<string>,
    readonly labels: Readonly<Record<string, string>>,
  ) {
    this.counts = new Float64Array(parent.bounds.length + 1);
  }

  /** Adds one observation (a finite number, as prom-client requires). */
  observe(value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`Value is not a valid number: ${String(value)}`);
    const bounds = this.parent.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] ?? 0)) i++;
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.sum += value;
    this.count++;
    if (!this.listed) this.parent.list(this);
  }
}

export interface FoldedHistogramConfig<L extends string> {
  name: string;
  help: string;
  /** Upper bounds, ascending (as prom-client's `buckets`). */
  buckets: readonly number[];
  labelNames?: readonly L[];
  registers: Registry[];
}

interface ValuePair {
  labels: Record<string, string | number>;
  sharedLabels: Record<string, string>;
  value: number;
  metricName: string;
  exemplar: null | undefined;
}

export class FoldedHistogram<L extends string = never> {
  readonly name: string;
  readonly help: string;
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly bounds: readonly number[];
  private readonly labelNames: readonly L[];
  /** Series by their label values joined, to hand the same one out again. */
  private readonly byKey = new Map<string, HistogramSeries>();
  /** Series in the exposition, in the order of their first observation (prom-client's order). */
  private listed: HistogramSeries[] = [];

  constructor(config: FoldedHistogramConfig<L>) {
    this.name = config.name;
    this.help = config.help;
    this.labelNames = config.labelNames ?? [];
    if (this.labelNames.some((l) => (l as string) === 'le'))
      throw new Error('le is a reserved label keyword');
    for (let i = 1; i < config.buckets.length; i++) {
      if ((config.buckets[i] ?? 0) <= (config.buckets[i - 1] ?? 0))
        throw new Error(`${config.name}: buckets must ascend`);
    }
    this.bounds = [...config.buckets];
    // The registry only reads name, type, help and getForPromString()/get()/reset(); see the header.
    // prom-client shows an unlabelled histogram's zeros before its first observation (not after a reset).
    if (this.labelNames.length === 0) this.list(this.series({} as Record<L, string>));
    for (const r of config.registers) r.registerMetric(this as unknown as Histogram);
  }

  /** The series of one label set (every label named), created on first use; keep it for the hot path. */
  series(labels: Readonly<Record<L, string>>): HistogramSeries {
    const values = this.labelNames.map((l) => labels[l]);
    if (values.some((v) => typeof v !== 'string') || Object.keys(labels).length !== this.labelNames.length)
      throw new Error(`${this.name}: labels must be exactly ${this.labelNames.join(', ') || '(none)'}`);
    const key = values.join('\u0000');
    let s = this.byKey.get(key);
    if (!s) {
      s = new HistogramSeries(this as FoldedHistogram<string>, { ...labels });
      this.byKey.set(key, s);
    }
    return s;
  }

  /** Puts a series into the exposition (a series calls it at its first observation). */
  list(s: HistogramSeries): void {
    s.listed = true;
    this.listed.push(s);
  }

  /** Forgets every observation (the registry's resetMetrics()). */
  reset(): void {
    for (const s of this.byKey.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
      s.listed = false;
    }
    this.listed = [];
  }

  /** The values as prom-client's Histogram gives them to the registry's text format. */
  getForPromString(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    values: ValuePair[];
    aggregator: 'sum';
  }> {
    const values: ValuePair[] = [];
    const bucket = `${this.name}_bucket`;
    for (const s of this.listed) {
      const shared = { ...s.labels };
      let cumulative = 0;
      this.bounds.forEach((le, i) => {
        cumulative += s.counts[i] ?? 0;
        values.push({
          labels: { le },
          sharedLabels: shared,
          value: cumulative,
          metricName: bucket,
          exemplar: null,
        });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: shared, value: s.count, metricName: bucket, exemplar: null },
        {
          labels: {},
          sharedLabels: shared,
          value: s.sum,
          metricName: `${this.name}_sum`,
          exemplar: undefined,
        },
        {
          labels: {},
          sharedLabels: shared,
          value: s.count,
          metricName: `${this.name}_count`,
          exemplar: undefined,
        },
      );
    }
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      values,
      aggregator: this.aggregator,
    });
  }

  /** The values with the series' labels merged in (the registry's JSON form). */
  async get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    values: {
      labels: Record<string, string | number>;
      value: number;
      metricName: string;
      exemplar: null | undefined;
    }[];
    aggregator: 'sum';
  }> {
    const data = await this.getForPromString();
    return {
      ...data,
      values: data.values.map(({ sharedLabels, labels, ...rest }) => ({
        ...rest,
        labels: { ...labels, ...sharedLabels },
      })),
    };
  }
}
