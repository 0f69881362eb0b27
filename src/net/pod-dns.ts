// The pod network's DNS server, on the bridge's gateway address (UDP and TCP port 53), as Docker's embedded DNS is for
// user-defined networks: a pod's name (and CONTAINER.POD, and its id) resolves to its address for pods of the same
// tenant on this host, from the folded view, so pods started later, restarted or moved are found by name; every other
// question goes to the asking pod's DNS servers (its spec's, else the host's own, loopback ones included).
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFileSync, statSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../log.js';
import type { ClusterView, PodRecord } from '../model/cluster-view.js';
import { answer, bareError, CLASS_IN, RCODE, readQuestion, TYPE_A, type Question } from './dns-wire.js';
import { DEFAULT_TENANT } from '../events/schemas/subjects.js';
import { holdsNetwork } from './ipam.js';

/** Pods move and restart with new addresses: resolvers may keep an answer this long only. */
const TTL_S = 5;
const UPSTREAM_TIMEOUT_MS = 2_000;
const MAX_IN_FLIGHT = 256;
const TYPE_ANY = 255;

/** The pod on this host whose run holds this address, if any. */
function podAt(view: ClusterView, hostId: string, ip: string): PodRecord | null {
  for (const p of view.pods.values()) if (holdsNetwork(p.state, p.context.run, p.context.host ?? '', p.context.network, hostId) && p.context.network.ip === ip) return p;
  return null;
}

/**
 * The addresses a name has for the pod asking from askerIp: its tenant's pods on this host, by name, id, or
 * CONTAINER.POD (a pod's own name first), else every pod that has it as an alias, also with one of the asker's search domains after it. null: not a pod's name (the question goes on).
 */
export function podAddresses(view: ClusterView, hostId: string, askerIp: string, name: string): string[] | null {
  const asker = podAt(view, hostId, askerIp);
  if (!asker) return null;
  const wanted = new Set([name]);
  for (const d of asker.context.spec?.dnsSearch ?? []) {
    const suffix = `.${d.toLowerCase().replace(/\.$/, '')}`;
    if (name.endsWith(suffix)) wanted.add(name.slice(0, -suffix.length));
  }
  const aliased: string[] = [];
  for (const p of view.pods.values()) {
    if ((p.context.tenant ?? DEFAULT_TENANT) !== (asker.context.tenant ?? DEFAULT_TENANT) || !holdsNetwork(p.state, p.context.run, p.context.host ?? '', p.context.network, hostId)) continue;
    const pod = (p.context.name ?? p.context.id).toLowerCase();
    const names = [pod, p.context.id.toLowerCase(), ...(p.context.spec?.containers ?? []).map((c) => `${c.name.toLowerCase()}.${pod}`)];
    if (names.some((n) => wanted.has(n))) return [p.context.network.ip];
    // an alias may be several pods' (compose's replicas of a service): every one of them answers
    if (p.context.spec?.aliases?.some((a) => wanted.has(a.toLowerCase()))) aliased.push(p.context.network.ip);
  }
  return aliased.length ? aliased : null;
}

/** Every nameserver the host's resolv.conf names, loopback ones too (this server runs on the host), re-read when it changes. */
export function hostResolvers(file = '/etc/resolv.conf'): string[] {
  try {
    const mtime = statSync(file).mtimeMs;
    if (cache?.file === file && cache.mtime === mtime) return cache.servers;
    const servers = [...readFileSync(file, 'utf8').matchAll(/^nameserver\s+([0-9a-fA-F.:]+)\s*$/gm)].map((m) => m[1]);
    cache = { file, mtime, servers };
    return servers;
  } catch {
    return [];
  }
}
let cache: { file: string; mtime: number; servers: string[] } | null = null;

/** One question to one server over UDP, from a socket of its own (a fresh random port): its answer, or null on timeout. */
function askUdp(msg: Buffer, server: string): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const s = createSocket(server.includes(':') ? 'udp6' : 'udp4');
    const done = (r: Buffer | null) => {
      clearTimeout(timer);
      s.close();
      resolve(r);
    };
    const timer = setTimeout(() => done(null), UPSTREAM_TIMEOUT_MS);
    s.on('error', () => done(null));
    s.on('message', (m, from) => {
      if (m.length >= 2 && m.readUInt16BE(0) === msg.readUInt16BE(0) && from.port === 53) done(m);
    });
    s.send(msg, 53, server);
  });
}

/** One question to one server over TCP (length-prefixed): its answer, or null. */
function askTcp(msg: Buffer, server: string): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const c = connect({ host: server, port: 53 });
    let got = Buffer.alloc(0);
    const done = (r: Buffer | null) => {
      clearTimeout(timer);
      c.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done(null), UPSTREAM_TIMEOUT_MS);
    c.on('error', () => done(null));
    c.on('connect', () => c.write(Buffer.concat([lengthOf(msg), msg])));
    c.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (got.length >= 2 && got.length >= 2 + got.readUInt16BE(0)) done(got.subarray(2, 2 + got.readUInt16BE(0)));
    });
    c.on('end', () => done(null));
  });
}

const lengthOf = (m: Buffer) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(m.length);
  return b;
};

export class PodDns {
  private udp: UdpSocket | null = null;
  private tcp: Server | null = null;
  private inFlight = 0;
  /** Where it answers, once started. */
  address: string | null = null;

  constructor(
    private readonly view: ClusterView,
    private readonly hostId: string,
    private readonly log: Logger,
    private readonly resolvers: () => string[] = () => hostResolvers(),
  ) {}

  /** Listens on address:53, UDP and TCP; fails (EADDRINUSE, EADDRNOTAVAIL) as a whole. */
  async start(address: string): Promise<void> {
    const udp = createSocket({ type: 'udp4', reuseAddr: false });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind({ address, port: 53, exclusive: true }, () => (udp.off('error', reject), resolve()));
    });
    udp.on('error', (err) => this.log.warn({ err }, 'pod DNS: UDP socket error'));
    udp.on('message', (msg, from) => void this.reply(msg, from.address, false).then((r) => r && udp.send(r, from.port, from.address)));
    const tcp = createServer((c) => this.serveTcp(c));
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen({ host: address, port: 53, exclusive: true }, () => (tcp.off('error', reject), resolve()));
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    tcp.on('error', (err) => this.log.warn({ err }, 'pod DNS: TCP server error'));
    this.udp = udp;
    this.tcp = tcp;
    this.address = address;
  }

  close(): void {
    this.udp?.close();
    this.tcp?.close();
    this.udp = this.tcp = null;
    this.address = null;
  }

  private serveTcp(c: Socket): void {
    let buf = Buffer.alloc(0);
    c.setTimeout(10_000, () => c.destroy());
    c.on('error', () => c.destroy());
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length > 70_000) return void c.destroy();
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        void this.reply(msg, c.remoteAddress ?? '', true).then((r) => r && !c.destroyed && c.write(Buffer.concat([lengthOf(r), r])));
      }
    });
  }

  /** The answer to one message: a pod's address from the view, else the upstream's answer relayed as it came. */
  private async reply(msg: Buffer, from: string, tcp: boolean): Promise<Buffer | null> {
    const asker = from.replace(/^::ffff:/, '');
    const q = readQuestion(msg);
    if (!q) return bareError(msg, RCODE.formErr);
    // only this host's pods are served: the gateway is no open resolver for whatever else can reach it
    const pod = podAt(this.view, this.hostId, asker);
    if (!pod) return answer(msg, q, [], 0, RCODE.refused);
    const local = q.klass === CLASS_IN ? podAddresses(this.view, this.hostId, asker, q.name) : null;
    if (local) return answer(msg, q, q.type === TYPE_A || q.type === TYPE_ANY ? local : [], TTL_S);
    return this.forward(msg, q, pod, tcp);
  }

  private async forward(msg: Buffer, q: Question, pod: PodRecord, tcp: boolean): Promise<Buffer> {
    const servers = (pod.context.spec?.dns?.length ? pod.context.spec.dns : this.resolvers()).filter((s) => s !== this.address);
    if (!servers.length || this.inFlight >= MAX_IN_FLIGHT) return answer(msg, q, [], 0, RCODE.servFail);
    this.inFlight++;
    try {
      for (const s of servers) {
        const r = await (tcp ? askTcp(msg, s) : askUdp(msg, s));
        if (r) return r;
      }
      this.log.debug({ name: q.name, servers }, 'pod DNS: no upstream server answered');
      return answer(msg, q, [], 0, RCODE.servFail);
    } finally {
      this.inFlight--;
    }
  }
}
