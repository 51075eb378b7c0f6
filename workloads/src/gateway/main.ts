// Entry point of the gateway workload: wiring (configuration, NATS, topology, the express app) and
// a graceful shutdown that stops accepting, finishes in-flight requests, then drains NATS.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gatewaySchema, loadConfig, topologyOf } from '../shared/config.js';
import { storedEventLimit } from '../shared/event.js';
import { closeAnswering } from '../shared/http-close.js';
import { retryUntil, runMain } from '../shared/lifecycle.js';
import { createLogger, errorMessage } from '../shared/log.js';
import { JetStreamPublisher } from '../shared/js-publisher.js';
import { connectNats } from '../shared/nats.js';
import { ensureTopology } from '../shared/topology.js';
import { createGatewayHandler } from './app.js';
import { createGatewayMetrics } from './metrics.js';
import { EventPublisher } from './publisher.js';

runMain(async () => {
  const config = loadConfig(gatewaySchema);
  const log = createLogger('gateway', config.LOG_LEVEL);
  const metrics = createGatewayMetrics();
  const nc = await connectNats(config, `jetscale-gateway-${process.pid}`);
  const publisher = new EventPublisher(
    nc,
    // Concurrent requests' publishes share a socket write (README, "Gateway").
    new JetStreamPublisher(nc, config.PUBLISH_TIMEOUT_MS, { coalesce: true }),
    topologyOf(config),
    config.MAX_IN_FLIGHT_PUBLISHES,
    metrics,
  );
  let started = false;
  let shuttingDown = false;
  // The common POST /events on node:http, everything else through express (app.ts).
  const handler = createGatewayHandler({
    sink: publisher,
    metrics,
    log,
    maxBodyBytes: config.MAX_BODY_BYTES,
    maxBatch: config.MAX_BATCH,
    // Read per request: a reconnect may land on a server with another max_payload.
    maxEventBytes: () => storedEventLimit(nc.info?.max_payload ?? 1_048_576),
    retryAfterSeconds: config.RETRY_AFTER_SECONDS,
    started: () => started,
    shuttingDown: () => shuttingDown,
  });
  await retryUntil('verifying JetStream resources', () => ensureTopology(nc, config), log);
  started = true;
  const server = createServer(handler).listen(config.PORT, config.HOST);
  const closeServer = closeAnswering(server);
  // Keep idle client connections open longer than clients and load balancers keep them (Node's
  // 5 s default lets a client reuse a socket the server is closing: an ECONNRESET per race).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  log.info('gateway started', { port: (server.address() as AddressInfo).port, pid: process.pid });

  const shutdown = (signal: string): void => {
    if (shuttingDown) return;
    shuttingDown = true;
    log.info('shutting down', { signal, graceMs: config.SHUTDOWN_GRACE_MS });
    setTimeout(() => {
      log.error('grace period over with requests still in flight; exiting');
      process.exit(1);
    }, config.SHUTDOWN_GRACE_MS).unref();
    // Stops accepting and answers the requests received; idle keep-alive connections, and ones
    // whose request headers never end, are closed so they do not hold the exit up.
    void closeServer().then(async () => {
      try {
        await nc.drain();
      } catch (err) {
        log.warn('closing the NATS connection failed', { error: errorMessage(err) });
      }
      log.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
});
