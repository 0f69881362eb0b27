// Addresses on a host's pod network, pure: a subnet parsed from its CIDR, the addresses its live pods hold (from the
// folded view), and the next free one after the last handed out, so an address just released is not handed out again at once.
import type { ClusterView, PodRecord } from '../model/cluster-view.js';
import { TERMINAL } from '../model/pod-machine.js';
import type { PodNetwork } from '../model/pod-context.js';

export interface Subnet { cidr: string; network: number; prefix: number; gateway: string; first: number; last: number }

const toInt = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
export const toIp = (n: number) => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** "10.88.0.0/16": the gateway is the first address, pods get the rest but the broadcast. Throws on a malformed CIDR. */
export function parseCidr(cidr: string): Subnet {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  const prefix = m ? Number(m[5]) : NaN;
  if (!m || octets.some((o) => o > 255) || prefix < 8 || prefix > 29) throw new Error(`--pod-cidr ${cidr}: must be an IPv4 network with a prefix of 8 to 29 bits, e.g. 10.88.0.0/16`);
  const size = 2 ** (32 - prefix);
  const network = Math.floor(toInt(octets.join('.')) / size) * size;
  return { cidr: `${toIp(network)}/${prefix}`, network, prefix, gateway: toIp(network + 1), first: network + 2, last: network + size - 2 };
}

/** A run's network while it lasts: its pod is placed here, on that run, in a state that holds a VM (or is about to). */
export function holdsNetwork(state: string, run: number, host: string, net: PodNetwork | undefined, hostId: string): net is PodNetwork {
  return Boolean(net && net.host === hostId && host === hostId && net.run === run && !TERMINAL.has(state as never) && state !== 'created' && state !== 'pending');
}

export interface HostPort { protocol: string; hostIp: string; hostPort: number }

/** Every address and published host port the pods on this host hold (with the pod holding each), from the folded view. */
export function heldOn(view: ClusterView, hostId: string): { ips: Map<string, string>; ports: { port: HostPort; holder: string }[] } {
  const ips = new Map<string, string>();
  const ports: { port: HostPort; holder: string }[] = [];
  for (const p of view.pods.values()) {
    const net = p.context.network;
    if (!holdsNetwork(p.state, p.context.run, p.context.host ?? '', net, hostId)) continue;
    const name = p.context.name ?? p.context.id;
    ips.set(net.ip, name);
    for (const port of net.ports) ports.push({ port, holder: name });
  }
  return { ips, ports };
}

/** The first port a pod wants that another pod already publishes among these, with its holder; null if none collides. */
export function firstClash(wanted: HostPort[], held: { port: HostPort; holder: string }[], self: string): { port: HostPort; holder: string } | null {
  for (const h of held) {
    if (h.holder === self) continue;
    const hit = wanted.find((w) => portsCollide(w, h.port));
    if (hit) return { port: hit, holder: h.holder };
  }
  return null;
}

export const portKey = (p: HostPort) => `${p.hostIp}:${p.hostPort}/${p.protocol}`;

/** Whether two published ports collide: same protocol and port, and the same address or either on every address. */
export function portsCollide(a: HostPort, b: HostPort): boolean {
  return a.protocol === b.protocol && a.hostPort === b.hostPort && (a.hostIp === b.hostIp || a.hostIp === '0.0.0.0' || b.hostIp === '0.0.0.0');
}

/**
 * Of these hosts, those where the fixed host ports a pod publishes are free (no live run there holds one that collides),
 * and the first clash found, for the reason a pod that fits nowhere waits with.
 */
export function hostsWithPortsFree(view: ClusterView, pod: PodRecord, hostIds: string[]): { free: string[]; clash: string } {
  const wanted = (pod.context.spec?.ports ?? []).filter((p) => p.hostPort !== undefined).map((p) => ({ protocol: p.protocol ?? 'tcp', hostIp: p.hostIp ?? '0.0.0.0', hostPort: p.hostPort! }));
  if (!wanted.length) return { free: hostIds, clash: '' };
  const self = pod.context.name ?? pod.context.id;
  let clash = '';
  const free = hostIds.filter((h) => {
    const c = firstClash(wanted, heldOn(view, h).ports, self);
    if (c) clash ||= `host port ${portKey(c.port)} is published by pod ${c.holder} on ${h}`;
    return !c;
  });
  return { free, clash };
}

/** The first free address after `after` (wrapping), or null when the subnet is full. */
export function nextFree(subnet: Subnet, used: { has(ip: string): boolean }, after: string | null): string | null {
  const count = subnet.last - subnet.first + 1;
  const start = after ? toInt(after) - subnet.first + 1 : 0;
  for (let i = 0; i < count; i++) {
    const ip = toIp(subnet.first + ((((start + i) % count) + count) % count));
    if (!used.has(ip)) return ip;
  }
  return null;
}

/** A locally administered MAC from the address (unique per address): two prefix octets (a pod's 52:54) and its four. */
export function macOf(ip: string, prefix: [string, string] = ['52', '54']): string {
  return [...prefix, ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/** A bridge and a /24 of their own for one data dir (tests and benches run several daemons on one machine side by side). */
export function networkFor(key: string): { bridge: string; cidr: string } {
  let h = 2166136261;
  for (const c of key) h = Math.imul(h ^ c.charCodeAt(0), 16777619) >>> 0;
  return { bridge: `hyb${(h % 0xffffff).toString(16).padStart(6, '0')}`, cidr: `10.${150 + ((h >>> 8) % 50)}.${h & 255}.0/24` };
}
