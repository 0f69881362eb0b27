// Pods outlive their daemon: kill -9 of hyperd while pods run, boot, exit and stop; the restarted daemon re-attaches to
// the same VMs (same guest boot id), loses no output byte and no exit, stops VMs no run owns, and never touches another
// data dir's VMs. Real QEMU, real nats-server, the real CLI.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchQemu } from '../../src/drivers/qemu/launch.js';
import { guestInitrd, guestKernel } from '../../src/guest/artifacts.js';
import { killCycles, startDaemon, submitCounters, waitAll, isRunning } from '../../bench/lib/kill-cycles.js';
import { requireGuest } from '../harness/guest.js';
import { startTestNats, tempDir, type TestNats } from '../harness/nats.js';
import { hyper, removeOwnNetwork, startHyperd, type DaemonProc } from '../harness/processes.js';
import { killQemuUnder, podEvents, podState, qemuProcessesUnder } from '../harness/qemu.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let t: TestNats;
let dataDir: string;
let d: DaemonProc | null = null;
const env = () => ({ HYPER_NATS: t.server.url });
const daemon = (extra: string[] = []) => startHyperd(['--nats', t.server.url, '--host-id', 'ra', '--data-dir', dataDir, '--driver', 'qemu', '--cpus', '32', '--memory', '8192', ...extra]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function restart(extra: string[] = []): Promise<Record<string, unknown>> {
  d = daemon(extra);
  return d.ready;
}

async function ticks(pod: string): Promise<{ bootId: string; numbers: number[] }> {
  const out = (await hyper(['logs', pod], env())).stdout.split('\n');
  return { bootId: out[0], numbers: out.slice(1).filter((l) => l.startsWith('tick ')).map((l) => Number(l.slice(5))) };
}

function consecutive(numbers: number[]): string | null {
  for (let i = 0; i < numbers.length; i++) if (numbers[i] !== i) return `position ${i} holds ${numbers[i]}, want ${i} (${numbers.slice(Math.max(0, i - 2), i + 3).join(',')})`;
  return null;
}

beforeAll(async () => {
  requireGuest();
  t = await startTestNats();
  dataDir = join(t.dir, 'd');
  execFileSync(join(root, 'scripts', 'import-busybox.sh'), [dataDir]);
}, 60_000);

afterAll(async () => {
  await d?.stop('SIGKILL');
  killQemuUnder(t.dir);
  await removeOwnNetwork(dataDir);
  await t?.close();
});

describe('kill -9 of hyperd while pods run, boot, exit and stop', () => {
  const TICKER = 'cat /proc/sys/kernel/random/boot_id; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done';

  it('re-attaches: the ticker keeps its VM and every tick, the exit is recorded with its code, the stop completes, the boot ends', async () => {
    await restart();
    const ticker = (await hyper(['run', '-d', '--name', 'ticker', 'busybox', 'sh', '-c', TICKER], env())).stdout.trim();
    await expect.poll(async () => (await podState(ticker, env())).state, { timeout: 30_000 }).toBe('running');
    await sleep(1_000);
    const before = await ticks(ticker);
    expect(before.bootId).toMatch(/^[0-9a-f-]{36}$/);

    // (d) stopping when the daemon dies: its container takes 3 s to honour SIGTERM
    const stopper = (await hyper(['run', '-d', '--name', 'stopper', 'busybox', 'sh', '-c', 'trap "sleep 3; exit 0" TERM; while true; do sleep 0.1; done'], env())).stdout.trim();
    await expect.poll(async () => (await podState(stopper, env())).state, { timeout: 30_000 }).toBe('running');
    const stopCli = spawn('node', [join(root, 'bin/hyper.cjs'), 'stop', '-t', '30', stopper], { env: { ...process.env, ...env() }, stdio: 'ignore' });
    const stopExit = new Promise<number | null>((r) => stopCli.once('exit', r));
    await expect.poll(async () => (await podState(stopper, env())).state, { timeout: 10_000 }).toBe('stopping');

    // (c) exits with 7 while no daemon runs (started last, so its exit falls in the outage even on a loaded machine);
    // on-failure restarts it afterwards
    const ender = (await hyper(['run', '-d', '--name', 'ender', '--restart', 'on-failure', 'busybox', 'sh', '-c', 'sleep 12; exit 7'], env())).stdout.trim();
    await expect.poll(async () => (await podState(ender, env())).state, { timeout: 30_000 }).toBe('running');
    const enderStarted = Date.now();

    // (b) booting: the daemon dies the moment the boot is recorded (the other pods run already: the first vm.booting is the booter's)
    const booted = new Promise<void>((resolve) => {
      const sub = t.nc.subscribe('hyper.pod.>', {
        callback: (_err, m) => {
          if (m.string().includes('"vm.booting"')) {
            sub.unsubscribe();
            resolve();
          }
        },
      });
    });
    const booterId = (await hyper(['run', '-d', '--name', 'booter', 'busybox', 'sh', '-c', 'echo booted; sleep 1000'], env())).stdout.trim();
    await Promise.race([booted, sleep(20_000)]);
    await sleep(200); // QEMU is up and its guest kernel is booting
    expect(await d!.stop('SIGKILL')).toBe(null);
    // the VMs run on without their daemon
    expect(qemuProcessesUnder(dataDir).length).toBeGreaterThanOrEqual(3);

    await sleep(Math.max(0, enderStarted + 13_000 - Date.now())); // the ender exits while no daemon runs
    const ready = await restart();
    expect(ready.reattaching).toBeGreaterThanOrEqual(3);

    // (a) the same VM, and a counter with no gap and no repeat
    await expect.poll(async () => (await podEvents(ticker, env())).some((e) => e.type === 'vm.attached' && e.data.resync === 'resynced'), { timeout: 30_000 }).toBe(true);
    expect((await podState(ticker, env())).state).toBe('running');
    await sleep(1_500);
    const after = await ticks(ticker);
    expect(after.bootId).toBe(before.bootId);
    expect(after.numbers.length).toBeGreaterThan(before.numbers.length + 5);
    expect(consecutive(after.numbers)).toBeNull();
    const ps = await hyper(['ps'], env());
    expect(ps.stdout).toMatch(/ticker\s+busybox\s+running\s/);

    // (c) the exit while away is a fact with its real code, and the restart policy applied
    await expect.poll(async () => (await podEvents(ender, env())).filter((e) => e.type === 'container.started').length, { timeout: 30_000 }).toBeGreaterThanOrEqual(2);
    const enderEvents = await podEvents(ender, env());
    const exit = enderEvents.find((e) => e.type === 'container.exited');
    expect(exit?.data.exitCode).toBe(7);
    expect(exit!.seq).toBeGreaterThan(enderEvents.find((e) => e.type === 'vm.attached')!.seq);

    // (d) the stop completes, and the CLI that asked for it sees it
    await expect.poll(async () => (await podState(stopper, env())).state, { timeout: 30_000 }).toBe('stopped');
    expect(await stopExit).toBe(0);

    // (b) the boot ends: running, or failed with a reason — never stuck
    await expect.poll(async () => (await podState(booterId, env())).state, { timeout: 30_000 }).toMatch(/^(running|failed)$/);
    const booter = await podState(booterId, env());
    if (booter.state === 'failed') expect(booter.reason).toBeTruthy();

    expect((await hyper(['rm', '-f', ticker, ender, stopper, booterId], env())).exitCode).toBe(0);
    await expect.poll(() => qemuProcessesUnder(dataDir), { timeout: 15_000 }).toEqual([]);
  }, 240_000);

  it('stops the VM of a pod removed while no daemon ran, and one no run owns; never a VM of another data dir', async () => {
    const gone = (await hyper(['run', '-d', '--name', 'gone', 'busybox', 'sleep', '1000'], env())).stdout.trim();
    await expect.poll(async () => (await podState(gone, env())).state, { timeout: 30_000 }).toBe('running');
    await d!.stop('SIGKILL');
    // removed while no daemon runs: the intent is queued in HYPER_INTENTS now, accepted when a daemon is back
    const rm = spawn('node', [join(root, 'bin/hyper.cjs'), 'rm', '-f', gone], { env: { ...process.env, ...env() }, stdio: 'ignore' });
    const rmExit = new Promise<number | null>((r) => rm.once('exit', r));
    await sleep(1_000);
    expect((await podState(gone, env())).state).toBe('running');
    // a VM in this data dir that no pod's run owns
    const strayDir = join(dataDir, 'vms', 'nosuchpod-r1');
    mkdirSync(strayDir, { recursive: true });
    const stray = await launchQemu({ kernel: guestKernel(), initrd: guestInitrd(), workDir: strayDir });
    writeFileSync(join(strayDir, 'state.json'), JSON.stringify({ format: 1, driver: 'qemu', vm: 'nosuchpod-r1', pod: 'nosuchpod', run: 1, createdAt: Date.now(), pid: stray.pid, binary: 'qemu-system-x86_64', cpus: 1, memoryMb: 128, agentProtocol: 2, devices: [] }));
    stray.detach();
    // a VM of another data dir, with the same layout
    const otherDir = join(tempDir('hyper-other-'), 'vms', 'nosuchpod-r1');
    const other = await launchQemu({ kernel: guestKernel(), initrd: guestInitrd(), workDir: otherDir });
    other.detach();

    const ready = await restart();
    expect(ready.orphans).toBe(1);
    expect(await rmExit).toBe(0);
    expect(existsSync(strayDir)).toBe(false);
    expect(qemuProcessesUnder(dataDir)).toEqual([]);
    expect(qemuProcessesUnder(otherDir)).toHaveLength(1);
    expect(d!.log()).toMatch(/stopping vm nosuchpod-r1: no current run owns it \(pod nosuchpod is unknown\)/);
    killQemuUnder(otherDir);
  }, 120_000);

  it('SIGTERM leaves the pods running and a new hyperd adopts them; --stop-pods-on-exit stops them', async () => {
    const id = (await hyper(['run', '-d', '--name', 'stays', 'busybox', 'sh', '-c', TICKER], env())).stdout.trim();
    await expect.poll(async () => (await podState(id, env())).state, { timeout: 30_000 }).toBe('running');
    const boot = (await ticks(id)).bootId;
    expect(await d!.stop('SIGTERM')).toBe(0);
    expect(qemuProcessesUnder(dataDir)).toHaveLength(1);
    const detached = await podState(id, env());
    expect(detached).toMatchObject({ state: 'running', attached: false });
    expect((await hyper(['ps'], env())).stdout).toMatch(/running \(vm detached\)/);

    await restart(['--stop-pods-on-exit']);
    await expect.poll(async () => (await podState(id, env())).attached, { timeout: 30_000 }).toBe(true);
    await sleep(600);
    const after = await ticks(id);
    expect(after.bootId).toBe(boot);
    expect(consecutive(after.numbers)).toBeNull();
    expect(await d!.stop('SIGTERM')).toBe(0);
    expect(qemuProcessesUnder(dataDir)).toEqual([]);
    expect(await podState(id, env())).toMatchObject({ state: 'stopped', reason: expect.stringMatching(/host ra shut down/) });
  }, 120_000);

  it(`${Number(process.env.HYPER_KILL_CYCLES ?? 20)} kill -9/restart cycles with 3 running pods: nothing lost, orphaned or duplicated`, async () => {
    const cycles = Number(process.env.HYPER_KILL_CYCLES ?? 20);
    const trial = { nc: t.nc, store: t.store, natsUrl: t.server.url, dataDir, hostId: 'ra' };
    const first = startDaemon(trial);
    await first.ready;
    const pods = await submitCounters(trial, 3, { tag: 'cyc' });
    await waitAll(t.store, pods, 'running', isRunning, 60_000);
    const { result, daemon: last } = await killCycles(trial, pods, cycles, first);
    expect(result).toMatchObject({ cycles, podsLost: 0, orphans: 0, vmsReplaced: 0, gaps: 0, duplicatedBytes: 0 });
    expect(result.counterLines).toBeGreaterThan(cycles * 3);
    last.proc.kill('SIGKILL');
    await hyper(['rm', '-f', ...pods], env());
  }, 600_000);
});
