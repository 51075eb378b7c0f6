// One tenant's EventConsumers name a scale target served by an aggregated API (an APIService) whose
// backend answers the API server's own availability checks but never answers the requests it
// proxies for the operator: API discovery of that group version hangs. Another tenant's EventConsumer, on
// a Deployment in another namespace, must keep scaling within its normal time. Before discovery was
// under the cap on slow requests (kube/slow-requests.ts), every reconcile naming the hung group
// version waited on the one discovery request in flight (30 s): 34 EventConsumers held all 32
// workers, and the healthy tenant waited for a worker. In process, on the same hung APIService:
// ScaleClient sends one discovery request, lets the other reconciles go at slowAfterMs, answers
// another tenant meanwhile, and lets a later reconcile go at once, without a timer.
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from 'node:https';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { createNamespace, eventually, kubeConfig, testStack } from '../../test/env.js';
import { testScratchDir } from '../../test/scratch.js';
import { KubeApiClient } from '../src/kube/api-client.js';
import { ScaleClient, ScaleError } from '../src/kube/scale-client.js';
import { SlowRequests } from '../src/kube/slow-requests.js';
import {
  closeKubeApi,
  condition,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  eventConsumerStatus,
  installCrd,
  kubeApi,
  leaseHolder,
  spawnOperator,
  sleep,
  streamName,
  type OperatorProcess,
  healthyTenant,
} from './harness.js';
import { makeTestPki } from './test-pki.js';

const GROUP = 'hangdisc.jetscale.test';
const APISERVICE = `v1.${GROUP}`;

/**
 * An APIService of GROUP/v1 in `namespace` whose backend holds every request the API server
 * proxies for a jetscale-operator User-Agent (the operator's, and the in-process case's client),
 * and answers the rest (the API server's availability checks, its discovery aggregation: those
 * carry a user too, so X-Remote-User cannot tell them apart). Resolves once it is Available.
 */
async function hungApiService(namespace: string): Promise<{
  held: Array<{ url: string; response: ServerResponse }>;
  remove: () => Promise<void>;
}> {
  const pki = makeTestPki(testScratchDir('jetscale-hungdisc-'));
  const held: Array<{ url: string; response: ServerResponse }> = [];
  const backend = createServer(
    { cert: readFileSync(pki.files.serverCert), key: readFileSync(pki.files.serverKey) },
    (req: IncomingMessage, res: ServerResponse) => {
      if (req.headers['user-agent']?.startsWith('jetscale-operator') === true) {
        held.push({ url: req.url ?? '', response: res });
        return;
      }
      if (req.url?.startsWith(`/apis/${GROUP}/v1`)) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(
          JSON.stringify({
            kind: 'APIResourceList',
            apiVersion: 'v1',
            groupVersion: `${GROUP}/v1`,
            resources: [
              { name: 'widgets', singularName: 'widget', namespaced: true, kind: 'Widget', verbs: ['get'] },
              {
                name: 'widgets/scale',
                singularName: '',
                namespaced: true,
                kind: 'Scale',
                verbs: ['get', 'patch'],
              },
            ],
          }),
        );
        return;
      }
      res.writeHead(404, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 404 }));
    },
  );
  await new Promise<void>((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const port = (backend.address() as { port: number }).port;
  const remove = async (): Promise<void> => {
    backend.closeAllConnections();
    backend.close();
    await kubeApi()
      .request('DELETE', `/apis/apiregistration.k8s.io/v1/apiservices/${APISERVICE}`)
      .catch(() => undefined);
  };
  try {
    await kubeApi().request('POST', `/api/v1/namespaces/${namespace}/services`, {
      body: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'hangdisc' },
        // The backend listens on 127.0.0.1 (localhost may resolve to ::1 first).
        spec: { type: 'ExternalName', externalName: '127.0.0.1', ports: [{ port }] },
      },
    });
    await kubeApi().request('POST', '/apis/apiregistration.k8s.io/v1/apiservices', {
      body: {
        apiVersion: 'apiregistration.k8s.io/v1',
        kind: 'APIService',
        metadata: { name: APISERVICE },
        spec: {
          group: GROUP,
          version: 'v1',
          service: { namespace: namespace, name: 'hangdisc', port },
          insecureSkipTLSVerify: true,
          groupPriorityMinimum: 100,
          versionPriority: 10,
        },
      },
    });
    await eventually(
      'the APIService to be available',
      async () => {
        const svc = await kubeApi().request<{
          status?: { conditions?: Array<{ type: string; status: string; message?: string }> };
        }>('GET', `/apis/apiregistration.k8s.io/v1/apiservices/${APISERVICE}`);
        const available = svc.status?.conditions?.find((c) => c.type === 'Available');
        if (available?.status === 'True') return true;
        throw new Error(`Available ${available?.status}: ${available?.message}`);
      },
      60_000,
      500,
    );
  } catch (err) {
    await remove();
    throw err;
  }
  return { held, remove };
}

describe('an aggregated API whose discovery hangs', () => {
  let nc: NatsConnection;
  let operator: OperatorProcess | undefined;

  beforeAll(async () => {
    await installCrd();
    nc = await connect({ servers: testStack().natsUrl });
  });

  afterAll(async () => {
    if (operator && operator.child.exitCode === null && operator.child.signalCode === null)
      operator.child.kill('SIGKILL');
    await operator?.exited;
    await nc?.close();
    closeKubeApi();
  });

  it("costs another tenant's EventConsumer none of its cadence, and the hung ones say what is slow", async () => {
    const tenant = await createNamespace('op-hungdisc');
    const stream = streamName('hungdisc');
    await createStreamAndConsumer(nc, stream, 'worker');
    const hung = await hungApiService(tenant.name);
    const held = hung.held;
    let healthyCleanup = async (): Promise<void> => undefined;
    try {
      const healthy = await healthyTenant(nc, 'op-hungdisc-healthy', { scaleTimeoutMs: 90_000 });
      healthyCleanup = healthy.cleanup;
      const lease = 'jetscale-test-hungdisc';
      operator = spawnOperator('hungdisc-a', {
        JETSCALE_NAMESPACES: `${tenant.name},${healthy.namespace}`,
        JETSCALE_LEASE_NAME: lease,
        JETSCALE_LEASE_NAMESPACE: tenant.name,
      });
      await eventually(
        'hungdisc-a to lead',
        async () => ((await leaseHolder(tenant.name, lease)) === 'hungdisc-a' ? true : undefined),
        30_000,
      );
      // Without the hung tenant: 250 messages at 100 per replica need 3 replicas.
      const alone = await healthy.scalesTo(250, 3);
      const targets = 34; // more than the workers (32)
      for (let i = 0; i < targets; i++)
        await createEventConsumer({
          namespace: tenant.name,
          name: `widget-${i}`,
          target: `widget-${i}`,
          servers: [testStack().natsUrl],
          stream,
          consumer: 'worker',
          extra: {
            pollInterval: '1s',
            scaleTargetRef: { apiVersion: `${GROUP}/v1`, kind: 'Widget', name: `widget-${i}` },
          },
        });
      await eventually(
        'the discovery to hang',
        async () => (held.length >= 1 ? true : undefined),
        30_000,
        200,
      );
      // Every hung EventConsumer has been reconciled at least once meanwhile (1 s polls).
      await new Promise((r) => setTimeout(r, 4000));
      // With it: 200 more need 5 replicas.
      const besideHung = await healthy.scalesTo(200, 5);
      process.stderr.write(
        `[hung discovery] ${held.length} proxied requests held; the healthy tenant scaled ${alone} ms after its backlog rose alone, ${besideHung} ms beside the hung discovery\n`,
      );
      // Within two poll intervals of the backlog rising, and 2 s for the reads and the write.
      expect(besideHung).toBeLessThanOrEqual(2 * healthy.pollMs + 2000);
      const slow = await eventually(
        'a hung one reported slow',
        async () => {
          for (let i = 0; i < targets; i++) {
            const ready = condition(await eventConsumerStatus(tenant.name, `widget-${i}`), 'Ready');
            if (ready?.reason === 'TargetSlow') return ready;
          }
          return undefined;
        },
        30_000,
        500,
      );
      process.stderr.write(
        `[hung discovery] a hung one's Ready ${slow.status} ${slow.reason}: ${slow.message}\n`,
      );
      expect(slow.status).toBe('False');
      expect(slow.message).toContain(`kubectl get apiservice ${APISERVICE}`);
    } finally {
      if (operator && operator.child.exitCode === null && operator.child.signalCode === null)
        operator.child.kill('SIGKILL');
      await operator?.exited;
      await hung.remove();
      await tenant.cleanup();
      await healthyCleanup();
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(stream).catch(() => undefined);
    }
  });

  // In process, what the reconcilers do on one ScaleClient: eight reconciles at once (eight
  // workers) on targets of the hung group version, with one slot for slow requests.
  it("ScaleClient sends one discovery request for the hung group version, lets the other reconciles go at slowAfterMs, answers another tenant's Deployment meanwhile, and lets a later reconcile go at once", async () => {
    const tenant = await createNamespace('hungdisc-a');
    const other = await createNamespace('hungdisc-b');
    await createDeployment(other.name, 'web', 2);
    const hung = await hungApiService(tenant.name);
    const api = new KubeApiClient(kubeConfig(), { userAgent: 'jetscale-operator (hung-discovery.int)' });
    const SLOW_AFTER_MS = 500;
    const discovery = `/apis/${GROUP}/v1`;
    const discoveries = (): number => hung.held.filter((h) => h.url.split('?')[0] === discovery).length;
    try {
      const client = new ScaleClient(api, {
        slowRequests: new SlowRequests({ maxSlow: 1, slowAfterMs: SLOW_AFTER_MS }),
      });
      const widget = { apiVersion: `${GROUP}/v1`, kind: 'Widget', name: 'w' };
      const settledAt: Array<number | undefined> = [];
      const started = performance.now();
      const outcomes = Array.from({ length: 8 }, (_, i) =>
        client.get(tenant.name, { ...widget, name: `w-${i}` }).then(
          () => 'answered',
          (err: unknown) => {
            settledAt[i] = performance.now() - started;
            return err instanceof ScaleError ? err.kind : String(err);
          },
        ),
      );
      await eventually(
        'the discovery held by the backend',
        async () => (discoveries() > 0 ? true : undefined),
        10_000,
        50,
      );
      await eventually(
        'seven reconciles let go',
        async () => (settledAt.filter((t) => t !== undefined).length >= 7 ? true : undefined),
        10_000,
        50,
      );
      process.stderr.write(
        `[hung discovery, in process] let go after ${JSON.stringify(settledAt.map((t) => (t === undefined ? null : Math.round(t))))} ms; discoveries held ${discoveries()}\n`,
      );
      // One discovery request went out; it holds the one slot; the seven others were let go, each
      // once it had waited slowAfterMs (generous: a loaded machine), none left waiting on it.
      expect(discoveries()).toBe(1);
      expect(settledAt.filter((t) => t !== undefined)).toHaveLength(7);
      for (const t of settledAt) if (t !== undefined) expect(t).toBeLessThan(SLOW_AFTER_MS + 5000);
      expect(
        await Promise.race([Promise.all(outcomes.filter((_, i) => settledAt[i] !== undefined)), sleep(0)]),
      ).toEqual(Array(7).fill('Slow'));
      // Another tenant, on a Deployment: answered meanwhile.
      const b = await client.get(other.name, { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' });
      expect(b.specReplicas).toBe(2);
      // A reconcile after this finds the discovery in flight past slowAfterMs: let go at once,
      // without waiting on a timer (a tenant's many EventConsumers on a hung group version cost
      // no worker a poll), and nothing more is sent.
      const late = await Promise.race([
        client.get(tenant.name, widget).catch((err: unknown) => err),
        sleep(200).then(() => 'waited on a timer'),
      ]);
      expect(late).toBeInstanceOf(ScaleError);
      expect((late as ScaleError).kind).toBe('Slow');
      expect((late as ScaleError).message).toContain(`kubectl get apiservice ${APISERVICE}`);
      await sleep(500);
      expect(discoveries()).toBe(1);
    } finally {
      api.close();
      await hung.remove();
      await tenant.cleanup();
      await other.cleanup();
    }
  }, 120_000);
});
