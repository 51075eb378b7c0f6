// The KubeApi the controller uses: every request it makes belongs to one leadership term and is
// aborted when that term ends, and every write that changes the world (/scale, status, Events) is
// fenced — checked on the monotonic clock, synchronously, just before it is handed to the socket —
// so that a process that no longer holds the Lease with time to spare sends nothing. The Lease's
// own requests do not go through here (leader-election.ts uses the plain client).
import { setMaxListeners } from 'node:events';
import { monotonicNow } from '../clock.js';
import { FencedError, type KubeApi, type RequestOptions } from './api-client.js';

/** One continuous period of holding the leader Lease. */
export interface LeadershipTerm {
  /** Aborted (with a FencedError as its reason) when the term ends. */
  readonly signal: AbortSignal;
  /**
   * Monotonic time (ms, the clock's own origin) up to which this process may write: the last
   * successful renewal plus the renew deadline, which leaves leaseDuration − renewDeadline for a
   * request sent just before it to arrive before any standby may take over.
   */
  writableUntil(): number;
}

/**
 * A term's AbortController. Every request in flight in the term listens on its signal (the
 * reconcile workers, the status writer, the event recorder: more than Node's default warning
 * threshold of 10 at once); each listener goes with its request, so there is no leak to warn of.
 */
export function termController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(Infinity, controller.signal);
  return controller;
}

/** A term that never ends: for running without leader election (one replica, tests, benchmarks). */
export function permanentTerm(): LeadershipTerm & { end(reason: string): void } {
  const controller = termController();
  return {
    signal: controller.signal,
    writableUntil: () => Number.POSITIVE_INFINITY,
    end: (reason) => controller.abort(new FencedError('TermEnded', `stopped working: ${reason}`)),
  };
}

/** sent: passed the fence; refused: not sent; late: sent, then cut off (see sendWithinMs). */
export type WriteOutcome = 'sent' | 'refused' | 'late';

export interface FencedKubeApiOptions {
  /** The monotonic clock the term's deadline is on (performance.now by default). */
  now?: () => number;
  /** Called for every write attempt: sent, or refused by the fence. */
  onWrite?: (verb: string, outcome: WriteOutcome) => void;
  /**
   * Aborts reads (GET) only, with its reason: on shutdown, reads still waiting (a hung target) are
   * abandoned at once, while writes already sent are waited for (their outcome decides whether
   * the Lease may be released).
   */
  abortReads?: AbortSignal;
  /**
   * How long past the term's writableUntil a write may still land: the lease duration less the
   * renew deadline (less a margin for the network), before which no standby can take the Lease
   * over. Every write is sent with an API server deadline (`timeout`) that ends by then, counted
   * from its send: a write held on the API server (a slow admission webhook, a slow etcd) while
   * this process is frozen or its term ended is given up by the API server, not applied after a
   * successor started. Undefined: no deadline (a term that never ends).
   */
  writeGraceMs?: number;
  /**
   * The longest a write may take from its fence check to its hand-off to the OS: the part of the
   * lease that writeGraceMs leaves (leaseDuration - renewDeadline - writeGraceMs). The API server
   * deadline is counted from the check but runs from the API server's receipt, so a process frozen
   * in between (a SIGSTOP, a GC pause) would let the API server apply the write after a standby
   * took over; a write handed off later than this has its connection closed at once (the API
   * server gives up a request whose client went away) and fails as fenced ('SentLate').
   * Undefined: no such check.
   */
  sendWithinMs?: number;
}

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * Why a write may not go out at `now`, or undefined when it may: the term ended (with the reason
 * it ended for), or it is at or past writableUntil. Decided on the monotonic clock alone.
 */
export function fenceRefusal(
  term: { aborted: boolean; reason?: unknown; writableUntil: number },
  now: number,
  request: string,
): FencedError | undefined {
  if (term.aborted)
    return term.reason instanceof FencedError
      ? term.reason
      : new FencedError('TermEnded', `${request} not sent: the leadership term ended`);
  const left = term.writableUntil - now;
  if (left > 0) return undefined;
  return new FencedError(
    'LeaseExpiring',
    `${request} not sent: the Lease was last renewed too long ago to write safely (${Math.round(-left)} ms past the renew deadline)`,
  );
}

/**
 * How long (ms) the API server may work on a write sent at `now`: up to writableUntil plus the
 * grace, or the caller's own limit when shorter. Undefined (no limit) without a grace or for a
 * term that never ends.
 */
export function writeServerTimeoutMs(
  writableUntil: number,
  now: number,
  writeGraceMs: number | undefined,
  callersMs: number | undefined,
): number | undefined {
  const ours =
    writeGraceMs === undefined || !Number.isFinite(writableUntil)
      ? undefined
      : writableUntil - now + writeGraceMs;
  return ours === undefined ? callersMs : callersMs === undefined ? ours : Math.min(ours, callersMs);
}

/**
 * A write handed to the OS `tookMs` after its fence check passed: refused as SentLate when that
 * is more than sendWithinMs (its connection is then closed), undefined when in time or unchecked.
 */
export function sentLate(
  tookMs: number,
  sendWithinMs: number | undefined,
  request: string,
): FencedError | undefined {
  if (sendWithinMs === undefined || tookMs <= sendWithinMs) return undefined;
  return new FencedError(
    'SentLate',
    `${request}: ${Math.round(tookMs)} ms from the fence check to the send (at most ${sendWithinMs} ms; this process was frozen in between): the connection was closed so that the API server gives it up`,
  );
}

export class FencedKubeApi implements KubeApi {
  private readonly now: () => number;

  constructor(
    private readonly inner: KubeApi,
    private readonly term: LeadershipTerm,
    private readonly options: FencedKubeApiOptions = {},
  ) {
    this.now = options.now ?? monotonicNow;
  }

  request<T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    options: RequestOptions = {},
  ): Promise<T> {
    const write = WRITES.has(method);
    const signals = [options.signal, this.term.signal, write ? undefined : this.options.abortReads].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    const signal = signals.length === 1 ? this.term.signal : AbortSignal.any(signals);
    let sent = false;
    let checkedAt = 0;
    const request = this.inner.request<T>(method, path, {
      ...options,
      signal,
      beforeSend: () => {
        options.beforeSend?.();
        if (!write) return;
        this.fence(method, path);
        checkedAt = this.now();
        this.options.onWrite?.(method, 'sent');
        sent = true;
        this.writesSent++;
      },
      serverTimeoutAtSend: write
        ? () =>
            writeServerTimeoutMs(
              this.term.writableUntil(),
              this.now(),
              this.options.writeGraceMs,
              options.serverTimeoutAtSend?.(),
            )
        : undefined,
      afterSend: () => {
        options.afterSend?.();
        if (!write) return;
        const late = sentLate(this.now() - checkedAt, this.options.sendWithinMs, `${method} ${path}`);
        if (late === undefined) return;
        this.options.onWrite?.(method, 'late');
        throw late;
      },
    });
    if (!write) return request;
    return request.finally(() => {
      if (sent) this.writesSent--;
    });
  }

  private writesSent = 0;

  /**
   * Writes sent and not yet answered nor given up on. A process shutting down with any left does not
   * release the Lease: the API server may still apply them after a successor started. (One let go
   * by the slow-request cap, kube/slow-requests.ts, no longer counts: it is a /scale PATCH on the
   * resourceVersion it read, so it lands, if at all, only on the object as read, and a successor's
   * write based on a later reading is refused with 409, or refuses it.)
   */
  writesInFlight(): number {
    return this.writesSent;
  }

  /** Throws FencedError unless the term is open and the Lease is held with time to spare. */
  private fence(method: string, path: string): void {
    const { signal } = this.term;
    // writableUntil is asked only of an open term (as before: an ended term's may be undefined).
    const refusal = fenceRefusal(
      signal.aborted
        ? { aborted: true, reason: signal.reason, writableUntil: Number.NEGATIVE_INFINITY }
        : { aborted: false, writableUntil: this.term.writableUntil() },
      this.now(),
      `${method} ${path}`,
    );
    if (refusal === undefined) return;
    this.options.onWrite?.(method, 'refused');
    throw refusal;
  }
}
