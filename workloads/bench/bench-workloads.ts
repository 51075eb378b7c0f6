// Benchmark of the sample workloads on loopback, against its own nats-server:
//  1. consumer throughput — one consumer process on the full idempotent, event-sourced path vs a
//     bare consume-and-ack loop on the same server (the ratio is the cost of correctness);
//  2. gateway — requests/s and p50/p99 latency under an open-model (fixed arrival rate) load.
// Usage: npx tsx workloads/bench/bench-workloads.ts [--events N] [--aggregates N] [--concurrency N]
//        [--rates 500,1000,2000] [--seconds S] [--profile DIR]
import { AckPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer } from '../../hack/stack/nats-server.js';
import { topologyOf } from '../src/shared/config.js';
import { ensureTopology } from '../src/shared/topology.js';
import {
  configOf,
  makeEvent,
  publishEvents,
  scrapeMetric,
  sleep,
  startWorkload,
  workloadEnv,
} from '../test/harness.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? fallback) : fallback;
}
const EVENTS = Number(arg('events', '20000'));
const AGGREGATES = Number(arg('aggregates', '1000'));
const RATES = arg('rates', '500,1000,2000').split(',').map(Number);
const SECONDS = Number(arg('seconds', '8'));
const CONCURRENCY = arg('concurrency', '64');
/** `--profile DIR` writes V8 CPU profiles of the full-path consumer and the gateway there. */
const PROFILE_DIR = arg('profile', '');
const log = (line: string) => process.stdout.write(`[bench] ${line}\n`);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-bench-'));
  const server = await startNatsServer({ dir });
  log(`nats-server on ${server.url} (store ${dir}); ${EVENTS} events over ${AGGREGATES} aggregates`);
  const nc = await connect({ servers: server.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const results: Record<string, unknown> = {};
  try {
    const events = (tag: string) =>
      Array.from({ length: EVENTS }, (_, i) =>
        makeEvent(`${tag}-${i}`, `agg-${i % AGGREGATES}`, { payload: { amount: i % 7 } }),
      );

    // 1a. Bare consume-and-ack loop.
    const bare = configOf(workloadEnv(server.url, 'bare'));
    const bareT = topologyOf(bare);
    await jsm.streams.add({ name: bareT.eventsStream, subjects: [bareT.eventsFilter] });
    await jsm.consumers.add(bareT.eventsStream, { durable_name: 'bare', ack_policy: AckPolicy.Explicit });
    let started = performance.now();
    await publishEvents(js, bare, events('bare'));
    log(`published ${EVENTS} (bare) in ${((performance.now() - started) / 1000).toFixed(2)} s`);
    const bareConsumer = await js.consumers.get(bareT.eventsStream, 'bare');
    started = performance.now();
    const messages = await bareConsumer.consume({ max_messages: 512 });
    let acked = 0;
    for await (const m of messages) {
      m.ack();
      if (++acked >= EVENTS) break;
    }
    await nc.flush();
    const bareSeconds = (performance.now() - started) / 1000;
    await messages.close();
    const bareRate = EVENTS / bareSeconds;
    log(`bare consume+ack: ${bareRate.toFixed(0)} events/s`);

    // 1b. Full path: one consumer process.
    const fullEnv = { ...workloadEnv(server.url, 'full'), CONCURRENCY, PULL_BATCH: '256', LOG_LEVEL: 'info' };
    const full = configOf(fullEnv);
    const fullT = topologyOf(full);
    await ensureTopology(nc, full);
    await publishEvents(js, full, events('full'));
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
    const fullSeconds = (performance.now() - started) / 1000;
    const applied = await scrapeMetric(consumerPort, 'jetscale_consumer_events_processed_total');
    consumer.kill('SIGTERM');
    await consumer.exited;
    const fullRate = EVENTS / fullSeconds;
    log(
      `full path (1 process, CONCURRENCY=${CONCURRENCY}): ${fullRate.toFixed(0)} events/s (applied ${applied}); cost of correctness ${(bareRate / fullRate).toFixed(1)}x`,
    );
    results.consumer = {
      events: EVENTS,
      aggregates: AGGREGATES,
      bareEventsPerSecond: Math.round(bareRate),
      fullEventsPerSecond: Math.round(fullRate),
      ratio: Number((bareRate / fullRate).toFixed(2)),
    };

    // 2. Gateway under an open-model load (arrivals do not wait for responses).
    const gwEnv = { ...workloadEnv(server.url, 'gw'), LOG_LEVEL: 'info' };
    const gateway = startWorkload(
      'gateway',
      gwEnv,
      PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [],
    );
    const port = await gateway.port;
    const gatewayResults: unknown[] = [];
    let seq = 0;
    for (const rate of RATES) {
      const latencies: number[] = [];
      const statuses = new Map<number, number>();
      const inFlight = new Set<Promise<void>>();
      const tickMs = 10;
      let sentCount = 0;
      const begin = performance.now();
      while (performance.now() - begin < SECONDS * 1000) {
        // Arrivals follow the clock, not the responses: a late tick sends what it owes.
        const owed = Math.floor(((performance.now() - begin) / 1000) * rate) - sentCount;
        for (let k = 0; k < owed; k++, sentCount++) {
          const sent = performance.now();
          const body = JSON.stringify(makeEvent(`g-${seq++}`, `agg-${seq % AGGREGATES}`));
          const p: Promise<void> = fetch(`http://127.0.0.1:${port}/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body,
          })
            .then(async (res) => {
              await res.arrayBuffer();
              statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
              latencies.push(performance.now() - sent);
            })
            .catch(() => {
              statuses.set(-1, (statuses.get(-1) ?? 0) + 1);
            })
            .finally(() => inFlight.delete(p));
          inFlight.add(p);
        }
        await sleep(tickMs);
      }
      await Promise.all([...inFlight]);
      const elapsed = (performance.now() - begin) / 1000;
      latencies.sort((a, b) => a - b);
      const ok = statuses.get(202) ?? 0;
      const r = {
        offeredPerSecond: rate,
        sentPerSecond: Math.round(sentCount / elapsed),
        achievedPerSecond: Math.round(ok / elapsed),
        p50ms: Number(percentile(latencies, 50).toFixed(2)),
        p99ms: Number(percentile(latencies, 99).toFixed(2)),
        statuses: Object.fromEntries(statuses),
      };
      gatewayResults.push(r);
      log(
        `gateway @ ${rate}/s offered: ${r.achievedPerSecond} req/s 202, p50 ${r.p50ms} ms, p99 ${r.p99ms} ms, statuses ${JSON.stringify(r.statuses)}`,
      );
    }
    gateway.kill('SIGTERM');
    await gateway.exited;
    results.gateway = gatewayResults;
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
