// Active-passive leader election on a coordination.k8s.io/v1 Lease, with the guarantee client-go
// and controller-runtime give and nothing weaker: a leader leads in terms; a term lasts from a
// successful renewal until renewDeadline after the last one *sent* (on the monotonic clock, so
// wall-clock jumps do not matter), enforced by a timer — not by the next reply — that aborts
// every request of the term in flight (the Lease's own and, through fenced-api.ts, the
// controller's) and reports the term's end. A leader renews with one request — a PUT of the record
// its last renewal returned (client-go's fast path), falling back to a read only on 409 — and
// sends each renewal a retry period after the previous one was *sent*, so a slow API server or a
// pause that held up an answer does not push the next renewal out: with GET + PUT sent a retry
// period after the last answer, answers taking a third of the renew deadline, or a pause of half
// of it, ended a live term. A candidate takes the Lease once the record has not
// changed for a full lease duration as measured on its own monotonic clock from when it *received*
// the record (no trust in other clocks) — even a record that names itself, left by an earlier
// process with the same pod name. Edited or deleted by hand, a Lease is no shortcut: the wait is
// never shorter than this process's own lease duration, a holder cleared by hand is waited out
// (only a release as the leader writes it, no holder and a 1 s lease, is free at once), and a
// Lease deleted after it was held is waited on from the first read that found it missing, while
// its leader creates it again at its next renewal. Every write carries the resourceVersion read just before,
// so of two racing candidates one gets 409 Conflict and loses. On shutdown the leader releases the
// Lease so a standby takes over at once.
//
// Why this is safe: a standby takes over no sooner than leaseDuration after it saw the leader's
// last renewal, which the leader sent earlier still; the leader stops writing renewDeadline after
// that send. So leaseDuration − renewDeadline is the margin left for a write sent just before the
// deadline to reach the API server, and for the two processes' clocks to run at different rates.
import { monotonicNow, wallNow } from '../clock.js';
import type { Logger } from '../observability/logger.js';
import { FencedError, isConflict, isFenced, isNotFound, type KubeApi } from './api-client.js';
import { termController, type LeadershipTerm } from './fenced-api.js';
import {
  claimedLeaseSpec,
  leaseVerdict,
  missingLease,
  nextAttemptInMs,
  observeLease,
  releaseTooLate,
  renewalInTime,
  type LeaseObservation,
  type LeaseSpec,
} from './lease-observation.js';

interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

/** A clock that only moves forward at a steady rate (performance.now), in milliseconds. */
export interface MonotonicClock {
  now(): number;
}

export const monotonicClock: MonotonicClock = { now: monotonicNow };

export interface LeaderElectionOptions {
  api: KubeApi;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
  logger: Logger;
  /** Durations are measured on this clock (performance.now by default); never the wall clock. */
  clock?: MonotonicClock;
  /** The wall clock, only for the informational renewTime/acquireTime written into the Lease. */
  wallClock?: () => number;
  /**
   * Whether this installation has a leader on record elsewhere (its installation registry entry,
   * not released): asked when a process that never saw the Lease finds it missing. True (or a
   * failure to tell) makes it wait a lease duration as after a Lease seen held; false (a first
   * install) lets it create the Lease at once. Without it, a missing Lease never seen is free.
   */
  leaderRegistered?: () => Promise<boolean>;
  /**
   * Called before this process takes the Lease over from another holder (whose lease ran out; not
   * after a release, which its holder sends only once its writes were answered), and before the
   * compare-and-swap that takes it; also before it creates a Lease gone missing after a holder was
   * seen (or while a leader is registered), once that holder's lease duration has passed. See
   * fenceTargets in run-operator.ts (JETSCALE_FENCE_TARGETS). A rejection is logged and the
   * takeover goes on.
   */
  beforeTakeOver?: (previousHolder: string) => Promise<void>;
  onStartedLeading: (term: LeadershipTerm) => void;
  /** Called once per term, after its signal was aborted; `reason` says why it ended. */
  onStoppedLeading: (reason: string) => void;
}

/** MicroTime as the API server writes it (RFC 3339 with microseconds). */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

class Term implements LeadershipTerm {
  readonly controller = termController();
  deadline: NodeJS.Timeout | undefined;

  constructor(
    /** Monotonic time the last successful renewal was sent. */
    public renewedAt: number,
    private readonly renewDeadlineMs: number,
  ) {}

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  writableUntil(): number {
    return this.renewedAt + this.renewDeadlineMs;
  }
}

export class LeaderElector {
  private term: Term | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  /** The Lease record as last seen (lease-observation.ts observeLease, missingLease). */
  private observed: LeaseObservation | undefined;
  /** While leading: the Lease as our last successful write returned it (the next renewal's base). */
  private held: Lease | undefined;
  private inFlight: Promise<void> | undefined;
  private readonly clock: MonotonicClock;
  private readonly wallClock: () => number;
  private readonly renewDeadlineMs: number;

  constructor(private readonly options: LeaderElectionOptions) {
    this.clock = options.clock ?? monotonicClock;
    this.wallClock = options.wallClock ?? wallNow;
    this.renewDeadlineMs = options.renewDeadlineSeconds * 1000;
  }

  isLeader(): boolean {
    return this.term !== undefined;
  }

  /** The current term, while leading. */
  currentTerm(): LeadershipTerm | undefined {
    return this.term;
  }

  start(): void {
    this.stopped = false;
    this.tick();
  }

  /**
   * Stops campaigning; a leader ends its term (aborting its requests) and then releases the Lease,
   * if it still may: the release is sent before the term's writableUntil, by the clock. A process
   * paused past its deadline that wakes up to SIGTERM, before its deadline timer has run, still has
   * a term object but no Lease: a successor (even one with the same pod name, which the holder
   * check cannot tell apart) may hold it by then, and a release would clear the successor's Lease.
   * `release: false` ends the term and keeps the Lease until it expires (writes may still land).
   */
  async stop(options: { release?: boolean } = {}): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    const term = this.term;
    const releaseBy = term?.writableUntil();
    if (term) this.endTerm('shutting down');
    await this.inFlight;
    if (releaseBy === undefined) return;
    if (options.release === false) {
      this.options.logger.warn(
        'leader election: not releasing the Lease (writes of this term may still be applied); the standby takes over after it expires',
        { lease: this.leaseName() },
      );
      return;
    }
    await this.release(releaseBy);
  }

  private tick(): void {
    if (this.stopped) return;
    // Timers are late when the event loop was blocked or the process paused; the clock is not.
    if (this.term && this.clock.now() >= this.term.writableUntil())
      this.endTerm(
        `could not renew the Lease within the renew deadline (${this.options.renewDeadlineSeconds} s)`,
      );
    const term = this.term;
    const startedAt = this.clock.now();
    this.inFlight = this.tryAcquireOrRenew(term)
      .catch((err: unknown) => {
        if (isFenced(err)) return; // our own term ended while the request was out: already reported
        this.options.logger.warn('leader election: Lease request failed', {
          lease: this.leaseName(),
          error: err instanceof Error ? err.message : String(err),
        });
      })
      .finally(() => {
        this.inFlight = undefined;
        if (!this.stopped) {
          // A leader's renewals are due a retry period after the previous one was sent, however
          // long it took (the renew deadline runs from the send); a candidate waits a full period.
          const retryMs = this.options.retryPeriodSeconds * 1000;
          const waitMs = nextAttemptInMs(this.term !== undefined, startedAt, this.clock.now(), retryMs);
          this.timer = setTimeout(() => this.tick(), waitMs);
          this.timer.unref();
        }
      });
  }

  private leaseName(): string {
    return `${this.options.namespace}/${this.options.name}`;
  }

  private path(): string {
    const { namespace, name } = this.options;
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases/${encodeURIComponent(name)}`;
  }

  /**
   * A leader's Lease requests die with its term (endTerm aborts them). Each may otherwise live as
   * long as its answer could still renew: renewDeadline from its send (renewed() refuses a later
   * one). Not the term's remaining time: after a pause that timeout would fall due with the
   * deadline timer, before the I/O phase, and destroy the socket holding a renewal's answer.
   */
  private requestLimits(term: Term | undefined): { signal?: AbortSignal; timeoutMs: number } {
    if (!term) return { timeoutMs: this.renewDeadlineMs };
    return { signal: term.signal, timeoutMs: this.renewDeadlineMs };
  }

  private async tryAcquireOrRenew(term: Term | undefined): Promise<void> {
    if (term && this.held && (await this.renewHeld(term, this.held))) return;
    const { api, namespace, name, identity, leaseDurationSeconds } = this.options;
    let lease: Lease;
    try {
      lease = await api.request<Lease>('GET', this.path(), this.requestLimits(term));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      if (!term) {
        const free = await this.missingLeaseFree(this.clock.now());
        if (!free) return;
        // Gone after a holder was seen (deleted by hand, a namespace recreated) or never seen while
        // a leader is registered: that holder may have written until its lease ran out, as before
        // any takeover. A Lease never held, or released, has no predecessor to fence.
        if (free === 'waited' && !(await this.fenceBeforeTakeOver(this.observed?.holder ?? ''))) return;
      }
      const sentAt = this.clock.now();
      const wallNow = microTime(this.wallClock());
      let created: Lease;
      try {
        created = await api.request<Lease>(
          'POST',
          `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/leases`,
          {
            ...this.requestLimits(term),
            body: {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name, namespace },
              spec: {
                holderIdentity: identity,
                leaseDurationSeconds,
                acquireTime: wallNow,
                renewTime: wallNow,
                leaseTransitions: 0,
              },
            },
          },
        );
      } catch (createErr) {
        if (isConflict(createErr)) return; // another candidate created it first
        throw createErr;
      }
      this.renewed(sentAt, term, undefined, created);
      return;
    }
    const received = this.clock.now();

    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity ?? '';
    const record = {
      resourceVersion: lease.metadata.resourceVersion ?? '',
      holder,
      leaseDurationSeconds: spec.leaseDurationSeconds,
    };
    this.observed = observeLease(this.observed, record, received, leaseDurationSeconds);
    if (term && term !== this.term) return; // ended while the GET was out
    const verdict = leaseVerdict(this.observed, holder, identity, received, term !== undefined);
    if (verdict.kind === 'step-down') {
      this.endTerm(verdict.reason);
      return;
    }
    if (verdict.kind === 'wait') return;

    const takingOver = verdict.takingOver;
    // The Lease may have been renewed meanwhile: the PUT below is a compare-and-swap on the record
    // read above, so it then fails with 409 and this process stays a candidate.
    if (verdict.fence !== undefined && !(await this.fenceBeforeTakeOver(verdict.fence))) return;
    const sentAt = this.clock.now();
    const wallNow = microTime(this.wallClock());
    const updated: Lease = {
      ...lease,
      spec: claimedLeaseSpec(spec, holder, identity, leaseDurationSeconds, wallNow),
    };
    let written: Lease;
    try {
      // The resourceVersion in metadata makes this a compare-and-swap: 409 means someone else won.
      written = await api.request<Lease>('PUT', this.path(), { ...this.requestLimits(term), body: updated });
    } catch (err) {
      if (isConflict(err)) {
        if (term && term === this.term) this.endTerm('another candidate changed the Lease (409 Conflict)');
        return;
      }
      throw err;
    }
    this.renewed(sentAt, term, takingOver ? holder : undefined, written);
  }

  /**
   * The leader's renewal in one request: the record its last write returned, with a new renewTime.
   * True when it was renewed; false on 409 (the Lease changed since — another candidate, or anyone
   * touching the object), when the caller reads the Lease and decides again.
   */
  private async renewHeld(term: Term, held: Lease): Promise<boolean> {
    const sentAt = this.clock.now();
    const body: Lease = {
      ...held,
      spec: { ...held.spec, renewTime: microTime(this.wallClock()) },
    };
    let written: Lease;
    try {
      written = await this.options.api.request<Lease>('PUT', this.path(), {
        ...this.requestLimits(term),
        body,
      });
    } catch (err) {
      // 404: the Lease was deleted (by hand); the read that follows finds it missing and the
      // leader, its term still open, creates it again.
      if (!isConflict(err) && !isNotFound(err)) throw err;
      this.held = undefined;
      return false;
    }
    this.renewed(sentAt, term, undefined, written);
    return true;
  }

  /**
   * Runs options.beforeTakeOver (when set) before this process takes the Lease from `previousHolder`;
   * a rejection is logged and the takeover goes on. False when this elector was stopped meanwhile.
   */
  private async fenceBeforeTakeOver(previousHolder: string): Promise<boolean> {
    const hook = this.options.beforeTakeOver;
    if (hook === undefined) return true;
    await hook(previousHolder).catch((err: unknown) =>
      this.options.logger.warn('leader election: fencing the targets before the takeover failed', {
        lease: this.leaseName(),
        previousHolder,
        error: err instanceof Error ? err.message : String(err),
      }),
    );
    return !this.stopped;
  }

  /**
   * May a candidate create the Lease it found missing (`received`: when it learnt so)? At once on
   * a first install (no record seen, no leader registered) or after a release. A process that
   * starts after the Lease was deleted never saw it held, but its installation's registry entry
   * (leaderRegistered) says a leader may be in its term: it waits as below. But a Lease that was held when last read
   * was deleted by someone else (`kubectl delete lease`, a clean-up): its
   * holder may still be in its term, which ends renewDeadline after its last renewal, sent before
   * the delete. Created at once, the Lease would give this process a term of its own while that
   * one runs (two leaders, both writing, until the old one's next renewal is refused). So the
   * candidate waits for the Lease to stay missing a full lease duration from the first read that
   * found it missing, as it waits for an unchanged record; the leader meanwhile creates it again
   * at its next renewal, and the candidate then waits on that record as before.
   * Answers 'free' when no holder can be writing (a released Lease, or none ever held and no leader
   * registered), 'waited' once a lease duration has passed since it went missing (a holder may have
   * written until then: fenceBeforeTakeOver), false until then.
   */
  private async missingLeaseFree(received: number): Promise<false | 'free' | 'waited'> {
    const seen = this.observed;
    // The registry is asked only when no record was ever seen (lease-observation.ts missingLease).
    let registered = false;
    if (!seen) {
      registered = await this.leaderRegistered();
      if (registered && this.observed !== undefined) return false; // read again meanwhile: decided from that
    }
    const next = missingLease(seen, received, this.options.leaseDurationSeconds, registered);
    if (next.observed !== seen) this.observed = next.observed;
    return next.free;
  }

  /** leaderRegistered, true when it cannot tell (the safe side: a wait, not a second leader). */
  private async leaderRegistered(): Promise<boolean> {
    const ask = this.options.leaderRegistered;
    if (ask === undefined) return false;
    try {
      return await ask();
    } catch (err) {
      this.options.logger.warn(
        'leader election: the Lease is missing and the installation registry cannot be read; waiting a lease duration before creating it',
        { lease: this.leaseName(), error: err instanceof Error ? err.message : String(err) },
      );
      return true;
    }
  }

  /** A renewal (or acquisition) sent at `sentAt` succeeded; `lease` is the record it wrote. */
  private renewed(
    sentAt: number,
    term: Term | undefined,
    previousHolder: string | undefined,
    lease: Lease,
  ): void {
    if (term !== this.term || this.stopped) return; // the term ended (or we stopped) meanwhile
    if (!renewalInTime(sentAt, this.clock.now(), this.renewDeadlineMs)) {
      // The answer came back too late to be of use: what it granted has already run out.
      if (term) this.endTerm('the Lease renewal was answered after the renew deadline');
      return;
    }
    this.held = lease;
    if (term) {
      term.renewedAt = sentAt;
      this.armDeadline(term);
      return;
    }
    const fresh = new Term(sentAt, this.renewDeadlineMs);
    this.term = fresh;
    this.armDeadline(fresh);
    this.options.logger.info('leader election: acquired the Lease', {
      lease: this.leaseName(),
      previousHolder: previousHolder || undefined,
    });
    this.options.onStartedLeading(fresh);
  }

  private armDeadline(term: Term): void {
    if (term.deadline) clearTimeout(term.deadline);
    const fire = (): void => {
      if (term !== this.term) return;
      const left = term.writableUntil() - this.clock.now();
      if (left > 0) {
        // Timers may fire a little early; wait the rest.
        term.deadline = setTimeout(fire, Math.ceil(left));
        term.deadline.unref();
        return;
      }
      // After a pause (SIGSTOP, a frozen VM, a long GC) Node runs due timers before the I/O that
      // arrived meanwhile: a renewal the API server answered before the pause ended would be read
      // only after this timer had ended the term. So while a Lease request is out, its answer gets
      // one turn of the event loop first (setImmediate runs after the I/O phase); writes stay fenced
      // meanwhile, as writableUntil has passed. renewed() extends the term only by a renewal *sent*
      // less than renewDeadline ago, so a late answer to an old request still ends it.
      if (this.inFlight) {
        setImmediate(() => {
          if (term !== this.term || term.writableUntil() > this.clock.now()) return; // renewed meanwhile
          this.endTerm(
            `could not renew the Lease within the renew deadline (${this.options.renewDeadlineSeconds} s)`,
          );
        });
        return;
      }
      this.endTerm(
        `could not renew the Lease within the renew deadline (${this.options.renewDeadlineSeconds} s)`,
      );
    };
    term.deadline = setTimeout(fire, Math.max(0, Math.ceil(term.writableUntil() - this.clock.now())));
    term.deadline.unref();
  }

  private endTerm(reason: string): void {
    const term = this.term;
    if (!term) return;
    this.term = undefined;
    this.held = undefined;
    if (term.deadline) clearTimeout(term.deadline);
    term.controller.abort(new FencedError('TermEnded', `leadership ended: ${reason}`));
    this.options.logger.warn('leader election: stopped leading', { lease: this.leaseName(), reason });
    this.options.onStoppedLeading(reason);
  }

  /**
   * Gives the Lease up (holder cleared, duration 1 s) so a standby need not wait for expiry — only
   * while the Lease is still certainly ours: the PUT is sent before `releaseBy` (the ended term's
   * writableUntil, on the monotonic clock; until then no standby can have taken the Lease over),
   * on the record read just before (its resourceVersion: 409 if anyone wrote it since).
   */
  private async release(releaseBy: number): Promise<void> {
    const { api, identity } = this.options;
    const tooLate = (): string | undefined => releaseTooLate(this.clock.now(), releaseBy);
    const notReleased = (why: string): void =>
      this.options.logger.warn('leader election: not releasing the Lease', { lease: this.leaseName(), why });
    const late = tooLate();
    if (late !== undefined) return notReleased(late);
    try {
      const timeoutMs = Math.max(1, Math.min(5000, Math.ceil(releaseBy - this.clock.now())));
      const lease = await api.request<Lease>('GET', this.path(), { timeoutMs });
      if ((lease.spec?.holderIdentity ?? '') !== identity) return;
      const lateForPut = tooLate();
      if (lateForPut !== undefined) return notReleased(lateForPut);
      await api.request<Lease>('PUT', this.path(), {
        // Checked again when the request has its socket, just before its bytes go out.
        beforeSend: () => {
          const why = tooLate();
          if (why !== undefined) throw new FencedError('LeaseExpiring', `Lease release not sent: ${why}`);
        },
        body: {
          ...lease,
          spec: {
            ...lease.spec,
            holderIdentity: null,
            leaseDurationSeconds: 1,
            renewTime: microTime(this.wallClock()),
          },
        },
        timeoutMs: 5000,
      });
      this.options.logger.info('leader election: released the Lease', { lease: this.leaseName() });
    } catch (err) {
      this.options.logger.warn(
        'leader election: could not release the Lease; the standby takes over after it expires',
        {
          error: err instanceof Error ? err.message : String(err),
        },
      );
    }
  }
}
