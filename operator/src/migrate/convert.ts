// Converts one KEDA ScaledObject whose trigger is `nats-jetstream` into an EventConsumer: a pure
// function from the parsed object (and the user's overrides) to the EventConsumer plus one note per
// field that was changed, defaulted differently or not carried, each saying why.
//
// Rules of thumb (docs/migrating-from-keda.md explains them to users):
// - Where KEDA and jetscale mean the same thing, KEDA's *effective* value is written explicitly, even
//   when the ScaledObject relied on KEDA's default (min 0, max 100, lagThreshold 10, cooldown 300 s),
//   because the two projects' defaults differ and the workload was tuned against KEDA's.
// - Where the meaning differs (pollingInterval: KEDA polls only for 0↔1, the HPA syncs every 15 s),
//   an explicit value is carried and an absent one leaves jetscale's default, with a note.
// - Nothing is guessed silently, and an object that cannot be carried faithfully enough to scale
//   safely is refused as a whole (never half an object).
import { API_VERSION, KIND } from '../api/v1alpha1/group-version.js';
import {
  CONSUMER_ENTRY_NAME_PATTERN,
  MAX_CONSUMERS,
  parseEventConsumerSpec,
} from '../api/v1alpha1/event-consumer.js';
import {
  ScaledObjectSchema,
  unknownKeys,
  type HpaRules,
  type ScaledObject,
  type Trigger,
} from './scaled-object.js';
import { kedaParameter, type AuthRef, type AuthResolution } from './trigger-auth.js';

export interface ConvertOptions {
  /** NATS client URLs for spec.nats.servers (`--nats-url`); otherwise derived from the monitoring endpoint. */
  natsServers?: string[];
  /**
   * What a trigger's authenticationRef gave KEDA (trigger-auth.ts resolveAuthRef over the objects
   * migrate was given or read); without it, a TriggerAuthentication is never looked into.
   */
  auth?: (ref: AuthRef, namespace: string | undefined) => AuthResolution;
}

export interface Note {
  /** The ScaledObject field the note is about, e.g. `spec.initialCooldownPeriod`. */
  field: string;
  /** `changed`: carried, but not as-is; `dropped`: not carried. */
  kind: 'changed' | 'dropped';
  message: string;
}

export type Conversion =
  | { outcome: 'converted'; source: string; eventConsumer: EventConsumerManifest; notes: Note[] }
  | { outcome: 'skipped'; source: string; reason: string }
  | { outcome: 'refused'; source: string; reasons: string[]; notes: Note[] };

export interface EventConsumerManifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations: Record<string, string>;
  };
  spec: Record<string, unknown>;
}

export const NATS_JETSTREAM = 'nats-jetstream';
/** KEDA's nats-jetstream defaults (pkg/scalers/nats_jetstream_scaler.go) and ScaledObject defaults. */
export const KEDA_DEFAULTS = {
  lagThreshold: 10,
  activationLagThreshold: 0,
  minReplicaCount: 0,
  maxReplicaCount: 100,
  cooldownPeriod: 300,
  pollingInterval: 30,
} as const;
/** kube-controller-manager's --horizontal-pod-autoscaler-sync-period default: how often KEDA's HPA read the metric. */
const HPA_SYNC_SECONDS = 15;
/** The client port nats-server listens on by default (the monitoring port is 8222). */
const NATS_CLIENT_PORT = 4222;
/**
 * The rules the API server gives an HPA direction a behavior block leaves out (kubernetes
 * pkg/apis/autoscaling/v2/defaults.go). The scale-down window is nil there and the controller then
 * uses its --horizontal-pod-autoscaler-downscale-stabilization, 5 m by default.
 */
export const HPA_DEFAULT_RULES = {
  scaleUp: {
    stabilizationWindowSeconds: 0,
    selectPolicy: 'Max',
    policies: [
      { type: 'Pods', value: 4, periodSeconds: 15 },
      { type: 'Percent', value: 100, periodSeconds: 15 },
    ],
  },
  scaleDown: {
    stabilizationWindowSeconds: 300,
    selectPolicy: 'Max',
    policies: [{ type: 'Percent', value: 100, periodSeconds: 15 }],
  },
} as const satisfies Record<'scaleUp' | 'scaleDown', HpaRules>;
const PAUSED = 'autoscaling.keda.sh/paused';
const PAUSED_REPLICAS = 'autoscaling.keda.sh/paused-replicas';
const PAUSED_SCALE_IN = 'autoscaling.keda.sh/paused-scale-in';
const PAUSED_SCALE_OUT = 'autoscaling.keda.sh/paused-scale-out';
export const MIGRATED_FROM = 'jetscale.io/migrated-from';

const KNOWN_SPEC_FIELDS = [
  'scaleTargetRef',
  'pollingInterval',
  'cooldownPeriod',
  'initialCooldownPeriod',
  'idleReplicaCount',
  'minReplicaCount',
  'maxReplicaCount',
  'fallback',
  'advanced',
  'triggers',
] as const;
const KNOWN_METADATA_KEYS = [
  'natsServerMonitoringEndpoint',
  'account',
  'accountID',
  'stream',
  'consumer',
  'lagThreshold',
  'activationLagThreshold',
  'useHttps',
] as const;

/** `namespace/name` (or `name`) of a raw object, for messages; never throws. */
export function describeSource(raw: unknown, fallback: string): string {
  if (raw === null || typeof raw !== 'object') return fallback;
  const meta = (raw as { metadata?: { name?: unknown; namespace?: unknown } }).metadata;
  const name = typeof meta?.name === 'string' ? meta.name : undefined;
  if (name === undefined) return fallback;
  return typeof meta?.namespace === 'string' ? `${meta.namespace}/${name}` : name;
}

/** Converts one object read from a file or the cluster; anything that is not a ScaledObject is skipped. */
export function convertObject(raw: unknown, where: string, options: ConvertOptions = {}): Conversion {
  const named = describeSource(raw, where);
  const source = named === where ? where : `${named} (${where})`;
  const kind = raw !== null && typeof raw === 'object' ? (raw as { kind?: unknown }).kind : undefined;
  if (kind === 'ScaledJob')
    return {
      outcome: 'skipped',
      source,
      reason:
        'a KEDA ScaledJob (KEDA starts a Job per batch of messages) has no jetscale equivalent: jetscale scales a long-running Deployment or StatefulSet; leave it on KEDA',
    };
  if (kind !== 'ScaledObject') {
    return {
      outcome: 'skipped',
      source,
      reason: `not a ScaledObject (kind ${JSON.stringify(kind ?? null)})`,
    };
  }
  const parsed = ScaledObjectSchema.safeParse(raw);
  if (!parsed.success) {
    const reasons = parsed.error.issues.map(
      (i) => `${i.path.map(String).join('.') || '(object)'}: ${i.message}`,
    );
    return {
      outcome: 'refused',
      source,
      reasons: reasons.map((r) => `not a valid ScaledObject: ${r}`),
      notes: [],
    };
  }
  const result = convertScaledObject(parsed.data, options);
  return { ...result, source };
}

export function convertScaledObject(so: ScaledObject, options: ConvertOptions = {}): Conversion {
  const source = so.metadata.namespace ? `${so.metadata.namespace}/${so.metadata.name}` : so.metadata.name;
  const notes: Note[] = [];
  const reasons: string[] = [];
  const changed = (field: string, message: string): void =>
    void notes.push({ field, kind: 'changed', message });
  const dropped = (field: string, message: string): void =>
    void notes.push({ field, kind: 'dropped', message });

  const jetstream = so.spec.triggers.filter((t) => t.type === NATS_JETSTREAM);
  if (jetstream.length === 0) {
    return {
      outcome: 'skipped',
      source,
      reason: `no ${NATS_JETSTREAM} trigger (triggers: ${so.spec.triggers.map((t) => t.type).join(', ')})`,
    };
  }
  if (jetstream.length > MAX_CONSUMERS)
    reasons.push(
      `${jetstream.length} ${NATS_JETSTREAM} triggers: an EventConsumer reads at most ${MAX_CONSUMERS} consumers; split the ScaledObject`,
    );
  const others = so.spec.triggers.filter((t) => t.type !== NATS_JETSTREAM).map((t) => t.type);
  if (others.length > 0)
    reasons.push(
      `other triggers (${others.join(', ')}) scale the same target: jetscale scales on the JetStream backlog alone, so KEDA's max over all triggers cannot be carried: keep this workload on KEDA, or remove the other triggers from a copy of the ScaledObject and convert that if the backlog alone should size it`,
    );
  if (so.spec.advanced?.scalingModifiers !== undefined)
    reasons.push('spec.advanced.scalingModifiers (a formula over metrics) has no jetscale equivalent');

  const spec: Record<string, unknown> = {};
  // --- scaleTargetRef
  const ref = so.spec.scaleTargetRef;
  spec.scaleTargetRef = {
    apiVersion: ref.apiVersion || 'apps/v1', // "" is not set for KEDA too (ParseGVKR)
    kind: ref.kind || 'Deployment',
    name: ref.name,
  };
  if (ref.envSourceContainerName !== undefined)
    dropped(
      'spec.scaleTargetRef.envSourceContainerName',
      'jetscale never reads settings from the target’s environment; NATS credentials come from a Secret (spec.nats.auth.secretRef)',
    );
  for (const k of unknownKeys(ref, ['name', 'apiVersion', 'kind', 'envSourceContainerName']))
    dropped(`spec.scaleTargetRef.${k}`, 'unknown field');

  // --- nats and sizing, per trigger: one trigger becomes spec.nats, several become spec.consumers
  // (KEDA's HPA takes the largest replica count over its metrics; so does jetscale over consumers).
  const several = jetstream.length > 1;
  const names = consumerNames(jetstream);
  const converted = jetstream.map((trigger) =>
    convertTrigger(trigger, several ? `triggers[${so.spec.triggers.indexOf(trigger)}]` : 'triggers[]', {
      options,
      changed,
      dropped,
      reasons,
      several,
      namespace: so.metadata.namespace,
    }),
  );
  const first = converted[0] as ConvertedTrigger;
  if (first.lag !== undefined) spec.backlogPerReplica = first.lag;
  if (first.activation !== undefined) spec.activationBacklog = first.activation;
  if (!several) spec.nats = first.nats;
  else {
    spec.consumers = converted.map((c, i) => {
      const entry: Record<string, unknown> = { name: names[i], ...c.nats };
      if (c.lag !== undefined && c.lag !== first.lag) entry.backlogPerReplica = c.lag;
      if (c.activation !== undefined && c.activation !== first.activation)
        entry.activationBacklog = c.activation;
      return entry;
    });
    changed(
      'spec.triggers',
      `${jetstream.length} ${NATS_JETSTREAM} triggers became spec.consumers (${names.join(', ')}): each consumer is sized on its own and the target runs the largest need, as KEDA's HPA takes the largest over its metrics`,
    );
  }

  // --- replicas
  const min = so.spec.minReplicaCount ?? KEDA_DEFAULTS.minReplicaCount;
  const max = so.spec.maxReplicaCount ?? KEDA_DEFAULTS.maxReplicaCount;
  if (so.spec.minReplicaCount === undefined)
    changed('spec.minReplicaCount', `not set: KEDA's default ${min} written (jetscale's own default is 1)`);
  if (so.spec.maxReplicaCount === undefined)
    changed('spec.maxReplicaCount', `not set: KEDA's default ${max} written (jetscale's own default is 10)`);
  let minReplicas = min;
  const idle = so.spec.idleReplicaCount;
  if (idle !== undefined) {
    minReplicas = Math.min(idle, min);
    changed(
      'spec.idleReplicaCount',
      `idle ${idle} with minReplicaCount ${min}: jetscale has one floor, so minReplicas is ${minReplicas}; while messages flow jetscale sizes from the backlog and may run fewer than ${min} replicas`,
    );
  }
  if (max < 1) reasons.push('spec.maxReplicaCount must be at least 1');
  if (minReplicas > max)
    reasons.push(`spec.minReplicaCount ${minReplicas} is above spec.maxReplicaCount ${max}`);
  spec.minReplicas = minReplicas;
  spec.maxReplicas = max;

  // --- timing
  if (so.spec.pollingInterval !== undefined) {
    const poll = clamp(so.spec.pollingInterval, 1, 600);
    spec.pollInterval = `${poll}s`;
    if (poll !== so.spec.pollingInterval)
      changed(
        'spec.pollingInterval',
        `${so.spec.pollingInterval} s is outside jetscale's 1 s–10 m; ${poll} s written`,
      );
    else if (poll > HPA_SYNC_SECONDS)
      changed(
        'spec.pollingInterval',
        `${poll}s written as pollInterval, but KEDA used it only for 0↔1: while replicas ran, its HPA read the backlog every ${HPA_SYNC_SECONDS} s (the controller's default sync). jetscale makes every decision at pollInterval, so it reacts up to ${poll} s after a change; write ${HPA_SYNC_SECONDS}s or less (or remove it for jetscale's 5s) to react as fast as KEDA did`,
      );
  } else {
    changed(
      'spec.pollingInterval',
      `not set: jetscale's default 5s applies (KEDA polls every ${KEDA_DEFAULTS.pollingInterval} s only for 0↔1; its HPA syncs every 15 s)`,
    );
  }
  const cooldown = clamp(so.spec.cooldownPeriod ?? KEDA_DEFAULTS.cooldownPeriod, 0, 86_400);
  const behavior: Record<string, unknown> = { cooldownPeriod: `${cooldown}s` };
  if (so.spec.cooldownPeriod !== undefined && cooldown !== so.spec.cooldownPeriod)
    changed(
      'spec.cooldownPeriod',
      `${so.spec.cooldownPeriod} s is above jetscale's 24 h; ${cooldown}s written`,
    );
  if (so.spec.cooldownPeriod === undefined)
    changed(
      'spec.cooldownPeriod',
      `not set: KEDA's default ${cooldown}s written as behavior.cooldownPeriod (jetscale's own default is 120s)`,
    );
  if (so.spec.initialCooldownPeriod !== undefined && so.spec.initialCooldownPeriod > 0)
    dropped(
      'spec.initialCooldownPeriod',
      'jetscale has no start-up grace before scaling to zero; it never scales to zero while anything is pending or awaiting ack, and waits behavior.cooldownPeriod with nothing arriving',
    );

  // --- HPA behavior → behavior
  const hpa = so.spec.advanced?.horizontalPodAutoscalerConfig;
  const hpaBehavior = hpa?.behavior;
  // A behavior block makes the API server fill every field and direction left out with the HPA's
  // defaults (GenerateHPAScaleUpRules / GenerateHPAScaleDownRules); those are KEDA's effective
  // values, written explicitly because jetscale's own defaults differ.
  if (hpaBehavior !== undefined)
    for (const direction of ['scaleUp', 'scaleDown'] as const) {
      const field = `spec.advanced.horizontalPodAutoscalerConfig.behavior.${direction}`;
      const rules = hpaBehavior[direction];
      const hpaDefault = HPA_DEFAULT_RULES[direction];
      if (rules === undefined) {
        changed(
          field,
          `not set: the HPA's default (${describeHpaRules(hpaDefault)}) written, as KEDA's HPA got it (jetscale's own default differs)`,
        );
        behavior[direction] = convertRules(hpaDefault, field, dropped, reasons);
        continue;
      }
      if (rules.stabilizationWindowSeconds === undefined)
        changed(
          `${field}.stabilizationWindowSeconds`,
          `not set: the HPA's default ${hpaDefault.stabilizationWindowSeconds}s written${direction === 'scaleDown' ? " (kube-controller-manager's --horizontal-pod-autoscaler-downscale-stabilization, 5m unless your cluster changed it)" : ''}`,
        );
      if (rules.selectPolicy === undefined)
        changed(`${field}.selectPolicy`, `not set: the HPA's default ${hpaDefault.selectPolicy} written`);
      if (rules.policies === undefined || rules.policies.length === 0)
        changed(
          `${field}.policies`,
          `not set: the HPA's default policies written (${describeHpaRules({ policies: hpaDefault.policies })})`,
        );
      behavior[direction] = convertRules(
        {
          ...rules,
          stabilizationWindowSeconds:
            rules.stabilizationWindowSeconds ?? hpaDefault.stabilizationWindowSeconds,
          selectPolicy: rules.selectPolicy ?? hpaDefault.selectPolicy,
          policies:
            rules.policies === undefined || rules.policies.length === 0
              ? hpaDefault.policies
              : rules.policies,
        },
        field,
        dropped,
        reasons,
      );
    }
  if (hpaBehavior === undefined)
    changed(
      'spec.advanced.horizontalPodAutoscalerConfig.behavior',
      "not set (KEDA's HPA used its legacy path: scale-up at most max(2x, +4) per 15 s sync, 300 s down window): jetscale's default behavior applies (see kubectl explain eventconsumer.spec.behavior)",
    );
  if (hpa?.name !== undefined)
    dropped('spec.advanced.horizontalPodAutoscalerConfig.name', 'jetscale creates no HPA');
  if (so.spec.advanced?.restoreToOriginalReplicaCount === true)
    dropped(
      'spec.advanced.restoreToOriginalReplicaCount',
      "deleting the ScaledObject makes KEDA's finalizer scale the target back to its original replica count (paused or not), which lands on a target jetscale is already scaling: set it to false on the ScaledObject before deleting it (docs/migrating-from-keda.md, step 3). jetscale leaves the replicas as they are when the EventConsumer is deleted",
    );

  // --- pause annotations
  const annotations = so.metadata.annotations ?? {};
  const pausedReplicas = annotations[PAUSED_REPLICAS];
  if (pausedReplicas !== undefined) {
    if (/^\s*\d+\s*$/.test(pausedReplicas) && Number(pausedReplicas) <= 10_000)
      spec.pausedReplicas = Number(pausedReplicas);
    else
      reasons.push(
        `metadata.annotations["${PAUSED_REPLICAS}"] "${pausedReplicas}" is not a replica count (0-10000)`,
      );
  } else if (annotations[PAUSED] !== undefined) {
    const paused = kedaBoolAnnotation(annotations[PAUSED]);
    if (paused) spec.paused = true;
    if (!['true', 'false'].includes(annotations[PAUSED]))
      changed(
        `metadata.annotations["${PAUSED}"]`,
        `"${annotations[PAUSED]}" ${paused ? 'pauses' : 'does not pause'} KEDA (${KEDA_READS_BOOL}), so spec.paused is ${paused}`,
      );
  }
  // KEDA disables the HPA's scale-down (or scale-up) select policy and skips its own step to
  // (from) zero: behavior's selectPolicy Disabled does both in jetscale.
  for (const [annotation, direction, what] of [
    [PAUSED_SCALE_IN, 'scaleDown', 'never remove replicas'],
    [PAUSED_SCALE_OUT, 'scaleUp', 'never add replicas'],
  ] as const) {
    const value = annotations[annotation];
    if (value === undefined) continue;
    const paused = kedaBoolAnnotation(value);
    if (paused)
      behavior[direction] = { ...(behavior[direction] as object | undefined), selectPolicy: 'Disabled' };
    if (paused || !['true', 'false'].includes(value))
      changed(
        `metadata.annotations["${annotation}"]`,
        value === 'true'
          ? `carried as behavior.${direction}.selectPolicy: Disabled (${what})`
          : `"${value}" ${paused ? 'pauses' : 'does not pause'} that direction in KEDA (${KEDA_READS_BOOL}), so ${paused ? `behavior.${direction}.selectPolicy is Disabled (${what})` : `behavior.${direction} is left as converted`}`,
      );
  }
  for (const k of Object.keys(annotations).filter(
    (k) =>
      k.startsWith('autoscaling.keda.sh/') ||
      k.endsWith('.keda.sh/hpa-ownership') ||
      k.startsWith('scaledobject.keda.sh/'),
  ))
    if (![PAUSED, PAUSED_REPLICAS, PAUSED_SCALE_IN, PAUSED_SCALE_OUT].includes(k))
      dropped(`metadata.annotations["${k}"]`, 'a KEDA setting with no jetscale equivalent');
  spec.behavior = behavior;

  // --- fallback
  const fallback = so.spec.fallback;
  const valueTriggers = jetstream.filter((t) => t.metricType === 'Value').length;
  if (fallback !== undefined && valueTriggers > 0)
    changed(
      'spec.fallback',
      `with metricType Value on ${valueTriggers === jetstream.length ? 'the trigger' : `${valueTriggers} of the ${jetstream.length} triggers`}, KEDA's fallback depends on its version: from 2.18 it holds fallback.replicas (its fallback metric is divided by the ready replicas), except while no replica is ready, when it holds the current replicas; before 2.18 it falls back for AverageValue triggers only (its admission webhook refuses the object when none is; without the webhook a Value trigger's replicas are held). jetscale holds fallback.replicas whatever the ready replicas: written as KEDA 2.18+ does it. On an older KEDA, remove spec.fallback.replicas to keep holding the replicas`,
    );
  if (fallback !== undefined) {
    const threshold = Math.max(1, fallback.failureThreshold);
    if (threshold !== fallback.failureThreshold)
      changed(
        'spec.fallback.failureThreshold',
        `${fallback.failureThreshold} is below jetscale's minimum; 1 written`,
      );
    if (fallback.replicas > max)
      reasons.push(
        `spec.fallback.replicas ${fallback.replicas} is above maxReplicaCount ${max} (jetscale refuses that)`,
      );
    switch (fallback.behavior ?? 'static') {
      case 'static':
        spec.fallback = { failureThreshold: threshold, replicas: fallback.replicas };
        break;
      case 'currentReplicas':
        spec.fallback = { failureThreshold: threshold };
        changed(
          'spec.fallback.behavior',
          'currentReplicas is what jetscale does without fallback.replicas: the replicas are held while the backlog cannot be read',
        );
        break;
      case 'currentReplicasIfHigher':
        spec.fallback = {
          failureThreshold: threshold,
          replicas: fallback.replicas,
          behavior: 'CurrentReplicasIfHigher',
        };
        break;
      case 'currentReplicasIfLower':
        spec.fallback = {
          failureThreshold: threshold,
          replicas: fallback.replicas,
          behavior: 'CurrentReplicasIfLower',
        };
        break;
    }
  }
  for (const k of unknownKeys(so.spec, KNOWN_SPEC_FIELDS)) dropped(`spec.${k}`, 'unknown field');

  const metadata: EventConsumerManifest['metadata'] = {
    name: so.metadata.name,
    annotations: { [MIGRATED_FROM]: `${so.apiVersion}/ScaledObject/${source}` },
  };
  if (so.metadata.namespace !== undefined) metadata.namespace = so.metadata.namespace;
  if (so.metadata.labels !== undefined && Object.keys(so.metadata.labels).length > 0)
    metadata.labels = { ...so.metadata.labels };
  const eventConsumer: EventConsumerManifest = { apiVersion: API_VERSION, kind: KIND, metadata, spec };

  if (reasons.length === 0) {
    // The operator's own validation is the last word: never emit what it would refuse.
    const check = parseEventConsumerSpec(spec);
    if (!check.ok) reasons.push(...check.problems.map((p) => `the converted spec would be invalid: ${p}`));
  }
  if (reasons.length > 0) return { outcome: 'refused', source, reasons, notes };
  return { outcome: 'converted', source, eventConsumer, notes };
}

interface ConvertedTrigger {
  nats: Record<string, unknown>;
  lag?: number;
  activation?: number;
}

interface TriggerContext {
  options: ConvertOptions;
  changed: (field: string, message: string) => void;
  dropped: (field: string, message: string) => void;
  reasons: string[];
  several: boolean;
  /** The ScaledObject's namespace: where KEDA looks up a TriggerAuthentication. */
  namespace: string | undefined;
}

/** One nats-jetstream trigger: where its consumer lives (spec.nats or a spec.consumers entry) and its thresholds. */
function convertTrigger(trigger: Trigger, at: string, ctx: TriggerContext): ConvertedTrigger {
  const { options, changed, dropped, reasons, several } = ctx;
  const authField = several ? 'spec.consumers[].auth.secretRef' : 'spec.nats.auth.secretRef';
  const md = kedaMetadata(trigger.metadata);
  const nats: Record<string, unknown> = {};
  const fromAuth = trigger.authenticationRef;
  // KEDA takes natsServerMonitoringEndpoint and the account from the TriggerAuthentication's
  // parameters first, then from the trigger metadata (order=authParams;triggerMetadata).
  const auth = fromAuth === undefined ? undefined : options.auth?.(fromAuth, ctx.namespace);
  const authName = auth?.ref ?? `${fromAuth?.kind || 'TriggerAuthentication'} ${fromAuth?.name ?? ''}`;
  const endpoint = kedaParameter('natsServerMonitoringEndpoint', auth, md);
  const endpointUnread = auth?.known === true ? auth.unread.natsServerMonitoringEndpoint : undefined;
  const endpointField =
    endpoint !== undefined && endpoint.from !== 'trigger metadata'
      ? `${at}.authenticationRef`
      : `${at}.metadata.natsServerMonitoringEndpoint`;
  if (options.natsServers !== undefined && options.natsServers.length > 0) {
    nats.servers = options.natsServers;
    if (endpoint !== undefined || endpointUnread !== undefined)
      changed(
        endpointField,
        `natsServerMonitoringEndpoint replaced by --nats-url ${options.natsServers.join(',')}: jetscale reads the consumer through the JetStream API on the client port, not /jsz`,
      );
  } else if (endpointUnread !== undefined) {
    reasons.push(
      `${authName} gives KEDA natsServerMonitoringEndpoint from ${endpointUnread}, which migrate cannot read: pass --nats-url nats://<host>:4222 for the server KEDA watched`,
    );
  } else if (endpoint !== undefined) {
    const server = clientUrlFromMonitoring(endpoint.value);
    if (!server.ok) reasons.push(server.reason);
    else {
      nats.servers = [server.url];
      let note = server.note;
      if (endpoint.from !== 'trigger metadata')
        note = `natsServerMonitoringEndpoint from ${endpoint.from} (${authName}, which KEDA reads before the trigger metadata): ${note}`;
      else if (fromAuth !== undefined && auth?.known !== true)
        note = `${note}. KEDA reads natsServerMonitoringEndpoint from ${authName} first${auth === undefined ? '' : ` (${auth.why})`}: if it sets one, that is the server KEDA watched; check and pass --nats-url for it`;
      changed(endpointField, note);
    }
  } else {
    reasons.push(
      fromAuth === undefined
        ? 'the trigger has no natsServerMonitoringEndpoint: pass --nats-url nats://<host>:4222'
        : auth?.known === true
          ? `neither the trigger metadata nor ${authName} sets natsServerMonitoringEndpoint: pass --nats-url nats://<host>:4222`
          : `natsServerMonitoringEndpoint comes from ${authName}${auth === undefined ? '' : ` (${auth.why})`}; jetscale needs the NATS client URL in the spec: pass --nats-url nats://<host>:4222`,
    );
  }
  if (md.stream === undefined || md.stream === '') reasons.push(`${at}.metadata.stream is missing`);
  else nats.stream = md.stream;
  if (md.consumer === undefined || md.consumer === '') reasons.push(`${at}.metadata.consumer is missing`);
  else nats.consumer = md.consumer;
  // KEDA: accountID when set, else account; each from the authentication parameters first.
  const account = kedaParameter('accountID', auth, md) ?? kedaParameter('account', auth, md);
  const accountUnread = auth?.known === true ? (auth.unread.accountID ?? auth.unread.account) : undefined;
  if (account !== undefined && account.value !== '$G')
    changed(
      account.from === 'trigger metadata' ? `${at}.metadata.account` : `${at}.authenticationRef`,
      `account "${account.value}"${account.from === 'trigger metadata' ? '' : ` (from ${account.from})`}: jetscale reads the consumer as the NATS user its credentials log in as, so the account is that user's; put credentials of account "${account.value}" in a Secret and set ${authField}`,
    );
  else if (accountUnread !== undefined)
    changed(
      `${at}.authenticationRef`,
      `${authName} gives KEDA the account from ${accountUnread}, which migrate cannot read: jetscale reads the consumer as the NATS user its credentials log in as; put credentials of that account in a Secret and set ${authField}`,
    );
  const useHttps = md.useHttps === undefined ? false : parseGoBool(md.useHttps);
  if (useHttps === undefined)
    reasons.push(
      `${at}.metadata.useHttps "${md.useHttps}" is not a boolean (KEDA refuses it too): write true or false`,
    );
  if (useHttps === true)
    changed(
      `${at}.metadata.useHttps`,
      `HTTPS to the monitoring port does not carry over: if the client port uses TLS, set ${several ? 'spec.consumers[].tls' : 'spec.nats.tls'}.secretRef (CA, and client certificate if required)`,
    );
  if (fromAuth !== undefined)
    dropped(
      `${at}.authenticationRef`,
      `${authName} gives KEDA's monitoring endpoint/account, not NATS credentials (KEDA's nats-jetstream scaler reads /jsz without them); if the NATS client port needs credentials, create a Secret (user/password, token, nkey or .creds) and set ${authField}`,
    );
  for (const k of Object.keys(trigger.metadata).filter(
    (k) => !(KNOWN_METADATA_KEYS as readonly string[]).includes(k),
  ))
    dropped(`${at}.metadata.${k}`, 'not a nats-jetstream scaler parameter');

  // --- sizing
  const lag = intMetadata(md, at, 'lagThreshold', KEDA_DEFAULTS.lagThreshold, 1, reasons);
  if (lag !== undefined) {
    if (md.lagThreshold === undefined)
      changed(
        `${at}.metadata.lagThreshold`,
        `not set: KEDA's default ${lag} written as backlogPerReplica (jetscale's own default is 100)`,
      );
  }
  const activation = intMetadata(
    md,
    at,
    'activationLagThreshold',
    KEDA_DEFAULTS.activationLagThreshold,
    0,
    reasons,
  );
  if (trigger.metricType === 'Value')
    changed(
      `${at}.metricType`,
      'Value (the total lag against lagThreshold, scaled from the current replicas) has no jetscale equivalent: jetscale sizes by backlog per replica, like AverageValue',
    );
  if (trigger.metricType === 'Utilization')
    reasons.push(`${at}.metricType Utilization is not valid for an external metric`);
  if (trigger.useCachedMetrics !== undefined)
    dropped(
      `${at}.useCachedMetrics`,
      'jetscale reads the backlog once per poll for its own decision; there is no separate metrics API to cache for',
    );
  if (trigger.name !== undefined)
    dropped(
      `${at}.name`,
      several
        ? 'used as the spec.consumers entry name when it is a DNS label (else the consumer name is)'
        : 'jetscale has one signal per EventConsumer; trigger names are not needed',
    );
  for (const k of unknownKeys(trigger, [
    'type',
    'name',
    'metricType',
    'useCachedMetrics',
    'metadata',
    'authenticationRef',
  ]))
    dropped(`${at}.${k}`, 'unknown field');

  const out: ConvertedTrigger = { nats };
  if (lag !== undefined) out.lag = lag;
  if (activation !== undefined) out.activation = activation;
  return out;
}

/**
 * A spec.consumers name per trigger: the trigger's name when it is a DNS label, else one made
 * from the consumer's name; made unique with -2, -3, ... in trigger order.
 */
export function consumerNames(triggers: Trigger[]): string[] {
  const used = new Set<string>();
  return triggers.map((t, i) => {
    const label = (text: string): string =>
      text
        .toLowerCase()
        .replace(/[^a-z0-9-]+/g, '-')
        .replace(/^-+|-+$/g, '')
        .slice(0, 55)
        .replace(/-+$/, '');
    const wanted =
      t.name !== undefined && CONSUMER_ENTRY_NAME_PATTERN.test(t.name) && t.name.length <= 55
        ? t.name
        : label(t.metadata.consumer ?? '') || `consumer-${i + 1}`;
    let name = wanted;
    for (let n = 2; used.has(name); n++) name = `${wanted}-${n}`;
    used.add(name);
    return name;
  });
}

function convertRules(
  rules: HpaRules,
  field: string,
  dropped: (field: string, message: string) => void,
  reasons: string[],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (rules.stabilizationWindowSeconds !== undefined)
    out.stabilizationWindow = `${rules.stabilizationWindowSeconds}s`;
  if (rules.selectPolicy !== undefined) out.selectPolicy = rules.selectPolicy;
  if (rules.policies !== undefined) {
    if (rules.policies.length > 10) reasons.push(`${field}.policies: jetscale takes at most 10 policies`);
    out.policies = rules.policies.map((p) => ({
      type: p.type,
      value: p.value,
      period: `${p.periodSeconds}s`,
    }));
  }
  for (const k of unknownKeys(rules, ['stabilizationWindowSeconds', 'selectPolicy', 'policies']))
    dropped(
      `${field}.${k}`,
      k === 'tolerance'
        ? 'jetscale has no tolerance band: it sizes from measured rates and the backlog'
        : 'unknown field',
    );
  return out;
}

/** A KEDA integer metadata value (a string); undefined plus a reason when it is not one. */
function intMetadata(
  md: Record<string, string>,
  at: string,
  key: string,
  fallback: number,
  min: number,
  reasons: string[],
): number | undefined {
  const text = md[key];
  if (text === undefined) return fallback;
  // KEDA parses these with strconv.ParseInt, so "-1" is a number to it (its HPA then refuses a
  // target that is not positive): a sign is read, and the range below says what is wrong.
  if (!/^\s*[-+]?\d+\s*$/.test(text)) {
    reasons.push(`${at}.metadata.${key} "${text}" is not a whole number`);
    return undefined;
  }
  const value = Number(text);
  if (value < min || value > 2_147_483_647) {
    reasons.push(`${at}.metadata.${key} ${value} must be between ${min} and 2147483647`);
    return undefined;
  }
  return value;
}

type ClientUrl = { ok: true; url: string; note: string } | { ok: false; reason: string };

/** `host:8222` (KEDA's monitoring endpoint) → `nats://host:4222`, with the note that says so. */
export function clientUrlFromMonitoring(endpoint: string): ClientUrl {
  const trimmed = endpoint
    .trim()
    .replace(/^https?:\/\//, '')
    .replace(/\/.*$/, '');
  const match = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::(\d+))?$/.exec(trimmed);
  if (match === null || match[1] === undefined)
    return {
      ok: false,
      reason: `natsServerMonitoringEndpoint "${endpoint}" is not host:port; pass --nats-url nats://<host>:4222`,
    };
  const host = match[1];
  const url = `nats://${host}:${NATS_CLIENT_PORT}`;
  return {
    ok: true,
    url,
    note: `${endpoint} is the monitoring port; jetscale reads the consumer through the JetStream API on the client port, so ${url} was written (pass --nats-url if your client port differs)`,
  };
}

/**
 * Trigger metadata as KEDA's scalers read it (pkg/scalers/scalersconfig/typed_config.go
 * configParamValue): each value trimmed, and an empty one is the same as no key.
 */
export function kedaMetadata(metadata: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata)) if (value.trim() !== '') out[key] = value.trim();
  return out;
}

/** Go's strconv.ParseBool; undefined for a value that is not a boolean. */
export function parseGoBool(value: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(value)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(value)) return false;
  return undefined;
}

/** How KEDA reads its boolean annotations, said in the notes. */
const KEDA_READS_BOOL =
  "it reads the value with Go's strconv.ParseBool and takes anything that is not a boolean as true";

/**
 * A KEDA boolean annotation as KEDA reads it (apis/keda/v1alpha1/scaledobject_types.go
 * getBoolAnnotation, behind NeedToBePausedByAnnotation, NeedToPauseScaleIn and
 * NeedToPauseScaleOut): strconv.ParseBool, and a value that is not a boolean is true.
 */
export function kedaBoolAnnotation(value: string): boolean {
  return parseGoBool(value) ?? true;
}

function describeHpaRules(rules: HpaRules): string {
  const parts: string[] = [];
  if (rules.stabilizationWindowSeconds !== undefined)
    parts.push(`stabilizationWindow ${rules.stabilizationWindowSeconds}s`);
  for (const p of rules.policies ?? [])
    parts.push(`${p.value}${p.type === 'Percent' ? ' %' : ' pods'} per ${p.periodSeconds}s`);
  if (rules.selectPolicy !== undefined) parts.push(`selectPolicy ${rules.selectPolicy}`);
  return parts.join(', ');
}

function clamp(n: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, n));
}
