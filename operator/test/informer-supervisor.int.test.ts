// The informer supervisor with a real client-node informer on the real API server, reached through
// the test's TCP proxy: it syncs from the first list and tells adds, updates (one per version) and
// deletes; a first list that fails (the resource not served yet) is answered though not synced,
// restarted with backoff, and synced and "recovered" once the resource is served; a re-list tells
// nothing of objects unchanged; a link cut and healed loses nothing (deletes and creates made
// meanwhile arrive); a watch frozen without a word (a half-open stream) is probed, and a change
// it did not bring restarts the informer and arrives. The decisions are specified without I/O in
// src/kube/watch-health.test.ts.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KubeConfig, type KubernetesListObject, type KubernetesObject } from '@kubernetes/client-node';
import { createNamespace, eventually, uniqueName } from '../../test/env.js';
import { KubeApiClient } from '../src/kube/api-client.js';
import {
  clientNodeInformerFactory,
  InformerSupervisor,
  type RestartCause,
} from '../src/kube/informer-supervisor.js';
import { silentLogger } from '../src/observability/logger.js';
import { apiServerProxy } from './ha-drill.js';
import { closeKubeApi, kubeApi, sleep } from './harness.js';
import { CRDS_PATH, installScalableCrd, type ScalableKind } from './scalable-crd.js';
import type { TcpProxy } from './tcp-proxy.js';

describe('InformerSupervisor with a real informer on the real API server', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let tmp: string;
  let proxy: TcpProxy;
  const clients: KubeApiClient[] = [];
  const supervisors: Array<InformerSupervisor<KubernetesObject>> = [];
  const crds: string[] = [];

  beforeAll(async () => {
    ns = await createNamespace('informer');
    tmp = mkdtempSync(path.join(os.tmpdir(), 'informer-supervisor-'));
    proxy = await apiServerProxy(path.join(tmp, 'kubeconfig'));
  });

  afterEach(async () => {
    proxy.setMode({ kind: 'pass' });
    proxy.unfreezeStreams();
    await Promise.all(supervisors.splice(0).map((s) => s.stop()));
  });

  afterAll(async () => {
    for (const c of clients) c.close();
    for (const crd of crds)
      await kubeApi()
        .request('DELETE', `${CRDS_PATH}/${crd}`)
        .catch(() => undefined);
    await proxy?.close();
    closeKubeApi();
    await ns?.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** A supervisor of `path` whose informer and lists go through the proxy, recording what it tells. */
  function supervise(
    listPath: string,
    options: { resyncMs?: number; staleAfterMs?: number; canaryMs?: number; probeAfterMs?: number } = {},
  ) {
    const kc = new KubeConfig();
    kc.loadFromFile(path.join(tmp, 'kubeconfig'));
    const api = new KubeApiClient(kc);
    clients.push(api);
    const events: string[] = [];
    const restarts: RestartCause[] = [];
    let recovered = 0;
    const supervisor = new InformerSupervisor<KubernetesObject>({
      resource: 'test',
      path: listPath,
      list: () => api.request<KubernetesListObject<KubernetesObject>>('GET', listPath, { timeoutMs: 5000 }),
      factory: clientNodeInformerFactory<KubernetesObject>(kc),
      logger: silentLogger,
      backoff: { baseMs: 500, maxMs: 2000, jitter: 0 },
      resyncMs: options.resyncMs ?? 3_600_000,
      staleAfterMs: options.staleAfterMs ?? 7_200_000,
      canaryMs: options.canaryMs ?? 3_600_000,
      probeAfterMs: options.probeAfterMs ?? 3_600_000,
      onRestart: (cause) => restarts.push(cause),
    });
    supervisor.on({
      add: (o) => events.push(`add ${o.metadata?.name}`),
      update: (o) => events.push(`update ${o.metadata?.name}`),
      delete: (o) => events.push(`delete ${o.metadata?.name}`),
      recovered: () => recovered++,
    });
    supervisors.push(supervisor);
    return { supervisor, events, restarts, recovered: () => recovered };
  }

  const configMaps = (): string => `/api/v1/namespaces/${ns.name}/configmaps`;
  async function configMap(name: string, data: Record<string, string> = {}): Promise<void> {
    await kubeApi().request('POST', configMaps(), {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data },
    });
  }
  const patchConfigMap = (name: string, data: Record<string, string>): Promise<unknown> =>
    kubeApi().request('PATCH', `${configMaps()}/${name}`, { body: { data } });
  const deleteConfigMap = (name: string): Promise<unknown> =>
    kubeApi().request('DELETE', `${configMaps()}/${name}`);
  const told = (events: string[], prefix: string): string[] =>
    events.filter((e) => e.split(' ')[1]?.startsWith(prefix) === true);

  it('syncs from the first list and tells adds, one update per new version, and deletes as they happen; a re-list tells nothing of what did not change', async () => {
    const p = uniqueName('sync');
    await configMap(`${p}-a`);
    await configMap(`${p}-b`);
    const { supervisor, events, restarts, recovered } = supervise(configMaps(), { resyncMs: 2000 });
    await supervisor.start();
    await eventually('synced', async () => (supervisor.hasSynced() ? true : undefined), 10_000, 50);
    expect(told(events, p).sort()).toEqual([`add ${p}-a`, `add ${p}-b`]);
    expect(supervisor.get(`${p}-a`, ns.name)?.metadata?.name).toBe(`${p}-a`);
    await patchConfigMap(`${p}-a`, { k: '1' });
    await deleteConfigMap(`${p}-b`);
    await eventually(
      'the update and the delete',
      async () => (told(events, p).length >= 4 ? true : undefined),
      10_000,
      50,
    );
    // Two re-lists (resyncMs 2 s) later: nothing more told of these objects.
    await eventually(
      'two re-lists',
      async () => (restarts.filter((r) => r === 'relist').length >= 2 ? true : undefined),
      15_000,
      100,
    );
    await sleep(1000);
    expect(told(events, p)).toEqual([`add ${p}-a`, `add ${p}-b`, `update ${p}-a`, `delete ${p}-b`]);
    // A re-list is not a recovery: nothing had failed.
    expect(recovered()).toBe(0);
    expect(supervisor.get(`${p}-b`, ns.name)).toBeUndefined();
  });

  it('a first list that fails (the resource not served yet) is answered though not synced, restarted with backoff, and synced and recovered once it is served', async () => {
    const suffix = uniqueName('x').slice(2);
    const kind: ScalableKind = {
      group: `inf${suffix}.jetscale.test`,
      kind: 'Gadget',
      plural: 'gadgets',
    } as ScalableKind;
    crds.push(`${kind.plural}.${kind.group}`);
    const listPath = `/apis/${kind.group}/v1/namespaces/${ns.name}/${kind.plural}`;
    const { supervisor, events, restarts, recovered } = supervise(listPath);
    expect(supervisor.hasAnswered()).toBe(false);
    await supervisor.start();
    await eventually('answered', async () => (supervisor.hasAnswered() ? true : undefined), 10_000, 50);
    expect(supervisor.hasSynced()).toBe(false);
    await eventually(
      'restarted after errors',
      async () => (restarts.filter((r) => r === 'error').length >= 2 ? true : undefined),
      15_000,
      100,
    );
    expect(events).toEqual([]);
    await installScalableCrd(kind);
    await kubeApi().request('POST', listPath, {
      body: {
        apiVersion: `${kind.group}/v1`,
        kind: kind.kind,
        metadata: { name: 'g' },
        spec: { replicas: 1 },
      },
    });
    await eventually(
      'synced once served',
      async () => (supervisor.hasSynced() ? true : undefined),
      30_000,
      100,
    );
    await eventually(
      'the object told',
      async () => (events.includes('add g') ? true : undefined),
      10_000,
      50,
    );
    expect(recovered()).toBe(1);
  });

  it('a link cut and healed loses nothing: what was deleted, created and changed meanwhile arrives', async () => {
    const p = uniqueName('cut');
    await configMap(`${p}-a`);
    await configMap(`${p}-b`);
    const { supervisor, events, restarts } = supervise(configMaps(), { staleAfterMs: 6000 });
    await supervisor.start();
    await eventually('synced', async () => (supervisor.hasSynced() ? true : undefined), 10_000, 50);
    proxy.setMode({ kind: 'blackhole' });
    await deleteConfigMap(`${p}-a`);
    await configMap(`${p}-c`);
    await patchConfigMap(`${p}-b`, { k: '2' });
    await sleep(2000);
    proxy.setMode({ kind: 'pass' });
    await eventually(
      'the delete, the add and the update',
      async () => {
        const seen = told(events, p);
        return [`delete ${p}-a`, `add ${p}-c`, `update ${p}-b`].every((e) => seen.includes(e))
          ? true
          : undefined;
      },
      30_000,
      100,
    );
    process.stderr.write(
      `[informer cut] restarts ${JSON.stringify(restarts)}; told ${JSON.stringify(told(events, p))}\n`,
    );
    expect(supervisor.get(`${p}-a`, ns.name)).toBeUndefined();
    expect(supervisor.get(`${p}-c`, ns.name)).toBeDefined();
  });

  it('a watch frozen without a word is probed: a change it did not bring restarts the informer, and arrives', async () => {
    const p = uniqueName('frozen');
    await configMap(`${p}-a`);
    const { supervisor, events, restarts } = supervise(configMaps(), { canaryMs: 2000, probeAfterMs: 2000 });
    await supervisor.start();
    await eventually('synced', async () => (supervisor.hasSynced() ? true : undefined), 10_000, 50);
    let nudges = 0;
    // The proxy tells a stream by bytes pushed more than a second after the last ones.
    await eventually(
      'the watch to show as a stream',
      async () => {
        if (proxy.streams() >= 1) return true;
        await patchConfigMap(`${p}-a`, { nudge: String(++nudges) });
        return undefined;
      },
      30_000,
      1500,
    );
    expect(proxy.freezeStreams()).toBeGreaterThanOrEqual(1);
    const before = told(events, p).length;
    const restartsBefore = restarts.length;
    await patchConfigMap(`${p}-a`, { k: 'missed' });
    await eventually(
      'the change to arrive',
      async () =>
        (supervisor.get(`${p}-a`, ns.name) as { data?: Record<string, string> } | undefined)?.data?.k ===
        'missed'
          ? true
          : undefined,
      30_000,
      100,
    );
    process.stderr.write(
      `[informer frozen] restarts ${JSON.stringify(restarts.slice(restartsBefore))}; told after the freeze ${JSON.stringify(told(events, p).slice(before))}\n`,
    );
    expect(restarts.slice(restartsBefore)).toContain('stale');
    expect(told(events, p).slice(before)).toContain(`update ${p}-a`);
  });
});
