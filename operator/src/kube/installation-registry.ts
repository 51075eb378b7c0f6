// Which jetscale installation reconciles which namespaces when several are installed in one cluster
// (a second `helm install` in another namespace, a migration from one release to another). Each
// installation has its own Lease, so each has a leader, and nothing else stops two of them
// scaling one EventConsumer. So every installation's leader keeps one entry in the one object they
// all share, the cluster-scoped EventConsumer CRD: the annotation `jetscale.io/installations`, a
// JSON list of entries (the installation's Lease namespace/name, the namespaces it watches, its
// registration order, a renewal count). One write per installation per renew period, not per
// EventConsumer. An installation that finds a live entry registered before its own, watching a
// namespace it watches too, leaves that namespace alone and says so.
//
// No clock is compared across machines (as client-go observes a Lease): an entry is alive while
// its renewal count keeps changing, measured on the reader's monotonic clock from when the reader
// *received* the change; an entry unchanged for deadAfter (3 renew periods) stops counting. Its
// owner stops writing after holdFor (2 periods) without a successful renewal, measured from that
// renewal's *send* — so a paused or partitioned installation has stopped writing a full period
// before anyone takes its namespaces. Taking over is itself a write: the dead entry is removed
// in a PATCH carrying the resourceVersion that was read, so a renewal that lands in between
// makes the takeover fail with 409 and the entry is seen alive again. What an installation may
// reconcile is computed only from a registry it has just written successfully.
//
// The pure part (parse, observe, next entries, what to yield) is exported and unit-tested; the
// InstallationRegistry class below does the reads and writes.
import { monotonicNow, wallNow } from '../clock.js';
import type { Logger } from '../observability/logger.js';
import { isConflict, isFenced, KubeApiError, type KubeApi } from './api-client.js';

export const REGISTRY_ANNOTATION = 'jetscale.io/installations';
export const EVENT_CONSUMER_CRD = 'eventconsumers.jetscale.io';
export const EVENT_CONSUMER_CRD_PATH = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${EVENT_CONSUMER_CRD}`;

/** The namespaces an installation watches: a list, or '*' for all. */
export type WatchedNamespaces = readonly string[] | '*';

export interface InstallationEntry {
  /** The installation's identity: its Lease, `<namespace>/<name>`. */
  installation: string;
  /** The replica (pod) that last wrote the entry, for people reading it. */
  holder: string;
  namespaces: WatchedNamespaces;
  /** Registration order: lower registered first, and keeps the namespaces it shares with later ones. */
  order: number;
  /** Incremented at every renewal; readers watch it change (no clock is compared). */
  renewals: number;
  /** Wall-clock time of the last renewal, for people only: never compared by the operator. */
  renewTime: string;
  /** Written on a clean shutdown: the entry no longer counts, and is removed by the next writer. */
  released?: boolean;
}

/** An entry as this process last saw it, and when (its monotonic clock) it last saw it change. */
export interface ObservedEntry {
  entry: InstallationEntry;
  changedAt: number;
}

export type Observations = ReadonlyMap<string, ObservedEntry>;

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** The registry annotation's entries, or what is wrong with it. An absent annotation is empty. */
/**
 * Whether `installation` (`<namespace>/<name>` of its Lease) has a leader on record: an entry in
 * the registry not released. Asked by a process that finds its Lease missing without ever having
 * seen it (leader-election.ts leaderRegistered): a Lease deleted by hand while its leader's term
 * runs leaves the entry, a first install has none, and a clean shutdown releases it. A registry
 * that cannot be parsed counts as one (the safe side: a wait of one lease duration).
 */
export async function leaderRegistered(api: KubeApi, installation: string): Promise<boolean> {
  const crd = await api.request<{ metadata?: { annotations?: Record<string, string> } }>(
    'GET',
    EVENT_CONSUMER_CRD_PATH,
    { timeoutMs: 5000 },
  );
  return leaderOnRecord(crd.metadata?.annotations?.[REGISTRY_ANNOTATION], installation);
}

/** leaderRegistered's answer from the registry annotation's value. */
export function leaderOnRecord(annotation: string | undefined, installation: string): boolean {
  const parsed = parseRegistry(annotation);
  if ('problem' in parsed) return true;
  return parsed.entries.some((e) => e.installation === installation && e.released !== true);
}

export function parseRegistry(
  value: string | undefined,
): { entries: InstallationEntry[] } | { problem: string } {
  if (value === undefined || value.trim() === '') return { entries: [] };
  let raw: unknown;
  try {
    raw = JSON.parse(value);
  } catch {
    return { problem: 'it is not JSON' };
  }
  if (!Array.isArray(raw)) return { problem: 'it is not a JSON list' };
  const entries: InstallationEntry[] = [];
  const seen = new Set<string>();
  for (const [i, item] of raw.entries()) {
    const problem = entryProblem(item);
    if (problem !== undefined) return { problem: `entry ${i}: ${problem}` };
    const entry = item as InstallationEntry;
    if (seen.has(entry.installation))
      return { problem: `entry ${i}: installation ${entry.installation} is listed twice` };
    seen.add(entry.installation);
    entries.push({
      installation: entry.installation,
      holder: entry.holder,
      namespaces: entry.namespaces === '*' ? '*' : [...entry.namespaces],
      order: entry.order,
      renewals: entry.renewals,
      renewTime: entry.renewTime,
      ...(entry.released === true ? { released: true } : {}),
    });
  }
  return { entries };
}

function entryProblem(item: unknown): string | undefined {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) return 'not an object';
  const e = item as Record<string, unknown>;
  if (typeof e.installation !== 'string' || !/^[^/]+\/[^/]+$/.test(e.installation))
    return 'installation must be "<lease namespace>/<lease name>"';
  if (typeof e.holder !== 'string') return 'holder must be a string';
  if (
    e.namespaces !== '*' &&
    !(Array.isArray(e.namespaces) && e.namespaces.every((n) => typeof n === 'string' && NAMESPACE.test(n)))
  )
    return 'namespaces must be "*" or a list of namespace names';
  if (!Number.isSafeInteger(e.order) || (e.order as number) < 1) return 'order must be a whole number ≥ 1';
  if (!Number.isSafeInteger(e.renewals) || (e.renewals as number) < 0)
    return 'renewals must be a whole number ≥ 0';
  if (typeof e.renewTime !== 'string') return 'renewTime must be a string';
  if (e.released !== undefined && typeof e.released !== 'boolean') return 'released must be true or false';
  return undefined;
}

/** True when two installations watch at least one namespace in common. */
export function overlap(a: WatchedNamespaces, b: WatchedNamespaces): boolean {
  if (a === '*' || b === '*') return a.length > 0 && b.length > 0;
  return a.some((n) => b.includes(n));
}

/** True when `a` registered before `b` (ties, which only a hand edit makes, by installation name). */
export function registeredBefore(a: InstallationEntry, b: InstallationEntry): boolean {
  return a.order < b.order || (a.order === b.order && a.installation < b.installation);
}

/**
 * What this process knows after a read received at `now`: each entry read is new or changed (its
 * renewal count, order, holder, namespaces or release) at `now`, or unchanged since it was last
 * seen to change. An entry that is no longer there is remembered as it was — it counts until it
 * has not changed for deadAfter — so an annotation wiped by a `kubectl replace` of the CRD does
 * not hand anyone a namespace its owner still reconciles.
 */
export function observe(
  previous: Observations,
  read: readonly InstallationEntry[],
  now: number,
): Map<string, ObservedEntry> {
  const next = new Map(previous);
  for (const entry of read) {
    const known = previous.get(entry.installation);
    const unchanged =
      known !== undefined &&
      JSON.stringify(withoutRenewTime(known.entry)) === JSON.stringify(withoutRenewTime(entry));
    next.set(entry.installation, { entry, changedAt: unchanged ? known.changedAt : now });
  }
  return next;
}

function withoutRenewTime(e: InstallationEntry): Omit<InstallationEntry, 'renewTime'> {
  const { renewTime: _ignored, ...rest } = e;
  return rest;
}

/** True when an observed entry no longer counts: released, or unchanged for deadAfter. */
export function isDead(observed: ObservedEntry, now: number, deadAfterMs: number): boolean {
  return observed.entry.released === true || now - observed.changedAt >= deadAfterMs;
}

export interface Self {
  installation: string;
  holder: string;
  namespaces: WatchedNamespaces;
}

/**
 * The registry to write after reading `read` at `now`: the other entries read, less the dead ones
 * (their removal is the takeover), and this installation's entry renewed — or registered last
 * (order above every entry read or remembered) unless `keepOrder` gives the order to keep.
 */
export function nextRegistry(
  read: readonly InstallationEntry[],
  observations: Observations,
  self: Self,
  keepOrder: number | undefined,
  now: number,
  deadAfterMs: number,
  renewTime: string,
): { entries: InstallationEntry[]; removed: InstallationEntry[]; own: InstallationEntry } {
  const removed: InstallationEntry[] = [];
  const others: InstallationEntry[] = [];
  for (const entry of read) {
    if (entry.installation === self.installation) continue;
    const observed = observations.get(entry.installation);
    if (observed !== undefined && isDead(observed, now, deadAfterMs)) removed.push(entry);
    else others.push(entry);
  }
  const previous = read.find((e) => e.installation === self.installation);
  const highest = Math.max(
    0,
    ...read.map((e) => e.order),
    ...[...observations.values()]
      .filter((o) => o.entry.installation !== self.installation)
      .map((o) => o.entry.order),
  );
  const own: InstallationEntry = {
    installation: self.installation,
    holder: self.holder,
    namespaces: self.namespaces === '*' ? '*' : [...self.namespaces],
    order: keepOrder ?? highest + 1,
    renewals: (previous?.renewals ?? 0) + 1,
    renewTime,
  };
  return { entries: [...others, own], removed, own };
}

/**
 * The registration order this installation keeps at a renewal, or undefined to register anew, last.
 * Kept while our entry is in the registry: renewed by this process or left by an earlier leader of
 * the same installation — also when that leader released it on SIGTERM, which a rollout (`helm
 * upgrade`, `kubectl rollout restart`) sends as readily as an uninstall: the new leader takes it
 * back if no other installation has taken it over yet. A takeover removes the entry, and every
 * write to the registry is preconditioned on what was read, so one of the two writes wins and the
 * other reads again: never both. Kept too when our entry vanished while we still held it (a wipe of
 * the annotation, not a takeover: nobody removes a live entry). Gone after we stopped holding
 * (taken over, or stale): last.
 */
export function orderToKeep(
  mine: InstallationEntry | undefined,
  stillHeld: boolean,
  lastOrder: number | undefined,
): number | undefined {
  if (mine !== undefined) return mine.order;
  return stillHeld ? lastOrder : undefined;
}

/** The namespaces this installation leaves to others that registered first: all, or a set. */
export interface Yielded {
  everything: boolean;
  namespaces: ReadonlySet<string>;
  /** The live, earlier installations it yields to. */
  to: InstallationEntry[];
}

/**
 * What `own` leaves alone: every namespace it shares with a live installation registered before
 * it — entries it read and kept, and entries it remembers that vanished less than deadAfter ago.
 */
export function yielded(
  own: InstallationEntry,
  observations: Observations,
  now: number,
  deadAfterMs: number,
): Yielded {
  let everything = false;
  const namespaces = new Set<string>();
  const to: InstallationEntry[] = [];
  for (const { entry, changedAt } of observations.values()) {
    if (entry.installation === own.installation) continue;
    if (isDead({ entry, changedAt }, now, deadAfterMs)) continue;
    if (!registeredBefore(entry, own) || !overlap(entry.namespaces, own.namespaces)) continue;
    to.push(entry);
    if (entry.namespaces === '*') everything = true;
    else
      for (const n of entry.namespaces)
        if (own.namespaces === '*' || own.namespaces.includes(n)) namespaces.add(n);
  }
  return { everything, namespaces, to };
}

export interface InstallationRegistryOptions {
  /** Bound to the leadership term (fenced by the Lease, not by this registry's own hold). */
  api: KubeApi;
  self: Self;
  /** One renewal (a GET and a PATCH of the CRD) this often; holdFor = 2 periods, deadAfter = 3. */
  renewPeriodMs: number;
  logger: Logger;
  /** Called after every renewal attempt: registered (holding), and the installations yielded to. */
  onRenewal?: (registered: boolean, yieldedTo: readonly InstallationEntry[]) => void;
  clock?: () => number;
  wallClock?: () => number;
  /** Uniform in [0, 1): the jitter of renewals and of the waits after a 409 (Math.random by default). */
  random?: () => number;
}

/**
 * After a 409 (another installation wrote the CRD between our read and our write) a renewal reads
 * again after a random wait of up to CONFLICT_BACKOFF_MS, doubling with each 409 ("full jitter"),
 * at most CONFLICT_ATTEMPTS times and within half a renew period of its start. Retried at once, the
 * installations that read the same version retried in the same order again: with four renewing
 * together, the last lost all three of its tries, every period, and never registered.
 */
const CONFLICT_ATTEMPTS = 8;
const CONFLICT_BACKOFF_MS = 100;
/** Each renewal is due a period after the last, less up to this share of it, so that renewals in step drift apart. */
const RENEW_JITTER = 0.2;
/**
 * A release on shutdown retries 409s until this long after the shutdown began: main.ts ends the
 * process 25 s after SIGTERM, and the Lease's release and the closes come after the registry's
 * (7 s left for them). Installations shut down together release one per round of reads and
 * patches (the others meet its write, 409, and read again), so four need four rounds: ~10 s where
 * one read and patch takes 2.5 s (a loaded API server, measured). A fixed 3 s let two of four give
 * up every time there, and their entries went stale only after deadAfter.
 */
export const RELEASE_BY_MS = 18_000;
/** The longest one request of a release may take, however much of the budget is left. */
const RELEASE_REQUEST_MS = 5000;

/** How long a release may retry when the shutdown began `shutdownElapsedMs` ago (see RELEASE_BY_MS). */
export function releaseBudgetMs(shutdownElapsedMs: number): number {
  return Math.max(0, RELEASE_BY_MS - shutdownElapsedMs);
}

/**
 * What to do after the `attempt`-th 409 in a row of a renewal or release that started
 * `elapsedMs` ago: read again after a random wait (full jitter: `random` in [0, 1) times
 * CONFLICT_BACKOFF_MS, doubling with each 409), or give up — after CONFLICT_ATTEMPTS, or when that
 * wait would end past `budgetMs` from the start.
 */
export function afterConflict(
  attempt: number,
  elapsedMs: number,
  budgetMs: number,
  random: number,
): { readAgainInMs: number } | { giveUp: true } {
  const backoffMs = random * CONFLICT_BACKOFF_MS * 2 ** (attempt - 1);
  if (attempt >= CONFLICT_ATTEMPTS || elapsedMs + backoffMs > budgetMs) return { giveUp: true };
  return { readAgainInMs: backoffMs };
}

export class InstallationRegistry {
  private readonly clock: () => number;
  private readonly wallClock: () => number;
  private readonly holdForMs: number;
  private readonly deadAfterMs: number;
  private observations: Map<string, ObservedEntry> = new Map();
  /** Monotonic time up to which this installation may write: the last successful write's send + holdFor. */
  private heldUntil = Number.NEGATIVE_INFINITY;
  private order: number | undefined;
  private current: Yielded = { everything: true, namespaces: new Set(), to: [] };
  private lastProblem: string | undefined;
  private failures = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private stopped = false;

  private readonly random: () => number;

  constructor(private readonly options: InstallationRegistryOptions) {
    this.random = options.random ?? Math.random;
    this.clock = options.clock ?? monotonicNow;
    this.wallClock = options.wallClock ?? wallNow;
    this.holdForMs = 2 * options.renewPeriodMs;
    this.deadAfterMs = 3 * options.renewPeriodMs;
  }

  /** Monotonic time up to which writes are safe (the write fence uses it). */
  writableUntil(): number {
    return this.heldUntil;
  }

  /** True when this installation may reconcile EventConsumers in `namespace` now. */
  covers(namespace: string): boolean {
    if (this.clock() >= this.heldUntil) return false;
    return !this.current.everything && !this.current.namespaces.has(namespace);
  }

  /** Why `namespace` is not covered, for logs and Events; undefined when it is. */
  whyNot(namespace: string): string | undefined {
    if (this.covers(namespace)) return undefined;
    if (this.clock() >= this.heldUntil)
      return `this installation (${this.options.self.installation}) could not register on the ${EVENT_CONSUMER_CRD} CRD recently${this.lastProblem ? `: ${this.lastProblem}` : ''}`;
    const owner = this.current.to.find((e) => e.namespaces === '*' || e.namespaces.includes(namespace));
    return `another jetscale installation, ${owner?.installation ?? 'registered earlier'} (replica ${owner?.holder ?? 'unknown'}), was installed first and also watches namespace ${namespace}: this installation (${this.options.self.installation}) leaves its EventConsumers alone. Uninstall one of the two, or give them disjoint namespaces (watchNamespaces / JETSCALE_NAMESPACES)`;
  }

  /** Renews every renew period, the first a period from now (after the caller's renew()), until `signal` aborts. */
  start(signal: AbortSignal): void {
    const loop = async (): Promise<void> => {
      if (this.stopped || signal.aborted) return;
      const sent = this.clock();
      this.inFlight = this.renew();
      await this.inFlight;
      this.inFlight = undefined;
      if (this.stopped || signal.aborted) return;
      // Due a period after the last one was sent, however long it took (as the Lease's renewals),
      // less a random share of it: installations renewing in step drift apart.
      const period = this.options.renewPeriodMs * (1 - RENEW_JITTER * this.random());
      const wait = Math.max(0, sent + period - this.clock());
      this.timer = setTimeout(() => void loop(), wait);
      this.timer.unref();
    };
    signal.addEventListener('abort', () => this.stop(), { once: true });
    if (signal.aborted) return;
    this.timer = setTimeout(() => void loop(), this.options.renewPeriodMs);
    this.timer.unref();
  }

  /** One renewal: read the CRD, write the registry back with our entry renewed. Never throws. */
  async renew(): Promise<void> {
    const started = this.clock();
    const budgetMs = this.options.renewPeriodMs / 2;
    let attempt = 1;
    for (; ; attempt++) {
      try {
        if (await this.renewOnce()) return;
      } catch (err) {
        if (isFenced(err)) return;
        this.failed(describe(err));
        return;
      }
      this.conflicts++;
      const next = afterConflict(attempt, this.clock() - started, budgetMs, this.random());
      if ('giveUp' in next) break;
      await new Promise<void>((resolve) => setTimeout(resolve, next.readAgainInMs).unref());
      if (this.stopped) return;
    }
    this.failed(
      `the CRD changed under ${attempt} renewals in a row (409 Conflict each time, read again after random waits over ${Math.round(this.clock() - started)} ms): something else writes the ${EVENT_CONSUMER_CRD} CRD that often`,
    );
  }

  private conflicts = 0;

  /** 409 Conflicts met by renewals so far (each was read again): for tests and drills. */
  conflictCount(): number {
    return this.conflicts;
  }

  /** True when written; false on 409 (someone wrote the CRD since the read: read again). */
  private async renewOnce(): Promise<boolean> {
    const { api, self } = this.options;
    const crd = await api.request<{
      metadata?: { resourceVersion?: string; annotations?: Record<string, string> };
    }>('GET', EVENT_CONSUMER_CRD_PATH);
    const received = this.clock();
    const parsed = parseRegistry(crd.metadata?.annotations?.[REGISTRY_ANNOTATION]);
    if ('problem' in parsed)
      throw new Error(
        `the ${REGISTRY_ANNOTATION} annotation on the ${EVENT_CONSUMER_CRD} CRD is not valid (${parsed.problem}); fix or remove it (kubectl annotate crd ${EVENT_CONSUMER_CRD} ${REGISTRY_ANNOTATION}-), and every installation registers again`,
      );
    this.observations = observe(this.observations, parsed.entries, received);
    // Forget entries that vanished and have since gone stale: they no longer count.
    for (const [installation, observed] of this.observations)
      if (
        !parsed.entries.some((e) => e.installation === installation) &&
        isDead(observed, received, this.deadAfterMs)
      )
        this.observations.delete(installation);
    const keepOrder = orderToKeep(
      parsed.entries.find((e) => e.installation === self.installation),
      received < this.heldUntil,
      this.order,
    );
    const next = nextRegistry(
      parsed.entries,
      this.observations,
      self,
      keepOrder,
      received,
      this.deadAfterMs,
      new Date(this.wallClock()).toISOString(),
    );
    const sent = this.clock();
    try {
      await api.request('PATCH', EVENT_CONSUMER_CRD_PATH, {
        contentType: 'application/merge-patch+json',
        query: { fieldManager: 'jetscale' },
        body: {
          metadata: {
            // A precondition: 409 if anyone wrote the CRD since our read.
            resourceVersion: crd.metadata?.resourceVersion,
            annotations: { [REGISTRY_ANNOTATION]: JSON.stringify(next.entries) },
          },
        },
      });
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
    this.observations = observe(this.observations, [next.own], received);
    for (const gone of next.removed) this.observations.delete(gone.installation);
    const wasHeld = received < this.heldUntil;
    this.heldUntil = sent + this.holdForMs;
    this.order = next.own.order;
    const before = this.current;
    this.current = yielded(next.own, this.observations, received, this.deadAfterMs);
    this.report(before, next.removed, wasHeld, next.own);
    this.failures = 0;
    this.lastProblem = undefined;
    this.options.onRenewal?.(true, this.current.to);
    return true;
  }

  private report(
    before: Yielded,
    removed: readonly InstallationEntry[],
    wasHeld: boolean,
    own: InstallationEntry,
  ): void {
    const { logger, self } = this.options;
    if (!wasHeld)
      logger.info('installation registered on the EventConsumer CRD', {
        installation: self.installation,
        order: own.order,
        namespaces: self.namespaces,
      });
    for (const gone of removed)
      logger.info('removed a stale installation from the registry', {
        installation: gone.installation,
        holder: gone.holder,
        released: gone.released === true,
      });
    const key = (y: Yielded): string =>
      JSON.stringify([y.everything, [...y.namespaces].sort(), y.to.map((e) => e.installation).sort()]);
    if (key(before) === key(this.current)) return;
    if (this.current.to.length === 0) {
      logger.info(
        'this installation reconciles every namespace it watches: no other installation was installed first',
        {
          installation: self.installation,
        },
      );
      return;
    }
    logger.warn(
      'another jetscale installation was installed first and watches some of the same namespaces: this one leaves them alone',
      {
        installation: self.installation,
        yieldedNamespaces: this.current.everything ? '*' : [...this.current.namespaces].sort(),
        otherInstallations: this.current.to.map((e) => ({
          installation: e.installation,
          holder: e.holder,
          namespaces: e.namespaces,
        })),
      },
    );
  }

  private failed(problem: string): void {
    this.failures++;
    // One line per distinct problem, then one every 10 renewals while it lasts.
    if (problem !== this.lastProblem || this.failures % 10 === 0)
      this.options.logger.error(
        'cannot register this installation on the EventConsumer CRD: it reconciles nothing it cannot prove is its own',
        {
          installation: this.options.self.installation,
          problem,
          writableForMs: Math.max(0, Math.round(this.heldUntil - this.clock())),
        },
      );
    this.lastProblem = problem;
    this.options.onRenewal?.(this.clock() < this.heldUntil, this.current.to);
  }

  /** Stops renewing (the term ended, or shutting down). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /**
   * On a clean shutdown, after the last reconcile: marks our entry released so an installation
   * that yielded to us takes over at its next renewal instead of after deadAfter. A 409 (another
   * installation wrote the CRD since our read: its renewal, or its own release when several shut
   * down together) is read again after a random wait, as a renewal's (full jitter from
   * CONFLICT_BACKOFF_MS), within `budgetMs` (releaseBudgetMs: what the shutdown has left; each
   * request is cut off at its end): retried at once, releases in step collided in the same order
   * each try and the last never released. Past the budget it gives up, and the entry goes stale
   * on its own (deadAfter).
   */
  async release(budgetMs: number): Promise<void> {
    this.stop();
    await this.inFlight;
    if (this.clock() >= this.heldUntil) return;
    this.heldUntil = Number.NEGATIVE_INFINITY; // nothing more of ours may be written
    const { self } = this.options;
    const started = this.clock();
    const giveUp = (why: string): void =>
      this.options.logger.warn(
        'could not release this installation on the EventConsumer CRD; others take over once it is stale',
        { installation: self.installation, error: why },
      );
    for (let attempt = 1; ; attempt++) {
      const leftMs = started + budgetMs - this.clock();
      if (leftMs <= 0)
        return giveUp(`no time left of the shutdown's ${Math.round(budgetMs)} ms to release in`);
      try {
        if (await this.releaseOnce(Math.min(RELEASE_REQUEST_MS, leftMs))) return;
      } catch (err) {
        return giveUp(describe(err));
      }
      this.conflicts++;
      const next = afterConflict(attempt, this.clock() - started, budgetMs, this.random());
      if ('giveUp' in next)
        return giveUp(
          `the CRD changed under ${attempt} releases in a row (409 Conflict each time, read again after random waits over ${Math.round(this.clock() - started)} ms)`,
        );
      await new Promise<void>((resolve) => setTimeout(resolve, next.readAgainInMs).unref());
    }
  }

  /**
   * True when released or nothing is ours to release; false on 409 (read again). Its read and its
   * patch together end within `withinMs` (a patch cut off may still land: a release is harmless).
   */
  private async releaseOnce(withinMs: number): Promise<boolean> {
    const { api, self } = this.options;
    // Whole milliseconds: AbortSignal.timeout throws a RangeError for a fraction (seen on the real
    // API server once a release retried with less than RELEASE_REQUEST_MS left).
    const limitMs = Math.max(1, Math.ceil(withinMs));
    const signal = AbortSignal.timeout(limitMs);
    const crd = await api.request<{
      metadata?: { resourceVersion?: string; annotations?: Record<string, string> };
    }>('GET', EVENT_CONSUMER_CRD_PATH, { timeoutMs: limitMs, signal });
    const parsed = parseRegistry(crd.metadata?.annotations?.[REGISTRY_ANNOTATION]);
    if ('problem' in parsed) return true;
    const mine = parsed.entries.find((e) => e.installation === self.installation);
    if (mine === undefined || mine.holder !== self.holder) return true; // another replica of ours took over
    const entries = parsed.entries.map((e) =>
      e === mine
        ? {
            ...e,
            released: true,
            renewals: e.renewals + 1,
            renewTime: new Date(this.wallClock()).toISOString(),
          }
        : e,
    );
    try {
      await api.request('PATCH', EVENT_CONSUMER_CRD_PATH, {
        contentType: 'application/merge-patch+json',
        query: { fieldManager: 'jetscale' },
        timeoutMs: limitMs,
        signal,
        body: {
          metadata: {
            resourceVersion: crd.metadata?.resourceVersion,
            annotations: { [REGISTRY_ANNOTATION]: JSON.stringify(entries) },
          },
        },
      });
    } catch (err) {
      if (isConflict(err)) return false;
      throw err;
    }
    this.options.logger.info('released this installation on the EventConsumer CRD', {
      installation: self.installation,
    });
    return true;
  }
}

function describe(err: unknown): string {
  if (err instanceof KubeApiError) {
    if (err.status === 403)
      return `forbidden (${err.message}): grant get and patch on customresourcedefinitions, resourceNames [${EVENT_CONSUMER_CRD}], apiGroup apiextensions.k8s.io (manifests/rbac/cluster_role.yaml; the Helm chart renders it)`;
    if (err.status === 404)
      return `the ${EVENT_CONSUMER_CRD} CRD is not installed (kubectl apply -k manifests/crd)`;
  }
  return err instanceof Error ? err.message : String(err);
}
