// Benchmark scaffolding: a real nats-server in a temp dir, hyperd processes, progress on stderr (stdout is for the JSON result).
import { networkFor } from '../../src/net/ipam.js';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startScratchNats, type ScratchNats } from '../../src/nats/scratch.js';

/** The built daemon, whether this file runs compiled (dist/bench/lib) or from source under vitest (bench/lib). */
export const HYPERD = (() => {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const root = here.includes('/dist/') ? here.slice(0, here.lastIndexOf('/dist/')) : fileURLToPath(new URL('../../', import.meta.url));
  return join(root, 'dist', 'src', 'daemon', 'main.js');
})();

export function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

export type BenchNats = ScratchNats;

export function benchNats(): Promise<BenchNats> {
  return startScratchNats('hyper-bench-');
}

export interface Hyperd { proc: ChildProcess; ready: Promise<{ wallMs: number; record: Record<string, number> }>; stop(): Promise<void> }

/** A QEMU daemon gets a bridge and subnet of its own (from its data dir), so benches never share the default hyper0. */
function withOwnNetwork(args: string[]): string[] {
  if (args[args.indexOf('--driver') + 1] !== 'qemu' || args.includes('--bridge') || args.includes('--network')) return args;
  const n = networkFor(args[args.indexOf('--data-dir') + 1] ?? args.join(' '));
  return [...args, '--bridge', n.bridge, '--pod-cidr', n.cidr];
}

export function spawnHyperd(args: string[]): Hyperd {
  const t0 = performance.now();
  // HYPER_BENCH_PROFILE=DIR writes a CPU profile of each daemon there (on a clean stop)
  const profile = process.env.HYPER_BENCH_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.HYPER_BENCH_PROFILE}`] : [];
  const proc = spawn('node', [...profile, HYPERD, ...withOwnNetwork(args)], { env: { ...process.env, HYPER_LOG_FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let buf = '';
  const ready = new Promise<{ wallMs: number; record: Record<string, number> }>((resolve, reject) => {
    proc.stderr!.on('data', (b: Buffer) => {
      buf += b.toString();
      const line = buf.split('\n').find((l) => l.includes('"hyperd ready"'));
      if (line) resolve({ wallMs: Math.round(performance.now() - t0), record: JSON.parse(line) });
    });
    proc.on('exit', (code) => reject(new Error(`hyperd exited with ${code}: ${buf.slice(-2000)}`)));
  });
  ready.catch(() => {});
  return {
    proc,
    ready,
    stop: () => new Promise((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    }),
  };
}

/** hyperd --driver qemu on a scratch nats-server (external, so the log outlives the daemon), busybox loaded into its store. */
export function benchQemuDaemon(n: BenchNats, hostId: string, extra: string[] = [], dir = 'd'): { dataDir: string; d: Hyperd } {
  const dataDir = join(n.dir, dir);
  const root = HYPERD.slice(0, HYPERD.lastIndexOf('/dist/'));
  execFileSync(join(root, 'scripts', 'import-busybox.sh'), [dataDir]);
  return { dataDir, d: spawnHyperd(['--nats', n.server.url, '--host-id', hostId, '--data-dir', dataDir, '--driver', 'qemu', ...extra]) };
}
