// `hyper stats` and `hyper top` against real QEMU pods on an embedded NATS: CPU, memory and processes read from the guest,
// each process under its container (exec'd ones and daemons re-parented to the agent too), and errors that name the pod.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { CLI, hyper } from '../harness/processes.js';
import { podEvents, podState } from '../harness/qemu.js';
import { startQemuDaemon, type QemuDaemon } from '../harness/qemu-daemon.js';

let q: QemuDaemon;
let env: Record<string, string> = {};

interface Proc { pid: number; ppid: number; uid: number; container: string; cpuMs: number; rss: number; startedAtMs: number; command: string }
interface StatsRow { id: string; name: string; cpuPercent: number | null; memUsage: number; memLimit: number; memPercent: number; pids: number; vcpus: number; uptimeMs: number }

async function running(name: string) {
  for (let i = 0; i < 120 && (await podState(name, env)).state !== 'running'; i++) await new Promise((r) => setTimeout(r, 250));
  expect((await podState(name, env)).state).toBe('running');
}

beforeAll(async () => {
  q = await startQemuDaemon('hyper-stats-', 'stats');
  env = q.env;
  const file = join(q.dataDir, 'duo.yaml');
  writeFileSync(file, [
    'name: duo',
    'containers:',
    '  - name: spin',
    '    image: busybox',
    // a busy loop, and a daemon whose parent exits at once (it is re-parented to the agent, PID 1)
    '    args: ["sh", "-c", "(sleep 2001 &); while :; do :; done"]',
    '  - name: nap',
    '    image: busybox',
    '    args: ["sleep", "2002"]',
    '',
  ].join('\n'));
  expect((await hyper(['run', '-d', '-f', file], env)).exitCode).toBe(0);
  expect((await hyper(['run', '-d', '--name', 'idle', '-m', '128', 'busybox', 'sleep', '3600'], env)).exitCode).toBe(0);
  await running('duo');
  await running('idle');
}, 120_000);

afterAll(async () => {
  await q?.stop();
});

describe('hyper top', () => {
  it('lists every container\'s processes with pid, parent, user, CPU time, memory and command; -c keeps one container', async () => {
    const exec = hyper(['exec', 'duo', '-c', 'nap', 'sleep', '5'], env); // an exec'd process belongs to its container too
    let all: Proc[] = [];
    for (let i = 0; i < 40 && !all.some((p) => p.command === 'sleep 5'); i++) {
      const r = await hyper(['top', 'duo', '-o', 'json'], env);
      expect(r.exitCode).toBe(0);
      all = (JSON.parse(r.stdout) as { processes: Proc[] }).processes;
      await new Promise((r) => setTimeout(r, 250));
    }
    const byCommand = (c: string) => all.find((p) => p.command === c);
    expect(byCommand('sh -c (sleep 2001 &); while :; do :; done')).toMatchObject({ container: 'spin', uid: 0, ppid: 1 });
    expect(byCommand('sleep 2001')).toMatchObject({ container: 'spin', ppid: 1 }); // found by its mount namespace
    expect(byCommand('sleep 2002')).toMatchObject({ container: 'nap' });
    expect(byCommand('sleep 5')).toMatchObject({ container: 'nap' });
    expect(all.every((p) => p.rss >= 0 && p.pid > 1 && p.startedAtMs > Date.now() - 600_000)).toBe(true);
    expect(all.some((p) => /hyper-agent/.test(p.command))).toBe(false);
    expect(byCommand('sh -c (sleep 2001 &); while :; do :; done')!.cpuMs).toBeGreaterThan(0);
    await exec;

    const text = await hyper(['top', 'duo', '-c', 'nap'], env);
    expect(text.exitCode).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0].split(/\s{2,}/)).toEqual(['CONTAINER', 'UID', 'PID', 'PPID', 'STIME', 'TIME', 'RSS', 'CMD']);
    expect(lines.slice(1).every((l) => l.startsWith('nap '))).toBe(true);
    expect(text.stdout).toContain('sleep 2002');
    expect(text.stdout).not.toContain('while');
    // reading processes is not a fact: the pod's log has no event for it
    expect((await podEvents('duo', env)).some((e) => /top|stats/.test(e.type))).toBe(false);
  }, 60_000);

  it('errors name the pod and what to do', async () => {
    const nope = await hyper(['top', 'duo', '-c', 'nope'], env);
    expect(nope.exitCode).toBe(1);
    expect(nope.stderr).toContain('pod duo has no container nope (it has spin, nap)');
    await hyper(['run', '--name', 'done', 'busybox', 'true'], env);
    const ended = await hyper(['top', 'done'], env);
    expect(ended.exitCode).toBe(1);
    expect(ended.stderr).toContain('pod done is not running (it is succeeded) — start it with hyper start done');
    expect((await hyper(['stats', '--no-stream', 'done'], env)).stderr).toContain('pod done is not running');
  }, 60_000);
});

describe('hyper stats', () => {
  it('--no-stream: a busy pod uses about one vCPU, an idle one almost none; memory within the VM\'s; processes and uptime', async () => {
    const r = await hyper(['stats', '--no-stream', '-o', 'json'], env);
    expect(r.exitCode).toBe(0);
    const rows = JSON.parse(r.stdout) as StatsRow[];
    const duo = rows.find((x) => x.name === 'duo')!;
    const idle = rows.find((x) => x.name === 'idle')!;
    expect(duo.cpuPercent).toBeGreaterThan(60);
    expect(duo.cpuPercent).toBeLessThanOrEqual(101);
    expect(idle.cpuPercent).toBeLessThan(30);
    expect(duo.pids).toBe(3);
    expect(idle.pids).toBe(1);
    for (const x of [duo, idle]) {
      expect(x.vcpus).toBe(1);
      expect(x.memUsage).toBeGreaterThan(1 << 20);
      expect(x.memUsage).toBeLessThan(x.memLimit);
      expect(x.uptimeMs).toBeGreaterThan(0);
    }
    expect(idle.memLimit).toBeLessThan(128 * 2 ** 20); // -m 128: the guest sees less than that (the kernel keeps some)
    expect(duo.memLimit).toBeGreaterThan(idle.memLimit);
    const one = await hyper(['stats', '--no-stream', 'idle'], env);
    const lines = one.stdout.split('\n');
    expect(lines[0].split(/\s{2,}/)).toEqual(['POD ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'PIDS', 'UPTIME']);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^\w{12}\s+idle\s+\d+\.\d\d%\s+[\d.]+MiB \/ [\d.]+MiB\s+[\d.]+%\s+1\s+\d+[smh]/);
  }, 60_000);

  it('streams a sample every second until interrupted', async () => {
    const p = execa('node', [CLI, 'stats', '-o', 'json', 'idle'], { env: { ...process.env, ...env }, reject: false });
    const seen: StatsRow[] = [];
    p.stdout!.on('data', (b: Buffer) => { for (const l of b.toString().split('\n').filter(Boolean)) seen.push(JSON.parse(l)); });
    for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 100));
    p.kill('SIGINT');
    const done = await p;
    expect(seen.length).toBeGreaterThanOrEqual(3);
    expect(seen.every((s) => s.name === 'idle' && s.cpuPercent !== null)).toBe(true);
    expect(seen[2].uptimeMs).toBeGreaterThan(seen[0].uptimeMs);
    expect(done.exitCode).toBe(0);
  }, 60_000);
});
