// bench/template-spike: the measurements behind VM templates (issue 15), before the driver has them: a template VM with
// its RAM in a shared file, saved with x-ignore-shared (device state only), and clones restored from it as private
// copy-on-write mappings of that file, each with its own block backend in the template's disk slot. Prints JSON.
//   node dist/bench/template-spike.js [--clones 5] [--image ERofs-FILE]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { qemuArgs } from '../src/drivers/qemu/launch.js';
import { QmpClient } from '../src/drivers/qemu/qmp.js';
import { AgentClient } from '../src/guest/agent-client.js';
import { guestInitrd, guestKernel } from '../src/guest/artifacts.js';
import { progress } from './lib/env.js';

const arg = (name: string) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : undefined);
const clones = Number(arg('clones') ?? 5);
const image = arg('image');
const MB = 128;
const root = mkdtempSync(join(tmpdir(), 'hyper-template-spike-'));
const ram = join('/dev/shm', `${root.split('/').pop()}.ram`);
const state = join(root, 'state.bin');
const placeholder = join(root, 'placeholder.img');

/** QEMU as the driver starts it, with its RAM in `ram` (shared for the template, a private mapping for clones). */
function start(dir: string, share: boolean, disk: string | null, incoming: boolean): Promise<number> {
  const args = qemuArgs({ kernel: guestKernel(), initrd: guestInitrd(), workDir: dir, memoryMb: MB, accel: 'tcg', disks: disk ? [disk] : [] });
  const m = args.indexOf('-M');
  args[m + 1] += ',memory-backend=mem';
  args.push('-object', `memory-backend-file,id=mem,size=${MB}M,mem-path=${ram},share=${share ? 'on' : 'off'}`, '-daemonize');
  if (incoming) args.push('-incoming', 'defer');
  return new Promise((resolve, reject) => {
    const p = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'inherit'] });
    p.on('exit', (code) => (code === 0 ? resolve(Number(readFileSync(join(dir, 'qemu.pid'), 'utf8'))) : reject(new Error(`qemu exited with ${code}`))));
  });
}

async function agentAt(path: string): Promise<AgentClient> {
  for (let i = 0; ; i++) {
    try {
      const s = await new Promise<Socket>((res, rej) => {
        const c = connect({ path }, () => res(c));
        c.once('error', rej);
      });
      const a = new AgentClient(s, s);
      await a.waitReady(5_000);
      return a;
    } catch (err) {
      if (i > 1_000) throw err;
      await new Promise((r) => setTimeout(r, 2));
    }
  }
}

const pss = (pid: number) => Number(/^Pss:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]) / 1024;
const pids: number[] = [];
const clonePids: number[] = [];
try {
  writeFileSync(ram, '');
  truncateSync(ram, MB * 1024 * 1024);
  writeFileSync(placeholder, '');
  // the slot's capacity is the template's (a read-only drive cannot be resized): room for any image
  truncateSync(placeholder, 1024 * 1024 * 1024);
  const t0 = performance.now();
  const tdir = mkdtempSync(join(root, 'template-'));
  pids.push(await start(tdir, true, image ? placeholder : null, false));
  const ta = await agentAt(join(tdir, 'agent.sock'));
  const coldMs = performance.now() - t0;
  const tq = await QmpClient.connect(join(tdir, 'qmp.sock'));
  await tq.execute('stop');
  await tq.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
  await tq.execute('migrate', { uri: `exec:cat > ${state}` });
  while ((await tq.execute<{ status: string }>('query-migrate')).status !== 'completed') await new Promise((r) => setTimeout(r, 2));
  await tq.execute('quit').catch(() => {});
  tq.close();
  ta.close();
  progress(`template: cold boot ${Math.round(coldMs)} ms, device state ${statSync(state).size} bytes`);
  const results = [];
  for (let i = 0; i < clones; i++) {
    const dir = mkdtempSync(join(root, `clone${i}-`));
    const c0 = performance.now();
    const pid = await start(dir, false, image ?? null, true);
    pids.push(pid);
    clonePids.push(pid);
    const q = await QmpClient.connect(join(dir, 'qmp.sock'));
    await q.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
    await q.execute('migrate-incoming', { uri: `exec:cat ${state}` });
    while ((await q.execute<{ status: string }>('query-migrate')).status !== 'completed') await new Promise((r) => setTimeout(r, 1));
    const restored = performance.now();
    await q.execute('cont');
    q.close();
    const a = await agentAt(join(dir, 'agent.sock'));
    await a.ping();
    const answered = performance.now();
    const s = await a.stats();
    let container: { exitCode: number; ms: number } | null = null;
    if (image) {
      const k0 = performance.now();
      await a.startContainer('c', { kind: 'block', source: '/dev/vda', fstype: 'erofs' }, { args: ['true'] });
      container = { exitCode: await a.waitExit('c'), ms: Math.round(performance.now() - k0) };
    }
    results.push({ restoreMs: Math.round(restored - c0), toAgentAnswerMs: Math.round(answered - c0), guestUsedMb: +((s.memTotal! - s.memAvailable!) / 1048576).toFixed(2), guestUptimeMs: s.uptimeMs, container });
    progress(`clone ${i + 1}/${clones}: agent answered ${Math.round(answered - c0)} ms after spawn`);
  }
  await new Promise((r) => setTimeout(r, 1_000));
  const answers = results.map((r) => r.toAgentAnswerMs).sort((a, b) => a - b);
  process.stdout.write(JSON.stringify({
    bench: 'template-spike',
    at: new Date().toISOString(),
    coldBootToAgentMs: Math.round(coldMs),
    deviceStateBytes: statSync(state).size,
    cloneSpawnToAgentMs: { p50: answers[Math.floor(answers.length / 2)], max: answers.at(-1), ratioToCold: +(answers[Math.floor(answers.length / 2)] / coldMs).toFixed(2) },
    clonePssMb: clonePids.map((p) => +pss(p).toFixed(1)),
    clones: results,
  }, null, 2) + '\n');
} finally {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {}
  }
  rmSync(ram, { force: true });
  rmSync(root, { recursive: true, force: true });
}
process.exit(0);
