// EventConsumer specs a careless or hostile tenant might apply, shared by the schema's unit test
// (the operator refuses each, naming the field) and crd-validation.int.test.ts (the real API
// server refuses the same ones with the CRD, so `kubectl apply` fails instead of a later poll).
// The accepted list guards the other direction: nothing ordinary is refused by either.

export const minimalSpec = {
  scaleTargetRef: { name: 'worker' },
  nats: { servers: ['nats://127.0.0.1:4222'], stream: 'ORDERS', consumer: 'worker' },
};

type Spec = Record<string, unknown>;
const withNats = (nats: Record<string, unknown>): Spec => ({
  ...minimalSpec,
  nats: { ...minimalSpec.nats, ...nats },
});
/** A spec in the several-consumers form with these entries. */
const withConsumers = (consumers: Array<Record<string, unknown>>): Spec => ({
  scaleTargetRef: minimalSpec.scaleTargetRef,
  consumers,
});
const entry = (name: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  name,
  ...minimalSpec.nats,
  consumer: name,
  ...extra,
});
const withTarget = (ref: Record<string, unknown>): Spec => ({
  ...minimalSpec,
  scaleTargetRef: { ...minimalSpec.scaleTargetRef, ...ref },
});

/** [what, spec, the field the operator's message names]. */
export const refusedSpecs: Array<[string, Spec, string]> = [
  ['a 5,000-character domain', withNats({ domain: 'd'.repeat(5000) }), 'spec.nats.domain'],
  ['a 5,000-character apiPrefix', withNats({ apiPrefix: '$JS.' + 'p'.repeat(5000) }), 'spec.nats.apiPrefix'],
  ['an apiPrefix with CRLF', withNats({ apiPrefix: '$JS.hub.API\r\nPUB x 1' }), 'spec.nats.apiPrefix'],
  ['an apiPrefix with a wildcard', withNats({ apiPrefix: '$JS.*.API' }), 'spec.nats.apiPrefix'],
  ['a domain with a dot', withNats({ domain: 'hub.leaf' }), 'spec.nats.domain'],
  ['a stream name with U+00A0', withNats({ stream: 'ORD\u00a0ERS' }), 'spec.nats.stream'],
  ['a stream name with U+000B', withNats({ stream: 'ORD\u000bERS' }), 'spec.nats.stream'],
  ['a consumer name with U+2028', withNats({ consumer: 'work\u2028er' }), 'spec.nats.consumer'],
  ['a consumer name with a backslash', withNats({ consumer: 'a\\b' }), 'spec.nats.consumer'],
  ['a consumer name with a zero-width space', withNats({ consumer: 'wo\u200bker' }), 'spec.nats.consumer'],
  ['a server with a newline', withNats({ servers: ['nats://a:4222\nINFO'] }), 'spec.nats.servers.0'],
  ['a 600-character server', withNats({ servers: ['nats://' + 'h'.repeat(600)] }), 'spec.nats.servers.0'],
  ['a WebSocket server', withNats({ servers: ['ws://nats.example.com:8080'] }), 'spec.nats.servers.0'],
  ['a secure WebSocket server', withNats({ servers: ['WSS://nats.example.com'] }), 'spec.nats.servers.0'],
  [
    "NATS's monitoring endpoint, as KEDA's scaler takes it",
    withNats({ servers: ['nats://a:4222', 'http://nats.nats.svc:8222'] }),
    'spec.nats.servers.1',
  ],
  ['an apiVersion with a query', withTarget({ apiVersion: 'apps/v1?x=1' }), 'spec.scaleTargetRef.apiVersion'],
  ['an apiVersion with ..', withTarget({ apiVersion: '../v1' }), 'spec.scaleTargetRef.apiVersion'],
  [
    'an apiVersion with two slashes',
    withTarget({ apiVersion: 'apps/v1/x' }),
    'spec.scaleTargetRef.apiVersion',
  ],
  ['an apiVersion in capitals', withTarget({ apiVersion: 'Apps/V1' }), 'spec.scaleTargetRef.apiVersion'],
  ['a 40,000-character kind', withTarget({ kind: 'K'.repeat(40_000) }), 'spec.scaleTargetRef.kind'],
  ['a kind with a slash', withTarget({ kind: 'Deploy/ment' }), 'spec.scaleTargetRef.kind'],
  ['a target name with a slash', withTarget({ name: 'a/../b' }), 'spec.scaleTargetRef.name'],
  [
    'a 40,000-character auth Secret name',
    withNats({ auth: { secretRef: { name: 's'.repeat(40_000) } } }),
    'spec.nats.auth.secretRef.name',
  ],
  ['a TLS Secret name with spaces', withNats({ tls: { secretRef: { name: 'my secret' } } }), 'spec.nats.tls'],
  [
    'backlogPerReplica above 2^53',
    { ...minimalSpec, backlogPerReplica: 2 ** 53 + 2 },
    'spec.backlogPerReplica',
  ],
  ['activationBacklog above int32', { ...minimalSpec, activationBacklog: 2 ** 31 }, 'spec.activationBacklog'],
  [
    'minReplicas above 10,000',
    { ...minimalSpec, minReplicas: 20_000, maxReplicas: 10_000 },
    'spec.minReplicas',
  ],
  [
    'fallback.replicas above 10,000',
    { ...minimalSpec, fallback: { replicas: 2 ** 40 } },
    'spec.fallback.replicas',
  ],
  [
    'a policy value above int32',
    {
      ...minimalSpec,
      behavior: { scaleUp: { policies: [{ type: 'Pods', value: 2 ** 33, period: '15s' }] } },
    },
    'spec.behavior.scaleUp.policies.0.value',
  ],
  ['a 1,000-character duration', { ...minimalSpec, drainWithin: '1'.repeat(998) + 'ms' }, 'spec.drainWithin'],
  [
    'nine consumers (each is read every poll)',
    withConsumers(Array.from({ length: 9 }, (_, i) => entry(`c${i}`))),
    'spec.consumers',
  ],
  ['an empty consumers list', withConsumers([]), 'spec.consumers'],
  [
    'two consumers with one name',
    withConsumers([entry('a'), entry('a', { stream: 'OTHER' })]),
    'spec.consumers',
  ],
  ['a consumer entry name in capitals', withConsumers([entry('Orders')]), 'spec.consumers.0.name'],
  ['a consumer entry without a name', withConsumers([{ ...minimalSpec.nats }]), 'spec.consumers.0.name'],
  [
    'a consumer entry stream with a wildcard',
    withConsumers([entry('a', { stream: 'ORD*' })]),
    'spec.consumers.0.stream',
  ],
  ['both nats and consumers', { ...minimalSpec, consumers: [entry('a')] }, 'spec.nats'],
];

/** Specs that are unusual but legitimate: both the operator and the API server accept them. */
export const acceptedSpecs: Array<[string, Spec]> = [
  ['the core group', withTarget({ apiVersion: 'v1', kind: 'ReplicationController' })],
  ['a custom group', withTarget({ apiVersion: 'argoproj.io/v1alpha1', kind: 'Rollout' })],
  ['a non-ASCII stream name', withNats({ stream: 'Bestellungen_Ä', consumer: 'wörker-1' })],
  ['an apiPrefix', withNats({ apiPrefix: '$JS.hub.API' })],
  ['a domain', withNats({ domain: 'hub-1' })],
  [
    'names at their limits',
    withNats({ stream: 'S'.repeat(255), consumer: 'c'.repeat(255), domain: 'd'.repeat(63) }),
  ],
  [
    'a server as host:port, and schemes in capitals',
    withNats({ servers: ['127.0.0.1:4222', 'tls://nats.example.com:4443', 'NATS://nats:4222'] }),
  ],
  [
    'eight consumers on two servers, each with its own credentials',
    withConsumers(
      Array.from({ length: 8 }, (_, i) =>
        entry(`c${i}`, {
          servers: [i % 2 === 0 ? 'nats://127.0.0.1:4222' : 'nats://127.0.0.2:4222'],
          auth: { secretRef: { name: `nats-auth-${i}` } },
        }),
      ),
    ),
  ],
  [
    'the largest counts',
    { ...minimalSpec, minReplicas: 10_000, maxReplicas: 10_000, backlogPerReplica: 2 ** 31 - 1 },
  ],
];
