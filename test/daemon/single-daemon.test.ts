// One daemon per data dir, and its embedded NATS supervised: a second hyperd refuses at once naming the first one's pid
// (which keeps working); a killed nats-server is started again on the same store and the pods run on without a gap.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HYPERD, hyper } from '../harness/processes.js';
import { podState, qemuProcessesUnder } from '../harness/qemu.js';
import { startQemuDaemon, type QemuDaemon } from '../harness/qemu-daemon.js';
import { execa } from 'execa';

let q: QemuDaemon;
let env: Record<string, string> = {};
let dataDir = '';
const d = () => q.daemon;
/** The pid of the embedded nats-server from the daemon's JSON log. */
const natsPid = (log: string) => Number(JSON.parse(log.split('\n').find((l) => l.includes('"started embedded nats-server"'))!).pid);

beforeAll(async () => {
  q = await startQemuDaemon('hyper-single-', 'solo');
  ({ env, dataDir } = q);
}, 60_000);

afterAll(async () => {
  await q?.stop();
});

describe('one daemon per data dir', () => {
  it('a second hyperd on the same data dir exits non-zero naming the running one; the first keeps working', async () => {
    const second = await execa('node', [HYPERD, '--host-id', 'solo', '--data-dir', dataDir, '--driver', 'qemu'], { reject: false, timeout: 30_000, env: { HYPER_LOG_FORMAT: 'json' } });
    expect(second.exitCode).not.toBe(0);
    expect(second.stderr).toContain(`another hyperd (pid ${d().proc.pid}) is already running on ${dataDir}`);
    const r = await hyper(['run', '--rm', 'busybox', 'echo', 'still here'], env);
    expect(r.stdout).toBe('still here');
    expect(d().log()).not.toMatch(/Request timed out|TIMEOUT/i);
  }, 60_000);
});

describe('the embedded nats-server is supervised', () => {
  it('kill -9 of nats-server: the daemon starts it again, the pod keeps running with no gap in its output, the next intent works', async () => {
    const id = (await hyper(['run', '-d', '--name', 'tick', 'busybox', 'sh', '-c', 'i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done'], env)).stdout.trim();
    await expect.poll(async () => (await podState(id, env)).state, { timeout: 30_000 }).toBe('running');
    const logs = async () => (await hyper(['logs', id], env)).stdout.split('\n').filter(Boolean).map(Number);
    await expect.poll(async () => (await logs()).length, { timeout: 10_000 }).toBeGreaterThan(5);
    const before = (await logs()).length;
    const pid = natsPid(d().log());
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGKILL');
    await expect.poll(() => /restarted the embedded nats-server/.test(d().log()), { timeout: 20_000 }).toBe(true);
    expect(qemuProcessesUnder(dataDir)).toHaveLength(1);
    await expect.poll(async () => (await hyper(['run', '--rm', 'busybox', 'echo', 'after'], env)).stdout, { timeout: 30_000 }).toBe('after');
    expect((await podState(id, env)).state).toBe('running');
    // output written while NATS was down is stored once it is back: the counter goes on with no gap
    await expect.poll(async () => (await logs()).length, { timeout: 20_000 }).toBeGreaterThan(before + 30);
    const numbers = await logs();
    expect(numbers.findIndex((n, i) => n !== i)).toBe(-1);
    await hyper(['rm', '-f', id], env);
  }, 120_000);
});
