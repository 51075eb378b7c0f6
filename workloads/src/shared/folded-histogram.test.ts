import { Histogram, Registry } from 'prom-client';
import { seededRng } from '../../../test/seeded-rng.js';
import { FoldedHistogram } from './folded-histogram.js';

const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The same histograms twice: prom-client's, and folded. */
function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  return {
    ours,
    theirs,
    folded: {
      labelled: new FoldedHistogram({
        name: 'x_duration_seconds',
        help: 'Time "quoted" \\ and\nnewline',
        labelNames: ['outcome'],
        buckets,
        registers: [ours],
      }),
      plain: new FoldedHistogram({
        name: 'y_seconds',
        help: 'plain',
        buckets: [0.5, 1, 300],
        registers: [ours],
      }),
      twoLabels: new FoldedHistogram({
        name: 'z_seconds',
        help: 'two labels',
        labelNames: ['b', 'a'],
        buckets: [1],
        registers: [ours],
      }),
    },
    prom: {
      labelled: new Histogram({
        name: 'x_duration_seconds',
        help: 'Time "quoted" \\ and\nnewline',
        labelNames: ['outcome'],
        buckets,
        registers: [theirs],
      }),
      plain: new Histogram({ name: 'y_seconds', help: 'plain', buckets: [0.5, 1, 300], registers: [theirs] }),
      twoLabels: new Histogram({
        name: 'z_seconds',
        help: 'two labels',
        labelNames: ['b', 'a'],
        buckets: [1],
        registers: [theirs],
      }),
    },
  };
}

describe('FoldedHistogram', () => {
  it("gives the /metrics text and JSON of prom-client's Histogram for the same observations", async () => {
    const random = seededRng(7);
    const h = pair();
    // Nothing observed: a labelled histogram has no series yet, an unlabelled one shows zeros.
    expect(await h.ours.metrics()).toBe(await h.theirs.metrics());
    // Values on, between, below and above the bounds; outcomes first seen in a random order.
    const special = [0, -1, 0.001, 0.0025, 10, 10.000001, 1e9, 1e-12, 0.1 + 0.2];
    const outcomes = ['applied', 'duplicate', 'nak', 'dead_lettered', 'we"ird\\\n'];
    const series = new Map(outcomes.map((o) => [o, h.folded.labelled.series({ outcome: o })]));
    for (let n = 0; n < 5_000; n++) {
      const outcome = outcomes[Math.floor(random() * random() * outcomes.length)] ?? 'applied';
      const v =
        n < special.length ? (special[n] ?? 0) : random() < 0.1 ? random() * 20 : random() * random() * 0.2;
      series.get(outcome)?.observe(v);
      h.prom.labelled.observe({ outcome }, v);
      const w = random() * 400;
      h.folded.plain.series({}).observe(w);
      h.prom.plain.observe(w);
      if (n % 7 === 0) {
        const labels = { a: random() < 0.5 ? 'x' : 'y', b: 'c' };
        h.folded.twoLabels.series(labels).observe(v);
        h.prom.twoLabels.observe(labels, v);
      }
    }
    expect(await h.ours.metrics()).toBe(await h.theirs.metrics());
    expect(await h.ours.getMetricsAsJSON()).toEqual(await h.theirs.getMetricsAsJSON());
    // Again after more observations (a second scrape reads everything since the start).
    h.folded.labelled.series({ outcome: 'nak' }).observe(0.003);
    h.prom.labelled.observe({ outcome: 'nak' }, 0.003);
    expect(await h.ours.metrics()).toBe(await h.theirs.metrics());
    // resetMetrics() forgets every series (prom-client's unlabelled one too, until it is observed again).
    h.ours.resetMetrics();
    h.theirs.resetMetrics();
    expect(await h.ours.metrics()).toBe(await h.theirs.metrics());
    h.folded.plain.series({}).observe(2);
    h.prom.plain.observe(2);
    h.folded.labelled.series({ outcome: 'applied' }).observe(2);
    h.prom.labelled.observe({ outcome: 'applied' }, 2);
    expect(await h.ours.metrics()).toBe(await h.theirs.metrics());
  });

  it('refuses what prom-client refuses: a value that is not finite, wrong labels, le as a label', () => {
    const h = new FoldedHistogram({
      name: 'r_seconds',
      help: 'r',
      labelNames: ['outcome'],
      buckets: [1],
      registers: [],
    });
    expect(() => h.series({ outcome: 'a' }).observe(Number.NaN)).toThrow('Value is not a valid number: NaN');
    expect(() => h.series({ outcome: 'a' }).observe(Infinity)).toThrow(TypeError);
    expect(() => h.series({} as { outcome: string })).toThrow('r_seconds: labels must be exactly outcome');
    expect(
      () =>
        new FoldedHistogram({
          name: 'le_seconds',
          help: 'x',
          labelNames: ['le'],
          buckets: [1],
          registers: [],
        }),
    ).toThrow('le is a reserved label keyword');
    expect(
      () => new FoldedHistogram({ name: 'b_seconds', help: 'x', buckets: [1, 1], registers: [] }),
    ).toThrow('b_seconds: buckets must ascend');
  });

  it('hands out the same series for the same labels', () => {
    const h = new FoldedHistogram({
      name: 's_seconds',
      help: 's',
      labelNames: ['outcome'],
      buckets: [1],
      registers: [],
    });
    expect(h.series({ outcome: 'a' })).toBe(h.series({ outcome: 'a' }));
    expect(h.series({ outcome: 'a' })).not.toBe(h.series({ outcome: 'b' }));
  });
});
