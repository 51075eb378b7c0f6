// in-hand-step.ts: one replica fewer at a time for handlers shown to work on many at once, judged
// step by step, and back (and remembered) when a step overfills their hands.
import {
  asInHandStepState,
  HANDS_FULL_MEMORY_SECONDS,
  nextInHandStep,
  STEP_WATCH_SECONDS,
} from './in-hand-step.js';
import type { InHandStepInput } from './in-hand-step.js';

const T = 1_700_000_000_000;

/** 5 ready replicas keeping up with 40 held in hand at 4/s, the step to 5 judged at T. */
const shown = { seconds: 10, perReplica: 9, from: 6, to: 5, at: T };
const base: InHandStepInput = {
  state: undefined,
  keepingUp: true,
  shown,
  readySince: T - 30_000,
  current: 5,
  ready: 5,
  held: 40,
  beyondHands: false,
  pending: 0,
  arrivalPerSecond: 4,
  now: T + 2_000,
};

describe('in-hand-step.ts nextInHandStep', () => {
  it('one fewer once the change to this count was judged since it became ready', () => {
    const { ask, state } = nextInHandStep(base);
    expect(ask).toEqual({ kind: 'down', replicas: 4 });
    expect(state.step).toEqual({ from: 5, to: 4, at: T + 2_000, held: 40, arrivalPerSecond: 4 });
    // Asked again while the count has not moved (the user's scale-down rules hold it).
    expect(nextInHandStep({ ...base, state, now: T + 4_000 }).ask).toEqual({ kind: 'down', replicas: 4 });
  });

  it('none without a judgement at this count, before it became ready, while pods start, at 1, or not keeping up', () => {
    expect(nextInHandStep({ ...base, shown: { ...shown, to: 6 } }).ask).toBeUndefined();
    expect(nextInHandStep({ ...base, readySince: T + 1 }).ask).toBeUndefined();
    expect(nextInHandStep({ ...base, current: 6 }).ask).toBeUndefined();
    expect(nextInHandStep({ ...base, current: 1, ready: 1, shown: { ...shown, to: 1 } }).ask).toBeUndefined();
    expect(nextInHandStep({ ...base, keepingUp: false }).ask).toBeUndefined();
    expect(nextInHandStep({ ...base, shown: undefined }).ask).toBeUndefined();
  });

  it('a count no change to it could judge (a scale-up for a rise) that stood STEP_WATCH_SECONDS: one fewer, the change that gets judged', () => {
    // 32 replicas reached in a climb for a rise, the mark shown at 4 -> 2 long before (world 515518:
    // 32 held for good where 6 do it).
    const unjudged = { ...base, shown: { ...shown, from: 4, to: 2 }, current: 32, ready: 32, held: 2900 };
    const stood = T + 2_000 - STEP_WATCH_SECONDS * 1000;
    expect(nextInHandStep({ ...unjudged, readySince: stood + 1 }).ask).toBeUndefined();
    const { ask, state } = nextInHandStep({ ...unjudged, readySince: stood });
    expect(ask).toEqual({ kind: 'down', replicas: 31 });
    // At 31, before the change is judged and while the step is watched: no further step, whatever
    // the readings say of readySince (an interval too short to take leaves it where it was).
    expect(
      nextInHandStep({ ...unjudged, state, current: 31, ready: 31, readySince: stood, now: T + 3_000 }).ask,
    ).toBeUndefined();
    // Not when keeping up is not shown.
    expect(nextInHandStep({ ...unjudged, readySince: stood, keepingUp: false }).ask).toBeUndefined();
  });

  it('a step that overfills the hands: back to the count it left, and what each held then is too many', () => {
    const stepped = nextInHandStep(base).state;
    const at4 = { ...base, state: stepped, current: 4, ready: 4, readySince: T + 10_000, now: T + 14_000 };
    // Held beyond the hands at 4: back to 5, and 10 a replica (40 over 4) remembered as too many.
    const over = nextInHandStep({ ...at4, held: 46, beyondHands: true });
    expect(over.ask).toMatchObject({ kind: 'back', replicas: 5 });
    expect(over.state.full).toEqual({ heldPerReplica: 10, at: T + 14_000 });
    // Back at 5 with the hands drained: no step while the failed one is watched, nor after it to 4
    // again (40 over 4 is within 1.25x of 10) ...
    expect(nextInHandStep({ ...base, state: over.state, held: 20, now: T + 60_000 }).ask).toBeUndefined();
    const after = T + 2_000 + (STEP_WATCH_SECONDS + 1) * 1000;
    const back = { ...base, state: over.state, readySince: after - 30_000, now: after };
    const again = nextInHandStep({ ...back, shown: { ...shown, from: 4, to: 5, at: after - 1000 } });
    expect(again.ask).toBeUndefined();
    // ... unless the load fell so far that each of 4 would hold well below it.
    const lighter = nextInHandStep({
      ...back,
      held: 20,
      shown: { ...shown, from: 4, to: 5, at: after - 1000 },
    });
    expect(lighter.ask).toEqual({ kind: 'down', replicas: 4 });
    // Forgotten after HANDS_FULL_MEMORY_SECONDS.
    const later = T + 14_000 + (HANDS_FULL_MEMORY_SECONDS + 1) * 1000;
    const forgot = nextInHandStep({
      ...back,
      now: later,
      readySince: later - 30_000,
      shown: { ...shown, from: 4, to: 5, at: later - 1000 },
    });
    expect(forgot.ask).toEqual({ kind: 'down', replicas: 4 });
  });

  it('not sized back once the load is another (more arriving, or work waiting at the server), nor after STEP_WATCH_SECONDS', () => {
    const stepped = nextInHandStep(base).state;
    const at4 = {
      ...base,
      state: stepped,
      current: 4,
      ready: 4,
      held: 46,
      beyondHands: true,
      now: T + 14_000,
    };
    expect(nextInHandStep({ ...at4, arrivalPerSecond: 8 }).ask).toBeUndefined();
    expect(nextInHandStep({ ...at4, pending: 30 }).ask).toBeUndefined();
    expect(nextInHandStep({ ...at4, now: T + 2_000 + (STEP_WATCH_SECONDS + 1) * 1000 }).ask).toBeUndefined();
  });

  it('a state read back that is not one is none of it', () => {
    expect(asInHandStepState('x')).toBeUndefined();
    expect(asInHandStepState({ step: { from: 3, to: 3, at: 0, held: 1, arrivalPerSecond: 1 } })).toEqual({});
    expect(asInHandStepState({ full: { heldPerReplica: -1, at: 0 } })).toEqual({});
  });
});
