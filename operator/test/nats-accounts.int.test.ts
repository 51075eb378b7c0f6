// NATS users as production hands them out: least privilege, in accounts, and (second part) in
// operator mode, as .creds files of a JWT chain. A platform team gives the
// autoscaler a user that may read consumer info and nothing else, or forgets a permission, or puts
// it in an account without JetStream. On a real nats-server with accounts and permissions, read by
// the operator in this process: the least-privilege user scales; each missing grant is the user's
// configuration to fix, so the operator says which one, leaves the replicas alone and never takes
// it for an outage (no fallback).
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer, type NatsServer } from '../../hack/stack/nats-server.js';
import { createNamespace, eventually } from '../../test/env.js';
import type { RunningOperator } from '../src/run-operator.js';
import {
  closeKubeApi,
  condition,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  eventConsumerStatus,
  eventsFor,
  heldWithoutFallback,
  installCrd,
  kubeApi,
  publish,
  putSecret,
  readyReason,
  replicasReach,
  specReplicas,
  startInProcessOperator,
  streamName,
} from './harness.js';
import { makeJwtOperator } from './test-jwt.js';

const PASSWORD = 'pw-accounts';
/**
 * Fallback after this many failed polls (1 s apart) spanning FALLBACK_MIN_OUTAGE_SECONDS: one or
 * two reads that time out on a loaded machine (a PING past its 2 s opens the connection's breaker)
 * do not reach it. A read misclassified as NatsUnreachable is caught sooner, by its Fallback
 * condition (harness.ts heldWithoutFallback).
 */
const FAILURE_THRESHOLD = 4;
/**
 * The grants of "granted-later": at first it may ask about streams only (not allowed consumer
 * info); then the platform team grants consumer info but still denies the replies (_INBOX).
 */
const GRANTED_LATER = {
  before: `publish: { allow: ["$JS.API.STREAM.INFO.*"] }
          subscribe: { allow: ["_INBOX.>"] }`,
  after: `publish: { allow: ["$JS.API.CONSUMER.INFO.*.*"] }
          subscribe: { deny: ["_INBOX.>"] }`,
};
/** Users of the APP account (JetStream enabled) and of NOJS (no JetStream), by what they may do. */
const accountsConfigWith = (grantedLater: string): string => `
accounts {
  APP: {
    jetstream: enabled
    users: [
      { user: admin, password: "${PASSWORD}" }
      # The documented minimum: consumer info requests, and the replies to them.
      { user: reader, password: "${PASSWORD}", permissions: {
          publish: { allow: ["$JS.API.CONSUMER.INFO.*.*"] }
          subscribe: { allow: ["_INBOX.>"] } } }
      # May ask about streams, not about consumers.
      { user: streams-only, password: "${PASSWORD}", permissions: {
          publish: { allow: ["$JS.API.STREAM.INFO.*"] }
          subscribe: { allow: ["_INBOX.>"] } } }
      # May ask, but may not receive the answers.
      { user: no-inbox, password: "${PASSWORD}", permissions: {
          publish: { allow: ["$JS.API.>"] }
          subscribe: { deny: ["_INBOX.>"] } } }
      { user: granted-later, password: "${PASSWORD}", permissions: {
          ${grantedLater} } }
    ]
  }
  NOJS: {
    users: [ { user: no-jetstream, password: "${PASSWORD}" } ]
  }
}
`;
const accountsConfig = accountsConfigWith(GRANTED_LATER.before);

/** What both parts do: a stream with a backlog, a Deployment, an EventConsumer reading it as a user. */
function accountDrill(at: () => { namespace: string; admin: NatsConnection; url: string }) {
  return {
    replicasReach: (name: string, n: number, timeoutMs?: number) =>
      replicasReach(at().namespace, name, n, timeoutMs),
    putSecret: (name: string, data: Record<string, string>) => putSecret(at().namespace, name, data),
    /** The EventConsumer `name` reads a new stream's `backlog` with the auth Secret `secret`. */
    async scenario(name: string, secret: string, backlog: number, replicas: number): Promise<string> {
      const { namespace, admin, url } = at();
      const stream = streamName(name.replaceAll('-', ''));
      await createStreamAndConsumer(admin, stream, 'work');
      await publish(admin, stream, backlog);
      await createDeployment(namespace, name, replicas);
      await createEventConsumer({
        namespace,
        name,
        target: name,
        servers: [url],
        stream,
        consumer: 'work',
        extra: {
          minReplicas: 1,
          maxReplicas: 10,
          backlogPerReplica: 100,
          pollInterval: '1s',
          fallback: { replicas: 8, failureThreshold: FAILURE_THRESHOLD },
          nats: { servers: [url], stream, consumer: 'work', auth: { secretRef: { name: secret } } },
        },
      });
      return stream;
    },
    readyReason: (name: string, reason: string, timeoutMs?: number) =>
      readyReason(at().namespace, name, reason, timeoutMs),
    heldWithoutFallback: (name: string, replicas: number) =>
      heldWithoutFallback(at().namespace, name, replicas),
  };
}

describe('NATS users with least privilege, in accounts', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let dir: string;
  let server: NatsServer;
  let admin: NatsConnection;
  let operator: RunningOperator;
  /** The operator's warnings (its log at warn level and above), JSON lines. */
  const warnings: string[] = [];

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-natsacct');
    dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-natsacct-'));
    server = await startNatsServer({ dir, config: accountsConfig });
    admin = await connect({ servers: server.url, user: 'admin', pass: PASSWORD });
    for (const user of ['reader', 'streams-only', 'no-inbox', 'no-jetstream', 'granted-later']) {
      const body = {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: `nats-${user}`, namespace: ns.name },
        stringData: { user, password: PASSWORD },
      };
      await kubeApi().request('POST', `/api/v1/namespaces/${ns.name}/secrets`, { body });
    }
    operator = await startInProcessOperator(ns.name, {}, (line) => {
      if (/"level":"(warn|error)"/.test(line)) warnings.push(line);
    });
  }, 60_000);

  afterAll(async () => {
    await operator?.stop();
    await admin?.close();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await ns?.cleanup();
    closeKubeApi();
  });

  const drill = accountDrill(() => ({ namespace: ns.name, admin, url: server.url }));
  const { readyReason, heldWithoutFallback } = drill;
  const scenario = (name: string, user: string, backlog: number, replicas: number): Promise<string> =>
    drill.scenario(name, `nats-${user}`, backlog, replicas);

  it('a user that may only read consumer info scales the Deployment, and is told once what it cannot see (before: nothing)', async () => {
    const stream = await scenario('acct-reader', 'reader', 400, 1);
    await drill.replicasReach('acct-reader', 4);
    // Its STREAM.INFO is refused: polls go on from the consumer's numbers, and the operator says
    // once which grant would let it see whether the stream removes messages a replica holds.
    const unseen = warnings.filter(
      (w) => w.includes('backlog reads cannot see the stream') && w.includes(stream),
    );
    expect(unseen).toHaveLength(1);
    expect(unseen[0]).toContain(`$JS.API.STREAM.INFO.${stream}`);
  });

  it('a user not allowed consumer info: holds, names the subject to grant, no fallback', async () => {
    const stream = await scenario('acct-streams', 'streams-only', 500, 2);
    const message = await readyReason('acct-streams', 'NatsUnauthorized');
    expect(message).toContain(`$JS.API.CONSUMER.INFO.${stream}.work`);
    await heldWithoutFallback('acct-streams', 2);
  });

  it('a user not allowed to receive replies: holds, says to allow _INBOX, no fallback', async () => {
    await scenario('acct-noinbox', 'no-inbox', 500, 2);
    const message = await readyReason('acct-noinbox', 'NatsUnauthorized');
    expect(message).toContain('subscribe to _INBOX.>');
    await heldWithoutFallback('acct-noinbox', 2);
  });

  it('a grant fixed on the server that reveals the next one missing: the new message shows within two polls, though the reason stays NatsUnauthorized', async () => {
    const stream = await scenario('acct-later', 'granted-later', 500, 2);
    const before = await readyReason('acct-later', 'NatsUnauthorized');
    expect(before).toContain(`$JS.API.CONSUMER.INFO.${stream}.work`);
    // Consumer info granted; the replies still denied. Before: the status kept the first message
    // (the reason unchanged) until the 2-min rates cadence, sending the user after a grant given.
    await server.reload(accountsConfigWith(GRANTED_LATER.after));
    const reloaded = performance.now();
    const after = await eventually(
      'acct-later: Ready names the next grant to give',
      async () => {
        const ready = condition(await eventConsumerStatus(ns.name, 'acct-later'), 'Ready');
        return ready?.message.includes('subscribe to _INBOX.>') ? ready : undefined;
      },
      10_000,
    );
    const tookMs = performance.now() - reloaded;
    process.stdout.write(`acct-later: the next grant shown ${Math.round(tookMs)} ms after the reload\n`);
    // pollInterval 1 s: two polls and the reload's own time, with room for a loaded machine.
    expect(tookMs).toBeLessThan(6000);
    expect(after.reason).toBe('NatsUnauthorized');
    expect(await specReplicas(ns.name, 'acct-later')).toBe(2);
  });

  it('a user in an account without JetStream: holds, says JetStream is not enabled for it, no fallback', async () => {
    // The stream lives in APP; the user's account NOJS has no JetStream at all.
    await scenario('acct-nojs', 'no-jetstream', 500, 2);
    const message = await readyReason('acct-nojs', 'NatsJetStreamDisabled');
    expect(message).toMatch(/JetStream is not enabled for the account/);
    expect(message).toMatch(/spec\.nats\.auth/);
    await heldWithoutFallback('acct-nojs', 2);
  });
});

describe('NATS in operator mode: users from .creds files (JWT)', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let dir: string;
  let server: NatsServer;
  let admin: NatsConnection;
  let operator: RunningOperator;
  const jwtOperator = makeJwtOperator();
  const app = jwtOperator.account('APP', { jetstream: true });
  const noJetStream = jwtOperator.account('NOJS', { jetstream: false });
  const system = jwtOperator.account('SYS', { jetstream: false });

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-natsjwt');
    dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-natsjwt-'));
    const operatorFile = path.join(dir, 'operator.jwt');
    writeFileSync(operatorFile, jwtOperator.jwt);
    server = await startNatsServer({
      dir: path.join(dir, 'server'),
      config: jwtOperator.serverConfig(operatorFile, [app, noJetStream], system),
    });
    admin = await connect({
      servers: server.url,
      authenticator: credsAuthenticator(new TextEncoder().encode(app.creds('admin'))),
    });
    operator = await startInProcessOperator(ns.name);
  }, 60_000);

  afterAll(async () => {
    await operator?.stop();
    await admin?.close();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await ns?.cleanup();
    closeKubeApi();
  });

  const drill = accountDrill(() => ({ namespace: ns.name, admin, url: server.url }));
  const { scenario, readyReason, heldWithoutFallback, replicasReach } = drill;
  const putSecret = (name: string, creds: string): Promise<void> => drill.putSecret(name, { creds });

  it('a user of an account with JetStream scales the Deployment', async () => {
    await putSecret('creds-app', app.creds('reader'));
    await scenario('jwt-app', 'creds-app', 300, 1);
    await replicasReach('jwt-app', 3);
  });

  it('an expired user JWT: holds, says it expired and which Secret, no fallback', async () => {
    // The server says only "Authorization Violation" to it: the operator reads the expiry itself.
    await putSecret('creds-expired', app.creds('expired', Math.floor(Date.now() / 1000) - 60));
    await scenario('jwt-expired', 'creds-expired', 500, 2);
    const message = await readyReason('jwt-expired', 'SecretInvalid');
    expect(message).toContain(`${ns.name}/creds-expired`);
    expect(message).toMatch(/expired at .*: renew the \.creds file/);
    await heldWithoutFallback('jwt-expired', 2);
  });

  it('a user of an account without JetStream: NatsJetStreamDisabled, held, no fallback', async () => {
    await putSecret('creds-nojs', noJetStream.creds('reader'));
    await scenario('jwt-nojs', 'creds-nojs', 500, 2);
    await readyReason('jwt-nojs', 'NatsJetStreamDisabled');
    await heldWithoutFallback('jwt-nojs', 2);
  });

  it('a user JWT that expires while connected: held, no fallback; a renewed .creds reads again', async () => {
    // Long enough to be read and scaled on a loaded machine first.
    await putSecret('creds-expiring', app.creds('expiring', Math.floor(Date.now() / 1000) + 40));
    const stream = await scenario('jwt-expiring', 'creds-expiring', 300, 1);
    await replicasReach('jwt-expiring', 3, 35_000);
    // The server closes the connection when the JWT expires ("User Authentication Expired") and
    // refuses reconnects: a poll whose read was out at the expiry is NatsUnauthorized naming the
    // Secret (whether nats.js told the disconnect or the refusal first: observe.ts
    // withExpiredUserJwt), later polls SecretInvalid (the Secret's JWT is judged expired before any
    // connect). Either way: held, no fallback, and never NatsUnreachable (a loaded machine once
    // reported that: a read in flight at the expiry waited out the reconnect grace).
    const status = await eventually(
      'jwt-expiring: Ready False after its JWT expired',
      async () => {
        const ready = condition(await eventConsumerStatus(ns.name, 'jwt-expiring'), 'Ready');
        if (ready?.status === 'False') return ready;
        throw new Error(`Ready is ${ready?.status} ${ready?.reason}: ${ready?.message}`);
      },
      90_000,
    );
    expect(`${status.reason}: ${status.message}`).toMatch(/^(NatsUnauthorized|SecretInvalid): /);
    expect(status.message).toContain(`${ns.name}/creds-expiring`);
    expect(status.message).toMatch(/expired/);
    await heldWithoutFallback('jwt-expiring', 3);
    const unreachable = (await eventsFor(ns.name, 'jwt-expiring')).filter(
      (e) => e.reason === 'NatsUnreachable',
    );
    expect(unreachable.map((e) => e.message)).toEqual([]);
    // Renewed (the operator reads Secrets through a 30 s cache): it reads and scales again.
    await putSecret('creds-expiring', app.creds('expiring'));
    await publish(admin, stream, 300);
    await replicasReach('jwt-expiring', 6, 90_000);
  });
});
