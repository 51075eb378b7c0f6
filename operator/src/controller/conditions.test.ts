// Specifies condition bookkeeping: transition times move only when the status changes.
import { loadAllYaml } from '@kubernetes/client-node';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MAX_CONDITION_MESSAGE, MAX_CONDITION_REASON, capText, setConditions } from './conditions.js';

const t0 = '2026-01-01T00:00:00Z';
const t1 = '2026-01-01T00:01:00Z';

describe('setConditions', () => {
  it('adds conditions in a fixed order with the generation they describe', () => {
    const conditions = setConditions(
      undefined,
      [
        { type: 'Paused', status: 'False', reason: 'NotPaused', message: 'scaling' },
        { type: 'Ready', status: 'True', reason: 'Scaling', message: 'ok' },
      ],
      t0,
      3,
    );
    expect(conditions.map((c) => c.type)).toEqual(['Ready', 'Paused']);
    expect(conditions[0]).toEqual({
      type: 'Ready',
      status: 'True',
      reason: 'Scaling',
      message: 'ok',
      lastTransitionTime: t0,
      observedGeneration: 3,
    });
  });

  it('keeps lastTransitionTime while the status stays, and refreshes reason and message', () => {
    const first = setConditions(
      undefined,
      [{ type: 'Ready', status: 'False', reason: 'StreamNotFound', message: 'a' }],
      t0,
      1,
    );
    const second = setConditions(
      first,
      [{ type: 'Ready', status: 'False', reason: 'ConsumerNotFound', message: 'b' }],
      t1,
      2,
    );
    expect(second[0]).toMatchObject({
      status: 'False',
      reason: 'ConsumerNotFound',
      message: 'b',
      lastTransitionTime: t0,
      observedGeneration: 2,
    });
  });

  it('moves lastTransitionTime when the status changes', () => {
    const first = setConditions(
      undefined,
      [{ type: 'Active', status: 'False', reason: 'NoBacklog', message: '' }],
      t0,
      1,
    );
    const second = setConditions(
      first,
      [{ type: 'Active', status: 'True', reason: 'BacklogAboveActivation', message: '' }],
      t1,
      1,
    );
    expect(second[0]?.lastTransitionTime).toBe(t1);
  });

  it('leaves conditions that are not updated untouched', () => {
    const first = setConditions(
      undefined,
      [{ type: 'Active', status: 'True', reason: 'BacklogAboveActivation', message: 'x' }],
      t0,
      1,
    );
    const second = setConditions(
      first,
      [{ type: 'Ready', status: 'False', reason: 'NatsUnreachable', message: 'y' }],
      t1,
      2,
    );
    expect(second.find((c) => c.type === 'Active')).toEqual(first[0]);
  });
});

describe('condition text limits', () => {
  /** maxLength of status.conditions[].<field> in the CRD, the limit the API server enforces. */
  const crdLimit = (field: 'message' | 'reason'): number => {
    const file = path.resolve(process.cwd(), 'manifests/crd/jetscale.io_eventconsumers.yaml');
    const [crd] = loadAllYaml(readFileSync(file, 'utf8')) as Array<{
      spec: {
        versions: Array<{
          schema: {
            openAPIV3Schema: {
              properties: {
                status: {
                  properties: {
                    conditions: { items: { properties: Record<string, { maxLength?: number }> } };
                  };
                };
              };
            };
          };
        }>;
      };
    }>;
    const limit =
      crd?.spec.versions[0]?.schema.openAPIV3Schema.properties.status.properties.conditions.items.properties[
        field
      ]?.maxLength;
    if (limit === undefined) throw new Error(`the CRD has no maxLength for conditions[].${field}`);
    return limit;
  };

  it('stay under what the CRD lets the API server store', () => {
    expect(MAX_CONDITION_MESSAGE).toBeLessThan(crdLimit('message'));
    expect(MAX_CONDITION_REASON).toBeLessThan(crdLimit('reason'));
  });

  it('cap a message built from a huge user value, and say so', () => {
    const [ready] = setConditions(
      undefined,
      [
        {
          type: 'Ready',
          status: 'False',
          reason: 'TargetNotFound',
          message: `kind ${'K'.repeat(100_000)} is unknown`,
        },
      ],
      t0,
      1,
    );
    expect([...(ready?.message ?? '')].length).toBeLessThanOrEqual(MAX_CONDITION_MESSAGE);
    expect(ready?.message).toMatch(/^kind KKK.*more characters\)$/);
  });

  it('count characters as the API server does and never split a surrogate pair', () => {
    const capped = capText('😀'.repeat(5000), 100);
    expect([...capped].length).toBeLessThanOrEqual(100);
    expect(capped).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])/);
    expect(capText('😀'.repeat(100), 100)).toBe('😀'.repeat(100));
  });
});
