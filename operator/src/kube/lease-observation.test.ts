// Specifies what leader election decides from what it read of the Lease: a candidate waits a full
// lease duration from when it *received* an unchanged record (monotonic ms, no wall clock), edits
// by hand are no shortcut, a same-identity record left by an earlier process is waited out, the
// previous holder is fenced before a takeover (not after a release), a missing Lease is waited on
// from when it was found missing, and a renewal counts only when answered within the renew
// deadline of its send. The requests themselves are in leader-election.int.test.ts.
import {
  ABSENT,
  claimedLeaseSpec,
  leaseVerdict,
  missingLease,
  nextAttemptInMs,
  observeLease,
  releaseTooLate,
  renewalInTime,
  type LeaseObservation,
  type LeaseRecord,
  type LeaseVerdict,
} from './lease-observation.js';

const OWN_LEASE_S = 15;

const record = (resourceVersion: string, holder: string, leaseDurationSeconds?: number): LeaseRecord => ({
  resourceVersion,
  holder,
  leaseDurationSeconds,
});

/** A candidate ('b' unless told) reads `rec` at `at`; returns the observation kept and the verdict. */
function candidateReads(
  previous: LeaseObservation | undefined,
  rec: LeaseRecord,
  at: number,
  identity = 'b',
): { observed: LeaseObservation; verdict: LeaseVerdict } {
  const observed = observeLease(previous, rec, at, OWN_LEASE_S);
  return { observed, verdict: leaseVerdict(observed, rec.holder, identity, at, false) };
}

/**
 * A candidate polling every `pollMs` from 0 to `untilMs` while `recordAt(t)` is what the API server
 * holds at t: the times it decided to write (with the verdict).
 */
function poll(
  recordAt: (t: number) => LeaseRecord,
  untilMs: number,
  pollMs = 2000,
  identity = 'b',
): { at: number; verdict: LeaseVerdict }[] {
  let observed: LeaseObservation | undefined;
  const writes: { at: number; verdict: LeaseVerdict }[] = [];
  for (let t = 0; t <= untilMs; t += pollMs) {
    const read = candidateReads(observed, recordAt(t), t, identity);
    observed = read.observed;
    if (read.verdict.kind !== 'wait') writes.push({ at: t, verdict: read.verdict });
  }
  return writes;
}

describe('a candidate reading a held Lease', () => {
  it('waits a full lease duration after the holder stops renewing, measured from when it received the last record', () => {
    // 'other' renews every 2 s until 20 s (resourceVersion 1..11), then dies.
    const rv = (t: number): string => String(Math.min(Math.floor(t / 2000), 10) + 1);
    const writes = poll((t) => record(rv(t), 'other', 15), 60_000);
    // The last renewal is first received at 20 s: not before 35 s, at the first read from then.
    expect(writes[0]).toEqual({ at: 36_000, verdict: { kind: 'write', takingOver: true, fence: 'other' } });
  });

  it('measures expiry from the receipt of each new record, so a renewal seen late (a paused standby, a slow read) restarts the wait', () => {
    let observed = candidateReads(undefined, record('1', 'other', 15), 0).observed;
    // Paused for 30 s: on waking, it reads a record renewed meanwhile. Its wait starts now.
    const woke = candidateReads(observed, record('7', 'other', 15), 30_000);
    expect(woke.verdict).toEqual({ kind: 'wait' });
    observed = woke.observed;
    expect(candidateReads(observed, record('7', 'other', 15), 44_999).verdict).toEqual({ kind: 'wait' });
    expect(candidateReads(observed, record('7', 'other', 15), 45_000).verdict.kind).toBe('write');
  });

  it('decides on monotonic receipt times only (no wall clock is an input): the same reads shifted by an hour decide at the same offsets', () => {
    // The record carries no renewTime here at all: a clock jump on either side cannot move the
    // decision. The same sequence read later on the monotonic clock decides at the same offsets.
    const holderRenewsEvery5s = (t: number): LeaseRecord => record(String(Math.floor(t / 5000)), 'a', 15);
    const early = poll(holderRenewsEvery5s, 120_000);
    expect(early).toEqual([]);
    const shifted = (offset: number): { at: number; verdict: LeaseVerdict }[] => {
      let observed: LeaseObservation | undefined;
      const out: { at: number; verdict: LeaseVerdict }[] = [];
      for (let t = 0; t <= 40_000; t += 2000) {
        const rec = t <= 10_000 ? record(String(Math.floor(t / 5000)), 'a', 15) : record('2', 'a', 15);
        const read = candidateReads(observed, rec, offset + t);
        observed = read.observed;
        if (read.verdict.kind !== 'wait') out.push({ at: t, verdict: read.verdict });
      }
      return out;
    };
    expect(shifted(3_600_000)).toEqual(shifted(0));
    expect(shifted(0)[0]?.at).toBe(26_000);
  });

  it('a Lease edited by hand to a 1 s duration or a cleared holder does not let it in before its own lease duration', () => {
    for (const edited of [record('2', 'other', 1), record('2', '', 15)]) {
      const seen = candidateReads(undefined, record('1', 'other', 15), 0).observed;
      const afterEdit = candidateReads(seen, edited, 1000);
      expect({ edited, verdict: afterEdit.verdict }).toEqual({ edited, verdict: { kind: 'wait' } });
      expect(afterEdit.observed.released).toBe(false);
      expect(afterEdit.observed.heldForMs).toBe(OWN_LEASE_S * 1000);
      expect(candidateReads(afterEdit.observed, edited, 15_999).verdict).toEqual({ kind: 'wait' });
      expect(candidateReads(afterEdit.observed, edited, 16_000).verdict.kind).toBe('write');
    }
    // A holder configured with a longer lease is waited out for its own duration.
    const longer = candidateReads(undefined, record('1', 'other', 40), 0).observed;
    expect(candidateReads(longer, record('1', 'other', 40), 39_999).verdict).toEqual({ kind: 'wait' });
    expect(candidateReads(longer, record('1', 'other', 40), 40_000).verdict.kind).toBe('write');
  });

  it('a release (no holder, a 1 s lease) is free at once, with nobody to fence', () => {
    for (const released of [record('2', '', 1), record('2', '', 0)])
      expect(candidateReads(undefined, released, 0).verdict).toEqual({
        kind: 'write',
        takingOver: true,
        fence: undefined,
      });
  });

  it('a holder cleared by hand together with its duration is no release: waited out for its own lease duration', () => {
    const seen = candidateReads(undefined, record('1', 'other', 15), 0).observed;
    const cleared = candidateReads(seen, record('2', '', undefined), 1000);
    expect(cleared.verdict).toEqual({ kind: 'wait' });
    expect(cleared.observed.released).toBe(false);
    expect(candidateReads(cleared.observed, record('2', '', undefined), 15_999).verdict).toEqual({
      kind: 'wait',
    });
    expect(candidateReads(cleared.observed, record('2', '', undefined), 16_000).verdict.kind).toBe('write');
    // Read first with no holder and no duration (no record seen before): waited out as well.
    expect(candidateReads(undefined, record('2', '', undefined), 0).verdict).toEqual({ kind: 'wait' });
  });

  it('a record naming this identity (an earlier process with the same pod name) is waited out, then renewed without a fence or a transition', () => {
    const seen = candidateReads(undefined, record('5', 'a', 15), 0, 'a');
    expect(seen.verdict).toEqual({ kind: 'wait' });
    expect(candidateReads(seen.observed, record('5', 'a', 15), 14_999, 'a').verdict).toEqual({
      kind: 'wait',
    });
    expect(candidateReads(seen.observed, record('5', 'a', 15), 15_000, 'a').verdict).toEqual({
      kind: 'write',
      takingOver: false,
      fence: 'a',
    });
  });

  it('fences the holder named in a record that ran out before taking it over; after losing the race to its renewal, waits a lease duration again and fences again', () => {
    const first = candidateReads(undefined, record('1', 'other', 15), 0).observed;
    const due = candidateReads(first, record('1', 'other', 15), 16_000);
    expect(due.verdict).toEqual({ kind: 'write', takingOver: true, fence: 'other' });
    // Its compare-and-swap lost (409): the holder renewed meanwhile. The next read sees the renewal.
    const renewed = candidateReads(due.observed, record('2', 'other', 15), 18_000);
    expect(renewed.verdict).toEqual({ kind: 'wait' });
    expect(candidateReads(renewed.observed, record('2', 'other', 15), 32_000).verdict).toEqual({
      kind: 'wait',
    });
    expect(candidateReads(renewed.observed, record('2', 'other', 15), 33_000).verdict).toEqual({
      kind: 'write',
      takingOver: true,
      fence: 'other',
    });
  });
});

describe('a leader reading its Lease (after a renewal found it changed: 409)', () => {
  const observed = observeLease(undefined, record('3', 'a', 15), 0, OWN_LEASE_S);
  it('keeps it while it names the leader (touched by someone else: a label, an annotation), without a fence', () => {
    expect(leaseVerdict(observed, 'a', 'a', 0, true)).toEqual({
      kind: 'write',
      takingOver: false,
      fence: undefined,
    });
  });
  it('steps down when another holder, or nobody, is named', () => {
    expect(leaseVerdict(observed, 'intruder', 'a', 0, true)).toEqual({
      kind: 'step-down',
      reason: 'the Lease is now held by intruder',
    });
    expect(leaseVerdict(observed, '', 'a', 0, true)).toEqual({
      kind: 'step-down',
      reason: 'the Lease is now held by nobody',
    });
  });
});

describe('a candidate finding the Lease missing', () => {
  const held = observeLease(undefined, record('4', 'other', 15), 0, OWN_LEASE_S);

  it('deleted after it saw it held: waits a lease duration from the first read that found it missing, then fences', () => {
    const found = missingLease(held, 4000, OWN_LEASE_S, false);
    expect(found.free).toBe(false);
    expect(found.observed).toEqual({ ...held, resourceVersion: ABSENT, at: 4000 });
    const observed = found.observed;
    expect(missingLease(observed, 18_999, OWN_LEASE_S, false)).toEqual({ free: false, observed });
    expect(missingLease(observed, 19_000, OWN_LEASE_S, false)).toEqual({ free: 'waited', observed });
  });

  it('never seen: waits a lease duration when a leader is registered (or the registry cannot be read), and is free at once on a first install', () => {
    const registered = missingLease(undefined, 1000, OWN_LEASE_S, true);
    expect(registered).toEqual({
      free: false,
      observed: { resourceVersion: ABSENT, holder: '', at: 1000, heldForMs: 15_000, released: false },
    });
    const observed = registered.observed;
    expect(missingLease(observed, 15_999, OWN_LEASE_S, true).free).toBe(false);
    expect(missingLease(observed, 16_000, OWN_LEASE_S, true).free).toBe('waited');
    expect(missingLease(undefined, 1000, OWN_LEASE_S, false)).toEqual({ free: 'free', observed: undefined });
  });

  it('after a release: free at once', () => {
    const released = observeLease(undefined, record('9', '', 1), 0, OWN_LEASE_S);
    expect(missingLease(released, 100, OWN_LEASE_S, true)).toEqual({ free: 'free', observed: released });
  });

  it('found again after it went missing: waited on as the new record it is', () => {
    const missing = missingLease(held, 4000, OWN_LEASE_S, false).observed;
    const recreated = candidateReads(missing, record('12', 'other', 15), 6000);
    expect(recreated.verdict).toEqual({ kind: 'wait' });
    expect(recreated.observed.at).toBe(6000);
  });
});

describe('renewals', () => {
  it('a renewal counts only when answered less than the renew deadline after it was sent (a slow answer does not extend a term)', () => {
    expect(renewalInTime(2000, 11_999, 10_000)).toBe(true);
    expect(renewalInTime(2000, 12_000, 10_000)).toBe(false);
    expect(renewalInTime(2000, 13_000, 10_000)).toBe(false);
  });

  it("a leader's next renewal is due a retry period after the last one was sent, however long it took; a candidate waits a full period", () => {
    // Sent at 10 s, answered 3.4 s later: the next goes out at 12 s, not 15.4 s.
    expect(nextAttemptInMs(true, 10_000, 13_400, 2000)).toBe(0);
    expect(nextAttemptInMs(true, 10_000, 11_000, 2000)).toBe(1000);
    expect(nextAttemptInMs(false, 10_000, 13_400, 2000)).toBe(2000);
  });

  it('a takeover counts a transition and sets acquireTime; a renewal keeps them', () => {
    const spec = {
      holderIdentity: 'other',
      leaseDurationSeconds: 40,
      acquireTime: 'then',
      leaseTransitions: 2,
    };
    expect(claimedLeaseSpec(spec, 'other', 'b', 15, 'now')).toEqual({
      holderIdentity: 'b',
      leaseDurationSeconds: 15,
      acquireTime: 'now',
      renewTime: 'now',
      leaseTransitions: 3,
    });
    expect(claimedLeaseSpec({ ...spec, holderIdentity: 'b' }, 'b', 'b', 15, 'now')).toEqual({
      holderIdentity: 'b',
      leaseDurationSeconds: 15,
      acquireTime: 'then',
      renewTime: 'now',
      leaseTransitions: 2,
    });
    // From nobody (a release, a cleared holder): no transition counted.
    expect(claimedLeaseSpec({ ...spec, holderIdentity: null }, '', 'b', 15, 'now').leaseTransitions).toBe(2);
  });
});

describe('release on shutdown', () => {
  it('is sent only before the ended term’s writableUntil: after it (a pause that woke to SIGTERM) a successor may hold the Lease', () => {
    expect(releaseTooLate(9_999, 10_000)).toBeUndefined();
    expect(releaseTooLate(10_000, 10_000)).toMatch(/passed 0 ms ago/);
    expect(releaseTooLate(50_000, 10_000)).toMatch(/passed 40000 ms ago/);
  });
});
