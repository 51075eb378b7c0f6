import { diagnosticsPlan, podsFromList, type DiagnosticsStep } from './real-node-diagnostics.js';

const nodeLogs = { kubelet: '/n/logs/kubelet.log', containerd: '/n/logs/containerd.log' };
const kubectlOf = (steps: DiagnosticsStep[], file: string): string[] | undefined => {
  const source = steps.find((s) => s.file === file)?.source;
  return source && 'kubectl' in source ? source.kubectl : undefined;
};

describe('diagnosticsPlan', () => {
  const pods = [
    {
      namespace: 'jetscale-demo-ab12',
      name: 'jetscale-demo-consumer-7f9-x2',
      containers: [{ name: 'consumer', restartCount: 2 }],
    },
    {
      namespace: 'jetscale-demo-ab12',
      name: 'jetscale-5d8-q1',
      containers: [
        { name: 'wait-for-api', restartCount: 0 },
        { name: 'operator', restartCount: 0 },
      ],
    },
    { namespace: 'kube-system', name: 'other', containers: [{ name: 'c', restartCount: 1 }] },
  ];
  const steps = diagnosticsPlan({ namespaces: ['jetscale-demo-ab12'], pods, nodeLogs });

  it('saves the logs of every container, and the previous instance of each that restarted', () => {
    const consumer = 'pods/jetscale-demo-ab12/jetscale-demo-consumer-7f9-x2';
    expect(kubectlOf(steps, `${consumer}/consumer.log`)).toEqual([
      'logs',
      '-n',
      'jetscale-demo-ab12',
      'jetscale-demo-consumer-7f9-x2',
      '-c',
      'consumer',
      '--timestamps',
    ]);
    expect(kubectlOf(steps, `${consumer}/consumer.previous.log`)).toContain('--previous');
    const operator = 'pods/jetscale-demo-ab12/jetscale-5d8-q1';
    expect(steps.map((s) => s.file).filter((f) => f.startsWith(operator))).toEqual([
      `${operator}/wait-for-api.log`,
      `${operator}/operator.log`,
    ]);
  });

  it('leaves out pods of other namespaces', () => {
    expect(steps.some((s) => s.file.includes('kube-system') || s.file.includes('/other/'))).toBe(false);
  });

  it('saves the events, the pod list, a describe of each namespace and both node logs', () => {
    expect(kubectlOf(steps, 'events.txt')).toEqual(
      expect.arrayContaining(['get', 'events', '--all-namespaces']),
    );
    expect(kubectlOf(steps, 'pods.txt')).toEqual(['get', 'pods', '--all-namespaces', '-o', 'wide']);
    expect(kubectlOf(steps, 'describe-pods-jetscale-demo-ab12.txt')).toEqual([
      'describe',
      'pods',
      '-n',
      'jetscale-demo-ab12',
    ]);
    expect(steps.filter((s) => 'copy' in s.source).map((s) => [s.file, s.source])).toEqual([
      ['node/kubelet.log', { copy: nodeLogs.kubelet }],
      ['node/containerd.log', { copy: nodeLogs.containerd }],
    ]);
  });

  it('writes every file once', () => {
    expect(new Set(steps.map((s) => s.file)).size).toBe(steps.length);
  });

  it('refuses a name that is not a Kubernetes name rather than write outside its directory', () => {
    expect(() =>
      diagnosticsPlan({
        namespaces: ['ns'],
        pods: [{ namespace: 'ns', name: '../../etc', containers: [{ name: 'c', restartCount: 0 }] }],
        nodeLogs,
      }),
    ).toThrow(/"..\/..\/etc" is not a Kubernetes object name/);
  });

  it('needs a namespace', () => {
    expect(() => diagnosticsPlan({ namespaces: [], pods: [], nodeLogs })).toThrow(/at least one namespace/);
  });
});

describe('podsFromList', () => {
  it('reads init and app containers with their restart counts from kubectl get pods -o json', () => {
    const list = {
      kind: 'List',
      items: [
        {
          metadata: { namespace: 'ns', name: 'p' },
          spec: { initContainers: [{ name: 'init' }], containers: [{ name: 'app' }, { name: 'side' }] },
          status: {
            initContainerStatuses: [{ name: 'init', restartCount: 0 }],
            containerStatuses: [{ name: 'app', restartCount: 3 }],
          },
        },
      ],
    };
    expect(podsFromList(JSON.stringify(list))).toEqual([
      {
        namespace: 'ns',
        name: 'p',
        containers: [
          { name: 'init', restartCount: 0 },
          { name: 'app', restartCount: 3 },
          // Not started yet (e.g. its image cannot be pulled): no status, still asked for.
          { name: 'side', restartCount: 0 },
        ],
      },
    ]);
  });

  it('refuses what is not a pod list', () => {
    expect(() => podsFromList('{"kind":"Pod"}')).toThrow(/expected a pod list, got kind Pod/);
  });
});
