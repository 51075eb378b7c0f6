// Benchmark of the sample workloads on loopback, in one run against its own nats-server:
//  1. raw JetStream publish-with-ack (msg id, many acks in flight): the gateway's ceiling;
//  2. a bare consume-and-ack loop;
//  3. one consumer process on the full idempotent, event-sourced path, with the time per step of
//     that path (claim, append, projection write …) from the consumer's own step metrics;
//  4. the gateway under open-model load (arrivals on the clock, not on responses) for single events
//     and batches of 10 and 100, each at rising offered rates until it saturates.
// Timings are reported, never asserted: the machine may be shared.
// Usage: npx tsx workloads/bench/bench-workloads.ts [--events N] [--aggregates N] [--concurrency N]
//        [--seconds S] [--batches 1,10,100|none] [--profile DIR]
import { AckPolicy, jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer } from '../../hack/stack/nats-server.js';
import { topologyOf, type NatsConfig } from '../src/shared/config.js';
import { ensureTopology } from '../src/shared/topology.js';
import {
  configOf,
  makeEvent,
  publishEvents,
  sleep,
  startWorkload,
  workloadEnv,
  type TestEvent,
} from '../test/harness.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const EVENTS = Number(arg('events', '20000'));
const AGGREGATES = Number(arg('aggregates', '1000'));
const SECONDS = Number(arg('seconds', '5'));
const CONCURRENCY = arg('concurrency', '64');
/** `--batches none` skips the gateway (consumer A/B runs). */
const BATCHES = arg('batches', '1,10,100')
  .split(',')
  .filter((b) => b !== 'none')
  .map(Number);
/** Offered event rates per batch size, tried in order until the gateway saturates. */
const LADDER: Record<number, number[]> = {
  1: [500, 1000, 2000, 4000],
  10: [2000, 5000, 10_000, 20_000],
  100: [5000, 10_000, 20_000, 40_000],
};
/** `--profile DIR` writes V8 CPU profiles of the full-path consumer and the gateway there. */
const PROFILE_DIR = arg('profile', '');
const PUBLISH_WINDOW = 1000;
const log = (line: string) => process.stdout.write(`[bench] ${line}\n`);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const round = (n: number, digits = 0) => Number(n.toFixed(digits));

/** Metric values by label value (`name{label="x"} v`) from a Prometheus text page. */
async function scrapeByLabel(port: number, name: string): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = new Map<string, number>();
  const pattern = new RegExp(`^${name}\\{[a-z_]+="([^"]*)"\\} (\\S+)$`);
  for (const line of text.split('\n')) {
    const m = pattern.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) out.set(m[1], Number(m[2]));
  }
  return out;
}

/**
 * Publishes with ack and msg id keeping `PUBLISH_WINDOW` publishes in flight at all times (a
 * sliding window, as the gateway has with many requests open); returns events/s.
 */
async function rawPublishRate(js: JetStreamClient, config: NatsConfig, events: TestEvent[]): Promise<number> {
  const t = topologyOf(config);
  const encoder = new TextEncoder();
  let next = 0;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    for (let e = events[next++]; e; e = events[next++])
      await js.publish(t.eventsSubject(e.aggregateId), encoder.encode(JSON.stringify(e)), { msgID: e.id });
  };
  await Promise.all(Array.from({ length: PUBLISH_WINDOW }, () => lane()));
  return events.length / ((performance.now() - started) / 1000);
}

interface GatewayStep {
  batch: number;
  offeredEventsPerSecond: number;
  requestsPerSecond: number;
  eventsPerSecond: number;
  p50ms: number;
  p99ms: number;
  statuses: Record<string, number>;
  saturated: boolean;
}

async function gatewayStep(
  port: number,
  batch: number,
  eventRate: number,
  seq: { n: number },
): Promise<GatewayStep> {
  const requestRate = eventRate / batch;
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  const inFlight = new Set<Promise<void>>();
  let sent = 0;
  let storedEvents = 0;
  const begin = performance.now();
  while (performance.now() - begin < SECONDS * 1000) {
    // Arrivals follow the clock, not the responses: a late tick sends what it owes.
    const owed = Math.floor(((performance.now() - begin) / 1000) * requestRate) - sent;
    for (let k = 0; k < owed; k++, sent++) {
      const events = Array.from({ length: batch }, () => {
        const n = seq.n++;
        return makeEvent(`g-${n}`, `agg-${n % AGGREGATES}`);
      });
      const started = performance.now();
      const p: Promise<void> = fetch(`http://127.0.0.1:${port}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(batch === 1 ? events[0] : events),
      })
        .then(async (res) => {
          await res.arrayBuffer();
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          if (res.status === 202) storedEvents += batch;
          latencies.push(performance.now() - started);
        })
        .catch(() => {
          statuses.set(-1, (statuses.get(-1) ?? 0) + 1);
        })
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    }
    await sleep(5);
  }
  await Promise.all([...inFlight]);
  const elapsed = (performance.now() - begin) / 1000;
  latencies.sort((a, b) => a - b);
  const eventsPerSecond = storedEvents / elapsed;
  const p99 = percentile(latencies, 99);
  return {
    batch,
    offeredEventsPerSecond: eventRate,
    requestsPerSecond: round((statuses.get(202) ?? 0) / elapsed),
    eventsPerSecond: round(eventsPerSecond),
    p50ms: round(percentile(latencies, 50), 1),
    p99ms: round(p99, 1),
    statuses: Object.fromEntries(statuses),
    // Saturated: it no longer keeps up with the offer, or requests queue for a second.
    saturated: eventsPerSecond < 0.9 * eventRate || p99 > 1000,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-bench-'));
  const server = await startNatsServer({ dir });
  log(`nats-server on ${server.url} (store ${dir}); ${EVENTS} events over ${AGGREGATES} aggregates`);
  log(
    `load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${os.cpus().length} cores`,
  );
  const nc = await connect({ servers: server.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  try {
    const events = (tag: string) =>
      Array.from({ length: EVENTS }, (_, i) =>
        makeEvent(`${tag}-${i}`, `agg-${i % AGGREGATES}`, { payload: { amount: i % 7 } }),
      );

    // 1. Raw publish with ack and msg id, PUBLISH_WINDOW in flight (what the gateway does per event).
    const bare = configOf(workloadEnv(server.url, 'bare'));
    const bareT = topologyOf(bare);
    await jsm.streams.add({ name: bareT.eventsStream, subjects: [bareT.eventsFilter] });
    await jsm.consumers.add(bareT.eventsStream, { durable_name: 'bare', ack_policy: AckPolicy.Explicit });
    await rawPublishRate(js, bare, events('warm-up').slice(0, 2000)); // JIT and stream warm-up
    const publishRate = await rawPublishRate(js, bare, events('bare'));
    log(`raw JetStream publish with ack (${PUBLISH_WINDOW} in flight): ${publishRate.toFixed(0)} events/s`);

    // 2. Bare consume-and-ack loop.
    const bareConsumer = await js.consumers.get(bareT.eventsStream, 'bare');
    let started = performance.now();
    const messages = await bareConsumer.consume({ max_messages: 512 });
    let acked = 0;
    for await (const m of messages) {
      m.ack();
      if (++acked >= EVENTS + 2000) break; // the warm-up's events too
    }
    await nc.flush();
    const bareRate = (EVENTS + 2000) / ((performance.now() - started) / 1000);
    await messages.close();
    log(`bare consume+ack: ${bareRate.toFixed(0)} events/s`);

    // 3. Full path: one consumer process.
    const fullEnv = { ...workloadEnv(server.url, 'full'), CONCURRENCY, PULL_BATCH: '256', LOG_LEVEL: 'info' };
    const full = configOf(fullEnv);
    const fullT = topologyOf(full);
    await ensureTopology(nc, full);
    await publishEvents(js, full, events('full'), PUBLISH_WINDOW);
    const consumer = startWorkload(
      'consumer',
      fullEnv,
      PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [],
    );
    const consumerPort = await consumer.port;
    started = performance.now();
    let lastLog = started;
    for (;;) {
      const info = await jsm.consumers.info(fullT.eventsStream, fullT.consumer);
      const left = info.num_pending + info.num_ack_pending;
      if (left === 0) break;
      if (performance.now() - lastLog > 2000) {
        lastLog = performance.now();
        log(`full path: ${EVENTS - left}/${EVENTS} settled`);
      }
      await sleep(50);
    }
    const fullRate = EVENTS / ((performance.now() - started) / 1000);
    const stepSeconds = await scrapeByLabel(consumerPort, 'jetscale_consumer_step_seconds_total');
    const stepCalls = await scrapeByLabel(consumerPort, 'jetscale_consumer_steps_total');
    consumer.kill('SIGTERM');
    await consumer.exited;
    log(
      `full path (1 process, CONCURRENCY=${CONCURRENCY}): ${fullRate.toFixed(0)} events/s = ${((100 * fullRate) / bareRate).toFixed(0)} % of bare`,
    );
    const steps = [...stepCalls].map(([step, calls]) => ({
      step,
      perEvent: round(calls / EVENTS, 3),
      meanMs: round(((stepSeconds.get(step) ?? 0) * 1000) / Math.max(calls, 1), 3),
    }));
    for (const s of steps)
      log(`  step ${s.step.padEnd(17)} ${s.perEvent.toFixed(3)} per event, ${s.meanMs.toFixed(3)} ms each`);

    // 4. Gateway under open-model load, by batch size.
    const gateway = startWorkload(
      'gateway',
      { ...workloadEnv(server.url, 'gw'), LOG_LEVEL: 'info' },
      PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [],
    );
    const port = await gateway.port;
    const seq = { n: 0 };
    const gatewaySteps: GatewayStep[] = [];
    for (const batch of BATCHES) {
      for (const rate of LADDER[batch] ?? [1000 * batch]) {
        const step = await gatewayStep(port, batch, rate, seq);
        gatewaySteps.push(step);
        log(
          `gateway batch ${batch} @ ${rate} events/s offered: ${step.eventsPerSecond} events/s stored (${step.requestsPerSecond} req/s), p50 ${step.p50ms} ms, p99 ${step.p99ms} ms, statuses ${JSON.stringify(step.statuses)}${step.saturated ? ' — saturated' : ''}`,
        );
        if (step.saturated) break;
        await sleep(500);
      }
    }
    gateway.kill('SIGTERM');
    await gateway.exited;

    const best = (batch: number) =>
      gatewaySteps
        .filter((s) => s.batch === batch)
        .reduce<GatewayStep | undefined>(
          (a, b) => (a && a.eventsPerSecond >= b.eventsPerSecond ? a : b),
          undefined,
        );
    log('summary (one run, same server; numbers move with the machine load):');
    log(`  raw publish with ack        ${publishRate.toFixed(0)} events/s (the gateway's ceiling)`);
    log(`  bare consume+ack            ${bareRate.toFixed(0)} events/s`);
    log(
      `  full path                   ${fullRate.toFixed(0)} events/s = ${((100 * fullRate) / bareRate).toFixed(0)} % of bare`,
    );
    for (const batch of BATCHES) {
      const b = best(batch);
      if (b)
        log(
          `  gateway batch ${String(batch).padEnd(4)}         ${b.eventsPerSecond} events/s best (p50 ${b.p50ms} ms, p99 ${b.p99ms} ms) = ${((100 * b.eventsPerSecond) / publishRate).toFixed(0)} % of raw publish`,
        );
    }
    const results = {
      loadAverage: os.loadavg().map((l) => round(l, 1)),
      rawPublishEventsPerSecond: round(publishRate),
      consumer: {
        events: EVENTS,
        aggregates: AGGREGATES,
        bareEventsPerSecond: round(bareRate),
        fullEventsPerSecond: round(fullRate),
        fullOverBare: round(fullRate / bareRate, 3),
        steps,
      },
      gateway: gatewaySteps,
    };
    process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  } finally {
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(
      `bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
