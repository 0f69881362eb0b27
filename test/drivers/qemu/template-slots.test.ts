// Templates with share and volume slots, with the real guest: pods that bind host directories or mount a named volume are
// restored from a template whose 9p devices and writable disk their command line points at the pod's directories and
// volume (the template's own are empty and never mounted); what they write reaches the host and the next pod; pods
// without binds keep restoring the template without slots; more binds than slots, or a read-only volume, boot cold
// saying why.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hyper } from '../../harness/processes.js';
import { podEvents } from '../../harness/qemu.js';
import { startQemuDaemon, templatesOf, untilTemplates, type QemuDaemon } from '../../harness/qemu-daemon.js';
import { SHARE_SLOTS, VOLUME_SLOTS } from '../../../src/drivers/qemu/template.js';

let q: QemuDaemon;
const dirs: string[] = [];
const output = (stdout: string) => stdout.split('\n').filter((l) => !/^\w{12}: /.test(l));
const templates = () => templatesOf(q);
const origin = async (pod: string) => (await podEvents(pod, q.env)).find((e) => e.type === 'vm.origin')?.data as { origin: string; template?: string; why?: string };

beforeAll(async () => {
  q = await startQemuDaemon('hyper-slots-', 'slots-h1', ['--templates']);
  for (const n of ['a', 'b', 'c']) {
    const d = join(q.dataDir, `dir-${n}`);
    mkdirSync(d);
    writeFileSync(join(d, 'host.txt'), `host wrote ${n}\n`);
    dirs.push(d);
  }
  expect((await hyper(['template', 'build', '--slots', '--data-dir', q.dataDir], q.env)).exitCode).toBe(0);
  // hyperd --templates makes the plain one as it starts
  await untilTemplates(q, 2, 30_000);
}, 120_000);

afterAll(async () => {
  await q?.stop();
});

describe('templates with share and volume slots', () => {
  it('hyper template build --slots makes one beside the plain one; pods without binds restore the plain one', async () => {
    expect(SHARE_SLOTS).toBe(2);
    expect(VOLUME_SLOTS).toBe(1);
    const ts = await templates();
    const slotted = ts.find((t) => t.layout.slots)!;
    const plain = ts.find((t) => !t.layout.slots)!;
    expect(slotted.key).not.toBe(plain.key);
    expect((await hyper(['template', 'ls', '--data-dir', q.dataDir], q.env)).stdout).toMatch(/yes, slots/);
    expect((await hyper(['run', '--rm', '--name', 'plain', 'busybox', 'true'], q.env)).exitCode).toBe(0);
    expect(await origin('plain')).toMatchObject({ origin: 'template', template: plain.key });
  }, 60_000);

  it('binds host directories into a restored pod: it reads what the host wrote, the host reads what it wrote, :ro holds', async () => {
    const slotted = (await templates()).find((t) => t.layout.slots)!;
    const r = await hyper(['run', '--name', 'binds', '-v', `${dirs[0]}:/a`, '-v', `${dirs[1]}:/b:ro`, 'busybox', 'sh', '-c', 'cat /a/host.txt /b/host.txt; echo pod wrote > /a/pod.txt; echo x > /b/nope 2>/dev/null || echo b is read-only'], q.env);
    expect(r.exitCode).toBe(0);
    expect(output(r.stdout)).toEqual(['host wrote a', 'host wrote b', 'b is read-only']);
    expect(r.stderr).toMatch(new RegExp(`vm restored from template ${slotted.key}`));
    expect(readFileSync(join(dirs[0]!, 'pod.txt'), 'utf8')).toBe('pod wrote\n');
    expect(await origin('binds')).toMatchObject({ origin: 'template', template: slotted.key });
  }, 60_000);

  it('a named volume in a restored pod keeps what it wrote for the next restored pod', async () => {
    const slotted = (await templates()).find((t) => t.layout.slots)!;
    const w = await hyper(['run', '--rm', '-v', 'kept:/v', 'busybox', 'sh', '-c', 'echo from the first > /v/note && sync && mount | grep " /v " | cut -d" " -f1'], q.env);
    expect(w.exitCode).toBe(0);
    // the guest named the volume slot after the template's two image slots
    expect(output(w.stdout)).toEqual(['/dev/vdc']);
    expect(w.stderr).toMatch(new RegExp(`vm restored from template ${slotted.key}`));
    const r = await hyper(['run', '--rm', '-v', 'kept:/data', '-v', `${dirs[2]}:/c`, 'busybox', 'cat', '/data/note', '/c/host.txt'], q.env);
    expect(output(r.stdout)).toEqual(['from the first', 'host wrote c']);
    expect(r.stderr).toMatch(new RegExp(`vm restored from template ${slotted.key}`));
  }, 60_000);

  it('more binds than slots, or a read-only named volume, boot cold saying why', async () => {
    const three = await hyper(['run', '--rm', '--name', 'three', ...dirs.flatMap((d, i) => ['-v', `${d}:/m${i}`]), 'busybox', 'cat', '/m2/host.txt'], q.env);
    expect(output(three.stdout)).toEqual(['host wrote c']);
    expect(three.stderr).toMatch(/vm booted cold: the pod binds 3 host directories; templates have 2 share slots/);
    const ro = await hyper(['run', '--rm', '-v', 'kept:/v:ro', 'busybox', 'cat', '/v/note'], q.env);
    expect(output(ro.stdout)).toEqual(['from the first']);
    expect(ro.stderr).toMatch(/vm booted cold: named volume kept is mounted read-only \(a template's volume slots are writable\)/);
  }, 90_000);
});
