// A seeded fuzzer of the scaling policy: random users' specs, clients, traffic and clusters
// (test/fuzz-world.ts), judged by what must hold whatever the configuration — the outcomes a user
// would call scaling wrongly, not the policy's own formulas:
// - bounds: within [minReplicas, maxReplicas], never more replicas than max_ack_pending slots, a
//   disabled direction never taken, a finite next poll, no NaN/undefined in what users read;
// - zero: only after a cooldown in which every reading showed nothing pending, awaiting ack or
//   delivered; and zero is left as soon as the backlog passes activationBacklog;
// - steady traffic, once settled (the last 120 s of a stretch of at least 600 s at one rate): no
//   scale-up beyond what the arrival rate and the backlog need (1.5× the rate-sized count + 2; the
//   rate what arrived in the last 10 s, or arrives until 10 s after a pod asked for is ready),
//   and no standing shortfall — fewer ready replicas than the rate needs while work waits and
//   nothing the user set (maxReplicas, max_ack_pending, a disabled direction, a scale-up step
//   policy or stabilization window that holds the count, replicas that do not become ready)
//   explains keeping them. A latency objective explains it while what completes has waited less
//   than the objective (it lets a queue stand and grow towards half its worth of arrivals); then
//   the objective is held instead: with an objective of 30 s or more, nothing completes having
//   waited longer than it (plus one poll interval: the world's truth is read at polls) unless the
//   user's limits explain it, or it waited through a start-up from zero longer than the objective.
//   Without an objective, no standing wait in the clients' buffers: nothing pending at the server,
//   yet everything completed in the settled window waited over twice drainWithinSeconds plus four
//   handling times, while fewer replicas ran than the rate and draining what is held beyond the
//   handlers (their concurrency each) within drainWithinSeconds need, and none were asked for.
// `make test` runs FUZZ_WORLDS worlds (default 30) from seed FUZZ_SEED (default 1); `make
// fuzz-policy` runs 500 from a fresh seed. A failure names its world's seed, and
// `FUZZ_SEED=<seed> FUZZ_WORLDS=1 make fuzz-policy` reruns exactly that world, and
// `npx tsx operator/src/scaling/test/print-world.ts <seed> [from] [to]` prints its timeline: every
// poll's truth, reading, rates and decision, and its violations. A third as many of the same worlds
// run again with readings answered late (FUZZ_SLOW=1 for print-world), and again with trouble
// added (fuzz-world.ts adverseWorld: handlers 10× slower or faster, poisoned messages, a paused
// pod; FUZZ_ADVERSE=1), where the rate the invariants size for includes the poisoned messages'
// handler time. FUZZ_CRON=1 scans streams sent in bursts instead: the random worlds and the slow-
// reading worlds are each seed's cronWorld (one 900 s stretch sent by a timer; FUZZ_CRON=1 for
// print-world). The CI set does not set it. FUZZ_EXPIRY=1 adds worlds on a stream with max_age
// (fuzz-world.ts expiryWorld, on the pull-clients model), handlers slower than it or much faster,
// half of them with operator restarts: never a climb on expiry alone, and fast handlers still scaled
// to what takes each message in time (expiryViolations).

import { withScalingDefaults } from './defaults.js';
import { asRateState, FAILING_SPARE_AFTER_SECONDS } from './rates.js';
import {
  adverseWorld,
  concurrentClient,
  cronWorld,
  expiryViolations,
  expiryWorld,
  randomWorld,
  restartingWorld,
  runWorld,
  SLOW_READINGS,
  startingRestartWorld,
} from './test/fuzz-world.js';
import type { Run, World } from './test/fuzz-world.js';
import {
  fifoWaitSeconds,
  PAUSE_ASK_SECONDS,
  restartWhileStartingViolations,
  stepViolations,
  steadyViolations,
  cronBurstReplicas,
} from './test/fuzz-invariants.js';
import {
  asyncNatsMessages,
  natsGoConsume,
  jnatsFetch,
  natsGoFetch10,
  natsJsConsume,
  natsJsFetch,
  natsNetConsume,
  natsPyFetch,
  natsPyPush,
  realClientProblem,
  runScenario,
} from './test/pull-clients.js';
import type { PullClient } from './test/pull-clients.js';

/**
 * A whole number from the environment, or the default when unset; anything else stops the run
 * with what to fix (FUZZ_WORLDS= set but empty would otherwise run no random world and pass).
 */
function wholeFromEnv(name: string, fallback: number, least: number): number {
  const text = process.env[name];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isSafeInteger(value) || value < least)
    throw new Error(
      `${name}=${JSON.stringify(text)}: give a whole number, at least ${least} (or unset it for ${fallback})`,
    );
  return value;
}

const SEEDS = wholeFromEnv('FUZZ_WORLDS', 30, 1);
const FIRST_SEED = wholeFromEnv('FUZZ_SEED', 1, 0);
/** The seeds' worlds: randomWorld's, or with FUZZ_CRON=1 their streams sent in bursts (cronWorld). */
const seedWorld = process.env.FUZZ_CRON === '1' ? cronWorld : randomWorld;
/**
 * Worlds that once found a defect, run every time: 123 (a batch of 50 in one 1 s reading of a
 * 0.8/s stream sized as 50/s lasting a whole start-up: 1 → 20 replicas; CONFIRM_FACTOR in
 * decide.ts). World 250 found the short-cooldown zero (a unit test in decide.test.ts now) and
 * still fails on a milder over-reaction: two successive 1 s readings each holding a batch of 100
 * of a 44.6/s stream take 4 replicas to 6 where 4 is the bound (see operator/README.md). 1440: two
 * 1 s readings of a 26.6/s stream in batches of 10 read 55 and 60/s, 16 → 20 replicas where 17 is
 * the bound (a rise now counts only beyond the batches' extra noise, decide.ts beyondBatchNoise).
 * 2429: a 0.7/s stream in batches of 100 at zero replicas; one 5 s reading holding a batch lifts
 * the smoothed rate to 7.9/s, and the start-up pile-up sized for it took 0 → 9 where 6 is the bound.
 * 9853 (batches of 100 in a 58/s stream): two batches in successive 1 s readings lifted it to
 * 89/s, 4 → 14 (bound 11). The pile-up is now sized from confirmed rates only (rates.ts
 * confirmedArrivalPerSecond). 9421 (the same at 24/s, 8 → 19 where 16 is the bound; then 33
 * where 32 is the bound, a pile-up of 109 switching the drain of 373 pending from drainWithin to
 * 10 s, decide.ts drainPerSecond) and 12146 (a fetch() loop at 59.3/s with 50/s handlers scaled to
 * 7–9 where 5–6 is the bound): both read the per-replica capacity low from a few held messages no
 * replica worked on (rates.ts busyOnPrefetch); 12146's handlers then ran at 50/s, and the figure
 * learnt at 12.5/s crept up by a few tenths a minute (rates.ts CAPACITY_RISE_SECONDS). 13152: a
 * target without a ready count whose pods take 60 s, 663/s at 200/s handlers, ran 11–13 replicas
 * (up to 20) where 9 is the bound on a figure of 57–71/s that only proved more slowly; now 5–6.
 * 10686 and 10995: two batches of 100 in successive
 * 1 s readings of a ~5.5/s stream sized as a 100/s rise, 1 → 6 and 3 → 5 where 3 and 4 are the
 * bound; the dispersion now learns batches that land alone among empty readings (rates.ts).
 * 13752: a scale-up stabilization window of 60 s holding 6 replicas for a stream that needs 6.4
 * (the user's window; fuzz-invariants.ts). 70 and 134: a per-replica figure learnt as a low end
 * (pods not counted ready consumed) stood for good, 32.7/s for 200/s handlers (14 replicas where 4
 * do) and 24.2/s for 50/s (9 where 7 do); a low end is now re-measured (decide.ts
 * LOW_END_REMEASURE_SECONDS). 30442: 31 idle replicas (nothing pending, a dozen held) of 5/s
 * handlers with a 0.9/s low-end figure, 29.4/s arriving: the arrival rate's noise above their
 * completions read as a shortfall, piled up over a 60 s start-up and drained within 5 s, 31 → 50
 * where 13 is the bound; replicas that visibly keep up are no longer added to on a low end.
 * 40300: a 1.7/s figure for 5/s handlers (read while a few of 38 replicas worked through fetch()
 * batches) held 41–50 replicas for 900 s where 13 carry 64.7/s: replicas sized by it were never
 * busy, so nothing raised it; what they held now proves more (rates.ts heldBound). 283 and 30423:
 * low ends that stood for 900 s (4.8/s for 20/s handlers, 8.9/s for 20/s), raised the same way.
 * 70190: 22.6/s in clumps of 10 to 5 replicas of 5/s handlers (async-nats messages(): nothing ever
 * pending at the server); each clump lifted the confirmed rate 1-3/s above what the 5 do, sized as
 * a 60 s start-up's pile-up drained within 10 s: 5 → 12 → 6 → 13 where 12 is the bound. The
 * confirmed rate now counts beyond its own noise while nothing waits (decide.ts). 70180 and 50279:
 * low ends re-measured (sized below) while the user's scale-down rules held more replicas, idle,
 * to the end of the stretch (fuzz-invariants.ts: the user's rules explain it). 2781 (nats.go
 * Consume() with 50 at once, 1.4/s in clumps of 10 for 5/s pods) and 702099 (NATS.Net with 40 at
 * once, 378/s in clumps of 50 for 20/s pods): held messages shown in the handlers' hands, nothing
 * pending, and a figure read from them (1.1/s, 10.8/s) sized clumps as a need, 2 → 4 → 5 where 3
 * and 4 are the bound, and 41 → 47 where 35 is; such replicas now keep up (decide.ts inHandKeepsUp).
 */
/**
 * Each with the client it was found with: a world draws its client from test/pull-clients.ts's
 * list, which grew (other libraries' defaults), so the seed alone no longer names it.
 */
const REGRESSION_WORLDS: ReadonlyArray<readonly [number, PullClient]> =
  process.env.FUZZ_SEED === undefined
    ? [
        [70, natsJsFetch],
        [123, natsJsFetch],
        [134, natsJsConsume],
        [283, natsGoFetch10],
        [1440, natsGoFetch10],
        [2429, natsGoFetch10],
        [9421, natsGoFetch10],
        [9853, natsJsFetch],
        [10686, natsJsFetch],
        [10995, natsJsFetch],
        [12146, natsJsFetch],
        [13152, natsJsConsume],
        [13752, natsJsFetch],
        [30423, natsGoConsume],
        [30442, natsGoFetch10],
        [40300, natsJsFetch],
        [50279, asyncNatsMessages],
        [70180, asyncNatsMessages],
        [70190, asyncNatsMessages],
        [2781, concurrentClient(natsGoConsume, 50)],
        [702099, concurrentClient(natsNetConsume, 40)],
      ]
    : [];
describe(`decide under random users, clients and traffic (seeds ${FIRST_SEED}…${FIRST_SEED + SEEDS - 1})`, () => {
  it(
    'never scales wrongly: bounds, zero, and steady traffic sized for its rate',
    () => {
      const violations: string[] = [];
      let polls = 0;
      const worlds: World[] = [
        ...REGRESSION_WORLDS.map(([seed, client]) => ({ ...randomWorld(seed), client })),
        ...Array.from({ length: SEEDS }, (_, i) => seedWorld(FIRST_SEED + i)),
      ];
      for (const world of worlds) {
        const run = runWorld(world);
        polls += run.steps.length;
        violations.push(...stepViolations(run), ...steadyViolations(run));
      }
      if (violations.length > 0)
        throw new Error(
          `${violations.length} violations in ${SEEDS} worlds (${polls} polls); first ones:\n${violations.slice(0, 12).join('\n\n')}`,
        );
      expect(polls).toBeGreaterThan(SEEDS * 100);
    },
    60_000 + SEEDS * 5_000,
  );

  // The same worlds read by an operator whose readings are sometimes answered late (a stalled
  // process, a slow link), each stamped by the server with when it took it, on a clock that now
  // and then changes (a new consumer leader): rates.ts times intervals by the server's clock, and
  // across a change by the operator's, where it takes no interval by a reading whose round trip is
  // too long a share of it, and restarts one whose start was (restartInterval). A third as many worlds.
  const SLOW_WORLDS = Math.max(1, Math.round(SEEDS / 3));
  it(
    `never scales wrongly with readings answered up to ${SLOW_READINGS.maxSeconds} s late (${SLOW_WORLDS} worlds)`,
    () => {
      const violations: string[] = [];
      let polls = 0;
      let late = 0;
      let lateByServer = 0;
      let clockChanges = 0;
      for (let i = 0; i < SLOW_WORLDS; i++) {
        const world: World = {
          ...seedWorld(FIRST_SEED + i),
          slowReadings: SLOW_READINGS,
        };
        const run = runWorld(world);
        polls += run.steps.length;
        late += run.steps.filter((s) => (s.sample.roundTripMs ?? 0) > 0).length;
        lateByServer += run.steps.filter(
          (s) =>
            (s.sample.roundTripMs ?? 0) > 0 &&
            asRateState(s.decision.history.rates)?.lastIntervalClock === 'server' &&
            asRateState(s.decision.history.rates)?.last.at === s.sample.at,
        ).length;
        clockChanges += run.steps.filter(
          (s, j) => j > 0 && s.sample.serverTime?.clock !== run.steps[j - 1]?.sample.serverTime?.clock,
        ).length;
        violations.push(
          ...[...stepViolations(run), ...steadyViolations(run)].map((v) => `(slow readings) ${v}`),
        );
      }
      if (violations.length > 0)
        throw new Error(
          `${violations.length} violations in ${SLOW_WORLDS} worlds with slow readings (FUZZ_SLOW=1 for print-world) (${polls} polls, ${late} late, ${lateByServer} of them timed by the server, ${clockChanges} server clock changes); first ones:\n${violations.slice(0, 12).join('\n\n')}`,
        );
      expect(late).toBeGreaterThan(0);
      expect(lateByServer).toBeGreaterThan(0);
      expect(clockChanges).toBeGreaterThan(0);
    },
    60_000 + SLOW_WORLDS * 5_000,
  );

  // The same worlds with trouble production brings (fuzz-world.ts adverseWorld): handlers that get
  // 10× slower or faster mid-run, poisoned messages redelivered for ever (nak or ack_wait), a pod
  // that stops handling for a while. A third as many worlds.
  it(
    `never scales wrongly with handlers that change 10×, poisoned messages or a paused pod (${SLOW_WORLDS} worlds)`,
    () => {
      const violations: string[] = [];
      const kinds = new Set<string>();
      for (let i = 0; i < SLOW_WORLDS; i++) {
        const world = adverseWorld(FIRST_SEED + i);
        for (const kind of Object.keys(world.adversity ?? {})) kinds.add(kind);
        const run = runWorld(world);
        violations.push(...[...stepViolations(run), ...steadyViolations(run)].map((v) => `(adverse) ${v}`));
      }
      if (violations.length > 0)
        throw new Error(
          `${violations.length} violations in ${SLOW_WORLDS} adverse worlds (FUZZ_ADVERSE=1 for print-world); first ones:\n${violations.slice(0, 12).join('\n\n')}`,
        );
      expect(kinds.size).toBeGreaterThan(0);
    },
    60_000 + SLOW_WORLDS * 5_000,
  );

  // The same worlds with the operator restarted (or failed over to its standby) at a random time
  // (fuzz-world.ts restartingWorld): from then on the policy starts from what status carries only
  // (test/operator-restart.ts, through the controller's own status writer and reader): what the
  // writer had written by then at the operator's cadence, and in half the worlds not the last write
  // (lost with the process). A third as many worlds.
  it(
    `never scales wrongly across an operator restart (${SLOW_WORLDS} worlds)`,
    () => {
      const violations: string[] = [];
      let restarts = 0;
      // Restarts that read a status older than the last poll's (the writer's lag, or a write lost).
      let behind = 0;
      const carried = new Set<string>();
      for (let i = 0; i < SLOW_WORLDS; i++) {
        const world = restartingWorld(FIRST_SEED + i);
        const run = runWorld(world);
        if (run.restartStatus !== undefined) restarts++;
        const lastPoll = run.steps.filter((s) => s.t < (world.restartAt ?? Infinity)).at(-1);
        const readAt = run.restartStatus?.lastPollTime;
        if (lastPoll !== undefined && readAt !== undefined && Date.parse(readAt) < lastPoll.sample.at)
          behind++;
        // What the restarted process had to go on, beyond its target's size.
        const entry = run.restartStatus?.consumers?.[0];
        if (entry?.rates?.perReplicaPerSecond !== undefined) carried.add('capacity');
        if (run.restartStatus?.scaleUps !== undefined) carried.add('scaleUps');
        if (run.restartStatus?.lastScaleTime !== undefined) carried.add('lastScaleTime');
        violations.push(...[...stepViolations(run), ...steadyViolations(run)].map((v) => `(restart) ${v}`));
      }
      if (violations.length > 0)
        throw new Error(
          `${violations.length} violations in ${SLOW_WORLDS} worlds with an operator restart (FUZZ_RESTART=1 for print-world); first ones:\n${violations.slice(0, 12).join('\n\n')}`,
        );
      expect(restarts).toBe(SLOW_WORLDS);
      expect(behind).toBeGreaterThan(0);
      // (A scale-up record is carried only by a restart within its period of a scale-up: 15 s at
      // the default policies, and none of the CI set's 10 falls there.)
      expect(carried).toContain('capacity');
      expect(carried).toContain('lastScaleTime');
    },
    60_000 + SLOW_WORLDS * 5_000,
  );
});

// Worlds whose stream has max_age, with handlers slower than it or much faster (fuzz-world.ts
// expiryWorld, on the pull-clients model: the random worlds have no max_age), and an operator
// restart in half of them. Not in the CI set: FUZZ_EXPIRY=1 runs FUZZ_WORLDS of them from FUZZ_SEED.
if (process.env.FUZZ_EXPIRY === '1')
  describe(`decide on streams with max_age (expiry worlds ${FIRST_SEED}…${FIRST_SEED + SEEDS - 1})`, () => {
    it(
      'never climbs on expiry alone, and still scales handlers faster than max_age',
      () => {
        const violations: string[] = [];
        const seen = { slow: 0, fast: 0, restarted: 0 };
        for (let i = 0; i < SEEDS; i++) {
          const world = expiryWorld(FIRST_SEED + i);
          seen[world.kind]++;
          if (world.scenario.restartAt !== undefined) seen.restarted++;
          violations.push(...expiryViolations(world, runScenario(world.scenario)));
        }
        if (violations.length > 0)
          throw new Error(
            `${violations.length} violations in ${SEEDS} expiry worlds (${seen.slow} slow, ${seen.fast} fast, ${seen.restarted} restarted):\n${violations.join('\n\n')}`,
          );
        expect(seen.slow + seen.fast).toBe(SEEDS);
      },
      60_000 + SEEDS * 10_000,
    );
  });

// Restarts while the pods of a scale-up still start (fuzz-world.ts startingRestartWorld), each judged
// against the same world run without the restart (restartWhileStartingViolations) as well as by the
// invariants of every world. Not in the CI set: FUZZ_RESTART=starting runs FUZZ_WORLDS of them from
// FUZZ_SEED (a world only restarts if half its replicas are ever starting at once, so fewer do).
if (process.env.FUZZ_RESTART === 'starting')
  describe(`decide across a restart while pods start (worlds ${FIRST_SEED}…${FIRST_SEED + SEEDS - 1})`, () => {
    it(
      'asks for no more than the process that kept running would, and never scales wrongly',
      () => {
        const violations: string[] = [];
        let restarts = 0;
        for (let i = 0; i < SEEDS; i++) {
          const world = startingRestartWorld(FIRST_SEED + i);
          const run = runWorld(world);
          if (run.restartedAt === undefined) continue;
          restarts++;
          const { restartAt: _at, restartWhileStarting: _starting, ...kept } = world;
          violations.push(
            ...[
              ...restartWhileStartingViolations(run, runWorld(kept)),
              ...stepViolations(run),
              ...steadyViolations(run),
            ].map((v) => `(restart while starting) ${v}`),
          );
        }
        if (violations.length > 0)
          throw new Error(
            `${violations.length} violations in ${restarts} worlds restarted while pods started (FUZZ_RESTART=starting for print-world); first ones:\n${violations.slice(0, 12).join('\n\n')}`,
          );
        expect(restarts).toBeGreaterThan(0);
      },
      60_000 + SEEDS * 20_000,
    );
  });

describe('a restart while the pods of a panic still start (found in session 36)', () => {
  // World 36029 restarted while its pods started, from the status written at its panic (the write
  // not lost): nats.go Fetch(10) loops at 20/s handlers, 90 s start-ups, 1 -> 7 at 63 s on 55.9/s.
  // The new process read 20/s a replica from status and its first busy interval's completions ÷ the
  // 7 asked for (2.9/s) as the figure, and asked for 50; the process that kept running asked for 20.
  it('world 36029: carried 20/s kept while 6 of 7 start; no more asked for than without the restart', () => {
    const base = startingRestartWorld(36029);
    const world = {
      ...base,
      statusWrites: { refreshJitter: base.statusWrites?.refreshJitter ?? 0, lastLost: false },
    };
    const run = runWorld(world);
    expect(run.restartedAt).toBeDefined();
    expect(run.restartStatus?.consumers?.[0]?.rates?.perReplicaPerSecond).toBe(20);
    const { restartAt: _at, restartWhileStarting: _starting, ...kept } = world;
    expect(restartWhileStartingViolations(run, runWorld(kept))).toEqual([]);
  });
});

describe('a replica that stops under a latency objective (found in session 21, fixed in fcc84e1)', () => {
  it('adverse world 120070: the one ready pod paused 120 s; the objective holds', () => {
    // nats.go Consume(), 26.8/s in clumps of 100, 200/s handlers, latencyObjective 30 s, 60 s
    // start-ups; the one ready pod pauses at t = 1,027 s for 120 s. Nothing completes, 420 await ack
    // and the backlog grows 100 -> 2,300 over 57 s, but the policy keeps 1 replica ("a 30s latency
    // objective with 2,000 queued needs 1"): it sizes with the 146/s figure learnt before the pause,
    // and asks for 2 only at t = 1,084 s; a message waits 82.5 s. On 6d877a1 too.
    //
    // Since session 24 the paused pod's messages run out of ack_wait and are redelivered, as on a real
    // server, and nats.go Consume() keeps its pull open: the server hands them back to the paused pod
    // itself until its 500 are delivered (num_redelivered 100 from t = 1,032.75 s), then nothing. That
    // read as handlers failing: HandlersFailing from t = 1,085 s, 1 replica kept where 2 were asked
    // for, and a message waited 83 s. Now the replica that takes nothing while failing is stalled
    // (rates.ts takingNothing): 2 are asked for at t = 1,041.75 s. The start-up is 30-90 s against the
    // 30 s objective, so the wait until the new pod starts is the world's (fuzz-invariants.ts
    // waitedForPausedPod: an ask within PAUSE_ASK_SECONDS of the pause).
    const run = runWorld(adverseWorld(120070));
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
    const pause = run.world.adversity?.pause;
    if (pause === undefined) throw new Error('adverse world 120070 has no paused pod');
    const asked = run.steps.find((s) => s.t >= pause.at && s.decision.desiredReplicas > s.currentReplicas);
    expect(asked?.t).toBeLessThanOrEqual(pause.at + PAUSE_ASK_SECONDS);
  });
});

describe('a pod taken back without draining leaves its messages awaiting ack_wait (found in session 22)', () => {
  it('world 80078 with slow readings: nothing else arriving, the replicas left are not read as stalled', () => {
    // nats.py fetch(1), 5/s handlers, ack_wait 30 s, half the pods taken back are killed. At
    // t = 489 s a scale-down kills a pod holding one message while the batches stop: the 2 replicas
    // left have nothing to take and complete nothing, and the ack floor stays below that message
    // until its ack_wait runs out. Read as "the 2 replicas that completed nothing: stalled, they
    // carry none, and nothing waits at the server: none taken away from beside them", 2 were kept
    // at t = 499.9–510.9 s for 1.8/s. No pod in this world ever stops (it has no adversity).
    const run = runWorld({ ...randomWorld(80078), client: natsPyFetch, slowReadings: SLOW_READINGS });
    expect(run.world.adversity).toBeUndefined();
    expect(
      run.steps.map((s) => s.decision.reason).filter((r) => /stalled, (it carries|they carry) none/.test(r)),
    ).toEqual([]);
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
  });
});

/**
 * A world fixed so the invariants judge it: one pod to start, the spec's defaults within 1 and
 * `maxReplicas` (no objective, no prediction), max_ack_pending unlimited, nothing failing, and one
 * stretch of independent messages (with `cron`, sent in its bursts only: Segment.cron).
 */
function steadyWorld(
  setup: { maxReplicas: number; client: PullClient; pollSeconds: number; startupSeconds: number },
  segment: {
    seconds: number;
    rate: number;
    handlerPerSecond: number;
    cron?: { periodSeconds: number; burstSeconds: number };
  },
): World {
  return {
    ...randomWorld(1),
    spec: withScalingDefaults({ minReplicas: 1, maxReplicas: setup.maxReplicas }),
    pollSeconds: setup.pollSeconds,
    client: setup.client,
    maxAckPending: -1,
    startupSeconds: setup.startupSeconds,
    killShare: 0,
    scaleFailure: 0,
    interleavedPerSecond: 0,
    reportsReady: true,
    initialReplicas: 1,
    initialPending: 0,
    segments: [{ ...segment, shape: segment.cron === undefined ? 'poisson' : 'cron', clump: 1 }],
  };
}

describe('a cron-like producer between quiet spells (found in session 32)', () => {
  // 10x the mean for 2 s of every 20 s, nothing between (Segment.cron, which randomWorld does not
  // draw), to fetch loops of 5/s handlers, 10 s start-ups. On main b16007a every one of these went
  // to maxReplicas (50) and broke the fuzzer's bound 5-8 times in its settled window: read every
  // 1-2 s, a burst spans two readings, the arrival dispersion counted it as a step up and a step
  // down (1.0: independent messages), and the panic confirmed 161/s at its second reading.
  // Session 33: the count is brought down to what the bursts need, replicas that drain a burst
  // (20 s of the mean) within half of drainWithinSeconds at 5/s: 5 at 17/s, 6 at 22/s, with the
  // tolerance of bursty-fetch-loops.test (1.6x: fetch loops spread a burst unevenly, and the
  // scale-down window holds what its readings asked for). Mean replicas over t = 300-900 s,
  // 7b9a82c -> now: nats.js fetch() 11.6 / 15.2 -> 7.4 / 8.8, jnats fetch() 12.1 / 22.7 -> 6.5 /
  // 8.2, nats.go Fetch(10) 24.0 / 30.0 -> 6.0 / 8.0 (whose 1.75/s low end was never re-measured,
  // 6 violations each: rates.ts burstBound, decide.ts burstSizing). Longest wait 17.6-18.7 s ->
  // 18.0-23.5 s behind nats.js and jnats fetch() (4.9 -> 10-12 s behind Fetch(10)), within
  // drainWithinSeconds (30 s).
  const cron = { periodSeconds: 20, burstSeconds: 2 };
  const world = (client: PullClient, rate: number): World =>
    steadyWorld(
      { maxReplicas: 50, client, pollSeconds: 5, startupSeconds: 10 },
      { seconds: 900, rate, handlerPerSecond: 5, cron },
    );
  for (const client of [natsJsFetch, jnatsFetch, natsGoFetch10])
    for (const rate of [17, 22])
      it(`${client.name}, ${rate}/s on average: no violation, about the replicas the bursts need, drained within drainWithinSeconds`, () => {
        const run = runWorld(world(client, rate));
        expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
        const late = run.steps.filter((s) => s.t >= 300);
        expect(late.length).toBeGreaterThan(300);
        let replicaSeconds = 0;
        for (let i = 1; i < late.length; i++)
          replicaSeconds += (late[i - 1]?.currentReplicas ?? 0) * ((late[i]?.t ?? 0) - (late[i - 1]?.t ?? 0));
        const span = (late.at(-1)?.t ?? 0) - (late[0]?.t ?? 0);
        const burst = rate * cron.periodSeconds;
        const needed = Math.ceil(burst / (5 * 0.5 * run.world.spec.drainWithinSeconds));
        expect(replicaSeconds / span).toBeLessThanOrEqual(1.6 * needed);
        const longestWait = Math.max(...run.steps.map((s, i) => (s.t >= 300 ? fifoWaitSeconds(run, i) : 0)));
        expect(longestWait).toBeLessThanOrEqual(run.world.spec.drainWithinSeconds);
      });
});

describe('bursts far apart: replicas for the next burst from a start-up before it, not through the quiet (session 35)', () => {
  // 2 s of every 60 or 120 s (30x and 60x the mean), 5/s handlers, 10 s start-ups, the defaults.
  // On 612bbef burstSizing kept the replicas that drain a burst within half of drainWithinSeconds
  // through the whole quiet spell while the arrivals read as batched, and sized nothing once they
  // read as independent again (a minute of empty readings): Fetch(10) loops, 17/s in 2 s of every
  // 120 s, kept 26-28 through every 118 s early on, then met each later burst with 1 replica and
  // panicked to 41 (mean 16.8); nats.js fetch() loops (100 at a time) waited 35.5 s. On fb6fb8d
  // (with arrivalEnded) the same: 19.9 mean, 41; 35.9 s; and bursts 60 s apart now fail the guards
  // below too (nats.js fetch() 10/s waited 30.8 s, Fetch(10) 5/s asked for 41).
  const world = (client: PullClient, rate: number, periodSeconds: number, pollSeconds = 5): World =>
    steadyWorld(
      { maxReplicas: 50, client, pollSeconds, startupSeconds: 10 },
      { seconds: 900, rate, handlerPerSecond: 5, cron: { periodSeconds, burstSeconds: 2 } },
    );
  const longestWait = (run: Run): number =>
    Math.max(...run.steps.map((s, i) => (s.t >= 300 ? fifoWaitSeconds(run, i) : 0)));
  it('nats.go Fetch(10) loop, 17/s in 2 s of every 120 s: between bursts no more on average than a burst needs within drainWithinSeconds + 1, each drained within drainWithinSeconds and a start-up', () => {
    const run = runWorld(world(natsGoFetch10, 17, 120));
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
    const drainWithin = run.world.spec.drainWithinSeconds;
    // 2,040 a burst at 5/s a replica within 30 s: 14.
    const needs = Math.ceil((17 * 120) / (5 * drainWithin));
    // From 35 s into each period (every burst drained within 30 s, the last wait below) to the next.
    const over: { from: number; mean: number }[] = [];
    for (let from = 360; from + 120 <= 900; from += 120) {
      const steps = run.steps.filter((s) => s.t >= from + 35 && s.t < from + 120);
      let replicaSeconds = 0;
      for (let i = 1; i < steps.length; i++)
        replicaSeconds +=
          (steps[i - 1]?.currentReplicas ?? 0) * ((steps[i]?.t ?? 0) - (steps[i - 1]?.t ?? 0));
      const span = (steps.at(-1)?.t ?? 0) - (steps[0]?.t ?? 0);
      if (replicaSeconds / span > needs + 1) over.push({ from, mean: replicaSeconds / span });
    }
    // 612bbef: [{ from: 360, mean: 27 }] (26-28 kept through the quiet); fb6fb8d fails the
    // violations above first (19 -> 24 with nothing arriving, 52 s before the next burst).
    expect(over).toEqual([]);
    expect(longestWait(run)).toBeLessThanOrEqual(drainWithin + run.world.startupSeconds);
    // No panic to the step limit at a burst (612bbef: 41 at every burst from t = 600 s).
    const burstNeeds = Math.ceil((17 * 120) / (5 * 0.5 * drainWithin));
    for (const s of run.steps.filter((x) => x.t >= 300))
      expect(s.decision.desiredReplicas).toBeLessThanOrEqual(Math.ceil(1.2 * burstNeeds));
  });
  it('nats.js fetch() loop (100 at a time), 17/s in 2 s of every 120 s: replicas there when each burst comes, every burst drained within drainWithinSeconds', () => {
    const run = runWorld(world(natsJsFetch, 17, 120));
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
    // 612bbef: 35.5 s.
    expect(longestWait(run)).toBeLessThanOrEqual(run.world.spec.drainWithinSeconds);
  });
  // Kept throughout, the count sized beside the stream's mean rose by one in quiet as that mean
  // decayed after each burst (or after a burst a little larger): nats.js fetch() 17/s 12 -> 13 at
  // t = 812.7 and 871.5 s, Fetch(10) 5/s 4 -> 5 at 858.6 s, with nothing arriving and nothing
  // left to drain. The fuzz judge excuses those rises since 3104498 (within the cron burst bound),
  // so this asserts the churn itself: the replicas there are kept while they drain a burst within
  // drainWithinSeconds, and none is added in the quiet.
  const addedInQuiet = (run: Run): string[] => {
    const cron = run.world.segments[0]?.cron;
    if (cron === undefined) throw new Error('a cron world');
    const added: string[] = [];
    for (let i = 1; i < run.steps.length; i++) {
      const [before, step] = [run.steps[i - 1], run.steps[i]];
      if (before === undefined || step === undefined || step.t < 300) continue;
      // Quiet: nothing arrived since the last poll, nothing is left undone, and the next burst is
      // more than a start-up and a poll (the pre-warm's lead) plus 5 s away.
      const phase = step.t % cron.periodSeconds;
      const quiet =
        step.truth.arrived === before.truth.arrived &&
        step.truth.completed === step.truth.arrived &&
        phase >= cron.burstSeconds &&
        phase < cron.periodSeconds - (run.world.startupSeconds + run.world.pollSeconds + 5);
      if (quiet && step.decision.desiredReplicas > step.currentReplicas)
        added.push(`t=${step.t.toFixed(2)} ${step.currentReplicas} -> ${step.decision.desiredReplicas}`);
    }
    return added;
  };
  for (const [client, rate] of [
    [natsJsFetch, 17],
    [natsGoFetch10, 5],
  ] as const)
    it(`${client.name}, ${rate}/s in 2 s of every 60 s: no replica added in quiet, every burst drained within drainWithinSeconds`, () => {
      const run = runWorld(world(client, rate, 60));
      expect(addedInQuiet(run)).toEqual([]);
      expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
      expect(longestWait(run)).toBeLessThanOrEqual(run.world.spec.drainWithinSeconds);
    });
  // Bursts a minute apart keep their replicas throughout (BURST_QUIET_STARTUPS): as before.
  // Session 34's experiment without that floor (60b9d93) waited 32.8 s behind nats.js fetch(), and
  // 31.2 s / asked for 36 behind Fetch(10) read every 10 s.
  for (const [client, rate, poll] of [
    [natsJsFetch, 10, 5],
    [natsGoFetch10, 5, 5],
    [natsGoFetch10, 10, 10],
    [natsGoFetch10, 5, 10],
  ] as const)
    it(`${client.name}, ${rate}/s in 2 s of every 60 s, read every ${poll} s: every burst drained within drainWithinSeconds, no more asked than 2.5x a burst needs (60b9d93: 36-41)`, () => {
      const run = runWorld(world(client, rate, 60, poll));
      expect(longestWait(run)).toBeLessThanOrEqual(run.world.spec.drainWithinSeconds);
      const burstNeeds = Math.ceil((rate * 60) / (5 * 0.5 * run.world.spec.drainWithinSeconds));
      for (const s of run.steps.filter((x) => x.t >= 300))
        expect(s.decision.desiredReplicas).toBeLessThanOrEqual(Math.ceil(2.5 * burstNeeds) + 1);
    });
});

describe('messages a pod taken back still holds do not stretch a burst (session 35)', () => {
  // World 34212 with every stretch sent in 2 s of every 120 s (session 34's first cronWorld draft):
  // nats.go Fetch(10) loops, 50/s handlers, 30 s start-ups, half the pods taken back killed. After
  // each burst of its 27.3/s stretch (600-1500 s) the count fell while a killed pod held 8-13 of it,
  // back only at ack_wait (30 s): counted as backlog beside 2 ready replicas, every run read 51-53 s
  // (> drainWithinSeconds), no burst was sized, and every burst panicked 2 -> 42 where 5 drain one.
  it('each burst of the 27.3/s stretch reads as drained within drainWithinSeconds, and is met without a panic to the step limit', () => {
    const base = randomWorld(34212);
    const run = runWorld({
      ...base,
      segments: base.segments.map((s) => ({
        ...s,
        shape: 'cron' as const,
        clump: 1,
        cron: { periodSeconds: 120, burstSeconds: 2 },
      })),
    });
    const stretch = run.steps.filter((s) => s.t >= 720 && s.t < 1500);
    const runs = new Set(stretch.map((s) => asRateState(s.decision.history.rates)?.lastBurst?.seconds));
    for (const seconds of runs) expect(seconds).toBeLessThanOrEqual(run.world.spec.drainWithinSeconds);
    // 3,280 a burst at 50/s a replica within 15 s: 5.
    for (const s of stretch) expect(s.decision.desiredReplicas).toBeLessThanOrEqual(10);
  });
});

describe('a push deliver group member hung for good (found in session 33)', () => {
  // Adversity.pause for good (adverseWorld draws 5, 30 or 120 s): nats.py push, max_ack_pending
  // 1000, ack_wait 30 s, 2/s for 5/s handlers. Scale-downs take the newest pods, so the hung one is
  // eventually left alone; what it holds comes back to it at each ack_wait, redelivered and never
  // completed, and the failing spell never ends. The invariants excuse every wait near a pause, so
  // this world asserts the hold itself. On 7b9a82c: 1 replica and HandlersFailing from t = 1,260 s
  // to the end, 2,265 pending at 2,370 s; now the spare replica (decide.ts 3d) ends each such spell.
  it('no hold at one replica longer than the spare-replica bound, and the backlog does not grow without bound', () => {
    const world: World = {
      ...steadyWorld(
        { maxReplicas: 20, client: natsPyPush, pollSeconds: 5, startupSeconds: 15 },
        { seconds: 2400, rate: 2, handlerPerSecond: 5 },
      ),
      maxAckPending: 1000,
      ackWaitSeconds: 30,
      adversity: { pause: { at: 120, seconds: Infinity } },
    };
    const run = runWorld(world);
    let heldSince: number | undefined;
    let longest = 0;
    for (const step of run.steps) {
      const held = step.decision.desiredReplicas === 1 && step.decision.limitedBy === 'HandlersFailing';
      if (!held) heldSince = undefined;
      else {
        heldSince ??= step.t;
        longest = Math.max(longest, step.t - heldSince);
      }
    }
    expect(run.steps.some((s) => s.decision.limitedBy === 'HandlersFailing')).toBe(true);
    expect(longest).toBeLessThanOrEqual(FAILING_SPARE_AFTER_SECONDS);
    expect(run.steps.at(-1)?.sample.pending).toBeLessThan(100);
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
  });
});

describe('handlers that work on many messages at once (found in session 27)', () => {
  it('50 at once, 10 s each (5/s a pod), 20/s arriving: sized for 5/s a pod, not driven to maxReplicas', () => {
    // A world of the kind randomWorld now draws (concurrentClient, CONCURRENT_SHARE), fixed so the
    // invariants judge it: no objective, no prediction, max_ack_pending unlimited. On main 0014131
    // 20 replicas (maxReplicas) from 300 s on: rates.ts read pods holding their 50 in hand at 20/s
    // as busy, so completions ÷ ready became the figure, and each pod added lowered it.
    const run = runWorld(
      steadyWorld(
        { maxReplicas: 20, client: concurrentClient(natsJsConsume, 50), pollSeconds: 2, startupSeconds: 5 },
        {
          seconds: 600,
          rate: 20,
          handlerPerSecond: 5,
        },
      ),
    );
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
    // From 300 s on: at most the fuzzer's own bound (ceil(4 x 1.15 x 1.5) + 2 = 9), and 7.5 on
    // average over time (7.0 measured; 4 do the 20/s, 5 with the headroom: 2f still reads what
    // one in hand a replica leaves as buffered while the measured handling time is not known, and
    // asks for one or two more).
    const late = run.steps.filter((s) => s.t >= 300);
    expect(Math.max(...late.map((s) => s.currentReplicas))).toBeLessThanOrEqual(9);
    let replicaSeconds = 0;
    for (let i = 1; i < late.length; i++)
      replicaSeconds += (late[i - 1]?.currentReplicas ?? 0) * ((late[i]?.t ?? 0) - (late[i - 1]?.t ?? 0));
    const span = (late.at(-1)?.t ?? 0) - (late[0]?.t ?? 0);
    expect(span).toBeGreaterThan(250);
    expect(replicaSeconds / span).toBeLessThanOrEqual(7.5);
  });
});

describe('a handling time measured at one count holds at the next (found in session 33)', () => {
  it('world 515518: 500 at once, 10 s each, 299/s for 900 s: no flapping 50 <-> 32, no violation, and down from 32 toward the 6 that do it', () => {
    // A push deliver group of 500 handlers at once, 10 s a message (50/s a pod), 299/s: about 3,000
    // held in hand. rates.ts measured the handling time (10 s) only once the same replicas had been
    // ready twice that long, and dropped it at the first interval that measured nothing, so each
    // change of the count forgot it: 2f then counted one a replica in hand and drained ~3,000
    // "buffered" within 5 s (91 asked, capped at maxReplicas 50), 20 s later measured it again and
    // asked 32, and the count flapped 50 <-> 32-35 every half minute to the segment's end (main
    // d0dd71a: 4 violations 'scaled up to 50 (bound 32-33)').
    const run = runWorld(randomWorld(515518));
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
    const stretch = run.steps.filter((s) => s.t >= 700 && s.t < 1380);
    expect(stretch.length).toBeGreaterThan(100);
    let rises = 0;
    for (let i = 1; i < stretch.length; i++)
      if ((stretch[i]?.decision.desiredReplicas ?? 0) > (stretch[i - 1]?.decision.desiredReplicas ?? 0))
        rises++;
    // A step down that overfills the hands goes back (in-hand-step.ts): at most a few such rises,
    // never back up to 50.
    expect(rises).toBeLessThanOrEqual(3);
    expect(Math.max(...stretch.map((s) => s.decision.desiredReplicas))).toBeLessThanOrEqual(32);
    // Once measured, the handling time stays known through every change of the count.
    expect(stretch.every((s) => asRateState(s.decision.history.rates)?.handlingSeconds !== undefined)).toBe(
      true,
    );
    // 6 do the 299/s at 50/s a pod. Main 985534d held 31 from 625 s to the segment's end: the
    // backlog term counted the ~3,000 in the handlers' hands at backlogPerReplica 100, and no step
    // down was taken from the count a climb for the rise had reached (in-hand-step.ts: a change no
    // stretch before it could judge). Now one fewer at a time from 625 s, each step judged.
    let replicaSeconds = 0;
    for (let i = 1; i < stretch.length; i++)
      replicaSeconds +=
        (stretch[i - 1]?.currentReplicas ?? 0) * ((stretch[i]?.t ?? 0) - (stretch[i - 1]?.t ?? 0));
    const span = (stretch.at(-1)?.t ?? 0) - (stretch[0]?.t ?? 0);
    expect(replicaSeconds / span).toBeLessThanOrEqual(20);
    expect(stretch.filter((s) => s.t >= 1200).every((s) => s.currentReplicas <= 14)).toBe(true);
  });
});

describe('the fuzz world reads as a nats-server would', () => {
  it('draws only clients people run: no more handlers at once than the client holds (world 606016)', () => {
    // World 606016 drew async-nats messages() (300 asked or buffered) with 400 handlers at once: a
    // handler works only on what was delivered, so its pods could never reach the 200/s it gave
    // them, and the figure read from them stayed a low end (fuzz-invariants: 'still a low end only
    // after 900s'). Capped at the client's prefetch, it runs 300.
    const world606016 = randomWorld(606016).client;
    expect(world606016.name).toMatch(/^async-nats messages\(\)/);
    expect(world606016.concurrency).toBeLessThanOrEqual(world606016.prefetch);
    const unreal: string[] = [];
    for (let seed = 600_000; seed < 602_000; seed++) {
      const problem = realClientProblem(randomWorld(seed).client);
      if (problem !== undefined) unreal.push(`${seed}: ${problem}`);
    }
    expect(unreal).toEqual([]);
    // Its own run: no violation. Capped, its 5 replicas were the user's backlogPerReplica 100 over
    // the 407-424 in hand ("backlog at 100 per replica needs 5"), the low-end figure asking 4
    // (fuzz-invariants: no 'low end only after 900s' where the backlog term holds the count).
    const run606016 = runWorld(randomWorld(606016));
    expect([...stepViolations(run606016), ...steadyViolations(run606016)]).toEqual([]);
    expect(() =>
      runWorld({ ...randomWorld(606016), client: { ...asyncNatsMessages, concurrency: 400 } }),
    ).toThrow(/400 handlers at once, but the client holds at most its prefetch 300/);
  });

  it('reads what a fast handler holds at an instant, not every message it took for a whole 50 ms step', () => {
    // One pod of 200/s handlers (5 ms a message) taking 25/s holds 0.125 on average (Little's law).
    // Read at the start of each step, before its handlers ran, it held every message delivered in
    // it: 1.25 on average, as if a handler took 50 ms whatever its speed, and the held count could
    // never show a handler faster than 20/s (rates.ts heldBound; worlds 290127, 51221, 313007).
    const run = runWorld(
      steadyWorld(
        { maxReplicas: 1, client: natsJsConsume, pollSeconds: 1, startupSeconds: 0 },
        {
          seconds: 300,
          rate: 25,
          handlerPerSecond: 200,
        },
      ),
    );
    const readings = run.steps.filter((s) => s.t >= 10).map((s) => s.sample);
    expect(readings.length).toBeGreaterThan(250);
    const meanHeld = readings.reduce((sum, r) => sum + r.ackPending, 0) / readings.length;
    expect(meanHeld).toBeGreaterThan(0.05);
    expect(meanHeld).toBeLessThan(0.3);
    // The ack floor stays just below what is held: those acknowledged by the instant are above it.
    for (const r of readings) expect(r.deliveredConsumerSeq - r.ackFloorConsumerSeq).toBe(r.ackPending);
  });

  it('puts the ack floor below the oldest delivery not acknowledged, however far behind (world 1111)', () => {
    // World 1111 starts with 5,000 pending and pods pushed to by a deliver group (nats.py push
    // subscribe, max_ack_pending -1): the first pod ready is handed most of them and, taking its
    // share of ~903/s with the 19 others at 50/s, is still ~2,800 behind at t = 900 s, while each
    // other pod holds one clump's share. The server's ack floor sits below that pod's oldest
    // message, a minute of deliveries back; one at the delivered sequence less the messages held
    // reads as every pod holding its share of the newest deliveries (rates.ts busyOnPrefetch took
    // the 20 as busy, and the 2-3 that were read as 1.8/s each: 3.5/s for 12.5/s handlers).
    const run = runWorld(randomWorld(1111));
    const step = run.steps.find((s) => s.t >= 899);
    if (step === undefined) throw new Error('world 1111 ran less than 899 s');
    const { deliveredConsumerSeq, ackFloorConsumerSeq, ackPending } = step.sample;
    expect(ackPending).toBeGreaterThan(2_000);
    expect(deliveredConsumerSeq - ackFloorConsumerSeq).toBeGreaterThan(10 * ackPending);
  });
});

describe('replicas that keep up with a stream sent in clumps are not read as busy (found in session 35)', () => {
  it('world 352008: nats.py fetch() loop (batch 1), 349.8/s in clumps of 10 at 200/s handlers: the figure stays near what a replica can do', () => {
    // A fetch(1) loop does about 1 / (5 ms + its 1 ms round trip) = 166/s at 200/s handlers; 6
    // replicas took the 349.8/s with time to spare. Clumps of 10 left a few pending at most readings
    // (4-46, at least a message a replica at both ends: rates.ts waitedAtServer), so intervals the
    // replicas kept up in read as busy, completions ÷ ready (58/s, their share of the arrivals)
    // became the figure, each replica added lowered it, and it fell 139 -> 62/s over the 900 s
    // stretch until it asked 7 at t = 1180.6 s (bound 6; main 48ed9d7).
    const run = runWorld(randomWorld(352008));
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
    const stretch = run.steps.filter((s) => s.t >= 600 && s.t < 1200);
    expect(stretch.length).toBeGreaterThan(300);
    const lowest = Math.min(...stretch.map((s) => s.decision.rates.perReplicaPerSecond ?? Infinity));
    expect(lowest).toBeGreaterThan(100);
    expect(Math.max(...stretch.map((s) => s.currentReplicas))).toBeLessThanOrEqual(6);
  });

  it('world 353168: the same loops, 125.9/s (Poisson) read every second: not driven past the bound', () => {
    // minReplicas 2, max_ack_pending 20: a few pending at most readings read as busy, and the
    // figure fell to 32.2/s a replica; at t = 1,543.9 s it asked 6 for 125.9/s (bound 4; the
    // lead's scan FUZZ_SEED=353000, main 48ed9d7).
    const run = runWorld(randomWorld(353168));
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
    const stretch = run.steps.filter((s) => s.t >= 900 && s.t < 1620);
    expect(stretch.length).toBeGreaterThan(600);
    expect(Math.max(...stretch.map((s) => s.currentReplicas))).toBeLessThanOrEqual(4);
  });
});

describe('a max_ack_pending that lets fewer through than arrive explains the wait (found in session 35)', () => {
  it('adverse world 352011: 20 slots at 0.5/s handlers against 59.3/s for 120 s; the objective is not held to what no policy can do', () => {
    // nats.py push subscribe(queue), max_ack_pending 20, handlers 5/s slowed 10x at 30 s, 59.3/s
    // arriving until 150 s, then 1.2/s under a 120 s objective. However many replicas run, 20
    // slots at 0.5/s complete at most 10/s: 5,400 or more were queued by 150 s, and a message that
    // arrived at 144 s waited 510 s or more behind them. fuzz-invariants flagged 786 s at 930 s
    // (main 48ed9d7; the longest wait with no measured max_ack_pending cap at all: 739 s); the
    // policy asked for more than the 20 the slots allow then, as it would past maxReplicas.
    const world = adverseWorld(352011);
    const run = runWorld(world);
    expect(world.maxAckPending).toBe(20);
    const at150 = run.steps.find((s) => s.t >= 150);
    if (at150 === undefined) throw new Error('world 352011 ran less than 150 s');
    expect(at150.truth.handlerPerSecond).toBe(0.5);
    expect(at150.truth.arrived - at150.truth.completed).toBeGreaterThan(5_000);
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
  });

  it('cron world 362021: bursts every 30 s are sized to drain within half of drainWithinSeconds, as documented; past that is flagged', () => {
    // nats.go Fetch(10), 90.2/s sent in 2 s of every 30 s (2,706 a burst), 5/s handlers,
    // drainWithinSeconds 30: burstSizing holds 35-36 (each burst drained within ~15 s), where the
    // mean rate needs 18. The judge's rate bound (34) flagged a 35 -> 36 between bursts (outside
    // fuzz, session 36); its burst bound for a cron segment is ceil(2,706 / 15 / 5 x 1.15) + 2 = 44.
    const world = cronWorld(362021);
    const seg = world.segments[0];
    if (seg === undefined) throw new Error('world 362021 has no segment');
    expect(seg.cron?.periodSeconds).toBe(30);
    expect(cronBurstReplicas(seg, world)).toBe(44);
    const run = runWorld(world);
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
    // The same run with one scale-up in the settled stretch sized past the burst bound is flagged.
    const late = run.steps.findIndex((s) => s.t >= 885 && s.applied); // 13 s after a burst
    const step = run.steps[late];
    if (step === undefined) throw new Error('no applied step after 885 s');
    const changed = { ...step, decision: { ...step.decision, desiredReplicas: 45 } };
    const doctored = { ...run, steps: run.steps.map((s, i) => (i === late ? changed : s)) };
    expect(steadyViolations(doctored).join('\n')).toMatch(/scaled up to 45 \(bound 44\)/);
  });

  it("cron world 36021: 20 slots that bind at 1 replica below maxReplicas 20, scale-down a pod per 5 s: down to 1 at the rules' pace", () => {
    // async-nats messages() x200 against max_ack_pending 20: one replica has every slot in hand
    // (2/s in all however many run). 2, then 14 were read at the full limit in a climb to 20, which
    // caps nothing (rates.ts climbBinding); the rules (a pod per 5 s) allow less than a step a pair
    // can show the limit binding on. On main 38e5425 no probe could start, and 20 ran to the end
    // (17,225 replica-seconds; 2,622 when the climb's pair capped, before 85b1315). Now probes halve
    // toward the climb's count at the rules' pace: 20 reached at 61.5 s, read 20 s at the full
    // limit, 19 pods at 5 s each, and each count stopped at (10, 5, 4, 3, 2, 1) read up to ~25 s:
    // about 82 + 95 + 150 s.
    const world = cronWorld(36021);
    expect(world.maxAckPending).toBe(20);
    expect(world.spec.scaleDown.policies).toEqual(
      expect.arrayContaining([{ type: 'Pods', value: 1, periodSeconds: 5 }]),
    );
    const run = runWorld(world);
    const late = run.steps.filter((s) => s.t >= 330);
    expect(late.length).toBeGreaterThan(100);
    expect(Math.max(...late.map((s) => s.currentReplicas))).toBeLessThanOrEqual(2);
    expect(late.every((s) => s.decision.maxAckPendingCap?.source === 'Measured')).toBe(true);
    expect([...stepViolations(run), ...steadyViolations(run)]).toEqual([]);
  });

  it('adverse world 352011: the 1 replica read with the 5/s handlers caps nothing beside the 20 read at 0.5/s', () => {
    // 1 replica did 5.0/s with 5/s handlers (12-25 s); they slowed 10x while the count climbed, and
    // 20 did 5.5/s (66-75 s). Read in that order, a binding limit and the slowdown look the same
    // (rates.ts maxAckPendingBinding). On main 985534d the pair capped at 1 from 75 s to 118 s, and
    // the longest wait was 798 s (739 s with no measured cap at all). Now the 20 stay.
    const run = runWorld(adverseWorld(352011));
    const reached = run.steps.find((s) => s.currentReplicas >= 20);
    if (reached === undefined) throw new Error('world 352011 never reached 20 replicas');
    const held = run.steps.filter((s) => s.t >= reached.t && s.t <= 150);
    expect(held.length).toBeGreaterThan(50);
    expect(held.every((s) => s.decision.desiredReplicas >= 20)).toBe(true);
    expect(run.steps.some((s) => s.decision.maxAckPendingCap?.source === 'Measured')).toBe(false);
  });
});
