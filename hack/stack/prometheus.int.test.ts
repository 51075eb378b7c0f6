// The local stack's Prometheus for real: it loads jetscale's alert rules, scrapes what is
// registered in its file-SD directory within seconds, and drops a target once it is unregistered,
// as consumer pods come and go.
import { jest } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { alertNames } from '../../monitoring/alerts.js';
import { eventually } from '../../test/env.js';
import { startPrometheus, type PrometheusServer } from './prometheus.js';
import { testScratchDir } from '../../test/scratch.js';

jest.setTimeout(120_000);

interface Target {
  labels: Record<string, string>;
  health: string;
}

describe('the local stack Prometheus', () => {
  let prometheus: PrometheusServer;
  let exporter: Server;
  let port = 0;
  let scrapes = 0;

  beforeAll(async () => {
    exporter = createServer((_req, res) => {
      scrapes++;
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end(`# TYPE probe_scrapes_total counter\nprobe_scrapes_total ${scrapes}\n`);
    });
    await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
    const address = exporter.address();
    port = typeof address === 'object' && address !== null ? address.port : 0;
    prometheus = await startPrometheus({ dir: testScratchDir('jetscale-prom-') });
  });

  afterAll(async () => {
    await prometheus?.stop();
    await new Promise((resolve) => exporter?.close(resolve));
  });

  async function api<T>(p: string): Promise<T> {
    const res = await fetch(`${prometheus.url}${p}`);
    const body = (await res.json()) as { status: string; data: T };
    if (body.status !== 'success') throw new Error(`${p}: ${JSON.stringify(body)}`);
    return body.data;
  }
  const activeTargets = async (): Promise<Target[]> =>
    (await api<{ activeTargets: Target[] }>('/api/v1/targets?state=active')).activeTargets;

  it("loads jetscale's alert rules (demo timings)", async () => {
    const data = await api<{ groups: Array<{ rules: Array<{ name: string; type: string }> }> }>(
      '/api/v1/rules',
    );
    expect(
      data.groups.flatMap((g) => g.rules.filter((r) => r.type === 'alerting').map((r) => r.name)).sort(),
    ).toEqual([...alertNames].sort());
  });

  it('scrapes a registered target with its labels, and forgets it once unregistered', async () => {
    prometheus.targets.register('pod-ns-probe-1', {
      address: `127.0.0.1:${port}`,
      labels: { job: 'probe', namespace: 'ns', pod: 'probe-1' },
    });
    const expected = {
      __name__: 'probe_scrapes_total',
      instance: `127.0.0.1:${port}`,
      job: 'probe',
      namespace: 'ns',
      pod: 'probe-1',
    };
    const scraped = await eventually(
      'the registered target scraped',
      async () => {
        const r = await api<{ result: Array<{ metric: Record<string, string> }> }>(
          `/api/v1/query?query=${encodeURIComponent('probe_scrapes_total')}`,
        );
        return r.result.length > 0 ? r.result.map((x) => x.metric) : undefined;
      },
      60_000,
      500,
    );
    expect(scraped).toEqual([expected]);
    prometheus.targets.unregister('pod-ns-probe-1');
    await eventually(
      'the unregistered target dropped',
      async () => ((await activeTargets()).some((t) => t.labels.job === 'probe') ? undefined : true),
      60_000,
      500,
    );
    // No more scrapes once gone (allow one in flight).
    const after = scrapes;
    await new Promise((r) => setTimeout(r, 3000));
    expect(scrapes - after).toBeLessThanOrEqual(1);
  });
});
