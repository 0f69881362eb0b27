// Test harness: the QEMU processes of a data dir (found by their command line), and a pod's events read through the CLI.
import { execFileSync } from 'node:child_process';
import { hyper } from './processes.js';

export function qemuProcessesUnder(dir: string): string[] {
  try {
    return execFileSync('pgrep', ['-f', `^qemu-system-x86_64 .*${dir}`]).toString().trim().split('\n').filter(Boolean);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
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
