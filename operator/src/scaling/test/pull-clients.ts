// A small model of JetStream pull clients with their libraries' default prefetch, a consumer and a
// Deployment, driven by decide(): the table tests of the policy against the clients people run.
// What it keeps from the real thing (read from the clients' and the server's sources; the default
// consume path of each library, at the commit named):
// - nats.go jetstream Consume(): PullMaxMessages 500 per subscriber. Its count of what it awaits
//   (asked for and not delivered, plus delivered and not yet handled: the count drops after the
//   handler returns) is topped up to 500 with a new pull request once it falls below 250
//   (jetstream/pull.go: setDefaults, the Consume handler, checkPending). Messages sit in the
//   client's buffer, delivered and awaiting ack, until the handler — one at a time — gets to them.
// - nats.js consume(): max_messages 100, threshold 75 % (jetstream/src/consumer.ts, parseOptions).
// - nats.js fetch() (max_messages 100) and nats.go Fetch(n) in a loop: ask for a batch, handle it
//   one by one, ask again when it is done.
// - nats.py 2.15.0 (nats-io/nats.py 06b6778, nats/src/nats/js/client.py): pull_subscribe() then
//   fetch() in a loop, fetch(batch=1, timeout=5) by default (PullSubscription.fetch, l. 1053-1101;
//   _fetch_one sends {"batch": 1, "expires": ...}): one message per round trip, nothing buffered.
//   jnats ConsumerContext.next() (fetch of 1) and NATS.Net NextAsync() (MaxMsgs = 1,
//   src/NATS.Client.JetStream/NatsJSConsumer.cs l. 184-210) have the same shape.
// - nats.py push subscribe(cb, queue=..., durable=...) (client.py l. 299-478): the server pushes up
//   to the consumer's max_ack_pending (1000 by default) to the deliver group, one member per
//   message; the client's own bound is pending_msgs_limit 524,288 (DEFAULT_JS_SUB_PENDING_MSGS_LIMIT,
//   l. 68), far above it; flow_control off by default (l. 310). No pull requests: num_waiting 0.
//   nats.go's QueueSubscribe on a push consumer is the same shape (real-clients.int runs it).
// - async-nats 0.49.1 (nats-io/nats.rs d00e6b5, async-nats/src/jetstream/consumer/pull.rs):
//   Consumer::messages() asks for batch 200 (l. 91-108) and asks for another 200 — added, not
//   topped up — whenever its count of messages asked for and not yet taken by the caller falls to
//   batch / 2 = 100 (Stream::poll_next, l. 1131-1153; the count drops as the caller takes each
//   message, l. 1234): up to 300 asked or buffered. Taken, not handled: one fewer than nats.go's count.
//   The crate's tag async-nats/v0.49.1 has the same lines (94, 1132, 1152, 1234).
// - jnats 2.26.3 (nats-io/nats.java 103c365): consume() and iterate() with ConsumeOptions'
//   DEFAULT_MESSAGE_COUNT 500 and DEFAULT_THRESHOLD_PERCENT 25 (BaseConsumeOptions.java l. 35-41):
//   re-pull threshold 500 - 125 = 375 (NatsMessageConsumer.java l. 52-56); the count of messages
//   not yet processed drops after the handler returns (updateProcessed, l. 92-103), and below 375
//   it is topped up to 500 (rePull, l. 188-201). fetch() with FetchConsumeOptions' defaults asks for
//   DEFAULT_MESSAGE_COUNT 500 (BaseConsumeOptions.java l. 64-67): a fetch loop of 500. The released
//   2.26.2 (tag 2.26.2, the real-client matrix's pin) has the same lines; consume()'s handler wrapper
//   calls updateProcessed in a finally after the handler (NatsMessageConsumer.java l. 145-153).
// - NATS.Net 3.1 (nats-io/nats.net 0033cfd): ConsumeAsync() with the context's DefaultConsumeOpts
//   MaxMsgs 1,000 (src/NATS.Client.JetStream/NatsJSOpts.cs l. 57) and ThresholdMsgs MaxMsgs / 2
//   (Internal/NatsJSOptsDefaults.cs, SetMax); the count drops after the caller's loop body returns
//   (NatsJSConsumer.cs l. 151-154, Delivered) and at <= 500 it is topped up to 1,000
//   (Internal/NatsJSConsume.cs l. 539-545). One replica alone can hold all of a default
//   max_ack_pending (1000).
// - nats-server (server/consumer.go, v2.12): pull requests wait in one queue; each message goes to
//   the request at its head, which then moves to the back (waitQueue.pop: one message per turn,
//   round robin over requests, not replicas); nothing is delivered while max_ack_pending messages
//   await ack (getNextMsg: errMaxAckPending), and an ack at the limit signals the delivery loop at
//   once (processAckMsg: needSignal), so a freed slot goes to the next request in turn — whichever
//   replica that is. A request expires after 30 s (the clients' default) and is asked again.
//   Measured on the real server (nats-server 2.12.15, nats.go Consume(), 50 ms handlers, a standing
//   backlog, max_ack_pending 20): 3 / 6 / 12 / 24 replicas completed 56 / 115 / 223 / 366 msg/s —
//   more replicas help until they outnumber max_ack_pending, then each adds less.
// Time advances in 10 ms steps (a slot freed by an ack is refilled within the step, about a
// round trip; a fetch loop asks for its next batch in the step after it handled the last, so its
// round trip is one step); readings are taken every `pollSeconds` (or when the decision asks:
// adaptivePoll), after the server's deliveries of the step.

import { decide, emptyHistory } from '../decide.js';
import type { BacklogSample, ScalingDecision, ScalingHistory, ScalingSpec } from '../types.js';
import { T0 } from './fixtures.js';
import { RestartedProcess, StatusTrail } from './operator-restart.js';
import { seededRng } from '../../../../test/seeded-rng.js';

export interface PullClient {
  name: string;
  /** Messages the client keeps asked for or buffered (Infinity: a push consumer's subscriber). */
  prefetch: number;
  /**
   * Asks again (topping up to `prefetch`) when what it holds or awaits falls to this. 0: a fetch
   * loop, which asks for its next batch once it has handled the last.
   */
  refillAt: number;
  /**
   * Handlers working at once, each on one held message: at most `prefetch`, as a handler works only
   * on what the client was delivered (realClientProblem).
   */
  concurrency: number;
  /**
   * Handlers take each message a time drawn at random (exponential, mean 1 / handlerPerSecond) and
   * acknowledge it when done, out of order: a slow one holds the ack floor while the messages
   * taken after it complete (async handlers: an HTTP call, a DB write). Absent: every handler
   * works at handlerPerSecond and the buffer is acknowledged in order.
   */
  outOfOrder?: true;
  /**
   * A push consumer with a deliver group: the server sends what max_ack_pending allows to the
   * group's members in turn, with no pull requests (num_waiting stays 0).
   */
  push?: true;
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

export const natsPyFetch: PullClient = {
  name: 'nats.py fetch() loop (batch 1)',
  prefetch: 1,
  refillAt: 0,
  concurrency: 1,
};
export const natsPyPush: PullClient = {
  name: 'nats.py push subscribe(queue)',
  prefetch: Infinity,
  refillAt: Infinity,
  concurrency: 1,
  push: true,
};
export const asyncNatsMessages: PullClient = {
  name: 'async-nats messages()',
  prefetch: 300,
  refillAt: 100,
  concurrency: 1,
};
export const jnatsConsume: PullClient = {
  name: 'jnats consume()',
  prefetch: 500,
  refillAt: 374,
  concurrency: 1,
};
export const jnatsFetch: PullClient = {
  name: 'jnats fetch() loop',
  prefetch: 500,
  refillAt: 0,
  concurrency: 1,
};
export const natsNetConsume: PullClient = {
  name: 'NATS.Net ConsumeAsync()',
  prefetch: 1000,
  refillAt: 500,
  concurrency: 1,
};

/** Every default consume path above, once per distinct shape. */
export const defaultClients: readonly PullClient[] = [
  natsGoConsume,
  natsJsConsume,
  natsJsFetch,
  natsGoFetch10,
  natsPyFetch,
  natsPyPush,
  asyncNatsMessages,
  jnatsConsume,
  jnatsFetch,
  natsNetConsume,
];

/**
 * Why `client` is no client anyone runs, or undefined when it is one: handlers at once a whole
 * number of at least 1 and at most what the client keeps asked for or buffered (`prefetch`), since
 * a handler works only on a message the client was delivered, and a refill mark within the
 * prefetch. nats.go Consume() ×400 would hold at most its 500; async-nats messages() with 400
 * handlers at most its 300 (the policy fuzzer's world 606016 drew that, and its pods could never
 * reach the pace it gave them). A user who runs more at once raises the client's batch with them.
 */
export function realClientProblem(client: PullClient): string | undefined {
  if (!Number.isInteger(client.concurrency) || client.concurrency < 1)
    return `${client.name}: concurrency ${client.concurrency} is not a whole number of at least 1`;
  if (client.concurrency > client.prefetch)
    return `${client.name}: ${client.concurrency} handlers at once, but the client holds at most its prefetch ${client.prefetch}`;
  if (!(client.refillAt >= 0) || client.refillAt > client.prefetch)
    return `${client.name}: refill mark ${client.refillAt} outside 0..prefetch ${client.prefetch}`;
  return undefined;
}

export interface Scenario {
  client: PullClient;
  spec: ScalingSpec;
  maxAckPending: number;
  /** Messages per second one handler completes (at simulated second t, when a function: a handler fixed mid-run). */
  handlerPerSecond: number | ((t: number) => number);
  /** Arrivals per second at simulated second t. */
  arrival: (t: number) => number;
  initialReplicas: number;
  initialPending: number;
  startupSeconds: number;
  durationSeconds: number;
  pollSeconds?: number;
  /**
   * Read again when the decision asks (its nextPollSeconds, at least 1 s), never later than
   * `pollSeconds`, as the reconciler does; without it, every `pollSeconds`.
   */
  adaptivePoll?: true;
  /**
   * A WorkQueue stream with this max_age: a message older is removed wherever it is, pending or
   * held (a held one leaves num_ack_pending as an acknowledgement does, and the ack floor moves past
   * it; the client still works on it, as a handler does on what it was given). Readings carry the
   * stream's state (BacklogSample.limitRemovals) as jetstream-backlog-source reads it.
   */
  maxAgeSeconds?: number;
  /**
   * A push consumer's deliver group: each message goes to a member picked at random (nats-server
   * picks a queue subscriber at random), from this seed, instead of in turn.
   */
  randomPushSeed?: number;
  /** Seeds an outOfOrder client's handling times (default 1). */
  seed?: number;
  /**
   * The consumer's ack_wait: a message delivered and not acknowledged for this long is delivered
   * again (to the request next in turn: a push deliver group's next member), while the client that
   * had it keeps its copy and its handler works on it in turn. An acknowledgement of any copy
   * counts while the message is not acknowledged yet: nats-server acknowledges by stream sequence
   * (consumer.go processAckMsg: `o.pending[sseq]`, whatever the delivery), and keeps the consumer
   * sequence of its first delivery for the ack floor (trackPending). Absent: no message expires
   * in a client's hands. Not with maxAgeSeconds or an outOfOrder client.
   */
  ackWaitSeconds?: number;
  /** The first pod's handlers stop for `seconds` from `at` (a stop-the-world pause, a hung call). */
  pause?: { at: number; seconds: number };
  /**
   * A rollout at this second (a fix deployed): every pod is replaced by one that starts with nothing
   * in hand (ready `startupSeconds` later), what the old ones held and is still in the stream is
   * delivered again, and what expired in their buffers is gone with them. With maxAgeSeconds only.
   */
  rolloutAt?: number;
  /**
   * The operator restarts (or its standby takes over) at these seconds: from the first reading at
   * or after each, the policy starts from what the EventConsumer's status carries only, through the
   * controller's own status writer and reader (operator-restart.ts).
   */
  restartAt?: readonly number[];
}

/** A pull request waiting at the server. */
interface PullRequest {
  pod: Pod;
  /** Messages it still asks for. */
  remaining: number;
  expiresAt: number;
}

interface Pod {
  readyAt: number;
  /** Messages the client holds (expired ones too, until its handlers reach them). */
  held: number;
  /** When each of `seqs` was stored in the stream (seconds), with maxAgeSeconds. */
  stored: number[];
  /** The first of `seqs` (from `head`) still in the stream, with maxAgeSeconds. */
  liveFrom: number;
  /**
   * The consumer sequences of what it holds, oldest first (`held` of them from `head`): a client
   * works through its buffer in order, so the ack floor is the oldest head's sequence less one.
   */
  seqs: number[];
  head: number;
  /** Its requests waiting at the server. */
  requests: PullRequest[];
  /** Fractional progress of the handlers. */
  progress: number;
  /**
   * With an outOfOrder client: the messages its handlers work on (taken from the buffer at `head`
   * as a handler frees) and the seconds each still takes. `held` counts them too.
   */
  inHand: { seq: number; left: number }[];
}

/** How long a pull request waits at the server (nats.go and nats.js default expiry). */
const REQUEST_EXPIRY_SECONDS = 30;

const requested = (p: Pod): number => p.requests.reduce((n, r) => n + r.remaining, 0);

export interface Reading {
  t: number;
  replicas: number;
  ready: number;
  pending: number;
  ackPending: number;
  /** Messages handled and acknowledged so far. */
  completed: number;
  /** Messages removed by max_age so far, pending or held (maxAgeSeconds). */
  expired: number;
  /** The most any one pod held awaiting ack (in hand and buffered) at the reading. */
  largestHeld: number;
  decision: ScalingDecision;
}

export function runScenario(sc: Scenario): Reading[] {
  const unreal = realClientProblem(sc.client);
  if (unreal !== undefined) throw new Error(`runScenario: ${unreal}`);
  const dt = 0.01;
  const poll = sc.pollSeconds ?? 5;
  const pods: Pod[] = [];
  const addPod = (readyAt: number): void => {
    pods.push({
      readyAt,
      held: 0,
      stored: [],
      liveFrom: 0,
      seqs: [],
      head: 0,
      requests: [],
      progress: 0,
      inHand: [],
    });
  };
  /** The server's queue of waiting pull requests, head first. */
  let queue: PullRequest[] = [];
  for (let i = 0; i < sc.initialReplicas; i++) addPod(0);
  let pending = sc.initialPending;
  /** Deliveries (the consumer sequence: redeliveries too) and new deliveries (the stream sequence). */
  let delivered = 0;
  let deliveredNew = 0;
  /**
   * Messages removed pods held, awaiting redelivery: still awaiting ack (num_ack_pending counts
   * them until acknowledged, num_pending does not), delivered again first.
   */
  let redeliver = 0;
  /** Their consumer sequences (the last delivery of each), in the order they are delivered again. */
  const redeliverSeqs: number[] = [];
  /** When each of them was stored (maxAgeSeconds). */
  const redeliverStored: number[] = [];
  let redeliverHead = 0;
  const maxAge = sc.maxAgeSeconds;
  /** When each pending message was stored (maxAgeSeconds), oldest first from pendingHead. */
  let pendingStored: number[] = [];
  let pendingHead = 0;
  let arrivedTotal = sc.initialPending;
  let expired = 0;
  /** Of them, those removed while delivered (in a pod's hands, or awaiting redelivery). */
  let expiredHeld = 0;
  if (maxAge !== undefined) pendingStored = new Array<number>(sc.initialPending).fill(0);
  /**
   * With maxAgeSeconds: the messages stored before each step that stored any (the stream sequence
   * before it), so the stream's first sequence is known from its oldest message's time: a message
   * acknowledged inside the stream leaves a gap there (state.num_deleted), an expiry never does.
   */
  const storedBefore: { t: number; before: number }[] = [];
  if (maxAge !== undefined && sc.initialPending > 0) storedBefore.push({ t: 0, before: 0 });
  const random = seededRng(sc.randomPushSeed ?? 0);
  let arrivalCarry = 0;
  let history: ScalingHistory = emptyHistory();
  const readings: Reading[] = [];
  const restarts = [...(sc.restartAt ?? [])].sort((a, b) => a - b);
  const trail = restarts.length > 0 ? new StatusTrail() : undefined;
  let restarted: RestartedProcess | undefined;
  // Handling times of an outOfOrder client: exponential, mean 1 / handlerPerSecond, from a fixed
  // seed so that a run is the same every time. (Not modelled with max_age.)
  if (sc.client.outOfOrder === true && sc.maxAgeSeconds !== undefined)
    throw new Error('an outOfOrder client is not modelled with maxAgeSeconds');
  const uniform = seededRng(sc.seed ?? 1);
  const handlerRate = sc.handlerPerSecond;
  const handlerPerSecond = typeof handlerRate === 'number' ? () => handlerRate : handlerRate;
  const handlingTime = (t: number): number => -Math.log(1 - uniform()) / handlerPerSecond(t);
  const ackWait = sc.ackWaitSeconds;
  if (ackWait !== undefined && (sc.maxAgeSeconds !== undefined || sc.client.outOfOrder === true))
    throw new Error('ackWaitSeconds is not modelled with maxAgeSeconds or an outOfOrder client');
  /** With ackWait: the message each consumer sequence delivered, and the messages not acknowledged. */
  const messageOf: number[] = [];
  const unacked = new Map<number, { firstSeq: number; at: number; deliveries: number; queued: boolean }>();
  /** With ackWait: messages to deliver again (their ack_wait ran out, or their pod was removed), in order. */
  const expiredQueue: number[] = [];
  let expiredHead = 0;
  let nextMessage = 0;
  const firstPod = pods[0];
  const steps = Math.round(sc.durationSeconds / dt);
  let nextReadStep = 0;
  const ready: Pod[] = [];
  for (let step = 0; step <= steps; step++) {
    const t = step * dt;
    ready.length = 0;
    // max_age: what is older leaves the stream, pending or held (and awaiting redelivery).
    if (maxAge !== undefined) {
      const cut = t - maxAge;
      while (pendingHead < pendingStored.length && (pendingStored[pendingHead] ?? Infinity) <= cut) {
        pendingHead++;
        pending--;
        expired++;
      }
      for (const p of pods) {
        p.liveFrom = Math.max(p.liveFrom, p.head);
        while (p.liveFrom < p.seqs.length && (p.stored[p.liveFrom] ?? Infinity) <= cut) {
          p.liveFrom++;
          expired++;
          expiredHeld++;
        }
      }
      for (let i = redeliverHead; i < redeliverSeqs.length; i++)
        if ((redeliverStored[i] ?? Infinity) <= cut && redeliverSeqs[i] !== -1) {
          redeliverSeqs[i] = -1;
          redeliver--;
          expired++;
          expiredHeld++;
        }
    }
    if (sc.rolloutAt !== undefined && maxAge !== undefined && step === Math.round(sc.rolloutAt / dt)) {
      for (const p of pods) {
        const from = Math.max(p.head, p.liveFrom);
        redeliver += p.seqs.length - from;
        redeliverSeqs.push(...p.seqs.slice(from));
        redeliverStored.push(...p.stored.slice(from));
      }
      const count = pods.length;
      pods.length = 0;
      queue = [];
      for (let i = 0; i < count; i++) addPod(t + sc.startupSeconds);
    }
    let ackPending = redeliver;
    for (const p of pods) {
      ackPending += maxAge === undefined ? p.held : p.seqs.length - Math.max(p.head, p.liveFrom);
      if (p.readyAt <= t) ready.push(p);
    }
    if (ackWait !== undefined) {
      // ack_wait: what was delivered that long ago and not acknowledged is delivered again (checked
      // every 0.1 s); what the pods hold counts once per message, stale copies not at all.
      if (step % 10 === 0)
        for (const [id, m] of unacked)
          if (!m.queued && t - m.at >= ackWait) {
            m.queued = true;
            expiredQueue.push(id);
          }
      ackPending = unacked.size;
    }

    // Arrivals (whole messages).
    arrivalCarry += sc.arrival(t) * dt;
    const arrived = Math.floor(arrivalCarry);
    arrivalCarry -= arrived;
    pending += arrived;
    arrivedTotal += arrived;
    if (maxAge !== undefined) {
      for (let i = 0; i < arrived; i++) pendingStored.push(t);
      if (arrived > 0 && storedBefore.at(-1)?.t !== t)
        storedBefore.push({ t, before: arrivedTotal - arrived });
    }

    // Requests expire; clients ask again when what they hold and await falls to their threshold.
    if (queue.some((r) => r.expiresAt <= t)) {
      queue = queue.filter((r) => r.expiresAt > t);
      for (const p of pods) p.requests = p.requests.filter((r) => r.expiresAt > t);
    }
    for (const p of ready) {
      const awaited = p.held + requested(p);
      // (A push subscriber's one standing "request" awaits Infinity: never a second one.)
      if (awaited <= sc.client.refillAt && awaited < sc.client.prefetch) {
        const request = {
          pod: p,
          remaining: sc.client.prefetch - awaited,
          expiresAt: sc.client.push ? Infinity : t + REQUEST_EXPIRY_SECONDS,
        };
        p.requests.push(request);
        queue.push(request);
      }
    }

    // The server: one message per turn to the request at the head of the queue, which moves to
    // the back, while slots under max_ack_pending and messages last.
    // Messages awaiting redelivery go first; they hold their max_ack_pending slots already.
    let free = sc.maxAckPending > 0 ? sc.maxAckPending - ackPending : Infinity;
    let head = 0;
    const randomPush = sc.client.push === true && sc.randomPushSeed !== undefined;
    while (expiredHead < expiredQueue.length && !unacked.has(expiredQueue[expiredHead] ?? -1)) expiredHead++;
    while (
      (redeliver > 0 || expiredHead < expiredQueue.length || (pending > 0 && free > 0)) &&
      head < queue.length
    ) {
      // A deliver group's member at random (its one standing request never ends), or in turn.
      const request = randomPush ? queue[head + Math.floor(random() * (queue.length - head))] : queue[head++];
      if (request === undefined) break;
      request.pod.held++;
      request.remaining--;
      let storedAt = t;
      const again = expiredHead < expiredQueue.length ? expiredQueue[expiredHead++] : undefined;
      if (again !== undefined) {
        // An expired (or handed back) message, delivered again: a new consumer sequence.
        const m = unacked.get(again);
        delivered++;
        messageOf[delivered] = again;
        if (m !== undefined) {
          m.at = t;
          m.deliveries++;
          m.queued = false;
        }
        while (expiredHead < expiredQueue.length && !unacked.has(expiredQueue[expiredHead] ?? -1))
          expiredHead++;
        request.pod.seqs.push(delivered);
        if (randomPush) continue;
        if (request.remaining > 0) queue.push(request);
        else request.pod.requests = request.pod.requests.filter((r) => r !== request);
        continue;
      }
      if (redeliver > 0) {
        while (redeliverSeqs[redeliverHead] === -1) redeliverHead++;
        storedAt = redeliverStored[redeliverHead] ?? t;
        redeliver--;
        redeliverHead++;
      } else {
        pending--;
        ackPending++;
        free--;
        deliveredNew++;
        if (maxAge !== undefined) storedAt = pendingStored[pendingHead++] ?? t;
      }
      delivered++;
      if (ackWait !== undefined && again === undefined && messageOf[delivered] === undefined) {
        messageOf[delivered] = nextMessage;
        unacked.set(nextMessage++, { firstSeq: delivered, at: t, deliveries: 1, queued: false });
      }
      request.pod.seqs.push(delivered);
      if (maxAge !== undefined) request.pod.stored.push(storedAt);
      if (randomPush) continue;
      if (request.remaining > 0) queue.push(request);
      else request.pod.requests = request.pod.requests.filter((r) => r !== request);
    }
    if (head > 0) queue = queue.slice(head);
    if (pendingHead > 4096 && pendingHead * 2 > pendingStored.length) {
      pendingStored = pendingStored.slice(pendingHead);
      pendingHead = 0;
    }

    // The reading: after the server filled what it could (it refills a freed slot within about a
    // round trip, so a real reading at a full max_ack_pending sees it full).
    if (step === nextReadStep) {
      const sample: BacklogSample = {
        at: T0 + Math.round(t * 1000),
        pending,
        ackPending,
        redelivered: ackWait === undefined ? 0 : [...unacked.values()].filter((m) => m.deliveries > 1).length,
        waiting: sc.client.push ? 0 : queue.length,
        deliveredConsumerSeq: delivered,
        deliveredStreamSeq: deliveredNew,
        ackFloorConsumerSeq:
          ackWait === undefined
            ? ackFloor(pods, redeliverSeqs, redeliverHead, delivered)
            : Math.min(delivered + 1, ...[...unacked.values()].map((m) => m.firstSeq)) - 1,
        maxAckPending: sc.maxAckPending,
        ...(sc.client.push ? { push: true as const } : {}),
      };
      if (maxAge !== undefined) {
        // STREAM.INFO: what the stream holds (pending and held, not expired), its last sequence,
        // and its oldest message's age.
        let oldest = pendingHead < pendingStored.length ? (pendingStored[pendingHead] ?? t) : Infinity;
        for (const p of pods) {
          const from = Math.max(p.head, p.liveFrom);
          if (from < p.seqs.length) oldest = Math.min(oldest, p.stored[from] ?? t);
        }
        for (let i = redeliverHead; i < redeliverSeqs.length; i++)
          if (redeliverSeqs[i] !== -1) oldest = Math.min(oldest, redeliverStored[i] ?? t);
        const messages = Math.max(0, pending) + ackPending;
        sample.limitRemovals = {
          limits: { maxAgeSeconds: maxAge },
          state: {
            messages,
            bytes: messages * 100,
            lastSeq: arrivedTotal,
            oldestAgeSeconds: Number.isFinite(oldest) ? t - oldest : 0,
            firstSeq: Number.isFinite(oldest) ? firstSeqStoredAt(storedBefore, oldest) : arrivedTotal + 1,
          },
        };
      }
      const polled = {
        spec: sc.spec,
        sample,
        current: pods.length,
        ready: ready.length,
        clocks: { monotonic: sample.at, wall: sample.at },
      };
      if (trail !== undefined && restarts.length > 0 && t >= (restarts[0] ?? Infinity)) {
        restarts.shift();
        restarted = new RestartedProcess(trail.restart(), sc.spec, polled);
      }
      const decision =
        restarted !== undefined
          ? restarted.decide(polled)
          : decide({
              spec: sc.spec,
              sample,
              currentReplicas: pods.length,
              readyReplicas: ready.length,
              history,
              now: sample.at,
            });
      history = decision.history;
      restarted?.keep(decision);
      trail?.record(polled, decision, true);
      const next = sc.adaptivePoll === true ? Math.min(poll, Math.max(1, decision.nextPollSeconds)) : poll;
      nextReadStep = step + Math.max(1, Math.round(next / dt));
      readings.push({
        t,
        replicas: pods.length,
        ready: ready.length,
        pending,
        ackPending,
        completed: deliveredNew - ackPending - expiredHeld,
        expired,
        largestHeld: pods.reduce((most, p) => Math.max(most, p.held), 0),
        decision,
      });
      while (pods.length < decision.desiredReplicas) addPod(t + sc.startupSeconds);
      if (pods.length > decision.desiredReplicas) {
        // Removed pods (newest first) hand back what they held (a drain naks it): still awaiting
        // ack, redelivered at once — not arrivals (before, put back as pending, they read as a
        // surge of arrivals after every scale-down).
        for (const gone of pods.splice(decision.desiredReplicas)) {
          if (ackWait !== undefined) {
            // What it held and had not acknowledged is delivered again at once (a drain naks it).
            for (const seq of gone.seqs.slice(gone.head)) {
              const id = messageOf[seq] ?? -1;
              const m = unacked.get(id);
              if (m !== undefined && !m.queued) {
                m.queued = true;
                expiredQueue.push(id);
              }
            }
            continue;
          }
          // With max_age, only what is still in the stream is delivered again (an outOfOrder
          // client's, what its handlers had in hand too: never with max_age).
          const from = maxAge === undefined ? gone.head : Math.max(gone.head, gone.liveFrom);
          const back = [...gone.seqs.slice(from), ...gone.inHand.map((h) => h.seq)].sort((a, b) => a - b);
          redeliver += back.length;
          redeliverSeqs.push(...back);
          if (maxAge !== undefined) redeliverStored.push(...gone.stored.slice(from));
          else redeliverStored.push(...back.map(() => 0));
        }
        const kept = new Set(pods);
        queue = queue.filter((r) => kept.has(r.pod));
        for (let i = ready.length - 1; i >= 0; i--) {
          const p = ready[i];
          if (p !== undefined && !kept.has(p)) ready.splice(i, 1);
        }
      }
    }

    // Handlers: `concurrency` at a time, each at handlerPerSecond.
    for (const p of ready) {
      if (p.held === 0) continue;
      if (p === firstPod && sc.pause !== undefined && t >= sc.pause.at && t < sc.pause.at + sc.pause.seconds)
        continue;
      if (sc.client.outOfOrder) {
        while (p.inHand.length < sc.client.concurrency && p.head < p.seqs.length) {
          p.inHand.push({ seq: p.seqs[p.head] ?? 0, left: handlingTime(t) });
          p.head++;
        }
        for (const h of p.inHand) h.left -= dt;
        const before = p.inHand.length;
        p.inHand = p.inHand.filter((h) => h.left > 0);
        p.held -= before - p.inHand.length;
        if (p.head > 1024 && p.head * 2 > p.seqs.length) {
          p.seqs = p.seqs.slice(p.head);
          p.liveFrom = Math.max(0, p.liveFrom - p.head);
          p.head = 0;
        }
        continue;
      }
      p.progress += Math.min(p.held, sc.client.concurrency) * handlerPerSecond(t) * dt;
      const done = Math.min(p.held, Math.floor(p.progress));
      // With ackWait: each copy handled acknowledges its message unless one was acknowledged already.
      if (ackWait !== undefined)
        for (let k = p.head; k < p.head + done; k++) unacked.delete(messageOf[p.seqs[k] ?? -1] ?? -1);
      p.held -= done;
      p.head += done;
      if (p.head > 1024 && p.head * 2 > p.seqs.length) {
        p.seqs = p.seqs.slice(p.head);
        if (maxAge !== undefined) p.stored = p.stored.slice(p.head);
        p.liveFrom = Math.max(0, p.liveFrom - p.head);
        p.head = 0;
      }
      p.progress = p.held === 0 ? 0 : p.progress - done;
    }
  }
  return readings;
}

/**
 * The stream sequence of the first message stored at `t` (one more than those stored before it),
 * from the log of what each step stored.
 */
function firstSeqStoredAt(storedBefore: readonly { t: number; before: number }[], t: number): number {
  let lo = 0;
  let hi = storedBefore.length - 1;
  let found = storedBefore[0]?.before ?? 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const entry = storedBefore[mid];
    if (entry === undefined) break;
    if (entry.t <= t) {
      found = entry.before;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found + 1;
}

/**
 * The ack floor's consumer sequence as the server keeps it: below the oldest delivery not
 * acknowledged, a pod's oldest held message or one a removed pod held and the server has not
 * delivered again (it keeps its last delivery's sequence until then). With every buffer equally
 * old it is about `delivered − ackPending`; a buffer one pod took alone keeps it far behind
 * (before session 28 the model set it to `delivered − ackPending` always, which no real server
 * shows with uneven buffers).
 */
function ackFloor(
  pods: readonly Pod[],
  redeliverSeqs: readonly number[],
  redeliverHead: number,
  delivered: number,
): number {
  let oldest = Infinity;
  // (With max_age, the first still in the stream: the server moves the floor past what expired.)
  for (const p of pods) {
    const from = Math.max(p.head, p.liveFrom);
    if (from < p.seqs.length) oldest = Math.min(oldest, p.seqs[from] ?? Infinity);
    for (const h of p.inHand) oldest = Math.min(oldest, h.seq);
  }
  for (let i = redeliverHead; i < redeliverSeqs.length; i++) {
    const seq = redeliverSeqs[i] ?? -1;
    if (seq !== -1) oldest = Math.min(oldest, seq);
  }
  return Number.isFinite(oldest) ? oldest - 1 : delivered;
}
