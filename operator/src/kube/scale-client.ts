// Reads and changes the replicas of any resource with a /scale subresource. Replicas change only
// through PATCH on /scale. The kind is mapped to its resource name through API discovery (cached);
// for apps/v1 Deployments and StatefulSets the object itself is read, because it also carries
// readyReplicas, which keeps starting pods out of the policy's per-replica capacity estimate.
//
// Writes are optimistic, as the HPA and KEDA do it: /scale is patched with the resourceVersion
// the reading carried (the scale subresource shares its object's resourceVersion), so a change
// made by anyone since the reading — another controller, a user, a former leader — turns the
// write into a 409 (ScaleError 'Conflict') instead of being silently overwritten.
import { groupVersionPath as apiGroupVersionPath } from '../api/v1alpha1/group-version.js';
import { KubeApiError, type KubeApi, type RequestOptions } from './api-client.js';
import { monotonicNow } from '../clock.js';
import { pausePoints } from './pause-points.js';
import { isSlowRequest, type SlowRequests } from './slow-requests.js';

export interface ScaleTargetRef {
  apiVersion: string;
  kind: string;
  name: string;
}

export interface ScaleReading {
  /** spec.replicas: what was last asked for. */
  specReplicas: number;
  /** status.replicas: what exists. */
  statusReplicas: number;
  /** status.readyReplicas, when the target reports it. */
  readyReplicas?: number;
  /** metadata.resourceVersion of the reading: the precondition of a write based on it. */
  resourceVersion: string;
  /**
   * A rolling update in progress (Deployments and StatefulSets; absent when none is, the Deployment
   * is paused, its rollout exceeded its progress deadline, or the kind does not say).
   */
  rollout?: RolloutReading;
  /** metadata.uid of the target: a target deleted and recreated under the same name is another object. */
  uid?: string;
  /**
   * Who last set spec.replicas: the field manager owning it in metadata.managedFields (the latest,
   * when several share it), when the reply says. jetscale writes as FIELD_MANAGER.
   */
  replicasManager?: ReplicasManager;
  /**
   * The object whose controller manages the target (metadata.ownerReferences' entry with
   * controller: true): a ReplicaSet's Deployment, a Deployment's operator. Read with the object
   * (apps/v1 Deployments and StatefulSets) or its metadata (other kinds).
   */
  controller?: TargetController;
}

/** An ownerReference with controller: true, as the API server returns it (validated). */
export interface TargetController {
  apiVersion: string;
  kind: string;
  name: string;
}

/**
 * The controller among an object's metadata.ownerReferences (the entry with controller: true; the
 * API server allows at most one), each field validated: this is input from outside.
 */
export function controllerOf(ownerReferences: unknown): TargetController | undefined {
  if (!Array.isArray(ownerReferences)) return undefined;
  for (const entry of ownerReferences as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const e = entry as Record<string, unknown>;
    if (e.controller !== true) continue;
    const { apiVersion, kind, name } = e;
    if (typeof kind !== 'string' || kind === '' || typeof name !== 'string' || name === '') continue;
    return {
      apiVersion: typeof apiVersion === 'string' ? apiVersion.slice(0, 317) : '',
      kind: kind.slice(0, 63),
      name: name.slice(0, 253),
    };
  }
  return undefined;
}

export interface ReplicasManager {
  manager: string;
  /** Update or Apply. */
  operation?: string;
  /** "scale" when set through /scale (kubectl scale, an HPA, jetscale). */
  subresource?: string;
  time?: string;
}

/** The field manager jetscale's /scale writes carry (so a reader of managedFields knows them). */
export const FIELD_MANAGER = 'jetscale';

/** The annotation a new leader sets on each target before it takes over (ScaleClient.fenceTarget). */
export const FENCE_ANNOTATION = 'jetscale.io/leader-fence';

/**
 * The field manager owning spec.replicas, from metadata.managedFields as the API server returns it
 * (each entry validated: this is input from outside); the latest by time when several own it.
 * `scaleWriters`: a custom resource's replicas live at its CRD's specReplicasPath, which need not
 * be spec.replicas; a write through its /scale owns that path and nothing else, so an entry made
 * through the scale subresource counts as owning them too.
 */
export function replicasManagerOf(
  managedFields: unknown,
  options: { scaleWriters?: boolean } = {},
): ReplicasManager | undefined {
  if (!Array.isArray(managedFields)) return undefined;
  let found: ReplicasManager | undefined;
  for (const entry of managedFields as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue;
    const e = entry as Record<string, unknown>;
    const fields = e.fieldsV1 as Record<string, unknown> | undefined;
    const spec = typeof fields === 'object' && fields !== null ? fields['f:spec'] : undefined;
    const ownsReplicas =
      (typeof spec === 'object' && spec !== null && 'f:replicas' in spec) ||
      (options.scaleWriters === true && e.subresource === 'scale');
    if (!ownsReplicas || typeof e.manager !== 'string' || e.manager === '') continue;
    const candidate: ReplicasManager = { manager: e.manager.slice(0, 128) };
    if (typeof e.operation === 'string') candidate.operation = e.operation.slice(0, 16);
    if (typeof e.subresource === 'string' && e.subresource !== '')
      candidate.subresource = e.subresource.slice(0, 32);
    if (typeof e.time === 'string') candidate.time = e.time.slice(0, 40);
    if (found === undefined || (candidate.time ?? '') > (found.time ?? '')) found = candidate;
  }
  return found;
}

export interface RolloutReading {
  /**
   * Replicas the rollout keeps unavailable by design (a Deployment's resolved maxUnavailable, a
   * StatefulSet's one pod at a time; in a StatefulSet's ordered start, the pods not created yet and
   * the one starting): while it makes progress, up to this many not ready are the rollout's, not
   * pods failing to start (scaling/readiness.ts).
   */
  unavailable: number;
  /**
   * What the rollout still has to do; progress is this falling (with spec.replicas not falling).
   * A rolling update: replicas of the old template (status.replicas − status.updatedReplicas). An
   * ordered start: replicas not ready yet (spec.replicas − status.readyReplicas).
   */
  remaining: number;
}

export interface ScaleReadOptions {
  /**
   * Read from etcd (a quorum read) instead of the API server's watch cache: after a conflict,
   * so the next write is based on the latest version, not on a cache still trailing it.
   */
  fresh?: boolean;
}

/**
 * Why a target cannot be read or scaled (besides TargetNotFound, Forbidden and NotScalable):
 * - Conflict: the target changed since it was read (409); read it again and decide again, never
 *   overwrite.
 * - ReplicasUnset: a custom resource with no value at its /scale's specReplicasPath. The API server
 *   cannot read its /scale (it answers 500 "the spec replicas field ... does not exist"), so the
 *   count it runs is not known; as the HPA (FailedGetScale), jetscale does not scale it until it
 *   has one.
 * - Deleting: the target has a deletionTimestamp (a finalizer or a foreground deletion keeps it a
 *   while): it is going away, and jetscale does not scale it. A custom resource's /scale does not
 *   say so: its object is read (metadata only) whenever its resourceVersion changed.
 * - ConversionFailed: the target's CustomResourceDefinition converts between versions with a webhook,
 *   and the webhook failed (unreachable, a bad certificate, an error of its own): the object exists
 *   but the API server cannot hand it out (or take it) in spec.scaleTargetRef.apiVersion.
 * - Refused: the API server would not take the change or the reading for a reason of its own (an
 *   admission webhook, a ValidatingAdmissionPolicy, the target's validation): the message says
 *   what refused it, in the server's words.
 * - OwnerScales: the target is a ReplicaSet managed by a controller (a Deployment, an Argo Rollout),
 *   which sets its replicas from its own spec: a change jetscale made would be undone at once
 *   (controller/target-claims.ts ownerScalesTarget).
 * - Slow: the API server did not answer a request about the target within 2 s while the
 *   operator already waited for as many slow requests as it allows (slow-requests.ts), so the
 *   request was not waited for (or not sent). A write's outcome is then unknown: the target is read
 *   again before the next.
 */
export type ScaleErrorKind =
  | 'TargetNotFound'
  | 'Forbidden'
  | 'NotScalable'
  | 'ReplicasUnset'
  | 'Conflict'
  | 'Refused'
  | 'Deleting'
  | 'ConversionFailed'
  | 'Slow'
  | 'OwnerScales';

export class ScaleError extends Error {
  constructor(
    readonly kind: ScaleErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'ScaleError';
  }
}

export interface ApiResource {
  name: string;
  kind: string;
  namespaced?: boolean;
  singularName?: string;
  shortNames?: string[];
}

/** The built-in scalable kinds and the group version that serves each. */
const BUILT_IN_KINDS: ReadonlyArray<readonly [string, string]> = [
  ['Deployment', 'apps/v1'],
  ['StatefulSet', 'apps/v1'],
  ['ReplicaSet', 'apps/v1'],
  ['ReplicationController', 'v1'],
];

/**
 * What to fix when `gv` serves no kind `kind`. Pure. Day-one spellings are named: a kind that
 * differs only in case or is written as its plural or short name (`deployment`, `deployments`,
 * `deploy`: kinds are case-sensitive) gets the kind `gv` serves; a built-in kind under another
 * group version (`apiVersion: v1` for a Deployment) gets the one that serves it.
 */
export function unknownKindMessage(gv: string, kind: string, resources: ApiResource[]): string {
  const lower = kind.toLowerCase();
  const near = resources.find(
    (r) =>
      !r.name.includes('/') &&
      (r.kind.toLowerCase() === lower ||
        r.name === lower ||
        r.singularName === lower ||
        (r.shortNames ?? []).includes(lower)),
  );
  if (near !== undefined)
    return `${gv} has no kind ${kind}; did you mean ${near.kind}? (kinds are case-sensitive and singular): fix spec.scaleTargetRef.kind`;
  const builtIn = BUILT_IN_KINDS.find(([k]) => k.toLowerCase() === lower || `${k.toLowerCase()}s` === lower);
  if (builtIn !== undefined && builtIn[1] !== gv) {
    const [builtInKind, servedBy] = builtIn;
    return `${gv} has no kind ${kind}; ${builtInKind} is served by ${servedBy}: fix spec.scaleTargetRef.apiVersion${builtInKind === kind ? '' : ' and kind'}`;
  }
  return `${gv} has no kind ${kind}: fix spec.scaleTargetRef.kind`;
}

interface ApiResourceList {
  resources?: ApiResource[];
}

interface ScaleObject {
  metadata?: {
    resourceVersion?: string;
    generation?: number;
    uid?: string;
    managedFields?: unknown;
    ownerReferences?: unknown;
    deletionTimestamp?: string;
  };
  spec?: {
    replicas?: number;
    paused?: boolean;
    /** StatefulSet: OrderedReady (the default) or Parallel. */
    podManagementPolicy?: string;
    /** Deployment. */
    strategy?: { type?: string; rollingUpdate?: { maxUnavailable?: unknown; maxSurge?: unknown } };
    /** StatefulSet. */
    updateStrategy?: { type?: string; rollingUpdate?: { maxUnavailable?: unknown } };
  };
  status?: {
    replicas?: number;
    readyReplicas?: number;
    updatedReplicas?: number;
    observedGeneration?: number;
    currentRevision?: string;
    updateRevision?: string;
    conditions?: Array<{ type?: string; status?: string; reason?: string }>;
  };
}

/**
 * An intstr (an integer, or a percentage such as "25%") resolved against `replicas` as the
 * deployment controller does: maxUnavailable rounds down, maxSurge up. Anything else reads as
 * `fallback` (the API server validates these fields; a value it did not is not trusted).
 */
function resolveIntOrPercent(value: unknown, replicas: number, roundUp: boolean, fallback: number): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === 'string') {
    const m = /^([0-9]{1,3})%$/.exec(value);
    if (m) {
      const scaled = (Number(m[1]) * replicas) / 100;
      return roundUp ? Math.ceil(scaled) : Math.floor(scaled);
    }
  }
  return fallback;
}

/**
 * A rollout in progress (ScaleReading.rollout), from an apps/v1 Deployment or StatefulSet as read. A paused Deployment does not roll, a Recreate or
 * OnDelete strategy replaces no pod while keeping the others (its new pods have the whole deadline),
 * and a Deployment whose Progressing condition says ProgressDeadlineExceeded is stuck by its own
 * account: none of these gets an allowance.
 */
export function rolloutOf(kind: string, obj: ScaleObject): RolloutReading | undefined {
  const start = orderedStart(kind, obj);
  if (start !== undefined) return start;
  const unavailable = rolloutUnavailable(kind, obj);
  if (unavailable === 0) return undefined;
  const status = obj.status ?? {};
  return { unavailable, remaining: Math.max(0, (status.replicas ?? 0) - (status.updatedReplicas ?? 0)) };
}

/**
 * A StatefulSet with podManagementPolicy OrderedReady (the default) creates pod n+1 only once pod n
 * is ready: scaled from 2 to 8 with pods that take 30 s, the last is created 2.5 min after it was
 * asked for. The pods not created yet wait their turn, and the one created is starting; as long as
 * pods keep becoming ready (within the readiness deadline) none of them is failing. One that never
 * becomes ready holds back all the rest, and once the start makes no progress for a deadline they
 * all count.
 */
function orderedStart(kind: string, obj: ScaleObject): RolloutReading | undefined {
  if (kind !== 'StatefulSet' || obj.spec?.podManagementPolicy === 'Parallel') return undefined;
  const asked = obj.spec?.replicas ?? 0;
  const created = obj.status?.replicas ?? 0;
  const ready = obj.status?.readyReplicas ?? 0;
  if (created >= asked) return undefined;
  return { unavailable: asked - created + 1, remaining: Math.max(0, asked - ready) };
}

function rolloutUnavailable(kind: string, obj: ScaleObject): number {
  const spec = obj.spec ?? {};
  const status = obj.status ?? {};
  const replicas = spec.replicas ?? 0;
  if (kind === 'Deployment') {
    if (spec.paused === true || spec.strategy?.type === 'Recreate') return 0;
    const stuck = status.conditions?.some(
      (c) => c.type === 'Progressing' && c.status === 'False' && c.reason === 'ProgressDeadlineExceeded',
    );
    if (stuck) return 0;
    const generation = obj.metadata?.generation ?? 0;
    const rolling = (status.observedGeneration ?? 0) < generation || (status.updatedReplicas ?? 0) < replicas;
    if (!rolling) return 0;
    const update = spec.strategy?.rollingUpdate ?? {};
    // apps/v1 defaults: 25% each. Both resolving to 0 makes the controller take 1 unavailable.
    const unavailable = resolveIntOrPercent(update.maxUnavailable ?? '25%', replicas, false, 0);
    const surge = resolveIntOrPercent(update.maxSurge ?? '25%', replicas, true, 0);
    return unavailable === 0 && surge === 0 ? 1 : unavailable;
  }
  if (kind === 'StatefulSet') {
    if (spec.updateStrategy?.type === 'OnDelete') return 0;
    const rolling =
      status.updateRevision !== undefined &&
      status.currentRevision !== undefined &&
      status.updateRevision !== status.currentRevision;
    if (!rolling) return 0;
    // One pod at a time, unless the (alpha) maxUnavailable says more.
    return Math.max(
      1,
      resolveIntOrPercent(spec.updateStrategy?.rollingUpdate?.maxUnavailable, replicas, false, 1),
    );
  }
  return 0;
}

/** The group/version path; an apiVersion that is not group/version never reaches a URL. */
function groupVersionPath(apiVersion: string): string {
  const path = apiGroupVersionPath(apiVersion);
  if (path === undefined)
    throw new ScaleError(
      'TargetNotFound',
      `spec.scaleTargetRef.apiVersion ${JSON.stringify(apiVersion.slice(0, 80))} is not group/version (such as apps/v1): fix it`,
    );
  return path;
}

/** The target object's path (its /scale is below it). */
function targetPath(namespace: string, ref: ScaleTargetRef, plural: string): string {
  return `${groupVersionPath(ref.apiVersion)}/namespaces/${encodeURIComponent(namespace)}/${plural}/${encodeURIComponent(ref.name)}`;
}

/** Only the object's metadata (PartialObjectMetadata), JSON if the server cannot. */
const PARTIAL_METADATA = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';

/** Custom-resource targets remembered alive at a resourceVersion (ScaleClient.liveAt). */
const LIVE_AT_LIMIT = 10_000;

function deletingError(namespace: string, ref: ScaleTargetRef, since: string): ScaleError {
  return new ScaleError(
    'Deleting',
    `${ref.kind} ${namespace}/${ref.name} is being deleted (since ${since.slice(0, 40)}; a finalizer or a foreground deletion keeps it until done): jetscale leaves it alone. Point spec.scaleTargetRef at its replacement, or delete this EventConsumer with it`,
  );
}

/** A discovery request that another reconcile sent at `sentAt` (monotonic) is still unanswered. */
class DiscoveryInFlight extends Error {
  constructor(readonly sentAt: number) {
    super(
      `the discovery request in flight was sent ${Math.round(monotonicNow() - sentAt)} ms ago and is still unanswered`,
    );
    this.name = 'DiscoveryInFlight';
  }
}

/** `answer`, or DiscoveryInFlight after `ms` (the request itself goes on). */
async function withinMs<T>(answer: Promise<T>, ms: number, sentAt: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new DiscoveryInFlight(sentAt)), ms);
    timer.unref();
  });
  try {
    return await Promise.race([answer, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export class ScaleClient {
  private readonly discovery = new Map<
    string,
    { at: number; resources: Promise<ApiResourceList>; settled: boolean }
  >();
  /**
   * Custom-resource targets (object path) read without a deletionTimestamp, at this resourceVersion,
   * and their controller then (ownerReferences change only with the resourceVersion).
   */
  private readonly liveAt = new Map<string, { resourceVersion: string; controller?: TargetController }>();

  private readonly discoveryTtlMs: number;
  private readonly slowRequests: SlowRequests | undefined;

  constructor(
    private readonly api: KubeApi,
    options: {
      discoveryTtlMs?: number;
      /** The cap on slow requests about targets, shared by every ScaleClient of the process. */
      slowRequests?: SlowRequests;
    } = {},
  ) {
    this.discoveryTtlMs = options.discoveryTtlMs ?? 5 * 60_000;
    this.slowRequests = options.slowRequests;
  }

  /**
   * A request about the target: within the cap on slow requests when there is one. One the cap
   * did not wait for is ScaleError 'Slow', saying what is slow and what to check.
   */
  private async targetRequest<T>(
    namespace: string,
    ref: ScaleTargetRef,
    plural: string,
    method: 'GET' | 'PATCH',
    path: string,
    options: RequestOptions = {},
  ): Promise<T> {
    const guard = this.slowRequests;
    if (guard === undefined) return this.api.request<T>(method, path, options);
    const key = `${namespace}/${ref.apiVersion}/${ref.kind}/${ref.name}`;
    try {
      return await guard.run(key, (signal) =>
        this.api.request<T>(method, path, {
          ...options,
          signal: options.signal ? AbortSignal.any([options.signal, signal]) : signal,
        }),
      );
    } catch (err) {
      if (!isSlowRequest(err)) throw err;
      const group = ref.apiVersion.includes('/') ? ref.apiVersion.split('/')[0] : '';
      const resource = group === '' ? plural : `${plural}.${group}`;
      const outcome =
        method === 'PATCH'
          ? err.sent
            ? ' The change of its replicas may or may not have been applied: the target is read again before any other change.'
            : ''
          : '';
      throw new ScaleError(
        'Slow',
        `the API server does not answer requests about ${ref.kind} ${namespace}/${ref.name} (${resource}, as ${ref.apiVersion}) in time: ${method} ${path} ${err.message}. jetscale does not wait for it, so that other EventConsumers keep their cadence, and asks again at a later poll.${outcome} Check what serves ${resource}: a conversion webhook of its CustomResourceDefinition (spec.conversion.webhook: its Service, endpoints and Pods; setting spec.scaleTargetRef.apiVersion to the stored version needs no conversion), an aggregated API (its APIService), or an admission webhook on ${plural}/scale`,
      );
    }
  }

  async get(namespace: string, ref: ScaleTargetRef, options: ScaleReadOptions = {}): Promise<ScaleReading> {
    const plural = await this.resourceFor(ref);
    const objectPath = targetPath(namespace, ref, plural);
    const readsObject =
      ref.apiVersion === 'apps/v1' && (ref.kind === 'Deployment' || ref.kind === 'StatefulSet');
    const path = readsObject ? objectPath : `${objectPath}/scale`;
    try {
      // resourceVersion=0: served from the API server's watch cache instead of a quorum read from
      // etcd. At 1,000 EventConsumers polling every 5 s this is most of the operator's API load;
      // the cache trails etcd by milliseconds, and a write based on a stale reading is refused
      // (409) and followed by a fresh read.
      const obj = await this.targetRequest<ScaleObject>(
        namespace,
        ref,
        plural,
        'GET',
        path,
        options.fresh ? {} : { query: { resourceVersion: '0' } },
      );
      const resourceVersion = obj.metadata?.resourceVersion;
      if (resourceVersion === undefined || resourceVersion === '')
        throw new Error(`GET ${path}: the API server returned no metadata.resourceVersion`);
      // Only the object itself says so: a custom resource's /scale carries no deletionTimestamp,
      // so its object is read too (once per resourceVersion, liveAt).
      // The same read names who last set a custom resource's replicas (its /scale carries no
      // managedFields): read when the version moved on, which any write of them does.
      const object = readsObject
        ? {
            deleting: obj.metadata?.deletionTimestamp,
            manager: replicasManagerOf(obj.metadata?.managedFields),
            controller: controllerOf(obj.metadata?.ownerReferences),
          }
        : await this.deletionOf(namespace, ref, plural, objectPath, resourceVersion, options.fresh === true);
      const deleting = object.deleting;
      if (typeof deleting === 'string' && deleting !== '') throw deletingError(namespace, ref, deleting);
      const reading: ScaleReading = {
        specReplicas: obj.spec?.replicas ?? 0,
        statusReplicas: obj.status?.replicas ?? 0,
        resourceVersion,
      };
      const uid = obj.metadata?.uid;
      if (typeof uid === 'string' && uid !== '') reading.uid = uid;
      if (object.manager !== undefined) reading.replicasManager = object.manager;
      if (object.controller !== undefined) reading.controller = object.controller;
      if (readsObject) {
        reading.readyReplicas = obj.status?.readyReplicas ?? 0;
        const rollout = rolloutOf(ref.kind, obj);
        if (rollout !== undefined) reading.rollout = rollout;
      }
      return reading;
    } catch (err) {
      // The watch cache answers 404 for an object it holds none of: one created a moment ago, and
      // one it cannot convert to this version (a CRD whose conversion webhook fails: the cache
      // skips the object, while a read from etcd fails with the webhook's error). Only etcd tells
      // a missing target from an unreadable one.
      if (!options.fresh && err instanceof KubeApiError && err.status === 404)
        return this.get(namespace, ref, { ...options, fresh: true });
      if (!readsObject && err instanceof KubeApiError && err.status === 404)
        throw await this.scaleNotFound(namespace, ref, plural, objectPath, err);
      throw this.translate(err, namespace, ref, plural, 'get');
    }
  }

  /**
   * The deletionTimestamp of a custom resource whose /scale was read at `resourceVersion`
   * (undefined: not being deleted), and who last set its replicas (its /scale carries no
   * managedFields) when the object was read at that resourceVersion. Setting a deletionTimestamp changes the object's
   * resourceVersion, which its /scale shares, so an object seen alive at the resourceVersion of a
   * reading is alive at that reading: it is read (metadata only) once per resourceVersion, not at
   * every poll, and the write that follows carries that resourceVersion as its precondition (a
   * deletion in between makes it a 409). A read from the watch cache at another resourceVersion
   * proves nothing about this one (it may be older), so it is read again from etcd: a
   * deletionTimestamp is never removed, so none on the latest object means none at the reading.
   */
  private async deletionOf(
    namespace: string,
    ref: ScaleTargetRef,
    plural: string,
    objectPath: string,
    resourceVersion: string,
    fresh: boolean,
  ): Promise<{ deleting?: string; manager?: ReplicasManager; controller?: TargetController }> {
    const live = this.liveAt.get(objectPath);
    if (live?.resourceVersion === resourceVersion)
      return live.controller === undefined ? {} : { controller: live.controller };
    let meta = await this.readMetadata(namespace, ref, plural, objectPath, fresh);
    if (meta.resourceVersion !== resourceVersion && !fresh && meta.deletionTimestamp === undefined)
      meta = await this.readMetadata(namespace, ref, plural, objectPath, true);
    if (meta.deletionTimestamp !== undefined) {
      this.liveAt.delete(objectPath);
      return { deleting: meta.deletionTimestamp };
    }
    if (meta.resourceVersion === resourceVersion) {
      // One entry per target path: the oldest goes first past the bound (targets renamed or gone).
      this.liveAt.delete(objectPath);
      this.liveAt.set(objectPath, {
        resourceVersion,
        ...(meta.controller === undefined ? {} : { controller: meta.controller }),
      });
      if (this.liveAt.size > LIVE_AT_LIMIT) this.liveAt.delete(this.liveAt.keys().next().value as string);
      return {
        ...(meta.manager === undefined ? {} : { manager: meta.manager }),
        ...(meta.controller === undefined ? {} : { controller: meta.controller }),
      };
    }
    // Read at another version (the object moved on since): its controller now is the best known.
    return meta.controller === undefined ? {} : { controller: meta.controller };
  }

  private async readMetadata(
    namespace: string,
    ref: ScaleTargetRef,
    plural: string,
    objectPath: string,
    fresh: boolean,
  ): Promise<{
    resourceVersion?: string;
    deletionTimestamp?: string;
    manager?: ReplicasManager;
    controller?: TargetController;
  }> {
    let obj: ScaleObject;
    try {
      obj = await this.targetRequest<ScaleObject>(namespace, ref, plural, 'GET', objectPath, {
        accept: PARTIAL_METADATA,
        ...(fresh ? {} : { query: { resourceVersion: '0' } }),
      });
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 403 && /\bcannot \w+ resource\b/.test(err.message)) {
        const group = ref.apiVersion.includes('/') ? ref.apiVersion.split('/')[0] : '';
        throw new ScaleError(
          'Forbidden',
          `the operator may not get ${plural} in ${namespace}, so it cannot tell whether ${ref.kind} ${namespace}/${ref.name} is being deleted (its /scale does not say): grant get on ${plural} (API group "${group}") in its ClusterRole, next to ${plural}/scale (Helm: rbac.scaleTargets; see manifests/rbac)`,
        );
      }
      throw this.translate(err, namespace, ref, plural, 'get');
    }
    const deleting = obj.metadata?.deletionTimestamp;
    const manager = replicasManagerOf(obj.metadata?.managedFields, { scaleWriters: true });
    const controller = controllerOf(obj.metadata?.ownerReferences);
    return {
      ...(typeof obj.metadata?.resourceVersion === 'string'
        ? { resourceVersion: obj.metadata.resourceVersion }
        : {}),
      ...(typeof deleting === 'string' && deleting !== '' ? { deletionTimestamp: deleting } : {}),
      ...(manager === undefined ? {} : { manager }),
      ...(controller === undefined ? {} : { controller }),
    };
  }

  /**
   * Sets spec.replicas on /scale if the target still has `resourceVersion` (from the reading the
   * decision was based on); otherwise throws ScaleError 'Conflict' and changes nothing. Resolves to
   * the spec.replicas the API server stored, as its answer says (a mutating admission webhook or
   * policy may have changed the request), or undefined when the answer does not say.
   */
  async setReplicas(
    namespace: string,
    ref: ScaleTargetRef,
    replicas: number,
    resourceVersion: string,
  ): Promise<number | undefined> {
    const plural = await this.resourceFor(ref);
    const objectPath = targetPath(namespace, ref, plural);
    const path = `${objectPath}/scale`;
    try {
      pausePoints.beforeScaleWrite(); // the HA drills freeze here (kube/pause-points.ts)
      // A resourceVersion in a merge patch is a precondition: the API server answers 409 when
      // the object has moved on.
      const stored = await this.targetRequest<ScaleObject | undefined>(
        namespace,
        ref,
        plural,
        'PATCH',
        path,
        {
          query: { fieldManager: FIELD_MANAGER },
          body: { metadata: { resourceVersion }, spec: { replicas } },
        },
      );
      const value = stored?.spec?.replicas;
      return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : undefined;
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404)
        throw await this.scaleNotFound(namespace, ref, plural, objectPath, err);
      throw this.translate(err, namespace, ref, plural, 'patch');
    }
  }

  /**
   * Moves the target's resourceVersion on without changing anything a controller reads: an
   * annotation (FENCE_ANNOTATION) set to `token`, which must differ from the one it replaces. Every
   * /scale write based on a reading from before (setReplicas' precondition) then fails with 409:
   * a new leader does this to each target before it takes the Lease over, so that a write its
   * predecessor sent late (frozen between its fence check and its send, then applied before the
   * API server saw its connection close) cannot land after the takeover. Needs `patch` on the
   * target's resource itself, not only on its /scale. Resolves to the new resourceVersion, or
   * undefined when the target does not exist (nothing to fence).
   */
  async fenceTarget(namespace: string, ref: ScaleTargetRef, token: string): Promise<string | undefined> {
    const plural = await this.resourceFor(ref);
    const path = targetPath(namespace, ref, plural);
    try {
      const stored = await this.targetRequest<{ metadata?: { resourceVersion?: string } } | undefined>(
        namespace,
        ref,
        plural,
        'PATCH',
        path,
        {
          query: { fieldManager: FIELD_MANAGER },
          body: { metadata: { annotations: { [FENCE_ANNOTATION]: token } } },
        },
      );
      return stored?.metadata?.resourceVersion ?? '';
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) return undefined;
      if (err instanceof KubeApiError && err.status === 403 && /\bcannot \w+ resource\b/.test(err.message)) {
        const group = ref.apiVersion.includes('/') ? ref.apiVersion.split('/')[0] : '';
        throw new ScaleError(
          'Forbidden',
          `the operator may not patch ${plural} in ${namespace}: a new leader annotates each target (${FENCE_ANNOTATION}) before it takes over, so that a /scale write its predecessor sent late fails; grant patch on ${plural} (API group "${group}") in its ClusterRole (Helm: leaderElection.fenceTargets, which grants it on Deployments, StatefulSets and rbac.scaleTargets; see manifests/rbac/fence-targets.yaml), or turn the fence off (JETSCALE_FENCE_TARGETS=false)`,
        );
      }
      throw err;
    }
  }

  /**
   * A 404 from /scale. The object may not exist — or exist without a /scale: a CRD whose scale
   * subresource was removed after discovery was read answers `<plural> "name" not found`, the very
   * answer of a missing object. Read the object itself to tell them apart: gone is TargetNotFound;
   * there is NotScalable (and discovery is read again at the next poll). Any other answer is
   * passed on as it is (the reconcile fails and is retried): nothing is concluded from a guess.
   */
  private async scaleNotFound(
    namespace: string,
    ref: ScaleTargetRef,
    plural: string,
    objectPath: string,
    scaleErr: KubeApiError,
  ): Promise<unknown> {
    try {
      // From etcd: the watch cache's 404 may be an object it cannot convert (see get).
      await this.targetRequest(namespace, ref, plural, 'GET', objectPath);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404)
        return this.translate(scaleErr, namespace, ref, plural, 'get');
      const conversion = this.translate(err, namespace, ref, plural, 'get');
      return conversion instanceof ScaleError && conversion.kind === 'ConversionFailed' ? conversion : err;
    }
    this.discovery.delete(ref.apiVersion);
    return new ScaleError(
      'NotScalable',
      `${ref.kind} ${namespace}/${ref.name} exists, but the API server serves no /scale for it (${scaleErr.message}): its ${plural} CustomResourceDefinition has no subresources.scale (any more); add one, or point spec.scaleTargetRef at a scalable resource`,
    );
  }

  private async resourceFor(ref: ScaleTargetRef): Promise<string> {
    const gv = ref.apiVersion;
    let list: ApiResourceList;
    try {
      list = await this.discover(gv, false);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 404) {
        throw new ScaleError(
          'TargetNotFound',
          `the API server does not serve ${gv}: fix spec.scaleTargetRef.apiVersion`,
        );
      }
      throw err;
    }
    const find = (): ApiResource | undefined =>
      list.resources?.find((r) => r.kind === ref.kind && !r.name.includes('/'));
    const scalable = (plural: string): boolean =>
      list.resources?.some((r) => r.name === `${plural}/scale`) ?? false;
    let resource = find();
    if (!resource || !scalable(resource.name)) {
      // A CRD installed, or given a scale subresource, after the last discovery: look again once.
      list = await this.discover(gv, true);
      resource = find();
    }
    if (!resource)
      throw new ScaleError('TargetNotFound', unknownKindMessage(gv, ref.kind, list.resources ?? []));
    const plural = resource.name;
    if (!scalable(plural)) {
      throw new ScaleError(
        'NotScalable',
        `${ref.kind} (${gv}) has no /scale subresource, so jetscale cannot scale it: point spec.scaleTargetRef at a Deployment, StatefulSet or another scalable resource (a custom resource needs subresources.scale in its CustomResourceDefinition)`,
      );
    }
    return plural;
  }

  /**
   * The API resources of `gv`, from API discovery (cached for discoveryTtlMs). Discovery of an
   * aggregated API is served by its APIService's backend, and one that does not answer hangs it;
   * without a cap, every reconcile of an EventConsumer naming that group version waited on the one
   * discovery request in flight (30 s), and one tenant's EventConsumers on such a group took every
   * worker, stalling every other tenant. So discovery is under the cap on slow requests too
   * (kube/slow-requests.ts, keyed by group version): the reconcile that sends it may hold a slot
   * while one is free, and every other reconcile that finds it still in flight waits for it no
   * longer than a request is let wait unslotted (slowAfterMs, 2 s, from the request's send; at once
   * when that has passed): ScaleError 'Slow'.
   */
  private async discover(gv: string, refresh: boolean): Promise<ApiResourceList> {
    const cached = this.discovery.get(gv);
    const guard = this.slowRequests;
    if (cached && !refresh && monotonicNow() - cached.at < this.discoveryTtlMs) {
      if (cached.settled || guard === undefined) return cached.resources;
      // Joined for what is left of its first slowAfterMs: one already slow fails this one at once,
      // or a tenant's many EventConsumers on a hung group version would each hold a worker 2 s a poll.
      const leftMs = guard.slowAfterMs() - (monotonicNow() - cached.at);
      return this.discoveryAnswer(
        gv,
        leftMs > 0
          ? withinMs(cached.resources, leftMs, cached.at)
          : Promise.reject(new DiscoveryInFlight(cached.at)),
      );
    }
    const path = groupVersionPath(gv);
    const resources =
      guard === undefined
        ? this.api.request<ApiResourceList>('GET', path)
        : guard.run(`discovery ${gv}`, (signal) =>
            this.api.request<ApiResourceList>('GET', path, { signal }),
          );
    const entry = { at: monotonicNow(), resources, settled: false };
    this.discovery.set(gv, entry);
    resources.then(
      () => (entry.settled = true),
      () => {
        entry.settled = true;
        if (this.discovery.get(gv) === entry) this.discovery.delete(gv);
      },
    );
    return this.discoveryAnswer(gv, resources);
  }

  /** A discovery answer, or ScaleError 'Slow' for one not waited for (what is slow, what to check). */
  private async discoveryAnswer(gv: string, answer: Promise<ApiResourceList>): Promise<ApiResourceList> {
    try {
      return await answer;
    } catch (err) {
      if (!isSlowRequest(err) && !(err instanceof DiscoveryInFlight)) throw err;
      const group = gv.includes('/') ? gv.split('/')[0] : '';
      const version = gv.includes('/') ? gv.split('/')[1] : gv;
      throw new ScaleError(
        'Slow',
        `the API server does not answer API discovery of ${gv} (GET ${groupVersionPath(gv)}) in time: ${err.message}. jetscale does not wait for it, so that other EventConsumers keep their cadence, and asks again at a later poll. Check what serves ${gv}: an aggregated API (kubectl get apiservice ${version}.${group}: its Service, endpoints and Pods), or the API server itself`,
      );
    }
  }

  private translate(
    err: unknown,
    namespace: string,
    ref: ScaleTargetRef,
    plural: string,
    verb: 'get' | 'patch',
  ): unknown {
    if (!(err instanceof KubeApiError)) return err;
    if (err.status === 404) {
      return new ScaleError(
        'TargetNotFound',
        `${ref.kind} ${namespace}/${ref.name} does not exist: create it or fix spec.scaleTargetRef.name`,
      );
    }
    const unset = /the spec replicas field "([^"]{0,200})" does not exist/.exec(err.message);
    if (err.status === 500 && unset !== null) {
      return new ScaleError(
        'ReplicasUnset',
        `${ref.kind} ${namespace}/${ref.name} has no ${unset[1]}, so its /scale cannot be read and the replicas it runs are not known; jetscale leaves it alone until it has one (as the HPA does): set ${unset[1]} on it, such as 1`,
      );
    }
    // apiextensions-apiserver's webhook converter: "conversion webhook for <group/version>, Kind=<kind>
    // failed: <why>", answered as a 500 InternalError (the object exists; it cannot be converted).
    const conversion = /conversion webhook for ([^\s,]{1,300}), Kind=[^\s]{1,100} failed: (.{0,600})/s.exec(
      err.message,
    );
    if (conversion !== null) {
      const group = ref.apiVersion.includes('/') ? ref.apiVersion.split('/')[0] : '';
      const crd = `CustomResourceDefinition ${plural}.${group}`;
      const fixWebhook =
        'Fix the webhook (spec.conversion.webhook of that CRD: its Service and endpoints, its TLS certificate and caBundle, or its own error, in its logs)';
      return new ScaleError(
        'ConversionFailed',
        verb === 'get'
          ? `${ref.kind} ${namespace}/${ref.name} cannot be read as ${ref.apiVersion}: it is stored as ${conversion[1]}, and the conversion webhook of its ${crd} failed (${conversion[2]}). The target is there; jetscale leaves its replicas alone until it can be read. ${fixWebhook}, or set spec.scaleTargetRef.apiVersion to ${conversion[1]}, which needs no conversion`
          : `${ref.kind} ${namespace}/${ref.name} cannot be scaled as ${ref.apiVersion}: the conversion webhook of its ${crd} failed converting from ${conversion[1]} (${conversion[2]}). ${fixWebhook}, or set spec.scaleTargetRef.apiVersion to the version its objects are stored in, which needs no conversion`,
      );
    }
    if (err.status === 409) {
      return new ScaleError(
        'Conflict',
        `${ref.kind} ${namespace}/${ref.name} changed since it was read (${err.message}); it is read again before any change`,
      );
    }
    // RBAC's refusal says who cannot do what ("... cannot patch resource "deployments/scale" ...");
    // an admission webhook or policy denying the request is 403 too, and no role fixes that.
    if (err.status === 403 && /\bcannot \w+ resource\b/.test(err.message)) {
      const group = ref.apiVersion.includes('/') ? ref.apiVersion.split('/')[0] : '';
      return new ScaleError(
        'Forbidden',
        `the operator may not ${verb} ${plural}/scale in ${namespace}: grant get and patch on ${plural}/scale (API group "${group}") in its ClusterRole (Helm: rbac.scaleTargets; see manifests/rbac)`,
      );
    }
    if (err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429) {
      // The server's message names what refused it; the causes say more only when they are not in it.
      const extra = err.causes.filter((c) => !err.message.includes(c));
      const said = [err.message, ...extra].join('; ').slice(0, 600);
      const what =
        verb === 'patch'
          ? `the change of ${ref.kind} ${namespace}/${ref.name}'s replicas`
          : `reading ${ref.kind} ${namespace}/${ref.name}'s /scale`;
      return new ScaleError(
        'Refused',
        `the API server refused ${what} (HTTP ${err.status} ${err.reason}: ${said}): an admission webhook or policy, or the target's own validation, refuses it; change that rule, or keep spec.minReplicas..maxReplicas within what it allows`,
      );
    }
    return err;
  }
}
