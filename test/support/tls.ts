// A self-signed certificate for 127.0.0.1 made with openssl, for the local HTTPS stand-ins the
// Azure SDK clients talk to (they send bearer tokens over TLS only) and for docker-registry's
// TLS listener. It is its own CA: trust it with tlsOptions.ca, NODE_EXTRA_CA_CERTS, or a
// --cert-dir for skopeo.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

export interface TestCert {
  certFile: string;
  keyFile: string;
  /** PEM of the certificate (trust it as a CA). */
  cert: string;
  key: string;
}

/** Writes cert.pem and key.pem into dir; `names`: DNS names the certificate is also for (e.g. localhost, for SNI). */
export async function selfSignedCert(dir: string, names: string[] = []): Promise<TestCert> {
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await promisify(execFile)('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    `subjectAltName=IP:127.0.0.1${names.map((n) => `,DNS:${n}`).join('')}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
  ]);
  return { certFile, keyFile, cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
}
