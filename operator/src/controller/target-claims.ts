// Who else scales an EventConsumer's target. Two controllers on one /scale fight (each undoes the
// other's change at every poll), so exactly one may write: among EventConsumers the oldest
// (creationTimestamp, then uid) keeps the target, and any HorizontalPodAutoscaler or KEDA
// ScaledObject on it wins over every EventConsumer — jetscale yields rather than fight a
// controller it cannot coordinate with. Targets are compared by API group, kind and name (the
// version does not make it another object).
//
// An EventConsumer whose spec is invalid keeps its claim as long as its scaleTargetRef can be read:
// it does not scale the target until fixed, and it does not hand it over either. Otherwise a typo
// on the owner (or an operator upgrade whose stricter rules an older, unupgraded CRD let through:
// Helm never upgrades CRDs) would give the target to a younger EventConsumer with another policy,
// which would rescale it at once, and fixing the typo would take it back: two rescales by two
// policies for one mistake. The younger one says whose spec to fix.
import {
  parseEventConsumerSpec,
  ScaleTargetRefSchema,
  type EventConsumerObject,
  type EventConsumerSpec,
  type SpecParseResult,
} from '../api/v1alpha1/event-consumer.js';
import { groupOf, type OtherAutoscaler, type TargetIdentity } from '../kube/other-autoscalers.js';
import type { TargetController } from '../kube/scale-client.js';

export interface Rival {
  kind: 'EventConsumer' | OtherAutoscaler['kind'];
  namespace: string;
  name: string;
  /** An older EventConsumer whose spec is invalid: it keeps the target but scales nothing until fixed. */
  specInvalid?: boolean;
  /** An EventConsumer rival's creationTimestamp and the yielding one's: why it is the older. */
  created?: { rival: string; self: string };
}

/** The target an EventConsumer claims: its spec's, or (spec invalid) its scaleTargetRef's if that reads. */
type Claim = { obj: EventConsumerObject; target: TargetIdentity; specInvalid: boolean };

export interface TargetClaimsDeps {
  /** Every EventConsumer in a namespace, as cached (without it only other autoscalers are checked). */
  list?(namespace: string): EventConsumerObject[];
  /** Other autoscalers on a target (without it only EventConsumers are checked). */
  autoscalers?: { on(namespace: string, target: TargetIdentity): Promise<OtherAutoscaler[]> };
  now: () => number;
}

export function targetIdentity(ref: EventConsumerSpec['scaleTargetRef']): TargetIdentity {
  return { group: groupOf(ref.apiVersion), kind: ref.kind, name: ref.name };
}

/** An object's creationTimestamp as the API server writes it (RFC 3339, whole seconds); '' if none. */
function createdAt(obj: EventConsumerObject): string {
  const t: unknown = obj.metadata?.creationTimestamp;
  if (t instanceof Date) return Number.isFinite(t.getTime()) ? t.toISOString().replace('.000Z', 'Z') : '';
  return typeof t === 'string' ? t : '';
}

/**
 * True when `a` was created before `b` (creationTimestamp, then uid as the tiebreak). One total
 * order, so the oldest of several claimants does not depend on the order they are compared in: an
 * object without a readable creationTimestamp counts as younger than every one with it (before, a
 * pair with one missing fell back to uids alone, and a third claimant could then carry the target
 * from the oldest to a younger one).
 */
export function isOlder(a: EventConsumerObject, b: EventConsumerObject): boolean {
  const age = (o: EventConsumerObject): number => {
    const ms = Date.parse(createdAt(o));
    return Number.isFinite(ms) ? ms : Infinity;
  };
  const ams = age(a);
  const bms = age(b);
  if (ams !== bms) return ams < bms;
  return (a.metadata?.uid ?? '') < (b.metadata?.uid ?? '');
}

/** The EventConsumer among `claimants` that keeps the target: the oldest. */
export function targetOwner(claimants: EventConsumerObject[]): EventConsumerObject | undefined {
  let owner: EventConsumerObject | undefined;
  for (const c of claimants) if (owner === undefined || isOlder(c, owner)) owner = c;
  return owner;
}

/** How long the per-namespace index of EventConsumer targets is reused. */
const INDEX_TTL_MS = 1000;

export class TargetClaims {
  private readonly specs = new WeakMap<EventConsumerObject, SpecParseResult>();
  private readonly indexes = new Map<string, { at: number; byTarget: Map<string, Claim[]> }>();

  constructor(private readonly deps: TargetClaimsDeps) {}

  /** Who, other than `self`, has the better claim on its target; undefined when `self` may write. */
  async rivalOf(self: EventConsumerObject, spec: EventConsumerSpec): Promise<Rival | undefined> {
    const namespace = self.metadata?.namespace ?? '';
    const target = targetIdentity(spec.scaleTargetRef);
    const others = (await this.deps.autoscalers?.on(namespace, target)) ?? [];
    const other = others[0];
    if (other) return other;
    const claims = this.claimsOn(namespace, target).filter((c) => c.obj.metadata?.uid !== self.metadata?.uid);
    const owner = targetOwner([self, ...claims.map((c) => c.obj)]);
    if (owner === undefined || owner.metadata?.uid === self.metadata?.uid) return undefined;
    const specInvalid = claims.some((c) => c.obj === owner && c.specInvalid);
    return {
      kind: 'EventConsumer',
      namespace,
      name: owner.metadata?.name ?? '',
      ...(specInvalid ? { specInvalid } : {}),
      created: { rival: createdAt(owner), self: createdAt(self) },
    };
  }

  private claimsOn(namespace: string, target: TargetIdentity): Claim[] {
    if (!this.deps.list) return [];
    const now = this.deps.now();
    let index = this.indexes.get(namespace);
    if (!index || now - index.at >= INDEX_TTL_MS) {
      const byTarget = new Map<string, Claim[]>();
      for (const obj of this.deps.list(namespace)) {
        if (obj.metadata?.deletionTimestamp) continue;
        const claim = this.claimOf(obj);
        // Not even its scaleTargetRef reads: what it would scale is not known, so it claims nothing.
        if (claim === undefined) continue;
        const key = keyOf(claim.target);
        const list = byTarget.get(key);
        if (list) list.push(claim);
        else byTarget.set(key, [claim]);
      }
      index = { at: now, byTarget };
      this.indexes.set(namespace, index);
    }
    return index.byTarget.get(keyOf(target)) ?? [];
  }

  private claimOf(obj: EventConsumerObject): Claim | undefined {
    let parsed = this.specs.get(obj);
    if (!parsed) {
      parsed = parseEventConsumerSpec(obj.spec);
      this.specs.set(obj, parsed);
    }
    if (parsed.ok) return { obj, target: targetIdentity(parsed.spec.scaleTargetRef), specInvalid: false };
    const raw: unknown = obj.spec;
    const ref = ScaleTargetRefSchema.safeParse(
      raw !== null && typeof raw === 'object'
        ? (raw as { scaleTargetRef?: unknown }).scaleTargetRef
        : undefined,
    );
    return ref.success ? { obj, target: targetIdentity(ref.data), specInvalid: true } : undefined;
  }
}

function keyOf(t: TargetIdentity): string {
  return `${t.group}/${t.kind}/${t.name}`;
}

/** The condition message for an EventConsumer that yields its target. */
export function conflictMessage(spec: EventConsumerSpec, rival: Rival): string {
  const ref = spec.scaleTargetRef;
  const what = `${ref.kind} ${ref.name}`;
  if (rival.kind === 'EventConsumer' && rival.specInvalid === true)
    return `${what} is also the target of EventConsumer ${rival.namespace}/${rival.name}, which is older${age(rival)} and keeps it, but its spec is invalid (Ready=False InvalidSpec), so nothing scales ${what} until it is fixed: an invalid spec does not hand the target over. Fix ${rival.namespace}/${rival.name}'s spec, or delete one of the two, or point spec.scaleTargetRef elsewhere`;
  if (rival.kind === 'EventConsumer')
    return `${what} is also the target of EventConsumer ${rival.namespace}/${rival.name}, which is older${age(rival)} and keeps it; this EventConsumer does not change its replicas. Delete one of the two or point spec.scaleTargetRef elsewhere`;
  return `${what} is scaled by ${rival.kind} ${rival.namespace}/${rival.name}; jetscale does not fight another autoscaler and leaves its replicas alone. Delete the ${rival.kind} or this EventConsumer`;
}

/** ' (created …, this one …)': the evidence for "older", or '' when a timestamp is missing. */
function age(rival: Rival): string {
  const c = rival.created;
  if (c === undefined || c.rival === '' || c.self === '') return '';
  return c.rival === c.self
    ? ` (created in the same second as this one, ${c.self}: the lower uid counts as older)`
    : ` (created ${c.rival}, this one ${c.self})`;
}

/**
 * Why the target's replicas are its controller's, or undefined when they may be jetscale's: a
 * ReplicaSet managed by a controller (its ownerReference with controller: true — a Deployment, an
 * Argo Rollout) has its replicas set by that controller from its own spec at every change, so a
 * /scale write is undone within milliseconds, and the two would start and stop pods at every poll
 * (scaleTargetRef naming `web-7d4b9c8f5` from `kubectl get rs` instead of Deployment `web`). Other
 * kinds with a controller (a Deployment an operator created) are scaled: whether that operator sets
 * replicas is its own business, and ReplicasChangedOutside names it if it does.
 */
export function ownerScalesTarget(
  ref: EventConsumerSpec['scaleTargetRef'],
  controller: TargetController | undefined,
): string | undefined {
  if (controller === undefined || ref.kind !== 'ReplicaSet' || groupOf(ref.apiVersion) !== 'apps')
    return undefined;
  const owner = `${controller.kind} ${controller.name}`;
  return `ReplicaSet ${ref.name} is managed by ${owner}${controller.apiVersion === '' ? '' : ` (${controller.apiVersion})`}, which sets its replicas from its own spec: a change made here would be undone at once and pods started and stopped at every poll, so jetscale leaves its replicas alone. Scale ${owner} instead: set spec.scaleTargetRef to${controller.apiVersion === '' ? '' : ` apiVersion ${controller.apiVersion},`} kind ${controller.kind}, name ${controller.name}`;
}
