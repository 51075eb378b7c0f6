// An EventConsumer whose status writes the API server refuses (an admission policy here; a
// webhook or a status schema stricter than jetscale's CRD do the same): its target is scaled from
// the backlog all the same, its neighbours' statuses are written, and a Warning Event says why its
// own status stays old. On the real stack (real API server with a ValidatingAdmissionPolicy, real
// NATS), the reconciler driven directly. Before, the refusal was only logged: `kubectl get ec`
// showed an empty or old status and nothing on the object said why.
import { eventually } from '../../test/env.js';
import { eventConsumerPath } from '../src/api/v1alpha1/group-version.js';
import { KubeApiError } from '../src/kube/api-client.js';
import { denyUnless, removePolicy, startWebhook } from './admission.js';
import {
  condition,
  eventConsumerStatus,
  eventsFor,
  kubeApi,
  specReplicas,
  useStreamDrill,
} from './harness.js';

describe('status writes refused by the API server', () => {
  const drill = useStreamDrill({ namespace: 'op-status-refused', instance: 'status-refused-test' });
  const policy = `refuse-ec-status-${process.pid}`;

  afterAll(async () => {
    await removePolicy(policy);
  });

  it('scales all the same, writes the neighbours’ status, and says why its own stays old', async () => {
    await denyUnless(
      policy,
      { apiGroup: 'jetscale.io', resource: 'eventconsumers/status', namespace: drill.ns.name },
      [
        {
          expression: "object.metadata.name != 'refused'",
          message: 'status writes of EventConsumer refused are not allowed here',
        },
      ],
    );
    for (const name of ['refused', 'written']) {
      const stream = await drill.addStream(name, 300);
      await drill.addTarget(name, stream, { consumer: 'worker' });
    }
    // The policy is in force once a status write of "refused" is denied (the API server loads
    // policies asynchronously); it answers 422 Invalid, naming the policy.
    await eventually(
      'the admission policy in force',
      async () =>
        kubeApi()
          .request('PATCH', `${eventConsumerPath(drill.ns.name, 'refused')}/status`, {
            body: { status: { lastPollTime: new Date().toISOString() } },
          })
          .then(
            () => undefined,
            (err: unknown) =>
              err instanceof KubeApiError && /not allowed here/.test(err.message) ? true : undefined,
          ),
      30_000,
      250,
    );

    await drill.poll('refused');
    await drill.poll('written');
    // 300 pending at 100 per replica: 3 each, whether or not the status was written.
    expect(await specReplicas(drill.ns.name, 'refused')).toBe(3);
    expect(await specReplicas(drill.ns.name, 'written')).toBe(3);
    expect(condition(await eventConsumerStatus(drill.ns.name, 'written'), 'Ready')?.status).toBe('True');
    expect(condition(await eventConsumerStatus(drill.ns.name, 'refused'), 'Ready')).toBeUndefined();
    const warnings = await eventually(
      'a StatusNotWritten Event on refused',
      async () => {
        const events = (await eventsFor(drill.ns.name, 'refused')).filter(
          (e) => e.reason === 'StatusNotWritten',
        );
        return events.length > 0 ? events : undefined;
      },
      15_000,
      250,
    );
    expect(warnings[0]).toMatchObject({ type: 'Warning' });
    expect(warnings[0]?.message).toMatch(/HTTP 422.*are not allowed here.*replicas are still scaled/);
    expect(await eventsFor(drill.ns.name, 'written')).not.toContainEqual(
      expect.objectContaining({ reason: 'StatusNotWritten' }),
    );
  });

  it('says so when a webhook refuses with a 422 that has no causes (as a failed uid test has none)', async () => {
    // An admission webhook denying status writes of EventConsumer "hooked" with code 422, reason
    // Invalid and only a message: the API server passes that on as it is, without details.causes,
    // as it answers a JSON Patch whose test failed. Before, the writer took every such 422 for the
    // object having been deleted and recreated, and said nothing.
    const hook = `refuse-ec-status-hook-${process.pid}`;
    const webhook = await startWebhook(
      hook,
      'Validating',
      { apiGroup: 'jetscale.io', resource: 'eventconsumers/status', namespace: drill.ns.name },
      (request) =>
        request.name === 'hooked'
          ? {
              allowed: false,
              status: {
                code: 422,
                reason: 'Invalid',
                message: 'status of hooked is frozen by the test webhook',
              },
            }
          : { allowed: true },
    );
    try {
      const stream = await drill.addStream('hooked', 300);
      await drill.addTarget('hooked', stream, { consumer: 'worker' });
      // In force once a status write of "hooked" is refused with the webhook's message, no causes.
      await eventually(
        'the webhook in force',
        async () =>
          kubeApi()
            .request('PATCH', `${eventConsumerPath(drill.ns.name, 'hooked')}/status`, {
              query: { dryRun: 'All' },
              body: { status: { lastPollTime: new Date().toISOString() } },
            })
            .then(
              () => undefined,
              (err: unknown) =>
                err instanceof KubeApiError && /frozen by the test webhook/.test(err.message)
                  ? err
                  : undefined,
            ),
        30_000,
        250,
      ).then((err) => {
        expect(err).toMatchObject({ status: 422, reason: 'Invalid', causes: [] });
      });

      await drill.poll('hooked');
      expect(await specReplicas(drill.ns.name, 'hooked')).toBe(3);
      const warning = await eventually(
        'a StatusNotWritten Event on hooked',
        async () =>
          (await eventsFor(drill.ns.name, 'hooked')).find((e) => e.reason === 'StatusNotWritten') ??
          undefined,
        15_000,
        250,
      );
      expect(warning).toMatchObject({ type: 'Warning' });
      expect(warning.message).toMatch(/HTTP 422.*frozen by the test webhook/);
    } finally {
      await webhook.remove();
    }
  });
});
