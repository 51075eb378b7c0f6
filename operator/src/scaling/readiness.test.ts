import { MAX_READINESS_READINGS, observeReadiness, type ReadinessState } from './readiness.js';

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
