// Specifies the informer supervisor's decisions without I/O or timers (watch-health.ts). The
// supervisor's wiring — a real client-node informer on the real API server, its watch cut,
// silenced or its list refused — is specified in operator/test/informer-supervisor.int.test.ts.
import type { KubernetesObject } from '@kubernetes/client-node';
import {
  answerVerdict,
  deletedByList,
  probeFindings,
  sameVersion,
  watchCheck,
  type OwedEvent,
  type WatchState,
} from './watch-health.js';

const obj = (name: string, rv: string, generation = 1, uid = `uid-${name}`): KubernetesObject => ({
  metadata: { name, namespace: 'ns', uid, resourceVersion: rv, generation },
});

describe('answerVerdict: what a write answer says about the cached object', () => {
  it('a newer generation is a spec change the watch missed', () => {
    expect(answerVerdict(obj('a', '1', 1), obj('a', '5', 2))).toBe('missed');
  });

  it('a new version of the same generation is an event the watch owes', () => {
    expect(answerVerdict(obj('a', '1', 1), obj('a', '2', 1))).toBe('owed');
  });

  it('says nothing of the version the cache holds, another object under the same name, an uncached one or an answer without a version', () => {
    expect(answerVerdict(obj('a', '1'), obj('a', '1'))).toBe('ignore');
    expect(answerVerdict(obj('a', '1', 1), obj('a', '9', 7, 'other'))).toBe('ignore');
    expect(answerVerdict(undefined, obj('c', '3'))).toBe('ignore');
    expect(answerVerdict(obj('a', '1'), { metadata: { name: 'a', namespace: 'ns', uid: 'uid-a' } })).toBe(
      'ignore',
    );
  });
});

describe('watchCheck: the watchdog', () => {
  const limits = { canaryMs: 10_000, staleAfterMs: 60_000, probeAfterMs: 10_000 };
  const state = (over: Partial<WatchState>): WatchState => ({
    now: 100_000,
    lastHeardAt: 100_000,
    owed: new Map(),
    restartPending: false,
    restartScheduledAt: undefined,
    probing: false,
    synced: true,
    lastProbeAt: -Infinity,
    ...over,
  });
  const owed = (at: number): ReadonlyMap<string, OwedEvent> =>
    new Map([['ns/a', { resourceVersion: '2', at }]]);

  it('restarts when an owed event is later than canaryMs, not before, and not while a restart is pending', () => {
    expect(watchCheck(state({ owed: owed(91_000) }), limits)).toEqual({
      stuckRestart: false,
      probe: false,
      restart: false,
    });
    expect(watchCheck(state({ owed: owed(89_999) }), limits).overdue).toEqual({
      key: 'ns/a',
      event: { resourceVersion: '2', at: 89_999 },
      waitedMs: 10_001,
    });
    expect(
      watchCheck(state({ owed: owed(0), restartPending: true, restartScheduledAt: 99_000 }), limits).overdue,
    ).toBeUndefined();
  });

  it('restarts a watch silent longer than staleAfterMs', () => {
    expect(watchCheck(state({ lastHeardAt: 40_000 }), limits).restart).toBe(false);
    expect(watchCheck(state({ lastHeardAt: 39_999 }), limits).restart).toBe(true);
  });

  it('restarts again when a scheduled restart never came back within staleAfterMs (a hung list)', () => {
    const stuck = watchCheck(
      state({ restartPending: true, restartScheduledAt: 39_999, lastHeardAt: 99_000 }),
      limits,
    );
    expect(stuck).toMatchObject({ stuckRestart: true, restart: true });
    expect(
      watchCheck(state({ restartPending: true, restartScheduledAt: 45_000, lastHeardAt: 99_000 }), limits),
    ).toEqual({ stuckRestart: false, probe: false, restart: false });
  });

  it('probes a watch silent for probeAfterMs once per probeAfterMs, only synced, not while probing or restarting', () => {
    const silent = { lastHeardAt: 90_000 };
    expect(watchCheck(state(silent), limits).probe).toBe(true);
    expect(watchCheck(state({ lastHeardAt: 90_001 }), limits).probe).toBe(false);
    expect(watchCheck(state({ ...silent, lastProbeAt: 95_000 }), limits).probe).toBe(false);
    expect(watchCheck(state({ ...silent, lastProbeAt: 90_000 }), limits).probe).toBe(true);
    expect(watchCheck(state({ ...silent, synced: false }), limits).probe).toBe(false);
    expect(watchCheck(state({ ...silent, probing: true }), limits).probe).toBe(false);
    expect(
      watchCheck(state({ ...silent, restartPending: true, restartScheduledAt: 99_000 }), limits).probe,
    ).toBe(false);
  });
});

describe('probeFindings: what a silent watch should have brought', () => {
  it('judges cached objects as write answers, and owes an event for one listed and not cached or cached and not listed', () => {
    const cached = new Map([
      ['ns/a', obj('a', '1')],
      ['ns/b', obj('b', '1')],
    ]);
    const found = probeFindings([obj('a', '2'), obj('c', '3')], cached, new Map());
    expect(found.answers.map((o) => o.metadata?.resourceVersion)).toEqual(['2']);
    expect(found.owed).toEqual([
      { key: 'ns/c', resourceVersion: '3' },
      { key: 'ns/b', resourceVersion: 'deleted after 1' },
    ]);
  });

  it('owes nothing twice: what is already owed keeps its time', () => {
    const cached = new Map([['ns/b', obj('b', '1')]]);
    const already = new Map<string, OwedEvent>([
      ['ns/b', { resourceVersion: 'x', at: 1 }],
      ['ns/c', { resourceVersion: 'y', at: 1 }],
    ]);
    expect(probeFindings([obj('c', '3')], cached, already).owed).toEqual([]);
  });
});

describe('a fresh list and repeated events', () => {
  it('deletedByList: cached objects a full list lacks were deleted while nobody watched', () => {
    expect(deletedByList(['ns/a', 'ns/b'], [obj('b', '1')])).toEqual(['ns/a']);
    expect(deletedByList(['ns/a'], [obj('a', '9')])).toEqual([]);
  });

  it('sameVersion: an event for the version the cache holds is no update', () => {
    expect(sameVersion(obj('a', '1'), obj('a', '1'))).toBe(true);
    expect(sameVersion(obj('a', '1'), obj('a', '2'))).toBe(false);
    expect(sameVersion(undefined, obj('a', '1'))).toBe(false);
    expect(sameVersion({ metadata: { name: 'a' } }, { metadata: { name: 'a' } })).toBe(false);
  });
});
