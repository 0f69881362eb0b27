// Test harness: a real registry (Debian's docker-registry, the CNCF distribution) on a loopback port it picks, optionally with htpasswd auth.
import { spawn, execFileSync } from 'node:child_process';
import { createPrivateKey, createSign, X509Certificate, randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface TestRegistry {
  /** host:port, as an image reference's registry part. */
  host: string;
  /** Every request the registry served, as access-log lines ("GET /v2/… HTTP/1.1" 200 …). */
  requests(): string[];
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/**
 * A token server as Docker Hub runs one: Basic credentials in, a JWT (RS256, signed by a self-signed certificate the registry
 * trusts, which travels in the x5c header) out, granting the scopes asked for.
 */
async function startTokenServer(dir: string, user: string, password: string, service: string, issuer: string): Promise<{ realm: string; server: Server; tokens: () => number }> {
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'token.key'), '-out', join(dir, 'token.crt'), '-days', '1', '-subj', '/CN=hyper-test-token'], { stdio: 'ignore' });
  const key = createPrivateKey(readFileSync(join(dir, 'token.key')));
  const x5c = new X509Certificate(readFileSync(join(dir, 'token.crt'))).raw.toString('base64');
  let issued = 0;
  const server = createHttpServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const [scheme, value] = (req.headers.authorization ?? '').split(' ');
    if (scheme !== 'Basic' || Buffer.from(value ?? '', 'base64').toString() !== `${user}:${password}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
      return;
    }
    const access = url.searchParams.getAll('scope').map((scope) => {
      const [type, name, actions] = scope.split(':');
      return { type, name, actions: actions.split(',') };
    });
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: issuer, sub: user, aud: service, exp: now + 300, nbf: now - 10, iat: now, jti: randomUUID(), access };
    const signing = `${b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [x5c] }))}.${b64url(JSON.stringify(claims))}`;
    const token = `${signing}.${b64url(createSign('RSA-SHA256').update(signing).sign(key))}`;
    issued++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { realm: `http://127.0.0.1:${port}/token`, server, tokens: () => issued };
}

export async function startRegistry(dir: string, o: { user?: string; password?: string; auth?: 'htpasswd' | 'token' } = {}): Promise<TestRegistry & { tokensIssued?: () => number }> {
  mkdirSync(join(dir, 'data'), { recursive: true });
  const port = await freePort();
  let auth = '';
  let tokenServer: Awaited<ReturnType<typeof startTokenServer>> | undefined;
  if (o.user && o.password && o.auth === 'token') {
    tokenServer = await startTokenServer(dir, o.user, o.password, 'hyper-test', 'hyper-test-issuer');
    auth = `auth:\n  token:\n    realm: ${tokenServer.realm}\n    service: hyper-test\n    issuer: hyper-test-issuer\n    rootcertbundle: ${join(dir, 'token.crt')}\n`;
  } else if (o.user && o.password) {
    writeFileSync(join(dir, 'htpasswd'), execFileSync('htpasswd', ['-Bbn', o.user, o.password]));
    auth = `auth:\n  htpasswd:\n    realm: hyper-test\n    path: ${join(dir, 'htpasswd')}\n`;
  }
  const config = join(dir, 'config.yml');
  writeFileSync(config, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${auth}`);
  const proc = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/v2/`).then((r) => r.status === 200 || r.status === 401, () => false);
    if (ok) break;
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`docker-registry did not come up on 127.0.0.1:${port} (is the docker-registry package installed?):\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    host: `127.0.0.1:${port}`,
    requests: () => log.split('\n').filter((l) => /"(GET|HEAD|PUT|POST|PATCH|DELETE) \/v2\//.test(l)),
    tokensIssued: tokenServer?.tokens,
    async stop() {
      proc.kill('SIGTERM');
      await exited;
      await new Promise((r) => (tokenServer ? tokenServer.server.close(r) : r(undefined)));
    },
  };
}
