// `hyper pull | images | save | rmi | load | login` as a user runs them, against a real registry that wants credentials.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../harness/nats.js';
import { hyper } from '../harness/processes.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { TestImages } from '../harness/images.js';
import { rmSync } from 'node:fs';

let dir: string;
let reg: TestRegistry;
let env: Record<string, string>;

beforeAll(async () => {
  dir = tempDir('hyper-cli-images-');
  reg = await startRegistry(join(dir, 'registry'), { user: 'alice', password: 's3cret', auth: 'htpasswd' });
  const imgs = new TestImages(join(dir, 'build'));
  await imgs.push('busybox:latest', `${reg.host}/team/busybox:1`, { creds: 'alice:s3cret' });
  env = { HYPER_DATA_DIR: join(dir, 'data') };
}, 60_000);

afterAll(async () => {
  await reg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('hyper image commands', () => {
  it('a registry that wants credentials: the error says to log in; after hyper login the pull works', async () => {
    const ref = `${reg.host}/team/busybox:1`;
    const denied = await hyper(['pull', ref], env);
    expect(denied.exitCode).toBe(1);
    expect(denied.stderr).toMatch(/unauthorized.* — the registry wants credentials: run hyper login/);

    const authfile = join(dir, 'auth.json');
    const wrong = await hyper(['login', reg.host, '-u', 'alice', '--password-stdin', '--authfile', authfile], env, 'nope\n');
    expect(wrong.exitCode).toBe(1);
    expect(wrong.stderr).toMatch(/cannot log in to 127\.0\.0\.1:\d+/);
    const login = await hyper(['login', reg.host, '-u', 'alice', '--password-stdin', '--authfile', authfile], env, 's3cret\n');
    expect(login.stderr).toMatch(/Login Succeeded/);

    const pulled = await hyper(['pull', '--authfile', authfile, ref], env);
    expect(pulled.stderr).toMatch(/pulled and converted/);
    expect(pulled.stdout).toMatch(/^sha256:[a-f0-9]{64}$/);
    const again = await hyper(['pull', '--authfile', authfile, ref], env);
    expect(again.stderr).toMatch(/already present/);
  }, 60_000);

  it('a registry with Bearer token auth (a token server as Docker Hub runs): login, then pull', async () => {
    const tokenReg = await startRegistry(join(dir, 'token-registry'), { user: 'bob', password: 'hunter2', auth: 'token' });
    try {
      const imgs = new TestImages(join(dir, 'build-token'));
      await imgs.push('busybox:latest', `${tokenReg.host}/private/busybox:1`, { creds: 'bob:hunter2' });
      const ref = `${tokenReg.host}/private/busybox:1`;
      const tokenEnv = { HYPER_DATA_DIR: join(dir, 'data-token') };
      const denied = await hyper(['pull', ref], tokenEnv);
      expect(denied.stderr).toMatch(/the registry wants credentials: run hyper login/);
      const authfile = join(dir, 'token-auth.json');
      expect((await hyper(['login', tokenReg.host, '-u', 'bob', '--password-stdin', '--authfile', authfile], tokenEnv, 'hunter2\n')).exitCode).toBe(0);
      const issued = tokenReg.tokensIssued!();
      const pulled = await hyper(['pull', '--authfile', authfile, ref], tokenEnv);
      expect(pulled.stderr).toMatch(/pulled and converted/);
      expect(tokenReg.tokensIssued!()).toBeGreaterThan(issued);
    } finally {
      await tokenReg.stop();
    }
  }, 90_000);

  it('lists, saves, removes and loads images back', async () => {
    const listed = await hyper(['images'], env);
    expect(listed.stdout).toMatch(new RegExp(`^${reg.host.replace(/\./g, '\\.')}/team/busybox\\s+1\\s+[a-f0-9]{12}\\s`, 'm'));
    const [image] = JSON.parse((await hyper(['images', '-o', 'json'], env)).stdout);
    expect(image.repoDigests[0]).toMatch(/@sha256:/);

    const archive = join(dir, 'bb.tar');
    expect((await hyper(['save', '-o', archive, `${reg.host}/team/busybox:1`], env)).exitCode).toBe(0);
    const removed = await hyper(['rmi', image.id.slice(7, 19)], env);
    expect(removed.stdout).toContain(`deleted ${image.id}`);
    expect((await hyper(['images', '-o', 'json'], env)).stdout.trim()).toBe('[]');
    const loaded = await hyper(['load', '-i', archive], env);
    expect(loaded.stdout).toBe(`Loaded image: ${reg.host}/team/busybox:1`);
    const missing = await hyper(['rmi', 'nothere'], env);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toMatch(/no image "nothere" in the local store/);
  }, 60_000);
});
