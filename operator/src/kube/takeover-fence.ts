// The takeover fence. A /scale write carries the resourceVersion of the reading it was based on as
// a precondition (scale-client.ts), which fences a late write only if the target changed since.
// A new leader that finds nothing to change does not change it: a write its predecessor sent late
// — that process frozen (SIGSTOP, a GC pause) between its fence check and its send, the write
// applied before the API server saw the connection it came on close (SentLate, fenced-api.ts) —
// would land under the new leader. So before a standby takes the Lease over from a holder whose
// lease ran out, it moves every known target's resourceVersion on (an annotation,
// ScaleClient.fenceTarget): each of those writes then fails with 409. No lease-based client can
// close this from the old leader's side (client-go's leaderelection: "does not guarantee that
// only one client is acting as a leader (a.k.a. fencing)"); the API server's compare-and-swap can.
import { ScaleTargetRefSchema } from '../api/v1alpha1/event-consumer.js';
import { monotonicNow } from '../clock.js';
import type { Logger } from '../observability/logger.js';
import type { ScaleClient, ScaleTargetRef } from './scale-client.js';

export interface FenceTarget {
  namespace: string;
  ref: ScaleTargetRef;
}

export interface FenceOutcome {
  targets: number;
  /** Annotated (their resourceVersion moved on). */
  fenced: number;
  /** Not found: nothing to fence. */
  missing: number;
  /** Refused or unanswered: logged; such a target keeps only the write deadline's protection. */
  failed: number;
  /**
   * Not answered when the fence's time ran out (not begun, or still waiting for the API server):
   * the takeover goes on without them, and they keep the write deadline's protection too.
   */
  unfinished: number;
  /** How long the fence took (ms), on the monotonic clock. */
  durationMs: number;
}

/**
 * Fences each target (at most `concurrency` at once) within `timeLimitMs`; never rejects. The time
 * limit bounds what the fence adds to a failover however many targets there are and however slow
 * the API server answers: whatever is not answered by then is counted `unfinished` and left.
 */
export async function fenceTargets(options: {
  scale: Pick<ScaleClient, 'fenceTarget'>;
  targets: FenceTarget[];
  /** Written into each target's annotation; must differ from the last one (who, when, a nonce). */
  token: string;
  logger: Logger;
  concurrency?: number;
  timeLimitMs?: number;
  /** The monotonic clock (ms); tests pass their own. */
  now?: () => number;
}): Promise<FenceOutcome> {
  const now = options.now ?? monotonicNow;
  const started = now();
  const limit = options.timeLimitMs ?? Number.POSITIVE_INFINITY;
  const unique = new Map<string, FenceTarget>();
  for (const t of options.targets)
    unique.set(`${t.namespace}/${t.ref.apiVersion}/${t.ref.kind}/${t.ref.name}`, t);
  const queue = [...unique.values()];
  const outcome: FenceOutcome = {
    targets: queue.length,
    fenced: 0,
    missing: 0,
    failed: 0,
    unfinished: 0,
    durationMs: 0,
  };
  let over = false;
  const worker = async (): Promise<void> => {
    for (let t = queue.shift(); t !== undefined && !over; t = queue.shift()) {
      if (now() - started >= limit) break;
      try {
        const stored = await options.scale.fenceTarget(t.namespace, t.ref, options.token);
        if (over) return; // answered after the fence's time ran out: counted unfinished
        if (stored === undefined) outcome.missing++;
        else outcome.fenced++;
      } catch (err) {
        if (over) return;
        outcome.failed++;
        options.logger.warn('could not fence a scale target before taking the Lease over', {
          namespace: t.namespace,
          target: `${t.ref.kind}/${t.ref.name}`,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    }
  };
  const workers = Math.max(1, Math.min(options.concurrency ?? 8, queue.length));
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<void>((resolve) => {
    if (Number.isFinite(limit)) timer = setTimeout(resolve, Math.max(0, limit - (now() - started)));
  });
  await Promise.race([Promise.all(Array.from({ length: workers }, worker)), timeUp]);
  over = true;
  clearTimeout(timer);
  outcome.unfinished = outcome.targets - outcome.fenced - outcome.missing - outcome.failed;
  outcome.durationMs = now() - started;
  if (outcome.unfinished > 0)
    options.logger.warn(
      'the fence ran out of time before every scale target was answered; taking the Lease over without them',
      {
        unfinished: outcome.unfinished,
        targets: outcome.targets,
        timeLimitMs: limit,
      },
    );
  return outcome;
}

/**
 * spec.scaleTargetRef of an EventConsumer as cached, when it is one the operator would scale
 * (input from outside: the same schema the reconciler parses a spec with, so no name or kind that
 * could not be a target reaches a request path).
 */
export function targetRefOf(obj: unknown): ScaleTargetRef | undefined {
  const ref: unknown = (obj as { spec?: { scaleTargetRef?: unknown } } | undefined)?.spec?.scaleTargetRef;
  const parsed = ScaleTargetRefSchema.safeParse(ref);
  return parsed.success ? parsed.data : undefined;
}
