// An ex-leader's status write that reaches the API server late. The fence (fenced-api.ts) stops a
// process from *sending* once its term is over, but a write sent in time can still arrive after
// the next leader took over: a partition that holds its bytes, a paused or congested link, a kernel
// buffer that drains after the process froze (SIGSTOP) — TCP delivers them when the link heals. A
// late /scale write is refused by its resourceVersion precondition when the target changed since;
// a late status write must not overwrite the newer leader's status either.
//
// On the real stack: two Reconcilers on the real API server and NATS, each with its own leadership
// term (the test opens and ends them); the old leader's status writes go through a TCP proxy that
// delays every byte, so one sent just before its term ended lands after the new leader wrote.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { AckPolicy } from '@nats-io/jetstream';
import { eventually } from '../../test/env.js';
import type { EventConsumerObject } from '../src/api/v1alpha1/event-consumer.js';
import { eventConsumerPath } from '../src/api/v1alpha1/group-version.js';
import { ConnectionPool } from '../src/backlog/connection-pool.js';
import { NatsBacklogSources } from '../src/backlog/nats-backlog-sources.js';
import { Reconciler } from '../src/controller/reconciler.js';
import { KubeApiClient, type KubeApi } from '../src/kube/api-client.js';
import { EventRecorder } from '../src/kube/event-recorder.js';
import { FencedKubeApi, termController, type LeadershipTerm } from '../src/kube/fenced-api.js';
import { ScaleClient } from '../src/kube/scale-client.js';
import { SecretReader } from '../src/kube/secret-reader.js';
import { silentLogger } from '../src/observability/logger.js';
import { OperatorMetrics } from '../src/observability/metrics.js';
import { apiServerProxy } from './ha-drill.js';
import { eventConsumerStatus, kubeApi, sleep, useStreamDrill } from './harness.js';
import type { TcpProxy } from './tcp-proxy.js';

/** How long the proxy holds each chunk of the old leader's status writes. */
const LATE_MS = 4000;
/** Each case's Deployment and EventConsumer (useStreamDrill addTarget), on its stream's consumer "worker". */
const TARGET = { consumer: 'worker', extra: { minReplicas: 1, maxReplicas: 10 } };

/** A term the test ends: writes are fenced from then on; requests in flight are left alone. */
function openTerm(): LeadershipTerm & { end(): void } {
  let until = Number.POSITIVE_INFINITY;
  return {
    signal: termController().signal,
    writableUntil: () => until,
    end: () => void (until = performance.now() - 1),
  };
}

interface Leader {
  reconciler: Reconciler;
  term: ReturnType<typeof openTerm>;
  /** Status PATCHes that left this process (passed its fence). */
  statusSent: number;
  poll(): Promise<void>;
  close(): Promise<void>;
}

describe("an ex-leader's status write that arrives after the next leader wrote", () => {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'late-status-'));
  let proxy: TcpProxy | undefined;
  let proxied: KubeApiClient | undefined;
  const leaders: Leader[] = [];
  afterAll(async () => {
    for (const l of leaders) await l.close();
    proxied?.close();
    await proxy?.close();
    rmSync(tmp, { recursive: true, force: true });
  });
  const drill = useStreamDrill({ namespace: 'op-latestatus', instance: 'late-status-test' });

  /** A leader of its own term; its status PATCHes go through `statusApi`, all else directly. */
  function leader(identity: string, statusApi: KubeApi, namespace: string, name: string): Leader {
    const term = openTerm();
    const direct = kubeApi();
    const routed: KubeApi = {
      request: (method, p, options) =>
        (method === 'PATCH' && p.endsWith('/status') ? statusApi : direct).request(method, p, options),
    };
    const self: Leader = {
      term,
      statusSent: 0,
      reconciler: undefined as unknown as Reconciler,
      poll: async () => {
        cached = await direct.request<EventConsumerObject>('GET', eventConsumerPath(namespace, name));
        await self.reconciler.reconcile(`${namespace}/${name}`);
      },
      close: async () => {
        self.reconciler.forgetAll();
        await pool.closeAll();
      },
    };
    const api = new FencedKubeApi(routed, term, {
      onWrite: (verb, outcome) => {
        if (verb === 'PATCH' && outcome === 'sent') self.statusSent++;
      },
    });
    const metrics = new OperatorMetrics({ processMetrics: false });
    const pool = new ConnectionPool({ logger: silentLogger, metrics, connectTimeoutMs: 2000 });
    let cached: EventConsumerObject | undefined;
    self.reconciler = new Reconciler({
      cache: { get: () => cached },
      api,
      scale: new ScaleClient(api),
      secrets: new SecretReader(api),
      backlog: new NatsBacklogSources(pool, { timeoutMs: 2000, metrics }),
      events: new EventRecorder({ api, logger: silentLogger, instance: identity }),
      metrics,
      logger: silentLogger,
      writer: identity,
    });
    leaders.push(self);
    return self;
  }

  /** The API server through a TCP proxy the test slows down (made once, passing at first). */
  async function statusLink(): Promise<{ proxy: TcpProxy; proxied: KubeApiClient }> {
    if (proxy === undefined || proxied === undefined) {
      const file = path.join(tmp, 'kubeconfig');
      proxy = await apiServerProxy(file);
      const kc = new KubeConfig();
      kc.loadFromFile(file);
      proxied = new KubeApiClient(kc);
    }
    proxy.setMode({ kind: 'pass' });
    return { proxy, proxied };
  }

  it('does not overwrite the new leader’s status: the status never goes back to the old term’s', async () => {
    const name = 'late';
    const ns = drill.ns.name;
    await drill.addTarget(name, await drill.addStream(name), TARGET);
    const { proxy, proxied } = await statusLink();

    // The old leader writes its status for generation 1, on a link that passes.
    const a = leader('leader-a', proxied, ns, name);
    await a.poll();
    await a.reconciler.statusSettled();
    expect((await eventConsumerStatus(ns, name)).observedGeneration).toBe(1);

    // The link slows down; a spec change (generation 2) makes a write its status: sent in its
    // term, held up on the way. Then its term ends (its writes from now on are fenced).
    proxy.setMode({ kind: 'delay', ms: LATE_MS });
    await kubeApi().request('PATCH', eventConsumerPath(ns, name), { body: { spec: { maxReplicas: 9 } } });
    const sentBefore = a.statusSent;
    await a.poll();
    await eventually('the old leader to send its status', async () =>
      a.statusSent > sentBefore ? true : undefined,
    );
    a.term.end();

    // The new leader takes over and writes its status for generation 3 at once.
    await kubeApi().request('PATCH', eventConsumerPath(ns, name), { body: { spec: { maxReplicas: 8 } } });
    const b = leader('leader-b', kubeApi(), ns, name);
    await b.poll();
    await b.reconciler.statusSettled();
    expect((await eventConsumerStatus(ns, name)).observedGeneration).toBe(3);

    // The old leader's write arrives meanwhile (twice the delay: there and back, plus slack); the
    // status stays the new leader's throughout.
    const seen: Array<number | undefined> = [];
    const until = performance.now() + 2 * LATE_MS + 3000;
    while (performance.now() < until) {
      seen.push((await eventConsumerStatus(ns, name)).observedGeneration);
      await sleep(200);
    }
    expect([...new Set(seen)]).toEqual([3]);
    await a.reconciler.statusSettled();
  });

  it('a late write that lands before the new leader wrote this object is written over at its first poll, though its status did not change', async () => {
    const name = 'late-first';
    const ns = drill.ns.name;
    // No backlog, the Deployment's replica ready: the new leader's first poll finds the status the
    // old leader wrote before (nothing in it moved), so only its term tells it to write.
    const stream = await drill.addStream(name);
    await drill.addTarget(name, stream, TARGET);
    await eventually(`${name}'s replica ready`, async () => {
      const d = await kubeApi().request<{ status?: { readyReplicas?: number } }>(
        'GET',
        `/apis/apps/v1/namespaces/${ns}/deployments/${name}`,
      );
      return d.status?.readyReplicas === 1 ? true : undefined;
    });
    const { proxy, proxied } = await statusLink();
    const ready = async (): Promise<{ reason?: string; writtenBy?: unknown }> => {
      const status = await eventConsumerStatus(ns, name);
      return {
        reason: status.conditions?.find((c) => c.type === 'Ready')?.reason,
        writtenBy: status.writtenBy,
      };
    };

    // The old leader writes Scaling on a link that passes.
    const a = leader('leader-c', proxied, ns, name);
    await a.poll();
    await a.reconciler.statusSettled();
    expect(await ready()).toEqual({ reason: 'Scaling', writtenBy: 'leader-c' });

    // The consumer is gone for a moment: the old leader's ConsumerNotFound is sent on a slow link,
    // then its term ends. The consumer is back before the new leader's first poll.
    proxy.setMode({ kind: 'delay', ms: LATE_MS });
    await drill.jsm.consumers.delete(stream, 'worker');
    const sentBefore = a.statusSent;
    await a.poll();
    await eventually('the old leader to send its ConsumerNotFound', async () =>
      a.statusSent > sentBefore ? true : undefined,
    );
    a.term.end();
    await drill.jsm.consumers.add(stream, {
      durable_name: 'worker',
      ack_policy: AckPolicy.Explicit,
      ack_wait: 60_000_000_000,
    });
    const b = leader('leader-d', kubeApi(), ns, name);
    await b.poll();
    await b.reconciler.statusSettled();

    // Until the late write has had time to land (there and back, plus slack), and after: the
    // status is the new leader's. Before, the new leader wrote nothing (the status it built was the
    // one stored), and the late ConsumerNotFound then stood until something changed or the 5-min
    // status refresh.
    const seen: string[] = [];
    const until = performance.now() + 2 * LATE_MS + 3000;
    while (performance.now() < until) {
      const r = await ready();
      seen.push(`${r.reason} by ${String(r.writtenBy)}`);
      await sleep(200);
    }
    expect([...new Set(seen)]).toEqual(['Scaling by leader-d']);
    await a.reconciler.statusSettled();
  });
});
