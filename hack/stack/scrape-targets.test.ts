import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { FileScrapeTargets, targetFileName, targetGroupFile } from './scrape-targets.js';
import { prometheusConfig } from './prometheus.js';
import { testScratchDir } from '../../test/scratch.js';

describe('file-SD scrape targets', () => {
  it('write one file_sd document per target and remove it on unregister', () => {
    const dir = testScratchDir('jetscale-sd-');
    const targets = new FileScrapeTargets(dir);
    targets.register('pod-ns/consumer-1', {
      address: '127.0.0.1:4001',
      labels: { job: 'consumer', namespace: 'ns', pod: 'consumer-1' },
    });
    targets.register('operator-0', { address: '127.0.0.1:4002', labels: { job: 'jetscale-operator' } });
    expect(readdirSync(dir).sort()).toEqual(['operator-0.json', 'pod-ns_consumer-1.json']);
    expect(JSON.parse(readFileSync(path.join(dir, 'pod-ns_consumer-1.json'), 'utf8'))).toEqual([
      { targets: ['127.0.0.1:4001'], labels: { job: 'consumer', namespace: 'ns', pod: 'consumer-1' } },
    ]);
    targets.unregister('pod-ns/consumer-1');
    targets.unregister('never-registered');
    expect(readdirSync(dir)).toEqual(['operator-0.json']);
  });

  it.each([
    [{ address: 'http://127.0.0.1:1', labels: {} }, /host:port/],
    [{ address: '127.0.0.1', labels: {} }, /host:port/],
    [{ address: '127.0.0.1:1', labels: { 'app.kubernetes.io/name': 'x' } }, /not a valid Prometheus label/],
    [{ address: '127.0.0.1:1', labels: { __address__: 'x' } }, /not a valid Prometheus label/],
  ])('refuse %j', (target, message) => {
    expect(() => targetGroupFile(target)).toThrow(message);
  });

  it('need an id', () => {
    expect(() => targetFileName('')).toThrow(/non-empty id/);
  });
});

describe('prometheusConfig', () => {
  it('scrapes the file-SD directory at the interval, honouring the operator’s namespace label', () => {
    const c = prometheusConfig({ intervalSeconds: 1, targetsDir: '/t', ruleFiles: ['/r.yaml'] });
    expect(c.global).toEqual({ scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' });
    expect(c.rule_files).toEqual(['/r.yaml']);
    expect(c.scrape_configs).toEqual([
      {
        job_name: 'jetscale-local',
        honor_labels: true,
        file_sd_configs: [{ files: ['/t/*.json'], refresh_interval: '1s' }],
      },
    ]);
  });
});
