// TLS for a NATS that listens beyond loopback: a private CA and a server certificate made with openssl on first need
// (keys 0600 under DATA_DIR/auth/tls), the certificate re-issued when the names it must carry change, and nats-server's
// `tls {}` block. Clients verify the server against this CA (the CLI finds it next to hyperd.json; tenants get it in
// their credentials file).
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { HyperError } from '../errors.js';
import { authDir } from './credentials.js';

export interface TlsFiles { dir: string; ca: string; cert: string; key: string }

export const tlsDir = (dataDir: string) => join(authDir(dataDir), 'tls');

function openssl(args: string[], what: string): void {
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer };
    if (e.code === 'ENOENT') throw new HyperError('tls', `cannot make ${what}: openssl is not installed — install it with: apt-get install openssl`, { cause: err });
    throw new HyperError('tls', `openssl could not make ${what}: ${e.stderr?.toString().trim().split('\n').pop() ?? e.message}`, { cause: err });
  }
}

/** Every name a client may reach this host by: loopback, the host name, the listen address (or, for 0.0.0.0, every local address). */
export function serverNames(listenHost: string): string[] {
  const names = new Set(['localhost', '127.0.0.1', hostname()]);
  if (listenHost === '0.0.0.0' || listenHost === '::') {
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4') names.add(a.address);
  } else {
    names.add(listenHost);
  }
  return [...names].sort();
}

/** The CA and this host's server certificate, made on first need; the certificate is re-issued when `names` change. */
export function ensureTls(dataDir: string, names: string[]): TlsFiles {
  const dir = tlsDir(dataDir);
  // readable as far as the auth dir above it lets (0700, or 0750 for --group): the CA is public, the keys are 0600
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const f: TlsFiles = { dir, ca: join(dir, 'ca.pem'), cert: join(dir, 'server.pem'), key: join(dir, 'server.key') };
  const caKey = join(dir, 'ca.key');
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  if (!existsSync(f.ca) || !existsSync(caKey)) {
    openssl(['req', '-x509', ...ec, '-keyout', caKey, '-out', f.ca, '-days', '3650', '-subj', `/CN=hyper CA ${hostname()}`], 'the cluster CA');
    chmodSync(caKey, 0o600);
    chmodSync(f.ca, 0o644);
    rmSync(f.cert, { force: true });
  }
  const sans = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  const sansFile = join(dir, 'server.sans');
  if (!existsSync(f.cert) || !existsSync(f.key) || (existsSync(sansFile) ? readFileSync(sansFile, 'utf8') : '') !== sans) {
    const csr = join(dir, 'server.csr');
    const ext = join(dir, 'server.ext');
    openssl(['req', ...ec, '-keyout', f.key, '-out', csr, '-subj', `/CN=${hostname()}`], 'the server key');
    chmodSync(f.key, 0o600);
    writeFileSync(ext, `subjectAltName=${sans}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    openssl(['x509', '-req', '-in', csr, '-CA', f.ca, '-CAkey', caKey, '-CAcreateserial', '-out', f.cert, '-days', '825', '-extfile', ext], 'the server certificate');
    writeFileSync(sansFile, sans);
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
  return f;
}

/** nats-server's `tls {}` block for the client port: every client must speak TLS and can verify the server by the CA. */
export function natsTls(f: TlsFiles): string {
  return `tls {\n  cert_file: ${JSON.stringify(f.cert)}\n  key_file: ${JSON.stringify(f.key)}\n  timeout: 2\n}`;
}
