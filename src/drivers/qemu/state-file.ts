// The small versioned file in each VM's work dir that lets any later hyperd find the VM again: which pod and run own it,
// its QEMU, devices and agent protocol. Written atomically; a file of an unknown format is reported, never guessed at.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Device } from '../driver.js';

export const STATE_FORMAT = 1;
export const STATE_FILE = 'state.json';

export interface VmState {
  format: typeof STATE_FORMAT;
  driver: 'qemu';
  vm: string;
  pod: string;
  run: number;
  createdAt: number;
  pid: number;
  binary: string;
  cpus: number;
  memoryMb: number;
  agentProtocol: number;
  devices: Device[];
}

export function writeVmState(dir: string, s: VmState): void {
  const tmp = join(dir, `${STATE_FILE}.tmp`);
  writeFileSync(tmp, JSON.stringify(s, null, 1) + '\n');
  renameSync(tmp, join(dir, STATE_FILE));
}

/** The state of the VM in `dir`, or why it cannot be used (missing, unreadable, or written by a format this build does not know). */
export function readVmState(dir: string): { ok: true; state: VmState } | { ok: false; why: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dir, STATE_FILE), 'utf8'));
  } catch (err) {
    return { ok: false, why: (err as NodeJS.ErrnoException).code === 'ENOENT' ? `no ${STATE_FILE} (the daemon died before recording the VM)` : `unreadable ${STATE_FILE}: ${(err as Error).message}` };
  }
  const s = raw as Partial<VmState>;
  if (s.format !== STATE_FORMAT) return { ok: false, why: `${STATE_FILE} has format ${String(s.format)}, this hyperd reads format ${STATE_FORMAT} — run the hyperd version that started it to stop it` };
  if (typeof s.pod !== 'string' || typeof s.run !== 'number' || typeof s.pid !== 'number' || !Array.isArray(s.devices)) return { ok: false, why: `${STATE_FILE} lacks pod, run, pid or devices` };
  return { ok: true, state: s as VmState };
}
