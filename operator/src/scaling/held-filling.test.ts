// held-filling.ts: handlers filling their hands (completions rise with what is held) told from a
// queue behind busy handlers (completions keep their pace while what is held grows).
import { fillingHands, validHeldRisingRun } from './held-filling.js';
import type { HeldRisingRun } from './held-filling.js';

/** Each 2 s interval's held at its ends and completions, read through fillingHands in turn. */
function read(intervals: { heldFrom: number; heldTo: number; completed: number }[], replicas = 1): boolean[] {
  let run: HeldRisingRun | undefined;
  return intervals.map((i) => {
    const r = fillingHands(run, { rising: true, readyReplicas: replicas, seconds: 2, ...i });
    run = r.run;
    return r.filling;
  });
}

describe('held-filling.ts fillingHands', () => {
  it('handlers of 500 at once, 10 s each, filling their hands at 30/s: every interval shows what they did at least', () => {
    // Held λW(1 − e^(−t/W)); completions held ÷ W over each interval.
    const held = (t: number): number => 300 * (1 - Math.exp(-t / 10));
    const intervals = Array.from({ length: 12 }, (_, k) => {
      const a = 2 * k;
      const b = a + 2;
      return { heldFrom: held(a), heldTo: held(b), completed: Math.round(30 * 2 - (held(b) - held(a))) };
    });
    expect(read(intervals)).toEqual(intervals.map(() => true));
  });

  it('one-at-a-time handlers of 5/s behind a buffer taking 22/s: a queue from the second interval on', () => {
    // Held grows by 17/s, completions stay 10 an interval.
    const intervals = Array.from({ length: 30 }, (_, k) => ({
      heldFrom: 34 * k,
      heldTo: 34 * (k + 1),
      completed: 10,
    }));
    const shown = read(intervals);
    expect(shown[0]).toBe(true);
    expect(shown.slice(1).every((f) => !f)).toBe(true);
  });

  it('a queue growing from a standing buffer of 500: the completions keep their pace, a queue', () => {
    const intervals = Array.from({ length: 20 }, (_, k) => ({
      heldFrom: 500 + 10 * k,
      heldTo: 500 + 10 * (k + 1),
      completed: 20,
    }));
    const shown = read(intervals, 2);
    expect(shown.slice(1).every((f) => !f)).toBe(true);
  });

  it('an interval that is not rising ends the run; another ready count starts one', () => {
    const first = fillingHands(undefined, {
      rising: true,
      readyReplicas: 2,
      seconds: 2,
      heldFrom: 10,
      heldTo: 30,
      completed: 4,
    });
    expect(first).toEqual({
      run: { replicas: 2, seconds: 2, heldMessageSeconds: 40, completed: 4 },
      filling: true,
    });
    expect(
      fillingHands(first.run, {
        rising: false,
        readyReplicas: 2,
        seconds: 2,
        heldFrom: 30,
        heldTo: 30,
        completed: 4,
      }),
    ).toEqual({ filling: false });
    const other = fillingHands(first.run, {
      rising: true,
      readyReplicas: 3,
      seconds: 2,
      heldFrom: 30,
      heldTo: 60,
      completed: 1,
    });
    expect(other.run?.replicas).toBe(3);
    expect(other.run?.seconds).toBe(2);
    expect(other.filling).toBe(true);
  });

  it('a run read back from state that is not one is none', () => {
    expect(
      validHeldRisingRun({ replicas: 1.5, seconds: 2, heldMessageSeconds: 1, completed: 1 }),
    ).toBeUndefined();
    expect(
      validHeldRisingRun({ replicas: 2, seconds: 0, heldMessageSeconds: 1, completed: 1 }),
    ).toBeUndefined();
    expect(
      validHeldRisingRun({ replicas: 2, seconds: 2, heldMessageSeconds: -1, completed: 1 }),
    ).toBeUndefined();
    expect(validHeldRisingRun('x')).toBeUndefined();
    // A foreign run is read as none: the interval is the first of a new run.
    expect(
      fillingHands(
        { replicas: 'x' },
        { rising: true, readyReplicas: 1, seconds: 1, heldFrom: 0, heldTo: 5, completed: 1 },
      ),
    ).toEqual({ run: { replicas: 1, seconds: 1, heldMessageSeconds: 2.5, completed: 1 }, filling: true });
  });
});
