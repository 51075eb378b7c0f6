// Specifies the reconciler with fake Kubernetes, NATS and policy: one change per poll, failures
// that leave replicas alone, fallback after the threshold and back, and status written only when
// it changed.
import { jest } from '@jest/globals';
import type { EventConsumerObject, EventConsumerStatus } from '../api/v1alpha1/event-consumer.js';
import { BacklogError } from '../backlog/backlog-error.js';
import type { BacklogReading } from '../backlog/backlog-source.js';
import { FencedError, KubeApiError, type RequestOptions } from '../kube/api-client.js';
import { ScaleError, type ScaleReading } from '../kube/scale-client.js';
import { createLogger, silentLogger, type Logger } from '../observability/logger.js';
import { OperatorMetrics } from '../observability/metrics.js';
import type { BacklogSample } from '../scaling/types.js';
import { LATE_WRITE_WATCH_MS, Reconciler } from './reconciler.js';
import type { StatusPatchOp } from './report.js';

const KEY = 'ns/orders';

/** The status a status write carries: the value of its JSON Patch's `add /status`, after its uid test. */
function statusOf(body: unknown): EventConsumerStatus {
  const ops = (body as Array<StatusPatchOp | { op: 'test'; path: '/status/writtenBy' }>).filter(
    (o) => o.path !== '/status/writtenBy',
  ) as StatusPatchOp[];
  expect(ops.map((o) => `${o.op} ${o.path}`)).toEqual(['test /metadata/uid', 'add /status']);
  const add = ops.find((o) => o.op === 'add');
  if (add?.op !== 'add') throw new Error('no add /status in the status patch');
  return add.value;
}

function sample(pending: number, at: number): BacklogSample {
  return {
    at,
    pending,
    ackPending: 0,
    redelivered: 0,
    waiting: 0,
    deliveredConsumerSeq: 0,
    deliveredStreamSeq: 0,
    ackFloorConsumerSeq: 0,
    maxAckPending: 1000,
  };
}

/**
 * A reconciler over a fake world. By default time is injected (`now`, moved 5 s per poll); with
 * `processClocks` the reconciler is built without clocks and runs on the process's own, as in
 * production, and the test moves those (see 'on the process clocks' below).
 */
function setup(
  spec: Record<string, unknown> = {},
  options: {
    processClocks?: boolean;
    statusReadingsPerSecond?: number;
    cacheAnswers?: boolean;
    /** This process and term, as status.writtenBy shows it (ReconcilerDeps.writer). */
    writer?: string;
    /** The status the EventConsumer carries when the reconciler first sees it. */
    status?: EventConsumerStatus;
    /**
     * ReconcilerDeps.lateWriteWatchMs: 0 unless a test is about it (the cache tests count reads
     * from the first poll); 'default' leaves the Reconciler's own.
     */
    lateWriteWatchMs?: number | 'default';
    logger?: Logger;
  } = {},
) {
  let now = 1_000_000;
  let object: EventConsumerObject = {
    metadata: { name: 'orders', namespace: 'ns', generation: 1, uid: 'u1' },
    spec: {
      scaleTargetRef: { name: 'worker' },
      nats: { servers: ['nats://x:4222'], stream: 'S', consumer: 'c' },
      pollInterval: '5s',
      ...spec,
    },
    ...(options.status === undefined ? {} : { status: options.status }),
  };
  const world = {
    replicas: 2,
    /** status.readyReplicas of "worker"; undefined: a kind whose /scale does not say (not a Deployment). */
    ready: 2 as number | undefined,
    /** Replicas of targets other than "worker", by name. */
    others: {} as Record<string, number>,
    /** The target's resourceVersion: bumped by every change, checked by every write. */
    version: 1,
    /** Who owns spec.replicas of "worker" (managedFields), as its reading says; undefined: not said. */
    manager: undefined as ScaleReading['replicasManager'],
    /** The controller ownerReference of "worker", as its reading says; undefined: none. */
    controller: undefined as ScaleReading['controller'],
    /** Reads of the target, and whether each asked for a fresh (etcd) read. */
    reads: [] as boolean[],
    /** Runs once, just before the next write is checked: a change by someone else. */
    interleave: undefined as (() => void) | undefined,
    /** Thrown by the next write (/scale or status), as the fenced API client would. */
    fence: undefined as Error | undefined,
    reading: undefined as BacklogReading | undefined,
    scaleError: undefined as ScaleError | undefined,
    /** Thrown by every /scale write while set (an admission webhook or RBAC refusing it). */
    writeError: undefined as ScaleError | undefined,
    patches: [] as number[],
    statusWrites: [] as EventConsumerStatus[],
    /** The path of each status write, in the same order. */
    statusPaths: [] as string[],
    /** While set, a status PATCH waits for this before it is answered (a slow API server). */
    statusAnswer: undefined as Promise<void> | undefined,
    events: [] as string[],
    /** The message of each Warning Event, in order. */
    warnings: [] as string[],
    /** Readings by stream (several consumers); world.reading for any other. */
    byStream: {} as Record<string, BacklogReading>,
    /** Owners of the backlog sources opened and closed. */
    opened: [] as string[],
    closed: [] as string[],
    /** While set, an HPA of that name also scales "worker" (the EventConsumer yields it). */
    hpa: undefined as string | undefined,
    /** What a GET of the EventConsumer answers (etcd's copy): the cached object unless set; 'gone' = 404. */
    stored: undefined as EventConsumerObject | 'gone' | undefined,
    /** Objects handed to the cache as newer than it (cache.answered). */
    answered: [] as EventConsumerObject[],
    /** The cache ignores what it is answered (the supervisor while stopped or not synced). */
    cacheIgnoresAnswers: false,
  };
  const metrics = new OperatorMetrics({ processMetrics: false });
  const reconciler = new Reconciler({
    cache:
      options.cacheAnswers === false
        ? { get: () => object }
        : {
            get: () => object,
            // As the informer supervisor does: a newer generation replaces the cached object
            // (unless it ignores answers: stopped, or not synced yet).
            answered: (o) => {
              world.answered.push(o);
              if (
                !world.cacheIgnoresAnswers &&
                (o.metadata?.generation ?? 0) > (object.metadata?.generation ?? 0)
              )
                object = o;
            },
          },
    autoscalers: {
      on: async (namespace, target) =>
        world.hpa !== undefined && target.name === 'worker'
          ? [{ kind: 'HorizontalPodAutoscaler', namespace, name: world.hpa }]
          : [],
    },
    api: {
      request: async <T>(method: string, path: string, options?: RequestOptions): Promise<T> => {
        if (world.fence) throw world.fence;
        if (method === 'GET' && path.endsWith('/eventconsumers/orders')) {
          if (world.stored === 'gone')
            throw new KubeApiError(404, 'NotFound', 'eventconsumers "orders" not found');
          return (world.stored ?? object) as T;
        }
        if (path.endsWith('/status')) {
          world.statusWrites.push(statusOf(options?.body));
          world.statusPaths.push(path);
          if (world.statusAnswer) await world.statusAnswer;
        }
        return {} as T;
      },
    },
    scale: {
      get: async (_ns, ref, options): Promise<ScaleReading> => {
        if (world.scaleError) throw world.scaleError;
        world.reads.push(options?.fresh === true);
        const replicas = ref.name === 'worker' ? world.replicas : (world.others[ref.name] ?? 0);
        const ready = ref.name === 'worker' ? world.ready : replicas;
        return {
          specReplicas: replicas,
          statusReplicas: replicas,
          ...(ready === undefined ? {} : { readyReplicas: ready }),
          ...(ref.name === 'worker' && world.manager !== undefined ? { replicasManager: world.manager } : {}),
          ...(ref.name === 'worker' && world.controller !== undefined
            ? { controller: world.controller }
            : {}),
          resourceVersion: String(world.version),
        };
      },
      setReplicas: async (_ns, ref, replicas, resourceVersion) => {
        if (world.fence) throw world.fence;
        if (world.writeError) throw world.writeError;
        const interleave = world.interleave;
        world.interleave = undefined;
        interleave?.();
        if (resourceVersion !== String(world.version))
          throw new ScaleError('Conflict', `${ref.name} changed since it was read`);
        world.version++;
        world.patches.push(replicas);
        if (ref.name === 'worker') world.replicas = replicas;
        else world.others[ref.name] = replicas;
        return replicas;
      },
    },
    secrets: { read: async () => undefined },
    backlog: {
      open: (owner, _servers, _credentials, ref) => {
        world.opened.push(owner);
        return {
          read: async () =>
            world.byStream[ref.stream] ?? world.reading ?? { ok: true, sample: sample(0, now) },
          close: () => void world.closed.push(owner),
        };
      },
    },
    events: {
      normal: (_t, reason) => world.events.push(reason),
      warning: (_t, reason, message) => {
        world.events.push(reason);
        world.warnings.push(message);
      },
      forget: () => undefined,
    },
    metrics,
    logger: options.logger ?? silentLogger,
    ...(options.lateWriteWatchMs === 'default' ? {} : { lateWriteWatchMs: options.lateWriteWatchMs ?? 0 }),
    ...(options.processClocks ? {} : { now: () => now, wallClock: () => now }),
    ...(options.statusReadingsPerSecond === undefined
      ? {}
      : { statusReadingsPerSecond: options.statusReadingsPerSecond }),
    ...(options.writer === undefined ? {} : { writer: options.writer }),
  });
  const poll = async (reading?: BacklogReading, advanceMs = 5000) => {
    world.reading = reading;
    const result = await reconciler.reconcile(KEY);
    await reconciler.statusSettled();
    now += advanceMs;
    return result;
  };
  /** Replaces the cached object (an update, or a new object under the same name). */
  const replace = (change: (old: EventConsumerObject) => EventConsumerObject) => {
    object = change(object);
  };
  return {
    world,
    poll,
    replace,
    metrics,
    reconciler,
    at: () => now,
    advance: (ms: number) => void (now += ms),
  };
}

const unreachable: BacklogReading = {
  ok: false,
  error: new BacklogError('Unreachable', 'cannot connect to NATS at nats://x:4222'),
};

describe('Reconciler', () => {
  it('scales to what the backlog needs, with one PATCH and a Scaled event, and reads again after 1 s (adaptive poll)', async () => {
    const { world, poll, at } = setup();
    const result = await poll({ ok: true, sample: sample(450, at()) });
    expect(world.patches).toEqual([5]);
    expect(world.events).toContain('Scaled');
    // The replica count just changed: the policy asks to read again within a second.
    expect(result.requeueAfterMs).toBe(1000);
    expect(world.statusWrites.at(-1)).toMatchObject({
      desiredReplicas: 5,
      backlog: { pending: 450, total: 450 },
    });
  });

  it('exports the target’s ready replicas beside desired and current, and no ready series for a kind that does not report them', async () => {
    const { world, poll, at, metrics } = setup();
    world.ready = 1;
    await poll({ ok: true, sample: sample(0, at()) });
    const series = async () =>
      (await metrics.readyReplicas.get()).values.map((v) => ({ labels: v.labels, value: v.value }));
    expect(await series()).toEqual([{ labels: { namespace: 'ns', name: 'orders' }, value: 1 }]);
    world.ready = undefined;
    await poll({ ok: true, sample: sample(0, at()) });
    expect(await series()).toEqual([]);
  });

  it('requeues after the poll interval once nothing moves', async () => {
    const { world, poll, at } = setup();
    world.replicas = 1;
    let result = await poll({ ok: true, sample: sample(0, at()) });
    for (let i = 0; i < 4; i++) result = await poll({ ok: true, sample: sample(0, at()) });
    expect(world.patches).toEqual([]);
    expect(result.requeueAfterMs).toBe(5000);
  });

  it('after a failover holds the current size for the scale-down window before scaling down', async () => {
    const { world, poll, at } = setup({ behavior: { scaleDown: { stabilizationWindow: '60s' } } });
    world.replicas = 6;
    // A new leader's first 12 polls (55 s) see an empty backlog: the window still holds 6.
    for (let i = 0; i < 12; i++) await poll({ ok: true, sample: sample(0, at()) });
    expect(world.patches).toEqual([]);
    await poll({ ok: true, sample: sample(0, at()) });
    expect(world.patches.length).toBe(1);
    expect(world.patches[0]).toBeLessThan(6);
  });

  it('leaves replicas alone when the consumer is missing, whatever fallback says', async () => {
    const { world, poll } = setup({ fallback: { failureThreshold: 1, replicas: 9 } });
    const missing: BacklogReading = {
      ok: false,
      error: new BacklogError('ConsumerNotFound', 'consumer "c" does not exist on stream "S"'),
    };
    for (let i = 0; i < 3; i++) await poll(missing);
    expect(world.patches).toEqual([]);
    const status = world.statusWrites.at(-1);
    expect(status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'ConsumerNotFound',
    });
    expect(world.events).toContain('ConsumerNotFound');
  });

  it('leaves replicas alone when the target is missing', async () => {
    const { world, poll, at } = setup();
    world.scaleError = new ScaleError('TargetNotFound', 'Deployment ns/worker does not exist');
    await poll({ ok: true, sample: sample(10_000, at()) });
    expect(world.patches).toEqual([]);
    expect(world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe(
      'TargetNotFound',
    );
  });

  it('holds replicas while NATS is unreachable, then fallback.replicas after the threshold, then leaves fallback', async () => {
    const { world, poll, at } = setup({ fallback: { failureThreshold: 3, replicas: 6 } });
    // Polls 5 s apart: the third failed poll comes 10 s after the first, short of fallback's 20 s
    // (decide.ts FALLBACK_MIN_OUTAGE_SECONDS); the fifth, 20 s after it, falls back.
    for (let i = 0; i < 4; i++) await poll(unreachable);
    expect(world.patches).toEqual([]);
    await poll(unreachable);
    expect(world.patches).toEqual([6]);
    expect(world.events).toContain('FallbackStarted');
    expect(world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'Fallback')?.status).toBe('True');
    await poll({ ok: true, sample: sample(150, at()) });
    expect(world.events).toContain('FallbackEnded');
    const status = world.statusWrites.at(-1);
    expect(status?.consecutiveFailures).toBe(0);
    expect(status?.conditions?.find((c) => c.type === 'Fallback')?.status).toBe('False');
  });

  it('holds replicas without fallback.replicas however many polls fail', async () => {
    const { world, poll } = setup();
    for (let i = 0; i < 37; i++) await poll(unreachable);
    expect(world.patches).toEqual([]);
    // The first failure is written at once; the count after that is a reading, written every
    // 120-180 s (polls every 5 s: the 25th to the 37th), so a dead NATS does not cost a write per poll.
    const written = world.statusWrites.map((s) => s.consecutiveFailures ?? 0);
    expect(written).toHaveLength(2);
    expect(written[0]).toBe(1);
    expect(written[1]).toBeGreaterThanOrEqual(25);
    expect(written[1]).toBeLessThanOrEqual(37);
  });

  it('while busy reads a settled target once per pollInterval however fast the adaptive poll reads the consumer', async () => {
    const { world, poll, at } = setup();
    // 200 pending at 100 per replica: the 2 replicas there are what is needed; nothing changes.
    for (let i = 0; i < 20; i++) await poll({ ok: true, sample: sample(200, at()) }, 1000);
    expect(world.patches).toEqual([]);
    // 20 s of 1 s polls: read at 0, 5, 10 and 15 s (before: at every poll, 20 reads).
    expect(world.reads).toHaveLength(4);
    // A change is read again at the next poll, and at every poll until the pods settle.
    const before = world.reads.length;
    await poll({ ok: true, sample: sample(450, at()) }, 1000);
    expect(world.patches).toEqual([5]);
    await poll({ ok: true, sample: sample(450, at()) }, 1000);
    expect(world.reads.length).toBe(before + 2);
  });

  it('does not rewrite an unchanged status on every poll', async () => {
    const { world, poll, at } = setup({
      minReplicas: 2,
      behavior: { scaleDown: { stabilizationWindow: '60s' } },
    });
    // The first poll writes; the rates learned at the second are readings (due 120-180 s later),
    // but the end of the 60 s stabilization window (ScalingLimited: MinReplicas) is written at
    // once, and carries them.
    for (let i = 0; i < 14; i++) await poll({ ok: true, sample: sample(0, at()) });
    expect(world.statusWrites).toHaveLength(2);
    expect(world.statusWrites[1]?.conditions?.find((c) => c.type === 'ScalingLimited')?.reason).toBe(
      'MinReplicas',
    );
    expect(world.statusWrites[1]?.rates).toEqual({ arrivalPerSecond: 0, processingPerSecond: 0 });
    const written = world.statusWrites.length;
    for (let i = 0; i < 5; i++) await poll({ ok: true, sample: sample(0, at()) });
    expect(world.patches).toEqual([]);
    expect(world.statusWrites).toHaveLength(written);
    // A change users act on (Active becomes True) is written at once.
    await poll({ ok: true, sample: sample(30, at()) });
    expect(world.statusWrites).toHaveLength(written + 1);
    expect(world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'Active')?.status).toBe('True');
  });

  it('writes a busy EventConsumer’s numbers every 2-3 min, a backlog that changed its order of magnitude after 30-45 s, and says when they were read', async () => {
    const { world, poll, at } = setup({ maxReplicas: 3 });
    // 60 s at a 5 s poll: the backlog grows at every poll (within 1,000-9,999) while replicas stay at the maximum.
    const readAt = new Map<number, string>();
    const busy = async (total: number) => {
      readAt.set(total, new Date(at()).toISOString());
      await poll({ ok: true, sample: sample(total, at()) });
    };
    for (let i = 0; i < 12; i++) await busy(1000 + 100 * i);
    expect(world.patches).toEqual([3]);
    // Before: a write at every poll (12). Now: the first and the scale; the numbers are readings.
    expect(world.statusWrites).toHaveLength(2);
    // The backlog reaches 10,000: another order of magnitude, written at the next poll.
    await busy(10_000);
    expect(world.statusWrites).toHaveLength(3);
    // What status shows was read when it says it was.
    for (const written of world.statusWrites) {
      expect(written.lastBacklogReadTime).toBe(readAt.get(written.backlog?.total ?? -1));
      expect(written.lastBacklogReadTime).toBe(written.lastPollTime);
    }
    // Within the band the numbers wait for the rates cadence (120-180 s after the last write).
    for (let i = 0; i < 23; i++) await busy(10_001 + i);
    expect(world.statusWrites).toHaveLength(3);
    for (let i = 0; i < 13; i++) await busy(10_100 + i);
    expect(world.statusWrites).toHaveLength(4);
  });

  it('never holds a poll or its /scale write behind a status PATCH: a slow API server delays status only', async () => {
    const { world, reconciler, at } = setup();
    world.statusAnswer = new Promise<void>(() => undefined); // never answered
    world.reading = { ok: true, sample: sample(450, at()) };
    const first = await Promise.race([
      reconciler.reconcile(KEY).then(() => 'done'),
      new Promise((r) => setTimeout(() => r('still waiting on the status PATCH'), 2000)),
    ]);
    expect(first).toBe('done');
    expect(world.patches).toEqual([5]);
    expect(world.statusWrites).toHaveLength(1);
  });

  it('busy EventConsumers whose polls run late write readings within the budget, oldest status first, not at every poll', async () => {
    const budget = 0.25; // readings-only writes a second, all EventConsumers together
    const { world, reconciler, at, advance } = setup({ maxReplicas: 3 }, { statusReadingsPerSecond: budget });
    // Every one busy and at its maximum (3 ready of 3): nothing users act on changes, only numbers.
    world.replicas = 3;
    world.ready = 3;
    const keys = Array.from({ length: 60 }, (_, i) => `ns/ec${i}`);
    const roundMs = 50_000; // each polled 50 s apart: 45 s late at a 5 s pollInterval
    let backlog = 1000;
    const round = async () => {
      for (const key of keys) {
        world.reading = { ok: true, sample: sample(backlog++, at()) };
        await reconciler.reconcile(key);
        await reconciler.statusSettled();
        advance(roundMs / keys.length);
      }
    };
    await round(); // every first status is written
    expect(world.statusWrites).toHaveLength(keys.length);
    // Then the policy learns rates and sizes: conditions change (written at once, in the state lane).
    for (let r = 0; r < 3; r++) await round();
    const first = world.statusWrites.length;
    const rounds = 10;
    for (let r = 0; r < rounds; r++) await round();
    const readings = world.statusWrites.length - first;
    const seconds = (rounds * roundMs) / 1000;
    // Before: every late poll was due a write (60 a round, 600). Now: at most the budget, and it
    // is used (the rates cadence alone would allow about 200).
    expect(readings).toBeLessThanOrEqual(budget * seconds + 1);
    expect(readings).toBeGreaterThanOrEqual(0.6 * budget * seconds);
    // Fairly: every EventConsumer got its numbers rewritten (the oldest status goes first).
    const rewritten = new Set(world.statusPaths.slice(first));
    expect(
      keys.filter(
        (k) => !rewritten.has(`/apis/jetscale.io/v1alpha1/namespaces/ns/eventconsumers/${k.slice(3)}/status`),
      ),
    ).toEqual([]);
  });

  it('on failure says what is unknown instead of showing the last good conditions', async () => {
    const { world, poll, at } = setup();
    await poll({ ok: true, sample: sample(450, at()) });
    const readAt = world.statusWrites.at(-1)?.lastBacklogReadTime;
    await poll(unreachable);
    const failed = world.statusWrites.at(-1);
    const cond = (type: string) => failed?.conditions?.find((c) => c.type === type);
    expect(cond('Ready')?.status).toBe('False');
    expect(cond('MetricsAvailable')?.status).toBe('False');
    expect(cond('Active')?.status).toBe('Unknown');
    expect(cond('ScalingLimited')?.status).toBe('Unknown');
    // The last good backlog stays, with the time it was read; the poll time moves on.
    expect(failed?.backlog?.total).toBe(450);
    expect(failed?.lastBacklogReadTime).toBe(readAt);
    expect(failed?.lastPollTime).not.toBe(readAt);
    // A missing target: nothing was read at all.
    world.scaleError = new ScaleError('TargetNotFound', 'Deployment ns/worker does not exist');
    await poll({ ok: true, sample: sample(450, at()) });
    const missing = world.statusWrites.at(-1);
    expect(missing?.conditions?.find((c) => c.type === 'MetricsAvailable')?.status).toBe('Unknown');
    expect(missing?.conditions?.find((c) => c.type === 'Active')?.status).toBe('Unknown');
  });

  it('says fallback is not configured (not "below the threshold") when fallback.replicas is unset', async () => {
    const { world, poll } = setup({ fallback: { failureThreshold: 3 } });
    for (let i = 0; i < 6; i++) await poll(unreachable);
    const fallback = world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'Fallback');
    expect(fallback?.reason).toBe('NotConfigured');
    expect(fallback?.message).toContain('spec.fallback.replicas is not set');
  });

  it('says which cause makes the consumer active', async () => {
    const { world, poll, at } = setup({ activationBacklog: 10 });
    await poll({ ok: true, sample: { ...sample(0, at()), ackPending: 10 } });
    const active = world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'Active');
    expect(active?.status).toBe('True');
    expect(active?.reason).toBe('AwaitingAck');
    expect(active?.message).not.toContain('is above activationBacklog');
  });

  it('reads but does not scale while paused', async () => {
    const { world, poll, at } = setup({ paused: true });
    await poll({ ok: true, sample: sample(900, at()) });
    expect(world.patches).toEqual([]);
    const status = world.statusWrites.at(-1);
    expect(status?.conditions?.find((c) => c.type === 'Paused')?.status).toBe('True');
    expect(status?.backlog?.total).toBe(900);
  });

  it('while paused writes the replicas it would ask for as a reading: a backlog that keeps growing does not rewrite status at every poll', async () => {
    // Found by make bench-operator (1,000 busy, paused EventConsumers): the would-be count climbed
    // with each backlog, and every step was written at once as if users acted on it (~600/min).
    const { world, poll, at } = setup({ paused: true, maxReplicas: 50 });
    world.replicas = 2;
    world.ready = 2;
    const desired: number[] = [];
    for (let i = 0; i < 12; i++) {
      await poll({ ok: true, sample: sample(1000 + 400 * i, at()) });
      desired.push(world.statusWrites.at(-1)?.desiredReplicas ?? -1);
    }
    expect(world.patches).toEqual([]);
    // The count it would ask for moved (the test means something) ...
    expect(new Set(desired).size).toBeGreaterThan(1);
    // ... and was written at most at the readings cadence: the first status, and one 30-45 s later
    // when the backlog reached another order of magnitude (10,000 at the 23rd poll is past this test).
    expect(world.statusWrites.length).toBeLessThanOrEqual(3);
  });

  it('while paused reads at the poll interval: a policy that disagrees with the held replicas is not movement', async () => {
    // Found by make bench-operator: paused EventConsumers polled every second for as long as the
    // policy wanted another count, which it does for as long as they are paused.
    for (const pause of [{ paused: true }, { pausedReplicas: 2 }]) {
      const { world, poll, at } = setup(pause);
      world.replicas = 2;
      let result = await poll({ ok: true, sample: sample(900, at()) });
      for (let i = 0; i < 3; i++) result = await poll({ ok: true, sample: sample(900, at()) });
      expect({ pause, patches: world.patches, requeueAfterMs: result.requeueAfterMs }).toEqual({
        pause,
        patches: [],
        requeueAfterMs: 5000,
      });
    }
  });

  it('backs off to the poll interval while the /scale write keeps failing, instead of retrying every second', async () => {
    const { world, poll, at } = setup();
    world.writeError = new ScaleError(
      'Forbidden',
      'deployments.apps "worker" is forbidden: denied by a webhook',
    );
    let result = await poll({ ok: true, sample: sample(900, at()) });
    for (let i = 0; i < 3; i++) result = await poll({ ok: true, sample: sample(900, at()) });
    expect(world.events.filter((e) => e !== 'Scaled').length).toBeGreaterThan(0);
    expect(result.requeueAfterMs).toBe(5000);
  });

  it('reads the target again after a /scale write whose outcome is unknown (let go unanswered), before writing again', async () => {
    const { world, poll, at } = setup();
    await poll({ ok: true, sample: sample(0, at()) }, 1000);
    expect(world.reads).toHaveLength(1);
    // Busy within the poll interval: the settled reading is used again, and the write based on it
    // is let go unanswered (slow-requests.ts): the API server may yet apply it.
    world.writeError = new ScaleError('Slow', 'the API server does not answer requests about worker in time');
    await poll({ ok: true, sample: sample(450, at()) }, 1000);
    expect(world.reads).toHaveLength(1);
    expect(world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('TargetSlow');
    world.writeError = undefined;
    await poll({ ok: true, sample: sample(450, at()) }, 1000);
    expect(world.reads).toHaveLength(2);
    expect(world.patches).toEqual([5]);
  });

  it('shows a spec fix in the condition message at the next reconcile, not at the readings cadence', async () => {
    const { world, poll, at, replace } = setup({ maxReplicas: 3 });
    await poll({ ok: true, sample: sample(800, at()) });
    await poll({ ok: true, sample: sample(800, at()) });
    const limited = () =>
      world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'ScalingLimited')?.message ?? '';
    expect(limited()).toContain('capped by maxReplicas 3');
    const writes = world.statusWrites.length;
    // Only the message changes (still limited by maxReplicas, same reason): written at once all the same.
    replace(
      (o) =>
        ({
          ...o,
          metadata: { ...o.metadata, generation: 2 },
          spec: { ...(o.spec as Record<string, unknown>), maxReplicas: 4 },
        }) as typeof o,
    );
    await poll({ ok: true, sample: sample(800, at()) }, 1000);
    expect(world.statusWrites).toHaveLength(writes + 1);
    expect(world.statusWrites.at(-1)?.observedGeneration).toBe(2);
    expect(limited()).toContain('capped by maxReplicas 4');
  });

  it('writes a Ready message whose words changed at the next poll, the reason and generation the same (credentials fixed, refused for another cause)', async () => {
    const { world, poll } = setup();
    const refused: BacklogReading = {
      ok: false,
      error: new BacklogError(
        'Unauthorized',
        'NATS at nats://x:4222 refused the credentials (Authorization Violation): check the auth Secret',
      ),
    };
    // The Secret fixed: the server takes the user now, but the user may not read the consumer.
    const denied: BacklogReading = {
      ok: false,
      error: new BacklogError(
        'Unauthorized',
        'not allowed to read consumer "c" on stream "S" at n1 (Permissions Violation for Publish to "$JS.API.CONSUMER.INFO.S.c"): grant the user publish on $JS.API.CONSUMER.INFO.S.c',
      ),
    };
    const ready = () => world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'Ready');
    await poll(refused);
    await poll(refused);
    expect(world.statusWrites).toHaveLength(1);
    expect(ready()?.message).toContain('refused the credentials');
    await poll(denied);
    expect(world.statusWrites).toHaveLength(2);
    expect(ready()?.reason).toBe('NatsUnauthorized');
    expect(ready()?.message).toContain('grant the user publish');
  });

  it('writes an outage message naming another node at the next poll; one whose numbers alone changed keeps the readings cadence', async () => {
    const { world, poll } = setup();
    const noLeader = (node: string, ms: number): BacklogReading => ({
      ok: false,
      error: new BacklogError(
        'Unreachable',
        `JetStream at ${node} has no leader for consumer "c" on stream "S" right now (no answer within ${ms} ms): a node restarting or an election takes seconds`,
      ),
    });
    const ready = () => world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'Ready')?.message;
    await poll(noLeader('nats-1', 2000));
    expect(world.statusWrites).toHaveLength(1);
    // Numbers only (a timeout, the count of failed polls in the Fallback message): not written yet.
    await poll(noLeader('nats-1', 1500));
    await poll(noLeader('nats-1', 2000));
    expect(world.statusWrites).toHaveLength(1);
    // Another node: what the user reads to find the fault changed.
    await poll(noLeader('nats-2', 2000));
    expect(world.statusWrites).toHaveLength(2);
    expect(ready()).toContain('JetStream at nats-2');
  });

  it('a new leadership term writes each status at its first poll though nothing in it changed; then as before', async () => {
    const idle = { ok: true, sample: sample(0, 1_000_000) } as const;
    const old = setup({}, { writer: 'old/aaaaaaaa' });
    await old.poll(idle);
    const stored = old.world.statusWrites.at(-1);
    expect(stored?.writtenBy).toBe('old/aaaaaaaa');
    // The same status, seen by the same term (a control: nothing else in it differs) and by a new one.
    const same = setup({}, { writer: 'old/aaaaaaaa', status: stored });
    await same.poll(idle);
    expect(same.world.statusWrites).toHaveLength(0);
    const next = setup({}, { writer: 'new/bbbbbbbb', status: stored });
    await next.poll(idle);
    expect(next.world.statusWrites.map((s) => s.writtenBy)).toEqual(['new/bbbbbbbb']);
    await next.poll({ ok: true, sample: sample(0, next.at()) });
    expect(next.world.statusWrites).toHaveLength(1);
  });

  it('reports an invalid spec without touching the target', async () => {
    const { world, poll } = setup({ minReplicas: -3 });
    const result = await poll();
    expect(world.patches).toEqual([]);
    expect(world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      reason: 'InvalidSpec',
    });
    expect(result.requeueAfterMs).toBeGreaterThan(0);
  });

  it('starts afresh for an EventConsumer deleted and recreated under the same name (new uid, same generation)', async () => {
    const { world, poll, replace, at } = setup({
      maxReplicas: 5,
      fallback: { failureThreshold: 2, replicas: 4 },
    });
    await poll({ ok: true, sample: sample(900, at()) });
    expect(world.replicas).toBe(5);
    await poll(unreachable);
    // The informer missed the delete: a relist shows a new object, generation 1 again, maxReplicas 3
    // (and fallback.replicas within it, as the CRD's CEL rule and the schema require).
    replace((old) => ({
      metadata: { name: 'orders', namespace: 'ns', generation: 1, uid: 'u2' },
      spec: {
        ...(old.spec as Record<string, unknown>),
        maxReplicas: 3,
        fallback: { failureThreshold: 2, replicas: 3 },
      },
    }));
    await poll({ ok: true, sample: sample(900, at()) });
    expect(world.replicas).toBe(3);
    const status = world.statusWrites.at(-1);
    expect(status?.consecutiveFailures).toBe(0);
    // One unreachable poll of the new object is its first failure, not the old object's second.
    await poll(unreachable);
    expect(world.statusWrites.at(-1)?.consecutiveFailures).toBe(1);
    expect(world.patches).toEqual([5, 3]);
  });

  it('starts a new history when scaleTargetRef points at another target', async () => {
    const { world, poll, replace, at } = setup({ behavior: { scaleDown: { stabilizationWindow: '300s' } } });
    await poll({ ok: true, sample: sample(800, at()) });
    expect(world.replicas).toBe(8);
    // The new target runs 10 replicas: its window must be seeded with 10, not hold the old
    // target's 8 (which would scale it down within the first poll).
    world.others.other = 10;
    replace((old) => ({
      ...old,
      metadata: { ...old.metadata, generation: 2 },
      spec: { ...(old.spec as Record<string, unknown>), scaleTargetRef: { name: 'other' } },
    }));
    for (let i = 0; i < 3; i++) await poll({ ok: true, sample: sample(50, at()) });
    expect(world.others.other).toBe(10);
    expect(world.patches).toEqual([8]);
  });

  it('takes a target back from another autoscaler as a new leader would: its size held for the scale-down window, no history from before', async () => {
    const { world, poll, at } = setup({ behavior: { scaleDown: { stabilizationWindow: '60s' } } });
    // Scaling "worker" at 2 replicas for a backlog of 200 (100 per replica).
    for (let i = 0; i < 3; i++) await poll({ ok: true, sample: sample(200, at()) });
    expect(world.patches).toEqual([]);
    // An HPA takes it over for ten minutes and leaves it at 10 replicas; the EventConsumer yields.
    world.hpa = 'cpu';
    for (let i = 0; i < 5; i++) await poll({ ok: true, sample: sample(200, at()) }, 120_000);
    expect(world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'Ready')?.reason).toBe(
      'TargetConflict',
    );
    world.replicas = 10;
    world.ready = 10;
    world.version++;
    // The HPA is deleted: 10 replicas are held for the scale-down window (60 s), as after a
    // failover, instead of halved at the first poll from a history ten minutes old.
    world.hpa = undefined;
    for (let i = 0; i < 11; i++) await poll({ ok: true, sample: sample(200, at()) });
    expect(world.patches).toEqual([]);
    for (let i = 0; i < 3; i++) await poll({ ok: true, sample: sample(200, at()) });
    expect(world.patches[0]).toBeLessThan(10);
  });

  it('yields a ReplicaSet its Deployment manages (scaleTargetRef from `kubectl get rs`): never written, TargetConflict naming the Deployment', async () => {
    // The Deployment controller sets a ReplicaSet's replicas from the Deployment at every change:
    // a /scale write is undone within milliseconds, then redone at the next poll as a change made
    // outside, and pods are started and stopped at every poll. Before, 2 -> 5 was written.
    const { world, poll, at } = setup({ scaleTargetRef: { kind: 'ReplicaSet', name: 'worker' } });
    world.controller = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' };
    for (let i = 0; i < 3; i++) await poll({ ok: true, sample: sample(450, at()) });
    expect(world.patches).toEqual([]);
    const ready = world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'TargetConflict' });
    expect(ready?.message).toContain('managed by Deployment web (apps/v1)');
    expect(ready?.message).toContain('kind Deployment, name web');
    expect(world.events).toContain('TargetConflict');
  });

  it('holds no bounds on a ReplicaSet its Deployment manages while the credentials cannot be read', async () => {
    // A poll whose Secret cannot be read still keeps a target of its own within min..maxReplicas
    // (replicasWithoutBacklog): not one whose replicas are its controller's.
    const broken = {
      scaleTargetRef: { kind: 'ReplicaSet', name: 'worker' },
      minReplicas: 3,
      nats: {
        servers: ['nats://x:4222'],
        stream: 'S',
        consumer: 'c',
        auth: { secretRef: { name: 'empty' } },
      },
    };
    const owned = setup(broken);
    owned.world.controller = { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' };
    await owned.poll({ ok: true, sample: sample(0, owned.at()) });
    expect(owned.world.patches).toEqual([]);
    const free = setup(broken);
    await free.poll({ ok: true, sample: sample(0, free.at()) });
    expect(free.world.patches).toEqual([3]);
  });

  it('scales a ReplicaSet nothing manages, and a Deployment an operator created (its controller named if replicas change outside)', async () => {
    const rs = setup({ scaleTargetRef: { kind: 'ReplicaSet', name: 'worker' } });
    await rs.poll({ ok: true, sample: sample(450, rs.at()) });
    expect(rs.world.patches).toEqual([5]);

    const { world, poll, at } = setup();
    world.controller = { apiVersion: 'example.com/v1', kind: 'Pipeline', name: 'etl' };
    await poll({ ok: true, sample: sample(450, at()) });
    expect(world.patches).toEqual([5]);
    // The operator sets 2 again: jetscale reports it, naming the controller that may have done so.
    world.replicas = 2;
    world.version++;
    await poll({ ok: true, sample: sample(450, at()) });
    expect(world.patches).toEqual([5, 5]);
    expect(world.warnings.find((m) => m.startsWith('spec.replicas of Deployment worker'))).toContain(
      'Pipeline etl manages this target (its controller ownerReference)',
    );
  });

  it('a writer that keeps setting the replicas (a GitOps sync): set back twice, left to it at the third change (TargetConflict naming it), taken back once it has been quiet 30 min', async () => {
    const { world, poll, at, advance, metrics } = setup();
    const busy = () => ({ ok: true as const, sample: sample(450, at()) });
    await poll(busy());
    expect(world.patches).toEqual([5]);
    const sync = () => {
      world.replicas = 2;
      world.version++;
      world.manager = { manager: 'argocd-controller', operation: 'Apply' };
    };
    for (let i = 0; i < 2; i++) {
      sync();
      await poll(busy());
    }
    expect(world.patches).toEqual([5, 5, 5]);
    expect(world.events.filter((e) => e === 'ReplicasChangedOutside')).toHaveLength(2);
    sync();
    await poll(busy());
    await poll(busy());
    // Before (80b776c): written again at each sync, [5, 5, 5, 5].
    expect(world.patches).toEqual([5, 5, 5]);
    expect(world.replicas).toBe(2);
    const ready = world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'TargetConflict' });
    expect(ready?.message).toMatch(
      /^field manager "argocd-controller" set spec\.replicas of Deployment worker 3 times in 30 min/,
    );
    // One Warning per poll here, the same words each time: the recorder sends it once per 10 min.
    const conflicts = world.warnings.filter((m) => m.startsWith('field manager "argocd-controller"'));
    expect(conflicts).toHaveLength(2);
    expect(new Set(conflicts).size).toBe(1);
    // Counted as a change outside three times (the alert's metric), then as TargetConflict polls.
    const errors = (await metrics.eventConsumerErrors.get()).values;
    expect(errors.find((v) => v.labels.reason === 'ReplicasChangedOutside')?.value).toBe(3);
    expect(errors.find((v) => v.labels.reason === 'TargetConflict')?.value).toBe(2);

    advance(29 * 60_000);
    await poll(busy());
    expect(world.patches).toEqual([5, 5, 5]);
    advance(60_000);
    await poll(busy());
    expect(world.patches).toEqual([5, 5, 5, 5]);
    expect(world.events).toContain('TargetTakenBack');
    expect(world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('on a 409 (the target changed since it was read) writes nothing else, re-reads from etcd and decides again at once', async () => {
    const { world, poll, at } = setup({ maxReplicas: 20 });
    await poll({ ok: true, sample: sample(0, at()) });
    const writes = world.statusWrites.length;
    const events = world.events.length;
    // Someone (a user, another controller) scales the target to 7 after our read, before our write.
    world.interleave = () => {
      world.replicas = 7;
      world.version++;
    };
    const scaleGet = world.reads.length;
    const result = await poll({ ok: true, sample: sample(1200, at()) });
    expect(world.reads.length).toBe(scaleGet + 1);
    expect(result.requeueAfterMs).toBe(0);
    expect(world.patches).toEqual([]);
    expect(world.statusWrites).toHaveLength(writes);
    expect(world.events).toHaveLength(events);
    // The retry reads from etcd, sees 7 and scales from there, with the version it read.
    const again = await poll({ ok: true, sample: sample(1200, at()) });
    expect(world.reads.at(-1)).toBe(true);
    expect(world.patches).toEqual([12]);
    expect(world.events.filter((e) => e === 'Scaled')).toHaveLength(1);
    expect(again.requeueAfterMs).toBeGreaterThan(0); // the poll interval (or the adaptive poll)
    const status = world.statusWrites.at(-1);
    expect(status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
  });

  it('a cached idle reading whose version went stale ends in a fresh read, not an error', async () => {
    const { world, poll, replace, at } = setup({ minReplicas: 1 });
    await poll({ ok: true, sample: sample(0, at()) });
    await poll({ ok: true, sample: sample(0, at()) });
    // The Deployment's status changed (new resourceVersion) while the operator served polls from its cache.
    world.version += 3;
    replace((old) => ({
      ...old,
      metadata: { ...old.metadata, generation: 2 },
      spec: { ...(old.spec as Record<string, unknown>), minReplicas: 4 },
    }));
    const first = await poll({ ok: true, sample: sample(0, at()) });
    expect(world.patches).toEqual([]);
    expect(first.requeueAfterMs).toBe(0);
    await poll({ ok: true, sample: sample(0, at()) });
    expect(world.patches).toEqual([4]);
    const ready = world.statusWrites.at(-1)?.conditions?.find((c) => c.type === 'Ready');
    expect(ready?.status).toBe('True');
    expect(world.events).not.toContain('ScaleConflict');
  });

  describe('a late write of the previous leader term (its writer frozen between its fence check and its send)', () => {
    /** A reconciler in a new term whose log is kept, with slow step policies both ways. */
    function newTerm(replicas: number) {
      const lines: Array<Record<string, unknown>> = [];
      const t = setup(
        {
          maxReplicas: 20,
          behavior: {
            scaleUp: { policies: [{ type: 'Pods', value: 1, period: '60s' }] },
            scaleDown: { policies: [{ type: 'Pods', value: 1, period: '60s' }] },
          },
        },
        {
          lateWriteWatchMs: 'default',
          logger: createLogger({
            level: 'info',
            write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>),
          }),
        },
      );
      t.world.replicas = replicas;
      t.world.ready = replicas;
      return { ...t, lines };
    }

    /** Lands on the API server: jetscale's field manager, a resourceVersion moved on. */
    function lands(world: ReturnType<typeof setup>['world'], replicas: number): void {
      world.replicas = replicas;
      world.ready = replicas;
      world.version++;
      world.manager = { manager: 'jetscale', operation: 'Update', subresource: 'scale' };
    }

    it.each([
      ['a scale-up (1 -> 8 while 1 is right)', 1, 0, 8],
      ['a scale-down (8 -> 1 while 8 is right)', 8, 800, 1],
    ])(
      '%s landing after the new term found nothing to change is undone at the next poll, not held by the step policies, and said for what it is',
      async (_, right, pending, late) => {
        const { world, poll, at, lines, metrics } = newTerm(right);
        await poll({ ok: true, sample: sample(pending, at()) }, 1000);
        expect(world.patches).toEqual([]);
        lands(world, late);
        await poll({ ok: true, sample: sample(pending, at()) }, 1000);
        // One step of 1 pod a minute would have given 7 (or 2).
        expect(world.patches).toEqual([right]);
        expect(world.events).toEqual(['Scaled']);
        const said = lines.find((l) => String(l.msg).includes('late write of the previous leader term'));
        expect(said).toMatchObject({ level: 'warn', from: right, to: late, manager: 'jetscale' });
        expect(lines.filter((l) => String(l.msg).includes('someone else'))).toEqual([]);
        const outside = (await metrics.eventConsumerErrors.get()).values.filter(
          (v) => v.labels.reason === 'ReplicasChangedOutside',
        );
        expect(outside).toEqual([]);
        // Counted for what it is, once.
        const counted = (await metrics.previousTermWrites.get()).values;
        expect(counted.map((v) => v.value)).toEqual([1]);
        expect(lines.find((l) => l.msg === 'scaled')?.why).toMatch(
          /undoing a late write of the previous leader term/,
        );
        // Then as before: nothing more to undo.
        await poll({ ok: true, sample: sample(pending, at()) }, 1000);
        expect(world.patches).toEqual([right]);
      },
    );

    it('a write of this term whose answer was lost, applied after all, is not taken for one', async () => {
      const { world, poll, at, lines, metrics } = newTerm(2);
      await poll({ ok: true, sample: sample(200, at()) }, 1000);
      world.writeError = new ScaleError(
        'Slow',
        'the API server does not answer requests about worker in time',
      );
      await poll({ ok: true, sample: sample(450, at()) }, 1000);
      world.writeError = undefined;
      lands(world, 3); // what the step policy let it ask for
      await poll({ ok: true, sample: sample(450, at()) }, 1000);
      expect(lines.filter((l) => String(l.msg).includes('late write'))).toEqual([]);
      expect((await metrics.previousTermWrites.get()).values.map((v) => v.value)).toEqual([]);
    });

    it('a new term reads the target at every poll for LATE_WRITE_WATCH_MS, or until it writes it; then from the cache again', async () => {
      const idle = newTerm(1);
      for (let s = 0; s < LATE_WRITE_WATCH_MS / 1000 + 10; s += 5)
        await idle.poll({ ok: true, sample: sample(0, idle.at()) }, 5000);
      // Polls at 0, 5, ..., 35 s: read at each within the first 30 s (0-25 s), then cached (a
      // 15-22.5 s refresh).
      expect(idle.world.reads.length).toBe(LATE_WRITE_WATCH_MS / 5000);
      const busy = newTerm(1);
      await busy.poll({ ok: true, sample: sample(150, busy.at()) }, 1000);
      expect(busy.world.patches).toEqual([2]);
      busy.world.ready = 2;
      // Its own write moved the resourceVersion on: a late write on an older reading gets 409.
      // Settled at 2, read once more (pods were starting), then once per pollInterval.
      for (let i = 0; i < 4; i++) await busy.poll({ ok: true, sample: sample(150, busy.at()) }, 1000);
      expect(busy.world.reads.length).toBe(2);
    });
  });

  it('stops quietly when a write is fenced (leadership ended): no status, no Event, no error', async () => {
    const { world, poll, at } = setup();
    await poll({ ok: true, sample: sample(0, at()) });
    const writes = world.statusWrites.length;
    const events = world.events.length;
    world.fence = new FencedError('TermEnded', 'the leadership term ended');
    const result = await poll({ ok: true, sample: sample(900, at()) });
    expect(result.requeueAfterMs).toBeGreaterThan(0);
    expect(world.patches).toEqual([]);
    expect(world.statusWrites).toHaveLength(writes);
    expect(world.events).toHaveLength(events);
    // Leading again: the decision is made afresh (nothing of the refused one was kept).
    world.fence = undefined;
    await poll({ ok: true, sample: sample(900, at()) });
    expect(world.patches).toEqual([9]);
  });
});

describe('Reconciler with several consumers', () => {
  const consumers = (...names: string[]) => ({
    nats: undefined,
    consumers: names.map((n) => ({
      name: n,
      servers: ['nats://x:4222'],
      stream: n.toUpperCase(),
      consumer: 'c',
    })),
  });

  it('reads each consumer through its own source, scales to the larger need and reports each one', async () => {
    const { world, poll, at } = setup(consumers('orders', 'refunds'));
    world.byStream.ORDERS = { ok: true, sample: sample(300, at()) };
    world.byStream.REFUNDS = { ok: true, sample: sample(800, at()) };
    await poll();
    expect(world.opened).toEqual(['ns/orders#orders', 'ns/orders#refunds']);
    expect(world.patches).toEqual([8]);
    const status = world.statusWrites.at(-1);
    expect(status?.backlog).toMatchObject({ pending: 1100, total: 1100 });
    expect(status?.consumers?.map((c) => [c.name, c.ready, c.backlog?.total, c.desiredReplicas])).toEqual([
      ['orders', 'True', 300, 3],
      ['refunds', 'True', 800, 8],
    ]);
  });

  it('keeps an unreadable consumer’s last numbers, holds replicas for it, and closes a removed one’s source', async () => {
    const { world, poll, replace, at } = setup(consumers('orders', 'refunds'));
    world.byStream.ORDERS = { ok: true, sample: sample(300, at()) };
    world.byStream.REFUNDS = { ok: true, sample: sample(800, at()) };
    await poll();
    world.byStream.REFUNDS = unreachable;
    world.byStream.ORDERS = { ok: true, sample: sample(0, at()) };
    await poll();
    expect(world.patches).toEqual([8]);
    const status = world.statusWrites.at(-1);
    expect(status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'NatsUnreachable',
    });
    expect(status?.consumers?.[1]).toMatchObject({
      name: 'refunds',
      ready: 'False',
      backlog: { total: 800 },
    });
    expect(status?.consecutiveFailures).toBe(1);
    replace((old) => ({
      ...old,
      metadata: { ...old.metadata, generation: 2 },
      spec: { ...(old.spec as Record<string, unknown>), ...consumers('orders') },
    }));
    await poll();
    expect(world.closed).toEqual(['ns/orders#refunds']);
    expect(world.statusWrites.at(-1)?.consumers?.map((c) => c.name)).toEqual(['orders']);
  });
});

describe('Reconciler on the process clocks: policy time is monotonic, the wall clock only for people', () => {
  // The process's two clocks, moved by the test: the wall clock (Date.now) steps as NTP or an
  // operator setting the date steps it; the monotonic clock (performance.now) only ever runs.
  let wall = Date.parse('2026-03-01T12:00:00Z');
  let monotonic = 50_000;
  beforeEach(() => {
    jest.spyOn(Date, 'now').mockImplementation(() => wall);
    jest.spyOn(performance, 'now').mockImplementation(() => monotonic);
  });
  afterEach(() => jest.restoreAllMocks());

  /** One poll, then both clocks run on 5 s (and the wall clock jumps by `jumpMs` after it). */
  function processClockSetup(spec: Record<string, unknown>) {
    const { world, poll } = setup(spec, { processClocks: true });
    return {
      world,
      poll: async (pending: number, jumpMs = 0) => {
        // The backlog source stamps its readings on the monotonic clock, as readConsumerBacklog does.
        await poll({ ok: true, sample: sample(pending, monotonic) });
        monotonic += 5000;
        wall += 5000 + jumpMs;
      },
    };
  }

  it('a wall clock jumping an hour ahead does not end the scale-down window early', async () => {
    const { world, poll } = processClockSetup({ behavior: { scaleDown: { stabilizationWindow: '300s' } } });
    await poll(800);
    expect(world.replicas).toBe(8);
    // The backlog is gone; the 300 s window holds 8. One poll in, the wall clock jumps an hour ahead.
    await poll(0, 3_600_000);
    for (let i = 0; i < 10; i++) await poll(0);
    // Work arrives again (Active turns True: status is written): still inside the window.
    const polledAt = wall;
    await poll(30);
    expect(world.patches).toEqual([8]);
    // What people read follows the wall clock they see.
    expect(world.statusWrites.at(-1)?.lastPollTime).toBe(new Date(polledAt).toISOString());
  });

  it('a wall clock jumping an hour back does not stretch the scale-down window by an hour', async () => {
    const { world, poll } = processClockSetup({ behavior: { scaleDown: { stabilizationWindow: '60s' } } });
    await poll(800);
    await poll(0, -3_600_000);
    // 70 s later on the monotonic clock the window is over, whatever the wall clock says.
    for (let i = 0; i < 14; i++) await poll(0);
    expect(world.patches.length).toBeGreaterThan(1);
    expect(world.patches.at(-1)).toBeLessThan(8);
  });

  it('several consumers decide and report the same with or without a wall-clock jump: rates and windows never mix the clocks', async () => {
    // Two consumers working through a backlog (each delivers and acknowledges 100 messages per
    // 5 s poll). Run once with a steady wall clock and once with it jumping an hour ahead and then
    // two hours back; everything but the times people read must come out the same.
    const run = async (jumps: Record<number, number>) => {
      const { world, poll } = setup(
        {
          nats: undefined,
          consumers: ['orders', 'refunds'].map((n) => ({
            name: n,
            servers: ['nats://x:4222'],
            stream: n.toUpperCase(),
            consumer: 'c',
          })),
          behavior: { scaleDown: { stabilizationWindow: '30s' } },
        },
        { processClocks: true },
      );
      // Each ready pod completes 10/s until the backlog is gone (12 s of 10 pods for orders' 1,200);
      // the pods asked for are ready by the next poll.
      const completed = { ORDERS: 0, REFUNDS: 0 };
      for (let i = 0; i < 24; i++) {
        const at = monotonic;
        const progress = (pending: number, done: number): BacklogReading => ({
          ok: true,
          sample: {
            ...sample(pending, at),
            deliveredConsumerSeq: done,
            deliveredStreamSeq: done,
            ackFloorConsumerSeq: done,
          },
        });
        world.byStream.ORDERS = progress(1200 - completed.ORDERS, completed.ORDERS);
        world.byStream.REFUNDS = progress(600 - completed.REFUNDS, completed.REFUNDS);
        await poll();
        world.ready = world.replicas;
        completed.ORDERS = Math.min(1200, completed.ORDERS + 50 * world.replicas);
        completed.REFUNDS = Math.min(600, completed.REFUNDS + 50 * world.replicas);
        monotonic += 5000;
        wall += 5000 + (jumps[i] ?? 0);
      }
      const withoutTimes = world.statusWrites.map((st) => ({
        ...st,
        lastPollTime: undefined,
        lastBacklogReadTime: undefined,
        lastScaleTime: undefined,
        // A record of wall-clock times, pruned by the wall clock (scale-up-record.ts), as
        // lastScaleTime is a wall-clock time: a jump moves which entries are still in it.
        scaleUps: undefined,
        lastActiveTime: undefined,
        consumers: st.consumers?.map((c) => ({ ...c, lastBacklogReadTime: undefined })),
        conditions: st.conditions?.map((c) => ({ ...c, lastTransitionTime: undefined })),
      }));
      return { patches: world.patches, statuses: withoutTimes };
    };
    // The refresh jitter is random per EventConsumer: the same in both runs.
    jest.spyOn(Math, 'random').mockReturnValue(0.25);
    const steady = await run({});
    const jumped = await run({ 3: 3_600_000, 9: -7_200_000 });
    expect(steady.patches.length).toBeGreaterThan(1);
    expect(steady.statuses.some((st) => (st.rates?.processingPerSecond ?? 0) > 0)).toBe(true);
    expect(jumped).toEqual(steady);
  });

  describe('before a /scale write, the stored EventConsumer (a watch that stalled silently)', () => {
    /** The EventConsumer as etcd holds it, one generation past the cached one (setup's), with `spec` changed. */
    const generation2 = (spec: Record<string, unknown> = {}): EventConsumerObject =>
      ({
        metadata: { name: 'orders', namespace: 'ns', generation: 2, uid: 'u1' },
        spec: {
          scaleTargetRef: { name: 'worker' },
          nats: { servers: ['nats://x:4222'], stream: 'S', consumer: 'c' },
          pollInterval: '5s',
          ...spec,
        },
      }) as EventConsumerObject;

    it('a newer generation stored: nothing written, the stored object goes to the cache, decided again at once', async () => {
      const { world, poll, at, replace } = setup();
      world.stored = generation2({ paused: true });
      const result = await poll({ ok: true, sample: sample(450, at()) });
      expect(world.patches).toEqual([]);
      expect(world.answered.map((o) => o.metadata?.generation)).toEqual([2]);
      expect(result.requeueAfterMs).toBe(0);
      // The cache now holds it (the supervisor's job): paused, so nothing is written.
      const stored = world.stored;
      replace(() => stored);
      await poll({ ok: true, sample: sample(450, at()) });
      expect(world.patches).toEqual([]);
    });

    it('a newer generation stored and a cache that cannot take it (no answered): next poll at the interval, not a hot loop', async () => {
      const { world, poll, at } = setup({}, { cacheAnswers: false });
      world.stored = generation2({ paused: true });
      // The cache still holds generation 1: an immediate requeue would decide the same verdict
      // from it, GET the same newer object and requeue at once again, for as long as the watch stalls.
      for (let i = 0; i < 3; i++) {
        const result = await poll({ ok: true, sample: sample(450, at()) }, 0);
        expect(world.patches).toEqual([]);
        // The normal delay (here the adaptive poll's 1 s while the backlog moves), never 0.
        expect(result.requeueAfterMs).toBeGreaterThanOrEqual(1000);
      }
    });

    it('a newer generation stored that the cache did not take (answered ignores it): next poll at the interval', async () => {
      // The supervisor ignores answers while it is stopped or not yet synced: the cache keeps
      // generation 1 though answered was called.
      const { world, poll, at } = setup();
      world.cacheIgnoresAnswers = true;
      world.stored = generation2();
      const result = await poll({ ok: true, sample: sample(450, at()) }, 0);
      expect(world.answered.map((o) => o.metadata?.generation)).toEqual([2]);
      expect(result.requeueAfterMs).toBeGreaterThanOrEqual(1000);
    });

    it('the same generation stored: written as decided', async () => {
      const { world, poll, at } = setup();
      await poll({ ok: true, sample: sample(450, at()) });
      expect(world.patches).toEqual([5]);
      expect(world.answered).toEqual([]);
    });

    it('deleted (404) or recreated (another uid): nothing written, next poll at the interval', async () => {
      for (const stored of [
        'gone',
        { metadata: { name: 'orders', namespace: 'ns', generation: 1, uid: 'u2' } },
      ] as const) {
        const { world, poll, at } = setup();
        world.stored = stored as EventConsumerObject | 'gone';
        const result = await poll({ ok: true, sample: sample(450, at()) });
        expect(world.patches).toEqual([]);
        expect(world.answered).toEqual([]);
        expect(result.requeueAfterMs).toBeGreaterThan(0);
      }
    });
  });
});
