// A stat panel is one instant query at the end of the run. When its exporter missed the last
// scrapes (a loaded host: both operator pods' scrapes failed in the last 10 s of a real-node run),
// Prometheus marks the series stale and the instant is empty, though the query answered for the
// whole run. The proof must then judge the panel over the run and say so.
import { jest } from '@jest/globals';
import { createServer, type Server } from 'node:http';
import { startPrometheus, type PrometheusServer } from '../hack/stack/prometheus.js';
import { eventually } from '../test/env.js';
import { testScratchDir } from '../test/scratch.js';
import { groupByPanel, proveQueries } from './panel-proof.js';

jest.setTimeout(120_000);

describe('proving a stat panel whose exporter stopped answering before the end of the run', () => {
  let prometheus: PrometheusServer;
  let exporter: Server;
  let failing = false;
  let port = 0;

  beforeAll(async () => {
    exporter = createServer((_req, res) => {
      if (failing) {
        res.statusCode = 503;
        res.end('stalled');
        return;
      }
      res.setHeader('content-type', 'text/plain; version=0.0.4');
      res.end('# TYPE jetscale_leader gauge\njetscale_leader 1\n');
    });
    await new Promise<void>((resolve) => exporter.listen(0, '127.0.0.1', resolve));
    port = (exporter.address() as { port: number }).port;
    prometheus = await startPrometheus({ dir: testScratchDir('jetscale-proof-'), intervalSeconds: 1 });
  });

  afterAll(async () => {
    await prometheus?.stop();
    await new Promise((resolve) => exporter?.close(resolve));
  });

  test('the Leader panel is answered over the run and marked empty at its end', async () => {
    const start = Math.floor(Date.now() / 1000);
    const pod = `proof-${process.pid}`;
    prometheus.targets.register(pod, { address: `127.0.0.1:${port}`, labels: { job: 'operator', pod } });
    const query = async (q: string): Promise<number> => {
      const res = await fetch(`${prometheus.url}/api/v1/query?query=${encodeURIComponent(q)}`);
      return ((await res.json()) as { data: { result: unknown[] } }).data.result.length;
    };
    const leader = `max by (pod) (jetscale_leader{pod="${pod}"})`;
    await eventually(
      'the leader gauge scraped',
      async () => ((await query(leader)) > 0 ? true : undefined),
      60_000,
      500,
    );
    failing = true;
    // A failed scrape writes stale markers: the series is gone from instant queries at once.
    await eventually(
      'the leader gauge stale',
      async () => ((await query(leader)) === 0 ? true : undefined),
      60_000,
      500,
    );
    const end = Math.ceil(Date.now() / 1000);

    const proofs = await proveQueries({
      prometheusUrl: prometheus.url,
      queries: [
        { panel: 'Leader', refId: 'A', legend: '{{pod}}', expr: leader, instant: true },
        { panel: 'Nothing', refId: 'A', legend: '', expr: 'jetscale_no_such_metric', instant: true },
      ],
      vars: { values: {}, rateIntervalSeconds: 4, intervalSeconds: 1, rangeSeconds: end - start },
      start,
      end,
      stepSeconds: 1,
    });
    const [leaderProof, nothing] = proofs;
    expect(leaderProof?.emptyAtEnd).toBe(true);
    expect(leaderProof?.series.flatMap((s) => s.points.map(([, v]) => v))).toContain(1);
    expect(groupByPanel(proofs).map((p) => [p.panel, p.answered])).toEqual([
      ['Leader', true],
      // A query that never had data stays unanswered.
      ['Nothing', false],
    ]);
    expect(nothing?.emptyAtEnd).toBe(true);
  });
});
