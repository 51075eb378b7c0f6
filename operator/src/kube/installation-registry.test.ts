import {
  afterConflict,
  isDead,
  leaderOnRecord,
  nextRegistry,
  observe,
  orderToKeep,
  overlap,
  parseRegistry,
  RELEASE_BY_MS,
  releaseBudgetMs,
  yielded,
  type InstallationEntry,
  type ObservedEntry,
} from './installation-registry.js';

const DEAD_MS = 90_000;

function at(seen: ReturnType<typeof observe>, installation: string): ObservedEntry {
  const observed = seen.get(installation);
  if (observed === undefined) throw new Error(`${installation} not observed`);
  return observed;
}

function entry(
  installation: string,
  order: number,
  namespaces: string[] | '*',
  renewals = 1,
): InstallationEntry {
  return { installation, holder: `${installation}-pod`, namespaces, order, renewals, renewTime: 'x' };
}

describe('parseRegistry', () => {
  it('reads an absent or empty annotation as no installations', () => {
    expect(parseRegistry(undefined)).toEqual({ entries: [] });
    expect(parseRegistry(' ')).toEqual({ entries: [] });
  });

  it('reads valid entries and ignores fields it does not know', () => {
    const a = entry('ops/jetscale', 1, ['orders']);
    expect(parseRegistry(JSON.stringify([{ ...a, future: 1 }]))).toEqual({ entries: [a] });
  });

  it.each([
    ['not json', 'it is not JSON'],
    ['{}', 'it is not a JSON list'],
    ['[1]', 'entry 0: not an object'],
    [
      JSON.stringify([{ ...entry('ops/jetscale', 1, '*'), installation: 'no-slash' }]),
      'installation must be',
    ],
    [JSON.stringify([{ ...entry('ops/jetscale', 1, '*'), namespaces: ['Bad_NS'] }]), 'namespaces must be'],
    [JSON.stringify([{ ...entry('ops/jetscale', 1, '*'), order: 0 }]), 'order must be'],
    [JSON.stringify([{ ...entry('ops/jetscale', 1, '*'), renewals: -1 }]), 'renewals must be'],
    [JSON.stringify([{ ...entry('ops/jetscale', 1, '*'), released: 'yes' }]), 'released must be'],
    [JSON.stringify([entry('ops/jetscale', 1, '*'), entry('ops/jetscale', 2, '*')]), 'listed twice'],
  ])('refuses %s, saying why', (value, problem) => {
    const parsed = parseRegistry(value);
    expect('problem' in parsed && parsed.problem).toContain(problem);
  });
});

describe('overlap', () => {
  it('is true when a namespace is shared or either watches all', () => {
    expect(overlap(['a', 'b'], ['b'])).toBe(true);
    expect(overlap(['a'], ['b'])).toBe(false);
    expect(overlap('*', ['b'])).toBe(true);
    expect(overlap(['a'], '*')).toBe(true);
    expect(overlap('*', '*')).toBe(true);
  });
});

describe('observe and isDead: liveness by observed change, on the reader clock', () => {
  it('dates an entry from when it was first seen or last changed, never from its renewTime', () => {
    const a = entry('ops/a', 1, '*', 5);
    let seen = observe(new Map(), [{ ...a, renewTime: '1970-01-01T00:00:00Z' }], 1000);
    expect(seen.get('ops/a')?.changedAt).toBe(1000);
    // Same renewal count (only the wall-clock renewTime differs): not a change.
    seen = observe(seen, [{ ...a, renewTime: '2999-01-01T00:00:00Z' }], 50_000);
    expect(seen.get('ops/a')?.changedAt).toBe(1000);
    expect(isDead(at(seen, 'ops/a'), 1000 + DEAD_MS - 1, DEAD_MS)).toBe(false);
    expect(isDead(at(seen, 'ops/a'), 1000 + DEAD_MS, DEAD_MS)).toBe(true);
    seen = observe(seen, [{ ...a, renewals: 6 }], 60_000);
    expect(seen.get('ops/a')?.changedAt).toBe(60_000);
  });

  it('remembers an entry that vanished (a wiped annotation) until it would have gone stale', () => {
    const seen = observe(observe(new Map(), [entry('ops/a', 1, '*')], 0), [], 10_000);
    expect(seen.get('ops/a')?.changedAt).toBe(0);
    const own = entry('ops/b', 2, ['x']);
    expect(yielded(own, seen, 10_000, DEAD_MS).everything).toBe(true);
    expect(yielded(own, seen, DEAD_MS, DEAD_MS).to).toEqual([]);
  });

  it('counts a released entry as dead at once', () => {
    const seen = observe(new Map(), [{ ...entry('ops/a', 1, '*'), released: true }], 0);
    expect(isDead(at(seen, 'ops/a'), 0, DEAD_MS)).toBe(true);
  });
});

describe('nextRegistry', () => {
  const self = { installation: 'ops/b', holder: 'b-pod', namespaces: ['x'] as string[] };

  it('registers last: above every order read or remembered', () => {
    const read = [entry('ops/a', 4, '*')];
    const remembered = observe(observe(new Map(), [entry('ops/gone', 9, ['y'])], 0), read, 1);
    const next = nextRegistry(read, remembered, self, undefined, 1, DEAD_MS, 't');
    expect(next.own).toEqual({ ...self, order: 10, renewals: 1, renewTime: 't' });
    expect(next.entries.map((e) => e.installation)).toEqual(['ops/a', 'ops/b']);
  });

  it('renews its own entry in place, keeping the order given', () => {
    const read = [entry('ops/b', 3, ['x'], 7)];
    const next = nextRegistry(read, observe(new Map(), read, 0), self, 3, 0, DEAD_MS, 't');
    expect(next.own.order).toBe(3);
    expect(next.own.renewals).toBe(8);
    expect(next.entries).toHaveLength(1);
  });

  it('removes entries stale or released (the takeover) and keeps live ones', () => {
    const stale = entry('ops/stale', 1, '*');
    const released = { ...entry('ops/released', 2, '*'), released: true };
    const live = entry('ops/live', 3, ['y']);
    let seen = observe(new Map(), [stale, released, live], 0);
    seen = observe(seen, [stale, released, { ...live, renewals: 2 }], DEAD_MS);
    const read = [stale, released, { ...live, renewals: 2 }];
    const next = nextRegistry(read, seen, self, undefined, DEAD_MS, DEAD_MS, 't');
    expect(next.removed.map((e) => e.installation)).toEqual(['ops/stale', 'ops/released']);
    expect(next.entries.map((e) => e.installation)).toEqual(['ops/live', 'ops/b']);
  });
});

describe('orderToKeep', () => {
  it('keeps the place of an entry this installation left, also one released on SIGTERM (a rollout)', () => {
    expect(orderToKeep(entry('ops/b', 3, ['x']), false, undefined)).toBe(3);
    expect(orderToKeep({ ...entry('ops/b', 3, ['x']), released: true }, false, undefined)).toBe(3);
  });

  it('keeps the place of an entry wiped while still held, and registers last once taken over', () => {
    expect(orderToKeep(undefined, true, 2)).toBe(2);
    expect(orderToKeep(undefined, false, 2)).toBeUndefined();
    expect(orderToKeep(undefined, false, undefined)).toBeUndefined();
  });
});

describe('yielded', () => {
  const observed = (...entries: InstallationEntry[]): ReturnType<typeof observe> =>
    observe(new Map(), entries, 0);

  it('leaves to an earlier installation exactly the namespaces both watch', () => {
    const own = entry('ops/b', 2, ['x', 'y']);
    const y = yielded(own, observed(entry('ops/a', 1, ['y', 'z']), own), 0, DEAD_MS);
    expect(y.everything).toBe(false);
    expect([...y.namespaces]).toEqual(['y']);
    expect(y.to.map((e) => e.installation)).toEqual(['ops/a']);
  });

  it('leaves everything to an earlier installation watching all namespaces', () => {
    const own = entry('ops/b', 2, ['x']);
    expect(yielded(own, observed(entry('ops/a', 1, '*')), 0, DEAD_MS).everything).toBe(true);
  });

  it('watching all, leaves only the earlier installation namespaces', () => {
    const own = entry('ops/b', 2, '*');
    const y = yielded(own, observed(entry('ops/a', 1, ['orders'])), 0, DEAD_MS);
    expect(y.everything).toBe(false);
    expect([...y.namespaces]).toEqual(['orders']);
  });

  it('keeps what it shares with later installations, and ignores disjoint and stale ones', () => {
    const own = entry('ops/b', 2, ['x']);
    const seen = observe(
      new Map(),
      [entry('ops/c', 3, ['x']), entry('ops/d', 1, ['q']), entry('ops/e', 1, ['x'])],
      0,
    );
    expect(yielded(own, seen, 0, DEAD_MS).to.map((e) => e.installation)).toEqual(['ops/e']);
    expect(yielded(own, seen, DEAD_MS, DEAD_MS).to).toEqual([]);
  });

  it('ignores entries of its own installation (another replica of it)', () => {
    const own = entry('ops/b', 2, ['x']);
    expect(yielded(own, observed({ ...own, order: 1, holder: 'old-pod' }), 0, DEAD_MS).to).toEqual([]);
  });
});

describe('leaderOnRecord (leaderRegistered, from the registry annotation)', () => {
  it('is true for an entry of the installation not released, false for a released one, another installation or none', () => {
    const mine = entry('ops/jetscale', 1, '*');
    expect(leaderOnRecord(JSON.stringify([mine]), 'ops/jetscale')).toBe(true);
    expect(leaderOnRecord(JSON.stringify([{ ...mine, released: true }]), 'ops/jetscale')).toBe(false);
    expect(leaderOnRecord(JSON.stringify([mine]), 'ops/other')).toBe(false);
    expect(leaderOnRecord(undefined, 'ops/jetscale')).toBe(false);
  });

  it('is true when the registry cannot be parsed (the safe side: a wait)', () => {
    expect(leaderOnRecord('{not json', 'ops/jetscale')).toBe(true);
  });
});

describe('afterConflict: a 409 is read again after a random wait, not at once', () => {
  it('waits a random share of a window that doubles with each 409 in a row (full jitter)', () => {
    expect(afterConflict(1, 0, 15_000, 0.5)).toEqual({ readAgainInMs: 50 });
    expect(afterConflict(2, 0, 15_000, 0.5)).toEqual({ readAgainInMs: 100 });
    expect(afterConflict(4, 0, 15_000, 0.5)).toEqual({ readAgainInMs: 400 });
    expect(afterConflict(4, 0, 15_000, 0.99)).toEqual({ readAgainInMs: 792 });
    // Installations that read the same version draw different waits, so they do not collide
    // again in the same order.
    const waits = [0.1, 0.4, 0.7, 0.95].map((r) => afterConflict(1, 0, 15_000, r));
    expect(new Set(waits.map((w) => ('readAgainInMs' in w ? w.readAgainInMs : -1))).size).toBe(4);
  });

  it('gives up after CONFLICT_ATTEMPTS 409s in a row, or when the wait would end past the budget', () => {
    expect(afterConflict(7, 0, 60_000, 0.5)).toEqual({ readAgainInMs: 3200 });
    expect(afterConflict(8, 0, 60_000, 0)).toEqual({ giveUp: true });
    expect(afterConflict(3, 2900, 3000, 0.5)).toEqual({ giveUp: true });
    expect(afterConflict(3, 2800, 3000, 0.5)).toEqual({ readAgainInMs: 200 });
  });
});

describe('releaseBudgetMs: a release on shutdown may retry until RELEASE_BY_MS after the shutdown began', () => {
  it('gives the release what the settle left of it, and nothing once past it', () => {
    expect(RELEASE_BY_MS).toBe(18_000);
    expect(releaseBudgetMs(0)).toBe(18_000);
    // The settle took its whole 10 s (SHUTDOWN_SETTLE_MS): three rounds of 2.5 s reads and patches.
    expect(releaseBudgetMs(10_000)).toBe(8000);
    expect(releaseBudgetMs(18_000)).toBe(0);
    expect(releaseBudgetMs(30_000)).toBe(0);
  });

  it('leaves the release rounds for four installations at a 2.5 s read and patch when the settle was short', () => {
    // Four rounds (one release lands per round) with the waits afterConflict draws at their longest.
    let elapsed = 2500;
    for (let attempt = 1; attempt < 4; attempt++) {
      const next = afterConflict(attempt, elapsed, releaseBudgetMs(2000), 0.999);
      expect(next).toHaveProperty('readAgainInMs');
      elapsed += ('readAgainInMs' in next ? next.readAgainInMs : 0) + 2500;
    }
    expect(elapsed).toBeLessThanOrEqual(releaseBudgetMs(2000));
  });
});
