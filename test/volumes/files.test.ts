// Files in pod specs against a real QEMU pod: inline content and a host file written into the container before it
// starts, with their modes (a secret 0400), replacing the image's; a missing host file fails the container naming it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hyper } from '../harness/processes.js';
import { podState } from '../harness/qemu.js';
import { startQemuDaemon, type QemuDaemon } from '../harness/qemu-daemon.js';

let q: QemuDaemon;
const output = (stdout: string) => stdout.split('\n').filter((l) => !/^\w{12}: /.test(l));

beforeAll(async () => {
  q = await startQemuDaemon('hyper-files-', 'files');
}, 120_000);

afterAll(async () => {
  await q?.stop();
});

describe('files in pod specs', () => {
  it('inline and host files land before the command runs, with their modes', async () => {
    const host = join(q.dataDir, 'app.conf');
    writeFileSync(host, 'listen 8080\n');
    const file = join(q.dataDir, 'files.yaml');
    writeFileSync(file, [
      'name: withfiles',
      'containers:',
      '  - name: main',
      '    image: busybox',
      "    args: ['sh', '-c', 'cat /run/secrets/token /etc/app/app.conf /etc/hostname.txt; stat -c %a /run/secrets/token /etc/app/app.conf']",
      '    files:',
      '      - { path: /run/secrets/token, content: "s3cret\\n", mode: "0400" }',
      `      - { path: /etc/app/app.conf, source: ${host} }`,
      '      - { path: /etc/hostname.txt, content: "from the spec\\n" }',
      '',
    ].join('\n'));
    const r = await hyper(['run', '-f', file], q.env);
    expect(r.exitCode).toBe(0);
    expect(output(r.stdout)).toEqual(['s3cret', 'listen 8080', 'from the spec', '400', '644']);
  }, 60_000);

  it('a host file that is not there fails the container naming it; a bad entry is refused by the schema', async () => {
    const file = join(q.dataDir, 'missing.yaml');
    writeFileSync(file, ['name: nofile', 'containers:', '  - { name: main, image: busybox, args: ["true"], files: [{ path: /x, source: /no/such/file }] }', ''].join('\n'));
    await hyper(['run', '-f', file], q.env);
    expect((await podState('nofile', q.env)).reason).toContain('file /x of container main: cannot read /no/such/file on this host (ENOENT)');
    const both = join(q.dataDir, 'both.yaml');
    writeFileSync(both, ['containers:', '  - { name: main, image: busybox, files: [{ path: /x, content: a, source: /etc/hosts }] }', ''].join('\n'));
    const bad = await hyper(['run', '-f', both], q.env);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('give exactly one of content and source');
  }, 60_000);
});
