// The observe step of a reconcile: everything read from the world for one poll — the parsed spec,
// the NATS credentials, the consumer's backlog and the scale target — with the caches that keep
// that cheap at 1,000 EventConsumers. Errors that stop a poll (a missing Secret, a missing or
// unscalable target) come back as a failed Observation with a reason; a backlog that cannot be
// read is a normal observation (the decide step handles it: fallback counts those).
import {
  parseEventConsumerSpec,
  type EventConsumerObject,
  type EventConsumerSpec,
  type SpecParseResult,
} from '../api/v1alpha1/event-consumer.js';
import { pollIntervalMs } from '../api/v1alpha1/scaling-spec.js';
import { isBacklogError } from '../backlog/backlog-error.js';
import type { BacklogReading } from '../backlog/backlog-source.js';
import type { ConsumerRef } from '../backlog/jetstream-backlog-source.js';
import {
  connectionKey,
  parseAuthSecret,
  parseTlsSecret,
  type NatsCredentials,
} from '../backlog/nats-credentials.js';
import { ScaleError, type ScaleReading, type ScaleTargetRef } from '../kube/scale-client.js';
import { SecretNotFoundError } from '../kube/secret-reader.js';
import type { ObservedCache } from './consumer-state.js';
import { SCALE_REASONS } from './reasons.js';
import { conflictMessage, type TargetClaims } from './target-claims.js';
import type { ReconcilerDeps } from './reconciler.js';

export type ObserveDeps = Pick<ReconcilerDeps, 'scale' | 'secrets' | 'backlog'> & { claims: TargetClaims };

export type Observation =
  { ok: true; backlog: BacklogReading; scale: ScaleReading } | { ok: false; reason: string; message: string };

export interface ObserveInput {
  /** namespace/name, the owner of the backlog source. */
  key: string;
  namespace: string;
  obj: EventConsumerObject;
  spec: EventConsumerSpec;
  cache: ObservedCache;
  now: number;
  /** Re-read an idle EventConsumer's scale target at least this often. */
  targetRefreshMs: number;
}

/** The spec, parsed once per generation. */
export function parsedSpec(cache: ObservedCache, obj: EventConsumerObject): SpecParseResult {
  const generation = obj.metadata?.generation;
  const cached = cache.spec;
  if (cached !== undefined && cached.generation === generation && generation !== undefined)
    return cached.result;
  const result = parseEventConsumerSpec(obj.spec);
  cache.spec = { generation, result };
  return result;
}

export async function observe(deps: ObserveDeps, input: ObserveInput): Promise<Observation> {
  const { namespace, spec } = input;
  // Another controller on the target first: a yielding EventConsumer has nothing else to read.
  const rival = await deps.claims.rivalOf(input.obj, spec);
  if (rival) return { ok: false, reason: 'TargetConflict', message: conflictMessage(spec, rival) };
  let credentials: NatsCredentials;
  try {
    credentials = await readCredentials(deps, namespace, spec);
  } catch (err) {
    if (err instanceof SecretNotFoundError)
      return {
        ok: false,
        reason: err.forbidden ? 'SecretForbidden' : 'SecretNotFound',
        message: err.message,
      };
    if (isBacklogError(err)) return { ok: false, reason: 'SecretInvalid', message: err.message };
    throw err;
  }
  const backlog = await backlogSource(deps, input, credentials).read();
  let scale: ScaleReading;
  try {
    scale = await readTarget(deps, input, backlog);
  } catch (err) {
    if (err instanceof ScaleError)
      return { ok: false, reason: SCALE_REASONS[err.kind], message: err.message };
    throw err;
  }
  return { ok: true, backlog, scale };
}

async function readCredentials(
  deps: ObserveDeps,
  namespace: string,
  spec: EventConsumerSpec,
): Promise<NatsCredentials> {
  const credentials: NatsCredentials = { auth: { kind: 'none' } };
  const auth = spec.nats.auth?.secretRef.name;
  if (auth !== undefined)
    credentials.auth = parseAuthSecret(await deps.secrets.read(namespace, auth), `${namespace}/${auth}`);
  const tls = spec.nats.tls?.secretRef.name;
  if (tls !== undefined)
    credentials.tls = parseTlsSecret(await deps.secrets.read(namespace, tls), `${namespace}/${tls}`);
  return credentials;
}

/** The EventConsumer's backlog source, reopened when servers, credentials or consumer change. */
function backlogSource(deps: ObserveDeps, input: ObserveInput, credentials: NatsCredentials) {
  const { spec, cache } = input;
  const ref: ConsumerRef = { stream: spec.nats.stream, consumer: spec.nats.consumer };
  if (spec.nats.domain !== undefined) ref.domain = spec.nats.domain;
  if (spec.nats.apiPrefix !== undefined) ref.apiPrefix = spec.nats.apiPrefix;
  const sourceKey = `${connectionKey(spec.nats.servers, credentials)}|${JSON.stringify(ref)}`;
  if (cache.source?.key === sourceKey) return cache.source.source;
  cache.source?.source.close();
  const source = deps.backlog.open(input.key, spec.nats.servers, credentials, ref);
  cache.source = { key: sourceKey, source };
  return source;
}

/**
 * The scale target: read fresh while it is changing (a recent change, pods not yet ready, a
 * conflict), once per pollInterval while a backlog is being worked off, and at least every
 * targetRefreshMs when idle, like the HPA's sync period. Idle EventConsumers are most of a large
 * installation, and this keeps their API cost low. The adaptive poll reads the consumer every
 * second while things move; a settled target does not move unless someone else moves it (the
 * conditional PATCH gets a 409 then and reads again), so those extra polls cost NATS reads, not
 * API requests (measured in the bench, loadtest/sim/request-cost.ts: reading the target at every
 * busy poll made 20–42 API requests a minute per EventConsumer, KEDA + HPA make 14–17).
 */
async function readTarget(
  deps: ObserveDeps,
  input: ObserveInput,
  backlog: BacklogReading,
): Promise<ScaleReading> {
  const { spec, cache, now } = input;
  const ref: ScaleTargetRef = spec.scaleTargetRef;
  const refKey = targetKey(ref);
  const cached = cache.target;
  const busy = !backlog.ok || backlog.sample.pending + backlog.sample.ackPending > 0;
  const settled =
    cached !== undefined &&
    cached.reading.specReplicas === cached.reading.statusReplicas &&
    (cached.reading.readyReplicas ?? cached.reading.statusReplicas) === cached.reading.statusReplicas;
  if (
    cached !== undefined &&
    cache.conflicts === 0 &&
    cached.refKey === refKey &&
    settled &&
    now - cached.at < (busy ? Math.min(pollIntervalMs(spec), input.targetRefreshMs) : input.targetRefreshMs)
  )
    return cached.reading;
  cache.target = undefined;
  const reading =
    cache.conflicts > 0
      ? await deps.scale.get(input.namespace, ref, { fresh: true })
      : await deps.scale.get(input.namespace, ref);
  cache.target = { refKey, reading, at: now };
  return reading;
}

export function targetKey(ref: ScaleTargetRef): string {
  return `${ref.apiVersion}/${ref.kind}/${ref.name}`;
}
