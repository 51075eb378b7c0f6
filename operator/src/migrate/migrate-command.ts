// `jetscale migrate`: reads KEDA ScaledObjects from files, directories, stdin or the cluster,
// writes the EventConsumers they become as YAML (stdout or -o), and reports every field that was
// changed or not carried on stderr. Exit 0: everything found was converted (or was not a
// nats-jetstream ScaledObject); 1: some objects were refused (the others are still written);
// 2: bad usage, or input that cannot be read or parsed: a file, the kubeconfig, the cluster's
// answer (nothing is written).
import * as k8s from '@kubernetes/client-node';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments, stringify } from 'yaml';
import { convertObject, NATS_JETSTREAM, type Conversion, type ConvertOptions } from './convert.js';
import {
  AUTH_PARAMETERS,
  DEFAULT_KEDA_NAMESPACE,
  KedaObjects,
  resolveAuthRef,
  TriggerAuthenticationSpecSchema,
  type AuthKind,
} from './trigger-auth.js';

export const MIGRATE_HELP = `Usage: jetscale migrate [-f FILE|DIR|-]... [--from-cluster [-n NAMESPACE]] [--nats-url URL]... [--keda-namespace NS] [-o FILE]
       kubectl jetscale migrate ...   (the same, as a kubectl plugin)

Converts KEDA ScaledObjects with nats-jetstream triggers into jetscale EventConsumers: one trigger
becomes spec.nats, several (up to 8) become spec.consumers (the target runs the largest need, as
KEDA's HPA takes the largest over its metrics).

  -f, --filename PATH   a YAML/JSON file, a directory (every *.yaml, *.yml, *.json in it, recursively)
                        or - for stdin; repeatable
      --from-cluster    read the ScaledObjects from the current kubectl context (KUBECONFIG)
  -n, --namespace NS    with --from-cluster: only this namespace (default: all namespaces)
      --nats-url URL    NATS client URL for spec.nats.servers (repeatable; with several triggers, for
                        every consumer); without it each trigger's URL is derived from its
                        natsServerMonitoringEndpoint (host:8222 -> nats://host:4222)
      --keda-namespace NS
                        where KEDA reads a ClusterTriggerAuthentication's Secrets and ConfigMaps
                        (its KEDA_CLUSTER_OBJECT_NAMESPACE; default ${DEFAULT_KEDA_NAMESPACE})
  -o, --output FILE     write the EventConsumers there instead of stdout
  -h, --help            this text

A trigger's authenticationRef is looked into as KEDA does (it reads natsServerMonitoringEndpoint and
the account from there before the trigger metadata): the TriggerAuthentication or
ClusterTriggerAuthentication and the Secret or ConfigMap keys it names for those parameters, from
the files given or, with --from-cluster, from the cluster (get on those objects; nothing else is
read). A parameter KEDA takes from a source migrate cannot read (the pod's env, a vault, a file)
refuses the object unless --nats-url is given.

The report on stderr has one line per object (converted, refused or skipped) and one line per field
that was changed or not carried, with the reason. Exit status: 0 all converted, 1 some refused
(the rest are written), 2 usage error or input that cannot be read (a file, the kubeconfig,
the cluster: RBAC) or parsed (nothing written).
Step by step: docs/migrating-from-keda.md`;

export interface MigrateIo {
  stdin: () => Promise<string>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Lists ScaledObjects in the cluster (all namespaces when namespace is undefined). */
  listScaledObjects: (namespace: string | undefined) => Promise<unknown[]>;
  /** Reads one object from the cluster: null when it does not exist; throws with the reason otherwise. */
  readObject: (kind: AuthKind, namespace: string | undefined, name: string) => Promise<unknown>;
}

interface Args {
  files: string[];
  fromCluster: boolean;
  namespace?: string;
  natsServers: string[];
  kedaNamespace?: string;
  output?: string;
  help: boolean;
}

class UsageError extends Error {}

export function parseMigrateArgs(argv: string[]): Args {
  const args: Args = { files: [], fromCluster: false, natsServers: [], help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] =
      arg.startsWith('--') && arg.includes('=')
        ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)]
        : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '-f':
      case '--filename':
        args.files.push(value());
        break;
      case '--from-cluster':
        args.fromCluster = true;
        break;
      case '-n':
      case '--namespace':
        args.namespace = value();
        break;
      case '--nats-url': {
        const url = value();
        if (!/^(nats|tls):\/\/[^\s]+$/i.test(url))
          throw new UsageError(
            `--nats-url ${url}: expected nats://host:port or tls://host:port (the client port, 4222 by default; jetscale does not speak ws:// or wss://)`,
          );
        args.natsServers.push(url);
        break;
      }
      case '--keda-namespace':
        args.kedaNamespace = value();
        break;
      case '-o':
      case '--output':
        args.output = value();
        break;
      case '-h':
      case '--help':
        args.help = true;
        break;
      default:
        throw new UsageError(`unknown argument ${arg}`);
    }
  }
  if (!args.help && args.files.length === 0 && !args.fromCluster)
    throw new UsageError('nothing to read: give -f FILE|DIR|- or --from-cluster');
  if (args.namespace !== undefined && !args.fromCluster)
    throw new UsageError('-n/--namespace only applies with --from-cluster');
  return args;
}

/** One parsed document and where it came from (`file#index`). */
interface Input {
  where: string;
  object: unknown;
}

class InputError extends Error {}

function yamlFiles(target: string): string[] {
  const stat = statSync(target, { throwIfNoEntry: false });
  if (stat === undefined) throw new InputError(`${target}: no such file or directory`);
  if (!stat.isDirectory()) return [target];
  return readdirSync(target, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      const full = path.join(target, e.name);
      if (e.isDirectory()) return yamlFiles(full);
      return /\.(ya?ml|json)$/i.test(e.name) ? [full] : [];
    });
}

/** Parses a YAML stream; `kind: List` objects are expanded into their items. */
export function parseDocuments(text: string, name: string): Input[] {
  const out: Input[] = [];
  const docs = parseAllDocuments(text);
  // parseAllDocuments returns an EmptyStream (not an array) for empty input.
  if (!Array.isArray(docs)) return out;
  docs.forEach((doc, index) => {
    const problem = doc.errors[0];
    if (problem !== undefined) {
      const line = problem.linePos?.[0]?.line;
      throw new InputError(
        `${name}${line === undefined ? '' : `:${line}`}: ${problem.message.split('\n')[0]}`,
      );
    }
    const object: unknown = doc.toJS({ maxAliasCount: 100 });
    if (object === null || object === undefined) return;
    const where = `${name}#${index + 1}`;
    const items = (object as { kind?: unknown; items?: unknown }).items;
    if (
      typeof (object as { kind?: unknown }).kind === 'string' &&
      /List$/.test((object as { kind: string }).kind) &&
      Array.isArray(items)
    )
      items.forEach((item, i) => out.push({ where: `${where}.items[${i}]`, object: item }));
    else out.push({ where, object });
  });
  return out;
}

async function readInputs(args: Args, io: MigrateIo): Promise<Input[]> {
  const inputs: Input[] = [];
  for (const target of args.files) {
    if (target === '-') inputs.push(...parseDocuments(await io.stdin(), '<stdin>'));
    else
      for (const file of yamlFiles(target)) inputs.push(...parseDocuments(readFileSync(file, 'utf8'), file));
  }
  if (args.fromCluster) {
    const items = await io.listScaledObjects(args.namespace);
    items.forEach((object, i) => inputs.push({ where: `cluster#${i + 1}`, object }));
  }
  return inputs;
}

export function formatReport(results: Conversion[]): string {
  const lines: string[] = [];
  const counts = { converted: 0, refused: 0, skipped: 0 };
  for (const r of results) {
    counts[r.outcome]++;
    if (r.outcome === 'skipped') {
      lines.push(`skipped    ${r.source}: ${r.reason}`);
      continue;
    }
    if (r.outcome === 'converted') {
      const ec = r.eventConsumer.metadata;
      lines.push(
        `converted  ${r.source} -> EventConsumer ${ec.namespace ? `${ec.namespace}/` : ''}${ec.name}`,
      );
    } else {
      lines.push(`REFUSED    ${r.source}: nothing written for it`);
      for (const reason of r.reasons) lines.push(`  reason   ${reason}`);
    }
    for (const n of r.notes) lines.push(`  ${n.kind.padEnd(8)} ${n.field}: ${n.message}`);
  }
  lines.push(`summary: ${counts.converted} converted, ${counts.refused} refused, ${counts.skipped} skipped`);
  return lines.join('\n') + '\n';
}

export async function runMigrate(argv: string[], io: MigrateIo): Promise<number> {
  let args: Args;
  try {
    args = parseMigrateArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr(`jetscale migrate: ${err.message}\n\n${MIGRATE_HELP}\n`);
      return 2;
    }
    throw err;
  }
  if (args.help) {
    io.stdout(`${MIGRATE_HELP}\n`);
    return 0;
  }
  let inputs: Input[];
  try {
    inputs = await readInputs(args, io);
  } catch (err) {
    if (err instanceof InputError) {
      io.stderr(`jetscale migrate: ${err.message}\nnothing was written: fix the input and run again\n`);
      return 2;
    }
    io.stderr(`jetscale migrate: ${err instanceof Error ? err.message : String(err)}\nnothing was written\n`);
    return 2;
  }
  const objects = new KedaObjects();
  for (const input of inputs) objects.add(input.object);
  if (args.fromCluster) await readAuthObjects(inputs, objects, io, args.kedaNamespace);
  const options: ConvertOptions = {
    auth: (ref, namespace) => resolveAuthRef(ref, namespace, objects, args.kedaNamespace),
  };
  if (args.natsServers.length > 0) options.natsServers = args.natsServers;
  const results = inputs.map((i) => convertObject(i.object, i.where, options));
  const manifests = results.flatMap((r) => (r.outcome === 'converted' ? [r.eventConsumer] : []));
  const yamlText = manifests.map((m) => stringify(m, { lineWidth: 0 })).join('---\n');
  if (args.output !== undefined) writeFileSync(args.output, yamlText);
  else if (yamlText !== '') io.stdout(yamlText);
  io.stderr(formatReport(results));
  return results.some((r) => r.outcome === 'refused') ? 1 : 0;
}

/**
 * Reads from the cluster what the nats-jetstream triggers' authenticationRefs name and the files did
 * not give: each TriggerAuthentication or ClusterTriggerAuthentication, then only the Secret and
 * ConfigMap keys it maps to a parameter the scaler takes from there. A read that fails is kept with
 * its reason (the report names it); it never stops the other conversions.
 */
async function readAuthObjects(
  inputs: Input[],
  objects: KedaObjects,
  io: MigrateIo,
  kedaNamespace = DEFAULT_KEDA_NAMESPACE,
): Promise<void> {
  const read = async (kind: AuthKind, namespace: string | undefined, name: string): Promise<unknown> => {
    const known = objects.get(kind, namespace, name);
    if (known !== undefined) return known.state === 'present' ? known.object : undefined;
    try {
      const object = await io.readObject(kind, namespace, name);
      if (object === null) objects.absent(kind, namespace, name);
      else if (!objects.add(object))
        objects.unreadable(kind, namespace, name, 'the API server answered with another object');
      return object ?? undefined;
    } catch (err) {
      objects.unreadable(kind, namespace, name, err instanceof Error ? err.message : String(err));
      return undefined;
    }
  };
  for (const { object } of inputs) {
    const so = object as {
      kind?: unknown;
      metadata?: { namespace?: unknown };
      spec?: { triggers?: unknown };
    } | null;
    if (so?.kind !== 'ScaledObject' || !Array.isArray(so.spec?.triggers)) continue;
    const namespace = typeof so.metadata?.namespace === 'string' ? so.metadata.namespace : undefined;
    for (const trigger of so.spec.triggers as {
      type?: unknown;
      authenticationRef?: { name?: unknown; kind?: unknown };
    }[]) {
      const ref = trigger?.authenticationRef;
      if (trigger?.type !== NATS_JETSTREAM || typeof ref?.name !== 'string' || ref.name === '') continue;
      const kind = ref.kind === undefined || ref.kind === '' ? 'TriggerAuthentication' : ref.kind;
      if (kind !== 'TriggerAuthentication' && kind !== 'ClusterTriggerAuthentication') continue;
      const cluster = kind === 'ClusterTriggerAuthentication';
      if (!cluster && namespace === undefined) continue;
      const auth = await read(kind, cluster ? undefined : namespace, ref.name);
      const spec = TriggerAuthenticationSpecSchema.safeParse((auth as { spec?: unknown } | undefined)?.spec);
      if (!spec.success) continue;
      const dataNamespace = cluster ? kedaNamespace : namespace;
      for (const [dataKind, refs] of [
        ['ConfigMap', spec.data.configMapTargetRef ?? []],
        ['Secret', spec.data.secretTargetRef ?? []],
      ] as const)
        for (const r of refs)
          if ((AUTH_PARAMETERS as readonly string[]).includes(r.parameter))
            await read(dataKind, dataNamespace, r.name);
    }
  }
}

/** One TriggerAuthentication, ClusterTriggerAuthentication, Secret or ConfigMap from the current context; null if absent. */
export async function readKedaObjectFromCluster(
  kind: AuthKind,
  namespace: string | undefined,
  name: string,
): Promise<unknown> {
  const kc = loadKubeConfig();
  try {
    switch (kind) {
      case 'TriggerAuthentication':
      case 'ClusterTriggerAuthentication': {
        const api = kc.makeApiClient(k8s.CustomObjectsApi);
        const common = { group: 'keda.sh', version: 'v1alpha1', name };
        return kind === 'ClusterTriggerAuthentication'
          ? await api.getClusterCustomObject({ ...common, plural: 'clustertriggerauthentications' })
          : await api.getNamespacedCustomObject({
              ...common,
              plural: 'triggerauthentications',
              namespace: namespace ?? 'default',
            });
      }
      case 'Secret':
        return await kc
          .makeApiClient(k8s.CoreV1Api)
          .readNamespacedSecret({ name, namespace: namespace ?? 'default' });
      case 'ConfigMap':
        return await kc
          .makeApiClient(k8s.CoreV1Api)
          .readNamespacedConfigMap({ name, namespace: namespace ?? 'default' });
    }
  } catch (err) {
    if (!(err instanceof k8s.ApiException)) throw err;
    // 404: the object, or (for the KEDA kinds) the resource, does not exist: KEDA got nothing from it either.
    if (err.code === 404) return null;
    const said = statusMessage(err.body) ?? `HTTP ${err.code}`;
    throw new Error(
      err.code === 403
        ? `forbidden (${said}): grant get on ${kind === 'Secret' || kind === 'ConfigMap' ? `${kind.toLowerCase()}s` : `${kind.toLowerCase()}s.keda.sh`}, or give it with -f, or pass --nats-url`
        : `the API server answered ${err.code}: ${said}`,
    );
  }
}

/** The real cluster reader: the current kubectl context, keda.sh/v1alpha1 scaledobjects. */
export async function listScaledObjectsFromCluster(namespace: string | undefined): Promise<unknown[]> {
  const kc = loadKubeConfig();
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const common = { group: 'keda.sh', version: 'v1alpha1', plural: 'scaledobjects' };
  try {
    const list = (
      namespace === undefined
        ? await api.listClusterCustomObject(common)
        : await api.listNamespacedCustomObject({ ...common, namespace })
    ) as { items?: unknown };
    if (!Array.isArray(list.items))
      throw new Error('the API server answered the ScaledObject list without items');
    return list.items;
  } catch (err) {
    if (!(err instanceof k8s.ApiException)) throw err;
    if (err.code === 404)
      throw new Error(
        `the cluster of context "${kc.getCurrentContext()}" has no KEDA ScaledObject resource (scaledobjects.keda.sh/v1alpha1)`,
      );
    // The API server's own sentence (a metav1.Status message), not client-node's HTTP dump.
    const said = statusMessage(err.body) ?? `HTTP ${err.code}`;
    if (err.code === 403)
      throw new Error(
        `cannot list ScaledObjects with context "${kc.getCurrentContext()}": ${said}; grant list on scaledobjects.keda.sh ${namespace === undefined ? 'at the cluster scope (a ClusterRole), or pass -n NAMESPACE' : `in namespace ${namespace}`}, or give the ScaledObjects as files (-f)`,
      );
    throw new Error(
      `cannot list ScaledObjects with context "${kc.getCurrentContext()}": the API server answered ${err.code}: ${said}`,
    );
  }
}

/** The `message` of a metav1.Status body (a JSON string or already parsed), if there is one. */
function statusMessage(body: unknown): string | undefined {
  let parsed: unknown = body;
  if (typeof body === 'string')
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.trim() === '' ? undefined : body.trim().split('\n')[0];
    }
  const message = (parsed as { message?: unknown } | null)?.message;
  return typeof message === 'string' && message !== '' ? message : undefined;
}

/**
 * The kubeconfig kubectl would use (KUBECONFIG, else ~/.kube/config, else the pod's service
 * account), read with errors that name it and say what to fix. Never client-node's fallback to
 * http://localhost:8080, an API server nobody configured.
 */
export function loadKubeConfig(): k8s.KubeConfig {
  const fromEnv = process.env.KUBECONFIG;
  const homeConfig = path.join(process.env.HOME ?? homedir(), '.kube', 'config');
  let source: string;
  if (fromEnv !== undefined && fromEnv !== '') {
    for (const file of fromEnv.split(path.delimiter).filter((f) => f !== ''))
      if (!existsSync(file))
        throw new Error(
          `KUBECONFIG names ${file}, which does not exist: point KUBECONFIG at the kubeconfig kubectl uses`,
        );
    source = `KUBECONFIG=${fromEnv}`;
  } else if (existsSync(homeConfig)) source = homeConfig;
  else if (process.env.KUBERNETES_SERVICE_HOST !== undefined) source = "the pod's service account";
  else
    throw new Error(
      `no kubeconfig: KUBECONFIG is not set and ${homeConfig} does not exist; set KUBECONFIG to the file kubectl uses, or give the ScaledObjects as files (-f)`,
    );
  const kc = new k8s.KubeConfig();
  try {
    kc.loadFromDefault();
  } catch (err) {
    const message = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    throw new Error(`cannot read the kubeconfig (${source}): ${message}`);
  }
  if (kc.getCurrentContext() === '' || kc.getCurrentCluster() === null)
    throw new Error(
      `the kubeconfig (${source}) has no current context: run kubectl config use-context <name>`,
    );
  return kc;
}
