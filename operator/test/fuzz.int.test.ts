// Seeded fuzz of the operator (issue 17): random and targeted EventConsumers and Secrets against
// the real API server, a real operator process (8 workers, as the chart runs it) and the real
// stack NATS. Most fuzz objects read the same NATS with the same (no) credentials as two healthy
// EventConsumers, so they share the healthy ones' connection — the way one tenant's mistake once
// reached every namespace. Invariants:
//   - no fuzz object moves the healthy EventConsumers' replicas (checked every second), nor
//     stalls them: once every fuzz object polls, more backlog scales them within 60 s;
//   - every object the API server accepts gets a Ready condition with a reason;
//   - the API server never answers 5xx, and the operator never crashes nor fails a reconcile;
//   - the NATS connection the healthy ones use is never disconnected;
//   - no Deployment ever has more replicas than the maxReplicas of the EventConsumer that owns it,
//     nor fewer (above zero) than its minReplicas (checked every second against the latest accepted
//     spec, after tenants' edits: a lowered maxReplicas, a renamed target, a toggled pause or
//     pausedReplicas, a broken Secret). The owner is the EventConsumer naming it that says so: Ready
//     True, or Ready False for a reason that leaves the target its own (the backlog or the
//     credentials cannot be read), not TargetConflict, InvalidSpec or a target it cannot read;
//   - the same after what else happens to tenants' objects (fuzzChaos): Deployments deleted and
//     recreated with other replicas (0 to 40), replicas set by hand, EventConsumers deleted and
//     recreated under the same name with another spec, Deployments deleted while a finalizer holds
//     them (at least 25 s: longer than an idle target's refresh) and then recreated;
//   - a Deployment being deleted (a deletionTimestamp) is never scaled;
//   - a Deployment no EventConsumer names is never scaled;
//   - admission in front of the operator's /scale writes (a real https mutating webhook, as
//     Kyverno or Gatekeeper): some Deployments' writes are stored capped at 2 replicas, others
//     refused. A capped target is asked beyond its cap at most 2 + (run seconds / 10) + (edits and
//     chaos) times (the limit is learnt, not asked again at every poll) and never exceeds it; a
//     refused one keeps its replicas; their owners say ScaleAdjusted (naming maxReplicas) and
//     ScaleRefused (two dedicated EventConsumers always are; other tenants' targets at random).
//     Owners refused or capped are not judged against their bounds (someone else's rule holds them).
// Most objects get a Deployment of their own, so they reach the scaling code rather than losing a
// conflict over a shared one; after they are created, a quarter of them are edited.
// `make test` runs 40 objects with seed 17; `make fuzz-operator` (and `make fuzz`) 300 with a fresh
// seed. The seed is printed first; `FUZZ_SEED=<seed> FUZZ_OBJECTS=<n> make fuzz-operator` replays.
// The operator's log is kept when the run fails, and with FUZZ_KEEP_LOG=1 when it passes.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { createNamespace, eventually, testStack } from '../../test/env.js';
import { makeScratchDir, type ScratchDir } from '../../hack/stack/scratch-dir.js';
import { parseDurationSeconds } from '../src/api/v1alpha1/duration.js';
import { eventConsumersPath } from '../src/api/v1alpha1/group-version.js';
import type { EventConsumerStatus } from '../src/api/v1alpha1/event-consumer.js';
import { KubeApiError } from '../src/kube/api-client.js';
import { FIELD_MANAGER } from '../src/kube/scale-client.js';
import { startWebhook, type Webhook } from './admission.js';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import {
  fuzzChaos,
  fuzzEdit,
  fuzzSecretData,
  fuzzSpec,
  seededRng,
  type FuzzChaos,
  type FuzzContext,
} from './fuzz-objects.js';
import {
  closeKubeApi,
  condition,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  eventConsumerStatus,
  installCrd,
  kubeApi,
  publish,
  sleep,
  spawnOperator,
  specReplicas,
  streamName,
  type OperatorProcess,
  startedMetricsPort,
} from './harness.js';
import { sampleSum } from './metrics-text.js';

const seed = Number(process.env.FUZZ_SEED ?? 17);
const objects = Number(process.env.FUZZ_OBJECTS ?? 40);
const replay = `FUZZ_SEED=${seed} FUZZ_OBJECTS=${objects} make fuzz-operator`;
const HEALTHY = ['healthy-a', 'healthy-b'];

/**
 * A 5xx the API server gives when etcd is slow (a loaded machine: "etcdserver: request timed
 * out", reason Timeout/ServerTimeout) says nothing about the operator or its CRD; any other 5xx is
 * a finding. The chaos steps' Deployment writes (idempotent: a scale, a finalizer, a delete) are
 * tried again on such an answer, up to three times; everything else is judged at once.
 */
function etcdSlow(err: unknown): boolean {
  return (
    err instanceof KubeApiError &&
    err.status >= 500 &&
    (err.reason === 'Timeout' ||
      err.reason === 'ServerTimeout' ||
      /etcdserver|timed out|timeout/i.test(err.message))
  );
}
async function againIfEtcdSlow<T>(request: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await request();
    } catch (err) {
      if (attempt >= 3 || !etcdSlow(err)) throw err;
      console.log(
        `[fuzz] the API server answered ${(err as KubeApiError).status} (${(err as Error).message}); trying again`,
      );
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
  }
}

describe(`operator fuzz (seed ${seed})`, () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let operator: OperatorProcess | undefined;
  let webhook: Webhook | undefined;
  let nc: NatsConnection;
  // The operator's log, written here when the run ends; kept (and its path printed) unless every
  // invariant held, so a failing seed can be read afterwards.
  let scratch: ScratchDir | undefined;
  let passed = false;
  const logPath = (): string => path.join(scratch?.dir ?? '', 'operator.log');
  /** Deployments held in deletion by FINALIZER: name -> replicas when deleted, and since when. */
  const held = new Map<string, { replicas: number; since: number }>();
  const FINALIZER = 'drills.jetscale.test/hold';
  const deploymentPath = (name: string): string => `/apis/apps/v1/namespaces/${ns.name}/deployments/${name}`;
  const release = (name: string): Promise<unknown> =>
    kubeApi().request('PATCH', deploymentPath(name), { body: { metadata: { finalizers: null } } });

  beforeAll(async () => {
    console.log(`operator fuzz: seed ${seed}, ${objects} objects; replay with ${replay}`);
    await installCrd();
    ns = await createNamespace('op-fuzz');
    scratch = makeScratchDir('jetscale-op-fuzz-');
  });

  afterAll(async () => {
    await operator?.stop();
    if (scratch !== undefined) {
      // FUZZ_KEEP_LOG=1 keeps it from a passing run too (to count what the operator logged).
      if (passed && process.env.FUZZ_KEEP_LOG === undefined) scratch.remove();
      else {
        writeFileSync(logPath(), operator?.output() ?? '(the operator was not started)\n');
        console.log(`operator fuzz: seed ${seed}: the operator's log is kept in ${logPath()}`);
      }
    }
    await webhook?.remove();
    await nc?.close();
    // A run that stopped early must not leave a finalizer holding the namespace's deletion.
    if (ns) {
      const list = await kubeApi()
        .request<{ items?: Array<{ metadata: { name: string; finalizers?: string[] } }> }>(
          'GET',
          `/apis/apps/v1/namespaces/${ns.name}/deployments`,
        )
        .catch(() => ({ items: [] }));
      for (const d of list.items ?? [])
        if (d.metadata.finalizers?.includes(FINALIZER)) await release(d.metadata.name).catch(() => undefined);
    }
    await ns?.cleanup();
    closeKubeApi();
  });

  it('keeps every invariant under random and targeted hostile objects', async () => {
    const rng = seededRng(seed);
    const violations: string[] = [];
    const violate = (what: string): void => {
      if (violations.length < 50) violations.push(what);
    };

    const stream = streamName('FUZZ');
    nc = await connect({ servers: testStack().natsUrl });
    await createStreamAndConsumer(nc, stream, 'worker');
    await publish(nc, stream, 250);
    const ctx: FuzzContext = {
      natsUrl: testStack().natsUrl,
      stream,
      consumer: 'worker',
      targets: ['fuzz-target-0', 'fuzz-target-1', 'fuzz-target-2'],
      owned: HEALTHY,
      secrets: [],
    };
    for (const target of ctx.targets) await createDeployment(ns.name, target, 1);
    // Never named by any object: must stay at 1.
    await createDeployment(ns.name, 'fuzz-untouched', 1);
    for (let i = 0; i < 8; i++) {
      const name = `fuzz-secret-${i}`;
      await kubeApi().request('POST', `/api/v1/namespaces/${ns.name}/secrets`, {
        body: { apiVersion: 'v1', kind: 'Secret', metadata: { name }, data: fuzzSecretData(rng) },
      });
      ctx.secrets.push(name);
    }
    // Admission (see the invariants above), from its own generator so the objects of a seed stay
    // what they were before it existed.
    const admissionRng = seededRng(seed + 1);
    const CAP = 2;
    const capped = new Set(['fuzz-capped']);
    const refusing = new Set(['fuzz-refused']);
    for (let i = 0; i < objects; i++) {
      const r = admissionRng();
      if (r < 0.1) capped.add(`fuzz-own-${i}`);
      else if (r < 0.2) refusing.add(`fuzz-own-${i}`);
    }
    /** The operator's asks beyond the cap, per Deployment (dry runs not counted). */
    const asksBeyondCap = new Map<string, number>();
    webhook = await startWebhook(
      `fuzz-admission-${process.pid}`,
      'Mutating',
      { apiGroup: 'apps', resource: 'deployments/scale', namespace: ns.name },
      (request) => {
        const name = request.name ?? '';
        if (request.options?.fieldManager !== FIELD_MANAGER) return { allowed: true };
        if (refusing.has(name))
          return {
            allowed: false,
            status: {
              code: 403,
              reason: 'Forbidden',
              message: `fuzz: the replicas of ${name} are frozen by policy`,
            },
          };
        if (!capped.has(name) || (request.object?.spec?.replicas ?? 0) <= CAP) return { allowed: true };
        if (request.dryRun !== true) asksBeyondCap.set(name, (asksBeyondCap.get(name) ?? 0) + 1);
        return {
          allowed: true,
          patchType: 'JSONPatch',
          patch: Buffer.from(
            JSON.stringify([{ op: 'replace', path: '/spec/replicas', value: CAP }]),
          ).toString('base64'),
        };
      },
    );
    for (const name of ['fuzz-capped', 'fuzz-refused']) {
      await createDeployment(ns.name, name, 1);
      // In force once the operator's dry-run write of 3 is stored as 2, or refused.
      await eventually(
        `the admission webhook in force on ${name}`,
        () =>
          kubeApi()
            .request<{ spec?: { replicas?: number } }>('PATCH', `${deploymentPath(name)}/scale`, {
              query: { dryRun: 'All', fieldManager: FIELD_MANAGER },
              body: { spec: { replicas: 3 } },
            })
            .then(
              (stored) => (name === 'fuzz-capped' && stored.spec?.replicas === CAP ? true : undefined),
              (err: unknown) =>
                name === 'fuzz-refused' && err instanceof KubeApiError && err.status === 403
                  ? true
                  : undefined,
            ),
        30_000,
        250,
      );
      // 250 pending at 50 per replica: 5 asked for.
      await createEventConsumer({
        namespace: ns.name,
        name,
        target: name,
        servers: [testStack().natsUrl],
        stream,
        consumer: 'worker',
        extra: { pollInterval: '1s', backlogPerReplica: 50, maxReplicas: 10 },
      });
    }
    const admissionFrom = Date.now();

    for (const name of HEALTHY) {
      await createDeployment(ns.name, name, 1);
      await createEventConsumer({
        namespace: ns.name,
        name,
        target: name,
        servers: [testStack().natsUrl],
        stream,
        consumer: 'worker',
        extra: { pollInterval: '1s' },
      });
    }

    operator = spawnOperator('fuzz', {
      JETSCALE_NAMESPACES: ns.name,
      JETSCALE_LEADER_ELECTION: 'false',
      JETSCALE_WORKERS: '8',
    });
    const port = await startedMetricsPort(operator);
    const metrics = async (): Promise<string> => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    // 250 messages at 100 per replica: 3 replicas each, and they must stay there.
    for (const name of HEALTHY)
      await eventually(
        `${name} at 3 replicas`,
        async () => ((await specReplicas(ns.name, name)) === 3 ? true : undefined),
        60_000,
        250,
      );

    // Watch the healthy ones, and every Deployment against its owner's bounds, for the whole run.
    // The operator reads the spec a moment after an edit: a bound broken for longer than two poll
    // intervals (+5 s) against the same generation of the spec counts. A Deployment recreated or
    // scaled by hand is noticed when its owner reads it again, which an idle EventConsumer does
    // every target refresh (15 s, spread up to 1.5x: 22.5 s): it is judged again 30 s after that.
    let watching = true;
    const touched = new Map<string, number>();
    const NOT_OWNING = new Set([
      'TargetConflict',
      'InvalidSpec',
      'TargetNotFound',
      'TargetDeleting',
      'TargetForbidden',
      'TargetNotScalable',
      'TargetReplicasUnset',
      // Its requests are not answered in time (kube/slow-requests.ts): it can neither read nor
      // write the target, so it cannot hold it within bounds. (Seeds 23002 at load 35-40 on 2 cores:
      // Deployments read TargetSlow for 9-15 s and were judged as owned.)
      'TargetSlow',
      // Held by someone else's rule (the admission webhook): not within its bounds by design.
      'ScaleRefused',
      'ScaleAdjusted',
    ]);
    const overSince = new Map<string, number>();
    const reported = new Set<string>();
    const checkBounds = async (): Promise<void> => {
      const [deployments, ecs] = await Promise.all([
        kubeApi().request<{
          items: Array<{
            metadata: { name: string; deletionTimestamp?: string };
            spec?: { replicas?: number };
          }>;
        }>('GET', `/apis/apps/v1/namespaces/${ns.name}/deployments`),
        kubeApi().request<{
          items: Array<{
            metadata: { name: string; generation?: number };
            spec: {
              scaleTargetRef?: { name?: string; kind?: string; apiVersion?: string };
              minReplicas?: number;
              maxReplicas?: number;
              paused?: boolean;
              pausedReplicas?: number;
              pollInterval?: string;
            };
            status?: EventConsumerStatus;
          }>;
        }>('GET', eventConsumersPath(ns.name)),
      ]);
      const replicas = new Map(deployments.items.map((d) => [d.metadata.name, d.spec?.replicas ?? 0]));
      for (const d of deployments.items) {
        const was = held.get(d.metadata.name);
        const has = d.spec?.replicas ?? 0;
        const key = `deleting ${d.metadata.name}`;
        if (
          d.metadata.deletionTimestamp !== undefined &&
          was !== undefined &&
          has !== was.replicas &&
          !reported.has(key)
        ) {
          reported.add(key);
          violate(`${d.metadata.name} was scaled from ${was.replicas} to ${has} while being deleted`);
        }
      }
      if ((replicas.get('fuzz-untouched') ?? 1) !== 1)
        violate(`fuzz-untouched, named by no EventConsumer, was scaled to ${replicas.get('fuzz-untouched')}`);
      if ((replicas.get('fuzz-refused') ?? 1) !== 1 && !reported.has('fuzz-refused')) {
        reported.add('fuzz-refused');
        violate(
          `fuzz-refused, whose scale writes admission refuses, has ${replicas.get('fuzz-refused')} replicas`,
        );
      }
      for (const name of capped) {
        const has = replicas.get(name) ?? 0;
        if (has > CAP && !touched.has(name) && !held.has(name) && !reported.has(`cap ${name}`)) {
          reported.add(`cap ${name}`);
          violate(`${name}, capped at ${CAP} by admission, has ${has} replicas`);
        }
      }
      const now = Date.now();
      const over = new Set<string>();
      for (const ec of ecs.items) {
        const ref = ec.spec.scaleTargetRef;
        if (ref?.name === undefined || (ref.kind ?? 'Deployment') !== 'Deployment') continue;
        if ((ref.apiVersion ?? 'apps/v1') !== 'apps/v1') continue;
        const ready = condition(ec.status ?? {}, 'Ready');
        if (ready === undefined || NOT_OWNING.has(ready.reason)) continue;
        if (ec.spec.paused === true || ec.spec.pausedReplicas !== undefined) continue;
        // The status says only that the operator judged this generation, so judge only then.
        if (ec.status?.observedGeneration !== ec.metadata.generation) continue;
        if (now - (touched.get(ref.name) ?? -Infinity) < 30_000) continue;
        const has = replicas.get(ref.name);
        const max = Math.max(1, ec.spec.maxReplicas ?? 0);
        const min = Math.min(ec.spec.minReplicas ?? 0, max);
        if (has === undefined || (has <= max && (has === 0 || has >= min))) continue;
        const key = `${ec.metadata.name}@${ec.metadata.generation}`;
        over.add(key);
        const since = overSince.get(key) ?? now;
        overSince.set(key, since);
        const graceMs = (2 * (parseDurationSeconds(ec.spec.pollInterval ?? '5s') ?? 5) + 5) * 1000;
        if (now - since > graceMs && !reported.has(key)) {
          reported.add(key);
          violate(
            `${ref.name} has had ${has} replicas for ${Math.round((now - since) / 1000)}s, outside minReplicas ${min}..maxReplicas ${max} of ${ec.metadata.name} (Ready ${ready.status} ${ready.reason}, generation ${ec.metadata.generation})`,
          );
        }
      }
      for (const key of overSince.keys()) if (!over.has(key)) overSince.delete(key);
    };
    const watcher = (async () => {
      while (watching) {
        for (const name of HEALTHY) {
          const replicas = await specReplicas(ns.name, name).catch(() => undefined);
          if (replicas !== undefined && replicas !== 3) violate(`${name} moved to ${replicas} replicas`);
        }
        await checkBounds().catch(() => undefined);
        await sleep(1000);
      }
    })();

    const accepted: string[] = [];
    const refusedCodes = new Map<number, number>();
    for (let i = 0; i < objects; i++) {
      const name = `fuzz-${i}`;
      const own = `fuzz-own-${i}`;
      await createDeployment(ns.name, own, 1);
      const spec = fuzzSpec(rng, { ...ctx, own });
      try {
        await kubeApi().request('POST', eventConsumersPath(ns.name), {
          body: { apiVersion: 'jetscale.io/v1alpha1', kind: 'EventConsumer', metadata: { name }, spec },
        });
        accepted.push(name);
      } catch (err) {
        if (!(err instanceof KubeApiError)) throw err;
        refusedCodes.set(err.status, (refusedCodes.get(err.status) ?? 0) + 1);
        if (err.status >= 500)
          violate(`${name}: the API server answered ${err.status} ${err.reason}: ${err.message}`);
      }
      // Now and then one goes away again, exercising the operator's forget path.
      if (accepted.length > 0 && rng() < 0.1) {
        const gone = accepted.splice(Math.floor(rng() * accepted.length), 1)[0];
        if (gone !== undefined)
          await kubeApi()
            .request('DELETE', `${eventConsumersPath(ns.name)}/${gone}`)
            .catch(() => undefined);
      }
    }

    // Tenants edit what they created: a quarter of the objects get one or two changed fields (a
    // merge patch, as `kubectl apply` / `kubectl edit` send), each possibly into another tenant's
    // Deployment.
    let edited = 0;
    for (let i = 0; i < Math.ceil(objects / 4) && accepted.length > 0; i++) {
      const name = accepted[Math.floor(rng() * accepted.length)] ?? '';
      const edit = fuzzEdit(rng, { ...ctx, own: `fuzz-own-${Math.floor(rng() * objects)}` });
      try {
        await kubeApi().request('PATCH', `${eventConsumersPath(ns.name)}/${name}`, { body: { spec: edit } });
        edited++;
      } catch (err) {
        if (!(err instanceof KubeApiError)) throw err;
        refusedCodes.set(err.status, (refusedCodes.get(err.status) ?? 0) + 1);
        if (err.status >= 500)
          violate(`editing ${name}: the API server answered ${err.status} ${err.reason}: ${err.message}`);
      }
    }

    /** The own Deployment of the first accepted EventConsumer that scales it (Ready Scaling). */
    const scaledTarget = async (names: string[]): Promise<string | undefined> => {
      for (const name of names) {
        const ec = await kubeApi()
          .request<{ spec?: { scaleTargetRef?: { name?: string } }; status?: EventConsumerStatus }>(
            'GET',
            `${eventConsumersPath(ns.name)}/${name}`,
          )
          .catch(() => undefined);
        const target = ec?.spec?.scaleTargetRef?.name;
        if (target?.startsWith('fuzz-own-') && condition(ec?.status ?? {}, 'Ready')?.reason === 'Scaling')
          return target;
      }
      return undefined;
    };

    // What else happens to tenants' objects meanwhile (fuzzChaos).
    const chaos = Math.ceil(objects / 10);
    const chaosDone = new Map<string, number>();
    for (let i = 0; i < chaos; i++) {
      const own = `fuzz-own-${Math.floor(rng() * objects)}`;
      // The first is always a held deletion, of a Deployment an EventConsumer scales (Ready
      // Scaling), set to 40 by hand first: an owner that scales a Deployment being deleted
      // would change that.
      const action: FuzzChaos =
        i === 0
          ? { kind: 'holdDeletion', name: (await scaledTarget(accepted)) ?? own, replicas: 40 }
          : fuzzChaos(rng, { ...ctx, own });
      chaosDone.set(action.kind, (chaosDone.get(action.kind) ?? 0) + 1);
      const deployments = `/apis/apps/v1/namespaces/${ns.name}/deployments`;
      try {
        if (
          (action.kind === 'recreateDeployment' || action.kind === 'scaleDeployment') &&
          held.has(action.name)
        )
          continue; // being deleted: neither recreated nor scaled by hand meanwhile
        if (action.kind === 'recreateDeployment') {
          touched.set(action.name, Date.now() + 60_000);
          await kubeApi().request('DELETE', `${deployments}/${action.name}`);
          await eventually(`${action.name} recreated`, async () =>
            createDeployment(ns.name, action.name, action.replicas).then(
              () => true,
              () => undefined,
            ),
          );
          touched.set(action.name, Date.now());
        } else if (action.kind === 'holdDeletion') {
          if (held.has(action.name)) continue;
          // Not judged against its owner's bounds while held (its replicas are frozen), nor for
          // 30 s after it is recreated.
          touched.set(action.name, Infinity);
          await againIfEtcdSlow(() =>
            kubeApi().request('PATCH', `${deploymentPath(action.name)}/scale`, {
              body: { spec: { replicas: action.replicas } },
              query: { fieldManager: 'kubectl' },
            }),
          );
          await againIfEtcdSlow(() =>
            kubeApi().request('PATCH', deploymentPath(action.name), {
              body: { metadata: { finalizers: [FINALIZER] } },
            }),
          );
          // The DELETE answers with the object as deleted: its replicas then are the ones to keep.
          const d = await againIfEtcdSlow(() =>
            kubeApi().request<{ spec?: { replicas?: number } }>('DELETE', deploymentPath(action.name)),
          );
          held.set(action.name, { replicas: d.spec?.replicas ?? 0, since: Date.now() });
        } else if (action.kind === 'scaleDeployment') {
          touched.set(action.name, Date.now() + 60_000);
          await againIfEtcdSlow(() =>
            kubeApi().request('PATCH', `${deployments}/${action.name}/scale`, {
              body: { spec: { replicas: action.replicas } },
              query: { fieldManager: 'kubectl' },
            }),
          );
          touched.set(action.name, Date.now());
        } else {
          const name = accepted[Math.floor(rng() * accepted.length)];
          if (name === undefined) continue;
          await kubeApi().request('DELETE', `${eventConsumersPath(ns.name)}/${name}`);
          await eventually(`${name} recreated`, async () =>
            kubeApi()
              .request('POST', eventConsumersPath(ns.name), {
                body: {
                  apiVersion: 'jetscale.io/v1alpha1',
                  kind: 'EventConsumer',
                  metadata: { name },
                  spec: action.spec,
                },
              })
              .then(
                () => true,
                (err: unknown) => {
                  // Refused by the API server's validation: this one stays deleted.
                  if (err instanceof KubeApiError && err.status === 422) {
                    accepted.splice(accepted.indexOf(name), 1);
                    return true;
                  }
                  if (err instanceof KubeApiError && err.status >= 500)
                    violate(
                      `recreating ${name}: the API server answered ${err.status} ${err.reason}: ${err.message}`,
                    );
                  return undefined;
                },
              ),
          );
        }
      } catch (err) {
        if (!(err instanceof KubeApiError)) throw err;
        if (err.status >= 500)
          violate(`${action.kind}: the API server answered ${err.status} ${err.reason}: ${err.message}`);
      }
    }

    const ready = (s: EventConsumerStatus): boolean => {
      const c = condition(s, 'Ready');
      return c !== undefined && c.reason.length > 0 && (c.status === 'True' || c.status === 'False');
    };
    const missing = await eventually(
      'a Ready condition with a reason on every accepted fuzz object',
      async () => {
        const list = await kubeApi().request<{
          items: Array<{ metadata: { name: string }; status?: EventConsumerStatus }>;
        }>('GET', eventConsumersPath(ns.name));
        const without = list.items.filter(
          (ec) => accepted.includes(ec.metadata.name) && !ready(ec.status ?? {}),
        );
        return without.length === 0 ? [] : undefined;
      },
      120_000,
      1000,
    ).catch(() => ['(timed out)']);
    if (missing.length > 0) {
      for (const name of accepted) {
        const s = await eventConsumerStatus(ns.name, name).catch(() => undefined);
        if (s !== undefined && !ready(s)) violate(`${name} has no Ready condition with a reason`);
      }
    }

    // The held Deployments: at least 25 s with a deletionTimestamp (an idle EventConsumer reads
    // its target every 15-22.5 s), then gone and recreated.
    for (const [name, { since }] of held) {
      await sleep(Math.max(0, since + 25_000 - Date.now()));
      await release(name);
      await eventually(`${name} gone`, async () =>
        kubeApi()
          .request('GET', deploymentPath(name))
          .then(
            () => undefined,
            (err: unknown) => (err instanceof KubeApiError && err.status === 404 ? true : undefined),
          ),
      );
      held.delete(name);
      await createDeployment(ns.name, name, 1);
      touched.set(name, Date.now());
    }

    // A little longer under the fuzz objects' polls before judging: past the 30 s in which a
    // Deployment touched by the chaos is not judged, and its grace.
    await sleep(chaos > 0 ? 45_000 : 10_000);
    watching = false;
    await watcher;

    // Nor stalled: with every fuzz object polling, more work for the healthy ones is answered at
    // their next polls (1 s). 250 more messages: 5 replicas each.
    await publish(nc, stream, 250);
    for (const name of HEALTHY) {
      const followed = await eventually(
        `${name} at 5 replicas`,
        async () => ((await specReplicas(ns.name, name)) === 5 ? true : undefined),
        60_000,
        250,
      ).catch(() => false);
      if (!followed)
        violate(
          `${name} did not follow its backlog from 3 to 5 replicas within 60 s while the fuzz objects polled (stalled); it has ${await specReplicas(ns.name, name)}`,
        );
    }

    const text = await metrics();
    const disconnects = sampleSum(text, 'jetscale_nats_connection_events_total', { type: 'disconnect' });
    const reconcileFailures = sampleSum(text, 'jetscale_errors_total', { reason: 'ReconcileFailed' });
    // A reconcile may fail on a slow API server (timeouts, 5xx, 429) and is retried; anything else
    // (a 422 status write, an exception from hostile input) is a defect.
    const failedReconciles = operator
      .output()
      .split('\n')
      .filter((l) => l.includes('reconcile failed'));
    const transient =
      /timeout|timed out|ECONNRESET|ECONNREFUSED|socket hang up|HTTP ?5\d\d|\b5\d\d\b|429|too many requests/i;
    const defects = failedReconciles.filter((l) => !transient.test(l));
    if (disconnects > 0) {
      // Which connection dropped and why (connection-pool.ts logs each disconnect with its cause
      // and the EventConsumers sharing it).
      const causes = new Map<string, number>();
      for (const line of operator.output().split('\n')) {
        if (!line.includes('"NATS connection disconnect"')) continue;
        let entry: { cause?: string; owners?: number; ownersSample?: string[] } = {};
        try {
          entry = JSON.parse(line) as typeof entry;
        } catch {
          // not a JSON log line
        }
        const what = `${entry.cause ?? '(no cause logged)'}; ${entry.owners ?? '?'} EventConsumers on it, e.g. ${(entry.ownersSample ?? []).join(', ')}`;
        causes.set(what, (causes.get(what) ?? 0) + 1);
      }
      violate(
        `the operator's NATS connections were disconnected ${disconnects} times: ${[...causes].map(([what, n]) => `${n}x ${what}`).join(' | ')}`,
      );
    }
    if (defects.length > 0) violate(`${defects.length} reconciles failed (of ${reconcileFailures} in all)`);
    if (operator.child.exitCode !== null) violate(`the operator exited with ${operator.child.exitCode}`);
    for (const name of HEALTHY) {
      const s = await eventConsumerStatus(ns.name, name);
      if (condition(s, 'Ready')?.status !== 'True')
        violate(`${name} is not Ready: ${condition(s, 'Ready')?.message}`);
    }
    // Admission: the limit learnt, not asked again at every poll; owners say what holds them.
    const runSeconds = (Date.now() - admissionFrom) / 1000;
    const resets = edited + chaos + 2;
    for (const [name, n] of asksBeyondCap) {
      const bound = 2 + Math.ceil(runSeconds / 10) + (name === 'fuzz-capped' ? 0 : resets);
      if (n > bound)
        violate(
          `${name} was asked beyond its cap of ${CAP} ${n} times in ${Math.round(runSeconds)} s (at most ${bound})`,
        );
    }
    const cappedReady = condition(await eventConsumerStatus(ns.name, 'fuzz-capped'), 'Ready');
    if (
      cappedReady?.reason !== 'ScaleAdjusted' ||
      !cappedReady.message.includes(`spec.maxReplicas to ${CAP}`)
    )
      violate(
        `fuzz-capped does not say ScaleAdjusted naming maxReplicas ${CAP}: ${cappedReady?.reason} ${cappedReady?.message}`,
      );
    const refusedReady = condition(await eventConsumerStatus(ns.name, 'fuzz-refused'), 'Ready');
    if (refusedReady?.reason !== 'ScaleRefused')
      violate(`fuzz-refused does not say ScaleRefused: ${refusedReady?.reason} ${refusedReady?.message}`);

    const reasons = new Map<string, number>();
    for (const name of accepted) {
      const reason =
        condition(await eventConsumerStatus(ns.name, name).catch(() => ({})), 'Ready')?.reason ?? '-';
      reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
    }
    console.log(
      `operator fuzz: seed ${seed}: ${accepted.length} accepted, ${edited} edits accepted, chaos ${JSON.stringify(Object.fromEntries(chaosDone))} (Ready reasons ${JSON.stringify(Object.fromEntries(reasons))}), refused ${JSON.stringify(Object.fromEntries(refusedCodes))}, admission: ${capped.size} capped, ${refusing.size} refused, asks beyond the cap ${JSON.stringify(Object.fromEntries(asksBeyondCap))} in ${Math.round(runSeconds)} s, ${violations.length} violations`,
    );
    if (violations.length > 0) {
      const shown = defects.slice(0, 5).map((l) => l.slice(0, 500));
      throw new Error(
        `fuzz invariants broken (replay: ${replay}; the operator's log: ${logPath()}):\n  - ${violations.join('\n  - ')}\n${shown.join('\n')}`,
      );
    }
    passed = true;
  }, 900_000);
});
