// bench/density: idle busybox pods (256 MB VMs) started one after another on one hyperd --driver qemu until --pods run
// or the host runs low on memory, booted cold and restored from a template, in the same run: PSS per pod (QEMU, the only
// per-pod host process), host memory used per pod, and the time to add each pod. JSON out.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { liveCmdline, readPid } from '../src/drivers/qemu/process.js';
import { podEvent, PodSpec, type PodEvent } from '../src/events/schemas/mod.js';
import { DEFAULT_TENANT, podSubject } from '../src/events/schemas/subjects.js';
import { benchNats, benchQemuDaemon, progress } from './lib/env.js';

type Mode = 'cold' | 'template';
const arg = (name: string, d: string) => (process.argv.includes(`--${name}`) ? process.argv[process.argv.indexOf(`--${name}`) + 1] : d);
const target = Number(arg('pods', '300'));
const modes = arg('modes', 'cold,template').split(',') as Mode[];
/**
 * The memory the host offers: `pods` (the default) gives 512 MB per pod asked for, so memory never limits the run; `host`
 * leaves hyperd's own default (90% of RAM), counted by measured use (host.usage, measured every 2 s here).
 */
const memoryMode = arg('memory', 'pods') as 'pods' | 'host';
if (memoryMode !== 'pods' && memoryMode !== 'host') throw new Error(`--memory: "${memoryMode}" is not pods or host`);
/** Stop adding pods when the host has less than this available (MemAvailable). */
const FLOOR_MB = Number(arg('floor-mb', '2048'));
const pct = (xs: number[], p: number) => Math.round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]);

const meminfo = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024;

/**
 * The live QEMUs of a data dir's pods, by the pid in each run dir (a VM taken from the pool or a spare QEMU names the
 * directory it was started in on its command line, not the run dir; the spare itself is no pod's and not counted).
 */
function podQemuPids(dataDir: string): string[] {
  let vms: string[] = [];
  try {
    vms = readdirSync(join(dataDir, 'vms'));
  } catch {}
  return vms.map((v) => readPid(join(dataDir, 'vms', v, 'qemu.pid'))).filter((p): p is number => p !== null && basename(liveCmdline(p)?.[0] ?? '').startsWith('qemu-system')).map(String);
}

/** PSS and RSS (MB) summed over the QEMU processes of a data dir's pods. */
function qemuMemory(dataDir: string): { count: number; pssMb: number; rssMb: number } {
  const pids = podQemuPids(dataDir);
  let pss = 0, rss = 0;
  for (const pid of pids) {
    try {
      const r = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      pss += Number(/^Pss:\s+(\d+)/m.exec(r)?.[1] ?? 0);
      rss += Number(/^Rss:\s+(\d+)/m.exec(r)?.[1] ?? 0);
    } catch {}
  }
  return { count: pids.length, pssMb: +(pss / 1024).toFixed(1), rssMb: +(rss / 1024).toFixed(1) };
}

/** CPU seconds (user + system) the data dir's QEMU processes have used so far, by pid. */
function qemuCpu(dataDir: string): Map<string, number> {
  const out = new Map<string, number>();
  let pids: string[] = [];
  try {
    pids = execFileSync('pgrep', ['-f', `^qemu-system-x86_64 .*${dataDir}/`]).toString().trim().split('\n').filter(Boolean);
  } catch {}
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(pid, (Number(f[11]) + Number(f[12])) / 100); // utime, stime in clock ticks (100 per second)
    } catch {}
  }
  return out;
}

/** The share of one core an idle pod's QEMU takes, measured over `ms` with every pod idle. */
async function idleCpuPerPod(dataDir: string, ms: number): Promise<number> {
  const a = qemuCpu(dataDir);
  await new Promise((r) => setTimeout(r, ms));
  const b = qemuCpu(dataDir);
  let used = 0;
  for (const [pid, t] of b) if (a.has(pid)) used += t - a.get(pid)!;
  return +((used / (ms / 1000) / Math.max(1, a.size)) * 100).toFixed(2);
}

async function measure(mode: Mode) {
  const n = await benchNats();
  // vCPUs given explicitly (16 per core would stop a 2-core host at 32); memory too, unless --memory host
  const memory = memoryMode === 'pods' ? ['--memory', String(target * 512)] : ['--measure-every', '2s'];
  const { d, dataDir } = benchQemuDaemon(n, 'density', ['--cpus', String(target * 2), ...memory, '--bridge', 'hybdensity', '--pod-cidr', '10.231.0.0/22', '--stop-pods-on-exit', ...(mode === 'template' ? ['--templates'] : [])]);
  const addMs: number[] = [];
  let stoppedBecause = `${target} pods run`;
  try {
    await d.ready;
    // settle: the template (if any) is made, the daemon is idle
    await new Promise((r) => setTimeout(r, 3_000));
    const base = meminfo('MemTotal') - meminfo('MemAvailable');
    const spec = PodSpec.parse({ containers: [{ name: 'main', image: 'busybox', args: ['sleep', '1000000'] }] });
    const origins: Record<string, number> = {};
    let waits = 0;
    const waitingSince = new Map<string, number>();
    for (let i = 0; i < target; i++) {
      if (meminfo('MemAvailable') < FLOOR_MB) {
        stoppedBecause = `the host had less than ${FLOOR_MB} MB available`;
        break;
      }
      const id = `dn${i}`;
      const t0 = performance.now();
      const ack = await n.store.append(podEvent('pod.requested', id, { spec, start: true }, { id: `${id}.req`, at: Date.now(), by: 'bench', tenant: DEFAULT_TENANT }));
      let failed = '';
      const giveUp = AbortSignal.timeout(120_000);
      for await (const r of n.store.read({ filter: podSubject({ pod: id, tenant: DEFAULT_TENANT }), fromSeq: ack.seq, signal: giveUp })) {
        if (!r.ok) continue;
        const e = r.event as PodEvent;
        if (e.type === 'vm.origin') origins[e.data.origin] = (origins[e.data.origin] ?? 0) + 1;
        if (e.type === 'container.started') break;
        // a pod that waits for room is placed once the pods before it are measured (--memory host); one that waits
        // longer than two measures is what the host's capacity says
        if (e.type === 'pod.waiting') {
          waits++;
          if (memoryMode === 'host' && !waitingSince.has(id)) {
            waitingSince.set(id, performance.now());
            continue;
          }
        }
        if (e.type.endsWith('.failed') || e.type === 'pod.rejected' || e.type === 'pod.unschedulable' || e.type === 'pod.waiting') {
          failed = `${e.type} ${JSON.stringify(e.data).slice(0, 300)}`;
          break;
        }
      }
      if (!failed && giveUp.aborted) failed = 'not started within 120 s';
      if (failed) {
        stoppedBecause = `pod ${i + 1} failed: ${failed}`;
        break;
      }
      addMs.push(performance.now() - t0);
      if ((i + 1) % 10 === 0) progress(`${mode}: ${i + 1} pods, the last added in ${Math.round(addMs.at(-1)!)} ms, ${Math.round(meminfo('MemAvailable'))} MB available`);
    }
    // the last pods' start-up settles before idle CPU is measured
    await new Promise((r) => setTimeout(r, 10_000));
    const idleCpuPct = await idleCpuPerPod(dataDir, 10_000);
    const q = qemuMemory(dataDir);
    const used = meminfo('MemTotal') - meminfo('MemAvailable') - base;
    const loadavg = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
    return {
      pods: addMs.length, stoppedBecause, origins, memoryOffered: memoryMode === 'pods' ? `${target * 512} MB (512 per pod asked for)` : "hyperd's default (90% of RAM), by measured use", podsThatWaited: waitingSince.size, waits,
      pssPerPodMb: +(q.pssMb / Math.max(1, q.count)).toFixed(1), rssPerPodMb: +(q.rssMb / Math.max(1, q.count)).toFixed(1),
      hostMemoryUsedMb: Math.round(used), hostMemoryPerPodMb: +(used / Math.max(1, addMs.length)).toFixed(1),
      addPodMs: { p50: pct(addMs, 50), p95: pct(addMs, 95), first10: addMs.slice(0, 10).map(Math.round), last10: addMs.slice(-10).map(Math.round) },
      loadAvgWithPodsIdle: loadavg,
      /** % of one core each idle pod's QEMU used over 10 s (a guest's timer ticks, emulated). */
      idleCpuPerPodPct: idleCpuPct,
    };
  } finally {
    progress(`${mode}: stopping ${addMs.length} pods`);
    await d.stop();
    for (const pid of qemuMemory(dataDir).count ? execFileSync('pgrep', ['-f', `^qemu-system-x86_64 .*${dataDir}/`]).toString().trim().split('\n') : []) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch {}
    }
    await n.close();
  }
}

const results: Partial<Record<Mode, Awaited<ReturnType<typeof measure>>>> = {};
for (const m of modes) results[m] = await measure(m);
process.stdout.write(JSON.stringify({
  bench: 'density', at: new Date().toISOString(), target, vmMemoryMb: 256, ...results,
  targets: { pssPerPodMbWithTemplates: 16, podsOn24GB: 500 },
}, null, 2) + '\n');
