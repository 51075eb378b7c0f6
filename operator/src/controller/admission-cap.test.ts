// Specifies how jetscale learns a limit that admission puts on /scale writes: asks beyond it held
// with a doubling hold, never asks on the other side, and everything it was learnt under resets it.
import {
  ADMISSION_RETRY_FIRST_MS,
  ADMISSION_RETRY_MAX_MS,
  afterWrite,
  heldFor,
  limitAdvice,
  type AskContext,
} from './admission-cap.js';

const ask = (over: Partial<AskContext> = {}): AskContext => ({
  refKey: 'apps/Deployment/capped',
  uid: 'u-1',
  generation: 1,
  current: 1,
  to: 5,
  now: 0,
  ...over,
});

describe('admission limits on /scale writes', () => {
  it('stored as asked (or not said) learns nothing', () => {
    expect(afterWrite(undefined, ask(), 5, 5_000)).toBeUndefined();
    expect(afterWrite(undefined, ask(), undefined, 5_000)).toBeUndefined();
  });

  it('holds asks beyond a cap for the first hold, then asks again', () => {
    const limit = afterWrite(undefined, ask(), 2, 5_000);
    expect(limit).toMatchObject({ asked: 5, stored: 2, holdMs: ADMISSION_RETRY_FIRST_MS });
    // The next polls read 2 and ask for 5 (or 7): held.
    expect(heldFor(limit, ask({ current: 2, now: 1_000 }))).toBe(ADMISSION_RETRY_FIRST_MS - 1_000);
    expect(heldFor(limit, ask({ current: 2, to: 7, now: 9_000 }))).toBe(1_000);
    expect(heldFor(limit, ask({ current: 2, now: ADMISSION_RETRY_FIRST_MS }))).toBeUndefined();
  });

  it('a hold is at least a poll interval', () => {
    expect(afterWrite(undefined, ask(), 2, 60_000)?.holdMs).toBe(60_000);
  });

  it('doubles the hold while the same limit answers, up to the longest', () => {
    let limit = afterWrite(undefined, ask(), 2, 5_000);
    const holds: number[] = [];
    for (let i = 0; i < 8; i++) {
      limit = afterWrite(limit, ask({ current: 2, now: (i + 1) * 1_000_000 }), 2, 5_000);
      holds.push(limit?.holdMs ?? 0);
    }
    expect(holds).toEqual([20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000, 300_000]);
    expect(Math.max(...holds)).toBe(ADMISSION_RETRY_MAX_MS);
    // Another limit (the rule changed to 3) starts over.
    expect(afterWrite(limit, ask({ current: 2 }), 3, 5_000)?.holdMs).toBe(ADMISSION_RETRY_FIRST_MS);
  });

  it('never holds an ask on the other side of the stored count: scaling down under a cap goes on', () => {
    const limit = afterWrite(undefined, ask(), 2, 5_000);
    expect(heldFor(limit, ask({ current: 2, to: 1, now: 1_000 }))).toBeUndefined();
    // A floor (asked 1, stored 3) holds asks below it, not above.
    const floor = afterWrite(undefined, ask({ current: 5, to: 1 }), 3, 5_000);
    expect(heldFor(floor, ask({ current: 3, to: 2, now: 1_000 }))).toBeDefined();
    expect(heldFor(floor, ask({ current: 3, to: 4, now: 1_000 }))).toBeUndefined();
  });

  it('forgets the limit when the spec, the target or its count changed', () => {
    const limit = afterWrite(undefined, ask(), 2, 5_000);
    const later = { current: 2, now: 1_000 };
    expect(heldFor(limit, ask({ ...later, generation: 2 }))).toBeUndefined();
    expect(heldFor(limit, ask({ ...later, uid: 'u-2' }))).toBeUndefined();
    expect(heldFor(limit, ask({ ...later, refKey: 'apps/Deployment/other' }))).toBeUndefined();
    expect(heldFor(limit, ask({ ...later, current: 1 }))).toBeUndefined();
  });

  it('says which bound to set', () => {
    expect(limitAdvice(5, 2)).toMatch(/^set spec\.maxReplicas to 2/);
    expect(limitAdvice(1, 3)).toMatch(/^set spec\.minReplicas to 3/);
  });
});
