// The Docker Engine API of hyperd driven by the real docker CLI (28.x, a client only): version negotiation, docker
// version and info, docker ps with -a, -q and its filters (name, label, status), a pod of two containers as two
// containers labelled with the pod, what is not served yet answered 501 naming it; the socket is 0660; hyper info says
// which DOCKER_HOST to use.
import { execFile } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hyper, startHyperd, type DaemonProc } from '../harness/processes.js';
import { startTestNats, type TestNats } from '../harness/nats.js';
import { startRegistry, type TestRegistry } from '../harness/registry.js';
import { TestImages } from '../harness/images.js';

const run = promisify(execFile);
let n: TestNats;
let d: DaemonProc;
let env: Record<string, string>;
let sock = '';
let reg: TestRegistry;
const docker = async (...args: string[]) => {
  try {
    const r = await run('docker', args, { env: { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: join(n.dir, 'docker-config') }, encoding: 'utf8' });
    return { code: 0, stdout: r.stdout.trim(), stderr: r.stderr.trim() };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: String(e.stdout).trim(), stderr: String(e.stderr).trim() };
  }
};

beforeAll(async () => {
  n = await startTestNats();
  reg = await startRegistry(join(n.dir, 'registry'));
  await new TestImages(join(n.dir, 'build')).push('busybox:latest', `${reg.host}/team/busybox:1`);
  env = { HYPER_NATS: n.server.url };
  sock = join(n.dir, 'a', 'docker.sock');
  d = startHyperd(['--nats', n.server.url, '--host-id', 'a', '--data-dir', join(n.dir, 'a'), '--driver', 'hollow'], env);
  await d.ready;
  await hyper(['run', '--name', 'done', '-l', 'tier=batch', '-l', 'hollow.exit-after-ms=50', '-l', 'hollow.exit-code=3', 'busybox', 'true'], env);
  await hyper(['run', '-d', '--name', 'web', '-l', 'tier=front', 'busybox', 'httpd', '-f'], env);
  const file = join(n.dir, 'pair.yaml');
  writeFileSync(file, 'name: pair\ncontainers:\n  - name: app\n    image: busybox\n  - name: side\n    image: busybox\n');
  await hyper(['run', '-d', '-f', file], env);
  for (let i = 0; i < 80 && !/pair .*running/.test((await hyper(['ps'], env)).stdout); i++) await new Promise((r) => setTimeout(r, 250));
}, 90_000);

afterAll(async () => {
  await reg?.stop();
  await d?.stop('SIGTERM');
  await n?.close();
});

describe('Docker Engine API (real docker CLI)', () => {
  it('listens on DATA_DIR/docker.sock, mode 0660; hyper info gives the DOCKER_HOST line', async () => {
    expect(statSync(sock).mode & 0o777).toBe(0o660);
    expect((await hyper(['info', '--data-dir', join(n.dir, 'a')], {})).stdout).toContain(`docker api:   export DOCKER_HOST=unix://${sock}`);
  });

  it('docker version negotiates the API and names hyper as the engine; docker info counts the containers', async () => {
    const v = await docker('version', '--format', '{{.Server.Version}} {{.Server.APIVersion}} {{.Client.APIVersion}}');
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^0\.\d+\.\d+ 1\.50 1\.50$/);
    const info = await docker('info', '--format', '{{.ServerVersion}} {{.ContainersRunning}} {{.ContainersStopped}} {{.OSType}} {{.DefaultRuntime}}');
    expect(info.stdout).toMatch(/^0\.\d+\.\d+ 3 1 linux hollow$/);
  });

  it('docker ps, -a, -q and filters by name, label and status; a pod of two is two containers labelled with it', async () => {
    const ps = await docker('ps', '--format', '{{.Names}}|{{.State}}|{{.Label "io.hyper.pod"}}');
    expect(ps.stdout.split('\n').sort()).toEqual(['pair_app|running|pair', 'pair_side|running|pair', 'web|running|']);
    expect((await docker('ps', '--filter', 'name=web', '--format', '{{.Status}}')).stdout).toMatch(/^Up (Less than a second|\d+ seconds?)$/);
    const all = await docker('ps', '-a', '--format', '{{.Names}} {{.Status}}');
    expect(all.stdout).toMatch(/^done Exited \(3\) .* ago$/m);
    expect((await docker('ps', '-a', '-q')).stdout.split('\n')).toHaveLength(4);
    expect((await docker('ps', '-a', '--filter', 'name=web', '--format', '{{.Names}}')).stdout).toBe('web');
    expect((await docker('ps', '-a', '--filter', 'label=tier=batch', '--format', '{{.Names}}')).stdout).toBe('done');
    expect((await docker('ps', '-a', '--filter', 'status=exited', '--format', '{{.Names}}')).stdout).toBe('done');
  });

  it('a member of a pod of several is a container for inspect; stop and rm name the pod they would act on', async () => {
    expect((await docker('inspect', '-f', '{{.Name}} {{index .Config.Labels "io.hyper.pod"}} {{.Hyper.container}} {{.State.Status}}', 'pair_side')).stdout).toBe('/pair_side pair side running');
    const stop = await docker('stop', 'pair_app');
    expect(stop.code).not.toBe(0);
    expect(stop.stderr).toContain('pair_app is container app of pod pair, whose containers share one VM');
    expect((await docker('inspect', 'pair_nothing')).stderr).toContain('No such object: pair_nothing');
  });

  it('docker pull from a registry with progress lines, images, image inspect, rmi: the host\'s image store', async () => {
    const ref = `${reg.host}/team/busybox:1`;
    const pull = await docker('pull', ref);
    expect(pull.code).toBe(0);
    expect(pull.stdout).toContain(`Status: Downloaded newer image for ${ref}`);
    expect((await docker('pull', ref)).stdout).toContain(`Status: Image is up to date for ${ref}`);
    expect((await docker('images', '--format', '{{.Repository}}:{{.Tag}}')).stdout.split('\n')).toContain(ref);
    const id = (await docker('image', 'inspect', '-f', '{{.Id}}', ref)).stdout;
    expect(id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await hyper(['images', '--data-dir', join(n.dir, 'a'), '-o', 'json'], {})).stdout).toContain(id);
    expect((await docker('pull', `${reg.host}/team/nothing:1`)).stderr).toMatch(/nothing/);
    const rmi = await docker('rmi', ref);
    expect(rmi.code).toBe(0);
    expect(rmi.stdout).toContain(`Deleted: ${id}`);
    expect((await docker('image', 'inspect', ref)).stderr).toContain(`No such image: ${ref}`);
  }, 120_000);

  it('docker tag, save and load: a docker-archive tarball out and back in, named as asked', async () => {
    expect((await docker('pull', `${reg.host}/team/busybox:1`)).code).toBe(0);
    expect((await docker('tag', `${reg.host}/team/busybox:1`, 'mine/box:2')).code).toBe(0);
    expect((await docker('images', '--format', '{{.Repository}}:{{.Tag}}')).stdout.split('\n')).toContain('mine/box:2');
    const tar = join(n.dir, 'box.tar');
    expect((await docker('save', '-o', tar, 'mine/box:2')).code).toBe(0);
    const manifest = JSON.parse((await run('tar', ['-xOf', tar, 'manifest.json'], { encoding: 'utf8' })).stdout);
    expect(manifest[0].RepoTags).toEqual([expect.stringMatching(/^(docker\.io\/)?mine\/box:2$/)]);
    expect((await docker('rmi', 'mine/box:2')).stdout).toContain('Untagged: mine/box:2');
    const load = await docker('load', '-i', tar);
    expect(load).toMatchObject({ code: 0, stdout: 'Loaded image: mine/box:2' });
    expect((await docker('images', '--format', '{{.Repository}}:{{.Tag}}')).stdout.split('\n')).toContain('mine/box:2');
    expect((await docker('tag', 'nothing-here', 'x:1')).stderr).toContain('No such image: nothing-here');
  }, 120_000);

  it('docker volume create (with a size), ls, inspect, rm: the host\'s named volumes', async () => {
    expect((await docker('volume', 'create', '--opt', 'size=64M', 'cache')).stdout).toBe('cache');
    expect((await docker('volume', 'ls', '--format', '{{.Driver}} {{.Name}}')).stdout.split('\n')).toContain('local cache');
    expect((await hyper(['volume', 'ls', '--data-dir', join(n.dir, 'a')], {})).stdout).toMatch(/^cache\s+64\.00MiB/m);
    expect((await docker('volume', 'inspect', '-f', '{{.Options.size}} {{.Scope}}', 'cache')).stdout).toBe('64m local');
    expect((await docker('volume', 'create', '--opt', 'type=nfs', 'bad')).stderr).toContain('DriverOpts type: not supported');
    expect((await docker('volume', 'rm', 'cache')).code).toBe(0);
    expect((await docker('volume', 'inspect', 'cache')).stderr).toContain('no such volume');
  });

  it('docker rename: the new name is hyper\'s too, the old one free again, a taken one refused; docker events has it', async () => {
    const t0 = Math.floor(Date.now() / 1000) - 1;
    expect((await docker('rename', 'web', 'front')).code).toBe(0);
    expect((await hyper(['ps'], env)).stdout).toMatch(/^\S+\s+front\s/m);
    expect((await docker('ps', '--filter', 'name=front', '--format', '{{.Names}}')).stdout).toBe('front');
    const taken = await docker('rename', 'front', 'done');
    expect(taken.code).not.toBe(0);
    expect(taken.stderr).toContain('The container name "/done" is already in use');
    expect((await docker('rename', 'front', 'bad/name')).stderr).toContain('Invalid container name');
    const ev = await docker('events', '--since', String(t0), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'event=rename', '--format', '{{.Actor.Attributes.name}} {{.Actor.Attributes.oldName}}');
    expect(ev.stdout).toBe('front /web');
    expect((await hyper(['rename', 'front', 'web'], env)).exitCode).toBe(0);
    expect((await docker('ps', '--filter', 'name=web', '--format', '{{.Names}}')).stdout).toBe('web');
  });

  it('what is not served yet is a 501 that says so', async () => {
    const r = await docker('pause', 'web');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('is not served by hyperd yet');
  });
});
