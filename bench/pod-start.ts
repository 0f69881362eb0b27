// bench/pod-start: sequential pods of a cached image on hyperd --driver qemu, booted cold and restored from a template
// (hyperd --templates), in the same run: intent → container.started and → first output (p50/p95/p99), the breakdown from
// event times, `hyper run` as a user sees it, and QEMU RSS/PSS of an idle pod. JSON out.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { podEvent, PodSpec, type PodEvent } from '../src/events/schemas/mod.js';
import { DEFAULT_TENANT, podSubject } from '../src/events/schemas/subjects.js';
import { readLogs } from '../src/events/store/logs.js';
import { readPid } from '../src/drivers/qemu/process.js';
import { benchNats, benchQemuDaemon, progress } from './lib/env.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1]) || 50;
const modes = (process.argv.includes('--modes') ? process.argv[process.argv.indexOf('--modes') + 1] : 'cold,template,pool').split(',') as Mode[];
/** A pause between one pod's container.started and the next pod's intent (0: back to back), as a user's runs are paced. */
const gapMs = Number(process.argv[process.argv.indexOf('--gap-ms') + 1]) || 0;
/** template-no-spare: hyperd --templates --no-spare-qemu, the same restores with QEMU started on each pod's path. */
type Mode = 'cold' | 'template' | 'template-no-spare' | 'pool';
for (const m of modes) if (!['cold', 'template', 'template-no-spare', 'pool'].includes(m)) throw new Error(`--modes: "${m}" is not cold, template, template-no-spare or pool`);
const pct = (xs: number[], p: number) => Math.round([...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]);
const stats = (xs: number[]) => ({ p50: pct(xs, 50), p95: pct(xs, 95), p99: pct(xs, 99) });

/** Whether a template of the data dir is ready (its template.json is written last). */
function templateReady(dataDir: string): boolean {
  const dir = join(dataDir, 'templates');
  return existsSync(dir) && readdirSync(dir).some((k) => existsSync(join(dir, k, 'template.json')));
}

async function measure(mode: Mode) {
  const n = await benchNats();
  const { d, dataDir } = benchQemuDaemon(n, 'bench', ['--stop-pods-on-exit', ...(mode === 'template' ? ['--templates'] : mode === 'template-no-spare' ? ['--templates', '--no-spare-qemu'] : mode === 'pool' ? ['--pool', '256=2'] : [])]);
  try {
    await d.ready;
    // hyperd --templates makes the default size's template as it starts: the pods below start from it
    for (let i = 0; mode !== 'cold' && !templateReady(dataDir); i++) {
      if (i > 300) throw new Error('hyperd --templates made no template in 30 s');
      await new Promise((r) => setTimeout(r, 100));
    }
    // the pool fills once the template is there: a moment for its first VMs to be restored
    if (mode === 'pool') await new Promise((r) => setTimeout(r, 2_000));
    const origins: string[] = [];
    const spec = PodSpec.parse({ containers: [{ name: 'main', image: 'busybox', args: ['echo', 'hi'] }] });
    const started: number[] = [], output: number[] = [];
    const phases: Record<string, number[]> = { placement: [], runnerReaction: [], vmBoot: [], qemuStart: [], kernelAndAgentBoot: [], agentConnect: [], containerStart: [] };
    for (let i = 0; i < runs; i++) {
      const id = `ps${i}`;
      const logs = readLogs(n.nc, { pod: id, tenant: DEFAULT_TENANT }, { follow: true });
      const firstOutput = logs.next().then(() => performance.now());
      const t0 = performance.now();
      const ack = await n.store.append(podEvent('pod.requested', id, { spec, start: true }, { id: `${id}.req`, at: Date.now(), by: 'bench', tenant: DEFAULT_TENANT }));
      const at: Record<string, number> = {};
      let booted: { vmmMs?: number; guestMs?: number } | undefined;
      for await (const r of n.store.read({ filter: podSubject({ pod: id, tenant: DEFAULT_TENANT }), fromSeq: ack.seq })) {
        if (!r.ok) continue;
        const e = r.event as PodEvent;
        at[e.type] ??= e.at;
        if (e.type === 'vm.booted') booted ??= e.data;
        if (e.type === 'vm.origin') origins.push(e.data.origin);
        if (e.type === 'container.started') started.push(performance.now() - t0);
        if (e.type === 'container.exited') break;
      }
      output.push((await firstOutput) - t0);
      await logs.return(undefined);
      phases.placement.push(at['pod.scheduled'] - at['pod.requested']);
      phases.runnerReaction.push(at['vm.booting'] - at['pod.scheduled']);
      phases.vmBoot.push(at['vm.booted'] - at['vm.booting']);
      phases.qemuStart.push(booted?.vmmMs ?? NaN);
      phases.kernelAndAgentBoot.push(booted?.guestMs ?? NaN);
      phases.agentConnect.push(at['agent.ready'] - at['vm.booted']);
      phases.containerStart.push(at['container.started'] - at['agent.ready']);
      progress(`${mode}: pod ${i + 1}/${runs}: started after ${Math.round(started.at(-1)!)} ms`);
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    }

    // as a user sees it: the CLI process from spawn to its first byte of container output
    const cli: number[] = [];
    for (let i = 0; i < 5; i++) {
      progress(`${mode}: hyper run ${i + 1}/5`);
      const t0 = performance.now();
      const p = spawn('node', [join(root, 'bin', 'hyper.cjs'), 'run', 'busybox', 'echo', 'hi'], { env: { ...process.env, HYPER_NATS: n.server.url, HYPER_QUIET: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      // listened for from the start: the CLI may exit in the same tick as its output
      const exited = new Promise<number | null>((r) => p.once('exit', r));
      const first = new Promise<void>((resolve) => p.stdout.once('data', () => { cli.push(performance.now() - t0); resolve(); }));
      const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
      const code = await Promise.race([first.then(() => exited), exited]).finally(() => clearTimeout(timer));
      if (cli.length !== i + 1) throw new Error(`hyper run busybox echo hi printed nothing (exit ${code}): ${stderr.slice(-1000)}`);
    }

    // an idle pod's VMM footprint
    await n.store.append(podEvent('pod.requested', 'idle', { spec: PodSpec.parse({ containers: [{ name: 'main', image: 'busybox', args: ['sleep', '1000'] }] }), start: true }, { id: 'idle.req', at: Date.now(), by: 'bench', tenant: DEFAULT_TENANT }));
    // its QEMU: the pid its VM's work dir records (a pooled VM's command line names the pool's directory, not the pod's)
    let qemuPid = '';
    for (let i = 0; i < 300 && !qemuPid; i++) {
      await new Promise((r) => setTimeout(r, 100));
      const pid = readPid(join(dataDir, 'vms', 'idle-r1', 'qemu.pid'));
      if (pid && existsSync(`/proc/${pid}/smaps_rollup`)) qemuPid = String(pid);
    }
    if (!qemuPid) {
      const seen: string[] = [];
      for await (const r of n.store.read({ filter: podSubject({ pod: 'idle', tenant: DEFAULT_TENANT }), fromSeq: 1 })) {
        if (r.ok) seen.push(`${r.event.type} ${JSON.stringify(r.event.data).slice(0, 200)}`);
        if (r.ok && r.event.type === 'container.started') break;
        if (seen.length > 30) break;
      }
      throw new Error(`the idle pod's QEMU did not appear under ${dataDir}; its events: ${seen.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 2000));
    const rollup = readFileSync(`/proc/${qemuPid}/smaps_rollup`, 'utf8');
    const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0);

    return {
      origins: Object.fromEntries([...new Set(origins)].map((o) => [o, origins.filter((x) => x === o).length])),
      intentToContainerStartedMs: { ...stats(started), target: mode.startsWith('template') ? 100 : mode === 'pool' ? 30 : 1000 },
      intentToFirstOutputMs: stats(output),
      cliSpawnToFirstOutputMs: stats(cli),
      breakdownMs: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, stats(v)])),
      idleQemu: { rssMb: +(kb('Rss') / 1024).toFixed(1), pssMb: +(kb('Pss') / 1024).toFixed(1), vmMemoryMb: 256 },
    };
  } finally {
    await d.stop();
    await n.close();
  }
}

const results: Partial<Record<Mode, Awaited<ReturnType<typeof measure>>>> = {};
for (const m of modes) results[m] = await measure(m);
const ratio = results.cold && results.template ? +(results.template.intentToContainerStartedMs.p50 / results.cold.intentToContainerStartedMs.p50).toFixed(2) : undefined;
process.stdout.write(JSON.stringify({ bench: 'pod-start', at: new Date().toISOString(), runs, gapMs, driver: 'qemu', ...results, templateOverColdP50: ratio }, null, 2) + '\n');
