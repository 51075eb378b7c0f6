import type * as k8s from '@kubernetes/client-node';
import type { ScrapeTarget, ScrapeTargetSink } from '../../hack/stack/scrape-targets.js';
import { podScrapeTargets, ScrapeTargetSync } from './pod-scrape-targets.js';

const pod = (
  name: string,
  component: string,
  ip: string | undefined,
  phase = 'Running',
  port = 8080,
): k8s.V1Pod => ({
  metadata: { name, namespace: 'ns', labels: { 'app.kubernetes.io/component': component } },
  spec: { containers: [{ name: 'c', ports: [{ name: 'http', containerPort: port }] }] },
  status: { phase, ...(ip ? { podIP: ip } : {}) },
});

describe('podScrapeTargets', () => {
  it('scrapes every running pod at its IP and http port, labelled as the local runtime labels it', () => {
    const targets = podScrapeTargets([
      pod('jetscale-1', 'operator', '10.213.0.5'),
      pod('demo-consumer-1', 'consumer', '10.213.0.6', 'Running', 8081),
      pod('demo-gateway-1', 'gateway', '10.213.0.7'),
    ]);
    expect(Object.fromEntries(targets)).toEqual({
      'pod-ns-jetscale-1': {
        address: '10.213.0.5:8080',
        labels: { job: 'jetscale-operator', namespace: 'ns', pod: 'jetscale-1' },
      },
      'pod-ns-demo-consumer-1': {
        address: '10.213.0.6:8081',
        labels: { job: 'consumer', namespace: 'ns', pod: 'demo-consumer-1' },
      },
      'pod-ns-demo-gateway-1': {
        address: '10.213.0.7:8080',
        labels: { job: 'gateway', namespace: 'ns', pod: 'demo-gateway-1' },
      },
    });
  });

  it('leaves out pods with no IP yet, not running, or without an http port', () => {
    const noPort: k8s.V1Pod = { ...pod('x', 'consumer', '10.0.0.9'), spec: { containers: [{ name: 'c' }] } };
    expect(
      podScrapeTargets([
        pod('a', 'consumer', undefined, 'Pending'),
        pod('b', 'consumer', '10.0.0.8', 'Succeeded'),
        noPort,
      ]).size,
    ).toBe(0);
  });
});

describe('ScrapeTargetSync', () => {
  const recording = (): { sink: ScrapeTargetSink; log: string[] } => {
    const log: string[] = [];
    return {
      log,
      sink: {
        register: (id: string, t: ScrapeTarget) => void log.push(`+${id}@${t.address}`),
        unregister: (id: string) => void log.push(`-${id}`),
      },
    };
  };
  const t = (address: string): ScrapeTarget => ({ address, labels: { job: 'consumer' } });

  it('registers new and moved targets once and unregisters the ones that are gone', () => {
    const { sink, log } = recording();
    const sync = new ScrapeTargetSync(sink);
    sync.update(
      new Map([
        ['a', t('10.0.0.1:8081')],
        ['b', t('10.0.0.2:8081')],
      ]),
    );
    sync.update(
      new Map([
        ['a', t('10.0.0.1:8081')],
        ['b', t('10.0.0.2:8081')],
      ]),
    );
    // b restarted with a new IP; a was deleted; c is new.
    sync.update(
      new Map([
        ['b', t('10.0.0.3:8081')],
        ['c', t('10.0.0.4:8081')],
      ]),
    );
    sync.clear();
    expect(log).toEqual([
      '+a@10.0.0.1:8081',
      '+b@10.0.0.2:8081',
      '+b@10.0.0.3:8081',
      '+c@10.0.0.4:8081',
      '-a',
      '-b',
      '-c',
    ]);
  });
});
