// The Docker Engine API served by hyperd (unix socket, mode 0660, or loopback TCP): one more client of the folded view,
// as the CLI is. So far the endpoints `docker version`, `info` and `ps` need, with version negotiation (/_ping's
// API-Version) and Docker's error bodies; everything else answers 501 naming what is not served yet.
import { chmodSync, existsSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { cpus, release, totalmem } from 'node:os';
import type { Logger } from '../log.js';
import type { ClusterView } from '../model/cluster-view.js';
import { DEFAULT_TENANT } from '../events/schemas/subjects.js';
import { VERSION } from '../version.js';
import { listContainers, parseFilters } from './containers.js';

/** The newest Engine API version served (Docker 28.2's), and the oldest a client may negotiate down to. */
export const API_VERSION = '1.50';
export const MIN_API_VERSION = '1.24';

export interface DockerApiDeps {
  view: ClusterView;
  hostIds: () => string[];
  daemonId: string;
  driver: string;
  log: Logger;
}

class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Where the API listens: unix://PATH or tcp://HOST:PORT (loopback only unless insecure). */
export function parseApiAddress(v: string, insecure = false): { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number } {
  if (v.startsWith('unix://')) return { kind: 'unix', path: v.slice(7) };
  const m = /^tcp:\/\/([^:]+):(\d+)$/.exec(v);
  if (!m) throw new Error(`--docker-api ${v}: give unix:///path/docker.sock or tcp://127.0.0.1:2375`);
  if (!insecure && !['127.0.0.1', 'localhost', '::1'].includes(m[1])) throw new Error(`--docker-api ${v}: the Docker API has no authentication; serve it on loopback, or pass --docker-api-insecure-bind`);
  return { kind: 'tcp', host: m[1], port: Number(m[2]) };
}

export class DockerApi {
  private server: Server | null = null;
  private path: string | null = null;

  constructor(private readonly d: DockerApiDeps) {}

  async listen(addr: ReturnType<typeof parseApiAddress>): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (addr.kind === 'unix') {
        // a socket left by a daemon that was killed: nobody answers on it
        if (existsSync(addr.path)) rmSync(addr.path, { force: true });
        server.listen(addr.path, () => resolve());
      } else server.listen(addr.port, addr.host, () => resolve());
    });
    if (addr.kind === 'unix') {
      chmodSync(addr.path, 0o660);
      this.path = addr.path;
    }
    this.server = server;
  }

  close(): void {
    this.server?.close();
    if (this.path) rmSync(this.path, { force: true });
    this.server = null;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://docker');
    // /v1.47/containers/json → containers/json, and the version the client asked for
    const m = /^\/v(\d+\.\d+)(\/.*)$/.exec(url.pathname);
    const version = m?.[1] ?? API_VERSION;
    const path = m?.[2] ?? url.pathname;
    res.setHeader('Api-Version', API_VERSION);
    res.setHeader('Server', `hyper/${VERSION} (linux)`);
    res.setHeader('Docker-Experimental', 'false');
    res.setHeader('Ostype', 'linux');
    try {
      if (compareVersions(version, MIN_API_VERSION) < 0) throw new ApiError(400, `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
      const body = this.route(req.method ?? 'GET', path, url.searchParams);
      if (body === null) {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(req.method === 'HEAD' ? undefined : 'OK');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(body));
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 500;
      if (status === 500) this.d.log.error({ err, path }, 'docker API request failed');
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: (err as Error).message }));
    }
  }

  /** The answer to one request: a JSON value, or null for a plain "OK". */
  private route(method: string, path: string, q: URLSearchParams): unknown {
    if (path === '/_ping' && (method === 'GET' || method === 'HEAD')) return null;
    if (method === 'GET' && path === '/version') return this.version();
    if (method === 'GET' && path === '/info') return this.info();
    if (method === 'GET' && path === '/containers/json') {
      let filters;
      try {
        filters = parseFilters(q.get('filters'));
      } catch {
        throw new ApiError(400, `invalid filters: ${q.get('filters')}`);
      }
      return listContainers(this.d.view, DEFAULT_TENANT, { all: ['1', 'true'].includes(q.get('all') ?? ''), filters, now: Date.now(), limit: Number(q.get('limit')) || undefined });
    }
    throw new ApiError(501, `${method} ${path} is not served by hyperd yet: it serves version, info and ps so far (use the hyper CLI for the rest)`);
  }

  private version(): unknown {
    return {
      Platform: { Name: `hyper ${VERSION}` },
      Components: [{ Name: 'Engine', Version: VERSION, Details: { ApiVersion: API_VERSION, MinAPIVersion: MIN_API_VERSION, Os: 'linux', Arch: arch(), KernelVersion: release() } }],
      Version: VERSION,
      ApiVersion: API_VERSION,
      MinAPIVersion: MIN_API_VERSION,
      GitCommit: '',
      GoVersion: `node ${process.version}`,
      Os: 'linux',
      Arch: arch(),
      KernelVersion: release(),
      BuildTime: '',
    };
  }

  private info(): unknown {
    const states = listContainers(this.d.view, DEFAULT_TENANT, { all: true, filters: {}, now: Date.now() }).map((c) => c.State);
    return {
      ID: this.d.daemonId,
      Containers: states.length,
      ContainersRunning: states.filter((s) => s === 'running').length,
      ContainersPaused: 0,
      ContainersStopped: states.filter((s) => s === 'exited').length,
      Images: 0,
      Driver: `hyper (${this.d.driver})`,
      DockerRootDir: '',
      Name: this.d.hostIds().join(','),
      ServerVersion: VERSION,
      OperatingSystem: `hyper ${VERSION}: pods in lightweight VMs (${this.d.driver})`,
      OSType: 'linux',
      Architecture: arch(),
      KernelVersion: release(),
      NCPU: cpus().length,
      MemTotal: totalmem(),
      Runtimes: { [this.d.driver]: { path: 'hyperd' } },
      DefaultRuntime: this.d.driver,
      SecurityOptions: ['name=vm-isolation'],
      Labels: [],
      Warnings: [],
    };
  }
}

function arch(): string {
  return process.arch === 'x64' ? 'x86_64' : process.arch;
}

function compareVersions(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number);
  const [bm, bn] = b.split('.').map(Number);
  return am - bm || an - bn;
}
