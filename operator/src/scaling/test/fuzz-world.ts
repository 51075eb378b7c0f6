// A seeded world for the policy fuzzer (decide.fuzz.test.ts): a JetStream consumer fed by
// publishers with a random traffic profile, a Deployment whose pods start after a random delay and
// pull with a client's default prefetch, and a controller that polls the way the operator does —
// at min(decision.nextPollSeconds, spec.pollInterval), plus an early poll 0.05–0.5 s after a watch
// event (a scale, a pod becoming ready) — and sometimes fails to apply a scale. Everything the
// policy sees is a reading a real nats-server could give; everything the invariants judge is what
// really happened in the world (arrivals, completions, pods), which the policy never sees.
//
// Simplified on purpose (pull-clients.ts models the server's request queue in detail; this world
// needs breadth, not that depth): each ready pod asks for up to its client's prefetch whenever
// what it holds falls to the refill mark, and the server hands out one message per turn round
// robin over pods with something asked for, within max_ack_pending. A fetch loop that handles its
// batch within a 50 ms step asks again at once and, one round trip (FETCH_ROUND_TRIP_SECONDS)
// later, works on what the server gives it in the same step: otherwise a fetch(1) loop could not
// do more than one message a step, 20/s whatever its handlers, which no real client is held to.
// A push consumer's subscribers (a deliver group) ask for everything max_ack_pending allows. A
// reading is taken at a random instant within its step: what the handlers finish by then is
// acknowledged (readAcked). A pod removed by a scale-down either drains (naks what it holds:
// redelivered at once) or is killed (what it held is redelivered after ack_wait). On an interleaved stream other subjects' messages move delivered.stream_seq
// without being this consumer's work. The ack floor is the server's: below the oldest delivery not
// acknowledged (a pod works through what it holds in order; a message awaiting redelivery keeps
// its last delivery's sequence until it is delivered again), so a pod that holds a backlog it was
// handed when it was the only one ready keeps the floor far behind the newest deliveries.

import { pick, seededRng } from '../../../../test/seeded-rng.js';
import type { Rng } from '../../../../test/seeded-rng.js';
import { defaultClients, realClientProblem } from './pull-clients.js';
import type { PullClient, Reading, Scenario } from './pull-clients.js';
import { decide, emptyHistory } from '../decide.js';
import { RestartedProcess, StatusTrail, type PollOf } from './operator-restart.js';
import type { EventConsumerStatus } from '../../api/v1alpha1/event-consumer.js';
import { withScalingDefaults } from '../defaults.js';
import type { ScalingSpecInput } from '../defaults.js';
import type { BacklogSample, ScalingDecision, ScalingSpec, StepPolicy } from '../types.js';

/** A stretch of traffic at one mean rate. */
export interface Segment {
  seconds: number;
  /** Mean arrivals per second. */
  rate: number;
  /**
   * How publishers send: 'poisson' (independent messages), 'clumped' (batches of `clump` messages
   * at Poisson times with the same mean rate: bursty publishers, a gateway flushing batches),
   * 'cron' (independent messages for the first `cron.burstSeconds` of every `cron.periodSeconds`
   * of the segment, none between, at the same mean rate: a job started by a timer). randomWorld
   * draws no 'cron' segment (its seeds keep their worlds).
   */
  shape: 'poisson' | 'clumped' | 'cron';
  clump: number;
  cron?: { periodSeconds: number; burstSeconds: number };
  /**
   * Messages per second one pod completes during this segment with its handlers busy (a slow
   * dependency lowers it). A client whose handlers work on several at once (PullClient.concurrency
   * c, concurrentClient) completes this many with all c busy, each message taking c ÷ this seconds;
   * with fewer held, that share of it.
   */
  handlerPerSecond: number;
}

export interface World {
  seed: number;
  spec: ScalingSpec;
  /** The operator's poll interval (spec.pollInterval), seconds. */
  pollSeconds: number;
  client: PullClient;
  maxAckPending: number;
  ackWaitSeconds: number;
  startupSeconds: number;
  /** Share of removed pods that are killed (no drain) rather than drained. */
  killShare: number;
  /** Probability that applying a scale fails (the history is then not stored). */
  scaleFailure: number;
  /** Other subjects' messages per second on the stream (moves stream_seq, not this consumer's work). */
  interleavedPerSecond: number;
  /** Whether the target reports a ready count (a Deployment does; a bare /scale does not). */
  reportsReady: boolean;
  initialReplicas: number;
  initialPending: number;
  segments: Segment[];
  /**
   * Readings answered late (a stalled operator, a slow link, a reply held up by an election): this
   * share of polls takes 0.2 s to maxSeconds, and the reading is stamped when its request was sent
   * but carries the state of when it was answered — the worst place in its round trip for the
   * snapshot. Not drawn by randomWorld (its seeds keep their worlds); decide.fuzz sets it for a
   * set of worlds of its own.
   */
  slowReadings?: {
    share: number;
    maxSeconds: number;
    /**
     * The server stamps each reading with when it took it (BacklogSample.serverTime), on a clock
     * that changes at this share of polls (a new consumer leader, a restarted server: another
     * clock, up to 3 s off the last). Absent: no server time (nats-server < 2.10).
     */
    serverClockChanges?: number;
  };
  /** What goes wrong in the world beyond its traffic (adverseWorld); absent in randomWorld's worlds. */
  adversity?: Adversity;
  /**
   * The operator restarts (or its standby takes over) at this second: from the first poll at or
   * after it, the policy starts from what the EventConsumer's status carries only
   * (operator-restart.ts). Drawn by restartingWorld; absent in randomWorld's worlds.
   */
  restartAt?: number;
  /**
   * The restart waits, from restartAt, for the first poll at which at least half of the replicas
   * asked for (two or more) are not ready yet: a new process taking over while the pods of a
   * scale-up (a panic's) still start. No such poll: no restart. Drawn by startingRestartWorld.
   */
  restartWhileStarting?: true;
  /**
   * How the operator's status writes go before the restart (operator-restart.ts StatusTrail): the
   * readings lane's jitter (report.ts StatusMemory.refreshJitter, [0, 0.5)) and whether the write
   * handed over at the last poll before the restart was lost with the process. With restartAt.
   */
  statusWrites?: { refreshJitter: number; lastLost: boolean };
}

/**
 * Trouble a consumer meets in production, which randomWorld does not draw (its seeds keep their
 * worlds): adverseWorld adds one or more to a random world, from a generator of its own.
 */
export interface Adversity {
  /**
   * From segment `from` on, every handler does `factor` times what it did (a dependency 10× slower,
   * or a cold cache warmed: 10× faster). That segment keeps the previous one's traffic, so only the
   * handlers change. Applied to the world's segments, which the invariants judge by.
   */
  handlerShift?: { from: number; factor: number };
  /**
   * `count` messages that fail every time (a poisoned payload): published and delivered to a ready
   * pod at `at` seconds, each handled (its handler time spent), not acked and redelivered
   * `retrySeconds` after it failed (0: a nak, redelivered at once; ack_wait: left to expire, which
   * the server counts from the delivery, a handler time sooner than here), for ever (no
   * max_deliver). They hold max_ack_pending slots and are nobody's arrivals: never completed, they
   * count in no wait the invariants measure.
   */
  poison?: { at: number; count: number; retrySeconds: number };
  /** One ready pod stops handling from `at` for `seconds` (a stuck call, a long GC pause), holding what it has. */
  pause?: { at: number; seconds: number };
}

/** The slow readings decide.fuzz's second set of worlds has (World.slowReadings). */
export const SLOW_READINGS = { share: 0.1, maxSeconds: 3, serverClockChanges: 0.02 } as const;

/** The clients a world draws from: every library's default consume path (pull-clients.ts). */
export const CLIENTS: readonly PullClient[] = defaultClients;

/**
 * What a fetch loop pays between handling its last message and holding the next batch: its request
 * and the server's reply. Measured on loopback: a nats.py fetch(1) + ack loop with no handler work
 * takes 0.16-0.18 ms a message (nats-py 2.16.0, nats-server 2.12.15, load 22 on 2 cores); 1 ms
 * stands for a pod's network hop to the server.
 */
export const FETCH_ROUND_TRIP_SECONDS = 0.001;

function policies(rng: Rng, direction: 'up' | 'down'): StepPolicy[] {
  const n = 1 + Math.floor(rng() * 2);
  return Array.from({ length: n }, () =>
    rng() < 0.5
      ? {
          type: 'Pods' as const,
          value: 1 + Math.floor(rng() * (direction === 'up' ? 20 : 5)),
          periodSeconds: pick(rng, [5, 15, 30, 60]),
        }
      : {
          type: 'Percent' as const,
          value: pick(rng, direction === 'up' ? [10, 50, 100, 900] : [10, 25, 50, 100]),
          periodSeconds: pick(rng, [5, 15, 30, 60]),
        },
  );
}

/** A user's spec: mostly defaults, with the knobs users do turn set to values the CRD accepts. */
export function randomSpec(rng: Rng): ScalingSpec {
  const input: ScalingSpecInput = {};
  const maxReplicas = pick(rng, [1, 2, 3, 5, 10, 20, 50]);
  input.maxReplicas = maxReplicas;
  input.minReplicas = rng() < 0.4 ? 0 : Math.min(maxReplicas, pick(rng, [1, 1, 2, 3]));
  if (rng() < 0.4) input.backlogPerReplica = pick(rng, [1, 5, 10, 50, 100, 1000, 10000]);
  if (rng() < 0.2) input.activationBacklog = pick(rng, [0, 1, 10, 100]);
  if (rng() < 0.3) input.drainWithinSeconds = pick(rng, [5, 10, 30, 120, 600]);
  if (rng() < 0.25) input.latencyObjectiveSeconds = pick(rng, [0.5, 1, 2, 5, 10, 30, 120]);
  if (rng() < 0.3) input.cooldownPeriodSeconds = pick(rng, [0, 10, 30, 120, 300]);
  if (rng() < 0.3)
    input.scaleUp = {
      stabilizationWindowSeconds: pick(rng, [0, 0, 15, 60]),
      policies: policies(rng, 'up'),
      selectPolicy: pick(rng, ['Max', 'Max', 'Min', 'Disabled'] as const),
    };
  if (rng() < 0.3)
    input.scaleDown = {
      stabilizationWindowSeconds: pick(rng, [0, 15, 30, 60, 300]),
      policies: policies(rng, 'down'),
      selectPolicy: pick(rng, ['Max', 'Max', 'Min', 'Disabled'] as const),
    };
  if (rng() < 0.2)
    input.predictive = {
      enabled: true,
      horizonSeconds: pick(rng, [5, 10, 30, 60]),
      ...(rng() < 0.5 ? { seasonalitySeconds: pick(rng, [300, 600]) } : {}),
    };
  if (rng() < 0.1) input.inFlightPerReplica = pick(rng, [1, 10, 100]);
  if (rng() < 0.2) input.readinessDeadlineSeconds = pick(rng, [30, 180]);
  return withScalingDefaults(input);
}

function randomSegments(rng: Rng, handlerPerSecond: number, totalSeconds: number): Segment[] {
  const segments: Segment[] = [];
  let left = totalSeconds;
  while (left > 0) {
    const seconds = Math.min(left, pick(rng, [30, 120, 300, 900]));
    left -= seconds;
    const rate = rng() < 0.15 ? 0 : pick(rng, [0.2, 1, 5, 20, 50, 100, 300, 1000]) * (0.5 + rng());
    segments.push({
      seconds,
      rate,
      shape: rng() < 0.35 ? 'clumped' : 'poisson',
      clump: pick(rng, [10, 50, 100]),
      handlerPerSecond: rng() < 0.1 ? handlerPerSecond / 4 : handlerPerSecond,
    });
  }
  return segments;
}

/** The fastest handler a world has (messages per second): what its 50 ms steps resolve. */
export const MAX_HANDLER_PER_SECOND = 200;

/** Share of randomWorld's worlds whose handlers work on several messages at once (concurrentClient). */
export const CONCURRENT_SHARE = 0.2;
/** The most messages a concurrent world's pod works on at once. */
export const CONCURRENT_MAX = 500;

/**
 * Handlers that work on many messages at once (async I/O: an HTTP call, a DB write) behind a
 * client's default consume path: the same client with `concurrency` in hand a pod. Held messages
 * then are work in hand, not a buffer, which one-at-a-time clients never show: rates.ts read pods
 * holding 50 at 20/s as busy pods doing 20 ÷ ready, and scaled 5/s pods to maxReplicas (s27).
 * Fetch loops keep one at a time (they ask for a batch once they have handled the last).
 */
export function concurrentClient(client: PullClient, concurrency: number): PullClient {
  // No more at once than the client holds (pull-clients.ts realClientProblem): a handler works only
  // on what was delivered. Drawn uncapped, world 606016 gave async-nats messages() (300 asked or
  // buffered) 400 handlers of 200/s a pod, a pace its pods could never reach.
  const atOnce = Math.min(concurrency, client.prefetch);
  return client.refillAt === 0 || atOnce <= 1
    ? client
    : { ...client, name: `${client.name} ×${atOnce}`, concurrency: atOnce };
}

export function randomWorld(seed: number, totalSeconds = 1800): World {
  const rng = seededRng(seed);
  const spec = randomSpec(rng);
  const handlerPerSecond = pick(rng, [5, 20, 50, MAX_HANDLER_PER_SECOND]);
  // Drawn apart from the world's own generator, so that every seed keeps the rest of its world:
  // handlers that hold each message 2 or 10 s (an HTTP call, a DB write), as many at once as give
  // the pod its rate (at most CONCURRENT_MAX, and no more than its client holds: concurrentClient).
  const concurrencyRng = seededRng(seed ^ 0x0c0c0c0c);
  const concurrency =
    concurrencyRng() < CONCURRENT_SHARE
      ? Math.min(CONCURRENT_MAX, Math.round(handlerPerSecond * pick(concurrencyRng, [2, 10])))
      : 1;
  return {
    seed,
    spec,
    pollSeconds: pick(rng, [1, 2, 5, 5, 10, 30]),
    client: concurrentClient(pick(rng, CLIENTS), concurrency),
    maxAckPending: pick(rng, [-1, 1000, 1000, 100, 20, 5]),
    ackWaitSeconds: pick(rng, [5, 30, 30]),
    startupSeconds: pick(rng, [1, 5, 15, 30, 60]),
    killShare: pick(rng, [0, 0.5, 1]),
    scaleFailure: pick(rng, [0, 0, 0.1]),
    interleavedPerSecond: rng() < 0.25 ? pick(rng, [10, 200]) : 0,
    reportsReady: rng() < 0.85,
    initialReplicas: Math.min(spec.maxReplicas, pick(rng, [0, 1, 3])),
    initialPending: pick(rng, [0, 0, 100, 5000]),
    segments: randomSegments(rng, handlerPerSecond, totalSeconds),
  };
}

/**
 * randomWorld(seed)'s user, client and pods with one stretch of 900 s (long enough for the
 * invariants to judge it settled) sent the way a job started by a timer sends it (Segment 'cron':
 * the mean rate in the first `burstSeconds` of every `periodSeconds`, nothing between), its rate
 * and handlers those of the seed's first stretch with traffic, period and burst drawn from a
 * generator of its own. For scans of streams sent in bursts (FUZZ_CRON=1 for print-world).
 */
export function cronWorld(seed: number): World {
  const world = randomWorld(seed);
  const rng = seededRng(seed ^ 0x0c4a0c4a);
  const first = world.segments.find((s) => s.rate > 0) ?? world.segments[0];
  return {
    ...world,
    segments: [
      {
        seconds: 900,
        rate: first?.rate ?? 10,
        handlerPerSecond: first?.handlerPerSecond ?? 5,
        shape: 'cron',
        clump: 1,
        cron: { periodSeconds: pick(rng, [20, 30, 60, 120]), burstSeconds: pick(rng, [1, 2, 2, 5]) },
      },
    ],
  };
}

/**
 * randomWorld(seed) with an operator restart (World.restartAt) at a time drawn from a generator of
 * its own, between 10 % and 90 % of the run: mid-climb, mid-spike, at a cap or idle alike. The
 * status it starts from is what the operator's writer had written by then (World.statusWrites): the
 * readings lane 2-3 min behind, and in half the worlds the last write lost with the process.
 */
export function restartingWorld(seed: number): World {
  const world = randomWorld(seed);
  const rng = seededRng(seed ^ 0x7e57a27);
  const total = world.segments.reduce((sum, s) => sum + s.seconds, 0);
  const restartAt = Math.round(total * (0.1 + 0.8 * rng()));
  return { ...world, restartAt, statusWrites: { refreshJitter: rng() * 0.5, lastLost: rng() < 0.5 } };
}

/**
 * restartingWorld(seed) with pods that take 30-90 s to start, restarted at the first poll from its
 * restart time on at which half the replicas asked for are still starting (World.restartWhileStarting):
 * a new process has no record of which replicas are new, only the ready count and what its status
 * carries.
 */
export function startingRestartWorld(seed: number): World {
  const world = restartingWorld(seed);
  const rng = seededRng(seed ^ 0x57a27ed);
  return {
    ...world,
    startupSeconds: pick(rng, [30, 60, 90]),
    restartAt: Math.round((world.restartAt ?? 0) / 3),
    restartWhileStarting: true,
  };
}

/**
 * A world on a WorkQueue stream with max_age (expiryWorld): its handlers either slower than max_age
 * ('slow': every message expires while a handler holds it, whatever the count) or much faster ('fast':
 * too few replicas at the start, which more replicas help). fuzz-world's own message model has no
 * store times, so these run on the pull-clients model (pull-clients.ts runScenario: per-message store
 * times, expiry in hand and at the server, the stream's first_seq, last_seq and oldest age as
 * STREAM.INFO gives them), with the operator restarted in half of them (its status read back through
 * the controller's own code, operator-restart.ts).
 */
export interface ExpiryWorld {
  seed: number;
  kind: 'slow' | 'fast';
  /** Seconds one handler takes for a message. */
  handlerSeconds: number;
  /** Messages arriving per second (steady). */
  perSecond: number;
  scenario: Scenario;
}

/** The clients an expiry world draws from: those the pull-clients model runs with max_age. */
export const EXPIRY_CLIENTS: readonly PullClient[] = defaultClients.filter((c) => c.outOfOrder !== true);

/**
 * A seeded expiry world (FUZZ_EXPIRY=1 in decide.fuzz): a client, max_age 2-10 s, handlers 1.1-10 ×
 * max_age ('slow') or 0.05-0.3 × max_age ('fast'), 2-20/s arriving, from 1 replica, maxReplicas 10-30,
 * backlogPerReplica 10 or 100, 600 s read every 1-2 s, and in half of them one or two operator
 * restarts between 150 s and 500 s.
 */
export function expiryWorld(seed: number): ExpiryWorld {
  const rng = seededRng(seed ^ 0x3a9e0a9e);
  const client = pick(rng, EXPIRY_CLIENTS);
  const maxAgeSeconds = pick(rng, [2, 3, 5, 10]);
  const kind = rng() < 0.5 ? 'slow' : 'fast';
  const handlerSeconds =
    maxAgeSeconds * (kind === 'slow' ? pick(rng, [1.1, 2, 10]) : pick(rng, [0.05, 0.1, 0.3]));
  const perSecond = pick(rng, [2, 5, 10, 20]);
  const restarts =
    rng() < 0.5 ? Array.from({ length: 1 + Math.floor(rng() * 2) }, () => 150 + Math.round(rng() * 350)) : [];
  const scenario: Scenario = {
    client,
    spec: withScalingDefaults({
      minReplicas: 1,
      maxReplicas: pick(rng, [10, 30]),
      backlogPerReplica: pick(rng, [10, 100]),
    }),
    maxAckPending: pick(rng, [1000, 10000]),
    handlerPerSecond: 1 / handlerSeconds,
    arrival: () => perSecond,
    initialReplicas: 1,
    initialPending: 0,
    startupSeconds: pick(rng, [2, 5, 15]),
    durationSeconds: 600,
    pollSeconds: pick(rng, [1, 2]),
    maxAgeSeconds,
    ...(client.push === true ? { randomPushSeed: seed } : {}),
    ...(restarts.length > 0 ? { restartAt: restarts.sort((a, b) => a - b) } : {}),
  };
  return { seed, kind, handlerSeconds, perSecond, scenario };
}

/**
 * What an expiry world's run must show (expiryWorld):
 * - 'slow': no climb on expiry alone: never more replicas than one beyond what the backlog asks at
 *   backlogPerReplica (the stream holds at most max_age of arrivals) and minReplicas;
 * - 'fast': the replicas that take each message in time are reached (at least the arrivals × the
 *   handling time, within maxReplicas) by the last 100 s, and handlers are never said slower than
 *   max_age.
 */
export function expiryViolations(world: ExpiryWorld, readings: readonly Reading[]): string[] {
  const { scenario: sc, kind, handlerSeconds, perSecond } = world;
  const name = `expiry world ${world.seed} (${kind}: ${sc.client.name}, ${handlerSeconds.toFixed(2)} s handlers on max_age ${sc.maxAgeSeconds} s, ${perSecond}/s${sc.restartAt !== undefined ? `, restarts at ${sc.restartAt.join(', ')} s` : ''})`;
  const out: string[] = [];
  if (kind === 'slow') {
    const held = Math.ceil((1.2 * perSecond * (sc.maxAgeSeconds ?? 0)) / sc.spec.backlogPerReplica);
    const bound = Math.max(sc.spec.minReplicas, sc.initialReplicas, held) + 1;
    const most = readings.reduce((m, r) => (r.replicas > m.replicas ? r : m), readings[0] as Reading);
    if (most.replicas > bound)
      out.push(
        `${name}: ${most.replicas} replicas at ${most.t.toFixed(0)} s, more than ${bound} (one beyond what the backlog asks): "${most.decision.reason}"`,
      );
  } else {
    const needed = Math.min(sc.spec.maxReplicas, Math.ceil(perSecond * handlerSeconds));
    const end = readings.filter((r) => r.t >= sc.durationSeconds - 100);
    const short = end.find((r) => r.replicas < needed);
    if (short !== undefined)
      out.push(
        `${name}: ${short.replicas} replicas at ${short.t.toFixed(0)} s where ${needed} take each message in time: "${short.decision.reason}"`,
      );
    const said = readings.find((r) => r.decision.handlersSlowerThanMaxAge !== undefined);
    if (said !== undefined) out.push(`${name}: handlers said slower than max_age at ${said.t.toFixed(0)} s`);
  }
  return out;
}

/** randomWorld(seed) with one or more adversities drawn from a generator of their own (Adversity). */
export function adverseWorld(seed: number): World {
  const world = randomWorld(seed);
  const rng = seededRng(seed ^ 0x0badf00d);
  const total = world.segments.reduce((sum, s) => sum + s.seconds, 0);
  const adversity: Adversity = {};
  const kinds = ['handlerShift', 'poison', 'pause'] as const;
  const drawn = kinds.filter(() => rng() < 0.5);
  if (drawn.length === 0) drawn.push(pick(rng, kinds));
  let segments = world.segments;
  if (drawn.includes('handlerShift') && segments.length > 1) {
    const from = 1 + Math.floor(rng() * (segments.length - 1));
    // No faster than the fastest handler randomWorld draws: at 50 ms steps a stream of hundreds a
    // second leaves rate × 50 ms pending between a fetch loop's pulls, which reads as replicas busy
    // doing less than they can (adverse world 90040: 500/s handlers read at 76/s); the world does not
    // resolve that, a real server hands a waiting pull each message at once.
    const fastest = Math.max(...segments.slice(from).map((s) => s.handlerPerSecond));
    const drawn = pick(rng, [0.1, 10]);
    const factor = fastest * drawn > MAX_HANDLER_PER_SECOND ? 0.1 : drawn;
    const before = segments[from - 1];
    adversity.handlerShift = { from, factor };
    segments = segments.map((s, i) =>
      i < from
        ? s
        : {
            ...s,
            ...(i === from && before !== undefined
              ? { rate: before.rate, shape: before.shape, clump: before.clump }
              : {}),
            handlerPerSecond: s.handlerPerSecond * factor,
          },
    );
  }
  if (drawn.includes('poison'))
    adversity.poison = {
      at: Math.floor(rng() * total * 0.8),
      count: pick(rng, [1, 1, 5, 50]),
      retrySeconds: pick(rng, [0, world.ackWaitSeconds]),
    };
  if (drawn.includes('pause'))
    adversity.pause = { at: Math.floor(rng() * total * 0.9), seconds: pick(rng, [5, 30, 120]) };
  return { ...world, segments, adversity };
}

/**
 * Consumer sequences of deliveries not acknowledged, oldest first (each holder receives and
 * handles its messages in order): what the ack floor is read from.
 */
class Deliveries {
  private seqs: number[] = [];
  private head = 0;
  get count(): number {
    return this.seqs.length - this.head;
  }
  /** The oldest, or Infinity. */
  get oldest(): number {
    return this.head < this.seqs.length ? (this.seqs[this.head] ?? Infinity) : Infinity;
  }
  /** The one `k` places after the oldest (0: the oldest), or Infinity. */
  after(k: number): number {
    const i = this.head + k;
    return i < this.seqs.length ? (this.seqs[i] ?? Infinity) : Infinity;
  }
  /** The least, whatever the order they were added in, or Infinity. */
  least(): number {
    let least = Infinity;
    for (let i = this.head; i < this.seqs.length; i++) least = Math.min(least, this.seqs[i] ?? Infinity);
    return least;
  }
  add(seq: number): void {
    this.seqs.push(seq);
  }
  /** Takes the `n` oldest off (acknowledged, or handed back), returning them. */
  take(n: number): number[] {
    const taken = this.seqs.slice(this.head, this.head + n);
    this.head += taken.length;
    if (this.head > 1024 && this.head * 2 > this.seqs.length) {
      this.seqs = this.seqs.slice(this.head);
      this.head = 0;
    }
    return taken;
  }
}

interface Pod {
  readyAt: number;
  /** Messages in hand (delivered, not acked). */
  held: number;
  /** Their delivery sequences. */
  deliveries: Deliveries;
  /** Of those, poisoned ones (Adversity.poison). */
  poisoned: number;
  /**
   * Where the poisoned ones stand in its client's buffer (the count of messages it had received when
   * each arrived, ascending): handled in turn with the rest, first in, first out, as a client's
   * buffer is. Before, a pod handled its poisoned messages ahead of everything it held, so a nak
   * redelivered at once to the same pod kept its whole buffer waiting (adverse worlds 230319 and
   * 230126: messages held 139 s and 121 s behind one poisoned message and 50).
   */
  poisonAt: number[];
  /** Messages it has received and handled, in all (positions in its buffer for poisonAt). */
  received: number;
  handled: number;
  /** Messages asked for and not yet delivered. */
  asked: number;
  progress: number;
  /**
   * Messages still in its client's buffer that the server took back (their ack_wait ran out while
   * the pod was paused) and redelivered: the client holds them as before, asks for no more for
   * them, and spends its handler time on them when it resumes, completing nothing the server counts.
   */
  stale: number;
}

/** One poll: what the policy was given, what it decided, and what was true in the world. */
export interface Step {
  t: number;
  sample: BacklogSample;
  currentReplicas: number;
  readyReplicas: number;
  decision: ScalingDecision;
  /** Whether the controller managed to apply the decision (false: a failed scale request). */
  applied: boolean;
  /** The world's truth at the poll. */
  truth: {
    segment: number;
    rate: number;
    handlerPerSecond: number;
    /** Messages that arrived since the start. */
    arrived: number;
    /** Messages handled and acked since the start. */
    completed: number;
  };
}

export interface Run {
  world: World;
  steps: Step[];
  /** The status a restarted process was made from (World.restartAt), when it restarted. */
  restartStatus?: EventConsumerStatus;
  /** The time (s) of the restarted process's first poll, when it restarted. */
  restartedAt?: number;
  /** Start time (s) of each segment. */
  segmentStarts: number[];
}

/** Runs the world for the sum of its segments with 50 ms steps; decide() is called at each poll. */
export function runWorld(world: World): Run {
  const unreal = realClientProblem(world.client);
  if (unreal !== undefined) throw new Error(`runWorld (seed ${world.seed}): ${unreal}`);
  const rng = seededRng(world.seed ^ 0x5bd1e995);
  const dt = 0.05;
  const T0 = Date.UTC(2026, 0, 1);
  const pods: Pod[] = [];
  const addPod = (readyAt: number): void => {
    pods.push({
      readyAt,
      held: 0,
      deliveries: new Deliveries(),
      poisoned: 0,
      poisonAt: [],
      received: 0,
      handled: 0,
      asked: 0,
      progress: 0,
      stale: 0,
    });
  };
  for (let i = 0; i < world.initialReplicas; i++) addPod(0);
  let pending = world.initialPending;
  let arrived = world.initialPending;
  let completed = 0;
  let consumerSeq = 0;
  let streamSeq = 0;
  let redeliverNow = 0;
  /** The last delivery sequences of the messages redeliverNow counts (its holder naked them, or their ack_wait ran out). */
  const toRedeliver = new Deliveries();
  let redeliveredHeld = 0;
  const awaitingRedelivery: Array<{ at: number; count: number; seqs: number[] }> = [];
  let awaitingCount = 0;
  // Poisoned messages (Adversity.poison): to deliver now, waiting to be redelivered, failed once.
  const poison = world.adversity?.poison;
  let poisonInjected = false;
  let poisonNow = 0;
  const poisonAwaiting: Array<{ at: number; count: number }> = [];
  let poisonAwaitingCount = 0;
  /** Poisoned messages back at `at` (a nak's 0 s and a killed pod's ack_wait mix: kept in order). */
  const poisonBackAt = (at: number, count: number): void => {
    if (count <= 0) return;
    const index = poisonAwaiting.findIndex((a) => a.at > at);
    poisonAwaiting.splice(index < 0 ? poisonAwaiting.length : index, 0, { at, count });
    poisonAwaitingCount += count;
  };
  let poisonFailedOnce = 0;
  const pause = world.adversity?.pause;
  let pausedPod: Pod | undefined;
  // Where unacknowledged messages older than the newest deliveries hold the ack floor (below).
  let poisonFloor = Infinity;
  let pauseFloor = Infinity;
  // When the paused pod's messages run out of ack_wait next (fuzz-world.ts Adversity.pause).
  let pauseExpiry = Infinity;
  let history = emptyHistory();
  // What an operator restart needs (World.restartAt): the status written after each poll, and the
  // process made from it.
  const trail = world.restartAt !== undefined ? new StatusTrail(world.statusWrites) : undefined;
  let restarted: RestartedProcess | undefined;
  let restartStatus: EventConsumerStatus | undefined;
  let restartedAt: number | undefined;
  const steps: Step[] = [];
  const segmentStarts: number[] = [];
  let total = 0;
  for (const s of world.segments) {
    segmentStarts.push(total);
    total += s.seconds;
  }
  let nextPoll = 0;
  let earlyPoll: number | undefined;
  // Its own generator, so that a world's traffic is the same with slow readings as without.
  const slowRng = seededRng(world.seed ^ 0x51c0ffee);
  // And the server's clock its own, so that the slow readings are the same with it as without.
  const clockRng = seededRng(world.seed ^ 0x7e57c10c);
  let serverClock = 0;
  let serverClockOffsetMs = 0;
  let lastPollAt = -Infinity;
  // When within its 50 ms step each reading is taken (readAcked): its own generator too.
  const instantRng = seededRng(world.seed ^ 0x2ea1d1a7);
  let lastReady = -1;
  let rr = 0;
  const nSteps = Math.round(total / dt);
  for (let i = 0; i <= nSteps; i++) {
    const t = i * dt;
    let segIndex = segmentStarts.length - 1;
    while (segIndex > 0 && (segmentStarts[segIndex] ?? 0) > t) segIndex--;
    const seg = world.segments[segIndex];
    if (seg === undefined) break;

    // Arrivals: Poisson events, each one message or a clump.
    const cron = seg.shape === 'cron' ? seg.cron : undefined;
    const eventRate =
      seg.shape === 'clumped'
        ? seg.rate / seg.clump
        : cron !== undefined
          ? (t - (segmentStarts[segIndex] ?? 0)) % cron.periodSeconds < cron.burstSeconds
            ? (seg.rate * cron.periodSeconds) / cron.burstSeconds
            : 0
          : seg.rate;
    const events = poisson(rng, eventRate * dt);
    const n = seg.shape === 'clumped' ? events * seg.clump : events;
    pending += n;
    arrived += n;
    streamSeq += poisson(rng, world.interleavedPerSecond * dt);

    // Killed pods' messages come back after ack_wait.
    while (awaitingRedelivery.length > 0 && (awaitingRedelivery[0]?.at ?? Infinity) <= t) {
      const due = awaitingRedelivery.shift();
      if (due === undefined) break;
      awaitingCount -= due.count;
      redeliverNow += due.count;
      for (const seq of due.seqs) toRedeliver.add(seq);
    }

    while (poisonAwaiting.length > 0 && (poisonAwaiting[0]?.at ?? Infinity) <= t) {
      const due = poisonAwaiting.shift();
      if (due === undefined) break;
      poisonAwaitingCount -= due.count;
      poisonNow += due.count;
    }

    // Ready pods ask; the server hands out one message per turn within max_ack_pending.
    const ready = pods.filter((p) => p.readyAt <= t);
    // The poisoned messages are published and delivered to a ready pod (the first there is).
    const firstReady = ready[0];
    if (poison !== undefined && !poisonInjected && t >= poison.at && firstReady !== undefined) {
      poisonInjected = true;
      // The server's ack floor stops below them for good: a message never acknowledged keeps the
      // consumer sequence of its first delivery (consumer.go trackPending), and the floor moves only
      // over acknowledged messages.
      poisonFloor = consumerSeq;
      firstReady.held += poison.count;
      firstReady.poisoned += poison.count;
      for (let k = 0; k < poison.count; k++) firstReady.poisonAt.push(firstReady.received + k);
      firstReady.received += poison.count;
      for (let k = 1; k <= poison.count; k++) firstReady.deliveries.add(consumerSeq + k);
      consumerSeq += poison.count;
      streamSeq += poison.count;
    }
    if (pause !== undefined && pausedPod === undefined && t >= pause.at && firstReady !== undefined) {
      pausedPod = firstReady;
      // What it holds is not acknowledged until it resumes: the ack floor stays below it meanwhile.
      pauseFloor = Math.max(0, consumerSeq - firstReady.held);
      pauseExpiry = t + world.ackWaitSeconds;
    }
    // What the paused pod holds runs out of its ack_wait (counted from delivery: at the latest one
    // ack_wait after the pause began, and each ack_wait after that for what it took since) and is
    // redelivered to whichever pod asks, as a real server does (nats-server 2.12 with two nats.js
    // consume() replicas, ack_wait 5 s, one handler hung for 60 s: the hung one's 40 came back to
    // the other 5-10 s later, num_redelivered 5-14, and the ack floor moved on). Its client still
    // holds them (Pod.stale). Before, a paused pod held its messages until it resumed, however long.
    if (pausedPod !== undefined && pause !== undefined && t >= pauseExpiry && t < pause.at + pause.seconds) {
      pauseExpiry = t + world.ackWaitSeconds;
      const healthy = pausedPod.held - pausedPod.poisoned;
      const seqs = pausedPod.deliveries.take(pausedPod.held).slice(0, healthy);
      redeliverNow += healthy;
      for (const seq of seqs) toRedeliver.add(seq);
      poisonNow += pausedPod.poisoned;
      pausedPod.stale += pausedPod.held;
      pausedPod.held = 0;
      pausedPod.poisoned = 0;
      // Its poisoned copies are stale too (the redelivered ones are placed where they arrive).
      pausedPod.poisonAt = [];
      // The floor now follows the messages awaiting redelivery (toRedeliver).
      pauseFloor = Infinity;
    }
    for (const p of ready) {
      if (p.held + p.stale + p.asked <= world.client.refillAt)
        p.asked = world.client.prefetch - p.held - p.stale;
    }
    let inFlight =
      pods.reduce((s, p) => s + p.held, 0) + awaitingCount + redeliverNow + poisonAwaitingCount + poisonNow;
    const limit = world.maxAckPending > 0 ? world.maxAckPending : Infinity;
    /** The server hands `p` one message (a redelivery first) if it has one within max_ack_pending. */
    const deliverOne = (p: Pod): boolean => {
      if (redeliverNow > 0) {
        redeliverNow--;
        toRedeliver.take(1);
        redeliveredHeld++;
      } else if (poisonNow > 0) {
        poisonNow--;
        p.poisoned++;
        p.poisonAt.push(p.received);
      } else {
        if (pending === 0 || inFlight >= limit) return false;
        pending--;
        streamSeq++;
        inFlight++;
      }
      p.held++;
      p.received++;
      p.asked--;
      consumerSeq++;
      p.deliveries.add(consumerSeq);
      return true;
    };
    const askers = ready.filter((p) => p.asked > 0);
    while (askers.length > 0 && pending + redeliverNow + poisonNow > 0) {
      const p = askers[rr++ % askers.length];
      if (p === undefined || !deliverOne(p)) break;
      if (p.asked === 0) askers.splice(askers.indexOf(p), 1);
    }

    // The poll: at its time, or early after a watch event.
    const readyCount = ready.length;
    if (lastReady >= 0 && readyCount !== lastReady && earlyPoll === undefined)
      earlyPoll = t + 0.05 + rng() * 0.45;
    lastReady = readyCount;
    if (t >= nextPoll || (earlyPoll !== undefined && t >= earlyPoll)) {
      earlyPoll = undefined;
      // The server reads its counters at an instant within the step, not at its start: what a
      // pod's handlers finish by then is acknowledged (readAcked). Read at the start, every message
      // a 200/s handler took counted as held for the step's whole 50 ms, and Little's law on the
      // held count could never show a handler faster than 20/s.
      const instant = instantRng();
      const ackedBy = new Map<Pod, number>();
      for (const p of ready) {
        if (p === pausedPod && pause !== undefined && t < pause.at + pause.seconds) continue;
        const k = readAcked(p, seg.handlerPerSecond, world.client.concurrency, instant * dt);
        if (k > 0) ackedBy.set(p, k);
      }
      let acked = 0;
      for (const k of ackedBy.values()) acked += k;
      const held = pods.reduce((s, p) => s + p.held, 0) - acked;
      const ackPending = held + awaitingCount + redeliverNow + poisonAwaitingCount + poisonNow;
      // Each pod's and each killed pod's sequences are in delivery order; what waits to be
      // redelivered now came from several of them.
      const oldestUnacked = Math.min(
        toRedeliver.least(),
        ...pods.map((p) => p.deliveries.after(ackedBy.get(p) ?? 0)),
        ...awaitingRedelivery.map((a) => a.seqs[0] ?? Infinity),
      );
      const slow = world.slowReadings;
      const roundTrip =
        slow !== undefined && slowRng() < slow.share
          ? Math.min(0.2 + slowRng() * (slow.maxSeconds - 0.2), Math.max(0, t - lastPollAt - 0.05))
          : 0;
      lastPollAt = t;
      const clockChanges = slow?.serverClockChanges;
      if (clockChanges !== undefined && clockRng() < clockChanges) {
        serverClock++;
        serverClockOffsetMs = Math.round((clockRng() - 0.5) * 6000);
      }
      const sample: BacklogSample = {
        at: T0 + Math.round((t - roundTrip) * 1000),
        ...(roundTrip > 0 ? { roundTripMs: Math.round(roundTrip * 1000) } : {}),
        ...(clockChanges !== undefined
          ? {
              serverTime: {
                at: T0 + Math.round(t * 1000) + serverClockOffsetMs,
                clock: `leader n${serverClock}`,
              },
            }
          : {}),
        pending,
        ackPending,
        redelivered: Math.min(ackPending, redeliveredHeld + poisonFailedOnce),
        // A push consumer has no pull requests waiting.
        waiting: world.client.push ? 0 : ready.filter((p) => p.asked > 0).length,
        deliveredConsumerSeq: consumerSeq,
        deliveredStreamSeq: streamSeq,
        // Below the oldest delivery not acknowledged, and below poisoned messages and what a paused
        // pod holds: they keep the floor where it was when they were first delivered.
        ackFloorConsumerSeq: Math.min(
          Number.isFinite(oldestUnacked) ? oldestUnacked - 1 : consumerSeq,
          poisonFloor,
          pause !== undefined && t < pause.at + pause.seconds ? pauseFloor : Infinity,
        ),
        maxAckPending: world.maxAckPending,
        ...(world.client.push ? { push: true as const } : {}),
        // Only a filtered consumer's delivered.stream_seq moves over other subjects' messages.
        ...(world.interleavedPerSecond > 0 ? { filtered: true } : {}),
      };
      const current = pods.length;
      // The operator restarted (World.restartAt): from here on a process made from status alone.
      const poll: PollOf = {
        spec: world.spec,
        sample,
        current,
        ...(world.reportsReady ? { ready: readyCount } : {}),
        clocks: { monotonic: T0 + Math.round(t * 1000), wall: T0 + Math.round(t * 1000) },
      };
      const starting = current - readyCount >= Math.max(2, current / 2);
      if (
        trail !== undefined &&
        restarted === undefined &&
        t >= (world.restartAt ?? Infinity) &&
        (world.restartWhileStarting !== true || starting)
      ) {
        restartStatus = trail.restart();
        restartedAt = t;
        restarted = new RestartedProcess(restartStatus, world.spec, poll);
      }
      const decision =
        restarted !== undefined
          ? restarted.decide(poll)
          : decide({
              spec: world.spec,
              sample,
              currentReplicas: current,
              ...(world.reportsReady ? { readyReplicas: readyCount } : {}),
              history,
              now: sample.at,
            });
      const applied = decision.desiredReplicas === current || rng() >= world.scaleFailure;
      trail?.record(poll, decision, applied);
      if (applied) restarted?.keep(decision);
      steps.push({
        t,
        sample,
        currentReplicas: current,
        readyReplicas: readyCount,
        decision,
        applied,
        truth: {
          segment: segIndex,
          rate: seg.rate,
          handlerPerSecond: seg.handlerPerSecond,
          arrived,
          completed,
        },
      });
      if (applied) {
        history = decision.history;
        const desired = decision.desiredReplicas;
        if (desired !== current) earlyPoll = t + 0.05 + rng() * 0.45;
        while (pods.length < desired) addPod(t + world.startupSeconds * (0.5 + rng()));
        if (pods.length > desired) {
          for (const gone of pods.splice(desired)) {
            if (gone.held === 0) continue;
            const healthy = gone.held - gone.poisoned;
            // (Which of its sequences were poisoned is not tracked: the poison keeps the floor below
            // its first delivery anyway, poisonFloor.)
            const seqs = gone.deliveries.take(gone.held).slice(0, healthy);
            if (rng() < world.killShare) {
              awaitingRedelivery.push({ at: t + world.ackWaitSeconds, count: healthy, seqs });
              awaitingCount += healthy;
              poisonBackAt(t + world.ackWaitSeconds, gone.poisoned);
            } else {
              redeliverNow += healthy;
              for (const seq of seqs) toRedeliver.add(seq);
              poisonNow += gone.poisoned;
            }
          }
        }
      }
      nextPoll = t + Math.min(decision.nextPollSeconds, world.pollSeconds);
    }

    // Handlers: one message at a time per pod (or `concurrency` at once, each at that share of the
    // pod's rate). A fetch loop done with its batch asks again at once.
    const fetchLoop = world.client.refillAt === 0;
    const concurrency = Math.max(1, world.client.concurrency);
    for (const p of ready) {
      if ((p.held === 0 && p.stale === 0) || !pods.includes(p)) continue;
      if (p === pausedPod && pause !== undefined && t < pause.at + pause.seconds) continue;
      const busyShare = concurrency === 1 ? 1 : Math.min(p.held + p.stale, concurrency) / concurrency;
      /** Messages' worth of handler time left in this step. */
      let budget = p.progress + seg.handlerPerSecond * busyShare * dt;
      // Its client's stale copies first: handled, acknowledged, and nothing to the server.
      if (p.stale > 0) {
        const wasted = Math.min(p.stale, Math.floor(budget));
        p.stale -= wasted;
        p.handled += wasted;
        budget -= wasted;
        if (p.stale > 0) {
          p.progress = budget;
          continue;
        }
      }
      for (;;) {
        const done = Math.min(p.held, Math.floor(budget));
        // Poisoned messages in hand fail (their handler time spent) and come back later.
        let failed = 0;
        while (failed < p.poisonAt.length && (p.poisonAt[failed] ?? Infinity) < p.handled + done) failed++;
        p.poisonAt.splice(0, failed);
        p.handled += done;
        if (failed > 0 && poison !== undefined) {
          p.poisoned -= failed;
          poisonBackAt(t + poison.retrySeconds, failed);
          poisonFailedOnce = Math.min(poison.count, poisonFailedOnce + failed);
        }
        p.held -= done;
        p.deliveries.take(done);
        budget -= done;
        completed += done - failed;
        inFlight -= done - failed;
        redeliveredHeld = Math.max(0, redeliveredHeld - (done - failed));
        if (p.held > 0 || !fetchLoop || p.asked > 0) break;
        budget -= FETCH_ROUND_TRIP_SECONDS * seg.handlerPerSecond;
        if (budget <= 0) break;
        p.asked = world.client.prefetch;
        while (p.asked > 0 && deliverOne(p));
        if (p.held === 0) break;
      }
      p.progress = p.held === 0 ? 0 : budget;
    }
  }
  return {
    world,
    steps,
    segmentStarts,
    ...(restartStatus !== undefined ? { restartStatus } : {}),
    ...(restartedAt !== undefined ? { restartedAt } : {}),
  };
}

/**
 * The messages a pod's handlers finish within the first `seconds` of a step (at `perSecond` with
 * all `concurrency` of them busy, each at its share with fewer held; the same arithmetic as the
 * step's handlers, stopped early), which a reading taken then counts acknowledged. None for a pod
 * whose client still works through stale copies or holds poisoned messages: what it finishes
 * there is not acknowledged in order.
 */
function readAcked(p: Pod, perSecond: number, concurrency: number, seconds: number): number {
  if (p.held === 0 || p.stale > 0 || p.poisoned > 0) return 0;
  const c = Math.max(1, concurrency);
  const busyShare = c === 1 ? 1 : Math.min(p.held, c) / c;
  return Math.min(p.held, Math.floor(p.progress + perSecond * busyShare * seconds));
}

/** Poisson sample (Knuth for small means, normal approximation above 30). */
export function poisson(rng: Rng, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 30) {
    const u = Math.max(1e-12, rng());
    const v = rng();
    const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * z));
  }
  const l = Math.exp(-mean);
  let k = 0;
  let p = 1;
  do {
    k++;
    p *= rng();
  } while (p > l);
  return k - 1;
}
