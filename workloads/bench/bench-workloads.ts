// Benchmark of the sample workloads on loopback, in one run against its own nats-server:
//  1. raw JetStream publish-with-ack (msg id, many acks in flight): the gateway's ceiling;
//  2. a bare consume-and-ack loop;
//  3. one consumer process on the full idempotent, event-sourced path, with the time per step of
//     that path (claim, append, projection write …) from the consumer's own step metrics;
//  4. the gateway under open-model load (arrivals on the clock, not on responses) for single events
//     and batches of 10 and 100, each at rising offered rates until it saturates.
// Each phase also reports the CPU time per event of nats-server and of the client process (from
// /proc): on a CPU-bound machine their ratio, not the network, decides the throughput ratio.
// `--compare DIR` runs, in the same run on the same server, the consumer of another checkout (e.g.
// `git archive main workloads package.json tsconfig.json | tar -x -C DIR` with node_modules linked)
// on the same events: a before/after on one machine state.
// Timings are reported, never asserted: the machine may be shared.
// Usage: npx tsx workloads/bench/bench-workloads.ts [--events N] [--aggregates N] [--concurrency N]
//        [--seconds S] [--batches 1,10,100|none] [--profile DIR] [--compare DIR]
import { AckPolicy, jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer } from '../../hack/stack/nats-server.js';
import { topologyOf, type NatsConfig } from '../src/shared/config.js';
import { consumerConfig, ensureTopology, streamConfigs } from '../src/shared/topology.js';
import {
  configOf,
  makeEvent,
  publishEvents,
  sleep,
  startWorkload,
  workloadEnv,
  type TestEvent,
  type Workload,
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
/** `--compare DIR`: also run the consumer of the checkout in DIR (before/after in one run). */
const COMPARE_DIR = arg('compare', '');
const PUBLISH_WINDOW = 1000;
const log = (line: string) => process.stdout.write(`[bench] ${line}\n`);

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const round = (n: number, digits = 0) => Number(n.toFixed(digits));

/** CPU seconds (user + system) a process used so far, from /proc/<pid>/stat (Linux, 100 ticks/s). */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm) ": state is field 3, utime 14 and stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU time per event (µs) of the server and of the client over one phase. */
interface CpuPerEvent {
  serverUs: number;
  clientUs: number;
}

function cpuMeter(serverPid: () => number | undefined, clientPid: number | 'self') {
  const client = () =>
    clientPid === 'self'
      ? process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6
      : cpuSeconds(clientPid);
  const server0 = cpuSeconds(serverPid());
  const client0 = client();
  return (events: number): CpuPerEvent => ({
    serverUs: round(((cpuSeconds(serverPid()) - server0) * 1e6) / events),
    clientUs: round(((client() - client0) * 1e6) / events),
  });
}

const cpuText = (c: CpuPerEvent) =>
  `CPU per event ${c.serverUs + c.clientUs} µs (nats-server ${c.serverUs}, client ${c.clientUs})`;

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

/** An unlabelled metric's value from a Prometheus text page; undefined when the page lacks it. */
async function scrapeValue(port: number, name: string): Promise<number | undefined> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m?.[1] === undefined ? undefined : Number(m[1]);
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
  storedEvents: number;
  cpuPerEvent?: CpuPerEvent;
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
    storedEvents,
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
    const bareEvents = events('bare');
    let meter = cpuMeter(() => server.pid(), 'self');
    const publishRate = await rawPublishRate(js, bare, bareEvents);
    const publishCpu = meter(bareEvents.length);
    log(
      `raw JetStream publish with ack (${PUBLISH_WINDOW} in flight): ${publishRate.toFixed(0)} events/s; ${cpuText(publishCpu)}`,
    );

    // 2. Bare consume-and-ack loop.
    const bareConsumer = await js.consumers.get(bareT.eventsStream, 'bare');
    meter = cpuMeter(() => server.pid(), 'self');
    const started = performance.now();
    const messages = await bareConsumer.consume({ max_messages: 512 });
    let acked = 0;
    for await (const m of messages) {
      m.ack();
      if (++acked >= EVENTS + 2000) break; // the warm-up's events too
    }
    await nc.flush();
    const bareRate = (EVENTS + 2000) / ((performance.now() - started) / 1000);
    const bareCpu = meter(EVENTS + 2000);
    await messages.close();
    log(`bare consume+ack: ${bareRate.toFixed(0)} events/s; ${cpuText(bareCpu)}`);

    // 3. Full path: one consumer process (and, with --compare, another checkout's on the same events).
    const runFull = async (tag: string, root?: string) => {
      const fullEnv = { ...workloadEnv(server.url, tag), CONCURRENCY, PULL_BATCH: '256', LOG_LEVEL: 'info' };
      const full = configOf(fullEnv);
      const fullT = topologyOf(full);
      if (root) {
        // The other version creates its own event log and buckets; the events stream is the same.
        const [eventsStream] = streamConfigs(full, nc.info?.max_payload);
        if (eventsStream) await jsm.streams.add(eventsStream);
        await jsm.consumers.add(fullT.eventsStream, consumerConfig(full));
      } else await ensureTopology(nc, full);
      await publishEvents(js, full, events(tag), PUBLISH_WINDOW);
      const consumer: Workload = startWorkload(
        'consumer',
        fullEnv,
        PROFILE_DIR && !root ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [],
        root,
      );
      const consumerPort = await consumer.port;
      const fullMeter = cpuMeter(() => server.pid(), consumer.proc.pid ?? -1);
      const began = performance.now();
      let lastLog = began;
      for (;;) {
        const info = await jsm.consumers.info(fullT.eventsStream, fullT.consumer);
        const left = info.num_pending + info.num_ack_pending;
        if (left === 0) break;
        if (performance.now() - lastLog > 2000) {
          lastLog = performance.now();
          log(`full path${root ? ' (compared version)' : ''}: ${EVENTS - left}/${EVENTS} settled`);
        }
        await sleep(50);
      }
      // Settled means acked and every projection written (a consumer that writes projections after
      // the ack reports the ones still pending; the count is absent from versions that do not).
      const ackedSeconds = (performance.now() - began) / 1000;
      while (((await scrapeValue(consumerPort, 'jetscale_consumer_projections_pending')) ?? 0) > 0)
        await sleep(20);
      const rate = EVENTS / ((performance.now() - began) / 1000);
      const cpu = fullMeter(EVENTS);
      const stepSeconds = await scrapeByLabel(consumerPort, 'jetscale_consumer_step_seconds_total');
      const stepCalls = await scrapeByLabel(consumerPort, 'jetscale_consumer_steps_total');
      consumer.kill('SIGTERM');
      await consumer.exited;
      const steps = [...stepCalls].map(([step, calls]) => ({
        step,
        perEvent: round(calls / EVENTS, 3),
        meanMs: round(((stepSeconds.get(step) ?? 0) * 1000) / Math.max(calls, 1), 3),
      }));
      log(
        `full path${root ? ` of ${root}` : ''} (1 process, CONCURRENCY=${CONCURRENCY}): ${rate.toFixed(0)} events/s = ${((100 * rate) / bareRate).toFixed(0)} % of bare; ${cpuText(cpu)}`,
      );
      for (const s of steps)
        log(`  step ${s.step.padEnd(17)} ${s.perEvent.toFixed(3)} per event, ${s.meanMs.toFixed(3)} ms each`);
      const ackedRate = EVENTS / ackedSeconds;
      log(
        `  all acked at ${ackedRate.toFixed(0)} events/s; the rate above also waits until every projection is written`,
      );
      return { rate, ackedRate, cpu, steps };
    };
    const fullRun = await runFull('full');
    const fullRate = fullRun.rate;
    const compared = COMPARE_DIR ? await runFull('cmp', path.resolve(COMPARE_DIR)) : undefined;

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
        const gatewayMeter = cpuMeter(() => server.pid(), gateway.proc.pid ?? -1);
        const step = await gatewayStep(port, batch, rate, seq);
        step.cpuPerEvent = gatewayMeter(Math.max(1, step.storedEvents));
        gatewaySteps.push(step);
        log(
          `gateway batch ${batch} @ ${rate} events/s offered: ${step.eventsPerSecond} events/s stored (${step.requestsPerSecond} req/s), p50 ${step.p50ms} ms, p99 ${step.p99ms} ms, statuses ${JSON.stringify(step.statuses)}; ${cpuText(step.cpuPerEvent)} (client = gateway)${step.saturated ? ' — saturated' : ''}`,
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
      `  full path                   ${fullRate.toFixed(0)} events/s = ${((100 * fullRate) / bareRate).toFixed(0)} % of bare, ${((100 * fullRate) / publishRate).toFixed(0)} % of raw publish`,
    );
    if (compared)
      log(
        `  full path, ${COMPARE_DIR}  ${compared.rate.toFixed(0)} events/s = ${((100 * compared.rate) / bareRate).toFixed(0)} % of bare, ${((100 * compared.rate) / publishRate).toFixed(0)} % of raw publish`,
      );
    log(
      `  CPU per event: raw publish ${publishCpu.serverUs + publishCpu.clientUs} µs, bare ${bareCpu.serverUs + bareCpu.clientUs} µs, full path ${fullRun.cpu.serverUs + fullRun.cpu.clientUs} µs${compared ? `, compared ${compared.cpu.serverUs + compared.cpu.clientUs} µs` : ''} (bare ÷ full = ${((100 * (bareCpu.serverUs + bareCpu.clientUs)) / (fullRun.cpu.serverUs + fullRun.cpu.clientUs)).toFixed(0)} %: the ratio a CPU-bound machine allows)`,
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
      rawPublishCpuPerEvent: publishCpu,
      consumer: {
        events: EVENTS,
        aggregates: AGGREGATES,
        bareEventsPerSecond: round(bareRate),
        bareCpuPerEvent: bareCpu,
        fullEventsPerSecond: round(fullRate),
        fullOverBare: round(fullRate / bareRate, 3),
        fullCpuPerEvent: fullRun.cpu,
        steps: fullRun.steps,
        compared: compared
          ? {
              dir: COMPARE_DIR,
              fullEventsPerSecond: round(compared.rate),
              fullOverBare: round(compared.rate / bareRate, 3),
              cpuPerEvent: compared.cpu,
              steps: compared.steps,
            }
          : undefined,
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
