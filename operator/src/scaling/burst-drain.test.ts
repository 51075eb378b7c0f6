// A stream sent in bursts between quiet spells (a cron-like producer) keeps its replicas idle
// between bursts, so no interval there shows what a replica does: a low end read at the first
// burst stood for good (nats.go Fetch(10) loops of 5/s handlers: 1.75/s, 15-28 replicas at every
// burst where 5 drain one within half of drainWithinSeconds). A burst's backlog run is one interval
// (rates.ts burstBound): what it drained ÷ the replica-seconds of every replica that may have
// consumed, from the reading before it to the first reading back within the handlers.
import { backlogOfRun, burstBound, nextArrivalMean, observeRates, validLastBurst } from './rates.js';
import { burstSizing } from './decide.js';
import type { RateState } from './rates.js';
import { sampleFromTotals, T0 } from './test/fixtures.js';
import { withScalingDefaults } from './defaults.js';
import { randomWorld, runWorld } from './test/fuzz-world.js';
import { natsGoFetch10 } from './test/pull-clients.js';

const HANDLER = 5;

/**
 * `replicas` ready replicas of 5/s handlers read every second: 30 s idle, then `burst` messages
 * at once and nothing after, to the first reading after they drained; the figure set to a
 * 1.75/s low end before the burst. `gapAt`: no reading for that second (a paused operator).
 */
function burstRun(replicas: number, burst: number, gapAt?: number): RateState {
  let state: RateState | undefined;
  let arrived = 0;
  let completed = 0;
  let t = 0;
  const read = (asked = replicas): void => {
    const held = Math.min(replicas, arrived - completed);
    state = observeRates(state, sampleFromTotals(T0 + t * 1000, arrived, completed, held), replicas, {
      askedReplicas: asked,
    });
  };
  for (; t <= 30; t++) read();
  if (state === undefined) throw new Error('no state');
  state = {
    ...state,
    perReplicaPerSecond: 1.75,
    perReplicaLowEndOnly: true,
    perReplicaLowEndSince: T0,
  };
  arrived += burst;
  for (t = 31; arrived > completed || t < 33; t++) {
    completed = Math.min(arrived, completed + replicas * HANDLER);
    if (t !== gapAt) read();
  }
  read();
  return state;
}

describe('rates: a burst drained between quiet spells is one interval', () => {
  it('remembers the burst as one interval: what it drained, over every replica, from the reading before it', () => {
    // 6 replicas drain 340 in 12 s (read from the idle reading before to the first one after).
    const state = burstRun(6, 340);
    const burst = validLastBurst(state.lastBurst);
    expect(burst?.messages).toBe(340);
    expect(burst?.seconds).toBeGreaterThanOrEqual(12);
    expect(burst?.replicaSeconds).toBeCloseTo(6 * (burst?.seconds ?? 0), 5);
    const each = burst === undefined ? undefined : burst.messages / burst.replicaSeconds;
    expect(each).toBeGreaterThan(4);
    expect(each).toBeLessThanOrEqual(HANDLER);
    expect(state.perReplicaPerSecond).toBeGreaterThan(4);
    expect(state.perReplicaPerSecond).toBeLessThanOrEqual(HANDLER);
    expect(state.burstSpell).toBeUndefined();
  });

  it('counts every replica that may have consumed: more asked for than ready only lowers it', () => {
    expect(burstBound({ seconds: 12, completed: 340, replicaSeconds: 12 * 10, heldAtStart: 0 })).toBeCloseTo(
      340 / 120,
      5,
    );
  });

  it('takes off what was held at the run’s first reading: work that may have begun before', () => {
    expect(burstBound({ seconds: 10, completed: 100, replicaSeconds: 50, heldAtStart: 20 })).toBeCloseTo(
      1.6,
      5,
    );
    expect(burstBound({ seconds: 10, completed: 20, replicaSeconds: 50, heldAtStart: 20 })).toBeUndefined();
  });

  it('a run with a reading missed (a paused operator) is still one interval, over its whole length', () => {
    // The interval over the gap spans two seconds: its completions count over both.
    const state = burstRun(6, 340, 36);
    expect(state.lastBurst?.messages).toBe(340);
    const each = (state.lastBurst?.messages ?? 0) / (state.lastBurst?.replicaSeconds ?? Infinity);
    expect(each).toBeGreaterThan(4);
    expect(each).toBeLessThanOrEqual(HANDLER);
  });
});

describe('rates: burst state read back from status', () => {
  it('drops a lastBurst that is not whole, keeps one that is', () => {
    expect(validLastBurst({ messages: 340, replicaSeconds: 72, seconds: 12, endedAt: T0 })).toEqual({
      messages: 340,
      replicaSeconds: 72,
      seconds: 12,
      endedAt: T0,
    });
    expect(validLastBurst({ messages: '340', replicaSeconds: 72, seconds: 12, endedAt: T0 })).toBeUndefined();
    expect(validLastBurst({ messages: 340, replicaSeconds: 0, seconds: 12, endedAt: T0 })).toBeUndefined();
    expect(validLastBurst({ messages: -1, replicaSeconds: 72, seconds: 12, endedAt: T0 })).toBeUndefined();
    expect(validLastBurst(null)).toBeUndefined();
    // Whether it read as batched and when the next is due are kept when whole, dropped alone when not.
    const whole = { messages: 340, replicaSeconds: 72, seconds: 12, endedAt: T0 };
    expect(validLastBurst({ ...whole, batched: true, everySeconds: 120 })).toEqual({
      ...whole,
      batched: true,
      everySeconds: 120,
    });
    expect(validLastBurst({ ...whole, batched: 'yes', everySeconds: 0 })).toEqual(whole);
    expect(validLastBurst({ ...whole, batched: 1, everySeconds: -5 })).toEqual(whole);
    expect(validLastBurst({ ...whole, everySeconds: Infinity })).toEqual(whole);
  });

  it('the arrival mean weighs what came before by at most BURST_MEAN_SECONDS, and starts anew from junk', () => {
    // 20 s cycles of 340 in the first second: 17/s on average, whatever the phase read last.
    let mean = nextArrivalMean(undefined, 0, 1);
    for (let t = 1; t < 1200; t++) mean = nextArrivalMean(mean, t % 20 === 0 ? 340 : 0, 1);
    expect(mean.seconds).toBe(300);
    expect(mean.perSecond).toBeGreaterThan(15);
    expect(mean.perSecond).toBeLessThan(19);
    expect(nextArrivalMean({ perSecond: Number.NaN, seconds: 300 }, 10, 1)).toEqual({
      perSecond: 10,
      seconds: 1,
    });
  });
});

describe('rates: what is held at readings locked to the bursts shows nothing of a handler', () => {
  it('nats.go Fetch(10) loops, 300 in 2 s of every 60 s, 10 s polls: the figure never above the handlers’ 5/s', () => {
    // Readings that keep landing between bursts see next to nothing held, and heldBound (the
    // completions ÷ the mean held) read 7.68/s at t = 220.8 s on 1c12f11, once the burst had
    // raised the low end (1.76/s) to where it counted. A stream sent in batches now takes no
    // held bound: its bursts show what a replica does (burstBound).
    const run = runWorld({
      ...randomWorld(1),
      spec: withScalingDefaults({ minReplicas: 1, maxReplicas: 50 }),
      pollSeconds: 10,
      client: natsGoFetch10,
      maxAckPending: -1,
      startupSeconds: 10,
      killShare: 0,
      scaleFailure: 0,
      interleavedPerSecond: 0,
      reportsReady: true,
      initialReplicas: 1,
      initialPending: 0,
      segments: [
        {
          seconds: 900,
          rate: 5,
          handlerPerSecond: HANDLER,
          cron: { periodSeconds: 60, burstSeconds: 2 },
          shape: 'cron',
          clump: 1,
        },
      ],
    });
    const figures = run.steps.map((s) => s.decision.rates.perReplicaPerSecond ?? 0);
    expect(Math.max(...figures)).toBeGreaterThan(4);
    for (const f of figures) expect(f).toBeLessThanOrEqual(HANDLER * 1.05);
  });
});

describe('rates: a backlog run does not count what a pod taken back still holds (session 35)', () => {
  // World 34212 (nats.go Fetch(10) loops, 50/s handlers, half the pods taken back killed): after a
  // burst the count fell while a pod held 13 of it; they waited for ack_wait (30 s) with the floor
  // at 138,074, delivered up to 138,462 when the count fell, and 2 ready replicas idle.
  const fell = 138_462;
  const at = (pending: number, ackPending: number, floor: number) => ({
    pending,
    ackPending,
    ackFloorConsumerSeq: floor,
  });
  it('nothing at the server, the floor unmoved below the fall: those messages are no backlog', () => {
    expect(backlogOfRun(at(0, 13, 138_074), at(0, 13, 138_074), fell)).toBe(0);
    // Only as many as were delivered between the floor and the fall.
    expect(backlogOfRun(at(0, 13, 138_455), at(0, 13, 138_455), fell)).toBe(6);
  });
  it('counts everything while work waits at the server, the floor moves, or it passed the fall', () => {
    expect(backlogOfRun(at(5, 13, 138_074), at(5, 13, 138_074), fell)).toBe(18);
    expect(backlogOfRun(at(0, 40, 138_000), at(0, 13, 138_074), fell)).toBe(13);
    expect(backlogOfRun(at(0, 13, 138_470), at(0, 13, 138_470), fell)).toBe(13);
    expect(backlogOfRun(at(0, 13, 138_074), at(0, 13, 138_074), undefined)).toBe(13);
    expect(backlogOfRun(undefined, at(0, 13, 138_074), fell)).toBe(13);
  });
});

describe('decide: a run as long as bursts come apart is bursts run together, not one burst (session 35)', () => {
  // jnats fetch() loops, 17/s in 2 s of every 20 s (the CI fuzz set's cron-like world): its clients'
  // buffers stretched two bursts into one 31.4 s run of 628 messages. Taken for one burst that met
  // too few replicas (within drainWithinSeconds and a start-up), it capped the next burst at 7
  // where 12 were asked, and the backlog left over later asked 8 -> 11 (bound 10).
  const spec = withScalingDefaults({ minReplicas: 1, maxReplicas: 50 });
  const stateWith = (seconds: number, everySeconds: number): RateState =>
    ({
      arrivalDispersion: 90,
      arrivalMean: { perSecond: 17, seconds: 300 },
      lastBurst: { messages: 628, replicaSeconds: 200, seconds, endedAt: T0, batched: true, everySeconds },
    }) as unknown as RateState;
  const sizing = (seconds: number, everySeconds: number) =>
    burstSizing(spec, stateWith(seconds, everySeconds), T0 + 5000, 0, 5, undefined, 10, 15);

  it('a run past drainWithinSeconds that lasted as long as bursts came apart sizes nothing', () => {
    expect(sizing(31.4, 20)).toBeUndefined();
  });
  it('one that ended before the next burst was due is still a burst that met too few replicas', () => {
    expect(sizing(31.4, 60)?.replicas).toBeGreaterThan(0);
  });
  it('within drainWithinSeconds a run is sized as before, however often the bursts come', () => {
    expect(sizing(25, 20)?.replicas).toBeGreaterThan(0);
    // Past drainWithinSeconds and a start-up, never.
    expect(sizing(41, 120)).toBeUndefined();
  });
});
