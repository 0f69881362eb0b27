// Stopping a VM: the agent first, QMP quit if the guest cannot answer, SIGKILL last; no QEMU outlives its parent or a sweep.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { launchQemu } from '../../../src/drivers/qemu/launch.js';
import { sweepOrphans } from '../../../src/drivers/qemu/sweep.js';
import { guestInitrd, guestKernel } from '../../../src/guest/artifacts.js';
import { bootGuest, requireGuest } from '../../harness/guest.js';
import { tempDir } from '../../harness/nats.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/launch-vm.mjs', import.meta.url));
const dirs: string[] = [];
const strays: ChildProcess[] = [];
afterAll(() => {
  for (const p of strays) p.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A live process (a zombie only waits to be reaped: it counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return false;
  }
}

async function goneWithin(pid: number, ms: number): Promise<number> {
  const t0 = Date.now();
  while (alive(pid)) {
    if (Date.now() - t0 > ms) throw new Error(`pid ${pid} still alive after ${ms} ms: ${readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

describe('stop ladder', () => {
  it('stops through the agent when the guest answers', async () => {
    const { vm, dir } = await bootGuest();
    dirs.push(dir);
    const pid = vm.proc.pid!;
    // setpriv execs QEMU, so the pidfile, the child and the process are one and the same
    expect(Number(readFileSync(vm.pidFile, 'utf8'))).toBe(pid);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]).toBe('qemu-system-x86_64');
    expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/State:\s+[RS]/);
    expect(await vm.stop()).toBe('agent');
    expect(vm.stoppedBy).toBe('agent');
    expect(await vm.exited).toBe(0);
    expect(alive(pid)).toBe(false);
    expect(await vm.stop()).toBe('agent'); // idempotent
  });

  it('falls back to QMP quit when the guest is frozen and the agent cannot answer', async () => {
    const { vm, dir } = await bootGuest();
    dirs.push(dir);
    await vm.qmp.execute('stop'); // vCPUs paused: the agent never sees the request, QEMU's main loop still runs
    const t0 = Date.now();
    expect(await vm.stop(1_500)).toBe('qmp');
    expect(Date.now() - t0).toBeLessThan(2_500);
    expect(await vm.exited).toBe(0); // quit exits cleanly, unlike a kill
    expect(alive(vm.proc.pid!)).toBe(false);
  });

  it('kills QEMU when QEMU itself does not answer', async () => {
    const { vm, dir } = await bootGuest();
    dirs.push(dir);
    process.kill(vm.proc.pid!, 'SIGSTOP'); // neither the agent nor QMP can answer now
    expect(await vm.stop(1_000)).toBe('kill');
    expect(vm.proc.signalCode).toBe('SIGKILL');
    expect(alive(vm.proc.pid!)).toBe(false);
  });
});

describe('no orphan QEMU', () => {
  it('dies with its parent: SIGKILL the launching process and QEMU follows within 3 s', async () => {
    requireGuest();
    const dir = tempDir('hyper-orphan-');
    dirs.push(dir);
    const child = spawn(process.execPath, [FIXTURE, join(dir, 'vm')], { stdio: ['ignore', 'pipe', 'pipe'] });
    strays.push(child);
    let out = '';
    let err = '';
    child.stderr!.on('data', (b) => (err += b));
    const line = await new Promise<string>((resolve, reject) => {
      child.stdout!.on('data', (b) => {
        out += b;
        if (out.includes('\n')) resolve(out.split('\n')[0]);
      });
      child.once('exit', (code) => reject(new Error(`fixture exited with ${code} before booting:\n${err}`)));
    });
    const { pid, pidFile } = JSON.parse(line) as { pid: number; pidFile: string };
    expect(Number(readFileSync(pidFile, 'utf8'))).toBe(pid);
    expect(alive(pid)).toBe(true);
    child.kill('SIGKILL');
    expect(await goneWithin(pid, 3_000)).toBeLessThan(3_000);
  });

  it('sweeps a QEMU left with a pidfile in the run dir and leaves unrelated pids alone', async () => {
    requireGuest();
    const runDir = tempDir('hyper-sweep-');
    dirs.push(runDir);
    // a VM "left by a previous daemon": no pdeathsig, so it would outlive its parent
    const orphan = await launchQemu({ kernel: guestKernel(), initrd: guestInitrd(), workDir: join(runDir, 'vm-orphan'), parentDeathSignal: false });
    const orphanPid = orphan.proc.pid!;
    expect(readFileSync(`/proc/${orphanPid}/cmdline`, 'utf8').split('\0')[0]).toBe('qemu-system-x86_64');
    // a stale pidfile whose pid now belongs to something else
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    strays.push(sleeper);
    // a QEMU, but not the one of the dir that names it
    const otherQemu = spawn('qemu-system-x86_64', ['-M', 'none', '-nodefaults', '-display', 'none', '-S'], { stdio: 'ignore' });
    strays.push(otherQemu);
    // and a pidfile of a process long gone
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    for (const [name, pid] of [['vm-sleeper', sleeper.pid!], ['vm-other', otherQemu.pid!], ['vm-dead', dead.pid!]] as const) {
      mkdirSync(join(runDir, name));
      writeFileSync(join(runDir, name, 'qemu.pid'), `${pid}\n`);
    }
    await new Promise((r) => setTimeout(r, 200)); // let the idle QEMU exec
    const r = await sweepOrphans(runDir);
    expect(r.killed).toEqual([{ pid: orphanPid, dir: join(runDir, 'vm-orphan') }]);
    expect(r.spared.map((s) => [s.pid, s.why]).sort()).toEqual(
      [[sleeper.pid, 'pid runs sleep, not QEMU'], [otherQemu.pid, 'a QEMU of another work dir']].sort(),
    );
    expect(r.failed).toEqual([]);
    expect(r.removed.sort()).toEqual(['vm-dead', 'vm-orphan', 'vm-other', 'vm-sleeper'].map((n) => join(runDir, n)));
    expect(orphan.proc.signalCode ?? (await orphan.exited, orphan.proc.signalCode)).toBe('SIGKILL');
    expect(alive(orphanPid)).toBe(false);
    expect(alive(sleeper.pid!)).toBe(true);
    expect(alive(otherQemu.pid!)).toBe(true);
    expect(existsSync(join(runDir, 'vm-orphan'))).toBe(false);
    expect(await sweepOrphans(join(runDir, 'missing'))).toEqual({ killed: [], spared: [], removed: [], failed: [] });
  });
});
