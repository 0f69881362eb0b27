// A host's pod network: a bridge with the subnet's gateway address, forwarding and masquerade for that subnet only, a
// tap per pod VM on the bridge, and the published ports as DNAT rules, all in chains of this bridge's own
// (HYPER-<bridge>-*), rebuilt from the folded view so a restarted daemon restores them, and the pods' DNS server on the
// gateway address (pod names from the view, the rest forwarded). Where hyperd cannot make taps
// (unprivileged), pods get QEMU's user-mode network with port forwards instead. Addresses and ports are facts
// (net.assigned): the view says who holds what, across restarts and re-attaches.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { accessSync, constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { HyperError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ClusterView, PodRecord } from '../model/cluster-view.js';
import type { PodNetwork } from '../model/pod-context.js';
import type { PortMapping } from '../events/schemas/pod-spec.js';
import { PodDns } from './pod-dns.js';
import { spawner } from './spawner.js';
import { firstClash, heldOn, holdsNetwork, macOf, nextFree, parseCidr, portKey, type HostPort, type Subnet } from './ipam.js';

export class NetworkError extends HyperError {
  constructor(message: string) {
    super('network', message);
  }
}

export type NetworkMode = 'bridge' | 'user' | 'none';

export interface HostNetworkConfig {
  hostId: string;
  /** bridge: taps on a bridge (root, /dev/net/tun); user: QEMU's user-mode network; none: pods get only lo. */
  mode: NetworkMode;
  bridge: string;
  cidr: string;
}

/** What a VM is given for its NIC. */
export type Nic = { mode: 'tap'; tap: string; mac: string } | { mode: 'user'; mac: string; forwards: PodNetwork['ports'] };

/** USER_NET: QEMU's user-mode network as the guest sees it. */
const USER_NET = { ip: '10.0.2.15', prefix: 24, gateway: '10.0.2.2', dns: '10.0.2.3' };

/** Runs a command through the helper (spawner.ts: it keeps forks off this process's loop); its stdout, or a NetworkError. */
async function sh(cmd: string, args: string[]): Promise<string> {
  const r = await spawner.run(cmd, args);
  if (r.code !== 0) throw new NetworkError(`${cmd} ${args.join(' ')} failed: ${(r.stderr || r.error || `exit code ${r.code}`).trim()}`);
  return r.stdout;
}
const quiet = (cmd: string, args: string[]) => sh(cmd, args).then(() => true, () => false);

/** Runs `ip` commands in one process (ip -batch, stopping at the first error); whether all succeeded. */
async function ipBatch(lines: string[]): Promise<boolean> {
  return (await spawner.run('ip', ['-batch', '-'], lines.join('\n') + '\n')).code === 0;
}

/**
 * A pod's port on the bridge stops broadcasts: the bridge answers a pod's ARP request for another pod itself (the port's
 * proxy_arp, from the static neighbour and FDB entries made here), broadcasts and multicasts are not flooded to pod ports
 * (a pod's ARP for its gateway reaches the host alone), and the host never has to ask. Without this every pod's ARP
 * reached every guest, each woken under emulation: ~8 broadcasts per pod added, and adding the 500th pod took ~7 s.
 * (Not neigh_suppress: the kernel answers for it only requests that come in on ports without it — tunnel ports.)
 */
const quietLines = (tap: string, bridge: string, net: { ip: string; mac: string }) => [`link set dev ${tap} type bridge_slave proxy_arp on bcast_flood off mcast_flood off`, `neigh replace ${net.ip} lladdr ${net.mac} dev ${bridge} nud permanent`];
/** The FDB entry quietPort needs (the `bridge` tool's: ip -batch has no fdb command). */
const staticFdb = (tap: string, mac: string) => quiet('bridge', ['fdb', 'replace', mac, 'dev', tap, 'master', 'static']);

async function quietPort(tap: string, bridge: string, net: { ip: string; mac: string }): Promise<boolean> {
  return (await ipBatch(quietLines(tap, bridge, net))) && (await staticFdb(tap, net.mac));
}

/** The bridge's own MAC, from its gateway address (locally administered; pods' are 52:54:…). */
export const bridgeMac = (gateway: string) => macOf(gateway, ['02', '68']);

/** bridge where this process can make taps and rules (root, /dev/net/tun, ip and iptables on PATH), else user. */
export async function probeNetworkMode(): Promise<{ mode: 'bridge' | 'user'; why: string }> {
  if (process.getuid?.() !== 0) return { mode: 'user', why: 'hyperd is not root: no taps or rules' };
  try {
    accessSync('/dev/net/tun', constants.R_OK | constants.W_OK);
  } catch {
    return { mode: 'user', why: 'no /dev/net/tun' };
  }
  if (!(await quiet('ip', ['-V'])) || !(await quiet('iptables', ['-V']))) return { mode: 'user', why: 'ip or iptables is not installed (apt-get install iproute2 iptables)' };
  return { mode: 'bridge', why: 'root with /dev/net/tun' };
}

/** The host's DNS servers a pod can reach (not loopback ones, such as systemd-resolved's 127.0.0.53). */
export function hostNameservers(file = '/etc/resolv.conf'): string[] {
  try {
    return [...readFileSync(file, 'utf8').matchAll(/^nameserver\s+(\d+\.\d+\.\d+\.\d+)\s*$/gm)].map((m) => m[1]).filter((ip) => !ip.startsWith('127.')).slice(0, 3);
  } catch {
    return [];
  }
}

/** Who holds a host port, from ss (e.g. "nginx (pid 123)"), or null if nobody can be named. */
async function holderOf(protocol: 'tcp' | 'udp', hostPort: number): Promise<string | null> {
  const out = await sh('ss', ['-H', protocol === 'tcp' ? '-ltnp' : '-lunp', `sport = :${hostPort}`]).catch(() => '');
  const m = /users:\(\("([^"]+)",pid=(\d+)/.exec(out);
  return m ? `${m[1]} (pid ${m[2]})` : null;
}

/** Holds a host port with a socket of ours (bound, never accepting: DNAT sends the traffic to the pod before it). */
function hold(protocol: 'tcp' | 'udp', hostIp: string, hostPort: number): Promise<{ port: number; close: () => void }> {
  return new Promise((resolve, reject) => {
    if (protocol === 'tcp') {
      // a connection that reaches the holder came before the pod's rule was in place: refused, never left hanging
      const s: Server = createServer((c) => c.destroy());
      s.once('error', reject);
      s.listen({ host: hostIp, port: hostPort, exclusive: true }, () => {
        s.unref();
        resolve({ port: (s.address() as { port: number }).port, close: () => s.close() });
      });
    } else {
      const s: UdpSocket = createSocket({ type: 'udp4', reuseAddr: false });
      s.once('error', reject);
      s.bind({ address: hostIp, port: hostPort, exclusive: true }, () => {
        s.unref();
        resolve({ port: s.address().port, close: () => s.close() });
      });
    }
  });
}

export class HostNetwork {
  readonly subnet: Subnet;
  private readonly chain: Chains;
  private readonly dns: PodDns;
  /** Addresses handed out but not yet folded back from their fact (a burst of pods must not get the same one). */
  private readonly pending = new Map<string, string>();
  private last: string | null = null;
  private readonly holds = new Map<string, { close: () => void }[]>();
  private forwardBefore: string | null = null;
  /** Runs plugged by this daemon (their rules stand even before their net.assigned is folded), and runs just unplugged. */
  private readonly plugged = new Map<string, PodNetwork>();
  private readonly unplugged = new Set<string>();
  /** The address of each pod whose port was quieted: its static neighbour entry goes when it is unplugged. */
  private readonly neighbours = new Map<string, string>();
  private toldLoud = false;
  /** Whether the bridge has a MAC of its own (made by this version): only then are pods' ports quieted. */
  private pinned = false;
  private publishing: Promise<void> = Promise.resolve();
  private ready = false;

  constructor(
    readonly cfg: HostNetworkConfig,
    private readonly view: ClusterView,
    private readonly log: Logger,
  ) {
    this.subnet = parseCidr(cfg.cidr);
    this.chain = chainsOf(cfg.bridge);
    this.dns = new PodDns(view, cfg.hostId, log);
  }

  /** Where pods ask for names (the gateway), or null where the DNS server could not start (pods get the upstream servers). */
  get dnsServer(): string | null {
    return this.dns.address;
  }

  get mode(): NetworkMode {
    return this.cfg.mode;
  }

  /** The bridge, its address, forwarding, and the chains with their base rules; idempotent (a restart finds them there). */
  async setup(): Promise<void> {
    if (this.cfg.mode !== 'bridge') return;
    const { bridge } = this.cfg;
    // a MAC of its own: else a bridge takes its lowest port's, which changes as taps come and go — each change leaves the
    // pods' cached gateway address wrong and flushes the bridge's neighbour entries (quietPort's too)
    if (!(await quiet('ip', ['link', 'show', bridge]))) await sh('ip', ['link', 'add', bridge, 'address', bridgeMac(this.subnet.gateway), 'type', 'bridge']);
    // a bridge made by hyperd before 0.8 follows its ports: its pods' ports flood as they did (quieted after it is made again)
    try {
      this.pinned = readFileSync(`/sys/class/net/${bridge}/addr_assign_type`, 'utf8').trim() === '3';
    } catch {
      this.pinned = false;
    }
    await sh('ip', ['addr', 'replace', `${this.subnet.gateway}/${this.subnet.prefix}`, 'dev', bridge]);
    await sh('ip', ['link', 'set', bridge, 'up']);
    const fwd = '/proc/sys/net/ipv4/ip_forward';
    this.forwardBefore = readFileSync(fwd, 'utf8').trim();
    if (this.forwardBefore !== '1') writeFileSync(fwd, '1');
    // connections from the host itself to 127.0.0.1:hostPort are DNATed out of the bridge: allow that source there
    writeFileSync(`/proc/sys/net/ipv4/conf/${bridge}/route_localnet`, '1');
    const { post, dnat, fwd: fchain, input } = this.chain;
    for (const [table, name] of [['nat', post], ['nat', dnat], ['filter', fchain], ['filter', input]] as const) {
      await quiet('iptables', ['-t', table, '-N', name]);
      await sh('iptables', ['-t', table, '-F', name]);
    }
    const cidr = this.subnet.cidr;
    await sh('iptables', ['-t', 'nat', '-A', post, '-s', cidr, '!', '-o', bridge, '-j', 'MASQUERADE']);
    await sh('iptables', ['-t', 'nat', '-A', post, '-o', bridge, '-m', 'addrtype', '--src-type', 'LOCAL', '-j', 'MASQUERADE']);
    await sh('iptables', ['-t', 'filter', '-A', fchain, '-i', bridge, '-j', 'ACCEPT']);
    await sh('iptables', ['-t', 'filter', '-A', fchain, '-o', bridge, '-j', 'ACCEPT']);
    // the pods' DNS server on the gateway, whatever the host's INPUT policy
    for (const proto of ['udp', 'tcp']) await sh('iptables', ['-t', 'filter', '-A', input, '-i', bridge, '-d', this.subnet.gateway, '-p', proto, '--dport', '53', '-j', 'ACCEPT']);
    for (const [table, from, rule] of jumpsOf(this.chain)) if (!(await quiet('iptables', ['-t', table, '-C', from, ...rule]))) await sh('iptables', ['-t', table, '-I', from, '1', ...rule]);
    this.ready = true;
    try {
      await this.dns.start(this.subnet.gateway);
    } catch (err) {
      // pods still resolve outside names through the upstream servers, and each other through /etc/hosts
      this.log.warn({ err }, `pod DNS: could not listen on ${this.subnet.gateway}:53 (${(err as Error).message}): pods get the host's DNS servers and find each other through /etc/hosts only`);
    }
    this.log.info({ bridge, cidr, dns: this.dns.address }, `pod network: bridge ${bridge} ${this.subnet.gateway}/${this.subnet.prefix}, NAT for ${cidr}${this.dns.address ? `, pod DNS on ${this.dns.address}:53` : ''}`);
  }

  /**
   * The network of a run about to boot: the next free address, and each published port with its host port (a free one
   * where none was asked), held from now on. A port already taken — by another pod here or any process — is refused,
   * naming the holder, before anything starts.
   */
  async assign(rec: PodRecord): Promise<PodNetwork | null> {
    const spec = rec.context.spec!;
    if (this.cfg.mode === 'none' || spec.network === 'none') return null;
    const held = heldOn(this.view, this.cfg.hostId);
    const ports = await this.reservePorts(rec, spec.ports ?? [], held.ports);
    if (this.cfg.mode === 'user') {
      return { run: rec.context.run, host: this.cfg.hostId, mode: 'user', ip: USER_NET.ip, prefix: USER_NET.prefix, gateway: USER_NET.gateway, mac: macOf(USER_NET.ip), dns: spec.dns ?? [USER_NET.dns], ports };
    }
    const pendingIps = new Set(this.pending.values());
    const used = { has: (ip: string) => held.ips.has(ip) || pendingIps.has(ip) };
    const ip = nextFree(this.subnet, used, this.last);
    if (!ip) {
      this.release(rec.context.id);
      throw new NetworkError(`no free address in ${this.subnet.cidr} on host ${this.cfg.hostId} (${held.ips.size} held): give hyperd a larger --pod-cidr`);
    }
    this.pending.set(rec.context.id, ip);
    this.last = ip;
    return { run: rec.context.run, host: this.cfg.hostId, mode: 'bridge', ip, prefix: this.subnet.prefix, gateway: this.subnet.gateway, mac: macOf(ip), dns: spec.dns ?? hostNameservers(), ports };
  }

  private async reservePorts(rec: PodRecord, wanted: PortMapping[], heldPorts: { port: HostPort; holder: string }[]): Promise<PodNetwork['ports']> {
    const out: PodNetwork['ports'] = [];
    const sockets: { close: () => void }[] = [];
    const fail = (why: string): never => {
      for (const s of sockets) s.close();
      throw new NetworkError(why);
    };
    for (const p of wanted) {
      const protocol = p.protocol ?? 'tcp';
      const hostIp = p.hostIp ?? '0.0.0.0';
      if (p.hostPort !== undefined) {
        const mine = { protocol, hostIp, hostPort: p.hostPort };
        const clash = firstClash([mine], heldPorts, rec.context.name ?? rec.context.id);
        if (clash) fail(`host port ${portKey(mine)} on ${this.cfg.hostId} is already published by pod ${clash.holder}`);
      }
      let got: { port: number; close: () => void };
      try {
        got = await hold(protocol, hostIp, p.hostPort ?? 0);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') {
          const who = await holderOf(protocol, p.hostPort ?? 0);
          fail(`host port ${hostIp}:${p.hostPort}/${protocol} on ${this.cfg.hostId} is in use${who ? ` by ${who}` : ''}: publish another (-p OTHER:${p.containerPort})`);
        }
        if (code === 'EADDRNOTAVAIL') fail(`host address ${hostIp} is not one of host ${this.cfg.hostId}'s: publish on one of its addresses, or leave it out (every address)`);
        if (code === 'EACCES') fail(`host port ${p.hostPort} needs privilege (below 1024): run hyperd as root, or publish a port of 1024 or more`);
        fail(`host port ${hostIp}:${p.hostPort ?? 'any'}/${protocol}: ${(err as Error).message}`);
      }
      // QEMU's user-mode forwards bind the port themselves: only checked here, not held
      if (this.cfg.mode === 'user') got!.close();
      else sockets.push(got!);
      out.push({ protocol, hostIp, hostPort: got!.port, containerPort: p.containerPort });
    }
    if (sockets.length) this.holds.set(rec.context.id, sockets);
    return out;
  }

  /** The NIC the VM gets: a tap on the bridge (made by plug), or a user-mode one with its forwards. */
  nicOf(podId: string, net: PodNetwork): Nic {
    return net.mode === 'user' ? { mode: 'user', mac: net.mac, forwards: net.ports } : { mode: 'tap', tap: tapOf(podId), mac: net.mac };
  }

  /** Makes the host side of nicOf's NIC: its tap on the bridge (QEMU opens it by name); nothing for a user-mode one. */
  async plug(podId: string, net: PodNetwork): Promise<Nic> {
    if (net.mode === 'user') return this.nicOf(podId, net);
    const tap = tapOf(podId);
    // one ip process for both steps (each spawn costs a pod ~10 ms); a tap already there (a run plugged again) takes
    // the step-by-step way, whose errors name the step that failed
    // its port quieted (quietPort) in the same ip process, where the bridge allows it
    const quieting = this.pinned ? quietLines(tap, this.cfg.bridge, net) : [];
    if (await ipBatch([`tuntap add dev ${tap} mode tap`, `link set ${tap} master ${this.cfg.bridge} up`, ...quieting])) {
      if (quieting.length) {
        this.neighbours.set(podId, net.ip);
        // not waited for (~10 ms of a pod's start): the port floods nothing already, and the guest sends its first frame
        // well after this spawn is done (one that fails because the pod was unplugged meanwhile is not worth a word)
        void staticFdb(tap, net.mac).then((ok) => ok || !this.neighbours.has(podId) || this.tellLoud(tap));
      }
      return { mode: 'tap', tap, mac: net.mac };
    }
    if (!(await quiet('ip', ['link', 'show', tap]))) await sh('ip', ['tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    await sh('ip', ['link', 'set', tap, 'master', this.cfg.bridge, 'up']);
    await this.quiet(podId, tap, net);
    return { mode: 'tap', tap, mac: net.mac };
  }

  /** The pod's port stops flooding (quietPort) on a bridge with a MAC of its own; where that cannot be done it floods, said once. */
  private async quiet(podId: string, tap: string, net: PodNetwork): Promise<void> {
    if (!this.pinned) return;
    this.neighbours.set(podId, net.ip);
    if (!(await quietPort(tap, this.cfg.bridge, net))) this.tellLoud(tap);
  }

  private tellLoud(tap: string): void {
    if (!this.toldLoud) this.log.warn({ tap, bridge: this.cfg.bridge }, `could not make bridge port ${tap} answer ARP itself (proxy_arp, bcast_flood): pods' broadcasts reach every pod, which costs idle guests CPU`);
    this.toldLoud = true;
  }

  /**
   * The DNAT chain rebuilt from every run that holds a network here: the view's, and those this daemon plugged whose
   * net.assigned may not be folded yet. Rebuilds run one at a time (a flush between another's adds would lose rules).
   */
  publish(extra?: PodNetwork, podId?: string): Promise<void> {
    if (extra && podId) this.plugged.set(podId, extra);
    const next = this.publishing.then(() => this.rebuild());
    this.publishing = next.catch(() => {});
    return next;
  }

  private async rebuild(): Promise<void> {
    if (this.cfg.mode !== 'bridge' || !this.ready) return;
    const nets = new Map<string, PodNetwork>();
    for (const p of this.view.pods.values()) if (!this.unplugged.has(p.context.id) && holdsNetwork(p.state, p.context.run, p.context.host ?? '', p.context.network, this.cfg.hostId)) nets.set(p.context.id, p.context.network!);
    for (const [id, n] of this.plugged) nets.set(id, n);
    const { dnat } = this.chain;
    await sh('iptables', ['-t', 'nat', '-F', dnat]);
    for (const n of nets.values()) {
      for (const p of n.ports) {
        const to = ['-j', 'DNAT', '--to-destination', `${n.ip}:${p.containerPort}`];
        await sh('iptables', ['-t', 'nat', '-A', dnat, '-p', p.protocol, ...(p.hostIp !== '0.0.0.0' ? ['-d', p.hostIp] : []), '--dport', String(p.hostPort), ...to]);
      }
    }
  }

  /** The run is over: its held ports, its tap, its rules. */
  async unplug(podId: string): Promise<void> {
    const hadPorts = this.holds.has(podId) || this.plugged.has(podId);
    this.release(podId);
    this.plugged.delete(podId);
    // until the view folds the run's end, a rebuild must not bring its rules back
    this.unplugged.add(podId);
    setTimeout(() => this.unplugged.delete(podId), 60_000).unref();
    if (this.cfg.mode !== 'bridge') return;
    await quiet('ip', ['link', 'del', tapOf(podId)]);
    const ip = this.neighbours.get(podId);
    this.neighbours.delete(podId);
    if (ip) await quiet('ip', ['neigh', 'del', ip, 'dev', this.cfg.bridge]);
    // the DNAT chain only changes for a run that published ports (rebuilding it costs an iptables call per port)
    if (hadPorts) await this.publish().catch((err) => this.log.warn({ err }, 'could not rebuild the port rules'));
  }

  private release(podId: string): void {
    this.pending.delete(podId);
    for (const s of this.holds.get(podId) ?? []) s.close();
    this.holds.delete(podId);
  }

  /** After a restart: hold again the ports of the runs that kept their VMs, and rebuild the rules. */
  async restore(): Promise<void> {
    for (const p of this.view.pods.values()) {
      const net = p.context.network;
      if (!holdsNetwork(p.state, p.context.run, p.context.host ?? '', net, this.cfg.hostId) || net.mode !== 'bridge' || this.holds.has(p.context.id)) continue;
      // the bridge may be new (removed while no daemon ran): the VM's tap goes back on it
      await quiet('ip', ['link', 'set', tapOf(p.context.id), 'master', this.cfg.bridge, 'up']);
      await this.quiet(p.context.id, tapOf(p.context.id), net);
      const sockets: { close: () => void }[] = [];
      for (const port of net.ports) sockets.push(await hold(port.protocol, port.hostIp, port.hostPort).catch((err) => (this.log.warn({ err, pod: p.context.id }, `could not hold ${portKey(port)} again`), { close: () => {} })));
      this.holds.set(p.context.id, sockets);
      this.last = net.ip;
    }
    await this.publish();
  }

  /** The daemon stops: if no VM of this host still uses the network, everything it made goes (else it stays for them). */
  async teardown(): Promise<void> {
    for (const id of [...this.holds.keys()]) this.release(id);
    this.dns.close();
    if (this.cfg.mode !== 'bridge' || !this.ready) return;
    const inUse = [...this.view.pods.values()].some((p) => holdsNetwork(p.state, p.context.run, p.context.host ?? '', p.context.network, this.cfg.hostId));
    if (inUse) return void this.log.info({ bridge: this.cfg.bridge }, 'pod network left in place for the VMs that keep running');
    // only this daemon's taps: a daemon of another data dir on the same bridge (hyper0 is every daemon's default) may run
    // VMs on it, and a QEMU whose tap is deleted spins a whole core (measured) — the bridge then stays for them
    const ownTaps = new Set([...this.view.pods.values()].filter((p) => p.context.host === this.cfg.hostId || p.context.network?.host === this.cfg.hostId).map((p) => tapOf(p.context.id)));
    const others = await removeHostNetwork(this.cfg.bridge, this.chain, (tap) => ownTaps.has(tap));
    if (others.length) return void this.log.warn({ bridge: this.cfg.bridge, taps: others }, `bridge ${this.cfg.bridge} left in place: ${others.length} tap${others.length === 1 ? '' : 's'} not of this daemon's pods (${others.slice(0, 3).join(', ')}) still use it — another hyperd on this host? give each its own --bridge and --pod-cidr`);
    if (this.forwardBefore !== null && this.forwardBefore !== '1') writeFileSync('/proc/sys/net/ipv4/ip_forward', this.forwardBefore);
    this.ready = false;
  }
}

/** A pod's tap: "ht" and its id (Linux allows 15 characters). */
export const tapOf = (podId: string) => `ht${podId.slice(0, 13)}`;

/**
 * Removes a bridge's chains, the jumps to them and the bridge (what setup made); absent parts are skipped. Its pods' taps
 * go with it (those of VMs killed with no daemon to unplug them would outlive it) — with `mine`, only the taps it accepts,
 * and if any other remains, nothing else: the taps left are returned.
 */
export async function removeHostNetwork(bridge: string, chain = chainsOf(bridge), mine: (tap: string) => boolean = () => true): Promise<string[]> {
  if (existsSync(`/sys/class/net/${bridge}`)) {
    const members = await sh('ip', ['-o', 'link', 'show', 'master', bridge]).catch(() => '');
    const others: string[] = [];
    for (const m of members.matchAll(/^\d+: (ht[0-9a-z]+)[:@]/gm)) {
      if (mine(m[1]!)) await quiet('ip', ['link', 'del', m[1]!]);
      else others.push(m[1]!);
    }
    if (others.length) return others;
  }
  for (const [table, from, rule] of jumpsOf(chain)) while (await quiet('iptables', ['-t', table, '-D', from, ...rule])) {}
  for (const [table, name] of [['nat', chain.post], ['nat', chain.dnat], ['filter', chain.fwd], ['filter', chain.input]] as const) {
    await quiet('iptables', ['-t', table, '-F', name]);
    await quiet('iptables', ['-t', table, '-X', name]);
  }
  if (existsSync(`/sys/class/net/${bridge}`)) await quiet('ip', ['link', 'del', bridge]);
  return [];
}

type Chains = { post: string; dnat: string; fwd: string; input: string };

export function chainsOf(bridge: string): Chains {
  const tag = bridge.toUpperCase().slice(0, 12);
  return { post: `HYPER-${tag}-POST`, dnat: `HYPER-${tag}-DNAT`, fwd: `HYPER-${tag}-FWD`, input: `HYPER-${tag}-IN` };
}

/** The jumps from the built-in chains to a bridge's own: [table, from, rule]. */
function jumpsOf(chain: Chains): [string, string, string[]][] {
  return [
    ['nat', 'POSTROUTING', ['-j', chain.post]],
    ['nat', 'PREROUTING', ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', chain.dnat]],
    ['nat', 'OUTPUT', ['-m', 'addrtype', '--dst-type', 'LOCAL', '-j', chain.dnat]],
    ['filter', 'FORWARD', ['-j', chain.fwd]],
    ['filter', 'INPUT', ['-j', chain.input]],
  ];
}
