// Handlers slower than the stream's max_age (session 33's finding): every message expires while a
// handler still holds it, whatever the count, and what the operator reads (num_pending falling by
// expiry, num_ack_pending, the acked rate) looked like demand: a push consumer at 10/s with 3.2 s
// handlers on max_age 3 s went from 1 to maxReplicas 30, and so did nats.go Consume(). The world
// next to it must still scale: handlers faster than max_age, too few replicas to take each message
// in time. What tells them apart is the stream itself: an acknowledgement removes a message from
// wherever it is, an expiry only from the front, so a message acknowledged before it expired
// leaves a gap between first_seq and last_seq (num_deleted), and a replica added with an empty
// buffer acknowledges its first messages at once when its handler is faster than max_age.
import { acknowledgedInside } from './beyond-max-age.js';
import { withScalingDefaults } from './defaults.js';
import { expiryWorld } from './test/fuzz-world.js';
import { natsGoConsume, natsJsConsume, natsPyPush, runScenario } from './test/pull-clients.js';
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

  it('nats.js consume() at 10/s, 30 s handlers: messages wait at the server and expire there; no climb', () => {
    // Each replica holds its 100 expired messages and asks for more only at 75, so work waits and
    // expires at the server (2c's first part, not in hand): main and this alike take one more after
    // 20 s of it and go back to 1 some 15 s later, over and over (not fixed here: see the session's
    // report). No more than that.
    const r = world(natsJsConsume, 30, 10);
    expect(r.at(-1)?.completed).toBe(0);
    expect(Math.max(...r.map((x) => x.replicas))).toBeLessThanOrEqual(2);
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
