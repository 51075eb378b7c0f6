// A user JWT that expires on a NATS server whose clock is ahead of the operator's (day one: NTP
// drifting on one side, a managed NATS in another datacentre). The server closes the connection at
// the JWT's `exp` by its own clock, saying "User Authentication Expired", and refuses reconnects
// ("Authorization Violation"); by the operator's clock the JWT is still valid for a while, so the
// operator cannot judge the expiry from `exp` (observe.ts withExpiredUserJwt, 2 s of slack). What
// the server said must be enough: every failed poll from the server's expiry on says the
// credentials expired and to renew them (NatsUnauthorized), never NatsUnreachable (which would
// count toward fallback as an outage). On a real nats-server in operator mode; the skew is played by
// the reconciler's wall clock, set SKEW_MS behind (the server's clock is this host's).
import { connect, credsAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer, type NatsServer } from '../../hack/stack/nats-server.js';
import { createNamespace } from '../../test/env.js';
import {
  closeKubeApi,
  condition,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  directReconciler,
  eventConsumerStatus,
  installCrd,
  publish,
  putSecret,
  sleep,
  specReplicas,
  streamName,
  type DirectReconciler,
} from './harness.js';
import { makeJwtOperator } from './test-jwt.js';

/** How far the server's clock is ahead of the operator's. */
const SKEW_MS = 30_000;
/** The JWT expires this long after the first poll, by the server's clock. */
const EXPIRES_IN_S = 6;

describe('a user JWT that expires on a NATS server whose clock is ahead of ours', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let dir: string;
  let server: NatsServer;
  let admin: NatsConnection;
  let direct: DirectReconciler;
  const jwtOperator = makeJwtOperator();
  const app = jwtOperator.account('APP', { jetstream: true });
  const system = jwtOperator.account('SYS', { jetstream: false });

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-jwtskew');
    dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-jwtskew-'));
    const operatorFile = path.join(dir, 'operator.jwt');
    writeFileSync(operatorFile, jwtOperator.jwt);
    server = await startNatsServer({
      dir: path.join(dir, 'server'),
      config: jwtOperator.serverConfig(operatorFile, [app], system),
    });
    admin = await connect({
      servers: server.url,
      authenticator: credsAuthenticator(new TextEncoder().encode(app.creds('admin'))),
    });
    direct = directReconciler('jwt-clock-skew', { wallClock: () => Date.now() - SKEW_MS });
  }, 60_000);

  afterAll(async () => {
    await direct?.close();
    await admin?.close();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
    await ns?.cleanup();
    closeKubeApi();
  });

  it('every failed poll from the server-side expiry on says the credentials expired, never NatsUnreachable', async () => {
    const name = 'skewed';
    const stream = streamName('jwtskew');
    await createStreamAndConsumer(admin, stream, 'work');
    await publish(admin, stream, 300);
    const expiresAt = Math.floor(Date.now() / 1000) + EXPIRES_IN_S;
    await putSecret(ns.name, 'creds-skewed', { creds: app.creds('skewed', expiresAt) });
    await createDeployment(ns.name, name, 1);
    await createEventConsumer({
      namespace: ns.name,
      name,
      target: name,
      servers: [server.url],
      stream,
      consumer: 'work',
      extra: {
        minReplicas: 1,
        maxReplicas: 10,
        backlogPerReplica: 100,
        pollInterval: '1s',
        fallback: { replicas: 8, failureThreshold: 3 },
        nats: {
          servers: [server.url],
          stream,
          consumer: 'work',
          auth: { secretRef: { name: 'creds-skewed' } },
        },
      },
    });
    // Polls every 500 ms from before the expiry until 8 s after it (the operator's clock is then
    // still 22 s before `exp`: every judgement of the expiry is the server's).
    const seen: string[] = [];
    while (Date.now() < expiresAt * 1000 + 8000) {
      await direct.poll(ns.name, name);
      const ready = condition(await eventConsumerStatus(ns.name, name), 'Ready');
      const line = `${ready?.status} ${ready?.reason}: ${ready?.message}`;
      if (seen.at(-1) !== line) seen.push(line);
      await sleep(500);
    }
    const status = await eventConsumerStatus(ns.name, name);
    process.stdout.write(`server ${SKEW_MS / 1000} s ahead; Ready as polled:\n${seen.join('\n')}\n`);

    expect(seen[0]).toMatch(/^True /); // read before the expiry
    const failed = seen.filter((line) => !line.startsWith('True '));
    expect(failed.length).toBeGreaterThan(0);
    for (const line of failed) {
      expect(line).toMatch(/^False NatsUnauthorized: .*User Authentication Expired/);
      expect(line).toContain(`renew the credentials in the auth Secret ${ns.name}/creds-skewed`);
    }
    expect(condition(status, 'Fallback')?.status).not.toBe('True');
    expect(await specReplicas(ns.name, name)).toBe(3);
  }, 60_000);
});
