// Specifies Lease-based leader election against an in-memory Lease store that enforces
// resourceVersion like the API server: acquire a free Lease, wait out a live holder's full lease
// duration, lose on 409, step down after the renew deadline, release on stop. Time is jest's fake
// clock, which drives both timers and performance.now (the elector's monotonic clock) while
// jest.setSystemTime moves only the wall clock — so wall-clock jumps are tested as they happen.
import { jest } from '@jest/globals';
import { silentLogger } from '../observability/logger.js';
import { FencedError, KubeApiError, isFenced, type KubeApi, type RequestOptions } from './api-client.js';
import { FencedKubeApi, type LeadershipTerm } from './fenced-api.js';
import { LeaderElector, type MonotonicClock } from './leader-election.js';

interface StoredLease {
  metadata: { name: string; namespace: string; resourceVersion: string };
  spec: Record<string, unknown>;
}

class FakeLeases implements KubeApi {
  lease: StoredLease | undefined;
  version = 1;
  down = false;
  /** Requests hang (a blackholed network) until their signal aborts them. */
  hang = false;
  /** Answers arrive this long after the request was applied (a slow network). */
  answerDelayMs = 0;
  aborted: string[] = [];
  /** Each request's own timeout. */
  timeouts: (number | undefined)[] = [];
  async request<T>(method: string, _path: string, options?: RequestOptions): Promise<T> {
    this.timeouts.push(options?.timeoutMs);
    if (this.down) throw new Error('connection refused');
    if (this.hang) return this.hangUntilAborted(method, options?.signal);
    const answer = this.apply<T>(method, options);
    if (this.answerDelayMs > 0) await new Promise((r) => setTimeout(r, this.answerDelayMs));
    return answer;
  }
  private hangUntilAborted<T>(method: string, signal: AbortSignal | undefined): Promise<T> {
    return new Promise<T>((_resolve, reject) =>
      signal?.addEventListener('abort', () => {
        this.aborted.push(method);
        reject(signal.reason);
      }),
    );
  }
  private apply<T>(method: string, options?: RequestOptions): T {
    const body = options?.body as StoredLease | undefined;
    if (method === 'GET') {
      if (!this.lease) throw new KubeApiError(404, 'NotFound', 'not found');
      return structuredClone(this.lease) as T;
    }
    if (method === 'POST') {
      if (this.lease) throw new KubeApiError(409, 'AlreadyExists', 'exists');
      this.lease = {
        metadata: {
          ...(body?.metadata ?? { name: 'l', namespace: 'ns' }),
          resourceVersion: String(++this.version),
        },
        spec: body?.spec ?? {},
      };
      return structuredClone(this.lease) as T;
    }
    if (method === 'PUT') {
      if (!this.lease || body?.metadata.resourceVersion !== this.lease.metadata.resourceVersion)
        throw new KubeApiError(409, 'Conflict', 'conflict');
      this.lease = {
        metadata: { ...body.metadata, resourceVersion: String(++this.version) },
        spec: body.spec,
      };
      return structuredClone(this.lease) as T;
    }
    throw new Error(`unexpected ${method}`);
  }
  /** Another candidate renews the Lease as its holder. */
  renewAs(holder: string): void {
    if (!this.lease) throw new Error('no lease');
    this.lease = {
      metadata: { ...this.lease.metadata, resourceVersion: String(++this.version) },
      spec: {
        ...this.lease.spec,
        holderIdentity: holder,
        renewTime: new Date().toISOString(),
        leaseDurationSeconds: 15,
      },
    };
  }
}

function elector(
  api: KubeApi,
  identity: string,
  log: string[],
  extra: {
    clock?: MonotonicClock;
    terms?: LeadershipTerm[];
    retryPeriodSeconds?: number;
    leaderRegistered?: () => Promise<boolean>;
    beforeTakeOver?: (previousHolder: string) => Promise<void>;
  } = {},
) {
  return new LeaderElector({
    api,
    namespace: 'ns',
    name: 'l',
    identity,
    leaseDurationSeconds: 15,
    renewDeadlineSeconds: 10,
    retryPeriodSeconds: extra.retryPeriodSeconds ?? 2,
    logger: silentLogger,
    ...(extra.clock ? { clock: extra.clock } : {}),
    ...(extra.leaderRegistered ? { leaderRegistered: extra.leaderRegistered } : {}),
    ...(extra.beforeTakeOver ? { beforeTakeOver: extra.beforeTakeOver } : {}),
    onStartedLeading: (term) => {
      extra.terms?.push(term);
      log.push(`${identity} leads`);
    },
    onStoppedLeading: () => log.push(`${identity} stops`),
  });
}

describe('LeaderElector', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('creates and holds a free Lease, renewing it every retry period', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    const a = elector(api, 'a', log);
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(log).toEqual(['a leads']);
    const renewed = api.lease?.spec.renewTime;
    await jest.advanceTimersByTimeAsync(2000);
    expect(api.lease?.spec.renewTime).not.toBe(renewed);
    expect(a.isLeader()).toBe(true);
    await a.stop();
  });

  it('waits a full lease duration after the holder stops renewing, then takes over', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    api.lease = {
      metadata: { name: 'l', namespace: 'ns', resourceVersion: '1' },
      spec: { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: new Date().toISOString() },
    };
    const b = elector(api, 'b', log);
    b.start();
    // While the other holder renews, b never leads.
    for (let i = 0; i < 10; i++) {
      api.renewAs('other');
      await jest.advanceTimersByTimeAsync(2000);
    }
    expect(log).toEqual([]);
    // The holder dies: b takes over after 15 s (+ up to one retry period), not before.
    await jest.advanceTimersByTimeAsync(13_000);
    expect(log).toEqual([]);
    await jest.advanceTimersByTimeAsync(4000);
    expect(log).toEqual(['b leads']);
    expect(api.lease?.spec.holderIdentity).toBe('b');
    expect(api.lease?.spec.leaseTransitions).toBe(1);
    await b.stop();
  });

  it('a Lease deleted by hand: a standby that saw it held waits a lease duration from finding it missing; the leader creates it again and keeps its term', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    api.lease = {
      metadata: { name: 'l', namespace: 'ns', resourceVersion: '1' },
      spec: { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: new Date().toISOString() },
    };
    const b = elector(api, 'b', log);
    b.start();
    await jest.advanceTimersByTimeAsync(0);
    api.renewAs('other');
    await jest.advanceTimersByTimeAsync(2000);
    // Deleted while 'other' may still be in its term (it renewed just now): b reads it missing
    // at its next read, 2 s later, and creates it no sooner than 15 s after that.
    api.lease = undefined;
    await jest.advanceTimersByTimeAsync(2000 + 14_000);
    expect(log).toEqual([]);
    expect(api.lease).toBeUndefined();
    await jest.advanceTimersByTimeAsync(3000);
    expect(log).toEqual(['b leads']);
    await b.stop();

    // The leader's renewal finds its Lease gone: it creates it again, its term uninterrupted.
    const api2 = new FakeLeases();
    const log2: string[] = [];
    const terms: LeadershipTerm[] = [];
    const a = elector(api2, 'a', log2, { terms });
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    api2.lease = undefined;
    await jest.advanceTimersByTimeAsync(2000);
    expect((api2.lease as StoredLease | undefined)?.spec.holderIdentity).toBe('a');
    await jest.advanceTimersByTimeAsync(20_000);
    expect(log2).toEqual(['a leads']);
    expect(terms[0]?.signal.aborted).toBe(false);
    await a.stop();
  });

  it('a Lease deleted by hand: a process that starts after the delete waits a lease duration when its installation has a leader registered, and creates it at once on a first install', async () => {
    // Registered (an entry not released): a leader may still be in its term.
    const api = new FakeLeases();
    const log: string[] = [];
    let asked = 0;
    const c = elector(api, 'c', log, {
      leaderRegistered: async () => {
        asked++;
        return true;
      },
    });
    c.start();
    await jest.advanceTimersByTimeAsync(14_000);
    expect(log).toEqual([]);
    expect(api.lease).toBeUndefined();
    await jest.advanceTimersByTimeAsync(3000);
    expect(log).toEqual(['c leads']);
    expect(asked).toBe(1);
    await c.stop();
    // The registry cannot be read: waited on as well.
    const api2 = new FakeLeases();
    const log2: string[] = [];
    const d = elector(api2, 'd', log2, { leaderRegistered: () => Promise.reject(new Error('403')) });
    d.start();
    await jest.advanceTimersByTimeAsync(14_000);
    expect(log2).toEqual([]);
    await jest.advanceTimersByTimeAsync(3000);
    expect(log2).toEqual(['d leads']);
    await d.stop();
    // No leader registered (a first install, or only released entries): at once.
    const api3 = new FakeLeases();
    const log3: string[] = [];
    const e = elector(api3, 'e', log3, { leaderRegistered: async () => false });
    e.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(log3).toEqual(['e leads']);
    await e.stop();
  });

  it('a Lease edited by hand: a 1 s lease duration or a cleared holder does not let a standby in before its own lease duration; a release does', async () => {
    const held = (spec: Record<string, unknown>): StoredLease => ({
      metadata: { name: 'l', namespace: 'ns', resourceVersion: '1' },
      spec: {
        holderIdentity: 'other',
        leaseDurationSeconds: 15,
        renewTime: new Date().toISOString(),
        ...spec,
      },
    });
    for (const edit of [{ leaseDurationSeconds: 1 }, { holderIdentity: null }, { holderIdentity: '' }]) {
      const api = new FakeLeases();
      const log: string[] = [];
      api.lease = held({});
      const b = elector(api, 'b', log);
      b.start();
      await jest.advanceTimersByTimeAsync(0);
      api.lease = held(edit);
      api.lease.metadata.resourceVersion = String(++api.version);
      await jest.advanceTimersByTimeAsync(14_000);
      expect({ edit, log }).toEqual({ edit, log: [] });
      await jest.advanceTimersByTimeAsync(4000);
      expect({ edit, log }).toEqual({ edit, log: ['b leads'] });
      await b.stop();
    }
    // A release as the leader writes it (and client-go): no holder, a 1 s lease. Free at once.
    const api = new FakeLeases();
    const log: string[] = [];
    api.lease = held({ holderIdentity: null, leaseDurationSeconds: 1 });
    const b = elector(api, 'b', log);
    b.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(log).toEqual(['b leads']);
    await b.stop();
  });

  it('stops leading when another candidate wins the race (409) and when renewals fail past the deadline', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    const a = elector(api, 'a', log);
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    api.renewAs('intruder');
    await jest.advanceTimersByTimeAsync(2000);
    expect(log).toEqual(['a leads', 'a stops']);
    await a.stop();

    const api2 = new FakeLeases();
    const log2: string[] = [];
    const c = elector(api2, 'c', log2);
    c.start();
    await jest.advanceTimersByTimeAsync(0);
    api2.down = true;
    await jest.advanceTimersByTimeAsync(8000);
    expect(c.isLeader()).toBe(true);
    await jest.advanceTimersByTimeAsync(4000);
    expect(log2).toEqual(['c leads', 'c stops']);
    api2.down = false;
    await c.stop();
  });

  it('releases the Lease on stop so a standby need not wait', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    const a = elector(api, 'a', log);
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    await a.stop();
    expect(log).toEqual(['a leads', 'a stops']);
    expect(api.lease?.spec.holderIdentity).toBeNull();
    const b = elector(api, 'b', []);
    b.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(b.isLeader()).toBe(true);
    await b.stop();
  });

  it('fences the targets before taking over a Lease that ran out (its holder then still named in it), again after losing the race to a renewal; not after a release, nor at its own renewals', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    api.lease = {
      metadata: { name: 'l', namespace: 'ns', resourceVersion: '1' },
      spec: { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: new Date().toISOString() },
    };
    let renewDuringFence = true;
    const b = elector(api, 'b', log, {
      beforeTakeOver: async (previous) => {
        log.push(`fence (${previous} in the Lease: ${String(api.lease?.spec.holderIdentity)})`);
        // The holder was only slow: it renews while b fences, and b's compare-and-swap loses.
        if (renewDuringFence) api.renewAs('other');
        renewDuringFence = false;
        await Promise.resolve();
      },
    });
    b.start();
    await jest.advanceTimersByTimeAsync(17_000);
    expect(log).toEqual(['fence (other in the Lease: other)']);
    expect(b.isLeader()).toBe(false);
    // That renewal was its last: a lease duration later b fences again, then takes over.
    await jest.advanceTimersByTimeAsync(17_000);
    expect(log).toEqual([
      'fence (other in the Lease: other)',
      'fence (other in the Lease: other)',
      'b leads',
    ]);
    // Its renewals fence nothing.
    await jest.advanceTimersByTimeAsync(10_000);
    expect(log).toHaveLength(3);
    await b.stop(); // releases the Lease
    const c = elector(api, 'c', log, {
      beforeTakeOver: async (previous) => {
        log.push(`c fences (${previous})`);
        await Promise.resolve();
      },
    });
    c.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(c.isLeader()).toBe(true);
    expect(log.slice(3)).toEqual(['b stops', 'c leads']);
    await c.stop();
  });

  it('fences the targets before creating a Lease gone missing after a holder was seen (or while a leader is registered); not on a first install', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    api.lease = {
      metadata: { name: 'l', namespace: 'ns', resourceVersion: '1' },
      spec: { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: new Date().toISOString() },
    };
    const fence = (who: string, on: FakeLeases) => async (previous: string) => {
      log.push(`${who} fences (${previous}; Lease ${on.lease === undefined ? 'missing' : 'there'})`);
      await Promise.resolve();
    };
    const b = elector(api, 'b', log, { beforeTakeOver: fence('b', api) });
    b.start();
    await jest.advanceTimersByTimeAsync(2000);
    api.lease = undefined; // deleted while 'other' may be in its term
    await jest.advanceTimersByTimeAsync(2000 + 14_000);
    expect(log).toEqual([]);
    await jest.advanceTimersByTimeAsync(3000);
    expect(log).toEqual(['b fences (other; Lease missing)', 'b leads']);
    await b.stop();
    // Never seen, a leader registered: waited on, then fenced (no holder known).
    const api2 = new FakeLeases();
    log.length = 0;
    const c = elector(api2, 'c', log, {
      leaderRegistered: async () => true,
      beforeTakeOver: fence('c', api2),
    });
    c.start();
    await jest.advanceTimersByTimeAsync(17_000);
    expect(log).toEqual(['c fences (; Lease missing)', 'c leads']);
    await c.stop();
    // A first install: no predecessor, nothing fenced.
    const api3 = new FakeLeases();
    log.length = 0;
    const e = elector(api3, 'e', log, {
      leaderRegistered: async () => false,
      beforeTakeOver: fence('e', api3),
    });
    e.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(log).toEqual(['e leads']);
    await e.stop();
  });

  it('takes over although fencing failed (the hook rejected)', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    api.lease = {
      metadata: { name: 'l', namespace: 'ns', resourceVersion: '1' },
      spec: { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: new Date().toISOString() },
    };
    const b = elector(api, 'b', log, {
      beforeTakeOver: () => Promise.reject(new Error('the API server refused')),
    });
    b.start();
    await jest.advanceTimersByTimeAsync(17_000);
    expect(log).toEqual(['b leads']);
    await b.stop();
  });

  it('does not release a Lease it may no longer hold: a leader paused past its renew deadline that wakes to SIGTERM leaves its successor (same pod name) alone', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    let pausedFor = 0;
    const clock: MonotonicClock = { now: () => performance.now() + pausedFor };
    const a = elector(api, 'a', log, { clock });
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(a.isLeader()).toBe(true);
    // SIGSTOP for 40 s. Meanwhile the Lease expired and a new process under the same name (a
    // StatefulSet pod, a container restarted in place) took it and renews it.
    pausedFor = 40_000;
    api.renewAs('a');
    const successors = api.lease?.metadata.resourceVersion;
    // On waking, SIGTERM is handled before any timer of `a` has run: it still has its term object.
    await a.stop();
    expect(api.lease?.spec.holderIdentity).toBe('a');
    expect(api.lease?.metadata.resourceVersion).toBe(successors);
  });

  it('ends the term at renew deadline after the last renewal was sent, by the clock, aborting the Lease request in flight', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    const terms: LeadershipTerm[] = [];
    const a = elector(api, 'a', log, { terms });
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    const lastSent = performance.now();
    // The network blackholes the next renewal: its PUT never answers (the old code waited for a
    // 10 s request timeout before even looking at the deadline, and stepped down 20 s in).
    api.hang = true;
    await jest.advanceTimersByTimeAsync(9_999);
    expect(log).toEqual(['a leads']);
    expect(terms[0]?.signal.aborted).toBe(false);
    await jest.advanceTimersByTimeAsync(1);
    // At the deadline the term can no longer write (the fence reads writableUntil); the renewal
    // still out gets one turn of the event loop for an answer already in (fake timers count that
    // turn as 1 ms), then the term ends and the request is aborted.
    expect(terms[0]?.writableUntil()).toBe(performance.now());
    await jest.advanceTimersByTimeAsync(1);
    expect(log).toEqual(['a leads', 'a stops']);
    expect(performance.now() - lastSent).toBe(10_001);
    expect(api.aborted).toEqual(['PUT']);
    expect(terms[0]?.signal.aborted).toBe(true);
    expect(isFenced(terms[0]?.signal.reason)).toBe(true);
    expect(a.isLeader()).toBe(false);
    api.hang = false;
    await a.stop();
  });

  it('keeps the term only as long as renewals are sent: writableUntil moves with each renewal', async () => {
    const api = new FakeLeases();
    const terms: LeadershipTerm[] = [];
    const a = elector(api, 'a', [], { terms });
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    const term = terms[0];
    expect(term?.writableUntil()).toBe(performance.now() + 10_000);
    await jest.advanceTimersByTimeAsync(2000);
    expect(term?.writableUntil()).toBe(performance.now() + 10_000);
    await a.stop();
    expect(term?.signal.aborted).toBe(true);
  });

  it('counts a renewal answered while the process was paused, although the deadline timer runs before that answer is read', async () => {
    // Seen in the clock drill: the leader renewed, was frozen before it read the answer, and on
    // resuming ended its term at the deadline of the renewal before — its deadline timer ran before
    // the I/O carrying the answer. Here the renewal sent at 2 s is answered at 10 s, the instant the
    // previous renewal's deadline falls due (timer first): the term runs on to 12 s.
    const api = new FakeLeases();
    const log: string[] = [];
    const terms: LeadershipTerm[] = [];
    const a = elector(api, 'a', log, { terms });
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    const startedAt = performance.now();
    api.answerDelayMs = 8_000;
    await jest.advanceTimersByTimeAsync(2_000); // the renewal at 2 s is out, its answer due at 10 s
    api.answerDelayMs = 0;
    await jest.advanceTimersByTimeAsync(8_000);
    expect(log).toEqual(['a leads']);
    expect(a.isLeader()).toBe(true);
    expect(terms[0]?.signal.aborted).toBe(false);
    expect((terms[0]?.writableUntil() ?? 0) - startedAt).toBeGreaterThanOrEqual(12_000);
    await jest.advanceTimersByTimeAsync(20_000);
    expect(log).toEqual(['a leads']);
    // Nor does the request's own timeout cut that answer off: it runs a renew deadline from the
    // send (the term's end aborts it sooner), never just to the term's remaining time, which after
    // a pause falls due with the deadline timer and would destroy the socket before it is read.
    expect(new Set(api.timeouts)).toEqual(new Set([10_000]));
    await a.stop();
  });

  it('does not extend the term with a renewal answered after the deadline (a slow network)', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    const a = elector(api, 'a', log);
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    // Each answer now takes 11 s, more than the 10 s renew deadline. The renewal sent at 2 s is
    // applied at once (the server renewed the Lease) but the leader cannot know that in time.
    api.answerDelayMs = 11_000;
    await jest.advanceTimersByTimeAsync(10_001); // the deadline, then one event-loop turn (1 ms here)
    expect(log).toEqual(['a leads', 'a stops']);
    // That renewal is answered at 13 s; by then the term is over and stays over.
    await jest.advanceTimersByTimeAsync(10_000);
    expect(log).toEqual(['a leads', 'a stops']);
    api.answerDelayMs = 0;
    const stopped = a.stop();
    await jest.advanceTimersByTimeAsync(12_000);
    await stopped;
  });

  it('keeps the Lease while each API request takes a third of the renew deadline: a renewal is one request, sent every retry period however long the last one took', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    const a = elector(api, 'a', log);
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    const requests: string[] = [];
    const request = api.request.bind(api);
    api.request = <T>(method: string, path: string, options?: RequestOptions): Promise<T> => {
      requests.push(method);
      return request<T>(method, path, options);
    };
    // A slow API server (or a process paused while the answer was on its way): every answer now
    // takes 3.4 s. A renewal that first reads the Lease (GET + PUT, 6.8 s) and is only sent a retry
    // period after the last answer came back is sent 8.8 s after the previous one — and answered
    // after the 10 s renew deadline: the leader would step down though the API server answers.
    api.answerDelayMs = 3400;
    await jest.advanceTimersByTimeAsync(60_000);
    expect(log).toEqual(['a leads']);
    expect(a.isLeader()).toBe(true);
    // The leader renews with the record its last renewal returned: no GET while it holds the Lease.
    expect(requests.filter((m) => m === 'GET')).toEqual([]);
    expect(requests.length).toBeGreaterThanOrEqual(15);
    api.answerDelayMs = 0;
    const stopped = a.stop();
    await jest.advanceTimersByTimeAsync(4000);
    await stopped;
  });

  it('falls back to reading the Lease when a renewal finds it changed (409), and keeps it while it still names the leader', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    const a = elector(api, 'a', log);
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    // Someone else touched the Lease without taking it (a label, kubectl annotate): the cached
    // record's resourceVersion is stale, but the holder is still a.
    api.renewAs('a');
    await jest.advanceTimersByTimeAsync(2000);
    expect(log).toEqual(['a leads']);
    expect(a.isLeader()).toBe(true);
    // Another candidate took it: a stops at its next renewal.
    api.renewAs('intruder');
    await jest.advanceTimersByTimeAsync(2000);
    expect(log).toEqual(['a leads', 'a stops']);
    await a.stop();
  });

  it('ignores wall-clock jumps: a standby whose clock jumps 1 h ahead does not take a live Lease', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    // The leader renews every 5 s (its own retry period, or a slow API server), so the standby,
    // polling every 2 s, sees the same record several times in a row — across the jump.
    const a = elector(api, 'a', log, { retryPeriodSeconds: 5 });
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    const b = elector(api, 'b', log);
    b.start();
    await jest.advanceTimersByTimeAsync(1000);
    jest.setSystemTime(Date.now() + 3_600_000);
    await jest.advanceTimersByTimeAsync(30_000);
    jest.setSystemTime(Date.now() - 7_200_000);
    await jest.advanceTimersByTimeAsync(30_000);
    expect(log).toEqual(['a leads']);
    expect(api.lease?.spec.holderIdentity).toBe('a');
    // When the leader does stop, the standby still takes over after one lease duration.
    await a.stop();
    await jest.advanceTimersByTimeAsync(2000);
    expect(log).toEqual(['a leads', 'a stops', 'b leads']);
    await b.stop();
  });

  it('ignores wall-clock jumps: a leader whose clock jumps 1 h back still stops at the renew deadline', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    const a = elector(api, 'a', log);
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    api.down = true;
    jest.setSystemTime(Date.now() - 3_600_000);
    await jest.advanceTimersByTimeAsync(10_000);
    expect(log).toEqual(['a leads', 'a stops']);
    api.down = false;
    await a.stop();
  });

  it('a restarted process with the same identity waits out the lease it left behind', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    const first = elector(api, 'a', log);
    first.start();
    await jest.advanceTimersByTimeAsync(0);
    // The process dies without releasing (SIGKILL, OOM); its container restarts under the same name.
    api.down = true;
    await jest.advanceTimersByTimeAsync(10_000);
    await first.stop(); // the old process is gone
    api.down = false;
    const restarted = elector(api, 'a', log);
    restarted.start();
    await jest.advanceTimersByTimeAsync(14_000);
    expect(log).toEqual(['a leads', 'a stops']);
    await jest.advanceTimersByTimeAsync(2000);
    expect(log).toEqual(['a leads', 'a stops', 'a leads']);
    await restarted.stop();
  });

  it('measures expiry from when the standby received the record, so a paused standby cannot take over early', async () => {
    const api = new FakeLeases();
    const log: string[] = [];
    api.lease = {
      metadata: { name: 'l', namespace: 'ns', resourceVersion: '1' },
      spec: { holderIdentity: 'other', leaseDurationSeconds: 15, renewTime: new Date().toISOString() },
    };
    const b = elector(api, 'b', log);
    b.start();
    await jest.advanceTimersByTimeAsync(0);
    // The holder renews once more 14 s later; b must wait 15 s from seeing that renewal.
    await jest.advanceTimersByTimeAsync(14_000);
    api.renewAs('other');
    await jest.advanceTimersByTimeAsync(2000);
    await jest.advanceTimersByTimeAsync(12_000);
    expect(log).toEqual([]);
    await jest.advanceTimersByTimeAsync(4000);
    expect(log).toEqual(['b leads']);
    await b.stop();
  });

  it("fences the controller's writes with the term: a process paused past the deadline sends nothing when it resumes", async () => {
    const api = new FakeLeases();
    const terms: LeadershipTerm[] = [];
    let pausedFor = 0;
    const clock: MonotonicClock = { now: () => performance.now() + pausedFor };
    const a = elector(api, 'a', [], { clock, terms });
    a.start();
    await jest.advanceTimersByTimeAsync(0);
    const term = terms[0];
    if (!term) throw new Error('a did not lead');
    const sent: string[] = [];
    const writes = new FencedKubeApi(
      {
        request: async <T>(method: string, path: string, options?: RequestOptions): Promise<T> => {
          options?.beforeSend?.();
          sent.push(`${method} ${path}`);
          return undefined as T;
        },
      },
      term,
      { now: () => clock.now() },
    );
    await writes.request('PATCH', '/scale');
    // SIGSTOP for 31 s: the monotonic clock moves on, no timer has run yet when the process
    // resumes, and the first thing to run is the reconcile that was about to write.
    pausedFor = 31_000;
    const refused = await writes.request('PATCH', '/scale').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(FencedError);
    expect(sent).toEqual(['PATCH /scale']);
    // The elector's next retry (before its own deadline timer) notices the deadline has passed.
    await jest.advanceTimersByTimeAsync(2000);
    expect(term.signal.aborted).toBe(true);
    // Whatever a does next, the old term's writes stay refused.
    await expect(writes.request('PATCH', '/scale')).rejects.toBeInstanceOf(FencedError);
    expect(sent).toEqual(['PATCH /scale']);
    await a.stop();
  });
});
