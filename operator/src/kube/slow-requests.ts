// A cap on slow API requests about scale targets: the Kubernetes side's analogue of the NATS
// pool's maxSlowReads (backlog/connection-pool.ts).
//
// A scale target's requests can hang while the API server answers everything else: a custom
// resource whose CustomResourceDefinition converts with a webhook that accepts connections and
// never answers (its Pod wedged), an aggregated API that does not answer. Each read of such a target
// waits out the API server's webhook timeout or the operator's own (30 s), holding a reconcile
// worker and a socket; one tenant's EventConsumers on such targets (as many as the workers) held
// every worker, and every other tenant's reconciles queued behind them (leader-election.int, hung
// targets: a healthy EventConsumer in another namespace waited for a worker for as long as the
// hung requests did).
//
// So slow requests are limited across the operator, `maxSlow` of them (half the workers):
// requests that have waited `slowAfterMs` (2 s: twice the API server's own objective for a call
// on one object, 1 s at the 99th percentile), and requests about a target whose last request was
// slow, from their start. Past that:
// - a request about a target not known slow is let go when its 2 s are up: it is aborted (its
//   socket freed) and the caller gets a SlowRequestError at once; the target is known slow;
// - a request about a target known slow is not sent at all (SlowRequestError at once), except once
//   per `probeAfterMs` (10 s), as a request not known slow (let go after its 2 s if still no slot is
//   free): so a target that answers again is found out even while others keep the slots.
// A request that holds a slot waits for its answer as long as its own timeout allows. A target
// whose request was answered within `slowAfterMs` is not slow any more. Healthy requests take
// milliseconds and never meet the cap, so it only limits targets that do not answer, and holds
// however many namespaces or targets one tenant spreads them over.
//
// A write let go has an unknown outcome: the API server may still apply it. The /scale PATCH
// carries the resourceVersion it was based on, so it can land at most once and only on the object
// as read; the reconciler forgets its reading after any failed write and reads the target again
// before the next (reconciler.ts).
import { monotonicNow } from '../clock.js';

export interface SlowRequestsOptions {
  /** How many slow requests may be waited for at once (half the reconcile workers). */
  maxSlow: number;
  /** A request unanswered this long is slow (2 s by default). */
  slowAfterMs?: number;
  /** A target known slow is asked again at most this often while no slot is free (10 s by default). */
  probeAfterMs?: number;
  /** The monotonic clock (performance.now by default). */
  now?: () => number;
}

/**
 * A request about a scale target that was not waited for: not sent (its target's last request was
 * slow and every slot for slow requests is taken), or let go after `waitedMs` (aborted: a write's
 * outcome is unknown).
 */
export class SlowRequestError extends Error {
  constructor(
    readonly sent: boolean,
    readonly waitedMs: number,
    /** How many slow requests were being waited for (the cap). */
    readonly slowInFlight: number,
    message: string,
  ) {
    super(message);
    this.name = 'SlowRequestError';
  }
}

export function isSlowRequest(err: unknown): err is SlowRequestError {
  return err instanceof SlowRequestError;
}

export class SlowRequests {
  private slotsTaken = 0;
  /** Targets whose last request was slow, and when one was last sent without a slot. */
  private readonly slow = new Map<string, { probedAt: number }>();
  private readonly now: () => number;

  constructor(private readonly options: SlowRequestsOptions) {
    this.now = options.now ?? monotonicNow;
  }

  /** How long a request goes unanswered before it is slow. */
  slowAfterMs(): number {
    return this.options.slowAfterMs ?? 2000;
  }

  /** Targets whose last request was slow (for tests and metrics). */
  slowTargets(): number {
    return this.slow.size;
  }

  /**
   * Sends one request about `target` (`send` must abort it, rejecting with the signal's reason,
   * when the signal aborts), waiting for its answer only within the cap (see the header).
   */
  async run<T>(target: string, send: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const slowAfterMs = this.options.slowAfterMs ?? 2000;
    const probeAfterMs = this.options.probeAfterMs ?? 10_000;
    const started = this.now();
    const known = this.slow.get(target);
    let holdsSlot = false;
    if (known !== undefined) {
      if (this.slotsTaken < this.options.maxSlow) {
        holdsSlot = true;
        this.slotsTaken++;
      } else if (started - known.probedAt < probeAfterMs) {
        throw new SlowRequestError(
          false,
          0,
          this.slotsTaken,
          `not sent: its last request was not answered within ${slowAfterMs} ms, and ${this.slotsTaken} slow requests about scale targets are already waited for`,
        );
      } else {
        known.probedAt = started;
      }
    }
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    if (!holdsSlot) {
      timer = setTimeout(() => {
        if (this.slotsTaken < this.options.maxSlow) {
          holdsSlot = true;
          this.slotsTaken++;
          return;
        }
        this.slow.set(target, { probedAt: this.now() });
        const waitedMs = Math.round(this.now() - started);
        controller.abort(
          new SlowRequestError(
            true,
            waitedMs,
            this.slotsTaken,
            `let go unanswered after ${waitedMs} ms, with ${this.slotsTaken} slow requests about scale targets already waited for`,
          ),
        );
      }, slowAfterMs);
      timer.unref();
    }
    let answeredInTime = false;
    try {
      const answer = await send(controller.signal);
      answeredInTime = this.now() - started < slowAfterMs;
      return answer;
    } catch (err) {
      // An answer, even a refusal, that came in time: the target answers.
      answeredInTime = !controller.signal.aborted && this.now() - started < slowAfterMs;
      throw err;
    } finally {
      clearTimeout(timer);
      if (holdsSlot) this.slotsTaken--;
      if (answeredInTime) this.slow.delete(target);
      else if (!this.slow.has(target)) this.slow.set(target, { probedAt: this.now() });
      if (this.slow.size > 10_000) this.slow.delete(this.slow.keys().next().value as string);
    }
  }
}
