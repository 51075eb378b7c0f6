// The CRD refuses what the operator refuses: each hostile spec of hostile-specs.ts is sent to the
// real API server (server-side dry run, so nothing is stored) and must be answered 422 Invalid,
// and each unusual but legitimate one must be accepted. The API server checks patterns with Go's
// regexp and counts lengths in code points, so this is the test that the CRD's patterns and
// bounds mean there what they mean in the operator's zod schema.
import { eventConsumerPath, eventConsumersPath } from '../src/api/v1alpha1/group-version.js';
import { parseEventConsumerSpec } from '../src/api/v1alpha1/event-consumer.js';
import { acceptedSpecs, refusedSpecs } from '../src/api/v1alpha1/test/hostile-specs.js';
import { KubeApiError } from '../src/kube/api-client.js';
import { createNamespace } from '../../test/env.js';
import { closeKubeApi, installCrd, kubeApi } from './harness.js';

describe('the EventConsumer CRD on a real API server', () => {
  let ns: { name: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-crd');
  });

  afterAll(async () => {
    await ns?.cleanup();
    closeKubeApi();
  });

  const dryRunCreate = async (spec: Record<string, unknown>): Promise<number> => {
    try {
      await kubeApi().request('POST', eventConsumersPath(ns.name), {
        query: { dryRun: 'All' },
        body: {
          apiVersion: 'jetscale.io/v1alpha1',
          kind: 'EventConsumer',
          metadata: { name: 'probe', namespace: ns.name },
          spec,
        },
      });
      return 201;
    } catch (err) {
      if (err instanceof KubeApiError) return err.status;
      throw err;
    }
  };

  it.each(refusedSpecs)('refuses %s, as the operator does', async (_what, spec) => {
    expect(parseEventConsumerSpec(spec).ok).toBe(false);
    expect(await dryRunCreate(spec)).toBe(422);
  });

  it.each(acceptedSpecs)('accepts %s, as the operator does', async (_what, spec) => {
    expect(parseEventConsumerSpec(spec).ok).toBe(true);
    expect(await dryRunCreate(spec)).toBe(201);
  });

  // A status is read back by a new leader (controller/consumer-state.ts carriedCapacity takes its
  // per-replica figure): the schema refuses rates no process measures, whoever writes /status.
  it('refuses negative rates in status, and takes the figures the operator writes', async () => {
    const spec = acceptedSpecs[0]?.[1];
    if (spec === undefined) throw new Error('no accepted spec');
    const path = eventConsumerPath(ns.name, 'rates');
    await kubeApi().request('POST', eventConsumersPath(ns.name), {
      body: {
        apiVersion: 'jetscale.io/v1alpha1',
        kind: 'EventConsumer',
        metadata: { name: 'rates', namespace: ns.name },
        spec,
      },
    });
    /** A dry-run status patch with these rates in status.rates or status.consumers[0].rates. */
    const patchStatus = async (
      rates: Record<string, unknown>,
      where: 'status' | 'entry',
    ): Promise<number> => {
      const entry = { name: 'c', ready: 'True', reason: 'r', message: '' };
      try {
        await kubeApi().request('PATCH', `${path}/status`, {
          query: { dryRun: 'All' },
          body: { status: where === 'status' ? { rates } : { consumers: [{ ...entry, rates }] } },
        });
        return 200;
      } catch (err) {
        if (err instanceof KubeApiError) return err.status;
        throw err;
      }
    };
    for (const where of ['status', 'entry'] as const) {
      const written = { arrivalPerSecond: 50, processingPerSecond: 0, perReplicaPerSecond: 0.001 };
      expect([where, await patchStatus(written, where)]).toEqual([where, 200]);
      for (const field of ['arrivalPerSecond', 'processingPerSecond', 'perReplicaPerSecond'])
        expect([where, field, await patchStatus({ [field]: -3 }, where)]).toEqual([where, field, 422]);
      expect([where, await patchStatus({ perReplicaPerSecond: '25' }, where)]).toEqual([where, 422]);
    }
  });
});
