// Specifies what a rename of spec.scaleTargetRef keeps: the target left is remembered (bounded),
// and coming back restores its own step-policy record and holds, not its readings; yielding to
// another controller keeps nothing.
import { emptyHistory } from '../scaling/index.js';
import {
  LEFT_TARGET_MAX_AGE_MS,
  LEFT_TARGETS_KEPT,
  switchTarget,
  YIELDED_TARGET,
  type ConsumerState,
  type ScalingMemory,
} from './consumer-state.js';

function stateOn(target: string, at: number): ConsumerState {
  const memory: ScalingMemory = {
    history: {
      ...emptyHistory(),
      recommendations: [{ at, replicas: 5 }],
      scaleEvents: [{ at, from: 1, to: 5 }],
      samples: [{ at, pending: 500, ackPending: 0 } as never],
      panicUntil: at + 30_000,
    },
    failures: 0,
    fallbackActive: false,
    seeded: true,
    target,
    scaleDownHoldUntil: at + 60_000,
  };
  return {
    uid: 'u',
    scaling: { worker: memory },
    observed: { conflicts: 0, sources: new Map() },
    status: { refreshJitter: 0 },
  };
}

describe('switchTarget', () => {
  it('restores the record of changes, window and holds of a target come back to, not its readings', () => {
    const state = stateOn('apps/v1/Deployment/a', 1_000);
    switchTarget(state, 'apps/v1/Deployment/b', 2_000);
    const onB = state.scaling.worker;
    expect(onB).toMatchObject({ target: 'apps/v1/Deployment/b', seeded: false });
    expect(onB?.history.scaleEvents).toEqual([]);
    expect(onB?.returned).toBeUndefined();
    switchTarget(state, 'apps/v1/Deployment/a', 3_000);
    const back = state.scaling.worker;
    expect(back).toMatchObject({ target: 'apps/v1/Deployment/a', seeded: false, returned: true });
    expect(back?.history.scaleEvents).toEqual([{ at: 1_000, from: 1, to: 5 }]);
    expect(back?.history.recommendations).toEqual([{ at: 1_000, replicas: 5 }]);
    expect(back?.history.panicUntil).toBe(31_000);
    expect(back?.scaleDownHoldUntil).toBe(61_000);
    expect(back?.history.samples).toEqual([]);
    // b is kept in turn; a is not kept twice.
    expect([...(state.leftTargets?.keys() ?? [])]).toEqual(['apps/v1/Deployment/b']);
  });

  it('the same target changes nothing', () => {
    const state = stateOn('apps/v1/Deployment/a', 1_000);
    const before = state.scaling.worker;
    switchTarget(state, 'apps/v1/Deployment/a', 2_000);
    expect(state.scaling.worker).toBe(before);
    expect(state.leftTargets).toBeUndefined();
  });

  it('keeps a bounded number of targets, for a bounded time', () => {
    const state = stateOn('t0', 0);
    for (let i = 1; i <= LEFT_TARGETS_KEPT + 2; i++) switchTarget(state, `t${i}`, i);
    expect(state.leftTargets?.size).toBe(LEFT_TARGETS_KEPT);
    expect(state.leftTargets?.has('t0')).toBe(false);
    switchTarget(state, 't100', LEFT_TARGETS_KEPT + 3 + LEFT_TARGET_MAX_AGE_MS);
    expect([...(state.leftTargets?.keys() ?? [])]).toEqual([`t${LEFT_TARGETS_KEPT + 2}`]);
  });

  it('yielding to another controller keeps nothing of the target: taking it back starts over', () => {
    const state = stateOn('apps/v1/Deployment/a', 1_000);
    switchTarget(state, YIELDED_TARGET, 2_000);
    switchTarget(state, 'apps/v1/Deployment/a', 3_000);
    expect(state.scaling.worker?.history.scaleEvents).toEqual([]);
    expect(state.scaling.worker?.returned).toBeUndefined();
    expect(state.leftTargets?.size ?? 0).toBe(0);
  });
});
