// Specifies the write fence's decisions without I/O: a write goes out only while the term is open
// and before its writableUntil on the monotonic clock; each write carries an API server deadline
// that ends by writableUntil plus the grace, counted when it is sent; a write handed off too long
// after its check is cut off. That FencedKubeApi applies them at the moment of sending (not when
// the reconcile made the request), binds every request to the term, and counts writes in flight
// is specified on the real API server in operator/test/fenced-api.int.test.ts.
import { getMaxListeners } from 'node:events';
import { FencedError } from './api-client.js';
import { fenceRefusal, permanentTerm, sentLate, termController, writeServerTimeoutMs } from './fenced-api.js';

describe('fenceRefusal: whether a write may go out now', () => {
  it('lets a write out before writableUntil and refuses it at and after it (LeaseExpiring), saying by how much', () => {
    const open = { aborted: false, writableUntil: 5000 };
    expect(fenceRefusal(open, 1000, 'PATCH /scale')).toBeUndefined();
    expect(fenceRefusal(open, 4999.5, 'PATCH /scale')).toBeUndefined();
    const atDeadline = fenceRefusal(open, 5000, 'PATCH /scale');
    expect(atDeadline?.reason).toBe('LeaseExpiring');
    const past = fenceRefusal(open, 30_000, 'POST /events');
    expect(past).toBeInstanceOf(FencedError);
    expect(past?.reason).toBe('LeaseExpiring');
    expect(past?.message).toBe(
      'POST /events not sent: the Lease was last renewed too long ago to write safely (25000 ms past the renew deadline)',
    );
  });

  it('refuses everything once the term ended, with the reason the term ended for', () => {
    const reason = new FencedError('TermEnded', 'leadership ended: renew deadline passed');
    // Whatever the clock says: an ended term is ended.
    expect(fenceRefusal({ aborted: true, reason, writableUntil: Infinity }, 0, 'PATCH /status')).toBe(reason);
    const other = fenceRefusal({ aborted: true, reason: 'x', writableUntil: Infinity }, 0, 'PATCH /status');
    expect(other?.reason).toBe('TermEnded');
    expect(other?.message).toBe('PATCH /status not sent: the leadership term ended');
  });

  it('a permanent term (no leader election) is writable at any time until it is ended', () => {
    const term = permanentTerm();
    expect(
      fenceRefusal({ aborted: false, writableUntil: term.writableUntil() }, Number.MAX_SAFE_INTEGER, 'PATCH'),
    ).toBeUndefined();
    term.end('shutting down');
    const refusal = fenceRefusal(
      { aborted: term.signal.aborted, reason: term.signal.reason, writableUntil: term.writableUntil() },
      0,
      'PATCH /scale',
    );
    expect(refusal?.message).toBe('stopped working: shutting down');
  });
});

describe('writeServerTimeoutMs: an API server deadline on every write', () => {
  it('ends each write by writableUntil plus the grace, counted from when it is sent', () => {
    // Sent at 1000 with the term writable until 9000 and a 4500 ms grace.
    expect(writeServerTimeoutMs(9000, 1000, 4500, undefined)).toBe(12_500);
    // Made at 1000, sent at 7000 (a wait for a socket): only what is left then counts.
    expect(writeServerTimeoutMs(9000, 7000, 4500, undefined)).toBe(6500);
  });

  it("keeps the caller's own deadline when shorter, and only ours when the caller's is longer", () => {
    expect(writeServerTimeoutMs(9000, 2000, 4500, 1000)).toBe(1000);
    expect(writeServerTimeoutMs(9000, 2000, 4500, 60_000)).toBe(11_500);
  });

  it("none for a permanent term or without a grace (the caller's alone)", () => {
    expect(writeServerTimeoutMs(Number.POSITIVE_INFINITY, 2000, 4500, undefined)).toBeUndefined();
    expect(writeServerTimeoutMs(9000, 2000, undefined, undefined)).toBeUndefined();
    expect(writeServerTimeoutMs(9000, 2000, undefined, 700)).toBe(700);
  });
});

describe('sentLate: a write frozen between its fence check and its send', () => {
  // The API server deadline is counted from the fence check but runs from the API server's
  // receipt: a process frozen between the two (SIGSTOP, a GC pause) hands off a write whose
  // deadline ends past the earliest takeover. ha-drills' SIGSTOP case caught an Event so (checked
  // ~4.8 s before the renew deadline, received after the standby took over, 201).
  it('is late only past sendWithinMs, and never without it', () => {
    expect(sentLate(500, 500, 'POST /events')).toBeUndefined();
    const late = sentLate(501, 500, 'PATCH /scale');
    expect(late?.reason).toBe('SentLate');
    expect(late?.message).toContain('PATCH /scale: 501 ms from the fence check to the send (at most 500 ms');
    expect(sentLate(10_000, undefined, 'PATCH /scale')).toBeUndefined();
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
