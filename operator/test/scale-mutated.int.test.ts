// A scale write the API server accepts but stores changed: a mutating admission webhook (here a
// real https webhook, as Kyverno or Gatekeeper mutations do) caps deployments/scale at 2 replicas.
// jetscale must report what was stored, not what it asked for. Before, it took its request for the
// result: "scaled from 1 to 5" while 2 were stored, desiredReplicas 5, and at every poll another
// "Scaled" Event and scale event (2 -> 5, stored 2), its own write read back as its own and never
// questioned. Now: the change made (1 -> 2) is the one recorded and counted, a Warning
// ScaleAdjusted and Ready=False ScaleAdjusted say what changed it and which bound to set, polls
// that change nothing record no scale, and the limit is learnt: not asked again at every poll
// (before: a write, an admission call and a Warning Event per poll), only after a doubling hold. On the real stack (real API server, real NATS), the reconciler driven directly.
import { eventually } from '../../test/env.js';
import { eventConsumerPath } from '../src/api/v1alpha1/group-version.js';
import { startWebhook, type Webhook } from './admission.js';
import {
  condition,
  deploymentAtRest,
  eventConsumerStatus,
  eventsFor,
  kubeApi,
  sleep,
  specReplicas,
  useStreamDrill,
} from './harness.js';

describe('a scale write stored changed by a mutating webhook', () => {
  const drill = useStreamDrill({ namespace: 'op-scale-mutated', instance: 'scale-mutated-test' });
  const hook = `cap-scale-${process.pid}`;
  let webhook: Webhook | undefined;

  afterAll(async () => {
    await webhook?.remove();
  });

  /** Until Scaled Events on `name` say `n` in all (the recorder writes them asynchronously). */
  async function scaledEvents(name: string): Promise<string[]> {
    return (await eventsFor(drill.ns.name, name))
      .filter((e) => e.reason === 'Scaled')
      .map((e) => e.message ?? '');
  }

  /** Writes of more than 2 replicas of "capped" the webhook answered (dry runs included). */
  let asks = 0;

  it('records the change stored, says what changed it, and does not count polls that change nothing', async () => {
    // Caps spec.replicas of deployments/scale named "capped" at 2 (a JSON Patch in the response).
    webhook = await startWebhook(
      hook,
      'Mutating',
      { apiGroup: 'apps', resource: 'deployments/scale', namespace: drill.ns.name },
      (request) => {
        if (request.name !== 'capped' || (request.object?.spec?.replicas ?? 0) <= 2) return { allowed: true };
        asks++;
        return {
          allowed: true,
          patchType: 'JSONPatch',
          patch: Buffer.from(JSON.stringify([{ op: 'replace', path: '/spec/replicas', value: 2 }])).toString(
            'base64',
          ),
        };
      },
    );
    const stream = await drill.addStream('capped', 500);
    await drill.addTarget('capped', stream, { consumer: 'worker' });
    // In force once a dry-run /scale write of 3 is stored as 2.
    const scalePath = `/apis/apps/v1/namespaces/${drill.ns.name}/deployments/capped/scale`;
    await eventually(
      'the webhook in force',
      async () => {
        const stored = await kubeApi().request<{ spec?: { replicas?: number } }>('PATCH', scalePath, {
          query: { dryRun: 'All' },
          body: { spec: { replicas: 3 } },
        });
        return stored.spec?.replicas === 2 ? true : undefined;
      },
      30_000,
      250,
    );

    // 500 pending at 100 per replica asks for 5; 2 are stored. One admission call, once the
    // Deployment is at rest (a poll reading a copy the controller has since changed meets a 409 and
    // asks again: a CI run counted 2).
    await deploymentAtRest(drill.ns.name, 'capped');
    const asksBefore = asks;
    await drill.poll('capped');
    expect(asks - asksBefore).toBe(1);
    expect(await specReplicas(drill.ns.name, 'capped')).toBe(2);
    const status = await eventConsumerStatus(drill.ns.name, 'capped');
    expect(status.lastScaleTime).toBeDefined();
    const ready = condition(status, 'Ready');
    expect(ready).toMatchObject({ status: 'False', reason: 'ScaleAdjusted' });
    expect(ready?.message).toMatch(
      /asked for 5 .*stored 2.*asks again 10 s after this ask.*set spec\.maxReplicas to 2/,
    );
    const scaled = await eventually('the Scaled Event', async () => {
      const events = await scaledEvents('capped');
      return events.length > 0 ? events : undefined;
    });
    expect(scaled).toEqual([expect.stringMatching(/from 1 to 2\b/)]);
    const adjusted = await eventually(
      'a ScaleAdjusted Event',
      async () => (await eventsFor(drill.ns.name, 'capped')).find((e) => e.reason === 'ScaleAdjusted'),
      15_000,
      250,
    );
    expect(adjusted).toMatchObject({ type: 'Warning' });

    // The limit is learnt: the next polls (within the 10 s hold) do not ask again — before, each
    // asked for 5 and got 2 again, a write, an admission call and a Warning Event per poll — and
    // change nothing: no scale recorded or counted.
    for (let i = 0; i < 3; i++) {
      await sleep(1_000);
      await drill.poll('capped');
    }
    expect(asks - asksBefore).toBe(1);
    expect(condition(await eventConsumerStatus(drill.ns.name, 'capped'), 'Ready')?.reason).toBe(
      'ScaleAdjusted',
    );
    expect(await specReplicas(drill.ns.name, 'capped')).toBe(2);
    const counted = (await drill.direct.metrics.scaleEvents.get()).values
      .filter((v) => v.labels.namespace === drill.ns.name && v.labels.name === 'capped')
      .reduce((n, v) => n + v.value, 0);
    expect(counted).toBe(1);
    await sleep(1_000); // the recorder's writes
    expect(await scaledEvents('capped')).toHaveLength(1);
    const after = await eventConsumerStatus(drill.ns.name, 'capped');
    expect(after.lastScaleTime).toBe(status.lastScaleTime);

    // Past the hold it asks once more (the rule may have been lifted), and holds twice as long.
    await sleep(8_000);
    await deploymentAtRest(drill.ns.name, 'capped');
    await drill.poll('capped');
    expect(asks - asksBefore).toBe(2);
    await eventually(
      'a ScaleAdjusted Event with the doubled hold',
      async () =>
        (await eventsFor(drill.ns.name, 'capped')).find(
          (e) => e.reason === 'ScaleAdjusted' && /asks again 20 s after this ask/.test(e.message ?? ''),
        ),
      15_000,
      250,
    );
    await sleep(1_000);
    await drill.poll('capped');
    expect(asks - asksBefore).toBe(2);

    // Told what to change, the user sets maxReplicas 2: nothing more to ask, Ready again.
    await kubeApi().request('PATCH', eventConsumerPath(drill.ns.name, 'capped'), {
      body: { spec: { maxReplicas: 2 } },
    });
    await sleep(1_000);
    await drill.poll('capped');
    expect(asks - asksBefore).toBe(2);
    expect(condition(await eventConsumerStatus(drill.ns.name, 'capped'), 'Ready')?.status).toBe('True');
    expect(await specReplicas(drill.ns.name, 'capped')).toBe(2);
  });
});
