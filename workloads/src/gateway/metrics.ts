// The gateway's Prometheus metrics (names are a contract: workloads/README.md, dashboards, harness).
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { FoldedHistogram } from '../shared/folded-histogram.js';

export type RejectionReason =
  | 'invalid_json'
  | 'invalid_utf8'
  | 'invalid_event'
  | 'body_too_large'
  | 'batch_too_large'
  | 'event_too_large'
  | 'unsupported_media_type'
  | 'unavailable'
  | 'timeout'
  | 'overloaded'
  | 'shutting_down';

export interface GatewayMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'code'>;
  /** Folded (src/shared/folded-histogram.ts): observed once per request and once per event. */
  requestDuration: FoldedHistogram<'route'>;
  events: Counter<'result'>;
  rejections: Counter<'reason'>;
  publishDuration: FoldedHistogram;
  publishesInFlight: Gauge;
  natsConnected: Gauge;
}

export function createGatewayMetrics(withDefaults = true): GatewayMetrics {
  const registry = new Registry();
  if (withDefaults) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const p = 'jetscale_gateway_';
  const latencyBuckets = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
  return {
    registry,
    requests: new Counter({
      name: `${p}http_requests_total`,
      help: 'HTTP requests by route and status code',
      labelNames: ['method', 'route', 'code'],
      registers,
    }),
    requestDuration: new FoldedHistogram({
      name: `${p}http_request_duration_seconds`,
      help: 'HTTP request duration',
      labelNames: ['route'],
      buckets: latencyBuckets,
      registers,
    }),
    events: new Counter({
      name: `${p}events_total`,
      help: 'Events stored (accepted) or recognised as already stored (duplicate)',
      labelNames: ['result'],
      registers,
    }),
    rejections: new Counter({
      name: `${p}rejections_total`,
      help: 'Requests answered 4xx/503, by reason',
      labelNames: ['reason'],
      registers,
    }),
    publishDuration: new FoldedHistogram({
      name: `${p}publish_duration_seconds`,
      help: 'JetStream publish until its ack',
      buckets: latencyBuckets,
      registers,
    }),
    publishesInFlight: new Gauge({
      name: `${p}publishes_in_flight`,
      help: 'Events being published and not yet acknowledged',
      registers,
    }),
    natsConnected: new Gauge({ name: `${p}nats_connected`, help: '1 while connected to NATS', registers }),
  };
}
