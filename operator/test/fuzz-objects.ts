// Seeded generators of hostile EventConsumer specs and Secrets for the operator fuzz suite
// (fuzz.int.test.ts). Pure: the same seed gives the same objects, so a failure reproduces with
// the seed it printed. Specs are a valid base with 1–3 mutations — mostly values the CRD accepts
// but the operator must cope with (unknown domains, missing streams, names at their limits,
// unscalable kinds, extreme durations and counts), some junk the API server must refuse (huge,
// Unicode-whitespace, CR/LF, wildcard, path and query strings, out-of-range numbers, wrong types)
// — or one of the targeted hostile specs of hostile-specs.ts. Secrets hold junk tokens, broken
// .creds files and NKey seeds with bad checksums.
import { refusedSpecs } from '../src/api/v1alpha1/test/hostile-specs.js';
import { pick } from '../../test/seeded-rng.js';
import type { Rng } from '../../test/seeded-rng.js';

export { seededRng } from '../../test/seeded-rng.js';

const JUNK_PIECES = [
  'a',
  'Z',
  '0',
  '-',
  '.',
  '*',
  '>',
  '/',
  '\\',
  '..',
  '?x=1',
  '#',
  '%2F',
  ' ',
  '\t',
  '\r\n',
  '\u00a0',
  '\u000b',
  '\u2028',
  '\u200b',
  '\ufeff',
  'ä',
  '😀',
  '$JS.API',
  '{"a":',
  '<script>',
  'PUB x 1\r\n',
];

export function junkString(rng: Rng): string {
  const length = pick(rng, [0, 1, 3, 8, 64, 254, 300, 5000, 40_000]);
  let s = '';
  while (s.length < length) s += pick(rng, JUNK_PIECES);
  return s.slice(0, Math.max(length, 1));
}

export function junkNumber(rng: Rng): number {
  return pick(rng, [-1, 0, 1, 2, 1.5, 2 ** 31 - 1, 2 ** 31, 2 ** 53 + 2, 1e300, -(2 ** 40), 10_000, 10_001]);
}

export function junkValue(rng: Rng, depth = 0): unknown {
  const kind = pick(rng, ['string', 'string', 'number', 'bool', 'null', 'object', 'array']);
  switch (kind) {
    case 'string':
      return junkString(rng);
    case 'number':
      return junkNumber(rng);
    case 'bool':
      return rng() < 0.5;
    case 'null':
      return null;
    case 'object':
      return depth > 3 ? {} : { [junkString(rng).slice(0, 20) || 'k']: junkValue(rng, depth + 1) };
    default:
      return depth > 3 ? [] : [junkValue(rng, depth + 1), junkValue(rng, depth + 1)];
  }
}

/** Where a mutation may land (dot paths into the spec). */
const PATHS = [
  'scaleTargetRef.apiVersion',
  'scaleTargetRef.kind',
  'scaleTargetRef.name',
  'nats.servers',
  'nats.servers.0',
  'nats.stream',
  'nats.consumer',
  'nats.domain',
  'nats.apiPrefix',
  'nats.auth.secretRef.name',
  'nats.tls.secretRef.name',
  'minReplicas',
  'maxReplicas',
  'backlogPerReplica',
  'activationBacklog',
  'inFlightPerReplica',
  'pollInterval',
  'drainWithin',
  'behavior.scaleUp.policies',
  'behavior.scaleDown.stabilizationWindow',
  'behavior.cooldownPeriod',
  'predictive.enabled',
  'predictive.horizon',
  'predictive.maxRelativeError',
  'fallback.failureThreshold',
  'fallback.replicas',
  'paused',
] as const;

function setPath(obj: Record<string, unknown>, path: string, value: unknown): void {
  const keys = path.split('.');
  let node: Record<string, unknown> = obj;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object') node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1] ?? ''] = value;
}

export interface FuzzContext {
  natsUrl: string;
  stream: string;
  consumer: string;
  /** Deployments shared by fuzz objects (never the healthy EventConsumers' targets). */
  targets: string[];
  /**
   * A Deployment of this object's own, as most tenants have: the fuzz creates it, so the object
   * reaches the scaling code instead of losing a conflict over a shared target.
   */
  own?: string;
  /** Targets the fuzz must not claim successfully (older EventConsumers own them); named now and then. */
  owned?: string[];
  /** Secrets created by the fuzz run, some good and most bad. */
  secrets: string[];
}

/** A plausible value of the right shape, so mutations of other fields are reached too. */
function plausible(rng: Rng, path: string, ctx: FuzzContext): unknown {
  switch (path) {
    case 'nats.auth.secretRef.name':
    case 'nats.tls.secretRef.name':
      return pick(rng, [...ctx.secrets, 'no-such-secret']);
    case 'nats.domain':
      return pick(rng, ['hub', 'leaf-1', 'nowhere', 'd'.repeat(63)]);
    case 'nats.apiPrefix':
      return pick(rng, ['$JS.API', '$JS.hub.API', 'X.Y', `$JS.${'p'.repeat(240)}`]);
    case 'nats.consumer':
      return pick(rng, [ctx.consumer, 'missing', 'wörker', '😀'.repeat(255)]);
    case 'nats.stream':
      return pick(rng, [ctx.stream, 'MISSING', 'Ä'.repeat(255)]);
    case 'nats.servers.0':
      return pick(rng, [
        ctx.natsUrl,
        'nats://127.0.0.1:1',
        'tls://127.0.0.1:1',
        'nats://user:pw@127.0.0.1:1',
      ]);
    case 'nats.servers':
      return pick(rng, [[ctx.natsUrl], ['nats://127.0.0.1:1'], [ctx.natsUrl, 'nats://127.0.0.1:1']]);
    case 'scaleTargetRef.kind':
      return pick(rng, ['Deployment', 'StatefulSet', 'ConfigMap', 'Pod']);
    case 'scaleTargetRef.apiVersion':
      return pick(rng, ['apps/v1', 'v1', 'nope.example/v1']);
    case 'scaleTargetRef.name':
      return pick(rng, [
        ...ctx.targets,
        ...(ctx.own === undefined ? [] : [ctx.own]),
        ...(ctx.owned ?? []),
        'no-such-target',
      ]);
    case 'pollInterval':
      return pick(rng, ['1s', '2s', '500ms', '10m']);
    case 'drainWithin':
    case 'behavior.scaleDown.stabilizationWindow':
    case 'behavior.cooldownPeriod':
    case 'predictive.horizon':
      return pick(rng, ['0s', '1s', '30s', '1h', '24h']);
    case 'behavior.scaleUp.policies':
      return pick(rng, [
        [],
        [{ type: 'Pods', value: 2 ** 31 - 1, period: '1s' }],
        [{ type: 'Percent', value: 1, period: '30m' }],
      ]);
    case 'predictive.enabled':
    case 'paused':
      return rng() < 0.5;
    case 'predictive.maxRelativeError':
      return pick(rng, [0.001, 0.5, 1]);
    case 'minReplicas':
    case 'fallback.replicas':
      return pick(rng, [0, 1, 5]);
    case 'pausedReplicas':
      // null: a merge patch that removes it (scaling resumes).
      return pick(rng, [0, 2, 7, null]);
    case 'maxReplicas':
      return pick(rng, [1, 5, 10_000]);
    default:
      return pick(rng, [1, 2, 100, 2 ** 31 - 1]);
  }
}

export function baseSpec(ctx: FuzzContext, target: string): Record<string, unknown> {
  return {
    scaleTargetRef: { name: target },
    nats: { servers: [ctx.natsUrl], stream: ctx.stream, consumer: ctx.consumer },
    pollInterval: '1s',
    maxReplicas: 5,
  };
}

/** One fuzz EventConsumer spec. */
export function fuzzSpec(rng: Rng, ctx: FuzzContext): Record<string, unknown> {
  if (rng() < 0.1) {
    const [, spec] = pick(rng, refusedSpecs);
    return structuredClone(spec);
  }
  const spec = baseSpec(ctx, ctx.own !== undefined && rng() < 0.6 ? ctx.own : pick(rng, ctx.targets));
  // Mostly values the CRD lets through (hostile to the operator, not to the schema), so most
  // objects reach the operator; some junk, which the API server must refuse without a 5xx.
  const mutations = 1 + Math.floor(rng() * 3);
  for (let i = 0; i < mutations; i++) {
    const path = pick(rng, PATHS);
    setPath(spec, path, rng() < 0.85 ? plausible(rng, path, ctx) : junkValue(rng));
  }
  return spec;
}

/**
 * One edit of an existing object, as a tenant makes them (a merge patch of one or two fields):
 * maxReplicas lowered or raised, the target renamed, paused toggled, a policy or an interval
 * changed — mostly values the CRD accepts, now and then junk it must refuse.
 */
export function fuzzEdit(rng: Rng, ctx: FuzzContext): Record<string, unknown> {
  const edit: Record<string, unknown> = {};
  const edits = 1 + Math.floor(rng() * 2);
  for (let i = 0; i < edits; i++) {
    const path = pick(rng, [
      'maxReplicas',
      'maxReplicas',
      'minReplicas',
      'scaleTargetRef.name',
      'paused',
      'backlogPerReplica',
      'pollInterval',
      'behavior.scaleDown.stabilizationWindow',
      'fallback.replicas',
      'pausedReplicas',
      'nats.auth.secretRef.name',
      ...PATHS,
    ]);
    setPath(edit, path, rng() < 0.9 ? plausible(rng, path, ctx) : junkValue(rng));
  }
  return edit;
}

/**
 * What else happens to a tenant's objects while jetscale scales them: its Deployment deleted and
 * recreated under the same name (a redeploy; a new uid, and the manifest's replicas, zero or far
 * above any maxReplicas included), its replicas set by hand (`kubectl scale`), or its EventConsumer
 * deleted and recreated under the same name with another spec (a new uid; a conflict's older
 * claimant becoming the younger).
 */
export type FuzzChaos =
  | { kind: 'recreateDeployment'; name: string; replicas: number }
  | { kind: 'scaleDeployment'; name: string; replicas: number }
  | { kind: 'recreateEventConsumer'; spec: Record<string, unknown> }
  /** Deleted with a finalizer holding it: a while with a deletionTimestamp, then gone and recreated. */
  | { kind: 'holdDeletion'; name: string; replicas: number };

export function fuzzChaos(rng: Rng, ctx: FuzzContext): FuzzChaos {
  const target = pick(rng, [...ctx.targets, ...(ctx.own === undefined ? [] : [ctx.own, ctx.own])]);
  const replicas = pick(rng, [0, 1, 3, 7, 40]);
  const r = rng();
  if (r < 0.3) return { kind: 'recreateDeployment', name: target, replicas };
  if (r < 0.6) return { kind: 'scaleDeployment', name: target, replicas };
  if (r < 0.75) return { kind: 'holdDeletion', name: target, replicas };
  return { kind: 'recreateEventConsumer', spec: fuzzSpec(rng, ctx) };
}

/** One fuzz Secret's data (base64 values, as the API server stores them). */
export function fuzzSecretData(rng: Rng): Record<string, string> {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const seedShape = 'SU' + 'A'.repeat(56);
  const creds = (jwt: string, seed: string): string =>
    `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
  return pick(rng, [
    () => ({ token: b64('s3cret') }),
    () => ({ token: b64('') }),
    () => ({ token: b64(junkString(rng)) }),
    () => ({ user: b64('app') }),
    () => ({ user: b64('app'), password: b64(junkString(rng)) }),
    () => ({ nkeySeed: b64(seedShape) }),
    () => ({ nkeySeed: b64(junkString(rng)) }),
    () => ({ creds: b64(creds('hello', 'hello')) }),
    () => ({ creds: b64(creds('a.b.c', seedShape)) }),
    () => ({ creds: b64(junkString(rng)) }),
    () => ({ token: b64('t'), nkeySeed: b64(seedShape) }),
    // Another key, as a Secret may hold: the API server's rule for data keys (IsConfigMapKey:
    // [-._a-zA-Z0-9]+, never '.', '..' nor starting with '..'), or the Secret itself is refused.
    () => ({
      [junkString(rng)
        .replace(/[^A-Za-z0-9._-]/g, '')
        .replace(/^\.+/, '')
        .slice(0, 40) || 'other']: b64('x'),
    }),
  ])();
}
