// Specifies who keeps a target that several controllers claim: the oldest EventConsumer
// (creationTimestamp, then uid), any HPA or ScaledObject over every EventConsumer, targets
// compared by group, kind and name.
import { parseEventConsumerSpec, type EventConsumerObject } from '../api/v1alpha1/event-consumer.js';
import type { OtherAutoscaler } from '../kube/other-autoscalers.js';
import { TargetClaims, conflictMessage } from './target-claims.js';

function ec(
  name: string,
  created: string,
  uid: string,
  target: Record<string, unknown> = { name: 'worker' },
  extra: Record<string, unknown> = {},
): EventConsumerObject {
  return {
    metadata: { name, namespace: 'ns', uid, creationTimestamp: created as unknown as Date },
    spec: { scaleTargetRef: target, nats: { servers: ['nats://x'], stream: 'S', consumer: 'c' }, ...extra },
  };
}

function specOf(obj: EventConsumerObject) {
  const parsed = parseEventConsumerSpec(obj.spec);
  if (!parsed.ok) throw new Error(parsed.problems.join('; '));
  return parsed.spec;
}

function claims(all: EventConsumerObject[], others: OtherAutoscaler[] = []) {
  return new TargetClaims({
    list: (namespace) => all.filter((o) => o.metadata?.namespace === namespace),
    autoscalers: { on: async () => others },
    now: () => 0,
  });
}

describe('TargetClaims', () => {
  const old = ec('a', '2026-01-01T00:00:00Z', 'u-9');
  const young = ec('b', '2026-01-01T00:00:05Z', 'u-1');

  it('lets the oldest EventConsumer keep the target and names it to the younger one', async () => {
    const c = claims([old, young]);
    expect(await c.rivalOf(old, specOf(old))).toBeUndefined();
    const rival = await c.rivalOf(young, specOf(young));
    expect(rival).toEqual({
      kind: 'EventConsumer',
      namespace: 'ns',
      name: 'a',
      created: { rival: '2026-01-01T00:00:00Z', self: '2026-01-01T00:00:05Z' },
    });
    // The message carries the evidence for "older", so a user can check it with kubectl get -o yaml.
    if (rival === undefined) return;
    expect(conflictMessage(specOf(young), rival)).toContain(
      'ns/a, which is older (created 2026-01-01T00:00:00Z, this one 2026-01-01T00:00:05Z) and keeps it',
    );
  });

  it('reads creationTimestamp as a Date too (a typed client deserializes it) and compares the same', async () => {
    const asDate = (o: EventConsumerObject): EventConsumerObject => ({
      ...o,
      metadata: { ...o.metadata, creationTimestamp: new Date(String(o.metadata?.creationTimestamp)) },
    });
    const c = claims([asDate(old), asDate(young)]);
    expect(await c.rivalOf(asDate(old), specOf(old))).toBeUndefined();
    expect((await c.rivalOf(asDate(young), specOf(young)))?.created).toEqual({
      rival: '2026-01-01T00:00:00Z',
      self: '2026-01-01T00:00:05Z',
    });
  });

  it('breaks a tie of creationTimestamp by uid, the same way from both sides', async () => {
    const x = ec('x', '2026-01-01T00:00:00Z', 'u-2');
    const y = ec('y', '2026-01-01T00:00:00Z', 'u-1');
    const c = claims([x, y]);
    expect(await c.rivalOf(y, specOf(y))).toBeUndefined();
    const rival = await c.rivalOf(x, specOf(x));
    expect(rival?.name).toBe('y');
    if (rival === undefined) return;
    expect(conflictMessage(specOf(x), rival)).toContain('created in the same second as this one');
  });

  it('keeps the oldest whatever order the claimants are compared in, one without a creationTimestamp the youngest', async () => {
    // Before: the pair with the missing timestamp fell back to uids alone (u-5 < u-9, u-1 < u-5),
    // so listed as [old, unstamped, young] the target went to young, created 5 s after old.
    const unstamped: EventConsumerObject = {
      ...ec('unstamped', '', 'u-5'),
      metadata: { name: 'unstamped', namespace: 'ns', uid: 'u-5' },
    };
    for (const all of [
      [old, unstamped, young],
      [young, unstamped, old],
      [unstamped, young, old],
    ]) {
      const c = claims(all);
      expect(await c.rivalOf(old, specOf(old))).toBeUndefined();
      expect((await c.rivalOf(young, specOf(young)))?.name).toBe('a');
      expect((await c.rivalOf(unstamped, specOf(unstamped)))?.name).toBe('a');
    }
  });

  it('compares targets by group, kind and name, not version', async () => {
    const sameGroup = ec('c', '2026-01-01T00:00:09Z', 'u-3', { apiVersion: 'apps/v1beta2', name: 'worker' });
    const otherKind = ec('d', '2026-01-01T00:00:09Z', 'u-4', { kind: 'StatefulSet', name: 'worker' });
    const otherName = ec('e', '2026-01-01T00:00:09Z', 'u-5', { name: 'other' });
    const c = claims([old, sameGroup, otherKind, otherName]);
    expect((await c.rivalOf(sameGroup, specOf(sameGroup)))?.name).toBe('a');
    expect(await c.rivalOf(otherKind, specOf(otherKind))).toBeUndefined();
    expect(await c.rivalOf(otherName, specOf(otherName))).toBeUndefined();
  });

  it('ignores EventConsumers being deleted, in another namespace, or whose scaleTargetRef does not read', async () => {
    const deleting = {
      ...ec('old-deleting', '2025-01-01T00:00:00Z', 'u-00'),
      metadata: { ...ec('x', '2025-01-01T00:00:00Z', 'u-00').metadata, deletionTimestamp: new Date() },
    };
    const elsewhere = { ...old, metadata: { ...old.metadata, namespace: 'other', uid: 'u-000' } };
    const noTarget = ec('old-no-target', '2025-01-01T00:00:00Z', 'u-0000', { name: 'Not A Name' });
    const c = claims([deleting, elsewhere, noTarget, young]);
    expect(await c.rivalOf(young, specOf(young))).toBeUndefined();
  });

  it('an older EventConsumer with an invalid spec keeps the target: a typo hands nothing over', async () => {
    // Before, it claimed nothing: the younger one took the target over (and rescaled it with its
    // own policy) until the typo was fixed, then gave it back.
    const invalid = ec('old-invalid', '2025-01-01T00:00:00Z', 'u-0', { name: 'worker' }, { minReplicas: -1 });
    const c = claims([invalid, young]);
    const rival = await c.rivalOf(young, specOf(young));
    expect(rival).toMatchObject({
      kind: 'EventConsumer',
      namespace: 'ns',
      name: 'old-invalid',
      specInvalid: true,
    });
    if (rival === undefined) return;
    expect(conflictMessage(specOf(young), rival)).toMatch(
      /ns\/old-invalid, which is older \(created 2025-01-01T00:00:00Z, this one 2026-01-01T00:00:05Z\) and keeps it, but its spec is invalid .*Fix ns\/old-invalid's spec/,
    );
    // Its scaleTargetRef's defaults apply as in a valid spec (apps/v1 Deployment).
    const onOther = ec(
      'old-invalid-2',
      '2025-01-01T00:00:00Z',
      'u-01',
      { name: 'other' },
      { maxReplicas: 0 },
    );
    expect(await claims([onOther, young]).rivalOf(young, specOf(young))).toBeUndefined();
  });

  it('yields to an HPA or ScaledObject even when it is the oldest EventConsumer', async () => {
    const hpa: OtherAutoscaler = { kind: 'HorizontalPodAutoscaler', namespace: 'ns', name: 'web' };
    const c = claims([old], [hpa]);
    const rival = await c.rivalOf(old, specOf(old));
    expect(rival).toEqual(hpa);
    expect(conflictMessage(specOf(old), hpa)).toContain('HorizontalPodAutoscaler ns/web');
  });
});
