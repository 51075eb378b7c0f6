// What a nats-jetstream trigger's `authenticationRef` gave KEDA, resolved as KEDA's operator does it
// (pkg/scaling/resolver/scale_resolvers.go resolveAuthRef and getTriggerAuthSpec), from the
// objects `jetscale migrate` was given (-f) or read from the cluster (--from-cluster). Pure: the
// objects come in a KedaObjects index; reading them is migrate-command's job.
//
// Only the parameters the nats-jetstream scaler takes from authParams are resolved
// (pkg/scalers/nats_jetstream_scaler.go: natsServerMonitoringEndpoint, account and accountID carry
// `order=authParams;triggerMetadata`): migrate never reads a Secret key it does not need.
import { z } from 'zod';

export const AUTH_PARAMETERS = ['natsServerMonitoringEndpoint', 'account', 'accountID'] as const;
export type AuthParameter = (typeof AUTH_PARAMETERS)[number];

/** KEDA's default cluster object namespace (KEDA_CLUSTER_OBJECT_NAMESPACE, else KEDA's own namespace). */
export const DEFAULT_KEDA_NAMESPACE = 'keda';

const targetRef = z.looseObject({
  parameter: z.string(),
  name: z.string().min(1),
  key: z.string().min(1),
});
const secretsOf = z.looseObject({ secrets: z.array(z.looseObject({ parameter: z.string() })).optional() });

/** The part of a TriggerAuthentication / ClusterTriggerAuthentication spec that yields parameters. */
export const TriggerAuthenticationSpecSchema = z.looseObject({
  env: z
    .array(z.looseObject({ parameter: z.string(), name: z.string(), containerName: z.string().optional() }))
    .optional(),
  filePath: z.string().optional(),
  configMapTargetRef: z.array(targetRef).optional(),
  secretTargetRef: z.array(targetRef).optional(),
  hashiCorpVault: secretsOf.optional(),
  azureKeyVault: secretsOf.optional(),
  gcpSecretManager: secretsOf.optional(),
  awsSecretManager: secretsOf.optional(),
  boundServiceAccountToken: z.array(z.looseObject({ parameter: z.string() })).optional(),
});
export type TriggerAuthenticationSpec = z.infer<typeof TriggerAuthenticationSpecSchema>;

export type AuthKind = 'TriggerAuthentication' | 'ClusterTriggerAuthentication' | 'Secret' | 'ConfigMap';
export const AUTH_KINDS: readonly AuthKind[] = [
  'TriggerAuthentication',
  'ClusterTriggerAuthentication',
  'Secret',
  'ConfigMap',
];

/** An object looked up: present, known to be absent, or not readable (and why). */
type Entry =
  { state: 'present'; object: unknown } | { state: 'absent' } | { state: 'unreadable'; why: string };

/**
 * The TriggerAuthentications, ClusterTriggerAuthentications, Secrets and ConfigMaps migrate knows
 * of. An object never added is unknown (files need not hold every Secret); the cluster reader marks
 * what it looked up and found missing as absent, or as unreadable with the API server's reason.
 */
export class KedaObjects {
  private readonly entries = new Map<string, Entry>();

  static keyOf(kind: AuthKind, namespace: string | undefined, name: string): string {
    return `${kind}/${kind === 'ClusterTriggerAuthentication' ? '' : (namespace ?? '')}/${name}`;
  }

  /** Adds a document if it is one of AUTH_KINDS (anything else is ignored); true if it was. */
  add(raw: unknown): boolean {
    if (raw === null || typeof raw !== 'object') return false;
    const { kind, metadata } = raw as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
    if (!(AUTH_KINDS as readonly unknown[]).includes(kind) || typeof metadata?.name !== 'string')
      return false;
    const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : undefined;
    this.entries.set(KedaObjects.keyOf(kind as AuthKind, namespace, metadata.name), {
      state: 'present',
      object: raw,
    });
    return true;
  }

  absent(kind: AuthKind, namespace: string | undefined, name: string): void {
    this.entries.set(KedaObjects.keyOf(kind, namespace, name), { state: 'absent' });
  }

  unreadable(kind: AuthKind, namespace: string | undefined, name: string, why: string): void {
    this.entries.set(KedaObjects.keyOf(kind, namespace, name), { state: 'unreadable', why });
  }

  get(kind: AuthKind, namespace: string | undefined, name: string): Entry | undefined {
    return this.entries.get(KedaObjects.keyOf(kind, namespace, name));
  }
}

/** One parameter KEDA resolved: its value (trimmed; '' when KEDA got nothing) and where it came from. */
export interface ResolvedParameter {
  value: string;
  from: string;
}

export type AuthResolution =
  /** The TriggerAuthentication was not among the inputs, or could not be read: `why` says which. */
  | { known: false; ref: string; why: string }
  | {
      known: true;
      /** `TriggerAuthentication orders/nats-auth`. */
      ref: string;
      /** Parameters KEDA resolved from a Secret or ConfigMap migrate could read. */
      values: Partial<Record<AuthParameter, ResolvedParameter>>;
      /** Parameters set by a source migrate cannot read (the pod's env, a vault, a file): what sets each. */
      unread: Partial<Record<AuthParameter, string>>;
    };

export interface AuthRef {
  name: string;
  kind?: string | undefined;
}

/**
 * The authParams KEDA built for a trigger of a ScaledObject in `namespace`. A ClusterTriggerAuthentication's
 * Secrets and ConfigMaps are read in KEDA's cluster object namespace (`kedaNamespace`).
 */
export function resolveAuthRef(
  ref: AuthRef,
  namespace: string | undefined,
  objects: KedaObjects,
  kedaNamespace: string = DEFAULT_KEDA_NAMESPACE,
): AuthResolution {
  const kind = ref.kind === undefined || ref.kind === '' ? 'TriggerAuthentication' : ref.kind;
  if (kind !== 'TriggerAuthentication' && kind !== 'ClusterTriggerAuthentication')
    return { known: false, ref: `${kind} ${ref.name}`, why: `KEDA knows no authentication kind "${kind}"` };
  const cluster = kind === 'ClusterTriggerAuthentication';
  const label = `${kind} ${cluster || namespace === undefined ? '' : `${namespace}/`}${ref.name}`;
  const entry = objects.get(kind, namespace, ref.name);
  if (entry === undefined)
    return {
      known: false,
      ref: label,
      why: `${label} was not among the inputs (give it with -f, or use --from-cluster)`,
    };
  if (entry.state === 'unreadable')
    return { known: false, ref: label, why: `${label} could not be read: ${entry.why}` };
  if (entry.state === 'absent')
    // KEDA logs the error and scales with no authParams: the trigger metadata is what it used.
    return { known: true, ref: label, values: {}, unread: {} };
  const parsed = TriggerAuthenticationSpecSchema.safeParse((entry.object as { spec?: unknown }).spec ?? {});
  if (!parsed.success)
    return {
      known: false,
      ref: label,
      why: `${label}'s spec is not one KEDA would read: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(spec)'}: ${i.message}`).join('; ')}`,
    };
  const spec = parsed.data;
  const dataNamespace = cluster ? kedaNamespace : namespace;
  const values: Partial<Record<AuthParameter, ResolvedParameter>> = {};
  const unread: Partial<Record<AuthParameter, string>> = {};
  const wanted = (p: string): p is AuthParameter => (AUTH_PARAMETERS as readonly string[]).includes(p);
  const cannotRead = (p: AuthParameter, what: string): void => {
    delete values[p];
    unread[p] = what;
  };
  const readKey = (p: AuthParameter, dataKind: 'Secret' | 'ConfigMap', name: string, key: string): void => {
    const where = `${dataKind} ${dataNamespace === undefined ? '' : `${dataNamespace}/`}${name} key ${key}`;
    const found = objects.get(dataKind, dataNamespace, name);
    if (found === undefined) return cannotRead(p, `${where} (not among the inputs)`);
    if (found.state === 'unreadable') return cannotRead(p, `${where} (${found.why})`);
    delete unread[p];
    // KEDA's resolveAuthSecret / resolveAuthConfigMap give "" for a missing object or key.
    values[p] = {
      value: found.state === 'absent' ? '' : (dataValue(found.object, dataKind, key) ?? '').trim(),
      from: where,
    };
  };

  // The order of resolveAuthRef: env, then filePath (a ClusterTriggerAuthentication's only source),
  // ConfigMaps, Secrets, then the external stores; a later source overwrites an earlier one.
  for (const e of spec.env ?? [])
    if (wanted(e.parameter))
      cannotRead(
        e.parameter,
        `env ${e.name} of the target's container${e.containerName ? ` ${e.containerName}` : ''}`,
      );
  if (spec.filePath !== undefined && spec.filePath !== '') {
    if (!cluster)
      return {
        known: false,
        ref: label,
        why: `${label} sets filePath, which KEDA refuses on a TriggerAuthentication (ClusterTriggerAuthentication only): KEDA could not scale this trigger`,
      };
    const all: Partial<Record<AuthParameter, string>> = {};
    for (const p of AUTH_PARAMETERS)
      all[p] = `file ${spec.filePath} in KEDA's pod (any parameter may be there)`;
    return { known: true, ref: label, values: {}, unread: all };
  }
  for (const e of spec.configMapTargetRef ?? [])
    if (wanted(e.parameter)) readKey(e.parameter, 'ConfigMap', e.name, e.key);
  for (const e of spec.secretTargetRef ?? [])
    if (wanted(e.parameter)) readKey(e.parameter, 'Secret', e.name, e.key);
  for (const [store, name] of [
    [spec.hashiCorpVault, 'hashiCorpVault'],
    [spec.azureKeyVault, 'azureKeyVault'],
    [spec.gcpSecretManager, 'gcpSecretManager'],
    [spec.awsSecretManager, 'awsSecretManager'],
  ] as const)
    for (const s of store?.secrets ?? [])
      if (wanted(s.parameter)) cannotRead(s.parameter, `${label}'s ${name}`);
  for (const b of spec.boundServiceAccountToken ?? [])
    if (wanted(b.parameter)) cannotRead(b.parameter, `a bound service account token (${label})`);
  return { known: true, ref: label, values, unread };
}

/** A Secret's (base64 `data`, or `stringData` as a manifest may carry it) or a ConfigMap's value of `key`. */
function dataValue(object: unknown, kind: 'Secret' | 'ConfigMap', key: string): string | undefined {
  const o = object as { data?: Record<string, unknown>; stringData?: Record<string, unknown> };
  if (kind === 'Secret') {
    const plain = o.stringData?.[key];
    if (typeof plain === 'string') return plain;
    const encoded = o.data?.[key];
    return typeof encoded === 'string' ? Buffer.from(encoded, 'base64').toString('utf8') : undefined;
  }
  const value = o.data?.[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * A parameter as the scaler reads it with `order=authParams;triggerMetadata`
 * (scalersconfig/typed_config.go configParamValue): the first source where it is set and not blank.
 * `metadata` is already trimmed with blanks removed (kedaMetadata).
 */
export function kedaParameter(
  parameter: AuthParameter,
  auth: AuthResolution | undefined,
  metadata: Record<string, string>,
): { value: string; from: string } | undefined {
  if (auth?.known === true) {
    const resolved = auth.values[parameter];
    if (resolved !== undefined && resolved.value !== '')
      return { value: resolved.value, from: resolved.from };
  }
  const value = metadata[parameter];
  return value === undefined ? undefined : { value, from: 'trigger metadata' };
}
