// Seeded fuzz of the sample system (issue 17): junk and hostile requests interleaved with valid
// events against the real gateway, a real consumer (restarted gracefully half way) and the audit,
// on a real NATS that stays up. Invariants:
//  - no 5xx (NATS is up the whole time) and every 4xx answers JSON naming the problem, bounded in size;
//  - a 202 stores exactly the events of a valid body; a rejected body stores nothing;
//  - every accepted event is applied exactly once or dead-lettered with a reason;
//  - the audit finds nothing lost, applied twice or stuck, every projection agrees with its log,
//    and the replay agrees with the audit.
// `make test` runs a short seeded run; `make fuzz-workloads` a long one (FUZZ_REQUESTS, FUZZ_SEED).
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { eventually, testStack, uniqueName } from '../../test/env.js';
import { runAudit } from '../src/audit/audit.js';
import { DlqHeaders } from '../src/consumer/dead-letter.js';
import { runReplay } from '../src/consumer/replay.js';
import { topologyOf, type NatsConfig } from '../src/shared/config.js';
import { readWholeStream } from '../src/shared/stream-reader.js';
import { RequestFuzzer, type FuzzRequest } from './fuzz-requests.js';
import {
  configOf,
  deleteTopology,
  logEntriesById,
  startWorkload,
  workloadEnv,
  type Workload,
} from './harness.js';

const SEED = Number(process.env['FUZZ_SEED'] ?? 17);
const REQUESTS = Number(process.env['FUZZ_REQUESTS'] ?? 600);
const JUNK_RATIO = 0.45;
const IN_FLIGHT = 8;
const MAX_BODY_BYTES = 1_048_576;

interface Outcome {
  request: FuzzRequest;
  status: number;
  body: string;
  retryAfter: string | null;
}

describe(`fuzzing the gateway, consumer and audit (seed ${SEED}, ${REQUESTS} requests)`, () => {
  let nc: NatsConnection;
  let env: Record<string, string>;
  let config: NatsConfig;
  let gateway: Workload;
  const consumers: Workload[] = [];
  const consumerEnv = () => ({
    ...env,
    MAX_DELIVER: '3',
    RETRY_BASE_DELAY_MS: '100',
    ORDER_RETRY_DELAY_MS: '300',
    ACK_WAIT_MS: '5000',
    // The restart half way must be graceful even on a starved machine.
    SHUTDOWN_GRACE_MS: '60000',
  });

  beforeAll(async () => {
    env = {
      ...workloadEnv(testStack().natsUrl, uniqueName('wlf')),
      MAX_BODY_BYTES: String(MAX_BODY_BYTES),
      // NATS stays up: a publish slower than the default 2 s deadline on a starved machine is not an
      // outage, and must not count as a 5xx here.
      PUBLISH_TIMEOUT_MS: '30000',
    };
    config = configOf(env);
    nc = await connect({ servers: testStack().natsUrl });
    gateway = startWorkload('gateway', env);
    consumers.push(startWorkload('consumer', consumerEnv()));
    await Promise.all([gateway.port, consumers[0]?.port]);
  });

  afterAll(async () => {
    gateway?.kill('SIGKILL');
    for (const c of consumers) c.kill('SIGKILL');
    await Promise.all([gateway?.exited, ...consumers.map((c) => c.exited)]);
    await deleteTopology(nc, config);
    await nc.close();
  });

  it('keeps every invariant', async () => {
    const port = await gateway.port;
    const fuzzer = new RequestFuzzer(SEED);
    const requests: FuzzRequest[] = Array.from({ length: REQUESTS }, () => fuzzer.next(JUNK_RATIO));
    // Two bodies at the size limit (an id the gateway adds must not turn them into a 503).
    requests.splice(Math.floor(REQUESTS / 3), 0, fuzzer.nearLimit(MAX_BODY_BYTES));
    requests.splice(Math.floor((2 * REQUESTS) / 3), 0, fuzzer.nearLimit(MAX_BODY_BYTES));

    const outcomes: Outcome[] = [];
    const send = async (request: FuzzRequest): Promise<void> => {
      const headers: Record<string, string> = { ...request.headers };
      if (request.contentType) headers['content-type'] = request.contentType;
      const res = await fetch(`http://127.0.0.1:${port}/events`, {
        method: 'POST',
        headers,
        body: request.body,
      });
      outcomes.push({
        request,
        status: res.status,
        body: await res.text(),
        retryAfter: res.headers.get('retry-after'),
      });
    };
    let next = 0;
    let restarted = false;
    const worker = async (): Promise<void> => {
      while (next < requests.length) {
        const request = requests[next++];
        if (!request) break;
        if (!restarted && next >= requests.length / 2) {
          // Half way: a graceful consumer restart (SIGTERM drains; the successor takes over).
          restarted = true;
          const old = consumers[consumers.length - 1];
          old?.kill('SIGTERM');
          consumers.push(startWorkload('consumer', consumerEnv()));
          expect(await old?.exited).toEqual({ code: 0, signal: null });
        }
        await send(request);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, () => worker()));
    expect(restarted).toBe(true);

    // No 5xx while NATS is up; every 4xx is JSON that names what is wrong, and stays small.
    const serverErrors = outcomes.filter((o) => o.status >= 500);
    expect(serverErrors.map((o) => `${o.request.kind}: ${o.status} ${o.body.slice(0, 200)}`)).toEqual([]);
    for (const o of outcomes.filter((x) => x.status >= 400)) {
      const answer = JSON.parse(o.body) as {
        reason?: unknown;
        issues?: { field: string; message: string }[];
      };
      expect({
        kind: o.request.kind,
        reason: typeof answer.reason,
        issues: Array.isArray(answer.issues),
      }).toEqual({
        kind: o.request.kind,
        reason: 'string',
        issues: true,
      });
      expect(o.body.length).toBeLessThan(8_192);
    }
    // A 202 for exactly the valid bodies; the rest refused.
    const wrongStatus = outcomes.filter((o) => (o.request.validIds !== null) !== (o.status === 202));
    expect(wrongStatus.map((o) => `${o.request.kind} → ${o.status} ${o.body.slice(0, 200)}`)).toEqual([]);
    const accepted = new Set<string>();
    for (const o of outcomes.filter((x) => x.status === 202)) {
      const ids = (JSON.parse(o.body) as { events: { id: string }[] }).events.map((e) => e.id);
      expect(ids).toEqual(o.request.validIds);
      for (const id of ids) accepted.add(id);
    }
    expect(
      outcomes.filter((o) => o.request.kind.startsWith('near the body limit')).map((o) => o.status),
    ).toEqual([413, 413]);

    // Every accepted event applied exactly once or dead-lettered with a reason; nothing else stored.
    const audit = await runAudit(nc, config, { settleTimeoutMs: 120_000 });
    const log = await logEntriesById(nc, config);
    const deadLettered = new Map<string, string>();
    await readWholeStream(jetstream(nc), await jetstreamManager(nc), topologyOf(config).dlqStream, (msg) => {
      deadLettered.set(
        msg.headers?.get(DlqHeaders.originalMsgId) ?? '',
        msg.headers?.get(DlqHeaders.reason) ?? '',
      );
    });
    const unsettled = [...accepted].filter((id) => log.get(id) !== 1 && !deadLettered.get(id));
    expect(unsettled).toEqual([]);
    expect([...log].filter(([, n]) => n !== 1)).toEqual([]);
    expect([...log.keys()].filter((id) => !accepted.has(id))).toEqual([]);
    expect([...deadLettered.keys()].filter((id) => !accepted.has(id))).toEqual([]);
    expect(audit).toMatchObject({
      accepted: accepted.size,
      lost: 0,
      appliedTwice: 0,
      pending: 0,
      stuck: 0,
      unreadableLogEntries: 0,
      projectionsWrong: 0,
      ok: true,
    });
    // Projections are written after the ack, within PROJECTION_FLUSH_MS (1 s) of it.
    const replay = await eventually('the projections written', async () => {
      const r = await runReplay(nc, config);
      return r.matches ? r : undefined;
    });
    expect(replay).toMatchObject({ matches: true, unreadableLive: [], unreadableLog: [] });
    const statuses = new Map<number, number>();
    for (const o of outcomes) statuses.set(o.status, (statuses.get(o.status) ?? 0) + 1);
    process.stderr.write(
      `[fuzz] seed=${SEED} requests=${outcomes.length} statuses=${JSON.stringify(Object.fromEntries(statuses))} accepted=${accepted.size} applied=${audit.applied} deadLettered=${audit.deadLettered}\n`,
    );
  }, 600_000);
});
