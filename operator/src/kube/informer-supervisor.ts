// Keeps a client-node informer (ListWatch) alive. client-node informers stop for good on any watch
// error other than 410 Gone, may stall silently, and may report `done` twice
// (kubernetes-client/javascript #364 #596 #836 #958 #1933 #2387). The supervisor therefore:
// restarts a failed informer with jittered exponential backoff, one restart in flight at a time;
// re-lists from scratch on a period (a fresh informer, so a stalled watch cannot hide changes);
// runs a watchdog that forces a restart when nothing has been heard for too long; and keeps its
// own cache across informer instances, turning objects missing from a re-list into deletes.
// Callbacks from a replaced informer instance are ignored.
//
// A watch can also stall without a word (a half-open connection, a proxy or load balancer dropping
// an idle stream, an API server that stops sending): no error, and TCP keepalives still answered.
// HTTP/1.1 watches have no ping of their own (client-go's HTTP/2 ReadIdleTimeout/PingTimeout), so
// the operator's own writes are the probe: every status PATCH answer is handed to `answered`. The
// watch must bring the event of that write within `canaryMs`; if it does not, the watch is stale
// and the informer restarts at once. An answer whose metadata.generation is newer than the cached
// object's shows a spec change the watch missed: the answer (the object as stored) replaces the
// cached one now, so the next reconcile uses it, and the informer restarts. No extra request.
//
// A quiet EventConsumer writes status rarely (minutes apart when nothing changes), so its writes
// alone would leave a stalled watch unnoticed for that long, and a spec change with it. So a
// watch that has brought nothing for `probeAfterMs` is probed: the list it keeps in step with is
// read (one request per probeAfterMs, and only while the watch is silent), and every object whose
// resourceVersion differs from the cached one is handled as a write answer is — a newer generation
// taken at once, anything else owed by the watch within canaryMs; so is an object the list has and
// the cache has not, or the other way round. A probe during which the watch brought anything is
// discarded (the watch is alive, and the list may be older than what it brought).
import {
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { Logger } from '../observability/logger.js';
import { backoffDelayMs, type BackoffOptions } from './backoff.js';
import { monotonicNow } from '../clock.js';
import {
  answerVerdict,
  deletedByList,
  objectKey,
  probeFindings,
  sameVersion,
  watchCheck,
  type OwedEvent,
} from './watch-health.js';

export { objectKey };

export type InformerFactory<T extends KubernetesObject> = (
  path: string,
  list: () => Promise<KubernetesListObject<T>>,
) => Informer<T> & Partial<ObjectCache<T>>;

export type RestartCause = 'error' | 'stale' | 'relist' | 'missed';

export interface InformerSupervisorOptions<T extends KubernetesObject> {
  /** For logs and metrics, e.g. "eventconsumers". */
  resource: string;
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  factory: InformerFactory<T>;
  logger: Logger;
  backoff?: BackoffOptions;
  /** Re-list from scratch this often. */
  resyncMs?: number;
  /** Restart when nothing (event, list, connect) was heard for this long. */
  staleAfterMs?: number;
  /** An answered write's event must arrive within this (default 10 s), or the watch is stale. */
  canaryMs?: number;
  /** Probe (list and compare) a watch that has brought nothing for this long (default 10 s), and as often while it stays silent. */
  probeAfterMs?: number;
  onRestart?: (cause: RestartCause) => void;
  random?: () => number;
}

export interface ObjectHandlers<T> {
  add?(obj: T): void;
  update?(obj: T, old: T | undefined): void;
  delete?(obj: T): void;
  /** A list succeeded after the informer had failed: the API server answers again. */
  recovered?(): void;
}

/** The real factory: client-node's makeInformer on a KubeConfig. */
export function clientNodeInformerFactory<T extends KubernetesObject>(kc: KubeConfig): InformerFactory<T> {
  return (path, list) => makeInformer<T>(kc, path, list);
}

export class InformerSupervisor<T extends KubernetesObject> {
  private readonly objects = new Map<string, T>();
  private readonly handlers: Array<ObjectHandlers<T>> = [];
  private informer: (Informer<T> & Partial<ObjectCache<T>>) | undefined;
  private generation = 0;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private restartScheduledAt: number | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private lastHeardAt = monotonicNow();
  private synced = false;
  private stopped = true;
  private readonly backoff: BackoffOptions;
  private readonly resyncMs: number;
  private readonly staleAfterMs: number;
  private readonly canaryMs: number;
  private readonly probeAfterMs: number;
  private probing = false;
  private lastProbeAt = -Infinity;
  /** Per key, the oldest answered write whose event has not arrived yet (resourceVersion, when). */
  private readonly awaited = new Map<string, OwedEvent>();

  constructor(private readonly options: InformerSupervisorOptions<T>) {
    this.backoff = options.backoff ?? { baseMs: 1000, maxMs: 30_000, jitter: 0.3 };
    this.resyncMs = options.resyncMs ?? 300_000;
    this.staleAfterMs = options.staleAfterMs ?? this.resyncMs * 2;
    this.canaryMs = options.canaryMs ?? 10_000;
    this.probeAfterMs = options.probeAfterMs ?? 10_000;
  }

  on(handlers: ObjectHandlers<T>): void {
    this.handlers.push(handlers);
  }

  /** Starts the first informer; resolves once it began (not necessarily synced: see hasSynced). */
  async start(): Promise<void> {
    this.stopped = false;
    this.lastHeardAt = monotonicNow();
    const watchEvery = Math.max(
      100,
      Math.min(this.staleAfterMs / 4, this.canaryMs / 4, this.probeAfterMs / 4, 30_000),
    );
    this.watchdog = setInterval(() => this.checkStale(), watchEvery);
    this.watchdog.unref();
    this.resyncTimer = setInterval(() => this.restart('relist', 0), this.resyncMs);
    this.resyncTimer.unref();
    await this.launch();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.generation++;
    if (this.watchdog) clearInterval(this.watchdog);
    if (this.resyncTimer) clearInterval(this.resyncTimer);
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const informer = this.informer;
    this.informer = undefined;
    await informer?.stop().catch(() => undefined);
  }

  /** True once a list has completed (since start). */
  hasSynced(): boolean {
    return this.synced;
  }

  /**
   * Whether the API server has answered the first list: synced, or failed (a 403 in a namespace
   * whose Role or RoleBinding is gone, an error). The operator starts work once every informer has
   * answered, so one namespace it may not list holds no other back; that namespace's objects are
   * added, and their handlers told, when a list of it succeeds.
   */
  hasAnswered(): boolean {
    return this.synced || this.failures > 0;
  }

  /** Milliseconds since the informer last showed life. */
  silenceMs(now = monotonicNow()): number {
    return now - this.lastHeardAt;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(`${namespace ?? ''}/${name}`);
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  /**
   * The API server's answer to a write of ours (the object as stored then). A generation newer than
   * the cached one is a spec change the watch missed: cached now, handlers told, informer restarted.
   * Otherwise the watch owes us this write's event within canaryMs.
   */
  answered(obj: T): void {
    if (this.stopped || !this.synced) return;
    const key = objectKey(obj);
    const cached = this.objects.get(key);
    const verdict = answerVerdict(cached, obj);
    if (verdict === 'ignore') return;
    if (verdict === 'missed') {
      this.options.logger.warn(
        'a write answer shows a spec change the watch missed; restarting the informer',
        {
          resource: this.options.resource,
          object: key,
          cachedGeneration: cached?.metadata?.generation,
          generation: obj.metadata?.generation,
        },
      );
      this.upsert(obj);
      this.restart('missed', 0);
      return;
    }
    if (!this.awaited.has(key))
      this.awaited.set(key, { resourceVersion: obj.metadata?.resourceVersion ?? '', at: monotonicNow() });
  }

  /** Schedules a restart unless one is already in flight; `delayMs` undefined = backoff. */
  restart(cause: RestartCause, delayMs?: number): void {
    if (this.stopped || this.restartTimer !== undefined) return;
    if (cause === 'error') this.failures++;
    const delay = delayMs ?? backoffDelayMs(Math.max(1, this.failures), this.backoff, this.options.random);
    this.options.onRestart?.(cause);
    this.restartScheduledAt = monotonicNow();
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      this.restartScheduledAt = undefined;
      void this.launch();
    }, delay);
    this.restartTimer.unref();
  }

  private checkStale(): void {
    if (this.stopped) return;
    const now = monotonicNow();
    const check = watchCheck(
      {
        now,
        lastHeardAt: this.lastHeardAt,
        owed: this.awaited,
        restartPending: this.restartTimer !== undefined,
        restartScheduledAt: this.restartScheduledAt,
        probing: this.probing,
        synced: this.synced,
        lastProbeAt: this.lastProbeAt,
      },
      { canaryMs: this.canaryMs, staleAfterMs: this.staleAfterMs, probeAfterMs: this.probeAfterMs },
    );
    if (check.overdue !== undefined) {
      this.options.logger.warn(
        'the watch did not bring the event of our own write; restarting the informer',
        {
          resource: this.options.resource,
          object: check.overdue.key,
          resourceVersion: check.overdue.event.resourceVersion,
          waitedMs: check.overdue.waitedMs,
        },
      );
      this.awaited.clear();
      this.restart('stale', 0);
      return;
    }
    // A restart that never came back (a hung list) counts as silence too.
    if (check.stuckRestart && this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = undefined;
    }
    if (check.probe) void this.probe(now);
    if (check.restart) {
      this.options.logger.warn('informer silent for too long, restarting it', {
        resource: this.options.resource,
        silentMs: this.silenceMs(now),
      });
      this.lastHeardAt = now;
      this.restart('stale', 0);
    }
  }

  /** Lists what the watch keeps in step with and compares it with the cache (see the top of this file). */
  private async probe(startedAt: number): Promise<void> {
    this.probing = true;
    this.lastProbeAt = startedAt;
    const generation = this.generation;
    let items: T[];
    try {
      items = (await this.options.list()).items;
    } catch (err) {
      // The API server's trouble, not the watch's: the informer's own errors say so.
      this.options.logger.debug('probing a silent watch: the list failed', {
        resource: this.options.resource,
        error: err instanceof Error ? err.message : String(err),
      });
      return;
    } finally {
      this.probing = false;
    }
    // Restarted meanwhile (its list is fresher), or the watch brought something: nothing to conclude.
    if (this.stopped || generation !== this.generation || this.lastHeardAt > startedAt) return;
    const now = monotonicNow();
    const findings = probeFindings(items, this.objects, this.awaited);
    for (const obj of findings.answers) this.answered(obj);
    for (const { key, resourceVersion } of findings.owed)
      if (!this.awaited.has(key)) this.awaited.set(key, { resourceVersion, at: now });
  }

  private async launch(): Promise<void> {
    if (this.stopped) return;
    const generation = ++this.generation;
    const previous = this.informer;
    this.informer = undefined;
    await previous?.stop().catch(() => undefined);
    const current = (): boolean => generation === this.generation && !this.stopped;

    const list = async (): Promise<KubernetesListObject<T>> => {
      const result = await this.options.list();
      if (current()) this.reconcileList(result.items);
      return result;
    };
    const informer = this.options.factory(this.options.path, list);
    informer.on('add', (obj: T) => {
      if (current()) this.upsert(obj);
    });
    informer.on('update', (obj: T) => {
      if (current()) this.upsert(obj);
    });
    informer.on('delete', (obj: T) => {
      if (!current()) return;
      this.lastHeardAt = monotonicNow();
      const key = objectKey(obj);
      this.awaited.delete(key);
      const known = this.objects.get(key);
      this.objects.delete(key);
      for (const h of this.handlers) h.delete?.(known ?? obj);
    });
    informer.on('connect', () => {
      if (current()) this.lastHeardAt = monotonicNow();
    });
    informer.on('error', (err?: unknown) => {
      if (!current()) return;
      this.options.logger.warn('informer stopped with an error, restarting it with backoff', {
        resource: this.options.resource,
        error: err instanceof Error ? err.message : String(err),
        failures: this.failures + 1,
      });
      this.restart('error');
    });
    this.informer = informer;
    try {
      await informer.start();
    } catch (err) {
      if (current()) {
        this.options.logger.warn('informer failed to start, retrying with backoff', {
          resource: this.options.resource,
          error: err instanceof Error ? err.message : String(err),
        });
        this.restart('error');
      }
    }
  }

  /** A full list arrived: objects we knew that it lacks were deleted while we were not watching. */
  private reconcileList(items: T[]): void {
    this.lastHeardAt = monotonicNow();
    const recovered = this.failures > 0;
    this.failures = 0;
    // A fresh list: whatever the old watch owed is in it.
    this.awaited.clear();
    for (const key of deletedByList(this.objects.keys(), items)) {
      const obj = this.objects.get(key);
      this.objects.delete(key);
      if (obj !== undefined) for (const h of this.handlers) h.delete?.(obj);
    }
    this.synced = true;
    if (recovered) for (const h of this.handlers) h.recovered?.();
  }

  private upsert(obj: T): void {
    this.lastHeardAt = monotonicNow();
    // managedFields grow with every status write and nobody here reads them; at 1,000 cached
    // objects they are a noticeable share of the operator's memory.
    if (obj.metadata?.managedFields !== undefined) delete obj.metadata.managedFields;
    const key = objectKey(obj);
    // Any event for the object after our write was answered: this watch is alive.
    this.awaited.delete(key);
    const old = this.objects.get(key);
    if (sameVersion(old, obj)) return;
    this.objects.set(key, obj);
    for (const h of this.handlers) {
      if (old === undefined) h.add?.(obj);
      else h.update?.(obj, old);
    }
  }
}
