// A throwaway NATS operator/account/user JWT chain, as `nsc` makes them, for nats-servers in
// operator mode (decentralised auth: `.creds` files, as NGS / Synadia Cloud and most managed NATS
// hand them out). JWT v2 (nats-io/jwt v2, decoder.go): header {typ: JWT, alg: ed25519-nkey}, the
// claims, and the issuer's ed25519 signature over "header.claims", each base64url without padding.
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';
import { randomUUID } from 'node:crypto';

const b64url = (data: Uint8Array | string): string =>
  Buffer.from(typeof data === 'string' ? Buffer.from(data, 'utf8') : data).toString('base64url');

function sign(
  issuer: KeyPair,
  subject: string,
  name: string,
  nats: Record<string, unknown>,
  exp?: number,
): string {
  const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const claims = b64url(
    JSON.stringify({
      jti: randomUUID(),
      iat: Math.floor(Date.now() / 1000),
      iss: issuer.getPublicKey(),
      name,
      sub: subject,
      ...(exp !== undefined ? { exp } : {}),
      nats: { ...nats, version: 2 },
    }),
  );
  const signature = b64url(issuer.sign(new TextEncoder().encode(`${header}.${claims}`)));
  return `${header}.${claims}.${signature}`;
}

/** No limit on anything; JetStream storage unlimited when `jetstream`, absent (JetStream off) when not. */
const accountLimits = (jetstream: boolean): Record<string, number | boolean> => ({
  subs: -1,
  data: -1,
  payload: -1,
  imports: -1,
  exports: -1,
  wildcards: true,
  conn: -1,
  leaf: -1,
  ...(jetstream ? { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 } : {}),
});

export interface JwtAccount {
  name: string;
  publicKey: string;
  jwt: string;
  /** A `.creds` file's text for a new user of this account, expiring at `expiresAt` (s since epoch). */
  creds(user: string, expiresAt?: number): string;
}

export interface JwtOperator {
  jwt: string;
  account(name: string, options: { jetstream: boolean }): JwtAccount;
  /** The nats-server configuration that trusts this operator and preloads `accounts`. */
  serverConfig(operatorFile: string, accounts: JwtAccount[], system: JwtAccount): string;
}

export function makeJwtOperator(): JwtOperator {
  const operator = createOperator();
  const jwt = sign(operator, operator.getPublicKey(), 'jetscale-test', { type: 'operator' });
  return {
    jwt,
    account(name, { jetstream }) {
      const account = createAccount();
      const accountJwt = sign(operator, account.getPublicKey(), name, {
        type: 'account',
        limits: accountLimits(jetstream),
        default_permissions: { pub: {}, sub: {} },
      });
      return {
        name,
        publicKey: account.getPublicKey(),
        jwt: accountJwt,
        creds(userName, expiresAt) {
          const user = createUser();
          const userJwt = sign(
            account,
            user.getPublicKey(),
            userName,
            { type: 'user', pub: {}, sub: {}, subs: -1, data: -1, payload: -1 },
            expiresAt,
          );
          const seed = new TextDecoder().decode(user.getSeed());
          return [
            '-----BEGIN NATS USER JWT-----',
            userJwt,
            '------END NATS USER JWT------',
            '',
            '************************* IMPORTANT *************************',
            'NKEY Seed printed below can be used to sign and prove identity.',
            'NKEYs are sensitive and should be treated as secrets.',
            '',
            '-----BEGIN USER NKEY SEED-----',
            seed,
            '------END USER NKEY SEED------',
            '',
            '*************************************************************',
            '',
          ].join('\n');
        },
      };
    },
    serverConfig(operatorFile, accounts, system) {
      const preload = [...accounts, system].map((a) => `  ${a.publicKey}: "${a.jwt}"`).join('\n');
      return `operator: "${operatorFile}"\nsystem_account: ${system.publicKey}\nresolver: MEMORY\nresolver_preload: {\n${preload}\n}\n`;
    },
  };
}
