// A custom-resource target whose CRD converts between versions with a webhook that fails (its
// Service gone, its certificate expired, its code erroring): the API server cannot hand the object
// out in the version the EventConsumer names. The target exists; the user must fix the webhook (or
// name the version the objects are stored in), and the condition must say so — not that the
// target is missing. On the real stack: a CRD with v1 (storage) and v2 (served) and a conversion
// webhook at an address where nothing listens; the reconciler driven directly.
import { eventually, testStack } from '../../test/env.js';
import { condition, createEventConsumer, eventConsumerStatus, kubeApi, useStreamDrill } from './harness.js';
import { CRDS_PATH, scalableVersion } from './scalable-crd.js';

const GROUP = 'convert.jetscale.test';
const KIND = 'Gadget';
const PLURAL = 'gadgets';

describe('a custom-resource target whose conversion webhook fails', () => {
  const drill = useStreamDrill({ namespace: 'op-convert', instance: 'conversion-webhook-test' });

  afterAll(async () => {
    await kubeApi()
      .request('DELETE', `${CRDS_PATH}/${PLURAL}.${GROUP}`)
      .catch(() => undefined);
  });

  it('is reported as a conversion failure that names the webhook, not as a missing target; replicas left alone', async () => {
    const v1 = scalableVersion({ scale: true, status: true });
    await kubeApi().request('POST', CRDS_PATH, {
      body: {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: `${PLURAL}.${GROUP}` },
        spec: {
          group: GROUP,
          scope: 'Namespaced',
          names: { plural: PLURAL, singular: KIND.toLowerCase(), kind: KIND, listKind: `${KIND}List` },
          versions: [v1, { ...v1, name: 'v2', storage: false }],
          conversion: {
            strategy: 'Webhook',
            webhook: {
              conversionReviewVersions: ['v1'],
              // Nothing listens there: every conversion fails (connection refused).
              clientConfig: { url: 'https://127.0.0.1:1/convert' },
            },
          },
        },
      },
    });
    const name = 'converted';
    // Served and stored as v1: created without any conversion.
    await eventually('the Gadget CRD served', async () => {
      await kubeApi().request('POST', `/apis/${GROUP}/v1/namespaces/${drill.ns.name}/${PLURAL}`, {
        body: {
          apiVersion: `${GROUP}/v1`,
          kind: KIND,
          metadata: { name, namespace: drill.ns.name },
          spec: { replicas: 2 },
        },
      });
      return true;
    });
    const stream = await drill.addStream(name, 500);
    await createEventConsumer({
      namespace: drill.ns.name,
      name,
      target: name,
      servers: [testStack().natsUrl],
      stream,
      consumer: 'worker',
      extra: {
        scaleTargetRef: { apiVersion: `${GROUP}/v2`, kind: KIND, name },
        maxReplicas: 10,
        backlogPerReplica: 100,
      },
    });

    await drill.poll(name);
    await drill.poll(name);
    const ready = condition(await eventConsumerStatus(drill.ns.name, name), 'Ready');
    process.stderr.write(`conversion-webhook: Ready ${ready?.status} ${ready?.reason}: ${ready?.message}\n`);
    expect(ready?.status).toBe('False');
    expect(ready?.reason).toBe('TargetConversionFailed');
    expect(ready?.message).toContain(`${PLURAL}.${GROUP}`);
    expect(ready?.message).toContain('conversion webhook');
    expect(ready?.message).toContain('https://127.0.0.1:1/convert');
    // Left alone: 2 replicas, though the backlog asks for 5.
    const stored = await kubeApi().request<{ spec?: { replicas?: number } }>(
      'GET',
      `/apis/${GROUP}/v1/namespaces/${drill.ns.name}/${PLURAL}/${name}`,
    );
    expect(stored.spec?.replicas).toBe(2);
  });
});
