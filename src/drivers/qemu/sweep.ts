// Orphan sweep at daemon start: SIGKILLs QEMU processes a previous hyperd left behind (found by their qemu.pid) and removes their work dirs.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { createLogger, type Logger } from '../../log.js';

export interface SweepResult {
  /** QEMU processes killed, with the work dir that named them. */
  killed: { pid: number; dir: string }[];
  /** pidfiles naming a live process that is not that dir's QEMU (a reused pid): left alone. */
  spared: { pid: number; dir: string; why: string }[];
  /** Work dirs removed. */
  removed: string[];
  /** Things that could not be done (kill refused, dir not removable). */
  failed: { dir: string; why: string }[];
}

/** Reads /proc/PID; null if the process is gone or a zombie (a zombie holds no resources, only its exit status). */
function liveCmdline(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return null;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
  } catch {
    return null;
  }
}

/** Why this pid is not the QEMU of `dir` (or null if it is): a pid can be reused by anything once the old QEMU is gone. */
function notOurs(cmd: string[], dir: string): string | null {
  if (!basename(cmd[0] ?? '').startsWith('qemu-system')) return `pid runs ${cmd[0] ?? '(nothing)'}, not QEMU`;
  const names = new Set([dir, resolve(dir)].map((d) => `${d}/`));
  if (!cmd.some((a) => [...names].some((n) => a.includes(n)))) return `a QEMU of another work dir`;
  return null;
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (liveCmdline(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

/**
 * Sweeps runDir, which must belong to this daemon alone (QEMU VMs do not survive a daemon restart, so every work dir in
 * it at start-up is stale). A QEMU spawned with pdeathsig already died with its daemon; this catches the rest: QEMU
 * started where setpriv is missing, or a daemon that died in the instant between spawning QEMU and setting the signal.
 */
export async function sweepOrphans(runDir: string): Promise<SweepResult> {
  const result: SweepResult = { killed: [], spared: [], removed: [], failed: [] };
  let entries: string[];
  try {
    entries = readdirSync(runDir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return result; // no runDir yet: nothing to sweep
  }
  for (const name of entries) {
    const dir = join(runDir, name);
    let pid = NaN;
    try {
      pid = Number.parseInt(readFileSync(join(dir, 'qemu.pid'), 'utf8').trim(), 10);
    } catch {}
    const cmd = pid > 1 ? liveCmdline(pid) : null;
    if (cmd) {
      const why = notOurs(cmd, dir);
      if (why) {
        result.spared.push({ pid, dir, why });
      } else {
        try {
          process.kill(pid, 'SIGKILL');
        } catch (err) {
          result.failed.push({ dir, why: `could not kill QEMU pid ${pid}: ${(err as Error).message}` });
          continue;
        }
        if (!(await waitGone(pid, 3_000))) {
          result.failed.push({ dir, why: `QEMU pid ${pid} still alive 3 s after SIGKILL` });
          continue;
        }
        result.killed.push({ pid, dir });
      }
    }
    try {
      rmSync(dir, { recursive: true, force: true });
      result.removed.push(dir);
    } catch (err) {
      result.failed.push({ dir, why: `could not remove: ${(err as Error).message}` });
    }
  }
  return result;
}

/** Sweeps and logs what it did (nothing when there was nothing to do); the daemon calls this before the QEMU driver starts. */
export async function sweepAndLog(runDir: string, logger?: Logger): Promise<SweepResult> {
  const r = await sweepOrphans(runDir);
  if (!r.killed.length && !r.spared.length && !r.failed.length && !r.removed.length) return r;
  const log = logger ?? createLogger('hyperd');
  if (r.killed.length) log.warn({ runDir, killed: r.killed }, `killed ${r.killed.length} orphan QEMU process(es) left by a previous hyperd`);
  if (r.spared.length) log.info({ runDir, spared: r.spared }, 'stale qemu.pid files named unrelated processes: left them alone');
  if (r.failed.length) log.error({ runDir, failed: r.failed }, 'orphan sweep could not clean up everything');
  if (r.removed.length) log.info({ runDir, removed: r.removed.length }, `removed ${r.removed.length} stale VM work dir(s)`);
  return r;
}
