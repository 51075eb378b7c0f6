// When the operator leaves an advisory subscription for its volume, and for how long. It subscribes
// to two kinds of nats-server advisories on each connection it reads on: the max-deliveries ones
// (drop-advisories.ts) and the stream edits (stream-updates.ts). Both come at whatever rate the
// account makes them — a poison stream whose handlers fail fast, or anyone allowed to publish under
// the subject — and each message is a nats.js message and a callback on the operator's one event
// loop. So above `maxPerSecond` in a second on a subscription the watcher leaves it, and subscribes
// again after a pause, doubled at each storm in a row. One rule, one set of limits, for both.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { halfJitterDelayMs } from '../kube/backoff.js';

/** When a watcher leaves its advisories, and for how long. Tests lower them. */
export const ADVISORY_LIMITS = {
  /** Advisories in one second on a subscription above which the watcher leaves it. */
  maxPerSecond: 1000,
  /** The first pause before subscribing again; doubled at each storm in a row, up to maxPauseMs. */
  pauseMs: 30_000,
  maxPauseMs: 600_000,
};

/**
 * The pause before subscribing again after the `storms`-th storm in a row (1, 2 ...): pauseMs
 * doubled, up to maxPauseMs, then a random ½–1 of it, so operators cut off by one storm do not
 * come back at once. Pure.
 */
export function advisoryPauseMs(
  storms: number,
  limits: { pauseMs: number; maxPauseMs: number } = ADVISORY_LIMITS,
  random: () => number = Math.random,
): number {
  return halfJitterDelayMs(storms, { baseMs: limits.pauseMs, maxMs: limits.maxPauseMs }, random);
}

/** Counts one watcher's advisories a second, and its storms in a row. The clock is passed in. */
export class AdvisoryStorms {
  /** Advisories in the current second (from `since`). */
  private window = { since: Number.NEGATIVE_INFINITY, advisories: 0 };
  /** Storms in a row (reset when a subscription lasts maxPauseMs without one). */
  private storms = 0;
  private subscribedAt = 0;
  private resubscribe: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** A new subscription was made: its advisories are counted from now. */
  subscribed(): void {
    this.window = { since: Number.NEGATIVE_INFINITY, advisories: 0 };
    this.subscribedAt = this.now();
  }

  /** One advisory arrived: whether it is over maxPerSecond in its second (time to leave). */
  tooMany(): boolean {
    const now = this.now();
    if (now - this.window.since >= 1000) this.window = { since: now, advisories: 0 };
    return ++this.window.advisories > ADVISORY_LIMITS.maxPerSecond;
  }

  /**
   * The subscription is left for a storm: the pause before the next one. A subscription that lasted
   * the longest pause without a storm starts the doubling again.
   */
  left(): number {
    if (this.now() - this.subscribedAt > ADVISORY_LIMITS.maxPauseMs) this.storms = 0;
    this.storms++;
    return advisoryPauseMs(this.storms);
  }

  /**
   * Leaves `subscription` for a storm (the server stops sending once it reads the UNSUB; what was on
   * its way is the caller's to ignore) and calls `resume` after the pause, unless `nc` closed
   * meanwhile. Returns the pause.
   */
  leave(subscription: Subscription, nc: NatsConnection, resume: () => void): number {
    const pause = this.left();
    try {
      subscription.unsubscribe();
    } catch {
      // closed meanwhile: nothing to leave
    }
    this.resubscribe = setTimeout(() => {
      this.resubscribe = undefined;
      if (!nc.isClosed()) resume();
    }, pause);
    this.resubscribe.unref?.();
    return pause;
  }

  /** No resubscription after all (the connection's status stream ended). */
  stop(): void {
    if (this.resubscribe !== undefined) clearTimeout(this.resubscribe);
    this.resubscribe = undefined;
  }
}

/** "1,000": the limit as the watchers' messages say it. */
export function advisoryLimitText(): string {
  return ADVISORY_LIMITS.maxPerSecond.toLocaleString('en-US');
}
