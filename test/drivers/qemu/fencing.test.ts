// The fence guard: a process of its own that stops every QEMU of a run dir once an armed lease file's deadline passes
// (the daemon killed or cut off), leaves them alone while the lease is renewed or unarmed, says why in each VM's dir,
// and exits once no daemon renews and no VM is left. Real QEMU guests, the built guard.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { launchQemu, type QemuVm } from '../../../src/drivers/qemu/launch.js';
import { writeLeaseFile } from '../../../src/actors/host/lease-file.js';
import { monoNow } from '../../../src/actors/host/lease-protocol.js';
import { guestInitrd, guestKernel } from '../../../src/guest/artifacts.js';
import { requireGuest } from '../../harness/guest.js';
import { tempDir } from '../../harness/nats.js';
import { killQemuUnder } from '../../harness/qemu.js';
// the guard is started from the build, as hyperd starts it
import { ensureFenceGuard, fencedBecause, guardPid, liveVms } from '../../../dist/src/drivers/qemu/fencing.js';

const dirs: string[] = [];
const guards: number[] = [];
afterAll(() => {
  for (const d of dirs) killQemuUnder(d);
  for (const g of guards) try { process.kill(g, 'SIGKILL'); } catch {}
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

async function setup(vms: number): Promise<{ runDir: string; leaseFile: string; vms: QemuVm[] }> {
  requireGuest();
  const dir = tempDir('hyper-fence-');
  dirs.push(dir);
  const runDir = join(dir, 'vms');
  mkdirSync(runDir, { recursive: true });
  const booted = await Promise.all(Array.from({ length: vms }, (_, i) => launchQemu({ kernel: guestKernel(), initrd: guestInitrd(), workDir: join(runDir, `vm-${i}`) })));
  for (const vm of booted) vm.detach();
  return { runDir, leaseFile: join(dir, 'lease.json'), vms: booted };
}

async function until(what: string, ok: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(20);
  }
}

describe('fence guard', () => {
  it('kills every VM once an armed deadline passes, not before, and says why', async () => {
    const { runDir, leaseFile, vms } = await setup(2);
    const fenceAt = monoNow() + 700;
    writeLeaseFile(leaseFile, { pid: process.pid, fenceAt, armed: true });
    const g = ensureFenceGuard(runDir, leaseFile)!;
    guards.push(g);
    await until('guard pid file', () => guardPid(runDir) === g, 5_000);
    expect(ensureFenceGuard(runDir, leaseFile)).toBe(g); // one guard per run dir
    await sleep(Math.max(0, fenceAt - monoNow() - 250));
    expect(liveVms(runDir).map((v) => v.pid).sort()).toEqual(vms.map((v) => v.pid).sort());
    await until('every VM killed', () => liveVms(runDir).length === 0, 2_000);
    const late = monoNow() - fenceAt;
    expect(late).toBeLessThan(1_000);
    for (const vm of vms) expect(fencedBecause(join(runDir, vm.workDir.split('/').pop()!))).toMatch(/stopped by the fence guard at .*lease was not renewed .*cut off/);
    expect(readFileSync(join(runDir, 'fence-guard.log'), 'utf8')).toMatch(/"fenced: the lease ran out, every VM stopped"/);
    // the daemon (here: this process) is alive, so the guard stays for the VMs it will start next
    await sleep(1_500);
    expect(alive(g)).toBe(true);
  }, 60_000);

  it('leaves the VMs alone while the lease is renewed, or when no other host could take them (unarmed)', async () => {
    const { runDir, leaseFile, vms } = await setup(1);
    writeLeaseFile(leaseFile, { pid: process.pid, fenceAt: monoNow() + 400, armed: true });
    const g = ensureFenceGuard(runDir, leaseFile)!;
    guards.push(g);
    for (let i = 0; i < 8; i++) {
      await sleep(150);
      writeLeaseFile(leaseFile, { pid: process.pid, fenceAt: monoNow() + 400, armed: true }); // renewals
    }
    writeLeaseFile(leaseFile, { pid: process.pid, fenceAt: monoNow() - 1, armed: false }); // a lone host's lapsed lease
    await sleep(600);
    expect(liveVms(runDir).map((v) => v.pid)).toEqual([vms[0].pid]);
    expect(existsSync(join(vms[0].workDir, 'fenced.json'))).toBe(false);
  }, 60_000);

  it('exits once no daemon renews and no VM is left', async () => {
    const { runDir, leaseFile, vms } = await setup(1);
    const dead = 2 ** 22 - 7; // beyond pid_max's default range: no such process
    writeLeaseFile(leaseFile, { pid: dead, fenceAt: monoNow() + 60_000, armed: true });
    const g = ensureFenceGuard(runDir, leaseFile)!;
    guards.push(g);
    await sleep(1_500);
    expect(alive(g)).toBe(true); // a VM is still there to guard
    process.kill(vms[0].pid, 'SIGKILL');
    await until('guard exits', () => !alive(g), 3_000);
  }, 60_000);
});
