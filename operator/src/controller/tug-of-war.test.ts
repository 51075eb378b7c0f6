import type { ClockReading } from '../clock.js';
import { statusSchema, undeclared } from './test/status-schema.js';
import {
  carriedTug,
  takenBackMessage,
  tugOfWar,
  tugStatus,
  TUG_OF_WAR,
  UNNAMED_WRITER,
  yieldedMessage,
  type TugOfWar,
  type TugVerdict,
} from './tug-of-war.js';

const MIN = 60_000;
const TARGET = 'apps/Deployment/web uid-1';

/** Polls the rules one at a time: `changes` lists the manager of a change at that poll, or nothing. */
function run(polls: { at: number; change?: string; generation?: number; target?: string }[]) {
  let state: TugOfWar | undefined;
  const verdicts: TugVerdict[] = [];
  for (const p of polls) {
    const step = tugOfWar(state, {
      target: p.target ?? TARGET,
      now: p.at,
      generation: p.generation ?? 1,
      ...(p.change === undefined ? {} : { change: { manager: p.change } }),
    });
    state = step.state;
    verdicts.push(step.verdict);
  }
  return { state, verdicts, last: verdicts.at(-1) };
}

describe('tugOfWar: when jetscale leaves the replicas to another writer', () => {
  it('a single change (a person’s kubectl scale) and a second by the same manager are set back', () => {
    const { verdicts } = run([
      { at: 0, change: 'kubectl-scale' },
      { at: 5_000 },
      { at: 10 * MIN, change: 'kubectl-scale' },
    ]);
    expect(verdicts.map((v) => v.yielded)).toEqual([false, false, false]);
  });

  it('yields at the third change by one manager within 30 min, at that poll', () => {
    const { last } = run([
      { at: 0, change: 'argocd-controller' },
      { at: 6_000, change: 'argocd-controller' },
      { at: 12_000, change: 'argocd-controller' },
    ]);
    expect(last).toEqual({
      yielded: true,
      fresh: true,
      manager: 'argocd-controller',
      count: 3,
      again: false,
      windowMs: TUG_OF_WAR.windowMs,
      quietMs: TUG_OF_WAR.quietMs,
    });
  });

  it('catches Flux at its usual 10 min interval (third change 20 min after the first)', () => {
    const flux = 'kustomize-controller';
    const { last } = run([
      { at: 0, change: flux },
      { at: 10 * MIN, change: flux },
      { at: 20 * MIN, change: flux },
    ]);
    expect(last?.yielded).toBe(true);
  });

  it('does not add up changes by different managers, nor changes further apart than the window', () => {
    expect(
      run([
        { at: 0, change: 'kubectl-scale' },
        { at: 1_000, change: 'deploy-script' },
        { at: 2_000, change: UNNAMED_WRITER },
        { at: 3_000, change: 'argocd-controller' },
      ]).verdicts.some((v) => v.yielded),
    ).toBe(false);
    expect(
      run([
        { at: 0, change: 'kubectl-scale' },
        { at: 16 * MIN, change: 'kubectl-scale' },
        { at: 32 * MIN, change: 'kubectl-scale' },
      ]).last?.yielded,
    ).toBe(false);
  });

  it('stays yielded while the manager keeps changing them; only its own changes restart the quiet period', () => {
    const a = 'argocd-controller';
    const { verdicts } = run([
      { at: 0, change: a },
      { at: 1_000, change: a },
      { at: 2_000, change: a }, // yields
      { at: 20 * MIN, change: a }, // its manifest changed: quiet from here
      { at: 40 * MIN, change: 'kubectl-scale' }, // someone else: not its quiet
      { at: 49 * MIN },
      { at: 50 * MIN }, // 30 min after its last change
    ]);
    expect(verdicts.map((v) => (v.yielded ? (v.fresh ? 'yield' : 'held') : 'scale'))).toEqual([
      'scale',
      'scale',
      'yield',
      'held',
      'held',
      'held',
      'scale',
    ]);
    expect(verdicts.at(-1)).toEqual({
      yielded: false,
      takenBack: { manager: a, why: 'quiet', quietMs: 30 * MIN, nextQuietMs: 60 * MIN, windowMs: 30 * MIN },
    });
  });

  it('after taking the target back, a change by the same manager within the window yields again at once, the quiet period doubled up to 4 h', () => {
    const a = 'argocd-controller';
    const polls: { at: number; change?: string }[] = [
      { at: 0, change: a },
      { at: 1_000, change: a },
      { at: 2_000, change: a },
    ];
    let t = 2_000;
    let quiet = 30 * MIN;
    for (let round = 0; round < 5; round++) {
      t += quiet;
      polls.push({ at: t }); // taken back
      t += 5_000;
      polls.push({ at: t, change: a }); // undone by the writer: yielded again
      quiet = Math.min(quiet * 2, 4 * 60 * MIN);
    }
    const { verdicts } = run(polls);
    const again = verdicts.filter((v) => v.yielded && v.fresh && v.again);
    expect(again.map((v) => (v.yielded ? v.quietMs / MIN : 0))).toEqual([60, 120, 240, 240, 240]);
    expect(verdicts.filter((v) => !v.yielded && v.takenBack !== undefined)).toHaveLength(5);
  });

  it('forgets a taking back after a quiet window: a later single change is set back', () => {
    const a = 'argocd-controller';
    const { last } = run([
      { at: 0, change: a },
      { at: 1_000, change: a },
      { at: 2_000, change: a },
      { at: 2_000 + 30 * MIN }, // taken back
      { at: 2_000 + 61 * MIN, change: a },
    ]);
    expect(last).toEqual({ yielded: false });
  });

  it('takes the target back at once when the EventConsumer’s spec changes (a new generation)', () => {
    const a = 'argocd-controller';
    const { last } = run([
      { at: 0, change: a },
      { at: 1_000, change: a },
      { at: 2_000, change: a },
      { at: 3_000, generation: 2 },
    ]);
    expect(last).toMatchObject({ yielded: false, takenBack: { why: 'spec', manager: a } });
  });

  it('starts afresh for another target, or this one recreated', () => {
    const a = 'argocd-controller';
    const { last } = run([
      { at: 0, change: a },
      { at: 1_000, change: a },
      { at: 2_000, change: a },
      { at: 3_000, target: 'apps/Deployment/web uid-2' },
      { at: 4_000, target: 'apps/Deployment/web uid-2', change: a },
    ]);
    expect(last).toEqual({ yielded: false });
  });
});

describe('what jetscale says when it yields and takes back', () => {
  const ref = { kind: 'Deployment', name: 'web' };
  const yielded = {
    yielded: true as const,
    fresh: true,
    manager: 'argocd-controller',
    count: 3,
    again: false,
    windowMs: 30 * MIN,
    quietMs: 30 * MIN,
  };

  it('names the manager, how often, when it scales again and the fix for Argo CD and Flux', () => {
    const m = yieldedMessage(yielded, ref);
    expect(m).toMatch(
      /^field manager "argocd-controller" set spec\.replicas of Deployment web 3 times in 30 min/,
    );
    expect(m).toContain('left spec.replicas alone for 30 min');
    expect(m).toContain('ignoreDifferences on /spec/replicas');
    expect(m).toContain('RespectIgnoreDifferences=true');
    expect(m).toContain('driftDetection.ignore');
    expect(m).toContain('spec.paused');
    // The same words at every poll of one yield: the status is not rewritten for it.
    expect(yieldedMessage({ ...yielded, fresh: false }, ref)).toBe(m);
  });

  it('says a yield after taking back for what it is, and an unnamed writer as such', () => {
    expect(yieldedMessage({ ...yielded, again: true, count: 1, quietMs: 60 * MIN }, ref)).toMatch(
      /set spec\.replicas of Deployment web again within 30 min of jetscale taking the replicas back from it.*alone for 1 h/,
    );
    expect(yieldedMessage({ ...yielded, manager: UNNAMED_WRITER }, ref)).toMatch(
      /^a writer the target does not name/,
    );
  });

  it('says why it took the target back and what happens should the writer come back', () => {
    const back = {
      manager: 'argocd-controller',
      quietMs: 30 * MIN,
      nextQuietMs: 60 * MIN,
      windowMs: 30 * MIN,
    };
    expect(takenBackMessage({ ...back, why: 'quiet' }, ref)).toBe(
      'field manager "argocd-controller" has left spec.replicas of Deployment web alone for 30 min: jetscale scales it from the backlog again. Should it set them again within 30 min, jetscale leaves them to it at once and waits 1 h before the next try',
    );
    expect(takenBackMessage({ ...back, why: 'spec' }, ref)).toMatch(/^this EventConsumer's spec changed/);
  });
});

describe('status.tugOfWar: the tug of war across a restart or a new leader', () => {
  // This process's clocks: monotonic 1,000 s, wall 2026-12-07 04:00 UTC.
  const WALL = Date.parse('2026-12-07T04:00:00Z');
  const clocks = (afterMs = 0): ClockReading => ({ monotonic: 1_000_000 + afterMs, wall: WALL + afterMs });
  const iso = (msAgo: number): string => new Date(WALL - msAgo).toISOString();
  /** A yield to argocd-controller 10 min ago, its last change 2 min ago (quiet period 30 min). */
  const yielded = (over: Record<string, unknown> = {}): Record<string, unknown> => ({
    target: TARGET,
    yieldedTo: {
      manager: 'argocd-controller',
      since: iso(10 * MIN),
      lastChangeTime: iso(2 * MIN),
      changes: 3,
      quietSeconds: 1800,
      again: false,
      generation: 1,
      ...over,
    },
  });
  /** One poll of a new process at `afterMs`, with the state it carried. */
  const pollWith = (state: TugOfWar | undefined, afterMs: number, change?: string) =>
    tugOfWar(state, {
      target: TARGET,
      now: clocks(afterMs).monotonic,
      generation: 1,
      ...(change === undefined ? {} : { change: { manager: change } }),
    });

  it('writes what it needs, the CRD declares all of it, and a new process reads it back', () => {
    const { state } = run([
      { at: 0, change: 'argocd-controller' },
      { at: 10_000, change: 'argocd-controller' },
      { at: 20_000, change: 'argocd-controller' },
      { at: 25_000 },
    ]);
    // The polls ran on this process's monotonic clock from 1,000 s: shift them there.
    const shifted: TugOfWar | undefined =
      state?.yielded === undefined
        ? undefined
        : {
            ...state,
            yielded: {
              ...state.yielded,
              since: state.yielded.since + 1_000_000 - 25_000,
              lastChangeAt: state.yielded.lastChangeAt + 1_000_000 - 25_000,
            },
          };
    const written = tugStatus(shifted, clocks());
    expect(written).toEqual({
      target: TARGET,
      yieldedTo: {
        manager: 'argocd-controller',
        since: iso(5_000),
        lastChangeTime: iso(5_000),
        changes: 3,
        quietSeconds: 1800,
        again: false,
        generation: 1,
      },
    });
    expect(undeclared({ tugOfWar: written }, statusSchema(), 'status')).toEqual([]);
    // Another process, whose monotonic clock started elsewhere, 1 min later.
    const other: ClockReading = { monotonic: 42, wall: WALL + MIN };
    const carried = carriedTug(JSON.parse(JSON.stringify(written)), other);
    expect(carried?.yielded).toMatchObject({
      manager: 'argocd-controller',
      since: 42 - MIN - 5_000,
      lastChangeAt: 42 - MIN - 5_000,
      count: 3,
      quietMs: 30 * MIN,
      again: false,
      generation: 1,
    });
    // Nothing to carry: nothing written.
    expect(tugStatus(undefined, clocks())).toBeUndefined();
    expect(tugStatus({ target: TARGET, changes: [{ manager: 'x', at: 0 }] }, clocks())).toBeUndefined();
  });

  it('a new process stays yielded, then takes the target back after the quiet period since the last change', () => {
    const carried = carriedTug(yielded(), clocks());
    // The writer applies again at the new process's first poll: still left to it, no new count.
    const first = pollWith(carried, 0, 'argocd-controller');
    expect(first.verdict).toMatchObject({
      yielded: true,
      fresh: false,
      manager: 'argocd-controller',
      count: 3,
    });
    // Quiet from then on: taken back 30 min after that change, not before.
    expect(pollWith(first.state, 30 * MIN - 1000).verdict.yielded).toBe(true);
    expect(pollWith(first.state, 30 * MIN).verdict).toMatchObject({
      yielded: false,
      takenBack: { why: 'quiet', manager: 'argocd-controller' },
    });
  });

  it('a taking back carried over: the same manager again yields at once with the quiet period doubled', () => {
    const carried = carriedTug(
      {
        target: TARGET,
        takenBackFrom: { manager: 'argocd-controller', time: iso(5 * MIN), quietSeconds: 1800 },
      },
      clocks(),
    );
    expect(pollWith(carried, 0, 'argocd-controller').verdict).toMatchObject({
      yielded: true,
      fresh: true,
      again: true,
      quietMs: 60 * MIN,
    });
  });

  it('a stale status: a yield whose quiet period has passed is taken back at the first poll', () => {
    const carried = carriedTug(
      yielded({ since: iso(3 * 60 * MIN), lastChangeTime: iso(2 * 60 * MIN) }),
      clocks(),
    );
    expect(pollWith(carried, 0).verdict).toMatchObject({ yielded: false, takenBack: { why: 'quiet' } });
  });

  it('another target or uid, or another generation of the EventConsumer, is not yielded to', () => {
    expect(
      pollWith(carriedTug({ ...yielded(), target: 'apps/Deployment/web uid-0' }, clocks()), 0).verdict,
    ).toEqual({
      yielded: false,
    });
    const newSpec = tugOfWar(carriedTug(yielded(), clocks()), {
      target: TARGET,
      now: clocks().monotonic,
      generation: 2,
    });
    expect(newSpec.verdict).toMatchObject({ yielded: false, takenBack: { why: 'spec' } });
  });

  it('a hostile status cannot make it yield for ever: times ahead count as now, the quiet period is bounded', () => {
    const carried = carriedTug(
      yielded({ lastChangeTime: '2999-01-01T00:00:00Z', since: '2999-01-01T00:00:00Z', quietSeconds: 1e12 }),
      clocks(),
    );
    expect(carried?.yielded?.lastChangeAt).toBe(clocks().monotonic);
    expect(carried?.yielded?.quietMs).toBe(TUG_OF_WAR.maxQuietMs);
    expect(pollWith(carried, TUG_OF_WAR.maxQuietMs - 1000).verdict.yielded).toBe(true);
    expect(pollWith(carried, TUG_OF_WAR.maxQuietMs).verdict.yielded).toBe(false);
    // Nor a quiet period below the rules' (0 would take it back at once, a second round of pods).
    expect(carriedTug(yielded({ quietSeconds: 0 }), clocks())?.yielded?.quietMs).toBe(TUG_OF_WAR.quietMs);
    expect(
      carriedTug(
        { target: TARGET, takenBackFrom: { manager: 'm', time: iso(0), quietSeconds: 1e12 } },
        clocks(),
      )?.takenBack?.quietMs,
    ).toBe(TUG_OF_WAR.maxQuietMs);
  });

  it('a malformed part is dropped (changes are counted afresh, as before this was carried)', () => {
    for (const bad of [
      { manager: 7 },
      { manager: 'x'.repeat(129) },
      { since: 'yesterday' },
      { lastChangeTime: undefined },
      { changes: 0 },
      { changes: 2.5 },
      { changes: '3' },
      { quietSeconds: 'forever' },
      { quietSeconds: Number.NaN },
      { again: 'no' },
      { generation: 1.5 },
      { generation: '1' },
    ])
      expect({ bad, carried: carriedTug(yielded(bad), clocks()) }).toEqual({ bad, carried: undefined });
    for (const raw of [undefined, null, 'yielded', [], {}, { target: '' }, { target: 3 }, { target: TARGET }])
      expect(carriedTug(raw, clocks())).toBeUndefined();
    // A valid taking back survives a malformed yield beside it.
    const both = carriedTug(
      {
        ...yielded({ changes: -1 }),
        takenBackFrom: { manager: 'argocd-controller', time: iso(MIN), quietSeconds: 1800 },
      },
      clocks(),
    );
    expect(both?.yielded).toBeUndefined();
    expect(both?.takenBack?.manager).toBe('argocd-controller');
  });
});
