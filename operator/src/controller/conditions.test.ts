// Specifies condition bookkeeping: transition times move only when the status changes.
import { setConditions } from './conditions.js';

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
