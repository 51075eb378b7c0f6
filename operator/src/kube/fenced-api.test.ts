// Specifies the write fence: a write goes out only while the term is open and before its
// writableUntil on the monotonic clock, checked at the moment of sending (not when the reconcile
// started); reads and writes are bound to the term's signal; refusals are counted.
import { getEventListeners, getMaxListeners } from 'node:events';
import { FencedError, isFenced, type KubeApi, type RequestOptions } from './api-client.js';
import { FencedKubeApi, permanentTerm, termController, type LeadershipTerm } from './fenced-api.js';

/** Records what would be sent; like KubeApiClient it calls beforeSend, then checks the signal. */
class RecordingApi implements KubeApi {
  sent: string[] = [];
  signals: AbortSignal[] = [];
  /** Runs before beforeSend, like credential resolution does in KubeApiClient. */
  beforeCredentials: () => void = () => undefined;
  /** Runs between the serverTimeoutAtSend and the hand-off (a freeze there: SIGSTOP, a GC pause). */
  beforeHandOff: () => void = () => undefined;
  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    await Promise.resolve();
    this.beforeCredentials();
    options.beforeSend?.();
    const serverMs = options.serverTimeoutAtSend?.();
    if (options.signal?.aborted) throw options.signal.reason;
    if (options.signal) this.signals.push(options.signal);
    this.beforeHandOff();
    this.sent.push(`${method} ${path}${serverMs === undefined ? '' : ` timeout=${serverMs}`}`);
    options.afterSend?.(); // KubeApiClient closes the connection and rejects with what it throws
    return undefined as T;
  }
}

function term(until: () => number): LeadershipTerm & { controller: AbortController } {
  const controller = new AbortController();
  return { controller, signal: controller.signal, writableUntil: until };
}

describe('FencedKubeApi', () => {
  it('sends writes while the Lease is held with time to spare and refuses them after, counting both', async () => {
    let now = 1000;
    const inner = new RecordingApi();
    const outcomes: string[] = [];
    const t = term(() => 5000);
    const api = new FencedKubeApi(inner, t, {
      now: () => now,
      onWrite: (verb, outcome) => outcomes.push(`${verb} ${outcome}`),
    });
    await api.request('PATCH', '/scale');
    now = 5000;
    const refused = await api.request('PATCH', '/scale').catch((e: unknown) => e);
    expect(isFenced(refused)).toBe(true);
    expect((refused as FencedError).reason).toBe('LeaseExpiring');
    // Reads are not fenced by time: they change nothing.
    await api.request('GET', '/scale');
    expect(inner.sent).toEqual(['PATCH /scale', 'GET /scale']);
    expect(outcomes).toEqual(['PATCH sent', 'PATCH refused']);
  });

  it('checks the deadline when the request is sent, not when it was made (a pause in between)', async () => {
    let now = 1000;
    const inner = new RecordingApi();
    const api = new FencedKubeApi(
      inner,
      term(() => 5000),
      { now: () => now },
    );
    // The process is paused between the reconcile's decision and the send (SIGSTOP, GC, slow exec
    // credential plugin): the clock moves past the deadline before the bytes would go out.
    inner.beforeCredentials = () => (now = 30_000);
    await expect(api.request('POST', '/events')).rejects.toBeInstanceOf(FencedError);
    expect(inner.sent).toEqual([]);
  });

  it('refuses everything once the term ended, with the reason the term ended for', async () => {
    const inner = new RecordingApi();
    const t = term(() => Number.POSITIVE_INFINITY);
    const api = new FencedKubeApi(inner, t);
    t.controller.abort(new FencedError('TermEnded', 'leadership ended: renew deadline passed'));
    await expect(api.request('PATCH', '/status')).rejects.toThrow('renew deadline passed');
    await expect(api.request('GET', '/scale')).rejects.toThrow('renew deadline passed');
    expect(inner.sent).toEqual([]);
  });

  it("binds every request in flight to the term's signal, together with the caller's own, and leaves no listener behind", async () => {
    const signals: AbortSignal[] = [];
    /** Records each request's signal; answers when it aborts (as KubeApiClient rejects). */
    const inner: KubeApi = {
      request: <T>(_method: string, _path: string, options: RequestOptions = {}): Promise<T> =>
        new Promise<T>((_resolve, reject) => {
          const signal = options.signal;
          if (signal === undefined) return reject(new Error('no signal'));
          signals.push(signal);
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
    };
    const t = term(() => Number.POSITIVE_INFINITY);
    const api = new FencedKubeApi(inner, t);
    const own = new AbortController();
    const a = api.request('GET', '/a').catch((e: unknown) => e);
    const b = api.request('GET', '/b', { signal: own.signal }).catch((e: unknown) => e);
    const [termOnly, both] = signals;
    t.controller.abort(new FencedError('TermEnded', 'ended'));
    expect(termOnly?.aborted).toBe(true);
    expect(both?.aborted).toBe(true);
    expect(isFenced(await a)).toBe(true);
    expect(isFenced(await b)).toBe(true);

    const t2 = term(() => Number.POSITIVE_INFINITY);
    const api2 = new FencedKubeApi(inner, t2);
    const own2 = new AbortController();
    const c = api2.request('GET', '/c', { signal: own2.signal }).catch((e: unknown) => e);
    own2.abort(new Error('caller gave up'));
    expect(signals[2]?.aborted).toBe(true);
    expect(t2.signal.aborted).toBe(false);
    expect(await c).toEqual(new Error('caller gave up'));
    // Settled: nothing of the request listens on the term any more (a term lives long).
    expect(getEventListeners(t2.signal, 'abort')).toHaveLength(0);
  });

  it('a permanent term (no leader election) writes until it is ended', async () => {
    const inner = new RecordingApi();
    const t = permanentTerm();
    const api = new FencedKubeApi(inner, t, { now: () => Number.MAX_SAFE_INTEGER });
    await api.request('PATCH', '/scale');
    t.end('shutting down');
    await expect(api.request('PATCH', '/scale')).rejects.toThrow('shutting down');
    expect(inner.sent).toEqual(['PATCH /scale']);
  });
});

describe('FencedKubeApi: an API server deadline on every write', () => {
  it('ends each write by the renew deadline plus the grace, counted when it is sent; reads and a permanent term have none', async () => {
    let now = 1000;
    const inner = new RecordingApi();
    const api = new FencedKubeApi(
      inner,
      term(() => 9000),
      { now: () => now, writeGraceMs: 4500 },
    );
    await api.request('PATCH', '/scale');
    // Made at 1000, sent at 7000 (a wait for a socket): only what is left then counts.
    inner.beforeCredentials = () => (now = 7000);
    await api.request('PUT', '/status');
    inner.beforeCredentials = () => undefined;
    await api.request('GET', '/scale');
    // The caller's own deadline, when shorter, is kept.
    now = 2000;
    await api.request('POST', '/events', { serverTimeoutAtSend: () => 1000 });
    const permanent = new FencedKubeApi(inner, permanentTerm(), { now: () => now, writeGraceMs: 4500 });
    await permanent.request('PATCH', '/scale');
    const noGrace = new FencedKubeApi(
      inner,
      term(() => 9000),
      { now: () => now },
    );
    await noGrace.request('PATCH', '/scale');
    expect(inner.sent).toEqual([
      'PATCH /scale timeout=12500',
      'PUT /status timeout=6500',
      'GET /scale',
      'POST /events timeout=1000',
      'PATCH /scale',
      'PATCH /scale',
    ]);
  });
});

describe('FencedKubeApi: a write frozen between its fence check and its send', () => {
  // The API server deadline is counted from the fence check but runs from the API server's
  // receipt: a process frozen between the two (SIGSTOP, a GC pause) hands off a write whose
  // deadline ends past the earliest takeover. ha-drills' SIGSTOP case caught an Event so (checked
  // ~4.8 s before the renew deadline, received after the standby took over, 201).
  it('fails a write handed off more than sendWithinMs after its check as SentLate (its connection is closed), and counts it late', async () => {
    let now = 1000;
    const inner = new RecordingApi();
    const outcomes: string[] = [];
    const api = new FencedKubeApi(
      inner,
      term(() => 6000),
      {
        now: () => now,
        writeGraceMs: 2500,
        sendWithinMs: 500,
        onWrite: (v, o) => outcomes.push(`${v} ${o}`),
      },
    );
    inner.beforeHandOff = () => (now += 500); // slow, within the margin
    await api.request('POST', '/events');
    inner.beforeHandOff = () => (now += 501);
    const late = await api.request('PATCH', '/scale').catch((e: unknown) => e);
    expect(isFenced(late)).toBe(true);
    expect((late as FencedError).reason).toBe('SentLate');
    // Reads are not checked; nor writes without sendWithinMs.
    inner.beforeHandOff = () => (now += 10_000);
    await api.request('GET', '/scale');
    const unchecked = new FencedKubeApi(inner, permanentTerm(), { now: () => now });
    await unchecked.request('PATCH', '/scale');
    expect(outcomes).toEqual(['POST sent', 'PATCH sent', 'PATCH late']);
  });
});

describe('termController', () => {
  it('lets every request in flight listen on the term without a MaxListenersExceededWarning', () => {
    // Node warns once an AbortSignal has more than getMaxListeners() listeners (10 by default).
    // (The warning itself goes to the real process, which jest does not expose. 0, "no limit" for
    // an EventEmitter, makes Node 20's getMaxListeners throw for an EventTarget: Infinity it is.)
    expect(getMaxListeners(new AbortController().signal)).toBe(10);
    expect(getMaxListeners(termController().signal)).toBe(Infinity);
    expect(getMaxListeners(permanentTerm().signal)).toBe(Infinity);
  });
});

describe('FencedKubeApi on shutdown', () => {
  it('on shutdown abandons the reads in flight (abortReads) but not the writes, and counts the writes sent and not yet answered', async () => {
    const answers: Array<() => void> = [];
    /** Every request hangs until answered by hand or aborted by its signal. */
    const hanging: KubeApi = {
      request: <T>(_method: string, _path: string, options: RequestOptions = {}): Promise<T> =>
        new Promise<T>((resolve, reject) => {
          options.beforeSend?.();
          if (options.signal?.aborted) {
            reject(options.signal.reason);
            return;
          }
          options.signal?.addEventListener('abort', () => reject(options.signal?.reason));
          answers.push(() => resolve(undefined as T));
        }),
    };
    const shutdown = new AbortController();
    const api = new FencedKubeApi(hanging, permanentTerm(), { abortReads: shutdown.signal });
    const read = api.request('GET', '/apis/hung.example/v2/namespaces/a/stalls/s/scale');
    const write = api.request('PATCH', '/apis/apps/v1/namespaces/a/deployments/d/scale');
    expect(api.writesInFlight()).toBe(1);
    shutdown.abort(new FencedError('TermEnded', 'shutting down'));
    await expect(read).rejects.toBeInstanceOf(FencedError);
    expect(api.writesInFlight()).toBe(1);
    answers[1]?.();
    await write;
    expect(api.writesInFlight()).toBe(0);
    // After shutdown began, no read goes out at all; a write still may (the term is open).
    await expect(api.request('GET', '/x')).rejects.toBeInstanceOf(FencedError);
  });
});
