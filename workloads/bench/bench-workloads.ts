// Benchmark of the sample workloads on loopback, in one run against its own nats-server.
//
// The events are stored once (not timed). Then, in each of `--rounds` rounds, these consumer phases
// (`--phases`) run one after the other, each with a durable consumer of its own reading the same
// stored events from the start:
//  - bare:  consume + ack, nothing else (in this process);
//  - floor: consume, publish one message per event and wait for its ack, then ack (in this process,
//           with the consumer's cheap publisher and CONCURRENCY in flight): the cheapest way to store
//           anything per event, so the floor of any exactly-once effect;
//  - floor-batch: the same with the messages of one turn stored as one atomic batch (nats-server 2.12);
//  - floor-fast: the same as one fast batch (nats-server ≥ 2.14; only with --phases);
//  - floor-readback: floor-fast plus one batch direct get of the batch's sequences (what the full path
//           would need to append through fast batches; nats-server ≥ 2.14, only with --phases);
//  - full:  one consumer process on the full idempotent, event-sourced path (its own event log and
//           projection bucket per phase), with the time per step from its step metrics; with
//           `--prefill N` each aggregate's log holds N entries (and its projection their fold) before
//           the consumer starts, as after weeks of running;
//  - old:   with `--compare DIR`, the same for the consumer of another checkout (before/after).
// The order alternates between rounds (A B C D, D C B A, …). Each phase is timed over a window that
// opens after `--warm-up` events (default 2,000) and closes after `--seconds` or at 90 % of the stored events, whichever
// comes first, and reports events/s and the CPU time per event of nats-server and of the client
// process (from /proc) over that window. The summary gives the median and range over the rounds of
// each phase and of the ratios taken within a round. Then the gateway's ceiling: several ways of
// publishing with ack (nats.js js.publish with 1,000 awaiting lanes or a sliding window of 100 to
// 10,000, the one-inbox publisher on a window, and in the gateway's shape: 10 lanes of batches of 100),
// each storing `--ceiling-events` per round in a fresh stream
// like the gateway's; the best by median is the ceiling. Then the gateway under open-model load
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
import { connect, headers, nuid, type NatsConnection } from '@nats-io/transport-node';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer } from '../../hack/stack/nats-server.js';
import { toolsBin } from '../../hack/stack/tools.js';
import { topologyOf, type NatsConfig } from '../src/shared/config.js';
import { JetStreamPublisher, pubAckOf, publishHeaders } from '../src/shared/js-publisher.js';
import { useBufferEncodingInNats } from '../src/shared/nats-text-encoding.js';
import { emptyProjection, foldEntry, type LogEntry } from '../src/consumer/projection.js';
import { EventsLoad, eventsBody } from './load.js';
import { stepsOf, stepsTable, type CpuProfile } from './profile-steps.js';
import { ensureTopology, streamConfigs } from '../src/shared/topology.js';
import {
  configOf,
  makeEvent,
  repoRoot,
  sleep,
  startWorkload,
  workloadEntry,
  workloadEnv,
  type TestEvent,
  type Workload,
} from '../test/harness.js';
import {
  aggregateOf,
  closedLoopLanes,
  ladderSummary,
  type LoadGenerator,
  cpuShare,
  formatPercent,
  formatSummary,
  pairedRatios,
  parseBenchArgs,
  roundOrder,
  summarize,
  type BenchOptions,
  type ConsumerPhase,
} from './stats.js';
import { Batcher, publishInBatches, publishWindowed } from './pipeline.js';

/** Offered event rates per batch size, tried in order until the gateway saturates. */
const REQUEST_SECONDS = 'jetscale_gateway_http_request_duration_seconds';
const PUBLISH_SECONDS = 'jetscale_gateway_publish_duration_seconds';
const LADDER: Record<number, number[]> = {
  1: [500, 1000, 2000, 4000],
  10: [2000, 5000, 10_000, 20_000],
  100: [5000, 10_000, 20_000, 40_000, 60_000, 80_000],
};
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

/** System CPU seconds a process used so far (stime of /proc/<pid>/stat); NaN when unreadable. */
function systemSeconds(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[12]) / 100;
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

/** CPU time (µs) and socket writes and reads per event of the server and of the client over one phase. */
interface CpuPerEvent {
  serverUs: number;
  clientUs: number;
  /** Write system calls per event: fewer, larger writes are what batching buys. */
  serverWrites: number;
  clientWrites: number;
  /**
   * Read system calls per event: about the process's wake-ups for input (libuv stops reading a socket at a
   * short read; nats-server's file store reads count too, between a message block's writes and its reads).
   */
  serverReads: number;
  clientReads: number;
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
  return (events: number): CpuPerEvent => {
    const serverIo = syscalls(serverPid());
    const clientIo1 = clientIo();
    return {
      serverUs: round(((cpuSeconds(serverPid()) - server0) * 1e6) / events),
      clientUs: round(((client() - client0) * 1e6) / events),
      serverWrites: round((serverIo.writes - serverIo0.writes) / events, 2),
      clientWrites: round((clientIo1.writes - clientIo0.writes) / events, 2),
      serverReads: round((serverIo.reads - serverIo0.reads) / events, 2),
      clientReads: round((clientIo1.reads - clientIo0.reads) / events, 2),
    };
  };
}

const cpuText = (c: CpuPerEvent) =>
  `CPU per event ${c.serverUs + c.clientUs} µs (nats-server ${c.serverUs}, client ${c.clientUs}); writes per event nats-server ${c.serverWrites}, client ${c.clientWrites}; reads per event nats-server ${c.serverReads}, client ${c.clientReads}`;

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
 * A histogram's `_sum` and `_count` from a Prometheus text page (the series whose labels contain
 * `labels`, e.g. `route="/events"`; all of an unlabelled one).
 */
async function scrapeSumCount(
  port: number,
  name: string,
  labels = '',
): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = { sum: 0, count: 0 };
  const pattern = new RegExp(`^${name}_(sum|count)(\\{[^}]*\\})? (\\S+)$`);
  for (const line of text.split('\n')) {
    const m = pattern.exec(line);
    if (!m || !(m[2] ?? '').includes(labels)) continue;
    out[m[1] === 'sum' ? 'sum' : 'count'] += Number(m[3]);
  }
  return out;
}

/** The events JSON as the gateway stores it (the id is the event's, set by the caller). */
const encodeEvent = (e: TestEvent) => encoder.encode(JSON.stringify(e));
const encoder = new TextEncoder();
/** A publish of the ceiling waits this long for its ack: with 10,000 in flight on a loaded machine, seconds. */
const CEILING_ACK_TIMEOUT_MS = 30_000;

/**
 * A way to publish events with ack, msg id and expected stream (what the gateway sets), tried for the
 * gateway's ceiling. `publish` stores `events` on `subject(e)` and resolves when every ack is in.
 */
interface PublishPattern {
  name: string;
  publish(events: readonly TestEvent[], subject: (e: TestEvent) => string, stream: string): Promise<void>;
}

/**
 * The gateway's own publishes without its HTTP path: what its closed loop of batches of 100 sends to
 * NATS, from the bench process (session 35).
 */
const GATEWAY_PUBLISHES = 'one-inbox publisher, 10 lanes of publishMany(100)';

function publishPatterns(
  js: JetStreamClient,
  publisher: JetStreamPublisher,
  coalescing: JetStreamPublisher,
): PublishPattern[] {
  const viaJs = (e: TestEvent, subject: string, stream: string) =>
    js.publish(subject, encodeEvent(e), {
      msgID: e.id,
      expect: { streamName: stream },
      timeout: CEILING_ACK_TIMEOUT_MS,
    });
  return [
    {
      // The bench's publish loop before this session: each lane awaits its publish, then starts the next.
      name: 'js.publish, 1,000 awaiting lanes',
      async publish(events, subject, stream) {
        let next = 0;
        const lane = async (): Promise<void> => {
          for (let e = events[next++]; e; e = events[next++]) await viaJs(e, subject(e), stream);
        };
        await Promise.all(Array.from({ length: 1000 }, () => lane()));
      },
    },
    ...[100, 1000, 10_000].map((window): PublishPattern => ({
      name: `js.publish, window ${window.toLocaleString('en-US')}`,
      publish: (events, subject, stream) =>
        publishWindowed(events.length, window, (i) => {
          const e = events[i] as TestEvent;
          return viaJs(e, subject(e), stream);
        }),
    })),
    ...[1000, 10_000].map((window): PublishPattern => ({
      name: `one-inbox publisher, window ${window.toLocaleString('en-US')}`,
      publish: (events, subject, stream) =>
        publishWindowed(events.length, window, (i) => {
          const e = events[i] as TestEvent;
          return publisher.publish(subject(e), encodeEvent(e), undefined, {
            msgId: e.id,
            expectedStream: stream,
          });
        }),
    })),
    {
      // As the gateway publishes a request's events (publishMany: all 100 in flight, one promise, the
      // coalescing publisher) with the closed loop's 10 requests in flight; natscli's `--batch 100`
      // shape. What the gateway adds to it is the HTTP path, the JSON and the validation.
      name: GATEWAY_PUBLISHES,
      publish: (events, subject, stream) =>
        publishInBatches(events.length, 100, 10, async (first, size) => {
          const { answers } = await coalescing.publishMany(
            events.slice(first, first + size).map((e) => ({
              subject: subject(e),
              data: encodeEvent(e),
              headers: publishHeaders(undefined, { msgId: e.id, expectedStream: stream }),
            })),
          );
          const failure = answers.find((a) => a instanceof Error);
          if (failure) throw failure;
        }),
    },
  ];
}

/** One publish pattern in one round: events/s and CPU per event (the bench's process and nats-server). */
interface CeilingResult {
  pattern: string;
  round: number;
  eventsPerSecond: number;
  cpu: CpuPerEvent;
  loadAverage: number;
}

/** natscli's `nats` (hack/tools.sh natscli), or undefined when it is not built. */
const natscliPath = (): string | undefined => {
  const p = path.join(toolsBin, 'nats');
  return existsSync(p) ? p : undefined;
};
/** natscli publishes this many times `--ceiling-events` per round: Go is fast enough that fewer take a blink. */
const NATSCLI_EVENTS_FACTOR = 5;
const NATSCLI_WINDOWS = [100, 1000];

/**
 * The NATS team's own benchmark, `nats bench js pub async` (nats.go's PublishMsgAsync, `window`
 * publishes, then it waits for all their acks) with a msg id per message, to subjects spread like
 * the events, messages as large as an event, into a fresh file stream with the gateway's duplicate
 * window. Its CPU is read from the shell that ran it (its children's time in /proc/<sh>/stat).
 */
async function natscliCeiling(
  b: Bench,
  nats: string,
  window: number,
  roundNo: number,
): Promise<CeilingResult> {
  const msgs = NATSCLI_EVENTS_FACTOR * b.o.ceilingEvents;
  const size = encodeEvent(makeEvent('c0-0-00000', 'agg-999', { payload: { amount: 6 } })).length;
  const stream = `NATSBENCH_W${window}_R${roundNo}`;
  const args = [
    'bench', 'js', 'pub', 'async', `natsbench-${window}-${roundNo}`, '--server', b.server.url,
    '--stream', stream, '--dedup',
    '--msgs', String(msgs), '--size', `${size}B`, '--batch', String(window), '--multisubject',
    '--multisubjectmax', String(b.o.aggregates), '--no-progress',
  ]; // prettier-ignore
  // The stream is made here, not by its --create: natscli 0.5.1 sends a stream field nats-server 2.12
  // does not know (allow_batched) and is refused.
  await b.jsm.streams.add({
    name: stream,
    subjects: [`natsbench-${window}-${roundNo}.*`],
    duplicate_window: b.config.EVENTS_DUPLICATE_WINDOW_MS * 1_000_000,
  });
  const server0 = cpuSeconds(b.server.pid());
  const serverIo0 = syscalls(b.server.pid());
  // The shell prints its own /proc stat after the benchmark exited: fields 16 and 17 are its
  // waited-for children's user and system time.
  const child = spawn('sh', ['-c', '"$@"; s=$?; cat /proc/$$/stat; exit $s', 'sh', nats, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const serverUs = round(((cpuSeconds(b.server.pid()) - server0) * 1e6) / msgs);
  const serverIo = syscalls(b.server.pid());
  const serverWrites = round((serverIo.writes - serverIo0.writes) / msgs, 2);
  const serverReads = round((serverIo.reads - serverIo0.reads) / msgs, 2);
  await b.jsm.streams.delete(stream).catch(() => undefined);
  const rate = /stats: ([\d,]+) msgs\/sec/.exec(out)?.[1];
  const statLine = out.trim().split('\n').pop() ?? '';
  const fields = statLine.slice(statLine.lastIndexOf(')') + 2).split(' ');
  const childSeconds = (Number(fields[13]) + Number(fields[14])) / 100;
  if (code !== 0 || rate === undefined || !Number.isFinite(childSeconds))
    throw new Error(`nats ${args.join(' ')} failed (exit ${String(code)}):\n${out}`);
  return {
    pattern: `natscli nats bench js pub async, batch ${window.toLocaleString('en-US')} (Go)`,
    round: roundNo,
    eventsPerSecond: Number(rate.replace(/,/g, '')),
    cpu: {
      serverUs,
      clientUs: round((childSeconds * 1e6) / msgs),
      serverWrites,
      clientWrites: NaN,
      serverReads,
      clientReads: NaN,
    },
    loadAverage: round(os.loadavg()[0] ?? NaN, 1),
  };
}

/**
 * The gateway's ceiling: every publish pattern stores `--ceiling-events` events in each round (order
 * alternating between rounds) into a fresh stream configured like the gateway's events stream; the
 * ceiling is the best pattern by median events/s.
 */
async function ceilingPhases(
  b: Bench,
  publisher: JetStreamPublisher,
  coalescing: JetStreamPublisher,
): Promise<CeilingResult[]> {
  const patterns = publishPatterns(b.js, publisher, coalescing);
  const config = configOf(workloadEnv(b.server.url, 'ceiling'));
  const streamConfig = streamConfigs(config)[0];
  if (!streamConfig) throw new Error('no events stream configuration');
  const t = topologyOf(config);
  const results: CeilingResult[] = [];
  for (let r = 0; r < b.o.rounds; r++) {
    for (const k of roundOrder(
      patterns.map((_, k) => k),
      r,
    )) {
      const pattern = patterns[k] as PublishPattern;
      await b.jsm.streams.add(streamConfig);
      const events = Array.from({ length: b.o.ceilingEvents }, (_, i) =>
        makeEvent(`c${r}-${k}-${i}`, aggregateOf(i, b.o), { payload: { amount: i % 7 } }),
      );
      const meter = cpuMeter(() => b.server.pid(), 'self');
      const started = performance.now();
      await pattern.publish(events, (e) => t.eventsSubject(e.aggregateId), t.eventsStream);
      const seconds = (performance.now() - started) / 1000;
      const result: CeilingResult = {
        pattern: pattern.name,
        round: r,
        eventsPerSecond: round(events.length / seconds),
        cpu: meter(events.length),
        loadAverage: round(os.loadavg()[0] ?? NaN, 1),
      };
      results.push(result);
      log(
        `ceiling round ${r + 1} ${pattern.name}: ${result.eventsPerSecond} events/s; ${cpuText(result.cpu)}; load ${result.loadAverage}`,
      );
      await b.jsm.streams.delete(t.eventsStream);
    }
    const nats = natscliPath();
    if (nats)
      for (const window of roundOrder(NATSCLI_WINDOWS, r)) {
        const result = await natscliCeiling(b, nats, window, r);
        results.push(result);
        log(
          `ceiling round ${r + 1} ${result.pattern}: ${result.eventsPerSecond} events/s; ${cpuText(result.cpu)}; load ${result.loadAverage}`,
        );
      }
    else if (r === 0)
      log(
        `natscli is not built (bash hack/tools.sh natscli; make bench-workloads does it): its ceiling is left out`,
      );
  }
  return results;
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
  /**
   * CPU of this process (the load generator: the events, their JSON, undici's requests and the answers)
   * per stored event over the step. natscli, the ceiling, makes its messages and publishes them in one
   * process whose CPU is counted; the gateway's events are made by this one, on the same 2 cores.
   */
  loadGeneratorUs?: number;
  /** Which gateway: this checkout's, or with `--compare` the other's. */
  version?: 'this' | 'old';
  /** `closed`: `lanes` requests always in flight (each sent when the previous answered), no ladder. */
  mode?: 'open' | 'closed';
  /** The load generator that sent the step's requests. */
  generator?: LoadGenerator;
  /**
   * Closed loop: the gateway's own mean time per `POST /events` (request read → answer written) and per
   * publish (publish → PubAck), ms, from its histograms over the step; the rest of the client's latency
   * is on the client's side and in the sockets.
   */
  gatewayRequestMs?: number;
  gatewayPublishMs?: number;
  lanes?: number;
}

/** CPU time of this process in µs (user + system). */
const ownCpuUs = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** Sends one request of `batch` events numbered from `seq.n` on; resolves with the answer's status. */
interface LoadSender {
  generator: LoadGenerator;
  send(batch: number, seq: { n: number }): Promise<number>;
  close(): void;
}

/**
 * `http`: node:http on kept-alive connections (at most `connections`), the body written out
 * (load.ts); `fetch`: what the bench did before session 23, undici's fetch() with every event built
 * by makeEvent and the batch JSON.stringify'd. Both send the same JSON (load.test.ts).
 */
function loadSender(
  generator: LoadGenerator,
  o: BenchOptions,
  port: number,
  connections: number,
): LoadSender {
  if (generator === 'fetch')
    return {
      generator,
      async send(batch, seq) {
        const events = Array.from({ length: batch }, () => {
          const n = seq.n++;
          return makeEvent(`g-${n}`, `agg-${n % o.aggregates}`);
        });
        const res = await fetch(`http://127.0.0.1:${port}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(batch === 1 ? events[0] : events),
        });
        await res.arrayBuffer();
        return res.status;
      },
      close() {},
    };
  const load = new EventsLoad(port, connections);
  return {
    generator,
    send(batch, seq) {
      const first = seq.n;
      seq.n += batch;
      return load.post(eventsBody(batch, first, o.aggregates, new Date().toISOString()));
    },
    close: () => load.close(),
  };
}

async function gatewayStep(
  o: BenchOptions,
  sender: LoadSender,
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
  const cpu0 = ownCpuUs();
  const begin = performance.now();
  while (performance.now() - begin < o.gatewaySeconds * 1000) {
    // Arrivals follow the clock, not the responses: a late tick sends what it owes.
    const owed = Math.floor(((performance.now() - begin) / 1000) * requestRate) - sent;
    for (let k = 0; k < owed; k++, sent++) {
      const started = performance.now();
      const p: Promise<void> = sender
        .send(batch, seq)
        .then((status) => {
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
          if (status === 202) storedEvents += batch;
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
  const loadGeneratorUs = round((ownCpuUs() - cpu0) / Math.max(1, storedEvents));
  latencies.sort((a, b) => a - b);
  const eventsPerSecond = storedEvents / elapsed;
  const p99 = percentile(latencies, 99);
  return {
    batch,
    mode: 'open',
    generator: sender.generator,
    loadGeneratorUs,
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

/**
 * The gateway's saturation point without a ladder: `lanes` requests of `batch` events always in flight,
 * each lane sending its next as soon as the previous answered, for --gateway-seconds. With 10 lanes of
 * 100 events that is 1,000 events in flight, as natscli's batch 1,000 (the ceiling) keeps; so the two
 * compare by events/s with the same acks in flight. The ladder's figure is its last step below
 * saturation (steps double), this one what the gateway stores when it is never waited for.
 */
async function closedLoopStep(
  o: BenchOptions,
  sender: LoadSender,
  batch: number,
  lanes: number,
  seq: { n: number },
): Promise<GatewayStep> {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let storedEvents = 0;
  let sent = 0;
  const cpu0 = ownCpuUs();
  const begin = performance.now();
  const lane = async (): Promise<void> => {
    while (performance.now() - begin < o.gatewaySeconds * 1000) {
      const started = performance.now();
      sent++;
      try {
        const status = await sender.send(batch, seq);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status === 202) storedEvents += batch;
        latencies.push(performance.now() - started);
      } catch {
        statuses.set(-1, (statuses.get(-1) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: lanes }, () => lane()));
  const elapsed = (performance.now() - begin) / 1000;
  const loadGeneratorUs = round((ownCpuUs() - cpu0) / Math.max(1, storedEvents));
  latencies.sort((a, b) => a - b);
  const eventsPerSecond = storedEvents / elapsed;
  return {
    batch,
    mode: 'closed',
    generator: sender.generator,
    lanes,
    loadGeneratorUs,
    offeredEventsPerSecond: NaN,
    requestsPerSecond: round((statuses.get(202) ?? 0) / elapsed),
    eventsPerSecond: round(eventsPerSecond),
    p50ms: round(percentile(latencies, 50), 1),
    p99ms: round(percentile(latencies, 99), 1),
    statuses: Object.fromEntries(statuses),
    // Closed: it answered every request it was sent with a 202, or it did not.
    saturated: storedEvents < sent * batch,
    storedEvents,
  };
}

type PhaseName = ConsumerPhase | 'old';

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
  /** floor-batch: mean messages per atomic batch over the phase. */
  meanBatch?: number;
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
  /** Publishes with ack (the one-inbox publisher; no expectations). */
  publisher: JetStreamPublisher;
}

/** The window of a phase: opens at `--warm-up` events, closes after --seconds or at 90 % of the stored events. */
function windowLimit(b: Bench): number {
  return Math.floor(0.9 * b.stored);
}

/**
 * Consumes the stored events from the start with a durable of its own; `handle` settles each message
 * and resolves when it is done (the bare loop acks at once; the floor stores a message first), at
 * most `concurrency` at a time. Timed from the `--warm-up`-th settled event to the window's end.
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
    if (done === b.o.warmUp)
      opened = { at: performance.now(), meter: cpuMeter(() => b.server.pid(), 'self') };
    else if (opened && !closed && (done >= limit || performance.now() - opened.at >= b.o.seconds * 1000)) {
      const events = done - b.o.warmUp;
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

/**
 * Bare plus one stored message per event, its ack waited for: the floor of any exactly-once effect. The
 * publisher coalesces (one socket write per turn, as the consumer's scheduler gets): without it each
 * publish here was a write of its own (1.02 per event against the consumer's 0.06), which the floor of a
 * consumer does not have to pay.
 */
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
 * The floor with its stores batched: the messages taken in one turn of the event loop (up to
 * `--concurrency`) are stored as **one atomic batch** (nats-server ≥ 2.12: `Nats-Batch-Id`,
 * `Nats-Batch-Sequence`, `Nats-Batch-Commit` on the last; one ack for the whole batch), then each is
 * acked. Up to 4 batches in flight (a stream takes at most 50 open batches). What a consumer that
 * appends a batch of events at once would pay at least.
 */
async function floorBatchPhase(b: Bench, roundNo: number): Promise<PhaseResult> {
  const batcher = new Batcher<JsMsg>(b.o.concurrency, async (msgs) => {
    const id = nuid.next();
    const last = msgs.length;
    let commit: Promise<unknown> | undefined;
    msgs.forEach((m, i) => {
      const h = headers();
      h.set('Nats-Batch-Id', id);
      h.set('Nats-Batch-Sequence', String(i + 1));
      const subject = `bench-floor-batch.${m.seq}`;
      if (i + 1 < last) b.nc.publish(subject, m.data, { headers: h });
      else {
        h.set('Nats-Batch-Commit', '1');
        commit = b.nc.request(subject, m.data, { headers: h, timeout: 30_000 }).then((reply) => {
          const ack = pubAckOf(subject, reply);
          if (ack instanceof Error) throw ack;
          const count = (ack as { count?: unknown }).count;
          if (count !== last) throw new Error(`batch of ${last} committed with count ${String(count)}`);
        });
      }
    });
    await commit;
    for (const m of msgs) m.ack();
  });
  const failures = firstFailureOf();
  const result = await inProcessPhase(b, 'floor-batch', roundNo, 4 * b.o.concurrency, (m) =>
    batcher.add(m).catch((err: unknown) => failures.record(err, m)),
  );
  const sent = await expectAllStored(b, 'floor-batch', 'BENCH_FLOOR_BATCH', batcher.sizes, failures.first());
  result.meanBatch = round(sent / Math.max(1, batcher.sizes.length), 1);
  return result;
}

/** The first failure of a batched phase's sends (each failed message is nak'ed, so the phase goes on). */
function firstFailureOf() {
  let first: Error | undefined;
  return {
    record(err: unknown, m: JsMsg): void {
      first ??= err instanceof Error ? err : new Error(String(err));
      m.nak();
    },
    first: () => first,
  };
}

/**
 * A batched phase whose batches were refused would look fast: every message it sent must be in its stream.
 * Purges the stream; returns how many were sent.
 */
async function expectAllStored(
  b: Bench,
  phase: string,
  stream: string,
  sizes: readonly number[],
  failure: Error | undefined,
): Promise<number> {
  const sent = sizes.reduce((a, n) => a + n, 0);
  const { messages } = (await b.jsm.streams.info(stream)).state;
  await b.jsm.streams.purge(stream);
  if (failure || messages !== sent)
    throw new Error(
      `${phase} stored ${messages} of ${sent} messages${failure ? `: ${failure.message}` : ''}`,
    );
  return sent;
}

/**
 * nats-server ≥ 2.14's *fast* batch publish (not atomic, no staging store): the batch rides on the reply
 * subject, `<inbox>.<batch id>.<flow>.<gap mode>.<batch seq>.<op>.$FI` (op 0 start, 1 append, 2 commit;
 * `getFastBatch` in nats-server v2.15.3 server/stream.go). Each message is checked and stored on its own
 * (`processJetStreamFastBatchMsg`); the server answers with flow acks every N messages (N ≤ 500, and 1 while
 * the stream has more than one open batch: `fastBatchInit` in server/jetstream_batching.go) and a PubAck
 * for the commit (last stream sequence and count). Gap mode `fail`: the first refused message ends the
 * batch and the PubAck counts what was stored. `send` resolves when the commit's PubAck counts them all.
 */
function fastBatchSender(nc: NatsConnection) {
  const prefix = `_INBOX.${nuid.next()}.`;
  const open = new Map<
    string,
    { count: number; resolve: (lastSeq: number) => void; reject: (err: Error) => void }
  >();
  let replies = 0;
  nc.subscribe(`${prefix}>`, {
    callback: (_err, msg) => {
      replies++;
      const id = msg.subject.slice(prefix.length).split('.')[0] ?? '';
      const waiting = open.get(id);
      if (!waiting) return;
      const reply = JSON.parse(new TextDecoder().decode(msg.data)) as {
        type?: string;
        error?: unknown;
        count?: unknown;
        seq?: unknown;
      };
      if (reply.type === 'ack') return; // flow control
      open.delete(id);
      if (reply.type !== undefined || reply.error !== undefined)
        waiting.reject(new Error(`fast batch ${id}: ${JSON.stringify(reply)}`));
      else if (reply.count !== waiting.count)
        waiting.reject(
          new Error(`fast batch of ${waiting.count} committed with count ${String(reply.count)}`),
        );
      else if (typeof reply.seq !== 'number')
        waiting.reject(new Error(`fast batch ${id}: PubAck without a sequence: ${JSON.stringify(reply)}`));
      else waiting.resolve(reply.seq);
    },
  });
  return {
    replies: () => replies,
    /** Resolves with the stream sequence of the batch's last message (the commit's PubAck). */
    send(messages: { subject: string; data: Uint8Array }[]): Promise<number> {
      const id = nuid.next();
      const last = messages.length;
      return new Promise<number>((resolve, reject) => {
        open.set(id, { count: last, resolve, reject });
        messages.forEach((m, i) => {
          const seq = i + 1;
          const op = seq === last ? 2 : seq === 1 ? 0 : 1;
          nc.publish(m.subject, m.data, { reply: `${prefix}${id}.500.fail.${seq}.${op}.$FI` });
        });
      });
    },
  };
}

/**
 * The floor with its stores in *fast* batches (nats-server ≥ 2.14, `allow_batched` on the stream): the
 * messages taken in one turn (up to `--concurrency`) go as one fast batch, acked when its commit's PubAck
 * counts them all. What a consumer that appends through fast batches would pay at least; it learns no
 * stream sequence per message (see workloads/README.md).
 */
async function floorFastPhase(b: Bench, roundNo: number): Promise<PhaseResult> {
  const sender = fastBatchSender(b.nc);
  const batcher = new Batcher<JsMsg>(b.o.concurrency, async (msgs) => {
    await sender.send(msgs.map((m) => ({ subject: `bench-floor-fast.${m.seq}`, data: m.data })));
    for (const m of msgs) m.ack();
  });
  const failures = firstFailureOf();
  const result = await inProcessPhase(b, 'floor-fast', roundNo, 4 * b.o.concurrency, (m) =>
    batcher.add(m).catch((err: unknown) => failures.record(err, m)),
  );
  const sent = await expectAllStored(b, 'floor-fast', 'BENCH_FLOOR_FAST', batcher.sizes, failures.first());
  result.meanBatch = round(sent / Math.max(1, batcher.sizes.length), 1);
  const replies = round(sender.replies() / Math.max(1, sent), 2);
  log(`    floor-fast: ${replies} replies per message over the phase (flow acks and PubAcks)`);
  return result;
}

/**
 * The fast-batch floor plus the read-back the full path would need to use fast batches (workloads/README.md,
 * "Fast batches"): a fast batch's PubAck gives only the last stream sequence, and the consumer needs each
 * entry's own (the expected last sequence of its aggregate's next append). Each message goes to a subject of
 * its own, as an event-log entry does, so one batch direct get, `multi_last` over the batch's subjects with
 * `up_to_seq` = the PubAck's sequence, returns every message with its sequence; the messages are acked once
 * the read-back found all of them. What a consumer appending through fast batches would pay at least.
 */
async function floorReadbackPhase(b: Bench, roundNo: number): Promise<PhaseResult> {
  const sender = fastBatchSender(b.nc);
  let readBack = 0;
  const batcher = new Batcher<JsMsg>(b.o.concurrency, async (msgs) => {
    const subjects = msgs.map((m) => `bench-floor-rb.${m.seq}`);
    const lastSeq = await sender.send(msgs.map((m, i) => ({ subject: subjects[i] ?? '', data: m.data })));
    const found = new Map<string, number>();
    const entries = await b.jsm.direct.getLastMessagesFor('BENCH_FLOOR_RB', {
      multi_last: subjects,
      up_to_seq: lastSeq,
    });
    for await (const entry of entries) found.set(entry.subject, entry.seq);
    readBack += found.size;
    const missing = subjects.filter((subject) => !((found.get(subject) ?? Infinity) <= lastSeq));
    if (missing.length > 0)
      throw new Error(
        `read-back of a batch of ${subjects.length} did not find ${missing.length} (${missing[0]})`,
      );
    for (const m of msgs) m.ack();
  });
  const failures = firstFailureOf();
  const result = await inProcessPhase(b, 'floor-readback', roundNo, 4 * b.o.concurrency, (m) =>
    batcher.add(m).catch((err: unknown) => failures.record(err, m)),
  );
  const sent = await expectAllStored(b, 'floor-readback', 'BENCH_FLOOR_RB', batcher.sizes, failures.first());
  result.meanBatch = round(sent / Math.max(1, batcher.sizes.length), 1);
  log(`    floor-readback: ${round(readBack / Math.max(1, sent), 2)} sequences read back per message`);
  return result;
}

/**
 * One consumer process (this checkout's, or with `root` another's) on the full path, with an event
 * log and projection bucket of its own. Timed between two readings of its applied-events counter:
 * the first at `--warm-up` events, the last after --seconds or at 90 % of the stored events.
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
  const profileDir = b.o.profileDir ? path.join(b.o.profileDir, `consumer-${tag}`) : '';
  const profile = profileDir
    ? // A directory per phase: tsx's loader thread writes a profile of its own beside the main thread's.
      ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]
    : [];
  /** The timed window on the monotonic clock, in µs (the clock of a V8 profile's startTime). */
  let windowUs: [number, number] | undefined;
  let clientUs = 0;
  let systemUs = 0;
  if (b.o.prefill > 0) {
    const started = performance.now();
    await prefill(b, env);
    log(
      `${tag}: prefilled ${b.o.prefill} log entries and the projection of each aggregate in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  const consumer: Workload = startWorkload('consumer', env, profile, root, b.o.run);
  try {
    const port = await consumer.port;
    const applied = async () => (await scrapeValue(port, 'jetscale_consumer_events_processed_total')) ?? 0;
    const limit = windowLimit(b);
    let n = await applied();
    while (n < b.o.warmUp) {
      await sleep(250);
      n = await applied();
    }
    const at0 = performance.now();
    const hr0 = monotonicUs();
    const system0 = systemSeconds(consumer.proc.pid);
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
    windowUs = [hr0, monotonicUs()];
    const events = n - n0;
    const cpu = meter(events);
    clientUs = cpu.clientUs;
    systemUs = round(((systemSeconds(consumer.proc.pid) - system0) * 1e6) / events, 1);
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
    if (profileDir && windowUs) logProfileSteps(tag, profileDir, windowUs, clientUs, systemUs);
    const t = topologyOf(configOf(env));
    await b.jsm.consumers.delete(t.eventsStream, t.consumer).catch(() => undefined);
    for (const stream of [t.eventLogStream, `KV_${t.projectionBucket}`])
      await b.jsm.streams.delete(stream).catch(() => undefined);
  }
}

function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * The consumer's profile (written at its exit) split by step over the phase's timed window
 * (profile-steps.ts): the main thread's is the profile with the most samples.
 */
function logProfileSteps(
  tag: string,
  dir: string,
  [from, to]: [number, number],
  clientUs: number,
  systemUs: number,
): void {
  try {
    const profiles = readdirSync(dir)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as CpuProfile)
      .sort((x, y) => y.samples.length - x.samples.length);
    const main = profiles[0];
    if (!main) throw new Error(`no .cpuprofile in ${dir}`);
    const shares = stepsOf(main, (from - main.startTime) / 1e6, (to - main.startTime) / 1e6);
    log(
      `${tag}: the consumer's CPU by step over the timed window (${shares.totalMs.toFixed(0)} ms sampled):`,
    );
    for (const line of stepsTable(shares, clientUs, systemUs).split('\n')) log(`    ${line}`);
  } catch (err) {
    log(`${tag}: no profile split by step (${err instanceof Error ? err.message : String(err)})`);
  }
}

/**
 * Gives every aggregate of the stored events `--prefill` entries in the phase's event log and the
 * projection folded from them, before its consumer starts: what a consumer meets after weeks. Each
 * projection folds its aggregate's entries in the order of the sequences their acks name, as the
 * consumer would have.
 */
async function prefill(b: Bench, env: Record<string, string>): Promise<void> {
  const { topology, projection } = await ensureTopology(b.nc, configOf(env));
  const aggregates = [...new Set(Array.from({ length: b.stored }, (_, i) => aggregateOf(i, b.o)))];
  const stored = new Map<string, { seq: number; entry: LogEntry }[]>(aggregates.map((a) => [a, []]));
  const timestamp = new Date().toISOString();
  await publishWindowed(aggregates.length * b.o.prefill, 1000, async (i) => {
    const aggregateId = aggregates[i % aggregates.length] as string;
    const version = Math.floor(i / aggregates.length) + 1;
    const entry: LogEntry = {
      id: `prefill-${version}-${aggregateId}`,
      type: 'deposit',
      aggregateId,
      payload: { amount: version % 7 },
      timestamp,
      version,
      sourceSeq: 0,
      appliedAt: timestamp,
    };
    const ack = await b.publisher.publish(
      topology.eventLogSubject(aggregateId, entry.id),
      Buffer.from(JSON.stringify(entry)),
    );
    stored.get(aggregateId)?.push({ seq: ack.seq, entry });
  });
  await publishWindowed(aggregates.length, 100, async (i) => {
    const aggregateId = aggregates[i] as string;
    let state = emptyProjection(aggregateId);
    for (const { seq, entry } of (stored.get(aggregateId) ?? []).sort((x, y) => x.seq - y.seq))
      state = foldEntry(state, entry, seq);
    await projection.create(aggregateId, JSON.stringify(state));
  });
}

function phaseLine(r: PhaseResult): string {
  return `round ${r.round + 1} ${r.phase.padEnd(5)} ${r.eventsPerSecond} events/s (${r.events} events in ${r.seconds} s); ${cpuText(r.cpu)}; load ${r.loadAverage}`;
}

/**
 * Each gateway (this checkout's, and with `--compare` the other's: `old`) climbs the ladder of offered
 * rates for each batch size until it saturates; with two, they take turns per batch size (this, old;
 * old, this; …), each with a stream of its own.
 */
async function gatewayPhases(b: Bench): Promise<GatewayStep[]> {
  const versions: { version: 'this' | 'old'; root?: string }[] = b.o.compareDir
    ? [{ version: 'this' }, { version: 'old', root: path.resolve(b.o.compareDir) }]
    : [{ version: 'this' }];
  const gateways = versions.map(({ version, root }) => ({
    version,
    workload: startWorkload(
      'gateway',
      { ...workloadEnv(b.server.url, `gw-${version}`), LOG_LEVEL: 'info' },
      b.o.profileDir
        ? ['--cpu-prof', `--cpu-prof-dir=${path.join(b.o.profileDir, `gateway-${version}`)}`]
        : [],
      root,
      b.o.run,
    ),
  }));
  const seq = { n: 0 };
  const steps: GatewayStep[] = [];
  try {
    for (const [k, batch] of b.o.batches.entries()) {
      for (const { version, workload } of roundOrder(gateways, k)) {
        const port = await workload.port;
        const ladderSender = loadSender(b.o.loadGenerators[0] ?? 'http', b.o, port, Infinity);
        for (const rate of LADDER[batch] ?? [1000 * batch]) {
          const gatewayMeter = cpuMeter(() => b.server.pid(), workload.proc.pid ?? -1);
          const step = await gatewayStep(b.o, ladderSender, batch, rate, seq);
          step.version = version;
          step.cpuPerEvent = gatewayMeter(Math.max(1, step.storedEvents));
          steps.push(step);
          log(
            `gateway${version === 'old' ? ' (old)' : ''} batch ${batch} @ ${rate} events/s offered: ${step.eventsPerSecond} events/s stored (${step.requestsPerSecond} req/s), p50 ${step.p50ms} ms, p99 ${step.p99ms} ms, statuses ${JSON.stringify(step.statuses)}; ${cpuText(step.cpuPerEvent)} (client = gateway); load generator ${step.loadGeneratorUs} µs${step.saturated ? ' — saturated' : ''}`,
          );
          if (step.saturated) break;
          await sleep(500);
        }
        ladderSender.close();
        await sleep(500);
        const lanes = closedLoopLanes(batch);
        for (const generator of b.o.loadGenerators) {
          const sender = loadSender(generator, b.o, port, lanes);
          const request0 = await scrapeSumCount(port, REQUEST_SECONDS, 'route="/events"');
          const publish0 = await scrapeSumCount(port, PUBLISH_SECONDS);
          const gatewayMeter = cpuMeter(() => b.server.pid(), workload.proc.pid ?? -1);
          const step = await closedLoopStep(b.o, sender, batch, lanes, seq);
          sender.close();
          const request1 = await scrapeSumCount(port, REQUEST_SECONDS, 'route="/events"');
          const publish1 = await scrapeSumCount(port, PUBLISH_SECONDS);
          step.gatewayRequestMs = round(
            (1000 * (request1.sum - request0.sum)) / Math.max(1, request1.count - request0.count),
            1,
          );
          step.gatewayPublishMs = round(
            (1000 * (publish1.sum - publish0.sum)) / Math.max(1, publish1.count - publish0.count),
            1,
          );
          step.version = version;
          step.cpuPerEvent = gatewayMeter(Math.max(1, step.storedEvents));
          steps.push(step);
          log(
            `gateway${version === 'old' ? ' (old)' : ''} batch ${batch}, closed loop of ${lanes} requests in flight (${lanes * batch} events), load generator ${generator}: ${step.eventsPerSecond} events/s stored (${step.requestsPerSecond} req/s), p50 ${step.p50ms} ms, p99 ${step.p99ms} ms, statuses ${JSON.stringify(step.statuses)}; ${cpuText(step.cpuPerEvent)} (client = gateway); load generator ${step.loadGeneratorUs} µs; in the gateway: a request ${step.gatewayRequestMs} ms, a publish ${step.gatewayPublishMs} ms (means)`,
          );
          await sleep(500);
        }
      }
    }
  } finally {
    for (const { workload } of gateways) {
      workload.kill('SIGTERM');
      await workload.exited;
    }
  }
  return steps;
}

async function main(): Promise<void> {
  const o = parseBenchArgs(process.argv.slice(2));
  if (o.compareDir && !existsSync(path.join(o.compareDir, 'workloads', 'src', 'consumer', 'main.ts')))
    throw new Error(
      `--compare ${o.compareDir}: no workloads/src/consumer/main.ts there (make it with: git archive main workloads package.json tsconfig.json | tar -x -C DIR, and link node_modules)`,
    );
  // With --run built, both builds must be there before anything starts (throws naming the missing file).
  for (const root of [repoRoot, ...(o.compareDir ? [path.resolve(o.compareDir)] : [])])
    for (const kind of ['consumer', 'gateway'] as const) workloadEntry(kind, root, o.run);
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
  // The bench's own phases (bare, floor, the publish ceilings) with nats.js encoding as the workloads
  // run it (connectNats), so bare + ack stays the cheapest consume loop the full path is set against.
  useBufferEncodingInNats();
  const nc = await connect({ servers: server.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const publisher = new JetStreamPublisher(nc, 30_000);
  const floorPublisher = new JetStreamPublisher(nc, 30_000, { coalesce: true });
  try {
    const env = { ...workloadEnv(server.url, 'bench'), LOG_LEVEL: 'info' };
    const config = configOf(env);
    await ensureTopology(nc, config);
    await jsm.streams.add({ name: 'BENCH_FLOOR', subjects: ['bench-floor.>'] });
    await jsm.streams.add({
      name: 'BENCH_FLOOR_BATCH',
      subjects: ['bench-floor-batch.>'],
      allow_atomic: true,
    });
    if (o.phases.includes('floor-fast') || o.phases.includes('floor-readback')) {
      const [major = 0, minor = 0] = (nc.info?.version ?? '0.0').split('.').map(Number);
      if (major < 2 || (major === 2 && minor < 14))
        throw new Error(
          `--phases floor-fast and floor-readback need nats-server ≥ 2.14 (fast batch publish); this one is ${nc.info?.version}. Point JETSCALE_TOOLS_BIN at a directory holding a newer nats-server`,
        );
      // allow_batched is newer than nats.js 3.4's StreamConfig.
      await jsm.streams.add({
        name: 'BENCH_FLOOR_FAST',
        subjects: ['bench-floor-fast.>'],
        allow_batched: true,
      } as Parameters<typeof jsm.streams.add>[0]);
      await jsm.streams.add({
        name: 'BENCH_FLOOR_RB',
        subjects: ['bench-floor-rb.>'],
        allow_batched: true,
        allow_direct: true,
      } as Parameters<typeof jsm.streams.add>[0]);
    }
    const events = (tag: string, n: number) =>
      Array.from({ length: n }, (_, i) =>
        makeEvent(`${tag}-${i}`, aggregateOf(i, o), { payload: { amount: i % 7 } }),
      );

    // The stored events, written once (not timed: the ceiling below measures publishing).
    const stored = events('e', o.events);
    const storing = performance.now();
    await publishWindowed(stored.length, 1000, (i) => {
      const e = stored[i] as TestEvent;
      return publisher.publish(topologyOf(config).eventsSubject(e.aggregateId), encodeEvent(e), undefined, {
        msgId: e.id,
      });
    });
    log(`stored ${stored.length} events in ${((performance.now() - storing) / 1000).toFixed(1)} s`);
    const b: Bench = { o, server, nc, js, jsm, env, config, stored: o.events, publisher };

    const phases: PhaseName[] = o.compareDir ? [...o.phases, 'old'] : [...o.phases];
    const results: PhaseResult[] = [];
    for (let r = 0; r < o.rounds; r++) {
      for (const phase of roundOrder(phases, r)) {
        const result =
          phase === 'bare'
            ? await barePhase(b, r)
            : phase === 'floor'
              ? await floorPhase(b, r, floorPublisher)
              : phase === 'floor-batch'
                ? await floorBatchPhase(b, r)
                : phase === 'floor-fast'
                  ? await floorFastPhase(b, r)
                  : phase === 'floor-readback'
                    ? await floorReadbackPhase(b, r)
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

    // The ceiling right before the gateway, so both meet about the same load.
    const ceilingResults = await ceilingPhases(b, publisher, floorPublisher);
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
      serverReads: summarize(of(phase).map((r) => r.cpu.serverReads)),
      clientReads: summarize(of(phase).map((r) => r.cpu.clientReads)),
      meanBatch: summarize(of(phase).flatMap((r) => (r.meanBatch === undefined ? [] : [r.meanBatch]))),
    }));
    // By throughput a/b; by CPU the inverse (b's µs / a's µs): the throughput ratio a CPU-bound machine allows.
    const ratio = (a: PhaseName, b2: PhaseName) => ({
      name: `${a} ÷ ${b2}`,
      throughput: summarize(pairedRatios(rate(a), rate(b2))),
      cpu: summarize(pairedRatios(cpu(b2), cpu(a))),
    });
    const pairs: [PhaseName, PhaseName][] = [
      ['full', 'bare'],
      ['full', 'floor'],
      ['floor', 'bare'],
      ['floor-batch', 'bare'],
      ['floor-batch', 'floor'],
      ['floor-fast', 'bare'],
      ['floor-fast', 'floor'],
      ['floor-readback', 'bare'],
      ['floor-readback', 'floor'],
      ['floor-readback', 'floor-fast'],
      ['old', 'bare'],
      ['full', 'old'],
    ];
    const ratios = pairs
      .filter(([a, b2]) => phases.includes(a) && phases.includes(b2))
      .map(([a, b2]) => ratio(a, b2));
    const ceilingTable = [...new Set(ceilingResults.map((c) => c.pattern))].map((pattern) => {
      const rows = ceilingResults.filter((c) => c.pattern === pattern);
      return {
        pattern,
        eventsPerSecond: summarize(rows.map((c) => c.eventsPerSecond)),
        cpuUs: summarize(rows.map((c) => cpuTotal(c.cpu))),
        serverUs: summarize(rows.map((c) => c.cpu.serverUs)),
        clientUs: summarize(rows.map((c) => c.cpu.clientUs)),
        clientWrites: summarize(rows.map((c) => c.cpu.clientWrites)),
      };
    });
    const ceiling = ceilingTable.reduce<(typeof ceilingTable)[number] | undefined>(
      (a, c) => (a && a.eventsPerSecond.median >= c.eventsPerSecond.median ? a : c),
      undefined,
    );
    const ladderOf = (batch: number, version: 'this' | 'old') =>
      ladderSummary(
        gatewaySteps.filter((s) => s.batch === batch && s.version === version && s.mode !== 'closed'),
      );

    log('');
    log(
      `summary: median (min–max) over ${o.rounds} interleaved rounds, one server; load average ${loadAtStart} at the start, ${loadAfterConsumers} after the consumer phases, ${loadText()} at the end`,
    );
    log(
      `| phase | events/s | CPU µs per event (server + client) | server | client | writes per event (server, client) | reads per event (server, client) |`,
    );
    log(`| --- | ---: | ---: | ---: | ---: | ---: | ---: |`);
    for (const row of table)
      log(
        `| ${row.phase}${row.meanBatch.n > 0 ? ` (${formatSummary(row.meanBatch, 1)} per batch)` : ''} | ${formatSummary(row.eventsPerSecond)} | ${formatSummary(row.cpuUs)} | ${formatSummary(row.serverUs)} | ${formatSummary(row.clientUs)} | ${formatSummary(row.serverWrites, 2)}, ${formatSummary(row.clientWrites, 2)} | ${formatSummary(row.serverReads, 2)}, ${formatSummary(row.clientReads, 2)} |`,
      );
    log('');
    log(`| ratio (paired within a round) | by throughput | by CPU per event |`);
    log(`| --- | ---: | ---: |`);
    for (const r of ratios) log(`| ${r.name} | ${formatPercent(r.throughput)} | ${formatPercent(r.cpu)} |`);
    log('');
    log(
      `| publish with ack, msg id and expected stream (${o.ceilingEvents} events per round) | events/s | CPU µs per event (server + client) | server | client | client writes per event |`,
    );
    log(`| --- | ---: | ---: | ---: | ---: | ---: |`);
    for (const row of ceilingTable)
      log(
        `| ${row.pattern}${row === ceiling ? ' **(ceiling)**' : ''} | ${formatSummary(row.eventsPerSecond)} | ${formatSummary(row.cpuUs)} | ${formatSummary(row.serverUs)} | ${formatSummary(row.clientUs)} | ${formatSummary(row.clientWrites, 2)} |`,
      );
    if (gatewaySteps.length > 0 && ceiling) {
      // The gateway's own publisher with the widest window: what the HTTP path adds to the same publishes.
      const ownPublisher = ceilingTable.find((row) => row.pattern === 'one-inbox publisher, window 10,000');
      // The gateway's publishes in its own shape, without HTTP (the closed loop's table).
      const samePublishes = ceilingTable.find((row) => row.pattern === GATEWAY_PUBLISHES);
      log('');
      log(
        `| gateway batch | best events/s stored before saturating (offered) | p50 ms | p99 ms | CPU µs per event | of the ceiling (${ceiling.pattern}, median) | by CPU: the ceiling's µs ÷ the gateway's | by CPU: ${ownPublisher?.pattern ?? 'one-inbox publisher'}'s µs ÷ the gateway's | saturated at (offered: stored) |`,
      );
      log(`| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |`);
      for (const batch of o.batches)
        for (const version of o.compareDir ? (['this', 'old'] as const) : (['this'] as const)) {
          const { best: s, saturatedAt: sat } = ladderOf(batch, version);
          const saturated = sat
            ? `${sat.offeredEventsPerSecond}: ${sat.eventsPerSecond}, p99 ${sat.p99ms} ms`
            : 'not within the ladder';
          const name = `${batch}${version === 'old' ? ' (old)' : ''}`;
          if (s)
            log(
              `| ${name} | ${s.eventsPerSecond} (${s.offeredEventsPerSecond}) | ${s.p50ms} | ${s.p99ms} | ${s.cpuPerEvent ? cpuTotal(s.cpuPerEvent) : '—'} | ${((100 * s.eventsPerSecond) / ceiling.eventsPerSecond.median).toFixed(0)} % | ${cpuShare(ceiling.cpuUs.median, s.cpuPerEvent && cpuTotal(s.cpuPerEvent))} | ${cpuShare(ownPublisher?.cpuUs.median ?? NaN, s.cpuPerEvent && cpuTotal(s.cpuPerEvent))} | ${saturated} |`,
            );
          else log(`| ${name} | — (saturated at the first step) | | | | | | | ${saturated} |`);
        }
      // The same gateway with its requests always in flight (no ladder), and what the load generator
      // spent per event: natscli's CPU includes making its messages, the gateway's does not.
      log('');
      log(
        `| gateway batch, closed loop | load generator | requests (events) in flight | events/s stored | p50 ms | p99 ms | in the gateway, mean ms: request, publish | CPU µs per event, nats-server + gateway | load generator µs per event | of the ceiling (${ceiling.pattern}, median) by events/s | by CPU: the ceiling's µs ÷ (nats-server + gateway + load generator) | of the same publishes without HTTP (${GATEWAY_PUBLISHES}), by events/s and by CPU | non-202 answers |`,
      );
      log(`| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |`);
      for (const s of gatewaySteps.filter((x) => x.mode === 'closed')) {
        const cpu = s.cpuPerEvent ? cpuTotal(s.cpuPerEvent) : undefined;
        const failedAnswers = Object.entries(s.statuses)
          .filter(([code]) => code !== '202')
          .reduce((n, [, k]) => n + k, 0);
        log(
          `| ${s.batch}${s.version === 'old' ? ' (old)' : ''} | ${s.generator ?? '?'} | ${s.lanes ?? '?'} (${(s.lanes ?? 0) * s.batch}) | ${s.eventsPerSecond} | ${s.p50ms} | ${s.p99ms} | ${s.gatewayRequestMs ?? '—'}, ${s.gatewayPublishMs ?? '—'} | ${cpu ?? '—'} | ${s.loadGeneratorUs ?? '—'} | ${((100 * s.eventsPerSecond) / ceiling.eventsPerSecond.median).toFixed(0)} % | ${cpuShare(ceiling.cpuUs.median, cpu === undefined ? undefined : cpu + (s.loadGeneratorUs ?? 0))} | ${samePublishes ? `${((100 * s.eventsPerSecond) / samePublishes.eventsPerSecond.median).toFixed(0)} %, ${cpuShare(samePublishes.cpuUs.median, cpu === undefined ? undefined : cpu + (s.loadGeneratorUs ?? 0))}` : '—'} | ${failedAnswers} |`,
        );
      }
    }
    const fullSteps = of('full').flatMap((r) => r.steps ?? []);
    const stepNames = [...new Set(fullSteps.map((s) => s.step))];
    const json = {
      options: o,
      loadAverage: { start: loadAtStart, afterConsumers: loadAfterConsumers, end: loadText() },
      ceiling: { best: ceiling?.pattern, patterns: ceilingTable, rounds: ceilingResults },
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
    floorPublisher.close();
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
