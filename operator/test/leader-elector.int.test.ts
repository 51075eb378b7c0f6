// The leader elector's requests on the real API server: LeaderElector instances in this process on
// real Leases, each with its own API client (some through a TCP proxy the test makes slow or
// black-holes), and "another holder" made by real writes (the test's own client, with the
// resourceVersion it read, as kubectl would). What the elector decides from a read is specified
// without I/O in operator/src/kube/lease-observation.test.ts; this file checks what those
// decisions do against the API server: acquire, renew, release on stop, wait out a holder, lose a
// race on a real 409, step down at the renew deadline while a request hangs or answers late, keep
// the Lease while answers are slow, and count a renewal answered while the event loop was blocked.
//
// Properties, not timings: a wait is measured on this process's monotonic clock against the send
// of the write it waits on (a candidate cannot have received a record before it was written), so
// the lower bounds hold exactly; upper bounds are generous.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createNamespace, eventually } from '../../test/env.js';
import type { KubeApiClient } from '../src/kube/api-client.js';
import { isConflict, isFenced, type KubeApi, type RequestOptions } from '../src/kube/api-client.js';
import { FencedKubeApi, type LeadershipTerm } from '../src/kube/fenced-api.js';
import { LeaderElector } from '../src/kube/leader-election.js';
import { silentLogger } from '../src/observability/logger.js';
import { apiServerProxy, ownApiClient } from './ha-drill.js';
import { closeKubeApi, kubeApi, sleep } from './harness.js';
import type { TcpProxy } from './tcp-proxy.js';

const LEASE_S = 8;
const RENEW_S = 6;
const RETRY_S = 1;
const LEASE_MS = LEASE_S * 1000;
const RENEW_MS = RENEW_S * 1000;

interface LeaseObject {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
  spec?: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** A request the elector made and how it settled (`at`: performance.now of each step). */
interface Sent {
  method: string;
  sentAt: number;
  settledAt?: number;
  outcome?: 'ok' | 'fenced' | 'conflict' | 'error';
}

/** Passes every request to the real client and notes what was sent and how it ended. */
function recorded(api: KubeApi): KubeApi & { sent: Sent[]; onSend?: (s: Sent) => void } {
  const self = {
    sent: [] as Sent[],
    onSend: undefined as ((s: Sent) => void) | undefined,
    async request<T>(
      method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
      p: string,
      options?: RequestOptions,
    ) {
      const s: Sent = { method, sentAt: performance.now() };
      self.sent.push(s);
      self.onSend?.(s);
      try {
        const answer = await api.request<T>(method, p, options);
        s.outcome = 'ok';
        return answer;
      } catch (err) {
        s.outcome = isFenced(err) ? 'fenced' : isConflict(err) ? 'conflict' : 'error';
        throw err;
      } finally {
        s.settledAt = performance.now();
      }
    },
  };
  return self;
}

/** xs[i], which the test needs to be there (negative: from the end). */
function nth<T>(xs: readonly T[], i: number): T {
  const x = xs[i < 0 ? xs.length + i : i];
  if (x === undefined) throw new Error(`no element ${i} in ${JSON.stringify(xs)}`);
  return x;
}

interface Candidate {
  identity: string;
  elector: LeaderElector;
  terms: LeadershipTerm[];
  /** performance.now() of each start and stop of leading, with the stop's reason. */
  started: number[];
  stopped: { at: number; reason: string }[];
  fences: { at: number; previous: string }[];
}

describe('LeaderElector on the real API server', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let tmp: string;
  let proxy: TcpProxy;
  const clients: KubeApiClient[] = [];
  const running: Candidate[] = [];
  let leaseCount = 0;

  beforeAll(async () => {
    ns = await createNamespace('elector');
    tmp = mkdtempSync(path.join(os.tmpdir(), 'leader-elector-'));
    proxy = await apiServerProxy(path.join(tmp, 'kubeconfig'));
  });

  afterEach(async () => {
    proxy.setMode({ kind: 'pass' });
    await Promise.all(running.splice(0).map((c) => c.elector.stop()));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    await proxy?.close();
    closeKubeApi();
    await ns?.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** A client of its own on the API server, or through the test's proxy. */
  function client(through: 'direct' | 'proxy'): KubeApiClient {
    const c = ownApiClient(through, path.join(tmp, 'kubeconfig'));
    clients.push(c);
    return c;
  }

  function newLease(): { name: string; path: string } {
    const name = `lease-${++leaseCount}`;
    return { name, path: `/apis/coordination.k8s.io/v1/namespaces/${ns.name}/leases/${name}` };
  }

  function candidate(
    identity: string,
    lease: string,
    api: KubeApi,
    options: {
      beforeTakeOver?: (previous: string) => Promise<void>;
      leaderRegistered?: () => Promise<boolean>;
      /** The wall clock it writes renewTime with (a jumped clock); the machine's by default. */
      wallClock?: () => number;
    } = {},
  ): Candidate {
    const terms: LeadershipTerm[] = [];
    const started: number[] = [];
    const stopped: { at: number; reason: string }[] = [];
    const fences: { at: number; previous: string }[] = [];
    const elector = new LeaderElector({
      api,
      namespace: ns.name,
      name: lease,
      identity,
      leaseDurationSeconds: LEASE_S,
      renewDeadlineSeconds: RENEW_S,
      retryPeriodSeconds: RETRY_S,
      logger: silentLogger,
      ...(options.leaderRegistered ? { leaderRegistered: options.leaderRegistered } : {}),
      ...(options.wallClock ? { wallClock: options.wallClock } : {}),
      beforeTakeOver: async (previous) => {
        fences.push({ at: performance.now(), previous });
        await options.beforeTakeOver?.(previous);
      },
      onStartedLeading: (term) => {
        terms.push(term);
        started.push(performance.now());
      },
      onStoppedLeading: (reason) => stopped.push({ at: performance.now(), reason }),
    });
    const c: Candidate = { identity, elector, terms, started, stopped, fences };
    running.push(c);
    elector.start();
    return c;
  }

  const read = (leasePath: string): Promise<LeaseObject> => kubeApi().request<LeaseObject>('GET', leasePath);

  /** A renewal as `holder` writes it: the record just read, renewed, with its resourceVersion. */
  async function renewAs(leasePath: string, holder: string): Promise<number> {
    const lease = await read(leasePath);
    const sentAt = performance.now();
    await kubeApi().request('PUT', leasePath, {
      body: {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: holder,
          leaseDurationSeconds: LEASE_S,
          renewTime: new Date().toISOString().replace('Z', '000Z'),
        },
      },
    });
    return sentAt;
  }

  async function createHeldBy(name: string, holder: string): Promise<number> {
    const sentAt = performance.now();
    await kubeApi().request('POST', `/apis/coordination.k8s.io/v1/namespaces/${ns.name}/leases`, {
      body: {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name, namespace: ns.name },
        spec: { holderIdentity: holder, leaseDurationSeconds: LEASE_S, leaseTransitions: 0 },
      },
    });
    return sentAt;
  }

  const leads = (c: Candidate, timeoutMs: number): Promise<true> =>
    eventually(`${c.identity} to lead`, async () => (c.elector.isLeader() ? true : undefined), timeoutMs, 50);

  it("acquires a free Lease and renews it, each renewal moving writableUntil; a standby (its wall clock 1 h ahead, the leader's 1 h behind) does not lead while it is renewed, and leads from the release at once when the leader stops", async () => {
    const lease = newLease();
    const a = candidate('a', lease.name, client('direct'), { wallClock: () => Date.now() - 3_600_000 });
    await leads(a, 20_000);
    const first = (await read(lease.path)).metadata.resourceVersion;
    const firstWritableUntil = nth(a.terms, 0).writableUntil();
    const b = candidate('b', lease.name, client('direct'), { wallClock: () => Date.now() + 3_600_000 });
    await sleep(LEASE_MS + 3000);
    expect(nth(a.terms, 0).writableUntil()).toBeGreaterThan(firstWritableUntil + LEASE_MS);
    expect(b.started).toEqual([]);
    const held = await read(lease.path);
    expect(held.spec?.holderIdentity).toBe('a');
    expect(held.metadata.resourceVersion).not.toBe(first);
    expect(a.stopped).toEqual([]);

    const stoppingAt = performance.now();
    await a.elector.stop();
    expect(a.stopped.map((s) => s.reason)).toEqual(['shutting down']);
    expect(a.terms[0]?.signal.aborted).toBe(true);
    await leads(b, LEASE_MS);
    // From the release (no holder, a 1 s lease): no fence, no transition counted, and sooner than
    // the lease duration it would otherwise have waited from its last read of a's record.
    expect(nth(b.started, 0) - stoppingAt).toBeLessThan(LEASE_MS);
    expect(b.fences).toEqual([]);
    const taken = await read(lease.path);
    expect(taken.spec?.holderIdentity).toBe('b');
    expect(taken.spec?.leaseTransitions ?? 0).toBe(0);
  }, 60_000);

  it('waits a full lease duration from the holder’s last renewal, fences it first, loses the race to a renewal made while it fences (409), and fences again', async () => {
    const lease = newLease();
    let lastRenewalSentAt = await createHeldBy(lease.name, 'other');
    let renewDuringFence = true;
    const b = candidate('b', lease.name, client('direct'), {
      beforeTakeOver: async (previous) => {
        expect(previous).toBe('other');
        // The holder was only slow: it renews while b fences; b's compare-and-swap must lose.
        if (renewDuringFence) lastRenewalSentAt = await renewAs(lease.path, 'other');
        renewDuringFence = false;
      },
    });
    // 'other' renews every second for 5 s; b never leads meanwhile.
    for (let i = 0; i < 5; i++) {
      await sleep(1000);
      lastRenewalSentAt = await renewAs(lease.path, 'other');
    }
    const lastBeforeDeath = lastRenewalSentAt;
    expect(b.fences).toEqual([]);
    await eventually(
      'b to fence twice and lead',
      async () => (b.elector.isLeader() ? true : undefined),
      4 * LEASE_MS,
      50,
    );
    expect(b.fences.map((f) => f.previous)).toEqual(['other', 'other']);
    // The first fence came a full lease duration after the holder's last renewal was sent; the
    // renewal made during it won (b did not lead then), and b waited a lease duration from that.
    expect(nth(b.fences, 0).at - lastBeforeDeath).toBeGreaterThanOrEqual(LEASE_MS);
    expect(nth(b.fences, 1).at - lastRenewalSentAt).toBeGreaterThanOrEqual(LEASE_MS);
    expect(b.started).toHaveLength(1);
    expect(nth(b.started, 0)).toBeGreaterThan(nth(b.fences, 1).at);
    const taken = await read(lease.path);
    expect(taken.spec?.holderIdentity).toBe('b');
    expect(taken.spec?.leaseTransitions).toBe(1);
    // Its own renewals fence nothing.
    await sleep(3 * RETRY_S * 1000);
    expect(b.fences).toHaveLength(2);
    expect(b.stopped).toEqual([]);
  }, 90_000);

  it('a leader keeps its term when the Lease is only touched (an annotation), and steps down when another candidate writes itself in', async () => {
    const lease = newLease();
    const a = candidate('a', lease.name, client('direct'));
    await leads(a, 20_000);
    await kubeApi().request('PATCH', lease.path, {
      body: { metadata: { annotations: { touched: 'by hand' } } },
    });
    await sleep(3 * RETRY_S * 1000 + 1000);
    expect(a.stopped).toEqual([]);
    expect(a.terms[0]?.signal.aborted).toBe(false);
    expect((await read(lease.path)).spec?.holderIdentity).toBe('a');

    await renewAs(lease.path, 'intruder');
    await eventually('a to step down', async () => (a.stopped.length > 0 ? true : undefined), 10_000, 50);
    expect(a.stopped.map((s) => s.reason)).toEqual(['the Lease is now held by intruder']);
    expect(isFenced(a.terms[0]?.signal.reason)).toBe(true);
    expect((await read(lease.path)).spec?.holderIdentity).toBe('intruder');
  }, 60_000);

  it('ends the term at the renew deadline of the last renewal sent while the next one hangs (a black-holed link), aborting it', async () => {
    const lease = newLease();
    const api = recorded(client('proxy'));
    // Its wall clock 1 h behind: the deadline is on the monotonic clock.
    const a = candidate('a', lease.name, api, { wallClock: () => Date.now() - 3_600_000 });
    await leads(a, 20_000);
    await sleep(2000);
    proxy.setMode({ kind: 'blackhole' });
    const blackholedAt = performance.now();
    await eventually(
      'a to step down',
      async () => (a.stopped.length > 0 ? true : undefined),
      RENEW_MS + 10_000,
      50,
    );
    const renewals = api.sent.filter((s) => s.method !== 'GET' && s.outcome === 'ok');
    const lastRenewal = nth(renewals, -1);
    expect(lastRenewal.sentAt).toBeLessThan(blackholedAt);
    const end = nth(a.stopped, 0);
    expect(end.reason).toMatch(/within the renew deadline/);
    expect(end.at - lastRenewal.sentAt).toBeGreaterThanOrEqual(RENEW_MS);
    expect(end.at - lastRenewal.sentAt).toBeLessThan(RENEW_MS + 5000);
    // The renewal that was out when the term ended was aborted with it (a fenced error), not left
    // to its own timeout.
    const cut = api.sent.filter((s) => s.sentAt > lastRenewal.sentAt && s.outcome === 'fenced');
    expect(cut.map((s) => s.method)).toEqual(['PUT']);
    expect((nth(cut, 0).settledAt ?? Infinity) - end.at).toBeLessThan(1000);
    expect(a.terms[0]?.signal.aborted).toBe(true);
  }, 60_000);

  it('does not extend the term with renewals answered after the renew deadline (a slow link), though the API server applied them', async () => {
    const lease = newLease();
    const api = recorded(client('proxy'));
    const a = candidate('a', lease.name, api);
    await leads(a, 20_000);
    await sleep(1500);
    // 3.5 s each way: every request reaches the API server, its answer comes back after 7 s.
    proxy.setMode({ kind: 'delay', ms: RENEW_MS / 2 + 500 });
    const delayedAt = performance.now();
    const before = (await read(lease.path)).metadata.resourceVersion;
    await eventually(
      'a to step down',
      async () => (a.stopped.length > 0 ? true : undefined),
      3 * RENEW_MS,
      50,
    );
    await sleep(2 * RENEW_MS);
    // The API server applied a renewal sent on the slow link (the Lease changed, still naming a) ...
    const after = await read(lease.path);
    expect(after.spec?.holderIdentity).toBe('a');
    expect(after.metadata.resourceVersion).not.toBe(before);
    expect(api.sent.some((s) => s.method === 'PUT' && s.sentAt > delayedAt)).toBe(true);
    // ... but its answer could not come back within the renew deadline: the term ended and none
    // began again. No request sent on the slow link was answered.
    expect(nth(a.stopped, 0).reason).toMatch(/renew deadline/);
    expect(a.started).toHaveLength(1);
    expect(a.elector.isLeader()).toBe(false);
    expect(api.sent.filter((s) => s.sentAt > delayedAt && s.outcome === 'ok')).toEqual([]);
  }, 60_000);

  it('keeps the Lease while every answer takes a third of the renew deadline: one request per renewal, sent a retry period after the last was sent', async () => {
    const lease = newLease();
    const api = recorded(client('proxy'));
    const a = candidate('a', lease.name, api);
    await leads(a, 20_000);
    const from = api.sent.length;
    // 1 s each way: a request takes 2 s, a third of the 6 s renew deadline. A renewal that read
    // the Lease first (GET + PUT, 4 s) and went out a retry period after the last answer would be
    // sent 5 s after the previous one and answered after the deadline.
    proxy.setMode({ kind: 'delay', ms: RENEW_MS / 6 });
    await sleep(4 * RENEW_MS);
    expect(a.stopped).toEqual([]);
    expect(a.elector.isLeader()).toBe(true);
    const during = api.sent.slice(from);
    expect(during.filter((s) => s.method === 'GET')).toEqual([]);
    expect(during.filter((s) => s.method === 'PUT' && s.outcome === 'ok').length).toBeGreaterThanOrEqual(5);
    proxy.setMode({ kind: 'pass' });
  }, 60_000);

  it('counts a renewal the API server answered while the event loop was blocked past the previous renewal’s deadline', async () => {
    const lease = newLease();
    const api = recorded(client('direct'));
    const a = candidate('a', lease.name, api);
    await leads(a, 20_000);
    await sleep(2000);
    // Block the event loop (a long GC, a frozen VM) 50 ms into the next renewal, until half-way
    // between the previous renewal's deadline (1 s before this one's) and this one's: the answer
    // arrives while blocked, and on waking the previous deadline's timer is due before it is read.
    const blocked = new Promise<{ sentAt: number; previousSentAt: number; wokeAt: number }>((resolve) => {
      api.onSend = (s) => {
        if (s.method !== 'PUT') return;
        api.onSend = undefined;
        const renewals = api.sent.filter((x) => x.method === 'PUT' && x.outcome === 'ok');
        const previousSentAt = nth(renewals, -1).sentAt;
        setTimeout(() => {
          const until = previousSentAt + RENEW_MS + (s.sentAt - previousSentAt) / 2;
          Atomics.wait(
            new Int32Array(new SharedArrayBuffer(4)),
            0,
            0,
            Math.max(0, until - performance.now()),
          );
          resolve({ sentAt: s.sentAt, previousSentAt, wokeAt: performance.now() });
        }, 50);
      };
    });
    const { sentAt, previousSentAt, wokeAt } = await blocked;
    // The block ended after the previous renewal's deadline and before this one's.
    expect(wokeAt).toBeGreaterThan(previousSentAt + RENEW_MS);
    expect(wokeAt).toBeLessThan(sentAt + RENEW_MS);
    await sleep(3000);
    expect(a.stopped).toEqual([]);
    expect(a.terms[0]?.signal.aborted).toBe(false);
    expect(a.elector.isLeader()).toBe(true);
  }, 60_000);

  it('does not release, on a stop right after a block past its renew deadline, a Lease it may no longer hold', async () => {
    const lease = newLease();
    const a = candidate('a', lease.name, client('direct'));
    await leads(a, 20_000);
    await sleep(1500);
    const before = (await read(lease.path)).metadata.resourceVersion;
    // Blocked past the term's end, then SIGTERM: stop() runs before any of a's timers could.
    const stopped = (() => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, RENEW_MS + 1000);
      return a.elector.stop();
    })();
    await stopped;
    const after = await read(lease.path);
    expect(after.spec?.holderIdentity).toBe('a');
    // At most the renewal that was out before the block landed; no release.
    expect(after.spec?.leaseDurationSeconds).toBe(LEASE_S);
    expect(Number(after.metadata.resourceVersion) - Number(before)).toBeLessThanOrEqual(1);
  }, 60_000);

  it("a leader blocked past its renew deadline sends none of its term's writes when it resumes, and the term ends", async () => {
    const lease = newLease();
    const a = candidate('a', lease.name, client('direct'));
    await leads(a, 20_000);
    const term = nth(a.terms, 0);
    const writes = new FencedKubeApi(client('direct'), term);
    await writes.request('PATCH', lease.path, { body: { metadata: { annotations: { before: 'sent' } } } });
    // Blocked past writableUntil; the first thing to run on waking is a write of the old term.
    Atomics.wait(
      new Int32Array(new SharedArrayBuffer(4)),
      0,
      0,
      Math.max(0, term.writableUntil() - performance.now()) + 500,
    );
    const refused = await writes
      .request('PATCH', lease.path, { body: { metadata: { annotations: { after: 'sent' } } } })
      .catch((e: unknown) => e);
    expect(isFenced(refused)).toBe(true);
    await eventually('the term to end', async () => (term.signal.aborted ? true : undefined), 10_000, 50);
    const annotations = (await read(lease.path)).metadata.annotations ?? {};
    expect(annotations.before).toBe('sent');
    expect(annotations.after).toBeUndefined();
  }, 60_000);

  it('a restarted process with the same identity waits out the Lease its predecessor left behind', async () => {
    const lease = newLease();
    const api = recorded(client('direct'));
    const first = candidate('a', lease.name, api);
    await leads(first, 20_000);
    await sleep(1500);
    // Dies without releasing (SIGKILL, OOM): its term ends, the Lease stays as it last wrote it.
    await first.elector.stop({ release: false });
    const lastWrite = Math.max(...api.sent.filter((s) => s.method !== 'GET').map((s) => s.sentAt));
    const restarted = candidate('a', lease.name, client('direct'));
    await leads(restarted, LEASE_MS + 10_000);
    expect(nth(restarted.started, 0) - lastWrite).toBeGreaterThanOrEqual(LEASE_MS);
    expect(restarted.fences.map((f) => f.previous)).toEqual(['a']);
  }, 60_000);

  it('a Lease deleted by hand: the leader creates it again and keeps its term; a standby that saw it held waits a lease duration from the delete, then fences', async () => {
    const lease = newLease();
    const a = candidate('a', lease.name, client('direct'));
    await leads(a, 20_000);
    await kubeApi().request('DELETE', lease.path);
    await eventually(
      'the Lease created again by a',
      async () => ((await read(lease.path)).spec?.holderIdentity === 'a' ? true : undefined),
      10_000,
      100,
    );
    await sleep(2000);
    expect(a.stopped).toEqual([]);
    expect(a.terms[0]?.signal.aborted).toBe(false);

    const other = newLease();
    await createHeldBy(other.name, 'other');
    const b = candidate('b', other.name, client('direct'));
    await sleep(2500); // b reads 'other' held
    const deletedAt = performance.now();
    await kubeApi().request('DELETE', other.path);
    await leads(b, LEASE_MS + 10_000);
    expect(nth(b.started, 0) - deletedAt).toBeGreaterThanOrEqual(LEASE_MS);
    expect(b.fences.map((f) => f.previous)).toEqual(['other']);
  }, 60_000);

  it('a Lease missing when a process starts: waited on while a leader is registered (or the registry cannot be read), then fenced — taken although the fence failed —, created at once on a first install', async () => {
    const registered = newLease();
    const startedAt = performance.now();
    const c = candidate('c', registered.name, client('direct'), {
      leaderRegistered: async () => true,
      beforeTakeOver: () => Promise.reject(new Error('the API server refused the fence')),
    });
    const unreadable = newLease();
    const d = candidate('d', unreadable.name, client('direct'), {
      leaderRegistered: () => Promise.reject(new Error('forbidden')),
    });
    const first = newLease();
    const e = candidate('e', first.name, client('direct'), { leaderRegistered: async () => false });
    await leads(e, 10_000);
    expect(e.fences).toEqual([]);
    expect(c.elector.isLeader() || d.elector.isLeader()).toBe(false);
    await Promise.all([leads(c, LEASE_MS + 10_000), leads(d, LEASE_MS + 10_000)]);
    expect(nth(c.started, 0) - startedAt).toBeGreaterThanOrEqual(LEASE_MS);
    expect(nth(d.started, 0) - startedAt).toBeGreaterThanOrEqual(LEASE_MS);
    expect(c.fences.map((f) => f.previous)).toEqual(['']);
  }, 60_000);
});
