// hyperd with no NATS URL: embeds a real nats-server, the CLI finds it by itself, SIGTERM stops both, and a restart keeps every pod.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { killStrays, tempDir } from '../harness/nats.js';
import { hyper, startHyperd, type DaemonProc } from '../harness/processes.js';

const dataDir = tempDir('hyper-embedded-');
const env = { HYPER_DATA_DIR: dataDir, HYPER_NATS: '' };
let d: DaemonProc | null = null;
afterAll(async () => {
  await d?.stop('SIGTERM');
  killStrays(dataDir);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const state = async (id: string) => JSON.parse((await hyper(['inspect', id], env)).stdout)[0];

describe('embedded NATS', () => {
  let running = '';

  it('starts nats-server itself; the CLI finds it through the data dir', async () => {
    d = startHyperd(['--host-id', 'solo', '--data-dir', dataDir], env);
    await d.ready;
    expect(d.log()).toContain('started embedded nats-server');
    running = (await hyper(['run', '-d', 'busybox'], env)).stdout.trim();
    await expect.poll(async () => (await state(running)).state, { timeout: 10_000 }).toBe('running');
    expect((await hyper(['version'], env)).stdout).toMatch(/nats-server 2\.\d+\.\d+ at nats:\/\/127\.0\.0\.1:\d+/);
  });

  it('SIGTERM stops the daemon and its nats-server cleanly', async () => {
    const natsPid = Number(/"url":"nats:[^"]+","pid":(\d+)/.exec(d!.log())![1]);
    expect(alive(natsPid)).toBe(true);
    expect(await d!.stop('SIGTERM')).toBe(0);
    expect(d!.log()).toContain('hyperd stopped');
    expect(alive(natsPid)).toBe(false);
    expect(existsSync(join(dataDir, 'hyperd.json'))).toBe(false);
    const r = await hyper(['ps'], env);
    expect(r.stderr).toMatch(/no hyper daemon is running/);
  });

  it('a restarted daemon loads the snapshot it saved and still knows every pod', async () => {
    d = startHyperd(['--host-id', 'solo', '--data-dir', dataDir], env);
    const ready = await d.ready;
    expect(ready.fromSnapshot).toBeGreaterThan(0);
    // the hollow driver's VMs die with the daemon, so a clean shutdown recorded the pod as stopped
    expect(await state(running)).toMatchObject({ state: 'stopped', reason: expect.stringContaining('host solo shut down') });
    expect((await hyper(['ps', '-a', '-q'], env)).stdout.split('\n')).toContain(running);
  });

  it('after a crash (SIGKILL) the restarted daemon reports the pods it lost instead of forgetting them', async () => {
    const id = (await hyper(['run', '-d', 'busybox'], env)).stdout.trim();
    await expect.poll(async () => (await state(id)).state, { timeout: 10_000 }).toBe('running');
    const oldNats = Number(/"url":"nats:[^"]+","pid":(\d+)/.exec(d!.log())![1]);
    await d!.stop('SIGKILL');
    // the embedded nats-server outlives a SIGKILLed parent; the next daemon must stop it rather than share its data dir
    expect(alive(oldNats)).toBe(true);
    d = startHyperd(['--host-id', 'solo', '--data-dir', dataDir], env);
    await d.ready;
    expect(alive(oldNats)).toBe(false);
    await expect.poll(async () => (await state(id)).state, { timeout: 10_000 }).toBe('failed');
    expect((await state(id)).reason).toMatch(/vm lost: hyperd on solo restarted and the hollow driver cannot re-attach/);
  });

  it('SIGTERM while it starts (or just as it says ready): it comes up, then stops cleanly', async () => {
    const dir = tempDir('hyper-embedded-early-');
    const early = startHyperd(['--host-id', 'early', '--data-dir', dir], { HYPER_DATA_DIR: dir, HYPER_NATS: '' });
    // before this, a signal that came before the handlers were set killed hyperd by the default action (exit by signal)
    await expect.poll(() => early.log().includes('started embedded nats-server'), { timeout: 20_000, interval: 5 }).toBe(true);
    const natsPid = Number(/"url":"nats:[^"]+","pid":(\d+)/.exec(early.log())![1]);
    expect(await early.stop('SIGTERM')).toBe(0);
    expect(early.proc.signalCode).toBeNull();
    const log = early.log();
    expect(log).toMatch(/SIGTERM while starting: hyperd stops as soon as it is up/);
    expect(log.indexOf('hyperd ready')).toBeGreaterThan(-1);
    expect(log.indexOf('hyperd stopped')).toBeGreaterThan(log.indexOf('hyperd ready'));
    expect(alive(natsPid)).toBe(false);
    expect(existsSync(join(dir, 'hyperd.json'))).toBe(false);
    killStrays(dir);
  }, 40_000);
});
