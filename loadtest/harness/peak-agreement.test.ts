import { peakAgreement, type HarnessPoint } from './peak-agreement.js';

/** A harness timeline, one sample a second from 0 to `seconds`, value f(t). */
const timeline = (seconds: number, f: (t: number) => number | null): HarnessPoint[] =>
  Array.from({ length: seconds + 1 }, (_, t) => ({ t, value: f(t) }));

/** A backlog that rises 50/s to 1,000 at t = 40, then falls 50/s. */
const spike = (t: number): number => Math.max(0, 1000 - 50 * Math.abs(t - 40));

const base = { name: 'peak backlog', lagSeconds: 5, tolerance: 0.05 };

describe('peakAgreement: Prometheus peak against the harness, fair to lag and to gaps', () => {
  it('is the plain "within 5 %" when Prometheus covered the whole run', () => {
    const harness = timeline(100, spike);
    const ok = peakAgreement({ ...base, harness, prometheusRuns: [[0, 100]], prometheusPeak: 1016 });
    expect(ok).toMatchObject({
      pass: true,
      harness: 1000,
      prometheus: 1016,
      bounds: { low: 1000, high: 1000 },
    });
    expect(ok.coverage).toBe(1);
    expect(peakAgreement({ ...base, harness, prometheusRuns: [[0, 100]], prometheusPeak: 940 }).pass).toBe(
      false,
    );
    expect(peakAgreement({ ...base, harness, prometheusRuns: [[0, 100]], prometheusPeak: 1060 }).pass).toBe(
      false,
    );
  });

  it('does not blame Prometheus for a peak that fell while no operator exported (a failover gap)', () => {
    // Leader killed at t = 35 on the rising edge; the other replica exports again from t = 50.
    // Prometheus' last point before the gap shows the backlog of a poll up to `lag` earlier (t = 33).
    const harness = timeline(100, spike);
    const result = peakAgreement({
      ...base,
      harness,
      prometheusRuns: [
        [0, 35],
        [50, 100],
      ],
      prometheusPeak: spike(33),
    });
    expect(result.pass).toBe(true);
    expect(result.harnessWholeRun).toBe(1000);
    expect(result.detail).toMatch(/whole-run peak 1000 fell while Prometheus had no data/);
    // The naive comparison of whole-run peaks would have failed (650 against 1,000).
    expect(spike(33)).toBeLessThan(0.95 * 1000);
  });

  it('still fails a Prometheus peak far under what it must have seen, gap or not', () => {
    const harness = timeline(100, spike);
    const runs: Array<[number, number]> = [
      [0, 35],
      [50, 100],
    ];
    // It must have seen t = 50 (500) and t = 30 (500): a peak of 300 is wrong (e.g. only num_pending exported).
    const result = peakAgreement({ ...base, harness, prometheusRuns: runs, prometheusPeak: 300 });
    expect(result.pass).toBe(false);
    expect(result.detail).toMatch(/below 5 %/);
    // And a peak above anything the harness saw in the windows Prometheus could have seen (double counting).
    expect(peakAgreement({ ...base, harness, prometheusRuns: runs, prometheusPeak: 1000 }).pass).toBe(false);
  });

  it('treats short gaps (a failed scrape) as no gap, so the lower bound stays tight on a loaded machine', () => {
    const harness = timeline(100, spike);
    // A point every second except every third second: runs of 2 s, far shorter than the lag.
    const runs: Array<[number, number]> = Array.from({ length: 34 }, (_, i): [number, number] => [
      3 * i,
      3 * i + 1,
    ]);
    expect(peakAgreement({ ...base, harness, prometheusRuns: runs, prometheusPeak: 990 }).pass).toBe(true);
    const low = peakAgreement({ ...base, harness, prometheusRuns: runs, prometheusPeak: 600 });
    expect(low.pass).toBe(false);
    expect(low.bounds).toEqual({ low: 1000, high: 1000 });
  });

  it('fails when Prometheus covered too little of the run to say anything', () => {
    const harness = timeline(100, () => 10);
    const result = peakAgreement({ ...base, harness, prometheusRuns: [[0, 20]], prometheusPeak: 10 });
    expect(result.pass).toBe(false);
    expect(result.detail).toMatch(/only 2\d % of the harness's samples/);
  });

  it('fails without data on either side, and ignores the harness samples it could not read', () => {
    const harness = timeline(100, (t) => (t === 40 ? null : spike(t)));
    expect(peakAgreement({ ...base, harness, prometheusRuns: [], prometheusPeak: undefined }).pass).toBe(
      false,
    );
    expect(
      peakAgreement({
        ...base,
        harness: timeline(10, () => null),
        prometheusRuns: [[0, 10]],
        prometheusPeak: 5,
      }).pass,
    ).toBe(false);
    expect(
      peakAgreement({ ...base, harness, prometheusRuns: [[0, 100]], prometheusPeak: 960 }),
    ).toMatchObject({
      pass: true,
      harness: 950,
    });
  });

  it('refuses a negative lag or tolerance', () => {
    expect(() =>
      peakAgreement({ ...base, lagSeconds: -1, harness: [], prometheusRuns: [], prometheusPeak: undefined }),
    ).toThrow(/lagSeconds and tolerance must be ≥ 0/);
  });
});
