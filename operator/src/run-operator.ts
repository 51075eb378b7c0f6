// Assembles a running operator from its configuration: Kubernetes and NATS clients, informers
// under supervision, the reconciler and its work queue, leader election and the HTTP endpoints.
// main.ts calls this for the real process; tests and the benchmark call it in-process.
import type { KubeConfig, KubernetesListObject } from '@kubernetes/client-node';
import type { EventConsumerObject } from './api/v1alpha1/event-consumer.js';
import { eventConsumersPath } from './api/v1alpha1/group-version.js';
import { ConnectionPool } from './backlog/connection-pool.js';
import { NatsBacklogSources } from './backlog/nats-backlog-sources.js';
import type { OperatorConfig } from './config/config.js';
import { Controller } from './controller/controller.js';
import { Reconciler } from './controller/reconciler.js';
import { KubeApiClient } from './kube/api-client.js';
import { EventRecorder } from './kube/event-recorder.js';
import { InformerSupervisor, clientNodeInformerFactory } from './kube/informer-supervisor.js';
import { LeaderElector } from './kube/leader-election.js';
import { OtherAutoscalers } from './kube/other-autoscalers.js';
import { ScaleClient } from './kube/scale-client.js';
import { SecretReader } from './kube/secret-reader.js';
import { startHttpServer } from './observability/http-server.js';
import type { Logger } from './observability/logger.js';
import { OperatorMetrics } from './observability/metrics.js';

export interface RunningOperator {
  metricsPort: number;
  metrics: OperatorMetrics;
  isLeader(): boolean;
  isReady(): boolean;
  /** Stop taking work, finish reconciles in flight, release the Lease, close everything. */
  stop(): Promise<void>;
}

export async function runOperator(
  config: OperatorConfig,
  kc: KubeConfig,
  logger: Logger,
): Promise<RunningOperator> {
  const metrics = new OperatorMetrics();
  const api = new KubeApiClient(kc);
  api.onRequest = (verb, code, seconds) => metrics.kubeRequestDuration.observe({ verb, code }, seconds);
  const pool = new ConnectionPool({
    logger,
    metrics,
    connectTimeoutMs: Math.max(config.natsRequestTimeoutMs, 2000),
  });

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
  };

  const reconciler = new Reconciler({
    cache,
    api,
    scale: new ScaleClient(api),
    secrets: new SecretReader(api),
    backlog: new NatsBacklogSources(pool, { timeoutMs: config.natsRequestTimeoutMs, metrics }),
    events: new EventRecorder({ api, logger, instance: config.identity }),
    autoscalers: new OtherAutoscalers(api, {
      onForbidden: (kind, message) => logger.warn(message, { kind }),
    }),
    metrics,
    logger,
    statusRefreshMs: config.statusRefreshSeconds * 1000,
    statusReadingsRefreshMs: config.statusReadingsSeconds * 1000,
    targetRefreshMs: config.targetRefreshSeconds * 1000,
  });
  const controller = new Controller({ informers, reconciler, workers: config.workers, logger, metrics });

  let elector: LeaderElector | undefined;
  const isLeader = (): boolean => (elector ? elector.isLeader() : true);
  const isReady = (): boolean => informers.every((i) => i.hasSynced());

  const http = await startHttpServer({
    host: config.metricsHost,
    port: config.metricsPort,
    registry: metrics.registry,
    health: { notReadyReason: () => (isReady() ? undefined : 'informers have not synced yet') },
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

  if (config.leaderElection) {
    elector = new LeaderElector({
      api,
      namespace: config.leaseNamespace,
      name: config.leaseName,
      identity: config.identity,
      leaseDurationSeconds: config.leaseDurationSeconds,
      renewDeadlineSeconds: config.renewDeadlineSeconds,
      retryPeriodSeconds: config.retryPeriodSeconds,
      logger,
      onStartedLeading: () => {
        metrics.leader.set(1);
        logger.info('became leader', { identity: config.identity });
        void whenSynced.then(() => {
          if (elector?.isLeader()) controller.startWorking();
        });
      },
      onStoppedLeading: () => {
        metrics.leader.set(0);
        logger.warn('no longer leader: stopping work', { identity: config.identity });
        void controller.stopWorking();
      },
    });
    metrics.leader.set(0);
    elector.start();
  } else {
    metrics.leader.set(1);
    void whenSynced.then(() => controller.startWorking());
  }

  logger.info('operator started', {
    identity: config.identity,
    namespaces: config.namespaces ?? 'all',
    leaderElection: config.leaderElection,
    metricsPort: http.port,
  });

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      logger.info('shutting down: finishing reconciles in flight');
      await controller.stopWorking();
      await elector?.stop();
      await Promise.all(informers.map((i) => i.stop()));
      await pool.closeAll();
      await http.close();
      api.close();
      logger.info('shut down');
    })();
    return stopping;
  };

  return { metricsPort: http.port, metrics, isLeader, isReady, stop };
}
