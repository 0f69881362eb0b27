// Stopping a VM: the agent first, QMP quit if the guest cannot answer, SIGKILL last. QEMU outlives the process that
// launched it and is taken over again by its work dir; a reused pid or another dir's QEMU is never mistaken for it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { attachQemu, launchQemu } from '../../../src/drivers/qemu/launch.js';
import { QemuDriver, resyncAgent } from '../../../src/drivers/qemu/driver.js';
import { writeVmState } from '../../../src/drivers/qemu/state-file.js';
import { guestInitrd, guestKernel } from '../../../src/guest/artifacts.js';
import { bootGuest, requireGuest } from '../../harness/guest.js';
import { tempDir } from '../../harness/nats.js';
import { alive } from '../../harness/processes.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/launch-vm.mjs', import.meta.url));
const dirs: string[] = [];
const strays: ChildProcess[] = [];
afterAll(() => {
  for (const p of strays) p.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});



describe('stop ladder', () => {
  it('stops through the agent when the guest answers', async () => {
    const { vm, dir } = await bootGuest();
    dirs.push(dir);
    const pid = vm.pid;
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
    expect(alive(vm.pid)).toBe(false);
  });

  it('kills QEMU when QEMU itself does not answer', async () => {
    const { vm, dir } = await bootGuest();
    dirs.push(dir);
    process.kill(vm.pid, 'SIGSTOP'); // neither the agent nor QMP can answer now
    expect(await vm.stop(1_000)).toBe('kill');
    expect(vm.proc!.signalCode).toBe('SIGKILL');
    expect(alive(vm.pid)).toBe(false);
  });
});

describe('QEMU outlives its daemon', () => {
  it('keeps running when the launching process is SIGKILLed; attachQemu takes it over and the agent resyncs', async () => {
    requireGuest();
    const dir = tempDir('hyper-detached-');
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
    const { pid, pidFile, bootId } = JSON.parse(line) as { pid: number; pidFile: string; bootId: string };
    expect(Number(readFileSync(pidFile, 'utf8'))).toBe(pid);
    // its own session: a signal to the launcher's process group does not reach it
    expect(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[3]).toBe(String(pid));
    child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(alive(pid)).toBe(true);
    // the driver's own path: attachQemu, and a resync retried on a fresh connection (see resyncAgent)
    const { qemu: vm, resync: r } = await resyncAgent(join(dir, 'vm'), pid, Date.now() + 15_000);
    if (!r) throw new Error('a protocol-2 agent answered as too old');
    expect(r.version).toBe(2);
    expect(r.bootId).toBe(bootId);
    expect(await vm.qmp.execute('query-status')).toMatchObject({ status: 'running' });
    expect(await vm.stop(3_000)).toBe('agent');
    expect(alive(pid)).toBe(false);
  });

  it('list() tells a work dir\'s live QEMU from a reused pid, another dir\'s QEMU and a dead one; destroy() stops it', async () => {
    requireGuest();
    const runDir = tempDir('hyper-list-');
    dirs.push(runDir);
    const live = await launchQemu({ kernel: guestKernel(), initrd: guestInitrd(), workDir: join(runDir, 'p1-r1') });
    writeVmState(join(runDir, 'p1-r1'), { format: 1, driver: 'qemu', vm: 'p1-r1', pod: 'p1', run: 1, createdAt: Date.now(), pid: live.pid, binary: 'qemu-system-x86_64', cpus: 1, memoryMb: 128, agentProtocol: 2, devices: [] });
    live.detach();
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    strays.push(sleeper);
    const otherQemu = spawn('qemu-system-x86_64', ['-M', 'none', '-nodefaults', '-display', 'none', '-S'], { stdio: 'ignore' });
    strays.push(otherQemu);
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    for (const [name, pid] of [['p2-r1', sleeper.pid!], ['p3-r1', otherQemu.pid!], ['p4-r1', dead.pid!]] as const) {
      mkdirSync(join(runDir, name));
      writeFileSync(join(runDir, name, 'qemu.pid'), `${pid}\n`);
    }
    await new Promise((r) => setTimeout(r, 200)); // let the idle QEMU exec
    const driver = new QemuDriver({ kernel: guestKernel(), initrd: guestInitrd(), accel: 'tcg', runDir, images: { ensure: async () => { throw new Error('unused'); }, get: () => { throw new Error('unused'); }, find: () => undefined } });
    const found = Object.fromEntries((await driver.list()).map((f) => [f.id, f]));
    expect(found['p1-r1']).toMatchObject({ pod: 'p1', run: 1, alive: true });
    for (const id of ['p2-r1', 'p3-r1', 'p4-r1']) expect(found[id]).toMatchObject({ pod: null, alive: false, why: expect.stringMatching(/no state\.json/) });
    await driver.destroy(found['p1-r1']);
    expect(alive(live.pid)).toBe(false);
    expect(existsSync(join(runDir, 'p1-r1'))).toBe(false);
    await driver.destroy(found['p3-r1']); // not its QEMU: only the dir goes
    expect(alive(sleeper.pid!)).toBe(true);
    expect(alive(otherQemu.pid!)).toBe(true);
    await expect(attachQemu(join(runDir, 'p2-r1'), sleeper.pid!)).rejects.toThrow(/is not the QEMU of/);
  });
});
