import {
  nextRemovedUnworked,
  REMOVED_UNWORKED_HOLD_SECONDS,
  removedUnworkedMessage,
  removingLimit,
  validRemovedUnworked,
} from './removed-unworked.js';
import type { RemovalInterval, RemovedUnworked } from './removed-unworked.js';

const state = (messages: number, bytes = messages * 50) => ({
  messages,
  bytes,
  lastSeq: 1000,
  oldestAgeSeconds: 1,
});

function interval(overrides: Partial<RemovalInterval>): RemovalInterval {
  return {
    removed: 40,
    stored: 100,
    pendingBefore: 200,
    seconds: 1,
    at: 10_000,
    limits: { maxAgeSeconds: 3 },
    state: state(150),
    ...overrides,
  };
}

describe('which limit removed messages unworked', () => {
  it('a discard-old max_msgs / max_bytes the stream stands at, else max_age, else per-message TTL', () => {
    expect(removingLimit({ maxMsgs: 200, maxAgeSeconds: 60 }, state(195))).toBe('max_msgs');
    expect(removingLimit({ maxBytes: 10_000 }, state(150, 9_800))).toBe('max_bytes');
    expect(removingLimit({ maxMsgs: 200, maxAgeSeconds: 60 }, state(50))).toBe('max_age');
    expect(removingLimit({ msgTtl: true }, state(50))).toBe('per-message TTL');
    // Only a max_msgs the stream is far below: a purge or a delete by hand, not the limit's.
    expect(removingLimit({ maxMsgs: 200 }, state(50))).toBeUndefined();
    expect(removingLimit({ maxMsgsPerSubject: 1 }, state(50))).toBeUndefined();
  });
});

describe('a spell of messages removed unworked', () => {
  it('begins above the noise, counts, and is held REMOVED_UNWORKED_HOLD_SECONDS after the last removal: no flap', () => {
    // 2 of 100 stored: the stream read a moment after the consumer.
    expect(nextRemovedUnworked(undefined, interval({ removed: 2 }), 10_000)).toBeUndefined();
    expect(nextRemovedUnworked(undefined, interval({ removed: 5, stored: 200 }), 10_000)).toBeUndefined();
    const begun = nextRemovedUnworked(undefined, interval({}), 10_000);
    expect(begun).toEqual({
      limit: 'max_age',
      since: 10_000,
      lastAt: 10_000,
      removed: 40,
      seconds: 1,
      total: 40,
    });
    // A client that refills every other second: removals every other interval, told throughout.
    let spell: RemovedUnworked | undefined = begun;
    for (let i = 1; i <= 60; i++) {
      const at = 10_000 + i * 1000;
      spell = nextRemovedUnworked(spell, interval({ at, removed: i % 2 === 0 ? 30 : 0 }), at);
      expect(spell).toBeDefined();
    }
    expect(spell).toMatchObject({ since: 10_000, lastAt: 70_000, removed: 30, total: 40 + 30 * 30 });
    // None since: held for the hold, then ended.
    const quietUntil = 70_000 + REMOVED_UNWORKED_HOLD_SECONDS * 1000;
    expect(nextRemovedUnworked(spell, interval({ at: quietUntil, removed: 0 }), quietUntil)).toMatchObject({
      lastAt: 70_000,
    });
    expect(nextRemovedUnworked(spell, undefined, quietUntil + 1000)).toBeUndefined();
    // A new spell then starts its own count.
    expect(nextRemovedUnworked(spell, interval({ at: quietUntil + 1000 }), quietUntil + 1000)).toMatchObject({
      since: quietUntil + 1000,
      total: 40,
    });
  });

  it('takes nothing from a reading that cannot be: not finite, or more gone than arrived and waited', () => {
    for (const bad of [
      { removed: Number.NaN },
      { removed: Infinity },
      { removed: 400, stored: 100, pendingBefore: 200 },
      { stored: -1 },
      { seconds: 0 },
      { pendingBefore: Number.NaN },
    ])
      expect(nextRemovedUnworked(undefined, interval(bad), 10_000)).toBeUndefined();
    // ... and such a reading does not end a spell held.
    const spell = nextRemovedUnworked(undefined, interval({}), 10_000);
    expect(nextRemovedUnworked(spell, interval({ at: 11_000, removed: Number.NaN }), 11_000)).toEqual(spell);
  });

  it('a spell read back from state is checked: a limit it does not know, figures not numbers, a clock ahead', () => {
    const good = { limit: 'max_msgs', since: 1_000, lastAt: 2_000, removed: 10, seconds: 1, total: 30 };
    expect(validRemovedUnworked(good, 3_000)).toEqual(good);
    expect(validRemovedUnworked({ ...good, limit: 'max_msgs_per_subject' }, 3_000)).toBeUndefined();
    expect(validRemovedUnworked({ ...good, total: '30' }, 3_000)).toBeUndefined();
    expect(validRemovedUnworked({ ...good, since: 5_000 }, 6_000)).toBeUndefined();
    expect(validRemovedUnworked(good, 1_500)).toBeUndefined();
    expect(validRemovedUnworked(null, 3_000)).toBeUndefined();
  });

  it('says which limit, how many in the last interval, and what to change', () => {
    const spell = nextRemovedUnworked(undefined, interval({ at: 10_000, removed: 40 }), 10_000);
    if (spell === undefined) throw new Error('no spell');
    const now = removedUnworkedMessage(spell, { maxAgeSeconds: 3 }, 10_000);
    expect(now).toContain("messages are being removed unworked by the stream's limit max_age (3s)");
    expect(now).toContain('40 removed in the last interval (1s)');
    expect(now).toContain("raise the stream's max_age");
    const later = removedUnworkedMessage(spell, { maxAgeSeconds: 3 }, 40_000);
    expect(later).toContain('none in the last interval; 40 removed in an interval of 1s 30s ago');
    const full = nextRemovedUnworked(
      undefined,
      interval({ limits: { maxMsgs: 200 }, state: state(200) }),
      10_000,
    );
    if (full === undefined) throw new Error('no spell');
    expect(removedUnworkedMessage(full, { maxMsgs: 200 }, 10_000)).toContain(
      "by the stream's limit max_msgs (200, discard old)",
    );
  });
});
