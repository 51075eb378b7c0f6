import { peakAgreement, type HarnessPoint } from './peak-agreement.js';

/** A harness timeline, one sample a second from 0 to `seconds`, value f(t). */
const timeline = (seconds: number, f: (t: number) => number | null): HarnessPoint[] =>
  Array.from({ length: seconds + 1 }, (_, t) => ({ t, value: f(t) }));

/** A backlog that rises 50/s to 1,000 at t = 40, then falls 50/s. */
const spike = (t: number): number => Math.max(0, 1000 - 50 * Math.abs(t - 40));

/** What Prometheus shows at each harness sample: the backlog `lag` s earlier, null inside `gaps`. */
const prometheusView = (
  harness: HarnessPoint[],
  f: (t: number) => number,
  lag = 2,
  gaps: Array<[number, number]> = [],
): Array<number | null> =>
  harness.map((p) => (gaps.some(([a, b]) => p.t >= a && p.t <= b) ? null : f(p.t - lag)));

const base = { name: 'peak backlog', lagSeconds: 5, tolerance: 0.05 };

describe('peakAgreement: Prometheus against the harness at the same instants, fair to lag and gaps', () => {
  it('is the plain "within 5 %" on a steady run, with the operator a poll or two behind', () => {
    const harness = timeline(100, spike);
    const ok = peakAgreement({
      ...base,
      harness,
      prometheusAtSamples: prometheusView(harness, spike),
      prometheusPeak: 1000,
    });
    expect(ok).toMatchObject({ pass: true, harness: 1000, prometheus: 1000 });
    expect(ok.coverage).toBe(1);
  });

  it('fails a Prometheus that shows too little or too much (only num_pending exported, or an EventConsumer counted twice)', () => {
    const harness = timeline(100, spike);
    for (const scale of [0.6, 2]) {
      const wrong = peakAgreement({
        ...base,
        harness,
        prometheusAtSamples: prometheusView(harness, (t) => scale * spike(t)),
        prometheusPeak: scale * 1000,
      });
      expect(wrong.pass).toBe(false);
      expect(wrong.detail).toMatch(scale < 1 ? /below 5 %/ : /above 5 %/);
    }
  });

  it('does not blame Prometheus for a peak that fell while no operator exported (a failover gap on the rising edge)', () => {
    // Leader killed at t = 35; the other replica exports again from t = 50. The naive whole-run
    // comparison (Prometheus 850 against the harness's 1,000) would fail.
    const harness = timeline(100, spike);
    const result = peakAgreement({
      ...base,
      harness,
      prometheusAtSamples: prometheusView(harness, spike, 2, [[35, 50]]),
      prometheusPeak: spike(33),
    });
    expect(result.pass).toBe(true);
    expect(result.harnessWholeRun).toBe(1000);
    expect(result.detail).toMatch(/whole-run peak 1000 fell while Prometheus had no data/);
  });

  it('does not blame either side for a noisy peak the harness did not sample (it samples sparsely under load)', () => {
    // The harness read the backlog only every 3 s; the backlog jumped to 1,100 in between.
    const harness = timeline(100, (t) => (t % 3 === 0 ? spike(t) : null));
    const result = peakAgreement({
      ...base,
      harness,
      prometheusAtSamples: prometheusView(harness, spike, 1),
      prometheusPeak: 1100,
    });
    expect(result.pass).toBe(true);
    expect(result.detail).toMatch(/Prometheus' own peak between the harness's samples: 1100/);
  });

  it('fails when Prometheus had a value at too few of the samples to say anything', () => {
    const harness = timeline(100, () => 10);
    const result = peakAgreement({
      ...base,
      harness,
      prometheusAtSamples: harness.map((p) => (p.t <= 20 ? 10 : null)),
      prometheusPeak: 10,
    });
    expect(result.pass).toBe(false);
    expect(result.detail).toMatch(/only 2\d % of the harness's samples/);
  });

  it('fails without data on either side, and refuses inputs that do not line up', () => {
    const harness = timeline(10, () => 5);
    const none = peakAgreement({
      ...base,
      harness,
      prometheusAtSamples: harness.map(() => null),
      prometheusPeak: undefined,
    });
    expect(none.pass).toBe(false);
    const blind = timeline(10, () => null);
    expect(
      peakAgreement({ ...base, harness: blind, prometheusAtSamples: blind.map(() => 5), prometheusPeak: 5 })
        .pass,
    ).toBe(false);
    expect(() => peakAgreement({ ...base, harness, prometheusAtSamples: [], prometheusPeak: 5 })).toThrow(
      /one Prometheus value per harness sample/,
    );
    expect(() =>
      peakAgreement({
        ...base,
        lagSeconds: -1,
        harness: [],
        prometheusAtSamples: [],
        prometheusPeak: undefined,
      }),
    ).toThrow(/lagSeconds and tolerance must be ≥ 0/);
  });

  it('allows a read between two harness samples on a fast spike (final CI: Prometheus 478, harness peak 426)', () => {
    // The backlog climbs ~130/s and falls as fast; the operator read it between the harness's
    // samples at 3 s and 4 s, above both.
    const harness: HarnessPoint[] = [0, 100, 250, 426, 200, 50, 10].map((value, t) => ({ t, value }));
    const prometheusAtSamples = [0, 0, 100, 250, 478, 478, 40];
    const fair = peakAgreement({
      name: 'peak backlog',
      harness,
      prometheusAtSamples,
      prometheusPeak: 478,
      lagSeconds: 2,
      tolerance: 0.05,
    });
    expect(fair.pass).toBe(true);
    // Twice the truth is still caught.
    const doubled = peakAgreement({
      name: 'peak backlog',
      harness,
      prometheusAtSamples: prometheusAtSamples.map((v) => 2 * v),
      prometheusPeak: 956,
      lagSeconds: 2,
      tolerance: 0.05,
    });
    expect(doubled.pass).toBe(false);
  });
});
