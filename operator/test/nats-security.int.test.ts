// NATS as it runs in production: TLS, mutual TLS, a token and an nkey user, each on a real
// nats-server, read by the operator in this process through the Secrets an EventConsumer points
// at. A certificate the operator cannot verify, a missing client certificate and a refused token
// are the user's configuration to fix: the operator says which Secret and what to check, leaves
// the replicas alone and never takes them for an outage (no fallback). Rotating a token (the
// server reloads, then the Secret changes) needs no restart of anything.
import { connect, nkeyAuthenticator, type NatsConnection } from '@nats-io/transport-node';
import { createUser } from '@nats-io/nkeys';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startNatsServer, type NatsServer } from '../../hack/stack/nats-server.js';
import { createNamespace, eventually, testStack } from '../../test/env.js';
import { connectionOptions, diagnoseConnectError } from '../src/backlog/connection-pool.js';
import { endedSilently } from '../src/backlog/tls-diagnosis.js';
import type { RunningOperator } from '../src/run-operator.js';
import {
  closeKubeApi,
  condition,
  createDeployment,
  createEventConsumer,
  createStreamAndConsumer,
  heldWithoutFallback as heldWithoutFallbackIn,
  putSecret as putSecretIn,
  readyReason as readyReasonIn,
  replicasReach as replicasReachIn,
  eventConsumerStatus,
  installCrd,
  publish,
  startInProcessOperator,
  streamName,
} from './harness.js';
import { TcpProxy } from './tcp-proxy.js';
import { makeTestPki, type TestPki } from './test-pki.js';

const tlsBlock = (pki: TestPki, verifyClients: boolean): string => `
tls {
  cert_file: "${pki.files.serverCert}"
  key_file: "${pki.files.serverKey}"
  ${verifyClients ? `ca_file: "${pki.files.ca}"\n  verify: true` : ''}
  timeout: 2
}
`;
const tokenConfig = (pki: TestPki, token: string): string =>
  `${tlsBlock(pki, false)}\nauthorization { token: "${token}" }\n`;

describe('NATS with TLS and credentials', () => {
  let ns: { name: string; cleanup: () => Promise<void> };
  let dir: string;
  let pki: TestPki;
  let tokenServer: NatsServer;
  let mtlsServer: NatsServer;
  let tokenNc: NatsConnection;
  let mtlsNc: NatsConnection;
  let operator: RunningOperator;
  const user = createUser();
  const userSeed = new TextDecoder().decode(user.getSeed());

  beforeAll(async () => {
    await installCrd();
    ns = await createNamespace('op-natssec');
    dir = mkdtempSync(path.join(os.tmpdir(), 'jetscale-natssec-'));
    pki = makeTestPki(dir);
    tokenServer = await startNatsServer({ dir: path.join(dir, 'token'), config: tokenConfig(pki, 'tok-1') });
    mtlsServer = await startNatsServer({
      dir: path.join(dir, 'mtls'),
      config: `${tlsBlock(pki, true)}\nauthorization { users: [ { nkey: "${user.getPublicKey()}" } ] }\n`,
    });
    tokenNc = await connect({ servers: tokenServer.url, token: 'tok-1', tls: { ca: pki.ca } });
    mtlsNc = await connect({
      servers: mtlsServer.url,
      authenticator: nkeyAuthenticator(user.getSeed()),
      tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey },
    });
    await putSecret('nats-ca', { 'ca.crt': pki.ca });
    await putSecret('nats-other-ca', { 'ca.crt': pki.otherCa });
    await putSecret('nats-client-tls', {
      'ca.crt': pki.ca,
      'tls.crt': pki.clientCert,
      'tls.key': pki.clientKey,
    });
    await putSecret('nats-token', { token: 'tok-1' });
    await putSecret('nats-wrong-token', { token: 'not-the-token' });
    await putSecret('nats-nkey', { nkeySeed: userSeed });
    operator = await startInProcessOperator(ns.name);
  }, 60_000);

  afterAll(async () => {
    await operator?.stop();
    await tokenNc?.close();
    await mtlsNc?.close();
    await tokenServer?.stop();
    await mtlsServer?.stop();
    // The streams live in these servers' own stores, removed with the directory.
    if (dir) rmSync(dir, { recursive: true, force: true });
    await ns?.cleanup();
    closeKubeApi();
  });

  const stream = async (nc: NatsConnection, prefix: string, backlog: number): Promise<string> => {
    const name = streamName(prefix);
    await createStreamAndConsumer(nc, name, 'work');
    await publish(nc, name, backlog);
    return name;
  };

  const eventConsumer = async (
    name: string,
    url: string,
    streamNameValue: string,
    secrets: { tls?: string; auth?: string },
    extra: Record<string, unknown> = {},
  ): Promise<void> => {
    await createEventConsumer({
      namespace: ns.name,
      name,
      target: name,
      servers: [url],
      stream: streamNameValue,
      consumer: 'work',
      extra: {
        minReplicas: 1,
        maxReplicas: 10,
        backlogPerReplica: 100,
        pollInterval: '1s',
        nats: {
          servers: [url],
          stream: streamNameValue,
          consumer: 'work',
          ...(secrets.tls === undefined ? {} : { tls: { secretRef: { name: secrets.tls } } }),
          ...(secrets.auth === undefined ? {} : { auth: { secretRef: { name: secrets.auth } } }),
        },
        ...extra,
      },
    });
  };

  /** A server's address as users of TLS write it. */
  const tlsUrl = (server: NatsServer): string => server.url.replace('nats://', 'tls://');

  const putSecret = (name: string, data: Record<string, string>) => putSecretIn(ns.name, name, data);
  const replicasReach = (name: string, n: number, timeoutMs?: number) =>
    replicasReachIn(ns.name, name, n, timeoutMs);
  const readyReason = (name: string, reason: string) => readyReasonIn(ns.name, name, reason);
  // A read misclassified as NatsUnreachable would count toward fallback: its Fallback condition says
  // so at once (harness.ts heldWithoutFallback), without waiting out fallback's 20 s.
  const heldWithoutFallback = (name: string, replicas: number) =>
    heldWithoutFallbackIn(ns.name, name, replicas);
  const fallback = { fallback: { replicas: 8, failureThreshold: 2 } };

  it('scales from a backlog read over TLS with a token', async () => {
    const s = await stream(tokenNc, 'tls-token', 300);
    await createDeployment(ns.name, 'tls-token', 1);
    await eventConsumer('tls-token', tlsUrl(tokenServer), s, { tls: 'nats-ca', auth: 'nats-token' });
    await replicasReach('tls-token', 3);
  });

  it('scales from a backlog read over mutual TLS with an nkey user', async () => {
    const s = await stream(mtlsNc, 'mtls-nkey', 400);
    await createDeployment(ns.name, 'mtls-nkey', 1);
    await eventConsumer('mtls-nkey', tlsUrl(mtlsServer), s, { tls: 'nats-client-tls', auth: 'nats-nkey' });
    await replicasReach('mtls-nkey', 4);
  });

  it('a server certificate it cannot verify (no CA given): holds, names the TLS problem, no fallback', async () => {
    const s = await stream(tokenNc, 'tls-noca', 500);
    await createDeployment(ns.name, 'tls-noca', 2);
    await eventConsumer('tls-noca', tlsUrl(tokenServer), s, { auth: 'nats-token' }, fallback);
    const message = await readyReason('tls-noca', 'NatsTlsFailed');
    expect(message).toMatch(/TLS/);
    expect(message).toMatch(/spec\.nats\.tls/);
    await heldWithoutFallback('tls-noca', 2);
  });

  it('a CA that did not sign the server certificate: holds, names the TLS Secret, no fallback', async () => {
    const s = await stream(tokenNc, 'tls-otherca', 500);
    await createDeployment(ns.name, 'tls-otherca', 2);
    await eventConsumer(
      'tls-otherca',
      tlsUrl(tokenServer),
      s,
      { tls: 'nats-other-ca', auth: 'nats-token' },
      fallback,
    );
    const message = await readyReason('tls-otherca', 'NatsTlsFailed');
    expect(message).toContain(`${ns.name}/nats-other-ca`);
    expect(message).toMatch(/ca\.crt/);
    await heldWithoutFallback('tls-otherca', 2);
  });

  it('no client certificate where the server requires one: holds, says so, no fallback', async () => {
    const s = await stream(mtlsNc, 'mtls-nocert', 500);
    await createDeployment(ns.name, 'mtls-nocert', 2);
    await eventConsumer(
      'mtls-nocert',
      tlsUrl(mtlsServer),
      s,
      { tls: 'nats-ca', auth: 'nats-nkey' },
      fallback,
    );
    const message = await readyReason('mtls-nocert', 'NatsTlsFailed');
    expect(message).toMatch(/client certificate/);
    expect(message).toContain(`${ns.name}/nats-ca`);
    await heldWithoutFallback('mtls-nocert', 2);
  });

  it('a TLS Secret for a server without TLS: holds, says to remove it, no fallback', async () => {
    const plainNc = await connect({ servers: testStack().natsUrl });
    try {
      const s = await stream(plainNc, 'plain-tls', 500);
      await createDeployment(ns.name, 'plain-tls', 2);
      await eventConsumer('plain-tls', testStack().natsUrl, s, { tls: 'nats-ca' }, fallback);
      const message = await readyReason('plain-tls', 'NatsTlsFailed');
      expect(message).toMatch(/offers no TLS/);
      expect(message).toContain(`${ns.name}/nats-ca is set: remove tls.secretRef`);
      await heldWithoutFallback('plain-tls', 2);
    } finally {
      await plainNc.close();
    }
  });

  it('a TLS Secret for a server without TLS, on a connect that timed out before the server spoke: told as such, not as unreachable', async () => {
    // A loaded machine: the client gives up before the server's INFO arrives, so the client's own
    // "does not support tls" refusal never comes. Read as unreachable, it counted toward fallback
    // (nats-security's case above reached fallback's 8 once under load). Made certain here by a
    // proxy that delays the server's bytes by INFO_DELAY_MS, past the client's CONNECT_TIMEOUT_MS
    // (both timers in this process, the shorter one set first: it always fires first). A bare 1 ms
    // timeout to the server itself was not certain: on an idle machine the INFO came within it (a
    // CI rehearsal). The diagnosis then reads the server's INFO directly, as the operator's would
    // once the moment has passed.
    const INFO_DELAY_MS = 500;
    const CONNECT_TIMEOUT_MS = 100;
    const url = new URL(testStack().natsUrl);
    const proxy = await TcpProxy.start({ host: url.hostname, port: Number(url.port) });
    try {
      proxy.setMode({ kind: 'delay', ms: INFO_DELAY_MS });
      const credentials = { auth: { kind: 'none' as const }, tls: { ca: pki.ca } };
      const err = await connect({
        ...connectionOptions([`nats://127.0.0.1:${proxy.port}`], credentials, CONNECT_TIMEOUT_MS),
        maxReconnectAttempts: 0,
      }).then(
        async (nc) => {
          await nc.close();
          return undefined;
        },
        (e: unknown) => e,
      );
      expect(endedSilently(err)).toBe(true);
      const diagnosed = await diagnoseConnectError(err, [testStack().natsUrl], credentials);
      expect(diagnosed.kind).toBe('TlsFailed');
      expect(diagnosed.message).toMatch(/offers no TLS/);
    } finally {
      await proxy.close();
    }
  });

  it('a refused token: holds, names the auth Secret, never shows the token', async () => {
    const s = await stream(tokenNc, 'tls-badtoken', 500);
    await createDeployment(ns.name, 'tls-badtoken', 2);
    await eventConsumer(
      'tls-badtoken',
      tlsUrl(tokenServer),
      s,
      { tls: 'nats-ca', auth: 'nats-wrong-token' },
      fallback,
    );
    const message = await readyReason('tls-badtoken', 'NatsUnauthorized');
    expect(message).toMatch(/auth Secret/);
    expect(message).not.toContain('not-the-token');
    await heldWithoutFallback('tls-badtoken', 2);
  });

  it('a rotated token: refused after the server reloads, reading again once the Secret changes', async () => {
    const s = await stream(tokenNc, 'tls-rotate', 200);
    await createDeployment(ns.name, 'tls-rotate', 1);
    await putSecret('rotating-token', { token: 'tok-1' });
    await eventConsumer(
      'tls-rotate',
      tlsUrl(tokenServer),
      s,
      { tls: 'nats-ca', auth: 'rotating-token' },
      fallback,
    );
    await replicasReach('tls-rotate', 2);

    // NATS's operator rotates first: the server now accepts only tok-2 and drops tok-1 clients.
    await tokenServer.reload(tokenConfig(pki, 'tok-2'));
    await readyReason('tls-rotate', 'NatsUnauthorized');
    // Refused credentials are not an outage: no fallback to 8 while the Secret is out of date.
    await heldWithoutFallback('tls-rotate', 2);

    // Then the Secret: the operator reads with the new token without a restart, once its cached
    // copy of the Secret expires (SecretReader, 30 s).
    const secretCacheMs = 30_000;
    await putSecret('rotating-token', { token: 'tok-2' });
    const nc2 = await connect({ servers: tokenServer.url, token: 'tok-2', tls: { ca: pki.ca } });
    try {
      await publish(nc2, s, 400);
      await replicasReach('tls-rotate', 6, secretCacheMs + 30_000);
      // Ready is written with the status, which may land after the scale (a loaded CI machine once
      // read False right after the Deployment reached 6): it must follow within a few polls.
      await eventually(
        'Ready True once the new token reads',
        async () =>
          condition(await eventConsumerStatus(ns.name, 'tls-rotate'), 'Ready')?.status === 'True'
            ? true
            : undefined,
        15_000,
        250,
      );
    } finally {
      await nc2.close();
    }
  });
});
