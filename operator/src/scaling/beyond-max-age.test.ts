// Handlers slower than the stream's max_age (session 33's finding): every message expires while a
// handler still holds it, whatever the count, and what the operator reads (num_pending falling by
// expiry, num_ack_pending, the acked rate) looked like demand: a push consumer at 10/s with 3.2 s
// handlers on max_age 3 s went from 1 to maxReplicas 30, and so did nats.go Consume(). The world
// next to it must still scale: handlers faster than max_age, too few replicas to take each message
// in time. What tells them apart is the stream itself: an acknowledgement removes a message from
// wherever it is, an expiry only from the front, so a message acknowledged before it expired
// leaves a gap between first_seq and last_seq (num_deleted), and a replica added with an empty
// buffer acknowledges its first messages at once when its handler is faster than max_age.
import {
  acknowledgedInside,
  extendTakenRun,
  takenShowsFaster,
  takenShowsSlower,
  validTakenRun,
} from './beyond-max-age.js';
import { withScalingDefaults } from './defaults.js';
import { expiryViolations, expiryWorld } from './test/fuzz-world.js';
import {
  natsGoConsume,
  natsGoFetch10,
  natsJsConsume,
  natsPyFetch,
  natsPyPush,
  runScenario,
} from './test/pull-clients.js';
import type { PullClient, Reading } from './test/pull-clients.js';

const world = (
  client: PullClient,
  handlerSeconds: number,
  perSecond: number,
  durationSeconds = 600,
): Reading[] =>
  runScenario({
    client,
    spec: withScalingDefaults({ minReplicas: 1, maxReplicas: 30, backlogPerReplica: 100 }),
    maxAckPending: 1000,
    handlerPerSecond: 1 / handlerSeconds,
    arrival: () => perSecond,
    initialReplicas: 1,
    initialPending: 0,
    startupSeconds: 5,
    durationSeconds,
    pollSeconds: 1,
    maxAgeSeconds: 3,
    ...(client.push === true ? { randomPushSeed: 3 } : {}),
  });

/** How many times the replica count changed. */
const changes = (r: readonly Reading[]): number =>
  r.filter((x, i) => i > 0 && x.replicas !== r[i - 1]?.replicas).length;

describe('acknowledgedInside: messages acknowledged before they expired, from the stream state', () => {
  it('counts the sequences between first_seq and last_seq no longer stored', () => {
    expect(
      acknowledgedInside({ messages: 27, bytes: 2700, lastSeq: 130, firstSeq: 101, oldestAgeSeconds: 3 }),
    ).toBe(3);
    // Limits remove from the front only: no gap, nothing shown acknowledged.
    expect(
      acknowledgedInside({ messages: 30, bytes: 3000, lastSeq: 130, firstSeq: 101, oldestAgeSeconds: 3 }),
    ).toBe(0);
    // An empty stream: first_seq is last_seq + 1.
    expect(
      acknowledgedInside({ messages: 0, bytes: 0, lastSeq: 130, firstSeq: 131, oldestAgeSeconds: 0 }),
    ).toBe(0);
  });

  it('is unknown without first_seq, and with counters that do not add up', () => {
    expect(
      acknowledgedInside({ messages: 27, bytes: 2700, lastSeq: 130, oldestAgeSeconds: 3 }),
    ).toBeUndefined();
    expect(
      acknowledgedInside({ messages: 40, bytes: 4000, lastSeq: 130, firstSeq: 101, oldestAgeSeconds: 3 }),
    ).toBeUndefined();
    expect(
      acknowledgedInside({ messages: 27, bytes: 2700, lastSeq: 130, firstSeq: 101.5, oldestAgeSeconds: 3 }),
    ).toBeUndefined();
  });
});

describe('handlers slower than max_age: more replicas cannot help, and none are added past one probe', () => {
  it.each([
    ['a push consumer (deliver group)', 3.2, 10, natsPyPush],
    ['a push consumer (deliver group)', 30, 10, natsPyPush],
    ['a push consumer (deliver group)', 3.2, 2, natsPyPush],
    ['nats.go Consume()', 3.2, 10, natsGoConsume],
    ['nats.go Consume()', 30, 10, natsGoConsume],
    ['nats.js consume()', 3.2, 2, natsJsConsume],
  ] as const)('%s, %d s handlers on max_age 3 s, %d/s', (_, handlerSeconds, perSecond, client) => {
    const r = world(client, handlerSeconds, perSecond);
    // Nothing is ever acknowledged: every message expires in a handler.
    expect(r.at(-1)?.completed).toBe(0);
    // Main: 1 -> 30 at 10/s (push, nats.go), 1 -> 6-7 at 2/s. One replica added to see whether a
    // replica with nothing in hand acknowledges anything, then held.
    expect(Math.max(...r.map((x) => x.replicas))).toBeLessThanOrEqual(2);
    expect(new Set(r.filter((x) => x.t >= 300).map((x) => x.replicas)).size).toBe(1);
    expect(r.at(-1)?.decision.handlersSlowerThanMaxAge).toBeDefined();
  });

  it('nats.js consume() at 10/s, 30 s handlers: messages wait at the server and expire there; held, no flap', () => {
    // Each replica holds its 100 expired messages and asks for more only at 75, so work waits and
    // expires at the server (2c's first part, not in hand). Until session 36 2c took one more after
    // 20 s of it and went back to 1 some 15 s later, over and over (33 changes in 600 s): a replica
    // that took 25 every 750 s was not shown to take more than one message per max_age.
    const r = world(natsJsConsume, 30, 10);
    expect(r.at(-1)?.completed).toBe(0);
    expect(Math.max(...r.map((x) => x.replicas))).toBeLessThanOrEqual(2);
    expect(changes(r)).toBeLessThanOrEqual(1);
  });

  it('says why, with what to change, and tells it once (push, 3.2 s handlers, 10/s)', () => {
    const r = world(natsPyPush, 3.2, 10);
    const said = r.filter((x) => x.decision.handlersSlowerThanMaxAge !== undefined);
    expect(said.length).toBeGreaterThan(0);
    // Said from the first minute on, and at every reading after.
    expect(said[0]?.t).toBeLessThan(60);
    expect(r.filter((x) => x.t >= (said[0]?.t ?? 0)).every((x) => x.decision.handlersSlowerThanMaxAge)).toBe(
      true,
    );
    const last = said.at(-1)?.decision.handlersSlowerThanMaxAge;
    expect(last?.message).toMatch(/longer than the stream's max_age/);
    expect(last?.message).toMatch(/more replicas cannot help/);
    expect(last?.message).toMatch(/raise the stream's max_age or speed the handler/);
    expect(said.filter((x) => x.decision.handlersSlowerThanMaxAge?.started === true)).toHaveLength(1);
    // What held the count, where the expiry asked for more.
    const held = r.filter((x) => x.decision.limitedBy === 'HandlersSlowerThanMaxAge');
    expect(held.length).toBeGreaterThan(0);
    expect(held.at(-1)?.decision.reason).toMatch(/handlers take longer than the stream's max_age/);
  });
});

describe('handlers faster than max_age, too few replicas: still scaled up', () => {
  it.each([
    ['a push consumer (deliver group)', 1, 10, 10, natsPyPush],
    ['a push consumer (deliver group)', 0.25, 20, 5, natsPyPush],
    ['nats.go Consume()', 1, 10, 10, natsGoConsume],
    ['nats.go Consume()', 0.25, 20, 5, natsGoConsume],
  ] as const)(
    '%s, %d s handlers on max_age 3 s, %d/s: at least %d',
    (_, handlerSeconds, perSecond, needed, client) => {
      const r = world(client, handlerSeconds, perSecond);
      expect(r.at(-1)?.replicas).toBeGreaterThanOrEqual(needed);
      expect(r.every((x) => x.decision.handlersSlowerThanMaxAge === undefined)).toBe(true);
      expect(r.every((x) => x.decision.limitedBy !== 'HandlersSlowerThanMaxAge')).toBe(true);
    },
  );
});

describe('handlers that change speed: the finding follows what the stream shows', () => {
  const changing = (before: number, after: number, at: number, rollout = false): Reading[] =>
    runScenario({
      ...(rollout ? { rolloutAt: at } : {}),
      client: natsPyPush,
      spec: withScalingDefaults({ minReplicas: 1, maxReplicas: 30, backlogPerReplica: 100 }),
      maxAckPending: 1000,
      handlerPerSecond: (t) => (t < at ? 1 / before : 1 / after),
      arrival: () => 10,
      initialReplicas: 1,
      initialPending: 0,
      startupSeconds: 5,
      durationSeconds: 900,
      pollSeconds: 1,
      maxAgeSeconds: 3,
      randomPushSeed: 3,
    });

  it('slower than max_age, then a fix of 0.5 s handlers rolled out at 300 s: held, then scaled to what takes each in time', () => {
    // (A handler that gets faster in place, a downstream that recovers, is seen only once a replica
    // acknowledges again: those held work through the expired messages pushed to them first, ~1,400
    // each here. A rollout starts replicas with nothing in hand.)
    const r = changing(3.2, 0.5, 300, true);
    expect(Math.max(...r.filter((x) => x.t < 300).map((x) => x.replicas))).toBeLessThanOrEqual(2);
    expect(r.find((x) => x.t >= 299)?.decision.handlersSlowerThanMaxAge).toBeDefined();
    // 10/s at 2/s each: 5 at least, once the replicas' old buffers are worked through.
    expect(r.at(-1)?.replicas).toBeGreaterThanOrEqual(5);
    expect(r.filter((x) => x.t >= 600).every((x) => x.decision.handlersSlowerThanMaxAge === undefined)).toBe(
      true,
    );
  });

  it('faster than max_age, then 3.2 s from 300 s (a slow release): no more than one replica more than before', () => {
    const r = changing(1, 3.2, 300);
    const before = r.find((x) => x.t >= 299)?.replicas ?? 0;
    expect(before).toBeGreaterThanOrEqual(10);
    expect(Math.max(...r.filter((x) => x.t >= 300).map((x) => x.replicas))).toBeLessThanOrEqual(before + 1);
    expect(r.at(-1)?.decision.handlersSlowerThanMaxAge).toBeDefined();
  });
});

describe('over operator restarts: the finding is carried in status, and no new process adds a trial replica', () => {
  // Four restarts (a rollout of the operator, failovers) after the finding, through the
  // controller's own status writer and reader (test/operator-restart.ts). Before the finding was
  // carried, every new process took one more trial step: 2 -> 6 over the four.
  const restarting = (client: PullClient, handlerSeconds: number, perSecond: number): Reading[] =>
    runScenario({
      client,
      spec: withScalingDefaults({ minReplicas: 1, maxReplicas: 30, backlogPerReplica: 100 }),
      maxAckPending: 1000,
      handlerPerSecond: 1 / handlerSeconds,
      arrival: () => perSecond,
      initialReplicas: 1,
      initialPending: 0,
      startupSeconds: 5,
      durationSeconds: 600,
      pollSeconds: 1,
      maxAgeSeconds: 3,
      restartAt: [150, 250, 350, 450],
      ...(client.push === true ? { randomPushSeed: 3 } : {}),
    });

  it.each([
    ['a push consumer (deliver group)', 3.2, natsPyPush],
    ['nats.go Consume()', 3.2, natsGoConsume],
  ] as const)('%s, %d s handlers on max_age 3 s, 10/s: held at 2 throughout', (_, handlerSeconds, client) => {
    const r = restarting(client, handlerSeconds, 10);
    expect(r.at(-1)?.completed).toBe(0);
    expect(Math.max(...r.map((x) => x.replicas))).toBeLessThanOrEqual(2);
    // Every new process says why from its first reading on.
    for (const at of [150, 250, 350, 450])
      expect(r.find((x) => x.t >= at)?.decision.handlersSlowerThanMaxAge).toBeDefined();
    expect(r.at(-1)?.decision.handlersSlowerThanMaxAge).toBeDefined();
  });

  it('expiry world 35903 (nats.go Consume(), 10 s handlers on max_age 5 s, 2/s, restarts at 315 and 404 s): held at 2', () => {
    // The new process's first reading has no arrival rate: 10 waiting at 2/s, the oldest 4.6 s old,
    // read against the edge for an unknown rate (0.95 x max_age) as acknowledged, and the finding was
    // dropped: 2 -> 1, then trial steps again, 3 at 418 s (main: 5).
    const r = runScenario(expiryWorld(35903).scenario);
    expect(Math.max(...r.map((x) => x.replicas))).toBeLessThanOrEqual(2);
    expect(r.find((x) => x.t >= 315)?.decision.handlersSlowerThanMaxAge).toBeDefined();
  });

  it('handlers faster than max_age with too few replicas still scale across the same restarts', () => {
    const r = restarting(natsPyPush, 1, 10);
    expect(r.at(-1)?.replicas).toBeGreaterThanOrEqual(10);
    expect(r.every((x) => x.decision.handlersSlowerThanMaxAge === undefined)).toBe(true);
  });
});

// Messages that wait and expire at the server (fetch loops; buffered clients that ask again only as
// their handlers free room): every replica takes the oldest waiting, a moment short of max_age, and
// each expires in its hands whatever the handler, so the stream shows no acknowledgement either way.
// Sized at what each replica took (2c byTaken), fetch loops with handlers slower than max_age
// climbed to maxReplicas (session 35's expiry worlds 35914, 35915), and the figure, read only from
// intervals that took something, read a replica taking one message per 1.5 s as one a second.
describe('messages expiring at the server: steps only once each replica takes more than one per max_age', () => {
  const atServer = (
    client: PullClient,
    handlerSeconds: number,
    perSecond: number,
    maxAgeSeconds: number,
  ): Reading[] =>
    runScenario({
      client,
      spec: withScalingDefaults({ minReplicas: 1, maxReplicas: 30, backlogPerReplica: 100 }),
      maxAckPending: 1000,
      handlerPerSecond: 1 / handlerSeconds,
      arrival: () => perSecond,
      initialReplicas: 1,
      initialPending: 0,
      startupSeconds: 5,
      durationSeconds: 600,
      pollSeconds: 1,
      maxAgeSeconds,
    });

  it.each([
    // main: 1 -> 30 (maxReplicas)
    ['nats.py fetch(1)', 20, 10, 2, natsPyFetch],
    // main: 1 <-> 2 every ~18 s
    ['nats.go Fetch(10)', 10, 5, 5, natsGoFetch10],
    ['nats.py fetch(1)', 6, 10, 3, natsPyFetch],
  ] as const)(
    '%s, %d s handlers, %d/s on max_age %d s: nothing taken in time, no replica added',
    (_, handlerSeconds, perSecond, maxAgeSeconds, client) => {
      const r = atServer(client, handlerSeconds, perSecond, maxAgeSeconds);
      expect(r.at(-1)?.completed).toBe(0);
      // The backlog (arrivals x max_age at 100 per replica) asks 1.
      expect(Math.max(...r.map((x) => x.replicas))).toBe(1);
    },
  );

  it.each([
    // main: 1 <-> 2 every ~18 s, 3 of ~6,000 messages completed (session 35's table: 10 take
    // about 7/s, 20 all of them).
    ['nats.js consume()', 1, 10, 3, 10, natsJsConsume],
    ['nats.js consume()', 0.25, 20, 3, 5, natsJsConsume],
    ['nats.py fetch(1)', 0.5, 10, 2, 5, natsPyFetch],
    ['nats.go Fetch(10)', 0.5, 20, 5, 10, natsGoFetch10],
  ] as const)(
    '%s, %d s handlers, %d/s on max_age %d s (too few replicas): at least %d by the end, no flapping',
    (_, handlerSeconds, perSecond, maxAgeSeconds, needed, client) => {
      const r = atServer(client, handlerSeconds, perSecond, maxAgeSeconds);
      expect(Math.min(...r.filter((x) => x.t >= 500).map((x) => x.replicas))).toBeGreaterThanOrEqual(needed);
      expect(changes(r)).toBeLessThanOrEqual(6);
      expect(r.every((x) => x.decision.handlersSlowerThanMaxAge === undefined)).toBe(true);
    },
  );

  it.each([
    // slow, main's most: 30 (maxReplicas), 10, 7, 22, 24
    35915, 36007, 35924, 36013, 36113,
    // fast, main: flaps 1 <-> 2 (36120: nats.go Fetch(10) 0.9 s on max_age 3 s, 5/s), and 8 where 8 are needed (36019)
    36120,
    36019,
  ])('expiry world %d: what the expiry fuzz asks (decide.fuzz FUZZ_EXPIRY=1)', (seed) => {
    const w = expiryWorld(seed);
    expect(expiryViolations(w, runScenario(w.scenario))).toEqual([]);
  });
});

describe('TakenRun: what the replicas took while messages expired at the server', () => {
  const run = (seconds: number, deliveries: number, largest: number, replicas = 1) => ({
    since: 0,
    replicas,
    seconds,
    deliveries,
    largest,
  });

  it('extends a run of the same replicas, and begins another for other replicas', () => {
    const a = extendTakenRun(undefined, { since: 5, replicas: 2, seconds: 1, deliveries: 3 });
    expect(a).toEqual({ since: 5, replicas: 2, seconds: 1, deliveries: 3, largest: 3 });
    const b = extendTakenRun(a, { since: 6, replicas: 2, seconds: 2, deliveries: 0 });
    expect(b).toEqual({ since: 5, replicas: 2, seconds: 3, deliveries: 3, largest: 3 });
    expect(extendTakenRun(b, { since: 8, replicas: 3, seconds: 1, deliveries: 1 })).toEqual({
      since: 8,
      replicas: 3,
      seconds: 1,
      deliveries: 1,
      largest: 1,
    });
  });

  it('faster: more than one per max_age each beyond the largest batch; a first batch alone is not', () => {
    // A fetch(1) loop with 0.5 s handlers on max_age 2 s: 20 in 10 s.
    expect(takenShowsFaster(run(10, 20, 1), 2)).toBe(true);
    // With 2.2 s handlers: 5 in 10 s, one at once; 4 x 2 < 10.
    expect(takenShowsFaster(run(10, 5, 1), 2)).toBe(false);
    // A Fetch(10) loop's first batch, 10 at once: shows nothing.
    expect(takenShowsFaster(run(2, 10, 10), 5)).toBe(false);
    expect(takenShowsFaster(run(0, 10, 1), 5)).toBe(false);
  });

  it('slower: for the confirmation time, something taken, fewer than one per twice max_age each', () => {
    // 20 s handlers on max_age 2 s, 3 replicas: 3 in 15 s.
    expect(takenShowsSlower(run(15, 3, 1, 3), 2)).toBe(true);
    // Too short a run.
    expect(takenShowsSlower(run(10, 1, 1, 3), 2)).toBe(false);
    // Nothing taken at all (paused, hung): not read as slow handlers.
    expect(takenShowsSlower(run(60, 0, 0, 3), 2)).toBe(false);
    // One batch of 10 from a Fetch(10) loop with 1.8 s handlers on max_age 3 s in 31 s: 10 x 3 x 2 > 31.
    expect(takenShowsSlower(run(31, 10, 10), 3)).toBe(false);
  });

  it('reads back only whole, finite, non-negative figures', () => {
    expect(validTakenRun(run(3, 2, 1))).toEqual(run(3, 2, 1));
    expect(validTakenRun({ ...run(3, 2, 1), replicas: 0 })).toBeUndefined();
    expect(validTakenRun({ ...run(3, 2, 1), replicas: 1.5 })).toBeUndefined();
    expect(validTakenRun({ ...run(3, 2, 1), deliveries: -1 })).toBeUndefined();
    expect(validTakenRun({ ...run(3, 2, 1), seconds: Number.NaN })).toBeUndefined();
    expect(validTakenRun({ ...run(3, 2, 1), since: 'x' })).toBeUndefined();
    expect(validTakenRun(null)).toBeUndefined();
  });
});
