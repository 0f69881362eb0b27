// docker run through hyperd's Engine API with the real docker CLI, into real QEMU VMs: `docker run --rm busybox echo
// hi` prints hi and leaves nothing behind, an exit code and stdout/stderr come back apart, a detached named container is
// hyper's pod of that name and docker exec runs in it, rm refuses a running one and rm -f removes it, --privileged is refused naming the flag.
import { execFile, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hyper } from '../harness/processes.js';
import { startQemuDaemon, type QemuDaemon } from '../harness/qemu-daemon.js';
import { openTerminal } from '../harness/tmux.js';

const run = promisify(execFile);
let q: QemuDaemon;
const dockerEnv = () => ({ ...process.env, DOCKER_HOST: `unix://${join(q.dataDir, 'docker.sock')}`, DOCKER_CONFIG: join(q.dataDir, 'docker-config') });
/** docker with `input` on its stdin (a pipe, closed after it). */
const dockerIn = (input: string, ...args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const p = spawn('docker', args, { env: dockerEnv() });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(input);
  });
const docker = async (...args: string[]) => {
  try {
    const r = await run('docker', args, { env: dockerEnv(), encoding: 'utf8', timeout: 90_000 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: String(e.stdout), stderr: String(e.stderr) };
  }
};

beforeAll(async () => {
  q = await startQemuDaemon('hyper-docker-', 'dock', ['--network', 'none']);
}, 120_000);

afterAll(async () => {
  await q?.stop();
});

describe('docker run into VMs', () => {
  it('docker run --rm busybox echo hi prints hi from the VM and leaves no container', async () => {
    const r = await docker('run', '--rm', 'busybox', 'echo', 'hi');
    expect(r).toMatchObject({ code: 0, stdout: 'hi\n' });
    expect((await docker('ps', '-a', '-q')).stdout).toBe('');
    expect((await hyper(['ps', '-a', '-q'], q.env)).stdout).toBe('');
  }, 120_000);

  it("the container's exit code, and stdout and stderr apart; docker events lists its lifecycle from the log", async () => {
    const t0 = Math.floor(Date.now() / 1000) - 1;
    const r = await docker('run', '--name', 'three', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 3');
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('out\n');
    expect(r.stderr).toBe('err\n');
    expect((await docker('ps', '-a', '--filter', 'name=three', '--format', '{{.Status}}')).stdout).toMatch(/^Exited \(3\) /);
    expect((await docker('rm', 'three')).code).toBe(0);
    const ev = await docker('events', '--since', String(t0), '--until', String(Math.floor(Date.now() / 1000) + 1), '--filter', 'container=three', '--format', '{{.Action}} {{.Actor.Attributes.name}} {{index .Actor.Attributes "exitCode"}}');
    expect(ev.stdout.split('\n').filter(Boolean).map((l) => l.trim())).toEqual(['create three', 'start three', 'die three 3', 'destroy three']);
  }, 120_000);

  it('a detached named container is hyper\'s pod of that name; rm refuses it running, rm -f removes it', async () => {
    const id = (await docker('run', '-d', '--name', 'web', '-l', 'tier=front', 'busybox', 'sleep', '600')).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    const pod = JSON.parse((await hyper(['inspect', 'web'], q.env)).stdout)[0];
    expect(pod).toMatchObject({ id, state: expect.stringMatching(/running|starting/) });
    expect(pod.spec.labels).toEqual({ tier: 'front' });
    // docker exec through the pod's host: its output and its exit code
    const ex = await docker('exec', 'web', 'sh', '-c', 'echo in-exec; echo to-err >&2; exit 4');
    expect(ex).toMatchObject({ code: 4, stdout: 'in-exec\n', stderr: 'to-err\n' });
    expect((await docker('exec', '-e', 'WHO=docker', '-w', '/tmp', 'web', 'sh', '-c', 'echo $WHO $(pwd)')).stdout).toBe('docker /tmp\n');
    const refused = await docker('rm', 'web');
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`You cannot remove a running container ${id}`);
    expect((await docker('rm', '-f', 'web')).code).toBe(0);
    expect((await hyper(['ps', '-a'], q.env)).stdout).not.toContain('web');
    // the name is free again
    expect((await docker('run', '--rm', '--name', 'web', 'busybox', 'true')).code).toBe(0);
  }, 180_000);

  it('logs (--tail, -f to the end), inspect, stop, start, kill as docker does them', async () => {
    expect((await docker('run', '-d', '--name', 'tick', 'busybox', 'sh', '-c', 'i=0; while [ $i -lt 400 ]; do echo tick $i; i=$((i+1)); sleep 0.2; done')).code).toBe(0);
    for (let i = 0; i < 60 && !(await docker('logs', 'tick')).stdout.includes('tick 3\n'); i++) await new Promise((r) => setTimeout(r, 250));
    const all = (await docker('logs', 'tick')).stdout.split('\n').filter(Boolean);
    expect(all.slice(0, 3)).toEqual(['tick 0', 'tick 1', 'tick 2']);
    const tail = (await docker('logs', '--tail', '2', 'tick')).stdout.split('\n').filter(Boolean);
    expect(tail).toHaveLength(2);
    expect(Number(tail[1].split(' ')[1]) - Number(tail[0].split(' ')[1])).toBe(1);
    // --since: only what came after it (the container prints 5 lines a second)
    const t1 = Date.now();
    await new Promise((r) => setTimeout(r, 1_200));
    const recent = (await docker('logs', '--since', new Date(t1).toISOString(), 'tick')).stdout.split('\n').filter(Boolean);
    expect(recent.length).toBeGreaterThan(0);
    expect(recent.length).toBeLessThan(all.length + 10);
    expect(Number(recent[0].split(' ')[1])).toBeGreaterThan(Number(all[all.length - 1].split(' ')[1]) - 3);
    expect((await docker('inspect', '-f', '{{.State.Status}} {{.State.Running}} {{.Name}} {{.Config.Image}}', 'tick')).stdout.trim()).toBe('running true /tick busybox');
    expect((await docker('stop', '-t', '1', 'tick')).code).toBe(0);
    expect((await docker('inspect', '-f', '{{.State.Status}}', 'tick')).stdout.trim()).toBe('exited');
    expect((await docker('start', 'tick')).code).toBe(0);
    expect((await docker('inspect', '-f', '{{.State.Status}}', 'tick')).stdout.trim()).toBe('running');
    expect((await docker('kill', 'tick')).code).toBe(0);
    for (let i = 0; i < 40 && !/Exited \(137\)/.test((await docker('ps', '-a', '--filter', 'name=tick', '--format', '{{.Status}}')).stdout); i++) await new Promise((r) => setTimeout(r, 250));
    expect((await docker('ps', '-a', '--filter', 'name=tick', '--format', '{{.Status}}')).stdout).toMatch(/^Exited \(137\)/);
    // logs -f of an ended container prints what there is and returns
    expect((await docker('logs', '-f', 'tick')).stdout).toContain('tick 0\n');
    expect((await docker('rm', 'tick')).code).toBe(0);
  }, 180_000);

  it('stdin: docker run -i and exec -i take a pipe to its end; attach from now on, with its input', async () => {
    expect(await dockerIn('one\ntwo\n', 'run', '--rm', '-i', 'busybox', 'sh', '-c', 'cat; echo done')).toMatchObject({ code: 0, stdout: 'one\ntwo\ndone\n' });
    expect((await docker('run', '-d', '-i', '--name', 'cat', 'busybox', 'sh', '-c', 'echo started; read l; echo "got $l"; read l; echo "then $l"; exit 6')).code).toBe(0);
    expect(await dockerIn('a\nb\n', 'exec', '-i', 'cat', 'wc', '-l')).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\s*2\n$/) });
    // attach: the output from now on (not "started"), the input to the main process, which ends with its exit code
    await expect.poll(async () => (await docker('logs', 'cat')).stdout, { timeout: 10_000 }).toBe('started\n');
    expect(await dockerIn('x\ny\n', 'attach', 'cat')).toMatchObject({ code: 6, stdout: 'got x\nthen y\n' });
    expect((await docker('rm', '-f', 'cat')).code).toBe(0);
  }, 180_000);

  it('docker exec -it and run -it under a real terminal (tmux): a prompt, stty size after a resize, exit 5 gives 5; Ctrl-P Ctrl-Q detaches, attach comes back', async () => {
    expect((await docker('run', '-d', '--name', 'box', 'busybox', 'sleep', '600')).code).toBe(0);
    const env = `DOCKER_HOST=unix://${join(q.dataDir, 'docker.sock')} DOCKER_CONFIG=${join(q.dataDir, 'docker-config')}`;
    const t = openTerminal('docker-exec', q.dataDir, `env ${env} docker exec -it box sh`);
    try {
      await expect.poll(() => t.screen(), { timeout: 20_000 }).toMatch(/[#$] ?$/m);
      t.keys('stty size', 'Enter');
      await expect.poll(() => t.screen(), { timeout: 10_000 }).toMatch(/^24 80\s*$/m);
      t.resize(100, 30);
      await new Promise((r) => setTimeout(r, 500));
      t.keys('clear; stty size', 'Enter');
      await expect.poll(() => t.screen(), { timeout: 10_000 }).toMatch(/^30 100\s*$/m);
      t.keys('exit 5', 'Enter');
      await expect.poll(() => t.status(), { timeout: 10_000 }).toBe('5');
    } finally {
      t.close();
    }
    const r = openTerminal('docker-run', q.dataDir, `env ${env} docker run -it --name tty busybox sh`, 90, 20);
    try {
      await expect.poll(() => r.screen(), { timeout: 30_000 }).toMatch(/[#$] ?$/m);
      r.keys('stty size; tty', 'Enter');
      await expect.poll(() => r.screen(), { timeout: 10_000 }).toMatch(/^20 90\s*$/m);
      r.keys('C-p', 'C-q');
      await expect.poll(() => r.status(), { timeout: 10_000 }).toBe('0');
    } finally {
      r.close();
    }
    expect((await docker('inspect', '-f', '{{.State.Running}}', 'tty')).stdout.trim()).toBe('true');
    // back in with docker attach: the same shell; its exit code is attach's
    const a = openTerminal('docker-attach', q.dataDir, `env ${env} docker attach tty`);
    try {
      await new Promise((r) => setTimeout(r, 1_500));
      a.keys('echo back-$((6*7))', 'Enter');
      await expect.poll(() => a.screen(), { timeout: 10_000 }).toMatch(/^back-42\s*$/m);
      a.keys('exit 4', 'Enter');
      await expect.poll(() => a.status(), { timeout: 10_000 }).toBe('4');
    } finally {
      a.close();
    }
    expect((await docker('rm', '-f', 'box', 'tty')).code).toBe(0);
  }, 180_000);

  it('docker top, stats --no-stream and cp (out of and into the container) read the guest', async () => {
    expect((await docker('run', '-d', '--name', 'files', 'busybox', 'sh', '-c', 'mkdir -p /srv/d/sub && echo deep > /srv/d/sub/f && echo hello > /srv/one && exec sleep 600')).code).toBe(0);
    await expect.poll(async () => (await docker('top', 'files')).stdout, { timeout: 15_000 }).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD\n0\s+\d+\s+1\s+.*sleep 600$/m);
    const stats = await docker('stats', '--no-stream', '--format', '{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}', 'files');
    expect(stats.stdout.trim()).toMatch(/^files \d+\.\d\d% [\d.]+MiB \/ [\d.]+MiB 1$/);
    const out = join(q.dataDir, 'cp-out');
    expect((await docker('cp', 'files:/srv/d', out)).code).toBe(0);
    expect(readFileSync(join(out, 'sub', 'f'), 'utf8')).toBe('deep\n');
    expect((await docker('cp', 'files:/srv/one', join(q.dataDir, 'one.txt'))).code).toBe(0);
    expect(readFileSync(join(q.dataDir, 'one.txt'), 'utf8')).toBe('hello\n');
    writeFileSync(join(q.dataDir, 'in.txt'), 'from the host\n');
    expect((await docker('cp', join(q.dataDir, 'in.txt'), 'files:/srv/')).code).toBe(0);
    expect((await docker('cp', join(q.dataDir, 'in.txt'), 'files:/srv/renamed.txt')).code).toBe(0);
    expect(await docker('exec', 'files', 'cat', '/srv/in.txt', '/srv/renamed.txt')).toEqual({ code: 0, stdout: 'from the host\nfrom the host\n', stderr: '' });
    const missing = await docker('cp', 'files:/nope', out);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('Could not find the file /nope');
    expect((await docker('rm', '-f', 'files')).code).toBe(0);
  }, 120_000);

  it('a Docker field hyper cannot honour is refused naming it', async () => {
    const r = await docker('run', '--privileged', 'busybox', 'true');
    expect(r.code).toBe(125);
    expect(r.stderr).toContain('--privileged (HostConfig.Privileged) is not supported by hyper');
  });
});
