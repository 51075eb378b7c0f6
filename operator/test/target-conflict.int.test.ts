// Two controllers on one target fight: each undoes the other's change at every poll (2, 5, 2,
// 5, … on the previous operator, both Ready=True). On the real stack: of two EventConsumers on
// one Deployment the older keeps it and the younger reports TargetConflict naming it and never
// writes; renaming scaleTargetRef makes the conflict appear and disappear; an autoscaling/v2 HPA
// or (when its CRD exists) a KEDA ScaledObject on the target makes the EventConsumer yield, and so
// does a ReplicaSet's controller (its Deployment).
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { crdEstablished } from '../../hack/stack/crd-established.js';
import { createNamespace, eventually, testStack } from '../../test/env.js';
import { eventConsumerPath } from '../src/api/v1alpha1/group-version.js';
import { KubeApiError } from '../src/kube/api-client.js';
import type { RunningOperator } from '../src/run-operator.js';
import {
  closeKubeApi,
  condition,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  eventConsumerStatus,
  eventsFor,
  installCrd,
  kubeApi,
  publish,
  sleep,
  specReplicas,
  startInProcessOperator,
  streamName,
} from './harness.js';

describe('one writer per scale target', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let nc: NatsConnection;
  let operator: RunningOperator | undefined;
  let stream: string;
  let kedaCrdInstalled = false;

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-conflict');
    nc = await connect({ servers: testStack().natsUrl });
    stream = streamName('conflict');
    await createStreamAndConsumer(nc, stream, 'worker');
  });

  afterAll(async () => {
    await operator?.stop();
    if (kedaCrdInstalled) {
      // Waited out: a later file must not find it still terminating (nor its operator see KEDA).
      const crd = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/scaledobjects.keda.sh';
      await kubeApi()
        .request('DELETE', crd)
        .catch(() => undefined);
      await eventually('the KEDA stand-in CRD gone', () =>
        kubeApi()
          .request('GET', crd)
          .then(
            () => undefined,
            (err: unknown) => (err instanceof KubeApiError && err.status === 404 ? true : undefined),
          ),
      );
    }
    await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
    await nc?.close();
    await ns?.cleanup();
    closeKubeApi();
  });

  const fixture = (name: string, target: string, backlogPerReplica: number) => ({
    namespace: ns.name,
    name,
    target,
    servers: [testStack().natsUrl],
    stream,
    consumer: 'worker',
    extra: {
      pollInterval: '1s',
      backlogPerReplica,
      maxReplicas: 20,
      behavior: {
        scaleDown: { stabilizationWindow: '1s', policies: [{ type: 'Percent', value: 100, period: '1s' }] },
      },
    },
  });

  async function patchTarget(name: string, target: string): Promise<void> {
    await kubeApi().request('PATCH', eventConsumerPath(ns.name, name), {
      body: { spec: { scaleTargetRef: { name: target } } },
    });
  }

  it('the older EventConsumer keeps the target, the younger yields and says to whom; renames move the conflict', async () => {
    await createDeployment(ns.name, 'worker', 1);
    await createDeployment(ns.name, 'other', 1);
    await publish(nc, stream, 1000);
    // first wants 1000/500 = 2 replicas, second 1000/200 = 5.
    await createEventConsumer(fixture('first', 'worker', 500));
    await sleep(1100); // creationTimestamp has one-second resolution: make "first" plainly older
    await createEventConsumer(fixture('second', 'worker', 200));
    operator = await startInProcessOperator(ns.name);

    const yielding = await eventually(
      'second to report TargetConflict',
      async () => {
        const s = await eventConsumerStatus(ns.name, 'second');
        return condition(s, 'Ready')?.reason === 'TargetConflict' ? s : undefined;
      },
      15_000,
    );
    expect(condition(yielding, 'Ready')?.status).toBe('False');
    expect(condition(yielding, 'Ready')?.message).toContain(`EventConsumer ${ns.name}/first`);
    // Watch ten polls once first has scaled (second may say it yields before first's first poll
    // has landed, on a loaded machine: seen 1 then 2): the Deployment stays at what first asks
    // for; on the previous operator it went 2, 5, 2, 5 …
    await eventually(
      'first to scale worker to 2',
      async () => ((await specReplicas(ns.name, 'worker')) === 2 ? true : undefined),
      15_000,
    );
    const seen = new Set<number>();
    for (let i = 0; i < 20; i++) {
      seen.add(await specReplicas(ns.name, 'worker'));
      await sleep(500);
    }
    expect([...seen]).toEqual([2]);
    expect(condition(await eventConsumerStatus(ns.name, 'first'), 'Ready')?.status).toBe('True');
    const secondEvents = await eventually(
      'a TargetConflict Event on second',
      async () => {
        const events = await eventsFor(ns.name, 'second');
        return events.some((e) => e.reason === 'TargetConflict') ? events : undefined;
      },
      10_000,
    );
    expect(secondEvents.filter((e) => e.reason === 'Scaled')).toEqual([]);

    // Rename second's target away: the conflict is gone, second scales its own Deployment.
    await patchTarget('second', 'other');
    await eventually(
      'second to scale other to 5',
      async () => ((await specReplicas(ns.name, 'other')) === 5 ? true : undefined),
      15_000,
    );
    // The status follows the scale (written after it, under the status writer's budget): waited for,
    // not read at once (it once still said TargetConflict here).
    await eventually(
      'second to say Ready once it scales its own Deployment',
      async () =>
        condition(await eventConsumerStatus(ns.name, 'second'), 'Ready')?.status === 'True'
          ? true
          : undefined,
      15_000,
    );

    // Rename first onto other: second is younger but already there — first is older, so it now
    // owns other and second yields again.
    await patchTarget('first', 'other');
    await eventually(
      'second to yield other to first',
      async () => {
        const s = await eventConsumerStatus(ns.name, 'second');
        return condition(s, 'Ready')?.reason === 'TargetConflict' ? true : undefined;
      },
      15_000,
    );
    await eventually(
      'first to bring other to 2',
      async () => ((await specReplicas(ns.name, 'other')) === 2 ? true : undefined),
      15_000,
    );
  });

  it('an invalid spec on the older EventConsumer hands nothing to the younger: no rescale by another policy', async () => {
    // The CRD refuses what the operator refuses, but not every CRD in a cluster is the one the
    // operator ships (Helm never upgrades CRDs): an older, looser one is played here by removing
    // backlogPerReplica's minimum, so the API server stores the 0 the operator refuses. Before,
    // the younger EventConsumer took the target over at once (2 -> 5 here) until the older one was
    // fixed, and then gave it back (5 -> 2).
    const own = streamName('typo');
    await createStreamAndConsumer(nc, own, 'worker');
    const crd = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/eventconsumers.jetscale.io';
    try {
      await publish(nc, own, 1000);
      await createDeployment(ns.name, 'typo', 1);
      // keeper wants 1000/500 = 2 replicas, eager 1000/200 = 5.
      await createEventConsumer({ ...fixture('keeper', 'typo', 500), stream: own });
      await sleep(1100); // creationTimestamp has one-second resolution
      await createEventConsumer({ ...fixture('eager', 'typo', 200), stream: own });
      operator ??= await startInProcessOperator(ns.name);
      await eventually(
        'keeper to scale typo to 2 and eager to yield',
        async () =>
          (await specReplicas(ns.name, 'typo')) === 2 &&
          condition(await eventConsumerStatus(ns.name, 'eager'), 'Ready')?.reason === 'TargetConflict'
            ? true
            : undefined,
        20_000,
      );

      await kubeApi().request('PATCH', crd, {
        contentType: 'application/json-patch+json',
        body: [
          {
            op: 'remove',
            path: '/spec/versions/0/schema/openAPIV3Schema/properties/spec/properties/backlogPerReplica/minimum',
          },
        ],
      });
      // The API server takes the looser schema a moment later: until then the 0 is refused (422).
      await eventually('the typo stored', () =>
        kubeApi()
          .request('PATCH', eventConsumerPath(ns.name, 'keeper'), {
            body: { spec: { backlogPerReplica: 0 } },
          })
          .then(
            () => true,
            (err: unknown) => {
              if (err instanceof KubeApiError && err.status === 422) return undefined;
              throw err;
            },
          ),
      );
      await eventually(
        'keeper to report InvalidSpec',
        async () =>
          condition(await eventConsumerStatus(ns.name, 'keeper'), 'Ready')?.reason === 'InvalidSpec'
            ? true
            : undefined,
        15_000,
      );
      // Ten polls of eager (pollInterval 1s): it keeps yielding, and says whose spec to fix.
      const seen = new Set<number>();
      for (let i = 0; i < 20; i++) {
        seen.add(await specReplicas(ns.name, 'typo'));
        await sleep(500);
      }
      expect([...seen]).toEqual([2]);
      expect(condition(await eventConsumerStatus(ns.name, 'eager'), 'Ready')).toMatchObject({
        status: 'False',
        reason: 'TargetConflict',
      });
      // The new message is in eager's Warning Event, and in its Ready condition: the reason stays
      // TargetConflict, but what the message says changed, which is written at the next poll
      // (report.ts MESSAGE_IS_STATE; before, it waited for the 2-min rates cadence).
      const said = `EventConsumer ${ns.name}/keeper, which is older (created `;
      const invalid = 'and keeps it, but its spec is invalid';
      const events = await eventsFor(ns.name, 'eager');
      expect(
        events.filter(
          (e) => e.reason === 'TargetConflict' && e.message?.includes(said) && e.message.includes(invalid),
        ),
      ).not.toEqual([]);
      expect(condition(await eventConsumerStatus(ns.name, 'eager'), 'Ready')?.message).toContain(said);
      expect(condition(await eventConsumerStatus(ns.name, 'eager'), 'Ready')?.message).toContain(invalid);

      // Fixed, keeper scales typo again, still with its own policy.
      await kubeApi().request('PATCH', eventConsumerPath(ns.name, 'keeper'), {
        body: { spec: { backlogPerReplica: 500 } },
      });
      await eventually(
        'keeper Ready again',
        async () =>
          condition(await eventConsumerStatus(ns.name, 'keeper'), 'Ready')?.status === 'True'
            ? true
            : undefined,
        15_000,
      );
      expect(await specReplicas(ns.name, 'typo')).toBe(2);
      expect((await eventsFor(ns.name, 'eager')).filter((e) => e.reason === 'Scaled')).toEqual([]);
    } finally {
      await installCrd(); // the CRD as shipped (server-side apply puts the minimum back)
      await (await jetstreamManager(nc)).streams.delete(own).catch(() => undefined);
    }
  });

  it('an EventConsumer yields to an autoscaling/v2 HPA on its target, and resumes when it is gone', async () => {
    await createDeployment(ns.name, 'web', 3);
    await createEventConsumer(fixture('web', 'web', 100));
    await eventually(
      'web to scale to 10',
      async () => ((await specReplicas(ns.name, 'web')) === 10 ? true : undefined),
      15_000,
    );
    const hpaPath = `/apis/autoscaling/v2/namespaces/${ns.name}/horizontalpodautoscalers`;
    await kubeApi().request('POST', hpaPath, {
      body: {
        apiVersion: 'autoscaling/v2',
        kind: 'HorizontalPodAutoscaler',
        metadata: { name: 'web-cpu' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' },
          minReplicas: 1,
          maxReplicas: 20,
          metrics: [
            {
              type: 'Resource',
              resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
            },
          ],
        },
      },
    });
    const status = await eventually(
      'web to yield to the HPA',
      async () => {
        const s = await eventConsumerStatus(ns.name, 'web');
        return condition(s, 'Ready')?.reason === 'TargetConflict' ? s : undefined;
      },
      20_000,
    );
    expect(condition(status, 'Ready')?.message).toContain(`HorizontalPodAutoscaler ${ns.name}/web-cpu`);
    await kubeApi().request('DELETE', `${hpaPath}/web-cpu`);
    await eventually(
      'web to resume',
      async () =>
        condition(await eventConsumerStatus(ns.name, 'web'), 'Ready')?.status === 'True' ? true : undefined,
      20_000,
    );
  });

  it('an EventConsumer on a ReplicaSet its Deployment manages yields it, naming the Deployment', async () => {
    // scaleTargetRef copied from `kubectl get rs`: the Deployment controller sets the ReplicaSet's
    // replicas back from the Deployment at once, and each poll wrote them again (1 -> 5 -> 1 -> 5:
    // pods started and stopped at every poll). Now nothing is written and Ready names the owner.
    await createDeployment(ns.name, 'owned', 1);
    type ReplicaSets = {
      items: Array<{
        metadata: { name: string; ownerReferences?: Array<{ name?: string; controller?: boolean }> };
        spec?: { replicas?: number };
      }>;
    };
    const setsPath = `/apis/apps/v1/namespaces/${ns.name}/replicasets`;
    const replicaSet = async () =>
      (await kubeApi().request<ReplicaSets>('GET', setsPath)).items.find((r) =>
        r.metadata.ownerReferences?.some((o) => o.name === 'owned' && o.controller === true),
      );
    const rs = await eventually('the Deployment controller to create its ReplicaSet', replicaSet, 20_000);
    await createEventConsumer({
      ...fixture('on-rs', rs.metadata.name, 100),
      extra: {
        ...fixture('on-rs', rs.metadata.name, 100).extra,
        scaleTargetRef: { kind: 'ReplicaSet', name: rs.metadata.name },
      },
    });
    const status = await eventually(
      'on-rs to yield the ReplicaSet to its Deployment',
      async () => {
        const s = await eventConsumerStatus(ns.name, 'on-rs');
        return condition(s, 'Ready')?.reason === 'TargetConflict' ? s : undefined;
      },
      20_000,
    );
    expect(condition(status, 'Ready')?.message).toContain('managed by Deployment owned (apps/v1)');
    // Ten polls later: never written (the backlog asks for 10).
    await sleep(10_000);
    expect((await replicaSet())?.spec?.replicas).toBe(1);
    expect(await specReplicas(ns.name, 'owned')).toBe(1);
    const scaled = (await eventsFor(ns.name, 'on-rs')).filter((e) => e.reason === 'Scaled');
    expect(scaled).toEqual([]);
  });

  it('an EventConsumer yields to a KEDA ScaledObject once the CRD exists', async () => {
    // Discovery is cached per operator: install the CRD, then start a fresh operator.
    await operator?.stop();
    operator = undefined;
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: 'scaledobjects.keda.sh' },
      spec: {
        group: 'keda.sh',
        names: {
          kind: 'ScaledObject',
          listKind: 'ScaledObjectList',
          plural: 'scaledobjects',
          singular: 'scaledobject',
        },
        scope: 'Namespaced',
        versions: [
          {
            name: 'v1alpha1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    };
    // migrate.int.test.ts installs the same stand-in (and removes it): a stack reused from an
    // interrupted run may still have it, so an existing one is used; only the one made here is
    // removed here.
    await kubeApi()
      .request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd })
      .then(
        () => (kedaCrdInstalled = true),
        (err: unknown) => {
          if (!(err instanceof KubeApiError && err.status === 409)) throw err;
        },
      );
    await crdEstablished(testStack().kubeconfigPath, 'scaledobjects.keda.sh', 30_000);
    await createDeployment(ns.name, 'queue', 1);
    await kubeApi().request('POST', `/apis/keda.sh/v1alpha1/namespaces/${ns.name}/scaledobjects`, {
      body: {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'queue-keda' },
        // KEDA's defaults: apiVersion apps/v1, kind Deployment.
        spec: { scaleTargetRef: { name: 'queue' }, triggers: [] },
      },
    });
    // Written out empty (a template's default): KEDA takes "" as not set, so the same defaults.
    // Before, "" read as the core API group and kind "", and the EventConsumer went on scaling
    // the Deployment the ScaledObject scales.
    await createDeployment(ns.name, 'queue-empty', 1);
    await kubeApi().request('POST', `/apis/keda.sh/v1alpha1/namespaces/${ns.name}/scaledobjects`, {
      body: {
        apiVersion: 'keda.sh/v1alpha1',
        kind: 'ScaledObject',
        metadata: { name: 'queue-empty-keda' },
        spec: { scaleTargetRef: { apiVersion: '', kind: '', name: 'queue-empty' }, triggers: [] },
      },
    });
    await createEventConsumer(fixture('queue', 'queue', 100));
    await createEventConsumer(fixture('queue-empty', 'queue-empty', 100));
    operator = await startInProcessOperator(ns.name);
    const status = await eventually(
      'queue to yield to the ScaledObject',
      async () => {
        const s = await eventConsumerStatus(ns.name, 'queue');
        return condition(s, 'Ready')?.reason === 'TargetConflict' ? s : undefined;
      },
      20_000,
    );
    expect(condition(status, 'Ready')?.message).toContain(`ScaledObject ${ns.name}/queue-keda`);
    expect(await specReplicas(ns.name, 'queue')).toBe(1);
    const empty = await eventually(
      'queue-empty to yield to the ScaledObject with empty apiVersion and kind',
      async () => {
        const s = await eventConsumerStatus(ns.name, 'queue-empty');
        return condition(s, 'Ready')?.reason === 'TargetConflict' ? s : undefined;
      },
      20_000,
    );
    expect(condition(empty, 'Ready')?.message).toContain(`ScaledObject ${ns.name}/queue-empty-keda`);
    expect(await specReplicas(ns.name, 'queue-empty')).toBe(1);
  });
});
