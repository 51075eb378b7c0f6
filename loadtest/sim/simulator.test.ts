import { fileURLToPath } from 'node:url';
import { JetscaleAutoscaler } from './jetscale-autoscaler.js';
import { KedaHpaAutoscaler, kedaHpaDefaults } from './keda-hpa.js';
import { builtInTraces, endingAt, jetscaleSpec, runScenario, shared } from './scenarios.js';
import type { Autoscaler, ClusterView, WorkloadModel } from './simulator.js';
import {
  DEFAULT_CONSUMES_BEFORE_READY_SECONDS,
  defaultWorkload,
  podGenerators,
  serverCounts,
  simulate,
} from './simulator.js';
import type { Trace } from './traces.js';
import {
  loadRecordedTrace,
  recordedTraceFrom,
  recordingFromHarnessResult,
  recurringBurstTrace,
  spikeTrace,
  stepTrace,
} from './traces.js';

const constant = (rate: number, durationSeconds = 600): Trace => ({
  name: 'constant',
  description: `${rate}/s`,
  durationSeconds,
  rateAt: () => rate,
});

/** Holds a fixed replica count; records what it was shown. */
class FixedReplicas implements Autoscaler {
  readonly name = 'fixed';
  readonly views: ClusterView[] = [];
  constructor(private readonly replicas: number) {}
  tick(view: ClusterView): number | undefined {
    this.views.push(view);
    return view.specReplicas === this.replicas ? undefined : this.replicas;
  }
}

const quickWorkload: WorkloadModel = { ...defaultWorkload, startupSeconds: { min: 10, max: 10 } };

describe('simulate', () => {
  it('is deterministic for a seed and differs across seeds', () => {
    const trace = spikeTrace({ durationSeconds: 1200 });
    const a = runScenario(trace, 'jetscale', 7);
    const b = runScenario(trace, 'jetscale', 7);
    const c = runScenario(trace, 'jetscale', 8);
    expect(b).toEqual(a);
    expect(c.arrived).not.toBe(a.arrived);
  });

  it.each(['keda', 'jetscale', 'jetscale-predictive'] as const)(
    'conserves messages: arrived = processed + backlog (%s)',
    (policy) => {
      for (const trace of builtInTraces(3).filter((t) => t.name !== 'diurnal')) {
        const r = runScenario(trace, policy, 3);
        expect(r.arrived).toBeGreaterThan(0);
        expect(Math.abs(r.arrived - (r.processed + r.backlogAtEnd))).toBeLessThan(1e-6 * r.arrived);
      }
    },
  );

  it('keeps the queue short when capacity exceeds arrivals, and grows it by the shortfall otherwise', () => {
    // 4 replicas × 25/s = 100/s of capacity.
    const enough = simulate(
      { seed: 1, trace: constant(60), workload: quickWorkload, initialReplicas: 4 },
      new FixedReplicas(4),
    );
    expect(enough.p99WaitSeconds).toBeLessThan(2);
    expect(enough.backlogAtEnd).toBeLessThan(100);

    const short = simulate(
      { seed: 1, trace: constant(150), workload: quickWorkload, initialReplicas: 4 },
      new FixedReplicas(4),
    );
    // ≈ (150 − 100) × 600 s; pod speeds vary ±10 %, so allow a wide band.
    expect(short.backlogAtEnd).toBeGreaterThan(20_000);
    expect(short.backlogAtEnd).toBeLessThan(40_000);
    expect(short.maxWaitSeconds).toBeGreaterThan(100);
  });

  it('queues near full utilisation as an M/D/c queue does: tight sizing is not free', () => {
    // Issue 13 asked whether the model penalises 100 % utilisation (it favours KEDA's tight
    // lagThresholds over headroom). With pod speeds made exact, the only randomness is Poisson
    // arrivals and each of the 2 × 10 in-flight slots serves in a fixed 0.4 s: an M/D/20 queue.
    // Its p99 queueing wait is about half M/M/c's (Kingman: (ca² + cs²)/2 with cs = 0),
    // P(Wq > t) = C(c, a)·e^(−(cμ − λ)t), C the Erlang-C probability of waiting.
    const exact: WorkloadModel = { ...defaultWorkload, serviceRateCv: 0, tickNoiseCv: 0 };
    const erlangC = (c: number, a: number): number => {
      let term = 1;
      let sum = 1;
      for (let k = 1; k < c; k++) {
        term *= a / k;
        sum += term;
      }
      const waiting = ((term * a) / c) * (c / (c - a));
      return waiting / (sum + waiting);
    };
    const p99Queueing = (rho: number): number => {
      const replicas = 2;
      const r = simulate(
        {
          seed: 1,
          trace: constant(rho * replicas * exact.serviceRatePerReplica, 3600),
          workload: exact,
          initialReplicas: replicas,
          tickSeconds: 0.25,
        },
        new FixedReplicas(replicas),
      );
      // The wait at light load is the service time plus the tick: what is above it is queueing.
      return r.p99WaitSeconds - 0.63;
    };
    for (const rho of [0.9, 0.95, 0.98]) {
      const c = 20;
      const mu = exact.serviceRatePerReplica / exact.inFlightPerReplica;
      const lambda = rho * c * mu;
      const mdc = Math.log(erlangC(c, lambda / mu) / 0.01) / (2 * (c * mu - lambda));
      const simulated = p99Queueing(rho);
      // Measured (seed 1, an hour): 0.52 / 0.77 / 2.00 s against M/D/c ≈ 0.40 / 0.86 / 2.25 s.
      expect(simulated).toBeGreaterThan(0.6 * mdc);
      expect(simulated).toBeLessThan(1.6 * mdc);
    }
  });

  it('shows the autoscaler the consumer as it was metricStalenessSeconds ago', () => {
    const fixed = new FixedReplicas(2);
    simulate(
      { seed: 1, trace: constant(10, 60), metricStalenessSeconds: 3, tickSeconds: 0.5, initialReplicas: 2 },
      fixed,
    );
    const late = fixed.views.at(-1);
    expect(late).toBeDefined();
    expect((late?.now ?? 0) - (late?.sample.at ?? 0)).toBe(3000);
  });

  it('starts new pods after the start-up delay and counts their replica-seconds meanwhile', () => {
    const fixed = new FixedReplicas(5);
    const r = simulate(
      { seed: 1, trace: constant(10, 60), workload: quickWorkload, tickSeconds: 0.5, initialReplicas: 1 },
      fixed,
    );
    const readyAt = (t: number) =>
      fixed.views.find((v) => v.now >= (fixed.views[0]?.now ?? 0) + t * 1000)?.readyReplicas;
    expect(readyAt(5)).toBe(1);
    expect(readyAt(12)).toBe(5);
    expect(r.replicaSeconds).toBeCloseTo(5 * 60 - 0.5 * 4, 6); // 4 pods created at the end of the first tick
  });

  it('counts the pods it starts, and those started within 60 s of a scale-down (flapping)', () => {
    // Up 1 -> 5 at once, down to 2 at 100 s, back up to 4 at 130 s (a rebound: 2 pods started 30 s
    // after a scale-down), up to 6 at 300 s (140 s after the last scale-down: not a rebound).
    const plan: [number, number][] = [
      [0, 5],
      [100, 2],
      [130, 4],
      [300, 6],
    ];
    let start: number | undefined;
    const scripted: Autoscaler = {
      name: 'scripted',
      tick(view) {
        start ??= view.now;
        const t = (view.now - start) / 1000;
        const want = [...plan].reverse().find(([at]) => t >= at)?.[1];
        return want === undefined || want === view.specReplicas ? undefined : want;
      },
    };
    const r = simulate(
      { seed: 1, trace: constant(10, 400), workload: quickWorkload, tickSeconds: 0.5, initialReplicas: 1 },
      scripted,
    );
    expect(r.podStarts).toBe(4 + 2 + 2);
    expect(r.podStartsAfterScaleDown).toBe(2);
  });

  it.each([
    [1, 40],
    [3, 40],
    [4, 40],
    [7, 40],
    [8, 40],
    [10, 40],
    [25, 40],
  ])(
    "reads what handlers hold at the instant of the reading as Little's law says, at in-flight %d (%d replicas, 500/s)",
    (inFlight, replicas) => {
      // Each handler takes inFlight / 25 s; at 500/s and half the replicas' capacity a server shows
      // 500/s × that in hand (Little's law) at any instant. Before session 32 a message stayed in
      // hand until the end of the first tick at least one service time after its tick's midpoint:
      // 250.6 held at in-flight 10 where 200 are, 125.3 at 4 where 80 are, 125 at 8 where 160 are,
      // and every policy (jetscale's heldBound, KEDA's lag, the oracle's backlog) read the difference
      // as work or room. Before session 31 handlers shorter than half a tick (in-flight 1–3) read as
      // none held: the policy's heldBound took 1,000/s over ~1.6 held for 503/s a replica on the
      // bench's recorded trace (seed 4, jetscale@0.6, --in-flight 1) and cut 60 replicas to 7.
      // 1,200 s, so the arrivals kept for the reading are trimmed (past 4,096 ticks) on the way.
      const workload: WorkloadModel = { ...quickWorkload, inFlightPerReplica: inFlight, tickNoiseCv: 0 };
      const fixed = new FixedReplicas(replicas);
      const r = simulate(
        { seed: 1, trace: constant(500, 1200), workload, initialReplicas: replicas, tickSeconds: 0.25 },
        fixed,
      );
      const start = fixed.views[0]?.now ?? 0;
      const readings = fixed.views.filter((v) => v.now - start >= 30_000).map((v) => v.sample);
      const meanHeld = readings.reduce((sum, s) => sum + s.ackPending, 0) / readings.length;
      const little = (500 * inFlight) / workload.serviceRatePerReplica;
      expect(Math.abs(meanHeld - little)).toBeLessThan(0.03 * little + 0.5);
      // The ack floor never goes backwards, and nothing is pending at half the capacity.
      const floors = readings.map((s) => s.ackFloorConsumerSeq);
      expect(floors).toEqual([...floors].sort((a, b) => a - b));
      expect(Math.max(...readings.map((s) => s.pending))).toBe(0);
      // Only the reading moved: the fluid serves as before, a message done at the end of the first
      // tick at least one service time after its tick's midpoint (0.125 s at in-flight 1).
      const fluidWait = (Math.ceil(inFlight / workload.serviceRatePerReplica / 0.25 + 0.5) - 0.5) * 0.25;
      expect(r.p50WaitSeconds).toBeGreaterThan(fluidWait - 0.1);
      expect(r.p50WaitSeconds).toBeLessThan(fluidWait + 0.1);
    },
  );

  it('caps work in flight at max_ack_pending', () => {
    const capped: WorkloadModel = { ...quickWorkload, maxAckPending: 20 };
    // 10 replicas could take 100 in flight (250/s); max_ack_pending 20 allows 20 (50/s).
    const r = simulate(
      { seed: 1, trace: constant(100, 300), workload: capped, initialReplicas: 10 },
      new FixedReplicas(10),
    );
    expect(r.processed / 300).toBeGreaterThan(40);
    expect(r.processed / 300).toBeLessThan(60);
  });

  it('a prefetching client: its buffer reads as awaiting ack, not pending, and is served as fast as before', () => {
    // 4 replicas doing 100/s against 110/s: the queue grows 10/s. Buffers of 100 each hold up to
    // 400 of it awaiting ack (within max_ack_pending 1000) instead of pending at the server.
    const buffered: WorkloadModel = { ...quickWorkload, prefetchPerReplica: 100 };
    const plain = new FixedReplicas(4);
    const prefetching = new FixedReplicas(4);
    const a = simulate(
      { seed: 1, trace: constant(110, 120), workload: quickWorkload, initialReplicas: 4 },
      plain,
    );
    const b = simulate(
      { seed: 1, trace: constant(110, 120), workload: buffered, initialReplicas: 4 },
      prefetching,
    );
    // The same service, the same waits: only the readings differ.
    expect(b.processed).toBeCloseTo(a.processed, 6);
    expect(b.p99WaitSeconds).toBeCloseTo(a.p99WaitSeconds, 6);
    const lastA = plain.views.at(-1)?.sample;
    const lastB = prefetching.views.at(-1)?.sample;
    if (lastA === undefined || lastB === undefined) throw new Error('no readings');
    expect(lastA.pending + lastA.ackPending).toBe(lastB.pending + lastB.ackPending);
    expect(lastA.ackPending).toBe(4 * quickWorkload.inFlightPerReplica);
    expect(lastB.ackPending).toBe(4 * (quickWorkload.inFlightPerReplica + 100));
    expect(lastB.pending).toBe(lastA.pending - 400);
    // Within max_ack_pending: 4 × 110 held at most 50.
    const capped = new FixedReplicas(4);
    simulate(
      {
        seed: 1,
        trace: constant(110, 120),
        workload: { ...buffered, maxAckPending: 50 },
        initialReplicas: 4,
      },
      capped,
    );
    expect(capped.views.at(-1)?.sample.ackPending).toBe(50);
  });

  it('reports whole messages, as a server does, so no fraction of one reads as a backlog the pull requests refuse', () => {
    // The fluid queue completes fractions of a message per tick. A reading with ~1e-12 "pending"
    // beside waiting pull requests is what the standing-backlog rule (refused-backlog.ts) takes for
    // messages the requests hold back; a real server never reports one (counters are whole numbers,
    // and the edge refuses any other: consumerInfoProblems).
    const trace = builtInTraces(1).find((t) => t.name === 'bursty');
    if (trace === undefined) throw new Error('no bursty trace');
    const jetscale = new JetscaleAutoscaler(
      jetscaleSpec(trace, false),
      shared.jetscalePollSeconds,
      'jetscale',
      true,
    );
    const seen: ClusterView[] = [];
    simulate(
      { seed: 1, trace, durationSeconds: 900 },
      {
        name: 'recording jetscale',
        tick: (view) => {
          seen.push(view);
          return jetscale.tick(view);
        },
      },
    );
    const counters = [
      'pending',
      'ackPending',
      'waiting',
      'deliveredConsumerSeq',
      'ackFloorConsumerSeq',
    ] as const;
    const fractional = seen.flatMap((v) =>
      counters.filter((c) => !Number.isInteger(v.sample[c])).map((c) => `${c} ${v.sample[c]}`),
    );
    expect(fractional.slice(0, 3)).toEqual([]);
    expect(seen.some((v) => v.sample.pending > 0 && v.sample.ackPending > 0)).toBe(true);
    // The simulated pods pull whatever is pending: no reading refuses a backlog.
    expect(jetscale.decisions.length).toBeGreaterThan(100);
    expect(jetscale.decisions.filter((d) => d.limitedBy === 'BacklogRefused').length).toBe(0);
  });

  it('rounds the counters to whole messages, never more than half a message off the fluid, and keeps them consistent', () => {
    expect(serverCounts(100, 49.6, 60.4 + 2e-12, 3, 10)).toEqual({
      pending: 40,
      ackPending: 10,
      waiting: 2,
      deliveredConsumerSeq: 60,
      deliveredStreamSeq: 60,
      ackFloorConsumerSeq: 50,
    });
    // Everything completed but for a rounding error: nothing pending, nothing awaiting ack.
    expect(serverCounts(100, 100 - 2e-12, 100, 2, 10)).toMatchObject({
      pending: 0,
      ackPending: 0,
      waiting: 2,
    });
  });

  it('runs jetscale and KEDA on the same simulated workload', () => {
    const trace = stepTrace({ durationSeconds: 1200 });
    const jetscale = simulate({ seed: 2, trace }, new JetscaleAutoscaler(jetscaleSpec(trace, false)));
    const keda = simulate(
      { seed: 2, trace },
      new KedaHpaAutoscaler({ ...kedaHpaDefaults, lagThreshold: 100, maxReplicaCount: 60 }),
    );
    expect(jetscale.arrived).toBe(keda.arrived); // arrivals come from their own seeded stream
  });
});

describe('podGenerators: each pod draws from its own place in the deployment', () => {
  const draws = (order: number[]): Map<string, number> => {
    const next = podGenerators(42);
    const seen = new Map<string, number>();
    const starts = new Map<number, number>();
    for (const place of order) {
      const j = starts.get(place) ?? 0;
      starts.set(place, j + 1);
      seen.set(`${place}#${j}`, next(place).next());
    }
    return seen;
  };

  it('gives a place the same draws whatever other places started before it', () => {
    // One policy starts places 1-4 early and 5-9 later; another starts 1-2 early and 3-9 later. With one
    // stream in start order, places 5-9 would get other draws; keyed by place they are the same pods.
    const a = draws([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const b = draws([1, 2, 9, 8, 7, 6, 5, 4, 3]);
    for (let place = 1; place <= 9; place++) expect(b.get(`${place}#0`)).toBe(a.get(`${place}#0`));
  });

  it('gives a pod started again in a place a new draw, and other seeds other draws', () => {
    const again = draws([3, 3, 3]);
    expect(new Set([again.get('3#0'), again.get('3#1'), again.get('3#2')]).size).toBe(3);
    expect(podGenerators(43)(3).next()).not.toBe(podGenerators(42)(3).next());
    expect(podGenerators(42)(4).next()).not.toBe(podGenerators(42)(3).next());
  });
});

describe('policies on the recurring-burst trace (10x for 60 s every 30 min)', () => {
  it('measures p99 apart for the messages after the warm-up', () => {
    // 100/s of capacity: 150/s for 100 s queues 5,000, drained by ~170 s; later messages barely wait.
    const trace: Trace = { ...constant(150, 600), rateAt: (t) => (t < 100 ? 150 : 20), warmupSeconds: 300 };
    const r = simulate(
      { seed: 1, trace, workload: quickWorkload, initialReplicas: 4, warmupSeconds: 300 },
      new FixedReplicas(4),
    );
    expect(r.p99WaitSeconds).toBeGreaterThan(10);
    expect(r.p99AfterWarmupSeconds).toBeLessThan(r.p99WaitSeconds / 5);
  });

  it('bounds the whole-run p99 of a policy that is perfect after the warm-up by what came before', () => {
    // 150/s for 100 s against 100/s: the queue's 5,000 messages wait up to ~50 s. Whatever happens
    // after t = 100 s, the worst 1 % of all messages (~250 of ~25,000) are among them.
    const trace: Trace = { ...constant(150, 600), rateAt: (t) => (t < 100 ? 150 : 20) };
    const run = (warmupSeconds: number) =>
      simulate(
        { seed: 1, trace, workload: quickWorkload, initialReplicas: 4, warmupSeconds },
        new FixedReplicas(4),
      );
    const r = run(100);
    expect(r.p99PerfectAfterWarmupSeconds).toBeGreaterThan(r.maxWaitSeconds * 0.9);
    expect(r.p99PerfectAfterWarmupSeconds).toBeLessThanOrEqual(r.maxWaitSeconds);
    // Fewer than 1 % of the messages before the warm-up: nothing bounds it.
    expect(run(1).p99PerfectAfterWarmupSeconds).toBe(0);
  });

  it('predictive jetscale meets the bursts after the second with pods already running, at no more cost', () => {
    const trace = recurringBurstTrace();
    const reactive = runScenario(trace, 'jetscale', 1);
    const predictive = runScenario(trace, 'jetscale-predictive', 1);
    // Reactive: every burst waits for pods to start. Predictive: the period is found in the
    // history after two bursts and the later ones find their replicas ready.
    expect(reactive.p99AfterWarmupSeconds).toBeGreaterThan(5);
    expect(predictive.p99AfterWarmupSeconds).toBeLessThan(reactive.p99AfterWarmupSeconds / 3);
    expect(predictive.replicaSeconds).toBeLessThan(reactive.replicaSeconds * 1.2);
  });

  // Predictive mode may only add replicas ahead of a burst it expects: where the expected burst does
  // not come, it costs no more than 5 % above reactive jetscale and waits no longer (issue 13's
  // bound), over the bench's 4 h. A burst expected in vain still costs part of a pre-warm (about
  // 2,000 replica-seconds here: loadtest/sim/README.md, "Predictive mode").
  // Seed 7: the per-replica figure, a low end learnt in the first (reactive) bursts, was never
  // raised once predictive mode met the bursts with replicas it had started ahead, which were never
  // busy: 18.7/s against the 23/s reactive mode learnt, 4 replicas between bursts where 3 carry
  // the stream (+19.5 %; decide.ts now sizes a standing low end up to what busy replicas bounded).
  it.each([
    ['a recurring burst that stops after 2 h', 1, recurringBurstTrace({ stopAtSeconds: 2 * 3600 })],
    ['a recurring burst that stops after 2 h', 7, recurringBurstTrace({ stopAtSeconds: 2 * 3600 })],
    ['a period that drifts by 3 min a cycle', 1, recurringBurstTrace({ driftSeconds: 180 })],
    ['pure noise (a flat 100/s)', 1, constant(100, 4 * 3600)],
  ])('predictive jetscale costs at most 5 %% more than reactive on %s (seed %d)', (_name, seed, trace) => {
    const reactive = runScenario(trace, 'jetscale', seed);
    const predictive = runScenario(trace, 'jetscale-predictive', seed);
    expect(predictive.replicaSeconds).toBeLessThanOrEqual(reactive.replicaSeconds * 1.05);
    expect(predictive.p99WaitSeconds).toBeLessThanOrEqual(reactive.p99WaitSeconds * 1.05);
  });
});

describe('traces', () => {
  it('loads a recorded timeline and interpolates between points', () => {
    const trace = recordedTraceFrom({
      points: [
        { t: 100, ratePerSecond: 10 },
        { t: 200, ratePerSecond: 30 },
      ],
    });
    expect(trace.durationSeconds).toBe(100);
    expect(trace.rateAt(0)).toBe(10);
    expect(trace.rateAt(50)).toBe(20);
    expect(trace.rateAt(150)).toBe(30);
  });

  it('rejects a malformed recording with a message that says what is expected', () => {
    expect(() => recordedTraceFrom([{ t: 0, ratePerSecond: -1 }, { t: 1 }])).toThrow(
      /ratePerSecond: number ≥ 0/,
    );
  });

  it('turns a harness run into a recording: accepted requests per second over the load, scaled', () => {
    const sample = (t: number, achievedRate: number) => ({ t, plannedRate: 30, achievedRate, backlog: 3 });
    const result = {
      scenario: 'failover',
      testId: 'failover-x',
      profile: { stages: [{ durationSeconds: 2 }, { durationSeconds: 1 }] },
      timeline: [sample(0, 0), sample(1, 28), sample(2, 0), sample(3, 31), sample(4, 9)],
      faults: [{ t: 2, kind: 'stop-gateway', detail: '', injected: true }],
    };
    const recording = recordingFromHarnessResult(result, 10);
    // The drain after the load (t = 4) is not load; a stopped gateway (t = 2) accepted nothing.
    expect(recording.points).toEqual([
      { t: 0, ratePerSecond: 0 },
      { t: 1, ratePerSecond: 280 },
      { t: 2, ratePerSecond: 0 },
      { t: 3, ratePerSecond: 310 },
    ]);
    expect(recording.description).toMatch(/failover-x.*× 10.*stop-gateway at 2 s/);
    expect(recordedTraceFrom(recording).rateAt(1.5)).toBe(140);
  });

  it('rejects what is not a harness result, saying what it expected', () => {
    expect(() => recordingFromHarnessResult({ points: [] })).toThrow(/not a harness result/);
    expect(() => recordingFromHarnessResult({ timeline: [{ t: 0 }, { t: 1, achievedRate: 1 }] })).toThrow(
      /sample 0 must have t \(seconds\) and achievedRate/,
    );
    expect(() => recordingFromHarnessResult({ timeline: [{ t: 0, achievedRate: 1 }] }, 0)).toThrow(/scale/);
  });

  it('replays the captured demo run (traces/demo-failover.json) as the bench does', () => {
    const trace = loadRecordedTrace(
      fileURLToPath(new URL('./traces/demo-failover.json', import.meta.url)),
      'demo',
    );
    expect(trace.durationSeconds).toBeGreaterThan(400);
    const r = runScenario(trace, 'jetscale', 1);
    expect(Math.abs(r.arrived - (r.processed + r.backlogAtEnd))).toBeLessThan(1e-6 * r.arrived);
    expect(r.arrived).toBeGreaterThan(50_000);
  });

  it('makes a 10x spike for 60 s', () => {
    const trace = spikeTrace({ base: 100, atSeconds: 600 });
    expect(trace.rateAt(599)).toBe(100);
    expect(trace.rateAt(600)).toBe(1000);
    expect(trace.rateAt(659)).toBe(1000);
    expect(trace.rateAt(660)).toBe(100);
  });

  describe('pods as real containers start', () => {
    // 1 replica, asked to 5 at the first tick, under a load 5 can barely serve: new pods start in 10 s.
    const run = (workload: WorkloadModel) => {
      const scaler = new FixedReplicas(5);
      const result = simulate(
        {
          seed: 1,
          trace: constant(200, 60),
          workload,
          initialReplicas: 1,
          tickSeconds: 0.25,
          metricStalenessSeconds: 0,
        },
        scaler,
      );
      return { result, views: scaler.views };
    };
    const completedBy = (views: ClusterView[], seconds: number): number =>
      views.find((v) => v.now >= (views[0]?.now ?? 0) + seconds * 1000)?.sample.ackFloorConsumerSeq ?? NaN;

    it('consume consumesBeforeReadySeconds before they are counted ready', () => {
      const early = run({ ...quickWorkload, consumesBeforeReadySeconds: 4 });
      const late = run({ ...quickWorkload, consumesBeforeReadySeconds: 0 });
      // Between 7 s and 9 s the four new pods consume but are not ready yet: one ready replica
      // completes at most ~25/s (×1.1 for its speed, plus noise), five ~125/s.
      const view = early.views.find((v) => v.now >= (early.views[0]?.now ?? 0) + 9 * 1000);
      expect(view?.readyReplicas).toBe(1);
      const earlyRate = (completedBy(early.views, 9) - completedBy(early.views, 7)) / 2;
      const lateRate = (completedBy(late.views, 9) - completedBy(late.views, 7)) / 2;
      expect(earlyRate).toBeGreaterThan(80);
      expect(lateRate).toBeLessThan(35);
      // Counted ready at the same time either way.
      const readyAt = (views: ClusterView[]): number =>
        ((views.find((v) => v.readyReplicas === 5)?.now ?? NaN) - (views[0]?.now ?? 0)) / 1000;
      expect(readyAt(early.views)).toBe(readyAt(late.views));
    });

    it(`consume DEFAULT_CONSUMES_BEFORE_READY_SECONDS (${DEFAULT_CONSUMES_BEFORE_READY_SECONDS} s) before they are counted ready unless told otherwise`, () => {
      const byDefault = run(quickWorkload);
      const never = run({ ...quickWorkload, consumesBeforeReadySeconds: 0 });
      const at = (r: typeof byDefault, s: number): number => completedBy(r.views, s);
      // The four new pods are counted ready at 10 s: by default they consume from 8 s.
      const window = (r: typeof byDefault): number => (at(r, 10) - at(r, 8.5)) / 1.5;
      expect(window(byDefault)).toBeGreaterThan(80);
      expect(window(never)).toBeLessThan(35);
    });

    it('serve at the warm-up share of their speed for the warm-up, at the same replica-seconds', () => {
      const warm = run(quickWorkload).result;
      const cold = run({ ...quickWorkload, warmup: { seconds: 20, speedShare: 0.5 } }).result;
      expect(cold.replicaSeconds).toBe(warm.replicaSeconds);
      // Four new pods × 20 s × half of ~25/s: about 1,000 fewer messages done in the minute.
      const lost = warm.processed - cold.processed;
      expect(lost).toBeGreaterThan(700);
      expect(lost).toBeLessThan(1300);
    });
  });

  it('drains what is queued when the trace ends, waiting for it and paying for it, when asked to', () => {
    // 1 replica (~25/s) under 50/s for 120 s: about 3,000 messages are queued at the end.
    const options = { seed: 1, trace: constant(50, 120), workload: quickWorkload, initialReplicas: 1 };
    const cut = simulate(options, new FixedReplicas(1));
    const drained = simulate({ ...options, drainLimitSeconds: 1800 }, new FixedReplicas(1));
    expect(cut.backlogAtEnd).toBeGreaterThan(2000);
    expect(cut.drainSeconds).toBe(0);
    expect(drained.backlogAtEnd).toBe(0);
    expect(Math.abs(drained.processed - drained.arrived)).toBeLessThan(1e-6 * drained.arrived);
    // The queue takes about backlog ÷ 25/s to drain, and the replica pays for it.
    expect(drained.drainSeconds).toBeGreaterThan((cut.backlogAtEnd / 25) * 0.8);
    expect(drained.drainSeconds).toBeLessThan((cut.backlogAtEnd / 25) * 1.25);
    expect(drained.replicaSeconds).toBeCloseTo(cut.replicaSeconds + drained.drainSeconds, 6);
    // Those messages waited longer than the age they had reached at the end.
    expect(drained.p99WaitSeconds).toBeGreaterThan(cut.p99WaitSeconds + 30);
    // Nothing arrives in the drain, and a limit stops it.
    expect(drained.arrived).toBe(cut.arrived);
    const limited = simulate({ ...options, drainLimitSeconds: 10 }, new FixedReplicas(1));
    expect(limited.drainSeconds).toBeCloseTo(10, 6);
    expect(limited.backlogAtEnd).toBeGreaterThan(0);
  });

  it('runs the bench with the drain, and tells the references that arrivals stop', () => {
    const trace = constant(50, 120);
    expect(endingAt(trace).rateAt(119.9)).toBe(50);
    expect(endingAt(trace).rateAt(120)).toBe(0);
    expect(shared.drainLimitSeconds).toBeGreaterThan(0);
    const r = runScenario(trace, 'keda-tuned', 1);
    expect(r.backlogAtEnd).toBe(0);
  });
});
