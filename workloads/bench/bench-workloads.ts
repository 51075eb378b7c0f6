// Benchmark of the sample workloads on loopback, in one run against its own nats-server.
//
// The events are stored once (that publish is timed: the raw JetStream publish-with-ack rate, the
// gateway's ceiling). Then, in each of `--rounds` rounds, these consumer phases run one after the
// other, each with a durable consumer of its own reading the same stored events from the start:
//  - bare:  consume + ack, nothing else (in this process);
//  - floor: consume, publish one message per event and wait for its ack, then ack (in this process,
//           with the consumer's cheap publisher and CONCURRENCY in flight): the cheapest way to store
//           anything per event, so the floor of any exactly-once effect;
//  - full:  one consumer process on the full idempotent, event-sourced path (its own event log and
//           projection bucket per phase), with the time per step from its step metrics;
//  - old:   with `--compare DIR`, the same for the consumer of another checkout (before/after).
// The order alternates between rounds (A B C D, D C B A, …). Each phase is timed over a window that
// opens after WARM_UP_EVENTS and closes after `--seconds` or at 90 % of the stored events, whichever
// comes first, and reports events/s and the CPU time per event of nats-server and of the client
// process (from /proc) over that window. The summary gives the median and range over the rounds of
// each phase and of the ratios taken within a round. Then the gateway under open-model load
// (arrivals on the clock, not on responses) for single events and batches of 10 and 100, each at
// rising offered rates until it saturates.
// Timings are reported, never asserted: the machine may be shared.
// Usage: npx tsx workloads/bench/bench-workloads.ts [flags] — see parseBenchArgs in stats.ts.
import {
  AckPolicy,
  jetstream,
  jetstreamManager,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer } from '../../hack/stack/nats-server.js';
import { topologyOf, type NatsConfig } from '../src/shared/config.js';
import { JetStreamPublisher } from '../src/shared/js-publisher.js';
import { ensureTopology } from '../src/shared/topology.js';
import {
  configOf,
  makeEvent,
  sleep,
  startWorkload,
  workloadEnv,
  type TestEvent,
  type Workload,
} from '../test/harness.js';
import {
  aggregateOf,
  formatPercent,
  formatSummary,
  pairedRatios,
  parseBenchArgs,
  roundOrder,
  summarize,
  WARM_UP_EVENTS,
  type BenchOptions,
  type Summary,
} from './stats.js';

/** Offered event rates per batch size, tried in order until the gateway saturates. */
const LADDER: Record<number, number[]> = {
  1: [500, 1000, 2000, 4000],
  10: [2000, 5000, 10_000, 20_000],
  100: [5000, 10_000, 20_000, 40_000],
};
const PUBLISH_WINDOW = 1000;
const log = (line: string) => process.stdout.write(`[bench] ${line}\n`);
const loadText = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

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

/**
 * Read and write system calls a process made so far (`syscr`, `syscw` of /proc/<pid>/io; socket reads and
 * writes count). NaN when unreadable.
 */
function syscalls(pid: number | undefined): { reads: number; writes: number } {
  if (pid === undefined) return { reads: NaN, writes: NaN };
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}: (\\d+)$`, 'm').exec(io)?.[1] ?? NaN);
    return { reads: field('syscr'), writes: field('syscw') };
  } catch {
    return { reads: NaN, writes: NaN };
  }
}

/** CPU time (µs) and socket writes per event of the server and of the client over one phase. */
interface CpuPerEvent {
  serverUs: number;
  clientUs: number;
  /** Write system calls per event: fewer, larger writes are what batching buys. */
  serverWrites: number;
  clientWrites: number;
}

function cpuMeter(serverPid: () => number | undefined, clientPid: number | 'self') {
  const client = () =>
    clientPid === 'self'
      ? process.cpuUsage().user / 1e6 + process.cpuUsage().system / 1e6
      : cpuSeconds(clientPid);
  const clientIo = () => syscalls(clientPid === 'self' ? process.pid : clientPid);
  const server0 = cpuSeconds(serverPid());
  const client0 = client();
  const serverIo0 = syscalls(serverPid());
  const clientIo0 = clientIo();
  return (events: number): CpuPerEvent => ({
    serverUs: round(((cpuSeconds(serverPid()) - server0) * 1e6) / events),
    clientUs: round(((client() - client0) * 1e6) / events),
    serverWrites: round((syscalls(serverPid()).writes - serverIo0.writes) / events, 2),
    clientWrites: round((clientIo().writes - clientIo0.writes) / events, 2),
  });
}

const cpuText = (c: CpuPerEvent) =>
  `CPU per event ${c.serverUs + c.clientUs} µs (nats-server ${c.serverUs}, client ${c.clientUs}); writes per event nats-server ${c.serverWrites}, client ${c.clientWrites}`;

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
  o: BenchOptions,
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
  while (performance.now() - begin < o.gatewaySeconds * 1000) {
    // Arrivals follow the clock, not the responses: a late tick sends what it owes.
    const owed = Math.floor(((performance.now() - begin) / 1000) * requestRate) - sent;
    for (let k = 0; k < owed; k++, sent++) {
      const events = Array.from({ length: batch }, () => {
        const n = seq.n++;
        return makeEvent(`g-${n}`, `agg-${n % o.aggregates}`);
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

type PhaseName = 'bare' | 'floor' | 'full' | 'old';

/** One phase of one round, over its timed window. */
interface PhaseResult {
  phase: PhaseName;
  round: number;
  events: number;
  seconds: number;
  eventsPerSecond: number;
  cpu: CpuPerEvent;
  /** full / old: round trips per event and mean time of each step of the path, over the window. */
  steps?: { step: string; perEvent: number; meanMs: number }[];
  loadAverage: number;
}

const cpuTotal = (c: CpuPerEvent) => c.serverUs + c.clientUs;

/** What every phase shares: the server, a connection of this process, the stored events. */
interface Bench {
  o: BenchOptions;
  server: { pid(): number | undefined; url: string };
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  env: Record<string, string>;
  config: NatsConfig;
  /** Messages in the events stream: a window closes at 90 % of them, so a phase never runs dry. */
  stored: number;
}

/** The window of a phase: opens at WARM_UP_EVENTS, closes after --seconds or at 90 % of the stored events. */
function windowLimit(b: Bench): number {
  return Math.floor(0.9 * b.stored);
}

/**
 * Consumes the stored events from the start with a durable of its own; `handle` settles each message
 * and resolves when it is done (the bare loop acks at once; the floor stores a message first), at
 * most `concurrency` at a time. Timed from the WARM_UP_EVENTS-th settled event to the window's end.
 */
async function inProcessPhase(
  b: Bench,
  phase: PhaseName,
  roundNo: number,
  concurrency: number,
  handle: (m: JsMsg) => Promise<void> | void,
): Promise<PhaseResult> {
  const t = topologyOf(b.config);
  const durable = `${phase}-r${roundNo}`;
  await b.jsm.consumers.add(t.eventsStream, {
    durable_name: durable,
    ack_policy: AckPolicy.Explicit,
    max_ack_pending: 10_000,
  });
  const consumer = await b.js.consumers.get(t.eventsStream, durable);
  const messages = await consumer.consume({ max_messages: 512 });
  const limit = windowLimit(b);
  let done = 0;
  let busy = 0;
  let wake: (() => void) | undefined;
  let opened: { at: number; meter: (events: number) => CpuPerEvent } | undefined;
  let closed: { at: number; cpu: CpuPerEvent; events: number } | undefined;
  const settled = () => {
    done++;
    busy--;
    if (done === WARM_UP_EVENTS)
      opened = { at: performance.now(), meter: cpuMeter(() => b.server.pid(), 'self') };
    else if (opened && !closed && (done >= limit || performance.now() - opened.at >= b.o.seconds * 1000)) {
      const events = done - WARM_UP_EVENTS;
      closed = { at: performance.now(), cpu: opened.meter(events), events };
    }
    wake?.();
  };
  for await (const m of messages) {
    while (busy >= concurrency) await new Promise<void>((resolve) => (wake = resolve));
    if (closed) break;
    busy++;
    const r = handle(m);
    if (r) void r.then(settled);
    else settled();
  }
  await messages.close();
  while (busy > 0) await new Promise<void>((resolve) => (wake = resolve));
  await b.jsm.consumers.delete(t.eventsStream, durable);
  if (!opened || !closed)
    throw new Error(`${phase} phase ended before its window closed (${done} events settled)`);
  const seconds = (closed.at - opened.at) / 1000;
  return {
    phase,
    round: roundNo,
    events: closed.events,
    seconds: round(seconds, 2),
    eventsPerSecond: round(closed.events / seconds),
    cpu: closed.cpu,
    loadAverage: round(os.loadavg()[0] ?? NaN, 1),
  };
}

function barePhase(b: Bench, roundNo: number): Promise<PhaseResult> {
  return inProcessPhase(b, 'bare', roundNo, Number.MAX_SAFE_INTEGER, (m) => m.ack());
}

/** Bare plus one stored message per event, its ack waited for: the floor of any exactly-once effect. */
async function floorPhase(b: Bench, roundNo: number, publisher: JetStreamPublisher): Promise<PhaseResult> {
  return inProcessPhase(b, 'floor', roundNo, b.o.concurrency, async (m) => {
    try {
      await publisher.publish(`bench-floor.${m.seq}`, m.data);
      m.ack();
    } catch {
      m.nak(); // counted as settled; a failed store shows as a slower phase, not a hang
    }
  }).finally(() => b.jsm.streams.purge('BENCH_FLOOR'));
}

/**
 * One consumer process (this checkout's, or with `root` another's) on the full path, with an event
 * log and projection bucket of its own. Timed between two readings of its applied-events counter:
 * the first at WARM_UP_EVENTS, the last after --seconds or at 90 % of the stored events.
 */
async function fullPhase(
  b: Bench,
  phase: 'full' | 'old',
  roundNo: number,
  root?: string,
): Promise<PhaseResult> {
  const tag = `${phase}-r${roundNo}`;
  const env = {
    ...b.env,
    CONSUMER_NAME: tag,
    EVENT_LOG_STREAM: `LOG_${phase.toUpperCase()}_R${roundNo}`,
    EVENT_LOG_SUBJECT_PREFIX: `log-${tag}`,
    PROJECTION_BUCKET: `proj-${tag}`,
    CONCURRENCY: String(b.o.concurrency),
    PULL_BATCH: '256',
  };
  const profile = b.o.profileDir
    ? // A directory per phase: tsx's loader thread writes a profile of its own beside the main thread's.
      ['--cpu-prof', `--cpu-prof-dir=${path.join(b.o.profileDir, `consumer-${tag}`)}`]
    : [];
  const consumer: Workload = startWorkload('consumer', env, profile, root);
  try {
    const port = await consumer.port;
    const applied = async () => (await scrapeValue(port, 'jetscale_consumer_events_processed_total')) ?? 0;
    const limit = windowLimit(b);
    let n = await applied();
    while (n < WARM_UP_EVENTS) {
      await sleep(250);
      n = await applied();
    }
    const at0 = performance.now();
    const n0 = n;
    const meter = cpuMeter(() => b.server.pid(), consumer.proc.pid ?? -1);
    const seconds0 = await scrapeByLabel(port, 'jetscale_consumer_step_seconds_total');
    const calls0 = await scrapeByLabel(port, 'jetscale_consumer_steps_total');
    // Read once a second: a scrape costs the consumer CPU (prom-client's default metrics; at 10 per
    // second it was 7 % of the consumer's CPU in a profile), which would be charged to the full path.
    while (n < limit && performance.now() - at0 < b.o.seconds * 1000) {
      await sleep(Math.min(1000, Math.max(10, b.o.seconds * 1000 - (performance.now() - at0))));
      n = await applied();
    }
    const at1 = performance.now();
    const events = n - n0;
    const cpu = meter(events);
    const seconds1 = await scrapeByLabel(port, 'jetscale_consumer_step_seconds_total');
    const calls1 = await scrapeByLabel(port, 'jetscale_consumer_steps_total');
    const steps = [...calls1].map(([step, calls]) => {
      const c = calls - (calls0.get(step) ?? 0);
      const s = (seconds1.get(step) ?? 0) - (seconds0.get(step) ?? 0);
      return { step, perEvent: round(c / events, 3), meanMs: round((s * 1000) / Math.max(c, 1), 3) };
    });
    const seconds = (at1 - at0) / 1000;
    return {
      phase,
      round: roundNo,
      events,
      seconds: round(seconds, 2),
      eventsPerSecond: round(events / seconds),
      cpu,
      steps,
      loadAverage: round(os.loadavg()[0] ?? NaN, 1),
    };
  } finally {
    consumer.kill('SIGTERM');
    await consumer.exited;
    const t = topologyOf(configOf(env));
    await b.jsm.consumers.delete(t.eventsStream, t.consumer).catch(() => undefined);
    for (const stream of [t.eventLogStream, `KV_${t.projectionBucket}`])
      await b.jsm.streams.delete(stream).catch(() => undefined);
  }
}

function phaseLine(r: PhaseResult): string {
  return `round ${r.round + 1} ${r.phase.padEnd(5)} ${r.eventsPerSecond} events/s (${r.events} events in ${r.seconds} s); ${cpuText(r.cpu)}; load ${r.loadAverage}`;
}

async function gatewayPhases(b: Bench): Promise<GatewayStep[]> {
  const gateway = startWorkload(
    'gateway',
    { ...workloadEnv(b.server.url, 'gw'), LOG_LEVEL: 'info' },
    b.o.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${b.o.profileDir}`] : [],
  );
  const port = await gateway.port;
  const seq = { n: 0 };
  const steps: GatewayStep[] = [];
  for (const batch of b.o.batches) {
    for (const rate of LADDER[batch] ?? [1000 * batch]) {
      const gatewayMeter = cpuMeter(() => b.server.pid(), gateway.proc.pid ?? -1);
      const step = await gatewayStep(b.o, port, batch, rate, seq);
      step.cpuPerEvent = gatewayMeter(Math.max(1, step.storedEvents));
      steps.push(step);
      log(
        `gateway batch ${batch} @ ${rate} events/s offered: ${step.eventsPerSecond} events/s stored (${step.requestsPerSecond} req/s), p50 ${step.p50ms} ms, p99 ${step.p99ms} ms, statuses ${JSON.stringify(step.statuses)}; ${cpuText(step.cpuPerEvent)} (client = gateway)${step.saturated ? ' — saturated' : ''}`,
      );
      if (step.saturated) break;
      await sleep(500);
    }
  }
  gateway.kill('SIGTERM');
  await gateway.exited;
  return steps;
}

async function main(): Promise<void> {
  const o = parseBenchArgs(process.argv.slice(2));
  if (o.compareDir && !existsSync(path.join(o.compareDir, 'workloads', 'src', 'consumer', 'main.ts')))
    throw new Error(
      `--compare ${o.compareDir}: no workloads/src/consumer/main.ts there (make it with: git archive main workloads package.json tsconfig.json | tar -x -C DIR, and link node_modules)`,
    );
  const dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-bench-'));
  const server = await startNatsServer({ dir });
  const loadAtStart = loadText();
  log(
    `nats-server on ${server.url} (store ${dir}); ${o.events} events over ${o.aggregates} aggregates` +
      (o.hotShare > 0
        ? ` (${Math.round(o.hotShare * 100)} % of them on ${o.hotAggregates} hot aggregates)`
        : '') +
      `; ${o.rounds} rounds of ${o.seconds} s phases, CONCURRENCY ${o.concurrency}`,
  );
  log(`load average ${loadAtStart} on ${os.cpus().length} cores`);
  const nc = await connect({ servers: server.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const publisher = new JetStreamPublisher(nc, 30_000);
  try {
    const env = { ...workloadEnv(server.url, 'bench'), LOG_LEVEL: 'info' };
    const config = configOf(env);
    await ensureTopology(nc, config);
    await jsm.streams.add({ name: 'BENCH_FLOOR', subjects: ['bench-floor.>'] });
    const events = (tag: string, n: number) =>
      Array.from({ length: n }, (_, i) =>
        makeEvent(`${tag}-${i}`, aggregateOf(i, o), { payload: { amount: i % 7 } }),
      );

    // The stored events, written once; the publish is the raw publish-with-ack measurement.
    await rawPublishRate(js, config, events('warm-up', WARM_UP_EVENTS)); // JIT and stream warm-up
    const stored = events('e', o.events);
    const meter = cpuMeter(() => server.pid(), 'self');
    const publishRate = await rawPublishRate(js, config, stored);
    const publishCpu = meter(stored.length);
    log(
      `raw JetStream publish with ack (${PUBLISH_WINDOW} in flight): ${publishRate.toFixed(0)} events/s; ${cpuText(publishCpu)}`,
    );
    const b: Bench = { o, server, nc, js, jsm, env, config, stored: WARM_UP_EVENTS + o.events };

    const phases: PhaseName[] = o.compareDir ? ['bare', 'floor', 'full', 'old'] : ['bare', 'floor', 'full'];
    const results: PhaseResult[] = [];
    for (let r = 0; r < o.rounds; r++) {
      for (const phase of roundOrder(phases, r)) {
        const result =
          phase === 'bare'
            ? await barePhase(b, r)
            : phase === 'floor'
              ? await floorPhase(b, r, publisher)
              : await fullPhase(b, phase, r, phase === 'old' ? path.resolve(o.compareDir) : undefined);
        results.push(result);
        log(phaseLine(result));
        for (const s of result.steps ?? [])
          log(
            `    step ${s.step.padEnd(17)} ${s.perEvent.toFixed(3)} per event, ${s.meanMs.toFixed(3)} ms each`,
          );
      }
    }
    const loadAfterConsumers = loadText();

    const gatewaySteps = o.batches.length > 0 ? await gatewayPhases(b) : [];

    // Summary: per phase over the rounds, and ratios paired within each round.
    const of = (phase: PhaseName) =>
      results.filter((r) => r.phase === phase).sort((x, y) => x.round - y.round);
    const rate = (phase: PhaseName) => of(phase).map((r) => r.eventsPerSecond);
    const cpu = (phase: PhaseName) => of(phase).map((r) => cpuTotal(r.cpu));
    const table = phases.map((phase) => ({
      phase,
      eventsPerSecond: summarize(rate(phase)),
      cpuUs: summarize(cpu(phase)),
      serverUs: summarize(of(phase).map((r) => r.cpu.serverUs)),
      clientUs: summarize(of(phase).map((r) => r.cpu.clientUs)),
      serverWrites: summarize(of(phase).map((r) => r.cpu.serverWrites)),
      clientWrites: summarize(of(phase).map((r) => r.cpu.clientWrites)),
    }));
    // By throughput a/b; by CPU the inverse (b's µs / a's µs): the throughput ratio a CPU-bound machine allows.
    const ratio = (a: PhaseName, b2: PhaseName) => ({
      throughput: summarize(pairedRatios(rate(a), rate(b2))),
      cpu: summarize(pairedRatios(cpu(b2), cpu(a))),
    });
    const ratios: { name: string; throughput: Summary; cpu: Summary }[] = [
      { name: 'full ÷ bare', ...ratio('full', 'bare') },
      { name: 'full ÷ floor', ...ratio('full', 'floor') },
      { name: 'floor ÷ bare', ...ratio('floor', 'bare') },
      ...(o.compareDir
        ? [
            { name: 'old ÷ bare', ...ratio('old', 'bare') },
            { name: 'full ÷ old', ...ratio('full', 'old') },
          ]
        : []),
    ];
    const best = (batch: number) =>
      gatewaySteps
        .filter((s) => s.batch === batch)
        .reduce<GatewayStep | undefined>(
          (a, c) => (a && a.eventsPerSecond >= c.eventsPerSecond ? a : c),
          undefined,
        );

    log('');
    log(
      `summary: median (min–max) over ${o.rounds} interleaved rounds, one server; load average ${loadAtStart} at the start, ${loadAfterConsumers} after the consumer phases, ${loadText()} at the end`,
    );
    log(
      `| phase | events/s | CPU µs per event (server + client) | server | client | writes per event (server, client) |`,
    );
    log(`| --- | ---: | ---: | ---: | ---: | ---: |`);
    log(
      `| raw publish with ack (once, ${PUBLISH_WINDOW} in flight) | ${formatSummary(summarize([publishRate]))} | ${cpuTotal(publishCpu)} | ${publishCpu.serverUs} | ${publishCpu.clientUs} | ${publishCpu.serverWrites}, ${publishCpu.clientWrites} |`,
    );
    for (const row of table)
      log(
        `| ${row.phase} | ${formatSummary(row.eventsPerSecond)} | ${formatSummary(row.cpuUs)} | ${formatSummary(row.serverUs)} | ${formatSummary(row.clientUs)} | ${formatSummary(row.serverWrites, 2)}, ${formatSummary(row.clientWrites, 2)} |`,
      );
    log('');
    log(`| ratio (paired within a round) | by throughput | by CPU per event |`);
    log(`| --- | ---: | ---: |`);
    for (const r of ratios) log(`| ${r.name} | ${formatPercent(r.throughput)} | ${formatPercent(r.cpu)} |`);
    if (gatewaySteps.length > 0) {
      log('');
      log(`| gateway batch | best events/s stored | p50 ms | p99 ms | CPU µs per event | of raw publish |`);
      log(`| ---: | ---: | ---: | ---: | ---: | ---: |`);
      for (const batch of o.batches) {
        const s = best(batch);
        if (s)
          log(
            `| ${batch} | ${s.eventsPerSecond} | ${s.p50ms} | ${s.p99ms} | ${s.cpuPerEvent ? cpuTotal(s.cpuPerEvent) : '—'} | ${((100 * s.eventsPerSecond) / publishRate).toFixed(0)} % |`,
          );
      }
    }
    const fullSteps = of('full').flatMap((r) => r.steps ?? []);
    const stepNames = [...new Set(fullSteps.map((s) => s.step))];
    const json = {
      options: o,
      loadAverage: { start: loadAtStart, afterConsumers: loadAfterConsumers, end: loadText() },
      rawPublish: { eventsPerSecond: round(publishRate), cpuPerEvent: publishCpu },
      phases: table,
      ratios,
      fullSteps: stepNames.map((step) => ({
        step,
        perEvent: summarize(fullSteps.filter((s) => s.step === step).map((s) => s.perEvent)),
        meanMs: summarize(fullSteps.filter((s) => s.step === step).map((s) => s.meanMs)),
      })),
      rounds: results,
      gateway: gatewaySteps,
    };
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  } finally {
    publisher.close();
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
