// The observe step of a reconcile: everything read from the world for one poll — the parsed spec,
// the NATS credentials, the consumer's backlog and the scale target — with the caches that keep
// that cheap at 1,000 EventConsumers. Errors that stop a poll (a missing Secret, a missing or
// unscalable target) come back as a failed Observation with a reason; a backlog that cannot be
// read is a normal observation (the decide step handles it: fallback counts those).
import {
  consumersOf,
  parseEventConsumerSpec,
  type ConsumerSpec,
  type EventConsumerObject,
  type EventConsumerSpec,
  type SpecParseResult,
} from '../api/v1alpha1/event-consumer.js';
import { pollIntervalMs } from '../api/v1alpha1/scaling-spec.js';
import { BacklogError, isBacklogError } from '../backlog/backlog-error.js';
import type { BacklogReading, BacklogSource } from '../backlog/backlog-source.js';
import type { ConsumerRef } from '../backlog/jetstream-backlog-source.js';
import {
  connectionKey,
  parseAuthSecret,
  parseTlsSecret,
  userJwtExpiresAt,
  type NatsCredentials,
} from '../backlog/nats-credentials.js';
import { tlsProblemMessage } from '../backlog/tls-diagnosis.js';
import { ScaleError, type ScaleReading, type ScaleTargetRef } from '../kube/scale-client.js';
import { SecretNotFoundError, type SecretData } from '../kube/secret-reader.js';
import type { ObservedCache } from './consumer-state.js';
import { SCALE_REASONS } from './reasons.js';
import { conflictMessage, ownerScalesTarget, type TargetClaims } from './target-claims.js';
import type { ReconcilerDeps } from './reconciler.js';

export type ObserveDeps = Pick<ReconcilerDeps, 'scale' | 'secrets' | 'backlog'> & { claims: TargetClaims };

/** One consumer's reading at this poll. */
export interface ConsumerReading {
  consumer: ConsumerSpec;
  backlog: BacklogReading;
}

export type Observation =
  | { ok: true; readings: ConsumerReading[]; scale: ScaleReading }
  | {
      ok: false;
      reason: string;
      message: string;
      /**
       * The target, when the poll stopped before reading the backlog but the target is this
       * EventConsumer's to scale (credentials that cannot be read): the replica bounds hold anyway.
       */
      scale?: ScaleReading;
    };

export interface ObserveInput {
  /** namespace/name, the owner of the backlog source. */
  key: string;
  namespace: string;
  obj: EventConsumerObject;
  spec: EventConsumerSpec;
  cache: ObservedCache;
  now: number;
  /**
   * The wall clock a user JWT's `exp` is judged on (the reconciler's: Date.now unless a test moves
   * it, as a server clock ahead of ours does).
   */
  wallClock: () => number;
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
  const consumers = consumersOf(spec);
  // A missing or invalid Secret of any consumer is a configuration error: the poll stops and
  // replicas are left alone, as with one consumer (the message names the Secret).
  const credentials: NatsCredentials[] = [];
  const secretReads = new Map<string, Promise<SecretData>>();
  const readSecret = (name: string): Promise<SecretData> => {
    let read = secretReads.get(name);
    if (read === undefined) {
      read = deps.secrets.read(namespace, name);
      secretReads.set(name, read);
    }
    return read;
  };
  try {
    for (const consumer of consumers)
      credentials.push(await readCredentials(readSecret, namespace, consumer, input.wallClock()));
  } catch (err) {
    const failed =
      err instanceof SecretNotFoundError
        ? { reason: err.forbidden ? 'SecretForbidden' : 'SecretNotFound', message: err.message }
        : isBacklogError(err)
          ? { reason: 'SecretInvalid', message: err.message }
          : undefined;
    if (failed === undefined) throw err;
    // No backlog without credentials, but the target is this EventConsumer's: read it so the
    // replica bounds hold (a target that cannot be read is reported once the Secret is fixed).
    try {
      return { ok: false, ...failed, scale: await readTarget(deps, input, []) };
    } catch (targetErr) {
      if (targetErr instanceof ScaleError) return { ok: false, ...failed };
      throw targetErr;
    }
  }
  const sources = backlogSources(deps, input, consumers, credentials);
  // All consumers are read at once: a poll takes as long as its slowest read, not their sum.
  const backlogs = await Promise.all(sources.map((source) => source.read()));
  const readAt = input.wallClock(); // the wall clock a JWT's expiry is on, after the reads
  const readings = consumers.map((consumer, i) => ({
    consumer,
    backlog: withOwnAuthSecret(
      withExpiredUserJwt(
        withOwnTlsSecret(backlogs[i] as BacklogReading, namespace, consumer),
        credentials[i] as NatsCredentials,
        readAt,
      ),
      namespace,
      consumer,
    ),
  }));
  let scale: ScaleReading;
  try {
    scale = await readTarget(deps, input, readings);
  } catch (err) {
    if (err instanceof ScaleError)
      return { ok: false, reason: SCALE_REASONS[err.kind], message: err.message };
    throw err;
  }
  return { ok: true, readings, scale };
}

/**
 * A TLS failure says what to fix in this EventConsumer's own TLS Secret. The connection, and so the
 * error, may be shared with EventConsumers of other namespaces whose Secrets hold the same material:
 * the pool's message names none, and each EventConsumer names its own.
 */
function withOwnTlsSecret(
  reading: BacklogReading,
  namespace: string,
  consumer: ConsumerSpec,
): BacklogReading {
  if (reading.ok || reading.error.kind !== 'TlsFailed') return reading;
  const { error } = reading;
  const problem = error.tls;
  if (problem === undefined) return reading;
  const secret = consumer.tls === undefined ? undefined : `${namespace}/${consumer.tls.secretRef.name}`;
  const server = error.where.server ?? consumer.servers.join(', ');
  return {
    ok: false,
    error: new BacklogError('TlsFailed', tlsProblemMessage(problem, server, secret), error.where, problem),
  };
}

/** What the server says to a user JWT past its expiry (nats-server: "User Authentication Expired"). */
export const EXPIRED_REFUSAL = 'User Authentication Expired';

/**
 * How long before a user JWT's `exp` the server may already have closed the connection:
 * nats-server times the expiry in whole seconds from the connect (client.go checkExpiration:
 * `Expires - time.Now().Unix()` seconds), so it fires up to 1 s early; 2 s with slack.
 */
export const JWT_EXPIRY_EARLY_MS = 2000;

/**
 * A read that failed for the connection (unreachable, or refused) once the user JWT of the
 * credentials expired (JWT_EXPIRY_EARLY_MS before its `exp`, or later) failed because it expired:
 * the server closes the connection at the expiry and refuses every reconnect. What nats.js reports first depends on timing — the disconnect
 * (a read in flight then waits out the reconnect grace and ends NatsUnreachable, which counts
 * toward fallback) or the server's -ERR (a refusal) — and on a loaded machine the disconnect came
 * first (nats-accounts.int). Judged on the wall clock after the read, so it holds whatever the
 * order: the reason is NatsUnauthorized and withOwnAuthSecret says to renew the credentials. A
 * read that succeeded stays a success (a server whose clock is behind ours still accepts it).
 */
export function withExpiredUserJwt(
  reading: BacklogReading,
  credentials: NatsCredentials,
  wallNow: number,
): BacklogReading {
  if (reading.ok) return reading;
  const { error } = reading;
  if (error.kind !== 'Unreachable' && error.kind !== 'Unauthorized' && error.kind !== 'Busy') return reading;
  const expiresAt = userJwtExpiresAt(credentials.auth);
  if (expiresAt === undefined || expiresAt - JWT_EXPIRY_EARLY_MS > wallNow) return reading;
  const server = error.where.server ?? 'NATS';
  const refusal = `${EXPIRED_REFUSAL}: the user JWT expired at ${new Date(expiresAt).toISOString()}`;
  return {
    ok: false,
    error: new BacklogError(
      'Unauthorized',
      `NATS at ${server} refused the credentials (${refusal})`,
      error.where,
      undefined,
      refusal,
    ),
  };
}

/**
 * Credentials the server refused say which auth Secret to check: this EventConsumer's own (the
 * connection, and so the error, may be shared), or that it names none where the server wants one.
 */
function withOwnAuthSecret(
  reading: BacklogReading,
  namespace: string,
  consumer: ConsumerSpec,
): BacklogReading {
  if (reading.ok || reading.error.kind !== 'Unauthorized') return reading;
  const { error } = reading;
  const refusal = error.refusal;
  if (refusal === undefined) return reading;
  const server = error.where.server ?? consumer.servers.join(', ');
  const secret = consumer.auth?.secretRef.name;
  const what =
    secret === undefined
      ? 'spec.nats.auth names no Secret, and the server wants credentials: add one'
      : /expired/i.test(refusal)
        ? `renew the credentials in the auth Secret ${namespace}/${secret} (they expired)`
        : `check the auth Secret ${namespace}/${secret}`;
  return {
    ok: false,
    error: new BacklogError(
      'Unauthorized',
      `NATS at ${server} refused the credentials (${refusal}): ${what}`,
      error.where,
      undefined,
      refusal,
    ),
  };
}

async function readCredentials(
  readSecret: (name: string) => Promise<SecretData>,
  namespace: string,
  nats: ConsumerSpec,
  wallNow: number,
): Promise<NatsCredentials> {
  const credentials: NatsCredentials = { auth: { kind: 'none' } };
  const auth = nats.auth?.secretRef.name;
  if (auth !== undefined)
    credentials.auth = parseAuthSecret(await readSecret(auth), `${namespace}/${auth}`, wallNow);
  const tls = nats.tls?.secretRef.name;
  if (tls !== undefined) credentials.tls = parseTlsSecret(await readSecret(tls), `${namespace}/${tls}`);
  return credentials;
}

/**
 * The EventConsumer's backlog sources, one per consumer (by name), each reopened when its servers,
 * credentials or consumer change and closed when its entry is removed. spec.nats reads as the
 * EventConsumer itself (owner namespace/name); entries of spec.consumers as namespace/name#entry,
 * so the connection pool counts each one's share of a shared connection.
 */
function backlogSources(
  deps: ObserveDeps,
  input: ObserveInput,
  consumers: ConsumerSpec[],
  credentials: NatsCredentials[],
): BacklogSource[] {
  const { cache } = input;
  const single = input.spec.consumers === undefined;
  const open = new Map<string, { key: string; source: BacklogSource }>();
  const sources = consumers.map((nats, i) => {
    const ref: ConsumerRef = { stream: nats.stream, consumer: nats.consumer };
    if (nats.domain !== undefined) ref.domain = nats.domain;
    if (nats.apiPrefix !== undefined) ref.apiPrefix = nats.apiPrefix;
    const creds = credentials[i] as NatsCredentials;
    const sourceKey = `${connectionKey(nats.servers, creds)}|${JSON.stringify(ref)}`;
    const cached = cache.sources.get(nats.name);
    if (cached?.key === sourceKey) {
      open.set(nats.name, cached);
      return cached.source;
    }
    cached?.source.close();
    const owner = single ? input.key : `${input.key}#${nats.name}`;
    const source = deps.backlog.open(owner, nats.servers, creds, ref);
    open.set(nats.name, { key: sourceKey, source });
    return source;
  });
  for (const [name, cached] of cache.sources) if (!open.has(name)) cached.source.close();
  cache.sources = open;
  return sources;
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
 * A backlog that could not be read counts as idle here: replicas are held, and the rare write
 * (fallback, a missing consumer) is conditional on the version read, so a stale one is refused
 * (409) and the target read again at once. Twenty EventConsumers on a dead NATS must not each
 * cost an API call per poll while the healthy ones wait for workers.
 * Except in a new term's first LATE_WRITE_WATCH_MS (cache.freshReadsUntil): then every poll reads
 * the target, so a late write of the previous leader term is seen at the next poll, not a target
 * refresh later (reconciler.ts noticeOutsideChange).
 */
async function readTarget(
  deps: ObserveDeps,
  input: ObserveInput,
  readings: ConsumerReading[],
): Promise<ScaleReading> {
  const ref: ScaleTargetRef = input.spec.scaleTargetRef;
  const refKey = targetKey(ref);
  // A target whose replicas its controller sets (a ReplicaSet of a Deployment) is yielded like one
  // another autoscaler holds, at every reading, cached or not.
  const reading = await readTargetOnce(deps, input, readings, ref, refKey);
  const owned = ownerScalesTarget(ref, reading.controller);
  if (owned !== undefined) throw new ScaleError('OwnerScales', owned);
  return reading;
}

async function readTargetOnce(
  deps: ObserveDeps,
  input: ObserveInput,
  readings: ConsumerReading[],
  ref: ScaleTargetRef,
  refKey: string,
): Promise<ScaleReading> {
  const { spec, cache, now } = input;
  const cached = cache.target;
  const busy = readings.some(
    ({ backlog }) => backlog.ok && backlog.sample.pending + backlog.sample.ackPending > 0,
  );
  const settled =
    cached !== undefined &&
    cached.reading.specReplicas === cached.reading.statusReplicas &&
    (cached.reading.readyReplicas ?? cached.reading.statusReplicas) === cached.reading.statusReplicas;
  if (
    cached !== undefined &&
    cache.conflicts === 0 &&
    !(cache.freshReadsUntil !== undefined && now < cache.freshReadsUntil) &&
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
