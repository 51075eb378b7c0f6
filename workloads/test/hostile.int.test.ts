// Hostile and careless input against the real gateway, consumer and audit (issue 17, items 7-9):
// every bad event is a 4xx naming what to fix (never a 503 the client would retry forever), every
// accepted event is applied once or dead-lettered with a reason (never retried forever), and the
// audit fails when an accepted event is stuck — agreeing with the replay on broken data.
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { eventually, testStack, uniqueName } from '../../test/env.js';
import { runAudit } from '../src/audit/audit.js';
import { DlqHeaders } from '../src/consumer/dead-letter.js';
import { projectionSchema } from '../src/consumer/projection.js';
import { runReplay } from '../src/consumer/replay.js';
import { topologyOf, type NatsConfig } from '../src/shared/config.js';
import { storedEventLimit } from '../src/shared/event.js';
import { MAX_PAYLOAD_DEPTH } from '../src/shared/payload.js';
import { ensureTopology } from '../src/shared/topology.js';
import { readWholeStream } from '../src/shared/stream-reader.js';
import {
  configOf,
  deleteTopology,
  logEntriesById,
  makeEvent,
  publishEvents,
  repoRoot,
  scrapeMetric,
  startWorkload,
  workloadEnv,
  type Workload,
} from './harness.js';

interface Answer {
  status: number;
  retryAfter: string | null;
  body: { reason?: string; issues?: { field: string; message: string }[] };
}

/** Runs a workload CLI (audit or replay) to its end; its exit code and output. */
function runCli(
  kind: 'audit' | 'replay',
  env: Record<string, string>,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', path.join(repoRoot, 'workloads', 'src', kind, 'main.ts'), ...args],
      { cwd: repoRoot, env: { ...process.env, ...env }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err && typeof err.code === 'number' ? err.code : err ? -1 : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('hostile input against the gateway, consumer and audit', () => {
  let nc: NatsConnection;
  let js: JetStreamClient;
  let env: Record<string, string>;
  let config: NatsConfig;
  let gateway: Workload;
  let consumer: Workload;
  let gatewayPort: number;
  const consumerEnv = () => ({
    ...env,
    MAX_DELIVER: '2',
    RETRY_BASE_DELAY_MS: '100',
    ACK_WAIT_MS: '5000',
    SHUTDOWN_GRACE_MS: '60000',
  });

  beforeAll(async () => {
    // A generous publish deadline: under a starved CPU a slow publish would be a 503, not the 4xx tested.
    env = { ...workloadEnv(testStack().natsUrl, uniqueName('wlh')), PUBLISH_TIMEOUT_MS: '30000' };
    config = configOf(env);
    nc = await connect({ servers: testStack().natsUrl });
    js = jetstream(nc);
    gateway = startWorkload('gateway', env);
    consumer = startWorkload('consumer', consumerEnv());
    [gatewayPort] = await Promise.all([gateway.port, consumer.port]);
  });

  afterAll(async () => {
    gateway?.kill('SIGKILL');
    consumer?.kill('SIGKILL');
    await Promise.all([gateway?.exited, consumer?.exited]);
    await deleteTopology(nc, config);
    await nc.close();
  });

  const post = async (body: string): Promise<Answer> => {
    const res = await fetch(`http://127.0.0.1:${gatewayPort}/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    return {
      status: res.status,
      retryAfter: res.headers.get('retry-after'),
      body: (await res.json()) as Answer['body'],
    };
  };

  const dlqReasons = async (): Promise<Map<string, string>> => {
    const reasons = new Map<string, string>();
    await readWholeStream(js, await jetstreamManager(nc), topologyOf(config).dlqStream, (msg) => {
      const id = msg.headers?.get(DlqHeaders.originalMsgId) ?? '';
      reasons.set(
        id,
        `${msg.headers?.get(DlqHeaders.reason) ?? ''}: ${msg.headers?.get(DlqHeaders.detail) ?? ''}`,
      );
    });
    return reasons;
  };

  const projectionOf = async (aggregateId: string) => {
    const kv = await new Kvm(js).open(topologyOf(config).projectionBucket);
    const entry = await kv.get(aggregateId);
    return entry ? projectionSchema.parse(entry.json()) : undefined;
  };

  it('answers 400 naming the depth limit for a payload nested 5,000 levels (a 10 KB body), never 503', async () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    const body = JSON.stringify(makeEvent('deep-1', 'acc-deep')).replace('{"amount":1}', `{"x":${deep}}`);
    expect(body.length).toBeLessThan(11_000);
    const answer = await post(body);
    expect(answer).toMatchObject({ status: 400, retryAfter: null, body: { reason: 'invalid_event' } });
    expect(answer.body.issues?.[0]?.message).toContain(`${MAX_PAYLOAD_DEPTH} levels`);
    expect(answer.body.issues?.[0]?.field).toMatch(/^payload\.x\[0\]/);
  });

  it('refuses payload.__proto__ with a 400 instead of dropping it silently', async () => {
    const body = JSON.stringify(makeEvent('proto-1', 'acc-proto')).replace(
      '{"amount":1}',
      '{"amount":1,"__proto__":{"admin":true}}',
    );
    const answer = await post(body);
    expect(answer).toMatchObject({ status: 400, body: { issues: [{ field: 'payload.__proto__' }] } });
    expect((await logEntriesById(nc, config)).has('proto-1')).toBe(false);
  });

  it('answers 413 (never 503) for an event without id whose server-added id pushes it past what NATS stores', async () => {
    const maxPayload = nc.info?.max_payload ?? 0;
    expect(maxPayload).toBeGreaterThan(0);
    // Within the last 100 bytes of MAX_BODY_BYTES (1 MiB by default): the reported case.
    const { id: _omit, ...noId } = makeEvent('x', 'acc-big');
    const base = JSON.stringify({ ...noId, payload: { blob: '' } }).length;
    const body = JSON.stringify({ ...noId, payload: { blob: 'x'.repeat(1_048_576 - 60 - base) } });
    expect(body.length).toBe(1_048_576 - 60);
    const answer = await post(body);
    expect(answer).toMatchObject({ status: 413, retryAfter: null, body: { reason: 'event_too_large' } });
    expect(answer.body.issues?.[0]?.message).toContain(`at most ${storedEventLimit(maxPayload)}`);
  });

  it('applies an event of the largest accepted size, and dead-letters one with its payload', async () => {
    const limit = storedEventLimit(nc.info?.max_payload ?? 0);
    const sized = (id: string, type: string) => {
      const e = makeEvent(id, 'acc-max', { type, payload: { blob: '' } });
      return { ...e, payload: { blob: 'y'.repeat(limit - JSON.stringify(e).length) } };
    };
    const largest = sized('max-1', 'deposit');
    expect(Buffer.byteLength(JSON.stringify(largest))).toBe(limit);
    const answer = await post(JSON.stringify(largest));
    expect(answer).toMatchObject({ status: 202 });
    // The same size through the DLQ: the copy carries extra headers and must still fit.
    expect((await post(JSON.stringify(sized('max-poison', 'poison')))).status).toBe(202);
    await eventually('the largest event applied', async () =>
      (await logEntriesById(nc, config)).get('max-1') === 1 ? true : undefined,
    );
    const reason = await eventually('the largest poison event dead-lettered', async () =>
      (await dlqReasons()).get('max-poison'),
    );
    expect(reason).toMatch(/^max_deliveries: /);
  });

  it('counts event types named like Object built-ins, and a stored projection that cannot be read is rebuilt from the log', async () => {
    const types = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'];
    const first = types.map((type, i) =>
      makeEvent(`type-${i}`, 'acc-types', { type, payload: { amount: i } }),
    );
    expect((await post(JSON.stringify(first))).status).toBe(202);
    await eventually('the typed events applied', async () =>
      (await projectionOf('acc-types'))?.eventCount === types.length ? true : undefined,
    );
    expect({ ...(await projectionOf('acc-types'))?.countsByType }).toEqual(
      Object.fromEntries(types.map((t) => [t, 1])),
    );
    // What the old code stored (and could not read back after a restart): a counter that read the
    // inherited Object constructor, and a total that overflowed to null.
    const kv = await new Kvm(js).open(topologyOf(config).projectionBucket);
    const current = await projectionOf('acc-types');
    await kv.put(
      'acc-types',
      JSON.stringify({
        ...current,
        total: null,
        countsByType: { constructor: 'function Object() { [native code] }1' },
      }),
    );
    // A graceful restart: the new process has no cached projection and must read the broken one.
    consumer.kill('SIGTERM');
    expect(await consumer.exited).toEqual({ code: 0, signal: null });
    consumer = startWorkload('consumer', consumerEnv());
    const port = await consumer.port;
    expect(
      (await post(JSON.stringify(makeEvent('type-again', 'acc-types', { type: 'constructor' })))).status,
    ).toBe(202);
    const rebuilt = await eventually('the event after the broken projection applied', async () => {
      const p = await projectionOf('acc-types').catch(() => undefined);
      return p?.eventCount === types.length + 1 ? p : undefined;
    });
    expect({ ...rebuilt.countsByType }).toMatchObject({ constructor: 2, toString: 1, ['__proto__']: 1 });
    expect(rebuilt.total).toBe(0 + 1 + 2 + 3 + 4 + 1);
    expect(await scrapeMetric(port, 'jetscale_consumer_projections_rebuilt_total')).toBe(1);
  });

  it('dead-letters an event another publisher stored with an amount that would overflow the total', async () => {
    // Bypasses the gateway: anything can publish to the stream.
    await js.publish(
      topologyOf(config).eventsSubject('acc-amount'),
      JSON.stringify(makeEvent('huge-1', 'acc-amount')).replace('{"amount":1}', '{"amount":1.8e303}'),
      { msgID: 'huge-1' },
    );
    await publishEvents(js, config, [makeEvent('after-huge', 'acc-amount', { payload: { amount: 5 } })]);
    const reason = await eventually('the huge amount dead-lettered', async () =>
      (await dlqReasons()).get('huge-1'),
    );
    expect(reason).toMatch(/^invalid_event: .*payload\.amount/);
    await eventually('the next event of that aggregate applied', async () =>
      (await projectionOf('acc-amount'))?.total === 5 ? true : undefined,
    );
  });

  it('leaves nothing lost, twice or stuck, and the replay agrees', async () => {
    const audit = await runAudit(nc, config, { settleTimeoutMs: 30_000 });
    expect(audit).toMatchObject({
      lost: 0,
      appliedTwice: 0,
      pending: 0,
      stuck: 0,
      projectionsWrong: 0,
      ok: true,
    });
    expect(audit.projectionsChecked).toBe(3); // acc-max, acc-types, acc-amount
    expect(await runReplay(nc, config)).toMatchObject({ matches: true });
    expect((await runCli('audit', env, [])).code).toBe(0);
    expect((await runCli('replay', env, [])).code).toBe(0);
  });

  it('dead-letters events of an aggregate whose log holds an unreadable entry, and audit and replay both fail', async () => {
    const t = topologyOf(config);
    await js.publish(t.eventLogSubject('acc-badlog', 'not-an-entry'), JSON.stringify({ id: 'not-an-entry' }));
    await publishEvents(js, config, [makeEvent('on-bad-log', 'acc-badlog')]);
    const reason = await eventually('the event dead-lettered', async () =>
      (await dlqReasons()).get('on-bad-log'),
    );
    expect(reason).toMatch(
      /^unreadable_aggregate: event log entry \d+ of aggregate acc-badlog cannot be read/,
    );
    const audit = await runAudit(nc, config, { settleTimeoutMs: 30_000 });
    expect(audit).toMatchObject({ lost: 0, stuck: 0, unreadableLogEntries: 1, ok: false });
    const replay = await runReplay(nc, config);
    expect(replay.matches).toBe(false);
    expect(replay.unreadableLog).toHaveLength(1);
    // Exit 1 ("found a problem") from both, not 2 ("could not run").
    expect((await runCli('audit', env, [])).code).toBe(1);
    expect((await runCli('replay', env, [])).code).toBe(1);
  });
});

describe('the audit on events nobody applies', () => {
  let nc: NatsConnection;
  let env: Record<string, string>;
  let config: NatsConfig;

  beforeAll(async () => {
    env = workloadEnv(testStack().natsUrl, uniqueName('wls'));
    config = configOf(env);
    nc = await connect({ servers: testStack().natsUrl });
    await ensureTopology(nc, config);
  });

  afterAll(async () => {
    await deleteTopology(nc, config);
    await nc.close();
  });

  it('calls a backlog nobody took pending, and events held without ack past the grace period stuck', async () => {
    const js = jetstream(nc);
    await publishEvents(
      js,
      config,
      Array.from({ length: 5 }, (_, i) => makeEvent(`s-${i}`, 'acc-s')),
    );
    // Not delivered yet: a backlog, not stuck.
    expect(await runAudit(nc, config, { stuckAfterMs: 0 })).toMatchObject({ pending: 5, stuck: 0, ok: true });
    // Still pending after the audit's wait: stuck, whatever their age.
    expect(await runAudit(nc, config, { settleTimeoutMs: 1000, settleIntervalMs: 200 })).toMatchObject({
      pending: 5,
      stuck: 5,
      ok: false,
    });
    // Delivered and never settled (a consumer retrying them forever): stuck past the grace period.
    const t = topologyOf(config);
    const held = await (
      await js.consumers.get(t.eventsStream, t.consumer)
    ).fetch({ max_messages: 5, expires: 2000 });
    let got = 0;
    for await (const _msg of held) if (++got === 5) break;
    expect(got).toBe(5);
    expect(await runAudit(nc, config)).toMatchObject({ pending: 5, stuck: 0, ok: true });
    expect(await runAudit(nc, config, { stuckAfterMs: 0 })).toMatchObject({
      pending: 5,
      stuck: 5,
      ok: false,
    });
    const cli = await runCli('audit', env, ['--stuck-after', '0']);
    expect(cli.code).toBe(1);
    expect(cli.stdout).toMatch(/stuck\s+5/);
  });
});
