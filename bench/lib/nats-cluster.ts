// A throwaway 3-node NATS JetStream cluster on loopback addresses (127.0.0.21-23), configured exactly as `hyper cluster
// config` writes it for three machines (TLS, verified routes, the roles' users), for benchmarks on a clustered log.
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { writeMachineConfigs } from '../../src/cluster/node-config.js';
import { EventStore } from '../../src/events/store/event-store.js';
import { connectNats, type NatsConnection } from '../../src/nats/connect.js';

export interface BenchCluster {
  urls: string[];
  /** hyperd flags to join it: --nats, --creds, --tls-ca, --replicas 3 */
  daemonArgs: string[];
  nc: NatsConnection;
  store: EventStore;
  dir: string;
  close(): Promise<void>;
}

export async function benchNatsCluster(): Promise<BenchCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'hyper-bench-cluster-'));
  const nodes = [1, 2, 3].map((i) => ({ name: `b${i}`, address: `127.0.0.${20 + i}` }));
  writeMachineConfigs(join(dir, 'ca'), nodes, dir, join(dir, '{name}'));
  // each node's log in the cluster's dir (HYPER_BENCH_NATS_LOGS=DIR keeps copies when it closes)
  const procs: ChildProcess[] = nodes.map((n) => spawn('nats-server', ['-c', join(dir, n.name, 'nats-server.conf')], { stdio: ['ignore', 'ignore', openSync(join(dir, `${n.name}.log`), 'a')] }));
  const urls = nodes.map((n) => `tls://${n.address}:4222`);
  const host = JSON.parse(readFileSync(join(dir, 'b1', 'host.json'), 'utf8')) as { user: string; password: string };
  const ca = join(dir, 'b1', 'ca.pem');
  let nc: NatsConnection | null = null;
  for (let i = 0; i < 120 && !nc; i++) {
    try {
      const c = await connectNats(urls, 'bench', { auth: { user: host.user, password: host.password }, tls: { caFile: ca }, reconnect: true, timeoutMs: 2_000 });
      await (await jetstreamManager(c)).getAccountInfo();
      nc = c;
    } catch {
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  if (!nc) throw new Error('the 3-node bench NATS cluster did not come up in 30 s');
  const store = await EventStore.open(nc, { replicas: 3 });
  return {
    urls, nc, store, dir,
    daemonArgs: ['--nats', urls.join(','), '--creds', join(dir, 'b1', 'host.json'), '--tls-ca', ca, '--replicas', '3'],
    async close() {
      await nc!.close().catch(() => {});
      // gone before the next cluster binds the same addresses
      await Promise.all(procs.map((p) => (p.exitCode !== null || p.signalCode !== null ? null : new Promise((r) => { p.once('exit', r); p.kill('SIGKILL'); }))));
      const keep = process.env.HYPER_BENCH_NATS_LOGS;
      if (keep) for (const n of nodes) copyFileSync(join(dir, `${n.name}.log`), join(keep, `${dir.split('/').pop()}-${n.name}.log`));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
