// Benchmark scaffolding: a real nats-server in a temp dir, hyperd processes, progress on stderr (stdout is for the JSON result).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startNatsServer, type NatsServer } from '../../src/nats/server.js';
import { connectNats, type NatsConnection } from '../../src/nats/connect.js';
import { EventStore } from '../../src/events/store/event-store.js';

export const HYPERD = fileURLToPath(new URL('../../src/daemon/main.js', import.meta.url));

export function progress(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

export interface BenchNats { server: NatsServer; nc: NatsConnection; store: EventStore; dir: string; close(): Promise<void> }

export async function benchNats(): Promise<BenchNats> {
  const dir = mkdtempSync(join(tmpdir(), 'hyper-bench-'));
  const server = await startNatsServer({ dataDir: join(dir, 'nats'), name: 'bench' });
  const nc = await connectNats([server.url], 'bench');
  const store = await EventStore.open(nc);
  return {
    server, nc, store, dir,
    async close() {
      await nc.close();
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Hyperd { proc: ChildProcess; ready: Promise<{ wallMs: number; record: Record<string, number> }>; stop(): Promise<void> }

export function spawnHyperd(args: string[]): Hyperd {
  const t0 = performance.now();
  const proc = spawn('node', [HYPERD, ...args], { env: { ...process.env, HYPER_LOG_FORMAT: 'json' }, stdio: ['ignore', 'ignore', 'pipe'] });
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
      if (proc.exitCode !== null) return resolve();
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    }),
  };
}
