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
  /**
   * The fresh list of the targets (`listTargets`): `answered`, `failed` (logged), `unfinished` (not
   * answered within the time limit), or `none` when there was no list to make.
   */
  list: 'answered' | 'failed' | 'unfinished' | 'none';
  /** Targets only the fresh list named (not in `targets`): a standby's stale cache would have missed them. */
  fromList: number;
  /** How long the fence took (ms), on the monotonic clock. */
  durationMs: number;
}

const targetKey = (t: FenceTarget): string =>
  `${t.namespace}/${t.ref.apiVersion}/${t.ref.kind}/${t.ref.name}`;

/**
 * Fences each target (at most `concurrency` at once) within `timeLimitMs`; never rejects. The time
 * limit bounds what the fence adds to a failover however many targets there are and however slow
 * the API server answers: whatever is not answered by then is counted `unfinished` and left.
 *
 * `targets` are those a standby knows from its cache; `listTargets`, when given, lists them afresh
 * from the API server at the same time (within the same time limit), and the targets only it names
 * are fenced as well. A standby's cache can be stale exactly when a failover comes (its watch broken
 * by the same network trouble that cost the old leader its Lease; an EventConsumer created or
 * retargeted just before): the old leader may still write to a target the cache does not show.
 * The cached targets are not waited on: their fence starts at once, the listed ones join the queue.
 */
export async function fenceTargets(options: {
  scale: Pick<ScaleClient, 'fenceTarget'>;
  targets: FenceTarget[];
  /** Lists the targets afresh (every EventConsumer's); aborted when the time limit is reached. */
  listTargets?: (signal: AbortSignal) => Promise<FenceTarget[]>;
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
  const concurrency = Math.max(1, options.concurrency ?? 8);
  const seen = new Set<string>();
  const queue: FenceTarget[] = [];
  const outcome: FenceOutcome = {
    targets: 0,
    fenced: 0,
    missing: 0,
    failed: 0,
    unfinished: 0,
    list: options.listTargets === undefined ? 'none' : 'unfinished',
    fromList: 0,
    durationMs: 0,
  };
  /** Queues the targets not seen yet; returns how many. */
  const enqueue = (targets: readonly FenceTarget[]): number => {
    let added = 0;
    for (const t of targets) {
      const key = targetKey(t);
      if (seen.has(key)) continue;
      seen.add(key);
      queue.push(t);
      added++;
    }
    outcome.targets += added;
    return added;
  };
  let over = false;
  let active = 0;
  const worker = async (): Promise<void> => {
    active++;
    try {
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
    } finally {
      active--;
    }
  };
  /** Starts workers for what is queued, never more than `concurrency` at once in all. */
  const startWorkers = (): Promise<unknown> =>
    Promise.all(Array.from({ length: Math.min(concurrency - active, queue.length) }, worker));

  enqueue(options.targets);
  const aborted = new AbortController();
  const work: Array<Promise<unknown>> = [startWorkers()];
  if (options.listTargets !== undefined) {
    const listTargets = options.listTargets;
    work.push(
      (async () => {
        try {
          const listed = await listTargets(aborted.signal);
          if (over) return;
          outcome.list = 'answered';
          outcome.fromList = enqueue(listed);
          await startWorkers();
        } catch (err) {
          if (over) return;
          outcome.list = 'failed';
          options.logger.warn(
            'could not list the EventConsumers afresh before taking the Lease over; fencing the targets the cache holds',
            { error: err instanceof Error ? err.message : String(err) },
          );
        }
      })(),
    );
  }
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<void>((resolve) => {
    if (Number.isFinite(limit)) timer = setTimeout(resolve, Math.max(0, limit - (now() - started)));
  });
  // Workers started by the list's answer are waited for too: `work` settles only once they are done.
  await Promise.race([Promise.all(work), timeUp]);
  over = true;
  clearTimeout(timer);
  aborted.abort(new Error('the takeover fence ran out of time'));
  outcome.unfinished = outcome.targets - outcome.fenced - outcome.missing - outcome.failed;
  outcome.durationMs = now() - started;
  if (outcome.unfinished > 0 || outcome.list === 'unfinished')
    options.logger.warn(
      'the fence ran out of time before every scale target was answered; taking the Lease over without them',
      {
        unfinished: outcome.unfinished,
        targets: outcome.targets,
        list: outcome.list,
        timeLimitMs: limit,
      },
    );
  return outcome;
}

/**
 * The items of an EventConsumer list from the API server (a reply from outside): throws, saying so,
 * when it is not a list.
 */
export function listItems(list: unknown): unknown[] {
  const items: unknown = (list as { items?: unknown } | null | undefined)?.items;
  if (!Array.isArray(items))
    throw new Error('the API server answered the EventConsumer list without an items array');
  return items;
}

/** The scale targets of EventConsumers (as listed or cached: input from outside, see targetRefOf). */
export function targetsOf(objects: Iterable<unknown>): FenceTarget[] {
  const targets: FenceTarget[] = [];
  for (const obj of objects) {
    const namespace: unknown = (obj as { metadata?: { namespace?: unknown } } | undefined)?.metadata
      ?.namespace;
    const ref = targetRefOf(obj);
    if (typeof namespace === 'string' && namespace !== '' && ref !== undefined)
      targets.push({ namespace, ref });
  }
  return targets;
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
