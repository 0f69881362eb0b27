// The Docker Engine API served by hyperd (unix socket, mode 0660, or loopback TCP): one more client of the folded view and
// of the intents, as the CLI is. So far what `docker version`, `info`, `ps`, `create`, `start`, `wait`, `rm` and an
// attached `docker run [--rm]` need, with version negotiation (/_ping's API-Version) and Docker's error bodies; everything
// else answers 501 naming what is not served yet.
import { chmodSync, existsSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { NatsConnection } from '@nats-io/transport-node';
import type { EventStore } from '../events/store/event-store.js';
import { ApiError, Lifecycle } from './lifecycle.js';
import { DockerImages } from './images.js';
import { streamEvents } from './events.js';
import { DockerExecs } from './exec.js';
import { DockerVolumes } from './volumes.js';
import { DockerNetworks } from './networks.js';
import { containerStats, containerTop } from './probes.js';
import { getArchive, putArchive } from './archive.js';
import { VolumeStore } from '../volumes/store.js';
import { splitBody } from './streams.js';
import { ImageStore } from '../images/store.js';
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
  nc: NatsConnection;
  store: EventStore;
  view: ClusterView;
  hostIds: () => string[];
  daemonId: string;
  driver: string;
  log: Logger;
  /** The host's pod network, where pods get addresses on a bridge (null: none, or user-mode). */
  subnet?: { cidr: string; gateway: string } | null;
  /** The host's data dir (its image store) and the registries it pulls from over plain HTTP. */
  dataDir: string;
  insecureRegistries?: string[];
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
  private readonly life: Lifecycle;
  private readonly images: DockerImages;
  private readonly execs: DockerExecs;
  private readonly volumes: DockerVolumes;
  private readonly networks: DockerNetworks;

  constructor(private readonly d: DockerApiDeps) {
    this.networks = new DockerNetworks(d.dataDir, d.view, d.subnet ?? null);
    this.life = new Lifecycle({ nc: d.nc, store: d.store, view: d.view, networks: () => this.networks.names() });
    this.execs = new DockerExecs(d.nc, this.life);
    this.volumes = new DockerVolumes(new VolumeStore(d.dataDir), d.view);
    this.images = new DockerImages(new ImageStore(d.dataDir, { insecureRegistries: d.insecureRegistries }));
  }

  async listen(addr: ReturnType<typeof parseApiAddress>): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    // attach (and later exec) hijack the connection: Docker's client asks for an upgrade to a raw stream
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.hijack(req, socket, head));
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
      const out = await this.route(req.method ?? 'GET', path, url.searchParams, req, res);
      if (out === undefined) return; // answered already (a streamed wait)
      if (out === null) {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(req.method === 'HEAD' ? undefined : 'OK');
        return;
      }
      if (typeof out === 'number') {
        res.writeHead(out);
        res.end();
        return;
      }
      res.writeHead(out.status ?? 200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(out.body));
    } catch (err) {
      const status = err instanceof ApiError ? err.status : (err as { code?: string }).code === 'invalid' ? 400 : 500;
      if (status === 500) this.d.log.error({ err, path }, 'docker API request failed');
      if (res.headersSent) return void res.end();
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ message: (err as Error).message }));
    }
  }

  /**
   * The answer to one request: {status, body} for JSON, a bare status code, null for a plain "OK", or undefined when the
   * route answered by itself.
   */
  private async route(method: string, path: string, q: URLSearchParams, req: IncomingMessage, res: ServerResponse): Promise<{ status?: number; body: unknown } | number | null | undefined> {
    const flag = (k: string) => ['1', 'true'].includes(q.get(k) ?? '');
    if (path === '/_ping' && (method === 'GET' || method === 'HEAD')) return null;
    if (method === 'GET' && path === '/version') return { body: this.version() };
    if (method === 'GET' && path === '/info') return { body: this.info() };
    if (method === 'GET' && path === '/containers/json') {
      let filters;
      try {
        filters = parseFilters(q.get('filters'));
      } catch {
        throw new ApiError(400, `invalid filters: ${q.get('filters')}`);
      }
      return { body: listContainers(this.d.view, DEFAULT_TENANT, { all: flag('all'), filters, now: Date.now(), limit: Number(q.get('limit')) || undefined }) };
    }
    if (method === 'GET' && path === '/events') {
      let f: Record<string, string[]> = {};
      try {
        f = parseFilters(q.get('filters')) as Record<string, string[]>;
      } catch {
        throw new ApiError(400, `invalid filters: ${q.get('filters')}`);
      }
      if (f.type?.length && !f.type.includes('container')) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end();
        return undefined;
      }
      await streamEvents(this.d.store, { sinceMs: seconds(q.get('since')) ?? Date.now(), untilMs: seconds(q.get('until')), containers: f.container ?? [], actions: f.event ?? [] }, res);
      return undefined;
    }
    if (method === 'GET' && path === '/images/json') return { body: this.images.list() };
    if (method === 'GET' && path === '/images/get') {
      await this.images.save(q.getAll('names'), res);
      return undefined;
    }
    if (method === 'POST' && path === '/images/load') {
      await this.images.load(req, res);
      return undefined;
    }
    const imgAction = /^\/images\/(.+)\/(tag|get)$/.exec(path);
    if (imgAction && method === 'POST' && imgAction[2] === 'tag') {
      await this.images.tag(decodeURIComponent(imgAction[1]), q.get('repo'), q.get('tag'));
      return 201;
    }
    if (imgAction && method === 'GET' && imgAction[2] === 'get') {
      await this.images.save([decodeURIComponent(imgAction[1])], res);
      return undefined;
    }
    // no plugins here: docker inspect asks for one after containers, images, networks and volumes
    if (method === 'GET' && path === '/plugins') return { body: [] };
    const plugin = /^\/plugins\/(.+)\/json$/.exec(path);
    if (plugin && method === 'GET') throw new ApiError(404, `plugin ${decodeURIComponent(plugin[1])} not found`);
    if (method === 'GET' && path === '/networks') return { body: this.networks.list() };
    if (method === 'POST' && path === '/networks/create') return { status: 201, body: this.networks.create((await jsonBody(req)) as Parameters<DockerNetworks['create']>[0]) };
    const net = /^\/networks\/([^/]+)(?:\/(connect|disconnect))?$/.exec(path);
    if (net && method === 'GET' && !net[2]) return { body: this.networks.inspect(decodeURIComponent(net[1])) };
    if (net && method === 'DELETE' && !net[2]) {
      this.networks.remove(decodeURIComponent(net[1]));
      return 204;
    }
    if (net && method === 'POST' && net[2]) throw new ApiError(501, `docker network ${net[2]} is not served by hyperd: a container joins its network when it is created (docker run --network NAME --network-alias A)`);
    if (method === 'GET' && path === '/volumes') return { body: this.volumes.list() };
    if (method === 'POST' && path === '/volumes/create') return { status: 201, body: await this.volumes.create((await jsonBody(req)) as Parameters<DockerVolumes['create']>[0]) };
    const vol = /^\/volumes\/([^/]+)$/.exec(path);
    if (vol && method === 'GET') return { body: this.volumes.inspect(decodeURIComponent(vol[1])) };
    if (vol && method === 'DELETE') {
      this.volumes.remove(decodeURIComponent(vol[1]), flag('force'));
      return 204;
    }
    if (method === 'POST' && path === '/images/create') {
      const from = q.get('fromImage');
      if (!from) throw new ApiError(400, 'fromImage: give the image to pull (docker pull NAME[:TAG])');
      await this.images.pull(from, q.get('tag'), res);
      return undefined;
    }
    const img = /^\/images\/(.+?)(\/json)?$/.exec(path);
    if (img && method === 'GET' && img[2]) return { body: this.images.inspect(decodeURIComponent(img[1])) };
    if (img && method === 'DELETE' && !img[2]) return { body: await this.images.remove(decodeURIComponent(img[1])) };
    const ex = /^\/exec\/([0-9a-f]+)\/(json|resize|start)$/.exec(path);
    if (ex && method === 'GET' && ex[2] === 'json') return { body: this.execs.inspect(ex[1]) };
    if (ex && method === 'POST' && ex[2] === 'resize') {
      this.execs.resize(ex[1], Number(q.get('h')), Number(q.get('w')));
      return 200;
    }
    if (ex && method === 'POST' && ex[2] === 'start') {
      const body = (await jsonBody(req)) as { Detach?: boolean };
      if (!body.Detach) throw new ApiError(400, 'an attached exec start needs the connection upgraded (Upgrade: tcp), as the docker CLI does');
      await this.execs.startDetached(ex[1]);
      return 200;
    }
    if (method === 'POST' && path === '/containers/create') return { status: 201, body: await this.life.create(await jsonBody(req), q.get('name')) };
    const c = /^\/containers\/([^/]+)(?:\/([a-z]+))?$/.exec(path);
    if (c) {
      const [, ref, action] = c;
      if (method === 'POST' && action === 'start') return (await this.life.start(decodeURIComponent(ref))) === 'already' ? 304 : 204;
      if (method === 'POST' && action === 'wait') {
        // the status goes out now and the body when the condition is met, as docker's does (clients read it as a stream)
        await this.life.target(decodeURIComponent(ref));
        const done = this.life.wait(decodeURIComponent(ref), q.get('condition') ?? 'not-running');
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.flushHeaders();
        const r = await done.catch((err: Error) => ({ StatusCode: 125, Error: { Message: err.message } }));
        res.end(JSON.stringify(r) + '\n');
        return undefined;
      }
      const id = decodeURIComponent(ref);
      if (method === 'POST' && action === 'stop') return (await this.life.stop(id, q.has('t') ? Number(q.get('t')) : null)) === 'already' ? 304 : 204;
      if (method === 'POST' && action === 'restart') {
        await this.life.stop(id, q.has('t') ? Number(q.get('t')) : null);
        await this.life.start(id);
        return 204;
      }
      if (method === 'POST' && action === 'kill') {
        await this.life.kill(id, q.get('signal'));
        return 204;
      }
      if (method === 'GET' && action === 'json') return { body: await this.life.inspect(id) };
      if (method === 'POST' && action === 'rename') {
        await this.life.rename(id, q.get('name'));
        return 204;
      }
      if (method === 'GET' && action === 'top') {
        const t = await this.life.target(id);
        return { body: await containerTop(this.d.nc, t.rec, q.get('ps_args'), t.container) };
      }
      if (method === 'GET' && action === 'stats') {
        const { rec } = await this.life.target(id);
        const stream = q.get('stream') === null ? true : flag('stream');
        let headed = false;
        await containerStats(this.d.nc, rec, { stream, oneShot: flag('one-shot') }, (line) => {
          if (!headed) res.writeHead(200, { 'Content-Type': 'application/json' });
          headed = true;
          return res.write(line);
        }, () => res.destroyed || req.destroyed);
        res.end();
        return undefined;
      }
      if (action === 'archive' && (method === 'GET' || method === 'HEAD')) {
        const t = await this.life.target(id);
        await getArchive(this.d.nc, t.rec, t.container, q.get('path') ?? '', res, method === 'HEAD');
        return undefined;
      }
      if (action === 'archive' && method === 'PUT') {
        const t = await this.life.target(id);
        await putArchive(this.d.nc, t.rec, t.container, q.get('path') ?? '', req);
        return 200;
      }
      if (method === 'POST' && action === 'exec') return { status: 201, body: await this.execs.create(id, (await jsonBody(req)) as Parameters<DockerExecs['create']>[1]) };
      if (method === 'POST' && action === 'resize') {
        await this.life.resize(id, Number(q.get('h')), Number(q.get('w')));
        return 200;
      }
      if (method === 'GET' && action === 'logs') {
        const t = await this.life.target(id);
        const tty = Boolean(t.rec.context.spec?.containers.find((c) => c.name === t.container)?.tty);
        res.writeHead(200, { 'Content-Type': tty ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream' });
        const tail = q.get('tail');
        await this.life.logs(id, { stdout: flag('stdout'), stderr: flag('stderr'), follow: flag('follow'), tail: tail === null || tail === 'all' ? null : Math.max(0, Number(tail) || 0), timestamps: flag('timestamps'), sinceMs: seconds(q.get('since')), untilMs: seconds(q.get('until')) }, { write: (b) => res.write(b) });
        res.end();
        return undefined;
      }
      if (method === 'DELETE' && !action) {
        await this.life.remove(decodeURIComponent(ref), flag('force'));
        return 204;
      }
    }
    throw new ApiError(501, `${method} ${path} is not served by hyperd yet: the API reference in hyper's README lists what it serves (use the hyper CLI for the rest)`);
  }

  /** A hijacked request (attach): the 101 answer, then the stream. */
  private async hijack(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    // a client that went away mid-stream is not the daemon's problem: its writes are dropped
    socket.on('error', (err) => this.d.log.debug({ err }, 'docker API client connection failed'));
    const url = new URL(req.url ?? '/', 'http://docker');
    const path = url.pathname.replace(/^\/v\d+\.\d+/, '');
    const m = /^\/containers\/([^/]+)\/attach$/.exec(path);
    const ex = /^\/exec\/([0-9a-f]+)\/start$/.exec(path);
    try {
      // the request's own body (exec start's {"Detach","Tty"}) comes first on the connection: what follows is the stream
      const { body, rest } = await splitBody(req, socket, head);
      if (ex && req.method === 'POST') return await this.execs.start(ex[1], socket, rest, parseJson(body));
      if (!m || req.method !== 'POST') throw new ApiError(501, `${req.method} ${path} (upgraded) is not served by hyperd yet`);
      const q = url.searchParams;
      const flag = (k: string) => ['1', 'true'].includes(q.get(k) ?? '');
      await this.life.attach(decodeURIComponent(m[1]), socket, { logs: flag('logs'), stdin: flag('stdin'), detachKeys: q.get('detachKeys'), head: rest });
    } catch (err) {
      const status = err instanceof ApiError ? err.status : 500;
      const body = JSON.stringify({ message: (err as Error).message });
      if (!socket.destroyed) socket.end(`HTTP/1.1 ${status} Error\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    }
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
      Images: this.images.list().length,
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

/** docker's time parameters: unix seconds, with a fraction ("1733250000.5"); 0 or absent is none. */
function seconds(v: string | null): number | null {
  const n = Number(v);
  return v && Number.isFinite(n) && n > 0 ? Math.round(n * 1000) : null;
}

function arch(): string {
  return process.arch === 'x64' ? 'x86_64' : process.arch;
}

function compareVersions(a: string, b: string): number {
  const [am, an] = a.split('.').map(Number);
  const [bm, bn] = b.split('.').map(Number);
  return am - bm || an - bn;
}

/** A JSON body: {} when empty or not an object; one that is not JSON is a 400. */
function parseJson(b: Buffer): Record<string, unknown> {
  const text = b.toString('utf8');
  if (!text.trim()) return {};
  try {
    const v = JSON.parse(text);
    return v && typeof v === 'object' ? v : {};
  } catch {
    throw new ApiError(400, 'the request body is not JSON');
  }
}

/** A request's JSON body (at most 1 MB); an empty one is {}. */
async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > 1 << 20) throw new ApiError(413, 'request body over 1 MB');
    parts.push(chunk as Buffer);
  }
  return parseJson(Buffer.concat(parts));
}
