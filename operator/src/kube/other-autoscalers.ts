// Finds the autoscalers other than jetscale that scale a given target: autoscaling/v2
// HorizontalPodAutoscalers and, when the CRD is installed (found through discovery, not assumed),
// KEDA ScaledObjects. Two controllers on one /scale fight — each undoes the other's change at
// every sync — so the reconciler yields a target that another autoscaler claims. Lists are cached
// per namespace for a short time and shared by every EventConsumer there, so 1,000
// EventConsumers cost a couple of list requests per namespace per period, not one per poll.
import { KubeApiError, type KubeApi } from './api-client.js';
import { monotonicNow } from '../clock.js';

/** What identifies a scale target across controllers: API group (not version), kind and name. */
export interface TargetIdentity {
  group: string;
  kind: string;
  name: string;
}

export interface OtherAutoscaler {
  kind: 'HorizontalPodAutoscaler' | 'ScaledObject';
  namespace: string;
  name: string;
}

export function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

export function sameTarget(a: TargetIdentity, b: TargetIdentity): boolean {
  return a.group === b.group && a.kind === b.kind && a.name === b.name;
}

interface Claim extends OtherAutoscaler {
  target: TargetIdentity;
}

interface RawRef {
  apiVersion?: unknown;
  kind?: unknown;
  name?: unknown;
}

interface RawList {
  items?: Array<{
    metadata?: { name?: string; deletionTimestamp?: string };
    spec?: { scaleTargetRef?: RawRef };
  }>;
}

const HPA_PATH = (ns: string): string =>
  `/apis/autoscaling/v2/namespaces/${encodeURIComponent(ns)}/horizontalpodautoscalers`;
const KEDA_GROUP_VERSION = '/apis/keda.sh/v1alpha1';
const SCALED_OBJECTS_PATH = (ns: string): string =>
  `${KEDA_GROUP_VERSION}/namespaces/${encodeURIComponent(ns)}/scaledobjects`;

export interface OtherAutoscalersOptions {
  /** How long a namespace's lists are reused: a new HPA is noticed within this plus one poll. */
  listTtlMs?: number;
  /** How long "is the KEDA CRD installed" is reused. */
  discoveryTtlMs?: number;
  /** Called once per kind when the operator may not list it (RBAC): the check is skipped. */
  onForbidden?: (what: string, message: string) => void;
  now?: () => number;
}

export class OtherAutoscalers {
  private readonly lists = new Map<string, { at: number; claims: Promise<Claim[]> }>();
  private keda: { at: number; installed: Promise<boolean> } | undefined;
  private readonly warned = new Set<string>();
  private readonly listTtlMs: number;
  private readonly discoveryTtlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly api: KubeApi,
    private readonly options: OtherAutoscalersOptions = {},
  ) {
    this.listTtlMs = options.listTtlMs ?? 10_000;
    this.discoveryTtlMs = options.discoveryTtlMs ?? 60_000;
    this.now = options.now ?? monotonicNow;
  }

  /** The HPAs and ScaledObjects in `namespace` that scale `target` (ScaledObjects first). */
  async on(namespace: string, target: TargetIdentity): Promise<OtherAutoscaler[]> {
    const claims = await this.claimsIn(namespace);
    return claims
      .filter((c) => sameTarget(c.target, target))
      .map(({ kind, namespace: ns, name }) => ({ kind, namespace: ns, name }));
  }

  private claimsIn(namespace: string): Promise<Claim[]> {
    const cached = this.lists.get(namespace);
    if (cached && this.now() - cached.at < this.listTtlMs) return cached.claims;
    const claims = (async () => {
      const [scaledObjects, hpas] = await Promise.all([
        (await this.kedaInstalled())
          ? this.list(SCALED_OBJECTS_PATH(namespace), 'ScaledObject', namespace)
          : Promise.resolve([]),
        this.list(HPA_PATH(namespace), 'HorizontalPodAutoscaler', namespace),
      ]);
      return [...scaledObjects, ...hpas];
    })();
    this.lists.set(namespace, { at: this.now(), claims });
    claims.catch(() => this.lists.delete(namespace));
    return claims;
  }

  private async list(path: string, kind: Claim['kind'], namespace: string): Promise<Claim[]> {
    let list: RawList;
    try {
      list = await this.api.request<RawList>('GET', path);
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 403) {
        if (!this.warned.has(kind)) {
          this.warned.add(kind);
          this.options.onForbidden?.(
            kind,
            `the operator may not list ${kind}s (${err.message}), so it cannot tell whether one also scales a target: grant list on them (see manifests/rbac)`,
          );
        }
        return [];
      }
      // The CRD was removed since discovery said it was there.
      if (err instanceof KubeApiError && err.status === 404 && kind === 'ScaledObject') return [];
      throw err;
    }
    const claims: Claim[] = [];
    for (const item of list.items ?? []) {
      const name = item.metadata?.name;
      const ref = item.spec?.scaleTargetRef;
      if (
        name === undefined ||
        item.metadata?.deletionTimestamp !== undefined ||
        typeof ref?.name !== 'string'
      )
        continue;
      // A ScaledObject may omit apiVersion and kind, or leave them empty: KEDA then means apps/v1
      // Deployment (its ParseGVKR tests for ""). An HPA's empty apiVersion is the core group.
      const unset = (v: unknown): boolean => v === undefined || (kind === 'ScaledObject' && v === '');
      const apiVersion =
        typeof ref.apiVersion === 'string' && !unset(ref.apiVersion) ? ref.apiVersion : 'apps/v1';
      const refKind = typeof ref.kind === 'string' && !unset(ref.kind) ? ref.kind : 'Deployment';
      claims.push({
        kind,
        namespace,
        name,
        target: { group: groupOf(apiVersion), kind: refKind, name: ref.name },
      });
    }
    return claims;
  }

  /** Whether the API server serves keda.sh/v1alpha1 scaledobjects (asked through discovery). */
  private kedaInstalled(): Promise<boolean> {
    if (this.keda && this.now() - this.keda.at < this.discoveryTtlMs) return this.keda.installed;
    const installed = this.api
      .request<{ resources?: Array<{ name?: string }> }>('GET', KEDA_GROUP_VERSION)
      .then(
        (list) => (list.resources ?? []).some((r) => r.name === 'scaledobjects'),
        (err: unknown) => {
          if (err instanceof KubeApiError && err.status === 404) return false;
          throw err;
        },
      );
    this.keda = { at: this.now(), installed };
    installed.catch(() => (this.keda = undefined));
    return installed;
  }
}
