// The health of one NATS connection as the backlog readers see it, so one dead server does not
// slow every EventConsumer: while the connection is known down, reads fail at once with the last
// error (they still count toward fallback) instead of each waiting out its timeout on a shared
// worker. A check (a PING round trip, or a connect attempt when there is no connection) runs in
// the background, at most one at a time, at exponentially growing intervals; the first that
// succeeds closes the breaker. Pure state: the clock and randomness are injected.
import { backoffDelayMs, type BackoffOptions } from '../kube/backoff.js';
import type { BacklogError } from './backlog-error.js';

export type BreakerDecision =
  /** The connection is believed healthy: send the request. */
  | 'send'
  /** Known down and no check is due: fail at once. */
  | 'reject'
  /** Known down and a check is due: start it (in the background) and fail at once. */
  | 'check';

export const DEFAULT_BREAKER_BACKOFF: BackoffOptions = { baseMs: 500, maxMs: 15_000, jitter: 0.2 };

export class CircuitBreaker {
  private failures = 0;
  private nextCheckAt = 0;
  private checking = false;
  private downSince: number | undefined;
  private error: BacklogError | undefined;

  constructor(
    private readonly options: {
      now: () => number;
      backoff?: BackoffOptions;
      random?: () => number;
    },
  ) {}

  isOpen(): boolean {
    return this.downSince !== undefined;
  }

  /** The error that opened the breaker, while it is open. */
  lastError(): BacklogError | undefined {
    return this.error;
  }

  /** Milliseconds since the connection was found down, while it is open. */
  downForMs(): number {
    return this.downSince === undefined ? 0 : this.options.now() - this.downSince;
  }

  /** Milliseconds until the next check may start (0 when due or closed). */
  nextCheckInMs(): number {
    return this.isOpen() ? Math.max(0, this.nextCheckAt - this.options.now()) : 0;
  }

  /** What a reader should do now. A 'check' answer marks the check as started. */
  admit(): BreakerDecision {
    if (!this.isOpen()) return 'send';
    if (this.checking || this.options.now() < this.nextCheckAt) return 'reject';
    this.checking = true;
    return 'check';
  }

  /** The connection answered: close the breaker. */
  succeeded(): void {
    this.failures = 0;
    this.checking = false;
    this.downSince = undefined;
    this.error = undefined;
    this.nextCheckAt = 0;
  }

  /** The connection is down (a check failed, or it was found dead): open or stay open, back off. */
  failed(error: BacklogError): void {
    this.failures++;
    this.checking = false;
    const now = this.options.now();
    this.downSince ??= now;
    this.error = error;
    const delay = backoffDelayMs(
      this.failures,
      this.options.backoff ?? DEFAULT_BREAKER_BACKOFF,
      this.options.random ?? Math.random,
    );
    this.nextCheckAt = now + delay;
  }
}
