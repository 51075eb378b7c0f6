// The replica bounds (and pausedReplicas) hold while an EventConsumer's NATS credentials cannot be read. On the real
// stack (real API server, real NATS), the reconciler driven directly so each poll lands where the
// test says. A tenant lowers maxReplicas (or raises minReplicas) in the same edit that names an auth
// Secret that is missing or holds nothing usable: the backlog cannot be read, so nothing is sized
// from it, but the bounds do not need it. The HPA applies minReplicas and maxReplicas before it asks
// for metrics, and jetscale does the same for a backlog that cannot be read (decide.ts); a Secret
// that stopped the poll before the target was read left the target outside them for as long as
// the Secret stayed broken (before: 5 replicas under maxReplicas 2, for good).
import { eventConsumerPath } from '../src/api/v1alpha1/group-version.js';
import {
  condition,
  createDeployment,
  directReconciler,
  eventConsumerStatus,
  eventsFor,
  kubeApi,
  putSecret,
  sleep,
  specReplicas,
  useStreamDrill,
} from './harness.js';

describe('replica bounds while the NATS credentials cannot be read', () => {
  const drill = useStreamDrill({ namespace: 'op-bounds', instance: 'bounds-test' });

  async function edit(name: string, spec: Record<string, unknown>): Promise<void> {
    await kubeApi().request('PATCH', eventConsumerPath(drill.ns.name, name), { body: { spec } });
  }

  /** An EventConsumer scaled to 5 by a backlog of 900 (backlogPerReplica 100, maxReplicas 5). */
  async function atFive(name: string): Promise<void> {
    const stream = await drill.addStream(name, 900);
    await drill.addTarget(name, stream, { consumer: 'worker', extra: { maxReplicas: 5 } });
    await drill.poll(name);
    expect(await specReplicas(drill.ns.name, name)).toBe(5);
  }

  it('a missing auth Secret: maxReplicas lowered, then minReplicas raised, each applied; nothing else moves', async () => {
    await atFive('secret-missing');
    await edit('secret-missing', {
      maxReplicas: 2,
      nats: { auth: { secretRef: { name: 'no-such-secret' } } },
    });
    await sleep(1_000);
    await drill.poll('secret-missing');
    expect(await specReplicas(drill.ns.name, 'secret-missing')).toBe(2);
    const capped = await eventConsumerStatus(drill.ns.name, 'secret-missing');
    expect(condition(capped, 'Ready')).toMatchObject({ status: 'False', reason: 'SecretNotFound' });
    expect(condition(capped, 'Ready')?.message).toMatch(/maxReplicas 2/);
    // What a restarted operator's scale-down hold reads: the count written, and when.
    expect(capped.desiredReplicas).toBe(2);
    expect(Date.parse(capped.lastScaleTime ?? '')).toBeGreaterThan(Date.now() - 60_000);
    // Held there at the next polls: nothing is sized from a backlog that is not read.
    for (let i = 0; i < 2; i++) {
      await sleep(1_000);
      await drill.poll('secret-missing');
      expect(await specReplicas(drill.ns.name, 'secret-missing')).toBe(2);
    }

    await edit('secret-missing', { minReplicas: 3, maxReplicas: 4 });
    await sleep(1_000);
    await drill.poll('secret-missing');
    expect(await specReplicas(drill.ns.name, 'secret-missing')).toBe(3);
    expect(condition(await eventConsumerStatus(drill.ns.name, 'secret-missing'), 'Ready')).toMatchObject({
      status: 'False',
      reason: 'SecretNotFound',
    });
    const scaled = (await eventsFor(drill.ns.name, 'secret-missing')).filter((e) => e.reason === 'Scaled');
    expect(scaled.map((e) => e.message)).toEqual(
      expect.arrayContaining([expect.stringMatching(/from 5 to 2/), expect.stringMatching(/from 2 to 3/)]),
    );
  });

  it('an auth Secret with nothing usable in it: replicas set by hand above maxReplicas are brought back to it', async () => {
    await atFive('secret-invalid');
    await putSecret(drill.ns.name, 'junk-auth', { note: 'not a credential' });
    await edit('secret-invalid', { maxReplicas: 3, nats: { auth: { secretRef: { name: 'junk-auth' } } } });
    await sleep(1_000);
    await drill.poll('secret-invalid');
    expect(await specReplicas(drill.ns.name, 'secret-invalid')).toBe(3);
    expect(condition(await eventConsumerStatus(drill.ns.name, 'secret-invalid'), 'Ready')).toMatchObject({
      status: 'False',
      reason: 'SecretInvalid',
    });
    // kubectl scale to 9 meanwhile: back to the bound once the target is read again. An idle
    // EventConsumer re-reads a settled target at least every targetRefreshMs (15 s by default,
    // spread up to 1.5x); polled here by a reconciler that re-reads it every second (targetRefreshMs
    // 1 s, the same path sooner: the case's wait was up to 22.5 s), a second apart for up to 20 s.
    await kubeApi().request(
      'PATCH',
      `/apis/apps/v1/namespaces/${drill.ns.name}/deployments/secret-invalid/scale`,
      { body: { spec: { replicas: 9 } }, query: { fieldManager: 'kubectl' } },
    );
    const fast = directReconciler('bounds-fast-secret', { targetRefreshMs: 1_000 });
    const seen: number[] = [];
    try {
      await fast.poll(drill.ns.name, 'secret-invalid'); // its first poll reads the target: 9 or 3
      seen.push(await specReplicas(drill.ns.name, 'secret-invalid'));
      for (let i = 0; i < 20 && seen.at(-1) !== 3; i++) {
        await sleep(1_000);
        await fast.poll(drill.ns.name, 'secret-invalid');
        seen.push(await specReplicas(drill.ns.name, 'secret-invalid'));
      }
    } finally {
      await fast.close();
    }
    // Only ever 9 (not read yet) or 3 (the bound), and 3 in the end.
    expect({ seen, values: [...new Set(seen)].filter((n) => n !== 9 && n !== 3) }).toMatchObject({
      values: [],
    });
    expect(seen.at(-1)).toBe(3);
  });

  it('NATS unreachable: a Deployment scaled by hand, then recreated, above maxReplicas (or below minReplicas) is brought back within them', async () => {
    // Operator fuzz seed 23003: a Deployment recreated at 40 against maxReplicas 5 while its
    // EventConsumer read NatsUnreachable. The HPA lowers to maxReplicas and raises to minReplicas
    // before it asks for metrics (horizontal.go reconcileAutoscaler), at every sync; so must this.
    // A reconciler of its own that re-reads a settled target every second (not every 15-22.5 s),
    // so each change is noticed at the next poll or so.
    const fast = directReconciler('bounds-fast', { targetRefreshMs: 1_000 });
    const name = 'nats-gone';
    const ns = drill.ns.name;
    try {
      const stream = await drill.addStream(name, 900);
      await drill.addTarget(name, stream, {
        consumer: 'worker',
        extra: { maxReplicas: 5, pollInterval: '1s' },
      });
      await fast.poll(ns, name);
      expect(await specReplicas(ns, name)).toBe(5);
      // Port 1: nothing listens, every connect is refused.
      await edit(name, { nats: { servers: ['nats://127.0.0.1:1'], stream, consumer: 'worker' } });
      await sleep(1_000);
      await fast.poll(ns, name);
      expect(condition(await eventConsumerStatus(ns, name), 'Ready')?.reason).toBe('NatsUnreachable');
      expect(await specReplicas(ns, name)).toBe(5);

      /** Polls a second apart until `want` (at most 20): every count seen. */
      const pollUntil = async (want: number): Promise<number[]> => {
        const seen: number[] = [];
        for (let i = 0; i < 20 && seen.at(-1) !== want; i++) {
          await sleep(1_000);
          await fast.poll(ns, name);
          seen.push(await specReplicas(ns, name));
        }
        return seen;
      };
      const scaleTo = (replicas: number): Promise<unknown> =>
        kubeApi().request('PATCH', `/apis/apps/v1/namespaces/${ns}/deployments/${name}/scale`, {
          body: { spec: { replicas } },
          query: { fieldManager: 'kubectl' },
        });

      // kubectl scale to 40.
      await scaleTo(40);
      const byHand = await pollUntil(5);
      expect({ byHand, other: byHand.filter((n) => n !== 40 && n !== 5) }).toMatchObject({ other: [] });
      expect(byHand.at(-1)).toBe(5);
      const capped = await eventConsumerStatus(ns, name);
      expect(condition(capped, 'Ready')).toMatchObject({ status: 'False', reason: 'NatsUnreachable' });

      // Deleted and recreated at 40 (another uid, a new history).
      await kubeApi().request('DELETE', `/apis/apps/v1/namespaces/${ns}/deployments/${name}`);
      for (let i = 0; ; i++) {
        await sleep(500);
        const made = await createDeployment(ns, name, 40).then(
          () => true,
          (err: unknown) => (i < 20 ? false : Promise.reject(err)),
        );
        if (made) break;
      }
      const recreated = await pollUntil(5);
      expect({ recreated, other: recreated.filter((n) => n !== 40 && n !== 5) }).toMatchObject({ other: [] });
      expect(recreated.at(-1)).toBe(5);

      // minReplicas raised and the Deployment scaled by hand below it.
      await edit(name, { minReplicas: 2 });
      await scaleTo(1);
      const raised = await pollUntil(2);
      expect({ raised, other: raised.filter((n) => n !== 1 && n !== 2) }).toMatchObject({ other: [] });
      expect(raised.at(-1)).toBe(2);
      expect(condition(await eventConsumerStatus(ns, name), 'Ready')?.reason).toBe('NatsUnreachable');
      const scaled = (await eventsFor(ns, name)).filter((e) => e.reason === 'Scaled').map((e) => e.message);
      expect(scaled).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/from 40 to 5: .*maxReplicas 5/),
          expect.stringMatching(/from 1 to 2: .*minReplicas 2/),
        ]),
      );
    } finally {
      await fast.close();
    }
  });

  it('pausedReplicas is applied while the Secret is missing, as it is while NATS cannot be read', async () => {
    await atFive('secret-paused-at');
    await edit('secret-paused-at', {
      pausedReplicas: 1,
      nats: { auth: { secretRef: { name: 'no-such-secret' } } },
    });
    await sleep(1_000);
    await drill.poll('secret-paused-at');
    expect(await specReplicas(drill.ns.name, 'secret-paused-at')).toBe(1);
    const status = await eventConsumerStatus(drill.ns.name, 'secret-paused-at');
    expect(condition(status, 'Ready')?.reason).toBe('SecretNotFound');
    expect(condition(status, 'Paused')?.reason).toBe('PausedAtReplicas');
  });

  it('while paused, a missing Secret leaves replicas alone as before', async () => {
    await atFive('secret-paused');
    await edit('secret-paused', {
      paused: true,
      maxReplicas: 2,
      nats: { auth: { secretRef: { name: 'no-such-secret' } } },
    });
    await sleep(1_000);
    await drill.poll('secret-paused');
    expect(await specReplicas(drill.ns.name, 'secret-paused')).toBe(5);
    expect(condition(await eventConsumerStatus(drill.ns.name, 'secret-paused'), 'Ready')?.reason).toBe(
      'SecretNotFound',
    );
  });
});
