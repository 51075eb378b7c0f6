import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { consumerNames, convertObject, type Conversion } from './convert.js';
import { parseDocuments } from './migrate-command.js';
import { parseEventConsumerSpec } from '../api/v1alpha1/event-consumer.js';

const testdata = path.join(path.dirname(fileURLToPath(import.meta.url)), 'testdata', 'keda');

function convertFile(file: string, natsServers?: string[]): Conversion[] {
  const docs = parseDocuments(readFileSync(path.join(testdata, file), 'utf8'), file);
  return docs.map((d) => convertObject(d.object, d.where, natsServers ? { natsServers } : {}));
}

function converted(result: Conversion | undefined) {
  if (result?.outcome !== 'converted')
    throw new Error(`expected a conversion, got ${JSON.stringify(result)}`);
  return result;
}

const fields = (r: { notes: Array<{ field: string; kind: string }> }, kind: string): string[] =>
  r.notes.filter((n) => n.kind === kind).map((n) => n.field);

describe('jetscale migrate: KEDA ScaledObject -> EventConsumer', () => {
  it("converts KEDA's documented nats-jetstream example field by field", () => {
    const r = converted(convertFile('docs-nats-jetstream.yaml')[0]);
    expect(r.eventConsumer).toEqual({
      apiVersion: 'jetscale.io/v1alpha1',
      kind: 'EventConsumer',
      metadata: {
        name: 'nats-jetstream-scaledobject',
        namespace: 'nats-jetstream',
        annotations: {
          'jetscale.io/migrated-from':
            'keda.sh/v1alpha1/ScaledObject/nats-jetstream/nats-jetstream-scaledobject',
        },
      },
      spec: {
        scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'sub' },
        nats: {
          servers: ['nats://nats.nats.svc.cluster.local:4222'],
          stream: 'mystream',
          consumer: 'pull_consumer',
        },
        backlogPerReplica: 10,
        activationBacklog: 15,
        minReplicas: 0,
        maxReplicas: 2,
        pollInterval: '3s',
        behavior: { cooldownPeriod: '10s' },
      },
    });
    // The monitoring endpoint is not the client port: the guess is said out loud.
    expect(fields(r, 'changed')).toContain('triggers[].metadata.natsServerMonitoringEndpoint');
  });

  it('writes KEDA defaults explicitly where jetscale defaults differ, and says so', () => {
    const so = {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'plain' },
      spec: {
        scaleTargetRef: { name: 'worker' },
        triggers: [
          {
            type: 'nats-jetstream',
            metadata: { natsServerMonitoringEndpoint: 'nats:8222', stream: 'S', consumer: 'c' },
          },
        ],
      },
    };
    const r = converted(convertObject(so, 'inline'));
    expect(r.eventConsumer.spec).toMatchObject({
      backlogPerReplica: 10,
      activationBacklog: 0,
      minReplicas: 0,
      maxReplicas: 100,
      behavior: { cooldownPeriod: '300s' },
    });
    expect(r.eventConsumer.spec.pollInterval).toBeUndefined();
    expect(fields(r, 'changed')).toEqual(
      expect.arrayContaining([
        'triggers[].metadata.lagThreshold',
        'spec.minReplicaCount',
        'spec.maxReplicaCount',
        'spec.pollingInterval',
        'spec.cooldownPeriod',
        'spec.advanced.horizontalPodAutoscalerConfig.behavior',
      ]),
    );
  });

  it('carries fallback and HPA behavior from KEDA’s fallback e2e object; the metrics-api original is skipped', () => {
    const original = convertFile('e2e-fallback.yaml');
    expect(original.map((c) => c.outcome)).toEqual(['skipped', 'skipped']);
    const r = converted(convertFile('e2e-fallback-nats.yaml')[0]);
    expect(r.eventConsumer.metadata.labels).toEqual({ app: 'fallback-test-deployment' });
    expect(r.eventConsumer.spec).toMatchObject({
      fallback: { failureThreshold: 3, replicas: 3 },
      behavior: { cooldownPeriod: '1s', scaleDown: { stabilizationWindow: '1s' } },
      pollInterval: '5s',
      minReplicas: 0,
      maxReplicas: 5,
    });
    // The TriggerAuthentication carried KEDA's endpoint, not NATS credentials: reported, not guessed.
    expect(fields(r, 'dropped')).toContain('triggers[].authenticationRef');
  });

  it('maps paused-scale-in to scaleDown Disabled (KEDA’s pause e2e object)', () => {
    expect(convertFile('e2e-pause-scale-in.yaml')[0]?.outcome).toBe('skipped');
    const r = converted(convertFile('e2e-pause-scale-in-nats.yaml')[0]);
    expect(r.eventConsumer.spec.behavior).toEqual({
      cooldownPeriod: '0s',
      scaleDown: { selectPolicy: 'Disabled' },
    });
    expect(r.eventConsumer.spec.paused).toBeUndefined();
  });

  it('reports every reference-spec field it cannot carry, and why', () => {
    const r = converted(convertFile('reference-spec-nats.yaml')[0]);
    expect(r.eventConsumer.spec).toMatchObject({
      paused: true,
      minReplicas: 0, // idleReplicaCount 0 below minReplicaCount 1: one floor, stated in a note
      maxReplicas: 100,
      pollInterval: '30s',
      fallback: { failureThreshold: 3, replicas: 6, behavior: 'CurrentReplicasIfHigher' },
      behavior: {
        cooldownPeriod: '300s',
        scaleDown: {
          stabilizationWindow: '300s',
          policies: [{ type: 'Percent', value: 100, period: '15s' }],
        },
      },
    });
    expect(fields(r, 'dropped')).toEqual(
      expect.arrayContaining([
        'spec.scaleTargetRef.envSourceContainerName',
        'spec.initialCooldownPeriod',
        'spec.advanced.restoreToOriginalReplicaCount',
        'spec.advanced.horizontalPodAutoscalerConfig.name',
        'metadata.annotations["scaledobject.keda.sh/transfer-hpa-ownership"]',
        'metadata.annotations["validations.keda.sh/hpa-ownership"]',
      ]),
    );
    expect(fields(r, 'changed')).toEqual(expect.arrayContaining(['spec.idleReplicaCount']));
    for (const n of r.notes) expect(n.message.length).toBeGreaterThan(10);
  });

  it('paused-replicas becomes pausedReplicas; a count that is not a number is refused', () => {
    const so = (value: string) => ({
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'p', annotations: { 'autoscaling.keda.sh/paused-replicas': value } },
      spec: {
        scaleTargetRef: { name: 'w' },
        triggers: [
          {
            type: 'nats-jetstream',
            metadata: { natsServerMonitoringEndpoint: 'n:8222', stream: 'S', consumer: 'c' },
          },
        ],
      },
    });
    const r = converted(convertObject(so('3'), 'inline'));
    expect(r.eventConsumer.spec.pausedReplicas).toBe(3);
    expect(r.eventConsumer.spec.paused).toBeUndefined();
    expect(convertObject(so('three'), 'inline').outcome).toBe('refused');
  });

  it('--nats-url replaces the guessed client URL', () => {
    const r = converted(
      convertFile('docs-nats-jetstream.yaml', ['nats://nats-0.nats:4222', 'nats://nats-1.nats:4222'])[0],
    );
    expect((r.eventConsumer.spec.nats as { servers: string[] }).servers).toEqual([
      'nats://nats-0.nats:4222',
      'nats://nats-1.nats:4222',
    ]);
  });

  const meta = (s: Record<string, unknown>): Record<string, string> =>
    (s.triggers as Array<{ metadata: Record<string, string> }>)[0]?.metadata ?? {};

  const base = (patch: (spec: Record<string, unknown>) => void) => {
    const spec: Record<string, unknown> = {
      scaleTargetRef: { name: 'worker' },
      triggers: [
        {
          type: 'nats-jetstream',
          metadata: { natsServerMonitoringEndpoint: 'nats:8222', stream: 'S', consumer: 'c' },
        },
      ],
    };
    patch(spec);
    return {
      apiVersion: 'keda.sh/v1alpha1',
      kind: 'ScaledObject',
      metadata: { name: 'x', namespace: 'ns' },
      spec,
    };
  };

  it.each([
    [
      'nine nats-jetstream triggers',
      (s: Record<string, unknown>) =>
        void (s.triggers = Array.from({ length: 9 }, () => (s.triggers as unknown[])[0])),
      /9 nats-jetstream triggers: an EventConsumer reads at most 8/,
    ],
    [
      'a second trigger type',
      (s: Record<string, unknown>) =>
        void (s.triggers = [...(s.triggers as unknown[]), { type: 'cpu', metadata: { value: '50' } }]),
      /other triggers \(cpu\).*keep this workload on KEDA, or remove the other triggers from a copy/,
    ],
    [
      'scalingModifiers',
      (s: Record<string, unknown>) => void (s.advanced = { scalingModifiers: { formula: 'x' } }),
      /scalingModifiers/,
    ],
    [
      'a lagThreshold that is not a number',
      (s: Record<string, unknown>) => void (meta(s).lagThreshold = '1e3'),
      /not a whole number/,
    ],
    ['lagThreshold 0', (s: Record<string, unknown>) => void (meta(s).lagThreshold = '0'), /between 1 and/],
    // KEDA's ParseInt reads "-1" (its HPA's target is then refused): the reason is the range, not the syntax.
    [
      'lagThreshold -1',
      (s: Record<string, unknown>) => void (meta(s).lagThreshold = '-1'),
      /-1 must be between 1 and/,
    ],
    [
      'a missing consumer',
      (s: Record<string, unknown>) => void delete meta(s).consumer,
      /consumer is missing/,
    ],
    [
      'a stream name jetscale refuses',
      (s: Record<string, unknown>) => void (meta(s).stream = 'a.b'),
      /spec\.nats\.stream/,
    ],
    [
      'min above max',
      (s: Record<string, unknown>) => void Object.assign(s, { minReplicaCount: 5, maxReplicaCount: 2 }),
      /above spec.maxReplicaCount/,
    ],
    [
      'an endpoint only in a TriggerAuthentication',
      (s: Record<string, unknown>) =>
        void (s.triggers = [
          {
            type: 'nats-jetstream',
            metadata: { stream: 'S', consumer: 'c' },
            authenticationRef: { name: 'ta' },
          },
        ]),
      /TriggerAuthentication ta.*--nats-url/,
    ],
  ])('refuses an object with %s and writes nothing for it', (_what, patch, reason) => {
    const r = convertObject(base(patch), 'inline');
    expect(r.outcome).toBe('refused');
    if (r.outcome === 'refused') expect(r.reasons.join('\n')).toMatch(reason);
  });

  it('refuses a malformed ScaledObject with the field named', () => {
    const r = convertObject(
      {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'x' },
        spec: { triggers: [] },
      },
      'f#1',
    );
    expect(r.outcome).toBe('refused');
    if (r.outcome === 'refused') expect(r.reasons.join('\n')).toMatch(/scaleTargetRef/);
  });

  it('skips what is not a ScaledObject', () => {
    expect(convertObject({ kind: 'Deployment', metadata: { name: 'd' } }, 'f#1')).toMatchObject({
      outcome: 'skipped',
      source: 'd (f#1)',
    });
    expect(convertObject('just a string', 'f#2')).toMatchObject({ outcome: 'skipped', source: 'f#2' });
  });

  it('every converted fixture passes the operator’s own spec validation', () => {
    for (const file of [
      'docs-nats-jetstream.yaml',
      'e2e-nats-jetstream.yaml',
      'e2e-fallback-nats.yaml',
      'e2e-pause-scale-in-nats.yaml',
      'reference-spec-nats.yaml',
    ])
      expect(convertFile(file).every((c) => c.outcome === 'converted')).toBe(true);
  });
});

describe('several nats-jetstream triggers', () => {
  it('become spec.consumers, each with its own server and lagThreshold (the largest need wins, as in KEDA)', () => {
    const r = converted(convertFile('docs-multi-nats-jetstream.yaml')[0]);
    const spec = r.eventConsumer.spec;
    expect(spec.nats).toBeUndefined();
    expect(spec.backlogPerReplica).toBe(10);
    expect(spec.activationBacklog).toBe(15);
    expect(spec.consumers).toEqual([
      {
        name: 'pull-consumer',
        servers: ['nats://nats.nats.svc.cluster.local:4222'],
        stream: 'mystream',
        consumer: 'pull_consumer',
      },
      {
        name: 'refunds',
        servers: ['nats://nats.payments.svc.cluster.local:4222'],
        stream: 'refunds',
        consumer: 'pull_consumer',
        backlogPerReplica: 50,
        activationBacklog: 0,
      },
    ]);
    expect(r.notes.map((n) => n.field)).toContain('spec.triggers');
    expect(r.notes.map((n) => n.field)).toContain('triggers[1].metadata.natsServerMonitoringEndpoint');
    expect(parseEventConsumerSpec(spec).ok).toBe(true);
  });

  it('names entries uniquely, from the trigger name when it is a DNS label, else from the consumer', () => {
    const t = (consumer: string, name?: string) => ({
      type: 'nats-jetstream',
      ...(name === undefined ? {} : { name }),
      metadata: { stream: 'S', consumer },
    });
    expect(
      consumerNames([t('Orders_Worker'), t('orders.worker'), t('x', 'Bad Name'), t('y', 'good'), t('__')]),
    ).toEqual(['orders-worker', 'orders-worker-2', 'x', 'good', 'consumer-5']);
  });
});

// Drills: what a KEDA user expects the converted object to do, judged against KEDA's and the HPA's
// own code (keda apis/keda/v1alpha1/scaledobject_types.go NeedToBePausedByAnnotation;
// kubernetes pkg/apis/autoscaling/v2/defaults.go GenerateHPAScaleUpRules/GenerateHPAScaleDownRules).
describe('migrate drills: the converted object does what KEDA did', () => {
  const base = (annotations: Record<string, string>, advanced?: unknown) => ({
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'd', namespace: 'ns', annotations },
    spec: {
      scaleTargetRef: { name: 'w' },
      minReplicaCount: 1,
      maxReplicaCount: 20,
      cooldownPeriod: 60,
      pollingInterval: 15,
      ...(advanced === undefined ? {} : { advanced }),
      triggers: [
        {
          type: 'nats-jetstream',
          metadata: { natsServerMonitoringEndpoint: 'n:8222', stream: 'S', consumer: 'c', lagThreshold: '5' },
        },
      ],
    },
  });

  it('a ScaledObject KEDA holds paused (any value strconv.ParseBool reads as true, or not a boolean) stays paused', () => {
    for (const value of ['true', 'True', 'TRUE', '1', 't', 'yes', 'paused'])
      expect([
        value,
        converted(convertObject(base({ 'autoscaling.keda.sh/paused': value }), 'x')).eventConsumer.spec
          .paused,
      ]).toEqual([value, true]);
    for (const value of ['false', 'False', 'FALSE', '0', 'f'])
      expect([
        value,
        converted(convertObject(base({ 'autoscaling.keda.sh/paused': value }), 'x')).eventConsumer.spec
          .paused,
      ]).toEqual([value, undefined]);
  });

  it('paused-scale-in / paused-scale-out read as KEDA reads them (strconv.ParseBool; not a boolean pauses): that direction Disabled', () => {
    for (const [annotation, direction] of [
      ['autoscaling.keda.sh/paused-scale-in', 'scaleDown'],
      ['autoscaling.keda.sh/paused-scale-out', 'scaleUp'],
    ] as const) {
      for (const value of ['true', 'True', 'TRUE', '1', 't', 'yes', 'paused']) {
        const r = converted(convertObject(base({ [annotation]: value }), 'x'));
        const rules = (
          r.eventConsumer.spec.behavior as Record<string, { selectPolicy?: string } | undefined>
        )[direction];
        expect([annotation, value, rules?.selectPolicy]).toEqual([annotation, value, 'Disabled']);
        expect(fields(r, 'changed')).toContain(`metadata.annotations["${annotation}"]`);
        expect(parseEventConsumerSpec(r.eventConsumer.spec).ok).toBe(true);
      }
      for (const value of ['false', 'False', 'FALSE', '0', 'f']) {
        const r = converted(convertObject(base({ [annotation]: value }), 'x'));
        const rules = (
          r.eventConsumer.spec.behavior as Record<string, { selectPolicy?: string } | undefined>
        )[direction];
        expect([annotation, value, rules?.selectPolicy]).toEqual([annotation, value, undefined]);
        // Only a value KEDA reads otherwise than it is spelt is said out loud.
        expect(fields(r, 'changed').includes(`metadata.annotations["${annotation}"]`)).toBe(
          value !== 'false',
        );
      }
    }
  });

  it('fallback with metricType Value: carried as KEDA 2.18+ applies it, and the version difference is said', () => {
    const withTrigger = (metricType: string | undefined) => {
      const so = base({});
      const spec = so.spec as Record<string, unknown>;
      spec.fallback = { failureThreshold: 3, replicas: 6 };
      const trigger = (spec.triggers as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
      if (metricType !== undefined) trigger.metricType = metricType;
      return converted(convertObject(so, 'x'));
    };
    const value = withTrigger('Value');
    expect(value.eventConsumer.spec.fallback).toEqual({ failureThreshold: 3, replicas: 6 });
    const note = value.notes.find((n) => n.field === 'spec.fallback');
    expect(note?.kind).toBe('changed');
    expect(note?.message).toMatch(/from 2\.18 it holds fallback\.replicas/);
    expect(note?.message).toMatch(/no replica is ready/);
    expect(note?.message).toMatch(/before 2\.18 it falls back for AverageValue triggers only/);
    for (const averageValue of [withTrigger('AverageValue'), withTrigger(undefined)]) {
      expect(averageValue.eventConsumer.spec.fallback).toEqual({ failureThreshold: 3, replicas: 6 });
      expect(averageValue.notes.find((n) => n.field === 'spec.fallback')).toBeUndefined();
    }
  });

  it('HPA behavior given for one direction: the fields and the direction left out get the HPA’s defaults, as on KEDA’s HPA', () => {
    const r = converted(
      convertObject(
        base(
          {},
          {
            horizontalPodAutoscalerConfig: {
              behavior: { scaleDown: { policies: [{ type: 'Pods', value: 1, periodSeconds: 60 }] } },
            },
          },
        ),
        'x',
      ),
    );
    expect(r.eventConsumer.spec.behavior).toEqual({
      cooldownPeriod: '60s',
      scaleDown: {
        // the controller's --horizontal-pod-autoscaler-downscale-stabilization default
        stabilizationWindow: '300s',
        selectPolicy: 'Max',
        policies: [{ type: 'Pods', value: 1, period: '60s' }],
      },
      scaleUp: {
        stabilizationWindow: '0s',
        selectPolicy: 'Max',
        policies: [
          { type: 'Pods', value: 4, period: '15s' },
          { type: 'Percent', value: 100, period: '15s' },
        ],
      },
    });
    // Each value written for KEDA's HPA default is said out loud.
    expect(fields(r, 'changed')).toEqual(
      expect.arrayContaining([
        'spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindowSeconds',
        'spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleUp',
      ]),
    );
    expect(parseEventConsumerSpec(r.eventConsumer.spec).ok).toBe(true);
  });
});

describe('trigger metadata read as KEDA reads it (scalersconfig TypedConfig)', () => {
  const so = (metadata: Record<string, string>, extra: Record<string, unknown> = {}) => ({
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'm', namespace: 'ns' },
    spec: {
      scaleTargetRef: { name: 'w' },
      triggers: [
        {
          type: 'nats-jetstream',
          metadata: { natsServerMonitoringEndpoint: 'n:8222', account: '$G', ...metadata },
          ...extra,
        },
      ],
    },
  });

  it('trims every value and takes an empty one as not set, as KEDA does', () => {
    const r = converted(
      convertObject(
        so({ stream: ' orders ', consumer: 'worker\n', lagThreshold: ' 5 ', activationLagThreshold: '' }),
        'x',
      ),
    );
    expect(r.eventConsumer.spec).toMatchObject({
      nats: { stream: 'orders', consumer: 'worker' },
      backlogPerReplica: 5,
      activationBacklog: 0,
    });
    // lagThreshold "" is KEDA's default 10, said as for a missing key
    const empty = converted(convertObject(so({ stream: 'S', consumer: 'c', lagThreshold: '  ' }), 'x'));
    expect(empty.eventConsumer.spec.backlogPerReplica).toBe(10);
    expect(fields(empty, 'changed')).toContain('triggers[].metadata.lagThreshold');
    // a stream that is only blanks is missing for KEDA too
    const blank = convertObject(so({ stream: ' ', consumer: 'c' }), 'x');
    expect(blank.outcome).toBe('refused');
    expect(blank.outcome === 'refused' && blank.reasons).toEqual(['triggers[].metadata.stream is missing']);
  });

  it('useHttps is read with strconv.ParseBool: True, 1 and t ask for TLS; a value that is not a boolean is refused, as KEDA refuses it', () => {
    for (const value of ['true', 'True', 'TRUE', '1', 't', ' true '])
      expect([
        value,
        fields(converted(convertObject(so({ stream: 'S', consumer: 'c', useHttps: value }), 'x')), 'changed'),
      ]).toEqual([value, expect.arrayContaining(['triggers[].metadata.useHttps'])]);
    for (const value of ['false', 'False', '0', 'f', ''])
      expect([
        value,
        fields(converted(convertObject(so({ stream: 'S', consumer: 'c', useHttps: value }), 'x')), 'changed'),
      ]).toEqual([value, expect.not.arrayContaining(['triggers[].metadata.useHttps'])]);
    const yes = convertObject(so({ stream: 'S', consumer: 'c', useHttps: 'yes' }), 'x');
    expect(yes.outcome === 'refused' && yes.reasons).toEqual([
      expect.stringContaining('triggers[].metadata.useHttps "yes" is not a boolean'),
    ]);
  });

  it('with an authenticationRef, says that KEDA takes the monitoring endpoint from it first', () => {
    const r = converted(
      convertObject(so({ stream: 'S', consumer: 'c' }, { authenticationRef: { name: 'nats-auth' } }), 'x'),
    );
    const note = r.notes.find((n) => n.field === 'triggers[].metadata.natsServerMonitoringEndpoint');
    expect(note?.message).toMatch(/TriggerAuthentication nats-auth.*first.*--nats-url/);
    // with --nats-url the server is given, and the note says it replaced the endpoint
    const given = converted(
      convertObject(so({ stream: 'S', consumer: 'c' }, { authenticationRef: { name: 'nats-auth' } }), 'x', {
        natsServers: ['nats://real:4222'],
      }),
    );
    expect(given.eventConsumer.spec.nats).toMatchObject({ servers: ['nats://real:4222'] });
  });
});

describe('objects KEDA users pass by mistake, and settings that act at the switch', () => {
  it('a ScaledJob is skipped with a reason that says jetscale has no equivalent', () => {
    const r = convertObject(
      { apiVersion: 'keda.sh/v1alpha1', kind: 'ScaledJob', metadata: { name: 'j' }, spec: {} },
      'x',
    );
    expect(r.outcome).toBe('skipped');
    expect(r.outcome === 'skipped' && r.reason).toMatch(/ScaledJob.*Job per.*no jetscale equivalent/);
  });

  it('restoreToOriginalReplicaCount: the note says KEDA resets the replicas when the ScaledObject is deleted', () => {
    const r = converted(
      convertObject(
        {
          apiVersion: 'keda.sh/v1alpha1',
          kind: 'ScaledObject',
          metadata: { name: 'r' },
          spec: {
            scaleTargetRef: { name: 'w' },
            advanced: { restoreToOriginalReplicaCount: true },
            triggers: [
              {
                type: 'nats-jetstream',
                metadata: { natsServerMonitoringEndpoint: 'n:8222', stream: 'S', consumer: 'c' },
              },
            ],
          },
        },
        'x',
      ),
    );
    const note = r.notes.find((n) => n.field === 'spec.advanced.restoreToOriginalReplicaCount');
    expect(note?.message).toMatch(/deleting the ScaledObject.*original.*false/);
  });
});

describe('pollingInterval', () => {
  const so = (pollingInterval: number) => ({
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'ScaledObject',
    metadata: { name: 'p' },
    spec: {
      scaleTargetRef: { name: 'w' },
      pollingInterval,
      triggers: [
        {
          type: 'nats-jetstream',
          metadata: { natsServerMonitoringEndpoint: 'n:8222', stream: 'S', consumer: 'c' },
        },
      ],
    },
  });

  it('carried as set; above the HPA sync (15 s) a note says jetscale will react that much slower than KEDA did while replicas ran', () => {
    const slow = converted(convertObject(so(60), 'x'));
    expect(slow.eventConsumer.spec.pollInterval).toBe('60s');
    expect(slow.notes.find((n) => n.field === 'spec.pollingInterval')?.message).toMatch(
      /only.*0↔1.*15 s.*60 s/,
    );
    const fast = converted(convertObject(so(15), 'x'));
    expect(fast.eventConsumer.spec.pollInterval).toBe('15s');
    expect(fields(fast, 'changed')).not.toContain('spec.pollingInterval');
  });
});

describe('scaleTargetRef', () => {
  it('an empty apiVersion or kind is what KEDA takes as not set (ParseGVKR): apps/v1 Deployment', () => {
    const r = converted(
      convertObject(
        {
          apiVersion: 'keda.sh/v1alpha1',
          kind: 'ScaledObject',
          metadata: { name: 'e' },
          spec: {
            scaleTargetRef: { name: 'w', apiVersion: '', kind: '' },
            triggers: [
              {
                type: 'nats-jetstream',
                metadata: { natsServerMonitoringEndpoint: 'n:8222', stream: 'S', consumer: 'c' },
              },
            ],
          },
        },
        'x',
      ),
    );
    expect(r.eventConsumer.spec.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'w',
    });
  });
});
