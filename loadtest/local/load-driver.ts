// The local open-model load driver: replays a shared load profile (loadtest/profiles) against the
// gateway over HTTP, the way k6's ramping-arrival-rate executor does where k6 cannot be installed.
// Arrivals follow the profile's schedule whatever the system does; a request that cannot start on
// schedule because `maxInFlight` requests are already outstanding is dropped and counted — never
// queued and sent late — so the achieved rate and the drops it reports are the honest ones.
import http from 'node:http';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import { profileDurationSeconds, rateAt, type LoadProfile } from '../profiles/profiles.js';

export interface LoadDriverOptions {
  profile: LoadProfile;
  /** e.g. http://127.0.0.1:18080/events */
  targetUrl: string;
  /** The request body for the `sequence`-th arrival (0-based); ids must be unique per run. */
  body: (sequence: number) => { id: string; json: string };
  /** Per-request timeout; a timeout counts as a failure. */
  timeoutMs?: number;
  /** Overrides the profile's maxInFlight. */
  maxInFlight?: number;
  /** Scheduler tick; arrivals due within a tick start together. */
  tickMs?: number;
  /**
   * Opens each new keep-alive connection (default: to targetUrl's host and port). A target whose
   * gateway pods are reachable directly spreads connections over them here, as a Service does in
   * the kernel, instead of through a proxy in this process.
   */
  connect?: () => net.Socket;
}

/** Counts for one second of the run (index = whole seconds since the start). */
export interface DriverSecond {
  second: number;
  plannedRate: number;
  started: number;
  succeeded: number;
  failed: number;
  dropped: number;
  /** p95 latency of the requests that completed in this second, ms (0 when none). */
  p95LatencyMs: number;
}

export interface DriverTotals {
  planned: number;
  started: number;
  succeeded: number;
  failed: number;
  dropped: number;
  /** succeeded / elapsed seconds. */
  achievedRate: number;
  failedRatio: number;
  droppedRatio: number;
  p50LatencyMs: number;
  p95LatencyMs: number;
  p99LatencyMs: number;
  maxLatencyMs: number;
  /**
   * p95 of the requests answered before the profile's peak began: this host's latency at the base
   * rate in the same run, the baseline the run's p95 is read against (absent without a peak).
   */
  beforePeakP95LatencyMs?: number;
  /** Largest gap between scheduler ticks beyond the intended tick (event-loop stalls on this host). */
  maxSchedulerLagMs: number;
  elapsedSeconds: number;
  /** First few distinct failure reasons with counts, for the report. */
  failureReasons: Record<string, number>;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? 0;
}

/** Planned arrivals in [0, t] seconds: the integral of the profile's rate (trapezoids per stage). */
export function plannedArrivals(profile: LoadProfile, seconds: number): number {
  let total = 0;
  let from = profile.startRate;
  let stageStart = 0;
  for (const stage of profile.stages) {
    const stageEnd = stageStart + stage.durationSeconds;
    if (seconds <= stageStart) break;
    const until = Math.min(seconds, stageEnd);
    const progress = stage.durationSeconds === 0 ? 1 : (until - stageStart) / stage.durationSeconds;
    const rateAtUntil = from + (stage.targetRate - from) * progress;
    total += ((from + rateAtUntil) / 2) * (until - stageStart);
    from = stage.targetRate;
    stageStart = stageEnd;
  }
  return total;
}

export class LoadDriver {
  private readonly agent: http.Agent;
  private readonly url: URL;
  private readonly maxInFlight: number;
  private readonly timeoutMs: number;
  private readonly tickMs: number;
  private readonly durationSeconds: number;
  private readonly seconds: DriverSecond[] = [];
  private readonly latencies: number[] = [];
  private readonly failureReasons = new Map<string, number>();
  private readonly acceptedIds: string[] = [];
  private inFlight = 0;
  private issued = 0;
  private startedAt = 0;
  private stoppedAt = 0;
  private maxLagMs = 0;
  private timer: NodeJS.Timeout | undefined;
  private finished: Promise<void> | undefined;
  private resolveFinished: (() => void) | undefined;
  private stopping = false;
  private readonly secondLatencies = new Map<number, number[]>();

  constructor(private readonly options: LoadDriverOptions) {
    this.url = new URL(options.targetUrl);
    this.maxInFlight = options.maxInFlight ?? options.profile.maxInFlight;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.tickMs = options.tickMs ?? 10;
    this.durationSeconds = profileDurationSeconds(options.profile);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: this.maxInFlight });
    const connect = options.connect;
    if (connect) this.agent.createConnection = () => connect();
  }

  /** In-process: nothing to wait for (the interface ThreadedLoadDriver shares). */
  ready(): Promise<void> {
    return Promise.resolve();
  }

  /** Starts the arrival schedule; resolves `done()` when the profile is over and every request settled. */
  start(): void {
    if (this.startedAt !== 0) throw new Error('a LoadDriver runs once; create a new one');
    this.startedAt = performance.now();
    this.finished = new Promise((resolve) => (this.resolveFinished = resolve));
    let lastTick = this.startedAt;
    const tick = (): void => {
      const now = performance.now();
      this.maxLagMs = Math.max(this.maxLagMs, now - lastTick - this.tickMs);
      lastTick = now;
      const elapsed = (now - this.startedAt) / 1000;
      const horizon = Math.min(elapsed, this.durationSeconds);
      const due = Math.floor(plannedArrivals(this.options.profile, horizon)) - this.issued;
      const second = this.secondAt(now);
      for (let i = 0; i < due; i++) {
        const sequence = this.issued++;
        if (this.inFlight >= this.maxInFlight) {
          second.dropped++;
          continue;
        }
        this.send(sequence);
      }
      if (elapsed >= this.durationSeconds || this.stopping) {
        this.timer = undefined;
        this.stoppedAt = now;
        this.settle();
        return;
      }
      this.timer = setTimeout(tick, this.tickMs);
    };
    this.timer = setTimeout(tick, 0);
  }

  /** Ends the schedule early (Ctrl-C); in-flight requests still settle. */
  stop(): void {
    this.stopping = true;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.stoppedAt = performance.now();
      this.settle();
    }
  }

  done(): Promise<void> {
    if (!this.finished) throw new Error('LoadDriver.done() before start()');
    return this.finished;
  }

  /** Seconds since start (0 before start). */
  elapsedSeconds(): number {
    return this.startedAt === 0 ? 0 : ((this.stoppedAt || performance.now()) - this.startedAt) / 1000;
  }

  inFlightRequests(): number {
    return this.inFlight;
  }

  /** Per-second counts so far (the current second is still filling). */
  timeline(): readonly DriverSecond[] {
    for (const entry of this.seconds) {
      const lat = this.secondLatencies.get(entry.second);
      if (lat)
        entry.p95LatencyMs = percentile(
          [...lat].sort((a, b) => a - b),
          95,
        );
    }
    return this.seconds;
  }

  /** Ids of the events the gateway accepted (2xx): what the audit must find applied exactly once. */
  accepted(): readonly string[] {
    return this.acceptedIds;
  }

  totals(): DriverTotals {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    let started = 0;
    let succeeded = 0;
    let failed = 0;
    let dropped = 0;
    for (const s of this.seconds) {
      started += s.started;
      succeeded += s.succeeded;
      failed += s.failed;
      dropped += s.dropped;
    }
    const elapsedSeconds = this.elapsedSeconds();
    const planned = started + dropped;
    const peakFrom = this.options.profile.peak?.fromSeconds;
    const beforePeak =
      peakFrom === undefined
        ? undefined
        : [...this.secondLatencies]
            .filter(([second]) => second < peakFrom)
            .flatMap(([, latencies]) => latencies)
            .sort((a, b) => a - b);
    return {
      planned,
      started,
      succeeded,
      failed,
      dropped,
      achievedRate: elapsedSeconds > 0 ? succeeded / elapsedSeconds : 0,
      failedRatio: started > 0 ? failed / started : 0,
      droppedRatio: planned > 0 ? dropped / planned : 0,
      p50LatencyMs: percentile(sorted, 50),
      p95LatencyMs: percentile(sorted, 95),
      p99LatencyMs: percentile(sorted, 99),
      maxLatencyMs: sorted.at(-1) ?? 0,
      ...(beforePeak && beforePeak.length > 0 ? { beforePeakP95LatencyMs: percentile(beforePeak, 95) } : {}),
      maxSchedulerLagMs: Math.max(0, this.maxLagMs),
      elapsedSeconds,
      failureReasons: Object.fromEntries(this.failureReasons),
    };
  }

  private secondAt(now: number): DriverSecond {
    const index = Math.floor((now - this.startedAt) / 1000);
    while (this.seconds.length <= index) {
      const second = this.seconds.length;
      this.seconds.push({
        second,
        plannedRate: rateAt(this.options.profile, second + 0.5),
        started: 0,
        succeeded: 0,
        failed: 0,
        dropped: 0,
        p95LatencyMs: 0,
      });
    }
    const entry = this.seconds[index];
    if (!entry) throw new Error(`driver timeline has no second ${index}`);
    return entry;
  }

  private send(sequence: number): void {
    const { id, json } = this.options.body(sequence);
    const began = performance.now();
    this.secondAt(began).started++;
    this.inFlight++;
    let settled = false;
    const finish = (ok: boolean, reason?: string): void => {
      if (settled) return;
      settled = true;
      this.inFlight--;
      const now = performance.now();
      const latency = now - began;
      const second = this.secondAt(now);
      if (ok) {
        second.succeeded++;
        this.acceptedIds.push(id);
      } else {
        second.failed++;
        const key = reason ?? 'unknown';
        this.failureReasons.set(key, (this.failureReasons.get(key) ?? 0) + 1);
      }
      this.latencies.push(latency);
      let bucket = this.secondLatencies.get(second.second);
      if (!bucket) this.secondLatencies.set(second.second, (bucket = []));
      bucket.push(latency);
      this.settle();
    };
    const req = http.request(
      {
        protocol: this.url.protocol,
        hostname: this.url.hostname,
        port: this.url.port,
        path: `${this.url.pathname}${this.url.search}`,
        method: 'POST',
        agent: this.agent,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) },
        timeout: this.timeoutMs,
      },
      (res) => {
        res.resume();
        res.once('end', () => {
          const status = res.statusCode ?? 0;
          finish(status >= 200 && status < 300, `HTTP ${status}`);
        });
        res.once('error', (err) => finish(false, err.message));
      },
    );
    req.once('timeout', () => {
      req.destroy(new Error(`timeout after ${this.timeoutMs} ms`));
    });
    req.once('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
    req.end(json);
  }

  private settle(): void {
    if (this.timer === undefined && this.stoppedAt !== 0 && this.inFlight === 0 && this.resolveFinished) {
      const resolve = this.resolveFinished;
      this.resolveFinished = undefined;
      this.agent.destroy();
      resolve();
    }
  }
}
