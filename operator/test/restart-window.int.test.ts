// The operator restarted (killed, or a failover to the standby) in the middle of a scale-down: the
// policy's history — its stabilization window's recommendations and its step policies' record of
// the changes made — lived in the old process's memory. The new process must not scale down earlier
// than the old one would have, and must not scale up from an empty history either. On the real
// stack, the reconciler driven directly; the restart is a new Reconciler (a new process's memory:
// nothing but what the API server holds — the EventConsumer's status and the target itself).
import { eventConsumerPath } from '../src/api/v1alpha1/group-version.js';
import { JSON_PATCH } from '../src/kube/api-client.js';
import {
  condition,
  consumeAndAck,
  directReconciler,
  eventConsumerStatus,
  kubeApi,
  sleep,
  setReplicas,
  specReplicas,
  useStreamDrill,
} from './harness.js';

describe('the operator restarted in the middle of a scale-down', () => {
  const drill = useStreamDrill({ namespace: 'op-restart', instance: 'restart-window-test' });

  it.each([
    ['its status had landed', false],
    // A process killed between its /scale write and its status write: the status still says what
    // the poll before the scale wrote (desired 5, no lastScaleTime), while spec.replicas (4) was last
    // set by jetscale's field manager — so the last scale may be just now.
    ['it was killed before its status (lastScaleTime) landed', true],
  ])(
    'keeps the scale-down step policy period that began before the restart (%s), and does not scale up from an empty history',
    async (_, statusLost) => {
      // At most 1 pod per 20 s down, a 3 s window: the step policy is what paces the way down.
      const name = statusLost ? 'paced-lost' : 'paced';
      const stream = await drill.addStream(name, 500);
      await drill.addTarget(name, stream, {
        consumer: 'worker',
        extra: {
          behavior: {
            scaleDown: { stabilizationWindow: '3s', policies: [{ type: 'Pods', value: 1, period: '20s' }] },
          },
        },
      });
      // Started at 5 by its owner (not scaled up by jetscale: a scale-up within the period would let
      // the scale-down policy take that many back at once, as the HPA's does).
      await setReplicas(drill.ns.name, name, 5);
      const poll = async (): Promise<number> => {
        await sleep(1_000);
        await drill.poll(name);
        return specReplicas(drill.ns.name, name);
      };
      expect(await poll()).toBe(5);
      expect(await consumeAndAck(drill.nc, stream, 'worker', 500)).toBe(500);
      // The first step down, once the 3 s window has passed.
      let replicas = 5;
      for (let i = 0; i < 30 && replicas === 5; i++) replicas = await poll();
      expect(replicas).toBe(4);
      const steppedAt = performance.now();

      // Restart: a new process's memory.
      await drill.direct.close();
      if (statusLost) {
        await kubeApi().request('PATCH', `${eventConsumerPath(drill.ns.name, name)}/status`, {
          contentType: JSON_PATCH,
          // The status as the poll before the scale wrote it: desired 5, never scaled.
          body: [
            { op: 'remove', path: '/status/lastScaleTime' },
            { op: 'replace', path: '/status/desiredReplicas', value: 5 },
          ],
        });
        expect((await eventConsumerStatus(drill.ns.name, name)).lastScaleTime).toBeUndefined();
      }
      drill.direct = directReconciler('restart-window-test-2');
      const seen: Array<{ second: number; replicas: number }> = [];
      while (replicas === 4 && performance.now() - steppedAt < 45_000) {
        replicas = await poll();
        seen.push({ second: Math.round((performance.now() - steppedAt) / 100) / 10, replicas });
      }
      // Never up (nothing is pending), and the next step down no sooner than the 20 s period allows
      // (less 2 s: the step is stamped when the test saw it, after it was made, and the API server
      // keeps times in whole seconds).
      expect(Math.max(...seen.map((s) => s.replicas))).toBe(4);
      const down = seen.find((s) => s.replicas < 4);
      expect({ seen, early: (down?.second ?? Infinity) < 18 }).toMatchObject({ early: false });
      // ... and it does come (the hold is the period, not for ever).
      expect(down?.replicas).toBe(3);
      const status = await eventConsumerStatus(drill.ns.name, name);
      expect(condition(status, 'Ready')?.status).toBe('True');
    },
  );

  // The scale-up step policies' record lived in the old process's memory too: a restart in the
  // middle of a climb granted a second full step at once. Now it is carried in status.scaleUps.
  it('keeps the scale-up step policy period that began before the restart: no second step at once', async () => {
    // At most 2 pods per 60 s up; 500 pending ask for 5 (backlogPerReplica 100).
    const name = 'climb';
    const stream = await drill.addStream(name, 500);
    await drill.addTarget(name, stream, {
      consumer: 'worker',
      extra: {
        behavior: {
          scaleUp: { stabilizationWindow: '0s', policies: [{ type: 'Pods', value: 2, period: '60s' }] },
        },
      },
    });
    const poll = async (): Promise<number> => {
      await sleep(1_000);
      await drill.poll(name);
      return specReplicas(drill.ns.name, name);
    };
    let replicas = 1;
    for (let i = 0; i < 10 && replicas === 1; i++) replicas = await poll();
    expect(replicas).toBe(3);
    const steppedAt = performance.now();
    const status = await eventConsumerStatus(drill.ns.name, name);
    expect(status.scaleUps).toEqual([expect.objectContaining({ from: 1, to: 3 })]);

    // Restart: a new process's memory.
    await drill.direct.close();
    drill.direct = directReconciler('restart-window-test-3');
    const seen: number[] = [];
    // Polls for 20 s after the step, well within its 60 s period.
    while (performance.now() - steppedAt < 20_000) seen.push(await poll());
    expect(seen.length).toBeGreaterThan(5);
    expect(Math.max(...seen)).toBe(3);
  });
});
