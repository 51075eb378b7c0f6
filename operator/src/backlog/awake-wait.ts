// Waiting for an answer for a time in which this process could have seen it. A timer measures wall
// time, and an operator whose event loop is held (a long synchronous task, a CPU starved under
// load) has its timers fire late: the timer that says "no answer within 2 s" then runs before the
// answer, sitting unread in the socket all along, is read (Node runs due timers before it polls for
// I/O). The pool's PING check took such a miss for a silent server and dropped a connection shared
// by every tenant on it (the operator fuzz at 300 objects, load ~25: 27 forced reconnects, each
// owner reading NatsUnreachable). Here only time the event loop was free counts: the wait ticks, a
// tick counts for at most what it asked for, and what it was late by is the loop's delay (reported,
// not counted). Once the time is used up, I/O that came in meanwhile is read before the verdict.

/** How a wait ended: with the promise's value, or not within the time; and the loop's delay meanwhile. */
export type AwakeWait<T> =
  { settled: true; value: T; eventLoopDelayMs: number } | { settled: false; eventLoopDelayMs: number };

/**
 * Waits for `promise` up to `ms` of time the event loop was free (see the header), ticking every
 * `tickMs`. `promise` must not reject (map a rejection to a value first). The timers do not keep
 * the process alive.
 */
export function settledWithinAwake<T>(
  promise: Promise<T>,
  ms: number,
  tickMs = Math.min(100, Math.max(10, ms / 10)),
): Promise<AwakeWait<T>> {
  return new Promise((resolve) => {
    let done = false;
    let awakeMs = 0;
    let eventLoopDelayMs = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = (result: AwakeWait<T>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(result);
    };
    void promise.then((value) => finish({ settled: true, value, eventLoopDelayMs }));
    const schedule = (): void => {
      const asked = Math.max(1, Math.min(tickMs, ms - awakeMs));
      const since = performance.now();
      timer = setTimeout(() => {
        const elapsed = performance.now() - since;
        awakeMs += Math.min(elapsed, asked);
        eventLoopDelayMs += Math.max(0, elapsed - asked);
        if (done) return;
        if (awakeMs < ms) return schedule();
        // Due timers run before the loop polls for I/O: let an answer that came while the loop was
        // held be read before saying there was none.
        setImmediate(() => finish({ settled: false, eventLoopDelayMs }));
      }, asked);
      timer.unref();
    };
    schedule();
  });
}
