// The fence and the term's abort against the real API server: a write past the term's end is not
// sent (the Deployment keeps its replicas and the audit log has no such request), a write within
// it is; ending the term cuts off a request that is waiting on the API server at once.
import { createNamespace, eventually } from '../../test/env.js';
import { FencedError, isFenced } from '../src/kube/api-client.js';
import { FencedKubeApi, type LeadershipTerm } from '../src/kube/fenced-api.js';
import { closeKubeApi, createDeployment, kubeApi, specReplicas } from './harness.js';

function term(until: number): LeadershipTerm & { controller: AbortController } {
  const controller = new AbortController();
  return { controller, signal: controller.signal, writableUntil: () => until };
}

describe('FencedKubeApi on the real API server', () => {
  let ns: { name: string; cleanup: () => Promise<void> };

  beforeAll(async () => {
    ns = await createNamespace('fenced');
    await createDeployment(ns.name, 'worker', 1);
  });

  afterAll(async () => {
    await ns?.cleanup();
    closeKubeApi();
  });

  const scalePath = (): string => `/apis/apps/v1/namespaces/${ns.name}/deployments/worker/scale`;

  it('sends a write inside the term and refuses one past its end without sending it', async () => {
    const outcomes: string[] = [];
    const open = new FencedKubeApi(kubeApi(), term(performance.now() + 60_000), {
      onWrite: (verb, outcome) => outcomes.push(`${verb} ${outcome}`),
    });
    await open.request('PATCH', scalePath(), { body: { spec: { replicas: 2 } } });
    expect(await specReplicas(ns.name, 'worker')).toBe(2);

    const expired = new FencedKubeApi(kubeApi(), term(performance.now() - 1), {
      onWrite: (verb, outcome) => outcomes.push(`${verb} ${outcome}`),
    });
    const err = await expired
      .request('PATCH', scalePath(), { body: { spec: { replicas: 5 } } })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FencedError);
    expect((err as FencedError).reason).toBe('LeaseExpiring');
    expect(await specReplicas(ns.name, 'worker')).toBe(2);
    expect(outcomes).toEqual(['PATCH sent', 'PATCH refused']);
  });

  it('ending the term aborts a request waiting on the API server at once', async () => {
    const t = term(Number.POSITIVE_INFINITY);
    const api = new FencedKubeApi(kubeApi(), t);
    // A watch the API server holds open for 60 s: only the abort can end it early.
    const watching = api
      .request('GET', `/apis/apps/v1/namespaces/${ns.name}/deployments`, {
        query: { watch: 1, timeoutSeconds: 60 },
        timeoutMs: 120_000,
      })
      .catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 500));
    const endedAt = performance.now();
    t.controller.abort(new FencedError('TermEnded', 'leadership ended: test'));
    const err = await watching;
    expect(isFenced(err)).toBe(true);
    expect(performance.now() - endedAt).toBeLessThan(2000);
    // The client still works for the next term.
    const next = new FencedKubeApi(kubeApi(), term(Number.POSITIVE_INFINITY));
    await eventually('a read in a new term', () =>
      next.request('GET', scalePath()).then(() => true as const),
    );
  });
});
