import { createLogger } from '../observability/logger.js';
import { ScaleError, type ScaleTargetRef } from './scale-client.js';
import { fenceTargets, listItems, targetRefOf, targetsOf } from './takeover-fence.js';

const ref = (name: string): ScaleTargetRef => ({ apiVersion: 'apps/v1', kind: 'Deployment', name });

describe('fenceTargets', () => {
  it('fences each target once, at most `concurrency` at once; a missing one is counted, a refused one logged, and it never rejects', async () => {
    const calls: string[] = [];
    let running = 0;
    let most = 0;
    const lines: string[] = [];
    const outcome = await fenceTargets({
      scale: {
        fenceTarget: async (namespace, r, token) => {
          calls.push(`${namespace}/${r.name} ${token}`);
          most = Math.max(most, ++running);
          await new Promise((resolve) => setTimeout(resolve, 5));
          running--;
          if (r.name === 'gone') return undefined;
          if (r.name === 'locked')
            throw new ScaleError('Forbidden', 'the operator may not patch deployments');
          return '42';
        },
      },
      targets: [
        { namespace: 'a', ref: ref('w1') },
        { namespace: 'a', ref: ref('w1') }, // two EventConsumers on one target
        { namespace: 'b', ref: ref('w1') },
        { namespace: 'a', ref: ref('gone') },
        { namespace: 'a', ref: ref('locked') },
        { namespace: 'a', ref: ref('w2') },
      ],
      token: 'b 1',
      logger: createLogger({ level: 'info', write: (line) => lines.push(line) }),
      concurrency: 2,
    });
    expect(outcome).toMatchObject({ targets: 5, fenced: 3, missing: 1, failed: 1, unfinished: 0 });
    expect(calls.sort()).toEqual(['a/gone b 1', 'a/locked b 1', 'a/w1 b 1', 'a/w2 b 1', 'b/w1 b 1']);
    expect(most).toBe(2);
    expect(lines.join('\n')).toContain('the operator may not patch deployments');
  });

  it('stops at its time limit, however many targets are left and however slow the API server answers: what is not answered by then is counted unfinished and logged', async () => {
    const lines: string[] = [];
    const answered: string[] = [];
    const started = performance.now();
    const outcome = await fenceTargets({
      scale: {
        // 'stuck' is never answered (a hung API server, a webhook); the rest take 20 ms each.
        fenceTarget: async (_namespace, r) => {
          if (r.name === 'stuck') return new Promise<string>(() => undefined);
          await new Promise((resolve) => setTimeout(resolve, 20));
          answered.push(r.name);
          return '1';
        },
      },
      targets: [
        { namespace: 'a', ref: ref('stuck') },
        ...Array.from({ length: 40 }, (_, i) => ({ namespace: 'a', ref: ref(`w${i}`) })),
      ],
      token: 't',
      logger: createLogger({ level: 'info', write: (line) => lines.push(line) }),
      concurrency: 2,
      timeLimitMs: 150,
    });
    const took = performance.now() - started;
    // One worker is held by 'stuck' for good; the other gets through ~7 in 150 ms.
    expect(took).toBeGreaterThanOrEqual(145);
    expect(took).toBeLessThan(2000);
    expect(outcome.targets).toBe(41);
    expect(outcome.fenced).toBeLessThanOrEqual(answered.length); // an answer after the limit is not counted
    expect(outcome.fenced).toBeGreaterThan(0);
    expect(outcome.fenced).toBeLessThan(40);
    expect(outcome.unfinished).toBe(41 - outcome.fenced);
    expect(outcome.durationMs).toBeGreaterThanOrEqual(145);
    expect(lines.join('\n')).toContain('ran out of time');
    // Nothing more is sent after the limit (the queue is left).
    const sent = answered.length;
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(answered.length).toBeLessThanOrEqual(sent + 1); // at most the one in flight
  });

  it('does nothing without targets', async () => {
    const outcome = await fenceTargets({
      scale: { fenceTarget: () => Promise.reject(new Error('not called')) },
      targets: [],
      token: 't',
      logger: createLogger({ level: 'error', write: () => undefined }),
    });
    expect(outcome).toMatchObject({ targets: 0, fenced: 0, missing: 0, failed: 0, unfinished: 0 });
  });
});

describe('targetRefOf', () => {
  it('takes a well-formed spec.scaleTargetRef and nothing else (input from outside)', () => {
    expect(
      targetRefOf({ spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'w' } } }),
    ).toEqual(ref('w'));
    for (const bad of [
      undefined,
      {},
      { spec: {} },
      { spec: { scaleTargetRef: 'w' } },
      { spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment' } } },
      { spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: '' } } },
      { spec: { scaleTargetRef: { apiVersion: 1, kind: 'Deployment', name: 'w' } } },
      // A name or kind no target can have never reaches a request path.
      { spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'w/../../x' } } },
      { spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deploy ment', name: 'w' } } },
    ])
      expect(targetRefOf(bad)).toBeUndefined();
  });
});

describe('fenceTargets with a fresh list beside the cache', () => {
  const quiet = (): ReturnType<typeof createLogger> =>
    createLogger({ level: 'error', write: () => undefined });

  it("fences the targets only the fresh list names (a standby's stale cache), each target once, never more than `concurrency` at once in all", async () => {
    const calls: string[] = [];
    let running = 0;
    let most = 0;
    const outcome = await fenceTargets({
      scale: {
        fenceTarget: async (namespace, r) => {
          calls.push(`${namespace}/${r.name}`);
          most = Math.max(most, ++running);
          await new Promise((resolve) => setTimeout(resolve, 10));
          running--;
          return '7';
        },
      },
      targets: [
        { namespace: 'a', ref: ref('cached1') },
        { namespace: 'a', ref: ref('cached2') },
        { namespace: 'a', ref: ref('cached3') },
      ],
      // Answers while the cached targets are still being fenced; names one of them again.
      listTargets: async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        return [
          { namespace: 'a', ref: ref('cached2') },
          { namespace: 'a', ref: ref('new1') },
          { namespace: 'b', ref: ref('new2') },
          { namespace: 'b', ref: ref('new3') },
        ];
      },
      token: 't',
      logger: quiet(),
      concurrency: 2,
    });
    expect(outcome).toMatchObject({ targets: 6, fenced: 6, unfinished: 0, list: 'answered', fromList: 3 });
    expect(calls.sort()).toEqual(['a/cached1', 'a/cached2', 'a/cached3', 'a/new1', 'b/new2', 'b/new3']);
    expect(most).toBe(2);
  });

  it('fences the targets the list names when the cache holds none', async () => {
    const calls: string[] = [];
    const outcome = await fenceTargets({
      scale: {
        fenceTarget: async (namespace, r) => {
          calls.push(`${namespace}/${r.name}`);
          return '1';
        },
      },
      targets: [],
      listTargets: async () => [{ namespace: 'a', ref: ref('only-listed') }],
      token: 't',
      logger: quiet(),
    });
    expect(outcome).toMatchObject({ targets: 1, fenced: 1, list: 'answered', fromList: 1 });
    expect(calls).toEqual(['a/only-listed']);
  });

  it('a list that fails is logged and the cached targets are fenced all the same', async () => {
    const lines: string[] = [];
    const outcome = await fenceTargets({
      scale: { fenceTarget: async () => '1' },
      targets: [{ namespace: 'a', ref: ref('cached') }],
      listTargets: () => Promise.reject(new Error('GET eventconsumers: 503 Service Unavailable')),
      token: 't',
      logger: createLogger({ level: 'info', write: (line) => lines.push(line) }),
    });
    expect(outcome).toMatchObject({ targets: 1, fenced: 1, list: 'failed', fromList: 0 });
    expect(lines.join('\n')).toContain('could not list the EventConsumers afresh');
    expect(lines.join('\n')).toContain('503 Service Unavailable');
  });

  it('a list that is never answered is aborted at the time limit; the cached targets are fenced and the takeover is not held', async () => {
    let signalAborted = false;
    const lines: string[] = [];
    const started = performance.now();
    const outcome = await fenceTargets({
      scale: { fenceTarget: async () => '1' },
      targets: [{ namespace: 'a', ref: ref('cached') }],
      listTargets: (signal) =>
        new Promise<never>(() => signal.addEventListener('abort', () => (signalAborted = true))),
      token: 't',
      logger: createLogger({ level: 'info', write: (line) => lines.push(line) }),
      timeLimitMs: 100,
    });
    expect(performance.now() - started).toBeLessThan(2000);
    expect(outcome).toMatchObject({ targets: 1, fenced: 1, unfinished: 0, list: 'unfinished' });
    expect(signalAborted).toBe(true);
    expect(lines.join('\n')).toContain('ran out of time');
  });
});

describe('listItems and targetsOf (replies from the API server)', () => {
  it('takes the items of a list and refuses anything else, saying what it got', () => {
    expect(listItems({ items: [1] })).toEqual([1]);
    expect(() => listItems({ kind: 'Status', message: 'forbidden' })).toThrow(/without an items array/);
    expect(() => listItems(null)).toThrow(/without an items array/);
  });

  it('keeps only objects with a namespace and a target the operator would scale', () => {
    const ec = (namespace: unknown, scaleTargetRef: unknown): unknown => ({
      metadata: { namespace },
      spec: { scaleTargetRef },
    });
    expect(
      targetsOf([
        ec('a', ref('ok')),
        ec(undefined, ref('no-namespace')),
        ec('', ref('empty-namespace')),
        ec('a', { apiVersion: 'apps/v1', kind: 'Deployment', name: '../../secrets' }),
        ec('a', undefined),
        null,
      ]),
    ).toEqual([{ namespace: 'a', ref: ref('ok') }]);
  });
});
