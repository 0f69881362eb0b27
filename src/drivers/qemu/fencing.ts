// Fencing VMs that outlive their daemon: a small guard process per data dir stops every QEMU of the run dir once the
// lease file's deadline passes with no renewal (the daemon was killed, or is cut off), before any survivor may declare
// this host lost and start its pods elsewhere. Here: starting (once) the guard, and what it does when the time comes.
import { spawn } from 'node:child_process';
import { openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isQemuOf, liveCmdline, readPid } from './process.js';

const GUARD_SCRIPT = new URL('./fence-guard.js', import.meta.url).pathname;
export const GUARD_PID_FILE = 'fence-guard.pid';
/** Left in a VM's work dir by the guard that stopped it, so the next daemon can say why the VM is gone. */
export const FENCED_FILE = 'fenced.json';

/** The guard of `runDir` if it runs now. */
export function guardPid(runDir: string): number | null {
  const pid = readPid(join(runDir, GUARD_PID_FILE));
  const cmd = pid ? liveCmdline(pid) : null;
  return cmd && cmd.includes(GUARD_SCRIPT) && cmd.includes(runDir) ? pid : null;
}

/** Starts the guard of `runDir` unless one runs: detached, so it outlives this daemon; it writes its own pid file. */
export function ensureFenceGuard(runDir: string, leaseFile: string): number | null {
  const running = guardPid(runDir);
  if (running) return running;
  const log = openSync(join(runDir, 'fence-guard.log'), 'a');
  const child = spawn(process.execPath, ['--max-old-space-size=16', GUARD_SCRIPT, runDir, leaseFile], { detached: true, stdio: ['ignore', log, log] });
  child.unref();
  return child.pid ?? null;
}

/** The QEMU processes of runDir's work dirs that are alive now. */
export function liveVms(runDir: string): { id: string; dir: string; pid: number }[] {
  let names: string[];
  try {
    names = readdirSync(runDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return [];
  }
  const out: { id: string; dir: string; pid: number }[] = [];
  for (const id of names) {
    const dir = join(runDir, id);
    const pid = readPid(join(dir, 'qemu.pid'));
    if (pid && isQemuOf(pid, dir)) out.push({ id, dir, pid });
  }
  return out;
}

/** SIGKILL to every live QEMU of runDir (no time for a clean shutdown: another host may soon start these pods), each marked with why. */
export function fenceAll(runDir: string, reason: string): string[] {
  const killed: string[] = [];
  for (const vm of liveVms(runDir)) {
    try {
      writeFileSync(join(vm.dir, FENCED_FILE), JSON.stringify({ at: Date.now(), pid: vm.pid, reason }) + '\n');
      process.kill(vm.pid, 'SIGKILL');
      killed.push(vm.id);
    } catch {}
  }
  return killed;
}

/** The mark the fence guard left when it stopped the VM of `dir`, if it did. */
export function readFenceMark(dir: string): { at: number; pid: number; reason: string } | null {
  try {
    return JSON.parse(readFileSync(join(dir, FENCED_FILE), 'utf8'));
  } catch {
    return null;
  }
}

/** Why the fence guard stopped the VM of `dir`, if it did. */
export function fencedBecause(dir: string): string | null {
  const f = readFenceMark(dir);
  return f ? `stopped by the fence guard at ${new Date(f.at).toISOString()}: ${f.reason}` : null;
}
