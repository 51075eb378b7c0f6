// A throwaway PKI for tests that run NATS with TLS: a CA, a server certificate for 127.0.0.1 and
// localhost, a client certificate, and a second CA that signed neither. Made with the openssl CLI
// (Node has no API that issues certificates); every certificate is valid for two days.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

export interface TestPki {
  /** Files, for a nats-server configuration. */
  files: { ca: string; serverCert: string; serverKey: string };
  /** PEM text, for the Secrets an EventConsumer points at. */
  ca: string;
  clientCert: string;
  clientKey: string;
  /** A CA that signed nothing here: a client trusting only it cannot verify the server. */
  otherCa: string;
}

function openssl(dir: string, args: string[]): void {
  try {
    execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = (err as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`openssl ${args.join(' ')} failed in ${dir}: ${stderr || String(err)}`);
  }
}

const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

function selfSignedCa(dir: string, name: string): void {
  openssl(dir, [
    'req',
    '-x509',
    ...newKey,
    '-keyout',
    `${name}.key`,
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
  ]);
}

function issued(dir: string, name: string, usage: 'serverAuth' | 'clientAuth'): void {
  openssl(dir, ['req', ...newKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`]);
  writeFileSync(
    path.join(dir, `${name}.ext`),
    `subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=${usage}\n`,
  );
  openssl(dir, [
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.crt',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  ]);
}

export function makeTestPki(dir: string): TestPki {
  selfSignedCa(dir, 'ca');
  selfSignedCa(dir, 'other-ca');
  issued(dir, 'server', 'serverAuth');
  issued(dir, 'client', 'clientAuth');
  const read = (file: string): string => readFileSync(path.join(dir, file), 'utf8');
  return {
    files: {
      ca: path.join(dir, 'ca.crt'),
      serverCert: path.join(dir, 'server.crt'),
      serverKey: path.join(dir, 'server.key'),
    },
    ca: read('ca.crt'),
    clientCert: read('client.crt'),
    clientKey: read('client.key'),
    otherCa: read('other-ca.crt'),
  };
}
