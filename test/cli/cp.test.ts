// `hyper cp` against a real QEMU pod on an embedded NATS: a directory (nested, a 3 MB random file, a symlink, a hard link,
// a long name, modes) round-trips byte for byte both ways; docker cp's rules for the destination; "-" as a tar stream;
// each copy a copy.* fact with who and what; errors that name the path.
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { linkSync, lstatSync, mkdirSync, readFileSync, readlinkSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, hyper } from '../harness/processes.js';
import { podEvents, podState } from '../harness/qemu.js';
import { startQemuDaemon, type QemuDaemon } from '../harness/qemu-daemon.js';

let q: QemuDaemon;
let env: Record<string, string> = {};
let dir = '';

/** Every entry under root: type, mode, and content hash or link target, keyed by relative path. */
function tree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string) => {
    const st = lstatSync(p);
    const rel = relative(root, p) || '.';
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(p)}`;
    else if (st.isDirectory()) {
      if (rel !== '.') out[rel] = `dir ${mode}`;
      for (const e of readdirSync(p)) walk(join(p, e));
    } else out[rel] = `file ${mode} ${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
  };
  walk(root);
  return out;
}

beforeAll(async () => {
  q = await startQemuDaemon('hyper-cp-', 'cp');
  env = q.env;
  dir = join(q.dataDir, 'cp');
  const src = join(dir, 'src');
  mkdirSync(join(src, 'sub', 'deep'), { recursive: true });
  writeFileSync(join(src, 'a.txt'), 'hello\n');
  writeFileSync(join(src, 'sub', 'big.bin'), randomBytes(3 << 20));
  writeFileSync(join(src, 'sub', 'run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
  symlinkSync('../a.txt', join(src, 'sub', 'link'));
  linkSync(join(src, 'a.txt'), join(src, 'hard'));
  const long = join(src, 'x'.repeat(120), 'y'.repeat(90));
  mkdirSync(long, { recursive: true });
  writeFileSync(join(long, 'f'), 'deep name\n');
  execFileSync('chmod', ['751', join(src, 'sub')]);
  expect((await hyper(['run', '-d', '--name', 'box', 'busybox', 'sleep', '3600'], env)).exitCode).toBe(0);
  for (let i = 0; i < 120 && (await podState('box', env)).state !== 'running'; i++) await new Promise((r) => setTimeout(r, 250));
}, 120_000);

afterAll(async () => {
  await q?.stop();
});

describe('hyper cp', () => {
  it('a directory round-trips both ways byte for byte, with modes, links and long names; each copy is a fact', async () => {
    const src = join(dir, 'src');
    const up = await hyper(['cp', src, 'box:/tmp/up'], env); // /tmp/up does not exist: src becomes it
    expect(up.exitCode).toBe(0);
    expect(up.stderr).toMatch(/^Successfully copied 3\.\dMB to box:\/tmp\/up$/);
    expect((await hyper(['exec', 'box', 'sh', '-c', 'cat /tmp/up/sub/link; stat -c %h /tmp/up/hard; /tmp/up/sub/run.sh'], env)).stdout).toBe('hello\n2\nhi');
    const back = join(dir, 'back');
    const down = await hyper(['cp', 'box:/tmp/up', back], env);
    expect(down.exitCode).toBe(0);
    expect(tree(back)).toEqual(tree(src));
    expect(statSync(join(back, 'hard')).ino).toBe(statSync(join(back, 'a.txt')).ino); // still one file with two names
    const facts = (await podEvents('box', env)).filter((e) => e.type.startsWith('copy.'));
    expect(facts.filter((e) => e.type === 'copy.started').map((e) => [e.data.direction, e.data.path])).toEqual([['to', '/tmp/up'], ['from', '/tmp/up']]);
    expect(facts.filter((e) => e.type === 'copy.ended').map((e) => e.data.exitCode)).toEqual([0, 0]);
    expect(facts.every((e) => /^cli:/.test(e.by))).toBe(true);
    expect((await podState('box', env)).state).toBe('running');
  }, 120_000);

  it('follows docker cp\'s rules for the destination: into a directory, as a new name, contents with /., onto a file', async () => {
    const into = join(dir, 'into');
    mkdirSync(into);
    expect((await hyper(['cp', 'box:/etc/passwd', into], env)).exitCode).toBe(0);
    expect(readFileSync(join(into, 'passwd'), 'utf8')).toMatch(/^root:x:0:0:/);
    expect((await hyper(['cp', 'box:/etc/passwd', join(dir, 'renamed')], env)).exitCode).toBe(0);
    expect(readFileSync(join(dir, 'renamed'), 'utf8')).toMatch(/^root:/);
    expect((await hyper(['cp', 'box:/tmp/up/sub/.', join(dir, 'contents')], env)).exitCode).toBe(0);
    expect(readdirSync(join(dir, 'contents')).sort()).toEqual(['big.bin', 'deep', 'link', 'run.sh']);
    // into the pod: an existing directory takes it inside, a file is overwritten, "/." copies the contents
    expect((await hyper(['cp', join(dir, 'renamed'), 'box:/tmp'], env)).exitCode).toBe(0);
    writeFileSync(join(dir, 'note'), 'new\n');
    expect((await hyper(['cp', join(dir, 'note'), 'box:/tmp/renamed'], env)).exitCode).toBe(0);
    expect((await hyper(['cp', `${join(dir, 'src', 'sub')}/.`, 'box:/tmp/flat'], env)).exitCode).toBe(0);
    const seen = await hyper(['exec', 'box', 'sh', '-c', 'cat /tmp/renamed; ls /tmp/flat'], env);
    expect(seen.stdout).toBe('new\nbig.bin\ndeep\nlink\nrun.sh');
    const dirOnFile = await hyper(['cp', 'box:/etc', join(dir, 'renamed')], env);
    expect(dirOnFile.exitCode).toBe(1);
    expect(dirOnFile.stderr).toContain('cannot copy the directory box:/etc over the file');
  }, 120_000);

  it('"-" is a tar stream on stdout or stdin', async () => {
    const tarOut = execFileSync('sh', ['-c', `node ${CLI} cp box:/etc/passwd - | tar -tvf -`], { env: { ...process.env, ...env } }).toString();
    expect(tarOut).toMatch(/^-rw-r--r-- 0\/0\s+\d+ .* passwd\n$/);
    const archive = execFileSync('tar', ['-c', '-C', join(dir, 'src'), 'a.txt']);
    const r = await hyper(['cp', '-', 'box:/tmp'], env, archive.toString('latin1'));
    expect(r.exitCode).toBe(0);
    expect((await hyper(['exec', 'box', 'cat', '/tmp/a.txt'], env)).stdout).toBe('hello');
  }, 60_000);

  it('errors name what is missing, and nothing is left behind', async () => {
    const missing = await hyper(['cp', 'box:/no/such', join(dir, 'x')], env);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toBe('hyper: copying box:/no/such: /no/such: No such file or directory');
    expect(readdirSync(dir).some((f) => f.startsWith('.hyper-cp-'))).toBe(false);
    const noParent = await hyper(['cp', join(dir, 'note'), 'box:/no/such/dir'], env);
    expect(noParent.exitCode).toBe(1);
    expect(noParent.stderr).toBe('hyper: copying to box:/no/such/dir: /no/such: no such directory');
    const localMissing = await hyper(['cp', join(dir, 'nothing'), 'box:/tmp'], env);
    expect(localMissing.stderr).toContain('no such file or directory');
    const both = await hyper(['cp', 'a', 'b'], env);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain('one side must be POD:PATH');
    await hyper(['run', '--name', 'ended', 'busybox', 'true'], env);
    const ended = await hyper(['cp', 'ended:/etc/passwd', dir], env);
    expect(ended.stderr).toContain('pod ended is not running (it is succeeded)');
    const failed = (await podEvents('box', env)).filter((e) => e.type === 'copy.ended' && e.data.exitCode !== 0);
    expect(failed.length).toBeGreaterThanOrEqual(2);
  }, 60_000);
});
