// A small model of JetStream pull clients with their libraries' default prefetch, a consumer and a
// Deployment, driven by decide(): the table tests of the policy against the clients people run.
// What it keeps from the real thing (read from the clients' sources):
// - nats.go jetstream Consume(): PullMaxMessages 500 per subscriber; asks again when fewer than
//   half (250) remain of what it asked for, topping up to 500 (jetstream/pull.go, setDefaults and
//   checkPending). Messages sit in the client's buffer, delivered and awaiting ack, until the
//   handler — one message at a time — gets to them.
// - nats.js consume(): max_messages 100, threshold 75 % (jetstream/src/consumer.ts, parseOptions).
// - nats.js fetch() (max_messages 100) and nats.go Fetch(n) in a loop: ask for a batch, handle it
//   one by one, ask again when it is done.
// - nats-server: delivers while fewer than max_ack_pending messages await ack, one message at a
//   time to the waiting pull requests in turn; an ack frees a slot for whichever request waits.
// Time advances in 10 ms steps (a slot freed by an ack is refilled within one step, about a
// round trip); readings are taken every `pollSeconds`.

import { decide, emptyHistory } from '../decide.js';
import type { BacklogSample, ScalingDecision, ScalingHistory, ScalingSpec } from '../types.js';
import { T0 } from './fixtures.js';

export interface PullClient {
  name: string;
  /** Messages the client keeps asked for or buffered. */
  prefetch: number;
  /** Asks again (topping up to `prefetch`) when what it holds or awaits falls to this. */
  refillAt: number;
  /** Handlers working at once, each on one held message. */
  concurrency: number;
}

export const natsGoConsume: PullClient = {
  name: 'nats.go Consume()',
  prefetch: 500,
  refillAt: 249,
  concurrency: 1,
};
export const natsJsConsume: PullClient = {
  name: 'nats.js consume()',
  prefetch: 100,
  refillAt: 75,
  concurrency: 1,
};
export const natsJsFetch: PullClient = {
  name: 'nats.js fetch() loop',
  prefetch: 100,
  refillAt: 0,
  concurrency: 1,
};
export const natsGoFetch10: PullClient = {
  name: 'nats.go Fetch(10) loop',
  prefetch: 10,
  refillAt: 0,
  concurrency: 1,
};

export interface Scenario {
  client: PullClient;
  spec: ScalingSpec;
  maxAckPending: number;
  /** Messages per second one handler completes. */
  handlerPerSecond: number;
  /** Arrivals per second at simulated second t. */
  arrival: (t: number) => number;
  initialReplicas: number;
  initialPending: number;
  startupSeconds: number;
  durationSeconds: number;
  pollSeconds?: number;
}

interface Pod {
  readyAt: number;
  held: number;
  /** Asked for and not yet delivered. */
  requested: number;
  /** Fractional progress of the handlers. */
  progress: number;
}

export interface Reading {
  t: number;
  replicas: number;
  ready: number;
  pending: number;
  ackPending: number;
  decision: ScalingDecision;
}

export function runScenario(sc: Scenario): Reading[] {
  const dt = 0.01;
  const poll = sc.pollSeconds ?? 5;
  const pods: Pod[] = [];
  const addPod = (readyAt: number): void => {
    pods.push({ readyAt, held: 0, requested: 0, progress: 0 });
  };
  for (let i = 0; i < sc.initialReplicas; i++) addPod(0);
  let pending = sc.initialPending;
  let delivered = 0;
  let arrivalCarry = 0;
  let rotate = 0;
  let history: ScalingHistory = emptyHistory();
  const readings: Reading[] = [];
  const steps = Math.round(sc.durationSeconds / dt);
  const pollSteps = Math.round(poll / dt);
  const ready: Pod[] = [];
  const open: Pod[] = [];
  for (let step = 0; step <= steps; step++) {
    const t = step * dt;
    ready.length = 0;
    let ackPending = 0;
    for (const p of pods) {
      ackPending += p.held;
      if (p.readyAt <= t) ready.push(p);
    }

    if (step % pollSteps === 0) {
      const sample: BacklogSample = {
        at: T0 + Math.round(t * 1000),
        pending,
        ackPending,
        redelivered: 0,
        waiting: ready.filter((p) => p.requested > 0).length,
        deliveredConsumerSeq: delivered,
        deliveredStreamSeq: delivered,
        ackFloorConsumerSeq: delivered - ackPending,
        maxAckPending: sc.maxAckPending,
      };
      const decision = decide({
        spec: sc.spec,
        sample,
        currentReplicas: pods.length,
        readyReplicas: ready.length,
        history,
        now: sample.at,
      });
      history = decision.history;
      readings.push({ t, replicas: pods.length, ready: ready.length, pending, ackPending, decision });
      while (pods.length < decision.desiredReplicas) addPod(t + sc.startupSeconds);
      if (pods.length > decision.desiredReplicas) {
        // Removed pods (newest first) hand back what they held: redelivered later, here at once.
        for (const gone of pods.splice(decision.desiredReplicas)) {
          pending += gone.held;
          ackPending -= gone.held;
        }
        const kept = new Set(pods);
        for (let i = ready.length - 1; i >= 0; i--) {
          const p = ready[i];
          if (p !== undefined && !kept.has(p)) ready.splice(i, 1);
        }
      }
    }

    // Arrivals (whole messages).
    arrivalCarry += sc.arrival(t) * dt;
    const arrived = Math.floor(arrivalCarry);
    arrivalCarry -= arrived;
    pending += arrived;

    // Clients ask again when what they hold and await falls to their threshold.
    for (const p of ready) {
      if (p.held + p.requested <= sc.client.refillAt) p.requested = sc.client.prefetch - p.held;
    }

    // The server delivers to the waiting requests in turn, while slots and messages last.
    let free = sc.maxAckPending > 0 ? sc.maxAckPending - ackPending : Infinity;
    for (;;) {
      open.length = 0;
      for (const p of ready) if (p.requested > 0) open.push(p);
      if (pending <= 0 || free <= 0 || open.length === 0) break;
      const share = Math.max(1, Math.floor(Math.min(pending, free) / open.length));
      for (let i = 0; i < open.length && pending > 0 && free > 0; i++) {
        const p = open[(i + rotate) % open.length];
        if (p === undefined) continue;
        const n = Math.min(share, p.requested, pending, free);
        p.requested -= n;
        p.held += n;
        pending -= n;
        free -= n;
        delivered += n;
      }
      rotate++;
    }

    // Handlers: `concurrency` at a time, each at handlerPerSecond.
    for (const p of ready) {
      if (p.held === 0) continue;
      p.progress += Math.min(p.held, sc.client.concurrency) * sc.handlerPerSecond * dt;
      const done = Math.min(p.held, Math.floor(p.progress));
      p.held -= done;
      p.progress = p.held === 0 ? 0 : p.progress - done;
    }
  }
  return readings;
}
