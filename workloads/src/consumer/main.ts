// Entry point of the consumer workload: wiring only (configuration, NATS, topology, the processor,
// the probe server) plus the SIGTERM drain with its grace period.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { consumerSchema, loadConfig } from '../shared/config.js';
import { retryUntil, runMain } from '../shared/lifecycle.js';
import { createLogger, errorMessage } from '../shared/log.js';
import { connectNats } from '../shared/nats.js';
import { startProbeServer } from '../shared/probe-server.js';
import { ensureTopology } from '../shared/topology.js';
import { DeadLetterer } from './dead-letter.js';
import { appendPublisher, EventStore } from './event-store.js';
import { createConsumerMetrics } from './metrics.js';
import { EventProcessor } from './processor.js';
import { ProjectionWriter } from './projection-writer.js';
import { simulatedWork } from './work.js';

runMain(async () => {
  const config = loadConfig(consumerSchema);
  const log = createLogger('consumer', config.LOG_LEVEL);
  const metrics = createConsumerMetrics();
  const nc = await connectNats(config, `jetscale-consumer-${process.pid}`);
  metrics.natsConnected.set(1);
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') metrics.natsConnected.set(0);
      if (s.type === 'reconnect') metrics.natsConnected.set(1);
      if (s.type === 'disconnect' || s.type === 'reconnect') log.info(`nats ${s.type}`, { server: s.server });
    }
  })();
  const resources = await retryUntil('verifying JetStream resources', () => ensureTopology(nc, config), log);
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const store = new EventStore(appendPublisher(nc), jsm, resources.topology, resources.projection, {
    // Called only after projectionWriter.start() (the processor starts after it).
    beforeAppend: () => projectionWriter.assertFresh(),
    onUnflushable: (aggregateId, err) =>
      log.warn('projection not written: its event log cannot be read', { aggregateId, error: err.message }),
    onAppendConflict: () => metrics.appendConflicts.inc(),
    onStep: (step, ms) => metrics.recordStep(step, ms),
    onProjectionRebuilt: (aggregateId, reason) => {
      metrics.projectionsRebuilt.inc();
      log.warn('stored projection unreadable; rebuilt from the event log', { aggregateId, reason });
    },
  });
  const projectionWriter = new ProjectionWriter({
    store,
    projections: resources.projection,
    js,
    jsm,
    topology: resources.topology,
    flushIntervalMs: config.PROJECTION_FLUSH_MS,
    markStaleMs: config.PROJECTION_MARK_STALE_MS,
    log,
    onRecovered: () => metrics.writersRecovered.inc(),
  });
  metrics.countPendingWith(() => store.pendingCount);
  await retryUntil('creating the projection writer mark', () => projectionWriter.start(), log);
  const processor = new EventProcessor({
    js,
    topology: resources.topology,
    store,
    deadLetters: new DeadLetterer(js, resources.topology),
    work: simulatedWork({
      latencyMs: config.WORK_LATENCY_MS,
      jitterMs: config.WORK_LATENCY_JITTER_MS,
      cpuMs: config.WORK_CPU_MS,
      transientFailureRate: config.TRANSIENT_FAILURE_RATE,
      poisonTypes: config.POISON_TYPES,
      hangTypes: config.HANG_TYPES,
    }),
    metrics,
    log,
    policy: {
      maxDeliver: config.MAX_DELIVER,
      baseDelayMs: config.RETRY_BASE_DELAY_MS,
      maxDelayMs: config.RETRY_MAX_DELAY_MS,
      orderDelayMs: config.ORDER_RETRY_DELAY_MS,
    },
    pullBatch: config.PULL_BATCH,
    concurrency: config.CONCURRENCY,
    idleHeartbeatMs: config.IDLE_HEARTBEAT_MS,
    stuckAfterMs: config.STUCK_AFTER_MS,
    recreateConsumer: async () => {
      await ensureTopology(nc, config);
    },
  });
  const probes = await startProbeServer({
    host: config.HOST,
    port: config.PORT,
    registry: metrics.registry,
    ready: () => processor.ready,
    unhealthy: () => processor.stuck(),
  });
  log.info('consumer started', { port: probes.port, pid: process.pid });

  let shuttingDown = false;
  const shutdown = (signal: string): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    metrics.draining.set(1);
    log.info('draining', { signal, held: processor.held, graceMs: config.SHUTDOWN_GRACE_MS });
    const timer = setTimeout(() => {
      log.error('grace period over with messages still held; exiting (they will be redelivered)', {
        held: processor.held,
      });
      process.exit(1);
    }, config.SHUTDOWN_GRACE_MS);
    timer.unref();
    void processor.drain();
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  await processor.run();
  // Every pending projection written, and the writer mark removed, before the connection closes.
  await projectionWriter.stop();
  try {
    // Acks are fire-and-forget publishes: flush makes sure the server has them before we go.
    await nc.flush();
    await nc.drain();
  } catch (err) {
    log.warn('closing the NATS connection failed', { error: errorMessage(err) });
  }
  await probes.close();
  log.info('drained; exiting');
  process.exit(0);
});
