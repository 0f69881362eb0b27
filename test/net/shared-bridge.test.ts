// Two hyperd of different data dirs on one bridge (as every daemon's default hyper0 would be): when the second stops, it
// removes its own taps only, and leaves the bridge to the first's VM still running on it (whose QEMU, its tap deleted,
// would otherwise spin a whole core, as measured when acceptance checks ran one after another).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hyper, startHyperd, type DaemonProc } from '../harness/processes.js';
import { podEvents, killQemuUnder } from '../harness/qemu.js';
import { requireGuest } from '../harness/guest.js';
import { tempDir } from '../harness/nats.js';
import { execFileSync } from 'node:child_process';
import { removeHostNetwork, tapOf } from '../../src/net/host-network.js';
import { readPid } from '../../src/drivers/qemu/process.js';

const root = new URL('../../', import.meta.url).pathname;
const bridge = 'hybshared';
const dirs: string[] = [];
const daemons: DaemonProc[] = [];

function daemon(name: string, cidr: string): { d: DaemonProc; env: Record<string, string>; dir: string } {
  const dir = tempDir(`hyper-shared-${name}-`);
  dirs.push(dir);
  execFileSync(join(root, 'scripts', 'import-busybox.sh'), [dir]);
  const env = { HYPER_DATA_DIR: dir, HYPER_NATS: '' };
  const d = startHyperd(['--host-id', `shared-${name}`, '--data-dir', dir, '--driver', 'qemu', '--bridge', bridge, '--pod-cidr', cidr], env);
  daemons.push(d);
  return { d, env, dir };
}

/** CPU ticks (user + system) a process used over `ms`. */
async function ticksOver(pid: number, ms: number): Promise<number> {
  const read = () => readFileSync(`/proc/${pid}/stat`, 'utf8').slice(readFileSync(`/proc/${pid}/stat`, 'utf8').lastIndexOf(')') + 2).split(' ').slice(11, 13).reduce((a, b) => a + Number(b), 0);
  const a = read();
  await new Promise((r) => setTimeout(r, ms));
  return read() - a;
}

afterAll(async () => {
  await Promise.all(daemons.map((d) => d.stop('SIGKILL')));
  for (const dir of dirs) killQemuUnder(dir);
  await removeHostNetwork(bridge);
});

describe('two daemons on one bridge', () => {
  it('the second one\'s stop leaves the first one\'s running VM its tap and the bridge', async () => {
    requireGuest();
    const a = daemon('a', '10.197.1.0/24');
    await a.d.ready;
    const run = await hyper(['run', '-d', '--name', 'keeps', 'busybox', 'sleep', '600'], a.env);
    expect(run.exitCode, run.stderr).toBe(0);
    await expect.poll(async () => (await podEvents('keeps', a.env)).some((e) => e.type === 'container.started'), { timeout: 30_000 }).toBe(true);
    const id = (await podEvents('keeps', a.env))[0]!.pod as string;
    const vm = (await podEvents('keeps', a.env)).find((e) => e.type === 'vm.booting')!.data.vm as string;
    const pid = readPid(join(a.dir, 'vms', vm, 'qemu.pid'))!;
    // its daemon stops; the VM runs on (its network left in place for it)
    expect(await a.d.stop('SIGTERM')).toBe(0);
    expect(existsSync(`/sys/class/net/${tapOf(id)}`)).toBe(true);

    const b = daemon('b', '10.197.2.0/24');
    await b.d.ready;
    expect(await b.d.stop('SIGTERM')).toBe(0);
    expect(b.d.log()).toMatch(/bridge hybshared left in place: 1 tap not of this daemon's pods/);
    expect(existsSync(`/sys/class/net/${tapOf(id)}`)).toBe(true);
    expect(existsSync(`/sys/class/net/${bridge}`)).toBe(true);
    // the first one's VM idles as before (a QEMU whose tap was deleted used 100% of a core)
    expect(await ticksOver(pid, 2_000)).toBeLessThan(50);
  }, 120_000);
});
