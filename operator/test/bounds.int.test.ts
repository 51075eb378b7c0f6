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
    // EventConsumer re-reads a settled target at least every targetRefreshMs (15 s, spread up to
    // 1.5x: 22.5 s); polls a second apart for 40 s leave ample margin.
    await kubeApi().request(
      'PATCH',
      `/apis/apps/v1/namespaces/${drill.ns.name}/deployments/secret-invalid/scale`,
      { body: { spec: { replicas: 9 } }, query: { fieldManager: 'kubectl' } },
    );
    const seen: number[] = [];
    for (let i = 0; i < 40 && seen.at(-1) !== 3; i++) {
      await sleep(1_000);
      await drill.poll('secret-invalid');
      seen.push(await specReplicas(drill.ns.name, 'secret-invalid'));
    }
    // Only ever 9 (not read yet) or 3 (the bound), and 3 in the end.
    expect({ seen, values: [...new Set(seen)].filter((n) => n !== 9 && n !== 3) }).toMatchObject({
      values: [],
    });
    expect(seen.at(-1)).toBe(3);
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
