// hyperd with the QEMU driver: pods run in real VMs (our kernel + agent under QEMU), their exit codes come back through
// the event log to `hyper run`, and no QEMU process outlives its pod.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestNats, type TestNats } from '../../harness/nats.js';
import { hyper, removeOwnNetwork, startHyperd, type DaemonProc } from '../../harness/processes.js';
import { requireGuest } from '../../harness/guest.js';
import { startRegistry, type TestRegistry } from '../../harness/registry.js';
import { TestImages } from '../../harness/images.js';
import { podQemus, qemuProcessesUnder } from '../../harness/qemu.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
let reg: TestRegistry;

// every test runs twice: VMs booted cold, and VMs restored from a template (hyperd --templates), which must behave the same
for (const mode of ['cold', 'template'] as const) describe(`${mode} start`, () => {
  let t: TestNats;
  let d: DaemonProc;
  let dataDir: string;
  const env = () => ({ HYPER_NATS: t.server.url });

  beforeAll(async () => {
    requireGuest();
    t = await startTestNats();
    dataDir = join(t.dir, 'd');
    reg = await startRegistry(join(t.dir, 'registry'));
    const imgs = new TestImages(join(t.dir, 'build'));
    imgs.derive('greeter:1', [], { entrypoint: ['/bin/sh', '-c'], cmd: ['echo $GREETING from $(pwd) as $(id -un)'], env: ['GREETING=hi'], workdir: '/tmp', user: 'nobody' });
    imgs.derive('layers:1', [
      (r) => { mkdirSync(join(r, 'data')); writeFileSync(join(r, 'data', 'gone'), 'x'); writeFileSync(join(r, 'etc', 'motd'), 'old'); },
      (r) => { rmSync(join(r, 'data', 'gone')); writeFileSync(join(r, 'etc', 'motd'), 'new'); },
    ]);
    imgs.derive('nocmd:1', [], { clearCmd: true });
    await imgs.push('nocmd:1', `${reg.host}/nocmd:1`);
    await imgs.push('busybox:latest', `${reg.host}/busybox:latest`);
    await imgs.push('greeter:1', `${reg.host}/greeter:1`);
    await imgs.push('layers:1', `${reg.host}/layers:1`);
    // "busybox" itself is loaded from an archive, as the quickstart does
    execFileSync(join(root, 'scripts', 'import-busybox.sh'), [dataDir]);
    d = startHyperd(['--nats', t.server.url, '--host-id', 'vm-h1', '--data-dir', dataDir, '--driver', 'qemu', '--cpus', '8', '--memory', '2048', '--stop-pods-on-exit', ...(mode === 'template' ? ['--templates'] : [])]);
    await d.ready;
    // the daemon makes the default size's template as it starts: every pod below is then restored from it
    for (const until = Date.now() + 30_000; mode === 'template';) {
      if (JSON.parse((await hyper(['template', 'ls', '-o', 'json', '--data-dir', dataDir], env())).stdout).length === 1) break;
      if (Date.now() > until) throw new Error(`hyperd --templates made no template in 30 s; its log:\n${d.log()}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }, 120_000);

  afterAll(async () => {
    await d?.stop();
    for (const pid of qemuProcessesUnder(dataDir)) process.kill(Number(pid), 'SIGKILL');
    await removeOwnNetwork(dataDir);
    await reg?.stop();
    await t?.close();
  });

  describe('the QEMU driver under hyperd', () => {
    it('runs a pod in a real VM and returns its exit code', async () => {
      const r = await hyper(['run', 'busybox', 'sh', '-c', 'exit 3'], env());
      expect(r.stderr).toMatch(/booting vm \S+ \(qemu\)/);
      expect(r.stderr).toMatch(/guest agent ready \(hyper-agent\/2\)/);
      expect(r.stderr).toMatch(/container main exited with code 3/);
      expect(r.exitCode).toBe(3);
      expect(d.log()).toMatch(/"accel":"(kvm|tcg)"/);
    }, 60_000);

    it('prints the container\'s output: stdout to stdout, stderr to stderr; hyper logs reads it back', async () => {
      const r = await hyper(['run', '--name', 'greeter', 'busybox', 'sh', '-c', 'echo hello from $(hostname); echo warning >&2'], env());
      expect(r.exitCode).toBe(0);
      // (execa drops the final newline of captured output); the pod's name is its VM's hostname
      expect(r.stdout).toBe('hello from greeter');
      expect(r.stderr).toMatch(/^warning$/m);
      const logs = await hyper(['logs', 'greeter'], env());
      expect(logs.stdout).toBe('hello from greeter');
      expect(logs.stderr).toBe('warning');
    }, 60_000);

    it('pulls from a registry on first use: hyper run --rm REGISTRY/busybox echo hello prints hello; the second run neither pulls nor converts', async () => {
      const r = await hyper(['run', '--rm', `${reg.host}/busybox`, 'echo', 'hello'], env());
      expect(r.stdout).toBe('hello');
      expect(r.exitCode).toBe(0);
      expect(r.stderr).toMatch(/pulling \S+\/busybox…\n(.*\n)*.*pulled \S+\/busybox \([a-f0-9]{12}\) in \d+ ms, converted to EROFS/);
      expect(d.log()).toMatch(/converting \w+ to a read-only EROFS image/);
      const requests = reg.requests().length;
      const disks = readdirSync(join(dataDir, 'images', 'erofs'));
      const logLength = d.log().length;
      const again = await hyper(['run', '--rm', `${reg.host}/busybox`, 'echo', 'again'], env());
      expect(again.stdout).toBe('again');
      expect(again.stderr).toMatch(/image \S+\/busybox \([a-f0-9]{12}\) is here/);
      expect(again.stderr).not.toMatch(/pulling/);
      expect(reg.requests().length).toBe(requests);
      expect(readdirSync(join(dataDir, 'images', 'erofs'))).toEqual(disks);
      expect(d.log().slice(logLength)).not.toMatch(/pulling|unpacking|converting/);
    }, 90_000);

    it('honours whiteouts of a multi-layer image inside the VM, and each container writes to its own layer', async () => {
      const r = await hyper(['run', '--rm', `${reg.host}/layers:1`, 'sh', '-c', 'cat /etc/motd; echo; ls /data; echo scribble > /etc/motd; cat /etc/motd'], env());
      expect(r.stdout).toBe('new\nscribble');
      const again = await hyper(['run', '--rm', `${reg.host}/layers:1`, 'cat', '/etc/motd'], env()); // a fresh container: the scribble is gone
      expect(again.stdout).toBe('new');
    }, 90_000);

    it('honours the image config (Entrypoint, Cmd, Env, WorkingDir, User), overridable from the CLI', async () => {
      const greeter = `${reg.host}/greeter:1`;
      expect((await hyper(['run', greeter], env())).stdout).toBe('hi from /tmp as nobody');
      expect((await hyper(['run', '-e', 'GREETING=yo', '-w', '/', greeter], env())).stdout).toBe('yo from / as nobody');
      expect((await hyper(['run', greeter, 'echo replaced Cmd'], env())).stdout).toBe('replaced Cmd');
      expect((await hyper(['run', '--entrypoint', '/bin/hostname', '--name', 'ep', greeter], env())).stdout).toBe('ep');
      const noCmd = await hyper(['run', `${reg.host}/nocmd:1`], env());
      expect(noCmd.exitCode).toBe(125);
      expect(noCmd.stderr).toMatch(/image \S+nocmd:1 has no Entrypoint or Cmd — give a command after the image/);
    }, 90_000);

    it('stops a running pod: SIGTERM reaches the container and no QEMU process survives', async () => {
      const id = (await hyper(['run', '-d', 'busybox', 'sleep', '1000'], env())).stdout.trim();
      await expect.poll(async () => JSON.parse((await hyper(['inspect', id], env())).stdout)[0].state, { timeout: 30_000 }).toBe('running');
      // the pod's; with templates a spare QEMU waits for the next pod as well (spare.test.ts)
      expect(podQemus(dataDir).length).toBe(1);
      expect((await hyper(['stop', '-t', '2', id], env())).exitCode).toBe(0);
      expect(podQemus(dataDir)).toEqual([]);
    }, 60_000);

    it('a VM that dies on its own fails its pod with the reason and the guest console', async () => {
      const id = (await hyper(['run', '-d', 'busybox', 'sleep', '1000'], env())).stdout.trim();
      await expect.poll(async () => JSON.parse((await hyper(['inspect', id], env())).stdout)[0].state, { timeout: 30_000 }).toBe('running');
      const [pid] = podQemus(dataDir);
      process.kill(Number(pid), 'SIGKILL');
      await expect.poll(async () => JSON.parse((await hyper(['inspect', id], env())).stdout)[0].state, { timeout: 15_000 }).toBe('failed');
      expect(JSON.parse((await hyper(['inspect', id], env())).stdout)[0].reason).toMatch(/qemu was killed by SIGKILL; guest console:/);
    }, 60_000);

    it('restarts a container in the same VM, each run on a fresh writable layer; on-failure:2 gives up after 2 restarts', async () => {
      // one boot id for every run (the same VM), and what a run wrote into its root is gone in the next (a fresh layer)
      const script = 'test -e /state && echo kept; echo x > /state; echo "run in $(cat /proc/sys/kernel/random/boot_id)"; exit 3';
      const r = await hyper(['run', '--name', 'flaky', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', script], env());
      const runs = r.stdout.split('\n');
      expect(runs).toHaveLength(3);
      expect(new Set(runs).size).toBe(1);
      expect(runs[0]).toMatch(/^run in [0-9a-f-]{36}$/);
      expect(r.exitCode).toBe(3);
      const [p] = JSON.parse((await hyper(['inspect', 'flaky'], env())).stdout);
      expect(p.state).toBe('failed');
      expect(p.restartPolicy).toBe('on-failure:2');
      expect(p.reason).toBe('container main exited 3; restart policy on-failure:2 exhausted after 2 restarts');
      expect(p.containers.main).toMatchObject({ state: 'exited', exitCode: 3, restarts: 2, lastExit: { exitCode: 3 } });
      expect((await hyper(['ps', '-a'], env())).stdout).toMatch(/flaky .* failed \(3\) \(2 restarts\)/);
    }, 90_000);

    it('a two-container pod: its containers see each other\'s processes and share localhost', async () => {
      const file = join(t.dir, 'duo.yaml');
      writeFileSync(file, [
        'name: duo',
        'containers:',
        '  - name: server',
        '    image: busybox',
        '    args: ["nc", "-l", "-p", "7000", "-e", "echo", "pong"]',
        '  - name: client',
        '    image: busybox',
        // the server's process is visible from the client (shared PID namespace), and its port answers on 127.0.0.1
        '    args: ["sh", "-c", "for i in $(seq 100); do ps -o args | grep -q \'^nc -l\' && { echo saw-server; break; }; sleep 0.1; done; until nc 127.0.0.1 7000 </dev/null; do sleep 0.1; done"]',
        '',
      ].join('\n'));
      const r = await hyper(['run', '--rm', '-f', file], env());
      expect(r.stderr).toMatch(/container server exited with code 0/);
      expect(r.stdout).toMatch(/^saw-server$/m);
      expect(r.stdout).toMatch(/^pong$/m);
      expect(r.exitCode).toBe(0);
    }, 90_000);

    it('the VM split: QEMU start and guest boot are recorded in vm.booted', async () => {
      const id = (await hyper(['run', '-d', '--rm', 'busybox', 'true'], env())).stdout.trim();
      await expect.poll(async () => (await hyper(['events', id, '-o', 'json'], env())).stdout, { timeout: 30_000 }).toMatch(/"vm\.booted"/);
      const booted = (await hyper(['events', id, '-o', 'json'], env())).stdout.split('\n').map((l) => JSON.parse(l)).find((e) => e.type === 'vm.booted');
      expect(booted.data.vmmMs).toBeGreaterThan(0);
      expect(booted.data.guestMs).toBeGreaterThan(0);
      expect(booted.data.vmmMs + booted.data.guestMs).toBeLessThanOrEqual(booted.data.bootMs + 1);
    }, 60_000);

    it('a missing image, a bad reference and an unreachable registry each give a clear error', async () => {
      const missing = await hyper(['run', `${reg.host}/nosuchimage`, 'true'], env());
      expect(missing.exitCode).toBe(125);
      expect(missing.stderr).toMatch(/cannot look up .*nosuchimage:latest: .*manifest unknown — no such image or tag in that registry/);
      const bad = await hyper(['run', 'Bad/Name', 'true'], env());
      expect(bad.exitCode).toBe(2);
      expect(bad.stderr).toMatch(/containers\.0\.image: name component "Bad" must be lowercase/);
      const unreachable = await hyper(['run', '127.0.0.1:1/busybox', 'true'], env());
      expect(unreachable.exitCode).toBe(125);
      expect(unreachable.stderr).toMatch(/connection refused — the registry is unreachable/);
    }, 90_000);

    // without --templates, hyperd uses the templates made ahead of time, and makes none itself
    if (mode === 'cold') it('a daemon without --templates boots cold until hyper template build makes one, then restores from it', async () => {
      expect(JSON.parse((await hyper(['template', 'ls', '-o', 'json', '--data-dir', dataDir], env())).stdout)).toEqual([]);
      const built = await hyper(['template', 'build', '--data-dir', dataDir], env());
      expect(built.exitCode, built.stderr).toBe(0);
      const r = await hyper(['run', '--rm', 'busybox', 'echo', 'from a template'], env());
      expect(r.stdout).toBe('from a template');
      expect(r.stderr, d.log().slice(-3000)).toContain(`vm restored from template ${built.stdout.trim()}`);
      expect((await hyper(['template', 'rm', '--all', '--data-dir', dataDir], env())).exitCode).toBe(0);
    }, 90_000);

    if (mode === 'template') it('every VM above was restored from the template, none booted cold (vm.origin and vm.booted say so)', async () => {
      const origins = (await hyper(['events', '--type', 'vm.origin', '-o', 'json'], env())).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l).data);
      expect(origins.length).toBeGreaterThanOrEqual(12);
      expect(origins.filter((o) => o.origin !== 'template')).toEqual([]);
      // every host runs this build, so vm.booted is written as version 2 and carries the same origin and template
      const booted = (await hyper(['events', '--type', 'vm.booted', '-o', 'json'], env())).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l));
      expect(booted.map((e) => e.data.origin)).toEqual(origins.map((o) => o.origin));
      expect(booted.map((e) => e.data.template)).toEqual(origins.map((o) => o.template));
    }, 30_000);

    if (mode === 'template') it('a corrupted template: the pod boots cold saying why (log line and vm.origin), and the template is made again', async () => {
      const templates = async () => JSON.parse((await hyper(['template', 'ls', '-o', 'json', '--data-dir', dataDir], env())).stdout) as { key: string; stateFile: string; builtAt: number }[];
      const [before] = await templates();
      writeFileSync(before.stateFile, Buffer.alloc(8192, 0x5a));
      const r = await hyper(['run', '--rm', 'busybox', 'echo', 'still runs'], env());
      expect(r.stdout).toBe('still runs');
      expect(r.stderr).toMatch(new RegExp(`vm booted cold: restoring template ${before.key} failed, so it is removed and made again: .*qemu said: `));
      expect(d.log()).toMatch(/boots cold: restoring template \w+ failed/);
      const origins = (await hyper(['events', '--type', 'vm.origin', '-o', 'json'], env())).stdout.trim().split('\n').map((l) => JSON.parse(l).data);
      expect(origins.at(-1)).toMatchObject({ origin: 'cold', why: expect.stringMatching(/^restoring template/) });
      await expect.poll(async () => (await templates()).find((t) => t.key === before.key)?.builtAt ?? 0, { timeout: 30_000 }).toBeGreaterThan(before.builtAt);
      const again = await hyper(['run', '--rm', 'busybox', 'echo', 'from the new one'], env());
      expect(again.stdout).toBe('from the new one');
      expect(again.stderr).toMatch(new RegExp(`vm restored from template ${before.key}`));
    }, 90_000);
  });
});
