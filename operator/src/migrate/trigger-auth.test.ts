import { KedaObjects, kedaParameter, resolveAuthRef } from './trigger-auth.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function ta(spec: unknown, name = 'nats-auth', namespace = 'orders'): unknown {
  return {
    apiVersion: 'keda.sh/v1alpha1',
    kind: 'TriggerAuthentication',
    metadata: { name, namespace },
    spec,
  };
}
function secret(name: string, namespace: string, data: Record<string, string>): unknown {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
}

describe('resolveAuthRef: what an authenticationRef gave KEDA (scale_resolvers.go resolveAuthRef)', () => {
  it('a secretTargetRef parameter is read from the Secret in the ScaledObject namespace, trimmed', () => {
    const objects = new KedaObjects();
    objects.add(
      ta({ secretTargetRef: [{ parameter: 'natsServerMonitoringEndpoint', name: 'mon', key: 'endpoint' }] }),
    );
    objects.add(secret('mon', 'orders', { endpoint: ' nats.prod:8222\n' }));
    const auth = resolveAuthRef({ name: 'nats-auth' }, 'orders', objects);
    expect(auth).toEqual({
      known: true,
      ref: 'TriggerAuthentication orders/nats-auth',
      values: {
        natsServerMonitoringEndpoint: { value: 'nats.prod:8222', from: 'Secret orders/mon key endpoint' },
      },
      unread: {},
    });
    // authParams come before the trigger metadata, as order=authParams;triggerMetadata says.
    expect(
      kedaParameter('natsServerMonitoringEndpoint', auth, { natsServerMonitoringEndpoint: 'old:8222' }),
    ).toEqual({
      value: 'nats.prod:8222',
      from: 'Secret orders/mon key endpoint',
    });
  });

  it('a TriggerAuthentication of another namespace is not the one KEDA reads', () => {
    const objects = new KedaObjects();
    objects.add(ta({}, 'nats-auth', 'other'));
    expect(resolveAuthRef({ name: 'nats-auth' }, 'orders', objects)).toMatchObject({
      known: false,
      why: expect.stringMatching(/not among the inputs/),
    });
  });

  it('a blank or missing value falls through to the trigger metadata, as KEDA treats "" as not set', () => {
    const objects = new KedaObjects();
    objects.add(
      ta({
        secretTargetRef: [
          { parameter: 'natsServerMonitoringEndpoint', name: 'mon', key: 'absent-key' },
          { parameter: 'account', name: 'gone', key: 'account' },
        ],
      }),
    );
    objects.add(secret('mon', 'orders', { endpoint: 'x:8222' }));
    objects.absent('Secret', 'orders', 'gone');
    const auth = resolveAuthRef({ name: 'nats-auth' }, 'orders', objects);
    expect(auth).toMatchObject({ known: true, unread: {} });
    expect(
      kedaParameter('natsServerMonitoringEndpoint', auth, { natsServerMonitoringEndpoint: 'meta:8222' }),
    ).toEqual({
      value: 'meta:8222',
      from: 'trigger metadata',
    });
    expect(kedaParameter('account', auth, {})).toBeUndefined();
  });

  it('a Secret that is not among the inputs, or unreadable, leaves the parameter unknown (never guessed)', () => {
    const objects = new KedaObjects();
    objects.add(
      ta({ secretTargetRef: [{ parameter: 'natsServerMonitoringEndpoint', name: 'mon', key: 'e' }] }),
    );
    expect(resolveAuthRef({ name: 'nats-auth' }, 'orders', objects)).toMatchObject({
      known: true,
      unread: { natsServerMonitoringEndpoint: 'Secret orders/mon key e (not among the inputs)' },
    });
    objects.unreadable('Secret', 'orders', 'mon', 'forbidden (secrets "mon" is forbidden)');
    expect(resolveAuthRef({ name: 'nats-auth' }, 'orders', objects)).toMatchObject({
      unread: { natsServerMonitoringEndpoint: expect.stringMatching(/forbidden/) },
    });
  });

  it('a Secret overrides a ConfigMap and a vault overrides both, in resolveAuthRef order', () => {
    const objects = new KedaObjects();
    objects.add({ kind: 'ConfigMap', metadata: { name: 'cm', namespace: 'orders' }, data: { e: 'cm:8222' } });
    objects.add(secret('s', 'orders', { e: 'secret:8222' }));
    const both = {
      configMapTargetRef: [{ parameter: 'natsServerMonitoringEndpoint', name: 'cm', key: 'e' }],
      secretTargetRef: [{ parameter: 'natsServerMonitoringEndpoint', name: 's', key: 'e' }],
    };
    objects.add(ta(both, 'a'));
    expect(
      kedaParameter('natsServerMonitoringEndpoint', resolveAuthRef({ name: 'a' }, 'orders', objects), {}),
    ).toMatchObject({ value: 'secret:8222' });
    objects.add(
      ta({ ...both, hashiCorpVault: { secrets: [{ parameter: 'natsServerMonitoringEndpoint' }] } }, 'b'),
    );
    const vault = resolveAuthRef({ name: 'b' }, 'orders', objects);
    expect(vault).toMatchObject({
      known: true,
      values: {},
      unread: { natsServerMonitoringEndpoint: /hashiCorpVault/ },
    });
    // The env of the target's container comes first: a Secret after it wins.
    objects.add(
      ta(
        {
          env: [{ parameter: 'natsServerMonitoringEndpoint', name: 'MON' }],
          secretTargetRef: both.secretTargetRef,
        },
        'c',
      ),
    );
    expect(resolveAuthRef({ name: 'c' }, 'orders', objects)).toMatchObject({
      values: { natsServerMonitoringEndpoint: { value: 'secret:8222' } },
      unread: {},
    });
    objects.add(
      ta({ env: [{ parameter: 'natsServerMonitoringEndpoint', name: 'MON', containerName: 'app' }] }, 'd'),
    );
    expect(resolveAuthRef({ name: 'd' }, 'orders', objects)).toMatchObject({
      unread: { natsServerMonitoringEndpoint: "env MON of the target's container app" },
    });
  });

  it("a ClusterTriggerAuthentication's Secrets are read in KEDA's namespace; filePath makes every parameter unknown", () => {
    const objects = new KedaObjects();
    objects.add({
      kind: 'ClusterTriggerAuthentication',
      metadata: { name: 'shared' },
      spec: { secretTargetRef: [{ parameter: 'accountID', name: 'acct', key: 'id' }] },
    });
    objects.add(secret('acct', 'orders', { id: 'WRONG' }));
    objects.add(secret('acct', 'keda-system', { id: 'ACCT' }));
    const auth = resolveAuthRef(
      { name: 'shared', kind: 'ClusterTriggerAuthentication' },
      'orders',
      objects,
      'keda-system',
    );
    expect(kedaParameter('accountID', auth, {})).toEqual({
      value: 'ACCT',
      from: 'Secret keda-system/acct key id',
    });
    objects.add({
      kind: 'ClusterTriggerAuthentication',
      metadata: { name: 'file' },
      spec: { filePath: '/auth.json' },
    });
    const file = resolveAuthRef({ name: 'file', kind: 'ClusterTriggerAuthentication' }, 'orders', objects);
    expect(file).toMatchObject({
      known: true,
      unread: { natsServerMonitoringEndpoint: /file \/auth\.json/ },
    });
    // KEDA refuses filePath on a namespaced TriggerAuthentication.
    objects.add(ta({ filePath: '/auth.json' }, 'f'));
    expect(resolveAuthRef({ name: 'f' }, 'orders', objects)).toMatchObject({
      known: false,
      why: /ClusterTriggerAuthentication only/,
    });
  });

  it('an absent TriggerAuthentication gave KEDA nothing (it scales on the metadata); an unknown kind is named', () => {
    const objects = new KedaObjects();
    objects.absent('TriggerAuthentication', 'orders', 'nats-auth');
    expect(resolveAuthRef({ name: 'nats-auth' }, 'orders', objects)).toMatchObject({
      known: true,
      values: {},
      unread: {},
    });
    expect(resolveAuthRef({ name: 'x', kind: 'VaultAuth' }, 'orders', objects)).toMatchObject({
      known: false,
      why: 'KEDA knows no authentication kind "VaultAuth"',
    });
  });

  it('a spec KEDA could not read (hostile input) is reported, not thrown', () => {
    const objects = new KedaObjects();
    objects.add(ta({ secretTargetRef: 'not-a-list' }));
    expect(resolveAuthRef({ name: 'nats-auth' }, 'orders', objects)).toMatchObject({
      known: false,
      why: expect.stringMatching(/secretTargetRef/),
    });
  });
});
