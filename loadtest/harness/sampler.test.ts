import { histogramQuantile, parseHistogram } from './sampler.js';

const exposition = `# HELP jetscale_consumer_end_to_end_latency_seconds e2e
# TYPE jetscale_consumer_end_to_end_latency_seconds histogram
jetscale_consumer_end_to_end_latency_seconds_bucket{le="0.1"} 50
jetscale_consumer_end_to_end_latency_seconds_bucket{le="0.5"} 90
jetscale_consumer_end_to_end_latency_seconds_bucket{le="1"} 100
jetscale_consumer_end_to_end_latency_seconds_bucket{le="+Inf"} 100
jetscale_consumer_end_to_end_latency_seconds_sum 12
jetscale_consumer_end_to_end_latency_seconds_count 100
jetscale_consumer_handler_duration_seconds_bucket{le="0.1",outcome="applied"} 7
`;

describe('e2e latency from consumer histograms', () => {
  it('reads the cumulative buckets of one metric only', () => {
    const buckets = parseHistogram(exposition, 'jetscale_consumer_end_to_end_latency_seconds');
    expect([...buckets.entries()]).toEqual([
      [0.1, 50],
      [0.5, 90],
      [1, 100],
      [Number.POSITIVE_INFINITY, 100],
    ]);
  });

  it('interpolates quantiles within a bucket, as PromQL histogram_quantile does', () => {
    const buckets = parseHistogram(exposition, 'jetscale_consumer_end_to_end_latency_seconds');
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(0.1);
    expect(histogramQuantile(0.95, buckets)).toBeCloseTo(0.75);
    expect(histogramQuantile(0.7, buckets)).toBeCloseTo(0.3);
  });

  it('has no quantile without observations, and caps at the last finite bound', () => {
    expect(histogramQuantile(0.95, new Map())).toBeNull();
    const tail = new Map([
      [1, 10],
      [Number.POSITIVE_INFINITY, 100],
    ]);
    expect(histogramQuantile(0.95, tail)).toBe(1);
  });
});
