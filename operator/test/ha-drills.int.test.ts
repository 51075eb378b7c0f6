// Chaos drills for high availability without split brain (issue 11): two real operator processes
// share a Lease on the real API server while the backlog keeps changing, and each drill breaks the
// leader in one way — paused past the lease (SIGSTOP, then SIGCONT), its API traffic delayed or
// blackholed by a TCP proxy, the standby's wall clock jumped an hour. The verdict comes from the
// API server's audit log: every /scale, status and Event write, with the writer's identity, must
// come from the Lease holder at that moment (etcd's order), the standby must not take over before
// the lease ran out, and failover — old holder's last renewal to the new holder's first write —
// must complete within lease duration + retry period + one poll (+ slack for a loaded machine).
// HA_DRILL_RUNS=n repeats each drill (make drill-ha N=20); HA_DRILL_RESULTS collects the numbers.
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createNamespace, eventually, testStack } from '../../test/env.js';
import {
  closeKubeApi,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  installCrd,
  leaseHolder,
  sleep,
  streamName,
} from './harness.js';
import {
  ChangingBacklog,
  LEASE,
  POLL_SECONDS,
  Replica,
  drillSpec,
  faketimeEnv,
  kubeconfigVia,
  readVerdict,
  recordNumbers,
} from './ha-drill.js';
import { TcpProxy } from './tcp-proxy.js';

const RUNS = Math.max(1, Number(process.env.HA_DRILL_RUNS ?? '1') || 1);
const LEASE_MS = LEASE.durationSeconds * 1000;
const RETRY_MS = LEASE.retryPeriodSeconds * 1000;
const POLL_MS = POLL_SECONDS * 1000;
/** Room for a loaded 2-core machine on top of the protocol's own bounds. */
const SLACK_MS = 4000;
const LEASE_NAME = 'jetscale-ha-drill';

interface Drill {
  ns: { name: string; cleanup: () => Promise<void> };
  stream: string;
  backlog: ChangingBacklog;
  replicas: Replica[];
  proxies: TcpProxy[];
}

describe('HA drills: at most one writer, failover within lease duration + one poll', () => {
  let nc: NatsConnection;
  let drill: Drill | undefined;
  const tmp = os.tmpdir();

  beforeAll(async () => {
    await installCrd();
    nc = await connect({ servers: testStack().natsUrl });
  });

  afterEach(async () => {
    const d = drill;
    drill = undefined;
    if (!d) return;
    await d.backlog.stop();
    await Promise.all(d.replicas.map((r) => r.stop()));
    await Promise.all(d.proxies.map((p) => p.close()));
    const jsm = await jetstreamManager(nc);
    await jsm.streams.delete(d.stream).catch(() => undefined);
    await d.ns.cleanup();
  });

  afterAll(async () => {
    await nc?.close();
    closeKubeApi();
  });

  async function setUp(name: string): Promise<Drill> {
    const ns = await createNamespace(`ha-${name}`);
    const stream = streamName(name);
    await createStreamAndConsumer(nc, stream, 'worker');
    await createDeployment(ns.name, 'worker', 1);
    const d: Drill = {
      ns,
      stream,
      backlog: new ChangingBacklog(nc, stream, 'worker'),
      replicas: [],
      proxies: [],
    };
    drill = d;
    return d;
  }

  function replica(
    d: Drill,
    identity: string,
    extra: { kubeconfig?: string; env?: Record<string, string> } = {},
  ) {
    const r = new Replica({ identity, namespace: d.ns.name, leaseName: LEASE_NAME, ...extra });
    d.replicas.push(r);
    return r;
  }

  async function proxied(d: Drill, identity: string): Promise<{ proxy: TcpProxy; kubeconfig: string }> {
    const file = path.join(tmp, `${d.ns.name}-${identity}.kubeconfig`);
    const { upstreamPort } = kubeconfigVia(0, file);
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: upstreamPort });
    kubeconfigVia(proxy.port, file);
    d.proxies.push(proxy);
    return { proxy, kubeconfig: file };
  }

  async function holderIs(d: Drill, identity: string, timeoutMs: number): Promise<void> {
    await eventually(
      `${identity} to hold the Lease`,
      async () => ((await leaseHolder(d.ns.name, LEASE_NAME)) === identity ? true : undefined),
      timeoutMs,
      200,
    );
  }

  async function started(r: Replica): Promise<void> {
    await eventually(
      `${r.identity} to start`,
      async () => (r.logLines('operator started').length >= r.starts ? true : undefined),
      30_000,
    );
  }

  /** Waits until `identity` made a successful write (status, /scale or Event) after `since` (API server time). */
  async function wroteAfter(d: Drill, identity: string, since: number, timeoutMs: number): Promise<void> {
    await eventually(
      `a write by ${identity}`,
      async () =>
        readVerdict(d.ns.name, LEASE_NAME).writes.some((w) => w.writer === identity && w.at > since)
          ? true
          : undefined,
      timeoutMs,
      250,
    );
  }

  async function startWorkload(d: Drill): Promise<void> {
    await createEventConsumer({
      namespace: d.ns.name,
      name: 'worker',
      target: 'worker',
      servers: [testStack().natsUrl],
      stream: d.stream,
      consumer: 'worker',
      extra: drillSpec,
    });
    d.backlog.start();
  }

  /** The verdict every drill ends with. */
  function verify(drillName: string, d: Drill, expected: Array<[string, string]>): void {
    const report = readVerdict(d.ns.name, LEASE_NAME);
    const numbers = recordNumbers(drillName, report, d.replicas);
    expect(report.violations).toEqual([]);
    expect(report.writes.filter((w) => w.kind === 'scale').length).toBeGreaterThan(0);
    // The induced failovers, in order; a loaded machine may add one (a renewal slower than the
    // renew deadline), which must then meet the same bounds.
    const seen = numbers.failovers.map((f) => `${f.from}→${f.to}`);
    let at = 0;
    for (const [from, to] of expected) {
      const found = seen.indexOf(`${from}→${to}`, at);
      expect({ failover: `${from}→${to}`, seen, found: found >= 0 }).toEqual({
        failover: `${from}→${to}`,
        seen,
        found: true,
      });
      at = found + 1;
    }
    for (const f of numbers.failovers) {
      // Safety: the new holder waited out the old holder's lease, on the API server's clock.
      expect(f.takeoverMs).toBeGreaterThanOrEqual(LEASE_MS - 250);
      // Liveness: it took over within one retry period of the lease running out…
      expect(f.takeoverMs).toBeLessThanOrEqual(LEASE_MS + RETRY_MS + SLACK_MS);
      // …and was writing within one poll after that.
      expect(f.firstWriteMs).toBeDefined();
      expect(f.firstWriteMs ?? Infinity).toBeLessThanOrEqual(LEASE_MS + RETRY_MS + POLL_MS + SLACK_MS);
    }
  }

  for (let run = 1; run <= RUNS; run++) {
    const suffix = RUNS > 1 ? ` (run ${run}/${RUNS})` : '';

    it(`SIGSTOP: a leader paused past its lease writes nothing when it resumes, and exits${suffix}`, async () => {
      const d = await setUp('sigstop');
      const a = replica(d, 'a');
      const b = replica(d, 'b');
      a.start();
      await holderIs(d, 'a', 30_000);
      b.start();
      await started(b);
      await startWorkload(d);
      await wroteAfter(d, 'a', 0, 20_000);

      a.signal('SIGSTOP');
      const pausedAt = Date.now();
      await holderIs(d, 'b', LEASE_MS + RETRY_MS + 20_000);
      await wroteAfter(d, 'b', 0, POLL_MS + 20_000);
      // Past the lease duration, and the new leader is writing: now the old one resumes.
      expect(Date.now() - pausedAt).toBeGreaterThan(LEASE_MS);
      const exiting = a.nextExit(20_000);
      a.signal('SIGCONT');
      const exit = await exiting;
      // Restarted (same pod name), it rejoins as a standby and stays one.
      await started(a);
      await sleep(LEASE_MS);
      const holder = await leaseHolder(d.ns.name, LEASE_NAME);
      await d.backlog.stop();
      // The standby first: the leader's release on SIGTERM would hand it the Lease.
      await a.stop();
      await b.stop();
      verify('sigstop', d, [['a', 'b']]);
      expect(exit).toEqual({ code: 1, signal: null });
      expect(a.logLines('lost leadership')).toHaveLength(1);
      expect(holder).toBe('b');
    });

    it(`proxy: a leader whose API traffic is delayed, then one whose traffic is blackholed, stop writing before the standby starts${suffix}`, async () => {
      const d = await setUp('proxy');
      const pa = await proxied(d, 'a');
      const pb = await proxied(d, 'b');
      const a = replica(d, 'a', { kubeconfig: pa.kubeconfig });
      const b = replica(d, 'b', { kubeconfig: pb.kubeconfig });
      a.start();
      await holderIs(d, 'a', 30_000);
      b.start();
      await started(b);
      await startWorkload(d);
      await wroteAfter(d, 'a', 0, 20_000);

      // 1.5 s each way: a renewal (GET + PUT) takes 6 s > the 5 s renew deadline, so a's term
      // ends; its last requests still arrive 1.5 s late, within the 3 s margin.
      const aExit = a.nextExit(LEASE_MS + 20_000);
      pa.proxy.setMode({ kind: 'delay', ms: 1500 });
      expect(await aExit).toEqual({ code: 1, signal: null });
      await holderIs(d, 'b', LEASE_MS + RETRY_MS + 25_000);
      const bLeads = Date.now();
      await wroteAfter(d, 'b', 0, POLL_MS + 20_000);
      pa.proxy.setMode({ kind: 'pass' });
      await started(a); // restarted as a standby

      // Now cut the new leader off entirely.
      const bExit = b.nextExit(LEASE_MS + 20_000);
      pb.proxy.setMode({ kind: 'blackhole' });
      expect(await bExit).toEqual({ code: 1, signal: null });
      await holderIs(d, 'a', LEASE_MS + RETRY_MS + 25_000);
      await wroteAfter(d, 'a', bLeads, POLL_MS + 20_000);
      pb.proxy.setMode({ kind: 'pass' });
      await started(b);
      await sleep(LEASE_MS / 2);
      expect(await leaseHolder(d.ns.name, LEASE_NAME)).toBe('a');
      await d.backlog.stop();
      await b.stop();
      await a.stop();
      verify('proxy', d, [
        ['a', 'b'],
        ['b', 'a'],
      ]);
    });

    it(`clock: a standby whose wall clock jumps an hour ahead does not take a live Lease, and takes an expired one on time${suffix}`, async () => {
      const d = await setUp('clock');
      const pa = await proxied(d, 'a');
      const clockFile = path.join(tmp, `${d.ns.name}-b.faketime`);
      const a = replica(d, 'a', { kubeconfig: pa.kubeconfig });
      const b = replica(d, 'b', { env: faketimeEnv(clockFile) });
      a.start();
      await holderIs(d, 'a', 30_000);
      // The leader's link is slowed a little (0.3 s each way), so its renewals come every ~2.2 s
      // while the standby looks every ~1 s: the standby sees the same record across the jump,
      // which is when an elector that measures expiry on the wall clock takes over at once.
      pa.proxy.setMode({ kind: 'delay', ms: 300 });
      b.start();
      await started(b);
      await startWorkload(d);
      await wroteAfter(d, 'a', 0, 20_000);

      writeFileSync(clockFile, '+3600\n');
      const holders = new Set<string>();
      const watchUntil = Date.now() + 3 * LEASE_MS;
      while (Date.now() < watchUntil) {
        holders.add((await leaseHolder(d.ns.name, LEASE_NAME)) ?? '?');
        await sleep(250);
      }
      expect([...holders]).toEqual(['a']);
      expect(b.logLines('became leader')).toEqual([]);

      // The leader dies without releasing: the standby, its clock still an hour ahead, waits out
      // the lease on its monotonic clock and takes over.
      await a.kill();
      await holderIs(d, 'b', LEASE_MS + RETRY_MS + 20_000);
      await wroteAfter(d, 'b', 0, POLL_MS + 20_000);
      // The jump was real: b's own log says it became leader an hour from now.
      const [became] = b.logLines('became leader');
      const loggedAt = Date.parse(String(became?.time));
      expect(loggedAt - Date.now()).toBeGreaterThan(3_000_000);

      // And back an hour, while leading: b keeps the Lease and keeps writing.
      writeFileSync(clockFile, '+0\n');
      const backAt = Date.now();
      await sleep(LEASE_MS);
      expect(await leaseHolder(d.ns.name, LEASE_NAME)).toBe('b');
      expect(b.running()).toBe(true);
      await d.backlog.stop();
      await b.stop();
      const report = readVerdict(d.ns.name, LEASE_NAME);
      expect(report.writes.some((w) => w.writer === 'b' && w.at > backAt)).toBe(true);
      verify('clock', d, [['a', 'b']]);
    });
  }
});
