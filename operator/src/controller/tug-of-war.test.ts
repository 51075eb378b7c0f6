import {
  takenBackMessage,
  tugOfWar,
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
