// The sample consumer across a consumer leader step-down on a 3-node cluster (day one: a rolling
// upgrade of NATS). operator/test/leader-change.int.test.ts saw a bare nats.js consume() client
// receive nothing more after the consumer leader stepped down; the sample consumer runs consume()
// with idle_heartbeat (IDLE_HEARTBEAT_MS, 5 s) and restarts its loop when it ends. Under load through
// the gateway, the consumer leader steps down twice while the consumer processes: the consumer must
// resume (every event accepted after the step-downs applied, within a generous bound) with nothing
// lost and nothing applied twice.
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { startNatsCluster, type NatsCluster } from '../../hack/stack/nats-cluster.js';
import { waitFor } from '../../hack/stack/ports.js';
import { uniqueName } from '../../test/env.js';
import { testScratchDir } from '../../test/scratch.js';
import { runAudit } from '../src/audit/audit.js';
import {
  configOf,
  logEntriesById,
  makeEvent,
  sleep,
  startWorkload,
  workloadEnv,
  type Workload,
} from './harness.js';

describe('the sample consumer across a consumer leader step-down (3-node cluster, R3 streams)', () => {
  let cluster: NatsCluster | undefined;
  let nc: NatsConnection | undefined;
  const running: Workload[] = [];

  beforeAll(async () => {
    cluster = await startNatsCluster({
      dir: testScratchDir('jetscale-wl-stepdown-'),
      name: 'jetscale-wl-stepdown',
    });
  }, 60_000);

  afterAll(async () => {
    for (const w of running) w.kill('SIGKILL');
    await Promise.all(running.map((w) => w.exited));
    await nc?.close();
    await cluster?.stop();
  });

  it('resumes after each step-down, with nothing lost and nothing applied twice', async () => {
    const url = cluster?.urls ?? '';
    const client = await connect({ servers: url, waitOnFirstConnect: true });
    nc = client;
    const jsm = await jetstreamManager(client, { checkAPI: false });
    // JetStream is ready once the meta leader is elected.
    await waitFor(
      'the cluster to elect a meta leader',
      async () => {
        try {
          await jsm.getAccountInfo();
          return true;
        } catch {
          return undefined;
        }
      },
      30_000,
      250,
    );
    const env = { ...workloadEnv(url, uniqueName('wlsd')), STREAM_REPLICAS: '3', PUBLISH_TIMEOUT_MS: '3000' };
    const config = configOf(env);
    const gateway = startWorkload('gateway', env);
    running.push(gateway);
    const port = await gateway.port;
    const consumer = startWorkload('consumer', env);
    running.push(consumer);
    await consumer.port;

    const accepted: string[] = [];
    let n = 0;
    let loading = true;
    const worker = async (): Promise<void> => {
      while (loading) {
        const event = makeEvent(`sd-${n++}`, `agg-${n % 25}`);
        try {
          const res = await fetch(`http://127.0.0.1:${port}/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify(event),
          });
          if (res.status === 202) accepted.push(event.id);
          await res.arrayBuffer();
        } catch {
          // Refused or reset: not accepted, so not owed.
        }
        await sleep(20);
      }
    };
    const load = Promise.all([worker(), worker()]);
    const consumerLeader = async (): Promise<string | undefined> =>
      (await jsm.consumers.info(config.EVENTS_STREAM, config.CONSUMER_NAME)).cluster?.leader;
    /** Steps the consumer leader down; the leader it had and the one after. */
    const stepDown = async (): Promise<[string | undefined, string | undefined]> => {
      const from = await consumerLeader();
      const reply = await client.request(
        `$JS.API.CONSUMER.LEADER.STEPDOWN.${config.EVENTS_STREAM}.${config.CONSUMER_NAME}`,
        undefined,
        { timeout: 5000 },
      );
      expect(reply.json<{ success?: boolean }>().success).toBe(true);
      let to: string | undefined;
      await waitFor(
        'a new consumer leader',
        async () => {
          to = await consumerLeader().catch(() => undefined);
          return to !== undefined && to !== from ? true : undefined;
        },
        30_000,
        250,
      );
      return [from, to];
    };
    const appliedBy = async (count: number, seconds: number): Promise<boolean> => {
      const until = Date.now() + seconds * 1000;
      while (Date.now() < until) {
        const log = await logEntriesById(client, config);
        if (accepted.slice(0, count).every((id) => log.has(id))) return true;
        await sleep(500);
      }
      return false;
    };

    // Flowing first (waited for, not timed).
    await waitFor('events accepted', async () => (accepted.length > 50 ? true : undefined), 60_000, 200);
    expect(await appliedBy(50, 60)).toBe(true);
    const resumed: boolean[] = [];
    const leaders: string[] = [];
    const resumeSeconds: number[] = [];
    for (let k = 0; k < 2; k++) {
      leaders.push((await stepDown()).join(' -> '));
      const before = accepted.length;
      const steppedAt = Date.now();
      // Events accepted after the step-down must be applied too: the consumer resumed.
      await waitFor(
        'more events accepted',
        async () => (accepted.length > before + 50 ? true : undefined),
        60_000,
        200,
      );
      resumed.push(await appliedBy(before + 50, 60));
      resumeSeconds.push((Date.now() - steppedAt) / 1000);
    }
    loading = false;
    await load;

    const audit = await runAudit(client, config, { settleTimeoutMs: 60_000 });
    const log = await logEntriesById(client, config);
    const notExactlyOnce = accepted.filter((id) => log.get(id) !== 1);
    process.stderr.write(
      `[step-down test] leaders ${leaders.join(', ')}; accepted ${accepted.length}; resumed ${JSON.stringify(resumed)} (50 more accepted and applied ${resumeSeconds.map((x) => x.toFixed(1)).join(' s, ')} s after each step-down); audit ${JSON.stringify({ ...audit, lostIds: audit.lostIds.length, appliedTwiceIds: audit.appliedTwiceIds.length })}\n`,
    );
    expect(resumed).toEqual([true, true]);
    expect(notExactlyOnce).toEqual([]);
    expect(audit).toMatchObject({ lost: 0, appliedTwice: 0, pending: 0, ok: true });
  }, 600_000);
});
