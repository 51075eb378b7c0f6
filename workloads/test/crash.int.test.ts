// At-most-once under crashes: 10,000 events processed by consumer processes that are SIGKILLed at
// random moments (mid-append, mid-projection-write, mid-ack …) and restarted. The audit must find nothing lost
// and nothing applied twice, and the replayed projection must equal the live one.
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { testStack, uniqueName } from '../../test/env.js';
import { runAudit } from '../src/audit/audit.js';
import { runReplay } from '../src/consumer/replay.js';
import { topologyOf, type NatsConfig } from '../src/shared/config.js';
import { ensureTopology } from '../src/shared/topology.js';
import {
  configOf,
  deleteTopology,
  makeEvent,
  publishEvents,
  sleep,
  startWorkload,
  workloadEnv,
  type Workload,
} from './harness.js';

const EVENTS = 10_000;
const AGGREGATES = 100;
const KILLS = 12;

describe('consumers SIGKILLed at random moments', () => {
  let nc: NatsConnection;
  let env: Record<string, string>;
  let config: NatsConfig;
  const running: Workload[] = [];

  beforeAll(async () => {
    env = {
      ...workloadEnv(testStack().natsUrl, uniqueName('wlk')),
      ACK_WAIT_MS: '2000',
      // Shorter than ack_wait, so a redelivery is past any msg-id dedup: the event log's own guard
      // (one entry per event subject, expected last sequence per aggregate) has to hold on its own.
      EVENTS_DUPLICATE_WINDOW_MS: '1000',
      CONCURRENCY: '16',
      PULL_BATCH: '32',
      WORK_LATENCY_JITTER_MS: '2',
      // Projections are written after the ack; a killed writer's are brought up to date by the
      // others once its mark has not moved for this long.
      PROJECTION_MARK_STALE_MS: '3000',
    };
    config = configOf(env);
    nc = await connect({ servers: testStack().natsUrl });
    await ensureTopology(nc, config);
  });

  afterAll(async () => {
    for (const w of running) w.kill('SIGKILL');
    await Promise.all(running.map((w) => w.exited));
    await deleteTopology(nc, config);
    await nc.close();
  });

  it('loses nothing and applies nothing twice', async () => {
    // (timeout below: bounded kill phase 150 s + settle 100 s)
    const events = Array.from({ length: EVENTS }, (_, i) =>
      makeEvent(`k-${i}`, `agg-${i % AGGREGATES}`, { payload: { amount: i % 10 } }),
    );
    // Published in slices between the kills, so every kill meets a consumer with work in hand (a
    // faster consumer would otherwise drain the backlog before the tenth kill).
    const FIRST = 2_000;
    const slice = Math.ceil((EVENTS - FIRST) / KILLS);
    let published = FIRST;
    await publishEvents(jetstream(nc), config, events.slice(0, FIRST));

    const slots: Workload[] = [startWorkload('consumer', env), startWorkload('consumer', env)];
    running.push(...slots);
    const jsm = await jetstreamManager(nc);
    const t = topologyOf(config);

    // Kill while there is work in hand — at a random moment once the consumer holds messages
    // awaiting ack — and restart the victim at once so the work gets done. A kill after a fixed
    // sleep could land after the slice was drained (the consumer works a 667-event slice off in a
    // few hundred ms): in one CI run all 12 kills met idle consumers and nothing was redelivered.
    const workInHand = async (): Promise<boolean> => {
      const deadline = Date.now() + 5_000;
      while (Date.now() < deadline) {
        const info = await jsm.consumers.info(t.eventsStream, t.consumer);
        if (info.num_ack_pending > 0) return true;
        await sleep(5);
      }
      return false;
    };
    let kills = 0;
    let killsWithWorkInHand = 0;
    const started = Date.now();
    while (kills < KILLS && Date.now() - started < 150_000) {
      const slot = Math.floor(Math.random() * slots.length);
      const victim = slots[slot];
      if (!victim) continue;
      await victim.port;
      // The next slice goes out once the victim is up, and the kill lands while it is being published
      // and worked on: a kill after the whole slice was stored could meet it drained already (the
      // consumers apply it as it is published; once, under load 20-30, a kill met no work in hand).
      const publishing =
        kills > 0
          ? publishEvents(jetstream(nc), config, events.slice(published, published + slice))
          : Promise.resolve();
      if (kills > 0) published += slice;
      if (await workInHand()) killsWithWorkInHand++;
      await sleep(Math.random() * 40);
      victim.kill('SIGKILL');
      await victim.exited;
      await publishing;
      kills++;
      const replacement = startWorkload('consumer', env);
      running.push(replacement);
      slots[slot] = replacement;
    }
    await publishEvents(jetstream(nc), config, events.slice(published));

    // Generous: on a busy 2-core host the restarted processes need a while to work the rest off.
    const audit = await runAudit(nc, config, { settleTimeoutMs: 100_000 });
    const info = await jsm.consumers.info(t.eventsStream, t.consumer);
    process.stderr.write(
      `[crash test] kills=${kills} (${killsWithWorkInHand} with work in hand) deliveries=${info.delivered.consumer_seq} audit=${JSON.stringify({ ...audit, lostIds: audit.lostIds.length, appliedTwiceIds: audit.appliedTwiceIds.length })}\n`,
    );
    const warnings = running.flatMap((w) =>
      w.logs.filter((l) => l.includes('"level":"warn"') || l.includes('"level":"error"')),
    );
    if (warnings.length > 0)
      process.stderr.write(
        `[crash test] ${warnings.length} warnings, last: ${warnings.slice(-3).join('\n')}\n`,
      );
    expect(kills).toBe(KILLS);
    expect(killsWithWorkInHand).toBe(KILLS);
    // Kills really did cut processing short: some messages had to be delivered again.
    expect(info.delivered.consumer_seq).toBeGreaterThan(EVENTS);
    expect(audit).toMatchObject({
      accepted: EVENTS,
      applied: EVENTS,
      lost: 0,
      appliedTwice: 0,
      pending: 0,
      deadLettered: 0,
      ok: true,
    });
    // A killed process acked events whose projections it never wrote; the survivors bring them up
    // to date (log tail on the next event, or the killed writer's mark): the replay equals the live
    // projections within a few mark periods, not necessarily at once.
    const replayStarted = Date.now();
    let replay = await runReplay(nc, config);
    for (const until = Date.now() + 30_000; !replay.matches && Date.now() < until;) {
      await sleep(1000);
      replay = await runReplay(nc, config);
    }
    process.stderr.write(
      `[crash test] replay ${replay.matches ? 'matched' : 'still differs'} after ${Date.now() - replayStarted} ms\n`,
    );
    expect(replay).toMatchObject({ matches: true, aggregates: AGGREGATES, logEntries: EVENTS });
  }, 300_000);
});
