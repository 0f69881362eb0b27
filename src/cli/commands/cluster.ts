// `hyper cluster up|status|repair|down`: a local cluster in network namespaces (NATS nodes and hosts), found by later commands through the data dir.
import type { Command } from 'commander';
import { clusterDown, clusterUp, memberProcesses, readClusterFile } from '../../cluster/local.js';
import { defaultDataDir } from '../../daemon/paths.js';
import { HyperError } from '../../errors.js';
import { printJson, table } from '../format.js';
import { openSession, type GlobalOptions } from '../connection.js';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const whole = (flag: string, max: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new HyperError('invalid', `${flag}: "${v}" is not a whole number from 1 to ${max}`);
  return n;
};
const count = (flag: string) => whole(flag, 50);

export function registerCluster(program: Command, globals: () => GlobalOptions): void {
  const cluster = program.command('cluster').description('a local cluster: NATS nodes and hosts, each in a network namespace of its own (root)');
  const dir = () => globals().dataDir ?? defaultDataDir();
  const progress = (msg: string) => process.stderr.write(`cluster: ${msg}\n`);

  cluster
    .command('up')
    .description('start a NATS JetStream cluster and N hyperd hosts on a bridge; hyper commands then use it')
    .option('--hosts <n>', 'hosts (hyperd processes)', count('--hosts'), 3)
    .option('--nats-nodes <n>', 'NATS nodes (3 gives R3 streams and buckets)', count('--nats-nodes'), 3)
    .option('--driver <name>', 'qemu or hollow', 'qemu')
    .option('--host-lease <duration>', 'each host\'s lease (hyperd --host-lease)')
    .option('--cpus <n>', 'vCPUs each host offers (hyperd --cpus)', whole('--cpus', 1_000_000))
    .option('--memory <MB>', 'memory each host offers in MB (hyperd --memory)', whole('--memory', 1 << 30))
    .option('--load <archive>', 'load an image archive into every host\'s store first (repeatable)', (v: string, all: string[]) => [...all, v], [] as string[])
    .action(async (o: { hosts: number; natsNodes: number; driver: string; hostLease?: string; cpus?: number; memory?: number; load: string[] }) => {
      if (!['qemu', 'hollow'].includes(o.driver)) throw new HyperError('invalid', `--driver: "${o.driver}" is not qemu or hollow`);
      const f = await clusterUp({ dataDir: dir(), hosts: o.hosts, natsNodes: o.natsNodes, driver: o.driver, hostLease: o.hostLease, cpus: o.cpus, memoryMb: o.memory, load: o.load, progress });
      process.stdout.write(`cluster up: ${f.nodes.length} NATS nodes (${f.nats.join(',')}), ${f.hosts.length} ${f.driver} hosts; try: hyper hosts\n`);
    });

  cluster
    .command('config')
    .description('write what each machine of a cluster on separate machines needs: nats-server.conf, its TLS certificate, the CA and the credentials')
    .requiredOption('--node <name=address>', 'a machine of the cluster, by a name and the address the others reach it at (repeat for each)', (v: string, all: string[]) => [...all, v], [] as string[])
    .option('-o, --out <dir>', 'where to write a directory per machine', 'hyper-cluster')
    .option('--install-dir <dir>', 'where the files will be on each machine (paths in nats-server.conf; {name}: the machine\'s name)', '/etc/hyper')
    .action(async (o: { node: string[]; out: string; installDir: string }) => {
      const nodes = o.node.map((v) => {
        const m = /^([a-z][a-z0-9-]{0,30})=(.+)$/.exec(v);
        if (!m) throw new HyperError('invalid', `--node "${v}": give NAME=ADDRESS, e.g. --node m1=10.0.0.1 (a name of lowercase letters, digits and dashes)`);
        return { name: m[1], address: m[2] };
      });
      if (new Set(nodes.map((n) => n.name)).size !== nodes.length) throw new HyperError('invalid', '--node: each machine needs a name of its own');
      const { writeMachineConfigs } = await import('../../cluster/node-config.js');
      const dirs = writeMachineConfigs(dir(), nodes, o.out, o.installDir);
      const seeds = nodes.map((n) => `tls://${n.address}:4222`).join(',');
      process.stdout.write(`${dirs.map((d) => `wrote ${d}/`).join('\n')}\n`);
      process.stdout.write(`on each machine: copy its directory to ${o.installDir}, then\n  nats-server -c ${o.installDir}/nats-server.conf &\n  hyperd --nats ${seeds} --tls-ca ${o.installDir}/ca.pem --creds ${o.installDir}/host.json --replicas ${Math.min(3, nodes.length)} &\nclients: hyper --nats ${seeds} --tls-ca ca.pem --creds client.json ps\n`);
    });

  cluster
    .command('status')
    .description('each NATS node and host of the local cluster: address, process, whether it runs')
    .action(() => {
      const f = readClusterFile(dir());
      if (!f) throw new HyperError('not-found', `no local cluster in ${dir()} — start one with: hyper cluster up --hosts 3`);
      const rows = memberProcesses(f);
      if (globals().output === 'json') return printJson({ ...f, members: rows });
      process.stdout.write(table(['KIND', 'NAME', 'ADDRESS', 'PID', 'PROCESS'], rows.map((r) => [r.kind, r.name, r.address, String(r.pid), r.running ? 'running' : 'gone'])) + '\n');
      process.stdout.write(`NATS: ${f.nats.join(',')}   (hyper hosts shows each host's lease)\n`);
    });

  cluster
    .command('repair')
    .description('make the replicas of hyper\'s streams again from their leaders (after nats-server 2.9 lost or diverged messages; hyperd logs say when)')
    .option('--stream <name>', 'only this stream (repeatable; default: every replicated HYPER_* and KV_hyper-* one)', (v: string, all: string[]) => [...all, v], [] as string[])
    .action(async (o: { stream: string[] }) => {
      const g = globals();
      // changing streams takes a host's credentials: a local cluster's are in its data dir
      const hostCreds = join(dir(), 'auth', 'host.json');
      const s = await openSession({ ...g, creds: g.creds ?? (existsSync(hostCreds) ? hostCreds : undefined) });
      try {
        const { repairStreams } = await import('../../cluster/repair.js');
        const done = await repairStreams(s.store.nc, progress, { streams: o.stream });
        if (g.output === 'json') return printJson(done);
        if (done.length) process.stdout.write(table(['STREAM', 'REPLICAS', 'MESSAGES', 'SECONDS'], done.map((d) => [d.stream, String(d.replicas), String(d.messages), d.seconds.toFixed(1)])) + '\n');
      } finally {
        await s.close();
      }
    });

  cluster
    .command('down')
    .description('stop the local cluster\'s hosts and NATS nodes and remove its network (data stays in the data dir)')
    .action(async () => {
      if (!(await clusterDown(dir(), progress))) process.stderr.write(`cluster: none running in ${dir()}\n`);
    });
}
