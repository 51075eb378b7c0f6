// A max_ack_pending cap brought back by trying fewer replicas (at-cap-probe.ts), and the clients it
// must leave alone: prefetching clients whose handlers, not the slots, are the bottleneck.
import { withScalingDefaults } from './defaults.js';
import { asAtCapProbeState, nextAtCapProbe, PROBE_GAP_SECONDS, PROBE_MAX_SECONDS } from './at-cap-probe.js';
import type { AtCapProbeInput } from './at-cap-probe.js';
import type { RateState } from './rates.js';
import { natsGoFetch10, natsJsConsume, runScenario } from './test/pull-clients.js';
import type { PullClient, Reading } from './test/pull-clients.js';
import { T0 } from './test/fixtures.js';

/** Replica-seconds from `from` on (the replicas asked for, held until the next reading). */
function replicaSeconds(readings: Reading[], from: number): number {
  let sum = 0;
  for (let i = 1; i < readings.length; i++) {
    const a = readings[i - 1];
    const b = readings[i];
    if (a === undefined || b === undefined || a.t < from) continue;
    sum += a.replicas * (b.t - a.t);
  }
  return sum;
}

/** Scale-downs that a probe made (the decision's cap says Probe). */
const probesIn = (readings: Reading[]): Reading[] =>
  readings.filter(
    (r, i) =>
      r.decision.maxAckPendingCap?.source === 'Probe' &&
      readings[i - 1]?.decision.maxAckPendingCap?.source !== 'Probe',
  );

describe('a max_ack_pending cap brought back once the handlers changed (policy fuzz worlds 951042, 952023)', () => {
  // Handlers that work on 200 messages at once against max_ack_pending 100: one replica has every
  // slot in hand, so the limit binds at 1 and more replicas only split the 100. 300/s arrive, far
  // beyond what the slots let through: the policy asks for more than maxReplicas (5) throughout.
  // At t = 300 s the handlers slow 4x (10 s a message -> 40 s); the records of the old handlers are
  // dropped as contradicted (rates.ts atCapContradicts), and at 5 replicas nothing measures the
  // cap again: on main 7b9a82c the policy kept 5 to the end.
  const concurrent: PullClient = {
    name: 'handlers of 200 at once',
    prefetch: 200,
    refillAt: 150,
    concurrency: 200,
  };
  const run = (): Reading[] =>
    runScenario({
      client: concurrent,
      spec: withScalingDefaults({ maxReplicas: 5 }),
      maxAckPending: 100,
      handlerPerSecond: (t) => (t < 300 ? 0.1 : 0.025),
      arrival: () => 300,
      initialReplicas: 1,
      initialPending: 0,
      startupSeconds: 5,
      durationSeconds: 1200,
      pollSeconds: 2,
    });

  it('tries fewer replicas while held at maxReplicas, and caps where they process as much', () => {
    const readings = run();
    const late = readings.filter((r) => r.t >= 900);
    expect(late.length).toBeGreaterThan(100);
    // From t = 900 s at most 2 replicas, held by a measured cap, not 5.
    expect(Math.max(...late.map((r) => r.replicas))).toBeLessThanOrEqual(2);
    expect(late.every((r) => r.decision.maxAckPendingCap?.source === 'Measured')).toBe(true);
    expect(late.at(-1)?.decision.reason).toMatch(
      /capped at [12] by max_ack_pending 100: while it was full, \d+ replicas processed/,
    );
    // The probe said why it took replicas away.
    const probes = probesIn(readings);
    expect(probes.length).toBeGreaterThan(0);
    expect(probes[0]?.decision.reason).toMatch(
      /capped at \d by max_ack_pending 100: while it was full with work waiting, 5 replicas processed [\d.]+\/s and no fewer were measured, so \d are tried/,
    );
    // Both say what to do: raise max_ack_pending on the consumer, or accept the cap.
    for (const reason of [probes[0]?.decision.reason, late.at(-1)?.decision.reason])
      expect(reason).toMatch(
        /raise max_ack_pending on the consumer with nats consumer edit <stream> <consumer> --max-pending <n>; to accept the cap, set spec.inFlightPerReplica/,
      );
    // Processing the same (the slots bound it): the backlog grew no faster than with 5.
    expect(replicaSeconds(readings, 300)).toBeLessThan(0.6 * 5 * 900);
  }, 120_000);
});

describe('a max_ack_pending that binds below maxReplicas, with scale-down rules of a pod at a time (policy fuzz cron world 36021)', () => {
  // Handlers that work on 200 messages at once against max_ack_pending 20: one replica has every
  // slot in hand, so the limit binds at 1 (20 slots at 0.1/s: 2/s, however many replicas). 2
  // replicas drain 60 pending first and are read at the full limit, then 5/s arrive from 40 s and
  // the count climbs to maxReplicas 12, which do no more. Read in that order the pair caps nothing
  // (rates.ts climbBinding), and a probe has to take the 12 down to read fewer again; the user's
  // rules allow one pod per 30 s, less than a step a pair can show the limit binding on
  // (SATURATION_MIN_STEP) once the climb's pods are out of their window. On main 38e5425 the probe
  // took 12 to 10 (as far as the rules allowed in one go, the climb's pods still in their window),
  // measured the cap there, and went no further: 10 to the end, 8,505 replica-seconds (now 2,880).
  const concurrent: PullClient = {
    name: 'handlers of 200 at once',
    prefetch: 200,
    refillAt: 150,
    concurrency: 200,
  };
  const onePodPer = 30;
  const run = (): Reading[] =>
    runScenario({
      client: concurrent,
      spec: withScalingDefaults({
        maxReplicas: 12,
        backlogPerReplica: 200,
        scaleDown: {
          stabilizationWindowSeconds: 0,
          policies: [{ type: 'Pods', value: 1, periodSeconds: onePodPer }],
        },
      }),
      maxAckPending: 20,
      handlerPerSecond: 0.1,
      arrival: (t) => (t < 40 ? 0 : 5),
      initialReplicas: 2,
      initialPending: 80,
      startupSeconds: 5,
      durationSeconds: 900,
    });

  it("comes down to the count the slots allow at the rules' pace, a pod at a time, confirmed on the way", () => {
    const readings = run();
    const top = readings.find((r) => r.replicas === 12 && r.ready === 12);
    if (top === undefined) throw new Error('never reached maxReplicas 12');
    // The bound, from the rules: 11 pods to take away at one per 30 s once the 12 are read at the
    // full limit (SATURATION_MIN_SECONDS after READY_SETTLE_SECONDS: 20 s), and each count a probe
    // stops at (at most log2 12 + 1 of them) read for 30 s more at most before the next pod goes.
    const bound = top.t + 20 + 11 * onePodPer + 5 * 30;
    const after = readings.filter((r) => r.t >= bound);
    expect(after.length).toBeGreaterThan(50);
    expect(Math.max(...after.map((r) => r.replicas))).toBeLessThanOrEqual(2);
    expect(after.every((r) => r.decision.maxAckPendingCap?.source === 'Measured')).toBe(true);
    // Never faster than the rules: once the climb's pods are out of their window, one pod a step,
    // 30 s or more apart.
    const falls = readings.filter(
      (r, i) => i > 0 && r.t > top.t + onePodPer && r.replicas < (readings[i - 1]?.replicas ?? 0),
    );
    expect(falls.length).toBeGreaterThan(3);
    falls.forEach((f, i) => {
      const before = readings[readings.indexOf(f) - 1];
      expect((before?.replicas ?? 0) - f.replicas).toBe(1);
      if (i > 0) expect(f.t - (falls[i - 1]?.t ?? 0)).toBeGreaterThanOrEqual(onePodPer);
    });
    // The probes said why they took replicas away.
    expect(probesIn(readings)[0]?.decision.reason).toMatch(/only before them, so \d+ are tried/);
  }, 120_000);
});

describe('clients whose handlers are the bottleneck: a probe gives the replicas back (issue 10 clients)', () => {
  // Prefetching clients fill max_ack_pending with their buffers while one-at-a-time handlers are
  // the bottleneck: 10 replicas of nats.js consume() (100 asked each, asking again at 75) against
  // 800 and the server's default 1000, and nats.go Fetch(10) loops (as a Java client's pull batch
  // 10) against 50. 400/s arrive for 20/s handlers (200/s at maxReplicas 10), and the handlers slow
  // to 4/s at t = 200 s: the records at a full max_ack_pending are contradicted, which lets a probe
  // start. At 5 replicas the clients ask for 500 or 50 at most, room under the limit: the probe
  // ends at the first reading that shows it, and the 10 come back.
  it.each([
    { client: natsJsConsume, maxAckPending: 800 },
    { client: natsJsConsume, maxAckPending: 1000 },
    { client: natsGoFetch10, maxAckPending: 50 },
  ])(
    '$client.name against max_ack_pending $maxAckPending',
    ({ client, maxAckPending }) => {
      const readings = runScenario({
        client,
        spec: withScalingDefaults({ maxReplicas: 10 }),
        maxAckPending,
        handlerPerSecond: (t) => (t < 200 ? 20 : 4),
        arrival: () => 400,
        initialReplicas: 10,
        initialPending: 5000,
        startupSeconds: 5,
        durationSeconds: 900,
        pollSeconds: 2,
      });
      expect(readings.some((r) => r.decision.maxAckPendingCap?.source === 'Measured')).toBe(false);
      const probes = probesIn(readings);
      expect(probes.length).toBeGreaterThan(0);
      // Probes start at least PROBE_GAP_SECONDS apart, and each gives the replicas back within
      // 10 s: room under the limit at 5 ends it at once.
      probes.forEach((p, i) => {
        if (i > 0) expect(p.t - (probes[i - 1]?.t ?? 0)).toBeGreaterThanOrEqual(PROBE_GAP_SECONDS);
        const back = readings.find((r) => r.t > p.t && r.replicas >= 10);
        expect((back?.t ?? Infinity) - p.t).toBeLessThanOrEqual(10);
      });
      expect(readings.filter((r) => r.t > 30 && r.replicas < 10).length).toBeLessThanOrEqual(
        5 * probes.length,
      );
    },
    120_000,
  );

  it('nats.js consume() against nats-server 2.x max_ack_pending 20,000: never full, never probed', () => {
    const readings = runScenario({
      client: natsJsConsume,
      spec: withScalingDefaults({ maxReplicas: 10 }),
      maxAckPending: 20_000,
      handlerPerSecond: (t) => (t < 200 ? 20 : 10),
      arrival: () => 400,
      initialReplicas: 10,
      initialPending: 5000,
      startupSeconds: 5,
      durationSeconds: 600,
      pollSeconds: 2,
    });
    expect(readings.every((r) => r.decision.maxAckPendingCap === undefined)).toBe(true);
    expect(readings.filter((r) => r.t > 30).every((r) => r.replicas === 10)).toBe(true);
  }, 120_000);
});

describe('a probe where the limit does not bind costs seconds, not a cap (policy fuzz worlds 330171, 330056)', () => {
  // nats.js consume() replicas (one message at a time, 100 buffered) against max_ack_pending 100:
  // 10 hold about 10 each, so the handlers, not the slots, hold them back. 400/s arrive, far beyond
  // the 50/s that 10 do, and the handlers slow 4x from t = 300 s to 600 s: each change drops the
  // records of the other handlers, and a probe takes the replicas to 5. On main 7b9a82c...d0dd71a
  // each probe kept 5 for 40 s (the 5's record was taken only LOWER_BOUND_SETTLE_SECONDS after the
  // fall, and judged after SATURATION_MIN_SECONDS of it), and a record of 10 that mixed both
  // handlers' rates could pair with another into a cap.
  it('no measured cap, and each probe gives the replicas back within 35 s', () => {
    const readings = runScenario({
      client: natsJsConsume,
      spec: withScalingDefaults({ maxReplicas: 10 }),
      maxAckPending: 100,
      handlerPerSecond: (t) => (t >= 300 && t < 600 ? 1.25 : 5),
      arrival: () => 400,
      initialReplicas: 6,
      initialPending: 0,
      startupSeconds: 60,
      durationSeconds: 1200,
      pollSeconds: 2,
    });
    expect(readings.some((r) => r.decision.maxAckPendingCap?.source === 'Measured')).toBe(false);
    const probes = probesIn(readings);
    expect(probes.length).toBeGreaterThan(0);
    for (const p of probes) {
      const back = readings.find((r) => r.t > p.t && r.replicas >= 10);
      expect((back?.t ?? Infinity) - p.t).toBeLessThanOrEqual(35);
    }
  }, 120_000);
});

describe('nextAtCapProbe', () => {
  const at = (seconds: number): number => T0 + seconds * 1000;
  /** Rates with records at a full max_ack_pending: `replicas` at 10/s for 20 s, ending now. */
  const rates = (
    limit: number,
    records: Array<{ replicas: number; at: number }>,
    contradictedAt?: number,
  ): RateState =>
    ({
      last: { at: at(100) },
      atCap: {
        maxAckPending: limit,
        throughput: records.map((r) => ({ replicas: r.replicas, perSecond: 10, seconds: 20, at: r.at })),
        ...(contradictedAt !== undefined ? { contradictedAt } : {}),
      },
    }) as unknown as RateState;
  const base = (over: Partial<AtCapProbeInput> = {}): AtCapProbeInput => ({
    state: undefined,
    rates: rates(100, [{ replicas: 6, at: at(100) }], at(50)),
    sample: { at: at(100), pending: 5000, ackPending: 100, maxAckPending: 100 },
    current: 6,
    ready: 6,
    recommended: 20,
    maxReplicas: 6,
    downFloor: 1,
    userCap: false,
    measuredCap: undefined,
    now: at(100),
    ...over,
  });

  it('starts at half the replicas once records were dropped as contradicted', () => {
    expect(nextAtCapProbe(base()).probe).toEqual({ from: 6, to: 3, since: at(100), maxAckPending: 100 });
  });

  it('starts none where no cap was ever seen, nor records contradicted', () => {
    expect(nextAtCapProbe(base({ rates: rates(100, [{ replicas: 6, at: at(100) }]) })).probe).toBeUndefined();
  });

  it.each([
    ['below maxReplicas with no cap measured', { current: 5, ready: 5 }],
    ['with replicas not ready', { ready: 5 }],
    ['when no more are asked for', { recommended: 6 }],
    ['with spec.inFlightPerReplica set', { userCap: true }],
    ['with scaleDown Disabled', { downFloor: undefined }],
    ['at one replica', { current: 1, ready: 1, maxReplicas: 1 }],
  ] as const)('starts none %s', (_, over) => {
    expect(nextAtCapProbe(base(over)).probe).toBeUndefined();
  });

  /** Held at 10 (maxReplicas), records dropped as contradicted: a probe is due. */
  const ten = (over: Partial<AtCapProbeInput> = {}): AtCapProbeInput =>
    base({
      rates: rates(100, [{ replicas: 10, at: at(100) }], at(50)),
      current: 10,
      ready: 10,
      maxReplicas: 10,
      ...over,
    });

  it('with scale-down rules that allow less than a SATURATION_MIN_STEP step in one go, tries half, reached at their pace', () => {
    // A pod at a time (10 -> 9 is no step a pair can show the limit binding on).
    expect(nextAtCapProbe(ten({ downFloor: 9 })).probe?.to).toBe(5);
    // None while they allow no step yet: the next reading may allow a larger one.
    expect(nextAtCapProbe(ten({ downFloor: 10 })).probe).toBeUndefined();
    // Toward a climb's count: half of 10 first (the next probe goes on from the 5 once measured).
    expect(nextAtCapProbe(ten({ downFloor: 9, climbCap: 1 })).probe?.to).toBe(5);
    // Rules that allow the climb's count in one go go there at once, as before.
    expect(nextAtCapProbe(ten({ downFloor: 1, climbCap: 1 })).probe?.to).toBe(1);
    // Rules that allow a step of SATURATION_MIN_STEP in one go but not half take that step, as before.
    expect(nextAtCapProbe(ten({ downFloor: 8 })).probe?.to).toBe(8);
  });

  it("a probe on its way down at the scale-down rules' pace goes on while they hold it, and counts its seconds from the last fall", () => {
    const { state } = nextAtCapProbe(ten({ downFloor: 9 }));
    expect(state.active).toEqual({ from: 10, to: 5, since: at(100), maxAckPending: 100 });
    /** A reading `seconds` after the probe began, at `ready` replicas, ready since `readySince` (from `readyFrom`). */
    const reading = (
      seconds: number,
      ready: number,
      readySince: number,
      readyFrom: number,
      downFloor: number,
    ) =>
      nextAtCapProbe(
        ten({
          state,
          rates: {
            ...rates(100, [{ replicas: 10, at: at(100) }]),
            last: { at: at(100 + seconds), readySince: at(readySince), readyFrom },
          } as unknown as RateState,
          sample: { at: at(100 + seconds), pending: 5000, ackPending: 100, maxAckPending: 100 },
          current: ready,
          ready,
          downFloor,
          now: at(100 + seconds),
        }),
      ).probe;
    const late = PROBE_MAX_SECONDS + 40;
    // At 9 since 130 s, PROBE_MAX_SECONDS + 40 s in: the rules allow no step yet, so it waits on them...
    expect(reading(late, 9, 130, 10, 9)).toBeDefined();
    // ... and where they allowed one that was not taken for PROBE_MAX_SECONDS, it ends.
    expect(reading(late, 9, 130, 10, 8)).toBeUndefined();
    // At 7 since 200 s (fell from 8): its seconds count from then.
    expect(reading(late, 7, 200, 8, 6)).toBeDefined();
    // At its count, 5, since 250 s: PROBE_MAX_SECONDS from that fall, as for a probe taken there in one go.
    expect(reading(150 + PROBE_MAX_SECONDS - 1, 5, 250, 6, 4)).toBeDefined();
    expect(reading(150 + PROBE_MAX_SECONDS + 1, 5, 250, 6, 4)).toBeUndefined();
  });

  it('a probe on its way down ends at a count in between that falls short beyond its noise', () => {
    const { state } = nextAtCapProbe(ten({ downFloor: 9 }));
    // 10 replicas at 10/s for 20 s; 8 read for 20 s since the probe began, the rules holding them there.
    const atEight = (perSecond: number) =>
      nextAtCapProbe(
        ten({
          state,
          rates: {
            last: { at: at(160), readySince: at(130), readyFrom: 9 },
            atCap: {
              maxAckPending: 100,
              throughput: [
                { replicas: 8, perSecond, seconds: 20, at: at(160) },
                { replicas: 10, perSecond: 10, seconds: 20, at: at(100) },
              ],
            },
          } as unknown as RateState,
          sample: { at: at(160), pending: 5000, ackPending: 100, maxAckPending: 100 },
          current: 8,
          ready: 8,
          downFloor: 8,
          now: at(160),
        }),
      ).probe;
    // 4/s: 80 messages, at most 5.3/s at 3 sigma, short of the 10's 10/s (at least 7.9/s) over 1 +
    // a quarter of the gain (1.06): the replicas go back.
    expect(atEight(4)).toBeUndefined();
    // 9/s: as much as binding needs within its noise: it goes on down.
    expect(atEight(9)).toBeDefined();
  });

  it('starts none where a smaller count already has a record', () => {
    const r = rates(
      100,
      [
        { replicas: 3, at: at(60) },
        { replicas: 6, at: at(100) },
      ],
      at(50),
    );
    expect(nextAtCapProbe(base({ rates: r })).probe).toBeUndefined();
  });

  it('tries below a measured cap, and once one lapsed', () => {
    expect(
      nextAtCapProbe(
        base({ rates: rates(100, [{ replicas: 6, at: at(100) }]), maxReplicas: 10, measuredCap: 6 }),
      ).probe?.to,
    ).toBe(3);
    const lapsed = { capped: { at: at(40), maxAckPending: 100 } };
    expect(
      nextAtCapProbe(base({ rates: rates(100, [{ replicas: 6, at: at(100) }]), state: lapsed })).probe?.to,
    ).toBe(3);
    // ... not one measured at another max_ack_pending.
    const other = { capped: { at: at(40), maxAckPending: 1000 } };
    expect(
      nextAtCapProbe(base({ rates: rates(100, [{ replicas: 6, at: at(100) }]), state: other })).probe,
    ).toBeUndefined();
  });

  it(`starts at most one per ${PROBE_GAP_SECONDS} s`, () => {
    const started = nextAtCapProbe(base()).state;
    const ended = { startedAt: started.startedAt ?? 0 };
    const later = (seconds: number) =>
      nextAtCapProbe(
        base({
          state: ended,
          rates: rates(100, [{ replicas: 6, at: at(100 + seconds) }], at(100 + seconds)),
          sample: { at: at(100 + seconds), pending: 5000, ackPending: 100, maxAckPending: 100 },
          now: at(100 + seconds),
        }),
      ).probe;
    expect(later(PROBE_GAP_SECONDS - 1)).toBeUndefined();
    expect(later(PROBE_GAP_SECONDS)).toBeDefined();
  });

  it('a probe under way ends when the user changes max_ack_pending, after PROBE_MAX_SECONDS, or with room at the smaller count', () => {
    const { state } = nextAtCapProbe(base());
    const goesOn = (over: Partial<AtCapProbeInput>) => nextAtCapProbe(base({ state, ...over })).probe;
    const reading = (seconds: number, o: { ackPending?: number; maxAckPending?: number } = {}) => ({
      sample: {
        at: at(100 + seconds),
        pending: 5000,
        ackPending: o.ackPending ?? 100,
        maxAckPending: o.maxAckPending ?? 100,
      },
      now: at(100 + seconds),
    });
    expect(goesOn({ ...reading(10), current: 3, ready: 3 })).toBeDefined();
    expect(
      goesOn({ ...reading(10, { maxAckPending: 1000, ackPending: 300 }), current: 3, ready: 3 }),
    ).toBeUndefined();
    expect(goesOn({ ...reading(PROBE_MAX_SECONDS + 1), current: 3, ready: 3 })).toBeUndefined();
    expect(goesOn({ ...reading(10, { ackPending: 50 }), current: 3, ready: 3 })).toBeUndefined();
    // Room while the replicas taken away have not left the ready count yet says nothing.
    expect(goesOn({ ...reading(2, { ackPending: 50 }), current: 3, ready: 6 })).toBeDefined();
  });

  it('a probe under way ends at the first record at the smaller count that falls short beyond its noise', () => {
    const { state } = nextAtCapProbe(base());
    // 6 replicas at 10/s for 20 s; 3 read for 4 s since the probe began.
    const withThree = (perSecond: number): RateState =>
      ({
        last: { at: at(110) },
        atCap: {
          maxAckPending: 100,
          throughput: [
            { replicas: 3, perSecond, seconds: 4, at: at(110) },
            { replicas: 6, perSecond: 10, seconds: 20, at: at(100) },
          ],
        },
      }) as unknown as RateState;
    const goesOn = (perSecond: number) =>
      nextAtCapProbe(
        base({
          state,
          rates: withThree(perSecond),
          sample: { at: at(110), pending: 5000, ackPending: 100, maxAckPending: 100 },
          current: 3,
          ready: 3,
          now: at(110),
        }),
      ).probe;
    // 2/s: 8 messages, at most 4.1/s at 3 sigma, short of the 8/s binding at 3 needs (6's 10/s, at
    // least 7.9/s, over 1 + a quarter of the gain): the replicas go back.
    expect(goesOn(2)).toBeUndefined();
    // 8/s: as much as binding needs, within the noise of 32 messages: it goes on to SATURATION_MIN_SECONDS.
    expect(goesOn(8)).toBeDefined();
  });

  it('reads back only what it wrote', () => {
    expect(asAtCapProbeState(undefined)).toBeUndefined();
    expect(asAtCapProbeState({ startedAt: 'x', active: { from: 2, to: 3 } })).toEqual({});
    const state = nextAtCapProbe(base()).state;
    expect(asAtCapProbeState(JSON.parse(JSON.stringify(state)))).toEqual(state);
  });
});
