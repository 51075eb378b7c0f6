// Assembles a running operator from its configuration: Kubernetes and NATS clients, informers
// under supervision, the reconciler and its work queue, leader election and the HTTP endpoints.
// main.ts calls this for the real process; tests and the benchmark call it in-process.
//
// Work happens in leadership terms (leader-election.ts): each term gets its own reconciler whose
// every Kubernetes request goes through a FencedKubeApi bound to the term. A process leads at
// most one term: when it ends, work stops, per-EventConsumer metrics are dropped and
// `leadershipLost` resolves — main.ts then exits so that nothing left in flight can write, and the
// Deployment restarts the pod as a standby (operator/README.md, "High availability").
import { randomBytes } from 'node:crypto';
import type { KubeConfig, KubernetesListObject } from '@kubernetes/client-node';
import type { EventConsumerObject } from './api/v1alpha1/event-consumer.js';
import { eventConsumersPath } from './api/v1alpha1/group-version.js';
import { ConnectionPool } from './backlog/connection-pool.js';
import { NatsBacklogSources } from './backlog/nats-backlog-sources.js';
import type { OperatorConfig } from './config/config.js';
import { Controller } from './controller/controller.js';
import { Reconciler } from './controller/reconciler.js';
import { FencedError, KubeApiClient } from './kube/api-client.js';
import { EventRecorder } from './kube/event-recorder.js';
import { FencedKubeApi, permanentTerm, type LeadershipTerm, type WriteOutcome } from './kube/fenced-api.js';
import { InformerSupervisor, clientNodeInformerFactory } from './kube/informer-supervisor.js';
import { InstallationRegistry, leaderRegistered, releaseBudgetMs } from './kube/installation-registry.js';
import { LeaderElector } from './kube/leader-election.js';
import { OtherAutoscalers } from './kube/other-autoscalers.js';
import { ScaleClient } from './kube/scale-client.js';
import { fenceTargets, listItems, targetsOf } from './kube/takeover-fence.js';
import { SecretReader } from './kube/secret-reader.js';
import { SlowRequests } from './kube/slow-requests.js';
import { startHttpServer } from './observability/http-server.js';
import type { Logger } from './observability/logger.js';
import { OperatorMetrics } from './observability/metrics.js';

export interface RunningOperator {
  metricsPort: number;
  metrics: OperatorMetrics;
  isLeader(): boolean;
  isReady(): boolean;
  /**
   * Resolves (with the reason) when this process stopped leading. It will not lead again: the
   * caller should exit (main.ts does) and be restarted as a fresh standby.
   */
  leadershipLost: Promise<string>;
  /** Stop taking work, finish reconciles in flight, release the Lease, close everything. */
  stop(): Promise<void>;
}

export async function runOperator(
  config: OperatorConfig,
  kc: KubeConfig,
  logger: Logger,
): Promise<RunningOperator> {
  const metrics = new OperatorMetrics();
  // The User-Agent names this replica in the API server's audit log (which replica wrote what).
  const api = new KubeApiClient(kc, { userAgent: `jetscale-operator (${config.identity})` });
  api.onRequest = (verb, code, seconds) => metrics.kubeRequestDuration.observe({ verb, code }, seconds);
  // The Lease and the installation registry have a client of their own, so sockets of their own.
  // The reconciles share `api`'s 32 (one per worker), and scale targets that hang every request
  // (a conversion webhook or an aggregated API that never answers) hold all of them: a renewal
  // queued behind those would miss its deadline, and the leader would step down and exit, and its
  // successor meet the same targets (leader-election.int, hung targets).
  const coordinationApi = new KubeApiClient(kc, { userAgent: `jetscale-operator (${config.identity})` });
  coordinationApi.onRequest = api.onRequest;
  const pool = new ConnectionPool({
    logger,
    metrics,
    connectTimeoutMs: Math.max(config.natsRequestTimeoutMs, 2000),
    pingTimeoutMs: config.natsRequestTimeoutMs,
    // A disconnect waits this long for its reconnect before reads fail (a routine NATS restart).
    reconnectGraceMs: config.natsRequestTimeoutMs,
    // A slow server may hold at most half the workers; the rest keep serving everyone else.
    maxInFlightPerConnection: Math.max(1, Math.floor(config.workers / 2)),
    // Likewise slow reads across every connection: connects to servers that never answer, requests
    // that time out, however many connections they are.
    maxSlowReads: Math.max(1, Math.floor(config.workers / 2)),
  });

  // Likewise on the Kubernetes side: scale targets whose requests hang (a conversion webhook or an
  // aggregated API that never answers) may hold at most half the workers (kube/slow-requests.ts).
  // One for the process: every term's ScaleClient shares it.
  const slowTargetRequests = new SlowRequests({ maxSlow: Math.max(1, Math.floor(config.workers / 2)) });

  const namespaces: Array<string | undefined> = config.namespaces ?? [undefined];
  const informers = namespaces.map(
    (namespace) =>
      new InformerSupervisor<EventConsumerObject>({
        resource: namespace === undefined ? 'eventconsumers' : `eventconsumers/${namespace}`,
        path: eventConsumersPath(namespace),
        list: () =>
          api.request<KubernetesListObject<EventConsumerObject>>('GET', eventConsumersPath(namespace)),
        factory: clientNodeInformerFactory<EventConsumerObject>(kc),
        logger,
        resyncMs: config.resyncSeconds * 1000,
        onRestart: (cause) => metrics.informerRestarts.inc({ resource: 'eventconsumers', cause }),
      }),
  );
  const cache = {
    get: (name: string, namespace?: string): EventConsumerObject | undefined => {
      for (const informer of informers) {
        const obj = informer.get(name, namespace);
        if (obj) return obj;
      }
      return undefined;
    },
    list: (namespace: string): EventConsumerObject[] =>
      informers.flatMap((i) => i.list()).filter((o) => o.metadata?.namespace === namespace),
    answered: (stored: EventConsumerObject): void => {
      for (const informer of informers) informer.answered(stored);
    },
  };

  const backlog = new NatsBacklogSources(pool, { timeoutMs: config.natsRequestTimeoutMs, metrics, logger });
  const onWrite = (verb: string, outcome: WriteOutcome): void => metrics.fencedWrites.inc({ verb, outcome });
  // On shutdown the reconciles' reads still waiting are abandoned at once: a hung target's read
  // (a conversion webhook or an aggregated API that never answers) otherwise held the shutdown for
  // its 30 s timeout, past main.ts's 25 s bound, and the process exited without releasing the
  // Lease: the standby waited out the lease duration. Writes already sent are waited for.
  const shutdownReads = new AbortController();
  // A write sent before the renew deadline must be applied, or given up by the API server, before
  // a standby can take the Lease over (lease duration after our last renewal): the rest of the
  // lease, less WRITE_GRACE_MARGIN_MS for the write's way to the API server.
  const writeGraceMs = config.leaderElection
    ? Math.max(0, (config.leaseDurationSeconds - config.renewDeadlineSeconds) * 1000 - WRITE_GRACE_MARGIN_MS)
    : undefined;
  // That margin is the longest a write may then take from its fence check to leaving the process.
  const sendWithinMs = writeGraceMs === undefined ? undefined : WRITE_GRACE_MARGIN_MS;
  let workApi: FencedKubeApi | undefined;
  /**
   * A term's registration of this installation on the EventConsumer CRD (installation-registry.ts):
   * its own writes are fenced by the Lease alone; the reconciler's by both.
   */
  const registryFor = (term: LeadershipTerm): InstallationRegistry =>
    new InstallationRegistry({
      api: new FencedKubeApi(coordinationApi, term, { onWrite, writeGraceMs, sendWithinMs }),
      self: {
        installation: `${config.leaseNamespace}/${config.leaseName}`,
        holder: config.identity,
        namespaces: config.namespaces ?? '*',
      },
      renewPeriodMs: config.installationRenewSeconds * 1000,
      logger,
      onRenewal: (registered, yieldedTo) => {
        metrics.installationRegistered.set(registered ? 1 : 0);
        metrics.installationYieldedTo.reset();
        for (const other of yieldedTo)
          metrics.installationYieldedTo.set({ installation: other.installation }, 1);
      },
    });
  /**
   * A reconciler for one term: every request it makes is bound to the term, and its writes are
   * fenced by the Lease and by the installation's registration both.
   */
  const workFor = (
    term: LeadershipTerm,
    registry: InstallationRegistry,
  ): { reconciler: Reconciler; events: EventRecorder } => {
    const registered: LeadershipTerm = {
      signal: term.signal,
      writableUntil: () => Math.min(term.writableUntil(), registry.writableUntil()),
    };
    const fenced = new FencedKubeApi(api, registered, {
      onWrite,
      abortReads: shutdownReads.signal,
      writeGraceMs,
      sendWithinMs,
    });
    workApi = fenced;
    const events = new EventRecorder({ api: fenced, logger, instance: config.identity });
    const reconciler = new Reconciler({
      cache,
      api: fenced,
      scale: new ScaleClient(fenced, { slowRequests: slowTargetRequests }),
      secrets: new SecretReader(fenced),
      backlog,
      events,
      autoscalers: new OtherAutoscalers(fenced, {
        onForbidden: (kind, message) => logger.warn(message, { kind }),
      }),
      metrics,
      logger,
      statusRefreshMs: config.statusRefreshSeconds * 1000,
      statusReadingsRefreshMs: config.statusReadingsSeconds * 1000,
      statusRatesRefreshMs: config.statusRatesSeconds * 1000,
      statusReadingsPerSecond: config.statusReadingsPerSecond,
      targetRefreshMs: config.targetRefreshSeconds * 1000,
      // One term of one process: a restarted process (same pod name) is another writer.
      writer: `${config.identity}/${randomBytes(4).toString('hex')}`,
    });
    return { reconciler, events };
  };
  const controller = new Controller({ informers, workers: config.workers, logger, metrics });
  let events: EventRecorder | undefined;
  let registry: InstallationRegistry | undefined;
  const startWorking = async (term: LeadershipTerm): Promise<void> => {
    if (term.signal.aborted) return;
    const termRegistry = registryFor(term);
    registry = termRegistry;
    // The first renewal decides what this installation may reconcile; work starts after it.
    await termRegistry.renew();
    termRegistry.start(term.signal);
    if (term.signal.aborted || stopping) return;
    const work = workFor(term, termRegistry);
    events = work.events;
    const told = new Set<string>();
    controller.startWorking({
      reconciler: work.reconciler,
      signal: term.signal,
      admits: {
        recheckAfterMs: config.installationRenewSeconds * 1000,
        admit: (key) => {
          const namespace = key.slice(0, key.indexOf('/'));
          const obj = cache.get(key.slice(key.indexOf('/') + 1), namespace);
          // A deleted EventConsumer is admitted: its reconcile only forgets it, writing nothing.
          const why = obj === undefined ? undefined : termRegistry.whyNot(namespace);
          if (why === undefined) {
            told.delete(key);
            return true;
          }
          // Not registered: the registry's own error says why, once, not once per EventConsumer.
          if (!told.has(key) && termRegistry.writableUntil() > performance.now()) {
            told.add(key);
            logger.debug('not reconciling this EventConsumer', {
              namespace,
              name: obj?.metadata?.name,
              reason: why,
            });
            // Said where users look (kubectl describe); an Event, not a condition: the status
            // belongs to the installation that reconciles it.
            if (obj?.metadata?.name !== undefined)
              work.events.warning(
                {
                  apiVersion: obj.apiVersion ?? 'jetscale.io/v1alpha1',
                  kind: obj.kind ?? 'EventConsumer',
                  namespace,
                  name: obj.metadata.name,
                  uid: obj.metadata.uid,
                },
                'OtherInstallation',
                why,
              );
          }
          return false;
        },
      },
    });
  };
  // With JETSCALE_FENCE_TARGETS (opt-in: it needs `patch` on the target objects): before this
  // process takes the Lease over from a holder whose lease ran out (or creates it again after a
  // holder was seen), every target of the EventConsumers it knows gets its resourceVersion moved on
  // (kube/takeover-fence.ts), so a /scale write its predecessor sent late fails with 409 instead of
  // landing under this leader. Without it, such a write is undone at the next poll instead
  // (controller/reconciler.ts noticeOutsideChange).
  const fenceScale = new ScaleClient(api, { slowRequests: slowTargetRequests });
  if (config.fenceTargets) metrics.initTakeoverFence();
  const beforeTakeOver = async (previousHolder: string): Promise<void> => {
    const outcome = await fenceTargets({
      scale: fenceScale,
      targets: targetsOf(informers.flatMap((i) => i.list())),
      // And afresh from the API server, beside the cache: a standby's watch may be broken by the
      // same trouble that cost the old leader its Lease, and the old leader may still write to a
      // target the cache does not show (an EventConsumer created or retargeted meanwhile).
      listTargets: async (signal) =>
        targetsOf(
          (
            await Promise.all(
              namespaces.map((namespace) =>
                api.request<unknown>('GET', eventConsumersPath(namespace), { signal }),
              ),
            )
          ).flatMap(listItems),
        ),
      token: `${config.identity} ${new Date().toISOString()} ${randomBytes(4).toString('hex')}`,
      logger,
      // The takeover already waited a lease duration for the old holder's lease to run out; the
      // fence may add at most as much again, whatever the number of targets or the API server's pace.
      timeLimitMs: config.leaseDurationSeconds * 1000,
    });
    metrics.recordTakeoverFence(outcome);
    logger.info('fenced the scale targets before taking the Lease over', { previousHolder, ...outcome });
  };

  let reportLost: (reason: string) => void = () => undefined;
  const leadershipLost = new Promise<string>((resolve) => (reportLost = resolve));

  let elector: LeaderElector | undefined;
  const isLeader = (): boolean => (elector ? elector.isLeader() : true);
  // Ready, and work starts, once every watched namespace's list has been answered: synced, or
  // refused. A namespace the operator may not list (its RoleBinding deleted by the namespace's
  // admin, or the namespace deleted with it) holds no other back; its informer retries with backoff,
  // logging the API server's refusal, and its EventConsumers are queued when a list succeeds.
  // (Before, every list had to succeed: such a namespace kept a new leader from reconciling
  // anything, everywhere, while it held the Lease.)
  const isReady = (): boolean => informers.every((i) => i.hasAnswered());

  const http = await startHttpServer({
    host: config.metricsHost,
    port: config.metricsPort,
    registry: metrics.registry,
    health: {
      notReadyReason: () => (isReady() ? undefined : 'the EventConsumer lists have not been answered yet'),
    },
  });

  await Promise.all(informers.map((i) => i.start()));

  // Work starts once the cache is filled; a reconcile on an empty cache would see nothing to do.
  const whenSynced = new Promise<void>((resolve) => {
    const check = (): void => {
      if (isReady()) resolve();
      else setTimeout(check, 50).unref();
    };
    check();
  });

  let stopping: Promise<void> | undefined;
  let permanent: ReturnType<typeof permanentTerm> | undefined;
  if (config.leaderElection) {
    const lease = new LeaderElector({
      api: coordinationApi,
      namespace: config.leaseNamespace,
      name: config.leaseName,
      identity: config.identity,
      leaseDurationSeconds: config.leaseDurationSeconds,
      renewDeadlineSeconds: config.renewDeadlineSeconds,
      retryPeriodSeconds: config.retryPeriodSeconds,
      // A Lease missing when first read is a first install, unless the installation's registry
      // entry says a leader may be in its term (deleted by hand): then it is waited on.
      leaderRegistered: () =>
        leaderRegistered(coordinationApi, `${config.leaseNamespace}/${config.leaseName}`),
      logger,
      ...(config.fenceTargets ? { beforeTakeOver } : {}),
      onStartedLeading: (term) => {
        metrics.leader.set(1);
        logger.info('became leader', { identity: config.identity });
        void whenSynced.then(() => startWorking(term));
      },
      onStoppedLeading: (reason) => {
        // The term's signal has already aborted every request of the term and stopped the queue.
        metrics.leader.set(0);
        metrics.forgetAllEventConsumers();
        if (stopping) return; // our own shutdown ended the term; stop() releases the Lease
        logger.warn('no longer leader: work stopped', { identity: config.identity, reason });
        void lease.stop(); // no second term in this process
        // Reconciles blocked on NATS may still set a gauge on their way out: clear again after them.
        void controller.stopWorking().then(() => metrics.forgetAllEventConsumers());
        reportLost(reason);
      },
    });
    elector = lease;
    metrics.leader.set(0);
    lease.start();
  } else {
    metrics.leader.set(1);
    const term = permanentTerm();
    permanent = term;
    void whenSynced.then(() => startWorking(term));
  }

  logger.info('operator started', {
    identity: config.identity,
    namespaces: config.namespaces ?? 'all',
    leaderElection: config.leaderElection,
    metricsPort: http.port,
  });

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      const stopStarted = performance.now();
      logger.info('shutting down: abandoning reads in flight, finishing the reconciles and writes in flight');
      // The queue is shut first (stopWorking does so before it waits), so no reconcile starts after.
      const reconcilesDone = controller.stopWorking();
      shutdownReads.abort(new FencedError('TermEnded', 'shutting down: a read still waiting was abandoned'));
      const settled = await settlesWithin(
        (async () => {
          await reconcilesDone;
          await events?.flush();
        })(),
        SHUTDOWN_SETTLE_MS,
      );
      const writesInFlight = workApi?.writesInFlight() ?? 0;
      if (settled && writesInFlight === 0) {
        // Nothing of ours is in flight: an installation that yielded to this one may take over now.
        // It may retry until RELEASE_BY_MS after the shutdown began, whatever the settle left.
        await registry?.release(releaseBudgetMs(performance.now() - stopStarted));
        // Only now, with nothing of ours in flight, end the term and give the Lease up.
        permanent?.end('shutting down');
        await elector?.stop();
      } else {
        // A write still out may yet be applied: whoever takes over must not start before it could
        // land, so the registry entry and the Lease are left to expire (the term's end aborts the rest).
        logger.warn(
          `shutting down: reconciles still in flight after ${SHUTDOWN_SETTLE_MS / 1000} s; not releasing this installation nor the Lease, which expire on their own`,
          { writesInFlight },
        );
        registry?.stop();
        permanent?.end('shutting down');
        await elector?.stop({ release: false });
      }
      await Promise.all(informers.map((i) => i.stop()));
      await pool.closeAll();
      await http.close();
      api.close();
      coordinationApi.close();
      logger.info('shut down', await metrics.fencedWriteCounts());
    })();
    return stopping;
  };

  return { metricsPort: http.port, metrics, isLeader, isReady, leadershipLost, stop };
}

/**
 * How long a shutdown waits for the reconciles, status writes and Events in flight (reads are
 * abandoned at once): well inside main.ts's 25 s bound and Kubernetes' default 30 s grace period,
 * leaving time to release the installation (until RELEASE_BY_MS, 18 s, after the shutdown began)
 * and the Lease.
 */
const SHUTDOWN_SETTLE_MS = 10_000;

/** Kept from a write's API server deadline for its way there (see writeGraceMs). */
const WRITE_GRACE_MARGIN_MS = 500;

/** True when `work` settled within `ms`; it keeps running otherwise. */
async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => true,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
