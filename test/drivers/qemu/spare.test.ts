// Spare QEMUs with the real guest: after a template's first use hyperd keeps one QEMU started ahead for it, its state
// loaded and its guest never run (no private copy of the template's RAM, nice 10); the next pod restored from that
// template takes it (its QEMU is the spare's process, at nice 0) and a new spare is made; a template made again leaves its
// old spare unused and stopped; spares end with the daemon, and those a killed daemon left are swept by the next one;
// --no-spare-qemu keeps none.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hyper, startHyperd } from '../../harness/processes.js';
import { readPid } from '../../../src/drivers/qemu/process.js';
import { podEvents, qemuProcessesUnder } from '../../harness/qemu.js';
import { startQemuDaemon, type QemuDaemon } from '../../harness/qemu-daemon.js';

let q: QemuDaemon;
const spareDir = () => join(q.dataDir, 'spare');

/** The live spares: pid of each QEMU waiting in the spare directory. */
function spares(): number[] {
  let dirs: string[] = [];
  try {
    dirs = readdirSync(spareDir());
  } catch {}
  const live = qemuProcessesUnder(spareDir()).map(Number);
  return dirs.map((d) => readPid(join(spareDir(), d, 'qemu.pid'))).filter((p): p is number => p !== null && live.includes(p));
}

async function sparesAre(n: number, ms = 30_000): Promise<number[]> {
  for (const until = Date.now() + ms; spares().length !== n;) {
    if (Date.now() > until) throw new Error(`${spares().length} spare QEMUs, not ${n}, after ${ms} ms; hyperd's log:\n${q.daemon.log().slice(-3000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return spares();
}

/** The nice values of a process's threads, distinct. */
const niceOf = (pid: number) => [...new Set(readdirSync(`/proc/${pid}/task`).map((t) => Number(readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8').split(') ')[1]!.split(' ')[16])))];

/**
 * kB of guest RAM the process holds a copy of: the copy-on-write pages of its private mapping of the template's RAM file
 * (smaps' Anonymous; its Private_Dirty also counts the file's own pages not yet written back that no other process maps).
 */
function copiedGuestKb(pid: number, ramFile: string): number {
  const maps = readFileSync(`/proc/${pid}/smaps`, 'utf8').split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/);
  const ram = maps.find((m) => m.split('\n')[0]!.endsWith(ramFile));
  if (!ram) throw new Error(`no mapping of ${ramFile} in QEMU ${pid}`);
  return Number(/\nAnonymous:\s+(\d+)/.exec(ram)?.[1] ?? NaN);
}

const vmPid = async (pod: string) => {
  const vm = (await podEvents(pod, q.env)).find((e) => e.type === 'vm.booting')!.data.vm as string;
  return readPid(join(q.dataDir, 'vms', vm, 'qemu.pid'));
};
const template = async () => (JSON.parse((await hyper(['template', 'ls', '-o', 'json', '--data-dir', q.dataDir], q.env)).stdout) as { key: string; ramFile: string }[])[0]!;

beforeAll(async () => {
  q = await startQemuDaemon('hyper-spare-', 'spare-h1');
  expect((await hyper(['template', 'build', '--data-dir', q.dataDir], q.env)).exitCode).toBe(0);
}, 120_000);

afterAll(async () => {
  await q?.stop();
});

describe('spare QEMUs', () => {
  it('after a template\'s first use one QEMU waits for the next pod: state loaded, guest never run, at nice 10', async () => {
    expect(spares()).toEqual([]);
    const r = await hyper(['run', '--rm', 'busybox', 'echo', 'first'], q.env);
    expect(r.stdout).toBe('first');
    expect(r.stderr).toMatch(/vm restored from template/);
    const [pid] = await sparesAre(1);
    expect(niceOf(pid!)).toEqual([10]);
    // its guest has not run: nothing of the template's RAM is copied into it
    expect(copiedGuestKb(pid!, (await template()).ramFile)).toBe(0);
    expect((await hyper(['info'], q.env)).stdout).toMatch(/^vm starts: .*each with a QEMU started ahead/m);
  }, 60_000);

  it('the next pod restored from the template runs in the spare, at nice 0, and another spare is made', async () => {
    const [spare] = await sparesAre(1);
    expect((await hyper(['run', '-d', '--name', 'takes', 'busybox', 'sleep', '60'], q.env)).exitCode).toBe(0);
    await expect.poll(async () => (await podEvents('takes', q.env)).some((e) => e.type === 'container.started'), { timeout: 30_000 }).toBe(true);
    const events = await podEvents('takes', q.env);
    expect(events.find((e) => e.type === 'vm.origin')?.data).toMatchObject({ origin: 'template' });
    expect(await vmPid('takes')).toBe(spare);
    expect(niceOf(spare!)).toEqual([0]);
    const [next] = await sparesAre(1);
    expect(next).not.toBe(spare);
    // the pod's VM is its own: a guest of its own, whose RAM it now writes privately
    expect((await hyper(['exec', 'takes', 'cat', '/proc/sys/kernel/random/boot_id'], q.env)).stdout).toMatch(/^[0-9a-f-]{36}$/);
    expect((await hyper(['rm', '-f', 'takes'], q.env)).exitCode).toBe(0);
  }, 60_000);

  it('a template made again leaves the old spare unused: stopped, and the pod restores from the new one', async () => {
    const [old] = await sparesAre(1);
    const before = await template();
    expect((await hyper(['template', 'rm', '--all', '--data-dir', q.dataDir], q.env)).exitCode).toBe(0);
    expect((await hyper(['template', 'build', '--data-dir', q.dataDir], q.env)).exitCode).toBe(0);
    const r = await hyper(['run', '--rm', '--name', 'rebuilt', 'busybox', 'echo', 'new template'], q.env);
    expect(r.stdout).toBe('new template');
    expect(r.stderr).toMatch(new RegExp(`vm restored from template ${before.key}`));
    expect(await vmPid('rebuilt')).not.toBe(old);
    const [fresh] = await sparesAre(1);
    expect(fresh).not.toBe(old);
  }, 60_000);

  it('spares end with the daemon; those of a killed daemon are swept by the next', async () => {
    const [left] = await sparesAre(1);
    q.daemon.proc.kill('SIGKILL');
    await new Promise((r) => q.daemon.proc.once('exit', r));
    expect(spares()).toEqual([left]);
    await q.restart();
    expect(spares()).toEqual([]);
    expect(readdirSync(spareDir())).toEqual([]);
    expect((await hyper(['run', '--rm', 'busybox', 'true'], q.env)).exitCode).toBe(0);
    await sparesAre(1);
    await q.daemon.stop('SIGTERM');
    expect(spares()).toEqual([]);
    expect(readdirSync(spareDir())).toEqual([]);
    await q.restart();
  }, 90_000);
});

describe('hyperd --no-spare-qemu', () => {
  it('keeps no spare: each restored pod starts its own QEMU', async () => {
    await q.daemon.stop('SIGTERM');
    const d = startHyperd(['--host-id', 'spare-h1', '--data-dir', q.dataDir, '--driver', 'qemu', '--stop-pods-on-exit', '--no-spare-qemu'], q.env);
    q.daemon = d;
    await d.ready;
    for (const i of [1, 2]) {
      const r = await hyper(['run', '--rm', 'busybox', 'echo', `no spare ${i}`], q.env);
      expect(r.stdout).toBe(`no spare ${i}`);
      expect(r.stderr).toMatch(/vm restored from template/);
    }
    expect(spares()).toEqual([]);
    expect((await hyper(['info'], q.env)).stdout).not.toMatch(/QEMU started ahead/);
  }, 60_000);
});
