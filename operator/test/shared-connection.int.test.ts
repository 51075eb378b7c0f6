// One EventConsumer's bad request must never close the NATS connection it shares with others.
// Against a real nats-server: a 5,000-character domain once pushed the request past the server's
// control-line limit and a CRLF in apiPrefix broke the protocol; either way the server closed the
// connection under every EventConsumer with the same servers and credentials. Now such a request
// is refused before it is sent (kind Invalid: the spec is at fault, not the server).
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { ConnectionPool } from '../src/backlog/connection-pool.js';
import { NatsBacklogSources } from '../src/backlog/nats-backlog-sources.js';
import { OperatorMetrics } from '../src/observability/metrics.js';
import { silentLogger } from '../src/observability/logger.js';
import { testStack } from '../../test/env.js';
import { createStreamAndConsumer, publish, sleep, streamName } from './harness.js';

describe('a shared NATS connection and a hostile EventConsumer', () => {
  let nc: NatsConnection;
  let pool: ConnectionPool;
  let metrics: OperatorMetrics;
  const stream = streamName('SHARED');

  beforeAll(async () => {
    nc = await connect({ servers: testStack().natsUrl });
    await createStreamAndConsumer(nc, stream, 'worker');
    await publish(nc, stream, 7);
    metrics = new OperatorMetrics();
    pool = new ConnectionPool({ logger: silentLogger, metrics, connectTimeoutMs: 5000 });
  });

  afterAll(async () => {
    await pool?.closeAll();
    await nc?.close();
  });

  const connectionEvents = async (): Promise<Record<string, number>> => {
    const values = (await metrics.natsConnectionEvents.get()).values;
    return Object.fromEntries(values.map((v) => [String(v.labels.type), v.value]));
  };

  it.each([
    ['a 5,000-character domain', { domain: 'd'.repeat(5000) }, 'spec.nats.domain'],
    ['an apiPrefix with CRLF', { apiPrefix: '$JS.API\r\nPUB evil 1' }, 'spec.nats.apiPrefix'],
    ['a stream name with a space', { stream: 'A B' }, 'spec.nats.stream'],
  ])('refuses %s without disturbing the healthy reader', async (_what, bad, field) => {
    const sources = new NatsBacklogSources(pool, { timeoutMs: 2000, metrics });
    const servers = [testStack().natsUrl];
    const creds = { auth: { kind: 'none' as const } };
    const healthy = sources.open('ns/healthy', servers, creds, { stream, consumer: 'worker' });
    const hostile = sources.open('ns/hostile', servers, creds, { stream, consumer: 'worker', ...bad });
    expect(await healthy.read()).toMatchObject({ ok: true, sample: { pending: 7 } });

    const refused = await hostile.read();
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.error.kind).toBe('Invalid');
      expect(refused.error.message).toContain(field);
    }
    // The server closes a connection within milliseconds of a bad line; give it ample time.
    await sleep(1500);
    expect(await healthy.read()).toMatchObject({ ok: true, sample: { pending: 7 } });
    const events = await connectionEvents();
    expect(events.disconnect ?? 0).toBe(0);
    expect(events.reconnect ?? 0).toBe(0);
    hostile.close();
    healthy.close();
  });

  it("refuses no read of others when one EventConsumer's requests go unanswered on the shared connection", async () => {
    // Tenant A's EventConsumers name a JetStream domain whose API someone subscribes to and never
    // answers (what a JetStream that lost its meta leader looks like: every request times out
    // while the server answers PING). Same servers, no credentials: the connection tenant B uses.
    // Before, once four of A's reads had waited a second on it, the connection counted as slow and
    // B's reads were refused as Busy as well, for as long as A kept polling: B never scaled.
    const sink = await connect({ servers: testStack().natsUrl });
    sink.subscribe('$JS.silent.API.>');
    // The pool-wide limit of slow reads (the next case) set apart: this one is about the connection's.
    const sharedPool = new ConnectionPool({ logger: silentLogger, connectTimeoutMs: 5000, maxSlowReads: 16 });
    try {
      const sources = new NatsBacklogSources(sharedPool, { timeoutMs: 3000 });
      const servers = [testStack().natsUrl];
      const creds = { auth: { kind: 'none' as const } };
      const healthy = sources.open('b/healthy', servers, creds, { stream, consumer: 'worker' });
      const unanswered = Array.from({ length: 6 }, (_, i) =>
        sources.open(`a/ec-${i}`, servers, creds, { stream, consumer: 'worker', domain: 'silent' }),
      );
      expect(await healthy.read()).toMatchObject({ ok: true, sample: { pending: 7 } });
      // A's first reads: nothing is known of them yet, so they are taken for answered in time, as
      // B's are (B's reads may be refused while they wait, for one timeout at most).
      const first = unanswered.map((r) => r.read());
      for (const r of await Promise.all(first))
        expect(r).toMatchObject({ ok: false, error: { kind: 'Unreachable' } });

      // Their timeouts are known now: once four of A's reads have waited a second, A's next ones are
      // refused (Busy, not toward fallback) — and B's are still answered.
      const waiting = unanswered.slice(0, 4).map((r) => r.read());
      await sleep(1300);
      const refused = await Promise.all(unanswered.slice(4).map((r) => r.read()));
      for (const r of refused) expect(r).toMatchObject({ ok: false, error: { kind: 'Busy' } });
      expect(await healthy.read()).toMatchObject({ ok: true, sample: { pending: 7 } });
      for (const r of await Promise.all(waiting))
        expect(r).toMatchObject({ ok: false, error: { kind: 'Unreachable' } });
      for (const r of unanswered) r.close();
      healthy.close();
    } finally {
      await sharedPool.closeAll();
      await sink.close();
    }
  });

  it('holds at most the allowed slow reads when requests time out on many connections', async () => {
    // The same unanswered domain, each of A's EventConsumers on its own connection (another user in
    // the URL, as a user or Secret per EventConsumer would be): the per-connection limit never
    // applies. Before, every one of their reads waited out its timeout on a worker. R's domain
    // goes unanswered too, until its JetStream is back (a relay to the real API then answers).
    const sink = await connect({ servers: testStack().natsUrl });
    sink.subscribe('$JS.silent.API.>');
    let back = false;
    sink.subscribe('$JS.flaky.API.>', {
      callback: (_err, m) => {
        if (!back) return;
        const subject = m.subject.replace('$JS.flaky.API.', '$JS.API.');
        void sink.request(subject, m.data).then(
          (reply) => m.respond(reply.data),
          () => undefined,
        );
      },
    });
    const pool = new ConnectionPool({ logger: silentLogger, connectTimeoutMs: 5000, maxSlowReads: 2 });
    try {
      const sources = new NatsBacklogSources(pool, { timeoutMs: 2000 });
      const host = new URL(testStack().natsUrl).host;
      const creds = { auth: { kind: 'none' as const } };
      const healthy = sources.open('b/healthy', [testStack().natsUrl], creds, { stream, consumer: 'worker' });
      const unanswered = Array.from({ length: 4 }, (_, i) =>
        sources.open(`a/ec-${i}`, [`nats://a${i}@${host}`], creds, {
          stream,
          consumer: 'worker',
          domain: 'silent',
        }),
      );
      const recovering = sources.open('r/ec', [`nats://r@${host}`], creds, {
        stream,
        consumer: 'worker',
        domain: 'flaky',
      });
      expect(await healthy.read()).toMatchObject({ ok: true, sample: { pending: 7 } });
      // First reads: two wait past the second (the slots), the other three are let go then as
      // Busy (not toward fallback), their requests going on.
      const first = await Promise.all([...unanswered, recovering].map((r) => r.read()));
      expect(first.filter((r) => !r.ok && r.error.kind === 'Unreachable')).toHaveLength(2);
      expect(first.filter((r) => !r.ok && r.error.kind === 'Busy')).toHaveLength(3);
      // The let-go requests time out too, a moment later (2 s after they were sent).
      await sleep(500);

      // Each last read timed out: two are sent and take the slots at once; the other two are
      // answered at once with their last failure (Unreachable: they count toward fallback).
      back = true;
      let waitingOver = false;
      const waiting = Promise.all(unanswered.slice(0, 2).map((r) => r.read())).finally(
        () => (waitingOver = true),
      );
      const repeated = await Promise.all([...unanswered.slice(2), recovering].map((r) => r.read()));
      expect(waitingOver).toBe(false);
      for (const r of repeated) {
        expect(r).toMatchObject({ ok: false, error: { kind: 'Unreachable' } });
        if (!r.ok) expect(r.error.message).toContain("answered with the last read's failure");
      }
      expect(await healthy.read()).toMatchObject({ ok: true, sample: { pending: 7 } });
      // R's request went out all the same, and its JetStream answers again: its next read is sent
      // and answered, while A's still hold the slots.
      await sleep(200);
      expect(await recovering.read()).toMatchObject({ ok: true, sample: { pending: 7 } });
      expect(waitingOver).toBe(false);
      for (const r of await waiting) {
        expect(r).toMatchObject({ ok: false, error: { kind: 'Unreachable' } });
        if (!r.ok) expect(r.error.message).not.toContain("answered with the last read's failure");
      }
      // With the slots free again, a read is sent (and times out) rather than answered at once.
      const sent = await unanswered[3]?.read();
      expect(sent).toMatchObject({ ok: false, error: { kind: 'Unreachable' } });
      if (sent && !sent.ok) expect(sent.error.message).not.toContain("answered with the last read's failure");
      for (const r of [...unanswered, recovering]) r.close();
      healthy.close();
    } finally {
      await pool.closeAll();
      await sink.close();
    }
  });
});
