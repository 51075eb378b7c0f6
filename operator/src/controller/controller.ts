// Runs reconciles: informer events and per-EventConsumer poll timers feed a work queue, and a
// fixed number of workers take keys from it, one key never twice at once. Work happens only during
// a leadership term (startWorking/stopWorking are driven by leader election), with a reconciler
// whose API client belongs to that term; informers run all the time so a standby is ready with a
// warm cache. When the term ends its signal stops the queue at once and every API call of the
// reconciles in flight is aborted (fenced-api.ts); a graceful stop finishes them instead.
import type { EventConsumerObject } from '../api/v1alpha1/event-consumer.js';
import { isFenced } from '../kube/api-client.js';
import type { InformerSupervisor } from '../kube/informer-supervisor.js';
import { objectKey } from '../kube/informer-supervisor.js';
import { WorkQueue } from '../kube/work-queue.js';
import type { Logger } from '../observability/logger.js';
import type { OperatorMetrics } from '../observability/metrics.js';
import type { Reconciler } from './reconciler.js';

export interface ControllerOptions {
  informers: Array<InformerSupervisor<EventConsumerObject>>;
  workers: number;
  logger: Logger;
  metrics: OperatorMetrics;
}

/** What one term of work runs with. */
export interface Work {
  /** A reconciler built for this term (its KubeApi is bound to the term). */
  reconciler: Pick<Reconciler, 'reconcile' | 'forgetAll' | 'drainStatus'>;
  /** The term's signal: when it aborts, the controller stops taking work at once. */
  signal?: AbortSignal;
  /**
   * Whether this installation may reconcile the key now (installation-registry.ts: not while it
   * cannot register, nor in a namespace an earlier installation watches). A key refused is asked
   * again after `recheckAfterMs`, so a namespace taken over is reconciled within that.
   */
  admits?: { admit(key: string): boolean; recheckAfterMs: number };
}

export class Controller {
  private queue: WorkQueue | undefined;
  private reconciler: Work['reconciler'] | undefined;
  private running: Promise<void>[] = [];
  private stopping: Promise<void> | undefined;
  private gaugeTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: ControllerOptions) {
    for (const informer of options.informers) {
      informer.on({
        add: (obj) => this.queue?.add(objectKey(obj)),
        // Status-only updates (our own writes) do not change the generation: the poll timer covers
        // them. A new uid is a new object (deleted and recreated while the watch was down).
        update: (obj, old) => {
          if (
            obj.metadata?.generation !== old?.metadata?.generation ||
            obj.metadata?.uid !== old?.metadata?.uid
          )
            this.queue?.add(objectKey(obj));
        },
        delete: (obj) => this.queue?.add(objectKey(obj)),
        // The API server answers again after an outage: reconciles that failed on it and wait out
        // their backoff (up to 60 s) poll now — a re-list that changes nothing adds no key.
        recovered: () => this.queue?.retryFailedNow(),
      });
    }
  }

  isWorking(): boolean {
    return this.queue !== undefined;
  }

  /** Begins reconciling every known EventConsumer (on becoming leader). */
  startWorking(work: Work): void {
    if (work.signal?.aborted) return;
    if (this.queue) return;
    if (this.stopping) {
      // Leadership came back while the last term's reconciles were still finishing: start after
      // them, so no key is ever reconciled by two workers at once.
      void this.stopping.then(() => this.startWorking(work));
      return;
    }
    const queue = new WorkQueue();
    this.queue = queue;
    this.reconciler = work.reconciler;
    work.signal?.addEventListener('abort', () => void this.stopWorking(), { once: true });
    const known = this.options.informers.flatMap((i) => i.list());
    // Spread the first polls over a second so 1,000 EventConsumers do not all poll in one burst.
    const spread = Math.min(1000, known.length);
    known.forEach((obj, i) =>
      queue.addAfter(objectKey(obj), known.length <= 1 ? 0 : Math.floor((i * spread) / known.length)),
    );
    this.running = Array.from({ length: this.options.workers }, () => this.work(queue, work));
    this.gaugeTimer = setInterval(() => {
      this.options.metrics.workQueueDepth.set(queue.length());
      this.options.metrics.eventConsumers.set(
        this.options.informers.reduce((n, i) => n + i.list().length, 0),
      );
    }, 1000);
    this.gaugeTimer.unref();
    this.options.logger.info('started reconciling', {
      eventConsumers: known.length,
      workers: this.options.workers,
    });
  }

  /**
   * Stops taking work and waits for the reconciles in flight: on SIGTERM they finish (still
   * fenced); when the term ended their API calls are already aborted and they end quickly.
   */
  async stopWorking(): Promise<void> {
    const queue = this.queue;
    if (!queue) return this.stopping;
    this.queue = undefined;
    queue.shutDown();
    if (this.gaugeTimer) clearInterval(this.gaugeTimer);
    const reconciler = this.reconciler;
    this.reconciler = undefined;
    this.stopping = (async () => {
      await Promise.all(this.running);
      this.running = [];
      // Statuses users act on that still wait are written (fenced: after a lost term they are refused at once).
      await reconciler?.drainStatus();
      reconciler?.forgetAll();
      this.options.metrics.workQueueDepth.set(0);
      this.options.logger.info('stopped reconciling');
    })();
    await this.stopping;
    this.stopping = undefined;
  }

  private async work(queue: WorkQueue, work: Work): Promise<void> {
    const { reconciler, admits, signal } = work;
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      const started = performance.now();
      try {
        if (admits && !admits.admit(key)) {
          queue.addAfter(key, admits.recheckAfterMs);
          continue;
        }
        const result = await reconciler.reconcile(key);
        queue.forget(key);
        this.options.metrics.reconcileDuration.observe(
          { result: 'success' },
          (performance.now() - started) / 1000,
        );
        if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        if (isFenced(err)) {
          // Leadership ended mid-reconcile: nothing was written after that, and the next leader
          // reconciles this key. Not an error of the EventConsumer; no retry here. With the term
          // still open, it was this installation's registration that lapsed: asked again later.
          const [namespace, name] = key.split('/');
          if (admits && signal?.aborted !== true) queue.addAfter(key, admits.recheckAfterMs);
          this.options.logger.info('reconcile stopped: leadership ended', {
            namespace,
            name,
            reason: err.message,
          });
          continue;
        }
        this.options.metrics.reconcileDuration.observe(
          { result: 'error' },
          (performance.now() - started) / 1000,
        );
        const [namespace = '', name = ''] = key.split('/');
        this.options.metrics.countError(namespace, name, 'ReconcileFailed');
        const delay = queue.addRateLimited(key);
        this.options.logger.error('reconcile failed; retrying with backoff', {
          namespace,
          name,
          error: err instanceof Error ? err.message : String(err),
          retryInMs: delay,
        });
      } finally {
        queue.done(key);
      }
    }
  }
}
