// What leader election decides from what it read of the Lease, with no I/O and no wall clock: the
// record as a candidate last observed it (and when it received it, on the monotonic clock), what a
// read of the Lease — or of its absence — means (wait, take it, fence its holder first, step
// down), when a renewal's answer still counts, and when a release may still be sent.
// leader-election.ts does the requests and keeps the state; every choice it makes is one of these
// functions. See leader-election.ts for why these rules make a term safe.

/** `LeaseObservation.resourceVersion` of a Lease found missing (never a real resourceVersion). */
export const ABSENT = '(missing)';

/**
 * The Lease record as last seen, when it was received (monotonic ms), how long a candidate waits
 * for it to stay unchanged (heldForMs), and whether it is a release (free at once). A Lease found
 * missing after a record that was not a release is recorded as ABSENT from the first read that
 * found it missing.
 */
export interface LeaseObservation {
  resourceVersion: string;
  holder: string;
  at: number;
  heldForMs: number;
  released: boolean;
}

/** The parts of a Lease read from the API server that the decisions use. */
export interface LeaseRecord {
  resourceVersion: string;
  /** spec.holderIdentity; '' for none (null, missing or empty). */
  holder: string;
  /** spec.leaseDurationSeconds, when set. */
  leaseDurationSeconds: number | undefined;
}

/**
 * The observation after reading `record` at `received`: the previous one while the record is
 * unchanged (same resourceVersion: the wait runs from its first receipt), else a new one.
 * renewTime and acquireTime are not inputs: they are other processes' wall clocks.
 */
export function observeLease(
  previous: LeaseObservation | undefined,
  record: LeaseRecord,
  received: number,
  ownLeaseDurationSeconds: number,
): LeaseObservation {
  if (previous && previous.resourceVersion === record.resourceVersion) return previous;
  return {
    resourceVersion: record.resourceVersion,
    holder: record.holder,
    at: received,
    // The record's own duration, but never less than ours: a record edited by hand to a short
    // one (or a holder configured shorter) must not let us in while the holder's term runs.
    heldForMs: Math.max(record.leaseDurationSeconds ?? 0, ownLeaseDurationSeconds) * 1000,
    // A release as the leader writes it (and client-go's ReleaseOnCancel): no holder and a
    // 1 s lease. A holder cleared by hand (a longer duration kept) is not one: the holder it
    // named may still be in its term, and is waited out like any.
    // A duration cleared too (no leaseDurationSeconds) is an edit, not a release: waited out.
    released:
      record.holder === '' && record.leaseDurationSeconds !== undefined && record.leaseDurationSeconds <= 1,
  };
}

/**
 * What to do with a Lease just read (its holder `holder`, `observed` already updated by
 * observeLease, received at `received`):
 * - a leader keeps it (`write`: renew) while it names it, and steps down otherwise;
 * - a candidate waits until the record has stayed unchanged for heldForMs since it first received
 *   it — even a record that names this identity, left by an earlier process with the same pod
 *   name whose last requests may still be on their way — unless it is a release; then it writes,
 *   fencing the previous holder first unless the Lease was released or names nobody.
 * A write is a compare-and-swap on the record read, so a holder that renewed meanwhile wins (409).
 */
export type LeaseVerdict =
  | { kind: 'wait' }
  | { kind: 'step-down'; reason: string }
  | {
      kind: 'write';
      /** The record names another holder (or none): this write takes it. */
      takingOver: boolean;
      /** The holder whose writes to fence before the compare-and-swap, when there is one. */
      fence: string | undefined;
    };

export function leaseVerdict(
  observed: LeaseObservation,
  holder: string,
  identity: string,
  received: number,
  leading: boolean,
): LeaseVerdict {
  if (leading) {
    if (holder !== identity)
      return { kind: 'step-down', reason: `the Lease is now held by ${holder === '' ? 'nobody' : holder}` };
    return { kind: 'write', takingOver: false, fence: undefined };
  }
  if (!observed.released && received - observed.at < observed.heldForMs) return { kind: 'wait' };
  return {
    kind: 'write',
    takingOver: holder !== identity,
    fence: holder !== '' && !observed.released ? holder : undefined,
  };
}

/**
 * A candidate found the Lease missing at `received`. `free`: 'free' when no holder can be writing
 * (a release was the last record, or none was ever seen and no leader is registered), 'waited'
 * once a lease duration has passed since it was first found missing (a holder may have written
 * until then: fence it before creating the Lease), false until then. `observed` is the
 * observation to keep: a Lease that was held when last read (deleted by hand, a namespace
 * recreated) — or never seen while a leader is registered — is waited on from this first read that
 * found it missing, as an unchanged record is.
 */
export function missingLease(
  seen: LeaseObservation | undefined,
  received: number,
  ownLeaseDurationSeconds: number,
  leaderRegistered: boolean,
): { free: false | 'free' | 'waited'; observed: LeaseObservation | undefined } {
  if (seen?.released) return { free: 'free', observed: seen };
  if (!seen) {
    if (!leaderRegistered) return { free: 'free', observed: undefined };
    return {
      free: false,
      observed: {
        resourceVersion: ABSENT,
        holder: '',
        at: received,
        heldForMs: ownLeaseDurationSeconds * 1000,
        released: false,
      },
    };
  }
  if (seen.resourceVersion !== ABSENT)
    return { free: false, observed: { ...seen, resourceVersion: ABSENT, at: received } };
  return { free: received - seen.at >= seen.heldForMs ? 'waited' : false, observed: seen };
}

/**
 * Whether a renewal (or acquisition) sent at `sentAt` and answered at `now` still grants a term:
 * only while less than the renew deadline has passed since it was sent. An answer later than that
 * (a slow network, a pause) granted a term that has already run out.
 */
export function renewalInTime(sentAt: number, now: number, renewDeadlineMs: number): boolean {
  return sentAt + renewDeadlineMs - now > 0;
}

/**
 * How long to wait before the next attempt: a leader's renewals are due a retry period after the
 * previous one was *sent*, however long it took (the renew deadline runs from the send); a
 * candidate waits a full period.
 */
export function nextAttemptInMs(leading: boolean, startedAt: number, now: number, retryMs: number): number {
  return leading ? Math.max(0, startedAt + retryMs - now) : retryMs;
}

/**
 * Why a release may no longer be sent at `now`, or undefined while it may: only before the ended
 * term's writableUntil (`releaseBy`), until which no standby can have taken the Lease over.
 */
export function releaseTooLate(now: number, releaseBy: number): string | undefined {
  const late = now - releaseBy;
  return late >= 0
    ? `the term's renew deadline passed ${Math.round(late)} ms ago (a pause, or a slow shutdown): another process may hold the Lease now; it expires on its own`
    : undefined;
}

/** A coordination.k8s.io/v1 Lease's spec. renewTime and acquireTime are MicroTime strings. */
export interface LeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number;
}

/**
 * The spec this process writes to hold the Lease read with `spec` (held by `holder`): its identity
 * and lease duration, renewed now (`wallNow`, informational only); a takeover also sets
 * acquireTime, and counts a transition when it takes the Lease from a named holder.
 */
export function claimedLeaseSpec(
  spec: LeaseSpec,
  holder: string,
  identity: string,
  leaseDurationSeconds: number,
  wallNow: string,
): LeaseSpec {
  const takingOver = holder !== identity;
  return {
    ...spec,
    holderIdentity: identity,
    leaseDurationSeconds,
    renewTime: wallNow,
    acquireTime: takingOver ? wallNow : (spec.acquireTime ?? wallNow),
    leaseTransitions: (spec.leaseTransitions ?? 0) + (takingOver && holder !== '' ? 1 : 0),
  };
}
