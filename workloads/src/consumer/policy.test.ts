import { decideOrder, onFailure, retryDelayMs, type RetryPolicy } from './policy.js';

const policy: RetryPolicy = { maxDeliver: 5, baseDelayMs: 100, maxDelayMs: 1000, orderDelayMs: 300 };

describe('decideOrder', () => {
  it.each([
    [0, undefined, { kind: 'apply', version: 1 }],
    [4, undefined, { kind: 'apply', version: 5 }],
    [0, 1, { kind: 'apply', version: 1 }],
    [4, 5, { kind: 'apply', version: 5 }],
    [0, 2, { kind: 'wait_for_predecessor', missing: 1 }],
    [4, 9, { kind: 'wait_for_predecessor', missing: 5 }],
    [4, 4, { kind: 'version_conflict', current: 4 }],
    [4, 1, { kind: 'version_conflict', current: 4 }],
  ])('aggregate at %s, event version %s → %j', (current, version, expected) => {
    expect(decideOrder(current, version)).toEqual(expected);
  });
});

describe('retries', () => {
  it('doubles the delay per attempt up to the cap', () => {
    expect([1, 2, 3, 4, 5, 40].map((n) => retryDelayMs(n, policy))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  it('naks until the last attempt, then dead-letters', () => {
    expect(onFailure(1, policy, 'transient')).toEqual({ kind: 'nak', delayMs: 100 });
    expect(onFailure(4, policy, 'transient')).toEqual({ kind: 'nak', delayMs: 800 });
    expect(onFailure(5, policy, 'transient')).toEqual({ kind: 'dead_letter' });
    expect(onFailure(9, policy, 'transient')).toEqual({ kind: 'dead_letter' });
  });

  it('waits longer for a missing predecessor on each attempt', () => {
    expect(onFailure(1, policy, 'out_of_order')).toEqual({ kind: 'nak', delayMs: 300 });
    expect(onFailure(3, policy, 'out_of_order')).toEqual({ kind: 'nak', delayMs: 900 });
    expect(onFailure(4, policy, 'out_of_order')).toEqual({ kind: 'nak', delayMs: 1000 });
    expect(onFailure(5, policy, 'out_of_order')).toEqual({ kind: 'dead_letter' });
  });
});
