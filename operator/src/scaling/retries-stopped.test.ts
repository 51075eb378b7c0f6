// A failing spell whose retries stopped (rates.ts retriesStopped, decide.ts 3d): at max_ack_pending,
// nothing redelivered or delivered for far longer than the spell went on showing redeliveries. The
// policy fuzzer's adverse world 606014 (a push consumer, one pod paused for 120 s while ack_wait 5 s
// pushed its messages back to it) read HandlersFailing and kept 1 for 600 s while pending grew
// 0 -> 1,753. Handlers that fail every message keep their messages coming back, and keep the hold (beside
// one spare replica once the spell is FAILING_SPARE_AFTER_SECONDS old: hung-for-good.test).
import { decide } from './decide.js';
import { emptyHistory } from './index.js';
import {
  FAILING_SPARE_AFTER_SECONDS,
  RETRIES_STOPPED_FACTOR,
  RETRIES_STOPPED_MIN_SECONDS,
  retriesStopped,
} from './rates.js';
import { sample, T0 } from './test/fixtures.js';
import { natsPyPush, runScenario } from './test/pull-clients.js';
import { replayReadings } from './test/replay-readings.js';
import { withScalingDefaults } from './defaults.js';
import type { BacklogSample, ScalingDecision } from './types.js';

const s = (seconds: number): number => T0 + seconds * 1000;

describe('retriesStopped', () => {
  it('needs a silence of RETRIES_STOPPED_MIN_SECONDS and RETRIES_STOPPED_FACTOR times the failures shown', () => {
    // Failures shown for 10 s: the minimum decides.
    expect(retriesStopped(s(0), s(10), s(10 + RETRIES_STOPPED_MIN_SECONDS - 1))).toBe(false);
    expect(retriesStopped(s(0), s(10), s(10 + RETRIES_STOPPED_MIN_SECONDS))).toBe(true);
    // Shown for 300 s: twice that.
    expect(retriesStopped(s(0), s(300), s(300 + RETRIES_STOPPED_FACTOR * 300 - 1))).toBe(false);
    expect(retriesStopped(s(0), s(300), s(300 + RETRIES_STOPPED_FACTOR * 300))).toBe(true);
  });
});

describe('decide: a paused push subscriber whose expired messages came back to it (policy fuzzer world 606014)', () => {
  it('adds one replica beside it once nothing has been redelivered for twice as long as the redeliveries went on', () => {
    const { decisions, data } = replayReadings('world-606014-t1150.json');
    const rows = data.readings.map((r, i) => ({ r, d: decisions[i] as ScalingDecision }));
    // What b16007a did: 1 from the spell's start to the end, HandlersFailing.
    const from1194 = rows.filter(({ r }) => r.t >= 1194);
    expect(Math.max(...from1194.map(({ r }) => r.decided))).toBe(1);
    // The readings: at max_ack_pending 1000 from t = 1262 on, the last redelivery by t = 1280, then
    // no delivery of any kind while pending grows.
    const quiet = rows.filter(({ r }) => r.t >= 1285);
    const firstQuiet = quiet[0]?.r.sample;
    expect(quiet.every(({ r }) => r.sample.ackPending === 1000 && r.sample.maxAckPending === 1000)).toBe(
      true,
    );
    expect(quiet.every(({ r }) => r.sample.deliveredConsumerSeq === firstQuiet?.deliveredConsumerSeq)).toBe(
      true,
    );
    expect(quiet.every(({ r }) => r.sample.ackFloorConsumerSeq === firstQuiet?.ackFloorConsumerSeq)).toBe(
      true,
    );
    expect(quiet.at(-1)?.r.sample.pending).toBeGreaterThan(500);
    // Held while the redeliveries come and for twice as long after (b16007a's hold, unchanged).
    const held = rows.filter(({ r }) => r.t >= 1194 && r.t < 1280 + RETRIES_STOPPED_MIN_SECONDS);
    expect(held.length).toBeGreaterThan(20);
    expect(held.every(({ d }) => d.desiredReplicas === 1)).toBe(true);
    const wanted = held.filter(({ d }) => d.recommendedReplicas > 1);
    expect(wanted.length).toBeGreaterThan(10);
    expect(wanted.every(({ d }) => d.limitedBy === 'HandlersFailing')).toBe(true);
    // Then one beside it, and only one.
    const added = rows.find(({ r, d }) => r.t >= 1194 && d.desiredReplicas > 1);
    expect(added?.r.t).toBeGreaterThan(1400);
    expect(added?.r.t).toBeLessThan(1460);
    expect(added?.d.desiredReplicas).toBe(2);
    expect(added?.d.limitedBy).toBe('HandlersFailing');
    expect(added?.d.reason).toContain('nothing was redelivered or delivered at max_ack_pending 1,000');
    expect(added?.d.reason).toContain('one is added beside it');
    expect(Math.max(...from1194.map(({ d }) => d.desiredReplicas))).toBe(2);
  });
});

describe('decide: handlers that fail every message on a push consumer at max_ack_pending keep the hold', () => {
  const spec = withScalingDefaults({ minReplicas: 1, maxReplicas: 50, drainWithinSeconds: 5 });
  /**
   * One replica, push, max_ack_pending 1000 full and nothing acknowledged, 2.5/s arriving, a
   * reading every 5 s for `seconds`. The 1000 it holds come back at each `waveAt` (a whole ack_wait
   * or backoff step ran out) and are pushed to it again: delivered.consumer_seq jumps by 1000,
   * delivered.stream_seq does not. Handlers worked at 2/s before t = 0 (a figure).
   */
  function run(seconds: number, waveAt: (t: number) => boolean): ScalingDecision[] {
    let history = emptyHistory();
    /** One reading at `t` of one replica at max_ack_pending 1000 on a push consumer. */
    const read = (t: number, counters: Partial<BacklogSample>): ScalingDecision => {
      const d = decide({
        spec,
        sample: sample({ at: s(t), ackPending: 1000, maxAckPending: 1000, push: true, ...counters }),
        currentReplicas: 1,
        readyReplicas: 1,
        history,
        now: s(t),
      });
      history = d.history;
      return d;
    };
    // Two readings of working handlers first: 2/s completed with 1000 held and a backlog.
    for (const [t, acked] of [
      [-10, 4000],
      [-5, 4010],
    ] as const)
      read(t, {
        pending: 200,
        deliveredConsumerSeq: acked + 1000,
        deliveredStreamSeq: acked + 1000,
        ackFloorConsumerSeq: acked,
      });
    let dcs = 5010;
    const out: ScalingDecision[] = [];
    for (let t = 0; t <= seconds; t += 5) {
      if (waveAt(t)) dcs += 1000;
      out.push(
        read(t, {
          pending: 200 + Math.round(2.5 * t),
          redelivered: 1000,
          deliveredConsumerSeq: dcs,
          deliveredStreamSeq: 5010,
          ackFloorConsumerSeq: 4010,
        }),
      );
    }
    return out;
  }

  /**
   * The hold: no replica while the spell is younger than FAILING_SPARE_AFTER_SECONDS, then the
   * spare replica's one (hung-for-good.test: the only member of a deliver group hung for good reads the
   * same), never the one added for retries that stopped, and HandlersFailing to the end.
   */
  function expectHeld(out: ScalingDecision[]): void {
    const young = out.filter((d) => (d.rates.handlersFailing?.seconds ?? 0) < FAILING_SPARE_AFTER_SECONDS);
    expect(young.length).toBeGreaterThan(50);
    expect(Math.max(...young.map((d) => d.desiredReplicas))).toBe(1);
    expect(young.at(-1)?.reason).toContain('no replicas added');
    expect(Math.max(...out.map((d) => d.desiredReplicas))).toBeLessThanOrEqual(2);
    expect(out.filter((d) => d.reason.includes('nothing was redelivered or delivered'))).toEqual([]);
    expect(out.at(-1)?.limitedBy).toBe('HandlersFailing');
  }

  it('ack_wait 5 s: a wave at every reading for 600 s', () => {
    expectHeld(run(600, () => true));
  });

  it('ack_wait 60 s: a wave every minute for 900 s', () => {
    expectHeld(run(900, (t) => t % 60 === 0));
  });

  it('a backoff of 5 s, 30 s, 1 min, 2 min, 4 min, then 4 min: never silent for twice what it showed', () => {
    const waves = [0, 5, 35, 95, 215, 455, 695, 935];
    expectHeld(run(1000, (t) => waves.includes(t)));
  });

  it('the same handlers hung after a few waves: one replica beside them, then no more', () => {
    // Waves every 5 s for 60 s, then nothing at all for 540 s.
    const out = run(600, (t) => t <= 60);
    const added = out.findIndex((d) => d.desiredReplicas > 1);
    // Not before 60 + RETRIES_STOPPED_MIN_SECONDS (the minimum binds: 2 x 60 s is no longer).
    expect(added * 5).toBeGreaterThanOrEqual(60 + RETRIES_STOPPED_MIN_SECONDS);
    expect(added * 5).toBeLessThanOrEqual(60 + RETRIES_STOPPED_MIN_SECONDS + 20);
    expect(Math.max(...out.map((d) => d.desiredReplicas))).toBe(2);
  });
});

describe('pull-clients: a push subscriber paused 120 s with ack_wait 5 s, acknowledged as nats-server does', () => {
  // The world 606014's pause on the client model (test/pull-clients.ts ackWaitSeconds): what the
  // paused subscriber holds runs out of ack_wait every 5 s and is pushed back to it, and its client
  // keeps every copy. nats-server acknowledges by stream sequence whatever the delivery
  // (consumer.go processAckMsg), so once the pod resumes, the first copy of each message it handles
  // acknowledges it: completions resume at once and end the failing spell. (The policy fuzzer's
  // world counts an acknowledgement of a stale copy as nothing, so there nothing completed for
  // 600 s; see world-606014-t1150.json above.) This passes on b16007a too.
  const readings = runScenario({
    client: natsPyPush,
    spec: withScalingDefaults({ minReplicas: 1, maxReplicas: 50 }),
    maxAckPending: 1000,
    handlerPerSecond: 2,
    arrival: () => 1.5,
    initialReplicas: 1,
    initialPending: 0,
    startupSeconds: 15,
    durationSeconds: 900,
    ackWaitSeconds: 5,
    pause: { at: 300, seconds: 120 },
  });
  const during = readings.filter((r) => r.t > 320 && r.t < 420);
  const after = readings.filter((r) => r.t >= 450);

  it('while paused: its messages are redelivered to it, nothing completes, and no replica is added (HandlersFailing)', () => {
    expect(during.every((r) => r.completed === during[0]?.completed)).toBe(true);
    expect(Math.max(...during.map((r) => r.decision.desiredReplicas))).toBe(1);
    expect(during.some((r) => r.decision.limitedBy === 'HandlersFailing')).toBe(true);
    // Copies pile up in its client; num_ack_pending counts each message once.
    expect(during.at(-1)?.largestHeld).toBeGreaterThan(5 * (during.at(-1)?.ackPending ?? Infinity));
    expect(during.every((r) => r.ackPending <= 1000)).toBe(true);
  });

  it('once it resumes: completions go on, the hold ends, and the replicas grow with what awaits ack', () => {
    expect((after.at(-1)?.completed ?? 0) - (during.at(-1)?.completed ?? 0)).toBeGreaterThan(100);
    expect(after.filter((r) => r.decision.limitedBy === 'HandlersFailing')).toEqual([]);
    expect(Math.max(...after.map((r) => r.replicas))).toBeGreaterThan(1);
  });
});
