// Another writer keeps resetting the replicas of a Deployment jetscale scales: a GitOps tool with
// self-heal (Argo CD's selfHeal, Flux re-applying at its interval) or another controller whose
// manifest still says `replicas: 2`. Each of its syncs undoes jetscale's write and jetscale's next
// poll undoes the sync, so pods start and stop for as long as both run. jetscale fights twice (a
// person's `kubectl scale` is set back, as before) and yields at the third change by the same field
// manager: TargetConflict naming the manager and what to change, a Warning Event, no more writes.
// Once that manager has left the replicas alone for the quiet period, it takes the target back and
// says so; a change by the same manager soon after that yields again at once.
// On the real stack: a second writer with its own fieldManager (server-side apply, as Argo CD and
// Flux do) re-applies its replicas whenever they differ, while the reconciler is polled directly.
import {
  applyReplicas,
  condition,
  directReconciler,
  eventConsumerStatus,
  eventsFor,
  sleep,
  specReplicas,
  useStreamDrill,
  type DirectReconciler,
} from './harness.js';

// Longer than the 8 polls the writer keeps running after its third change, shorter than a test should wait.
const QUIET_MS = 15_000;

describe('another writer keeps resetting the replicas of the target', () => {
  let direct: DirectReconciler;
  const writers: { stop(): Promise<void> }[] = [];
  // Registered before useStreamDrill's hooks, so this runs before its connection and client close.
  afterAll(async () => {
    for (const w of writers) await w.stop();
    await direct?.close();
  });
  const drill = useStreamDrill({ namespace: 'op-tug-of-war', instance: 'tug-of-war-test' });
  beforeAll(() => {
    // The quiet period shortened so a test can wait it out; the counts are the defaults'.
    direct = directReconciler('tug-of-war-test', { tugOfWar: { quietMs: QUIET_MS } });
  });

  const poll = async (name: string): Promise<number> => {
    await direct.poll(drill.ns.name, name);
    return specReplicas(drill.ns.name, name);
  };

  /** Polls a second apart until the target has `replicas` (10 polls at most: a slow NATS read under load holds a poll). */
  async function pollUntil(name: string, replicas: number, what: string): Promise<void> {
    for (let polls = 0; (await poll(name)) !== replicas; polls++) {
      if (polls >= 10) throw new Error(`${what}: not ${replicas} replicas after 10 polls`);
      await sleep(1_000);
    }
  }

  /** An EventConsumer on a stream of 500 and its Deployment, polled until jetscale scaled it to 5. */
  async function scaledTarget(name: string): Promise<void> {
    const stream = await drill.addStream(name, 500);
    await drill.addTarget(name, stream, { consumer: 'worker', extra: { pollInterval: '2s' } });
    await pollUntil(name, 5, 'the first scale-up');
  }

  /** Polls a second apart until jetscale scaled the target to 5 again (25 polls at most): the counts seen. */
  async function untilTakenBack(name: string): Promise<number[]> {
    const seen: number[] = [];
    while (seen.at(-1) !== 5) {
      if (seen.length >= 25) throw new Error(`not taken back after 25 polls: ${seen.join(' ')}`);
      await sleep(1_000);
      seen.push(await poll(name));
    }
    return seen;
  }

  /** What a GitOps tool with self-heal does: server-side apply of its manifest whenever it drifted. */
  function selfHealingWriter(name: string, replicas: number, manager = 'argocd-controller') {
    let stopped = false;
    let applies = 0;
    const loop = (async () => {
      while (!stopped) {
        if ((await specReplicas(drill.ns.name, name)) !== replicas) {
          await applyReplicas(drill.ns.name, name, replicas, manager);
          applies++;
        }
        await sleep(200);
      }
    })();
    const writer = {
      applies: () => applies,
      async stop() {
        stopped = true;
        await loop;
      },
    };
    writers.push(writer);
    return writer;
  }

  it('yields at the third change by the same manager, names it and the fix, and takes the target back once it is quiet', async () => {
    const name = 'gitops-self-heal';
    await scaledTarget(name);

    const writer = selfHealingWriter(name, 2);
    // 10 polls a second apart: a busy EventConsumer re-reads its target every pollInterval (2 s).
    const seen: number[] = [];
    for (let i = 0; i < 10; i++) {
      await sleep(1_000);
      seen.push(await poll(name));
    }
    // Before: every re-read of the target found 2 and wrote 5, and the writer set 2 again: about
    // one round of pods started and stopped at every poll (14 applies in 14 polls on 80b776c).
    // Now: two rounds, and the third change stands.
    expect(writer.applies()).toBe(3);
    expect(seen.slice(-4)).toEqual([2, 2, 2, 2]);
    const ready = condition(await eventConsumerStatus(drill.ns.name, name), 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'TargetConflict' });
    expect(ready?.message).toMatch(/"argocd-controller".*3 times/);
    expect(ready?.message).toMatch(/ignoreDifferences/);
    const conflictEvents = (await eventsFor(drill.ns.name, name)).filter(
      (e) => e.reason === 'TargetConflict',
    );
    expect(conflictEvents).toHaveLength(1);
    expect(conflictEvents[0]?.type).toBe('Warning');
    expect(conflictEvents[0]?.message).toMatch(/argocd-controller/);

    // The writer stops (its manifest fixed): after the quiet period jetscale scales again, and says so.
    await writer.stop();
    const afterStop = await untilTakenBack(name);
    // Not at once: only once the quiet period has passed since the writer's last change.
    expect(afterStop[0]).toBe(2);
    const resumed = (await eventsFor(drill.ns.name, name)).filter((e) => e.reason === 'TargetTakenBack');
    expect(resumed).toHaveLength(1);
    expect(resumed[0]?.type).toBe('Normal');
    expect(resumed[0]?.message).toMatch(/argocd-controller/);
    expect(condition(await eventConsumerStatus(drill.ns.name, name), 'Ready')?.status).toBe('True');

    // The same manager changes them again soon after: the tug goes on, yielded at once.
    const again = selfHealingWriter(name, 2);
    for (let i = 0; i < 6; i++) {
      await sleep(1_000);
      await poll(name);
    }
    expect(again.applies()).toBe(1);
    expect(await specReplicas(drill.ns.name, name)).toBe(2);
    expect(condition(await eventConsumerStatus(drill.ns.name, name), 'Ready')).toMatchObject({
      status: 'False',
      reason: 'TargetConflict',
    });
    await again.stop();
  });

  it('a restarted operator (or a new leader) stays yielded: it writes no replicas and goes on from the status', async () => {
    const name = 'restart-mid-yield';
    await scaledTarget(name);
    const writer = selfHealingWriter(name, 2);
    for (let polls = 0; ; polls++) {
      await poll(name);
      if (condition(await eventConsumerStatus(drill.ns.name, name), 'Ready')?.reason === 'TargetConflict')
        break;
      if (polls >= 15) throw new Error(`not yielded after 15 polls (${writer.applies()} applies)`);
      await sleep(1_000);
    }
    expect(writer.applies()).toBe(3);
    // What the next process reads back: who, since when, its last change, the quiet period.
    const before = (await eventConsumerStatus(drill.ns.name, name))?.tugOfWar;
    expect(before?.yieldedTo).toMatchObject({
      manager: 'argocd-controller',
      changes: 3,
      quietSeconds: QUIET_MS / 1000,
    });

    // The operator restarts (or another replica takes the lease): a Reconciler with no memory.
    await direct.close();
    direct = directReconciler('tug-of-war-test', { tugOfWar: { quietMs: QUIET_MS } });
    const seen: number[] = [];
    for (let i = 0; i < 8; i++) {
      seen.push(await poll(name));
      await sleep(1_000);
    }
    // Before (b16007a): the new process wrote 5 at its first poll, the writer set 2 again, and so on
    // until its third change: two more rounds of pods (applies 3 -> 6). Now it writes nothing.
    expect(writer.applies()).toBe(3);
    expect(seen).toEqual([2, 2, 2, 2, 2, 2, 2, 2]);
    const ready = condition(await eventConsumerStatus(drill.ns.name, name), 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'TargetConflict' });
    expect(ready?.message).toMatch(/"argocd-controller".*3 times/);

    // Not yielded for ever: the writer stops, and after the quiet period the new process scales again.
    await writer.stop();
    await untilTakenBack(name);
    const taken = (await eventsFor(drill.ns.name, name)).filter((e) => e.reason === 'TargetTakenBack');
    expect(taken).toHaveLength(1);
    // What a later process needs then: taken back from that manager (its next change yields at once).
    expect((await eventConsumerStatus(drill.ns.name, name))?.tugOfWar).toMatchObject({
      takenBackFrom: { manager: 'argocd-controller', quietSeconds: QUIET_MS / 1000 },
    });
  });

  it('changes by different writers are not added up: each is set back', async () => {
    const name = 'several-writers';
    await scaledTarget(name);
    for (const manager of ['kubectl-scale', 'deploy-script', 'argocd-controller', 'kubectl-scale']) {
      await applyReplicas(drill.ns.name, name, 2, manager);
      await pollUntil(name, 5, `${manager}'s change set back`);
    }
    expect(condition(await eventConsumerStatus(drill.ns.name, name), 'Ready')?.status).toBe('True');
  });
});
