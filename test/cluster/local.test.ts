// `hyper cluster up` for real (root): 3 NATS nodes and 3 hollow hosts, each in its own network namespace on a bridge; R3
// streams; a host cut off the network (its veth down) fences itself, is declared lost, its pods run elsewhere, and after
// the heal it rejoins as epoch 2 with nothing running twice; `cluster repair` remakes every stream's replicas from its leader
// with the hosts riding it out; `cluster down` removes every namespace and the bridge.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { readClusterFile, type ClusterFile } from '../../src/cluster/local.js';
import { setLink } from '../../src/cluster/netns.js';
import { connectNats } from '../../src/nats/connect.js';
import { connect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readCredentialsFile } from '../../src/auth/credentials.js';
import { hyper } from '../harness/processes.js';

const dir = mkdtempSync(join(tmpdir(), 'hyper-cluster-'));
const env = { HYPER_DATA_DIR: dir };
let f: ClusterFile;

const hostsTable = async () => (await hyper(['hosts', '-o', 'json'], env)).stdout;
async function hostStates(): Promise<Record<string, { status: string; epoch: number; pods: number }>> {
  const rows = JSON.parse(await hostsTable()) as { id: string; status: string; epoch: number; used: { pods: number } }[];
  return Object.fromEntries(rows.map((r) => [r.id, { status: r.status, epoch: r.epoch, pods: r.used.pods }]));
}
async function pods(): Promise<{ id: string; state: string; host: string | null; run: number }[]> {
  return JSON.parse((await hyper(['ps', '-a', '-o', 'json'], env)).stdout);
}
async function until<T>(what: string, probe: () => Promise<T | null>, ms = 40_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${await hostsTable()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

beforeAll(async () => {
  // 3 NATS nodes and 3 hosts one after another: slow while the rest of the suite loads both cores
  const up = await hyper(['cluster', 'up', '--hosts', '3', '--driver', 'hollow', '--host-lease', '2s'], env, undefined, 170_000);
  expect(up.exitCode, up.stderr).toBe(0);
  f = readClusterFile(dir)!;
}, 180_000);

afterAll(async () => {
  await hyper(['cluster', 'down'], env);
  rmSync(dir, { recursive: true, force: true });
});

describe('hyper cluster up', () => {
  it('brings up 3 NATS nodes and 3 live hosts, each in a namespace of its own, with R3 streams', async () => {
    expect(f.nodes.map((n) => n.name)).toEqual(['n1', 'n2', 'n3']);
    const namespaces = execFileSync('ip', ['netns', 'ls'], { encoding: 'utf8' });
    for (const m of [...f.nodes, ...f.hosts]) expect(namespaces).toContain(m.ns);
    expect(Object.values(await hostStates()).map((h) => h.status)).toEqual(['up', 'up', 'up']);
    expect((await hyper(['cluster', 'status'], env)).stdout).toMatch(/nats\s+n3\s+10\.\d+\.\d+\.13\s+\d+\s+running/);
    const creds = readCredentialsFile(f.credentials);
    const nc = await connectNats(f.nats, 'test', { auth: creds.kind === 'admin' ? creds : undefined, tls: { caFile: f.tlsCa! } });
    try {
      const info = await (await jetstreamManager(nc)).streams.info('HYPER_EVENTS');
      expect(info.config.num_replicas).toBe(3);
      expect(info.cluster?.replicas?.length).toBe(2);
    } finally {
      await nc.close();
    }
  });

  it('speaks TLS to clients and on the routes between nodes, verified by the cluster CA', async () => {
    expect(f.nats.every((u) => u.startsWith('tls://'))).toBe(true);
    // the client port: TLS required, said in the clear INFO before the upgrade
    const info = await new Promise<string>((resolve, reject) => {
      const sock = connect(4222, f.nodes[0].address);
      sock.once('data', (b) => (resolve(b.toString()), sock.destroy()));
      sock.once('error', reject);
      setTimeout(() => reject(new Error('no INFO in 3 s')), 3_000);
    });
    expect(info).toMatch(/^INFO .*"tls_required":true/);
    // the route port: TLS from the first byte, and a peer without a certificate of the CA is refused in the handshake
    const route = (cert?: { cert: Buffer; key: Buffer }) => new Promise<string>((resolve) => {
      const s = tlsConnect({ host: f.nodes[0].address, port: 6222, ca: readFileSync(f.tlsCa!), servername: 'localhost', ...cert });
      s.once('data', (b) => (resolve(`data ${b.toString().slice(0, 5)}`), s.destroy()));
      s.once('error', (e: NodeJS.ErrnoException) => resolve(`error ${e.code}`));
      setTimeout(() => (resolve('silence'), s.destroy()), 3_000);
    });
    expect(await route()).toMatch(/^error ERR_SSL_.*BAD_CERTIFICATE|^error ECONNRESET/);
    const peer = join(f.nodes[1].dir, 'tls');
    expect(await route({ cert: readFileSync(join(peer, 'node.pem')), key: readFileSync(join(peer, 'node.key')) })).toBe('data INFO ');
    const creds = readCredentialsFile(f.credentials);
    const auth = creds.kind === 'admin' ? creds : undefined;
    // without the CA a client cannot verify the node; the CLI finds the CA through the data dir
    await expect(connectNats(f.nats, 'test', { auth, tls: {}, reconnect: false, timeoutMs: 3_000 })).rejects.toThrow(/certificate|self.signed|unable to verify/i);
    expect((await hyper(['hosts'], env)).exitCode).toBe(0);
  });

  it('a host cut off the network fences itself, is declared lost, its pods run elsewhere, and it rejoins as epoch 2', async () => {
    for (let i = 0; i < 6; i++) expect((await hyper(['run', '-d', '--restart', 'always', 'busybox'], env)).exitCode).toBe(0);
    const before = await until('6 pods running', async () => { const p = await pods(); return p.filter((x) => x.state === 'running').length === 6 ? p : null; });
    const victim = f.hosts.find((h) => before.some((p) => p.host === h.name))!;
    const moved = before.filter((p) => p.host === victim.name).map((p) => p.id);

    setLink(victim, false);
    await until('the cut-off host lost and its pods running elsewhere', async () => {
      const [h, p] = [await hostStates(), await pods()];
      return h[victim.name].status === 'lost' && moved.every((id) => p.find((x) => x.id === id)?.state === 'running' && p.find((x) => x.id === id)?.host !== victim.name) ? true : null;
    });
    setLink(victim, true);
    const h = await until('the host back as epoch 2', async () => { const h = await hostStates(); return h[victim.name].status === 'up' && h[victim.name].epoch === 2 ? h : null; });
    expect(h[victim.name].pods).toBe(0);
    const log = execFileSync('cat', [join(victim.dir, 'hyperd.log')], { encoding: 'utf8' });
    expect(log).toMatch(/self-fencing/);
    const after = await pods();
    for (const id of moved) expect(after.find((x) => x.id === id)).toMatchObject({ state: 'running', run: 2 });
  }, 120_000);

  it('cluster repair makes every replicated stream again from its leader, keeping its messages, while pods keep running', async () => {
    const before = (await pods()).filter((p) => p.state === 'running').length;
    const creds = readCredentialsFile(f.credentials);
    const nc = await connectNats(f.nats, 'test', { auth: creds.kind === 'admin' ? creds : undefined, tls: { caFile: f.tlsCa! } });
    try {
      const jsm = await jetstreamManager(nc);
      const messages = (await jsm.streams.info('HYPER_EVENTS')).state.messages;
      const r = await hyper(['cluster', 'repair', '-o', 'json'], env);
      expect(r.exitCode, r.stderr).toBe(0);
      const done = JSON.parse(r.stdout) as { stream: string; replicas: number; messages: number }[];
      expect(done.map((d) => d.stream)).toEqual(expect.arrayContaining(['HYPER_EVENTS', 'HYPER_INTENTS', 'HYPER_LOGS', 'KV_hyper-heartbeats']));
      expect(done.every((d) => d.replicas === 3)).toBe(true);
      expect(done.find((d) => d.stream === 'HYPER_EVENTS')!.messages).toBeGreaterThanOrEqual(messages);
      expect(r.stderr).toMatch(/HYPER_EVENTS: 3 replicas, all current and read back/);
      const info = await jsm.streams.info('HYPER_EVENTS');
      expect(info.config.num_replicas).toBe(3);
      expect(info.cluster?.replicas?.every((x) => x.current)).toBe(true);
    } finally {
      await nc.close();
    }
    expect((await hyper(['cluster', 'repair', '--stream', 'NOPE'], env)).stderr).toMatch(/--stream: no stream NOPE \(hyper's are: .*HYPER_EVENTS/);
    // nothing stopped: the hosts and their pods rode it out. The repair read every stream back before it returned; a read
    // that still lists fewer hosts (seen once in CI before it did) is read again, a host in any state but up fails
    const states = await until('a read listing all 3 hosts', async () => { const h = await hostStates(); return Object.keys(h).length === 3 ? h : null; }, 10_000);
    expect(Object.values(states).map((h) => h.status)).toEqual(['up', 'up', 'up']);
    // (a read in the seconds after the repair, while the remade streams' replicas settle, may come back short: polled)
    await until(`${before} pods running after the repair`, async () => ((await pods()).filter((p) => p.state === 'running').length === before ? true : null), 20_000);
  }, 120_000);

  it('cluster down removes the namespaces and the bridge', async () => {
    expect((await hyper(['cluster', 'down'], env)).exitCode).toBe(0);
    const namespaces = execFileSync('ip', ['netns', 'ls'], { encoding: 'utf8' });
    for (const m of [...f.nodes, ...f.hosts]) expect(namespaces).not.toContain(m.ns);
    expect(readClusterFile(dir)).toBeNull();
    expect((await hyper(['hosts'], env)).stderr).toMatch(/no hyper daemon is running/);
  }, 60_000);
});
