// Test harness: the QEMU processes of a data dir (found by their command line), and a pod's events read through the CLI.
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readPid } from '../../src/drivers/qemu/process.js';
import { hyper } from './processes.js';

export function qemuProcessesUnder(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', `^qemu-system-x86_64 .*${dir}`]).toString().trim().split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

/**
 * The live QEMUs of pods' VMs under a data dir: the pid in each run dir (vms/VM/qemu.pid). Not the pool's or the spare
 * QEMUs waiting for a pod, and found also for a VM taken from them (its command line names the dir it was started in).
 */
export function podQemus(dataDir: string): string[] {
  let vms: string[] = [];
  try {
    vms = readdirSync(join(dataDir, 'vms'));
  } catch {}
  const live = new Set(qemuProcessesUnder(dataDir));
  return vms.map((v) => readPid(join(dataDir, 'vms', v, 'qemu.pid'))).filter((p): p is number => p !== null && live.has(String(p))).map(String);
}

export function killQemuUnder(dir: string): void {
  for (const pid of qemuProcessesUnder(dir)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {}
  }
}

export interface PodEventLine { seq: number; type: string; id: string; at: number; by: string; data: Record<string, unknown> }

export async function podEvents(pod: string, env: Record<string, string>): Promise<PodEventLine[]> {
  const r = await hyper(['events', pod, '-o', 'json'], env);
  return r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as PodEventLine);
}

export async function podState(pod: string, env: Record<string, string>): Promise<Record<string, unknown> & { state: string }> {
  const r = await hyper(['inspect', pod], env);
  if (r.exitCode !== 0) return { state: `(inspect failed: ${r.stderr.trim()})` };
  return JSON.parse(r.stdout)[0];
}
