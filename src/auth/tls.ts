// TLS for a NATS that listens beyond loopback: a private CA and a server certificate made with openssl on first need
// (keys 0600 under DATA_DIR/auth/tls), the certificate re-issued when the names it must carry change, and nats-server's
// `tls {}` block. Clients verify the server against this CA (the CLI finds it next to hyperd.json; tenants get it in
// their credentials file).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
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

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** The CA and this host's server certificate, made on first need; the certificate is re-issued when `names` change. */
export function ensureTls(dataDir: string, names: string[]): TlsFiles {
  const dir = tlsDir(dataDir);
  // readable as far as the auth dir above it lets (0700, or 0750 for --group): the CA is public, the keys are 0600
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  const ca = ensureCa(dir);
  return { dir, ca, ...issueCertificate(dir, dir, 'server', names) };
}

/** The CA of `dir` (ca.pem, its key ca.key 0600), made on first need; a new CA invalidates the certificates it signed there. */
export function ensureCa(dir: string): string {
  const ca = join(dir, 'ca.pem');
  const caKey = join(dir, 'ca.key');
  if (!existsSync(ca) || !existsSync(caKey)) {
    openssl(['req', '-x509', ...EC, '-keyout', caKey, '-out', ca, '-days', '3650', '-subj', `/CN=hyper CA ${hostname()}`], 'the cluster CA');
    chmodSync(caKey, 0o600);
    chmodSync(ca, 0o644);
    rmSync(join(dir, 'server.pem'), { force: true });
  }
  return ca;
}

/**
 * A certificate `<name>.pem` (key `<name>.key`, 0600) in `outDir`, signed by the CA of `caDir`, for `names` (its SANs),
 * good for servers and clients alike (NATS routes authenticate each other with it); re-issued when the names change.
 */
export function issueCertificate(caDir: string, outDir: string, name: string, names: string[]): { cert: string; key: string } {
  const cert = join(outDir, `${name}.pem`);
  const key = join(outDir, `${name}.key`);
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const sans = names.map((n) => (isIP(n) ? `IP:${n}` : `DNS:${n}`)).join(',');
  const sansFile = join(outDir, `${name}.sans`);
  // issued for these names by this CA (a CA made again invalidates what the old one signed)
  const issued = `${sans}\n${createHash('sha256').update(readFileSync(join(caDir, 'ca.pem'))).digest('hex')}`;
  if (!existsSync(cert) || !existsSync(key) || (existsSync(sansFile) ? readFileSync(sansFile, 'utf8') : '') !== issued) {
    const csr = join(outDir, `${name}.csr`);
    const ext = join(outDir, `${name}.ext`);
    openssl(['req', ...EC, '-keyout', key, '-out', csr, '-subj', `/CN=${names[0] ?? hostname()}`], `the key of ${name}`);
    chmodSync(key, 0o600);
    writeFileSync(ext, `subjectAltName=${sans}\nextendedKeyUsage=serverAuth,clientAuth\n`);
    openssl(['x509', '-req', '-in', csr, '-CA', join(caDir, 'ca.pem'), '-CAkey', join(caDir, 'ca.key'), '-CAcreateserial', '-out', cert, '-days', '825', '-extfile', ext], `the certificate of ${name}`);
    writeFileSync(sansFile, issued);
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
  return { cert, key };
}

/** nats-server's `tls {}` block for the client port: every client must speak TLS and can verify the server by the CA. */
export function natsTls(f: Pick<TlsFiles, 'cert' | 'key'>): string {
  return `tls {\n  cert_file: ${JSON.stringify(f.cert)}\n  key_file: ${JSON.stringify(f.key)}\n  timeout: 2\n}`;
}

/** The `tls {}` block inside `cluster {}`: routes speak TLS both ways, each node proving itself with a certificate of the CA. */
export function natsRouteTls(f: Pick<TlsFiles, 'cert' | 'key' | 'ca'>): string {
  return `tls { cert_file: ${JSON.stringify(f.cert)}, key_file: ${JSON.stringify(f.key)}, ca_file: ${JSON.stringify(f.ca)}, verify: true, timeout: 2 }`;
}
