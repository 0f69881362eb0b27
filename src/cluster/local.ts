// `hyper cluster up|status|down`: a local cluster of a 3-node NATS JetStream cluster (R3 streams and buckets) and N hyperd
// hosts, each NATS node and each host in a network namespace of its own on one bridge. Everything it started is recorded in
// DATA_DIR/cluster.json, through which `hyper` commands find the cluster as they find a local daemon.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inRepo } from '../repo-root.js';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { parseHeartbeat } from '../actors/host/liveness.js';
import { HEARTBEAT_BUCKET } from '../events/schemas/subjects.js';
import { clientCredentialsFile, ensureCredentials, hostCredentialsFile } from '../auth/credentials.js';
import { connectNats } from '../nats/connect.js';
import { ensureCa, tlsDir } from '../auth/tls.js';
import { nodeCertificate, nodeConfig } from './node-config.js';
import { addMember, createBridge, inNamespace, removeAll, type Member } from './netns.js';
import { fenceAll, guardPid } from '../drivers/qemu/fencing.js';

export interface ClusterMember extends Member { name: string; dir: string; pid: number; /** how it was started (hosts): to start it again */ argv?: string[] }

export interface ClusterFile {
  bridge: string;
  gateway: string;
  driver: string;
  nats: string[];
  credentials: string;
  /** The CA every NATS node's certificate is signed by (client and route TLS); absent for clusters started before 0.5. */
  tlsCa?: string;
  nodes: ClusterMember[];
  hosts: ClusterMember[];
  startedAt: number;
}

export const clusterFile = (dataDir: string) => join(dataDir, 'cluster.json');

export function readClusterFile(dataDir: string): ClusterFile | null {
  const f = clusterFile(dataDir);
  return existsSync(f) ? (JSON.parse(readFileSync(f, 'utf8')) as ClusterFile) : null;
}

/** The daemon as built (dist/), whichever way the CLI that starts it was loaded. */
const HYPERD = inRepo('dist', 'src', 'daemon', 'main.js');

/** Names and a /24 derived from the data dir, so two clusters on one machine (two data dirs) do not collide. */
function layout(dataDir: string) {
  const h = createHash('sha256').update(dataDir).digest();
  const tag = h.toString('hex').slice(0, 6);
  const subnet = `10.${200 + (h[3] % 50)}.${h[4]}`;
  return { tag, bridge: `hyb${tag}`, gateway: `${subnet}.1`, address: (i: number) => `${subnet}.${i}` };
}

/** Starts a detached process in a namespace, its output to a log file; it outlives this command. */
function spawnIn(ns: string, argv: string[], log: string): number {
  const fd = openSync(log, 'a');
  const [cmd, ...args] = inNamespace(ns, argv);
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd] });
  child.unref();
  return child.pid!;
}

/** Whether a process runs (signal 0). */
export const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | null> | T | null): Promise<T> {
  const until = Date.now() + ms;
  let last: unknown = null;
  while (Date.now() < until) {
    try {
      const v = await probe();
      if (v !== null) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what} did not come up within ${ms / 1000} s${last ? `: ${(last as Error).message}` : ''}`);
}

export interface UpOptions {
  dataDir: string; hosts: number; natsNodes: number; driver: string; hostLease?: string; cpus?: number; memoryMb?: number;
  /** Image archives (`docker save`, OCI) loaded into every host's store before it starts: hosts have their own stores, and no route to a registry outside. */
  load?: string[];
  progress: (msg: string) => void;
}

export async function clusterUp(o: UpOptions): Promise<ClusterFile> {
  if (readClusterFile(o.dataDir)) throw new Error(`a cluster is already up in ${o.dataDir} (${clusterFile(o.dataDir)}): hyper cluster down first`);
  if (o.natsNodes < 1 || o.hosts < 1) throw new Error('--hosts and --nats-nodes must be at least 1');
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const creds = ensureCredentials(o.dataDir);
  const l = layout(o.dataDir);
  const nodes: ClusterMember[] = Array.from({ length: o.natsNodes }, (_, i) => ({ name: `n${i + 1}`, ns: `hyper-${l.tag}-n${i + 1}`, veth: `hv${l.tag}n${i + 1}`, address: l.address(11 + i), dir: join(o.dataDir, 'nats', `n${i + 1}`), pid: 0 }));
  const hosts: ClusterMember[] = Array.from({ length: o.hosts }, (_, i) => ({ name: `h${i + 1}`, ns: `hyper-${l.tag}-h${i + 1}`, veth: `hv${l.tag}h${i + 1}`, address: l.address(101 + i), dir: join(o.dataDir, 'hosts', `h${i + 1}`), pid: 0 }));
  const nats = nodes.map((n) => `tls://${n.address}:4222`);
  // TLS everywhere: clients and hosts verify the nodes, and the nodes each other on their routes, by one CA
  const tls = tlsDir(o.dataDir);
  mkdirSync(tls, { recursive: true, mode: 0o755 });
  const ca = ensureCa(tls);
  const file: ClusterFile = { bridge: l.bridge, gateway: l.gateway, driver: o.driver, nats, credentials: clientCredentialsFile(o.dataDir), tlsCa: ca, nodes, hosts, startedAt: Date.now() };
  const save = () => writeFileSync(clusterFile(o.dataDir), JSON.stringify(file, null, 1) + '\n', { mode: 0o600 });
  try {
    o.progress(`network: bridge ${l.bridge} (${l.gateway}/24), ${nodes.length + hosts.length} namespaces`);
    createBridge(l.bridge, l.gateway);
    save();
    for (const m of [...nodes, ...hosts]) addMember(l.bridge, m, l.gateway);

    for (const n of nodes) {
      mkdirSync(join(n.dir, 'jetstream'), { recursive: true, mode: 0o700 });
      const conf = join(n.dir, 'nats-server.conf');
      const cert = nodeCertificate(tls, join(n.dir, 'tls'), n);
      writeFileSync(conf, nodeConfig(n, nodes, creds, { storeDir: join(n.dir, 'jetstream'), ...cert }), { mode: 0o600 });
      n.pid = spawnIn(n.ns, ['nats-server', '-c', conf], join(n.dir, 'nats-server.log'));
      save();
      o.progress(`nats node ${n.name} at ${n.address} (pid ${n.pid})`);
    }
    // JetStream answers once the nodes have elected a meta leader
    await waitFor('the NATS JetStream cluster', 30_000, async () => {
      const nc = await connectNats(nats, 'hyper-cluster-up', { auth: creds.host, tls: { caFile: ca }, reconnect: false, timeoutMs: 2_000 });
      try {
        await (await jetstreamManager(nc)).getAccountInfo();
        return true;
      } finally {
        await nc.close();
      }
    });
    o.progress(`JetStream ready on ${nodes.length} node${nodes.length === 1 ? '' : 's'}`);

    if (o.load?.length) {
      const { ImageStore } = await import('../images/store.js');
      for (const h of hosts) {
        mkdirSync(h.dir, { recursive: true, mode: 0o700 });
        for (const archive of o.load) {
          const loaded = await new ImageStore(h.dir).load(archive);
          o.progress(`${h.name}: loaded ${loaded.map((r) => r.image.repoTags[0] ?? r.image.id.slice(7, 19)).join(', ')} from ${archive}`);
        }
      }
    }
    for (const h of hosts) {
      mkdirSync(h.dir, { recursive: true, mode: 0o700 });
      const argv = ['node', HYPERD, '--nats', nats.join(','), '--creds', hostCredentialsFile(o.dataDir), '--tls-ca', ca, '--replicas', String(Math.min(3, nodes.length)), '--host-id', h.name, '--data-dir', h.dir, '--driver', o.driver, ...(o.hostLease ? ['--host-lease', o.hostLease] : []), ...(o.cpus ? ['--cpus', String(o.cpus)] : []), ...(o.memoryMb ? ['--memory', String(o.memoryMb)] : [])];
      h.argv = argv;
      h.pid = spawnIn(h.ns, argv, join(h.dir, 'hyperd.log'));
      save();
    }
    for (const h of hosts) {
      await hostReady(h, 0);
      o.progress(`host ${h.name} at ${h.address} ready (pid ${h.pid})`);
    }
    // up when every host's lease renewal can be read back from the cluster (any replica may answer a direct get)
    await waitFor('every host\'s first lease renewal', 20_000, async () => {
      const nc = await connectNats(nats, 'hyper-cluster-up', { auth: creds.host, tls: { caFile: ca }, reconnect: false, timeoutMs: 2_000 });
      try {
        const kv = await new Kvm(nc).open(HEARTBEAT_BUCKET);
        const seen = new Set<string>();
        for await (const k of await kv.keys()) {
          const e = await kv.get(k);
          const hb = e?.operation === 'PUT' ? parseHeartbeat(e.string()) : null;
          for (const [host] of hb?.hosts ?? []) seen.add(host);
        }
        return hosts.every((h) => seen.has(h.name)) ? true : null;
      } finally {
        await nc.close();
      }
    });
    return file;
  } catch (err) {
    o.progress(`cluster up failed; taking down what was started`);
    await clusterDown(o.dataDir, () => {});
    throw err;
  }
}

/** Waits for a host's hyperd to say it is ready, after the first `skip` bytes of its log (an earlier run's). */
async function hostReady(h: ClusterMember, skip: number): Promise<void> {
  const log = join(h.dir, 'hyperd.log');
  await waitFor(`hyperd on ${h.name}`, 60_000, () => {
    const text = readFileSync(log, 'utf8').slice(skip);
    if (!alive(h.pid)) throw new Error(`it exited; its log (${log}) ends: ${text.split('\n').slice(-3).join(' | ')}`);
    return text.includes('"hyperd ready"') ? true : null;
  });
}

/** Starts a host's hyperd again, as cluster up did (after it was killed), and waits until it is ready; returns its pid. */
export async function restartHost(dataDir: string, name: string): Promise<number> {
  const f = readClusterFile(dataDir);
  const h = f?.hosts.find((x) => x.name === name);
  if (!f || !h) throw new Error(`no host ${name} in ${clusterFile(dataDir)}`);
  if (!h.argv) throw new Error(`host ${name} was started by an older hyper: take the cluster down and up again`);
  const log = join(h.dir, 'hyperd.log');
  const skip = readFileSync(log, 'utf8').length;
  h.pid = spawnIn(h.ns, h.argv, log);
  writeFileSync(clusterFile(dataDir), JSON.stringify(f, null, 1) + '\n', { mode: 0o600 });
  await hostReady(h, skip);
  return h.pid;
}

/** Starts a NATS node again on its own store and config (after it was killed); it catches up from its peers by itself. */
export function restartNode(dataDir: string, name: string): number {
  const f = readClusterFile(dataDir);
  const n = f?.nodes.find((x) => x.name === name);
  if (!f || !n) throw new Error(`no NATS node ${name} in ${clusterFile(dataDir)}`);
  if (alive(n.pid)) throw new Error(`NATS node ${name} (pid ${n.pid}) still runs`);
  n.pid = spawnIn(n.ns, ['nats-server', '-c', join(n.dir, 'nats-server.conf')], join(n.dir, 'nats-server.log'));
  writeFileSync(clusterFile(dataDir), JSON.stringify(f, null, 1) + '\n', { mode: 0o600 });
  return n.pid;
}

/** Stops the hosts (SIGTERM), then any VM they left running, then the NATS nodes, then removes the network. */
export async function clusterDown(dataDir: string, progress: (msg: string) => void): Promise<boolean> {
  const f = readClusterFile(dataDir);
  if (!f) return false;
  const stop = async (members: ClusterMember[], what: string) => {
    for (const m of members) if (m.pid && alive(m.pid)) process.kill(m.pid, 'SIGTERM');
    const until = Date.now() + 15_000;
    while (members.some((m) => m.pid && alive(m.pid)) && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    for (const m of members) if (m.pid && alive(m.pid)) process.kill(m.pid, 'SIGKILL');
    if (members.length) progress(`stopped ${members.length} ${what}`);
  };
  await stop(f.hosts, 'hosts');
  // the cluster ends with its hosts: VMs that outlived their hyperd (re-attachable) go too, and their fence guards
  let vms = 0;
  for (const h of f.hosts) {
    const runDir = join(h.dir, 'vms');
    vms += fenceAll(runDir, 'hyper cluster down').length;
    const guard = guardPid(runDir);
    if (guard) process.kill(guard, 'SIGKILL');
  }
  if (vms) progress(`stopped ${vms} VMs the hosts left running`);
  await stop(f.nodes, 'NATS nodes');
  removeAll(f.bridge, [...f.hosts, ...f.nodes]);
  rmSync(clusterFile(dataDir), { force: true });
  progress(`removed bridge ${f.bridge} and its namespaces`);
  return true;
}

/** Whether each recorded process still runs (the CLI adds what NATS and the log say). */
export function memberProcesses(f: ClusterFile): { kind: 'nats' | 'host'; name: string; address: string; pid: number; running: boolean }[] {
  return [...f.nodes.map((m) => ({ kind: 'nats' as const, m })), ...f.hosts.map((m) => ({ kind: 'host' as const, m }))].map(({ kind, m }) => ({ kind, name: m.name, address: m.address, pid: m.pid, running: alive(m.pid) }));
}
