// QEMU processes on this host: finding binaries, reading /proc to tell a live QEMU of a given work dir from a reused pid.
import { accessSync, constants, readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setPriority } from 'node:os';
import { basename, delimiter, join, resolve } from 'node:path';

/** The executable `cmd` resolves to on PATH (or `cmd` itself if it names a path), or null. */
export function onPath(cmd: string): string | null {
  const candidates = cmd.includes('/') ? [cmd] : (process.env.PATH ?? '').split(delimiter).filter(Boolean).map((d) => join(d, cmd));
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {}
  }
  return null;
}

/** Reads /proc/PID; null if the process is gone or a zombie (a zombie holds no resources, only its exit status). */
export function liveCmdline(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return null;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

/** Why this pid is not the QEMU of `dir` (or null if it is): a pid can be reused by anything once the old QEMU is gone. */
export function notOurs(cmd: string[], dir: string): string | null {
  if (!basename(cmd[0] ?? '').startsWith('qemu-system')) return `pid runs ${cmd[0] ?? '(nothing)'}, not QEMU`;
  const names = [dir, resolve(dir)].map((d) => `${d}/`);
  if (!cmd.some((a) => names.some((n) => a.includes(n)))) return 'a QEMU of another work dir';
  return null;
}

/** The pid QEMU wrote with -pidfile, or null. */
export function readPid(pidFile: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(pidFile, 'utf8').trim(), 10);
    return pid > 1 ? pid : null;
  } catch {
    return null;
  }
}

/**
 * In a work dir QEMU was not started in (a pooled VM moved into a pod's), the directory its command line names: what
 * tells it from another QEMU. Absent for a VM started in its own work dir.
 */
export const SPAWNED_IN = 'spawned-in';

/** The directory the QEMU of work dir `dir` was started in: `dir` itself, or the one its SPAWNED_IN file names. */
export function spawnedIn(dir: string): string {
  try {
    return readFileSync(join(dir, SPAWNED_IN), 'utf8').trim() || dir;
  } catch {
    return dir;
  }
}

/** Whether `pid` is, right now, the QEMU of work dir `dir`. */
export function isQemuOf(pid: number, dir: string): boolean {
  const cmd = liveCmdline(pid);
  return cmd !== null && notOurs(cmd, spawnedIn(dir)) === null;
}

export async function waitGone(pid: number, ms: number, everyMs = 20): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (liveCmdline(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return true;
}

/**
 * Sets the nice value of every thread of a process (Linux's is per thread; threads made later inherit their maker's).
 * False if any could not be set: lowering a nice value needs root (CAP_SYS_NICE).
 */
export function setNice(pid: number, nice: number): boolean {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return false;
  }
  let ok = true;
  for (const tid of tids) {
    try {
      setPriority(Number(tid), nice);
    } catch {
      ok = false;
    }
  }
  return ok;
}

/** A process's proportional set size in kB (pages it shares are divided among the processes sharing them), or null if gone. */
export async function pssKb(pid: number): Promise<number | null> {
  try {
    const rollup = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
    const m = /^Pss:\s+(\d+) kB/m.exec(rollup);
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}
