import {
  aggregateOf,
  cpuShare,
  closedLoopLanes,
  ladderSummary,
  benchDefaults,
  formatPercent,
  formatSummary,
  median,
  pairedRatios,
  parseBenchArgs,
  roundOrder,
  summarize,
} from './stats.js';

describe('median and summary over rounds', () => {
  it('is the middle value, or the mean of the two middle ones', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });

  it('leaves out phases that could not be timed (NaN), and says how many were summarized', () => {
    expect(summarize([3, NaN, 1, 2])).toEqual({ median: 2, min: 1, max: 3, n: 3 });
    expect(summarize([NaN])).toEqual({ median: NaN, min: NaN, max: NaN, n: 0 });
  });

  it('does not sort the caller’s array', () => {
    const values = [3, 1, 2];
    median(values);
    expect(values).toEqual([3, 1, 2]);
  });
});

describe('paired ratios', () => {
  it('divides within each round, so the ratio is not the ratio of medians from different rounds', () => {
    // Load doubled between rounds: both phases halve; the paired ratio stays 0.5 in every round.
    const full = [1000, 500, 250];
    const bare = [2000, 1000, 500];
    expect(pairedRatios(full, bare)).toEqual([0.5, 0.5, 0.5]);
    expect(summarize(pairedRatios(full, bare))).toEqual({ median: 0.5, min: 0.5, max: 0.5, n: 3 });
  });

  it('refuses sides of different lengths', () => {
    expect(() => pairedRatios([1, 2], [1])).toThrow(/as many values/);
  });
});

describe('round order', () => {
  it('alternates the phase order (ABC, CBA, ABC …) so a drifting load favours no phase', () => {
    expect(roundOrder(['bare', 'floor', 'full'], 0)).toEqual(['bare', 'floor', 'full']);
    expect(roundOrder(['bare', 'floor', 'full'], 1)).toEqual(['full', 'floor', 'bare']);
    expect(roundOrder(['bare', 'floor', 'full'], 2)).toEqual(['bare', 'floor', 'full']);
  });

  it('puts every phase in every position equally often over an even number of rounds', () => {
    const phases = ['a', 'b', 'c', 'd'];
    const positions = new Map<string, number>();
    for (let r = 0; r < 4; r++)
      roundOrder(phases, r).forEach((p, i) => positions.set(p, (positions.get(p) ?? 0) + i));
    expect(new Set(positions.values()).size).toBe(1);
  });
});

describe('formatting', () => {
  it('prints the median then the range', () => {
    expect(formatSummary({ median: 1234.4, min: 1100, max: 13000, n: 5 })).toBe('1,234 (1,100–13,000)');
    expect(formatSummary({ median: 0.25, min: 0.2, max: 0.3, n: 2 }, 0, 100)).toBe('25 (20–30)');
    expect(formatSummary({ median: 7, min: 7, max: 7, n: 1 })).toBe('7');
    expect(formatSummary(summarize([]))).toBe('—');
  });

  it('prints percentages with the sign after the median', () => {
    expect(formatPercent({ median: 0.231, min: 0.2, max: 0.27, n: 5 })).toBe('23 % (20–27)');
    expect(formatPercent({ median: 0.5, min: 0.5, max: 0.5, n: 1 })).toBe('50 %');
  });
});

describe('command line', () => {
  it('has the defaults with no flags', () => {
    expect(parseBenchArgs([])).toEqual(benchDefaults);
  });

  it('reads every flag', () => {
    const o = parseBenchArgs([
      '--events', '20000', '--aggregates', '50', '--hot-share', '0.5', '--hot-aggregates', '4',
      '--concurrency', '128', '--seconds', '2.5', '--warm-up', '5000', '--rounds', '3', '--gateway-seconds', '1',
      '--batches', '10,100', '--ceiling-events', '5000', '--phases', 'bare,floor-batch',
      '--profile', '/tmp/p', '--compare', '/tmp/old', '--run', 'built', '--prefill', '600',
      '--load-generators', 'fetch,http',
    ]); // prettier-ignore
    expect(o).toEqual({
      events: 20000,
      aggregates: 50,
      hotShare: 0.5,
      hotAggregates: 4,
      concurrency: 128,
      seconds: 2.5,
      warmUp: 5000,
      rounds: 3,
      gatewaySeconds: 1,
      batches: [10, 100],
      ceilingEvents: 5000,
      phases: ['bare', 'floor-batch'],
      profileDir: '/tmp/p',
      compareDir: '/tmp/old',
      run: 'built',
      prefill: 600,
      loadGenerators: ['fetch', 'http'],
    });
    expect(parseBenchArgs([]).loadGenerators).toEqual(['http']);
    expect(parseBenchArgs(['--batches', 'none']).batches).toEqual([]);
    // floor-fast needs nats-server ≥ 2.14 (not the pinned one): only when asked for.
    expect(parseBenchArgs([]).phases).toEqual(['bare', 'floor', 'floor-batch', 'full']);
    expect(parseBenchArgs(['--phases', 'floor,floor-fast']).phases).toEqual(['floor', 'floor-fast']);
  });

  it('names the flag and what to fix', () => {
    expect(() => parseBenchArgs(['--events', '500'])).toThrow(
      /--events must be an integer ≥ 10000, got '500'/,
    );
    expect(() => parseBenchArgs(['--rounds', '2.5'])).toThrow(/--rounds must be an integer ≥ 1/);
    expect(() => parseBenchArgs(['--seconds', '-1'])).toThrow(/--seconds must be a number of seconds > 0/);
    expect(() => parseBenchArgs(['--warm-up', '0'])).toThrow(/--warm-up must be an integer ≥ 1/);
    expect(() => parseBenchArgs(['--run', 'dist'])).toThrow(/--run must be 'source' \(tsx\) or 'built'/);
    expect(() => parseBenchArgs(['--prefill', '-1'])).toThrow(/--prefill must be an integer ≥ 0, got '-1'/);
    expect(() => parseBenchArgs(['--load-generators', 'undici'])).toThrow(
      /--load-generators must be a list of http and fetch without repeats/,
    );
    expect(() => parseBenchArgs(['--load-generators', 'http,http'])).toThrow(/without repeats/);
    // The window closes at 90 % of the stored events, so it must open before that.
    expect(() => parseBenchArgs(['--events', '10000', '--warm-up', '9000'])).toThrow(
      /--warm-up must be below 90 % of --events \(9000/,
    );
    expect(parseBenchArgs(['--events', '10000', '--warm-up', '8999']).warmUp).toBe(8999);
    expect(() => parseBenchArgs(['--hot-share', '1'])).toThrow(
      /--hot-share must be a number from 0 to below 1/,
    );
    expect(() => parseBenchArgs(['--batches', '1,7'])).toThrow(
      /--batches must be 'none' or a list of 1, 10 and 100/,
    );
    expect(() => parseBenchArgs(['--ceiling-events', '10'])).toThrow(
      /--ceiling-events must be an integer ≥ 1000/,
    );
    expect(() => parseBenchArgs(['--phases', 'bare,old'])).toThrow(
      /--phases must be a list without repeats of bare, floor, floor-batch, floor-fast, floor-readback, full .*got 'bare,old'/,
    );
    expect(() => parseBenchArgs(['--phases', 'bare,bare'])).toThrow(
      /--phases must be a list without repeats/,
    );
    expect(() => parseBenchArgs(['--event', '5'])).toThrow(/unknown flag --event/);
    expect(() => parseBenchArgs(['--events'])).toThrow(/--events needs a value/);
    expect(() => parseBenchArgs(['20000'])).toThrow(/unexpected argument '20000'/);
  });
});

describe('aggregate of the i-th event', () => {
  const count = (o: Parameters<typeof aggregateOf>[1], n: number) => {
    const byAggregate = new Map<string, number>();
    for (let i = 0; i < n; i++)
      byAggregate.set(aggregateOf(i, o), (byAggregate.get(aggregateOf(i, o)) ?? 0) + 1);
    return byAggregate;
  };

  it('is round-robin over the aggregates without a hot share', () => {
    expect([0, 1, 2, 3].map((i) => aggregateOf(i, { aggregates: 3, hotShare: 0, hotAggregates: 8 }))).toEqual(
      ['agg-0', 'agg-1', 'agg-2', 'agg-0'],
    );
  });

  it('sends the hot share, spread evenly, to the hot aggregates', () => {
    const o = { aggregates: 1000, hotShare: 0.5, hotAggregates: 4 };
    const byAggregate = count(o, 10_000);
    for (let k = 0; k < 4; k++) expect(byAggregate.get(`hot-${k}`)).toBe(1250);
    // Evenly spread: every other event is hot.
    expect([0, 1, 2, 3].map((i) => aggregateOf(i, o).startsWith('hot-'))).toEqual([false, true, false, true]);
  });
});

describe('cpuShare (the gateway against a bare publisher by CPU)', () => {
  it('is the publisher’s CPU per event as a share of the gateway’s', () => {
    // Session 20: natscli 11 µs per event, the gateway's batch 100 26 µs.
    expect(cpuShare(11, 26)).toBe('42 %');
    expect(cpuShare(26, 26)).toBe('100 %');
  });

  it('says nothing when a figure is missing or zero', () => {
    expect(cpuShare(11, undefined)).toBe('—');
    expect(cpuShare(11, 0)).toBe('—');
    expect(cpuShare(NaN, 26)).toBe('—');
    expect(cpuShare(0, 26)).toBe('—');
  });
});

describe('ladderSummary (the gateway by batch size)', () => {
  const step = (offered: number, stored: number, saturated: boolean) => ({
    offeredEventsPerSecond: offered,
    eventsPerSecond: stored,
    saturated,
  });

  it('takes the best step the gateway kept up with, never a saturated one with more stored', () => {
    // make bench-workloads, batch 10: 9,933 at 10,000 offered (p99 0.7 s), then 15,121 at 20,000 with 503s.
    const steps = [step(2000, 1994, false), step(10_000, 9933, false), step(20_000, 15_121, true)];
    expect(ladderSummary(steps)).toEqual({ best: steps[1], saturatedAt: steps[2] });
  });

  it('says when the gateway kept up with the whole ladder, and when with none of it', () => {
    const kept = [step(5000, 4975, false), step(40_000, 39_935, false)];
    expect(ladderSummary(kept)).toEqual({ best: kept[1], saturatedAt: undefined });
    const none = [step(1000, 438, true), step(2000, 300, true)];
    expect(ladderSummary(none)).toEqual({ best: undefined, saturatedAt: none[0] });
  });
});

describe('closedLoopLanes (the gateway without a ladder)', () => {
  it('keeps as many events in flight as the ceiling, with at most 100 requests', () => {
    expect(closedLoopLanes(100)).toBe(10);
    expect(closedLoopLanes(10)).toBe(100);
    expect(closedLoopLanes(1)).toBe(100);
    expect(closedLoopLanes(500)).toBe(2);
    expect(closedLoopLanes(1000)).toBe(1);
    expect(closedLoopLanes(5000)).toBe(1);
  });
  it('refuses a batch size that is not a positive integer', () => {
    expect(() => closedLoopLanes(0)).toThrow(/positive integer/);
    expect(() => closedLoopLanes(2.5)).toThrow(/positive integer/);
  });
});
