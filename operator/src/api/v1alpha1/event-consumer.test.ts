// Keeps the TypeScript schema and the CRD YAML in step (same fields, defaults and bounds), and
// specifies how specs are validated and normalized into the policy's ScalingSpec.
import { loadAllYaml } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { defaultScalingSpec } from '../../scaling/defaults.js';
import { Servers } from '@nats-io/nats-core/internal';
import {
  EventConsumerSpecSchema,
  natsServerProblem,
  parseEventConsumerSpec,
  SERVER_SCHEME_RULE,
} from './event-consumer.js';
import { parseDurationSeconds } from './duration.js';
import { toScalingSpec, pollIntervalMs } from './scaling-spec.js';
import { acceptedSpecs, minimalSpec, refusedSpecs } from './test/hostile-specs.js';

type Schema = Record<string, unknown>;

// loadAllYaml deserializes into client-node's typed model, which stores `default` as `_default`
// (and `enum` as `_enum`).
const defaultOf = (node: Schema): unknown => node._default ?? node.default;

const crdPath = path.resolve(process.cwd(), 'manifests/crd/jetscale.io_eventconsumers.yaml');

function crdSpecSchema(): Schema {
  const [crd] = loadAllYaml(readFileSync(crdPath, 'utf8')) as Array<{
    spec: { versions: Array<{ schema: { openAPIV3Schema: { properties: { spec: Schema } } } }> };
  }>;
  const version = crd?.spec.versions[0];
  if (!version) throw new Error(`${crdPath} has no versions`);
  return version.schema.openAPIV3Schema.properties.spec;
}

/** The comparable part of one schema node: what both OpenAPI v3.0 and JSON Schema 2020-12 express. */
function comparable(node: Schema): Schema {
  const out: Schema = {};
  const copy = ['type', 'minimum', 'maximum', 'minLength', 'maxLength', 'minItems', 'maxItems', 'pattern'];
  for (const key of copy) if (node[key] !== undefined) out[key] = node[key];
  if (defaultOf(node) !== undefined) out.default = defaultOf(node);
  const allowed = node._enum ?? node.enum;
  if (allowed !== undefined) out.enum = allowed;
  // zod writes "no maximum" as MAX_SAFE_INTEGER and int32 bounds are the CRD's format, not a rule.
  if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
  if (node.exclusiveMinimum === true || typeof node.exclusiveMinimum === 'number') {
    out.exclusiveMinimum = typeof node.exclusiveMinimum === 'number' ? node.exclusiveMinimum : node.minimum;
    delete out.minimum;
  }
  if (Array.isArray(node.required)) out.required = [...(node.required as string[])].sort();
  const properties = node.properties as Record<string, Schema> | undefined;
  if (properties) {
    out.properties = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, comparable(v)]));
  }
  if (node.items) out.items = comparable(node.items as Schema);
  return out;
}

/** What the API server's structural defaulting does to a spec, so we can compare with zod's. */
function applyCrdDefaults(node: Schema, value: unknown): unknown {
  const properties = node.properties as Record<string, Schema> | undefined;
  if (properties && value && typeof value === 'object' && !Array.isArray(value)) {
    const obj = { ...(value as Record<string, unknown>) };
    for (const [key, child] of Object.entries(properties)) {
      if (obj[key] === undefined && defaultOf(child) !== undefined)
        obj[key] = structuredClone(defaultOf(child));
      if (obj[key] !== undefined) obj[key] = applyCrdDefaults(child, obj[key]);
    }
    return obj;
  }
  if (node.items && Array.isArray(value)) return value.map((v) => applyCrdDefaults(node.items as Schema, v));
  return value;
}

const minimal = minimalSpec;

/** One spec per CRD CEL rule that breaks it (the CRD refuses it; the operator must too). */
const celViolations: Array<[string, Record<string, unknown>]> = [
  ['minReplicas must be less than or equal to maxReplicas', { ...minimal, minReplicas: 5, maxReplicas: 4 }],
  ['pollInterval must be between 1s and 10m', { ...minimal, pollInterval: '0s' }],
  ['pollInterval must be between 1s and 10m', { ...minimal, pollInterval: '99999999h' }],
  ['drainWithin must be between 1s and 24h', { ...minimal, drainWithin: '25h' }],
  ['latencyObjective must be between 100ms and 24h', { ...minimal, latencyObjective: '50ms' }],
  [
    'fallback.replicas must not exceed maxReplicas',
    { ...minimal, maxReplicas: 3, fallback: { replicas: 4 } },
  ],
  [
    'policy period must be between 1s and 30m',
    { ...minimal, behavior: { scaleUp: { policies: [{ type: 'Pods', value: 1, period: '31m' }] } } },
  ],
  [
    'stabilizationWindow must be at most 1h',
    { ...minimal, behavior: { scaleDown: { stabilizationWindow: '2h' } } },
  ],
  [
    'policies needs at least one policy unless selectPolicy is Disabled',
    { ...minimal, behavior: { scaleUp: { policies: [] } } },
  ],
  ['cooldownPeriod must be at most 24h', { ...minimal, behavior: { cooldownPeriod: '25h' } }],
  ['readinessDeadline must be between 5s and 1h', { ...minimal, behavior: { readinessDeadline: '2s' } }],
  ['predictive.horizon must be between 1s and 1h', { ...minimal, predictive: { horizon: '500ms' } }],
  ['predictive.seasonality must be between 1m and 168h', { ...minimal, predictive: { seasonality: '30s' } }],
  [SERVER_SCHEME_RULE, { ...minimal, nats: { ...minimal.nats, servers: ['ws://nats:4222'] } }],
  [
    SERVER_SCHEME_RULE,
    {
      scaleTargetRef: minimal.scaleTargetRef,
      consumers: [{ name: 'a', ...minimal.nats, servers: ['nats://a:4222', 'http://nats:8222'] }],
    },
  ],
  [
    'set either nats.domain or nats.apiPrefix, not both',
    { ...minimal, nats: { ...minimal.nats, domain: 'hub', apiPrefix: '$JS.X.API' } },
  ],
  [
    'set exactly one of spec.nats (one consumer) and spec.consumers (a list)',
    { ...minimal, consumers: [{ name: 'a', ...minimal.nats }] },
  ],
  [
    'set exactly one of spec.nats (one consumer) and spec.consumers (a list)',
    { scaleTargetRef: minimal.scaleTargetRef },
  ],
  [
    'set either domain or apiPrefix of a consumer, not both',
    {
      scaleTargetRef: minimal.scaleTargetRef,
      consumers: [{ name: 'a', ...minimal.nats, domain: 'hub', apiPrefix: '$JS.X.API' }],
    },
  ],
];
const celViolationCases = (): Array<[string, Record<string, unknown>]> => celViolations;

describe('EventConsumer schema and CRD', () => {
  it('declare the same fields, types, bounds and defaults', () => {
    const fromZod = z.toJSONSchema(EventConsumerSpecSchema, { io: 'input' }) as Schema;
    expect(comparable(fromZod)).toEqual(comparable(crdSpecSchema()));
  });

  it('bound every string and every integer, so no field can carry unbounded junk', () => {
    const unbounded: string[] = [];
    const walk = (node: Schema, where: string): void => {
      if (node.type === 'string' && node.maxLength === undefined && (node._enum ?? node.enum) === undefined)
        unbounded.push(`${where}: string without maxLength`);
      // format: int32 is not enforced by the API server; only maximum is.
      if (node.type === 'integer' && node.maximum === undefined)
        unbounded.push(`${where}: integer without maximum`);
      const properties = node.properties as Record<string, Schema> | undefined;
      for (const [k, v] of Object.entries(properties ?? {})) walk(v, `${where}.${k}`);
      if (node.items) walk(node.items as Schema, `${where}[]`);
    };
    walk(crdSpecSchema(), 'spec');
    expect(unbounded).toEqual([]);
  });

  it('repeat every CEL rule of the CRD with the same message', () => {
    const messages: string[] = [];
    const walk = (node: Schema): void => {
      const rules = (node['x-kubernetes-validations'] ?? node.x_kubernetes_validations) as
        Array<{ message: string }> | undefined;
      for (const r of rules ?? []) messages.push(r.message);
      const properties = node.properties as Record<string, Schema> | undefined;
      for (const v of Object.values(properties ?? {})) walk(v);
      if (node.items) walk(node.items as Schema);
    };
    walk(crdSpecSchema());
    expect(messages.length).toBeGreaterThanOrEqual(10);
    expect([...new Set(messages)].sort()).toEqual([...new Set(celViolations.map(([m]) => m))].sort());
  });

  it.each(celViolationCases())('refuses what the CEL rule %j refuses', (message, spec) => {
    const parsed = parseEventConsumerSpec(spec);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problems.join('\n')).toContain(message);
  });

  it('default a minimal spec to the same values as the API server would', () => {
    const parsed = parseEventConsumerSpec(minimal);
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    expect(parsed.spec).toEqual(applyCrdDefaults(crdSpecSchema(), minimal));
  });

  it('default a minimal spec to the scaling policy defaults', () => {
    const parsed = parseEventConsumerSpec(minimal);
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    expect(toScalingSpec(parsed.spec)).toEqual(defaultScalingSpec);
    expect(pollIntervalMs(parsed.spec)).toBe(5000);
  });
});

describe('parseEventConsumerSpec', () => {
  it.each([
    ['no scale target', { nats: minimal.nats }, 'spec.scaleTargetRef'],
    ['no NATS servers', { ...minimal, nats: { ...minimal.nats, servers: [] } }, 'spec.nats.servers'],
    [
      'a stream name with a dot',
      { ...minimal, nats: { ...minimal.nats, stream: 'a.b' } },
      'spec.nats.stream',
    ],
    [
      'both domain and apiPrefix',
      { ...minimal, nats: { ...minimal.nats, domain: 'hub', apiPrefix: '$JS.X.API' } },
      'not both',
    ],
    ['a negative minReplicas', { ...minimal, minReplicas: -1 }, 'spec.minReplicas'],
    ['a fractional backlogPerReplica', { ...minimal, backlogPerReplica: 1.5 }, 'spec.backlogPerReplica'],
    ['a duration without a unit', { ...minimal, pollInterval: '5' }, 'spec.pollInterval'],
    ['a zero latency objective', { ...minimal, latencyObjective: '0s' }, 'spec.latencyObjective'],
    ['a latency objective above a day', { ...minimal, latencyObjective: '25h' }, 'spec.latencyObjective'],
    [
      'an unknown policy type',
      { ...minimal, behavior: { scaleUp: { policies: [{ type: 'Jobs', value: 1, period: '1s' }] } } },
      'spec.behavior.scaleUp.policies.0.type',
    ],
    [
      'a relative error above 1',
      { ...minimal, predictive: { maxRelativeError: 2 } },
      'spec.predictive.maxRelativeError',
    ],
    [
      'a server port above 65535',
      { ...minimal, nats: { ...minimal.nats, servers: ['nats://nats.nats.svc:422200'] } },
      'spec.nats.servers.0',
    ],
    [
      'a server that is not an address (no host)',
      {
        scaleTargetRef: minimal.scaleTargetRef,
        consumers: [{ name: 'a', ...minimal.nats, servers: ['nats://a:4222', 'nats://:4222'] }],
      },
      'spec.consumers.0.servers.1',
    ],
  ])('rejects %s, naming the field', (_what, spec, field) => {
    const parsed = parseEventConsumerSpec(spec);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problems.join('\n')).toContain(field);
  });

  it.each(refusedSpecs)('refuses %s, naming the field without echoing it in full', (_what, spec, field) => {
    const parsed = parseEventConsumerSpec(spec);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    expect(parsed.problems.join('\n')).toContain(field);
    expect(parsed.problems.join('\n').length).toBeLessThan(2000);
  });

  it.each(acceptedSpecs)('accepts %s', (_what, spec) => {
    const parsed = parseEventConsumerSpec(spec);
    expect(parsed.ok ? [] : parsed.problems).toEqual([]);
  });

  it('checks the length of a huge string before any pattern (no time spent on megabytes of junk)', () => {
    const junk = 'a'.repeat(2_000_000) + '!';
    const cpu = process.cpuUsage();
    const parsed = parseEventConsumerSpec({
      ...minimal,
      scaleTargetRef: { name: junk, kind: junk, apiVersion: junk },
      nats: { ...minimal.nats, domain: junk, stream: junk },
    });
    const used = process.cpuUsage(cpu);
    expect(parsed.ok).toBe(false);
    if (parsed.ok) return;
    // Each field says it is too long, and nothing else: no pattern ran over it.
    expect(parsed.problems.every((p) => p.includes('must be at most'))).toBe(true);
    expect(parsed.problems).toHaveLength(5);
    // CPU time, not wall time (a loaded CI machine stretches the latter): counting the code points
    // of these strings took ~250 ms, a length check takes well under 100 ms.
    expect((used.user + used.system) / 1000).toBeLessThan(150);
  });

  it('counts code points, not UTF-16 units, up to the limit', () => {
    const emoji = '😀'.repeat(63);
    const parsed = parseEventConsumerSpec({ ...minimal, nats: { ...minimal.nats, domain: emoji } });
    expect(parsed.ok ? [] : parsed.problems.filter((p) => p.includes('at most'))).toEqual([]);
    const over = parseEventConsumerSpec({ ...minimal, nats: { ...minimal.nats, domain: emoji + '😀' } });
    expect(over.ok ? [] : over.problems.join()).toContain('spec.nats.domain: must be at most 63 characters');
  });

  it('normalizes durations to seconds and keeps user values', () => {
    const parsed = parseEventConsumerSpec({
      ...minimal,
      minReplicas: 0,
      pollInterval: '1500ms',
      drainWithin: '2m',
      latencyObjective: '1500ms',
      behavior: {
        scaleDown: { stabilizationWindow: '1m30s', policies: [{ type: 'Pods', value: 2, period: '10s' }] },
        cooldownPeriod: '1h',
      },
      predictive: { enabled: true, seasonality: '24h' },
      inFlightPerReplica: 8,
    });
    if (!parsed.ok) throw new Error(parsed.problems.join('; '));
    const scaling = toScalingSpec(parsed.spec);
    expect(pollIntervalMs(parsed.spec)).toBe(1500);
    expect(scaling.minReplicas).toBe(0);
    expect(scaling.drainWithinSeconds).toBe(120);
    expect(scaling.latencyObjectiveSeconds).toBe(1.5);
    expect(scaling.scaleDown).toEqual({
      stabilizationWindowSeconds: 90,
      policies: [{ type: 'Pods', value: 2, periodSeconds: 10 }],
      selectPolicy: 'Max',
    });
    expect(scaling.scaleUp).toEqual(defaultScalingSpec.scaleUp);
    expect(scaling.cooldownPeriodSeconds).toBe(3600);
    expect(scaling.predictive).toEqual({
      enabled: true,
      horizonSeconds: 30,
      seasonalitySeconds: 86400,
      maxRelativeError: 0.3,
    });
    expect(scaling.inFlightPerReplica).toBe(8);
  });
});

describe('parseDurationSeconds', () => {
  it.each([
    ['5s', 5],
    ['500ms', 0.5],
    ['1h30m', 5400],
    ['2.5m', 150],
    ['0s', 0],
  ])('reads %s as %d seconds', (text, secs) => {
    expect(parseDurationSeconds(text)).toBeCloseTo(secs, 9);
  });
  it.each(['', '5', 's', '-1s', '5 s', '1d'])('rejects %j', (text) => {
    expect(parseDurationSeconds(text)).toBeUndefined();
  });
});

describe('natsServerProblem', () => {
  // The client's own parse (nats-core's Servers, which connect() uses): a server it cannot read
  // is refused by the spec, and every server it reads is accepted.
  const clientRefuses = (server: string): boolean => {
    try {
      new Servers().setServers([server]);
      return false;
    } catch {
      return true;
    }
  };
  it.each([
    'nats://nats.nats.svc:4222',
    'tls://nats:4222',
    'nats:4222',
    'nats',
    '127.0.0.1',
    'nats://user:pw@nats:4222',
    'nats://u:%@127.0.0.1:1',
    'nats://[::1]:4222',
    '::1',
    '[fe80::1]:4222',
    '::ffff:10.0.0.1',
    'nats://ünï.example:4222',
    'NATS://nats:4222',
    'nats://nats:4222/path?x#y',
    'nats://nats:0',
    'nats://nats:65535',
    'nats://nats:65536',
    'nats://nats:422200',
    'nats://:4222',
    'nats://[::1',
    '[',
    '::::',
    'nats://%zz:4222',
    'host:abc',
    'nats.svc:4222:4222',
    'nats://a@',
    'nats://nats:80',
  ])('%s: refused exactly when the client cannot parse it', (server) => {
    expect(natsServerProblem(server) !== undefined).toBe(clientRefuses(server));
  });
});
