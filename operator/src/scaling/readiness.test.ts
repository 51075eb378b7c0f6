import {
  MAX_READINESS_READINGS,
  observeReadiness,
  START_UP_SAMPLES,
  type ReadinessState,
} from './readiness.js';

const T0 = 1_700_000_000_000;
const deadline = 60;

/** Feeds (second, asked, ready) readings in order; returns the report after each. */
function run(readings: Array<[number, number, number]>, deadlineSeconds = deadline) {
  let state: ReadinessState | undefined;
  return readings.map(([second, asked, ready]) => {
    const out = observeReadiness(state, { now: T0 + second * 1000, asked, ready, deadlineSeconds });
    state = out.state;
    return out.report;
  });
}

/** One reading every `step` seconds from `from` to `to` with the same counts. */
function every(
  from: number,
  to: number,
  asked: number,
  ready: number,
  step = 1,
): Array<[number, number, number]> {
  const out: Array<[number, number, number]> = [];
  for (let t = from; t <= to; t += step) out.push([t, asked, ready]);
  return out;
}

describe('observeReadiness: replicas asked for and not ready for the whole deadline', () => {
  it('new replicas that never become ready are overdue one deadline after they were asked for, not before', () => {
    const reports = run([...every(0, 100, 1, 1), ...every(101, 220, 6, 1)]);
    const at = (second: number) => reports[second];
    expect(at(160)?.overdue).toBe(0); // asked at 101: 59 s ago
    expect(at(160)?.starting).toBe(5);
    expect(at(161)?.overdue).toBe(5);
    expect(at(161)?.starting).toBe(0);
    expect(at(220)?.overdue).toBe(5);
    expect(at(220)?.message).toMatch(
      /^5 of 6 replicas asked for have not been ready for the readiness deadline \(1m\)/,
    );
  });

  it('a ramp that keeps adding replicas which become ready in time is never overdue', () => {
    // One more replica every 10 s; each is ready 40 s after it was asked for (deadline 60 s).
    const readings: Array<[number, number, number]> = [];
    for (let t = 0; t <= 300; t++) {
      const asked = 1 + Math.floor(t / 10);
      const ready = Math.max(1, 1 + Math.floor((t - 40) / 10));
      readings.push([t, asked, ready]);
    }
    const reports = run(readings);
    expect(Math.max(...reports.map((r) => r.overdue))).toBe(0);
    expect(reports[300]?.starting).toBe(4);
  });

  it('a replica that stops being ready counts only after the deadline: a restart within it never does', () => {
    const restart = run([...every(0, 100, 4, 4), ...every(101, 140, 4, 3), ...every(141, 300, 4, 4)]);
    expect(Math.max(...restart.map((r) => r.overdue))).toBe(0);
    const crashLoop = run([...every(0, 100, 4, 4), ...every(101, 200, 4, 3)]);
    expect(crashLoop[160]?.overdue).toBe(0);
    expect(crashLoop[161]?.overdue).toBe(1);
  });

  it('the shortfall ends as soon as the replicas are ready again, and wasOverdue marks the end', () => {
    const reports = run([...every(0, 100, 3, 0), [101, 3, 3], [102, 3, 3]]);
    expect(reports[100]?.overdue).toBe(3);
    expect(reports[101]?.overdue).toBe(0);
    expect(reports[101]?.wasOverdue).toBe(true);
    expect(reports[102]?.wasOverdue).toBe(false);
    expect(reports[101]?.message).toBe('3 of 3 replicas ready');
  });

  it('a scale-down leaves only the replicas still asked for to count', () => {
    const reports = run([...every(0, 100, 6, 2), ...every(101, 120, 2, 2)]);
    expect(reports[100]?.overdue).toBe(4);
    expect(reports[101]?.overdue).toBe(0);
  });

  it('replicas removed and asked for again within the deadline get a new deadline (fewest asked in the window)', () => {
    const reports = run([...every(0, 100, 6, 2), ...every(101, 110, 2, 2), ...every(111, 200, 6, 2)]);
    expect(reports[100]?.overdue).toBe(4);
    expect(reports[150]?.overdue).toBe(0); // asked again at 111: within the deadline
    expect(reports[171]?.overdue).toBe(4);
  });

  it('nothing is overdue until the readings cover a whole deadline (a new or restarted operator does not guess)', () => {
    const reports = run(every(0, 59, 5, 0));
    expect(Math.max(...reports.map((r) => r.overdue))).toBe(0);
    expect(reports[59]?.starting).toBe(5);
  });

  it('a clock that stepped back restarts the record instead of inventing a shortfall', () => {
    let state: ReadinessState | undefined;
    for (let t = 0; t <= 100; t++)
      state = observeReadiness(state, {
        now: T0 + t * 1000,
        asked: 3,
        ready: 0,
        deadlineSeconds: deadline,
      }).state;
    const back = observeReadiness(state, {
      now: T0 - 3_600_000,
      asked: 3,
      ready: 0,
      deadlineSeconds: deadline,
    });
    expect(back.report.overdue).toBe(0);
    expect(back.state.readings).toHaveLength(1);
  });

  it('keeps only changes, within the deadline, and at most MAX_READINESS_READINGS of them', () => {
    let state: ReadinessState | undefined;
    for (let t = 0; t < 5000; t++)
      state = observeReadiness(state, {
        now: T0 + t * 1000,
        asked: 4,
        ready: t % 2,
        deadlineSeconds: 3600,
      }).state;
    expect(state?.readings.length).toBe(MAX_READINESS_READINGS);
    const steady = run(every(0, 500, 4, 4));
    expect(steady.length).toBe(501);
    let s: ReadinessState | undefined;
    for (let t = 0; t <= 500; t++)
      s = observeReadiness(s, { now: T0 + t * 1000, asked: 4, ready: 4, deadlineSeconds: deadline }).state;
    expect(s?.readings).toHaveLength(1);
  });

  it('negative and fractional counts are read as whole, non-negative numbers', () => {
    const [report] = run([[0, -3, 2.7]]);
    expect(report).toMatchObject({ asked: 0, ready: 2, overdue: 0, starting: 0 });
  });
});

/** Feeds (second, asked, ready, old replicas of a rollout with maxUnavailable `unavailable`) readings. */
function runRollout(readings: Array<[number, number, number, number | undefined]>, unavailable: number) {
  let state: ReadinessState | undefined;
  return readings.map(([second, asked, ready, remaining]) => {
    const out = observeReadiness(state, {
      now: T0 + second * 1000,
      asked,
      ready,
      deadlineSeconds: deadline,
      ...(remaining === undefined ? {} : { rollout: { unavailable, remaining } }),
    });
    state = out.state;
    return out.report;
  });
}

describe('observeReadiness: a rolling update keeps replicas unavailable by design', () => {
  // 8 replicas, maxUnavailable 2: the rollout replaces them two at a time, each pair ready 50 s after
  // it started (within the 60 s deadline), so 6 of 8 are ready for the whole 200 s of it.
  const healthy = (): Array<[number, number, number, number | undefined]> => {
    const out: Array<[number, number, number, number | undefined]> = [
      ...every(0, 99, 8, 8).map(([t, a, r]): [number, number, number, undefined] => [t, a, r, undefined]),
    ];
    for (let t = 100; t <= 300; t++) out.push([t, 8, 6, Math.max(0, 6 - 2 * Math.floor((t - 100) / 50))]);
    out.push([301, 8, 8, undefined]);
    return out;
  };

  it('a slow rollout of healthy pods, ready below asked for longer than the deadline, is never overdue', () => {
    const reports = runRollout(healthy(), 2);
    expect(Math.max(...reports.map((r) => r.overdue))).toBe(0);
    expect(reports[250]?.message).toMatch(/kept unavailable by a rollout in progress: up to 2/);
  });

  it('the same counts without the rollout are overdue (the rule the allowance bends)', () => {
    const reports = run(healthy().map(([t, a, r]) => [t, a, r]));
    expect(reports[200]?.overdue).toBe(2);
  });

  it('a rollout that stops making progress loses the allowance a deadline after its last step', () => {
    // The first step (old 8 -> 6 at 100 s), then the new pods never become ready.
    const readings: Array<[number, number, number, number | undefined]> = [
      ...every(0, 99, 8, 8).map(([t, a, r]): [number, number, number, number] => [t, a, r, 8]),
    ];
    for (let t = 100; t <= 400; t++) readings.push([t, 8, 6, 6]);
    const reports = runRollout(readings, 2);
    // Allowed until 160 (a deadline after the step), then a whole deadline of shortfall: 220.
    expect(reports[219]?.overdue).toBe(0);
    expect(reports[221]?.overdue).toBe(2);
    expect(reports[400]?.overdue).toBe(2);
  });

  it('a scale-down that takes old replicas is no progress', () => {
    const readings: Array<[number, number, number, number | undefined]> = [];
    for (let t = 0; t <= 99; t++) readings.push([t, 8, 6, 6]);
    // Scaled down to 6: old replicas fall with asked; the new pods still never become ready.
    for (let t = 100; t <= 300; t++) readings.push([t, 6, 4, 4]);
    const reports = runRollout(readings, 2);
    expect(reports[300]?.overdue).toBe(2);
  });

  it('a rollout first seen in progress has shown no progress yet: nothing is allowed until an old replica goes', () => {
    const readings: Array<[number, number, number, number | undefined]> = [];
    for (let t = 0; t <= 130; t++) readings.push([t, 8, 6, 6]);
    const reports = runRollout(readings, 2);
    expect(reports[61]?.overdue).toBe(2);
  });
});

describe('observeReadiness: how long replicas asked for take to become ready (start-up)', () => {
  it('measures each new replica from when it was asked for to when the ready count took it in', () => {
    const reports = run([
      ...every(0, 9, 1, 1),
      ...every(10, 39, 4, 1),
      ...every(40, 69, 4, 2),
      ...every(70, 79, 4, 3),
      ...every(80, 90, 4, 4),
    ]);
    expect(reports[9]?.startupSeconds).toBeUndefined();
    expect(reports[40]?.startupSeconds).toBe(30);
    // The longest of the recent start-ups: the one a pile-up has to be sized for.
    expect(reports[80]?.startupSeconds).toBe(70);
  });
  it('forgets replicas taken back before they were ready (the newest go first)', () => {
    const reports = run([
      ...every(0, 4, 1, 1),
      ...every(5, 9, 4, 1),
      ...every(10, 39, 2, 1),
      ...every(40, 50, 2, 2),
    ]);
    expect(reports[40]?.startupSeconds).toBe(35);
  });
  it('takes no start-up from a replica that was ready, dropped out and came back (a restart)', () => {
    const reports = run([...every(0, 9, 3, 3), ...every(10, 19, 3, 2), ...every(20, 30, 3, 3)]);
    expect(reports[30]?.startupSeconds).toBeUndefined();
  });
  it('keeps the last START_UP_SAMPLES start-ups only', () => {
    const readings: Array<[number, number, number]> = [...every(0, 9, 1, 1), ...every(10, 109, 2, 1)];
    // One slow start (100 s), then START_UP_SAMPLES quick ones (5 s), one at a time.
    let t = 110;
    let n = 2;
    readings.push(...every(t, t, n, n));
    for (let i = 0; i < START_UP_SAMPLES; i++) {
      n++;
      readings.push(...every(t + 1, t + 5, n, n - 1), ...every(t + 6, t + 6, n, n));
      t += 6;
    }
    const reports = run(readings);
    expect(reports.at(-1 - 6)?.startupSeconds).toBe(100);
    expect(reports.at(-1)?.startupSeconds).toBe(5);
  });
});
