// The cap on slow requests about scale targets (slow-requests.ts), on a fake clock: requests are
// promises the test answers (or never does), aborted through the signal as KubeApiClient does.
import { jest } from '@jest/globals';
import { SlowRequestError, SlowRequests } from './slow-requests.js';

interface Pending {
  target: string;
  aborted: boolean;
  answer(value: string): void;
}

function harness(maxSlow: number) {
  const pending: Pending[] = [];
  const guard = new SlowRequests({ maxSlow, slowAfterMs: 1000, probeAfterMs: 10_000, now: () => Date.now() });
  const ask = (target: string): Promise<string> =>
    guard.run(
      target,
      (signal) =>
        new Promise<string>((resolve, reject) => {
          const p: Pending = { target, aborted: false, answer: resolve };
          pending.push(p);
          signal.addEventListener('abort', () => {
            p.aborted = true;
            reject(signal.reason);
          });
        }),
    );
  return { guard, pending, ask };
}

/** Settles a promise into what it resolved to, or the error it rejected with. */
const settle = <T>(p: Promise<T>): Promise<T | Error> => p.catch((err: unknown) => err as Error);

describe('SlowRequests', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  it('waits for up to maxSlow slow requests and lets the rest go after a second, aborting them', async () => {
    const { pending, ask } = harness(2);
    const replies = ['a', 'b', 'c'].map((t) => settle(ask(t)));
    expect(pending.map((p) => p.target)).toEqual(['a', 'b', 'c']);
    await jest.advanceTimersByTimeAsync(1000);
    // a and b took the two slots; c was let go, its request aborted (its socket freed).
    expect(pending.map((p) => p.aborted)).toEqual([false, false, true]);
    const c = await replies[2];
    expect(c).toBeInstanceOf(SlowRequestError);
    expect((c as SlowRequestError).sent).toBe(true);
    expect((c as SlowRequestError).message).toContain('let go unanswered after 1000 ms');
    pending[0]?.answer('A');
    await expect(replies[0]).resolves.toBe('A');
  });

  it('does not send a request about a target known slow while the slots are taken, until its probe is due', async () => {
    const { pending, ask } = harness(1);
    void settle(ask('hog')); // takes the one slot after its second
    const first = settle(ask('hung'));
    await jest.advanceTimersByTimeAsync(1000);
    expect(await first).toBeInstanceOf(SlowRequestError);
    // Known slow, no slot: answered at once, nothing sent.
    const again = await settle(ask('hung'));
    expect(again).toBeInstanceOf(SlowRequestError);
    expect((again as SlowRequestError).sent).toBe(false);
    expect(pending.filter((p) => p.target === 'hung')).toHaveLength(1);
    // After probeAfterMs it is sent once more, on the same one-second leash.
    await jest.advanceTimersByTimeAsync(10_000);
    const probe = settle(ask('hung'));
    expect(pending.filter((p) => p.target === 'hung')).toHaveLength(2);
    pending[pending.length - 1]?.answer('answered');
    await expect(probe).resolves.toBe('answered');
    // Answered in time: not slow any more, sent (and waited for) as any.
    const next = settle(ask('hung'));
    expect(pending.filter((p) => p.target === 'hung')).toHaveLength(3);
    pending[pending.length - 1]?.answer('ok');
    await expect(next).resolves.toBe('ok');
  });

  it('gives a target known slow a slot from its start when one is free, and waits for its answer', async () => {
    const { guard, pending, ask } = harness(1);
    const first = settle(ask('t'));
    await jest.advanceTimersByTimeAsync(1000); // slow: takes the free slot
    await jest.advanceTimersByTimeAsync(5000);
    pending[0]?.answer('late');
    await expect(first).resolves.toBe('late');
    expect(guard.slowTargets()).toBe(1); // answered, but after 6 s
    const second = settle(ask('t'));
    // Another target's slow request cannot take the slot t holds from its start: it is let go.
    const other = settle(ask('u'));
    await jest.advanceTimersByTimeAsync(1000);
    expect(await other).toBeInstanceOf(SlowRequestError);
    await jest.advanceTimersByTimeAsync(20_000);
    pending[1]?.answer('still waited for');
    await expect(second).resolves.toBe('still waited for');
  });

  it('a quick refusal is an answer: the target is not slow', async () => {
    const guard = new SlowRequests({ maxSlow: 1, now: () => Date.now() });
    await expect(guard.run('t', () => Promise.reject(new Error('403')))).rejects.toThrow('403');
    expect(guard.slowTargets()).toBe(0);
  });
});
