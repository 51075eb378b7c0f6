// spec.scaleTargetRef.name changed to another Deployment: the new target is judged on its own
// history, not on the old target's. A new history (a new target, a restarted process, a new
// leader) holds scale-down for the longest scale-down period after the target's last scale, read
// from status.lastScaleTime; that time was the OLD target's, so a target jetscale never scaled was
// held for a whole period after a rename (here 60 s at 1 pod per 60 s: 5 replicas kept for a
// backlog needing 1). status.lastScaleTarget now says which target lastScaleTime is about. And the
// other way: once jetscale scaled the new target, a restarted process holds it as it should. On
// the real stack (real API server, real NATS), reconcilers driven directly.
import { eventually } from '../../test/env.js';
import { eventConsumerPath } from '../src/api/v1alpha1/group-version.js';
import {
  createDeployment,
  directReconciler,
  eventConsumerStatus,
  kubeApi,
  publish,
  sleep,
  specReplicas,
  useStreamDrill,
} from './harness.js';

describe('a renamed scale target', () => {
  const drill = useStreamDrill({ namespace: 'op-renamed', instance: 'renamed-target-test' });

  it('is judged on its own last scale, not the old target’s', async () => {
    const stream = await drill.addStream('renamed', 500);
    await drill.addTarget('a', stream, {
      consumer: 'worker',
      extra: {
        behavior: {
          scaleDown: { stabilizationWindow: '0s', policies: [{ type: 'Pods', value: 1, period: '60s' }] },
        },
      },
    });
    await drill.poll('a');
    expect(await specReplicas(drill.ns.name, 'a')).toBe(5); // 500 at 100 per replica
    const before = await eventConsumerStatus(drill.ns.name, 'a');
    expect(before.lastScaleTime).toBeDefined();
    expect(before.lastScaleTarget).toBe('apps/v1/Deployment/a');

    // Another Deployment at 5 (never scaled by jetscale), the backlog down to 100 (needs 1), and
    // the EventConsumer pointed at it.
    await createDeployment(drill.ns.name, 'b', 5);
    await drill.jsm.streams.purge(stream);
    await publish(drill.nc, stream, 100);
    await kubeApi().request('PATCH', eventConsumerPath(drill.ns.name, 'a'), {
      body: { spec: { scaleTargetRef: { name: 'b' } } },
    });

    // b steps down by its own rules (1 pod per 60 s: 5 -> 4), well before a 60 s hold would end.
    await eventually(
      'b stepped down from 5',
      async () => {
        await sleep(1_000);
        await drill.poll('a');
        return (await specReplicas(drill.ns.name, 'b')) === 4 ? true : undefined;
      },
      20_000,
      0,
    );
    expect(await specReplicas(drill.ns.name, 'a')).toBe(5); // not its target any more
    const after = await eventConsumerStatus(drill.ns.name, 'a');
    expect(after.lastScaleTarget).toBe('apps/v1/Deployment/b');

    // A restarted process: b was scaled a moment ago by jetscale, so the period's step is used up:
    // held at 4 although the backlog needs 1.
    const restarted = directReconciler('renamed-target-restarted');
    try {
      for (let i = 0; i < 3; i++) {
        await sleep(1_000);
        await restarted.poll(drill.ns.name, 'a');
        expect(await specReplicas(drill.ns.name, 'b')).toBe(4);
      }
    } finally {
      await restarted.close();
    }
  });

  it('renamed away and back within a period, a target is judged on its own record of changes', async () => {
    // Scale-up 2 pods per 60 s. c goes 1 -> 3 (the period's allowance used), the EventConsumer is
    // renamed to d (1 -> 3) and back to c: c has used its allowance, so it stays at 3 although the
    // backlog needs 9. Before, c came back with an empty record and went 3 -> 5 at once: 4 pods
    // in 60 s against its policy of 2.
    const stream = await drill.addStream('back', 900);
    await createDeployment(drill.ns.name, 'd', 1);
    await drill.addTarget('c', stream, {
      consumer: 'worker',
      extra: {
        behavior: {
          scaleUp: { stabilizationWindow: '0s', policies: [{ type: 'Pods', value: 2, period: '60s' }] },
        },
      },
    });
    const rename = (to: string) =>
      kubeApi().request('PATCH', eventConsumerPath(drill.ns.name, 'c'), {
        body: { spec: { scaleTargetRef: { name: to } } },
      });
    await drill.poll('c');
    expect(await specReplicas(drill.ns.name, 'c')).toBe(3);
    await rename('d');
    await sleep(1_000);
    await drill.poll('c');
    expect(await specReplicas(drill.ns.name, 'd')).toBe(3);
    await rename('c');
    for (let i = 0; i < 3; i++) {
      await sleep(1_000);
      await drill.poll('c');
      expect(await specReplicas(drill.ns.name, 'c')).toBe(3);
    }
    expect(await specReplicas(drill.ns.name, 'd')).toBe(3); // not its target any more
  });
});
