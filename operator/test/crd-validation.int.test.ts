// The CRD refuses what the operator refuses: each hostile spec of hostile-specs.ts is sent to the
// real API server (server-side dry run, so nothing is stored) and must be answered 422 Invalid,
// and each unusual but legitimate one must be accepted. The API server checks patterns with Go's
// regexp and counts lengths in code points, so this is the test that the CRD's patterns and
// bounds mean there what they mean in the operator's zod schema.
import { eventConsumersPath } from '../src/api/v1alpha1/group-version.js';
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
});
